//! [`ErrorRateTracker`]: operations, errors by kind, error and success rates.
//!
//! Every count is a core `Counter` (one cell per thread, no lock, no shared cache line), so a
//! tracker is shared by reference between threads and its totals are exact. Error kinds are
//! found by name in a lock-free lookup table (`super::lookup`). Callers choose the kind
//! names, so their number is capped: past the cap, or for an empty name, an error is counted
//! under [`OTHER_KIND`] (never dropped), and [`ErrorRateTracker::try_record_error`] reports
//! the refusal instead.

use super::lookup::LookupTable;
use aureon_telemetry::{Counter, Registry};
use std::fmt;
use std::sync::OnceLock;

/// The kind under which errors are counted when their own kind cannot be tracked (an empty
/// name, or more distinct kinds than the tracker's cap).
pub const OTHER_KIND: &str = "_other";

/// The default cap on distinct error kinds per tracker.
pub const DEFAULT_MAX_ERROR_KINDS: usize = 64;

/// Metric names used when a tracker is registered (see [`ErrorRateTracker::registered`]).
pub(crate) const OPERATIONS_TOTAL: &str = "aureon_operations_total";
pub(crate) const ERRORS_TOTAL: &str = "aureon_errors_total";

/// Why [`ErrorRateTracker::try_record_error`] refused an error kind.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKindError {
    /// The kind was the empty string.
    Empty,
    /// The tracker already tracks its maximum number of distinct kinds.
    TooManyKinds {
        /// The kind that was refused.
        kind: String,
        /// The tracker's cap.
        limit: usize,
    },
}

impl fmt::Display for ErrorKindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKindError::Empty => f.write_str("error kind must not be empty"),
            ErrorKindError::TooManyKinds { kind, limit } => write!(
                f,
                "error kind {kind:?} refused: the tracker already tracks {limit} kinds"
            ),
        }
    }
}

impl std::error::Error for ErrorKindError {}

/// Where new kind counters come from: standalone, or registered under an operation label.
enum Source {
    Standalone,
    Registered { registry: Registry, op: String },
}

impl Source {
    fn counter(&self, kind: &str) -> Counter {
        match self {
            Source::Standalone => Counter::new(),
            Source::Registered { registry, op } => {
                registry.counter_with(ERRORS_TOTAL, &[("op", op), ("kind", kind)])
            }
        }
    }
}

/// Counts operations and errors by kind.
///
/// An error is also an operation: [`record_operation`](Self::record_operation) counts a
/// success, [`record_error`](Self::record_error) an operation that failed. All methods take
/// `&self`.
///
/// ```
/// use aureon_node::production_monitoring::ErrorRateTracker;
/// let tracker = ErrorRateTracker::new();
/// tracker.record_operation();
/// tracker.record_error("NetworkTimeout");
/// tracker.record_error("NetworkTimeout");
/// tracker.record_error("DatabaseError");
/// assert_eq!((tracker.total_operations(), tracker.total_errors()), (4, 3));
/// assert_eq!(tracker.error_rate(), 0.75);
/// assert_eq!(tracker.most_common_error().as_deref(), Some("NetworkTimeout"));
/// ```
///
/// # Reading while others record
/// Each total is exact for everything recorded before the read. A rate read while other
/// threads record combines two totals read one after the other, so it may be off by the
/// operations in flight; it is kept within `0.0 ..= 1.0`.
pub struct ErrorRateTracker {
    operations: Counter,
    kinds: LookupTable<Counter>,
    other: OnceLock<Counter>,
    source: Source,
    max_kinds: usize,
}

impl fmt::Debug for ErrorRateTracker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ErrorRateTracker")
            .field("operations", &self.total_operations())
            .field("errors", &self.total_errors())
            .finish()
    }
}

impl Default for ErrorRateTracker {
    fn default() -> Self {
        Self::new()
    }
}

impl ErrorRateTracker {
    /// An empty tracker with standalone counters and [`DEFAULT_MAX_ERROR_KINDS`].
    pub fn new() -> Self {
        Self::with_max_kinds(DEFAULT_MAX_ERROR_KINDS)
    }

    /// An empty tracker with standalone counters that tracks at most `max_kinds` distinct
    /// error kinds (further kinds count under [`OTHER_KIND`]).
    pub fn with_max_kinds(max_kinds: usize) -> Self {
        Self::build(Counter::new(), Source::Standalone, max_kinds)
    }

    /// A tracker whose counters live in `registry`, labelled with the operation `op`:
    /// `aureon_operations_total{op}` (every operation, failed ones included) and
    /// `aureon_errors_total{op, kind}`.
    pub fn registered(registry: &Registry, op: &str, max_kinds: usize) -> Self {
        let operations = registry.counter_with(OPERATIONS_TOTAL, &[("op", op)]);
        Self::build(
            operations,
            Source::Registered {
                registry: registry.clone(),
                op: op.to_owned(),
            },
            max_kinds,
        )
    }

    fn build(operations: Counter, source: Source, max_kinds: usize) -> Self {
        Self {
            operations,
            kinds: LookupTable::new(max_kinds),
            other: OnceLock::new(),
            source,
            max_kinds,
        }
    }

    /// Records a successful operation.
    #[inline]
    pub fn record_operation(&self) {
        self.operations.increment(1);
    }

    /// Records an operation that failed with error `kind`. An empty kind, or a new kind past
    /// the tracker's cap, is counted under [`OTHER_KIND`]; the error is never dropped.
    #[inline]
    pub fn record_error(&self, kind: &str) {
        self.operations.increment(1);
        if self.kind_counter(kind, |c| c.increment(1)).is_err() {
            self.other().increment(1);
        }
    }

    /// Records a failed operation like [`record_error`](Self::record_error), but refuses
    /// (recording nothing) a kind that cannot be tracked under its own name.
    ///
    /// # Errors
    /// [`ErrorKindError::Empty`] for `""`; [`ErrorKindError::TooManyKinds`] for a new kind
    /// when the tracker already tracks its maximum number of kinds.
    pub fn try_record_error(&self, kind: &str) -> Result<(), ErrorKindError> {
        // Operations before the kind, as in `record_error`: see `error_rate`.
        self.kind_counter(kind, |c| {
            self.operations.increment(1);
            c.increment(1);
        })
    }

    fn kind_counter<R>(
        &self,
        kind: &str,
        f: impl FnOnce(&Counter) -> R,
    ) -> Result<R, ErrorKindError> {
        if kind.is_empty() {
            return Err(ErrorKindError::Empty);
        }
        self.kinds
            .with_or_insert(kind, |k| self.source.counter(k), f)
            .map_err(|full| ErrorKindError::TooManyKinds {
                kind: kind.to_owned(),
                limit: full.limit,
            })
    }

    fn other(&self) -> &Counter {
        self.other.get_or_init(|| self.source.counter(OTHER_KIND))
    }

    /// Operations recorded, failed ones included.
    pub fn total_operations(&self) -> u64 {
        self.operations.value()
    }

    /// Errors recorded, all kinds.
    pub fn total_errors(&self) -> u64 {
        let table = self.kinds.snapshot();
        let named = table
            .iter()
            .fold(0u64, |a, (_, c)| a.saturating_add(c.value()));
        named.saturating_add(self.other.get().map_or(0, Counter::value))
    }

    /// Successful operations (operations minus errors).
    pub fn total_successes(&self) -> u64 {
        let errors = self.total_errors();
        self.total_operations().saturating_sub(errors)
    }

    /// Errors over operations, `0.0 ..= 1.0`; 0.0 when there were no operations.
    pub fn error_rate(&self) -> f64 {
        // Errors first: an error counts in both totals, so reading operations second can
        // only see more of them, which keeps the rate at or below 1 in practice; the clamp
        // makes it certain.
        let errors = self.total_errors();
        ratio(errors, self.total_operations())
    }

    /// Successful operations over operations, `0.0 ..= 1.0`; 0.0 when there were no
    /// operations (no data is not a success). When there were operations,
    /// `success_rate() == 1.0 - error_rate()`, up to concurrent recording.
    pub fn success_rate(&self) -> f64 {
        let errors = self.total_errors();
        let ops = self.total_operations();
        ratio(ops.saturating_sub(errors), ops)
    }

    /// Errors of one kind.
    pub fn error_count(&self, kind: &str) -> u64 {
        if kind == OTHER_KIND {
            return self.other.get().map_or(0, Counter::value);
        }
        self.kinds.with(kind, Counter::value).unwrap_or(0)
    }

    /// Every kind seen with its count, most frequent first; ties in the order the kinds
    /// were first recorded. [`OTHER_KIND`] is listed (last among equals) when used.
    pub fn error_counts(&self) -> Vec<(String, u64)> {
        let table = self.kinds.snapshot();
        let mut counts: Vec<(String, u64)> = table
            .iter()
            .map(|(k, c)| (k.to_owned(), c.value()))
            .collect();
        if let Some(other) = self.other.get() {
            counts.push((OTHER_KIND.to_owned(), other.value()));
        }
        counts.retain(|&(_, n)| n > 0);
        // Stable sort: equal counts keep first-recorded order.
        counts.sort_by_key(|&(_, n)| std::cmp::Reverse(n));
        counts
    }

    /// The `k` most frequent kinds (see [`error_counts`](Self::error_counts) for the order).
    pub fn top_errors(&self, k: usize) -> Vec<(String, u64)> {
        let mut counts = self.error_counts();
        counts.truncate(k);
        counts
    }

    /// The most frequent error kind (the first recorded among equals), `None` before any
    /// error.
    pub fn most_common_error(&self) -> Option<String> {
        self.error_counts().into_iter().next().map(|(k, _)| k)
    }

    /// The cap on distinct kinds.
    pub fn max_kinds(&self) -> usize {
        self.max_kinds
    }
}

/// `part / whole` as a fraction within `0.0 ..= 1.0`, 0.0 for an empty whole.
pub(crate) fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        (part.min(whole) as f64 / whole as f64).clamp(0.0, 1.0)
    }
}
