//! The demo's health: the dashboard's evaluation, taken every interval by one thread and
//! published for the readers that must not compute it (`/health`, the live dashboard).
//!
//! `/health` is answered on the HTTP server's thread and must only read a published value
//! (see `aureon_prometheus::http::HealthSource`), and the live dashboard should show exactly
//! what `/health` says. So both read the same [`HealthBoard`], an `ArcSwap` the evaluator
//! stores into: readers never wait for an evaluation and never see half of one.

use arc_swap::ArcSwap;
use aureon_node::production_monitoring::{HealthDashboard, HealthEvaluation, HealthStatus};
use aureon_prometheus::http::{self as endpoint, HealthReport, HealthSource};
use std::sync::Arc;

/// One published evaluation and the `/health` answer made from it.
#[derive(Debug, Clone, Default)]
pub struct HealthState {
    /// The dashboard's evaluation (`None` before the first).
    pub evaluation: Option<HealthEvaluation>,
    /// What `/health` returns.
    pub report: HealthReport,
}

/// The latest [`HealthState`], readable from any thread without blocking.
#[derive(Debug, Default)]
pub struct HealthBoard {
    state: ArcSwap<HealthState>,
}

impl HealthBoard {
    /// Nothing evaluated yet: `/health` says healthy with no reasons.
    pub fn new() -> Self {
        Self::default()
    }

    /// Evaluates `dashboard` now and publishes the result.
    pub fn evaluate(&self, dashboard: &HealthDashboard) -> Arc<HealthState> {
        let evaluation = dashboard.update_health_status();
        let state = Arc::new(HealthState {
            report: report_of(&evaluation),
            evaluation: Some(evaluation),
        });
        self.state.store(Arc::clone(&state));
        state
    }

    /// The latest published state.
    pub fn latest(&self) -> Arc<HealthState> {
        self.state.load_full()
    }

    /// The `/health` callback reading this board.
    pub fn source(self: &Arc<Self>) -> HealthSource {
        let board = Arc::clone(self);
        Arc::new(move || board.latest().report.clone())
    }
}

/// The `/health` answer for an evaluation: its status, and as reasons the findings that
/// make it worse than healthy, then the alerts firing.
pub fn report_of(evaluation: &HealthEvaluation) -> HealthReport {
    let mut reasons: Vec<String> = evaluation
        .reasons()
        .iter()
        .map(|f| f.detail.clone())
        .collect();
    reasons.extend(
        evaluation
            .firing
            .iter()
            .map(|a| format!("alert firing: {}", a.detail)),
    );
    HealthReport {
        status: endpoint_status(evaluation.status),
        reasons,
    }
}

/// The dashboard's status in the endpoint's vocabulary (the crates do not depend on each
/// other, so each has its own enum of the same three states).
pub fn endpoint_status(status: HealthStatus) -> endpoint::HealthStatus {
    match status {
        HealthStatus::Healthy => endpoint::HealthStatus::Healthy,
        HealthStatus::Degraded => endpoint::HealthStatus::Degraded,
        HealthStatus::Unhealthy => endpoint::HealthStatus::Unhealthy,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_board_publishes_what_the_dashboard_decided() {
        let dashboard = HealthDashboard::new("test");
        let board = Arc::new(HealthBoard::new());
        let source = board.source();
        assert_eq!(source().status, endpoint::HealthStatus::Healthy);
        assert!(board.latest().evaluation.is_none());

        dashboard.record_operation("op");
        dashboard.record_error("op", "Broken");
        let state = board.evaluate(&dashboard);
        // 50% errors: past the 5% alert threshold.
        assert_eq!(
            state.evaluation.as_ref().unwrap().status,
            HealthStatus::Unhealthy
        );
        let report = source();
        assert_eq!(report.status, endpoint::HealthStatus::Unhealthy);
        assert!(
            report.reasons.iter().any(|r| r.contains("error rate 50%")),
            "{:?}",
            report.reasons
        );
    }
}
