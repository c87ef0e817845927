//! The text report, in the seed's layout: service and status, one line per operation, overall
//! figures, and, when the status is not Healthy, why.
//!
//! A pure function of the figures it is given, so tests check it against hand-computed
//! figures without a dashboard. Per-operation and overall lines are lifetime figures; the
//! status, its reasons, throughput and alerts come from the last evaluation's window.

use super::evaluation::{HealthEvaluation, format_secs};
use super::health_rules::{
    Check, Direction, HealthRules, HealthStatus, format_micros, format_value,
};
use super::latency_tracker::LatencyStats;
use std::fmt::Write;

/// The rule line of the seed's report (39 × U+2550).
const RULE: &str = "═══════════════════════════════════════";
/// Error kinds shown per operation line.
const KINDS_SHOWN: usize = 3;

/// One operation's lifetime figures.
#[derive(Debug, Clone, PartialEq)]
pub struct OperationSummary {
    /// The operation's name.
    pub name: String,
    /// Operations recorded, failed ones included.
    pub operations: u64,
    /// Failed operations.
    pub errors: u64,
    /// Errors by kind, most frequent first.
    pub error_counts: Vec<(String, u64)>,
    /// Latency statistics (count 0 when no latency was recorded).
    pub latency: LatencyStats,
}

/// Everything the report shows.
pub(crate) struct ReportData<'a> {
    pub(crate) service: &'a str,
    pub(crate) status: HealthStatus,
    pub(crate) operations: &'a [OperationSummary],
    /// Lifetime mean over every operation's latency samples, µs.
    pub(crate) avg_latency_us: Option<f64>,
    pub(crate) total_operations: u64,
    pub(crate) error_rate: f64,
    pub(crate) evaluation: Option<&'a HealthEvaluation>,
    pub(crate) rules: &'a HealthRules,
}

pub(crate) fn render(data: &ReportData<'_>) -> String {
    let mut out = String::new();
    // `write!` into a `String` cannot fail.
    let _ = writeln!(
        out,
        "{RULE}\nService: {}\nStatus: {}\n{RULE}\n",
        data.service, data.status
    );
    out.push_str("Operations:\n");
    if data.operations.is_empty() {
        out.push_str("  (none recorded)\n");
    }
    for op in data.operations {
        let _ = writeln!(out, "  {}: {}", op.name, operation_line(op));
    }
    out.push_str("\nOverall Metrics:\n");
    let _ = writeln!(
        out,
        "  Avg Latency: {}",
        data.avg_latency_us
            .map_or_else(|| "n/a (no latency recorded)".to_owned(), format_micros)
    );
    let error_rate = if data.total_operations == 0 {
        "n/a (no operations)".to_owned()
    } else {
        format!("{:.2}%", data.error_rate * 100.0)
    };
    let _ = writeln!(out, "  Error Rate: {error_rate}");
    match data.evaluation {
        None => out.push_str("  Status: not evaluated yet (call update_health_status)\n"),
        Some(eval) => evaluation_lines(&mut out, eval, data.rules),
    }
    out.push_str(RULE);
    out.push('\n');
    out
}

fn operation_line(op: &OperationSummary) -> String {
    let mut parts: Vec<String> = Vec::new();
    if op.operations > 0 {
        let mut part = format!("{} ops", op.operations);
        if op.errors > 0 {
            let rate = op.errors as f64 / op.operations as f64 * 100.0;
            let mut kinds: Vec<String> = op
                .error_counts
                .iter()
                .take(KINDS_SHOWN)
                .map(|(k, n)| format!("{k}: {n}"))
                .collect();
            if op.error_counts.len() > KINDS_SHOWN {
                kinds.push("…".to_owned());
            }
            let _ = write!(part, ", error rate {rate:.2}% ({})", kinds.join(", "));
        }
        parts.push(part);
    }
    let l = &op.latency;
    if l.count > 0 {
        parts.push(format!(
            "avg {} (p95: {}, p99: {})",
            format_micros(l.mean),
            format_micros(l.p95 as f64),
            format_micros(l.p99 as f64)
        ));
    }
    if parts.is_empty() {
        "no data".to_owned()
    } else {
        parts.join(", ")
    }
}

fn evaluation_lines(out: &mut String, eval: &HealthEvaluation, rules: &HealthRules) {
    let throughput = match eval.throughput_ops_sec {
        Some(rate) => format!(
            "{} (last {})",
            format_value(&Check::Throughput, rate),
            format_secs(eval.throughput_observed)
        ),
        None => format!(
            "n/a (only {} observed, {} needed)",
            format_secs(eval.throughput_observed),
            format_secs(rules.min_throughput_span)
        ),
    };
    let _ = writeln!(out, "  Throughput: {throughput}");
    if let Some(bytes) = eval.memory_bytes {
        let _ = writeln!(
            out,
            "  Memory: {} resident",
            format_value(&Check::Memory, bytes as f64)
        );
    }
    let reasons = eval.reasons();
    if reasons.is_empty() {
        let targets: Vec<String> = eval
            .findings
            .iter()
            .filter_map(|f| {
                rules
                    .limit(&f.check)
                    .map(|limit| target_phrase(&f.check, limit.target, limit.direction))
            })
            .collect();
        let why = if targets.is_empty() {
            "no rule had data yet".to_owned()
        } else {
            targets.join(", ")
        };
        let _ = writeln!(out, "  Status: {} ({why})", eval.status);
    } else {
        let _ = writeln!(out, "  Status: {}, because:", eval.status);
        for reason in reasons {
            let _ = writeln!(out, "    - {}", reason.detail);
        }
    }
    if !eval.firing.is_empty() {
        out.push_str("  Alerts firing:\n");
        for alert in &eval.firing {
            let held = eval.at.saturating_sub(alert.since);
            let _ = writeln!(
                out,
                "    - {} (breach began {} ago)",
                alert.detail,
                format_secs(held)
            );
        }
    }
}

/// "<1% errors", "p95 <5ms", ">100 ops/s", "memory <300MiB".
fn target_phrase(check: &Check, target: f64, direction: Direction) -> String {
    let op = if direction == Direction::AtMost {
        "<"
    } else {
        ">"
    };
    let value = format_value(check, target);
    match check {
        Check::ErrorRate => format!("{op}{value} errors"),
        Check::LatencyP95 => format!("p95 {op}{value}"),
        Check::LatencyP99 => format!("p99 {op}{value}"),
        Check::Throughput => format!("{op}{value}"),
        Check::Memory => format!("memory {op}{value}"),
        Check::Baseline { op: name } => format!("{name} within its baseline"),
    }
}
