//! The sender's own health, as metrics in the registry it sends (so every road out carries
//! it), plus the same figures as plain atomics for [`Pusher::report`](crate::Pusher::report).
//!
//! | metric (registry name) | kind | labels |
//! |---|---|---|
//! | `aureon_push_samples_sent` | counter | `protocol` |
//! | `aureon_push_samples_dropped` | counter | `protocol`, `reason` ([`DropReason`]) |
//! | `aureon_push_requests_sent` | counter | `protocol` |
//! | `aureon_push_retries` | counter | `protocol` |
//! | `aureon_push_send_duration` | histogram (µs) | `protocol` |
//! | `aureon_push_queue_bytes` | gauge | `protocol` |

use crate::protocol::DropReason;
use aureon_telemetry::{Counter, Gauge, Histogram, Registry};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// The self-metric handles of one pusher (no-ops when it has no registry).
#[derive(Debug, Clone)]
pub struct SelfMetrics {
    sent: Counter,
    requests: Counter,
    dropped: [Counter; DropReason::ALL.len()],
    retries: Counter,
    duration: Histogram,
    queue_bytes: Gauge,
}

impl SelfMetrics {
    /// Registers the handles for `protocol` in `registry` (`None`: detached handles that
    /// record but are never exported).
    pub fn new(registry: Option<&Registry>, protocol: &str) -> Self {
        let p = [("protocol", protocol)];
        match registry {
            Some(r) => {
                let _ = r.describe(
                    "aureon_push_samples_sent",
                    "Samples delivered by the push exporters.",
                );
                let _ = r.describe(
                    "aureon_push_samples_dropped",
                    "Samples the push exporters gave up on, by reason.",
                );
                let _ = r.describe(
                    "aureon_push_requests_sent",
                    "Requests the push exporters delivered.",
                );
                let _ = r.describe(
                    "aureon_push_retries",
                    "Requests the push exporters sent again after a retryable failure.",
                );
                let _ = r.describe(
                    "aureon_push_send_duration",
                    "Time of each push request, answered or not.",
                );
                let _ = r.describe(
                    "aureon_push_queue_bytes",
                    "Bytes of requests waiting in the push queue.",
                );
                Self {
                    sent: r.counter_with("aureon_push_samples_sent", &p),
                    requests: r.counter_with("aureon_push_requests_sent", &p),
                    dropped: DropReason::ALL.map(|reason| {
                        r.counter_with(
                            "aureon_push_samples_dropped",
                            &[("protocol", protocol), ("reason", reason.as_str())],
                        )
                    }),
                    retries: r.counter_with("aureon_push_retries", &p),
                    duration: r.histogram_with("aureon_push_send_duration", &p),
                    queue_bytes: r.gauge_with("aureon_push_queue_bytes", &p),
                }
            }
            None => Self {
                sent: Counter::new(),
                requests: Counter::new(),
                dropped: DropReason::ALL.map(|_| Counter::new()),
                retries: Counter::new(),
                duration: Histogram::with_default_config(),
                queue_bytes: Gauge::new(),
            },
        }
    }
}

/// The figures of a pusher, shared between its thread and its handle.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) sent: AtomicU64,
    pub(crate) requests: AtomicU64,
    pub(crate) dropped: [AtomicU64; DropReason::ALL.len()],
    pub(crate) retries: AtomicU64,
    pub(crate) queue_bytes: AtomicU64,
    pub(crate) snapshots: AtomicU64,
}

/// Both at once: the registry's handles and the shared atomics.
#[derive(Debug)]
pub(crate) struct Recorder {
    pub(crate) metrics: SelfMetrics,
    pub(crate) stats: std::sync::Arc<Stats>,
}

impl Recorder {
    pub(crate) fn delivered(&self, samples: u64) {
        self.metrics.sent.increment(samples);
        self.metrics.requests.increment(1);
        self.stats.sent.fetch_add(samples, Relaxed);
        self.stats.requests.fetch_add(1, Relaxed);
    }

    pub(crate) fn dropped(&self, reason: DropReason, samples: u64) {
        let i = DropReason::ALL
            .iter()
            .position(|r| *r == reason)
            .expect("listed");
        self.metrics.dropped[i].increment(samples);
        self.stats.dropped[i].fetch_add(samples, Relaxed);
    }

    pub(crate) fn retried(&self) {
        self.metrics.retries.increment(1);
        self.stats.retries.fetch_add(1, Relaxed);
    }

    pub(crate) fn took(&self, d: Duration) {
        self.metrics.duration.record_duration(d);
    }

    pub(crate) fn queue(&self, bytes: usize) {
        self.metrics.queue_bytes.set(bytes as f64);
        self.stats.queue_bytes.store(bytes as u64, Relaxed);
    }

    pub(crate) fn snapshot_queued(&self) {
        self.stats.snapshots.fetch_add(1, Relaxed);
    }
}
