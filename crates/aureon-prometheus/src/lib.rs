//! # aureon-prometheus
//!
//! Takes [`aureon_telemetry`] snapshots to the monitoring systems operators already run:
//!
//! * **Exposition** ([`render`], [`Renderer`]): Prometheus text 0.0.4, OpenMetrics 1.0 text
//!   (with `# UNIT` and exemplars) and the Prometheus protobuf format with native
//!   histograms, chosen from an `Accept` header with [`Format::negotiate`]. What is exported
//!   and under which names is set by [`ExportOptions`].
//! * **HTTP** ([`http`]): the embedded `/metrics` and `/health` endpoint.
//! * **Grafana** ([`grafana`]): a dashboard whose queries use the names the exporter emits.
//! * **Push** ([`remote_write`], [`pushgateway`]): remote write 1.0 into Prometheus,
//!   VictoriaMetrics, Mimir or Thanos, and the Pushgateway for batch jobs, both on the shared
//!   sender of [`aureon_push`] (queue, retries, deadline, self-metrics).
//! * **HdrHistogram interval logs** ([`hlog`]): a snapshot history as the log HdrHistogram's
//!   own tools read, and back.
//!
//! ```
//! use aureon_prometheus::{ExportOptions, Format, HistogramMode, render};
//! use aureon_telemetry::Registry;
//!
//! let registry = Registry::new();
//! registry.describe("rpc_latency", "RPC latency").unwrap();
//! let latency = registry.histogram_with("rpc_latency", &[("op", "get")]); // µs
//! latency.record(1500);
//! registry.counter("rpc_requests").increment(1);
//!
//! let options = ExportOptions::builder().histogram_mode(HistogramMode::Both).build().unwrap();
//! let text = render(&registry.snapshot(), Format::PrometheusText, &options);
//! let text = String::from_utf8(text).unwrap();
//! assert!(text.contains("rpc_latency_seconds_bucket{op=\"get\",le=\"0.0025\"} 1\n"));
//! assert!(text.contains("rpc_latency_quantiles_seconds{op=\"get\",quantile=\"0.5\"} 0.0015\n"));
//! assert!(text.contains("rpc_requests_total 1\n"));
//! ```
//!
//! ## Naming
//! Registry names carry no unit. A histogram whose [`aureon_telemetry::Unit`] is a time or a
//! size is exported in seconds or bytes with `_seconds`/`_bytes` appended (not doubled);
//! counters get `_total` (not doubled); gauges keep their name. Series whose names would
//! clash are left out and counted in `<prefix>_export_conflicts` (see [`ExportOptions`]);
//! refused registrations are counted in `<prefix>_registration_errors_total`.
//!
//! ## Summaries are cumulative
//! Prometheus client summaries usually report quantiles over a sliding window. A snapshot's
//! histogram holds everything recorded since the start, so the quantiles exported from it
//! are cumulative too: they react ever more slowly as time passes. For recent quantiles,
//! compute them in Prometheus from the histogram output (`histogram_quantile` over
//! `rate(…_bucket[5m])`, which also aggregates across instances), or render a windowed
//! delta (`HistogramSnapshot::delta_since`) yourself.
//!
//! ## Accuracy
//! Summary quantiles are HDR's (within the histogram's significant figures, e.g. 0.1 % at
//! 3). Classic and native buckets assign each HDR bin as a whole by its highest value, so a
//! bucket boundary's cumulative count is exact except for the values of the one HDR bin
//! straddling it. At native schema `s` with `b = 2^(2^-s)` and HDR relative bin width `δ`
//! (1/1024 at 3 significant figures), a quantile Prometheus computes from the native buckets
//! lies in `(v/b, v·b·(1+δ)]` around the exact quantile `v`: below 9.2 % relative error at
//! the default schema 3, 0.37 % at schema 8. The derivation is in `docs/exposition.md`.
//!
//! ## Cost
//! Rendering reads an immutable snapshot: recording threads never wait for it and never
//! see it. A warm [`Renderer`] with a reused output buffer renders without allocating (a
//! test counts allocations for a 1000-metric snapshot in every format).

pub mod grafana;
pub mod hlog;
pub mod http;
pub mod pushgateway;
pub mod remote_write;

mod classic;
mod escape;
mod format;
mod native;
mod numfmt;
mod options;
mod plan;
mod protobuf;
mod text;

pub use format::Format;
pub use options::{
    DEFAULT_COUNT_BUCKETS, DEFAULT_NATIVE_MAX_BUCKETS, DEFAULT_NATIVE_SCHEMA, DEFAULT_QUANTILES,
    DEFAULT_SIZE_BUCKETS, DEFAULT_TIME_BUCKETS, ExportOptions, ExportOptionsBuilder, HistogramMode,
    OptionsError,
};

use aureon_telemetry::{Labels, MetricValue, Snapshot};

/// Renders `snapshot` in `format`.
///
/// Rendering only reads the snapshot: recording threads are never blocked or slowed.
/// Use a [`Renderer`] to reuse buffers between scrapes.
pub fn render(snapshot: &Snapshot, format: Format, options: &ExportOptions) -> Vec<u8> {
    let mut out = Vec::new();
    Renderer::new().render_into(snapshot, format, options, &mut out);
    out
}

/// Renders `snapshot` in `format`, appending to `out`.
pub fn render_into(
    snapshot: &Snapshot,
    format: Format,
    options: &ExportOptions,
    out: &mut Vec<u8>,
) {
    Renderer::new().render_into(snapshot, format, options, out);
}

/// Renders snapshots, keeping its working buffers between calls: after the first render of
/// a registry of a given size, rendering again allocates nothing but what `out` needs to
/// grow (pass the same `out`, cleared, to make that nothing too).
#[derive(Debug, Default)]
pub struct Renderer {
    families: Vec<plan::Family<'static>>,
    entries: Vec<(&'static Labels, &'static MetricValue)>,
    created_ms: Vec<u64>,
    scratch: plan::Scratch,
    native: native::NativeBuckets,
    counts: Vec<u64>,
    name_buf: Vec<u8>,
}

impl Renderer {
    /// A renderer with empty buffers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Renders `snapshot` in `format`, appending to `out`.
    pub fn render_into(
        &mut self,
        snapshot: &Snapshot,
        format: Format,
        options: &ExportOptions,
        out: &mut Vec<u8>,
    ) {
        let mut plan = plan::Plan {
            families: reuse(std::mem::take(&mut self.families)),
            entries: reuse(std::mem::take(&mut self.entries)),
            created_ms: std::mem::take(&mut self.created_ms),
            conflicts: 0,
        };
        plan::build(snapshot, options, &mut plan, &mut self.scratch);
        match format {
            Format::PrometheusText => {
                text::render(snapshot, options, &plan, false, &mut self.counts, out)
            }
            Format::OpenMetrics => {
                text::render(snapshot, options, &plan, true, &mut self.counts, out)
            }
            Format::Protobuf => protobuf::render(
                snapshot,
                options,
                &plan,
                &mut self.native,
                &mut self.counts,
                &mut self.name_buf,
                out,
            ),
        }
        self.families = reuse(plan.families);
        self.entries = reuse(plan.entries);
        self.created_ms = plan.created_ms;
    }
}

/// An empty vector of `U` in `v`'s allocation: the families borrow from each snapshot, so
/// the vector is emptied and its memory carried over to the next render under another
/// lifetime. (Collecting an emptied `vec::IntoIter` into a type of the same size and
/// alignment reuses the allocation.)
fn reuse<T, U>(mut v: Vec<T>) -> Vec<U> {
    v.clear();
    v.into_iter()
        .map(|_| unreachable!("the vector was cleared"))
        .collect()
}
