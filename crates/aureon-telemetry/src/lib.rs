//! # aureon-telemetry
//!
//! A lock-free, concurrent metrics core with HDR histograms, for hot paths that cannot afford
//! a lock or a shared cache line.
//!
//! * [`Histogram`]: every recording thread gets its own shard of HDR bins
//!   (index-compatible with the `hdrhistogram` crate), updated with plain loads and stores;
//!   memory follows the part of the range actually used. Exact count, min, max and sum;
//!   coordinated-omission correction; outlier exemplars; timers. [`Histogram::local`] gives
//!   a thread-bound [`LocalHistogram`] that skips the per-record shard lookup.
//! * [`Counter`]: one cache-padded cell per thread ([`Counter::local`] gives a thread-bound
//!   [`LocalCounter`]). [`Gauge`]: an `f64`.
//! * [`Registry`]: metrics keyed by name and labels (validated with Prometheus' rules, with
//!   a cap on label sets per name, past which records go to the name's overflow series).
//!   Handles are looked up once and record without the map. Optionally, series idle for a
//!   timeout leave snapshots and are freed ([`RegistryBuilder::idle_timeout`]).
//! * [`Registry::snapshot`] merges everything into an immutable [`Snapshot`];
//!   [`Snapshotter`] does so periodically on its own thread, keeps a [`History`] (the latest
//!   snapshot, and earlier points as what changed in between, so five minutes of windows
//!   cost what was recorded) and publishes it for readers who never block writers.
//!
//! ```
//! use aureon_telemetry::Registry;
//! let registry = Registry::new();
//! let h = registry.histogram("block_processing_us");
//! for v in [1500, 2300, 980, 1200, 5500] {
//!     h.record(v);
//! }
//! let snap = registry.snapshot();
//! let hs = snap.histogram("block_processing_us").unwrap();
//! assert_eq!((hs.count(), hs.min(), hs.max(), hs.mean()), (5, 980, 5500, 2296.0));
//! assert_eq!(hs.value_at_quantile(0.99), 5500);
//! ```
//!
//! The crate does no I/O; exporters live in other crates. How a value flows from `record` to
//! a scrape, and why each protocol is correct, is in the repository's `docs/architecture.md`
//! and `docs/concurrency.md`.

#![deny(missing_docs)]

mod clock;
mod counter;
mod counts;
mod entry;
mod error;
mod exemplar;
mod expiry;
mod gauge;
mod histogram;
mod history;
mod key;
mod layout;
mod local;
mod per_thread;
mod registry;
mod shard;
mod snapshot;
mod snapshotter;
mod sync;
mod thread_slot;
mod unit;
mod wide_sum;

pub use counter::Counter;
pub use error::{ConfigError, MetricError, MetricKind};
pub use exemplar::Exemplar;
pub use gauge::Gauge;
pub use histogram::{Histogram, RecordDuration, Timer};
pub use history::{History, HistoryLimits, Window};
pub use key::{Labels, MetricKey, is_valid_label_name, is_valid_metric_name};
pub use layout::HistogramConfig;
pub use local::{LocalCounter, LocalHistogram};
pub use registry::{DEFAULT_MAX_LABEL_SETS, OVERFLOW_LABEL, Registry, RegistryBuilder};
pub use snapshot::{Bin, HistogramSnapshot, MetricValue, Snapshot, Stamp};
pub use snapshotter::{DEFAULT_MAX_HISTORY_BYTES, SnapshotReader, Snapshotter, SnapshotterConfig};
pub use unit::Unit;
