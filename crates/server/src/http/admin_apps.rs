//! `/admin/apps`: register, install, finish and uninstall local applications over HTTP, as
//! `b24lite app` does from the command line (same steps: [`crate::app_lifecycle`]).
//!
//! - `POST /admin/apps` `{"name", "handler", "scopes": ["crm", ...] | "crm,user"}` → 201 with the
//!   application, `client_secret` included. `GET /admin/apps` lists them, `GET
//!   /admin/apps/{client_id}` shows one.
//! - `POST /admin/apps/{client_id}/install` `{"user_id": 1, "ui": false}` (both optional) → the
//!   token answer of the installing user plus `application_token`; `ONAPPINSTALL` is queued.
//! - `POST /admin/apps/{client_id}/finish` → the application (`installFinish`).
//! - `POST /admin/apps/{client_id}/update` `{"version": 2}` (optional: next version) → the
//!   application; `ONAPPUPDATE` is queued.
//! - `POST /admin/apps/{client_id}/uninstall` `{"clean": false}` → the application;
//!   `ONAPPUNINSTALL` is queued.
//!
//! Refusals: 404 `NOT_FOUND` (application or user), 409 `ALREADY_INSTALLED` / `NOT_INSTALLED` /
//! `OLD_VERSION`,
//! 400 `INVALID_URL` / `NO_SCOPES` for a bad registration.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use b24lite_store::apps::{self, App, NewApp};
use serde::Deserialize;
use serde_json::{Value, json};

use super::admin::{failure, internal, not_found};
use super::admin_input::{Body, Param};
use crate::app_lifecycle::{self, Install, LifecycleError};
use crate::dispatch::client::check_url;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/apps", get(list_apps).post(create_app))
        .route("/admin/apps/{client_id}", get(get_app))
        .route("/admin/apps/{client_id}/install", post(install))
        .route("/admin/apps/{client_id}/finish", post(finish))
        .route("/admin/apps/{client_id}/update", post(update))
        .route("/admin/apps/{client_id}/uninstall", post(uninstall))
}

/// The JSON view of an application.
fn app_json(app: &App) -> Value {
    json!({
        "id": app.id,
        "name": app.name,
        "client_id": app.client_id,
        "client_secret": app.client_secret,
        "handler": app.handler_url,
        "scopes": app.scopes,
        "status": app.status,
        "version": app.version,
        "application_token": app.application_token,
        "installed": app.installed,
        "install_finished": app.install_finished,
        "install_user_id": app.install_user_id,
    })
}

/// Scopes as a list or as Bitrix24's comma-separated text.
#[derive(Deserialize)]
#[serde(untagged)]
enum Scopes {
    List(Vec<String>),
    Text(String),
}

#[derive(Deserialize)]
struct NewAppInput {
    name: String,
    handler: String,
    scopes: Scopes,
}

async fn create_app(State(state): State<AppState>, Body(input): Body<NewAppInput>) -> Response {
    if let Err(message) = check_url(&input.handler) {
        return failure(StatusCode::BAD_REQUEST, "INVALID_URL", &message);
    }
    let scopes = match input.scopes {
        Scopes::List(list) => b24lite_store::webhooks::parse_scopes(&list.join(",")),
        Scopes::Text(text) => b24lite_store::webhooks::parse_scopes(&text),
    };
    if scopes.is_empty() {
        return failure(
            StatusCode::BAD_REQUEST,
            "NO_SCOPES",
            "give at least one scope",
        );
    }
    let new = NewApp {
        name: input.name,
        handler_url: input.handler,
        scopes,
    };
    let created = async {
        let mut conn = state.store.pool().acquire().await?;
        apps::create(&mut conn, &new, state.clock.now()).await
    };
    match created.await {
        Ok(app) => (StatusCode::CREATED, Json(app_json(&app))).into_response(),
        Err(error) => internal(error),
    }
}

async fn list_apps(State(state): State<AppState>) -> Response {
    let listed = async {
        let mut conn = state.store.pool().acquire().await?;
        apps::list(&mut conn).await
    };
    match listed.await {
        Ok(apps) => Json(Value::Array(apps.iter().map(app_json).collect())).into_response(),
        Err(error) => internal(error),
    }
}

async fn get_app(State(state): State<AppState>, Param(client_id): Param<String>) -> Response {
    let found = async {
        let mut conn = state.store.pool().acquire().await?;
        apps::find_by_client_id(&mut conn, &client_id).await
    };
    match found.await {
        Ok(Some(app)) => Json(app_json(&app)).into_response(),
        Ok(None) => not_found("application"),
        Err(error) => internal(error),
    }
}

#[derive(Deserialize, Default)]
struct InstallInput {
    #[serde(default)]
    user_id: Option<i64>,
    #[serde(default)]
    ui: bool,
}

async fn install(
    State(state): State<AppState>,
    Param(client_id): Param<String>,
    input: Option<Body<InstallInput>>,
) -> Response {
    let input = input.map(|Body(input)| input).unwrap_or_default();
    let how = Install {
        user_id: input.user_id.unwrap_or(1),
        has_ui: input.ui,
        lifetimes: state.config.token_lifetimes(),
    };
    let now = state.clock.now();
    match app_lifecycle::install(&state.store, &client_id, how, now).await {
        Ok(installed) => {
            state.wake_dispatcher();
            let (app, tokens) = (&installed.app, &installed.tokens);
            let access_ttl = how.lifetimes.access;
            let mut answer = super::oauth::token_answer(&installed.portal, app, tokens, access_ttl);
            answer["application_token"] = app.application_token.clone().into();
            Json(answer).into_response()
        }
        Err(error) => refused(error),
    }
}

async fn finish(State(state): State<AppState>, Param(client_id): Param<String>) -> Response {
    match app_lifecycle::finish(&state.store, &client_id).await {
        Ok(app) => Json(app_json(&app)).into_response(),
        Err(error) => refused(error),
    }
}

#[derive(Deserialize, Default)]
struct UpdateInput {
    #[serde(default)]
    version: Option<i64>,
}

async fn update(
    State(state): State<AppState>,
    Param(client_id): Param<String>,
    input: Option<Body<UpdateInput>>,
) -> Response {
    let version = input.and_then(|Body(input)| input.version);
    let now = state.clock.now();
    match app_lifecycle::update(&state.store, &client_id, version, now).await {
        Ok(app) => {
            state.wake_dispatcher();
            Json(app_json(&app)).into_response()
        }
        Err(error) => refused(error),
    }
}

#[derive(Deserialize, Default)]
struct UninstallInput {
    #[serde(default)]
    clean: bool,
}

async fn uninstall(
    State(state): State<AppState>,
    Param(client_id): Param<String>,
    input: Option<Body<UninstallInput>>,
) -> Response {
    let clean = input.is_some_and(|Body(input)| input.clean);
    let now = state.clock.now();
    match app_lifecycle::uninstall(&state.store, &client_id, clean, now).await {
        Ok(app) => {
            // Its field types are gone: fields of those types no longer name an owner.
            state.fields.invalidate();
            state.wake_dispatcher();
            Json(app_json(&app)).into_response()
        }
        Err(error) => refused(error),
    }
}

fn refused(error: LifecycleError) -> Response {
    let text = error.to_string();
    match error {
        LifecycleError::NoSuchApp(_) | LifecycleError::NoSuchUser(_) => {
            failure(StatusCode::NOT_FOUND, "NOT_FOUND", &text)
        }
        LifecycleError::AlreadyInstalled(_) => {
            failure(StatusCode::CONFLICT, "ALREADY_INSTALLED", &text)
        }
        LifecycleError::NotInstalled(_) => failure(StatusCode::CONFLICT, "NOT_INSTALLED", &text),
        LifecycleError::NotAdmin(_) => failure(StatusCode::FORBIDDEN, "NOT_ADMIN", &text),
        LifecycleError::OldVersion { .. } => failure(StatusCode::CONFLICT, "OLD_VERSION", &text),
        LifecycleError::Store(error) => internal(error),
    }
}
