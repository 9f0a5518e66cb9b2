//! How a running server learns of changes other processes make to the store it shares.
//!
//! The server keeps some of what it reads in memory (webhook credentials, rendered field
//! definitions) and wakes its delivery workers when events are committed. Changes made by this
//! process take effect at once. Others reach it two ways:
//!
//! - [`control`]: a Unix socket in the data folder (`b24lite.sock`). Every CLI command that
//!   writes tells the server on that folder before it exits, so what a script did with the CLI
//!   is in force for its next REST call, and events the command recorded go out at once.
//! - [`notifications`]: on PostgreSQL, triggers `NOTIFY` when deliveries become due and when
//!   credentials or field definitions change; every instance listens, whoever wrote.
//!
//! Both only hasten what would happen anyway: caches trust an entry for `--cache-ttl` at most
//! and the workers sweep the queue every `--dispatch-sweep-ms`, so a lost notice delays a
//! change but never hides it.

pub mod control;
mod notifications;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::state::AppState;

/// The tasks that listen; [`Watchers::stop`] ends them.
pub struct Watchers {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Watchers {
    /// Serves the control socket (bound by [`control::bind`]) and, on PostgreSQL, starts the
    /// notification listener.
    pub fn start(state: &AppState, control: Option<control::Socket>) -> Watchers {
        let stop = watch::Sender::new(false);
        let mut tasks = Vec::new();
        if let Some(socket) = control {
            tasks.push(tokio::spawn(control::serve(
                state.clone(),
                socket,
                stop.subscribe(),
            )));
        }
        if state.store.dialect() == b24lite_store::Dialect::Postgres {
            tasks.push(tokio::spawn(notifications::run(
                state.clone(),
                stop.subscribe(),
            )));
        }
        Watchers { stop, tasks }
    }

    pub async fn stop(self) {
        self.stop.send_replace(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// What a notice of a change made elsewhere does: forget what is kept, look at the queue.
fn changed_elsewhere(state: &AppState) {
    state.forget_cached();
    state.wake_dispatcher();
}
