//! Degradation against the service's own recent past.
//!
//! Fixed thresholds miss a service that slowly gets worse while staying under them. So each
//! evaluation also compares, for every operation, the p99 latency of the *last interval* (since
//! the previous evaluation) with the p99 of the *trailing baseline* (the interval before it,
//! reaching back [`BaselineRule::window`]). A ratio above [`BaselineRule::degrade_ratio`]
//! marks the service Degraded; an alert on it clears only at or under
//! [`BaselineRule::clear_ratio`]. Minimum sample counts keep small intervals from
//! triggering it, and a floor keeps microsecond-level jitter (10 µs → 25 µs) from counting.

use super::health_rules::{Check, Finding, Level, format_micros, trim_float};
use aureon_telemetry::HistogramSnapshot;
use std::time::Duration;

/// Settings of baseline degradation.
#[derive(Debug, Clone, PartialEq)]
pub struct BaselineRule {
    /// How far back the baseline reaches. Default 10 minutes.
    pub window: Duration,
    /// Last-interval p99 over baseline p99 above which the service is Degraded. Default 2.0.
    pub degrade_ratio: f64,
    /// Ratio at or under which a baseline alert clears (hysteresis). Default 1.25.
    pub clear_ratio: f64,
    /// Samples the last interval needs for the comparison. Default 20.
    pub min_interval_samples: u64,
    /// Samples the baseline needs for the comparison. Default 100.
    pub min_baseline_samples: u64,
    /// Last-interval p99s under this many µs never count as degraded. Default 1000 (1 ms).
    pub min_p99_us: u64,
}

impl Default for BaselineRule {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(600),
            degrade_ratio: 2.0,
            clear_ratio: 1.25,
            min_interval_samples: 20,
            min_baseline_samples: 100,
            min_p99_us: 1_000,
        }
    }
}

impl BaselineRule {
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.window.is_zero() || self.window > super::health_rules::MAX_WINDOW {
            return Err(format!(
                "window {:?} must be longer than zero and at most a day",
                self.window
            ));
        }
        if !(self.clear_ratio.is_finite() && self.degrade_ratio.is_finite()) {
            return Err("ratios must be finite".to_owned());
        }
        if !(1.0 <= self.clear_ratio && self.clear_ratio <= self.degrade_ratio) {
            return Err(format!(
                "need 1 <= clear_ratio ({}) <= degrade_ratio ({})",
                self.clear_ratio, self.degrade_ratio
            ));
        }
        if self.min_interval_samples == 0 || self.min_baseline_samples == 0 {
            return Err("minimum sample counts must be at least 1".to_owned());
        }
        Ok(())
    }

    /// Compares one operation's last interval with its baseline. `None` when either has too
    /// few samples (nothing to say).
    pub(crate) fn compare(
        &self,
        op: &str,
        last: &HistogramSnapshot,
        baseline: &HistogramSnapshot,
    ) -> Option<Finding> {
        if last.count() < self.min_interval_samples || baseline.count() < self.min_baseline_samples
        {
            return None;
        }
        let (now, before) = (last.p99(), baseline.p99().max(1));
        let ratio = now as f64 / before as f64;
        let breach = ratio > self.degrade_ratio && now >= self.min_p99_us;
        let clear = ratio <= self.clear_ratio || now < self.min_p99_us;
        let detail = format!(
            "{op} p99 {} in the last interval is {}× its baseline {}",
            format_micros(now as f64),
            trim_float(ratio, 2),
            format_micros(before as f64)
        );
        Some(Finding {
            check: Check::Baseline { op: op.to_owned() },
            value: ratio,
            level: if breach { Level::Warning } else { Level::Ok },
            breach,
            clear,
            detail,
        })
    }
}
