//! OTLP/HTTP export on the shared sender: [`OtlpExporter`] is the [`Protocol`] that
//! [`aureon_push::Pusher`] runs, so OTLP gets the same bounded queue, backoff, shutdown flush
//! and self-metrics as remote write and the Pushgateway, with OTLP's own rules:
//!
//! * each snapshot is one `POST` of an `ExportMetricsServiceRequest` ([`Encoder::encode`]),
//!   gzipped unless configured otherwise, with the OTLP headers and any extra ones (an
//!   `Authorization` for a hosted collector);
//! * 429, 502, 503 and 504 are retried (after `Retry-After` when sent), every other failure
//!   is final ([`response::classify`]);
//! * a 2xx body's `partial_success.rejected_data_points` are counted as dropped
//!   (`partially_rejected`) and its message kept as the pusher's last error;
//! * with [`Temporality::Delta`] each request holds what changed
//!   since the snapshot encoded before it, so a delta that is dropped (queue full, shutdown)
//!   is counted and gone: prefer cumulative (the default) where the receiver accepts it.
//!
//! ```no_run
//! use aureon_otlp::{OtlpConfig, OtlpExporter, metrics_url};
//! use aureon_push::{PushConfig, Pusher};
//! use aureon_telemetry::{Registry, Snapshotter, SnapshotterConfig};
//! use std::time::SystemTime;
//!
//! let registry = Registry::new();
//! let snapshotter = Snapshotter::spawn(&registry, SnapshotterConfig::default())?;
//! let config = OtlpConfig::builder("aureon-node").build()?;
//! let exporter = OtlpExporter::new(&metrics_url("http://127.0.0.1:4318"), config, SystemTime::now())?;
//! let pusher = Pusher::spawn(exporter, snapshotter.reader(), PushConfig::default(), Some(&registry))?;
//! // ... record ...
//! println!("{}", pusher.shutdown_with(Some(snapshotter.tick())));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::config::{OtlpConfig, Temporality};
use crate::encode::Encoder;
use crate::request::user_agent;
use crate::response::{self, Disposition};
use aureon_push::{EncodeError, Outcome, Protocol, PushRequest, Response};
use aureon_telemetry::Snapshot;
use std::fmt;
use std::time::SystemTime;

/// A bad exporter setting (the URL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupError(String);

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SetupError {}

/// The OTLP/HTTP protocol for [`aureon_push::Pusher`].
#[derive(Debug)]
pub struct OtlpExporter {
    encoder: Encoder,
    url: String,
    headers: Vec<(String, String)>,
    /// The snapshot the last request was made of (delta temporality only).
    previous: Option<Snapshot>,
    /// The receiver's last partial-success message, for the report.
    last_warning: Option<String>,
}

impl OtlpExporter {
    /// Exports to the metrics URL `url`, used as it is (a signal-specific endpoint such as
    /// `http://collector:4318/v1/metrics`; [`metrics_url`](crate::metrics_url) makes one of
    /// a base endpoint). Cumulative series start at `start_time`.
    pub fn new(url: &str, config: OtlpConfig, start_time: SystemTime) -> Result<Self, SetupError> {
        aureon_push::validate_url(url).map_err(SetupError)?;
        Ok(Self {
            encoder: Encoder::new(config, start_time),
            url: url.to_owned(),
            headers: Vec::new(),
            previous: None,
            last_warning: None,
        })
    }

    /// Adds a header to every request (`Authorization`, a tenant header…).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The encoder (its configuration and start time).
    pub fn encoder(&self) -> &Encoder {
        &self.encoder
    }

    /// The message of the receiver's last partial success, if it sent one.
    pub fn last_warning(&self) -> Option<&str> {
        self.last_warning.as_deref()
    }
}

impl Protocol for OtlpExporter {
    fn name(&self) -> &'static str {
        "otlp"
    }

    fn encode(&mut self, snapshot: &Snapshot) -> Result<Vec<PushRequest>, EncodeError> {
        let encoded = self.encoder.encode(snapshot, self.previous.as_ref())?;
        if self.encoder.config().temporality() == Temporality::Delta {
            self.previous = Some(snapshot.clone());
        }
        let mut request = PushRequest::post(&self.url, Vec::new(), encoded.data_points());
        for (name, value) in encoded.content_headers() {
            request = request.header(name, value);
        }
        request = request.header("User-Agent", &user_agent());
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        request.body = encoded.into_body();
        Ok(vec![request])
    }

    fn classify(&mut self, r: &Response) -> Outcome {
        match response::classify(r.status, r.header("retry-after"), SystemTime::now()) {
            Disposition::Delivered => match response::decode_success(&r.body) {
                Ok(Some(partial)) => {
                    self.last_warning = Some(partial.error_message);
                    Outcome::Delivered {
                        rejected: partial.rejected_data_points,
                    }
                }
                // A 2xx whose body is not a response message: the receiver accepted the
                // data all the same (the specification makes the body optional).
                Ok(None) | Err(_) => Outcome::Delivered { rejected: 0 },
            },
            Disposition::Retry { after } => Outcome::Retry { after },
            Disposition::Drop => Outcome::Drop,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto;
    use aureon_telemetry::Registry;
    use prost::Message;
    use std::time::Duration;

    fn exporter(temporality: Temporality) -> OtlpExporter {
        let config = OtlpConfig::builder("svc")
            .temporality(temporality)
            .build()
            .unwrap();
        OtlpExporter::new(
            "http://127.0.0.1:4318/v1/metrics",
            config,
            SystemTime::now(),
        )
        .unwrap()
        .header("Authorization", "Bearer t")
    }

    #[test]
    fn a_snapshot_is_one_gzipped_post_with_the_otlp_headers() {
        let registry = Registry::new();
        registry.counter("c").increment(2);
        registry.histogram("h").record(5);
        let mut e = exporter(Temporality::Cumulative);
        let requests = e.encode(&registry.snapshot()).unwrap();
        assert_eq!(requests.len(), 1);
        let r = &requests[0];
        assert_eq!(r.url, "http://127.0.0.1:4318/v1/metrics");
        let header = |n: &str| {
            r.headers
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(header("Content-Type"), Some("application/x-protobuf"));
        assert_eq!(header("Content-Encoding"), Some("gzip"));
        assert_eq!(header("Authorization"), Some("Bearer t"));
        assert!(header("User-Agent").unwrap().starts_with("aureon-otlp/"));
        // Two registry metrics plus the registry's own registration-error counter.
        assert!(r.samples >= 2, "{}", r.samples);
        assert!(
            e.previous.is_none(),
            "cumulative keeps no previous snapshot"
        );
    }

    #[test]
    fn responses_map_onto_the_shared_outcomes() {
        let mut e = exporter(Temporality::Cumulative);
        let resp = |status, body: Vec<u8>, retry: Option<&str>| Response {
            status,
            headers: retry
                .map(|v| vec![("retry-after".to_owned(), v.to_owned())])
                .unwrap_or_default(),
            body,
        };
        assert_eq!(
            e.classify(&resp(200, Vec::new(), None)),
            Outcome::Delivered { rejected: 0 }
        );
        let partial = proto::ExportMetricsServiceResponse {
            partial_success: Some(proto::ExportMetricsPartialSuccess {
                rejected_data_points: 3,
                error_message: "bad points".into(),
            }),
        }
        .encode_to_vec();
        assert_eq!(
            e.classify(&resp(200, partial, None)),
            Outcome::Delivered { rejected: 3 }
        );
        assert_eq!(e.last_warning(), Some("bad points"));
        assert_eq!(
            e.classify(&resp(200, b"\xff\xff not protobuf".to_vec(), None)),
            Outcome::Delivered { rejected: 0 }
        );
        assert_eq!(
            e.classify(&resp(503, Vec::new(), Some("4"))),
            Outcome::Retry {
                after: Some(Duration::from_secs(4))
            }
        );
        assert_eq!(
            e.classify(&resp(500, Vec::new(), None)),
            Outcome::Drop,
            "OTLP does not retry 500"
        );
        assert_eq!(e.classify(&resp(400, Vec::new(), None)), Outcome::Drop);
    }

    #[test]
    fn delta_requests_follow_each_other() {
        let registry = Registry::new();
        let c = registry.counter("c");
        let mut e = exporter(Temporality::Delta);
        c.increment(5);
        e.encode(&registry.snapshot()).unwrap();
        c.increment(2);
        let second = e.encode(&registry.snapshot()).unwrap();
        assert!(e.previous.is_some());
        let body = flate2::read::GzDecoder::new(&second[0].body[..]);
        let request = proto::ExportMetricsServiceRequest::decode(
            std::io::Read::bytes(body)
                .collect::<Result<Vec<u8>, _>>()
                .unwrap()
                .as_slice(),
        )
        .unwrap();
        let metric = request.resource_metrics[0].scope_metrics[0]
            .metrics
            .iter()
            .find(|m| m.name == "c")
            .unwrap();
        let Some(proto::metric::Data::Sum(sum)) = &metric.data else {
            panic!("{metric:?}")
        };
        assert_eq!(
            sum.data_points[0].value,
            Some(proto::number_data_point::Value::AsInt(2))
        );
    }
}
