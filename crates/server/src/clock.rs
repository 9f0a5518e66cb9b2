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

    /// Moves the clock forward (tests only; the admin API guards it). Refuses a negative step
    /// and one that would put the clock more than [`MAX_AHEAD_SECS`] ahead of the system clock,
    /// so that arithmetic on times never overflows.
    pub fn advance(&self, seconds: i64) -> Result<(), OutOfRange> {
        let step = seconds
            .checked_mul(1_000_000)
            .filter(|step| *step >= 0)
            .ok_or(OutOfRange)?;
        self.offset_micros
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |offset| {
                offset
                    .checked_add(step)
                    .filter(|total| *total <= MAX_AHEAD_SECS * 1_000_000)
            })
            .map(|_| ())
            .map_err(|_| OutOfRange)
    }
}

/// How far ahead of the system clock the clock may be moved: a century.
pub const MAX_AHEAD_SECS: i64 = 100 * 366 * 86_400;

/// A clock step that is negative or would go past [`MAX_AHEAD_SECS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfRange;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_moves_every_clone() {
        let clock = Clock::default();
        let copy = clock.clone();
        let before = copy.now();
        clock.advance(3600).unwrap();
        assert!(copy.now() >= before + 3600);
    }

    #[test]
    fn steps_out_of_range_are_refused_and_change_nothing() {
        let clock = Clock::default();
        assert_eq!(clock.advance(-1), Err(OutOfRange));
        assert_eq!(clock.advance(i64::MAX), Err(OutOfRange));
        clock.advance(MAX_AHEAD_SECS - 10).unwrap();
        assert_eq!(clock.advance(11), Err(OutOfRange));
        assert!(clock.now() > 0, "the clock never wraps around");
    }
}
