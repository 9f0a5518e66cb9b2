//! Per-handler throttling, so one slow handler never delays the others.
//!
//! Gates are keyed by subscriber (an outgoing webhook, i.e. one handler URL and all its handler
//! rows). Within one server, a subscriber receives one request at a time, in queue order: while
//! a worker sends its deliveries it is *busy* and other claims skip its rows. A reply
//! slower than [`SLOW`] or a timeout is a *strike*: the handler then cools down for 1, 2, 4 ...
//! seconds (at most [`MAX_GAP`]) before its next request, and claims skip it meanwhile; a fast
//! reply clears the strikes. Bitrix24 documents the idea ("lower priority and longer gaps") but
//! not its numbers (§13.1); these are ours. Cool-downs use the monotonic clock, not the movable
//! portal clock. Several instances each apply their own gates.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A reply slower than this counts against the handler.
pub const SLOW: Duration = Duration::from_secs(1);
/// The longest cool-down.
pub const MAX_GAP: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
struct Gate {
    busy: bool,
    strikes: u32,
    cool_until: Option<Instant>,
}

#[derive(Debug, Default)]
pub struct Gates {
    inner: Mutex<HashMap<i64, Gate>>,
}

impl Gates {
    /// Subscribers that must not be claimed now: busy or cooling down. Forgets idle handlers.
    pub fn excluded(&self) -> Vec<i64> {
        let now = Instant::now();
        let mut gates = self.lock();
        gates.retain(|_, gate| gate.busy || gate.strikes > 0);
        let mut ids: Vec<i64> = gates
            .iter()
            .filter(|(_, gate)| gate.busy || gate.cool_until.is_some_and(|until| until > now))
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        ids
    }

    pub fn mark_busy(&self, key: i64) {
        self.lock().entry(key).or_default().busy = true;
    }

    pub fn release(&self, key: i64) {
        if let Some(gate) = self.lock().get_mut(&key) {
            gate.busy = false;
        }
    }

    /// Whether the subscriber is cooling down now.
    pub fn cooling(&self, key: i64) -> bool {
        let now = Instant::now();
        self.lock()
            .get(&key)
            .and_then(|gate| gate.cool_until)
            .is_some_and(|until| until > now)
    }

    /// Records how a subscriber answered.
    pub fn observe(&self, key: i64, latency: Duration, timed_out: bool) {
        let mut gates = self.lock();
        let gate = gates.entry(key).or_default();
        if timed_out || latency > SLOW {
            gate.strikes = gate.strikes.saturating_add(1);
            let gap = Duration::from_secs(1 << gate.strikes.min(7).saturating_sub(1)).min(MAX_GAP);
            gate.cool_until = Some(Instant::now() + gap);
        } else {
            gate.strikes = 0;
            gate.cool_until = None;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Gate>> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_and_slow_handlers_are_skipped() {
        let gates = Gates::default();
        gates.mark_busy(1);
        gates.mark_busy(2);
        gates.observe(2, Duration::from_millis(10), false);
        gates.release(2);
        assert_eq!(gates.excluded(), [1]);

        gates.observe(3, Duration::from_secs(3), false);
        assert!(gates.cooling(3));
        assert_eq!(gates.excluded(), [1, 3]);
        gates.observe(3, Duration::from_millis(5), false);
        assert!(!gates.cooling(3));
    }
}
