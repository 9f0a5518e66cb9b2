//! The outbox: events recorded in the same transaction as the change that causes them.
//!
//! [`record`] writes the event and, in the same transaction, one `pending` delivery for every
//! enabled online handler of that event (fan-out). A change that rolls back therefore leaves
//! neither event nor delivery, and a crash after commit loses nothing: the delivery workers find
//! the rows when they next look. Deliveries of one request collapse when they are identical
//! (decision 23): the unique key is (request id, handler, hash of event name and data).
//!
//! An event that changes an application's offline queue also raises `ONOFFLINEEVENT` for that
//! application's online handlers of it, paced by each binding's `minTimeout` ([`notify_offline`]).
//!
//! Loop protection (reference fact 70): every event carries the event session TTL of the request
//! that caused it, [`EVENT_TTL`] unless that request was authenticated with a token delivered by
//! an event, in which case it is one less than that token's. The tokens minted for an event's
//! deliveries carry its TTL. An event at TTL 0 is still written to the log, but is delivered to
//! no one, online or offline, so a handler that writes back on every event is cut off after
//! seven rounds.

use md5::{Digest, Md5};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::{StoreError, UnixTime};

/// The event session TTL of a request not made with a token that came from an event (fact 70).
pub const EVENT_TTL: i64 = 7;

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
    /// The application whose call caused it, if any; for an application event (`ONAPP*`,
    /// `ONOFFLINEEVENT`) the application it is about, the only one it is delivered to.
    pub app_id: Option<i64>,
    /// Event session TTL of the request ([`EVENT_TTL`] for most); 0 or less: not dispatched.
    pub event_ttl: i64,
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
    let inserted = insert(conn, event, &name, &data, now).await?;
    // Fact 70: a request whose event session ran out dispatches nothing at all.
    if event.event_ttl <= 0 {
        return Ok(inserted.id);
    }
    fan_out(conn, inserted.id, &name, &data, event, now).await?;
    if inserted.offline_bound {
        let source = (event.app_id, event.auth_connector.as_deref().unwrap_or(""));
        let queued_for =
            crate::offline::record(conn, &name, &data, event.user_id, source, now).await?;
        for app_id in queued_for {
            notify_offline(conn, app_id, event, now).await?;
        }
    }
    Ok(inserted.id)
}

/// An event row just written.
struct Inserted {
    id: i64,
    /// Some application bound the event offline: only then is there a queue to fill (most
    /// events have none, and a REST write holds the single SQLite writer while it runs).
    offline_bound: bool,
}

async fn insert(
    conn: &mut AnyConnection,
    event: &NewEvent,
    name: &str,
    data: &str,
    now: UnixTime,
) -> Result<Inserted, StoreError> {
    let row = sqlx::query(
        "INSERT INTO events (name, data, user_id, request_id, auth_connector, app_id, created_at,
                             event_ttl)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         RETURNING id,
                   CASE WHEN EXISTS (SELECT 1 FROM event_handlers h
                                     WHERE h.event = $1 AND h.event_type = 'offline')
                        THEN 1 ELSE 0 END AS offline_bound",
    )
    .bind(name)
    .bind(data)
    .bind(event.user_id)
    .bind(&event.request_id)
    .bind(&event.auth_connector)
    .bind(event.app_id)
    .bind(now)
    .bind(event.event_ttl)
    .fetch_one(&mut *conn)
    .await?;
    Ok(Inserted {
        id: row.try_get("id")?,
        offline_bound: crate::flag(&row, "offline_bound")?,
    })
}

fn payload_hash(name: &str, data: &str) -> String {
    hex::encode(Md5::digest(format!("{name}\n{data}")))
}

/// Creates the deliveries of one event for every enabled online handler subscribed to it: the
/// handlers of enabled outgoing webhooks and of installed applications. An application whose
/// installation is not finished gets a `dropped` delivery instead, so the log shows what it
/// missed (decision 27), except for the lifecycle events that installing and removing it send.
/// An application event goes only to the handlers of the application it is about.
async fn fan_out(
    conn: &mut AnyConnection,
    event_id: i64,
    name: &str,
    data: &str,
    event: &NewEvent,
    now: UnixTime,
) -> Result<(), StoreError> {
    let info = b24lite_core::events::find(name);
    // An application event without an application reaches nobody ($6 set, no app has id 0).
    let app_only = info.is_some_and(|info| info.app_only);
    let lifecycle = info.is_some_and(|info| info.lifecycle);
    // One statement for both kinds of subscriber: a REST write holds the store's single writer
    // while it runs, so each statement it saves is throughput for every other writer.
    sqlx::query(
        "INSERT INTO deliveries (event_id, handler_id, request_id, payload_hash, status,
                                 attempts, next_attempt_at, last_error, created_at, updated_at)
         SELECT $1, h.id, $2, $3,
                CASE WHEN a.install_finished = 0 AND $8 = 0 THEN 'dropped' ELSE 'pending' END,
                0, CASE WHEN a.install_finished = 0 AND $8 = 0 THEN NULL ELSE $4 END,
                CASE WHEN a.install_finished = 0 AND $8 = 0
                     THEN 'application installation not finished' END,
                $4, $4
         FROM event_handlers h
         LEFT JOIN outgoing_webhooks w ON w.id = h.outgoing_webhook_id
         LEFT JOIN apps a ON a.id = h.app_id
         WHERE h.event = $5 AND h.event_type = 'online'
           AND ((w.id IS NOT NULL AND w.enabled = 1 AND $6 = 0)
                OR (a.id IS NOT NULL AND a.installed = 1 AND ($6 = 0 OR h.app_id = $7)))
         ON CONFLICT DO NOTHING",
    )
    .bind(event_id)
    .bind(&event.request_id)
    .bind(payload_hash(name, data))
    .bind(now)
    .bind(name)
    .bind(i64::from(app_only))
    .bind(event.app_id.unwrap_or(0))
    .bind(i64::from(lifecycle))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Raises `ONOFFLINEEVENT` for an application whose offline queue `cause` just changed: one
/// delivery per online handler it bound, with empty `data`. Each handler is notified at once,
/// unless its previous notice was less than `minTimeout` seconds ago (default 1): then the
/// notice is due when that window ends, so records that arrive during it still get one
/// (decision 33). A notice that is still waiting covers the new records, so a handler never has
/// two waiting; one being sent right now does not (its reader may already have read the queue). `minTimeout` 0 means one notice per request (the delivery key of decision 23).
async fn notify_offline(
    conn: &mut AnyConnection,
    app_id: i64,
    cause: &NewEvent,
    now: UnixTime,
) -> Result<(), StoreError> {
    let rows = sqlx::query(
        "SELECT h.id, h.options, n.due_at,
                CASE WHEN EXISTS (SELECT 1 FROM deliveries d
                                  WHERE d.handler_id = h.id AND d.status = 'pending'
                                    AND d.attempts = 0 AND d.lease_owner IS NULL)
                     THEN 1 ELSE 0 END AS waiting
         FROM event_handlers h JOIN apps a ON a.id = h.app_id
         LEFT JOIN offline_notices n ON n.handler_id = h.id
         WHERE h.app_id = $1 AND h.event = $2 AND h.event_type = 'online'
           AND a.installed = 1 AND a.install_finished = 1
         ORDER BY h.id",
    )
    .bind(app_id)
    .bind(b24lite_core::events::OFFLINE_EVENT)
    .fetch_all(&mut *conn)
    .await?;
    let mut due: Vec<(i64, UnixTime)> = Vec::new();
    for row in &rows {
        if crate::flag(row, "waiting")? {
            continue;
        }
        let options: String = row.try_get("options")?;
        let previous: Option<UnixTime> = row.try_get("due_at")?;
        let at = match (previous, min_timeout(&options)) {
            (Some(previous), window) if window > 0 => now.max(previous + window),
            _ => now,
        };
        due.push((row.try_get("id")?, at));
    }
    if due.is_empty() {
        return Ok(());
    }

    let notice = NewEvent {
        name: b24lite_core::events::OFFLINE_EVENT.to_string(),
        data: serde_json::json!([]),
        user_id: cause.user_id,
        request_id: cause.request_id.clone(),
        auth_connector: None,
        app_id: Some(app_id),
        event_ttl: cause.event_ttl,
    };
    let data = notice.data.to_string();
    let event_id = insert(conn, &notice, &notice.name, &data, now).await?.id;
    let hash = payload_hash(&notice.name, &data);
    for (handler_id, at) in due {
        sqlx::query(
            "INSERT INTO deliveries (event_id, handler_id, request_id, payload_hash, status,
                                     attempts, next_attempt_at, created_at, updated_at)
             VALUES ($1, $2, $3, $4, 'pending', 0, $5, $6, $6)
             ON CONFLICT DO NOTHING",
        )
        .bind(event_id)
        .bind(handler_id)
        .bind(&notice.request_id)
        .bind(&hash)
        .bind(at)
        .bind(now)
        .execute(&mut *conn)
        .await?;
        sqlx::query(
            "INSERT INTO offline_notices (handler_id, due_at) VALUES ($1, $2)
             ON CONFLICT (handler_id) DO UPDATE SET due_at = excluded.due_at",
        )
        .bind(handler_id)
        .bind(at)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// `minTimeout` of an `ONOFFLINEEVENT` binding's options, in seconds: 1 when absent.
fn min_timeout(options: &str) -> i64 {
    serde_json::from_str::<serde_json::Value>(options)
        .ok()
        .and_then(|options| options.get("minTimeout")?.as_i64())
        .unwrap_or(1)
        .max(0)
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

/// The newest events first, only those below `before_id` when given (pages of the console).
pub async fn list_newest(
    conn: &mut AnyConnection,
    name: Option<&str>,
    before_id: Option<i64>,
    limit: i64,
) -> Result<Vec<Event>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, name, data, user_id, request_id, created_at FROM events
         WHERE ($1 IS NULL OR name = $1) AND id < $2
         ORDER BY id DESC LIMIT $3",
    )
    .bind(name.map(str::to_ascii_uppercase))
    .bind(before_id.unwrap_or(i64::MAX))
    .bind(limit)
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
