//! The HTTP face of the portal.
//!
//! - `/rest/...`: Bitrix24 REST calls ([`rest`]).
//! - `/oauth/...`: the OAuth 2.0 server ([`oauth`]).
//! - `/healthz`: 200 once the server is ready.
//! - `/admin/...`: the administrator's API, behind the admin key ([`admin`]).
//! - `/metrics`: Prometheus text of the delivery engine.
//!
//! Each area adds its routes through one `router()` function merged here.

pub mod admin;
mod admin_log;
pub mod json;
mod metrics;
pub mod oauth;
pub mod rest;
pub mod tls;

use axum::Router;
use axum::routing::{any, get};

use crate::state::AppState;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/rest/{*path}", any(rest::handle))
        .merge(oauth::router())
        .route("/metrics", get(metrics::handle))
        .merge(admin::router(state.clone()))
        .with_state(state)
}
