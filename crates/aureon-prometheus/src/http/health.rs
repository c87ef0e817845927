//! The `/health` answer: [`HealthStatus`], [`HealthReport`] and their JSON form.
//!
//! The endpoint does not decide health itself: the application does (its dashboard knows
//! the thresholds), through a callback given to [`super::MetricsServer::start`]. This module
//! only fixes the vocabulary and the mapping to an HTTP status that load balancers and
//! probes understand: degraded still serves (200), unhealthy does not (503).

use std::fmt;

/// The three states of the seed's health dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum HealthStatus {
    /// Everything within its thresholds.
    #[default]
    Healthy,
    /// Working, but some threshold is crossed (e.g. error rate above 1 %).
    Degraded,
    /// Not working acceptably (e.g. error rate above 5 %).
    Unhealthy,
}

impl HealthStatus {
    /// The lower-case name used in JSON (`healthy`, `degraded`, `unhealthy`).
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Healthy => "healthy",
            HealthStatus::Degraded => "degraded",
            HealthStatus::Unhealthy => "unhealthy",
        }
    }

    /// The HTTP status `/health` answers with: 200 for healthy and degraded (a degraded
    /// node still serves and should keep receiving traffic), 503 for unhealthy.
    pub fn http_status(self) -> u16 {
        match self {
            HealthStatus::Healthy | HealthStatus::Degraded => 200,
            HealthStatus::Unhealthy => 503,
        }
    }

    /// The value of the `aureon_health_status` gauge: 0 healthy, 1 degraded, 2 unhealthy.
    pub fn as_gauge(self) -> f64 {
        match self {
            HealthStatus::Healthy => 0.0,
            HealthStatus::Degraded => 1.0,
            HealthStatus::Unhealthy => 2.0,
        }
    }
}

impl fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A health status with the reasons for it, as `/health` returns it:
/// `{"status":"degraded","reasons":["error rate 2.1% above 1%"]}`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HealthReport {
    /// The overall status.
    pub status: HealthStatus,
    /// Why (human-readable, any text; empty when healthy).
    pub reasons: Vec<String>,
}

impl HealthReport {
    /// Healthy, no reasons.
    pub fn healthy() -> Self {
        Self::default()
    }

    /// A status with one reason.
    pub fn new(status: HealthStatus, reason: impl Into<String>) -> Self {
        Self {
            status,
            reasons: vec![reason.into()],
        }
    }

    /// The JSON object `/health` returns (UTF-8, reasons escaped per RFC 8259).
    pub fn to_json(&self) -> String {
        let mut out =
            String::with_capacity(40 + self.reasons.iter().map(|r| r.len() + 4).sum::<usize>());
        out.push_str("{\"status\":\"");
        out.push_str(self.status.as_str());
        out.push_str("\",\"reasons\":[");
        for (i, reason) in self.reasons.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_json_string(&mut out, reason);
        }
        out.push_str("]}");
        out
    }
}

/// Appends `s` as a JSON string literal. Control characters are escaped, everything else
/// (including non-ASCII) is valid in a JSON string as it is.
fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_http_and_gauge_values() {
        use HealthStatus::*;
        assert_eq!(
            [Healthy, Degraded, Unhealthy].map(HealthStatus::http_status),
            [200, 200, 503]
        );
        assert_eq!(
            [Healthy, Degraded, Unhealthy].map(HealthStatus::as_gauge),
            [0.0, 1.0, 2.0]
        );
        assert_eq!(Degraded.to_string(), "degraded");
    }

    #[test]
    fn json_is_exact_and_escaped() {
        assert_eq!(
            HealthReport::healthy().to_json(),
            r#"{"status":"healthy","reasons":[]}"#
        );
        let r = HealthReport {
            status: HealthStatus::Unhealthy,
            reasons: vec![
                "a \"quoted\" \\ path".into(),
                "tab\tnl\nbell\u{7} µs".into(),
            ],
        };
        assert_eq!(
            r.to_json(),
            r#"{"status":"unhealthy","reasons":["a \"quoted\" \\ path","tab\tnl\nbell\u0007 µs"]}"#
        );
    }
}
