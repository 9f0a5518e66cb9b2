//! The delivery engine: worker tasks that take pending deliveries from the store and POST them.
//!
//! - [`worker`]: claim a batch under a lease, send each handler's rows in order, report.
//! - [`recorder`]: the single writer that stores outcomes and attempts in batched transactions.
//! - [`payload`]: the wire body. [`client`]: the only outbound HTTP. [`retry`]: policies.
//! - [`sign`]: the Standard Webhooks headers of a signed outgoing webhook's deliveries.
//! - [`throttle`]: per-handler gates. [`metrics`]: counters for `GET /metrics`.
//!
//! Wake-ups: a commit that recorded events calls `AppState::wake_dispatcher`, which wakes one
//! worker at once. Events committed by another process wake it too ([`crate::changes`]: the CLI
//! through the data folder's control socket, other instances and the CLI through PostgreSQL
//! notifications). Besides, every worker looks again every `--dispatch-sweep-ms` (1 s by
//! default) for retries that came due and for what a lost notice would have announced. It is one
//! indexed query; there is no faster polling.
//!
//! Several instances: each claim is leased to an owner named `PID.RANDOM:N` (the process id shows
//! who holds a row) until `--delivery-lease` seconds from now; rows of an instance that died are
//! claimed again by another once the lease has run out, so a delivery whose request was answered
//! but whose outcome was not yet written can be sent twice (at-least-once in that window only).
//!
//! Invariants: no transaction is open during an HTTP call; the REST handler never waits on a
//! delivery; a delivery acknowledged by its handler is marked delivered before the server stops.

pub mod client;
pub mod metrics;
pub mod payload;
mod recorder;
pub mod retry;
pub mod sign;
pub mod throttle;
mod worker;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{Mutex, Semaphore, mpsc, watch};
use tokio::task::JoinHandle;

pub use metrics::Metrics;

use crate::state::AppState;

/// Rows claimed at a time by one worker. A claim costs two statements whatever its size, so
/// larger claims are what lets ten subscribers get thousands of deliveries a second.
const BATCH: i64 = 64;
/// Handler groups sent at the same time by one server.
const MAX_GROUPS: usize = 64;

/// What the workers share.
struct Engine {
    state: AppState,
    client: client::DeliveryClient,
    portal: payload::Portal,
    gates: throttle::Gates,
    schedule: Vec<u64>,
    timeout: Duration,
    /// `--delivery-lease`, when set: the lease of every claim, in seconds.
    lease: Option<u64>,
    sweep: Duration,
    owner_prefix: String,
    claims: AtomicU64,
    /// Serialises "compute busy handlers, claim, mark busy" so a handler's rows go to one group.
    claim_lock: Mutex<()>,
    groups: Arc<Semaphore>,
    recorder: mpsc::UnboundedSender<recorder::Msg>,
    /// Becomes `true` when the server stops.
    stop: watch::Sender<bool>,
}

impl Engine {
    fn next_owner(&self) -> String {
        let n = self.claims.fetch_add(1, Ordering::Relaxed);
        format!("{}:{n}", self.owner_prefix)
    }

    /// How long a claim of `rows` rows may take before another instance may take them over.
    fn lease_secs(&self, rows: i64) -> i64 {
        match self.lease {
            Some(seconds) => seconds as i64,
            None => self.timeout.as_secs() as i64 * rows + 60,
        }
    }

    fn is_stopping(&self) -> bool {
        *self.stop.borrow()
    }
}

/// The running engine; [`Dispatcher::stop`] drains it.
pub struct Dispatcher {
    engine: Arc<Engine>,
    workers: Vec<JoinHandle<()>>,
    recorder: JoinHandle<()>,
}

impl Dispatcher {
    /// Starts the workers and the recorder.
    pub fn start(state: AppState) -> anyhow::Result<Dispatcher> {
        let settings = &state.config.delivery;
        let timeout = Duration::from_secs_f64(settings.delivery_timeout.max(0.001));
        let client = client::DeliveryClient::new(timeout, settings.refuse_private_targets)?;
        let (sender, receiver) = mpsc::unbounded_channel();
        let engine = Arc::new(Engine {
            client,
            portal: payload::Portal {
                domain: state.portal.domain.clone(),
                client_endpoint: state.client_endpoint(),
                server_endpoint: state.server_endpoint(),
                member_id: state.portal.member_id.clone(),
            },
            gates: throttle::Gates::default(),
            schedule: settings.retry_schedule.clone(),
            timeout,
            lease: settings.delivery_lease,
            sweep: Duration::from_millis(settings.dispatch_sweep_ms.max(10)),
            owner_prefix: format!("{}.{}", std::process::id(), b24lite_store::random::token(8)),
            claims: AtomicU64::new(0),
            claim_lock: Mutex::new(()),
            groups: Arc::new(Semaphore::new(MAX_GROUPS)),
            recorder: sender,
            stop: watch::Sender::new(false),
            state: state.clone(),
        });
        let recorder = tokio::spawn(recorder::run(state.clone(), receiver));
        let workers = (0..settings.delivery_workers)
            .map(|_| tokio::spawn(worker::run(engine.clone())))
            .collect();
        Ok(Dispatcher {
            engine,
            workers,
            recorder,
        })
    }

    /// Stops claiming, waits for requests in flight (each bounded by the timeout), releases
    /// rows not yet sent, and writes every outcome before returning.
    pub async fn stop(self) {
        self.engine.stop.send_replace(true);
        for worker in self.workers {
            let _ = worker.await;
        }
        let _ = self.engine.groups.acquire_many(MAX_GROUPS as u32).await;
        let (done, flushed) = tokio::sync::oneshot::channel();
        if self
            .engine
            .recorder
            .send(recorder::Msg::Flush(done))
            .is_ok()
        {
            let _ = flushed.await;
        }
        drop(self.engine);
        self.recorder.abort();
    }
}
