//! An encoded OTLP/HTTP request: the body (protobuf, optionally gzipped) and the headers
//! the OTLP/HTTP specification asks for.

use crate::proto::ExportMetricsServiceRequest;
use flate2::Compression;
use flate2::write::GzEncoder;
use prost::Message;
use std::io::Write;

/// The path of the metrics signal (appended to a base endpoint such as
/// `http://collector:4318`).
pub const METRICS_PATH: &str = "/v1/metrics";

/// The `Content-Type` of binary protobuf OTLP/HTTP requests and responses.
pub const CONTENT_TYPE: &str = "application/x-protobuf";

/// The `User-Agent` this crate's requests carry, e.g. `aureon-otlp/0.2.0`.
pub fn user_agent() -> String {
    format!("aureon-otlp/{}", env!("CARGO_PKG_VERSION"))
}

/// The metrics URL for a base endpoint, as `OTEL_EXPORTER_OTLP_ENDPOINT` is interpreted:
/// [`METRICS_PATH`] appended (`http://h:4318` and `http://h:4318/` both give
/// `http://h:4318/v1/metrics`). A signal-specific endpoint is used as it is instead.
pub fn metrics_url(base: &str) -> String {
    format!("{}{METRICS_PATH}", base.trim_end_matches('/'))
}

/// A request body ready to `POST` to [`METRICS_PATH`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedRequest {
    body: Vec<u8>,
    gzip: bool,
    data_points: u64,
}

impl EncodedRequest {
    pub(crate) fn new(
        request: &ExportMetricsServiceRequest,
        data_points: u64,
        gzip: bool,
    ) -> std::io::Result<Self> {
        let plain = request.encode_to_vec();
        let body = if gzip {
            let mut encoder =
                GzEncoder::new(Vec::with_capacity(plain.len() / 4), Compression::fast());
            encoder.write_all(&plain)?;
            encoder.finish()?
        } else {
            plain
        };
        Ok(Self {
            body,
            gzip,
            data_points,
        })
    }

    /// The body bytes as sent.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The body bytes as sent, by value.
    pub fn into_body(self) -> Vec<u8> {
        self.body
    }

    /// Whether the body is gzipped (`Content-Encoding: gzip`).
    pub fn is_gzip(&self) -> bool {
        self.gzip
    }

    /// How many data points the request carries (what a receiver's
    /// `partial_success.rejected_data_points` is out of).
    pub fn data_points(&self) -> u64 {
        self.data_points
    }

    /// The request headers: [`EncodedRequest::content_headers`] and `User-Agent`.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut h: Vec<(&'static str, String)> = self
            .content_headers()
            .into_iter()
            .map(|(k, v)| (k, v.to_owned()))
            .collect();
        h.push(("User-Agent", user_agent()));
        h
    }

    /// The headers that describe the body: `Content-Type`, and `Content-Encoding: gzip`
    /// when gzipped (for a sender that sets its own `User-Agent`).
    pub fn content_headers(&self) -> Vec<(&'static str, &'static str)> {
        let mut h = vec![("Content-Type", CONTENT_TYPE)];
        if self.gzip {
            h.push(("Content-Encoding", "gzip"));
        }
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn gzip_bodies_inflate_to_the_protobuf_and_say_so() {
        let request = ExportMetricsServiceRequest::default();
        let mut r = request.clone();
        r.resource_metrics.push(Default::default());
        let plain = EncodedRequest::new(&r, 0, false).unwrap();
        let gz = EncodedRequest::new(&r, 0, true).unwrap();
        let mut inflated = Vec::new();
        flate2::read::GzDecoder::new(gz.body())
            .read_to_end(&mut inflated)
            .unwrap();
        assert_eq!(inflated, plain.body());
        assert!(gz.headers().contains(&("Content-Encoding", "gzip".into())));
        assert!(
            !plain
                .headers()
                .iter()
                .any(|(k, _)| *k == "Content-Encoding")
        );
        assert_eq!(plain.headers()[0], ("Content-Type", CONTENT_TYPE.into()));
        assert_eq!(
            gz.content_headers(),
            vec![("Content-Type", CONTENT_TYPE), ("Content-Encoding", "gzip")]
        );
        assert!(
            plain
                .headers()
                .iter()
                .any(|(k, v)| *k == "User-Agent" && v.starts_with("aureon-otlp/"))
        );
        assert_eq!(metrics_url("http://h:4318/"), "http://h:4318/v1/metrics");
        assert_eq!(metrics_url("http://h:4318"), "http://h:4318/v1/metrics");
    }
}
