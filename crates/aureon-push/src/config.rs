//! How a pusher sends: interval, queue budget, timeouts, backoff and shutdown deadline.

use std::fmt;
use std::time::Duration;

/// The sending parameters shared by every protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushConfig {
    /// How often the latest published snapshot is read and, when new, queued. Default 15 s
    /// (a scrape interval); the demo pushes every second.
    pub interval: Duration,
    /// The queue's budget in bytes of encoded requests; past it the oldest are dropped and
    /// counted. Default 64 MiB: 20 s of outage at a 1 s interval needs 20 requests, a few
    /// MiB for thousands of series.
    pub queue_bytes: usize,
    /// The longest one request may take, connection to last byte (a receiver that accepts
    /// and never answers costs this, then a retry). Default 10 s.
    pub request_timeout: Duration,
    /// The first retry's backoff (jittered); it doubles per consecutive failure. Default
    /// 30 ms, Prometheus' `min_backoff`.
    pub min_backoff: Duration,
    /// The backoff's cap. Default 5 s, Prometheus' `max_backoff`.
    pub max_backoff: Duration,
    /// How long [`Pusher::shutdown`](crate::Pusher::shutdown) keeps sending what is queued.
    /// Default 5 s.
    pub shutdown_deadline: Duration,
}

impl Default for PushConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(15),
            queue_bytes: 64 << 20,
            request_timeout: Duration::from_secs(10),
            min_backoff: Duration::from_millis(30),
            max_backoff: Duration::from_secs(5),
            shutdown_deadline: Duration::from_secs(5),
        }
    }
}

impl PushConfig {
    /// Checks the values: every duration above zero (the deadline may be zero), a queue of
    /// at least one byte, `min_backoff <= max_backoff`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let zero = |d: Duration, what| {
            if d.is_zero() {
                Err(ConfigError(what))
            } else {
                Ok(())
            }
        };
        zero(self.interval, "interval must be above zero")?;
        zero(self.request_timeout, "request_timeout must be above zero")?;
        zero(self.min_backoff, "min_backoff must be above zero")?;
        if self.max_backoff < self.min_backoff {
            return Err(ConfigError("max_backoff must be at least min_backoff"));
        }
        if self.queue_bytes == 0 {
            return Err(ConfigError("queue_bytes must be above zero"));
        }
        Ok(())
    }
}

/// An invalid [`PushConfig`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigError(&'static str);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid push configuration: {}", self.0)
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_values_are_named() {
        assert!(PushConfig::default().validate().is_ok());
        let bad = PushConfig {
            max_backoff: Duration::from_millis(1),
            ..PushConfig::default()
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("max_backoff")
        );
        let bad = PushConfig {
            queue_bytes: 0,
            ..PushConfig::default()
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("queue_bytes")
        );
    }
}
