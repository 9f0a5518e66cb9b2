//! Periodic clean-up of rows nobody will read again: application tokens whose access and
//! refresh tokens have both expired. Every delivery to an application mints a token pair, so
//! without this the token table would only grow.
//!
//! An expired access token keeps answering `expired_token` for [`GRACE_SECS`] after its expiry
//! before it is deleted and answers `invalid_token`, as an unknown one does. Instances sharing
//! PostgreSQL each run this; their deletes do not conflict.

use std::time::Duration;

use b24lite_store::apps;
use tokio::task::JoinHandle;

use crate::state::AppState;

/// How long a row outlives the expiry of both its tokens.
pub const GRACE_SECS: i64 = 24 * 3600;
/// Time between two clean-ups; the first runs at start.
const EVERY: Duration = Duration::from_secs(600);
/// Rows deleted per transaction, so that no write waits long behind a clean-up.
const BATCH: i64 = 5000;

/// Starts the clean-up loop; abort the handle to stop it.
pub fn start(state: AppState) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(EVERY);
        loop {
            ticks.tick().await;
            if let Err(error) = purge_tokens(&state).await {
                tracing::warn!(%error, "purging expired application tokens failed; retried later");
            }
        }
    })
}

async fn purge_tokens(state: &AppState) -> Result<(), b24lite_store::StoreError> {
    let before = state.clock.now() - GRACE_SECS;
    loop {
        let mut tx = state.store.begin_write().await?;
        let purged = apps::purge_expired_tokens(&mut tx, before, BATCH).await?;
        tx.commit().await?;
        if purged < BATCH as u64 {
            return Ok(());
        }
        tokio::task::yield_now().await;
    }
}
