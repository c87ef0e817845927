//! The registry: metrics keyed by name and labels, created once and found again by key.
//!
//! Registration is the only place a map is touched; the handles it returns record without
//! it. Creating a key is an atomic update of the key's map entry (`dashmap`'s entry lock), so
//! two threads racing to create the same key get the same metric (loom model
//! `racing_get_or_create_yields_one_metric`). A new label set joins its name's family (kind,
//! configuration, label-set count), found with an atomic get-or-insert of its own, and takes
//! a place under the cap with an atomic `fetch_update`, so the cap holds even when label sets
//! of one name are created at once under different map shards. Past the cap, the infallible
//! methods hand out the name's overflow series instead (`otel_metric_overflow="true"`).
//!
//! With an idle timeout, every snapshot also runs the expiry pass ([`crate::expiry`]); the
//! states an entry goes through are listed in [`crate::entry`].

use crate::counter::{Counter, CounterCore};
use crate::entry::{Entry, Metric, State};
use crate::error::{MetricError, MetricKind};
use crate::expiry::{self, Applied, Expiry, Verdict};
use crate::gauge::{Gauge, GaugeCore};
use crate::histogram::{Histogram, HistogramCore};
use crate::key::MetricKey;
use crate::layout::{HistogramConfig, Layout};
use crate::snapshot::{MetricValue, Snapshot, Stamp};
use crate::sync::{AtomicU64, AtomicUsize, Change, ConcurrentMap, Mutex, Ordering, lock};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// The default cap on distinct label sets per metric name.
pub const DEFAULT_MAX_LABEL_SETS: usize = 1024;

/// The label that marks a name's overflow series, and its value: the OpenTelemetry
/// convention (`otel.metric.overflow=true`) as Prometheus exporters spell it.
pub const OVERFLOW_LABEL: (&str, &str) = ("otel_metric_overflow", "true");

/// Called after a snapshot in which series expired, with their keys (see
/// [`Registry::on_expiry`]).
type ExpiryListener = Arc<dyn Fn(&[MetricKey]) + Send + Sync>;

/// What all label sets of one metric name share: the kind, the histogram configuration (so
/// that an exporter can give the whole family one unit and one type), and the count of label
/// sets, for the cap.
struct Family {
    kind: MetricKind,
    config: Option<HistogramConfig>,
    label_sets: AtomicUsize,
}

struct Inner {
    metrics: ConcurrentMap<MetricKey, Entry>,
    families: ConcurrentMap<Arc<str>, Arc<Family>>,
    descriptions: ConcurrentMap<Arc<str>, Arc<str>>,
    max_label_sets: usize,
    default_histogram: HistogramConfig,
    next_sequence: AtomicU64,
    registration_errors: AtomicU64,
    last_error: Mutex<Option<MetricError>>,
    /// `None` unless [`RegistryBuilder::idle_timeout`] was set.
    expiry: Option<Expiry>,
    expiry_listeners: Mutex<Vec<ExpiryListener>>,
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
/// one unit), or a name that already has [`RegistryBuilder::max_label_sets`] label sets. The
/// infallible methods never panic. Past the label-set cap they return a handle to the name's
/// *overflow series*, the same name with the single label `otel_metric_overflow="true"`
/// ([`OVERFLOW_LABEL`]; the OpenTelemetry convention), so that the series of a name still sum
/// to everything recorded; the overflow series does not take a place under the cap, and a
/// gauge's overflow series holds whichever over-cap label set wrote last. On the other
/// errors (invalid name or label, kind or configuration clash) they return a working handle
/// that is *not* registered (so not exported). Both count the refusal in
/// [`Snapshot::registration_errors`] and keep it for [`Registry::last_registration_error`].
///
/// # Series that come and go
/// By default a series stays registered for the registry's lifetime. With
/// [`RegistryBuilder::idle_timeout`], a series whose value no snapshot has seen change for
/// that long leaves every later snapshot (and so every export), and its memory (shards,
/// pages, key) is freed as soon as no handle refers to it; its label-set place under the cap
/// is given back then. A handle still held keeps working: its next record brings the series
/// back with its totals continuing (nothing is reset and no record is lost, including one
/// that races the expiry), as does asking the registry for the key again. A series that
/// comes back after it was freed starts from zero, with a new [`Snapshot::created`] time, so
/// exporters can mark the reset. Expiry is judged whenever the registry takes a snapshot
/// ([`Registry::snapshot`], or each [`crate::Snapshotter`] tick), never on the recording path,
/// which costs the same with or without it.
///
/// ```
/// use aureon_telemetry::Registry;
/// use std::time::Duration;
/// let registry = Registry::builder().idle_timeout(Duration::ZERO).build();
/// let peer = registry.counter_with("peer_messages_total", &[("peer", "p1")]);
/// peer.increment(2);
/// assert_eq!(registry.snapshot().counter_with("peer_messages_total", &[("peer", "p1")]), Some(2));
/// // Unchanged since the last snapshot (and the timeout is zero): expired.
/// assert_eq!(registry.snapshot().counter_with("peer_messages_total", &[("peer", "p1")]), None);
/// peer.increment(1); // the held handle brings it back, totals continuing
/// assert_eq!(registry.snapshot().counter_with("peer_messages_total", &[("peer", "p1")]), Some(3));
/// ```
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
    idle_timeout: Option<Duration>,
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

    /// Expires series whose value no snapshot has seen change for `timeout` (off by default;
    /// see [`Registry`]'s "Series that come and go"). Choose it well above the snapshot
    /// interval and above the longest quiet period of a series you want to keep (a peer that
    /// reports every minute needs more than a minute): an expired series that comes back is
    /// fine, but one that was freed restarts from zero.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = Some(timeout);
        self
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
                expiry: self.idle_timeout.map(Expiry::new),
                expiry_listeners: Mutex::new(Vec::new()),
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
            idle_timeout: None,
        }
    }

    /// Finds or creates the metric of `name{labels}`. `capped`: whether a new label set must
    /// take a place under the cap (the overflow series does not).
    fn get_or_create(
        &self,
        name: &str,
        labels: &[(&str, &str)],
        kind: MetricKind,
        config: Option<HistogramConfig>,
        capped: bool,
        make: impl Fn() -> Metric,
    ) -> Result<Metric, MetricError> {
        let key = MetricKey::new(name, labels)?;
        let inner = &*self.inner;
        // Read-locked lookup first: asking again for a live key never takes a write lock.
        let metric = match inner.metrics.get(&key) {
            Some(Entry {
                state: State::Live(m),
                ..
            }) => m,
            _ => inner.metrics.update(key.clone(), |slot| match slot {
                Some(entry) => match &entry.state {
                    State::Live(m) => (Change::Keep, Ok(m.clone())),
                    // Expired but not freed (a handle refers to it, or a pass has yet to free
                    // it): the same metric comes back, totals continuing.
                    State::Dormant { metric, .. } => {
                        let m = metric.clone();
                        entry.state = State::Live(m.clone());
                        (Change::Keep, Ok(m))
                    }
                },
                None => match self.new_label_set(&key, kind, config, capped) {
                    Ok(()) => {
                        let m = make();
                        (Change::Put(Entry::live(m.clone(), capped)), Ok(m))
                    }
                    Err(e) => (Change::Keep, Err(e)),
                },
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

    /// The family of `key`'s name, created on first use; the kind and configuration must
    /// agree with it.
    fn family(
        &self,
        key: &MetricKey,
        kind: MetricKind,
        config: Option<HistogramConfig>,
    ) -> Result<Arc<Family>, MetricError> {
        let family = self
            .inner
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
                name: key.name().to_owned(),
                existing: family.kind,
                requested: kind,
            });
        }
        if family.config != config {
            return Err(MetricError::ConfigMismatch {
                name: key.name().to_owned(),
            });
        }
        Ok(family)
    }

    /// Admits a new label set of `key`'s name: it must agree with its family and, if
    /// `capped`, fit under the cap (taking a place).
    fn new_label_set(
        &self,
        key: &MetricKey,
        kind: MetricKind,
        config: Option<HistogramConfig>,
        capped: bool,
    ) -> Result<(), MetricError> {
        let family = self.family(key, kind, config)?;
        if !capped {
            return Ok(());
        }
        let limit = self.inner.max_label_sets;
        family
            .label_sets
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < limit).then_some(n + 1)
            })
            .map(drop)
            .map_err(|_| MetricError::TooManyLabelSets {
                name: key.name().to_owned(),
                limit,
            })
    }

    /// The metric for an infallible registration: the requested one, the name's overflow
    /// series past the cap, or `None` (refused, counted) on any other error.
    fn get_or_overflow(
        &self,
        name: &str,
        labels: &[(&str, &str)],
        kind: MetricKind,
        config: Option<HistogramConfig>,
        make: impl Fn() -> Metric,
    ) -> Option<Metric> {
        match self.get_or_create(name, labels, kind, config, true, &make) {
            Ok(m) => Some(m),
            Err(e @ MetricError::TooManyLabelSets { .. }) => {
                self.refused(e);
                self.get_or_create(name, &[OVERFLOW_LABEL], kind, config, false, make)
                    .map_err(|e| self.refused(e))
                    .ok()
            }
            Err(e) => {
                self.refused(e);
                None
            }
        }
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
        let metric = self.get_or_create(
            name,
            labels,
            MetricKind::Histogram,
            Some(config),
            true,
            || Metric::Histogram(Arc::new(HistogramCore::new(layout))),
        )?;
        histogram_of(metric, name, config)
    }

    /// The histogram `name` (no labels, default configuration); see the type's docs for what
    /// happens on bad input.
    pub fn histogram(&self, name: &str) -> Histogram {
        self.histogram_with(name, &[])
    }

    /// The histogram `name` with labels (default configuration).
    pub fn histogram_with(&self, name: &str, labels: &[(&str, &str)]) -> Histogram {
        self.histogram_with_config(name, labels, self.inner.default_histogram)
    }

    /// The histogram `name` with labels and a configuration.
    pub fn histogram_with_config(
        &self,
        name: &str,
        labels: &[(&str, &str)],
        config: HistogramConfig,
    ) -> Histogram {
        let layout = match Layout::new(&config) {
            Ok(layout) => layout,
            Err(e) => {
                self.refused(e.into());
                return Histogram::default();
            }
        };
        self.get_or_overflow(name, labels, MetricKind::Histogram, Some(config), || {
            Metric::Histogram(Arc::new(HistogramCore::new(layout)))
        })
        .and_then(|m| {
            histogram_of(m, name, config)
                .map_err(|e| self.refused(e))
                .ok()
        })
        .unwrap_or_else(|| Histogram::new(config).unwrap_or_default())
    }

    /// The counter `name` with labels.
    pub fn try_counter(&self, name: &str, labels: &[(&str, &str)]) -> Result<Counter, MetricError> {
        self.get_or_create(name, labels, MetricKind::Counter, None, true, new_counter)
            .map(counter_of)
    }

    /// The counter `name` (no labels).
    pub fn counter(&self, name: &str) -> Counter {
        self.counter_with(name, &[])
    }

    /// The counter `name` with labels.
    pub fn counter_with(&self, name: &str, labels: &[(&str, &str)]) -> Counter {
        self.get_or_overflow(name, labels, MetricKind::Counter, None, new_counter)
            .map_or_else(Counter::new, counter_of)
    }

    /// The gauge `name` with labels.
    pub fn try_gauge(&self, name: &str, labels: &[(&str, &str)]) -> Result<Gauge, MetricError> {
        self.get_or_create(name, labels, MetricKind::Gauge, None, true, new_gauge)
            .map(gauge_of)
    }

    /// The gauge `name` (no labels).
    pub fn gauge(&self, name: &str) -> Gauge {
        self.gauge_with(name, &[])
    }

    /// The gauge `name` with labels.
    pub fn gauge_with(&self, name: &str, labels: &[(&str, &str)]) -> Gauge {
        self.get_or_overflow(name, labels, MetricKind::Gauge, None, new_gauge)
            .map_or_else(Gauge::new, gauge_of)
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

    /// Number of registered metrics (label sets count separately). With an idle timeout this
    /// includes expired series that a handle still refers to, and freed ones until the next
    /// snapshot removes them from the map.
    pub fn len(&self) -> usize {
        self.inner.metrics.len()
    }

    /// Whether nothing is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The idle timeout set with [`RegistryBuilder::idle_timeout`], if any.
    pub fn idle_timeout(&self) -> Option<Duration> {
        self.inner.expiry.as_ref().map(|e| e.timeout)
    }

    /// Calls `listener` after every snapshot in which series expired, with their keys, on the
    /// thread that took the snapshot (the snapshotter's, usually), after the snapshot is
    /// complete. Layers that keep handles of their own (a cache by key, a table by
    /// operation) drop them there, so that the expired series' memory can be freed; a
    /// dropped handle is harmless even if the series comes back (asking the registry again
    /// finds it). The listener must not block for long: the next snapshot waits for it.
    pub fn on_expiry(&self, listener: impl Fn(&[MetricKey]) + Send + Sync + 'static) {
        lock(&self.inner.expiry_listeners).push(Arc::new(listener));
    }

    /// Merges every shard of every metric now. Writers are never blocked; metrics registered
    /// while the snapshot is taken may or may not be in it. With an idle timeout, this is also
    /// where series expire, come back and are freed (see the type's docs); snapshots are then
    /// taken one at a time.
    pub fn snapshot(&self) -> Snapshot {
        self.take_snapshot(false)
    }

    /// A snapshot that also closes the current exemplar interval (the snapshotter's tick).
    pub(crate) fn take_snapshot(&self, rotate_exemplars: bool) -> Snapshot {
        let metrics = match &self.inner.expiry {
            None => self
                .inner
                .metrics
                .entries()
                .into_iter()
                .filter_map(|(key, entry)| match entry.state {
                    State::Live(m) => Some((key, (m.read(rotate_exemplars), entry.created))),
                    // Only an expiry pass makes an entry dormant.
                    State::Dormant { .. } => None,
                })
                .collect(),
            Some(expiry) => self.snapshot_with_expiry(expiry, rotate_exemplars),
        };
        Snapshot {
            stamp: Stamp::new(
                self.inner.next_sequence.fetch_add(1, Ordering::Relaxed),
                Instant::now(),
                SystemTime::now(),
            ),
            metrics,
            descriptions: self.inner.descriptions.entries().into_iter().collect(),
            registration_errors: self.inner.registration_errors.load(Ordering::Relaxed),
        }
    }

    /// The snapshot's series, judged and applied by the expiry pass ([`crate::expiry`]).
    fn snapshot_with_expiry(
        &self,
        expiry: &Expiry,
        rotate_exemplars: bool,
    ) -> BTreeMap<MetricKey, (MetricValue, SystemTime)> {
        let inner = &*self.inner;
        let mut idle = lock(&expiry.idle);
        let now = Instant::now();
        let mut metrics = BTreeMap::new();
        let mut plans = Vec::new();
        // Step 1: read and judge. The clones of `entries` are dropped before step 2.
        for (key, entry) in inner.metrics.entries() {
            match idle.judge(&key, &entry, now, expiry.timeout, rotate_exemplars) {
                Verdict::Keep(value) => {
                    metrics.insert(key, (value, entry.created));
                }
                Verdict::Revive(metric, value) => {
                    metrics.insert(key.clone(), (value, entry.created));
                    plans.push((key, Plan::Revive(metric)));
                }
                Verdict::Expire { addr, fingerprint } => {
                    plans.push((key, Plan::Expire { addr, fingerprint }));
                }
                Verdict::Free { fingerprint } => plans.push((key, Plan::Free { fingerprint })),
                Verdict::StayDormant => {}
            }
        }
        // Step 2: apply, each under its key's map lock.
        let mut expired = Vec::new();
        let mut freed = 0;
        for (key, plan) in plans {
            let applied = match &plan {
                Plan::Expire { addr, fingerprint } => {
                    expiry::apply_expire(&inner.metrics, &key, *addr, *fingerprint)
                }
                Plan::Free { fingerprint } => {
                    expiry::apply_free(&inner.metrics, &key, *fingerprint)
                }
                Plan::Revive(metric) => expiry::apply_revive(&inner.metrics, &key, metric),
            };
            match applied {
                Applied::Freed { counted } => {
                    freed += 1;
                    idle.forget(&key);
                    if counted && let Some(family) = inner.families.get(key.name_arc()) {
                        family.label_sets.fetch_sub(1, Ordering::Relaxed);
                    }
                    if matches!(plan, Plan::Expire { .. }) {
                        expired.push(key);
                    }
                }
                Applied::Dormant => {
                    idle.forget(&key);
                    expired.push(key);
                }
                Applied::Revived | Applied::Skipped => {}
            }
        }
        idle.note_removed(freed, &inner.metrics);
        drop(idle);
        if !expired.is_empty() {
            let listeners = lock(&inner.expiry_listeners).clone();
            for listener in listeners {
                listener(&expired);
            }
        }
        metrics
    }
}

/// What step 2 of the expiry pass does to one key.
enum Plan {
    Expire { addr: usize, fingerprint: u64 },
    Free { fingerprint: u64 },
    Revive(Metric),
}

fn new_counter() -> Metric {
    Metric::Counter(Arc::new(CounterCore::new()))
}

fn new_gauge() -> Metric {
    Metric::Gauge(Arc::new(GaugeCore::new()))
}

/// The counter handle of a metric `get_or_create` returned for [`MetricKind::Counter`].
fn counter_of(metric: Metric) -> Counter {
    match metric {
        Metric::Counter(core) => Counter { core },
        _ => unreachable!("get_or_create checked the kind"),
    }
}

fn gauge_of(metric: Metric) -> Gauge {
    match metric {
        Metric::Gauge(core) => Gauge { core },
        _ => unreachable!("get_or_create checked the kind"),
    }
}

fn histogram_of(
    metric: Metric,
    name: &str,
    config: HistogramConfig,
) -> Result<Histogram, MetricError> {
    match metric {
        Metric::Histogram(core) if *core.config() == config => Ok(Histogram { core }),
        Metric::Histogram(_) => Err(MetricError::ConfigMismatch {
            name: name.to_owned(),
        }),
        _ => unreachable!("get_or_create checked the kind"),
    }
}
