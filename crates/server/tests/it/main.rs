//! Integration tests: the real `b24lite` binary on a loopback port, called over HTTP.
//!
//! Every test starts its own server on a fresh store: a SQLite file in a temporary folder, or,
//! when `B24LITE_TEST_POSTGRES_URL` is set, a PostgreSQL database created for the test and
//! dropped after it. `.ci/run` runs the suite once per store.

mod app_delivery;
mod app_lifecycle;
mod apps;
mod auth;
mod bad_input;
mod batch;
mod changes;
mod console;
mod contact_list;
mod contact_values;
mod contacts;
mod delivery;
mod delivery_rest;
mod delivery_signing;
mod event_api;
mod field_types;
mod limits;
mod logs;
mod multi_instance;
mod offline;
mod protocol;
mod receiver;
mod tls;
mod userfields;
// Helpers serve many test modules; each module uses only some of them.
#[allow(dead_code)]
mod utils;
