//! The offline event queue of applications (`events.md` §10, reference facts 93-99,
//! decision 32).
//!
//! One record per (application, connector, event name, object): the record's `message_id` is
//! md5 of `EVENT_NAME|<JSON of data>`, and a repeat while the record is unclaimed rewrites it in
//! place and moves it to the back of the queue (its `position`); once claimed by a reader a
//! repeat makes a new record. The error flag is not part of the key and survives a repeat.
//! Readers claim records by writing a `process_id` on them in one statement (`SKIP LOCKED` on
//! PostgreSQL), so parallel readers get disjoint sets. Records older than [`RETENTION_SECS`] go,
//! whatever their state, when the application next reads its queue ([`expire`]).
//!
//! The two writes that put a record on an object's unclaimed key, [`record`] and [`flag_error`],
//! take one lock on PostgreSQL ([`lock_queues`]) and so take turns: under READ COMMITTED neither
//! sees the other's uncommitted row, and an error flag releasing a record while a repeat of its
//! object was being written failed on the queue's unique key.

use md5::{Digest, Md5};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::{AnyQuery, Dialect, StoreError, UnixTime, flag};

/// A stored offline record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfflineRecord {
    pub id: i64,
    pub event_name: String,
    pub message_id: String,
    /// JSON text of the event's `data`.
    pub event_data: String,
    pub user_id: Option<i64>,
    pub process_id: String,
    pub error: bool,
    pub timestamp_x: UnixTime,
}

/// `MESSAGE_ID` of an event: md5 of `NAME|data`.
pub fn message_id(event_name: &str, data_json: &str) -> String {
    hex::encode(Md5::digest(format!("{event_name}|{data_json}")))
}

/// Writes the offline records of one event for every installed application bound to it offline,
/// except the application and connector whose own call caused it (echo suppression). Returns the
/// applications whose queue changed, each once.
pub async fn record(
    conn: &mut AnyConnection,
    event_name: &str,
    data_json: &str,
    user_id: Option<i64>,
    source: (Option<i64>, &str),
    now: UnixTime,
) -> Result<Vec<i64>, StoreError> {
    lock_queues(conn).await?;
    let rows = sqlx::query(
        "INSERT INTO offline_events (app_id, connector, event_name, message_id, event_data, user_id,
                                     process_id, error, timestamp_x, position)
         SELECT h.app_id, h.connector, $1, $2, $3, $4, '', 0, $5,
                (SELECT COALESCE(MAX(position), 0) + 1 FROM offline_events)
         FROM event_handlers h JOIN apps a ON a.id = h.app_id
         WHERE h.event = $1 AND h.event_type = 'offline' AND a.installed = 1
           AND a.install_finished = 1 AND NOT (h.app_id = $6 AND h.connector = $7)
         ON CONFLICT (message_id, app_id, connector, process_id) DO UPDATE
         SET event_data = excluded.event_data, user_id = excluded.user_id,
             timestamp_x = excluded.timestamp_x, position = excluded.position
         RETURNING app_id",
    )
    .bind(event_name)
    .bind(message_id(event_name, data_json))
    .bind(data_json)
    .bind(user_id)
    .bind(now)
    .bind(source.0.unwrap_or(0))
    .bind(source.1)
    .fetch_all(conn)
    .await?;
    let mut apps = Vec::new();
    for row in &rows {
        let app_id: i64 = row.try_get("app_id")?;
        if !apps.contains(&app_id) {
            apps.push(app_id);
        }
    }
    Ok(apps)
}

/// Takes, until the transaction ends, the lock that [`record`] and [`flag_error`] share on
/// PostgreSQL (SQLite's write transactions already run one at a time). One lock for every queue
/// rather than one per application: an event reaches several applications, and two transactions
/// taking per-application locks in different orders could deadlock.
async fn lock_queues(conn: &mut AnyConnection) -> Result<(), StoreError> {
    if conn.backend_name() == "PostgreSQL" {
        // Wrapped in a count: the `Any` driver cannot decode the function's `void`.
        sqlx::query("SELECT COUNT(*) AS n FROM (SELECT pg_advisory_xact_lock(5003, 0)) AS locked")
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// How long a record stays in the queue, claimed or not: the server's agent deletes records
/// older than this (2,952,000 s, about 34 days; reference fact 95).
pub const RETENTION_SECS: i64 = 2_952_000;

/// Deletes an application's records whose latest change is older than [`RETENTION_SECS`].
/// Readers call it before they read, so no reader ever sees what the agent would have removed.
pub async fn expire(
    conn: &mut AnyConnection,
    app_id: i64,
    now: UnixTime,
) -> Result<u64, StoreError> {
    let done = sqlx::query("DELETE FROM offline_events WHERE app_id = $1 AND timestamp_x < $2")
        .bind(app_id)
        .bind(now - RETENTION_SECS)
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

/// Empties an application's offline queue (uninstall).
pub async fn delete_for_app(conn: &mut AnyConnection, app_id: i64) -> Result<u64, StoreError> {
    let done = sqlx::query("DELETE FROM offline_events WHERE app_id = $1")
        .bind(app_id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

/// A column readers may filter and order on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Id,
    TimestampX,
    EventName,
    MessageId,
    ProcessId,
    Error,
}

impl Column {
    fn sql(self) -> &'static str {
        match self {
            Column::Id => "id",
            Column::TimestampX => "timestamp_x",
            Column::EventName => "event_name",
            Column::MessageId => "message_id",
            Column::ProcessId => "process_id",
            Column::Error => "error",
        }
    }
}

/// A comparison of a filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl Op {
    fn sql(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "<>",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
        }
    }
}

/// A filter value: integers for ids, times and flags, text otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Int(i64),
    Text(String),
}

/// What a reader selects: the queue of one application and connector, filtered and ordered.
#[derive(Debug, Clone)]
pub struct Query {
    pub app_id: i64,
    pub connector: String,
    pub filter: Vec<(Column, Op, Value)>,
    /// Empty: `TIMESTAMP_X` ascending (queue order).
    pub order: Vec<(Column, bool)>,
}

/// Builds `WHERE` conditions after the four fixed parameters and an `ORDER BY`.
fn clauses(query: &Query, first_param: usize) -> (String, String, Vec<Value>) {
    let mut conditions = String::new();
    let mut values = Vec::new();
    for (index, (column, op, value)) in query.filter.iter().enumerate() {
        conditions.push_str(&format!(
            " AND {} {} ${}",
            column.sql(),
            op.sql(),
            first_param + index
        ));
        values.push(value.clone());
    }
    let mut order: Vec<String> = query
        .order
        .iter()
        .map(|(column, ascending)| {
            let column = if *column == Column::TimestampX {
                "timestamp_x, position"
            } else {
                column.sql()
            };
            let direction = if *ascending { "ASC" } else { "DESC" };
            column
                .split(", ")
                .map(|c| format!("{c} {direction}"))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .collect();
    if order.is_empty() {
        order.push("timestamp_x ASC, position ASC".into());
    }
    order.push("id ASC".into());
    (conditions, order.join(", "), values)
}

fn bind_values<'q>(mut statement: AnyQuery<'q>, values: Vec<Value>) -> AnyQuery<'q> {
    for value in values {
        statement = match value {
            Value::Int(n) => statement.bind(n),
            Value::Text(s) => statement.bind(s),
        };
    }
    statement
}

const COLUMNS: &str =
    "id, event_name, message_id, event_data, user_id, process_id, error, timestamp_x";

/// Claims up to `limit` unclaimed records (with the given error flag) under `process_id`.
pub async fn claim(
    conn: &mut AnyConnection,
    dialect: Dialect,
    query: &Query,
    error: bool,
    limit: i64,
    process_id: &str,
) -> Result<Vec<OfflineRecord>, StoreError> {
    let (conditions, order, values) = clauses(query, 6);
    let lock = if dialect == Dialect::Postgres {
        " FOR UPDATE SKIP LOCKED"
    } else {
        ""
    };
    let sql = format!(
        "UPDATE offline_events SET process_id = $1
         WHERE id IN (SELECT id FROM offline_events
                      WHERE app_id = $2 AND connector = $3 AND process_id = '' AND error = $4
                      {conditions} ORDER BY {order} LIMIT $5{lock})"
    );
    let statement = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(process_id)
        .bind(query.app_id)
        .bind(&query.connector)
        .bind(i64::from(error))
        .bind(limit);
    bind_values(statement, values).execute(&mut *conn).await?;
    let reserved = Query {
        filter: Vec::new(),
        ..query.clone()
    };
    of_process(conn, &reserved, process_id, None).await
}

/// How a reader re-reads a process it reserved earlier: only records with this error flag, at
/// most `limit` of them (`event.offline.get` with `process_id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reread {
    pub error: bool,
    pub limit: i64,
}

/// The records reserved under `process_id`, in the query's order: all of them, or those a
/// [`Reread`] picks.
pub async fn of_process(
    conn: &mut AnyConnection,
    query: &Query,
    process_id: &str,
    reread: Option<Reread>,
) -> Result<Vec<OfflineRecord>, StoreError> {
    let (conditions, order, values) = clauses(query, 4);
    let (error, limit) = match reread {
        Some(reread) => (
            format!(" AND error = {}", i64::from(reread.error)),
            format!(" LIMIT {}", reread.limit.max(0)),
        ),
        None => (String::new(), String::new()),
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM offline_events
         WHERE app_id = $1 AND connector = $2 AND process_id = $3{error} {conditions}
         ORDER BY {order}{limit}"
    );
    let statement = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(query.app_id)
        .bind(&query.connector)
        .bind(process_id);
    let rows = bind_values(statement, values).fetch_all(conn).await?;
    rows.iter().map(from_row).collect()
}

/// A page of the queue for `event.offline.list` and the count of all matching records.
pub async fn list(
    conn: &mut AnyConnection,
    query: &Query,
    offset: i64,
    limit: i64,
) -> Result<(Vec<OfflineRecord>, i64), StoreError> {
    let (conditions, order, values) = clauses(query, 3);
    let base = format!("FROM offline_events WHERE app_id = $1 AND connector = $2 {conditions}");
    let count_sql = format!("SELECT COUNT(*) AS n {base}");
    let statement = sqlx::query(sqlx::AssertSqlSafe(count_sql))
        .bind(query.app_id)
        .bind(&query.connector);
    let total: i64 = bind_values(statement, values.clone())
        .fetch_one(&mut *conn)
        .await?
        .try_get("n")?;
    let page_sql = format!(
        "SELECT {COLUMNS} {base} ORDER BY {order} LIMIT {limit} OFFSET {offset}",
        limit = limit.max(0),
        offset = offset.max(0)
    );
    let statement = sqlx::query(sqlx::AssertSqlSafe(page_sql))
        .bind(query.app_id)
        .bind(&query.connector);
    let rows = bind_values(statement, values).fetch_all(conn).await?;
    Ok((rows.iter().map(from_row).collect::<Result<_, _>>()?, total))
}

/// Which records of a process `clear`/`error` touch: all, some ids, or some message ids.
#[derive(Debug, Clone)]
pub enum Selection {
    All,
    Ids(Vec<i64>),
    MessageIds(Vec<String>),
}

fn selection_sql(selection: &Selection) -> String {
    match selection {
        Selection::All => String::new(),
        Selection::Ids(ids) => {
            let list: Vec<String> = ids.iter().map(i64::to_string).collect();
            format!(
                " AND id IN ({})",
                if list.is_empty() {
                    "NULL".into()
                } else {
                    list.join(",")
                }
            )
        }
        Selection::MessageIds(ids) => {
            // Inlined as literals: only ids of hex digits are kept, so nothing else reaches SQL.
            let list: Vec<String> = ids
                .iter()
                .filter(|id| id.chars().all(|c| c.is_ascii_hexdigit()))
                .map(|id| format!("'{id}'"))
                .collect();
            format!(
                " AND message_id IN ({})",
                if list.is_empty() {
                    "NULL".into()
                } else {
                    list.join(",")
                }
            )
        }
    }
}

/// Deletes records of a process (`event.offline.clear`, or `get` with `clear=1`).
pub async fn delete_claimed(
    conn: &mut AnyConnection,
    app_id: i64,
    connector: &str,
    process_id: &str,
    selection: &Selection,
) -> Result<u64, StoreError> {
    let sql = format!(
        "DELETE FROM offline_events WHERE app_id = $1 AND connector = $2 AND process_id = $3{}",
        selection_sql(selection)
    );
    let done = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(app_id)
        .bind(connector)
        .bind(process_id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

/// Flags records of a process as failed and releases them; a flagged record whose object has
/// an unclaimed record again is dropped (the newer record stands for it). Takes the queues'
/// lock: call it before anything else in its transaction writes the queue (see [`lock_queues`]).
pub async fn flag_error(
    conn: &mut AnyConnection,
    app_id: i64,
    connector: &str,
    process_id: &str,
    selection: &Selection,
) -> Result<(), StoreError> {
    lock_queues(conn).await?;
    let selected = selection_sql(selection);
    let drop_sql = format!(
        "DELETE FROM offline_events
         WHERE app_id = $1 AND connector = $2 AND process_id = $3{selected}
           AND message_id IN (SELECT message_id FROM offline_events
                              WHERE app_id = $1 AND connector = $2 AND process_id = '')"
    );
    sqlx::query(sqlx::AssertSqlSafe(drop_sql))
        .bind(app_id)
        .bind(connector)
        .bind(process_id)
        .execute(&mut *conn)
        .await?;
    let flag_sql = format!(
        "UPDATE offline_events SET error = 1, process_id = ''
         WHERE app_id = $1 AND connector = $2 AND process_id = $3{selected}"
    );
    sqlx::query(sqlx::AssertSqlSafe(flag_sql))
        .bind(app_id)
        .bind(connector)
        .bind(process_id)
        .execute(conn)
        .await?;
    Ok(())
}

fn from_row(row: &AnyRow) -> Result<OfflineRecord, StoreError> {
    Ok(OfflineRecord {
        id: row.try_get("id")?,
        event_name: row.try_get("event_name")?,
        message_id: row.try_get("message_id")?,
        event_data: row.try_get("event_data")?,
        user_id: row.try_get("user_id")?,
        process_id: row.try_get("process_id")?,
        error: flag(row, "error")?,
        timestamp_x: row.try_get("timestamp_x")?,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn message_ids_hash_name_and_data() {
        let id = super::message_id("ONCRMCONTACTUSERFIELDADD", r#"{"FIELDS":{"ID":1}}"#);
        assert_eq!(id.len(), 32);
        assert_ne!(
            id,
            super::message_id("ONCRMCONTACTUSERFIELDUPDATE", r#"{"FIELDS":{"ID":1}}"#)
        );
    }
}
