//! The event handler under the benchmark: answers every delivery at once with 200 and notes
//! which subscriber got which field's event, and when. In process, so that receipt times and
//! the REST client's response times come from one monotonic clock.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::routing::post;

/// One delivery as received.
#[derive(Debug, Clone)]
pub struct Receipt {
    pub subscriber: usize,
    pub field_name: String,
    pub at: Instant,
}

/// Everything received since the last [`Receipts::take`].
#[derive(Debug, Default)]
pub struct Receipts {
    list: Mutex<Vec<Receipt>>,
    count: AtomicUsize,
}

impl Receipts {
    pub fn count(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    /// Waits until `n` deliveries arrived; `false` if `patience` passes with none arriving.
    pub async fn wait_for(&self, n: usize, patience: Duration) -> bool {
        let mut seen = self.count();
        let mut last_progress = Instant::now();
        while seen < n {
            tokio::time::sleep(Duration::from_millis(5)).await;
            let now_seen = self.count();
            if now_seen != seen {
                (seen, last_progress) = (now_seen, Instant::now());
            } else if last_progress.elapsed() > patience {
                return false;
            }
        }
        true
    }

    /// Hands over what was received and starts afresh.
    pub fn take(&self) -> Vec<Receipt> {
        let mut list = self.list.lock().expect("receipts lock");
        self.count.store(0, Ordering::Release);
        std::mem::take(&mut *list)
    }
}

/// Serves `POST /h/{subscriber}` on a free loopback port.
pub async fn start(receipts: Arc<Receipts>) -> anyhow::Result<SocketAddr> {
    let app = Router::new()
        .route("/h/{subscriber}", post(receive))
        .with_state(receipts);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(address)
}

async fn receive(
    State(receipts): State<Arc<Receipts>>,
    Path(subscriber): Path<usize>,
    body: Bytes,
) -> &'static str {
    let at = Instant::now();
    let field_name = form_urlencoded::parse(&body)
        .find(|(key, _)| key == "data[FIELDS][FIELD_NAME]")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default();
    // Counted under the lock, so that `take` never sees a receipt without its count.
    let mut list = receipts.list.lock().expect("receipts lock");
    list.push(Receipt {
        subscriber,
        field_name,
        at,
    });
    receipts.count.fetch_add(1, Ordering::AcqRel);
    "ok"
}
