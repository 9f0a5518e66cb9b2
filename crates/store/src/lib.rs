//! The only crate that speaks SQL.
//!
//! One code base serves both stores through sqlx's `Any` driver: SQLite (embedded, the default)
//! and PostgreSQL (several instances sharing the work). Queries use `$1`-style placeholders,
//! which both drivers accept; where the two dialects differ, [`Dialect`] picks the statement.
//! Each backend has its own migration folder, embedded in [`migrations`]. Flags are 0/1
//! integers (read them with [`flag`]), times are Unix seconds in integer columns, and JSON is
//! stored as text.
//!
//! Modules by concern: [`portal`] (portal identity and users), [`webhooks`] (incoming webhooks),
//! [`apps`] (applications and OAuth grants), [`bindings`] (applications' `event.bind` rows),
//! [`events`] (the outbox and its fan-out), [`outgoing`] (outgoing webhooks and handler rows),
//! [`deliveries`] (the delivery queue shared by workers, attempts, re-sending), [`userfields`]
//! (custom field definitions), [`contacts`] (contacts and their custom-field values),
//! [`offline`] (applications' offline event queue), [`rate`] and [`operating`] (the request-rate
//! and operating-time buckets shared by instances), [`wakeup`] (LISTEN for the notifications
//! instances send each other on PostgreSQL).
//!
//! Invariants: every write that must be all-or-nothing runs in one [`Tx`] from
//! [`Store::begin_write`]; no transaction is held open across network IO.

pub mod apps;
pub mod bindings;
pub mod contacts;
mod db;
pub mod deliveries;
mod delivery_log;
pub mod events;
pub mod field_types;
pub mod migrations;
pub mod offline;
pub mod operating;
pub mod outgoing;
pub mod portal;
pub mod random;
pub mod rate;
pub mod userfields;
pub mod wakeup;
pub mod webhooks;

/// Reads a 0/1 flag column. Flags are integers in both dialects because sqlx's `Any` driver
/// cannot decode SQLite booleans.
pub fn flag(row: &sqlx::any::AnyRow, column: &str) -> Result<bool, sqlx::Error> {
    use sqlx::Row;
    Ok(row.try_get::<i64, _>(column)? != 0)
}

pub use db::{Dialect, Store, StoreError, Tx, UnixTime, sqlite_file};
/// The connection type store functions take (a `Tx` or a pooled connection derefs to it).
pub use sqlx::AnyConnection;

/// A statement being given its parameters, for the helpers that bind a built list of them.
pub(crate) type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;
