//! The request-rate leaky bucket kept in the database, so that instances sharing a PostgreSQL
//! store count one budget per credential (`rest-protocol.md` §10.2, decision 10).
//!
//! One statement per call reads, drains, decides and writes the bucket: an upsert whose
//! `DO UPDATE` runs under the row's lock, so concurrent calls on any instance are serialised by
//! the database and none of them can read a level another one is about to change. The server
//! uses this only when the limiter is on and the store is PostgreSQL; with SQLite, one process
//! owns the file and counts in memory with the same rule.

use sqlx::{AnyConnection, Row};

use crate::StoreError;

/// A leaky bucket's parameters: it drains `drain` per second and refuses a request that would
/// take it above `limit`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    pub drain: f64,
    pub limit: f64,
}

/// Counts one request of `key` at `now` (Unix seconds with a fraction); `false` when it is
/// refused, in which case the bucket keeps its level (a refused request adds nothing).
pub async fn admit(
    conn: &mut AnyConnection,
    key: &str,
    now: f64,
    bucket: Bucket,
) -> Result<bool, StoreError> {
    // `drained` is the level after leaking since the last call; the clock of another instance
    // may lag a little, so time never runs backwards here. CASE rather than GREATEST keeps the
    // statement the same on both dialects.
    let elapsed = "CASE WHEN $2 > b.updated_at THEN $2 - b.updated_at ELSE 0 END";
    let leaked = format!("b.level - ({elapsed}) * $3");
    let drained = format!("(CASE WHEN {leaked} > 0 THEN {leaked} ELSE 0 END)");
    let sql = format!(
        "INSERT INTO rate_buckets AS b (bucket_key, level, updated_at, admitted)
         VALUES ($1, CASE WHEN 1 > $4 THEN 0 ELSE 1 END, $2, CASE WHEN 1 > $4 THEN 0 ELSE 1 END)
         ON CONFLICT (bucket_key) DO UPDATE SET
             level = CASE WHEN {drained} + 1 > $4 THEN {drained} ELSE {drained} + 1 END,
             admitted = CASE WHEN {drained} + 1 > $4 THEN 0 ELSE 1 END,
             updated_at = CASE WHEN $2 > b.updated_at THEN $2 ELSE b.updated_at END
         RETURNING admitted"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(key)
        .bind(now)
        .bind(bucket.drain)
        .bind(bucket.limit)
        .fetch_one(conn)
        .await?;
    Ok(row.try_get::<i64, _>("admitted")? != 0)
}
