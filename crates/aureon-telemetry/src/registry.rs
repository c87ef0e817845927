//! The registry: metrics keyed by name and labels, created once and found again by key.
//!
//! Registration is the only place a map is touched; the handles it returns record without
//! it. Creating a key is an atomic get-or-insert on the map (`dashmap`'s entry lock), so two
//! threads racing to create the same key get the same metric (loom model
//! `racing_get_or_create_yields_one_metric`). A new label set joins its name's family (kind,
//! configuration, label-set count), found with an atomic get-or-insert of its own, and takes
//! a place under the cap with an atomic `fetch_update`, so the cap holds even when label sets
//! of one name are created at once under different map shards.

use crate::counter::{Counter, CounterCore};
use crate::error::{MetricError, MetricKind};
use crate::gauge::{Gauge, GaugeCore};
use crate::histogram::{Histogram, HistogramCore};
use crate::key::MetricKey;
use crate::layout::{HistogramConfig, Layout};
use crate::snapshot::{MetricValue, Snapshot};
use crate::sync::{AtomicU64, AtomicUsize, ConcurrentMap, Mutex, Ordering, lock};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

/// The default cap on distinct label sets per metric name.
pub const DEFAULT_MAX_LABEL_SETS: usize = 1024;

#[derive(Clone)]
enum Metric {
    Counter(Arc<CounterCore>),
    Gauge(Arc<GaugeCore>),
    Histogram(Arc<HistogramCore>),
}

impl Metric {
    fn kind(&self) -> MetricKind {
        match self {
            Metric::Counter(_) => MetricKind::Counter,
            Metric::Gauge(_) => MetricKind::Gauge,
            Metric::Histogram(_) => MetricKind::Histogram,
        }
    }
}

/// What all label sets of one metric name share: the kind, the histogram configuration (so
/// that an exporter can give the whole family one unit and one type), and the count of label
/// sets, for the cap.
struct Family {
    kind: MetricKind,
    config: Option<HistogramConfig>,
    label_sets: AtomicUsize,
}

struct Inner {
    metrics: ConcurrentMap<MetricKey, Metric>,
    families: ConcurrentMap<Arc<str>, Arc<Family>>,
    descriptions: ConcurrentMap<Arc<str>, Arc<str>>,
    max_label_sets: usize,
    default_histogram: HistogramConfig,
    next_sequence: AtomicU64,
    registration_errors: AtomicU64,
    last_error: Mutex<Option<MetricError>>,
}

/// A set of metrics keyed by name and labels. Cloning is cheap and shares the metrics.
///
/// ```
/// use aureon_telemetry::Registry;
/// let registry = Registry::new();
/// let h = registry.histogram("block_processing_us"); // Clone + Send + Sync handle
/// h.record(1500);
/// let c = registry.counter("blocks_total");
/// c.increment(1);
/// let snap = registry.snapshot();
/// let hs = snap.histogram("block_processing_us").unwrap();
/// assert_eq!((hs.count(), hs.min(), hs.max()), (1, 1500, 1500));
/// assert_eq!(snap.counter("blocks_total"), Some(1));
/// ```
///
/// # Errors and bad input
/// The `try_*` methods return a [`MetricError`] for an invalid name or label, a name already
/// registered as another kind (or as a histogram with another configuration: every label set
/// of a name shares its kind and configuration, so exporters can give the family one type and
/// one unit), or a name that already has [`RegistryBuilder::max_label_sets`] label sets. The infallible methods never
/// panic: on such an error they return a working handle that is *not* registered (so not
/// exported), count the refusal in [`Snapshot::registration_errors`] and keep it for
/// [`Registry::last_registration_error`].
#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("metrics", &self.inner.metrics.len())
            .field("max_label_sets", &self.inner.max_label_sets)
            .finish()
    }
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

/// Builds a [`Registry`] with non-default limits.
#[derive(Debug, Clone)]
pub struct RegistryBuilder {
    max_label_sets: usize,
    default_histogram: HistogramConfig,
}

impl RegistryBuilder {
    /// The cap on distinct label sets per metric name (default [`DEFAULT_MAX_LABEL_SETS`]).
    pub fn max_label_sets(mut self, limit: usize) -> Self {
        self.max_label_sets = limit;
        self
    }

    /// The configuration of histograms registered without one (default
    /// [`HistogramConfig::default`]).
    pub fn default_histogram(mut self, config: HistogramConfig) -> Result<Self, MetricError> {
        config.validate()?;
        self.default_histogram = config;
        Ok(self)
    }

    /// Builds the registry.
    pub fn build(self) -> Registry {
        Registry {
            inner: Arc::new(Inner {
                metrics: ConcurrentMap::new(),
                families: ConcurrentMap::new(),
                descriptions: ConcurrentMap::new(),
                max_label_sets: self.max_label_sets,
                default_histogram: self.default_histogram,
                next_sequence: AtomicU64::new(0),
                registration_errors: AtomicU64::new(0),
                last_error: Mutex::new(None),
            }),
        }
    }
}

impl Registry {
    /// An empty registry with default limits.
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder for a registry with other limits.
    pub fn builder() -> RegistryBuilder {
        RegistryBuilder {
            max_label_sets: DEFAULT_MAX_LABEL_SETS,
            default_histogram: HistogramConfig::default(),
        }
    }

    fn get_or_create(
        &self,
        name: &str,
        labels: &[(&str, &str)],
        kind: MetricKind,
        config: Option<HistogramConfig>,
        make: impl FnOnce() -> Metric,
    ) -> Result<Metric, MetricError> {
        let key = MetricKey::new(name, labels)?;
        let inner = &*self.inner;
        // Read-locked lookup first: asking again for an existing key never takes a write lock.
        let metric = match inner.metrics.get(&key) {
            Some(m) => m,
            None => inner.metrics.get_or_try_insert(key.clone(), || {
                // A new label set: it must agree with its family, and fit under the cap.
                let family =
                    inner
                        .families
                        .get_or_try_insert(Arc::clone(key.name_arc()), || {
                            Ok::<_, MetricError>(Arc::new(Family {
                                kind,
                                config,
                                label_sets: AtomicUsize::new(0),
                            }))
                        })?;
                if family.kind != kind {
                    return Err(MetricError::KindMismatch {
                        name: name.to_owned(),
                        existing: family.kind,
                        requested: kind,
                    });
                }
                if family.config != config {
                    return Err(MetricError::ConfigMismatch {
                        name: name.to_owned(),
                    });
                }
                family
                    .label_sets
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                        (n < inner.max_label_sets).then_some(n + 1)
                    })
                    .map_err(|_| MetricError::TooManyLabelSets {
                        name: name.to_owned(),
                        limit: inner.max_label_sets,
                    })?;
                Ok(make())
            })?,
        };
        if metric.kind() != kind {
            return Err(MetricError::KindMismatch {
                name: name.to_owned(),
                existing: metric.kind(),
                requested: kind,
            });
        }
        Ok(metric)
    }

    fn refused(&self, e: MetricError) {
        self.inner
            .registration_errors
            .fetch_add(1, Ordering::Relaxed);
        *lock(&self.inner.last_error) = Some(e);
    }

    /// The histogram `name` with the registry's default configuration.
    pub fn try_histogram(
        &self,
        name: &str,
        labels: &[(&str, &str)],
    ) -> Result<Histogram, MetricError> {
        self.try_histogram_with_config(name, labels, self.inner.default_histogram)
    }

    /// The histogram `name` with the given configuration. Asking again for an existing key
    /// with another configuration is a [`MetricError::ConfigMismatch`].
    pub fn try_histogram_with_config(
        &self,
        name: &str,
        labels: &[(&str, &str)],
        config: HistogramConfig,
    ) -> Result<Histogram, MetricError> {
        let layout = Layout::new(&config)?;
        match self.get_or_create(name, labels, MetricKind::Histogram, Some(config), || {
            Metric::Histogram(Arc::new(HistogramCore::new(layout)))
        })? {
            Metric::Histogram(core) if *core.config() == config => Ok(Histogram { core }),
            Metric::Histogram(_) => Err(MetricError::ConfigMismatch {
                name: name.to_owned(),
            }),
            _ => unreachable!("get_or_create checked the kind"),
        }
    }

    /// The histogram `name` (no labels, default configuration); see the type's docs for what
    /// happens on bad input.
    pub fn histogram(&self, name: &str) -> Histogram {
        self.histogram_with(name, &[])
    }

    /// The histogram `name` with labels (default configuration).
    pub fn histogram_with(&self, name: &str, labels: &[(&str, &str)]) -> Histogram {
        self.try_histogram(name, labels).unwrap_or_else(|e| {
            self.refused(e);
            Histogram::new(self.inner.default_histogram)
                .expect("the default configuration was validated")
        })
    }

    /// The histogram `name` with labels and a configuration.
    pub fn histogram_with_config(
        &self,
        name: &str,
        labels: &[(&str, &str)],
        config: HistogramConfig,
    ) -> Histogram {
        self.try_histogram_with_config(name, labels, config)
            .unwrap_or_else(|e| {
                self.refused(e);
                Histogram::new(config).unwrap_or_default()
            })
    }

    /// The counter `name` with labels.
    pub fn try_counter(&self, name: &str, labels: &[(&str, &str)]) -> Result<Counter, MetricError> {
        match self.get_or_create(name, labels, MetricKind::Counter, None, || {
            Metric::Counter(Arc::new(CounterCore::new()))
        })? {
            Metric::Counter(core) => Ok(Counter { core }),
            _ => unreachable!("get_or_create checked the kind"),
        }
    }

    /// The counter `name` (no labels).
    pub fn counter(&self, name: &str) -> Counter {
        self.counter_with(name, &[])
    }

    /// The counter `name` with labels.
    pub fn counter_with(&self, name: &str, labels: &[(&str, &str)]) -> Counter {
        self.try_counter(name, labels).unwrap_or_else(|e| {
            self.refused(e);
            Counter::new()
        })
    }

    /// The gauge `name` with labels.
    pub fn try_gauge(&self, name: &str, labels: &[(&str, &str)]) -> Result<Gauge, MetricError> {
        match self.get_or_create(name, labels, MetricKind::Gauge, None, || {
            Metric::Gauge(Arc::new(GaugeCore::new()))
        })? {
            Metric::Gauge(core) => Ok(Gauge { core }),
            _ => unreachable!("get_or_create checked the kind"),
        }
    }

    /// The gauge `name` (no labels).
    pub fn gauge(&self, name: &str) -> Gauge {
        self.gauge_with(name, &[])
    }

    /// The gauge `name` with labels.
    pub fn gauge_with(&self, name: &str, labels: &[(&str, &str)]) -> Gauge {
        self.try_gauge(name, labels).unwrap_or_else(|e| {
            self.refused(e);
            Gauge::new()
        })
    }

    /// Sets the help text of metric `name` (exported as `# HELP`). Invalid names are refused.
    pub fn describe(&self, name: &str, help: &str) -> Result<(), MetricError> {
        if !crate::key::is_valid_metric_name(name) {
            return Err(MetricError::InvalidName(name.to_owned()));
        }
        self.inner
            .descriptions
            .insert(Arc::from(name), Arc::from(help));
        Ok(())
    }

    /// The last registration an infallible method refused, if any.
    pub fn last_registration_error(&self) -> Option<MetricError> {
        lock(&self.inner.last_error).clone()
    }

    /// Number of registered metrics (label sets count separately).
    pub fn len(&self) -> usize {
        self.inner.metrics.len()
    }

    /// Whether nothing is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Merges every shard of every metric now. Writers are never blocked; metrics registered
    /// while the snapshot is taken may or may not be in it.
    pub fn snapshot(&self) -> Snapshot {
        self.take_snapshot(false)
    }

    /// A snapshot that also closes the current exemplar interval (the snapshotter's tick).
    pub(crate) fn take_snapshot(&self, rotate_exemplars: bool) -> Snapshot {
        let entries = self.inner.metrics.entries();
        let metrics: BTreeMap<MetricKey, MetricValue> = entries
            .into_iter()
            .map(|(key, metric)| {
                let value = match metric {
                    Metric::Counter(c) => MetricValue::Counter(c.value()),
                    Metric::Gauge(g) => MetricValue::Gauge(g.value()),
                    Metric::Histogram(h) => MetricValue::Histogram(h.snapshot(rotate_exemplars)),
                };
                (key, value)
            })
            .collect();
        Snapshot {
            sequence: self.inner.next_sequence.fetch_add(1, Ordering::Relaxed),
            taken_at: Instant::now(),
            system_time: SystemTime::now(),
            metrics,
            descriptions: self.inner.descriptions.entries().into_iter().collect(),
            registration_errors: self.inner.registration_errors.load(Ordering::Relaxed),
        }
    }
}
