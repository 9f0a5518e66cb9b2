//! What an attempt's reply means for its delivery, per policy (decision 24).
//!
//! - `bitrix` (the default, as Bitrix24 does): one attempt; only HTTP 200 counts as delivered;
//!   anything else is `failed` and logged.
//! - `retry`: any 2xx counts. After a failed attempt the next one is scheduled after the
//!   schedule's next delay (default: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, i.e. the first
//!   attempt immediately and eight attempts in all) with ±20 % jitter. A `Retry-After` header in
//!   seconds replaces the delay, bounded to 1 s..10 h (HTTP-date values are ignored). When the
//!   schedule is exhausted the delivery is `failed`.

use b24lite_store::outgoing::Policy;
use rand::Rng;

use super::client::{Reply, class};

/// Upper bound of a `Retry-After` we honour, in seconds.
pub const RETRY_AFTER_MAX: u64 = 36_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    /// Try again at this Unix second.
    RetryAt(i64),
    Failed,
}

/// Whether a reply counts as delivered under a policy.
pub fn is_success(policy: Policy, reply: &Reply) -> bool {
    match (reply.error, reply.status) {
        (None, Some(200)) => true,
        (None, Some(status)) => policy == Policy::Retry && (200..300).contains(&status),
        _ => false,
    }
}

/// The `error_class` of an attempt: `None` for success.
pub fn error_class(policy: Policy, reply: &Reply) -> Option<&'static str> {
    if is_success(policy, reply) {
        return None;
    }
    Some(match (reply.error, reply.status) {
        (Some(class), _) => class,
        (None, Some(status)) if (300..400).contains(&status) => class::REDIRECT,
        _ => class::HTTP_STATUS,
    })
}

/// Decides the fate of a delivery after its `attempts_made`-th attempt got `reply` at `now`.
pub fn decide(
    policy: Policy,
    schedule: &[u64],
    attempts_made: i64,
    reply: &Reply,
    now: i64,
) -> Verdict {
    if is_success(policy, reply) {
        return Verdict::Delivered;
    }
    if policy == Policy::Bitrix {
        return Verdict::Failed;
    }
    let index = usize::try_from(attempts_made - 1).unwrap_or(0);
    let Some(&delay) = schedule.get(index) else {
        return Verdict::Failed;
    };
    let delay = match reply.retry_after {
        Some(asked) => asked.clamp(1, RETRY_AFTER_MAX),
        None => jitter(delay),
    };
    Verdict::RetryAt(now + delay as i64)
}

/// `delay` ± 20 %, rounded to whole seconds.
fn jitter(delay: u64) -> u64 {
    let factor: f64 = rand::rng().random_range(0.8..=1.2);
    (delay as f64 * factor).round() as u64
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn reply(status: Option<u16>, error: Option<&'static str>) -> Reply {
        Reply {
            status,
            latency: Duration::ZERO,
            error,
            body: String::new(),
            retry_after: None,
        }
    }

    const SCHEDULE: &[u64] = &[5, 300];

    #[test]
    fn bitrix_counts_only_200_and_never_retries() {
        let r = reply(Some(200), None);
        assert_eq!(
            decide(Policy::Bitrix, SCHEDULE, 1, &r, 0),
            Verdict::Delivered
        );
        let r = reply(Some(202), None);
        assert_eq!(decide(Policy::Bitrix, SCHEDULE, 1, &r, 0), Verdict::Failed);
        assert_eq!(error_class(Policy::Bitrix, &r), Some(class::HTTP_STATUS));
        let r = reply(Some(302), None);
        assert_eq!(error_class(Policy::Bitrix, &r), Some(class::REDIRECT));
    }

    #[test]
    fn retry_follows_the_schedule_with_jitter() {
        let r = reply(Some(202), None);
        assert_eq!(
            decide(Policy::Retry, SCHEDULE, 1, &r, 0),
            Verdict::Delivered
        );
        let r = reply(None, Some(class::TIMEOUT));
        for _ in 0..50 {
            let Verdict::RetryAt(at) = decide(Policy::Retry, SCHEDULE, 2, &r, 1000) else {
                panic!("expected a retry");
            };
            assert!((1240..=1360).contains(&at), "{at}");
        }
        assert_eq!(decide(Policy::Retry, SCHEDULE, 3, &r, 0), Verdict::Failed);
    }

    #[test]
    fn retry_after_is_bounded() {
        let mut r = reply(Some(503), None);
        r.retry_after = Some(120);
        assert_eq!(
            decide(Policy::Retry, SCHEDULE, 1, &r, 0),
            Verdict::RetryAt(120)
        );
        r.retry_after = Some(10_000_000);
        assert_eq!(
            decide(Policy::Retry, SCHEDULE, 1, &r, 0),
            Verdict::RetryAt(RETRY_AFTER_MAX as i64)
        );
    }
}
