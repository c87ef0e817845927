//! # aureon-tracing
//!
//! A [`tracing_subscriber::Layer`] that turns `tracing` spans into HDR histograms in an
//! [`aureon_telemetry::Registry`]: each span's **busy time** (entered, summed over every
//! entry) and optionally its **idle time** (alive but not entered), labelled with the span's
//! `span` name and `target`; and a count of events by `level`. Code already instrumented
//! with spans gets latency distributions by adding one layer. The idea follows jonhoo's
//! `tracing-timing`, which also keeps span timings in HDR histograms.
//!
//! ```
//! use aureon_telemetry::Registry;
//! use aureon_tracing::SpanTimingLayer;
//! use tracing_subscriber::prelude::*;
//!
//! let registry = Registry::new();
//! let layer = SpanTimingLayer::builder(&registry).with_idle().build().unwrap();
//! let subscriber = tracing_subscriber::registry().with(layer);
//! tracing::subscriber::with_default(subscriber, || {
//!     for height in 0..3 {
//!         let _span = tracing::info_span!(target: "node", "import_block", height).entered();
//!     }
//! });
//! let snap = registry.snapshot();
//! let labels = [("span", "import_block"), ("target", "node")];
//! assert_eq!(snap.histogram_with("tracing_span_busy_seconds", &labels).unwrap().count(), 3);
//! assert_eq!(snap.histogram_with("tracing_span_idle_seconds", &labels).unwrap().count(), 3);
//! ```
//!
//! # Cost
//! * Per span: four clock reads (`quanta`, as the core's timers use), the span's own
//!   extension lock on creation, enter, exit and close, and on close one lock-free lookup of
//!   the callsite's cached histograms plus the core's lock-free record. The registry map is
//!   touched once per callsite, never per span.
//! * Per event: one per-thread counter increment. Nothing is looked up, so events with no
//!   span open cost the same.
//!
//! # What is measured
//! Times are in nanoseconds of the layer's clock (histogram unit
//! [`Unit::Nanoseconds`](aureon_telemetry::Unit::Nanoseconds); exporters convert to seconds).
//! Busy time runs from the first enter to the last exit when entries overlap (a span entered
//! on two threads at once, or re-entered), so it is never counted twice; idle time is the
//! rest of the span's life from creation to close. Both are recorded when the span closes.

#![deny(missing_docs)]

mod callsites;
mod layer;
mod timing;

pub use layer::{
    BuildError, DEFAULT_BUSY_METRIC, DEFAULT_EVENTS_METRIC, DEFAULT_IDLE_METRIC, SpanTimingBuilder,
    SpanTimingLayer, default_histogram_config,
};
