//! The outbox: events recorded in the same transaction as the change that causes them.

use sqlx::{AnyConnection, Row};

use crate::{StoreError, UnixTime};

/// An event to record. `data` is the `data` tree of the delivery (`{"FIELDS": {...}}`).
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// Upper-case event name, e.g. `ONCRMCONTACTUSERFIELDADD`.
    pub name: String,
    pub data: serde_json::Value,
    /// The user whose action caused the event; `None` for the CLI and other user-less paths.
    pub user_id: Option<i64>,
    /// The HTTP request that caused it: identical deliveries of one request collapse.
    pub request_id: String,
    /// `auth_connector` of that request (offline-queue echo suppression).
    pub auth_connector: Option<String>,
    /// The application whose call caused it, if any.
    pub app_id: Option<i64>,
}

/// Records an event inside the caller's transaction; returns its id.
pub async fn record(
    conn: &mut AnyConnection,
    event: &NewEvent,
    now: UnixTime,
) -> Result<i64, StoreError> {
    let row = sqlx::query(
        "INSERT INTO events (name, data, user_id, request_id, auth_connector, app_id, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(&event.name)
    .bind(event.data.to_string())
    .bind(event.user_id)
    .bind(&event.request_id)
    .bind(&event.auth_connector)
    .bind(event.app_id)
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(row.try_get("id")?)
}

/// A recorded event as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub id: i64,
    pub name: String,
    pub data: serde_json::Value,
    pub user_id: Option<i64>,
    pub request_id: String,
}

/// The last `limit` recorded events, oldest first (inspection and tests).
pub async fn list_recent(
    conn: &mut AnyConnection,
    limit: i64,
) -> Result<Vec<StoredEvent>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, name, data, user_id, request_id FROM
           (SELECT id, name, data, user_id, request_id FROM events ORDER BY id DESC LIMIT $1) t
         ORDER BY id",
    )
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|row| {
            let data: String = row.try_get("data")?;
            Ok(StoredEvent {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
                data: serde_json::from_str(&data).unwrap_or_default(),
                user_id: row.try_get("user_id")?,
                request_id: row.try_get("request_id")?,
            })
        })
        .collect()
}
