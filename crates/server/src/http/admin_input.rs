//! Extractors of the admin API whose refusals answer in its own JSON error format
//! (`{"error", "error_description"}`) instead of axum's plain-text rejections: a JSON body
//! ([`Body`]), a path parameter ([`Param`]) and query filters ([`Filter`]).

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, OptionalFromRequest, Path, Query, Request};
use axum::http::request::Parts;
use axum::response::Response;
use serde::de::DeserializeOwned;

use super::admin::failure;

/// A JSON request body; refused with `INVALID_BODY` and the status axum would use.
pub struct Body<T>(pub T);

/// One path parameter; refused with 400 `INVALID_PATH`.
pub struct Param<T>(pub T);

/// Query-string filters; refused with 400 `INVALID_QUERY`.
pub struct Filter<T>(pub T);

fn body_refused(rejection: JsonRejection) -> Response {
    failure(rejection.status(), "INVALID_BODY", &rejection.body_text())
}

impl<S, T> FromRequest<S> for Body<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match <Json<T> as FromRequest<S>>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Body(value)),
            Err(rejection) => Err(body_refused(rejection)),
        }
    }
}

/// An optional body: absent when the request has no JSON content type (as `Option<Json<T>>`).
impl<S, T> OptionalFromRequest<S> for Body<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Option<Self>, Self::Rejection> {
        match <Json<T> as OptionalFromRequest<S>>::from_request(request, state).await {
            Ok(value) => Ok(value.map(|Json(value)| Body(value))),
            Err(rejection) => Err(body_refused(rejection)),
        }
    }
}

impl<S, T> FromRequestParts<S> for Param<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(Param(value)),
            Err(rejection) => Err(path_refused(rejection)),
        }
    }
}

fn path_refused(rejection: PathRejection) -> Response {
    failure(
        axum::http::StatusCode::BAD_REQUEST,
        "INVALID_PATH",
        &rejection.body_text(),
    )
}

impl<S, T> FromRequestParts<S> for Filter<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(Filter(value)),
            Err(rejection) => Err(query_refused(rejection)),
        }
    }
}

fn query_refused(rejection: QueryRejection) -> Response {
    failure(
        axum::http::StatusCode::BAD_REQUEST,
        "INVALID_QUERY",
        &rejection.body_text(),
    )
}
