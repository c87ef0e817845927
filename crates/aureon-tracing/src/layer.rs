//! [`SpanTimingLayer`]: the `tracing_subscriber::Layer` that records span busy/idle time and
//! counts events, and its builder.
//!
//! Per span the layer reads the clock on creation, each enter and exit, and close, and keeps
//! a [`SpanTiming`] (inside [`SpanTimings`], shared with any other such layer) in the span's
//! extensions (the registry's per-span storage, locked per span, not across spans). On close it records into the callsite's cached histograms. An event
//! costs one increment of a per-level counter held by the layer: no span lookup, no clock, no
//! map, so events outside any span are as cheap as inside one.

use crate::callsites::{Callsites, SpanHistograms};
use crate::timing::{SpanTiming, SpanTimings};
use aureon_telemetry::{
    ConfigError, Counter, HistogramConfig, Registry, Unit, is_valid_metric_name,
};
use quanta::Clock;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tracing_core::span::{Attributes, Id};
use tracing_core::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// Default name of the busy-time histogram (labels `span`, `target`).
pub const DEFAULT_BUSY_METRIC: &str = "tracing_span_busy_seconds";
/// Default name of the idle-time histogram (labels `span`, `target`), when enabled.
pub const DEFAULT_IDLE_METRIC: &str = "tracing_span_idle_seconds";
/// Default name of the event counter (label `level`).
pub const DEFAULT_EVENTS_METRIC: &str = "tracing_events_total";

/// The levels in the order of [`SpanTimingLayer`]'s event counters.
const LEVELS: [Level; 5] = [
    Level::TRACE,
    Level::DEBUG,
    Level::INFO,
    Level::WARN,
    Level::ERROR,
];

fn level_index(level: &Level) -> usize {
    match *level {
        Level::TRACE => 0,
        Level::DEBUG => 1,
        Level::INFO => 2,
        Level::WARN => 3,
        _ => 4,
    }
}

/// The histogram configuration of span times by default: nanoseconds (the clock's
/// resolution), 1 ns up to 2⁶³ − 1 ns (292 years), 3 significant figures. Bin pages are
/// allocated only where values land, so the wide range costs nothing up front.
pub fn default_histogram_config() -> HistogramConfig {
    HistogramConfig {
        lowest_discernible: 1,
        highest_trackable: i64::MAX as u64,
        significant_figures: 3,
        unit: Unit::Nanoseconds,
    }
}

/// Why a [`SpanTimingBuilder`] could not build a layer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildError {
    /// A metric name is not a valid Prometheus name.
    InvalidName(String),
    /// Two of the layer's metrics were given the same name.
    DuplicateName(String),
    /// The histogram configuration is invalid.
    InvalidConfig(ConfigError),
    /// The histogram configuration's unit is not a time unit.
    NotATimeUnit(Unit),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::InvalidName(n) => {
                write!(
                    f,
                    "invalid metric name {n:?}: must match [a-zA-Z_:][a-zA-Z0-9_:]*"
                )
            }
            BuildError::DuplicateName(n) => write!(f, "metric name {n:?} is used for two metrics"),
            BuildError::InvalidConfig(e) => write!(f, "invalid histogram configuration: {e}"),
            BuildError::NotATimeUnit(u) => write!(f, "span times need a time unit, not {u:?}"),
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BuildError::InvalidConfig(e) => Some(e),
            _ => None,
        }
    }
}

/// Builds a [`SpanTimingLayer`] with non-default settings.
#[derive(Debug, Clone)]
pub struct SpanTimingBuilder {
    registry: Registry,
    busy: String,
    idle: Option<String>,
    events: String,
    config: HistogramConfig,
    clock: Option<Clock>,
}

impl SpanTimingBuilder {
    /// The name of the busy-time histogram (default [`DEFAULT_BUSY_METRIC`]).
    pub fn busy_metric(mut self, name: impl Into<String>) -> Self {
        self.busy = name.into();
        self
    }

    /// Also record idle time, into [`DEFAULT_IDLE_METRIC`] (off by default: it doubles the
    /// histograms per callsite).
    pub fn with_idle(self) -> Self {
        self.idle_metric(DEFAULT_IDLE_METRIC)
    }

    /// Also record idle time, into the histogram `name`.
    pub fn idle_metric(mut self, name: impl Into<String>) -> Self {
        self.idle = Some(name.into());
        self
    }

    /// The name of the event counter (default [`DEFAULT_EVENTS_METRIC`]).
    pub fn events_metric(mut self, name: impl Into<String>) -> Self {
        self.events = name.into();
        self
    }

    /// The configuration of the span-time histograms (default
    /// [`default_histogram_config`]); its unit must be a time unit.
    pub fn histogram_config(mut self, config: HistogramConfig) -> Self {
        self.config = config;
        self
    }

    /// The clock spans are timed with (default: a real `quanta` clock; a
    /// `quanta::Clock::mock()` makes timings deterministic in tests).
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Builds the layer.
    ///
    /// # Errors
    /// A [`BuildError`] for an invalid or repeated metric name, an invalid histogram
    /// configuration, or one whose unit is not a time unit.
    pub fn build(self) -> Result<SpanTimingLayer, BuildError> {
        let mut names: Vec<&str> = vec![&self.busy, &self.events];
        names.extend(self.idle.as_deref());
        for (i, name) in names.iter().enumerate() {
            if !is_valid_metric_name(name) {
                return Err(BuildError::InvalidName((*name).to_owned()));
            }
            if names[..i].contains(name) {
                return Err(BuildError::DuplicateName((*name).to_owned()));
            }
        }
        self.config.validate().map_err(BuildError::InvalidConfig)?;
        if self.config.unit.from_duration(Duration::ZERO).is_none() {
            return Err(BuildError::NotATimeUnit(self.config.unit));
        }
        Ok(SpanTimingLayer::from_parts(self))
    }
}

/// A `tracing_subscriber::Layer` recording each span's busy time (and optionally idle time)
/// into a histogram labelled with the span's `span` name and `target`, and counting events by
/// `level`.
///
/// ```
/// use aureon_telemetry::Registry;
/// use aureon_tracing::SpanTimingLayer;
/// use tracing_subscriber::prelude::*;
///
/// let registry = Registry::new();
/// let subscriber = tracing_subscriber::registry().with(SpanTimingLayer::new(&registry));
/// tracing::subscriber::with_default(subscriber, || {
///     let _span = tracing::info_span!(target: "node", "import_block").entered();
///     tracing::warn!("slow peer");
/// });
/// let snap = registry.snapshot();
/// let busy = snap
///     .histogram_with("tracing_span_busy_seconds", &[("span", "import_block"), ("target", "node")])
///     .unwrap();
/// assert_eq!(busy.count(), 1);
/// assert_eq!(snap.counter_with("tracing_events_total", &[("level", "warn")]), Some(1));
/// ```
///
/// Times are recorded when the span closes (a span that is never closed is never recorded).
/// Spans created before the layer was installed are ignored. Several layers on one subscriber
/// (say, one per registry) each time every span. More distinct `(span, target)`
/// pairs than the registry's label-set cap are refused by the registry's documented path
/// (recorded but not exported, counted in `Snapshot::registration_errors`).
pub struct SpanTimingLayer {
    /// Tells this layer's timing apart from another `SpanTimingLayer`'s in a span's extensions.
    id: u64,
    registry: Registry,
    busy: String,
    idle: Option<String>,
    config: HistogramConfig,
    clock: Clock,
    callsites: Callsites,
    events: [Counter; LEVELS.len()],
}

impl fmt::Debug for SpanTimingLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpanTimingLayer")
            .field("busy", &self.busy)
            .field("idle", &self.idle)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl SpanTimingLayer {
    /// A layer with the default metric names, recording busy time only.
    pub fn new(registry: &Registry) -> Self {
        Self::from_parts(Self::builder(registry))
    }

    /// A builder for a layer with other settings.
    pub fn builder(registry: &Registry) -> SpanTimingBuilder {
        SpanTimingBuilder {
            registry: registry.clone(),
            busy: DEFAULT_BUSY_METRIC.to_owned(),
            idle: None,
            events: DEFAULT_EVENTS_METRIC.to_owned(),
            config: default_histogram_config(),
            clock: None,
        }
    }

    fn from_parts(b: SpanTimingBuilder) -> Self {
        let events = LEVELS.map(|level| {
            b.registry.counter_with(
                &b.events,
                &[("level", &level.as_str().to_ascii_lowercase())],
            )
        });
        // `Clock::new` calibrates the TSC (milliseconds): do it here, not on the first span.
        let clock = b.clock.unwrap_or_default();
        // Relaxed: ids only need to be unique, which the atomic increment alone guarantees.
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            registry: b.registry,
            busy: b.busy,
            idle: b.idle,
            config: b.config,
            clock,
            callsites: Callsites::default(),
            events,
        }
    }

    #[cold]
    fn make_histograms(&self, metadata: &Metadata<'_>) -> SpanHistograms {
        let labels = [("span", metadata.name()), ("target", metadata.target())];
        let make = |name: &str| {
            self.registry
                .histogram_with_config(name, &labels, self.config)
        };
        SpanHistograms {
            busy: make(&self.busy),
            idle: self.idle.as_deref().map(make),
        }
    }
}

impl<S> Layer<S> for SpanTimingLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, _attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let timing = SpanTiming::new(self.clock.now());
        let mut extensions = span.extensions_mut();
        match extensions.get_mut::<SpanTimings>() {
            Some(timings) => timings.add(self.id, timing),
            None => extensions.insert(SpanTimings::new(self.id, timing)),
        }
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(timing) = span
                .extensions_mut()
                .get_mut::<SpanTimings>()
                .and_then(|t| t.get_mut(self.id))
        {
            // Read the clock last on enter and first on exit, so the layer's own work is
            // not counted as the span's busy time.
            timing.enter(self.clock.now());
        }
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        let now = self.clock.now();
        if let Some(span) = ctx.span(id)
            && let Some(timing) = span
                .extensions_mut()
                .get_mut::<SpanTimings>()
                .and_then(|t| t.get_mut(self.id))
        {
            timing.exit(now);
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let now = self.clock.now();
        let Some(span) = ctx.span(&id) else { return };
        // Copied out, not removed: another layer may still need the extension, and the
        // registry drops it with the span.
        let timing = span
            .extensions_mut()
            .get_mut::<SpanTimings>()
            .and_then(|t| t.get_mut(self.id).copied());
        let Some(timing) = timing else { return };
        let (busy, idle) = timing.close(now);
        let metadata = span.metadata();
        self.callsites.with(
            metadata,
            || self.make_histograms(metadata),
            |h| {
                h.busy.record_duration(Duration::from_nanos(busy));
                if let Some(idle_histogram) = &h.idle {
                    idle_histogram.record_duration(Duration::from_nanos(idle));
                }
            },
        );
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        self.events[level_index(event.metadata().level())].increment(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        let layer = SpanTimingLayer::builder(&Registry::new())
            .with_idle()
            .build();
        assert!(layer.is_ok());
        assert_eq!(level_index(&Level::ERROR), LEVELS.len() - 1);
        for (i, level) in LEVELS.iter().enumerate() {
            assert_eq!(level_index(level), i);
        }
    }

    #[test]
    fn bad_settings_are_clear_errors() {
        let b = || SpanTimingLayer::builder(&Registry::new());
        assert_eq!(
            b().busy_metric("span.busy").build().unwrap_err(),
            BuildError::InvalidName("span.busy".into())
        );
        assert_eq!(
            b().idle_metric(DEFAULT_BUSY_METRIC).build().unwrap_err(),
            BuildError::DuplicateName(DEFAULT_BUSY_METRIC.into())
        );
        let bytes = HistogramConfig::with_unit(Unit::Bytes);
        assert_eq!(
            b().histogram_config(bytes).build().unwrap_err(),
            BuildError::NotATimeUnit(Unit::Bytes)
        );
        let broken = HistogramConfig {
            lowest_discernible: 0,
            ..default_histogram_config()
        };
        assert_eq!(
            b().histogram_config(broken).build().unwrap_err(),
            BuildError::InvalidConfig(ConfigError::LowestIsZero)
        );
    }

    #[test]
    fn event_counters_exist_for_every_level_from_the_start() {
        let registry = Registry::new();
        let _layer = SpanTimingLayer::new(&registry);
        let snap = registry.snapshot();
        for level in ["trace", "debug", "info", "warn", "error"] {
            assert_eq!(
                snap.counter_with(DEFAULT_EVENTS_METRIC, &[("level", level)]),
                Some(0),
                "{level}"
            );
        }
        assert_eq!(layer_callsites_len(&_layer), 0);
    }

    fn layer_callsites_len(layer: &SpanTimingLayer) -> usize {
        layer.callsites.len()
    }
}
