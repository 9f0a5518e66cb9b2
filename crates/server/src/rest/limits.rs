//! Request-rate and operating-time limits (`rest-protocol.md` §10.2-10.3, decision 10).
//!
//! - Rate: a leaky bucket per credential (webhook or application) on this portal. Each request
//!   (a whole `batch` counts once) adds 1; the counter drains at a fixed rate; a request that
//!   would push it above the limit gets 503 `QUERY_LIMIT_EXCEEDED` and adds nothing.
//! - Operating time: per (method, credential), the execution seconds of the last 10 minutes in
//!   one-minute buckets, each living 10 minutes from its first call. When the sum already exceeds
//!   the budget, the call gets 429 `OPERATION_TIME_LIMIT`; the call that crosses it completes.
//!
//! Where the counters live: on PostgreSQL, which several instances may share, in the database
//! (`b24lite_store::rate` and `b24lite_store::operating`), so that together they allow what one
//! server would; on SQLite, where one process owns the file, in this process's memory, with the
//! same rules. Without `--operating-limit`, `time.operating` is counted in memory either way (it
//! is then informative only, and a database write per call would buy nothing).

use std::collections::HashMap;
use std::sync::Mutex;

use b24lite_core::RestError;
use b24lite_store::{Dialect, Store, StoreError, operating, rate};

use crate::config::RateLimit;

const OPERATING_WINDOW: f64 = operating::WINDOW;

#[derive(Debug)]
pub struct Limits {
    rate: RateLimit,
    operating_limit: Option<f64>,
    /// Where the buckets live when they are shared: the PostgreSQL store.
    shared: Option<Store>,
    buckets: Mutex<HashMap<String, Bucket>>,
    operating: Mutex<HashMap<(String, String), Vec<MinuteBucket>>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    level: f64,
    updated_at: f64,
}

#[derive(Debug, Clone, Copy)]
struct MinuteBucket {
    first_call_at: f64,
    minute: i64,
    seconds: f64,
}

impl Limits {
    pub fn new(rate: RateLimit, operating_limit: Option<f64>) -> Self {
        Limits {
            rate,
            operating_limit,
            shared: None,
            buckets: Mutex::default(),
            operating: Mutex::default(),
        }
    }

    /// Keeps the buckets in `store` when it is PostgreSQL, which instances may share.
    pub fn shared_through(mut self, store: &Store) -> Self {
        if store.dialect() == Dialect::Postgres {
            self.shared = Some(store.clone());
        }
        self
    }

    /// Admits or refuses one request of `key` at time `now` (float seconds).
    pub async fn admit(&self, key: &str, now: f64) -> Result<(), RestError> {
        let RateLimit::Bucket { drain, limit } = self.rate else {
            return Ok(());
        };
        let Some(store) = &self.shared else {
            return self.admit_in_memory(key, now, drain, limit);
        };

        let bucket = rate::Bucket { drain, limit };
        let admitted = async {
            let mut conn = store.pool().acquire().await?;
            rate::admit(&mut conn, key, now, bucket).await
        };
        match admitted.await {
            Ok(true) => Ok(()),
            Ok(false) => Err(RestError::query_limit_exceeded()),
            Err(error) => {
                tracing::error!(%error, "reading the rate bucket failed");
                Err(RestError::internal())
            }
        }
    }

    fn admit_in_memory(
        &self,
        key: &str,
        now: f64,
        drain: f64,
        limit: f64,
    ) -> Result<(), RestError> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let bucket = buckets.entry(key.to_string()).or_insert(Bucket {
            level: 0.0,
            updated_at: now,
        });
        let drained = (bucket.level - (now - bucket.updated_at).max(0.0) * drain).max(0.0);
        bucket.updated_at = now;
        bucket.level = drained;
        if drained + 1.0 > limit {
            return Err(RestError::query_limit_exceeded());
        }
        bucket.level += 1.0;
        Ok(())
    }

    /// Refuses a call whose method budget is already exceeded.
    pub async fn check_operating(
        &self,
        key: &str,
        method: &str,
        now: f64,
    ) -> Result<(), RestError> {
        let Some(limit) = self.operating_limit else {
            return Ok(());
        };
        let (operating, _) = match self.shared_operating() {
            Some(store) => load_shared(store, key, method, now)
                .await
                .map_err(|error| {
                    tracing::error!(%error, "reading the operating time failed");
                    RestError::internal()
                })?,
            None => self.operating_in_memory(key, method, now),
        };
        if operating > limit {
            return Err(RestError::operation_time_limit());
        }
        Ok(())
    }

    /// Records `seconds` of execution of `method` by `key`, started at `started_at`.
    pub async fn record_operating(&self, key: &str, method: &str, started_at: f64, seconds: f64) {
        let method = method.to_lowercase();
        let Some(store) = self.shared_operating() else {
            return self.record_in_memory(key, method, started_at, seconds);
        };
        let recorded = async {
            let mut conn = store.pool().acquire().await?;
            operating::record(&mut conn, key, &method, started_at, seconds).await
        };
        // The call has run: a failure here costs the budget a few seconds, not the answer.
        if let Err(error) = recorded.await {
            tracing::warn!(%error, "recording the operating time failed");
        }
    }

    fn shared_operating(&self) -> Option<&Store> {
        self.operating_limit.and(self.shared.as_ref())
    }

    fn record_in_memory(&self, key: &str, method: String, started_at: f64, seconds: f64) {
        let mut all = self.operating.lock().unwrap_or_else(|e| e.into_inner());
        let buckets = all.entry((key.to_string(), method)).or_default();
        buckets.retain(|b| b.first_call_at + OPERATING_WINDOW > started_at);
        let minute = (started_at / 60.0).floor() as i64;
        match buckets.last_mut() {
            Some(last) if last.minute == minute => last.seconds += seconds,
            _ => buckets.push(MinuteBucket {
                first_call_at: started_at,
                minute,
                seconds,
            }),
        }
    }

    /// `(operating, operating_reset_at)` for the `time` block.
    pub async fn operating(&self, key: &str, method: &str, now: f64) -> (f64, i64) {
        let Some(store) = self.shared_operating() else {
            return self.operating_in_memory(key, method, now);
        };
        load_shared(store, key, method, now)
            .await
            .unwrap_or_else(|error| {
                tracing::warn!(%error, "reading the operating time failed");
                (0.0, (now + OPERATING_WINDOW).floor() as i64)
            })
    }

    fn operating_in_memory(&self, key: &str, method: &str, now: f64) -> (f64, i64) {
        let mut all = self.operating.lock().unwrap_or_else(|e| e.into_inner());
        let Some(buckets) = all.get_mut(&(key.to_string(), method.to_lowercase())) else {
            return (0.0, (now + OPERATING_WINDOW).floor() as i64);
        };
        buckets.retain(|b| b.first_call_at + OPERATING_WINDOW > now);
        let sum = buckets.iter().map(|b| b.seconds).sum();
        let reset_at = buckets.first().map_or(now, |b| b.first_call_at) + OPERATING_WINDOW;
        (sum, reset_at.floor() as i64)
    }
}

/// `(operating, operating_reset_at)` from the shared buckets.
async fn load_shared(
    store: &Store,
    key: &str,
    method: &str,
    now: f64,
) -> Result<(f64, i64), StoreError> {
    let mut conn = store.pool().acquire().await?;
    let (sum, oldest) = operating::load(&mut conn, key, &method.to_lowercase(), now).await?;
    Ok((
        sum,
        (oldest.unwrap_or(now) + OPERATING_WINDOW).floor() as i64,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bucket_blocks_above_the_limit_and_drains() {
        let limits = Limits::new(
            RateLimit::Bucket {
                drain: 2.0,
                limit: 50.0,
            },
            None,
        );
        for _ in 0..50 {
            limits.admit("k", 100.0).await.unwrap();
        }
        assert_eq!(
            limits.admit("k", 100.0).await.unwrap_err().code,
            "QUERY_LIMIT_EXCEEDED"
        );
        // Refused requests add nothing: one second later two places are free again.
        limits.admit("k", 101.0).await.unwrap();
        limits.admit("k", 101.0).await.unwrap();
        assert!(limits.admit("k", 101.0).await.is_err());
        // Another credential has its own bucket.
        limits.admit("other", 101.0).await.unwrap();
    }

    #[tokio::test]
    async fn off_admits_everything() {
        let limits = Limits::new(RateLimit::Off, None);
        for _ in 0..1000 {
            limits.admit("k", 1.0).await.unwrap();
        }
    }

    #[tokio::test]
    async fn operating_time_follows_the_documented_example() {
        // Limit 480 s, calls of 20 s: after 25 calls (500 s) the next one is refused; when the
        // oldest bucket expires the method is open again.
        let limits = Limits::new(RateLimit::Off, Some(480.0));
        for i in 0..25 {
            let at = 1000.0 + f64::from(i) * 20.0;
            limits.check_operating("k", "crm.x", at).await.unwrap();
            limits.record_operating("k", "crm.x", at, 20.0).await;
        }
        let err = limits
            .check_operating("k", "crm.x", 1500.0)
            .await
            .unwrap_err();
        assert_eq!(
            (err.status, err.code.as_str()),
            (429, "OPERATION_TIME_LIMIT")
        );
        let other = limits.check_operating("k", "other.method", 1500.0).await;
        assert!(other.is_ok());
        let (operating, reset_at) = limits.operating("k", "crm.x", 1500.0).await;
        assert_eq!((operating, reset_at), (500.0, 1600));
        assert!(limits.check_operating("k", "crm.x", 1600.0).await.is_ok());
    }
}
