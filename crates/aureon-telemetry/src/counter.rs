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
use std::sync::{Arc, OnceLock};

/// Aligned to 128 bytes so that in an `Arc<CounterCore>` the reference counts (which every
/// handle clone and drop writes) sit on lines of their own, not on the inline cell pointers
/// every increment reads.
#[repr(align(128))]
pub(crate) struct CounterCore {
    cells: PerThread<CachePadded<AtomicU64>>,
    /// The high-water mark of [`Counter::absolute`], allocated on its first call: boxed so
    /// that its writes never touch the cache line of `cells`, which every increment reads.
    mark: OnceLock<Box<AtomicU64>>,
}

impl CounterCore {
    pub(crate) fn new() -> Self {
        Self {
            cells: PerThread::new(),
            mark: OnceLock::new(),
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

    /// Mirrors an external, monotonically increasing count: raises this counter's
    /// high-water mark of absolute readings to `value` and adds what the mark rose by.
    ///
    /// The amounts added telescope: however many threads race, and in whatever order stale
    /// readings arrive, the total added by `absolute` is exactly the largest `value` ever
    /// passed, and a smaller one adds nothing. A counter fed only by `absolute` therefore
    /// reads that largest value; one fed by both reads its increments plus it. The mark lives
    /// with the counter (every handle of a registry series shares it, and a series freed by
    /// idle expiry takes it along). Not the hot path: one `fetch_max` on a shared atomic.
    ///
    /// ```
    /// let c = aureon_telemetry::Counter::new();
    /// c.absolute(10);
    /// c.absolute(7); // stale: adds nothing
    /// c.absolute(12);
    /// assert_eq!(c.value(), 12);
    /// ```
    pub fn absolute(&self, value: u64) {
        let mark = self.core.mark.get_or_init(|| Box::new(AtomicU64::new(0)));
        // Relaxed: the mark only orders `absolute` calls among themselves (one atomic
        // read-modify-write, totally ordered per location); readers sum the cells.
        let previous = mark.fetch_max(value, Ordering::Relaxed);
        if value > previous {
            self.increment(value - previous);
        }
    }

    /// The current total over all threads.
    pub fn value(&self) -> u64 {
        self.core.value()
    }
}
