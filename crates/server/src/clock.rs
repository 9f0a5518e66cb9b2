//! The server's time source.
//!
//! Everything that depends on time (token expiry, retry schedules, `ts`, the `time` block) reads
//! [`Clock::now`]. In production it is the system clock. A server started with
//! `--allow-clock-control` lets tests move it forward through the admin API, so expiry and
//! back-off can be tested without sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The system clock plus an offset that only tests move. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    offset_micros: Arc<AtomicI64>,
}

impl Clock {
    /// Microseconds since the Unix epoch.
    pub fn now_micros(&self) -> i64 {
        let system = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as i64);
        system + self.offset_micros.load(Ordering::Relaxed)
    }

    /// Seconds since the Unix epoch as a float, as Bitrix24's `time` block prints them.
    pub fn now_f64(&self) -> f64 {
        self.now_micros() as f64 / 1_000_000.0
    }

    /// Whole seconds since the Unix epoch.
    pub fn now(&self) -> i64 {
        self.now_micros().div_euclid(1_000_000)
    }

    /// Moves the clock forward (tests only; the admin API guards it).
    pub fn advance(&self, seconds: i64) {
        self.offset_micros
            .fetch_add(seconds * 1_000_000, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_moves_every_clone() {
        let clock = Clock::default();
        let copy = clock.clone();
        let before = copy.now();
        clock.advance(3600);
        assert!(copy.now() >= before + 3600);
    }
}
