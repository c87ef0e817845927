//! The handles behind `metrics::Counter`, `Gauge` and `Histogram`: thin wrappers over the
//! core's handles, so recording through a held facade handle is the core's lock-free record
//! plus one virtual call (the facade's `Arc<dyn …Fn>`). No map is touched after registration.
//!
//! Two operations need state shared by every handle of a metric, and get it without slowing
//! the others down:
//! * `Counter::absolute` needs one high-water mark per key ([`AbsoluteMarks`]), looked up on
//!   the first `absolute` call through a handle, never by `increment`.
//! * dropped histogram values are counted per metric name ([`HistogramFamily`]), in counters
//!   registered on the first bad value, never by a good one.

use crate::names::with_mapped_key;
use crate::scale::{HistogramScale, Rejected};
use aureon_telemetry::{Counter, Gauge, Histogram, MetricKey, Registry};
use dashmap::DashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

/// The counter of histogram values the recorder dropped, labelled `metric` and `reason`.
pub const DROPPED_VALUES_METRIC: &str = "aureon_metrics_dropped_values_total";

/// One high-water mark per counter key, for `absolute`.
pub(crate) type AbsoluteMarks = DashMap<MetricKey, Arc<AtomicU64>>;

/// A facade counter: the core's per-thread-cell counter, plus what `absolute` needs.
pub(crate) struct CounterHandle {
    counter: Counter,
    /// Where to find the key's shared high-water mark; `None` for a counter the registry
    /// refused, which is this handle's own, and so is its mark.
    shared: Option<(metrics::Key, Arc<AbsoluteMarks>)>,
    mark: OnceLock<Arc<AtomicU64>>,
}

impl CounterHandle {
    pub(crate) fn new(
        counter: Counter,
        key: &metrics::Key,
        marks: Option<&Arc<AbsoluteMarks>>,
    ) -> Self {
        let shared = marks.map(|marks| (key.clone(), Arc::clone(marks)));
        Self {
            counter,
            shared,
            mark: OnceLock::new(),
        }
    }

    #[cold]
    fn find_mark(&self) -> Arc<AtomicU64> {
        let Some((key, marks)) = &self.shared else {
            return Arc::default();
        };
        with_mapped_key(key, |name, labels| match MetricKey::new(name, labels) {
            Ok(key) => Arc::clone(&marks.entry(key).or_default()),
            // Not reached: the registry accepted this key, so it is valid.
            Err(_) => Arc::default(),
        })
    }
}

impl metrics::CounterFn for CounterHandle {
    #[inline]
    fn increment(&self, value: u64) {
        self.counter.increment(value);
    }

    /// Raises the key's high-water mark to `value` and adds what it rose by. The amounts added
    /// telescope: however many threads race, the total added by `absolute` is exactly the
    /// largest value ever passed, and a stale smaller value adds nothing.
    fn absolute(&self, value: u64) {
        let mark = self.mark.get_or_init(|| self.find_mark());
        // Relaxed: the mark only orders `absolute` calls among themselves (fetch_max is one
        // atomic read-modify-write, totally ordered per location); readers sum the cells.
        let previous = mark.fetch_max(value, Ordering::Relaxed);
        if value > previous {
            self.counter.increment(value - previous);
        }
    }
}

/// A facade gauge: the core's gauge.
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
