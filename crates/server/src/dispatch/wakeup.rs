//! Wakes this instance's workers when another process commits deliveries (PostgreSQL only).
//!
//! Holds one `LISTEN` session (`b24lite_store::wakeup`) and turns each notification into
//! `AppState::wake_dispatcher`. When the session breaks it wakes the workers anyway (a
//! notification may have been lost) and connects again with a growing pause; the workers' sweep
//! keeps the queue moving meanwhile, so a database outage slows deliveries but never loses any.

use std::time::Duration;

use b24lite_store::wakeup::{OutboxListener, Wake};
use tokio::sync::watch;

use crate::state::AppState;

/// Longest pause between two attempts to open the session.
const MAX_PAUSE: Duration = Duration::from_secs(30);

pub(super) async fn run(state: AppState, mut stop: watch::Receiver<bool>) {
    let url = state.config.store.url();
    let mut pause = Duration::from_millis(250);
    while !*stop.borrow() {
        let connected = tokio::select! {
            connected = OutboxListener::connect(&url) => connected,
            _ = stop.changed() => return,
        };
        match connected {
            Ok(listener) => {
                pause = Duration::from_millis(250);
                // Anything committed before the session opened was not announced to it.
                state.wake_dispatcher();
                if listen(&state, listener, &mut stop).await == Ended::Stopping {
                    return;
                }
            }
            Err(error) => tracing::warn!(%error, "cannot listen for new deliveries; sweeping"),
        }
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = stop.changed() => return,
        }
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Ended {
    Stopping,
    Broken,
}

/// Relays notifications until the session breaks or the server stops.
async fn listen(
    state: &AppState,
    mut listener: OutboxListener,
    stop: &mut watch::Receiver<bool>,
) -> Ended {
    loop {
        let next = tokio::select! {
            next = listener.next() => next,
            _ = stop.changed() => return Ended::Stopping,
        };
        match next {
            Ok(Wake::Notified) => state.wake_dispatcher(),
            Ok(Wake::Reconnected) => {
                tracing::info!("listening for new deliveries again");
                state.wake_dispatcher();
            }
            Err(error) => {
                tracing::warn!(%error, "listening for new deliveries failed; sweeping");
                state.wake_dispatcher();
                return Ended::Broken;
            }
        }
    }
}
