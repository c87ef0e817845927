//! What an OTLP/HTTP response means, as pure functions: which statuses to retry (and when),
//! and what a success body says about rejected points. Nothing here panics on any input.
//!
//! The rules are the OTLP/HTTP specification's ("Failures" and "Retryable Response Codes"):
//! 2xx is success, possibly partial (`ExportMetricsServiceResponse.partial_success`); 429,
//! 502, 503 and 504 may be retried, after `Retry-After` when the server sends one; every
//! other status is final and the data is dropped.

use crate::proto;
use prost::Message;
use std::fmt;
use std::time::{Duration, SystemTime};

/// What to do after a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// 2xx: delivered (read the body with [`decode_success`] for rejected points).
    Delivered,
    /// 429, 502, 503, 504: send again, not before `after` when the server said so
    /// (`Retry-After`), else after the sender's own backoff.
    Retry {
        /// The server's `Retry-After`, when present and well-formed.
        after: Option<Duration>,
    },
    /// Any other status: the server will not accept this request; drop and count it.
    Drop,
}

/// Classifies an HTTP status and `Retry-After` header value (`now` to resolve an HTTP-date).
///
/// ```
/// use aureon_otlp::response::{classify, Disposition};
/// use std::time::{Duration, SystemTime};
/// let now = SystemTime::now();
/// assert_eq!(classify(200, None, now), Disposition::Delivered);
/// assert_eq!(classify(503, Some("7"), now), Disposition::Retry { after: Some(Duration::from_secs(7)) });
/// assert_eq!(classify(400, Some("7"), now), Disposition::Drop);
/// ```
pub fn classify(status: u16, retry_after: Option<&str>, now: SystemTime) -> Disposition {
    match status {
        200..=299 => Disposition::Delivered,
        429 | 502 | 503 | 504 => Disposition::Retry {
            after: retry_after.and_then(|v| parse_retry_after(v, now)),
        },
        _ => Disposition::Drop,
    }
}

/// A `Retry-After` value: delay-seconds or an HTTP-date, capped at one hour (the shared
/// sender's parser, re-exported: one rule for every protocol).
pub use aureon_push::parse_retry_after;

/// What a receiver reported rejecting from an accepted request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PartialSuccess {
    /// Data points the receiver rejected (the rest were accepted).
    pub rejected_data_points: u64,
    /// Its explanation, or a warning when nothing was rejected.
    pub error_message: String,
}

/// Reads the body of a 2xx response: `Ok(None)` for full success (an empty body counts
/// as one, as the specification allows), `Ok(Some(..))` when the server reported a
/// partial success or a warning.
pub fn decode_success(body: &[u8]) -> Result<Option<PartialSuccess>, ResponseError> {
    let response = proto::ExportMetricsServiceResponse::decode(body)
        .map_err(|e| ResponseError::Malformed(e.to_string()))?;
    let Some(p) = response.partial_success else {
        return Ok(None);
    };
    let rejected = u64::try_from(p.rejected_data_points)
        .map_err(|_| ResponseError::NegativeRejected(p.rejected_data_points))?;
    if rejected == 0 && p.error_message.is_empty() {
        return Ok(None);
    }
    Ok(Some(PartialSuccess {
        rejected_data_points: rejected,
        error_message: p.error_message,
    }))
}

/// The message of an error response's `google.rpc.Status` body, when it has one.
pub fn error_message(body: &[u8]) -> Option<String> {
    let status = proto::Status::decode(body).ok()?;
    (!status.message.is_empty()).then_some(status.message)
}

/// A 2xx response whose body is not a valid `ExportMetricsServiceResponse`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResponseError {
    /// Not protobuf of the expected message.
    Malformed(String),
    /// `rejected_data_points` below zero.
    NegativeRejected(i64),
}

impl fmt::Display for ResponseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(e) => write!(f, "malformed OTLP export response: {e}"),
            Self::NegativeRejected(n) => {
                write!(
                    f,
                    "OTLP export response rejects a negative number of points ({n})"
                )
            }
        }
    }
}

impl std::error::Error for ResponseError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_otlp_http_spec() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        for s in [200, 202, 204, 299] {
            assert_eq!(classify(s, Some("3"), now), Disposition::Delivered, "{s}");
        }
        for s in [429, 502, 503, 504] {
            assert_eq!(
                classify(s, None, now),
                Disposition::Retry { after: None },
                "{s}"
            );
            assert_eq!(
                classify(s, Some("12"), now),
                Disposition::Retry {
                    after: Some(Duration::from_secs(12))
                }
            );
        }
        for s in [
            100, 301, 400, 401, 403, 404, 408, 413, 500, 501, 505, 599, 0, 999,
        ] {
            assert_eq!(classify(s, Some("1"), now), Disposition::Drop, "{s}");
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_every_http_date_form() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:00 GMT").unwrap();
        let in37 = Some(Duration::from_secs(37));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            in37
        );
        assert_eq!(
            parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now),
            in37
        );
        assert_eq!(parse_retry_after("Sun Nov  6 08:49:37 1994", now), in37);
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:48:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(
            parse_retry_after(" 120 ", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after("0", now), Some(Duration::ZERO));
        // Valid delay-seconds, however long, is capped rather than refused.
        assert_eq!(
            parse_retry_after("99999999999999999999999", now),
            Some(aureon_push::MAX_RETRY_AFTER)
        );
        for bad in ["", "-1", "1.5", "soon", "Sun, 32 Nov 1994"] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn success_bodies_report_partial_success_and_bad_bodies_do_not_panic() {
        assert_eq!(decode_success(b""), Ok(None));
        let body = |rejected, msg: &str| {
            proto::ExportMetricsServiceResponse {
                partial_success: Some(proto::ExportMetricsPartialSuccess {
                    rejected_data_points: rejected,
                    error_message: msg.to_owned(),
                }),
            }
            .encode_to_vec()
        };
        assert_eq!(
            decode_success(&body(3, "3 points had no name")),
            Ok(Some(PartialSuccess {
                rejected_data_points: 3,
                error_message: "3 points had no name".into()
            }))
        );
        assert_eq!(decode_success(&body(0, "")), Ok(None));
        assert_eq!(
            decode_success(&body(0, "deprecated unit"))
                .unwrap()
                .unwrap()
                .rejected_data_points,
            0
        );
        assert_eq!(
            decode_success(&body(-2, "")),
            Err(ResponseError::NegativeRejected(-2))
        );
        // Truncated, garbage and wrong-wire-type bodies are errors, never panics.
        let good = body(5, "x");
        for bad in [
            &good[..good.len() - 1],
            b"\xff\xff\xff",
            b"\x0a\x05ab",
            b"{\"json\":1}",
        ] {
            assert!(decode_success(bad).is_err(), "{bad:?}");
            let _ = error_message(bad);
        }
        let status = proto::Status {
            code: 3,
            message: "invalid metric".into(),
        }
        .encode_to_vec();
        assert_eq!(error_message(&status).as_deref(), Some("invalid metric"));
        assert_eq!(error_message(b"plain text error"), None);
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let good = proto::ExportMetricsServiceResponse {
            partial_success: Some(proto::ExportMetricsPartialSuccess {
                rejected_data_points: 7,
                error_message: "seven".into(),
            }),
        }
        .encode_to_vec();
        for round in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 64) as usize;
            // Half random bytes, half a valid body with one byte flipped or cut short.
            let body: Vec<u8> = if round % 2 == 0 {
                (0..len)
                    .map(|i| (x >> (i % 8 * 8)) as u8 ^ i as u8)
                    .collect()
            } else {
                let mut b = good.clone();
                let i = (x as usize) % b.len();
                b[i] ^= (x >> 8) as u8 | 1;
                b.truncate(len.max(i));
                b
            };
            let _ = decode_success(&body);
            let _ = error_message(&body);
            let _ = parse_retry_after(&String::from_utf8_lossy(&body), SystemTime::UNIX_EPOCH);
        }
    }
}
