//! `/admin/...` inspection: events, deliveries and attempts, and sending deliveries again.
//!
//! Query filters (all optional): events `name`, `since` (Unix seconds), `after_id`, `limit`
//! (default 100, at most 1000); deliveries `status`, `handler_id`, `event_id`, `webhook_id`,
//! `since`, `after_id`, `limit`; attempts `delivery_id`, `limit`. Lists are oldest first.
//! `POST /admin/redeliver` takes `{"handler_id": N, "since": UNIX}` (`since` defaults to 0) and
//! re-queues that handler's `failed` deliveries created since then; the answer is `{"count": n}`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use b24lite_store::deliveries::{self, DeliveryFilter, Redelivery};
use b24lite_store::events::{self, EventFilter};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::http::admin::{failure, internal, not_found};
use crate::http::admin_input::{Body, Filter, Param};
use crate::state::AppState;

const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 1000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/events", get(list_events))
        .route("/admin/deliveries", get(list_deliveries))
        .route("/admin/deliveries/{id}", get(get_delivery))
        .route("/admin/deliveries/{id}/attempts", get(delivery_attempts))
        .route("/admin/deliveries/{id}/redeliver", post(redeliver_one))
        .route("/admin/attempts", get(list_attempts))
        .route("/admin/redeliver", post(redeliver_failed))
}

fn limit(asked: Option<i64>) -> i64 {
    asked.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT)
}

fn answer<T: serde::Serialize>(result: Result<T, b24lite_store::StoreError>) -> Response {
    match result {
        Ok(value) => Json(value).into_response(),
        Err(error) => internal(error),
    }
}

#[derive(Deserialize)]
struct EventQuery {
    name: Option<String>,
    since: Option<i64>,
    after_id: Option<i64>,
    limit: Option<i64>,
}

async fn list_events(State(state): State<AppState>, Filter(q): Filter<EventQuery>) -> Response {
    let filter = EventFilter {
        name: q.name,
        since: q.since,
        after_id: q.after_id,
        limit: limit(q.limit),
    };
    let listed = async {
        let mut conn = state.store.pool().acquire().await?;
        let found = events::list(&mut conn, &filter).await?;
        Ok(found.iter().map(event_json).collect::<Vec<Value>>())
    };
    answer(listed.await)
}

fn event_json(event: &events::Event) -> Value {
    json!({
        "id": event.id,
        "name": event.name,
        "data": event.data,
        "user_id": event.user_id,
        "request_id": event.request_id,
        "created_at": event.created_at,
    })
}

#[derive(Deserialize)]
struct DeliveryQuery {
    status: Option<String>,
    handler_id: Option<i64>,
    event_id: Option<i64>,
    webhook_id: Option<i64>,
    since: Option<i64>,
    after_id: Option<i64>,
    limit: Option<i64>,
}

async fn list_deliveries(
    State(state): State<AppState>,
    Filter(q): Filter<DeliveryQuery>,
) -> Response {
    let statuses = deliveries::STATUSES;
    if let Some(status) = q.status.as_deref().filter(|s| !statuses.contains(s)) {
        let text = format!("unknown status '{status}': {}", statuses.join(", "));
        return failure(StatusCode::BAD_REQUEST, "INVALID_STATUS", &text);
    }
    let filter = DeliveryFilter {
        status: q.status,
        handler_id: q.handler_id,
        event_id: q.event_id,
        webhook_id: q.webhook_id,
        since: q.since,
        after_id: q.after_id,
        limit: limit(q.limit),
    };
    let listed = async {
        let mut conn = state.store.pool().acquire().await?;
        deliveries::list(&mut conn, &filter).await
    };
    answer(listed.await)
}

async fn get_delivery(State(state): State<AppState>, Param(id): Param<i64>) -> Response {
    let found = async {
        let mut conn = state.store.pool().acquire().await?;
        deliveries::get(&mut conn, id).await
    };
    match found.await {
        Ok(Some(delivery)) => Json(delivery).into_response(),
        Ok(None) => not_found("delivery"),
        Err(error) => internal(error),
    }
}

async fn delivery_attempts(State(state): State<AppState>, Param(id): Param<i64>) -> Response {
    let listed = async {
        let mut conn = state.store.pool().acquire().await?;
        deliveries::attempts(&mut conn, Some(id), MAX_LIMIT).await
    };
    answer(listed.await)
}

#[derive(Deserialize)]
struct AttemptQuery {
    delivery_id: Option<i64>,
    limit: Option<i64>,
}

async fn list_attempts(State(state): State<AppState>, Filter(q): Filter<AttemptQuery>) -> Response {
    let listed = async {
        let mut conn = state.store.pool().acquire().await?;
        deliveries::attempts(&mut conn, q.delivery_id, limit(q.limit)).await
    };
    answer(listed.await)
}

async fn redeliver_one(State(state): State<AppState>, Param(id): Param<i64>) -> Response {
    let done = async {
        let mut conn = state.store.pool().acquire().await?;
        deliveries::redeliver(&mut conn, id, state.clock.now()).await
    };
    match done.await {
        Ok(Redelivery::Queued) => {
            state.wake_dispatcher();
            Json(json!({"redelivered": true})).into_response()
        }
        Ok(Redelivery::Missing) => not_found("delivery"),
        Ok(Redelivery::HandlerGone) => failure(
            StatusCode::CONFLICT,
            "HANDLER_GONE",
            "the delivery's handler was deleted",
        ),
        Ok(Redelivery::InFlight) => failure(
            StatusCode::CONFLICT,
            "IN_FLIGHT",
            "the delivery is being sent right now",
        ),
        Err(error) => internal(error),
    }
}

#[derive(Deserialize)]
struct RedeliverFailed {
    handler_id: i64,
    #[serde(default)]
    since: i64,
}

async fn redeliver_failed(
    State(state): State<AppState>,
    Body(input): Body<RedeliverFailed>,
) -> Response {
    let done = async {
        let mut conn = state.store.pool().acquire().await?;
        let now = state.clock.now();
        deliveries::redeliver_failed(&mut conn, input.handler_id, input.since, now).await
    };
    match done.await {
        Ok(count) => {
            state.wake_dispatcher();
            Json(json!({"count": count})).into_response()
        }
        Err(error) => internal(error),
    }
}
