//! The delivery queue: one row per (event, handler), shared by every server instance.
//!
//! A worker *claims* due rows by writing a lease (owner and expiry) in one statement: on
//! PostgreSQL the candidate rows are locked with `FOR UPDATE SKIP LOCKED` so instances never
//! claim the same row; on SQLite the single `UPDATE ... RETURNING` runs under the database's write
//! lock. The worker then makes the HTTP call with no transaction open and reports back through
//! [`finish`], which writes a batch of outcomes and their attempts in one transaction. A lease
//! that expires (the process died mid-call) makes the row claimable again: delivery is
//! at-least-once for a crash between the call and its bookkeeping, exactly-once otherwise.
//!
//! Statuses: `pending` (waiting or scheduled), `delivered`, `failed` (gave up), `dropped` (never
//! sent: the webhook was disabled or deleted, or the target refused by policy).

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::outgoing::Policy;
use crate::{Dialect, Store, StoreError, UnixTime, flag};

pub const PENDING: &str = "pending";
pub const DELIVERED: &str = "delivered";
pub const FAILED: &str = "failed";
pub const DROPPED: &str = "dropped";
/// Every status, in the order a delivery's life passes them.
pub const STATUSES: [&str; 4] = [PENDING, DELIVERED, FAILED, DROPPED];

/// Bytes of a response body kept with an attempt.
pub const RESPONSE_KEEP: usize = 4096;

/// A claimed delivery with what is needed to send it.
#[derive(Debug, Clone, PartialEq)]
pub struct Claimed {
    pub id: i64,
    pub event_id: i64,
    pub handler_id: i64,
    /// Attempts made so far in this round.
    pub attempts: i64,
    pub event: String,
    pub data: serde_json::Value,
    /// The event session TTL the tokens minted for this delivery carry (fact 70).
    pub event_ttl: i64,
    /// The subscriber, or `None` when its webhook or handler was deleted.
    pub target: Option<Target>,
}

/// The subscriber behind a claimed delivery: an outgoing webhook or an application's handler.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// The outgoing webhook's id; 0 for an application's handler.
    pub webhook_id: i64,
    pub url: String,
    pub application_token: String,
    pub policy: Policy,
    pub enabled: bool,
    /// The outgoing webhook's signing secret when its deliveries are signed; `None` for unsigned
    /// webhooks and for applications.
    pub signing_secret: Option<String>,
    /// Set for an application's handler: what its `auth` block needs.
    pub app: Option<AppTarget>,
}

/// An application subscriber and the user whose tokens go into the delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct AppTarget {
    pub app_id: i64,
    /// The application is installed (it may still wait for `installFinish`).
    pub installed: bool,
    pub scopes: Vec<String>,
    /// Licence status (`L`).
    pub status: String,
    /// The binding's `auth_type` user, else the user who made the change; `None` when neither
    /// (the CLI, automation): the block then carries no tokens (decision 26).
    pub user_id: Option<i64>,
}

/// Claims up to `limit` due deliveries for `owner` until `lease_until`, skipping the rows of
/// the subscribers in `busy` (those the caller is already sending to or throttling): outgoing
/// webhook ids, and application ids negated.
pub async fn claim(
    store: &Store,
    owner: &str,
    now: UnixTime,
    lease_until: UnixTime,
    limit: i64,
    busy: &[i64],
) -> Result<Vec<Claimed>, StoreError> {
    // Busy subscribers: outgoing webhooks by id, applications by negated id.
    let list = |ids: Vec<String>| {
        if ids.is_empty() {
            "NULL".to_string()
        } else {
            ids.join(",")
        }
    };
    let webhooks = list(
        busy.iter()
            .filter(|id| **id > 0)
            .map(i64::to_string)
            .collect(),
    );
    let apps = list(
        busy.iter()
            .filter(|id| **id < 0)
            .map(|id| (-id).to_string())
            .collect(),
    );
    let exclude = if busy.is_empty() {
        String::new()
    } else {
        format!(
            "AND handler_id NOT IN (SELECT id FROM event_handlers
                                    WHERE outgoing_webhook_id IN ({webhooks}) OR app_id IN ({apps}))"
        )
    };
    let lock = match store.dialect() {
        Dialect::Postgres => "FOR UPDATE SKIP LOCKED",
        Dialect::Sqlite => "",
    };
    let sql = format!(
        "UPDATE deliveries SET lease_owner = $1, lease_expires_at = $2
         WHERE id IN (SELECT id FROM deliveries
                      WHERE status = 'pending' AND next_attempt_at <= $3
                        AND (lease_expires_at IS NULL OR lease_expires_at <= $3) {exclude}
                      ORDER BY next_attempt_at, id LIMIT $4 {lock})
         RETURNING id"
    );
    // A write transaction, so that on SQLite the claim takes its turn with the other writers of
    // this process instead of polling for the lock.
    let mut tx = store.begin_write().await?;
    let claimed = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(owner)
        .bind(lease_until)
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
    let ids: Vec<i64> = claimed
        .iter()
        .map(|row| row.try_get("id"))
        .collect::<Result<_, _>>()?;
    let loaded = if ids.is_empty() {
        Vec::new()
    } else {
        load_claimed(&mut tx, &ids).await?
    };
    tx.commit().await?;
    Ok(loaded)
}

/// The claimed rows with their events and subscribers, looked up by id: the lease owner has no
/// index, and the pending rows it would otherwise be found among can be many.
async fn load_claimed(conn: &mut AnyConnection, ids: &[i64]) -> Result<Vec<Claimed>, StoreError> {
    let ids: Vec<String> = ids.iter().map(i64::to_string).collect();
    let sql = format!(
        "SELECT d.id, d.event_id, d.handler_id, d.attempts, e.name, e.data, e.user_id,
                e.event_ttl, w.id AS webhook_id, w.url, w.application_token, w.policy, w.enabled,
                w.signing_secret,
                h.handler, h.auth_type, a.id AS app_id, a.application_token AS app_token,
                a.scopes AS app_scopes, a.status AS app_status, a.installed,
                a.install_finished
         FROM deliveries d JOIN events e ON e.id = d.event_id
         LEFT JOIN event_handlers h ON h.id = d.handler_id
         LEFT JOIN outgoing_webhooks w ON w.id = h.outgoing_webhook_id
         LEFT JOIN apps a ON a.id = h.app_id
         WHERE d.id IN ({}) ORDER BY d.id",
        ids.join(",")
    );
    // Ids are written into the SQL, so the statement is not worth keeping prepared.
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .persistent(false)
        .fetch_all(conn)
        .await?;
    rows.iter().map(claimed_from_row).collect()
}

fn claimed_from_row(row: &AnyRow) -> Result<Claimed, StoreError> {
    let data: String = row.try_get("data")?;
    let webhook_id: Option<i64> = row.try_get("webhook_id")?;
    let target = match webhook_id {
        Some(webhook_id) => {
            let policy: String = row.try_get("policy")?;
            Some(Target {
                webhook_id,
                url: row.try_get("url")?,
                application_token: row.try_get("application_token")?,
                policy: Policy::parse(&policy).unwrap_or(Policy::Bitrix),
                enabled: row.try_get::<i64, _>("enabled")? != 0,
                signing_secret: row.try_get("signing_secret")?,
                app: None,
            })
        }
        None => app_target(row)?,
    };
    Ok(Claimed {
        id: row.try_get("id")?,
        event_id: row.try_get("event_id")?,
        handler_id: row.try_get("handler_id")?,
        attempts: row.try_get("attempts")?,
        event: row.try_get("name")?,
        data: serde_json::from_str(&data).unwrap_or(serde_json::Value::Null),
        event_ttl: row.try_get("event_ttl")?,
        target,
    })
}

/// The application handler of a claimed row. It is enabled when the application's installation
/// is finished, or whatever its state for the lifecycle events (`ONAPPINSTALL` before
/// `installFinish`, `ONAPPUNINSTALL` after removal).
fn app_target(row: &AnyRow) -> Result<Option<Target>, StoreError> {
    let Some(app_id) = row.try_get::<Option<i64>, _>("app_id")? else {
        return Ok(None);
    };
    let scopes: String = row.try_get("app_scopes")?;
    let auth_type: i64 = row.try_get("auth_type")?;
    let event_user: Option<i64> = row.try_get("user_id")?;
    let event: String = row.try_get("name")?;
    let lifecycle = b24lite_core::events::find(&event).is_some_and(|info| info.lifecycle);
    Ok(Some(Target {
        webhook_id: 0,
        url: row.try_get("handler")?,
        application_token: row.try_get("app_token")?,
        policy: Policy::Bitrix,
        enabled: lifecycle || flag(row, "install_finished")?,
        signing_secret: None,
        app: Some(AppTarget {
            app_id,
            installed: flag(row, "installed")?,
            scopes: crate::webhooks::parse_scopes(&scopes),
            status: row.try_get("app_status")?,
            user_id: if auth_type > 0 {
                Some(auth_type)
            } else {
                event_user.filter(|id| *id > 0)
            },
        }),
    }))
}

/// One HTTP attempt, as recorded.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Attempt {
    pub id: i64,
    pub delivery_id: i64,
    pub started_at: UnixTime,
    pub http_status: Option<i64>,
    pub latency_ms: i64,
    /// `None` on success; else `http_status`, `timeout`, `connect`, `redirect`, `refused`, ...
    pub error_class: Option<String>,
    /// The first [`RESPONSE_KEEP`] bytes of the response body (lossy UTF-8).
    pub response_body: String,
}

/// What became of a claimed delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct Finished {
    pub delivery_id: i64,
    pub owner: String,
    /// New status: `pending` (retry scheduled or deferred), `delivered`, `failed`, `dropped`.
    pub status: &'static str,
    pub next_attempt_at: Option<UnixTime>,
    pub last_error: Option<String>,
    /// The attempt made, if a request was sent (a deferred or dropped delivery has none).
    pub attempt: Option<Attempt>,
}

/// Writes a batch of outcomes and their attempts in one transaction. A row whose lease was
/// taken over meanwhile keeps the new owner's state; its attempt is still recorded.
///
/// Statements, not rows, are what a batch costs (each is a round trip to the database), so the
/// attempts go in multi-row inserts and outcomes that are alike (typically: delivered, by one
/// claim) in one update.
pub async fn finish(store: &Store, batch: &[Finished], now: UnixTime) -> Result<(), StoreError> {
    let mut tx = store.begin_write().await?;
    let attempts: Vec<&Attempt> = batch.iter().filter_map(|d| d.attempt.as_ref()).collect();
    for chunk in attempts.chunks(ROWS_PER_INSERT) {
        insert_attempts(&mut tx, chunk).await?;
    }
    for (outcome, ids) in alike_outcomes(batch) {
        let ids: Vec<String> = ids.iter().map(i64::to_string).collect();
        let sql = format!(
            "UPDATE deliveries SET status = $1, attempts = attempts + $2, next_attempt_at = $3,
                    last_error = $4, lease_owner = NULL, lease_expires_at = NULL, updated_at = $5
             WHERE lease_owner = $6 AND id IN ({})",
            ids.join(",")
        );
        // Ids are written into the SQL, so the statement is not worth keeping prepared.
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .persistent(false)
            .bind(outcome.status)
            .bind(i64::from(outcome.attempted))
            .bind(outcome.next_attempt_at)
            .bind(outcome.last_error)
            .bind(now)
            .bind(outcome.owner)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Attempts written by one INSERT at most (6 parameters each, well under SQLite's limit).
const ROWS_PER_INSERT: usize = 100;

/// What an update of [`finish`] writes, shared by the rows it covers.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Outcome<'a> {
    status: &'static str,
    attempted: bool,
    next_attempt_at: Option<UnixTime>,
    last_error: Option<&'a str>,
    owner: &'a str,
}

/// The batch's delivery ids grouped by identical outcome, in first-seen order.
fn alike_outcomes(batch: &[Finished]) -> Vec<(Outcome<'_>, Vec<i64>)> {
    let mut groups: Vec<(Outcome<'_>, Vec<i64>)> = Vec::new();
    for done in batch {
        let outcome = Outcome {
            status: done.status,
            attempted: done.attempt.is_some(),
            next_attempt_at: done.next_attempt_at,
            last_error: done.last_error.as_deref(),
            owner: &done.owner,
        };
        match groups.iter_mut().find(|(o, _)| *o == outcome) {
            Some((_, ids)) => ids.push(done.delivery_id),
            None => groups.push((outcome, vec![done.delivery_id])),
        }
    }
    groups
}

async fn insert_attempts(
    conn: &mut AnyConnection,
    attempts: &[&Attempt],
) -> Result<(), StoreError> {
    let rows: Vec<String> = (0..attempts.len())
        .map(|i| {
            let p = i * 6;
            format!(
                "(${}, ${}, ${}, ${}, ${}, ${})",
                p + 1,
                p + 2,
                p + 3,
                p + 4,
                p + 5,
                p + 6
            )
        })
        .collect();
    let sql = format!(
        "INSERT INTO attempts (delivery_id, started_at, http_status, latency_ms, error_class,
                               response_body)
         VALUES {}",
        rows.join(", ")
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(false);
    for attempt in attempts {
        query = query
            .bind(attempt.delivery_id)
            .bind(attempt.started_at)
            .bind(attempt.http_status)
            .bind(attempt.latency_ms)
            .bind(&attempt.error_class)
            .bind(&attempt.response_body);
    }
    query.execute(conn).await?;
    Ok(())
}

/// Drops the pending deliveries to an application's handlers, except those of `keep_event_id`,
/// with `reason` as their last error; returns how many (uninstall: nothing more may reach it).
/// Rows a worker is sending now are left to it; if it dies, the next claim drops them.
pub async fn drop_pending_for_app(
    conn: &mut AnyConnection,
    app_id: i64,
    keep_event_id: i64,
    reason: &str,
    now: UnixTime,
) -> Result<u64, StoreError> {
    let done = sqlx::query(
        "UPDATE deliveries SET status = 'dropped', last_error = $1, updated_at = $2,
                next_attempt_at = NULL
         WHERE status = 'pending' AND lease_owner IS NULL AND event_id <> $3
           AND handler_id IN (SELECT id FROM event_handlers WHERE app_id = $4)",
    )
    .bind(reason)
    .bind(now)
    .bind(keep_event_id)
    .bind(app_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// The earliest `next_attempt_at` of a pending delivery, to time the next wake-up.
pub async fn next_due(conn: &mut AnyConnection) -> Result<Option<UnixTime>, StoreError> {
    let row =
        sqlx::query("SELECT MIN(next_attempt_at) AS due FROM deliveries WHERE status = 'pending'")
            .fetch_one(conn)
            .await?;
    Ok(row.try_get("due")?)
}

pub use crate::delivery_log::*;
