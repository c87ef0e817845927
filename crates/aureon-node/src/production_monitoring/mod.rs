//! The seed's monitoring API: latency, error and throughput trackers, and a health dashboard
//! with rules, alerts, baseline degradation and a text report.
//!
//! Every tracker records through `aureon-telemetry`'s lock-free metrics and takes `&self`, so
//! one instance (or one [`HealthDashboard`] behind an `Arc`) serves any number of threads with
//! exact totals. How the pieces fit:
//!
//! * [`LatencyTracker`] wraps a core histogram: exact min, max and mean, HDR quantiles.
//! * [`ErrorRateTracker`] counts operations and errors by kind with core counters.
//! * [`ThroughputTracker`] buckets operations in time per thread (its module docs give the
//!   roll-over protocol); its clock is injectable ([`ManualClock`]) for tests and loom models.
//! * [`HealthDashboard`] keeps one latency and one error tracker per operation in a core
//!   [`aureon_telemetry::Registry`] for exporters, plus overall counts and throughput;
//!   [`HealthDashboard::update_health_status`] classifies the last window with
//!   [`HealthRules`] (the seed's table by default), advances [`Alert`]s (held before firing,
//!   cleared only within target) and compares each operation's p99 with its own baseline;
//!   [`HealthDashboard::generate_report`] prints the seed's report with correct figures.
//!
//! Where the seed's own expected figures are wrong, the repository's
//! `docs/seed-deviations.md` says what this module does instead.

mod alerts;
mod baseline;
mod clock;
mod error_tracker;
mod evaluation;
mod health_dashboard;
mod health_rules;
mod latency_tracker;
mod ledger;
mod lookup;
mod report;
mod throughput_tracker;

pub use alerts::{Alert, AlertChanges, AlertPolicy};
pub use baseline::BaselineRule;
pub use clock::{Clock, ManualClock, SystemClock};
pub use error_tracker::{DEFAULT_MAX_ERROR_KINDS, ErrorKindError, ErrorRateTracker, OTHER_KIND};
pub use evaluation::HealthEvaluation;
pub use health_dashboard::{
    DEFAULT_MAX_ERROR_KINDS_PER_OPERATION, DEFAULT_MAX_OPERATIONS, DashboardError,
    ERROR_RATE_GAUGE, ERRORS_METRIC, HEALTH_STATUS_GAUGE, HealthDashboard, HealthDashboardBuilder,
    LATENCY_AVG_GAUGE, LATENCY_METRIC, MemoryProbe, OPERATIONS_METRIC, OTHER_OPERATION,
    OperationHandle, RESIDENT_MEMORY_GAUGE, StatusCell, THROUGHPUT_GAUGE,
};
pub use health_rules::{
    Check, Direction, Finding, HealthRules, HealthStatus, Level, Limit, RulesError, Skipped,
};
pub use latency_tracker::{LatencyStats, LatencyTracker, QuantileError};
pub use report::OperationSummary;
pub use throughput_tracker::{
    MAX_WINDOW_BUCKETS, ThroughputConfig, ThroughputConfigError, ThroughputTracker, WindowError,
    WindowRate,
};

pub(crate) use error_tracker::ratio;

#[cfg(all(test, not(aureon_loom)))]
mod tests;
