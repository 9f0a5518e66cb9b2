//! Outgoing webhooks and the handler rows that subscribe them to events.
//!
//! An outgoing webhook is a handler URL, a generated 32-character `application_token`
//! (`[a-z0-9]`, fact 75), an enabled flag, a delivery policy and, when its deliveries are signed,
//! a signing secret ([`random::signing_secret`], see [`set_signing`]). Each (webhook, event) pair
//! is a row of `event_handlers`, whose id is the `event_handler_id` of its deliveries. The same
//! table is shaped for applications' `event.bind` rows (`app_id`, `auth_type`, `event_type`,
//! `connector`, `options`), which a later issue adds; fan-out in [`crate::events`] only selects
//! rows that belong to an enabled outgoing webhook.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::{StoreError, UnixTime, flag, random};

/// Length of an outgoing webhook's `application_token`.
pub const TOKEN_LEN: usize = 32;

/// How failed deliveries of a webhook are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// One attempt; only HTTP 200 counts; failures are logged (as Bitrix24 does).
    Bitrix,
    /// Retried on a back-off schedule; any 2xx counts.
    Retry,
}

impl Policy {
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Bitrix => "bitrix",
            Policy::Retry => "retry",
        }
    }

    pub fn parse(text: &str) -> Option<Policy> {
        match text.to_ascii_lowercase().as_str() {
            "bitrix" => Some(Policy::Bitrix),
            "retry" => Some(Policy::Retry),
            _ => None,
        }
    }
}

/// One subscription of a webhook: its `event_handler_id` and the event name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handler {
    pub id: i64,
    pub event: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingWebhook {
    pub id: i64,
    pub url: String,
    pub application_token: String,
    pub enabled: bool,
    pub policy: Policy,
    /// Set when deliveries are signed (Standard Webhooks): `whsec_` and base64 of the key.
    pub signing_secret: Option<String>,
    pub created_at: UnixTime,
    pub handlers: Vec<Handler>,
}

/// A change of a webhook's signing (see [`set_signing`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signing {
    /// Unsigned: the secret is forgotten.
    Off,
    /// Signed: a webhook already signed keeps its secret, another gets a new one.
    On,
    /// Signed with a new secret, whether it was signed before or not.
    Rotate,
}

/// Creates a webhook with one handler per event, its deliveries signed with a new secret when
/// `signed`. `events` must already be upper-case and de-duplicated (see
/// `b24lite_core::events::find`).
pub async fn create(
    conn: &mut AnyConnection,
    url: &str,
    events: &[String],
    policy: Policy,
    signed: bool,
    now: UnixTime,
) -> Result<OutgoingWebhook, StoreError> {
    let row = sqlx::query(
        "INSERT INTO outgoing_webhooks (url, application_token, enabled, policy, signing_secret,
                                        created_at)
         VALUES ($1, $2, 1, $3, $4, $5) RETURNING id",
    )
    .bind(url)
    .bind(random::token(TOKEN_LEN))
    .bind(policy.as_str())
    .bind(signed.then(random::signing_secret))
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    let id: i64 = row.try_get("id")?;

    for event in events {
        sqlx::query(
            "INSERT INTO event_handlers (event, handler, outgoing_webhook_id, created_at)
             VALUES ($1, $2, $3, $4)",
        )
        .bind(event)
        .bind(url)
        .bind(id)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    get(conn, id).await?.ok_or(StoreError::NotFound)
}

const COLUMNS: &str = "id, url, application_token, enabled, policy, signing_secret, created_at";

pub async fn get(conn: &mut AnyConnection, id: i64) -> Result<Option<OutgoingWebhook>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM outgoing_webhooks WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    match row {
        Some(row) => Ok(Some(with_handlers(conn, from_row(&row)?).await?)),
        None => Ok(None),
    }
}

pub async fn list(conn: &mut AnyConnection) -> Result<Vec<OutgoingWebhook>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM outgoing_webhooks ORDER BY id");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(&mut *conn)
        .await?;
    let mut hooks = Vec::with_capacity(rows.len());
    for row in &rows {
        hooks.push(with_handlers(conn, from_row(row)?).await?);
    }
    Ok(hooks)
}

/// Enables or disables a webhook; `false` when there is none with that id. Pending deliveries
/// of a disabled webhook are dropped when a worker reaches them.
pub async fn set_enabled(
    conn: &mut AnyConnection,
    id: i64,
    enabled: bool,
) -> Result<bool, StoreError> {
    let done = sqlx::query("UPDATE outgoing_webhooks SET enabled = $1 WHERE id = $2")
        .bind(i64::from(enabled))
        .bind(id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Switches signing on or off, or rotates the secret. Answers the secret the webhook has now
/// (`Some(None)`: unsigned), or `None` when there is no webhook with that id. Deliveries not yet
/// sent are signed (or not) as the webhook is when they are sent.
pub async fn set_signing(
    conn: &mut AnyConnection,
    id: i64,
    signing: Signing,
) -> Result<Option<Option<String>>, StoreError> {
    let secret = match signing {
        Signing::Off => "NULL",
        Signing::On => "COALESCE(signing_secret, $2)",
        Signing::Rotate => "$2",
    };
    let sql = format!(
        "UPDATE outgoing_webhooks SET signing_secret = {secret} WHERE id = $1
         RETURNING signing_secret"
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id);
    if signing != Signing::Off {
        query = query.bind(random::signing_secret());
    }
    let row = query.fetch_optional(conn).await?;
    row.map(|row| row.try_get("signing_secret"))
        .transpose()
        .map_err(StoreError::from)
}

/// Changes of [`update`]; `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct Change {
    pub url: Option<String>,
    pub policy: Option<Policy>,
    /// `Some(true)` signs deliveries (keeping a current secret), `Some(false)` stops signing.
    pub signing: Option<bool>,
    /// The full new event list (upper-case): kept events keep their `event_handler_id`.
    pub events: Option<Vec<String>>,
}

/// Changes a webhook; `None` when there is none with that id.
pub async fn update(
    conn: &mut AnyConnection,
    id: i64,
    change: &Change,
    now: UnixTime,
) -> Result<Option<OutgoingWebhook>, StoreError> {
    let Some(current) = get(conn, id).await? else {
        return Ok(None);
    };
    let url = change.url.clone().unwrap_or(current.url.clone());
    let policy = change.policy.unwrap_or(current.policy);
    sqlx::query("UPDATE outgoing_webhooks SET url = $1, policy = $2 WHERE id = $3")
        .bind(&url)
        .bind(policy.as_str())
        .bind(id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("UPDATE event_handlers SET handler = $1 WHERE outgoing_webhook_id = $2")
        .bind(&url)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    if let Some(events) = &change.events {
        replace_events(conn, &current, &url, events, now).await?;
    }
    if let Some(signed) = change.signing {
        let signing = if signed { Signing::On } else { Signing::Off };
        set_signing(conn, id, signing).await?;
    }
    get(conn, id).await
}

async fn replace_events(
    conn: &mut AnyConnection,
    current: &OutgoingWebhook,
    url: &str,
    events: &[String],
    now: UnixTime,
) -> Result<(), StoreError> {
    for handler in current
        .handlers
        .iter()
        .filter(|h| !events.contains(&h.event))
    {
        sqlx::query("DELETE FROM event_handlers WHERE id = $1")
            .bind(handler.id)
            .execute(&mut *conn)
            .await?;
    }
    for event in events
        .iter()
        .filter(|e| !current.handlers.iter().any(|h| &h.event == *e))
    {
        sqlx::query(
            "INSERT INTO event_handlers (event, handler, outgoing_webhook_id, created_at)
             VALUES ($1, $2, $3, $4)",
        )
        .bind(event)
        .bind(url)
        .bind(current.id)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Deletes a webhook and its handler rows; its deliveries and attempts stay as history.
pub async fn delete(conn: &mut AnyConnection, id: i64) -> Result<bool, StoreError> {
    sqlx::query("DELETE FROM event_handlers WHERE outgoing_webhook_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    let done = sqlx::query("DELETE FROM outgoing_webhooks WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

async fn with_handlers(
    conn: &mut AnyConnection,
    mut hook: OutgoingWebhook,
) -> Result<OutgoingWebhook, StoreError> {
    let rows = sqlx::query(
        "SELECT id, event FROM event_handlers WHERE outgoing_webhook_id = $1 ORDER BY id",
    )
    .bind(hook.id)
    .fetch_all(conn)
    .await?;
    hook.handlers = rows
        .iter()
        .map(|row| {
            Ok(Handler {
                id: row.try_get("id")?,
                event: row.try_get("event")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
    Ok(hook)
}

fn from_row(row: &AnyRow) -> Result<OutgoingWebhook, StoreError> {
    let policy: String = row.try_get("policy")?;
    Ok(OutgoingWebhook {
        id: row.try_get("id")?,
        url: row.try_get("url")?,
        application_token: row.try_get("application_token")?,
        enabled: flag(row, "enabled")?,
        policy: Policy::parse(&policy).unwrap_or(Policy::Bitrix),
        signing_secret: row.try_get("signing_secret")?,
        created_at: row.try_get("created_at")?,
        handlers: Vec::new(),
    })
}
