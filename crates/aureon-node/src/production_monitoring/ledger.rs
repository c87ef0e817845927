//! The dashboard's evaluation history: cumulative totals read at each evaluation, so that
//! what happened in a window is the difference of two of them.
//!
//! The totals are read from the dashboard's own handles, not from a registry snapshot, so
//! windows stay exact even if the registry refused to export a label set, and do not depend
//! on anything else registered there. Entries are kept for as long as the longest window
//! needs, at least `spacing` apart (the newest, which is always the previous evaluation, is
//! the exception), so evaluating often does not make the history grow without bound; the
//! price is that a window's start may sit up to `spacing` before its ideal start (the
//! evaluation reports the span it really used).

use aureon_telemetry::HistogramSnapshot;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

/// One operation's cumulative figures.
#[derive(Debug, Clone)]
pub(crate) struct OpTotals {
    pub(crate) name: Arc<str>,
    pub(crate) latency: HistogramSnapshot,
}

/// Cumulative figures at one moment of the dashboard's clock.
#[derive(Debug, Clone)]
pub(crate) struct Ledger {
    pub(crate) at: Duration,
    pub(crate) operations: u64,
    pub(crate) errors: u64,
    /// In first-use order; an operation keeps its index in every later ledger.
    pub(crate) ops: Vec<OpTotals>,
}

impl Ledger {
    pub(crate) fn empty(at: Duration) -> Self {
        Self {
            at,
            operations: 0,
            errors: 0,
            ops: Vec::new(),
        }
    }

    /// Operation `name`'s latency in this ledger (`index` is where it usually is).
    pub(crate) fn latency_of(&self, index: usize, name: &str) -> Option<&HistogramSnapshot> {
        match self.ops.get(index) {
            Some(op) if &*op.name == name => Some(&op.latency),
            _ => self
                .ops
                .iter()
                .find(|op| &*op.name == name)
                .map(|op| &op.latency),
        }
    }

    /// What operation `index` of `self` recorded since `earlier`.
    pub(crate) fn latency_since(&self, index: usize, earlier: &Ledger) -> HistogramSnapshot {
        let op = &self.ops[index];
        match earlier.latency_of(index, &op.name) {
            Some(before) => op.latency.delta_since(before),
            None => op.latency.clone(),
        }
    }
}

/// Retained ledgers, oldest first; never empty.
#[derive(Debug)]
pub(crate) struct LedgerHistory {
    entries: VecDeque<Arc<Ledger>>,
    keep: Duration,
    spacing: Duration,
}

impl LedgerHistory {
    pub(crate) fn new(first: Ledger, keep: Duration, spacing: Duration) -> Self {
        Self {
            entries: VecDeque::from([Arc::new(first)]),
            keep,
            spacing,
        }
    }

    /// The newest ledger (the previous evaluation, or creation).
    pub(crate) fn latest(&self) -> &Arc<Ledger> {
        self.entries
            .back()
            .expect("a ledger history is never empty")
    }

    /// The newest ledger taken at or before `t`, or the oldest if all are later.
    pub(crate) fn at_or_before(&self, t: Duration) -> &Arc<Ledger> {
        self.entries
            .iter()
            .rev()
            .find(|l| l.at <= t)
            .unwrap_or_else(|| {
                self.entries
                    .front()
                    .expect("a ledger history is never empty")
            })
    }

    /// Appends `ledger` (taken at or after every retained one) and drops what no window
    /// needs any more.
    pub(crate) fn push(&mut self, ledger: Ledger) {
        let n = self.entries.len();
        if n >= 2
            && self.entries[n - 1]
                .at
                .saturating_sub(self.entries[n - 2].at)
                < self.spacing
        {
            // The old newest was only needed as "the previous evaluation"; the new one takes
            // that role, and the old one is too close to its predecessor to keep.
            self.entries.pop_back();
        }
        let now = ledger.at;
        self.entries.push_back(Arc::new(ledger));
        let horizon = now.saturating_sub(self.keep);
        // Keep one ledger at or before the horizon: it is the start of the longest window.
        while self.entries.len() > 2 && self.entries[1].at <= horizon {
            self.entries.pop_front();
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}
