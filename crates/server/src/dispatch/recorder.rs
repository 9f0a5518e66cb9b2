//! The single writer of delivery outcomes: collects what the workers report and stores it in
//! batched transactions (attempt rows plus status updates), then wakes a worker so that rows it
//! released or rescheduled are looked at again. A failed write is retried a few times; if the
//! store stays unavailable the rows keep their leases and are sent again once those expire.

use std::time::Duration;

use b24lite_store::deliveries::{self, Finished};
use tokio::sync::{mpsc, oneshot};

use crate::state::AppState;

/// Outcomes written per transaction at most.
const MAX_BATCH: usize = 256;

pub(super) enum Msg {
    Done(Finished),
    /// Answered once everything received before it is written.
    Flush(oneshot::Sender<()>),
}

pub(super) async fn run(state: AppState, mut receiver: mpsc::UnboundedReceiver<Msg>) {
    while let Some(first) = receiver.recv().await {
        let mut batch = Vec::new();
        let mut flushes = Vec::new();
        let mut next = Some(first);
        while let Some(msg) = next {
            match msg {
                Msg::Done(finished) => batch.push(finished),
                Msg::Flush(done) => flushes.push(done),
            }
            next = if batch.len() < MAX_BATCH {
                receiver.try_recv().ok()
            } else {
                None
            };
        }
        if !batch.is_empty() {
            write(&state, &batch).await;
            state.wake_dispatcher();
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

async fn write(state: &AppState, batch: &[Finished]) {
    let mut pause = Duration::from_millis(100);
    for _ in 0..5 {
        match deliveries::finish(&state.store, batch, state.clock.now()).await {
            Ok(()) => return,
            Err(error) => tracing::warn!(%error, "recording delivery outcomes failed; retrying"),
        }
        tokio::time::sleep(pause).await;
        pause *= 2;
    }
    tracing::error!(
        n = batch.len(),
        "delivery outcomes not recorded; leases will expire"
    );
}
