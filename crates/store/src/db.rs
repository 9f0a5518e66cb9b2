//! Connecting, migrating and opening transactions on either backend.

use std::ops::{Deref, DerefMut};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyConnection, AnyPool, ConnectOptions, Connection, Executor};
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::migrations;

/// A write transaction; derefs to its connection. Dropping it without [`Tx::commit`] rolls it
/// back. On SQLite it also holds this process's writer turn (see [`Store::begin_write`]).
pub struct Tx {
    inner: sqlx::Transaction<'static, Any>,
    dialect: Dialect,
    /// Released after the commit or rollback, never before.
    _turn: Option<OwnedMutexGuard<()>>,
}

impl Tx {
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.inner.commit().await
    }

    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        self.inner.rollback().await
    }
}

impl Deref for Tx {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        &self.inner
    }
}

impl DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.inner
    }
}

/// Which SQL dialect the connected database speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// Failures of the storage layer. Callers turn these into `INTERNAL_SERVER_ERROR` unless a
/// variant carries a meaning of its own.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database URL '{0}': use sqlite://PATH or postgres://...")]
    UnsupportedUrl(String),
    // The driver's error is written into the message and not also chained as a source, so that
    // `{:#}` (the CLI's error line) does not print the same text three times over.
    #[error("database error: {0}")]
    Database(sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(sqlx::migrate::MigrateError),
    #[error("a row with the same unique key already exists")]
    Conflict,
    #[error("not found")]
    NotFound,
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> StoreError {
        StoreError::Database(error)
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(error: sqlx::migrate::MigrateError) -> StoreError {
        StoreError::Migrate(error)
    }
}

impl StoreError {
    /// Maps a unique-constraint violation to [`StoreError::Conflict`], other errors through.
    pub fn from_write(error: sqlx::Error) -> StoreError {
        match &error {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict,
            _ => StoreError::Database(error),
        }
    }
}

/// The connection pool and the dialect behind it. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    /// Where write transactions run. On SQLite one connection: in WAL mode a connection drops
    /// its whole page cache when another connection has committed since its last transaction, so
    /// writes spread over the pool kept reading the same pages back from the file (a tenth of
    /// the CPU of event delivery); a lone writer keeps its cache. On PostgreSQL the pool itself.
    write_pool: AnyPool,
    dialect: Dialect,
    /// SQLite admits one writer at a time, and a connection that finds the write lock taken
    /// sleeps and polls (1, 2, 5, 10 ... ms). Writers of this process therefore queue here
    /// instead, so that they take turns without sleeping; other processes (the CLI) still meet
    /// the busy timeout. Unused on PostgreSQL, which locks rows.
    writer: Arc<Mutex<()>>,
}

/// The file a `sqlite:` URL names; `None` for PostgreSQL, an in-memory database or a URL that
/// does not parse.
pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    if !url.starts_with("sqlite:") || url.contains(":memory:") || url.contains("mode=memory") {
        return None;
    }
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(url).ok()?;
    Some(options.get_filename().to_path_buf())
}

impl Store {
    /// Connects to `url` (`sqlite://PATH` or `postgres://...`), creating a SQLite file if needed,
    /// and applies pending migrations.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let dialect = if url.starts_with("sqlite:") {
            Dialect::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Dialect::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_string()));
        };
        let options = AnyConnectOptions::from_str(&with_create_mode(url, dialect))?
            .log_statements(tracing::log::LevelFilter::Trace)
            .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_secs(1));

        if dialect == Dialect::Sqlite {
            // WAL is a property of the file: set it once, on a lone connection, before the pool
            // opens others (switching modes needs an exclusive lock).
            let mut conn = sqlx::AnyConnection::connect_with(&options).await?;
            conn.execute("PRAGMA journal_mode = WAL").await?;
            conn.close().await?;
        }

        let pool = pool_options(dialect).connect_with(options.clone()).await?;
        migrations::migrator(dialect).run(&pool).await?;
        let write_pool = match dialect {
            Dialect::Sqlite => {
                let writer = AnyPoolOptions::new().max_connections(1).idle_timeout(None);
                sqlite_options(writer, WRITER_CACHE_KIB)
                    .connect_with(options)
                    .await?
            }
            Dialect::Postgres => pool.clone(),
        };
        Ok(Store {
            pool,
            write_pool,
            dialect,
            writer: Arc::new(Mutex::new(())),
        })
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Opens a write transaction. On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`)
    /// so that a read-then-write transaction never fails on lock upgrade; the busy timeout then
    /// queues writers, including a CLI process writing beside a running server.
    pub async fn begin_write(&self) -> Result<Tx, StoreError> {
        let tx = match self.dialect {
            Dialect::Sqlite => {
                let turn = self.writer.clone().lock_owned().await;
                let inner = self.write_pool.begin_with("BEGIN IMMEDIATE").await?;
                Tx {
                    inner,
                    dialect: self.dialect,
                    _turn: Some(turn),
                }
            }
            Dialect::Postgres => Tx {
                inner: self.pool.begin().await?,
                dialect: self.dialect,
                _turn: None,
            },
        };
        Ok(tx)
    }

    pub async fn close(&self) {
        self.write_pool.close().await;
        self.pool.close().await;
    }
}

fn with_create_mode(url: &str, dialect: Dialect) -> String {
    if dialect == Dialect::Sqlite && !url.contains("mode=") && !url.contains(":memory:") {
        let separator = if url.contains('?') { '&' } else { '?' };
        format!("{url}{separator}mode=rwc")
    } else {
        url.to_string()
    }
}

fn pool_options(dialect: Dialect) -> AnyPoolOptions {
    let options = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(30));
    match dialect {
        Dialect::Sqlite => sqlite_options(options.max_connections(8), READER_CACHE_KIB),
        Dialect::Postgres => options.max_connections(16),
    }
}

/// Page cache of the SQLite writer: it keeps its pages from one transaction to the next (nobody
/// else writes), so the queue's hot pages stay in memory.
const WRITER_CACHE_KIB: u32 = 16 * 1024;
/// Page cache of each SQLite reader, SQLite's default: a reader drops its cache whenever the
/// writer has committed, so a larger one would mostly hold pages read once.
const READER_CACHE_KIB: u32 = 2 * 1024;

/// Settings of every SQLite connection.
fn sqlite_options(options: AnyPoolOptions, cache_kib: u32) -> AnyPoolOptions {
    // A local file does not drop connections, and the health check before each acquire was a
    // round trip to the connection's thread: half the store cost of a one-query call.
    options
        .acquire_timeout(Duration::from_secs(30))
        .test_before_acquire(false)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                // NORMAL is durable across process crashes in WAL mode; only a power loss can
                // drop the last commits. busy_timeout queues writers instead of failing them.
                let pragmas = format!(
                    "PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 10000;
                     PRAGMA cache_size = -{cache_kib}"
                );
                conn.execute(sqlx::AssertSqlSafe(pragmas)).await?;
                Ok(())
            })
        })
}

/// Seconds since the Unix epoch of the store's clock. Kept here so every module writes the same
/// unit; callers pass the time in, so tests can move it.
pub type UnixTime = i64;
