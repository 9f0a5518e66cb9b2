//! User field types registered by applications (`userfieldtype.*`, `userfields.md` §7.2).
//!
//! A type's portal-wide id is `rest_{application id}_{code}`; the application itself names it by
//! its code. Its handler URL is unique within the application. Uninstalling the application
//! removes its types (they are placements in Bitrix24, which go with the application); fields
//! already created with a type keep it.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::{StoreError, UnixTime};

/// A registered type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldType {
    /// `rest_{app_id}_{code}`.
    pub user_type_id: String,
    pub app_id: i64,
    /// The owning application's `client_id` (`USER_TYPE_OWNER` of its fields).
    pub client_id: String,
    pub code: String,
    pub handler: String,
    pub title: String,
    pub description: String,
    /// JSON object of the options (`{"height": 60}`).
    pub options: String,
}

/// What registering or changing a type takes; `None` keeps the stored value on update.
#[derive(Debug, Clone, Default)]
pub struct TypeFields {
    pub handler: Option<String>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub options: Option<String>,
}

/// The portal-wide id of an application's type.
pub fn user_type_id(app_id: i64, code: &str) -> String {
    format!("rest_{app_id}_{code}")
}

/// Registers a type; [`StoreError::Conflict`] when the id or the handler is taken.
pub async fn add(
    conn: &mut AnyConnection,
    app_id: i64,
    code: &str,
    fields: &TypeFields,
    now: UnixTime,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO app_field_types (user_type_id, app_id, code, handler, title, description,
                                      options, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(user_type_id(app_id, code))
    .bind(app_id)
    .bind(code)
    .bind(fields.handler.as_deref().unwrap_or_default())
    .bind(fields.title.as_deref().unwrap_or_default())
    .bind(fields.description.as_deref().unwrap_or_default())
    .bind(fields.options.as_deref().unwrap_or("{}"))
    .bind(now)
    .execute(conn)
    .await
    .map_err(StoreError::from_write)?;
    Ok(())
}

/// Changes the given fields of an application's type; `false` when it has no such type.
pub async fn update(
    conn: &mut AnyConnection,
    app_id: i64,
    code: &str,
    fields: &TypeFields,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE app_field_types
         SET handler = COALESCE($1, handler), title = COALESCE($2, title),
             description = COALESCE($3, description), options = COALESCE($4, options)
         WHERE user_type_id = $5",
    )
    .bind(&fields.handler)
    .bind(&fields.title)
    .bind(&fields.description)
    .bind(&fields.options)
    .bind(user_type_id(app_id, code))
    .execute(conn)
    .await
    .map_err(StoreError::from_write)?;
    Ok(done.rows_affected() > 0)
}

/// Removes an application's type; `false` when it has no such type.
pub async fn delete(conn: &mut AnyConnection, app_id: i64, code: &str) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM app_field_types WHERE user_type_id = $1")
        .bind(user_type_id(app_id, code))
        .execute(conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Removes every type of an application (uninstall).
pub async fn delete_for_app(conn: &mut AnyConnection, app_id: i64) -> Result<u64, StoreError> {
    let done = sqlx::query("DELETE FROM app_field_types WHERE app_id = $1")
        .bind(app_id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

const SELECT: &str = "SELECT t.user_type_id, t.app_id, a.client_id, t.code, t.handler, t.title,
                             t.description, t.options
                      FROM app_field_types t JOIN apps a ON a.id = t.app_id";

/// The types of one application, newest first (as Bitrix24 lists them).
pub async fn list_for_app(
    conn: &mut AnyConnection,
    app_id: i64,
) -> Result<Vec<FieldType>, StoreError> {
    let sql = format!("{SELECT} WHERE t.app_id = $1 ORDER BY t.created_at DESC, t.code DESC");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(app_id)
        .fetch_all(conn)
        .await?;
    rows.iter().map(from_row).collect()
}

/// Every registered type (few: a handful per application).
pub async fn list_all(conn: &mut AnyConnection) -> Result<Vec<FieldType>, StoreError> {
    let sql = format!("{SELECT} ORDER BY t.user_type_id");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(conn)
        .await?;
    rows.iter().map(from_row).collect()
}

pub async fn find(
    conn: &mut AnyConnection,
    user_type_id: &str,
) -> Result<Option<FieldType>, StoreError> {
    let sql = format!("{SELECT} WHERE t.user_type_id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(user_type_id)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}

fn from_row(row: &AnyRow) -> Result<FieldType, StoreError> {
    Ok(FieldType {
        user_type_id: row.try_get("user_type_id")?,
        app_id: row.try_get("app_id")?,
        client_id: row.try_get("client_id")?,
        code: row.try_get("code")?,
        handler: row.try_get("handler")?,
        title: row.try_get("title")?,
        description: row.try_get("description")?,
        options: row.try_get("options")?,
    })
}
