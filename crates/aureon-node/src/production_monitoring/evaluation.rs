//! One health evaluation: what happened in the window, and how each rule judges it.
//!
//! Pure functions of the dashboard's ledgers, its throughput window and a memory reading, so
//! the classification can be tested with hand-made figures. Measurements are taken whether or
//! not a rule uses them (they feed the gauges and the report); findings only for enabled rules
//! with enough data, and every rule left out says why ([`Skipped`]).

use super::alerts::Alert;
use super::error_tracker::ratio;
use super::health_rules::{
    Check, Finding, HealthRules, HealthStatus, Level, Skipped, threshold_finding,
};
use super::ledger::{Ledger, LedgerHistory};
use super::throughput_tracker::WindowRate;
use aureon_telemetry::HistogramSnapshot;
use std::time::Duration;

/// The result of [`crate::production_monitoring::HealthDashboard::update_health_status`].
#[derive(Debug, Clone, PartialEq)]
pub struct HealthEvaluation {
    /// The worst level among the findings (Healthy when there are none).
    pub status: HealthStatus,
    /// When it was taken (the dashboard's clock).
    pub at: Duration,
    /// The span the window's figures really cover (at least the rules' window once the
    /// dashboard is older than that; see the ledger docs).
    pub window: Duration,
    /// Operations in the window, failed ones included.
    pub operations: u64,
    /// Errors in the window.
    pub errors: u64,
    /// Errors over operations in the window (`None` without operations).
    pub error_rate: Option<f64>,
    /// Mean latency over every operation's samples in the window, µs (`None` without any).
    pub latency_avg_us: Option<f64>,
    /// p95 latency over every operation's samples in the window, µs.
    pub latency_p95_us: Option<u64>,
    /// p99 latency over every operation's samples in the window, µs.
    pub latency_p99_us: Option<u64>,
    /// Latency samples in the window.
    pub latency_samples: u64,
    /// Operations per second over the throughput window (`None` until the rules'
    /// `min_throughput_span` has been observed).
    pub throughput_ops_sec: Option<f64>,
    /// Time the throughput window covered.
    pub throughput_observed: Duration,
    /// The process's resident memory, bytes (`None` where it cannot be read).
    pub memory_bytes: Option<u64>,
    /// Every enabled rule that had data, with its verdict.
    pub findings: Vec<Finding>,
    /// Every enabled rule without enough data, and why.
    pub skipped: Vec<Skipped>,
    /// Alerts that fired at this evaluation.
    pub fired: Vec<Alert>,
    /// Alerts that cleared at this evaluation.
    pub resolved: Vec<Alert>,
    /// Every alert firing after this evaluation.
    pub firing: Vec<Alert>,
    /// Rules breaching but not yet for long enough, with their breaching evaluations so far.
    pub pending: Vec<(Check, u32)>,
}

impl HealthEvaluation {
    /// The findings that make the status worse than Healthy, worst first.
    pub fn reasons(&self) -> Vec<&Finding> {
        let mut reasons: Vec<&Finding> = self
            .findings
            .iter()
            .filter(|f| f.level != Level::Ok)
            .collect();
        reasons.sort_by_key(|f| std::cmp::Reverse(f.level));
        reasons
    }
}

/// What one evaluation reads.
pub(crate) struct Inputs<'a> {
    pub(crate) now: Duration,
    pub(crate) ledger: &'a Ledger,
    pub(crate) history: &'a LedgerHistory,
    pub(crate) rules: &'a HealthRules,
    /// The throughput tracker's window over `rules.window`.
    pub(crate) throughput: Option<WindowRate>,
    pub(crate) memory_bytes: Option<u64>,
}

/// Measures the window and classifies it. Alerts are left empty for the caller.
pub(crate) fn evaluate(inputs: &Inputs<'_>) -> HealthEvaluation {
    let Inputs {
        now,
        ledger,
        history,
        rules,
        throughput,
        memory_bytes,
    } = *inputs;
    let base = history.at_or_before(now.saturating_sub(rules.window));
    let operations = ledger.operations.saturating_sub(base.operations);
    let errors = ledger.errors.saturating_sub(base.errors).min(operations);

    let mut latency: Option<HistogramSnapshot> = None;
    for index in 0..ledger.ops.len() {
        let delta = ledger.latency_since(index, base);
        match &mut latency {
            None => latency = Some(delta),
            Some(all) => {
                // Every operation's histogram has the dashboard's one configuration.
                let _ = all.merge(&delta);
            }
        }
    }
    let samples = latency.as_ref().map_or(0, HistogramSnapshot::count);
    let throughput_observed = throughput.map_or(Duration::ZERO, |w| w.observed);
    let throughput_ops_sec = throughput
        .filter(|w| w.observed >= rules.min_throughput_span)
        .and_then(|w| w.per_sec());

    let mut eval = HealthEvaluation {
        status: HealthStatus::Healthy,
        at: now,
        window: now.saturating_sub(base.at),
        operations,
        errors,
        error_rate: (operations > 0).then(|| ratio(errors, operations)),
        latency_avg_us: latency
            .as_ref()
            .filter(|h| h.count() > 0)
            .map(HistogramSnapshot::mean),
        latency_p95_us: latency
            .as_ref()
            .filter(|h| h.count() > 0)
            .map(HistogramSnapshot::p95),
        latency_p99_us: latency
            .as_ref()
            .filter(|h| h.count() > 0)
            .map(HistogramSnapshot::p99),
        latency_samples: samples,
        throughput_ops_sec,
        throughput_observed,
        memory_bytes,
        findings: Vec::new(),
        skipped: Vec::new(),
        fired: Vec::new(),
        resolved: Vec::new(),
        firing: Vec::new(),
        pending: Vec::new(),
    };

    let mut judge = |check: Check, value: Option<f64>, why_not: String| {
        let Some(limit) = rules.limit(&check) else {
            return;
        };
        match value {
            Some(v) => eval.findings.push(threshold_finding(check, limit, v)),
            None => eval.skipped.push(Skipped {
                check,
                reason: why_not,
            }),
        }
    };
    let window_secs = format_secs(rules.window);
    judge(
        Check::ErrorRate,
        (operations >= rules.min_operations).then(|| ratio(errors, operations)),
        format!(
            "{operations} operations in the last {window_secs}, fewer than {}",
            rules.min_operations
        ),
    );
    let enough_samples = samples >= rules.min_latency_samples;
    let few_samples = format!(
        "{samples} latency samples in the last {window_secs}, fewer than {}",
        rules.min_latency_samples
    );
    judge(
        Check::LatencyP95,
        eval.latency_p95_us
            .filter(|_| enough_samples)
            .map(|v| v as f64),
        few_samples.clone(),
    );
    judge(
        Check::LatencyP99,
        eval.latency_p99_us
            .filter(|_| enough_samples)
            .map(|v| v as f64),
        few_samples,
    );
    judge(
        Check::Throughput,
        throughput_ops_sec,
        format!(
            "{} observed, less than the {} needed",
            format_secs(throughput_observed),
            format_secs(rules.min_throughput_span)
        ),
    );
    judge(
        Check::Memory,
        memory_bytes.map(|b| b as f64),
        "resident memory cannot be read on this platform".to_owned(),
    );

    if let Some(rule) = &rules.baseline {
        let previous = history.latest();
        let baseline_start = history.at_or_before(now.saturating_sub(rule.window));
        if previous.at < now && baseline_start.at < previous.at {
            for (index, op) in ledger.ops.iter().enumerate() {
                let Some(at_previous) = previous.latency_of(index, &op.name) else {
                    continue;
                };
                let baseline = match baseline_start.latency_of(index, &op.name) {
                    Some(start) => at_previous.delta_since(start),
                    None => at_previous.clone(),
                };
                let last = ledger.latency_since(index, previous);
                if let Some(finding) = rule.compare(&op.name, &last, &baseline) {
                    eval.findings.push(finding);
                }
            }
        }
    }

    eval.status = eval
        .findings
        .iter()
        .map(|f| f.level.status())
        .max()
        .unwrap_or(HealthStatus::Healthy);
    eval
}

/// A duration as people say it: "60s", "1.5s", "250ms".
pub(crate) fn format_secs(d: Duration) -> String {
    if d >= Duration::from_secs(1) || d.is_zero() {
        format!("{}s", super::health_rules::trim_float(d.as_secs_f64(), 1))
    } else {
        format!(
            "{}ms",
            super::health_rules::trim_float(d.as_secs_f64() * 1000.0, 1)
        )
    }
}
