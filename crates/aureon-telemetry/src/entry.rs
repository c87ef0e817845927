//! What the registry's map holds for one key: the metric itself while the series is live, or
//! only a weak reference to it once idle expiry has taken the series out of snapshots while a
//! handle still refers to it.
//!
//! The states and who moves an entry between them (always under the key's map lock, through
//! `ConcurrentMap::update`):
//!
//! | from | to | by | when |
//! |---|---|---|---|
//! | absent | live | registration | a new key (counted against its name's cap) |
//! | live | absent (freed) | expiry pass | idle for the timeout and the map holds the only reference |
//! | live | dormant | expiry pass | idle for the timeout, but a handle still refers to it |
//! | dormant | live (same metric) | expiry pass | a record changed its value since it went dormant |
//! | dormant | live (same metric) | registration | the key is asked for again while a handle lives |
//! | dormant | absent (freed) | expiry pass | the last handle was dropped |
//! | dormant | live (new metric) | registration | the key is asked for again after the last handle was dropped |
//!
//! The argument that no record is lost across these moves is in `docs/concurrency.md`
//! ("Idle expiry").

use crate::counter::CounterCore;
use crate::error::MetricKind;
use crate::gauge::GaugeCore;
use crate::histogram::HistogramCore;
use crate::snapshot::MetricValue;
use std::sync::{Arc, Weak};
use std::time::SystemTime;

/// A registered metric (a strong reference to its core).
#[derive(Clone)]
pub(crate) enum Metric {
    Counter(Arc<CounterCore>),
    Gauge(Arc<GaugeCore>),
    Histogram(Arc<HistogramCore>),
}

impl Metric {
    pub(crate) fn kind(&self) -> MetricKind {
        match self {
            Metric::Counter(_) => MetricKind::Counter,
            Metric::Gauge(_) => MetricKind::Gauge,
            Metric::Histogram(_) => MetricKind::Histogram,
        }
    }

    /// The merged value now (a snapshot of every shard or cell).
    pub(crate) fn read(&self, rotate_exemplars: bool) -> MetricValue {
        match self {
            Metric::Counter(c) => MetricValue::Counter(c.value()),
            Metric::Gauge(g) => MetricValue::Gauge(g.value()),
            Metric::Histogram(h) => MetricValue::Histogram(h.snapshot(rotate_exemplars)),
        }
    }

    /// The address of the core: identifies the metric without holding a reference to it.
    pub(crate) fn addr(&self) -> usize {
        match self {
            Metric::Counter(c) => Arc::as_ptr(c) as usize,
            Metric::Gauge(g) => Arc::as_ptr(g) as usize,
            Metric::Histogram(h) => Arc::as_ptr(h) as usize,
        }
    }

    /// How many references to the core exist (the map's own included).
    pub(crate) fn strong_count(&self) -> usize {
        match self {
            Metric::Counter(c) => Arc::strong_count(c),
            Metric::Gauge(g) => Arc::strong_count(g),
            Metric::Histogram(h) => Arc::strong_count(h),
        }
    }

    pub(crate) fn downgrade(&self) -> WeakMetric {
        match self {
            Metric::Counter(c) => WeakMetric::Counter(Arc::downgrade(c)),
            Metric::Gauge(g) => WeakMetric::Gauge(Arc::downgrade(g)),
            Metric::Histogram(h) => WeakMetric::Histogram(Arc::downgrade(h)),
        }
    }
}

/// A metric that only handles keep alive.
#[derive(Clone)]
pub(crate) enum WeakMetric {
    Counter(Weak<CounterCore>),
    Gauge(Weak<GaugeCore>),
    Histogram(Weak<HistogramCore>),
}

impl WeakMetric {
    pub(crate) fn upgrade(&self) -> Option<Metric> {
        match self {
            WeakMetric::Counter(c) => c.upgrade().map(Metric::Counter),
            WeakMetric::Gauge(g) => g.upgrade().map(Metric::Gauge),
            WeakMetric::Histogram(h) => h.upgrade().map(Metric::Histogram),
        }
    }

    /// Whether the last handle is gone (then it never comes back).
    pub(crate) fn is_dead(&self) -> bool {
        match self {
            WeakMetric::Counter(c) => c.strong_count() == 0,
            WeakMetric::Gauge(g) => g.strong_count() == 0,
            WeakMetric::Histogram(h) => h.strong_count() == 0,
        }
    }

    pub(crate) fn addr(&self) -> usize {
        match self {
            WeakMetric::Counter(c) => c.as_ptr() as usize,
            WeakMetric::Gauge(g) => g.as_ptr() as usize,
            WeakMetric::Histogram(h) => h.as_ptr() as usize,
        }
    }
}

/// The state of one key.
#[derive(Clone)]
pub(crate) enum State {
    /// In every snapshot; the map holds the metric.
    Live(Metric),
    /// Expired: in no snapshot until a record changes its value from `fingerprint` (the value
    /// the expiring snapshot read) or the key is registered again.
    Dormant {
        metric: WeakMetric,
        fingerprint: u64,
    },
}

/// The map's value for one key.
#[derive(Clone)]
pub(crate) struct Entry {
    pub(crate) state: State,
    /// When this metric (this core: a series freed and created again gets a new time) was
    /// created; exported as OpenMetrics `_created`.
    pub(crate) created: SystemTime,
    /// Whether the entry takes one of its name's label-set places (the overflow series does
    /// not), so that freeing it gives the place back.
    pub(crate) counted: bool,
}

impl Entry {
    pub(crate) fn live(metric: Metric, counted: bool) -> Self {
        Self {
            state: State::Live(metric),
            created: SystemTime::now(),
            counted,
        }
    }
}

/// What changes when a value changes: a counter's total, a gauge's bits, a histogram's count.
/// Recording always changes it (a record of `n > 0` values raises the count), so "the same
/// fingerprint" means "nothing recorded", except for a gauge set again to the value it had.
pub(crate) fn fingerprint(value: &MetricValue) -> u64 {
    match value {
        MetricValue::Counter(c) => *c,
        MetricValue::Gauge(g) => g.to_bits(),
        MetricValue::Histogram(h) => h.count(),
    }
}
