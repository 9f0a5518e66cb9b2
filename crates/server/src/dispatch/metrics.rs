//! Counters of the delivery engine and the Prometheus text exposition of `GET /metrics`.
//!
//! Written by hand (format 0.0.4): no metrics crate in the workspace, and the set is small.
//! Counts that several processes share (events fired, deliveries by status, queue depth) are
//! read from the store at scrape time; attempt outcomes and latencies are this process's own.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

#[derive(Debug, Default)]
pub struct Metrics {
    succeeded: AtomicU64,
    failed: AtomicU64,
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Metrics {
    pub fn record_attempt(&self, success: bool, latency: Duration) {
        let counter = if success {
            &self.succeeded
        } else {
            &self.failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let seconds = latency.as_secs_f64();
        for (bound, bucket) in BUCKETS.iter().zip(&self.buckets) {
            if seconds <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add(latency.as_micros() as u64, Ordering::Relaxed);
    }

    /// The exposition text, given the store's counts.
    pub fn render(&self, events: &[(String, i64)], deliveries: &[(String, i64)]) -> String {
        let mut out = String::new();
        family(
            &mut out,
            "b24lite_events_total",
            "counter",
            "Events recorded, by name.",
        );
        for (name, n) in events {
            let _ = writeln!(out, "b24lite_events_total{{event=\"{name}\"}} {n}");
        }
        family(
            &mut out,
            "b24lite_deliveries",
            "gauge",
            "Deliveries in the store, by status.",
        );
        for status in ["pending", "delivered", "failed", "dropped"] {
            let n = deliveries
                .iter()
                .find(|(s, _)| s == status)
                .map_or(0, |(_, n)| *n);
            let _ = writeln!(out, "b24lite_deliveries{{status=\"{status}\"}} {n}");
        }
        let depth = deliveries
            .iter()
            .find(|(s, _)| s == "pending")
            .map_or(0, |(_, n)| *n);
        family(
            &mut out,
            "b24lite_queue_depth",
            "gauge",
            "Deliveries waiting to be sent.",
        );
        let _ = writeln!(out, "b24lite_queue_depth {depth}");
        self.render_attempts(&mut out);
        out
    }

    fn render_attempts(&self, out: &mut String) {
        let help = "Delivery attempts made by this process, by outcome.";
        family(out, "b24lite_delivery_attempts_total", "counter", help);
        for (outcome, counter) in [("success", &self.succeeded), ("failure", &self.failed)] {
            let n = counter.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "b24lite_delivery_attempts_total{{outcome=\"{outcome}\"}} {n}"
            );
        }
        let name = "b24lite_delivery_attempt_duration_seconds";
        family(
            out,
            name,
            "histogram",
            "Time from sending a delivery to its reply.",
        );
        for (bound, bucket) in BUCKETS.iter().zip(&self.buckets) {
            let n = bucket.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {n}");
        }
        let count = self.count.load(Ordering::Relaxed);
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_sum {sum}");
        let _ = writeln!(out, "{name}_count {count}");
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_and_histogram() {
        let metrics = Metrics::default();
        metrics.record_attempt(true, Duration::from_millis(20));
        metrics.record_attempt(false, Duration::from_secs(6));
        let text = metrics.render(&[("ONX".into(), 3)], &[("pending".into(), 2)]);
        assert!(text.contains("b24lite_events_total{event=\"ONX\"} 3\n"));
        assert!(text.contains("b24lite_queue_depth 2\n"));
        assert!(text.contains("b24lite_deliveries{status=\"failed\"} 0\n"));
        assert!(text.contains("b24lite_delivery_attempts_total{outcome=\"failure\"} 1\n"));
        assert!(
            text.contains("b24lite_delivery_attempt_duration_seconds_bucket{le=\"0.025\"} 1\n")
        );
        assert!(text.contains("b24lite_delivery_attempt_duration_seconds_count 2\n"));
    }
}
