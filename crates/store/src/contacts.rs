//! Contacts, their PHONE/EMAIL values (`contact_multi`) and their custom-field values
//! (`uf_values`). SQL only.
//!
//! Custom-field values are rows `(field_id, contact_id, position, value)` with the value as
//! text; the server types them by the field's definition. Reads join `uf_fields`, so values of
//! a deleted field are invisible the moment its definition row is gone, and
//! [`purge_field_values`] removes them afterwards in small batches: deleting a field never waits
//! on the number of contacts.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::userfields::Bind;
use crate::{AnyQuery, StoreError, UnixTime, flag};

/// The standard columns of a contact.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Contact {
    pub id: i64,
    pub name: String,
    pub last_name: String,
    pub second_name: String,
    pub type_id: String,
    pub source_id: String,
    pub assigned_by_id: i64,
    pub comments: String,
    pub opened: bool,
    pub export: bool,
    pub created_by_id: i64,
    pub modify_by_id: i64,
    pub date_create: UnixTime,
    pub date_modify: UnixTime,
}

/// One PHONE or EMAIL entry.
#[derive(Debug, Clone, PartialEq)]
pub struct MultiValue {
    pub id: i64,
    pub contact_id: i64,
    /// `PHONE` or `EMAIL`.
    pub kind: String,
    /// `WORK`, `HOME`...
    pub value_type: String,
    pub value: String,
}

/// One stored custom-field value.
#[derive(Debug, Clone, PartialEq)]
pub struct UfValue {
    pub contact_id: i64,
    pub field_id: i64,
    pub value: String,
}

/// Columns a contact list may filter or order on.
pub const CONTACT_COLUMNS: &[&str] = &[
    "id",
    "name",
    "last_name",
    "second_name",
    "type_id",
    "source_id",
    "assigned_by_id",
    "comments",
    "opened",
    "export",
    "created_by_id",
    "modify_by_id",
    "date_create",
    "date_modify",
];

/// The text columns among [`CONTACT_COLUMNS`] (the others hold integers).
const TEXT_COLUMNS: &[&str] = &[
    "name",
    "last_name",
    "second_name",
    "type_id",
    "source_id",
    "comments",
];

/// A comparison in a contact list filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
    /// Substring (`%`), case-insensitive.
    Like,
}

impl Op {
    fn sql(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Like => "LIKE",
        }
    }
}

/// How the stored texts of a custom field compare and sort.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// As 64-bit integers (integer, datetime, enumeration... values).
    Integer,
    /// As doubles.
    Real,
    /// As text, byte by byte (the same order on both stores).
    Text,
}

/// What a filter condition or an order key looks at: a standard column or a custom field's
/// values.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    Column(&'static str),
    Field { id: i64, kind: ValueKind },
}

/// What a condition asks of its target's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    Compare(Op, Bind),
    /// Equal to one of these; an empty list matches nothing.
    In(Vec<Bind>),
    /// Has a value: a non-empty text, a non-zero number, any value of a custom field.
    Present,
}

/// One filter condition. On a custom field it holds when any of the contact's values passes
/// the test (so a multiple field matches through any of its values); `negated` turns that into
/// "none of them does" (contacts without a value included).
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub target: Target,
    pub test: Test,
    pub negated: bool,
}

/// One `ORDER BY` key. A custom field sorts by its first value; contacts without one come
/// first in ascending order and last in descending order on both stores (as MySQL places
/// NULLs).
#[derive(Debug, Clone, PartialEq)]
pub struct OrderKey {
    pub target: Target,
    pub ascending: bool,
}

const COLUMNS: &str = "id, name, last_name, second_name, type_id, source_id, assigned_by_id, \
     comments, opened, export, created_by_id, modify_by_id, date_create, date_modify";

pub async fn insert_contact(conn: &mut AnyConnection, c: &Contact) -> Result<i64, StoreError> {
    let row = sqlx::query(
        "INSERT INTO contacts (name, last_name, second_name, type_id, source_id, assigned_by_id,
             comments, opened, export, created_by_id, modify_by_id, date_create, date_modify)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
    )
    .bind(&c.name)
    .bind(&c.last_name)
    .bind(&c.second_name)
    .bind(&c.type_id)
    .bind(&c.source_id)
    .bind(c.assigned_by_id)
    .bind(&c.comments)
    .bind(i64::from(c.opened))
    .bind(i64::from(c.export))
    .bind(c.created_by_id)
    .bind(c.modify_by_id)
    .bind(c.date_create)
    .bind(c.date_modify)
    .fetch_one(conn)
    .await?;
    Ok(row.try_get("id")?)
}

pub async fn update_contact(conn: &mut AnyConnection, c: &Contact) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE contacts SET name = $1, last_name = $2, second_name = $3, type_id = $4,
             source_id = $5, assigned_by_id = $6, comments = $7, opened = $8, export = $9,
             modify_by_id = $10, date_modify = $11
         WHERE id = $12",
    )
    .bind(&c.name)
    .bind(&c.last_name)
    .bind(&c.second_name)
    .bind(&c.type_id)
    .bind(&c.source_id)
    .bind(c.assigned_by_id)
    .bind(&c.comments)
    .bind(i64::from(c.opened))
    .bind(i64::from(c.export))
    .bind(c.modify_by_id)
    .bind(c.date_modify)
    .bind(c.id)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn get_contact(conn: &mut AnyConnection, id: i64) -> Result<Option<Contact>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM contacts WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(contact_from_row).transpose()
}

/// Deletes a contact with its multi-fields and custom values.
pub async fn delete_contact(conn: &mut AnyConnection, id: i64) -> Result<(), StoreError> {
    for sql in [
        "DELETE FROM contact_multi WHERE contact_id = $1",
        "DELETE FROM uf_values WHERE contact_id = $1",
        "DELETE FROM contacts WHERE id = $1",
    ] {
        sqlx::query(sql).bind(id).execute(&mut *conn).await?;
    }
    Ok(())
}

/// One page of the contacts matching every condition, sorted by `order` and then by id (so
/// pages are stable), and the count of all matches (when asked): one query for the page, one
/// for the count.
pub async fn list_contacts(
    conn: &mut AnyConnection,
    conditions: &[Condition],
    order: &[OrderKey],
    offset: i64,
    limit: i64,
    count: bool,
) -> Result<(Vec<Contact>, i64), StoreError> {
    let postgres = conn.backend_name() == "PostgreSQL";
    let (clause, binds) = where_clause(conditions, postgres);
    let mut keys: Vec<String> = order
        .iter()
        .filter_map(|key| order_key(key, postgres))
        .collect();
    keys.push("id ASC".into());
    let sql = format!(
        "SELECT {COLUMNS} FROM contacts WHERE {clause} ORDER BY {} LIMIT {limit} OFFSET {offset}",
        keys.join(", ")
    );
    let rows = bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), &binds)
        .fetch_all(&mut *conn)
        .await?;
    let contacts = rows
        .iter()
        .map(contact_from_row)
        .collect::<Result<_, _>>()?;
    if !count {
        return Ok((contacts, 0));
    }
    let sql = format!("SELECT COUNT(*) AS n FROM contacts WHERE {clause}");
    let row = bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), &binds)
        .fetch_one(conn)
        .await?;
    Ok((contacts, row.try_get("n")?))
}

fn bind_all<'q>(mut query: AnyQuery<'q>, binds: &[Bind]) -> AnyQuery<'q> {
    for bind in binds {
        query = match bind {
            Bind::Int(n) => query.bind(*n),
            Bind::Real(f) => query.bind(*f),
            Bind::Text(s) => query.bind(s.clone()),
        };
    }
    query
}

/// Byte-wise text order on PostgreSQL, as SQLite's default BINARY collation sorts.
fn bytewise(expr: &str, postgres: bool) -> String {
    if postgres {
        format!("{expr} COLLATE \"C\"")
    } else {
        expr.to_string()
    }
}

/// A custom field's value in a `uf_values v` row, typed for comparing and sorting.
fn typed_value(kind: ValueKind, postgres: bool) -> String {
    match kind {
        ValueKind::Integer => "CAST(v.value AS BIGINT)".into(),
        ValueKind::Real => "CAST(v.value AS DOUBLE PRECISION)".into(),
        ValueKind::Text => bytewise("v.value", postgres),
    }
}

fn order_key(key: &OrderKey, postgres: bool) -> Option<String> {
    let direction = if key.ascending { "ASC" } else { "DESC" };
    match &key.target {
        Target::Column(column) if CONTACT_COLUMNS.contains(column) => {
            let expr = if TEXT_COLUMNS.contains(column) {
                bytewise(column, postgres)
            } else {
                column.to_string()
            };
            Some(format!("{expr} {direction}"))
        }
        Target::Column(_) => None,
        // NULLs (no value) first in ascending order, last in descending order, spelled out
        // because the two stores' defaults differ.
        Target::Field { id, kind } => {
            let nulls = if key.ascending { "FIRST" } else { "LAST" };
            Some(format!(
                "(SELECT {} FROM uf_values v WHERE v.contact_id = contacts.id AND v.field_id = {id}
                   ORDER BY v.position LIMIT 1) {direction} NULLS {nulls}",
                typed_value(*kind, postgres)
            ))
        }
    }
}

/// What a test looks at: a contact column, or `v.value` of a custom field's `uf_values v` row.
#[derive(Clone, Copy)]
enum Subject {
    Column(&'static str),
    Field(ValueKind),
}

impl Subject {
    fn is_text(self) -> bool {
        match self {
            Subject::Column(column) => TEXT_COLUMNS.contains(&column),
            Subject::Field(kind) => kind == ValueKind::Text,
        }
    }

    /// The expression compared; without a collation, so that equality can use an index.
    fn typed(self) -> String {
        match self {
            Subject::Column(column) => column.to_string(),
            Subject::Field(kind) => typed_value(kind, false),
        }
    }

    /// The untyped text, for LIKE.
    fn raw(self) -> &'static str {
        match self {
            Subject::Column(column) => column,
            Subject::Field(_) => "v.value",
        }
    }
}

/// The SQL of `test` on `subject`, its binds appended to `binds`; `None` for a test every
/// row of a custom field passes (a custom field's `Present`).
fn predicate(
    subject: Subject,
    test: &Test,
    binds: &mut Vec<Bind>,
    postgres: bool,
) -> Option<String> {
    let mut next = |bind: Bind| {
        binds.push(bind);
        format!("${}", binds.len())
    };
    let lhs = subject.typed();
    Some(match test {
        Test::Compare(Op::Like, bind) => {
            let pattern = match bind {
                Bind::Text(s) => format!("%{s}%"),
                Bind::Int(n) => format!("%{n}%"),
                Bind::Real(f) => format!("%{f}%"),
            };
            let raw = subject.raw();
            format!("LOWER({raw}) LIKE LOWER({})", next(Bind::Text(pattern)))
        }
        Test::Compare(Op::Eq, bind) => format!("{lhs} = {}", next(bind.clone())),
        Test::Compare(op, bind) => {
            let lhs = if subject.is_text() {
                bytewise(&lhs, postgres)
            } else {
                lhs
            };
            format!("{lhs} {} {}", op.sql(), next(bind.clone()))
        }
        Test::In(list) if list.is_empty() => "1 = 0".into(),
        Test::In(list) => {
            let placeholders: Vec<String> = list.iter().map(|b| next(b.clone())).collect();
            format!("{lhs} IN ({})", placeholders.join(", "))
        }
        Test::Present => match subject {
            Subject::Field(_) => return None,
            Subject::Column(_) if subject.is_text() => format!("{lhs} <> ''"),
            Subject::Column(_) => format!("{lhs} <> 0"),
        },
    })
}

fn where_clause(conditions: &[Condition], postgres: bool) -> (String, Vec<Bind>) {
    let mut parts = vec!["1 = 1".to_string()];
    let mut binds = Vec::new();
    for condition in conditions {
        let not = if condition.negated { "NOT " } else { "" };
        let part = match &condition.target {
            Target::Column(column) if CONTACT_COLUMNS.contains(column) => {
                let test = predicate(
                    Subject::Column(column),
                    &condition.test,
                    &mut binds,
                    postgres,
                );
                format!("{not}({})", test.unwrap_or_else(|| "1 = 1".into()))
            }
            Target::Column(_) => continue,
            Target::Field { id, kind } => {
                let test = predicate(Subject::Field(*kind), &condition.test, &mut binds, postgres)
                    .map(|t| format!(" AND {t}"))
                    .unwrap_or_default();
                format!(
                    "{not}EXISTS (SELECT 1 FROM uf_values v WHERE v.contact_id = contacts.id
                       AND v.field_id = {id}{test})"
                )
            }
        };
        parts.push(part);
    }
    (parts.join(" AND "), binds)
}

fn contact_from_row(row: &AnyRow) -> Result<Contact, StoreError> {
    Ok(Contact {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        last_name: row.try_get("last_name")?,
        second_name: row.try_get("second_name")?,
        type_id: row.try_get("type_id")?,
        source_id: row.try_get("source_id")?,
        assigned_by_id: row.try_get("assigned_by_id")?,
        comments: row.try_get("comments")?,
        opened: flag(row, "opened")?,
        export: flag(row, "export")?,
        created_by_id: row.try_get("created_by_id")?,
        modify_by_id: row.try_get("modify_by_id")?,
        date_create: row.try_get("date_create")?,
        date_modify: row.try_get("date_modify")?,
    })
}

// ---- PHONE / EMAIL --------------------------------------------------------------------------

/// Appends multi-field entries to a contact.
pub async fn add_multi(
    conn: &mut AnyConnection,
    contact_id: i64,
    kind: &str,
    entries: &[(String, String)],
) -> Result<(), StoreError> {
    for (value_type, value) in entries {
        sqlx::query(
            "INSERT INTO contact_multi (contact_id, kind, value_type, value) VALUES ($1, $2, $3, $4)",
        )
        .bind(contact_id)
        .bind(kind)
        .bind(value_type)
        .bind(value)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Changes (`value` Some) or deletes (`None`) one multi-field entry of a contact.
pub async fn change_multi(
    conn: &mut AnyConnection,
    contact_id: i64,
    id: i64,
    change: Option<(&str, &str)>,
) -> Result<(), StoreError> {
    let query = match change {
        Some((value_type, value)) => sqlx::query(
            "UPDATE contact_multi SET value_type = $1, value = $2 WHERE id = $3 AND contact_id = $4",
        )
        .bind(value_type.to_string())
        .bind(value.to_string()),
        None => sqlx::query("DELETE FROM contact_multi WHERE id = $1 AND contact_id = $2"),
    };
    query.bind(id).bind(contact_id).execute(conn).await?;
    Ok(())
}

pub async fn list_multi(
    conn: &mut AnyConnection,
    contact_ids: &[i64],
) -> Result<Vec<MultiValue>, StoreError> {
    if contact_ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT id, contact_id, kind, value_type, value FROM contact_multi
         WHERE contact_id IN ({}) ORDER BY id",
        id_list(contact_ids)
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|row| {
            Ok(MultiValue {
                id: row.try_get("id")?,
                contact_id: row.try_get("contact_id")?,
                kind: row.try_get("kind")?,
                value_type: row.try_get("value_type")?,
                value: row.try_get("value")?,
            })
        })
        .collect()
}

fn id_list(ids: &[i64]) -> String {
    ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
}

// ---- Custom-field values --------------------------------------------------------------------

/// Replaces the values of one field on one contact (an empty slice clears it).
pub async fn set_values(
    conn: &mut AnyConnection,
    contact_id: i64,
    field_id: i64,
    values: &[String],
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM uf_values WHERE contact_id = $1 AND field_id = $2")
        .bind(contact_id)
        .bind(field_id)
        .execute(&mut *conn)
        .await?;
    for (position, value) in values.iter().enumerate() {
        sqlx::query(
            "INSERT INTO uf_values (field_id, contact_id, position, value) VALUES ($1, $2, $3, $4)",
        )
        .bind(field_id)
        .bind(contact_id)
        .bind(position as i64)
        .bind(value)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Values of existing fields on the given contacts, in stored order.
pub async fn list_values(
    conn: &mut AnyConnection,
    contact_ids: &[i64],
) -> Result<Vec<UfValue>, StoreError> {
    if contact_ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT v.contact_id, v.field_id, v.value FROM uf_values v
         JOIN uf_fields f ON f.id = v.field_id
         WHERE v.contact_id IN ({}) ORDER BY v.contact_id, v.field_id, v.position",
        id_list(contact_ids)
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|row| {
            Ok(UfValue {
                contact_id: row.try_get("contact_id")?,
                field_id: row.try_get("field_id")?,
                value: row.try_get("value")?,
            })
        })
        .collect()
}

/// Removes one value (an enumeration item id) from every contact holding it.
pub async fn clear_value(
    conn: &mut AnyConnection,
    field_id: i64,
    value: &str,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM uf_values WHERE field_id = $1 AND value = $2")
        .bind(field_id)
        .bind(value)
        .execute(conn)
        .await?;
    Ok(())
}

/// Deletes up to `batch` values of a field whose definition is gone; returns how many went.
/// Values of a field that still exists are never touched.
pub async fn purge_field_values(
    conn: &mut AnyConnection,
    field_id: i64,
    batch: i64,
) -> Result<u64, StoreError> {
    let sql = format!(
        "DELETE FROM uf_values WHERE id IN (SELECT id FROM uf_values WHERE field_id = $1
           AND NOT EXISTS (SELECT 1 FROM uf_fields WHERE id = $1) LIMIT {batch})"
    );
    let done = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(field_id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

/// Ids of fields that still have values but no definition (left by an interrupted purge).
pub async fn orphaned_fields(conn: &mut AnyConnection) -> Result<Vec<i64>, StoreError> {
    let rows = sqlx::query(
        "SELECT DISTINCT field_id FROM uf_values
         WHERE NOT EXISTS (SELECT 1 FROM uf_fields WHERE uf_fields.id = uf_values.field_id)",
    )
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|row| Ok(row.try_get("field_id")?))
        .collect()
}

// ---- Files of `file` fields -----------------------------------------------------------------

/// A stored upload (content not loaded).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredFile {
    pub id: i64,
    pub name: String,
    pub size: i64,
}

/// Stores an uploaded file; returns its id.
pub async fn insert_file(
    conn: &mut AnyConnection,
    name: &str,
    content: &[u8],
    now: UnixTime,
) -> Result<i64, StoreError> {
    let row = sqlx::query(
        "INSERT INTO uf_files (name, size, content, created_at) VALUES ($1, $2, $3, $4)
         RETURNING id",
    )
    .bind(name)
    .bind(content.len() as i64)
    .bind(content.to_vec())
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(row.try_get("id")?)
}

pub async fn get_file(
    conn: &mut AnyConnection,
    id: i64,
) -> Result<Option<(StoredFile, Vec<u8>)>, StoreError> {
    let row = sqlx::query("SELECT id, name, size, content FROM uf_files WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let file = StoredFile {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        size: row.try_get("size")?,
    };
    Ok(Some((file, row.try_get("content")?)))
}
