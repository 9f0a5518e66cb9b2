//! Incoming webhooks: `/rest/{user_id}/{token}/{method}` credentials with a scope list.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::portal::User;
use crate::{StoreError, UnixTime, random};

/// Length of generated webhook codes. Bitrix24 shows 16 characters; more costs nothing and
/// leaves no room for guessing.
pub const TOKEN_LEN: usize = 24;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingWebhook {
    pub id: i64,
    pub user_id: i64,
    pub token: String,
    /// Scope codes as given at creation, e.g. `["crm", "user"]`.
    pub scopes: Vec<String>,
    pub title: String,
    pub expires_at: Option<UnixTime>,
    pub created_at: UnixTime,
}

impl IncomingWebhook {
    pub fn is_expired(&self, now: UnixTime) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}

/// Parses a comma- or space-separated scope list, dropping blanks and duplicates.
pub fn parse_scopes(list: &str) -> Vec<String> {
    let mut scopes: Vec<String> = Vec::new();
    for scope in list
        .split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let scope = scope.to_lowercase();
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    scopes
}

pub async fn create(
    conn: &mut AnyConnection,
    user_id: i64,
    scopes: &[String],
    title: &str,
    expires_at: Option<UnixTime>,
    now: UnixTime,
) -> Result<IncomingWebhook, StoreError> {
    let row = sqlx::query(
        "INSERT INTO incoming_webhooks (user_id, token, scopes, title, expires_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(user_id)
    .bind(random::token(TOKEN_LEN))
    .bind(scopes.join(","))
    .bind(title)
    .bind(expires_at)
    .bind(now)
    .fetch_one(&mut *conn)
    .await
    .map_err(StoreError::from_write)?;
    get(conn, row.try_get("id")?)
        .await?
        .ok_or(StoreError::NotFound)
}

const COLUMNS: &str = "id, user_id, token, scopes, title, expires_at, created_at";

pub async fn get(conn: &mut AnyConnection, id: i64) -> Result<Option<IncomingWebhook>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM incoming_webhooks WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Every webhook of a user; the caller compares tokens in constant time.
pub async fn list_for_user(
    conn: &mut AnyConnection,
    user_id: i64,
) -> Result<Vec<IncomingWebhook>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM incoming_webhooks WHERE user_id = $1 ORDER BY id");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(user_id)
        .fetch_all(conn)
        .await?;
    rows.iter().map(from_row).collect()
}

/// A user and every webhook of that user, in one round trip (the hot path of every webhook
/// call); `None` when the user has no webhook or does not exist. The caller compares tokens in
/// constant time.
pub async fn credentials_of_user(
    conn: &mut AnyConnection,
    user_id: i64,
) -> Result<Option<(User, Vec<IncomingWebhook>)>, StoreError> {
    let rows = sqlx::query(
        "SELECT w.id, w.user_id, w.token, w.scopes, w.title, w.expires_at, w.created_at,
                u.name, u.last_name, u.email, u.gender, u.time_zone, u.is_admin, u.active
         FROM incoming_webhooks w JOIN users u ON u.id = w.user_id
         WHERE w.user_id = $1 ORDER BY w.id",
    )
    .bind(user_id)
    .fetch_all(conn)
    .await?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let user = User {
        id: user_id,
        name: first.try_get("name")?,
        last_name: first.try_get("last_name")?,
        email: first.try_get("email")?,
        gender: first.try_get("gender")?,
        time_zone: first.try_get("time_zone")?,
        is_admin: crate::flag(first, "is_admin")?,
        active: crate::flag(first, "active")?,
    };
    let hooks = rows.iter().map(from_row).collect::<Result<_, _>>()?;
    Ok(Some((user, hooks)))
}

pub async fn list(conn: &mut AnyConnection) -> Result<Vec<IncomingWebhook>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM incoming_webhooks ORDER BY id");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(conn)
        .await?;
    rows.iter().map(from_row).collect()
}

/// Deletes a webhook; `false` when there was none with that id.
pub async fn delete(conn: &mut AnyConnection, id: i64) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM incoming_webhooks WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Title of the administrator's default webhook.
const DEFAULT_TITLE: &str = "default";

/// The administrator's default webhook, printed at start-up: the oldest webhook of user 1 titled
/// `default`, if it still exists.
pub async fn find_default(conn: &mut AnyConnection) -> Result<Option<IncomingWebhook>, StoreError> {
    let existing = list_for_user(conn, 1).await?;
    Ok(existing
        .into_iter()
        .find(|hook| hook.title == DEFAULT_TITLE))
}

/// The default webhook, created with `scopes` on first start so that a second start prints the
/// same URL.
pub async fn ensure_default(
    conn: &mut AnyConnection,
    scopes: &[String],
    now: UnixTime,
) -> Result<IncomingWebhook, StoreError> {
    match find_default(conn).await? {
        Some(hook) => Ok(hook),
        None => create(conn, 1, scopes, DEFAULT_TITLE, None, now).await,
    }
}

fn from_row(row: &AnyRow) -> Result<IncomingWebhook, StoreError> {
    let scopes: String = row.try_get("scopes")?;
    Ok(IncomingWebhook {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        token: row.try_get("token")?,
        scopes: parse_scopes(&scopes),
        title: row.try_get("title")?,
        expires_at: row.try_get("expires_at")?,
        created_at: row.try_get("created_at")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_lists() {
        assert_eq!(
            parse_scopes("crm, user,,CRM user_brief"),
            ["crm", "user", "user_brief"]
        );
    }
}
