//! Applications' event handlers (`event.bind`), rows of the shared `event_handlers` table whose
//! id is the delivered `event_handler_id`.
//!
//! Uniqueness follows the server code: one row per (application, event, handler URL, user,
//! connector). Offline bindings have an empty handler and user 0.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::{StoreError, UnixTime};

/// `event_type` of a binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Online,
    Offline,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Online => "online",
            EventType::Offline => "offline",
        }
    }
}

/// One application binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub id: i64,
    pub app_id: i64,
    /// Upper-case event name.
    pub event: String,
    /// Handler URL; empty for offline bindings.
    pub handler: String,
    /// The user whose tokens go into deliveries; 0 = the user who made the change.
    pub auth_type: i64,
    pub event_type: EventType,
    pub connector: String,
    /// JSON object of the event's options (`{"minTimeout": 30}`).
    pub options: String,
}

/// A binding to create.
#[derive(Debug, Clone)]
pub struct NewBinding {
    pub app_id: i64,
    pub event: String,
    pub handler: String,
    pub auth_type: i64,
    pub event_type: EventType,
    pub connector: String,
    pub options: String,
}

/// Stores a binding; [`StoreError::Conflict`] when the same one exists.
pub async fn bind(
    conn: &mut AnyConnection,
    binding: &NewBinding,
    now: UnixTime,
) -> Result<i64, StoreError> {
    let row = sqlx::query(
        "INSERT INTO event_handlers (event, handler, app_id, auth_type, event_type, connector, options,
                                     created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(&binding.event)
    .bind(&binding.handler)
    .bind(binding.app_id)
    .bind(binding.auth_type)
    .bind(binding.event_type.as_str())
    .bind(&binding.connector)
    .bind(&binding.options)
    .bind(now)
    .fetch_one(conn)
    .await
    .map_err(StoreError::from_write)?;
    Ok(row.try_get("id")?)
}

/// Which bindings of an application `event.unbind` removes; `None` matches anything.
#[derive(Debug, Clone)]
pub struct Unbind {
    pub app_id: i64,
    pub event: String,
    pub event_type: EventType,
    pub handler: Option<String>,
    pub auth_type: Option<i64>,
    pub connector: Option<String>,
}

/// Deletes the matching bindings; returns how many.
pub async fn unbind(conn: &mut AnyConnection, which: &Unbind) -> Result<u64, StoreError> {
    let done = sqlx::query(
        "DELETE FROM event_handlers
         WHERE app_id = $1 AND event = $2 AND event_type = $3
           AND ($4 IS NULL OR handler = $4)
           AND ($5 IS NULL OR auth_type = $5)
           AND ($6 IS NULL OR connector = $6)",
    )
    .bind(which.app_id)
    .bind(&which.event)
    .bind(which.event_type.as_str())
    .bind(&which.handler)
    .bind(which.auth_type)
    .bind(&which.connector)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// An application's bindings in id order; with `user_id`, only that user's online bindings.
pub async fn list_for_app(
    conn: &mut AnyConnection,
    app_id: i64,
    user_id: Option<i64>,
) -> Result<Vec<Binding>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, app_id, event, handler, auth_type, event_type, connector, options
         FROM event_handlers
         WHERE app_id = $1 AND ($2 IS NULL OR (auth_type = $2 AND event_type = 'online'))
         ORDER BY id",
    )
    .bind(app_id)
    .bind(user_id)
    .fetch_all(conn)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Removes the bindings of an application, except those of `keep_event` (uninstall keeps its
/// `ONAPPUNINSTALL` handlers until that event is delivered; the next install removes them).
pub async fn delete_for_app(
    conn: &mut AnyConnection,
    app_id: i64,
    keep_event: Option<&str>,
) -> Result<u64, StoreError> {
    let done = sqlx::query("DELETE FROM event_handlers WHERE app_id = $1 AND event <> $2")
        .bind(app_id)
        .bind(keep_event.unwrap_or(""))
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

fn from_row(row: &AnyRow) -> Result<Binding, StoreError> {
    let event_type: String = row.try_get("event_type")?;
    Ok(Binding {
        id: row.try_get("id")?,
        app_id: row.try_get("app_id")?,
        event: row.try_get("event")?,
        handler: row.try_get("handler")?,
        auth_type: row.try_get("auth_type")?,
        event_type: if event_type == "offline" {
            EventType::Offline
        } else {
            EventType::Online
        },
        connector: row.try_get("connector")?,
        options: row.try_get("options")?,
    })
}
