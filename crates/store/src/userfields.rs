//! Custom field definitions (`uf_fields`) and the items of enumeration fields
//! (`uf_enum_items`). SQL only: the REST rules (normalisation, defaults, shapes) live in the
//! server's `methods::userfield`.
//!
//! A definition keeps its SETTINGS and its five label maps as JSON text. `(entity_id,
//! field_name)` is a unique index, so of two concurrent adds of one name exactly one commits and
//! the other gets [`StoreError::Conflict`]. Deleting a field removes the row and its items at
//! once; its values are purged later by [`crate::contacts::purge_field_values`].

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::{Dialect, StoreError, Tx, UnixTime, flag};

/// One field definition as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldDef {
    pub id: i64,
    pub entity_id: String,
    pub field_name: String,
    pub user_type_id: String,
    pub xml_id: Option<String>,
    pub sort: i64,
    pub multiple: bool,
    pub mandatory: bool,
    /// `N`, `I`, `E` or `S`.
    pub show_filter: String,
    pub show_in_list: bool,
    pub edit_in_list: bool,
    pub is_searchable: bool,
    /// The SETTINGS object (or `[]`).
    pub settings: serde_json::Value,
    /// `{"EDIT_FORM_LABEL": {"en": "..."}, ...}`.
    pub labels: serde_json::Value,
}

/// One item of an enumeration field.
#[derive(Debug, Clone, PartialEq)]
pub struct EnumItem {
    pub id: i64,
    pub field_id: i64,
    pub value: String,
    pub sort: i64,
    pub def: bool,
    pub xml_id: String,
}

/// A value bound into a filter condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Bind {
    Int(i64),
    Real(f64),
    Text(String),
}

/// Columns `list_fields` may filter and order on (whitelist for dynamic SQL).
pub const FIELD_COLUMNS: &[&str] = &[
    "id",
    "entity_id",
    "field_name",
    "user_type_id",
    "xml_id",
    "sort",
    "multiple",
    "mandatory",
    "show_filter",
    "show_in_list",
    "edit_in_list",
    "is_searchable",
];

const COLUMNS: &str = "id, entity_id, field_name, user_type_id, xml_id, sort, multiple, \
     mandatory, show_filter, show_in_list, edit_in_list, is_searchable, settings, labels";

/// Inserts a definition (its `id` is ignored); returns the new id. A taken name gives
/// [`StoreError::Conflict`].
pub async fn insert_field(
    conn: &mut AnyConnection,
    field: &FieldDef,
    now: UnixTime,
) -> Result<i64, StoreError> {
    let row = sqlx::query(
        "INSERT INTO uf_fields (entity_id, field_name, user_type_id, xml_id, sort, multiple,
             mandatory, show_filter, show_in_list, edit_in_list, is_searchable, settings, labels,
             created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id",
    )
    .bind(&field.entity_id)
    .bind(&field.field_name)
    .bind(&field.user_type_id)
    .bind(&field.xml_id)
    .bind(field.sort)
    .bind(i64::from(field.multiple))
    .bind(i64::from(field.mandatory))
    .bind(&field.show_filter)
    .bind(i64::from(field.show_in_list))
    .bind(i64::from(field.edit_in_list))
    .bind(i64::from(field.is_searchable))
    .bind(field.settings.to_string())
    .bind(field.labels.to_string())
    .bind(now)
    .fetch_one(conn)
    .await
    .map_err(StoreError::from_write)?;
    Ok(row.try_get("id")?)
}

/// Rewrites the mutable properties of a definition.
pub async fn update_field(conn: &mut AnyConnection, field: &FieldDef) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE uf_fields SET xml_id = $1, sort = $2, mandatory = $3, show_filter = $4,
             show_in_list = $5, edit_in_list = $6, is_searchable = $7, settings = $8, labels = $9
         WHERE id = $10",
    )
    .bind(&field.xml_id)
    .bind(field.sort)
    .bind(i64::from(field.mandatory))
    .bind(&field.show_filter)
    .bind(i64::from(field.show_in_list))
    .bind(i64::from(field.edit_in_list))
    .bind(i64::from(field.is_searchable))
    .bind(field.settings.to_string())
    .bind(field.labels.to_string())
    .bind(field.id)
    .execute(conn)
    .await?;
    Ok(())
}

/// A definition, locked until `tx` ends so that concurrent changes of the same field (an update
/// of its list racing its delete on another instance) take turns. SQLite's write transactions
/// already run one at a time.
pub async fn get_field_locked(tx: &mut Tx, id: i64) -> Result<Option<FieldDef>, StoreError> {
    let lock = match tx.dialect() {
        Dialect::Postgres => " FOR UPDATE",
        Dialect::Sqlite => "",
    };
    let sql = format!("SELECT {COLUMNS} FROM uf_fields WHERE id = $1{lock}");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?;
    row.as_ref().map(field_from_row).transpose()
}

/// A definition with its enumeration items (SORT, then id), in one round trip: the cost of
/// `crm.contact.userfield.get` is mostly round trips.
pub async fn get_field_with_items(
    conn: &mut AnyConnection,
    id: i64,
) -> Result<Option<(FieldDef, Vec<EnumItem>)>, StoreError> {
    let columns: Vec<String> = COLUMNS.split(", ").map(|c| format!("f.{c}")).collect();
    let sql = format!(
        "SELECT {}, i.id AS item_id, i.value AS item_value, i.sort AS item_sort,
                i.def AS item_def, i.xml_id AS item_xml_id
         FROM uf_fields f LEFT JOIN uf_enum_items i ON i.field_id = f.id
         WHERE f.id = $1 ORDER BY i.sort, i.id",
        columns.join(", ")
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_all(conn)
        .await?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let field = field_from_row(first)?;
    let mut items = Vec::new();
    for row in &rows {
        let Some(item_id) = row.try_get::<Option<i64>, _>("item_id")? else {
            continue;
        };
        items.push(EnumItem {
            id: item_id,
            field_id: field.id,
            value: row.try_get("item_value")?,
            sort: row.try_get("item_sort")?,
            def: flag(row, "item_def")?,
            xml_id: row.try_get("item_xml_id")?,
        });
    }
    Ok(Some((field, items)))
}

/// Fields of one entity matching every `(column, value)` exactly, ordered by `(column, asc)`
/// pairs then id. Columns outside [`FIELD_COLUMNS`] are skipped.
pub async fn list_fields(
    conn: &mut AnyConnection,
    entity_id: &str,
    filter: &[(&str, Bind)],
    order: &[(&str, bool)],
) -> Result<Vec<FieldDef>, StoreError> {
    let filter: Vec<&(&str, Bind)> = filter
        .iter()
        .filter(|(c, _)| FIELD_COLUMNS.contains(c))
        .collect();
    let mut sql = format!("SELECT {COLUMNS} FROM uf_fields WHERE entity_id = $1");
    for (i, (column, _)) in filter.iter().enumerate() {
        sql.push_str(&format!(" AND {column} = ${}", i + 2));
    }
    let mut keys: Vec<String> = order
        .iter()
        .filter(|(c, _)| FIELD_COLUMNS.contains(c))
        .map(|(c, asc)| format!("{c} {}", if *asc { "ASC" } else { "DESC" }))
        .collect();
    keys.push("id ASC".into());
    sql.push_str(&format!(" ORDER BY {}", keys.join(", ")));
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(entity_id.to_string());
    for (_, value) in filter {
        query = match value {
            Bind::Int(n) => query.bind(*n),
            Bind::Real(f) => query.bind(*f),
            Bind::Text(s) => query.bind(s.clone()),
        };
    }
    let rows = query.fetch_all(conn).await?;
    rows.iter().map(field_from_row).collect()
}

/// Counts an entity's fields, to check the cap before adding one: inside the adding transaction,
/// so that the count stays true until the insert commits. On SQLite the write transaction
/// already excludes other writers; on PostgreSQL, where instances add fields side by side, the
/// count first takes a lock on the entity's field list that lasts until the transaction ends.
pub async fn count_fields(conn: &mut AnyConnection, entity_id: &str) -> Result<i64, StoreError> {
    if conn.backend_name() == "PostgreSQL" {
        sqlx::query(
            "SELECT COUNT(*) AS n FROM (SELECT pg_advisory_xact_lock(3001, hashtext($1))) AS locked",
        )
        .bind(entity_id)
        .fetch_one(&mut *conn)
        .await?;
    }
    let row = sqlx::query("SELECT COUNT(*) AS n FROM uf_fields WHERE entity_id = $1")
        .bind(entity_id)
        .fetch_one(conn)
        .await?;
    Ok(row.try_get("n")?)
}

/// Removes a definition and its items. Values are left for the background purge.
pub async fn delete_field(conn: &mut AnyConnection, id: i64) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM uf_enum_items WHERE field_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM uf_fields WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

fn field_from_row(row: &AnyRow) -> Result<FieldDef, StoreError> {
    let settings: String = row.try_get("settings")?;
    let labels: String = row.try_get("labels")?;
    Ok(FieldDef {
        id: row.try_get("id")?,
        entity_id: row.try_get("entity_id")?,
        field_name: row.try_get("field_name")?,
        user_type_id: row.try_get("user_type_id")?,
        xml_id: row.try_get("xml_id")?,
        sort: row.try_get("sort")?,
        multiple: flag(row, "multiple")?,
        mandatory: flag(row, "mandatory")?,
        show_filter: row.try_get("show_filter")?,
        show_in_list: flag(row, "show_in_list")?,
        edit_in_list: flag(row, "edit_in_list")?,
        is_searchable: flag(row, "is_searchable")?,
        settings: serde_json::from_str(&settings).unwrap_or_default(),
        labels: serde_json::from_str(&labels).unwrap_or_default(),
    })
}

// ---- Enumeration items ------------------------------------------------------------------

/// Items of the given fields, ordered by field, SORT, then id.
pub async fn list_items(
    conn: &mut AnyConnection,
    field_ids: &[i64],
) -> Result<Vec<EnumItem>, StoreError> {
    if field_ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = field_ids.iter().map(i64::to_string).collect();
    let sql = format!(
        "SELECT id, field_id, value, sort, def, xml_id FROM uf_enum_items
         WHERE field_id IN ({}) ORDER BY field_id, sort, id",
        ids.join(",")
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|row| {
            Ok(EnumItem {
                id: row.try_get("id")?,
                field_id: row.try_get("field_id")?,
                value: row.try_get("value")?,
                sort: row.try_get("sort")?,
                def: flag(row, "def")?,
                xml_id: row.try_get("xml_id")?,
            })
        })
        .collect()
}

/// Inserts an item (its `id` ignored); a taken XML_ID gives [`StoreError::Conflict`].
pub async fn insert_item(conn: &mut AnyConnection, item: &EnumItem) -> Result<i64, StoreError> {
    let row = sqlx::query(
        "INSERT INTO uf_enum_items (field_id, value, sort, def, xml_id)
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(item.field_id)
    .bind(&item.value)
    .bind(item.sort)
    .bind(i64::from(item.def))
    .bind(&item.xml_id)
    .fetch_one(conn)
    .await
    .map_err(StoreError::from_write)?;
    Ok(row.try_get("id")?)
}

pub async fn update_item(conn: &mut AnyConnection, item: &EnumItem) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE uf_enum_items SET value = $1, sort = $2, def = $3, xml_id = $4 WHERE id = $5",
    )
    .bind(&item.value)
    .bind(item.sort)
    .bind(i64::from(item.def))
    .bind(&item.xml_id)
    .bind(item.id)
    .execute(conn)
    .await
    .map_err(StoreError::from_write)?;
    Ok(())
}

pub async fn delete_item(conn: &mut AnyConnection, id: i64) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM uf_enum_items WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}
