//! Prometheus remote write 1.0: snapshots as `WriteRequest` protobuf bodies, snappy block
//! compressed, with the spec's headers, for the shared sender of [`aureon_push`].
//!
//! * Series are named as the scrape exposition names them (same [`ExportOptions`]: unit
//!   suffixes, `_total`, namespace, constant labels as external labels), so a dashboard
//!   works unchanged whether Prometheus scraped or received the data.
//! * Counters and gauges are float samples; histograms are the classic
//!   `_bucket{le}`/`_sum`/`_count` series ([`RemoteWriteHistograms::Classic`], the default) or
//!   native histograms ([`RemoteWriteHistograms::Native`]; Prometheus needs
//!   `--enable-feature=native-histograms` to store them, VictoriaMetrics 1.79 drops them
//!   without an error). Every sample of a snapshot carries the snapshot's wall-clock time.
//! * A series that was sent and is no longer in the snapshot (expired by the registry's idle
//!   timeout) gets the **stale marker** once, as Prometheus' own scrape loop does, so queries
//!   stop showing it at once instead of five minutes later.
//! * A snapshot becomes as many requests as it takes to keep each under
//!   `max_samples_per_send` samples (default 2000, Prometheus' own default).
//!
//! Retries follow the spec ([`aureon_push::classify_remote_write`]): 5xx and 429 again with
//! backoff, other 4xx dropped and counted.
//!
//! ```no_run
//! use aureon_prometheus::remote_write::{RemoteWrite, RemoteWriteHistograms};
//! use aureon_push::{PushConfig, Pusher};
//! use aureon_telemetry::{Registry, Snapshotter, SnapshotterConfig};
//!
//! let registry = Registry::new();
//! let snapshotter = Snapshotter::spawn(&registry, SnapshotterConfig::default())?;
//! let protocol = RemoteWrite::new("http://127.0.0.1:9090/api/v1/write")?
//!     .external_label("instance", "node-1")?
//!     .histograms(RemoteWriteHistograms::Native);
//! let pusher = Pusher::spawn(protocol, snapshotter.reader(), PushConfig::default(), Some(&registry))?;
//! // ... record ...
//! println!("{}", pusher.shutdown_with(Some(snapshotter.tick())));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod proto;

use crate::native::NativeBuckets;
use crate::options::ExportOptions;
use crate::plan::{self, Family, Kind, Source};
use crate::{classic, numfmt};
use aureon_push::{EncodeError, Outcome, Protocol, PushRequest, Response};
use aureon_telemetry::{Labels, MetricValue, Snapshot};
use prost::Message;
use std::collections::HashSet;
use std::fmt;

/// Prometheus' stale marker: the NaN whose bit pattern means "this series ended here".
pub const STALE_NAN: f64 = f64::from_bits(0x7ff0_0000_0000_0002);

/// The spec's protocol version header value.
pub const REMOTE_WRITE_VERSION: &str = "0.1.0";

/// How histograms are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RemoteWriteHistograms {
    /// Classic cumulative `_bucket{le}` series with `_sum` and `_count` (bounds from
    /// [`ExportOptions::buckets`]): every receiver stores them.
    #[default]
    Classic,
    /// Native (sparse exponential) histograms at [`ExportOptions::native_schema`]: exact
    /// count and sum, buckets within the bound of the crate docs' "Accuracy".
    Native,
}

impl std::str::FromStr for RemoteWriteHistograms {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "classic" => Ok(Self::Classic),
            "native" => Ok(Self::Native),
            other => Err(format!(
                "{other:?} is not a histogram form (classic or native)"
            )),
        }
    }
}

/// A bad remote-write (or Pushgateway) setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupError(pub(crate) String);

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SetupError {}

/// Checks a Prometheus label name (`[a-zA-Z_][a-zA-Z0-9_]*`, not `__`-reserved).
pub(crate) fn check_label_name(name: &str) -> Result<(), SetupError> {
    let mut bytes = name.bytes();
    let ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !name.starts_with("__");
    if ok {
        Ok(())
    } else {
        Err(SetupError(format!(
            "invalid label name {name:?}: must match [a-zA-Z_][a-zA-Z0-9_]* and not start with __"
        )))
    }
}

/// The remote-write protocol for [`aureon_push::Pusher`].
#[derive(Debug)]
pub struct RemoteWrite {
    url: String,
    options: ExportOptions,
    histograms: RemoteWriteHistograms,
    max_samples_per_send: usize,
    headers: Vec<(String, String)>,
    /// The label sets sent for the last snapshot, for stale markers.
    previous: HashSet<Vec<proto::Label>>,
    scratch: plan::Scratch,
    native: NativeBuckets,
    counts: Vec<u64>,
    name_buf: Vec<u8>,
}

impl RemoteWrite {
    /// Remote write to `url` (e.g. `http://prometheus:9090/api/v1/write`,
    /// `http://victoria:8428/api/v1/write`) with the default [`ExportOptions`].
    pub fn new(url: &str) -> Result<Self, SetupError> {
        aureon_push::validate_url(url).map_err(SetupError)?;
        Ok(Self {
            url: url.to_owned(),
            options: ExportOptions::default().histograms_only(),
            histograms: RemoteWriteHistograms::Classic,
            max_samples_per_send: 2000,
            headers: Vec::new(),
            previous: HashSet::new(),
            scratch: plan::Scratch::default(),
            native: NativeBuckets::default(),
            counts: Vec::new(),
            name_buf: Vec::new(),
        })
    }

    /// Names and labels series as `options` does for the scrape (summaries are never sent:
    /// histograms go as histograms).
    pub fn export_options(mut self, options: &ExportOptions) -> Self {
        self.options = options.histograms_only();
        self
    }

    /// Adds a label to every series (`job`, `instance`, `cluster`…), as Prometheus'
    /// `external_labels`; a series' own label of the same name wins.
    pub fn external_label(mut self, name: &str, value: &str) -> Result<Self, SetupError> {
        check_label_name(name)?;
        self.options.const_labels.retain(|(k, _)| k != name);
        self.options
            .const_labels
            .push((name.to_owned(), value.to_owned()));
        self.options.const_labels.sort();
        Ok(self)
    }

    /// Classic or native histograms.
    pub fn histograms(mut self, histograms: RemoteWriteHistograms) -> Self {
        self.histograms = histograms;
        self
    }

    /// The most samples in one request (at least 1).
    pub fn max_samples_per_send(mut self, n: usize) -> Self {
        self.max_samples_per_send = n.max(1);
        self
    }

    /// Adds a header to every request (e.g. `X-Scope-OrgID` for Mimir tenants).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The `WriteRequest`s for `snapshot`, before compression (for tests and tools).
    pub fn write_requests(&mut self, snapshot: &Snapshot) -> Vec<proto::WriteRequest> {
        let ts = i64::try_from(plan::epoch_ms(snapshot.system_time())).unwrap_or(i64::MAX);
        // Taken out for the call (the plan borrows them while `self`'s buffers are written).
        let options = std::mem::take(&mut self.options);
        let mut scratch = std::mem::take(&mut self.scratch);
        let mut out = Series {
            ts,
            const_labels: &options.const_labels,
            series: Vec::new(),
            metadata: Vec::new(),
        };
        let mut p = plan::Plan::default();
        plan::build(snapshot, &options, &mut p, &mut scratch);
        for family in p.families.iter().filter(|f| !f.clashes) {
            match family.source {
                Source::Registry(name) => {
                    let members = &p.entries[family.start..family.end];
                    self.registry_family(&options, &mut out, snapshot, family, name, members);
                }
                Source::RegistrationErrors => {
                    self.name_buf.clear();
                    family.name.push(&mut self.name_buf, "_total");
                    let n = name_of(&self.name_buf);
                    out.float(
                        &n,
                        &Labels::default(),
                        None,
                        snapshot.registration_errors() as f64,
                    );
                }
                Source::ExportConflicts => {
                    self.name_buf.clear();
                    family.name.push(&mut self.name_buf, "");
                    let n = name_of(&self.name_buf);
                    out.float(&n, &Labels::default(), None, p.conflicts as f64);
                }
            }
        }
        let Series {
            mut series,
            metadata,
            ..
        } = out;
        drop(p);
        self.options = options;
        self.scratch = scratch;
        // Stale markers for what was sent last time and is gone now.
        let current: HashSet<Vec<proto::Label>> = series.iter().map(|s| s.labels.clone()).collect();
        for gone in self.previous.difference(&current) {
            series.push(proto::TimeSeries {
                labels: gone.clone(),
                samples: vec![proto::Sample {
                    value: STALE_NAN,
                    timestamp: ts,
                }],
                histograms: Vec::new(),
            });
        }
        self.previous = current;
        let mut requests = Vec::new();
        let mut metadata = Some(metadata);
        for chunk in series.chunks(self.max_samples_per_send) {
            requests.push(proto::WriteRequest {
                timeseries: chunk.to_vec(),
                metadata: metadata.take().unwrap_or_default(),
            });
        }
        requests
    }

    fn registry_family(
        &mut self,
        options: &ExportOptions,
        out: &mut Series<'_>,
        snapshot: &Snapshot,
        family: &Family<'_>,
        name: &str,
        members: &[(&Labels, &MetricValue)],
    ) {
        let help = crate::text::help(snapshot, name).to_owned();
        match family.kind {
            Kind::Counter => {
                self.name_buf.clear();
                family.name.push(&mut self.name_buf, "_total");
                let n = name_of(&self.name_buf);
                out.meta(&n, 1, help, "");
                for &(labels, value) in members {
                    if let MetricValue::Counter(c) = value {
                        out.float(&n, labels, None, *c as f64);
                    }
                }
            }
            Kind::Gauge => {
                self.name_buf.clear();
                family.name.push(&mut self.name_buf, "");
                let n = name_of(&self.name_buf);
                out.meta(&n, 2, help, "");
                for &(labels, value) in members {
                    if let MetricValue::Gauge(g) = value {
                        out.float(&n, labels, None, *g);
                    }
                }
            }
            Kind::Histogram { unit, .. } => {
                let div = family.divisor();
                self.name_buf.clear();
                family.name.push(&mut self.name_buf, "");
                let base = name_of(&self.name_buf);
                out.meta(&base, 3, help, unit.base_name().unwrap_or(""));
                let bounds = options.buckets(name, unit);
                let (bucket, sum, count) = (
                    format!("{base}_bucket"),
                    format!("{base}_sum"),
                    format!("{base}_count"),
                );
                for &(labels, value) in members {
                    let MetricValue::Histogram(h) = value else {
                        continue;
                    };
                    match self.histograms {
                        RemoteWriteHistograms::Classic => {
                            self.counts.clear();
                            classic::cumulative(
                                h,
                                bounds.iter().map(|&b| classic::threshold(b, div)),
                                &mut self.counts,
                            );
                            let mut le = Vec::new();
                            for (&bound, &n) in bounds.iter().zip(&self.counts) {
                                le.clear();
                                numfmt::push_label_float(&mut le, bound);
                                let le = String::from_utf8_lossy(&le).into_owned();
                                out.float(&bucket, labels, Some(("le", &le)), n as f64);
                            }
                            out.float(&bucket, labels, Some(("le", "+Inf")), h.count() as f64);
                            out.float(&sum, labels, None, h.sum() as f64 / div);
                            out.float(&count, labels, None, h.count() as f64);
                        }
                        RemoteWriteHistograms::Native => {
                            self.native.fill(
                                h,
                                div,
                                options.native_schema,
                                options.native_max_buckets,
                            );
                            let mut spans = Vec::new();
                            let mut deltas = Vec::new();
                            self.native.spans_and_deltas(
                                |offset, length| spans.push(proto::BucketSpan { offset, length }),
                                |d| deltas.push(d),
                            );
                            let histogram = proto::Histogram {
                                count_int: h.count(),
                                sum: h.sum() as f64 / div,
                                schema: i32::from(self.native.schema),
                                zero_threshold: self.native.zero_threshold,
                                zero_count_int: self.native.zero_count,
                                positive_spans: spans,
                                positive_deltas: deltas,
                                // Cumulative since the series began: Prometheus detects resets.
                                reset_hint: 0,
                                timestamp: out.ts,
                            };
                            out.native(&base, labels, histogram);
                        }
                    }
                }
            }
        }
    }
}

fn name_of(buf: &[u8]) -> String {
    String::from_utf8_lossy(buf).into_owned()
}

/// The series of one snapshot being built.
struct Series<'o> {
    ts: i64,
    const_labels: &'o [(String, String)],
    series: Vec<proto::TimeSeries>,
    metadata: Vec<proto::MetricMetadata>,
}

impl Series<'_> {
    fn labels(
        &self,
        name: &str,
        labels: &Labels,
        extra: Option<(&str, &str)>,
    ) -> Vec<proto::Label> {
        let mut out: Vec<proto::Label> = Vec::with_capacity(labels.len() + 2);
        let label = |k: &str, v: &str| proto::Label {
            name: k.to_owned(),
            value: v.to_owned(),
        };
        out.push(label("__name__", name));
        for (k, v) in labels.iter() {
            out.push(label(k, v));
        }
        for (k, v) in self.const_labels {
            if labels.get(k).is_none() {
                out.push(label(k, v));
            }
        }
        if let Some((k, v)) = extra {
            out.push(label(k, v));
        }
        // The spec: sorted by name (byte order, as Prometheus compares them).
        out.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
        out
    }

    fn float(&mut self, name: &str, labels: &Labels, extra: Option<(&str, &str)>, value: f64) {
        let labels = self.labels(name, labels, extra);
        self.series.push(proto::TimeSeries {
            labels,
            samples: vec![proto::Sample {
                value,
                timestamp: self.ts,
            }],
            histograms: Vec::new(),
        });
    }

    fn native(&mut self, name: &str, labels: &Labels, histogram: proto::Histogram) {
        let labels = self.labels(name, labels, None);
        self.series.push(proto::TimeSeries {
            labels,
            samples: Vec::new(),
            histograms: vec![histogram],
        });
    }

    fn meta(&mut self, name: &str, kind: i32, help: String, unit: &str) {
        self.metadata.push(proto::MetricMetadata {
            r#type: kind,
            metric_family_name: name.to_owned(),
            help,
            unit: unit.to_owned(),
        });
    }
}

impl Protocol for RemoteWrite {
    fn name(&self) -> &'static str {
        "remote_write"
    }

    fn encode(&mut self, snapshot: &Snapshot) -> Result<Vec<PushRequest>, EncodeError> {
        let mut out = Vec::new();
        for request in self.write_requests(snapshot) {
            let samples = request.timeseries.len() as u64;
            let body = snap::raw::Encoder::new().compress_vec(&request.encode_to_vec())?;
            let mut r = PushRequest::post(&self.url, body, samples)
                .header("Content-Encoding", "snappy")
                .header("Content-Type", "application/x-protobuf")
                .header("X-Prometheus-Remote-Write-Version", REMOTE_WRITE_VERSION);
            for (k, v) in &self.headers {
                r = r.header(k, v);
            }
            out.push(r);
        }
        Ok(out)
    }

    fn classify(&mut self, response: &Response) -> Outcome {
        aureon_push::classify_remote_write(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aureon_telemetry::Registry;

    #[test]
    fn labels_are_sorted_with_the_name_and_external_labels() {
        let registry = Registry::new();
        registry
            .counter_with("rpc_requests", &[("method", "get"), ("Zone", "a")])
            .increment(3);
        let mut rw = RemoteWrite::new("http://127.0.0.1:1/api/v1/write")
            .unwrap()
            .external_label("job", "node")
            .unwrap();
        let requests = rw.write_requests(&registry.snapshot());
        let series = &requests[0].timeseries;
        let s = series
            .iter()
            .find(|s| s.labels.iter().any(|l| l.value == "rpc_requests_total"))
            .unwrap();
        let names: Vec<_> = s.labels.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["Zone", "__name__", "job", "method"]);
        assert_eq!(s.samples[0].value, 3.0);
    }

    #[test]
    fn expired_series_get_one_stale_marker() {
        let registry = Registry::builder()
            .idle_timeout(std::time::Duration::from_millis(1))
            .build();
        registry
            .counter_with("peers", &[("peer", "a")])
            .increment(1);
        let mut rw = RemoteWrite::new("http://127.0.0.1:1/w").unwrap();
        let first = rw.write_requests(&registry.snapshot());
        assert!(
            first[0]
                .timeseries
                .iter()
                .all(|s| !s.samples[0].value.is_nan())
        );
        // Idle past the timeout: gone from the next snapshots.
        std::thread::sleep(std::time::Duration::from_millis(5));
        let mut stale = 0;
        for _ in 0..3 {
            let _ = registry.snapshot();
            std::thread::sleep(std::time::Duration::from_millis(3));
        }
        for request in rw.write_requests(&registry.snapshot()) {
            for s in request.timeseries {
                if s.samples[0].value.to_bits() == STALE_NAN.to_bits() {
                    assert!(s.labels.iter().any(|l| l.value == "peers_total"));
                    stale += 1;
                }
            }
        }
        assert_eq!(stale, 1);
        // Once only.
        let again = rw.write_requests(&registry.snapshot());
        assert!(
            again
                .iter()
                .flat_map(|r| &r.timeseries)
                .all(|s| !s.samples[0].value.is_nan())
        );
    }

    #[test]
    fn bad_settings_are_refused_with_the_reason() {
        assert!(
            RemoteWrite::new("localhost:9090")
                .unwrap_err()
                .to_string()
                .contains("scheme")
        );
        let e = RemoteWrite::new("http://x/")
            .unwrap()
            .external_label("bad-name", "v")
            .unwrap_err();
        assert!(e.to_string().contains("bad-name"));
        assert!("sparse".parse::<RemoteWriteHistograms>().is_err());
    }
}
