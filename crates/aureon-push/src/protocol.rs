//! What a protocol supplies: how a snapshot becomes HTTP requests and what a response means.
//! The remote-write retry rule (which the Pushgateway shares) and the one `Retry-After`
//! parser are plain functions here, so a protocol states its rule in one line; OTLP's rule is
//! `aureon_otlp::response::classify`, built on the same parser.

use aureon_telemetry::Snapshot;
use std::fmt;
use std::time::{Duration, SystemTime};

/// The HTTP method of a [`PushRequest`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `POST` (remote write, OTLP, Pushgateway "update the group").
    Post,
    /// `PUT` (Pushgateway "replace the group").
    Put,
    /// `DELETE` (Pushgateway "delete the group").
    Delete,
}

impl Method {
    /// The method's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }
}

/// One HTTP request a protocol made of a snapshot, with the number of samples (or data
/// points) it carries: what the self-metrics count as sent or dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushRequest {
    /// The method.
    pub method: Method,
    /// The full URL (`http://` or `https://`).
    pub url: String,
    /// Headers besides `Content-Length` (which the transport sets).
    pub headers: Vec<(String, String)>,
    /// The body, already encoded (and compressed) as the protocol wants it.
    pub body: Vec<u8>,
    /// The samples (series values, histogram series or data points) the body carries.
    pub samples: u64,
}

impl PushRequest {
    /// A `POST` of `body` to `url` carrying `samples`, without headers yet.
    pub fn post(url: &str, body: Vec<u8>, samples: u64) -> Self {
        Self {
            method: Method::Post,
            url: url.to_owned(),
            headers: Vec::new(),
            body,
            samples,
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// What the request holds in the queue: body, URL and headers.
    pub fn queued_bytes(&self) -> usize {
        self.body.len()
            + self.url.len()
            + self
                .headers
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>()
    }
}

/// A receiver's answer, as the sender read it (the body only up to a limit).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// The response headers (names in lower case).
    pub headers: Vec<(String, String)>,
    /// The start of the body (at most 64 KiB are read).
    pub body: Vec<u8>,
}

impl Response {
    /// The first header called `name` (compared without case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What to do after a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted; `rejected` samples of it were refused by the receiver all the same (OTLP's
    /// `partial_success`), and are counted as dropped.
    Delivered {
        /// Samples the receiver said it rejected.
        rejected: u64,
    },
    /// Send again later: after `after` when the receiver said so, else after the backoff.
    Retry {
        /// The receiver's `Retry-After`.
        after: Option<Duration>,
    },
    /// The receiver will never accept this request: drop it and count its samples.
    Drop,
}

/// Why samples were dropped (the `reason` label of `aureon_push_samples_dropped_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// The queue's byte budget was full: the oldest request made room.
    QueueFull,
    /// The receiver refused the request with a status that is not retried (e.g. 400).
    Rejected,
    /// The receiver accepted the request but rejected some of its samples.
    PartiallyRejected,
    /// The shutdown deadline passed before the request was delivered.
    Shutdown,
    /// The request could not be built or sent at all (a bad URL, a body over the queue).
    Invalid,
}

impl DropReason {
    /// Every reason, in label order.
    pub const ALL: [DropReason; 5] = [
        DropReason::QueueFull,
        DropReason::Rejected,
        DropReason::PartiallyRejected,
        DropReason::Shutdown,
        DropReason::Invalid,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::QueueFull => "queue_full",
            DropReason::Rejected => "rejected",
            DropReason::PartiallyRejected => "partially_rejected",
            DropReason::Shutdown => "shutdown",
            DropReason::Invalid => "invalid",
        }
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a protocol could not encode a snapshot.
pub type EncodeError = Box<dyn std::error::Error + Send + Sync>;

/// A push protocol: remote write, the Pushgateway, OTLP.
pub trait Protocol: Send + 'static {
    /// The protocol's name, the `protocol` label of the self-metrics.
    fn name(&self) -> &'static str;

    /// The requests that deliver `snapshot` (in order). An error drops the snapshot (it is
    /// logged and counted as `invalid`); the next one is tried as usual.
    fn encode(&mut self, snapshot: &Snapshot) -> Result<Vec<PushRequest>, EncodeError>;

    /// What `response` means for the request just sent.
    fn classify(&mut self, response: &Response) -> Outcome;

    /// Whether a newer snapshot's requests make queued ones pointless (a Pushgateway group
    /// is replaced by each push, so only the newest matters): then the queue keeps only the
    /// newest snapshot's requests, and the older ones are not counted as dropped, because
    /// their content is part of the newer one.
    fn supersedes(&self) -> bool {
        false
    }

    /// A request to send once when the pusher shuts down, after the flush (the
    /// Pushgateway's optional `DELETE` of the group).
    fn on_shutdown(&mut self) -> Option<PushRequest> {
        None
    }
}

/// The Prometheus remote-write rule (spec 1.0, "Retries & Backoff"): 2xx delivered; 5xx and
/// 429 retried, after `Retry-After` when the receiver sends a delay in seconds; every other
/// status (4xx) dropped at once, because sending it again cannot succeed. The Pushgateway
/// follows the same rule.
pub fn classify_remote_write(response: &Response) -> Outcome {
    match response.status {
        200..=299 => Outcome::Delivered { rejected: 0 },
        429 | 500..=599 => Outcome::Retry {
            after: response
                .header("retry-after")
                .and_then(|v| parse_retry_after(v, SystemTime::now())),
        },
        _ => Outcome::Drop,
    }
}

/// The longest `Retry-After` honoured: a hostile or confused receiver cannot park the
/// sender for longer than this (the queue budget keeps bounding memory meanwhile).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// A `Retry-After` value (RFC 9110 §10.2.3): delay-seconds, or an HTTP-date in any of the
/// three accepted forms (a date already past gives zero), resolved against `now` and capped
/// at [`MAX_RETRY_AFTER`]. `None` when malformed, so the sender uses its own backoff. The one
/// parser behind every protocol's retry rule.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    let delay = if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        // Too many digits for a u64 is still "a very long time", not malformed.
        Duration::from_secs(v.parse::<u64>().unwrap_or(u64::MAX))
    } else {
        let date = httpdate::parse_http_date(v).ok()?;
        date.duration_since(now).unwrap_or(Duration::ZERO)
    };
    Some(delay.min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16) -> Response {
        Response {
            status,
            ..Response::default()
        }
    }

    #[test]
    fn remote_write_retries_5xx_and_429_only() {
        assert_eq!(
            classify_remote_write(&status(204)),
            Outcome::Delivered { rejected: 0 }
        );
        for s in [429, 500, 502, 503, 599] {
            assert_eq!(
                classify_remote_write(&status(s)),
                Outcome::Retry { after: None },
                "{s}"
            );
        }
        for s in [301, 400, 401, 404, 413] {
            assert_eq!(classify_remote_write(&status(s)), Outcome::Drop, "{s}");
        }
    }

    #[test]
    fn retry_after_is_read_and_capped() {
        let mut r = status(503);
        r.headers.push(("Retry-After".into(), " 7 ".into()));
        assert_eq!(
            classify_remote_write(&r),
            Outcome::Retry {
                after: Some(Duration::from_secs(7))
            }
        );
        let now = SystemTime::now();
        assert_eq!(parse_retry_after("99999", now), Some(MAX_RETRY_AFTER));
        assert_eq!(
            parse_retry_after("99999999999999999999", now),
            Some(MAX_RETRY_AFTER)
        );
        let in_90s = httpdate::fmt_http_date(now + Duration::from_secs(90));
        let got = parse_retry_after(&in_90s, now).unwrap();
        assert!(
            got <= Duration::from_secs(90) && got >= Duration::from_secs(89),
            "{got:?}"
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(Duration::ZERO)
        );
        for bad in ["", "-1", "1.5", "soon", "Sun, 32 Nov 1994 08:49:37 GMT"] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
        }
    }
}
