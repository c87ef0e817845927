//! [`HealthDashboard`]: per-operation latency, operations and errors, overall error rate and
//! throughput, health status, alerts and the seed's report, on one core [`Registry`].
//!
//! Recording (`record_latency`, `record_operation`, `record_error`) takes `&self` and goes
//! straight to core handles: the operation's metrics are found in a lock-free table
//! (`super::lookup`), then a histogram or counter records into the calling thread's own shard.
//! So one dashboard behind an `Arc` serves any number of worker threads, and its totals are
//! exact. Evaluation ([`HealthDashboard::update_health_status`]) is the slow path: it takes a
//! mutex (never held by recorders), reads cumulative totals into a ledger, measures the
//! window, classifies it, advances the alerts and updates the gauges.
//!
//! # Exported metrics
//! Everything lives in the dashboard's [`Registry`] (its own, or the caller's), for exporters
//! to read from snapshots. Names carry no unit suffix where the histogram's configured unit
//! says it (an exporter appends `_seconds` and converts):
//!
//! | name | kind | labels | meaning |
//! |---|---|---|---|
//! | `aureon_operation_latency` | histogram (µs) | `op` | latency per operation |
//! | `aureon_operations_total` | counter | `op` | operations, failed ones included |
//! | `aureon_errors_total` | counter | `op`, `kind` | failed operations |
//! | `aureon_latency_avg_us` | gauge | | mean latency in the last evaluation's window |
//! | `aureon_error_rate` | gauge | | error rate (0 ..= 1) in that window |
//! | `aureon_throughput_ops_sec` | gauge | | operations per second in that window |
//! | `aureon_health_status` | gauge | | 0 healthy, 1 degraded, 2 unhealthy |
//! | `aureon_process_resident_memory_bytes` | gauge | | resident memory at that evaluation |
//!
//! The four window gauges are NaN until there is data for them (a gauge of 0 would claim a
//! figure nobody measured). The gauge names are the seed's.

use super::alerts::{Alert, AlertBook, AlertPolicy};
use super::clock::{Clock, SystemClock};
use super::error_tracker::{DEFAULT_MAX_ERROR_KINDS, ErrorRateTracker};
use super::evaluation::{self, HealthEvaluation, Inputs};
use super::health_rules::{HealthRules, HealthStatus, RulesError};
use super::latency_tracker::LatencyTracker;
use super::ledger::{Ledger, LedgerHistory, OpTotals};
use super::lookup::LookupTable;
use super::report::{self, OperationSummary, ReportData};
use super::throughput_tracker::{ThroughputConfig, ThroughputConfigError, ThroughputTracker};
use aureon_telemetry::{Gauge, HistogramConfig, HistogramSnapshot, Registry, Unit};
use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// Latency histogram, by `op` (µs).
pub const LATENCY_METRIC: &str = "aureon_operation_latency";
/// Operations counter, by `op`, failed ones included.
pub const OPERATIONS_METRIC: &str = super::error_tracker::OPERATIONS_TOTAL;
/// Errors counter, by `op` and `kind`.
pub const ERRORS_METRIC: &str = super::error_tracker::ERRORS_TOTAL;
/// Gauge: mean latency in the last evaluation's window, µs.
pub const LATENCY_AVG_GAUGE: &str = "aureon_latency_avg_us";
/// Gauge: error rate in the last evaluation's window.
pub const ERROR_RATE_GAUGE: &str = "aureon_error_rate";
/// Gauge: operations per second in the last evaluation's window.
pub const THROUGHPUT_GAUGE: &str = "aureon_throughput_ops_sec";
/// Gauge: health status at the last evaluation (0 healthy, 1 degraded, 2 unhealthy).
pub const HEALTH_STATUS_GAUGE: &str = "aureon_health_status";
/// Gauge: the process's resident memory at the last evaluation, bytes.
pub const RESIDENT_MEMORY_GAUGE: &str = "aureon_process_resident_memory_bytes";

/// The operation under which records are counted when their own name cannot be tracked (an
/// empty name, or more distinct operations than the dashboard's cap).
pub const OTHER_OPERATION: &str = "_other";
/// The default cap on distinct operations.
pub const DEFAULT_MAX_OPERATIONS: usize = 64;
/// The default cap on distinct error kinds per operation. With the default operation cap,
/// `64 × (15 + 1)` label sets of `aureon_errors_total` fit the core registry's default limit
/// of 1024 per name, so every kind is exported.
pub const DEFAULT_MAX_ERROR_KINDS_PER_OPERATION: usize = 15;

const DESCRIPTIONS: [(&str, &str); 8] = [
    (LATENCY_METRIC, "Latency of each operation, by op."),
    (
        OPERATIONS_METRIC,
        "Operations performed, by op, failed ones included.",
    ),
    (
        ERRORS_METRIC,
        "Operations that failed, by op and error kind.",
    ),
    (
        LATENCY_AVG_GAUGE,
        "Mean latency over all operations in the last health evaluation window, in microseconds (NaN without samples).",
    ),
    (
        ERROR_RATE_GAUGE,
        "Errors over operations in the last health evaluation window, 0 to 1 (NaN without operations).",
    ),
    (
        THROUGHPUT_GAUGE,
        "Operations per second in the last health evaluation window (NaN until enough time is observed).",
    ),
    (
        HEALTH_STATUS_GAUGE,
        "Health status at the last evaluation: 0 healthy, 1 degraded, 2 unhealthy.",
    ),
    (
        RESIDENT_MEMORY_GAUGE,
        "Resident memory of the process at the last health evaluation, in bytes (NaN where unreadable).",
    ),
];

/// Reads the process's memory in bytes for the memory rule; `None` when unknown.
pub type MemoryProbe = Arc<dyn Fn() -> Option<u64> + Send + Sync>;

/// The dashboard's current [`HealthStatus`], readable and comparable from any thread.
///
/// ```
/// use aureon_node::production_monitoring::{HealthDashboard, HealthStatus};
/// let dashboard = HealthDashboard::new("aureon-node");
/// assert!(dashboard.status == HealthStatus::Healthy);
/// assert_eq!(dashboard.status.get(), HealthStatus::Healthy);
/// ```
pub struct StatusCell {
    value: AtomicU8,
}

impl StatusCell {
    fn new(status: HealthStatus) -> Self {
        Self {
            value: AtomicU8::new(status.as_u8()),
        }
    }

    /// The status set by the last evaluation (Healthy before any).
    pub fn get(&self) -> HealthStatus {
        HealthStatus::from_u8(self.value.load(Ordering::Relaxed))
    }

    fn set(&self, status: HealthStatus) {
        self.value.store(status.as_u8(), Ordering::Relaxed);
    }
}

impl PartialEq<HealthStatus> for StatusCell {
    fn eq(&self, other: &HealthStatus) -> bool {
        self.get() == *other
    }
}

impl PartialEq<StatusCell> for HealthStatus {
    fn eq(&self, other: &StatusCell) -> bool {
        *self == other.get()
    }
}

impl fmt::Debug for StatusCell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.get(), f)
    }
}

impl fmt::Display for StatusCell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.get(), f)
    }
}

/// Why a dashboard could not be built, or an operation not tracked.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum DashboardError {
    /// The health rules are invalid.
    InvalidRules(RulesError),
    /// The registry already holds a dashboard's metrics (its `aureon_health_status` gauge):
    /// two dashboards on one registry would add up each other's counts.
    RegistryInUse,
    /// The rules' window cannot be tracked for throughput.
    Throughput(ThroughputConfigError),
    /// An operation name was empty.
    EmptyOperation,
    /// The dashboard already tracks its maximum number of operations.
    TooManyOperations {
        /// The operation refused.
        op: String,
        /// The cap.
        limit: usize,
    },
}

impl fmt::Display for DashboardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DashboardError::InvalidRules(e) => write!(f, "invalid health rules: {e}"),
            DashboardError::RegistryInUse => f.write_str(
                "the registry already holds a health dashboard's metrics; give each dashboard its own registry",
            ),
            DashboardError::Throughput(e) => write!(f, "cannot track throughput over the rules' window: {e}"),
            DashboardError::EmptyOperation => f.write_str("operation name must not be empty"),
            DashboardError::TooManyOperations { op, limit } => {
                write!(f, "operation {op:?} refused: the dashboard already tracks {limit} operations")
            }
        }
    }
}

impl std::error::Error for DashboardError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DashboardError::InvalidRules(e) => Some(e),
            DashboardError::Throughput(e) => Some(e),
            _ => None,
        }
    }
}

/// One operation's metrics.
struct OpMetrics {
    latency: LatencyTracker,
    errors: ErrorRateTracker,
}

struct Gauges {
    latency_avg_us: Gauge,
    error_rate: Gauge,
    throughput: Gauge,
    health: Gauge,
    memory: Gauge,
}

struct EvaluationState {
    history: LedgerHistory,
    alerts: AlertBook,
    last: Option<HealthEvaluation>,
}

/// Builds a [`HealthDashboard`] with a caller's registry, clock, rules, alert policy or
/// memory probe.
pub struct HealthDashboardBuilder {
    service: String,
    registry: Option<Registry>,
    clock: Option<Arc<dyn Clock>>,
    rules: HealthRules,
    alert_policy: AlertPolicy,
    memory_probe: Option<MemoryProbe>,
    max_operations: usize,
    max_error_kinds: usize,
}

impl fmt::Debug for HealthDashboardBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HealthDashboardBuilder")
            .field("service", &self.service)
            .field("rules", &self.rules)
            .field("alert_policy", &self.alert_policy)
            .finish_non_exhaustive()
    }
}

impl HealthDashboardBuilder {
    /// Records into `registry` (which must not already hold another dashboard's metrics).
    pub fn registry(mut self, registry: Registry) -> Self {
        self.registry = Some(registry);
        self
    }

    /// Reads time from `clock` (throughput buckets, windows, alert hold times).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Evaluates with these rules instead of [`HealthRules::default`].
    pub fn rules(mut self, rules: HealthRules) -> Self {
        self.rules = rules;
        self
    }

    /// Fires alerts with this policy instead of [`AlertPolicy::default`].
    pub fn alert_policy(mut self, policy: AlertPolicy) -> Self {
        self.alert_policy = policy;
        self
    }

    /// Reads memory with `probe` instead of the process's resident size from `/proc`.
    pub fn memory_probe(mut self, probe: MemoryProbe) -> Self {
        self.memory_probe = Some(probe);
        self
    }

    /// Tracks at most `n` distinct operations (default [`DEFAULT_MAX_OPERATIONS`]).
    pub fn max_operations(mut self, n: usize) -> Self {
        self.max_operations = n;
        self
    }

    /// Tracks at most `n` distinct error kinds per operation (default
    /// [`DEFAULT_MAX_ERROR_KINDS_PER_OPERATION`]).
    pub fn max_error_kinds(mut self, n: usize) -> Self {
        self.max_error_kinds = n;
        self
    }

    /// Builds the dashboard.
    ///
    /// # Errors
    /// [`DashboardError::InvalidRules`] for rules that do not validate,
    /// [`DashboardError::RegistryInUse`] for a registry that already holds a dashboard's
    /// metrics (checked on a snapshot: two dashboards built on one registry at the very same
    /// moment are not caught), [`DashboardError::Throughput`] if the window cannot be tracked.
    pub fn build(self) -> Result<HealthDashboard, DashboardError> {
        self.rules
            .validate()
            .map_err(DashboardError::InvalidRules)?;
        let registry = match self.registry {
            Some(r) => {
                if r.snapshot().get(HEALTH_STATUS_GAUGE, &[]).is_some() {
                    return Err(DashboardError::RegistryInUse);
                }
                r
            }
            None => Registry::new(),
        };
        let clock = self.clock.unwrap_or_else(|| Arc::new(SystemClock::new()));
        let window = self.rules.window;
        let throughput = ThroughputTracker::with_clock(
            ThroughputConfig {
                bucket_width: (window / 600).max(Duration::from_millis(1)),
                max_window: window,
            },
            Arc::clone(&clock),
        )
        .map_err(DashboardError::Throughput)?;
        for (name, help) in DESCRIPTIONS {
            registry
                .describe(name, help)
                .expect("the dashboard's metric names are valid");
        }
        let nan_gauge = |name: &str| {
            let g = registry.gauge(name);
            g.set(f64::NAN);
            g
        };
        let gauges = Gauges {
            latency_avg_us: nan_gauge(LATENCY_AVG_GAUGE),
            error_rate: nan_gauge(ERROR_RATE_GAUGE),
            throughput: nan_gauge(THROUGHPUT_GAUGE),
            memory: nan_gauge(RESIDENT_MEMORY_GAUGE),
            health: registry.gauge(HEALTH_STATUS_GAUGE),
        };
        gauges.health.set(HealthStatus::Healthy.as_gauge());
        let keep = self
            .rules
            .baseline
            .as_ref()
            .map_or(window, |b| b.window.max(window));
        let spacing = self
            .rules
            .baseline
            .as_ref()
            .map_or(window, |b| b.window.min(window))
            / 64;
        let history = LedgerHistory::new(Ledger::empty(clock.now()), keep, spacing);
        Ok(HealthDashboard {
            error_tracker: ErrorRateTracker::with_max_kinds(DEFAULT_MAX_ERROR_KINDS),
            status: StatusCell::new(HealthStatus::Healthy),
            service: self.service,
            registry,
            ops: LookupTable::new(self.max_operations),
            other_op: OnceLock::new(),
            throughput,
            gauges,
            rules: self.rules,
            alert_policy: self.alert_policy,
            clock,
            memory_probe: self
                .memory_probe
                .unwrap_or_else(|| Arc::new(crate::process_memory::resident_bytes)),
            max_error_kinds: self.max_error_kinds,
            evaluation: Mutex::new(EvaluationState {
                history,
                alerts: AlertBook::default(),
                last: None,
            }),
        })
    }
}

/// A service's health dashboard (see the module docs for what it exports).
///
/// ```
/// use aureon_node::production_monitoring::{HealthDashboard, HealthStatus};
/// let dashboard = HealthDashboard::new("aureon-node");
/// for i in 0..10 {
///     dashboard.record_latency("header_add", 100 + i * 10);
/// }
/// dashboard.record_operation("block_proposal");
/// dashboard.record_error("consensus", "TooManyValidators");
/// dashboard.update_health_status();
/// assert_eq!(dashboard.calculate_avg_latency(), 145.0);
/// assert_eq!(dashboard.error_tracker.total_operations(), 2);
/// assert!(dashboard.status == HealthStatus::Unhealthy); // 50% errors
/// ```
///
/// The public fields are the seed's: `error_tracker` holds the overall operation and error
/// counts (lifetime; recording through it directly counts in the overall figures only), and
/// `status` the status of the last evaluation.
pub struct HealthDashboard {
    /// Operations and errors over every operation, lifetime.
    pub error_tracker: ErrorRateTracker,
    /// The status set by the last [`HealthDashboard::update_health_status`].
    pub status: StatusCell,
    service: String,
    registry: Registry,
    ops: LookupTable<Arc<OpMetrics>>,
    other_op: OnceLock<Arc<OpMetrics>>,
    throughput: ThroughputTracker,
    gauges: Gauges,
    rules: HealthRules,
    alert_policy: AlertPolicy,
    clock: Arc<dyn Clock>,
    memory_probe: MemoryProbe,
    max_error_kinds: usize,
    evaluation: Mutex<EvaluationState>,
}

impl fmt::Debug for HealthDashboard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HealthDashboard")
            .field("service", &self.service)
            .field("status", &self.status)
            .field("operations", &self.ops.len())
            .finish_non_exhaustive()
    }
}

/// A handle to one operation's metrics, looked up once: recording through it skips the
/// name lookup. Borrowed from its dashboard.
pub struct OperationHandle<'a> {
    dashboard: &'a HealthDashboard,
    name: Arc<str>,
    op: Arc<OpMetrics>,
}

impl fmt::Debug for OperationHandle<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OperationHandle")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl OperationHandle<'_> {
    /// The operation's name as tracked ([`OTHER_OPERATION`] when folded).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Records a latency in µs (see [`HealthDashboard::record_latency`]).
    #[inline]
    pub fn record_latency(&self, us: u64) {
        self.op.latency.record_latency_us(us);
    }

    /// Records a latency in µs with the caller's `id` (a block height, a trace id) as an
    /// exemplar: each snapshot keeps the ids of its interval's slowest latencies, which the
    /// OpenMetrics and OTLP exports carry (see
    /// [`aureon_telemetry::Histogram::record_with_exemplar`]).
    #[inline]
    pub fn record_latency_with_exemplar(&self, us: u64, id: u64) {
        self.op.latency.histogram().record_with_exemplar(us, id);
    }

    /// Records a successful operation (see [`HealthDashboard::record_operation`]).
    #[inline]
    pub fn record_operation(&self) {
        self.op.errors.record_operation();
        self.dashboard.count_overall_operation();
    }

    /// Records a failed operation (see [`HealthDashboard::record_error`]).
    #[inline]
    pub fn record_error(&self, kind: &str) {
        self.op.errors.record_error(kind);
        self.dashboard.count_overall_error(kind);
    }
}

impl HealthDashboard {
    /// A dashboard for `service` with its own registry, the system clock and the default
    /// rules. Never fails: any name is accepted (it is only shown in the report).
    pub fn new(service: &str) -> Self {
        Self::builder(service)
            .build()
            .expect("the default configuration is valid")
    }

    /// A dashboard recording into the caller's `registry` (e.g. the one an exporter serves).
    ///
    /// # Errors
    /// [`DashboardError::RegistryInUse`] if the registry already holds a dashboard's metrics.
    pub fn with_registry(service: &str, registry: Registry) -> Result<Self, DashboardError> {
        Self::builder(service).registry(registry).build()
    }

    /// A builder for other registries, clocks, rules, alert policies or memory probes.
    pub fn builder(service: &str) -> HealthDashboardBuilder {
        HealthDashboardBuilder {
            service: service.to_owned(),
            registry: None,
            clock: None,
            rules: HealthRules::default(),
            alert_policy: AlertPolicy::default(),
            memory_probe: None,
            max_operations: DEFAULT_MAX_OPERATIONS,
            max_error_kinds: DEFAULT_MAX_ERROR_KINDS_PER_OPERATION,
        }
    }

    /// The service's name.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The registry every metric of this dashboard lives in.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The overall throughput tracker (every operation, failed ones included).
    pub fn throughput(&self) -> &ThroughputTracker {
        &self.throughput
    }

    /// The rules evaluations use.
    pub fn rules(&self) -> &HealthRules {
        &self.rules
    }

    fn new_op(&self, name: &str) -> OpMetrics {
        let histogram = self.registry.histogram_with_config(
            LATENCY_METRIC,
            &[("op", name)],
            HistogramConfig::with_unit(Unit::Microseconds),
        );
        OpMetrics {
            latency: LatencyTracker::with_histogram(name, histogram),
            errors: ErrorRateTracker::registered(&self.registry, name, self.max_error_kinds),
        }
    }

    fn other_op(&self) -> &Arc<OpMetrics> {
        self.other_op
            .get_or_init(|| Arc::new(self.new_op(OTHER_OPERATION)))
    }

    /// Runs `f` on `op`'s metrics, creating them on first use; an empty name or a new name
    /// past the cap uses [`OTHER_OPERATION`]'s.
    #[inline]
    fn with_op<R>(&self, op: &str, f: impl FnOnce(&OpMetrics) -> R) -> R {
        if op.is_empty() {
            return f(self.other_op());
        }
        let mut f = Some(f);
        let tracked = self.ops.with_or_insert(
            op,
            |name| Arc::new(self.new_op(name)),
            |m| (f.take().expect("called once"))(m),
        );
        match tracked {
            Ok(r) => r,
            Err(_) => (f.take().expect("not called when the table is full"))(self.other_op()),
        }
    }

    #[inline]
    fn count_overall_operation(&self) {
        self.error_tracker.record_operation();
        self.throughput.record_operation();
    }

    #[inline]
    fn count_overall_error(&self, kind: &str) {
        self.error_tracker.record_error(kind);
        self.throughput.record_operation();
    }

    /// Records one latency of `op` in µs. A latency is not an operation: count the
    /// operation with [`record_operation`](Self::record_operation) or
    /// [`record_error`](Self::record_error). An empty `op`, or a new one past the cap, is
    /// recorded under [`OTHER_OPERATION`].
    #[inline]
    pub fn record_latency(&self, op: &str, us: u64) {
        self.with_op(op, |m| m.latency.record_latency_us(us));
    }

    /// Records a successful `op`.
    #[inline]
    pub fn record_operation(&self, op: &str) {
        self.with_op(op, |m| m.errors.record_operation());
        self.count_overall_operation();
    }

    /// Records an `op` that failed with error `kind` (an operation too). Kinds past the
    /// per-operation cap count under [`super::OTHER_KIND`].
    #[inline]
    pub fn record_error(&self, op: &str, kind: &str) {
        self.with_op(op, |m| m.errors.record_error(kind));
        self.count_overall_error(kind);
    }

    /// A handle to `op`'s metrics (empty or over-the-cap names give [`OTHER_OPERATION`]'s).
    pub fn operation(&self, op: &str) -> OperationHandle<'_> {
        self.try_operation(op).unwrap_or_else(|_| OperationHandle {
            dashboard: self,
            name: Arc::from(OTHER_OPERATION),
            op: Arc::clone(self.other_op()),
        })
    }

    /// A handle to `op`'s metrics.
    ///
    /// # Errors
    /// [`DashboardError::EmptyOperation`] for `""`, [`DashboardError::TooManyOperations`]
    /// for a new name when the dashboard already tracks its maximum.
    pub fn try_operation(&self, op: &str) -> Result<OperationHandle<'_>, DashboardError> {
        if op.is_empty() {
            return Err(DashboardError::EmptyOperation);
        }
        let metrics = self
            .ops
            .with_or_insert(op, |name| Arc::new(self.new_op(name)), Arc::clone)
            .map_err(|full| DashboardError::TooManyOperations {
                op: op.to_owned(),
                limit: full.limit,
            })?;
        Ok(OperationHandle {
            dashboard: self,
            name: Arc::from(op),
            op: metrics,
        })
    }

    /// Every operation's metrics, in first-use order, [`OTHER_OPERATION`] last if used.
    fn each_op(&self) -> Vec<(Arc<str>, Arc<OpMetrics>)> {
        let table = self.ops.snapshot();
        let mut ops: Vec<(Arc<str>, Arc<OpMetrics>)> = table
            .iter()
            .map(|(name, m)| (Arc::from(name), Arc::clone(m)))
            .collect();
        if let Some(other) = self.other_op.get() {
            ops.push((Arc::from(OTHER_OPERATION), Arc::clone(other)));
        }
        ops
    }

    /// The mean latency over every operation's samples, lifetime, µs (exact; 0.0 before any
    /// latency is recorded).
    pub fn calculate_avg_latency(&self) -> f64 {
        self.merged_latency().map_or(0.0, |h| h.mean())
    }

    fn merged_latency(&self) -> Option<HistogramSnapshot> {
        let mut merged: Option<HistogramSnapshot> = None;
        for (_, op) in self.each_op() {
            let s = op.latency.snapshot();
            match &mut merged {
                None => merged = Some(s),
                // All operations share one histogram configuration.
                Some(m) => {
                    let _ = m.merge(&s);
                }
            }
        }
        merged.filter(|h| h.count() > 0)
    }

    /// Lifetime figures of every operation, in first-use order.
    pub fn operation_summaries(&self) -> Vec<OperationSummary> {
        self.each_op()
            .into_iter()
            .map(|(name, op)| {
                let errors = op.errors.total_errors();
                OperationSummary {
                    name: name.to_string(),
                    operations: op.errors.total_operations(),
                    errors,
                    error_counts: op.errors.error_counts(),
                    latency: op.latency.stats(),
                }
            })
            .collect()
    }

    /// Cumulative totals now, for the evaluation history.
    fn ledger(&self, at: Duration) -> Ledger {
        // Errors before operations, as `ErrorRateTracker::error_rate` reads them.
        let errors = self.error_tracker.total_errors();
        let operations = self.error_tracker.total_operations();
        let ops = self
            .each_op()
            .into_iter()
            .map(|(name, op)| OpTotals {
                name,
                latency: op.latency.snapshot(),
            })
            .collect();
        Ledger {
            at,
            operations,
            errors,
            ops,
        }
    }

    /// Evaluates the rules over the last window, sets [`HealthDashboard::status`] and the
    /// gauges, advances the alerts, and returns the whole evaluation (findings, skipped
    /// rules, alerts fired, resolved and firing).
    ///
    /// The status is the immediate classification of the window; alerts are what holds over
    /// time (see [`AlertPolicy`]). Safe to call from any thread; concurrent calls are
    /// serialised, and never block recording.
    pub fn update_health_status(&self) -> HealthEvaluation {
        let mut state = self.evaluation.lock().unwrap_or_else(|e| e.into_inner());
        // Read the clock under the lock, so ledgers are pushed in time order.
        let now = self.clock.now();
        let ledger = self.ledger(now);
        let throughput = self.throughput.window(self.rules.window).ok();
        let memory_bytes = (self.memory_probe)();
        let mut eval = evaluation::evaluate(&Inputs {
            now,
            ledger: &ledger,
            history: &state.history,
            rules: &self.rules,
            throughput,
            memory_bytes,
        });
        let changes = state
            .alerts
            .evaluate(&self.alert_policy, now, &eval.findings);
        eval.fired = changes.fired;
        eval.resolved = changes.resolved;
        eval.firing = state.alerts.firing();
        eval.pending = state.alerts.pending();
        state.history.push(ledger);

        let nan_if_none = |v: Option<f64>| v.unwrap_or(f64::NAN);
        self.gauges
            .latency_avg_us
            .set(nan_if_none(eval.latency_avg_us));
        self.gauges.error_rate.set(nan_if_none(eval.error_rate));
        self.gauges
            .throughput
            .set(nan_if_none(eval.throughput_ops_sec));
        self.gauges
            .memory
            .set(nan_if_none(eval.memory_bytes.map(|b| b as f64)));
        self.gauges.health.set(eval.status.as_gauge());
        self.status.set(eval.status);
        state.last = Some(eval.clone());
        eval
    }

    /// The last evaluation, if any.
    pub fn last_evaluation(&self) -> Option<HealthEvaluation> {
        self.evaluation
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .last
            .clone()
    }

    /// Alerts firing after the last evaluation.
    pub fn firing_alerts(&self) -> Vec<Alert> {
        self.last_evaluation().map(|e| e.firing).unwrap_or_default()
    }

    /// The report in the seed's layout (see the `report` module): per-operation and overall
    /// lifetime figures, and the last evaluation's status with its reasons and alerts.
    pub fn generate_report(&self) -> String {
        let operations = self.operation_summaries();
        let evaluation = self.last_evaluation();
        let errors = self.error_tracker.total_errors();
        let total_operations = self.error_tracker.total_operations();
        report::render(&ReportData {
            service: &self.service,
            status: self.status.get(),
            operations: &operations,
            avg_latency_us: self.merged_latency().map(|h| h.mean()),
            total_operations,
            error_rate: super::error_tracker::ratio(errors, total_operations),
            evaluation: evaluation.as_ref(),
            rules: &self.rules,
        })
    }

    /// Retained evaluation ledgers (for tests of the history bound).
    #[cfg(test)]
    pub(crate) fn ledger_count(&self) -> usize {
        self.evaluation
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .history
            .len()
    }
}
