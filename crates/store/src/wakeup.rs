//! The listening side of the outbox wake-ups on PostgreSQL.
//!
//! Triggers on `deliveries` (migration 6001) `NOTIFY` [`OUTBOX_CHANNEL`] in every transaction
//! that makes a delivery due, and PostgreSQL hands the notification to every listening session
//! when that transaction commits. Each server instance holds one [`OutboxListener`] so that an
//! event committed through any instance (or the CLI) wakes every instance's workers at once,
//! rather than at their next sweep. SQLite has no such channel: there one process owns the file
//! and wakes its own workers.

use sqlx::postgres::PgListener;

use crate::StoreError;

/// The channel the triggers notify; the payload is empty.
pub const OUTBOX_CHANNEL: &str = "b24lite_outbox";

/// A session listening on [`OUTBOX_CHANNEL`], on a connection of its own.
pub struct OutboxListener {
    listener: PgListener,
}

/// What [`OutboxListener::next`] saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// A transaction that made deliveries due committed.
    Notified,
    /// The connection was lost and has been opened again; notifications sent meanwhile are
    /// lost, so the caller should look at the queue as if notified.
    Reconnected,
}

impl OutboxListener {
    /// Opens a connection to the PostgreSQL database at `url` and listens on the channel.
    pub async fn connect(url: &str) -> Result<OutboxListener, StoreError> {
        let mut listener = PgListener::connect(url).await?;
        listener.listen(OUTBOX_CHANNEL).await?;
        Ok(OutboxListener { listener })
    }

    /// Waits for the next notification. An error means the connection could not be opened
    /// again; the caller should drop the listener and connect anew later.
    pub async fn next(&mut self) -> Result<Wake, StoreError> {
        match self.listener.try_recv().await? {
            Some(_) => Ok(Wake::Notified),
            None => Ok(Wake::Reconnected),
        }
    }
}
