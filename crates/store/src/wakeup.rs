//! The listening side of the notifications instances send each other on PostgreSQL.
//!
//! - [`OUTBOX_CHANNEL`]: triggers on `deliveries` (migration 6001) notify it in every
//!   transaction that makes a delivery due, so an event committed through any instance (or the
//!   CLI) wakes every instance's workers at once rather than at their next sweep.
//! - [`CHANGES_CHANNEL`]: triggers on the users, webhooks, applications and field definitions
//!   (migration 6003) notify it, so every instance drops what it keeps of them in memory.
//!
//! PostgreSQL hands a notification to every listening session when the transaction that sent it
//! commits, and sends one per channel and transaction however many statements notified. SQLite
//! has no such channel: there the server owns the file, and the CLI tells it of its changes
//! through the data folder's control socket.

use sqlx::postgres::PgListener;

use crate::StoreError;

/// Deliveries became due; the payload is empty.
pub const OUTBOX_CHANNEL: &str = "b24lite_outbox";
/// Credentials or field definitions changed; the payload is empty.
pub const CHANGES_CHANNEL: &str = "b24lite_changes";

/// A session listening on both channels, on a connection of its own.
pub struct Listener {
    listener: PgListener,
}

/// What [`Listener::next`] saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// A transaction that made deliveries due committed.
    Deliveries,
    /// A transaction that changed credentials or field definitions committed.
    Changes,
    /// The connection was lost and has been opened again; notifications sent meanwhile are
    /// lost, so the caller should act as if both kinds had arrived.
    Reconnected,
}

impl Listener {
    /// Opens a connection to the PostgreSQL database at `url` and listens on both channels.
    pub async fn connect(url: &str) -> Result<Listener, StoreError> {
        let mut listener = PgListener::connect(url).await?;
        listener
            .listen_all([OUTBOX_CHANNEL, CHANGES_CHANNEL])
            .await?;
        Ok(Listener { listener })
    }

    /// Waits for the next notification. An error means the connection could not be opened
    /// again; the caller should drop the listener and connect anew later.
    pub async fn next(&mut self) -> Result<Wake, StoreError> {
        match self.listener.try_recv().await? {
            Some(notice) if notice.channel() == CHANGES_CHANNEL => Ok(Wake::Changes),
            Some(_) => Ok(Wake::Deliveries),
            None => Ok(Wake::Reconnected),
        }
    }
}
