//! Counters: one cache-padded cell per thread, summed on read.
//!
//! A thread increments only its own cell (Relaxed load + store: no locked instruction, no
//! shared cache line); readers add all cells up. Each cell only grows, so a later read of the
//! same cells is never smaller (read-read coherence): counter totals never go backwards.
//! Cells outlive their threads and are reused with their slot ([`crate::thread_slot`]).
//! Loom model: `counter_cells_sum_exactly`.

use crate::local::LocalCounter;
use crate::per_thread::PerThread;
use crate::sync::{AtomicU64, CachePadded, Ordering};
use crate::thread_slot;
use std::fmt;
use std::sync::Arc;

pub(crate) struct CounterCore {
    cells: PerThread<CachePadded<AtomicU64>>,
}

impl CounterCore {
    pub(crate) fn new() -> Self {
        Self {
            cells: PerThread::new(),
        }
    }

    /// Slot `slot`'s cell, created on first use; the caller must own the slot.
    #[inline]
    pub(crate) fn cell(&self, slot: usize) -> &AtomicU64 {
        self.cells
            .get_or_create(slot, || CachePadded::new(AtomicU64::new(0)))
    }

    /// Adds `n` to slot `slot`'s cell; the caller must own the slot.
    #[inline]
    fn add(&self, slot: usize, n: u64) {
        add_to_cell(self.cell(slot), n);
    }

    pub(crate) fn value(&self) -> u64 {
        let mut total = 0u64;
        self.cells
            .for_each(|c| total = total.saturating_add(c.load(Ordering::Relaxed)));
        total
    }
}

/// Adds `n` to a cell that only the caller writes: a Relaxed load and store, saturating.
#[inline]
pub(crate) fn add_to_cell(cell: &AtomicU64, n: u64) {
    cell.store(
        cell.load(Ordering::Relaxed).saturating_add(n),
        Ordering::Relaxed,
    );
}

/// A handle to a monotonically increasing counter: cheap to clone, `Send + Sync`, increments
/// without a lock or a shared cache line. Totals saturate at `u64::MAX`.
#[derive(Clone)]
pub struct Counter {
    pub(crate) core: Arc<CounterCore>,
}

impl fmt::Debug for Counter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Counter")
            .field("value", &self.value())
            .finish()
    }
}

impl Default for Counter {
    fn default() -> Self {
        Self::new()
    }
}

impl Counter {
    /// A standalone counter (not in any registry).
    pub fn new() -> Self {
        Self {
            core: Arc::new(CounterCore::new()),
        }
    }

    /// Adds `n`.
    #[inline]
    pub fn increment(&self, n: u64) {
        match thread_slot::current() {
            Some(slot) => self.core.add(slot, n),
            None => thread_slot::with_orphan_slot(|slot| self.core.add(slot, n)),
        }
    }

    /// A recorder bound to the calling thread, which finds this thread's cell once instead
    /// of on every increment (see [`LocalCounter`]).
    #[must_use = "a recorder only helps if it is kept and incremented through"]
    pub fn local(&self) -> LocalCounter {
        LocalCounter::new(self)
    }

    /// The current total over all threads.
    pub fn value(&self) -> u64 {
        self.core.value()
    }
}
