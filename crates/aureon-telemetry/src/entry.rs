//! What the registry's map holds for one key: the metric while the series is live, and still
//! the metric (with the value it expired at) once idle expiry has taken the series out of
//! snapshots while a handle refers to it.
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
//! | dormant | live (same metric) | registration | the key is asked for again |
//! | dormant | absent (freed) | expiry pass | the map holds the only reference, and the value is still the one it expired at |
//!
//! A dormant entry holds a *strong* reference, not a weak one: a handle that records and is
//! then dropped between two passes leaves its record in a core the map still owns, so the
//! next pass sees the value move and brings the series back instead of freeing the record
//! with the core. Freeing happens only under the key's map lock with a reference count of
//! one (no handle exists, and none can be made meanwhile), after re-reading the value.
//!
//! The argument that no record is lost across these moves is in `docs/concurrency.md`
//! ("Idle expiry").

use crate::counter::CounterCore;
use crate::error::MetricKind;
use crate::gauge::GaugeCore;
use crate::histogram::HistogramCore;
use crate::snapshot::MetricValue;
use std::sync::Arc;
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

    /// How many references to the core exist (the map's own included). A reading of one,
    /// made under the key's map lock, is final: no handle exists and none can be made.
    pub(crate) fn strong_count(&self) -> usize {
        match self {
            Metric::Counter(c) => Arc::strong_count(c),
            Metric::Gauge(g) => Arc::strong_count(g),
            Metric::Histogram(h) => Arc::strong_count(h),
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
    Dormant { metric: Metric, fingerprint: u64 },
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
