//! The portal's identity (domain, `member_id`) and its users.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::{StoreError, UnixTime, random};

/// The one portal this server plays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Portal {
    /// `host[:port]` clients reach the portal at, as in `auth[domain]`.
    pub domain: String,
    /// Scheme, host and port without a trailing slash (`https://b24.example.com`).
    pub base_url: String,
    /// 32 lowercase hex characters, stable for the life of the data folder.
    pub member_id: String,
    /// `LANGUAGE_ID` of the portal, as the server last started with it.
    pub language: String,
    /// Key of the signatures on contact file links (64 lowercase hex characters). Stored, so
    /// that every instance on one database signs alike and links outlive a restart.
    pub file_secret: String,
}

/// A portal user. User 1, created on first start, is the administrator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub last_name: String,
    pub email: String,
    /// `""`, `"M"` or `"F"`, as `profile` returns it.
    pub gender: String,
    pub time_zone: String,
    pub is_admin: bool,
    pub active: bool,
}

/// Fields of a user to create.
#[derive(Debug, Clone, Default)]
pub struct NewUser {
    pub name: String,
    pub last_name: String,
    pub email: String,
    pub is_admin: bool,
}

/// Makes instances that start together on one PostgreSQL database prepare the portal one at a
/// time, so that they agree on its `member_id`, its administrator and the default webhook. Call
/// first in the write transaction that prepares them; the lock ends with it. (On SQLite that
/// transaction's write lock already serialises them.)
pub async fn lock_preparation(conn: &mut AnyConnection) -> Result<(), StoreError> {
    if conn.backend_name() == "PostgreSQL" {
        // A constant key of this purpose; COUNT(*) gives the driver a type it can read.
        sqlx::query("SELECT COUNT(*) AS n FROM (SELECT pg_advisory_xact_lock(24006001)) AS locked")
            .fetch_one(conn)
            .await?;
    }
    Ok(())
}

/// Returns the portal, creating it (with a fresh `member_id` and file secret) on first start, and
/// giving a portal created before file links were signed its file secret. The address given is
/// only used for creation; see [`set_address`] to change it.
pub async fn ensure_portal(
    conn: &mut AnyConnection,
    base_url: &str,
    now: UnixTime,
) -> Result<Portal, StoreError> {
    sqlx::query(
        "INSERT INTO portal (id, domain, base_url, member_id, created_at)
         VALUES (1, $1, $2, $3, $4)
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(domain_of(base_url))
    .bind(base_url)
    .bind(random::hex(32))
    .bind(now)
    .execute(&mut *conn)
    .await?;
    // One place gives the secret, to new portals and to those made before the column existed
    // (both start with it empty). Only an empty one is replaced, so instances starting together
    // keep whichever was written first.
    sqlx::query("UPDATE portal SET file_secret = $1 WHERE id = 1 AND file_secret = ''")
        .bind(random::hex(64))
        .execute(&mut *conn)
        .await?;
    get_portal(conn).await
}

pub async fn get_portal(conn: &mut AnyConnection) -> Result<Portal, StoreError> {
    let row = sqlx::query(
        "SELECT domain, base_url, member_id, language, file_secret FROM portal WHERE id = 1",
    )
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)?;
    Ok(Portal {
        domain: row.try_get("domain")?,
        base_url: row.try_get("base_url")?,
        member_id: row.try_get("member_id")?,
        language: row.try_get("language")?,
        file_secret: row.try_get("file_secret")?,
    })
}

/// Records the portal's language, so that paths without the server's configuration (the CLI)
/// send the same `LANGUAGE_ID`.
pub async fn set_language(conn: &mut AnyConnection, language: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE portal SET language = $1 WHERE id = 1")
        .bind(language)
        .execute(conn)
        .await?;
    Ok(())
}

/// Moves the portal to a new address (Bitrix24 lets a portal change its domain; `member_id`
/// stays). The server calls this at start-up with the address it is reachable at.
pub async fn set_address(conn: &mut AnyConnection, base_url: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE portal SET domain = $1, base_url = $2 WHERE id = 1")
        .bind(domain_of(base_url))
        .bind(base_url)
        .execute(conn)
        .await?;
    Ok(())
}

/// `host[:port]` of a base URL.
pub fn domain_of(base_url: &str) -> String {
    let without_scheme = base_url
        .split_once("://")
        .map_or(base_url, |(_, rest)| rest);
    without_scheme
        .split('/')
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Creates user 1, the administrator, when the portal has no users yet.
pub async fn ensure_admin(conn: &mut AnyConnection, now: UnixTime) -> Result<User, StoreError> {
    if let Some(user) = get_user(conn, 1).await? {
        return Ok(user);
    }
    sqlx::query(
        "INSERT INTO users (id, name, last_name, email, is_admin, created_at)
         VALUES (1, 'Admin', 'Admin', 'admin@example.com', 1, $1)
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(now)
    .execute(&mut *conn)
    .await?;
    // An explicit id does not move PostgreSQL's identity sequence: move it past user 1, or the
    // next `create_user` would collide with the administrator.
    if conn.backend_name() == "PostgreSQL" {
        sqlx::query(
            "SELECT setval(pg_get_serial_sequence('users', 'id'),
                           GREATEST((SELECT MAX(id) FROM users), 1))",
        )
        .execute(&mut *conn)
        .await?;
    }
    get_user(conn, 1).await?.ok_or(StoreError::NotFound)
}

pub async fn create_user(
    conn: &mut AnyConnection,
    user: &NewUser,
    now: UnixTime,
) -> Result<User, StoreError> {
    let row = sqlx::query(
        "INSERT INTO users (name, last_name, email, is_admin, created_at)
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(&user.name)
    .bind(&user.last_name)
    .bind(&user.email)
    .bind(i64::from(user.is_admin))
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    let id: i64 = row.try_get("id")?;
    get_user(conn, id).await?.ok_or(StoreError::NotFound)
}

const USER_COLUMNS: &str = "id, name, last_name, email, gender, time_zone, is_admin, active";

pub async fn get_user(conn: &mut AnyConnection, id: i64) -> Result<Option<User>, StoreError> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(user_from_row).transpose()
}

pub async fn list_users(conn: &mut AnyConnection) -> Result<Vec<User>, StoreError> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY id");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(conn)
        .await?;
    rows.iter().map(user_from_row).collect()
}

/// A user from a row whose user columns have their own names (`id`, `name`, ...).
pub(crate) fn user_from_row(row: &AnyRow) -> Result<User, StoreError> {
    Ok(User {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        last_name: row.try_get("last_name")?,
        email: row.try_get("email")?,
        gender: row.try_get("gender")?,
        time_zone: row.try_get("time_zone")?,
        is_admin: crate::flag(row, "is_admin")?,
        active: crate::flag(row, "active")?,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn domains() {
        assert_eq!(
            super::domain_of("https://b24.example.com/"),
            "b24.example.com"
        );
        assert_eq!(super::domain_of("http://127.0.0.1:8424"), "127.0.0.1:8424");
    }
}
