//! The handles behind `metrics::Counter`, `Gauge` and `Histogram`: thin wrappers over the
//! core's handles, so recording through a held facade handle is the core's lock-free record
//! plus one virtual call (the facade's `Arc<dyn …Fn>`). No map is touched after registration.
//!
//! `Counter::absolute` needs a high-water mark shared by every handle of a metric: the core
//! counter keeps it ([`Counter::absolute`]), so it lives and dies with the series. Dropped
//! histogram values are counted per metric name ([`HistogramFamily`]), in counters registered
//! on the first bad value, never by a good one.

use crate::scale::{HistogramScale, Rejected};
use aureon_telemetry::{Counter, Gauge, Histogram, Registry};
use std::sync::{Arc, OnceLock};

/// The counter of histogram values the recorder dropped, labelled `metric` and `reason`.
pub const DROPPED_VALUES_METRIC: &str = "aureon_metrics_dropped_values_total";

/// A facade counter: the core's per-thread-cell counter.
#[derive(Clone)]
pub(crate) struct CounterHandle {
    pub(crate) counter: Counter,
}

impl metrics::CounterFn for CounterHandle {
    #[inline]
    fn increment(&self, value: u64) {
        self.counter.increment(value);
    }

    /// The core's [`Counter::absolute`]: raises the counter's high-water mark to `value` and
    /// adds what it rose by (exactly the largest value ever passed, however threads race).
    fn absolute(&self, value: u64) {
        self.counter.absolute(value);
    }
}

/// A facade gauge: the core's gauge.
#[derive(Clone)]
pub(crate) struct GaugeHandle {
    pub(crate) gauge: Gauge,
}

impl metrics::GaugeFn for GaugeHandle {
    fn increment(&self, value: f64) {
        self.gauge.add(value);
    }

    fn decrement(&self, value: f64) {
        self.gauge.sub(value);
    }

    #[inline]
    fn set(&self, value: f64) {
        self.gauge.set(value);
    }
}

/// What all histograms of one metric name share: the scale fixed at the name's first
/// registration, and the counters of dropped values (registered on first use).
pub(crate) struct HistogramFamily {
    pub(crate) name: Arc<str>,
    pub(crate) scale: HistogramScale,
    registry: Registry,
    dropped: [OnceLock<Counter>; Rejected::ALL.len()],
}

impl HistogramFamily {
    pub(crate) fn new(name: Arc<str>, scale: HistogramScale, registry: Registry) -> Self {
        Self {
            name,
            scale,
            registry,
            dropped: Default::default(),
        }
    }

    #[cold]
    fn count_dropped(&self, reason: Rejected, n: u64) {
        self.dropped[reason.index()]
            .get_or_init(|| {
                self.registry.counter_with(
                    DROPPED_VALUES_METRIC,
                    &[("metric", &self.name), ("reason", reason.as_str())],
                )
            })
            .increment(n);
    }
}

/// A facade histogram: the core's histogram and its name's scale (copied in, so a good value
/// never follows the pointer to the family).
#[derive(Clone)]
pub(crate) struct HistogramHandle {
    histogram: Histogram,
    scale: HistogramScale,
    family: Arc<HistogramFamily>,
}

impl HistogramHandle {
    pub(crate) fn new(histogram: Histogram, family: Arc<HistogramFamily>) -> Self {
        Self {
            histogram,
            scale: family.scale,
            family,
        }
    }
}

impl metrics::HistogramFn for HistogramHandle {
    #[inline]
    fn record(&self, value: f64) {
        match self.scale.to_integer(value) {
            Ok(v) => self.histogram.record(v),
            Err(reason) => self.family.count_dropped(reason, 1),
        }
    }

    fn record_many(&self, value: f64, count: usize) {
        let n = u64::try_from(count).unwrap_or(u64::MAX);
        match self.scale.to_integer(value) {
            Ok(v) => self.histogram.record_n(v, n),
            Err(reason) => self.family.count_dropped(reason, n),
        }
    }
}
