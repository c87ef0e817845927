//! [`AureonRecorder`]: the `metrics::Recorder` that registers facade metrics in an
//! [`aureon_telemetry::Registry`].
//!
//! `register_*` is where the work happens once: map the key's names (see [`crate::names`]),
//! find or create the metric in the registry, and wrap the core handle (see
//! [`crate::handles`]). `describe_*` sends help text to [`Registry::describe`] and, for
//! histograms, remembers the unit that decides the scale of the name's first registration.

use crate::cache::HandleCache;
use crate::handles::{CounterHandle, GaugeHandle, HistogramFamily, HistogramHandle};
use crate::names::{metric_name, with_mapped_key};
use crate::scale::HistogramScale;
use crate::thread_cache::{self, ExpiryLog};
use aureon_telemetry::{MetricKey, Registry};
use dashmap::DashMap;
use metrics::{Key, KeyName, Metadata, SharedString, Unit};
use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

/// The counter of histogram descriptions whose unit came after the name's first registration
/// and was therefore not applied, labelled `metric`.
pub const IGNORED_UNITS_METRIC: &str = "aureon_metrics_ignored_units_total";

/// What the recorder knows about one histogram name.
#[derive(Default)]
struct HistogramName {
    /// The unit from `describe_histogram!`, if it came first.
    described: Option<Unit>,
    /// Set by the first registration; from then on the name's scale never changes.
    family: Option<Arc<HistogramFamily>>,
}

struct Inner {
    registry: Registry,
    undescribed: Unit,
    histograms: DashMap<Arc<str>, HistogramName>,
    counter_handles: HandleCache<CounterHandle>,
    gauge_handles: HandleCache<GaugeHandle>,
    histogram_handles: HandleCache<HistogramHandle>,
    /// Identity and expiry log for the recording threads' own caches.
    expiry_log: ExpiryLog,
}

impl Inner {
    /// Drops the cached handles of expired registry keys: the shared ones now, each
    /// thread's own on its next lookup.
    fn forget(&self, keys: &[MetricKey]) {
        let expired: HashSet<&MetricKey> = keys.iter().collect();
        self.counter_handles.forget(&expired);
        self.gauge_handles.forget(&expired);
        self.histogram_handles.forget(&expired);
        self.expiry_log.expired(keys);
    }
}

/// The registry key a facade key was registered under, if the registry accepted it there.
fn accepted(name: &str, labels: &[(&str, &str)]) -> Option<MetricKey> {
    MetricKey::new(name, labels).ok()
}

/// A `metrics::Recorder` backed by an [`aureon_telemetry::Registry`]. Cheap to clone; clones
/// share everything.
///
/// ```
/// use aureon_metrics::AureonRecorder;
/// use aureon_telemetry::Registry;
///
/// let registry = Registry::new();
/// let recorder = AureonRecorder::new(registry.clone());
/// metrics::with_local_recorder(&recorder, || {
///     metrics::counter!("http.requests", "method" => "GET").increment(3);
/// });
/// let snap = registry.snapshot();
/// assert_eq!(snap.counter_with("http_requests", &[("method", "GET")]), Some(3));
/// ```
///
/// See the [crate docs](crate) for names, units, bad values and `absolute`.
#[derive(Clone)]
pub struct AureonRecorder {
    inner: Arc<Inner>,
}

impl fmt::Debug for AureonRecorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AureonRecorder")
            .field("registry", &self.inner.registry)
            .field("undescribed_histograms", &self.inner.undescribed)
            .finish_non_exhaustive()
    }
}

/// Builds an [`AureonRecorder`] with non-default settings.
#[derive(Debug, Clone)]
pub struct RecorderBuilder {
    registry: Registry,
    undescribed: Unit,
}

impl RecorderBuilder {
    /// The unit assumed for histograms registered before (or without) a
    /// `describe_histogram!` that gives a unit. Default: [`Unit::Seconds`], because
    /// `histogram!(…).record(duration)` converts a `Duration` to seconds, and a plain count
    /// recorded as seconds still exports as the same number (see the crate docs).
    pub fn undescribed_histograms(mut self, unit: Unit) -> Self {
        self.undescribed = unit;
        self
    }

    /// Builds the recorder. With idle expiry on in the registry
    /// ([`aureon_telemetry::RegistryBuilder::idle_timeout`]), the recorder drops its cached
    /// handles of expired series, so that their memory is freed once no handle of yours
    /// refers to them either; a macro that runs again for such a key registers it anew.
    pub fn build(self) -> AureonRecorder {
        let inner = Arc::new(Inner {
            registry: self.registry,
            undescribed: self.undescribed,
            histograms: DashMap::new(),
            counter_handles: HandleCache::new(),
            gauge_handles: HandleCache::new(),
            histogram_handles: HandleCache::new(),
            expiry_log: ExpiryLog::new(),
        });
        if inner.registry.idle_timeout().is_some() {
            // Weak: the registry (which keeps its listeners) must not keep the recorder alive.
            let recorder = Arc::downgrade(&inner);
            inner.registry.on_expiry(move |keys| {
                if let Some(inner) = recorder.upgrade() {
                    inner.forget(keys);
                }
            });
        }
        AureonRecorder { inner }
    }
}

impl AureonRecorder {
    /// A recorder with default settings that registers metrics in `registry`.
    pub fn new(registry: Registry) -> Self {
        Self::builder(registry).build()
    }

    /// A builder for a recorder with other settings.
    pub fn builder(registry: Registry) -> RecorderBuilder {
        RecorderBuilder {
            registry,
            undescribed: Unit::Seconds,
        }
    }

    /// The registry metrics are recorded in.
    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    /// The scale histogram `name` (a `metrics` name, mapped as [`crate::metric_name`] does)
    /// records with: the one fixed by its first registration, or else the one the next
    /// registration would fix (from its description, or the undescribed default).
    pub fn histogram_scale(&self, name: &str) -> HistogramScale {
        let name = metric_name(name);
        match self.inner.histograms.get(&*name) {
            Some(entry) => match &entry.family {
                Some(family) => family.scale,
                None => HistogramScale::for_unit(entry.described.unwrap_or(self.inner.undescribed)),
            },
            None => HistogramScale::for_unit(self.inner.undescribed),
        }
    }

    fn describe(&self, name: &str, description: &str) {
        if !description.is_empty() {
            // Only the empty name is invalid after mapping; no metric can have it either, so
            // there is nothing to describe.
            let _ = self.inner.registry.describe(name, description);
        }
    }

    /// The family of histogram `name`, created with its scale on first registration.
    fn histogram_family(&self, name: &str) -> Arc<HistogramFamily> {
        let inner = &*self.inner;
        // Read-locked first: every registration after the first takes no write lock here.
        if let Some(entry) = inner.histograms.get(name)
            && let Some(family) = &entry.family
        {
            return Arc::clone(family);
        }
        let mut entry = inner.histograms.entry(Arc::from(name)).or_default();
        let described = entry.described;
        let family = entry.family.get_or_insert_with(|| {
            let scale = HistogramScale::for_unit(described.unwrap_or(inner.undescribed));
            Arc::new(HistogramFamily::new(
                Arc::from(name),
                scale,
                inner.registry.clone(),
            ))
        });
        Arc::clone(family)
    }
}

impl metrics::Recorder for AureonRecorder {
    /// Sends the description to [`Registry::describe`]. The core has no unit for counters,
    /// so a counter's unit is not kept.
    fn describe_counter(&self, key: KeyName, _unit: Option<Unit>, description: SharedString) {
        self.describe(&metric_name(key.as_str()), &description);
    }

    /// Sends the description to [`Registry::describe`]. The core has no unit for gauges, so
    /// a gauge's unit is not kept.
    fn describe_gauge(&self, key: KeyName, _unit: Option<Unit>, description: SharedString) {
        self.describe(&metric_name(key.as_str()), &description);
    }

    /// Sends the description to [`Registry::describe`] and, when a unit is given before the
    /// name's first registration, fixes the name's scale by it. A unit given after that, if
    /// it would change the scale, is not applied (values already recorded cannot be
    /// rescaled, and mixing scales in one histogram would corrupt it); it is counted in
    /// [`IGNORED_UNITS_METRIC`].
    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        let name = metric_name(key.as_str());
        self.describe(&name, &description);
        let Some(unit) = unit else { return };
        let conflict = {
            let mut entry = self.inner.histograms.entry(Arc::from(&*name)).or_default();
            match &entry.family {
                None => {
                    entry.described = Some(unit);
                    false
                }
                Some(family) => family.scale != HistogramScale::for_unit(unit),
            }
        };
        if conflict {
            self.inner
                .registry
                .counter_with(IGNORED_UNITS_METRIC, &[("metric", &name)])
                .increment(1);
        }
    }

    /// The handle of `key`: found in the recorder's cache when the key was registered
    /// before, else mapped (see [`crate::metric_name`]) and looked up in the registry.
    fn register_counter(&self, key: &Key, _metadata: &Metadata<'_>) -> metrics::Counter {
        let registry = &self.inner.registry;
        thread_cache::get_or_make(&self.inner.expiry_log, key, || {
            let (handle, registered) = self.inner.counter_handles.get_or_make(key, || {
                with_mapped_key(key, |name, labels| {
                    match registry.try_counter(name, labels) {
                        Ok(counter) => (CounterHandle { counter }, accepted(name, labels)),
                        // The infallible call counts the refusal and returns the name's
                        // overflow series past the label-set cap (an unexported handle on
                        // other errors).
                        Err(_) => (
                            CounterHandle {
                                counter: registry.counter_with(name, labels),
                            },
                            None,
                        ),
                    }
                })
            });
            // The calling thread's own `Arc` around the shared core handle.
            (metrics::Counter::from_arc(Arc::new(handle)), registered)
        })
    }

    /// As `register_counter`.
    fn register_gauge(&self, key: &Key, _metadata: &Metadata<'_>) -> metrics::Gauge {
        let registry = &self.inner.registry;
        thread_cache::get_or_make(&self.inner.expiry_log, key, || {
            let (handle, registered) = self.inner.gauge_handles.get_or_make(key, || {
                with_mapped_key(key, |name, labels| match registry.try_gauge(name, labels) {
                    Ok(gauge) => (GaugeHandle { gauge }, accepted(name, labels)),
                    Err(_) => (
                        GaugeHandle {
                            gauge: registry.gauge_with(name, labels),
                        },
                        None,
                    ),
                })
            });
            (metrics::Gauge::from_arc(Arc::new(handle)), registered)
        })
    }

    /// As `register_counter`; the histogram is registered with its
    /// name's scale (see [`AureonRecorder::histogram_scale`]).
    fn register_histogram(&self, key: &Key, _metadata: &Metadata<'_>) -> metrics::Histogram {
        let registry = &self.inner.registry;
        thread_cache::get_or_make(&self.inner.expiry_log, key, || {
            let (handle, registered) = self.inner.histogram_handles.get_or_make(key, || {
                with_mapped_key(key, |name, labels| {
                    let family = self.histogram_family(name);
                    let config = *family.scale.config();
                    let (histogram, registered) =
                        match registry.try_histogram_with_config(name, labels, config) {
                            Ok(histogram) => (histogram, accepted(name, labels)),
                            Err(_) => (registry.histogram_with_config(name, labels, config), None),
                        };
                    (HistogramHandle::new(histogram, family), registered)
                })
            });
            (metrics::Histogram::from_arc(Arc::new(handle)), registered)
        })
    }
}
