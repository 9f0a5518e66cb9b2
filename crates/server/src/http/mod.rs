//! The HTTP face of the portal.
//!
//! - `/rest/...`: Bitrix24 REST calls ([`rest`]).
//! - `/oauth/...`: the OAuth 2.0 server ([`oauth`]).
//! - `/healthz`: 200 once the server is ready.
//!
//! Each area adds its routes through one `router()` function merged here.

pub mod json;
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
        .with_state(state)
}
