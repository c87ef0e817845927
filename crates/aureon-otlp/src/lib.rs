//! # aureon-otlp
//!
//! OTLP/HTTP metrics for `aureon-telemetry`: published [`Snapshot`](aureon_telemetry::Snapshot)s
//! become `ExportMetricsServiceRequest` protobuf bodies (optionally gzipped), and responses
//! are classified as the OTLP/HTTP specification says. The sending loop (queue, backoff,
//! deadline, self-metrics) is the shared one of [`aureon_push`]; [`OtlpExporter`] is the
//! protocol it runs, calling [`Encoder::encode`] for a body and [`response`] for what a reply
//! means. The crate does not depend on the Prometheus exposition.
//!
//! * counters → monotonic `Sum`s (cumulative by default, [`Temporality::Delta`] on request),
//! * gauges → `Gauge`s,
//! * histograms → `ExponentialHistogram` points with exact count, sum, min and max, the
//!   interval's slowest exemplars, and a scale chosen per histogram so that every bucket is
//!   within [`scale::error_bound`] of each value counted in it (derivation in [`scale`]),
//! * a `Resource` with `service.name` and any further attributes; labels become attributes.
//!
//! ```
//! use aureon_otlp::{Encoder, OtlpConfig, METRICS_PATH};
//! use aureon_telemetry::Registry;
//! use std::time::SystemTime;
//!
//! let registry = Registry::new();
//! registry.counter("blocks_total").increment(3);
//! let encoder = Encoder::new(OtlpConfig::builder("aureon-node").build()?, SystemTime::now());
//! let request = encoder.encode(&registry.snapshot(), None)?;
//! // POST request.body() to http://collector:4318{METRICS_PATH} with request.headers().
//! assert!(request.is_gzip() && METRICS_PATH == "/v1/metrics");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]

mod config;
mod encode;
pub mod exporter;
pub mod proto;
mod request;
pub mod response;
pub mod scale;

pub use config::{ConfigError, DEFAULT_MAX_BUCKETS, OtlpConfig, OtlpConfigBuilder, Temporality};
pub use encode::{Bucketing, EncodeError, Encoder};
pub use exporter::OtlpExporter;
pub use request::{CONTENT_TYPE, EncodedRequest, METRICS_PATH, metrics_url, user_agent};
