//! Local applications: registration, installation, and their OAuth 2.0 codes and tokens.
//!
//! A token pair is one row; refreshing revokes the row and issues a new pair, so a refresh token
//! works exactly once (the spec leaves the old token's fate open; one use is the safe reading).

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::portal::User;
use crate::{StoreError, UnixTime, flag, random};

/// A registered application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    pub id: i64,
    pub name: String,
    /// `local.<14 hex>.<8 digits>`, the shape of Bitrix24's local application ids.
    pub client_id: String,
    pub client_secret: String,
    /// Where `ONAPPINSTALL` goes and where the authorization flow redirects.
    pub handler_url: String,
    pub scopes: Vec<String>,
    /// Licence status in `auth[status]`: `L` for a local application.
    pub status: String,
    pub version: i64,
    /// 32 hex characters, sent in every delivery so handlers can authenticate the portal.
    pub application_token: String,
    pub installed: bool,
    /// `installFinish` was called (or the application has no installer UI).
    pub install_finished: bool,
    pub install_user_id: Option<i64>,
}

/// What registering an application takes.
#[derive(Debug, Clone)]
pub struct NewApp {
    pub name: String,
    pub handler_url: String,
    pub scopes: Vec<String>,
}

/// An access/refresh token pair and when each expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenPair {
    pub app_id: i64,
    pub user_id: i64,
    pub access_token: String,
    pub refresh_token: String,
    pub access_expires_at: UnixTime,
    pub refresh_expires_at: UnixTime,
}

/// Lifetimes of issued tokens, in seconds.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    pub access: i64,
    pub refresh: i64,
}

pub async fn create(
    conn: &mut AnyConnection,
    app: &NewApp,
    now: UnixTime,
) -> Result<App, StoreError> {
    let client_id = format!("local.{}.{}", random::hex(14), random_digits(8));
    let row = sqlx::query(
        "INSERT INTO apps (name, client_id, client_secret, handler_url, scopes, application_token,
                           created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(&app.name)
    .bind(&client_id)
    .bind(random::token(50))
    .bind(&app.handler_url)
    .bind(app.scopes.join(","))
    .bind(random::hex(32))
    .bind(now)
    .fetch_one(&mut *conn)
    .await
    .map_err(StoreError::from_write)?;
    get(conn, row.try_get("id")?)
        .await?
        .ok_or(StoreError::NotFound)
}

fn random_digits(len: usize) -> String {
    random::hex(len * 2)
        .bytes()
        .take(len)
        .map(|b| char::from(b'0' + b % 10))
        .collect()
}

const COLUMNS: &str = "id, name, client_id, client_secret, handler_url, scopes, status, version,
                       application_token, installed, install_finished, install_user_id";

pub async fn get(conn: &mut AnyConnection, id: i64) -> Result<Option<App>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM apps WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn find_by_client_id(
    conn: &mut AnyConnection,
    client_id: &str,
) -> Result<Option<App>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM apps WHERE client_id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(client_id)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn list(conn: &mut AnyConnection) -> Result<Vec<App>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM apps ORDER BY id");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(conn)
        .await?;
    rows.iter().map(from_row).collect()
}

/// Installs the application as `user_id`. `finished` is false for an application with an
/// installer UI, which must call `installFinish` before events reach it.
///
/// Every token of an earlier installation is revoked first. Uninstalling revoked them already,
/// but a token minted while the uninstall committed (a refresh or a delivery on another
/// instance, whose row that revocation could not see) would otherwise come back to life here.
pub async fn install(
    conn: &mut AnyConnection,
    app_id: i64,
    user_id: i64,
    finished: bool,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE oauth_tokens SET revoked = 1 WHERE app_id = $1 AND revoked = 0")
        .bind(app_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "UPDATE apps SET installed = 1, install_finished = $1, install_user_id = $2 WHERE id = $3",
    )
    .bind(i64::from(finished))
    .bind(user_id)
    .bind(app_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records a new version of the application (its handlers and tokens stay, decision 28).
pub async fn set_version(
    conn: &mut AnyConnection,
    app_id: i64,
    version: i64,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE apps SET version = $1 WHERE id = $2")
        .bind(version)
        .bind(app_id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn finish_install(conn: &mut AnyConnection, app_id: i64) -> Result<(), StoreError> {
    sqlx::query("UPDATE apps SET install_finished = 1 WHERE id = $1 AND installed = 1")
        .bind(app_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Uninstalls the application: every token stops working and pending codes are dropped.
pub async fn uninstall(conn: &mut AnyConnection, app_id: i64) -> Result<(), StoreError> {
    sqlx::query("UPDATE apps SET installed = 0, install_finished = 0 WHERE id = $1")
        .bind(app_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("UPDATE oauth_tokens SET revoked = 1 WHERE app_id = $1")
        .bind(app_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM oauth_codes WHERE app_id = $1")
        .bind(app_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// A one-time authorization code for `user_id`, valid for `ttl` seconds.
pub async fn issue_code(
    conn: &mut AnyConnection,
    app_id: i64,
    user_id: i64,
    now: UnixTime,
    ttl: i64,
) -> Result<String, StoreError> {
    let code = random::token(32);
    sqlx::query(
        "INSERT INTO oauth_codes (code, app_id, user_id, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(&code)
    .bind(app_id)
    .bind(user_id)
    .bind(now + ttl)
    .execute(conn)
    .await?;
    Ok(code)
}

/// Consumes a code of `app_id`: the user it was issued for, or `None` when unknown, used or
/// expired. A code is deleted whatever the outcome, so it never works twice.
pub async fn redeem_code(
    conn: &mut AnyConnection,
    app_id: i64,
    code: &str,
    now: UnixTime,
) -> Result<Option<i64>, StoreError> {
    let row = sqlx::query(
        "DELETE FROM oauth_codes WHERE code = $1 RETURNING app_id, user_id, expires_at",
    )
    .bind(code)
    .fetch_optional(conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let (owner, user_id, expires_at): (i64, i64, i64) = (
        row.try_get("app_id")?,
        row.try_get("user_id")?,
        row.try_get("expires_at")?,
    );
    Ok((owner == app_id && expires_at > now).then_some(user_id))
}

pub async fn issue_tokens(
    conn: &mut AnyConnection,
    app_id: i64,
    user_id: i64,
    now: UnixTime,
    lifetimes: Lifetimes,
) -> Result<TokenPair, StoreError> {
    let pair = TokenPair {
        app_id,
        user_id,
        access_token: random::token(32),
        refresh_token: random::token(32),
        access_expires_at: now + lifetimes.access,
        refresh_expires_at: now + lifetimes.refresh,
    };
    sqlx::query(
        "INSERT INTO oauth_tokens (app_id, user_id, access_token, refresh_token, access_expires_at,
                                   refresh_expires_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(app_id)
    .bind(user_id)
    .bind(&pair.access_token)
    .bind(&pair.refresh_token)
    .bind(pair.access_expires_at)
    .bind(pair.refresh_expires_at)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(pair)
}

/// [`issue_tokens`] for an event delivery: the access token carries the event session TTL of the
/// event (reference fact 70), which a call made with it inherits, one less.
pub async fn issue_event_tokens(
    conn: &mut AnyConnection,
    app_id: i64,
    user_id: i64,
    now: UnixTime,
    lifetimes: Lifetimes,
    event_ttl: i64,
) -> Result<TokenPair, StoreError> {
    let pair = issue_tokens(conn, app_id, user_id, now, lifetimes).await?;
    sqlx::query("INSERT INTO event_tokens (access_token, event_ttl) VALUES ($1, $2)")
        .bind(&pair.access_token)
        .bind(event_ttl)
        .execute(conn)
        .await?;
    Ok(pair)
}

/// Deletes up to `batch` token rows whose access and refresh tokens both expired before
/// `before` (a spent refresh token counts as expired), with their event-session rows; returns
/// how many went. Without this every delivery to an application would leave a row for good.
/// Run it in one transaction: both statements pick the same oldest rows.
pub async fn purge_expired_tokens(
    conn: &mut AnyConnection,
    before: UnixTime,
    batch: i64,
) -> Result<u64, StoreError> {
    sqlx::query(
        "DELETE FROM event_tokens WHERE access_token IN
             (SELECT access_token FROM oauth_tokens
              WHERE refresh_expires_at < $1 AND access_expires_at < $1 ORDER BY id LIMIT $2)",
    )
    .bind(before)
    .bind(batch)
    .execute(&mut *conn)
    .await?;
    let done = sqlx::query(
        "DELETE FROM oauth_tokens WHERE id IN
             (SELECT id FROM oauth_tokens
              WHERE refresh_expires_at < $1 AND access_expires_at < $1 ORDER BY id LIMIT $2)",
    )
    .bind(before)
    .bind(batch)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// Exchanges a refresh token of `app_id` for a new pair; `None` when it is unknown, used,
/// revoked or expired.
pub async fn refresh(
    conn: &mut AnyConnection,
    app_id: i64,
    refresh_token: &str,
    now: UnixTime,
    lifetimes: Lifetimes,
) -> Result<Option<TokenPair>, StoreError> {
    let row = sqlx::query(
        "UPDATE oauth_tokens SET refresh_expires_at = 0
         WHERE refresh_token = $1 AND app_id = $2 AND revoked = 0 AND refresh_expires_at > $3
         RETURNING user_id",
    )
    .bind(refresh_token)
    .bind(app_id)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let user_id: i64 = row.try_get("user_id")?;
    issue_tokens(conn, app_id, user_id, now, lifetimes)
        .await
        .map(Some)
}

/// What an access token grants, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessGrant {
    pub app_id: i64,
    pub user_id: i64,
    pub expires_at: UnixTime,
    pub revoked: bool,
    /// The event session TTL of a token minted for an event delivery; `None` for others.
    pub event_ttl: Option<i64>,
}

/// An access token with its application and user, as a call authenticated by it needs them.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenCredentials {
    pub grant: AccessGrant,
    /// `None` when the application row is gone.
    pub app: Option<TokenApp>,
    /// `None` when the user is gone.
    pub user: Option<User>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TokenApp {
    pub id: i64,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub installed: bool,
}

/// The credentials behind an access token, in one round trip: an application's REST call reads
/// them every time, so this is the whole store cost of a call such as `profile`.
pub async fn token_credentials(
    conn: &mut AnyConnection,
    token: &str,
) -> Result<Option<TokenCredentials>, StoreError> {
    let row = sqlx::query(
        "SELECT t.app_id AS grant_app_id, t.user_id AS grant_user_id, t.access_expires_at,
                t.revoked, s.event_ttl, a.id AS app_id, a.client_id, a.scopes, a.installed,
                u.id, u.name, u.last_name, u.email, u.gender, u.time_zone, u.is_admin, u.active
         FROM oauth_tokens t
         LEFT JOIN event_tokens s ON s.access_token = t.access_token
         LEFT JOIN apps a ON a.id = t.app_id
         LEFT JOIN users u ON u.id = t.user_id
         WHERE t.access_token = $1",
    )
    .bind(token)
    .fetch_optional(conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let grant = AccessGrant {
        app_id: row.try_get("grant_app_id")?,
        user_id: row.try_get("grant_user_id")?,
        expires_at: row.try_get("access_expires_at")?,
        revoked: flag(&row, "revoked")?,
        event_ttl: row.try_get("event_ttl")?,
    };
    let app = match row.try_get::<Option<i64>, _>("app_id")? {
        Some(id) => {
            let scopes: String = row.try_get("scopes")?;
            Some(TokenApp {
                id,
                client_id: row.try_get("client_id")?,
                scopes: crate::webhooks::parse_scopes(&scopes),
                installed: flag(&row, "installed")?,
            })
        }
        None => None,
    };
    let user = match row.try_get::<Option<i64>, _>("id")? {
        Some(_) => Some(crate::portal::user_from_row(&row)?),
        None => None,
    };
    Ok(Some(TokenCredentials { grant, app, user }))
}

fn from_row(row: &AnyRow) -> Result<App, StoreError> {
    let scopes: String = row.try_get("scopes")?;
    Ok(App {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        client_id: row.try_get("client_id")?,
        client_secret: row.try_get("client_secret")?,
        handler_url: row.try_get("handler_url")?,
        scopes: crate::webhooks::parse_scopes(&scopes),
        status: row.try_get("status")?,
        version: row.try_get("version")?,
        application_token: row.try_get("application_token")?,
        installed: flag(row, "installed")?,
        install_finished: flag(row, "install_finished")?,
        install_user_id: row.try_get("install_user_id")?,
    })
}
