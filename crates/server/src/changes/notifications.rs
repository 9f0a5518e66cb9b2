//! PostgreSQL notifications from other instances and CLI commands (`b24lite_store::wakeup`).
//!
//! Holds one `LISTEN` session on both channels: due deliveries wake the workers, changed
//! credentials or field definitions clear the caches. When the session breaks, both are done
//! anyway (a notification may have been lost) and the session is opened again with a growing
//! pause; meanwhile the workers' sweep and the caches' TTL keep the server right, only slower.

use std::time::Duration;

use b24lite_store::wakeup::{Listener, Wake};
use tokio::sync::watch;

use crate::state::AppState;

/// Longest pause between two attempts to open the session.
const MAX_PAUSE: Duration = Duration::from_secs(30);

pub(super) async fn run(state: AppState, mut stop: watch::Receiver<bool>) {
    let url = state.config.store.url();
    let mut pause = Duration::from_millis(250);
    while !*stop.borrow() {
        let connected = tokio::select! {
            connected = Listener::connect(&url) => connected,
            _ = stop.changed() => return,
        };
        match connected {
            Ok(listener) => {
                pause = Duration::from_millis(250);
                // Anything committed before the session opened was not announced to it.
                super::changed_elsewhere(&state);
                if listen(&state, listener, &mut stop).await == Ended::Stopping {
                    return;
                }
            }
            Err(error) => tracing::warn!(%error, "cannot listen for notifications; sweeping"),
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
    mut listener: Listener,
    stop: &mut watch::Receiver<bool>,
) -> Ended {
    loop {
        let next = tokio::select! {
            next = listener.next() => next,
            _ = stop.changed() => return Ended::Stopping,
        };
        match next {
            Ok(Wake::Deliveries) => state.wake_dispatcher(),
            Ok(Wake::Changes) => state.forget_cached(),
            Ok(Wake::Reconnected) => {
                tracing::info!("listening for notifications again");
                super::changed_elsewhere(state);
            }
            Err(error) => {
                tracing::warn!(%error, "listening for notifications failed; sweeping");
                super::changed_elsewhere(state);
                return Ended::Broken;
            }
        }
    }
}
