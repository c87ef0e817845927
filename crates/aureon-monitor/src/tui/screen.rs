//! One frame's content: the metric panels ([`super::model`]) plus the run's header and the
//! published health, gathered once per refresh so drawing reads plain data.

use super::model::{self, MetricsView};
use crate::demo::Live;
use aureon_node::production_monitoring::{HealthStatus, Level};
use std::time::Duration;

/// Intervals drawn in each sparkline.
pub const SPARK_POINTS: usize = 40;

/// The health line and its reasons.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthView {
    /// The status of the last evaluation.
    pub status: HealthStatus,
    /// One line saying why (the reasons, or the targets met).
    pub summary: String,
    /// Further reasons and alerts, one per line.
    pub details: Vec<String>,
    /// Every check of the last evaluation: its level (`None`: skipped for lack of data) and
    /// what it found.
    pub checks: Vec<(Option<Level>, String)>,
}

/// Everything one frame shows.
#[derive(Debug, Clone)]
pub struct Screen {
    /// Time since the start.
    pub uptime: Duration,
    /// Where `/metrics` is served.
    pub metrics_url: String,
    /// `N workers · R blocks/s · F corrupt inputs`.
    pub load: String,
    /// The degradation's state, if one is scheduled.
    pub phase: Option<String>,
    /// Whether the degradation is on now.
    pub degraded: bool,
    /// Health.
    pub health: HealthView,
    /// The metric panels.
    pub metrics: MetricsView,
    /// The window the figures cover, as configured.
    pub window: Duration,
    /// Time between snapshots.
    pub interval: Duration,
}

impl Screen {
    /// Reads the latest published history and health of `live`.
    pub fn gather(live: &Live<'_>) -> Self {
        let settings = live.settings;
        let uptime = live.started.elapsed();
        let history = live.reader.history();
        Self {
            uptime,
            metrics_url: live.metrics_url.clone(),
            load: format!(
                "{} workers · {} blocks/s · {} corrupt inputs",
                settings.threads,
                crate::fmt::trim(settings.rate, 1),
                crate::fmt::percent(settings.schedule.error_rate)
            ),
            phase: settings.schedule.describe(uptime),
            degraded: settings.schedule.degraded_at(uptime),
            health: health_view(&live.board.latest()),
            metrics: model::build(&history, settings.rules.window, SPARK_POINTS),
            window: settings.rules.window,
            interval: settings.interval,
        }
    }
}

fn health_view(state: &crate::demo::health::HealthState) -> HealthView {
    let Some(eval) = &state.evaluation else {
        return HealthView {
            status: HealthStatus::Healthy,
            summary: "not evaluated yet (first evaluation after one interval)".to_owned(),
            details: Vec::new(),
            checks: Vec::new(),
        };
    };
    let reasons = eval.reasons();
    let mut details: Vec<String> = Vec::new();
    let summary = match reasons.split_first() {
        Some((first, rest)) => {
            details.extend(rest.iter().map(|f| f.detail.clone()));
            first.detail.clone()
        }
        None => {
            let ok = eval
                .findings
                .iter()
                .filter(|f| f.level == Level::Ok)
                .count();
            if ok == 0 {
                "no rule had data yet".to_owned()
            } else {
                format!("all {ok} checks within target")
            }
        }
    };
    details.extend(eval.firing.iter().map(|a| {
        format!(
            "ALERT firing for {}: {}",
            crate::fmt::elapsed(eval.at.saturating_sub(a.since)),
            a.detail
        )
    }));
    let mut checks: Vec<(Option<Level>, String)> = eval
        .findings
        .iter()
        .map(|f| (Some(f.level), f.detail.clone()))
        .collect();
    // Worst first; the sort is stable, so equal levels keep the rules' order.
    checks.sort_by_key(|c| std::cmp::Reverse(c.0));
    checks.extend(
        eval.skipped
            .iter()
            .map(|s| (None, format!("{}: not checked, {}", s.check, s.reason))),
    );
    HealthView {
        status: eval.status,
        summary,
        details,
        checks,
    }
}
