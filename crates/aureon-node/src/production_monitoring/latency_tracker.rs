//! [`LatencyTracker`]: the seed's latency statistics, on the core's lock-free HDR histogram.
//!
//! Recording is the core's `Histogram::record` (a per-thread shard, no lock, no shared cache
//! line), so one tracker can be shared by any number of threads. Every statistic merges the
//! shards into a snapshot: min, max, mean and count are exact; quantiles follow HdrHistogram's
//! nearest-rank definition and never leave the exact `[min, max]`.

use aureon_telemetry::{Histogram, HistogramConfig, HistogramSnapshot, Unit};
use std::fmt;
use std::time::Duration;

/// Latency statistics for one operation, in microseconds.
///
/// ```
/// use aureon_node::production_monitoring::LatencyTracker;
/// let tracker = LatencyTracker::new("block_processing");
/// for us in [1500, 2300, 980, 1200, 5500] {
///     tracker.record_latency_us(us);
/// }
/// assert_eq!(tracker.average_latency(), 2296.0); // 11480 / 5, exact
/// assert_eq!((tracker.min_latency(), tracker.max_latency()), (980, 5500));
/// assert_eq!((tracker.p95_latency(), tracker.p99_latency()), (5500, 5500));
/// assert_eq!(tracker.sample_count(), 5);
/// ```
///
/// Values up to one hour (3.6e9 µs) are binned with 3 significant figures; larger values
/// still count exactly in count, min, max and mean, and are binned at the top of the range
/// ([`HistogramSnapshot::clamped`]). Nothing panics, whatever the value.
#[derive(Clone)]
pub struct LatencyTracker {
    name: String,
    histogram: Histogram,
}

impl fmt::Debug for LatencyTracker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LatencyTracker")
            .field("name", &self.name)
            .field("samples", &self.sample_count())
            .finish()
    }
}

/// A quantile outside `0.0 ..= 1.0` (or NaN) was asked of a [`LatencyTracker`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuantileError {
    /// The quantile that was asked for.
    pub quantile: f64,
}

impl fmt::Display for QuantileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "quantile {} is not in 0.0 ..= 1.0", self.quantile)
    }
}

impl std::error::Error for QuantileError {}

/// All of a tracker's statistics, taken from one snapshot (so they agree with each other
/// even while other threads record).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatencyStats {
    /// Number of samples.
    pub count: u64,
    /// Exact mean in µs (0 when empty).
    pub mean: f64,
    /// Exact minimum in µs (0 when empty).
    pub min: u64,
    /// Exact maximum in µs (0 when empty).
    pub max: u64,
    /// Median in µs.
    pub p50: u64,
    /// 95th percentile in µs.
    pub p95: u64,
    /// 99th percentile in µs.
    pub p99: u64,
}

impl LatencyTracker {
    /// An empty tracker for the operation `name`, with its own histogram (microseconds, 1 µs
    /// to 1 h, 3 significant figures).
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            histogram: Histogram::new(HistogramConfig::with_unit(Unit::Microseconds))
                .expect("the default range with microseconds is a valid configuration"),
        }
    }

    /// A tracker over an existing histogram handle, e.g. one from a
    /// [`aureon_telemetry::Registry`], so that what it records is also exported. Values are
    /// taken to be in the histogram's unit; the tracker's methods speak of µs, so give it a
    /// histogram whose unit is [`Unit::Microseconds`].
    pub fn with_histogram(name: impl Into<String>, histogram: Histogram) -> Self {
        Self {
            name: name.into(),
            histogram,
        }
    }

    /// The operation's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The underlying histogram handle.
    pub fn histogram(&self) -> &Histogram {
        &self.histogram
    }

    /// Records one latency in microseconds.
    #[inline]
    pub fn record_latency_us(&self, us: u64) {
        self.histogram.record(us);
    }

    /// Records one latency given as a [`Duration`] (truncated to whole microseconds,
    /// saturating).
    #[inline]
    pub fn record_duration(&self, d: Duration) {
        self.histogram
            .record(u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    }

    /// A merged snapshot of everything recorded so far.
    pub fn snapshot(&self) -> HistogramSnapshot {
        self.histogram.snapshot()
    }

    /// Every statistic from one snapshot.
    pub fn stats(&self) -> LatencyStats {
        let s = self.snapshot();
        LatencyStats {
            count: s.count(),
            mean: s.mean(),
            min: s.min(),
            max: s.max(),
            p50: s.p50(),
            p95: s.p95(),
            p99: s.p99(),
        }
    }

    /// The exact mean in µs, or 0 when nothing was recorded. (An `f64`, so `{}` prints `2296`
    /// for the seed's samples and keeps fractions when there are any.)
    pub fn average_latency(&self) -> f64 {
        self.snapshot().mean()
    }

    /// The exact smallest latency in µs, or 0 when nothing was recorded.
    pub fn min_latency(&self) -> u64 {
        self.snapshot().min()
    }

    /// The exact largest latency in µs, or 0 when nothing was recorded.
    pub fn max_latency(&self) -> u64 {
        self.snapshot().max()
    }

    /// The 95th percentile in µs (nearest rank; 0 when empty).
    pub fn p95_latency(&self) -> u64 {
        self.snapshot().p95()
    }

    /// The 99th percentile in µs (nearest rank; 0 when empty).
    pub fn p99_latency(&self) -> u64 {
        self.snapshot().p99()
    }

    /// Number of latencies recorded.
    pub fn sample_count(&self) -> u64 {
        self.snapshot().count()
    }

    /// The latency at quantile `q` (`0.0 ..= 1.0`) in µs, nearest rank as HdrHistogram
    /// defines it, limited to the exact `[min, max]`; 0 when empty.
    ///
    /// # Errors
    /// [`QuantileError`] when `q` is NaN or outside `0.0 ..= 1.0`.
    pub fn value_at_quantile(&self, q: f64) -> Result<u64, QuantileError> {
        if !(0.0..=1.0).contains(&q) {
            return Err(QuantileError { quantile: q });
        }
        Ok(self.snapshot().value_at_quantile(q))
    }
}
