//! Health rules: the thresholds that classify a service as Healthy, Degraded or Unhealthy,
//! and the findings one classification produces.
//!
//! The defaults are the seed's "Metrics to Track" table. Each rule has a *target* and an
//! *alert* threshold: a value within the target is fine, a value past the alert threshold is
//! critical, and a value in between (either threshold included) is a warning. The status is
//! the worst level over every rule that had enough data to be evaluated.

use super::baseline::BaselineRule;
use std::fmt;
use std::time::Duration;

/// A service's health, worst last. As the `aureon_health_status` gauge: 0, 1, 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum HealthStatus {
    /// Every evaluated rule is within its target.
    #[default]
    Healthy,
    /// Some rule is between its target and its alert threshold, or latency has degraded
    /// against the service's own baseline.
    Degraded,
    /// Some rule is past its alert threshold.
    Unhealthy,
}

impl HealthStatus {
    /// The value of the `aureon_health_status` gauge: 0 healthy, 1 degraded, 2 unhealthy.
    pub fn as_gauge(self) -> f64 {
        match self {
            HealthStatus::Healthy => 0.0,
            HealthStatus::Degraded => 1.0,
            HealthStatus::Unhealthy => 2.0,
        }
    }

    pub(crate) fn as_u8(self) -> u8 {
        self as u8
    }

    pub(crate) fn from_u8(v: u8) -> Self {
        match v {
            0 => HealthStatus::Healthy,
            1 => HealthStatus::Degraded,
            _ => HealthStatus::Unhealthy,
        }
    }
}

impl fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HealthStatus::Healthy => "Healthy",
            HealthStatus::Degraded => "Degraded",
            HealthStatus::Unhealthy => "Unhealthy",
        })
    }
}

/// Which way a [`Limit`] points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Lower is better (error rate, latency, memory).
    AtMost,
    /// Higher is better (throughput).
    AtLeast,
}

/// A target and an alert threshold for one metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit {
    /// Values strictly better than this are within target.
    pub target: f64,
    /// Values strictly worse than this are critical.
    pub alert: f64,
    /// Whether lower or higher is better.
    pub direction: Direction,
}

impl Limit {
    /// Lower is better: within target below `target`, critical above `alert`.
    pub fn at_most(target: f64, alert: f64) -> Self {
        Self {
            target,
            alert,
            direction: Direction::AtMost,
        }
    }

    /// Higher is better: within target above `target`, critical below `alert`.
    pub fn at_least(target: f64, alert: f64) -> Self {
        Self {
            target,
            alert,
            direction: Direction::AtLeast,
        }
    }

    /// The level of `value` against this limit.
    pub fn level(&self, value: f64) -> Level {
        let (within, past) = match self.direction {
            Direction::AtMost => (value < self.target, value > self.alert),
            Direction::AtLeast => (value > self.target, value < self.alert),
        };
        if past {
            Level::Critical
        } else if within {
            Level::Ok
        } else {
            Level::Warning
        }
    }

    fn validate(&self, check: Check) -> Result<(), RulesError> {
        let finite = self.target.is_finite() && self.alert.is_finite();
        let ordered = match self.direction {
            Direction::AtMost => self.target <= self.alert,
            Direction::AtLeast => self.target >= self.alert,
        };
        if !finite || self.target < 0.0 || self.alert < 0.0 || !ordered {
            return Err(RulesError::InvalidLimit {
                check,
                limit: *self,
            });
        }
        Ok(())
    }
}

/// How a value stands against its rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Within target.
    Ok,
    /// Between target and alert threshold.
    Warning,
    /// Past the alert threshold.
    Critical,
}

impl Level {
    /// The status this level implies.
    pub fn status(self) -> HealthStatus {
        match self {
            Level::Ok => HealthStatus::Healthy,
            Level::Warning => HealthStatus::Degraded,
            Level::Critical => HealthStatus::Unhealthy,
        }
    }
}

/// What a rule checks.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Check {
    /// Errors over operations in the evaluation window.
    ErrorRate,
    /// 95th percentile latency over all operations in the window, µs.
    LatencyP95,
    /// 99th percentile latency over all operations in the window, µs.
    LatencyP99,
    /// Operations per second over the window.
    Throughput,
    /// The process's resident memory, bytes.
    Memory,
    /// One operation's p99 in the last interval against its own trailing baseline.
    Baseline {
        /// The operation.
        op: String,
    },
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Check::ErrorRate => f.write_str("error rate"),
            Check::LatencyP95 => f.write_str("p95 latency"),
            Check::LatencyP99 => f.write_str("p99 latency"),
            Check::Throughput => f.write_str("throughput"),
            Check::Memory => f.write_str("resident memory"),
            Check::Baseline { op } => write!(f, "{op} p99 against its baseline"),
        }
    }
}

/// The rules [`crate::production_monitoring::HealthDashboard::update_health_status`]
/// evaluates. `None` disables a rule.
///
/// Defaults (the seed's table, target / alert):
///
/// | rule | target | alert |
/// |---|---|---|
/// | error rate | < 1% | > 5% |
/// | p95 latency | < 5 ms | > 10 ms |
/// | p99 latency | < 10 ms | > 20 ms |
/// | throughput | > 100 ops/s | < 50 ops/s |
/// | memory | < 300 MiB | > 500 MiB |
///
/// Memory is MB in the seed, read as MiB as `top` and `free` show it. All rules look at the
/// last 60 s; baseline degradation is on.
///
/// Throughput is a rule of the seed's table, so under the defaults an idle service is
/// Unhealthy; disable it for services whose load comes in bursts.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthRules {
    /// Error rate as a fraction (0.01 = 1%).
    pub error_rate: Option<Limit>,
    /// 95th percentile latency, µs.
    pub latency_p95_us: Option<Limit>,
    /// 99th percentile latency, µs.
    pub latency_p99_us: Option<Limit>,
    /// Operations per second.
    pub throughput_ops_sec: Option<Limit>,
    /// Resident memory, bytes.
    pub memory_bytes: Option<Limit>,
    /// The evaluation window: rules look at what happened in the last `window`.
    pub window: Duration,
    /// The error rate is evaluated only over at least this many operations (at least 1).
    pub min_operations: u64,
    /// Latency percentiles are evaluated only over at least this many samples (at least 1).
    pub min_latency_samples: u64,
    /// Throughput is evaluated only once this much time has been observed: a rate over a
    /// few microseconds says nothing.
    pub min_throughput_span: Duration,
    /// Degradation against the service's own recent latency.
    pub baseline: Option<BaselineRule>,
}

const MIB: f64 = 1024.0 * 1024.0;

impl Default for HealthRules {
    fn default() -> Self {
        Self {
            error_rate: Some(Limit::at_most(0.01, 0.05)),
            latency_p95_us: Some(Limit::at_most(5_000.0, 10_000.0)),
            latency_p99_us: Some(Limit::at_most(10_000.0, 20_000.0)),
            throughput_ops_sec: Some(Limit::at_least(100.0, 50.0)),
            memory_bytes: Some(Limit::at_most(300.0 * MIB, 500.0 * MIB)),
            window: Duration::from_secs(60),
            min_operations: 1,
            min_latency_samples: 1,
            min_throughput_span: Duration::from_secs(1),
            baseline: Some(BaselineRule::default()),
        }
    }
}

/// An invalid [`HealthRules`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum RulesError {
    /// A limit is negative, not finite, or its target is past its alert threshold.
    InvalidLimit {
        /// The rule.
        check: Check,
        /// The limit given.
        limit: Limit,
    },
    /// A limit points the wrong way for its metric (e.g. throughput with `AtMost`).
    WrongDirection(Check),
    /// The evaluation window was zero or longer than a day.
    InvalidWindow(Duration),
    /// `min_operations` or `min_latency_samples` was 0.
    ZeroMinimum,
    /// The baseline rule is invalid (the message says how).
    InvalidBaseline(String),
}

impl fmt::Display for RulesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RulesError::InvalidLimit { check, limit } => write!(
                f,
                "{check} limit {limit:?} is invalid: thresholds must be finite, non-negative, and the target must not be past the alert threshold"
            ),
            RulesError::WrongDirection(check) => {
                write!(f, "{check} limit points the wrong way for its metric")
            }
            RulesError::InvalidWindow(w) => {
                write!(
                    f,
                    "evaluation window {w:?} must be longer than zero and at most a day"
                )
            }
            RulesError::ZeroMinimum => {
                f.write_str("min_operations and min_latency_samples must be at least 1")
            }
            RulesError::InvalidBaseline(why) => write!(f, "invalid baseline rule: {why}"),
        }
    }
}

impl std::error::Error for RulesError {}

/// The longest evaluation window accepted.
pub const MAX_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);

impl HealthRules {
    /// Checks every limit and setting.
    ///
    /// # Errors
    /// The first problem found, as a [`RulesError`].
    pub fn validate(&self) -> Result<(), RulesError> {
        let limits = [
            (Check::ErrorRate, self.error_rate, Direction::AtMost),
            (Check::LatencyP95, self.latency_p95_us, Direction::AtMost),
            (Check::LatencyP99, self.latency_p99_us, Direction::AtMost),
            (
                Check::Throughput,
                self.throughput_ops_sec,
                Direction::AtLeast,
            ),
            (Check::Memory, self.memory_bytes, Direction::AtMost),
        ];
        for (check, limit, direction) in limits {
            if let Some(limit) = limit {
                if limit.direction != direction {
                    return Err(RulesError::WrongDirection(check));
                }
                limit.validate(check)?;
            }
        }
        if self.window.is_zero() || self.window > MAX_WINDOW {
            return Err(RulesError::InvalidWindow(self.window));
        }
        if self.min_operations == 0 || self.min_latency_samples == 0 {
            return Err(RulesError::ZeroMinimum);
        }
        if let Some(b) = &self.baseline {
            b.validate().map_err(RulesError::InvalidBaseline)?;
        }
        Ok(())
    }

    /// The limit of a threshold check (`None` for baseline checks and disabled rules).
    pub fn limit(&self, check: &Check) -> Option<Limit> {
        match check {
            Check::ErrorRate => self.error_rate,
            Check::LatencyP95 => self.latency_p95_us,
            Check::LatencyP99 => self.latency_p99_us,
            Check::Throughput => self.throughput_ops_sec,
            Check::Memory => self.memory_bytes,
            Check::Baseline { .. } => None,
        }
    }
}

/// One rule's verdict in one evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// The rule.
    pub check: Check,
    /// The measured value (fraction, µs, ops/s, bytes; for baselines the ratio).
    pub value: f64,
    /// Its level.
    pub level: Level,
    /// Whether the value is bad enough to start (or keep pending) an alert: past the alert
    /// threshold, or for a baseline past the degradation ratio.
    pub breach: bool,
    /// Whether the value is good enough to clear a firing alert: within target, or for a
    /// baseline at or under the clearing ratio.
    pub clear: bool,
    /// Why, in words, for reports ("error rate 3.00% is above the 1% target").
    pub detail: String,
}

/// A rule that could not be evaluated, and why (not enough data, memory not readable…).
#[derive(Debug, Clone, PartialEq)]
pub struct Skipped {
    /// The rule.
    pub check: Check,
    /// Why it was not evaluated.
    pub reason: String,
}

/// Classifies `value` against a threshold `limit` into a [`Finding`].
pub(crate) fn threshold_finding(check: Check, limit: Limit, value: f64) -> Finding {
    let level = limit.level(value);
    let shown = format_value(&check, value);
    let detail = match (level, limit.direction) {
        (Level::Ok, Direction::AtMost) => {
            format!(
                "{check} {shown} is below the {} target",
                format_value(&check, limit.target)
            )
        }
        (Level::Ok, Direction::AtLeast) => {
            format!(
                "{check} {shown} is above the {} target",
                format_value(&check, limit.target)
            )
        }
        (Level::Warning, Direction::AtMost) => format!(
            "{check} {shown} is not below the {} target (alert above {})",
            format_value(&check, limit.target),
            format_value(&check, limit.alert)
        ),
        (Level::Warning, Direction::AtLeast) => format!(
            "{check} {shown} is not above the {} target (alert below {})",
            format_value(&check, limit.target),
            format_value(&check, limit.alert)
        ),
        (Level::Critical, Direction::AtMost) => format!(
            "{check} {shown} is above the {} alert threshold",
            format_value(&check, limit.alert)
        ),
        (Level::Critical, Direction::AtLeast) => format!(
            "{check} {shown} is below the {} alert threshold",
            format_value(&check, limit.alert)
        ),
    };
    Finding {
        check,
        value,
        level,
        breach: level == Level::Critical,
        clear: level == Level::Ok,
        detail,
    }
}

/// A value of `check` in its unit, for people.
pub(crate) fn format_value(check: &Check, value: f64) -> String {
    match check {
        Check::ErrorRate => format_percent(value),
        Check::LatencyP95 | Check::LatencyP99 => format_micros(value),
        Check::Throughput => format!("{} ops/s", trim_float(value, 1)),
        Check::Memory => format!("{}MiB", trim_float(value / MIB, 1)),
        Check::Baseline { .. } => format!("{}×", trim_float(value, 2)),
    }
}

/// A fraction as a percentage with up to two decimals and no trailing zeros (0.01 → "1%",
/// 0.0097 → "0.97%").
pub(crate) fn format_percent(fraction: f64) -> String {
    format!("{}%", trim_float(fraction * 100.0, 2))
}

/// Microseconds for people: "145µs", "2.3ms", "1.25s".
pub(crate) fn format_micros(us: f64) -> String {
    if !us.is_finite() {
        return "n/a".to_owned();
    }
    if us < 1_000.0 {
        format!("{}µs", us.round())
    } else if us < 1_000_000.0 {
        format!("{}ms", trim_float(us / 1_000.0, 1))
    } else {
        format!("{}s", trim_float(us / 1_000_000.0, 2))
    }
}

/// `value` with at most `decimals` decimals, trailing zeros removed.
pub(crate) fn trim_float(value: f64, decimals: usize) -> String {
    let s = format!("{value:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}
