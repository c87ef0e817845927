//! # aureon-metrics
//!
//! A [`metrics`] (0.24) recorder backed by an [`aureon_telemetry::Registry`]: code already
//! instrumented with `counter!`, `gauge!` and `histogram!` records into the lock-free core
//! after one line of set-up.
//!
//! ```
//! use aureon_telemetry::Registry;
//!
//! let registry = Registry::new();
//! // In a service: `aureon_metrics::install(&registry)?;` once at start-up (global recorder).
//! let recorder = aureon_metrics::AureonRecorder::new(registry.clone());
//! metrics::with_local_recorder(&recorder, || {
//!     metrics::describe_histogram!("rpc.latency", metrics::Unit::Seconds, "RPC latency");
//!     let latency = metrics::histogram!("rpc.latency", "method" => "get_block");
//!     latency.record(0.0015); // 1.5 ms, given in seconds
//!     metrics::counter!("rpc.calls", "method" => "get_block").increment(1);
//! });
//! let snap = registry.snapshot();
//! let h = snap.histogram_with("rpc_latency", &[("method", "get_block")]).unwrap();
//! assert_eq!((h.count(), h.min()), (1, 1_500_000)); // stored in nanoseconds
//! assert_eq!(snap.description("rpc_latency"), Some("RPC latency"));
//! assert_eq!(snap.counter_with("rpc_calls", &[("method", "get_block")]), Some(1));
//! ```
//!
//! # What goes where
//! | facade | core |
//! | --- | --- |
//! | `counter!(name, labels)` | [`Registry::counter_with`](aureon_telemetry::Registry::counter_with): one cell per thread |
//! | `gauge!` `.set/.increment/.decrement` | [`Gauge::set`](aureon_telemetry::Gauge::set) / `add` / `sub` |
//! | `histogram!` `.record(f64)` | [`Registry::histogram_with_config`](aureon_telemetry::Registry::histogram_with_config), value scaled by [`HistogramScale`] |
//! | `describe_*!` description | [`Registry::describe`](aureon_telemetry::Registry::describe) (exported as `# HELP`) |
//! | `describe_histogram!` unit | the histogram's [`HistogramConfig::unit`](aureon_telemetry::HistogramConfig::unit) and scale |
//!
//! # The hot path
//! Hold the handle (`let c = counter!("x");` once, `c.increment(1)` in the loop) and a record
//! is the core's: no lock, no map, no shared cache line, no allocation after the thread's
//! first record; the facade adds one virtual call (and, for histograms, the `f64` scaling).
//! The macros call `register_*` each time they run: the first time for a key, the recorder
//! maps its names and finds or creates the metric in the registry; after that it finds the
//! handle in its own cache, keyed by the hash the `metrics::Key` carries (one read-locked
//! lookup and a reference-count increment, no allocation). `benches/benches/facade.rs`
//! measures both against `metrics-exporter-prometheus`'s recorder.
//!
//! # Names
//! `metrics` allows any name; Prometheus does not. Names and label names are mapped the way
//! `metrics-exporter-prometheus` maps them (each invalid character becomes `_`: `http.requests`
//! → `http_requests`), see [`metric_name`] and [`label_name`]. Two names that map to the same
//! name are the same metric. What the mapping cannot fix (the empty name, label names with the
//! reserved `__` prefix, two labels that map to one name, more label sets than the registry's
//! cap, one name used as two kinds) is refused by the registry's documented path: the handle
//! records but is not exported, and each refused registration is counted (refused handles are
//! not cached, so a label explosion past the registry's cap cannot grow the recorder either) in
//! [`Snapshot::registration_errors`](aureon_telemetry::Snapshot::registration_errors) and kept
//! in [`Registry::last_registration_error`](aureon_telemetry::Registry::last_registration_error).
//!
//! # Histogram units and scaling
//! `histogram!` takes `f64`; HDR stores integers. Each histogram name gets a
//! [`HistogramScale`]: time units are stored as integer nanoseconds (seconds × 10⁹ …), sizes as
//! bytes, bit rates as bits per second, counts and percentages as plain integers (fractions
//! rounded away). Rounding to whole nanoseconds keeps every value of 1 µs or more within HDR's
//! own 0.1 % relative error, and smaller ones within 0.5 ns; the [`scale`] module argues the
//! choice. Exporters turn the stored integers back into base units with
//! [`Unit::to_base_factor`](aureon_telemetry::Unit::to_base_factor).
//!
//! A histogram never described with a unit is treated as **seconds**
//! ([`RecorderBuilder::undescribed_histograms`] changes that). Seconds is what
//! `histogram!(…).record(duration)` produces, so the common case keeps nanosecond precision;
//! a plain count recorded into such a histogram still exports as the same number (37 is
//! stored as 37·10⁹ ns and exported as 37 s), only labelled with a time unit.
//!
//! ## Describe before first use
//! A histogram's configuration is fixed when it is registered, and the registry keeps one per
//! name, so **the unit must be described before the name is first registered** (put the
//! `describe_histogram!` calls at start-up, before the code that records). The recorder fixes
//! the scale at a name's first registration, from the unit described so far or the
//! undescribed default. A unit described later that would change the scale is not applied
//! (the values already stored cannot be rescaled, and mixing scales in one histogram would
//! corrupt it); it is counted in [`IGNORED_UNITS_METRIC`] (label `metric`). A later unit
//! that keeps the scale (e.g. `Seconds` after the default) changes nothing. Descriptions
//! (help text) work in any order. [`AureonRecorder::histogram_scale`] tells which scale a name
//! has.
//!
//! A histogram registered directly on the registry under the same name and labels must use
//! the same configuration ([`HistogramScale::config`]), or the facade's registration is
//! refused as a configuration mismatch.
//!
//! ## Bad values
//! NaN, ±∞ and values that round to a negative integer are **dropped and counted** in
//! [`DROPPED_VALUES_METRIC`] (labels `metric` and `reason` = `nan`, `infinite`, `negative`),
//! registered on the first such value: nothing panics, nothing is invented, nothing vanishes
//! silently. Finite values too large for the range saturate and are counted by the
//! histogram's `clamped()`. Gauges take any `f64` as given (NaN included: Prometheus has it).
//!
//! # `Counter::absolute`
//! `absolute(v)` means "the counter has reached at least `v`" (mirroring an external counter,
//! possibly from several threads that read it at different times). The core's counter is a
//! sum of per-thread cells and cannot be *set*, so it keeps a high-water mark
//! ([`aureon_telemetry::Counter::absolute`]): `absolute(v)` raises the mark to `v` with one
//! atomic `fetch_max` and adds what it rose by. Under any interleaving the amounts added sum to
//! exactly the largest `v` ever passed, and a stale smaller `v` adds nothing. A counter fed
//! only by `absolute` therefore reads the largest value passed; one fed by both reads the sum
//! of its increments plus that largest value (mixing the two on one counter has no better
//! meaning). The mark lives in the counter, written only by `absolute`, never by `increment`,
//! and goes with the series when idle expiry frees it.
//!
//! # Idle expiry
//! With [`aureon_telemetry::RegistryBuilder::idle_timeout`] set on the registry, the recorder
//! drops its cached handles of series that expire, so a label value that stops being used
//! (a peer gone, a path no longer requested) costs nothing once the handles you hold are
//! dropped too. A handle held across an expiry keeps recording into the same series, which
//! comes back with its totals.

//! # Not supported
//! * Units of counters and gauges: the core has no place for them (descriptions are kept).
//! * Fractions of unit-less histogram values (see [`HistogramScale`]).
//! * The `metrics` metadata (target, level, module path) is not recorded.

#![deny(missing_docs)]

mod cache;
mod handles;
mod names;
mod recorder;
pub mod scale;
mod thread_cache;

pub use handles::DROPPED_VALUES_METRIC;
pub use names::{label_name, metric_name};
pub use recorder::{AureonRecorder, IGNORED_UNITS_METRIC, RecorderBuilder};
pub use scale::{HistogramScale, Rejected};

use aureon_telemetry::Registry;
use std::fmt;

/// Installs an [`AureonRecorder`] for `registry` as the process-wide `metrics` recorder and
/// returns a clone of it.
///
/// # Errors
/// [`InstallError`] if a global recorder is already installed (by this function or any
/// other); the existing recorder stays in place.
pub fn install(registry: &Registry) -> Result<AureonRecorder, InstallError> {
    let recorder = AureonRecorder::new(registry.clone());
    metrics::set_global_recorder(recorder.clone()).map_err(|_| InstallError { _private: () })?;
    Ok(recorder)
}

/// A global `metrics` recorder was already installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallError {
    _private: (),
}

impl fmt::Display for InstallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a global metrics recorder is already installed; it was left in place")
    }
}

impl std::error::Error for InstallError {}
