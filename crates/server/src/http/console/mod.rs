//! `/console`: the web console, server-rendered HTML for people running b24lite (no JavaScript,
//! no external assets; every value shown is escaped by `maud`).
//!
//! Pages: [`overview`], contact custom fields ([`fields`]), outgoing webhooks ([`webhooks`]),
//! events and deliveries ([`log`]), applications ([`apps`]); [`session`] signs in with the admin
//! key and guards every other route; [`layout`] is the page shell. Each page is a GET; each
//! action a POST form that redirects back (303) with a flash message.
//!
//! Field changes call the REST methods through the [`Registry`](crate::rest::Registry), as
//! `batch` does, with the console's caller ([`Caller::console`]): validation, errors and events
//! are those of `crm.contact.userfield.*`, and the events carry no user (decision 26). These
//! calls are the administrator's own and count against neither `--rate-limit` nor
//! `--operating-limit`. Webhooks and deliveries use the store functions of the admin API.

mod apps;
mod fields;
mod form;
mod layout;
mod log;
mod overview;
mod session;
mod webhooks;

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{any, get, post};
use axum::{Router, extract::Path};
use b24lite_core::{Params, RestError};
use b24lite_store::{StoreError, portal};
use serde_json::Value;

use crate::rest::context::RequestInfo;
use crate::rest::{CallContext, Caller};
use crate::state::AppState;
use layout::Flash;
use session::{Session, Sessions};

/// What the console's handlers share: the server's state and the signed-in sessions.
#[derive(Clone)]
pub struct Console {
    pub app: AppState,
    sessions: Arc<Sessions>,
}

impl FromRef<Console> for AppState {
    fn from_ref(console: &Console) -> AppState {
        console.app.clone()
    }
}

impl Console {
    /// A pooled connection to the store.
    async fn conn(
        &self,
    ) -> Result<impl std::ops::DerefMut<Target = b24lite_store::AnyConnection>, Failure> {
        self.app.store.pool().acquire().await.map_err(store_failed)
    }

    /// Leaves `flash` for the next page of this session and redirects there (303).
    fn done(&self, session: &Session, to: &str, flash: Flash) -> Response {
        self.sessions.set_flash(session, flash);
        Redirect::to(to).into_response()
    }
}

pub fn router(state: AppState) -> Router<AppState> {
    let console = Console {
        app: state,
        sessions: Arc::default(),
    };
    let pages = Router::new()
        .route("/console", get(overview::show))
        .route("/console/fields", get(fields::list).post(fields::add))
        .route("/console/fields/{id}", get(fields::show))
        .route("/console/fields/{id}/update", post(fields::update))
        .route("/console/fields/{id}/list", post(fields::update_list))
        .route("/console/fields/{id}/delete", post(fields::delete))
        .route("/console/webhooks", get(webhooks::list).post(webhooks::add))
        .route("/console/webhooks/{id}/enable", post(webhooks::enable))
        .route("/console/webhooks/{id}/disable", post(webhooks::disable))
        .route("/console/webhooks/{id}/delete", post(webhooks::delete))
        .route("/console/events", get(log::events))
        .route("/console/deliveries", get(log::deliveries))
        .route("/console/deliveries/{id}", get(log::delivery))
        .route("/console/deliveries/{id}/redeliver", post(log::redeliver))
        .route("/console/apps", get(apps::list))
        .route("/console/logout", post(session::logout))
        // Every page but the login form needs a session, and every POST its CSRF token.
        .route_layer(middleware::from_fn_with_state(
            console.clone(),
            session::gate,
        ));
    Router::new()
        .route("/console/", get(|| async { Redirect::to("/console") }))
        .route(
            "/console/login",
            get(session::login_page).post(session::login),
        )
        .merge(pages)
        .route("/console/{*rest}", any(no_page))
        .layer(middleware::map_response(protect))
        .with_state(console)
}

async fn no_page() -> Failure {
    Failure::NotFound("The console has no such page.".into())
}

/// Headers of every console answer: never cached, never framed, nothing loaded from elsewhere.
async fn protect(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let policy = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; \
                  frame-ancestors 'none'; base-uri 'none'";
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(policy),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// Why a console page cannot be shown: answered with a message page.
#[derive(Debug)]
pub enum Failure {
    /// The request itself is wrong (a form field missing, an id that is no number): 400.
    BadInput(String),
    /// What the URL names does not exist: 404.
    NotFound(String),
    /// The REST method behind a page refused: its status (404 for `ERROR_NOT_FOUND`) and
    /// `error_description`.
    Rest(RestError),
    /// The store failed: logged, 500.
    Store(StoreError),
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Failure {
        Failure::Store(error)
    }
}

/// For `map_err` on what the store hands out unwrapped (pooled connections, commits).
fn store_failed(error: impl Into<StoreError>) -> Failure {
    Failure::Store(error.into())
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let (status, text) = match self {
            Failure::BadInput(text) => (StatusCode::BAD_REQUEST, text),
            Failure::NotFound(text) => (StatusCode::NOT_FOUND, text),
            Failure::Rest(error) => {
                let status = match error.code.as_str() {
                    "ERROR_NOT_FOUND" => StatusCode::NOT_FOUND,
                    _ => StatusCode::from_u16(error.status)
                        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                };
                (status, error.description)
            }
            Failure::Store(error) => {
                tracing::error!(%error, "console: storage error");
                let text = "The store failed; the server log has the details.".to_string();
                (StatusCode::INTERNAL_SERVER_ERROR, text)
            }
        };
        (status, layout::message(status, &text)).into_response()
    }
}

/// What a console handler returns.
pub type Page = Result<Response, Failure>;

/// A numeric path id; anything else is a 400 message page instead of axum's plain text.
pub struct Id(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Id, Failure> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| Failure::BadInput(rejection.body_text()))?;
        raw.parse()
            .map(Id)
            .map_err(|_| Failure::BadInput(format!("'{raw}' is not an id: ids are numbers.")))
    }
}

/// Runs a REST method as the console (the administrator, every scope, no user behind its
/// events) through the registry `/rest` and `batch` use. The outer error is the store failing
/// to find the administrator; the inner one is the method's own answer.
async fn rest_call(
    state: &AppState,
    method: &str,
    params: Value,
) -> Result<Result<Value, RestError>, Failure> {
    let admin = {
        let mut conn = state.store.pool().acquire().await.map_err(store_failed)?;
        portal::get_user(&mut conn, 1)
            .await?
            .ok_or(StoreError::NotFound)?
    };
    let ctx = CallContext {
        state: state.clone(),
        caller: Arc::new(Caller::console(admin, &state.registry)),
        request: Arc::new(RequestInfo {
            // One console action is one request: its identical deliveries collapse (decision 23).
            request_id: b24lite_store::random::hex(16),
            auth_connector: None,
            in_batch: false,
        }),
    };
    let params: Params = match params {
        Value::Object(map) => map,
        _ => Params::new(),
    };
    let outcome = state.registry.call(ctx, method, params).await;
    Ok(outcome.map(|output| output.result.into_tree()))
}

/// A scalar of a REST answer as text (`""` when absent or not a scalar).
fn text_of(value: &Value, key: &str) -> String {
    value
        .get(key)
        .and_then(b24lite_core::params::as_php_string)
        .unwrap_or_default()
}

/// A Unix time in the portal's offset, as the console shows times.
fn show_time(state: &AppState, unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|t| {
            t.with_timezone(&state.config.utc_offset)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_else(|| unix.to_string())
}
