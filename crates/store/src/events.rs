//! The outbox: events recorded in the same transaction as the change that causes them.
//!
//! [`record`] writes the event and, in the same transaction, one `pending` delivery for every
//! enabled online handler of that event (fan-out). A change that rolls back therefore leaves
//! neither event nor delivery, and a crash after commit loses nothing: the delivery workers find
//! the rows when they next look. Deliveries of one request collapse when they are identical
//! (decision 23): the unique key is (request id, handler, hash of event name and data).

use md5::{Digest, Md5};
use sqlx::any::AnyRow;
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

/// A recorded event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: i64,
    pub name: String,
    pub data: serde_json::Value,
    pub user_id: Option<i64>,
    pub request_id: String,
    pub created_at: UnixTime,
}

/// Records an event inside the caller's transaction and queues its deliveries; returns its id.
/// Call `wake_dispatcher()` after the transaction commits.
pub async fn record(
    conn: &mut AnyConnection,
    event: &NewEvent,
    now: UnixTime,
) -> Result<i64, StoreError> {
    let name = event.name.to_ascii_uppercase();
    let data = event.data.to_string();
    let row = sqlx::query(
        "INSERT INTO events (name, data, user_id, request_id, auth_connector, app_id, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(&name)
    .bind(&data)
    .bind(event.user_id)
    .bind(&event.request_id)
    .bind(&event.auth_connector)
    .bind(event.app_id)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    let id: i64 = row.try_get("id")?;
    fan_out(conn, id, &name, &data, &event.request_id, event.app_id, now).await?;
    let source = (event.app_id, event.auth_connector.as_deref().unwrap_or(""));
    crate::offline::record(conn, &name, &data, event.user_id, source, now).await?;
    Ok(id)
}

/// Creates the deliveries of one event for every enabled online handler subscribed to it: the
/// handlers of enabled outgoing webhooks and of installed applications. An application whose
/// installation is not finished gets a `dropped` delivery instead, so the log shows what it
/// missed (decision 27). Application events (`ONAPP*`, such as `ONAPPTEST`) go only to the
/// handlers of the application they are about (`app_id`).
async fn fan_out(
    conn: &mut AnyConnection,
    event_id: i64,
    name: &str,
    data: &str,
    request_id: &str,
    app_id: Option<i64>,
    now: UnixTime,
) -> Result<(), StoreError> {
    let hash = hex::encode(Md5::digest(format!("{name}\n{data}")));
    let subscribers = [
        (
            "'pending'",
            "NULL",
            "JOIN outgoing_webhooks w ON w.id = h.outgoing_webhook_id",
            "w.enabled = 1",
        ),
        (
            "'pending'",
            "NULL",
            "JOIN apps a ON a.id = h.app_id",
            "a.installed = 1 AND a.install_finished = 1",
        ),
        (
            "'dropped'",
            "'application installation not finished'",
            "JOIN apps a ON a.id = h.app_id",
            "a.installed = 1 AND a.install_finished = 0",
        ),
    ];
    for (status, error, join, condition) in subscribers {
        let sql = format!(
            "INSERT INTO deliveries (event_id, handler_id, request_id, payload_hash, status,
                                     attempts, next_attempt_at, last_error, created_at, updated_at)
             SELECT $1, h.id, $2, $3, {status}, 0, $4, {error}, $4, $4
             FROM event_handlers h {join}
             WHERE h.event = $5 AND h.event_type = 'online' AND {condition}
               AND (h.event NOT LIKE 'ONAPP%' OR h.app_id = $6)
             ON CONFLICT DO NOTHING"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(event_id)
            .bind(request_id)
            .bind(&hash)
            .bind(now)
            .bind(name)
            .bind(app_id.unwrap_or(0))
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Filters of [`list`]; `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub name: Option<String>,
    pub since: Option<UnixTime>,
    /// Only events with an id above this (for paging and following).
    pub after_id: Option<i64>,
    pub limit: i64,
}

/// Events, oldest first.
pub async fn list(
    conn: &mut AnyConnection,
    filter: &EventFilter,
) -> Result<Vec<Event>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, name, data, user_id, request_id, created_at FROM events
         WHERE ($1 IS NULL OR name = $1) AND created_at >= $2 AND id > $3
         ORDER BY id LIMIT $4",
    )
    .bind(filter.name.as_ref().map(|n| n.to_ascii_uppercase()))
    .bind(filter.since.unwrap_or(i64::MIN))
    .bind(filter.after_id.unwrap_or(0))
    .bind(filter.limit)
    .fetch_all(conn)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Number of events per name, for the metrics endpoint.
pub async fn count_by_name(conn: &mut AnyConnection) -> Result<Vec<(String, i64)>, StoreError> {
    let rows = sqlx::query("SELECT name, COUNT(*) AS n FROM events GROUP BY name ORDER BY name")
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|row| Ok((row.try_get("name")?, row.try_get("n")?)))
        .collect()
}

fn from_row(row: &AnyRow) -> Result<Event, StoreError> {
    let data: String = row.try_get("data")?;
    Ok(Event {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        data: serde_json::from_str(&data).unwrap_or(serde_json::Value::Null),
        user_id: row.try_get("user_id")?,
        request_id: row.try_get("request_id")?,
        created_at: row.try_get("created_at")?,
    })
}
