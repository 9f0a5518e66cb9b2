//! `GET /metrics`: Prometheus text exposition of the delivery engine. Unauthenticated, as
//! scrapers expect; it shows counts only, never URLs, tokens or payloads.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use b24lite_store::{deliveries, events};

use crate::state::AppState;

pub async fn handle(State(state): State<AppState>) -> Response {
    let counts = async {
        let mut conn = state.store.pool().acquire().await?;
        let fired = events::count_by_name(&mut conn).await?;
        let by_status = deliveries::count_by_status(&mut conn).await?;
        Ok::<_, b24lite_store::StoreError>((fired, by_status))
    };
    match counts.await {
        Ok((fired, by_status)) => {
            let text = state.delivery_metrics.render(&fired, &by_status);
            let content_type = "text/plain; version=0.0.4; charset=utf-8";
            ([(header::CONTENT_TYPE, content_type)], text).into_response()
        }
        Err(error) => {
            tracing::error!(%error, "metrics: storage error");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
