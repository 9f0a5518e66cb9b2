//! `/admin/...`: the administrator's API, separate from the Bitrix24 `/rest` surface.
//!
//! Every route needs `Authorization: Bearer <admin key>` (401 otherwise). Answers are plain JSON
//! (not Bitrix24 envelopes); errors are `{"error": CODE, "error_description": TEXT}`.
//!
//! - `POST /admin/outgoing-webhooks` `{"url", "events": [...], "policy": "bitrix"|"retry",
//!   "signing": bool}` → 201 with the webhook (`id`, `application_token`, `signing_secret` or
//!   null, `handlers` with their `event_handler_id`s). `GET` lists them;
//!   `GET`/`DELETE /admin/outgoing-webhooks/{id}`; `PATCH` with any of `url`, `events` (the full
//!   new list; kept events keep their handler id), `policy`, `signing` (`true` keeps a current
//!   secret); `POST /admin/outgoing-webhooks/{id}/enable`, `/disable`, and `/rotate-secret` (a
//!   new secret for a signed webhook; 409 `SIGNING_OFF` for an unsigned one).
//! - `GET /admin/events`, `/admin/deliveries`, `/admin/deliveries/{id}`,
//!   `/admin/deliveries/{id}/attempts`, `/admin/attempts` with query filters (see
//!   [`super::admin_log`]); `POST /admin/deliveries/{id}/redeliver`;
//!   `POST /admin/redeliver` `{"handler_id", "since"}` re-sends failed deliveries.
//! - `/admin/apps`: local applications (see [`super::admin_apps`]).
//! - `POST /admin/clock/advance` `{"seconds": N}`: only with `--allow-clock-control` (404
//!   otherwise).

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use b24lite_store::outgoing::{self, OutgoingWebhook, Policy, Signing};
use serde::Deserialize;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use crate::dispatch::client::check_url;
use crate::http::admin_input::{Body, Param};
use crate::http::{admin_apps, admin_log};
use crate::state::AppState;

pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route(
            "/admin/outgoing-webhooks",
            get(list_webhooks).post(create_webhook),
        )
        .route(
            "/admin/outgoing-webhooks/{id}",
            get(get_webhook)
                .patch(update_webhook)
                .delete(delete_webhook),
        )
        .route("/admin/outgoing-webhooks/{id}/enable", post(enable_webhook))
        .route(
            "/admin/outgoing-webhooks/{id}/disable",
            post(disable_webhook),
        )
        .route(
            "/admin/outgoing-webhooks/{id}/rotate-secret",
            post(rotate_secret),
        )
        .route("/admin/clock/advance", post(advance_clock))
        .merge(admin_log::router())
        .merge(admin_apps::router())
        // Only matched admin routes need the key: an unknown path stays a plain 404.
        .route_layer(middleware::from_fn_with_state(state, require_admin_key))
}

async fn require_admin_key(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if bool::from(given.as_bytes().ct_eq(state.admin_key.as_bytes())) {
        next.run(request).await
    } else {
        failure(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "admin key required",
        )
    }
}

/// An admin API error answer.
pub fn failure(status: StatusCode, code: &str, description: &str) -> Response {
    let body = json!({"error": code, "error_description": description});
    (status, Json(body)).into_response()
}

/// A storage failure, logged and answered 500.
pub fn internal(error: b24lite_store::StoreError) -> Response {
    tracing::error!(%error, "admin API storage error");
    failure(
        StatusCode::INTERNAL_SERVER_ERROR,
        "INTERNAL_ERROR",
        "storage error",
    )
}

pub fn not_found(what: &str) -> Response {
    failure(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        &format!("no such {what}"),
    )
}

/// The JSON view of an outgoing webhook.
pub fn webhook_json(hook: &OutgoingWebhook) -> Value {
    let handlers: Vec<Value> = hook
        .handlers
        .iter()
        .map(|h| json!({"id": h.id, "event": h.event}))
        .collect();
    json!({
        "id": hook.id,
        "url": hook.url,
        "application_token": hook.application_token,
        "enabled": hook.enabled,
        "policy": hook.policy.as_str(),
        "signing_secret": hook.signing_secret,
        "created_at": hook.created_at,
        "handlers": handlers,
    })
}

#[derive(Deserialize)]
struct NewWebhook {
    url: String,
    events: Vec<String>,
    #[serde(default)]
    policy: Option<String>,
    /// Sign deliveries (Standard Webhooks); off by default.
    #[serde(default)]
    signing: Option<bool>,
}

async fn create_webhook(State(state): State<AppState>, Body(input): Body<NewWebhook>) -> Response {
    let checked = check_input(
        Some(&input.url),
        Some(&input.events),
        input.policy.as_deref(),
    );
    let (events, policy) = match checked {
        Ok((events, policy)) => (events.unwrap_or_default(), policy.unwrap_or(Policy::Bitrix)),
        Err(invalid) => return invalid.into_response(),
    };
    let created = async {
        let mut tx = state.store.begin_write().await?;
        let signed = input.signing == Some(true);
        let now = state.clock.now();
        let hook = outgoing::create(&mut tx, &input.url, &events, policy, signed, now).await?;
        tx.commit().await?;
        Ok::<_, b24lite_store::StoreError>(hook)
    };
    match created.await {
        Ok(hook) => (StatusCode::CREATED, Json(webhook_json(&hook))).into_response(),
        Err(error) => internal(error),
    }
}

/// A webhook's event list and policy, as [`check_input`] accepted them.
pub(crate) type Checked = (Option<Vec<String>>, Option<Policy>);

/// A refused input: error code and description (answered 400; the console shows the text).
pub(crate) struct Invalid(pub &'static str, pub String);

impl IntoResponse for Invalid {
    fn into_response(self) -> Response {
        failure(StatusCode::BAD_REQUEST, self.0, &self.1)
    }
}

/// Validates the URL, event list and policy that were given (the console's form too).
pub(crate) fn check_input(
    url: Option<&str>,
    events: Option<&Vec<String>>,
    policy: Option<&str>,
) -> Result<Checked, Invalid> {
    if let Some(Err(message)) = url.map(check_url) {
        return Err(Invalid("INVALID_URL", message));
    }
    let events = match events.map(|e| b24lite_core::events::normalize_list(e)) {
        None => None,
        Some(Ok(events)) if !events.is_empty() => Some(events),
        Some(Ok(_)) => {
            return Err(Invalid("NO_EVENTS", "give at least one event".into()));
        }
        Some(Err(name)) => {
            let text = format!("Event not found: {name}");
            return Err(Invalid("ERROR_EVENT_NOT_FOUND", text));
        }
    };
    let policy = match policy.map(Policy::parse) {
        None => None,
        Some(Some(policy)) => Some(policy),
        Some(None) => {
            let text = "policy must be bitrix or retry";
            return Err(Invalid("INVALID_POLICY", text.into()));
        }
    };
    Ok((events, policy))
}

#[derive(Deserialize)]
struct WebhookPatch {
    url: Option<String>,
    events: Option<Vec<String>>,
    policy: Option<String>,
    signing: Option<bool>,
}

async fn update_webhook(
    State(state): State<AppState>,
    Param(id): Param<i64>,
    Body(input): Body<WebhookPatch>,
) -> Response {
    let checked = check_input(
        input.url.as_deref(),
        input.events.as_ref(),
        input.policy.as_deref(),
    );
    let (events, policy) = match checked {
        Ok(checked) => checked,
        Err(invalid) => return invalid.into_response(),
    };
    let change = outgoing::Change {
        url: input.url,
        policy,
        signing: input.signing,
        events,
    };
    let updated = async {
        let mut tx = state.store.begin_write().await?;
        let hook = outgoing::update(&mut tx, id, &change, state.clock.now()).await?;
        tx.commit().await?;
        Ok::<_, b24lite_store::StoreError>(hook)
    };
    match updated.await {
        Ok(Some(hook)) => Json(webhook_json(&hook)).into_response(),
        Ok(None) => not_found("outgoing webhook"),
        Err(error) => internal(error),
    }
}

async fn list_webhooks(State(state): State<AppState>) -> Response {
    let listed = async {
        let mut conn = state.store.pool().acquire().await?;
        outgoing::list(&mut conn).await
    };
    match listed.await {
        Ok(hooks) => Json(Value::Array(hooks.iter().map(webhook_json).collect())).into_response(),
        Err(error) => internal(error),
    }
}

async fn get_webhook(State(state): State<AppState>, Param(id): Param<i64>) -> Response {
    let found = async {
        let mut conn = state.store.pool().acquire().await?;
        outgoing::get(&mut conn, id).await
    };
    match found.await {
        Ok(Some(hook)) => Json(webhook_json(&hook)).into_response(),
        Ok(None) => not_found("outgoing webhook"),
        Err(error) => internal(error),
    }
}

async fn delete_webhook(State(state): State<AppState>, Param(id): Param<i64>) -> Response {
    let deleted = async {
        let mut tx = state.store.begin_write().await?;
        let deleted = outgoing::delete(&mut tx, id).await?;
        tx.commit().await?;
        Ok::<_, b24lite_store::StoreError>(deleted)
    };
    match deleted.await {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => not_found("outgoing webhook"),
        Err(error) => internal(error),
    }
}

async fn enable_webhook(state: State<AppState>, id: Param<i64>) -> Response {
    set_enabled(state, id, true).await
}

async fn disable_webhook(state: State<AppState>, id: Param<i64>) -> Response {
    set_enabled(state, id, false).await
}

async fn set_enabled(State(state): State<AppState>, Param(id): Param<i64>, on: bool) -> Response {
    let changed = async {
        let mut conn = state.store.pool().acquire().await?;
        if !outgoing::set_enabled(&mut conn, id, on).await? {
            return Ok(None);
        }
        outgoing::get(&mut conn, id).await
    };
    match changed.await {
        Ok(Some(hook)) => Json(webhook_json(&hook)).into_response(),
        Ok(None) => not_found("outgoing webhook"),
        Err(error) => internal(error),
    }
}

/// What `rotate-secret` found.
enum Rotation {
    Rotated(OutgoingWebhook),
    Unsigned,
    Missing,
}

/// A new signing secret for a signed webhook; deliveries not yet sent are signed with it.
async fn rotate_secret(State(state): State<AppState>, Param(id): Param<i64>) -> Response {
    let rotated = async {
        let mut tx = state.store.begin_write().await?;
        let rotation = match outgoing::get(&mut tx, id).await? {
            None => Rotation::Missing,
            Some(hook) if hook.signing_secret.is_none() => Rotation::Unsigned,
            Some(hook) => {
                let secret = outgoing::set_signing(&mut tx, id, Signing::Rotate).await?;
                Rotation::Rotated(OutgoingWebhook {
                    signing_secret: secret.flatten(),
                    ..hook
                })
            }
        };
        tx.commit().await?;
        Ok::<_, b24lite_store::StoreError>(rotation)
    };
    match rotated.await {
        Ok(Rotation::Rotated(hook)) => Json(webhook_json(&hook)).into_response(),
        Ok(Rotation::Unsigned) => failure(
            StatusCode::CONFLICT,
            "SIGNING_OFF",
            "the webhook is not signed (PATCH it with \"signing\": true first)",
        ),
        Ok(Rotation::Missing) => not_found("outgoing webhook"),
        Err(error) => internal(error),
    }
}

#[derive(Deserialize)]
struct Advance {
    seconds: i64,
}

async fn advance_clock(State(state): State<AppState>, Body(input): Body<Advance>) -> Response {
    if !state.config.allow_clock_control {
        return not_found("route (start the server with --allow-clock-control)");
    }
    if state.clock.advance(input.seconds).is_err() {
        let text = "the clock only moves forward, and at most a century ahead";
        return failure(StatusCode::BAD_REQUEST, "INVALID_SECONDS", text);
    }
    state.wake_dispatcher();
    Json(json!({"now": state.clock.now()})).into_response()
}
