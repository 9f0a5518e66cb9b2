//! The HTTP face of the portal.
//!
//! - `/rest/...`: Bitrix24 REST calls ([`rest`]), JSON ([`json`]) or XML ([`xml`]).
//! - `/healthz`: 200 once the server is ready.
//!
//! Each area adds its routes through one `router()` function merged here.

pub mod json;
pub mod rest;
pub mod tls;
pub mod xml;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{any, get};

use crate::state::AppState;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/rest", any(rest::no_method))
        .route("/rest/", any(rest::no_method))
        .route("/rest/{*path}", any(rest::handle))
        // `/rest` enforces `--body-limit` itself; axum's 2 MB default must not cut in first.
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}
