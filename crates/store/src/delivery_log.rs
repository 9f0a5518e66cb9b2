//! Reading the delivery queue and its attempts, and sending deliveries again. Re-exported by
//! [`crate::deliveries`].

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::deliveries::Attempt;
use crate::{AnyQuery, StoreError, UnixTime};

/// A delivery as the admin API and the CLI show it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Delivery {
    pub id: i64,
    pub event_id: i64,
    pub event: String,
    pub handler_id: i64,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: Option<UnixTime>,
    pub last_error: Option<String>,
    pub created_at: UnixTime,
    pub updated_at: UnixTime,
}

/// Filters of [`list`]; `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    pub status: Option<String>,
    pub handler_id: Option<i64>,
    pub event_id: Option<i64>,
    pub webhook_id: Option<i64>,
    pub since: Option<UnixTime>,
    pub after_id: Option<i64>,
    pub limit: i64,
}

/// The deliveries [`DeliveryFilter`] matches; `$1`..`$6` are its conditions, `$7` the limit.
const MATCHING: &str = "SELECT d.id, d.event_id, e.name, d.handler_id, d.status, d.attempts,
                d.next_attempt_at, d.last_error, d.created_at, d.updated_at
         FROM deliveries d JOIN events e ON e.id = d.event_id
         WHERE ($1 IS NULL OR d.status = $1) AND ($2 IS NULL OR d.handler_id = $2)
           AND ($3 IS NULL OR d.event_id = $3)
           AND ($4 IS NULL OR d.handler_id IN
                (SELECT id FROM event_handlers WHERE outgoing_webhook_id = $4))
           AND d.created_at >= $5 AND d.id > $6";

/// Deliveries, oldest first.
pub async fn list(
    conn: &mut AnyConnection,
    filter: &DeliveryFilter,
) -> Result<Vec<Delivery>, StoreError> {
    let sql = format!("{MATCHING} ORDER BY d.id LIMIT $7");
    let rows = bind_filter(sqlx::query(sqlx::AssertSqlSafe(sql)), filter)
        .fetch_all(conn)
        .await?;
    rows.iter().map(delivery_from_row).collect()
}

/// Deliveries, newest first, only those below `before_id` when given (pages of the console).
pub async fn list_newest(
    conn: &mut AnyConnection,
    filter: &DeliveryFilter,
    before_id: Option<i64>,
) -> Result<Vec<Delivery>, StoreError> {
    let sql = format!("{MATCHING} AND d.id < $8 ORDER BY d.id DESC LIMIT $7");
    let rows = bind_filter(sqlx::query(sqlx::AssertSqlSafe(sql)), filter)
        .bind(before_id.unwrap_or(i64::MAX))
        .fetch_all(conn)
        .await?;
    rows.iter().map(delivery_from_row).collect()
}

fn bind_filter<'q>(query: AnyQuery<'q>, filter: &DeliveryFilter) -> AnyQuery<'q> {
    query
        .bind(filter.status.clone())
        .bind(filter.handler_id)
        .bind(filter.event_id)
        .bind(filter.webhook_id)
        .bind(filter.since.unwrap_or(i64::MIN))
        .bind(filter.after_id.unwrap_or(0))
        .bind(filter.limit)
}

pub async fn get(conn: &mut AnyConnection, id: i64) -> Result<Option<Delivery>, StoreError> {
    let filter = DeliveryFilter {
        after_id: Some(id - 1),
        limit: 1,
        ..DeliveryFilter::default()
    };
    Ok(list(conn, &filter).await?.into_iter().find(|d| d.id == id))
}

/// A row a worker gave back without an attempt is stored due at 0, so that it goes ahead of
/// newer rows; shown, that reads as 1970, so it is reported due since it was created.
fn due_at(stored: Option<UnixTime>, created_at: UnixTime) -> Option<UnixTime> {
    stored.map(|at| at.max(created_at))
}

fn delivery_from_row(row: &AnyRow) -> Result<Delivery, StoreError> {
    Ok(Delivery {
        id: row.try_get("id")?,
        event_id: row.try_get("event_id")?,
        event: row.try_get("name")?,
        handler_id: row.try_get("handler_id")?,
        status: row.try_get("status")?,
        attempts: row.try_get("attempts")?,
        next_attempt_at: due_at(row.try_get("next_attempt_at")?, row.try_get("created_at")?),
        last_error: row.try_get("last_error")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Attempts of one delivery (or of all), oldest first.
pub async fn attempts(
    conn: &mut AnyConnection,
    delivery_id: Option<i64>,
    limit: i64,
) -> Result<Vec<Attempt>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, delivery_id, started_at, http_status, latency_ms, error_class, response_body
         FROM attempts WHERE ($1 IS NULL OR delivery_id = $1) ORDER BY id LIMIT $2",
    )
    .bind(delivery_id)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(Attempt {
                id: row.try_get("id")?,
                delivery_id: row.try_get("delivery_id")?,
                started_at: row.try_get("started_at")?,
                http_status: row.try_get("http_status")?,
                latency_ms: row.try_get("latency_ms")?,
                error_class: row.try_get("error_class")?,
                response_body: row.try_get("response_body")?,
            })
        })
        .collect()
}

/// What [`redeliver`] did with a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redelivery {
    /// Due now, with a fresh round of attempts (`attempts` counts that round; the attempt log
    /// keeps every earlier one).
    Queued,
    /// No delivery has that id.
    Missing,
    /// Its handler (outgoing webhook or application binding) was deleted: it could only be
    /// dropped again.
    HandlerGone,
    /// A worker holds it right now.
    InFlight,
}

/// Makes one delivery due now with a fresh round of attempts, unless its handler is gone or a
/// worker holds it.
pub async fn redeliver(
    conn: &mut AnyConnection,
    id: i64,
    now: UnixTime,
) -> Result<Redelivery, StoreError> {
    let done = sqlx::query(
        "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = $1,
                last_error = NULL, lease_owner = NULL, lease_expires_at = NULL, updated_at = $1
         WHERE id = $2 AND (lease_expires_at IS NULL OR lease_expires_at <= $1)
           AND handler_id IN (SELECT id FROM event_handlers)",
    )
    .bind(now)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() > 0 {
        return Ok(Redelivery::Queued);
    }
    let found = sqlx::query(
        "SELECT h.id AS handler FROM deliveries d
         LEFT JOIN event_handlers h ON h.id = d.handler_id WHERE d.id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?;
    Ok(match found {
        None => Redelivery::Missing,
        Some(row) if row.try_get::<Option<i64>, _>("handler")?.is_none() => Redelivery::HandlerGone,
        Some(_) => Redelivery::InFlight,
    })
}

/// Makes every failed delivery of a handler created at or after `since` due now; returns how
/// many.
pub async fn redeliver_failed(
    conn: &mut AnyConnection,
    handler_id: i64,
    since: UnixTime,
    now: UnixTime,
) -> Result<u64, StoreError> {
    let done = sqlx::query(
        "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = $1,
                last_error = NULL, lease_owner = NULL, lease_expires_at = NULL, updated_at = $1
         WHERE handler_id = $2 AND status = 'failed' AND created_at >= $3
           AND handler_id IN (SELECT id FROM event_handlers)",
    )
    .bind(now)
    .bind(handler_id)
    .bind(since)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// Number of deliveries per status, for the metrics endpoint.
pub async fn count_by_status(conn: &mut AnyConnection) -> Result<Vec<(String, i64)>, StoreError> {
    let rows = sqlx::query("SELECT status, COUNT(*) AS n FROM deliveries GROUP BY status")
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|row| Ok((row.try_get("status")?, row.try_get("n")?)))
        .collect()
}
