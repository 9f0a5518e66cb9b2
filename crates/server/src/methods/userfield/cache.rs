//! Recently rendered `crm.contact.userfield.get` answers, so that a hot field is served without
//! a store round trip or re-parsing its JSON columns.
//!
//! Correctness rests on three rules:
//! - every write of this server that can change what `get` shows (field add/update/delete, the
//!   application field types behind `USER_TYPE_OWNER`) calls [`FieldCache::invalidate`] after
//!   its commit;
//! - a reader notes the generation before it reads the store and stores its answer only if no
//!   invalidation happened meanwhile, so a read that raced a write never lands in the cache;
//! - changes made by other processes (another instance on PostgreSQL, an uninstall through the
//!   CLI) clear the cache when this server hears of them ([`crate::changes`]), and an entry is
//!   trusted for `--cache-ttl` (1 s) at most in case such a notice is lost. Field ids are never
//!   reused, so a deleted field is never confused with a new one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use b24lite_core::php_json::Rendered;

/// Fields kept at most; past that the cache starts afresh.
const CAPACITY: usize = 2048;

#[derive(Debug)]
pub struct FieldCache {
    /// How long a cached answer is trusted.
    ttl: Duration,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    generation: u64,
    answers: HashMap<i64, (Instant, Arc<Rendered>)>,
}

/// What a reader holds between noting the generation and storing its answer.
#[derive(Debug, Clone, Copy)]
pub struct Ticket(u64);

impl FieldCache {
    pub fn new(ttl: Duration) -> FieldCache {
        FieldCache {
            ttl,
            inner: Mutex::default(),
        }
    }

    /// A fresh answer for field `id`, if one is kept.
    pub fn get(&self, id: i64) -> Option<Arc<Rendered>> {
        let inner = self.lock();
        let (read_at, answer) = inner.answers.get(&id)?;
        (read_at.elapsed() < self.ttl).then(|| answer.clone())
    }

    /// Notes the generation before reading the store.
    pub fn ticket(&self) -> Ticket {
        Ticket(self.lock().generation)
    }

    /// Keeps an answer read under `ticket`, unless a write invalidated the cache since.
    pub fn put(&self, ticket: Ticket, id: i64, answer: Arc<Rendered>) {
        let mut inner = self.lock();
        if inner.generation != ticket.0 {
            return;
        }
        if inner.answers.len() >= CAPACITY {
            inner.answers.clear();
        }
        inner.answers.insert(id, (Instant::now(), answer));
    }

    /// Forgets every answer; call after committing a change that `get` would show.
    pub fn invalidate(&self) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.answers.clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn answer(text: &str) -> Arc<Rendered> {
        Arc::new(Rendered::new(json!(text)))
    }

    fn cached(cache: &FieldCache, id: i64) -> Option<serde_json::Value> {
        cache.get(id).map(|rendered| rendered.tree().clone())
    }

    #[test]
    fn a_read_that_raced_a_write_is_not_kept() {
        let cache = FieldCache::new(Duration::from_secs(1));
        let ticket = cache.ticket();
        cache.invalidate();
        cache.put(ticket, 1, answer("old"));
        assert_eq!(cached(&cache, 1), None);

        let ticket = cache.ticket();
        cache.put(ticket, 1, answer("current"));
        assert_eq!(cached(&cache, 1), Some(json!("current")));
        cache.invalidate();
        assert_eq!(cached(&cache, 1), None);
    }
}
