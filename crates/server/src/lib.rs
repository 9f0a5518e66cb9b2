//! b24lite: a local, deterministic Bitrix24 portal for CRM contact user fields and their events.
//!
//! # Layout
//! - [`cli`]: the `b24lite` command line (`serve`, `user`, `webhook`, ...); [`cli_outgoing`]
//!   (`outgoing`, `deliveries`, `redeliver`), [`cli_app`] (`app`) and [`listen`] (`b24lite listen`).
//! - [`app_lifecycle`]: installing and removing applications, shared by the CLI and admin API.
//! - [`config`]: settings of a running server, from flags and `B24LITE_*` variables.
//! - [`state`]: what every request shares: the store, the portal, the clock, the method registry.
//! - [`http`]: the axum router: `/rest/...` calls, `/healthz`, TLS.
//! - [`rest`]: the Bitrix24 call protocol independent of HTTP: credentials, the method registry,
//!   envelopes, `batch`, paging and rate limits.
//! - [`methods`]: one module per family of REST methods.
//! - [`dispatch`]: the delivery engine: workers that POST events to their handlers.
//! - [`housekeeping`]: periodic clean-up of expired application tokens.
//! - [`clock`]: the time source, movable by tests.
//!
//! Invariants: handlers never wait on an event delivery; only `b24lite-store` runs SQL; tokens
//! and request bodies are never logged.

pub mod app_lifecycle;
pub mod changes;
pub mod cli;
pub mod cli_app;
pub mod cli_outgoing;
pub mod clock;
pub mod config;
pub mod dispatch;
pub mod housekeeping;
pub mod http;
pub mod listen;
pub mod methods;
pub mod rest;
pub mod serve;
pub mod state;
pub mod telemetry;
