//! The operating-time budget kept in the database, so that instances sharing a PostgreSQL store
//! count one budget per (credential, method) (`rest-protocol.md` §10.3).
//!
//! Execution seconds go into one-minute buckets, each living [`WINDOW`] seconds from the first
//! call recorded in it. [`record`] adds to a bucket with one upsert (concurrent calls add up under
//! the row lock) and drops the expired ones; [`load`] sums the live ones. The server uses this
//! only when `--operating-limit` is on and the store is PostgreSQL; otherwise it counts in memory
//! with the same rule.

use sqlx::{AnyConnection, Row};

use crate::StoreError;

/// Lifetime of a bucket, in seconds: 10 minutes.
pub const WINDOW: f64 = 600.0;

/// Adds `seconds` of execution of `method` by `key`, started at `started_at` (Unix seconds with a
/// fraction), to the bucket of that minute.
pub async fn record(
    conn: &mut AnyConnection,
    key: &str,
    method: &str,
    started_at: f64,
    seconds: f64,
) -> Result<(), StoreError> {
    sqlx::query(
        "DELETE FROM operating_buckets
         WHERE bucket_key = $1 AND method = $2 AND first_call_at + $3 <= $4",
    )
    .bind(key)
    .bind(method)
    .bind(WINDOW)
    .bind(started_at)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO operating_buckets (bucket_key, method, minute, first_call_at, seconds)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (bucket_key, method, minute)
         DO UPDATE SET seconds = operating_buckets.seconds + $5",
    )
    .bind(key)
    .bind(method)
    .bind((started_at / 60.0).floor() as i64)
    .bind(started_at)
    .bind(seconds)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The live buckets of `method` by `key` at `now`: their summed seconds and the first call of
/// the oldest (`None` when there is none).
pub async fn load(
    conn: &mut AnyConnection,
    key: &str,
    method: &str,
    now: f64,
) -> Result<(f64, Option<f64>), StoreError> {
    let row = sqlx::query(
        "SELECT COALESCE(SUM(seconds), 0.0) AS total, MIN(first_call_at) AS oldest
         FROM operating_buckets
         WHERE bucket_key = $1 AND method = $2 AND first_call_at + $3 > $4",
    )
    .bind(key)
    .bind(method)
    .bind(WINDOW)
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok((row.try_get("total")?, row.try_get("oldest")?))
}
