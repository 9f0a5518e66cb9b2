//! The HTTP face of the portal.
//!
//! - `/rest/...`: Bitrix24 REST calls ([`rest`]), JSON ([`json`]) or XML ([`xml`]).
//! - `/oauth/...`: the OAuth 2.0 server ([`oauth`]).
//! - the contact file URLs of `file` field values, signed so their ids cannot be walked
//!   ([`files`]).
//! - `/healthz`: 200 once the server is ready.
//! - `/admin/...`: the administrator's API, behind the admin key ([`admin`]).
//! - `/metrics`: Prometheus text of the delivery engine.
//! - `/console`: the web console, HTML behind the admin key ([`console`]).
//!
//! Each area adds its routes through one `router()` function merged here.

pub mod admin;
mod admin_apps;
mod admin_input;
mod admin_log;
mod console;
pub mod files;
pub mod json;
mod metrics;
pub mod oauth;
pub mod rest;
pub mod tls;
pub mod xml;

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{any, get};
use tower_http::timeout::RequestBodyTimeoutLayer;

use crate::state::AppState;

pub fn router(state: AppState) -> Router {
    // A body that stops arriving fails after `--request-timeout` without new data, whatever the
    // route (slow uploads that keep sending are fine); `rest` answers that with 408.
    let body_timeout = Duration::from_secs_f64(state.config.request_timeout);
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/rest", any(rest::no_method))
        .route("/rest/", any(rest::no_method))
        // `/rest` enforces `--body-limit` itself; axum's 2 MB default must not cut in first.
        .route(
            "/rest/{*path}",
            any(rest::handle).layer(DefaultBodyLimit::disable()),
        )
        .route(files::SHOW_FILE_PATH, get(files::show_file))
        .merge(oauth::router())
        .route("/metrics", get(metrics::handle))
        .merge(admin::router(state.clone()))
        .merge(console::router(state.clone()))
        .layer(RequestBodyTimeoutLayer::new(body_timeout))
        .with_state(state)
}
