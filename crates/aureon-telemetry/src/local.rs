//! Thread-bound recorders: [`LocalHistogram`] and [`LocalCounter`], which hold on to their
//! thread's shard (or counter cell) instead of finding it on every record.
//!
//! [`Histogram::record`] finds the caller's shard on every call: a thread-local load for the
//! slot, then the histogram's per-thread table, then the shard. Those loads depend on each
//! other, and on a busy core (another workload sharing its L1) their misses add up before the
//! bin's own address is even known. A thread that records into the same histogram in a loop
//! (one block's transactions, one connection's requests) can look the shard up once: a
//! `LocalHistogram` keeps a pointer to it, a copy of the bucketing parameters, and the
//! thread's claim on its slot, so a record is the bin arithmetic, the page lookup and the
//! stores. A `LocalCounter` does the same for a counter's cell.
//!
//! Why the claim: a shard has one writer, the thread that owns its slot, and a slot is handed
//! to another thread when its owner exits. A recorder that lives in a thread-local can
//! outlive its thread's own claim (thread-locals are destroyed in no fixed order), so it
//! keeps the slot claimed itself ([`thread_slot::lease`]); the slot is given back when the
//! last claim drops. The claim is an `Rc`, which makes the recorders `!Send` and `!Sync`: the
//! compiler, not a convention, keeps them on their thread.

use crate::counter::{self, Counter};
use crate::histogram::{Histogram, Timer};
use crate::layout::Layout;
use crate::shard::Shard;
use crate::sync::AtomicU64;
use crate::thread_slot::{self, SlotLease};
use std::fmt;
use std::ptr::NonNull;
use std::rc::Rc;
use std::time::Duration;

/// A thread-bound recorder for a [`Histogram`], from [`Histogram::local`]: the fastest way to
/// record many values from one thread.
///
/// It records exactly like the histogram it came from (the same shard as this thread's plain
/// records, except on a thread that is already exiting; snapshots see its values like any
/// others), but looks up the calling thread's shard once, when it is
/// created, instead of on every record. It is neither `Send` nor `Sync`: create one on each
/// thread that records, and keep it for as long as the thread records (in a local variable
/// of the loop, in a struct the thread owns, or in a `thread_local!`).
///
/// ```
/// use aureon_telemetry::Histogram;
/// let h = Histogram::with_default_config();
/// let worker = {
///     let h = h.clone();
///     std::thread::spawn(move || {
///         let local = h.local();
///         for v in [1500, 2300, 980] {
///             local.record(v);
///         }
///     })
/// };
/// worker.join().unwrap();
/// h.record(1200); // the shared handle still works, on any thread
/// let s = h.snapshot();
/// assert_eq!((s.count(), s.min(), s.max()), (4, 980, 2300));
/// ```
///
/// Which to use: the shared [`Histogram`] handle where values come from anywhere (a handler
/// on whichever pool thread runs it); a `LocalHistogram` in a loop that records many values
/// on one thread (a block's transactions, a worker's batch). The local recorder costs fewer
/// instructions, and it is also much less sensitive to a busy core: the shared handle's
/// per-record lookup is a chain of dependent loads, and when another workload takes part of
/// the core's cache that chain is what slows down (the repository's `docs/benchmarks.md`
/// measures both).
///
/// It cannot be sent to another thread:
///
/// ```compile_fail
/// fn needs_send<T: Send>(_: T) {}
/// needs_send(aureon_telemetry::Histogram::with_default_config().local());
/// ```
///
/// While a `LocalHistogram` exists, its thread's slot stays claimed even after the thread's
/// other thread-locals are gone, so it may be kept in a `thread_local!` and used from
/// destructors. Values outside the trackable range behave as with [`Histogram::record`].
pub struct LocalHistogram {
    /// The bucketing parameters, copied so that a record computes the bin without loading
    /// through the histogram's `Arc`.
    layout: Layout,
    /// The shard of `lease`'s slot in `histogram`.
    shard: NonNull<Shard>,
    /// Keeps the shard alive: shards are freed only when the histogram's core drops.
    histogram: Histogram,
    /// Keeps this thread the shard's only writer (and makes this type `!Send + !Sync`).
    _lease: Rc<SlotLease>,
}

impl LocalHistogram {
    pub(crate) fn new(histogram: &Histogram) -> Self {
        let lease = thread_slot::lease();
        let shard = histogram.core.shard(lease.id());
        Self {
            layout: *histogram.core.layout(),
            shard: NonNull::from(shard),
            histogram: histogram.clone(),
            _lease: lease,
        }
    }

    /// Records one occurrence of `value`.
    #[inline]
    pub fn record(&self, value: u64) {
        self.record_n(value, 1);
    }

    /// Records every value of `values`, as many calls of [`LocalHistogram::record`] would, at
    /// a lower cost per value (the min, max and sum are updated once for the batch), like
    /// [`Histogram::record_slice`].
    pub fn record_slice(&self, values: &[u64]) {
        // SAFETY: the shard was created with the layout this recorder copied from the same
        // core (one writer thread, as for `record_n`).
        unsafe { self.shard().record_slice(&self.layout, values) };
    }

    /// Records `n` occurrences of `value` (counts saturate at `u64::MAX`).
    #[inline]
    pub fn record_n(&self, value: u64, n: u64) {
        if n == 0 {
            return;
        }
        let (index, clamped) = self.layout.index_clamped(value);
        let sum = u128::from(value) * u128::from(n);
        // SAFETY: `index` comes from `index_clamped` of the layout the shard was built with
        // (copied from the same core). (Exact counts, not soundness, also need one writer
        // thread: the lease keeps the slot this thread's, and `self` is not `Send`.)
        unsafe {
            self.shard()
                .record_run(index, clamped, value, value, n, sum);
        }
    }

    /// Records a duration, converted as [`Histogram::record_duration`] does.
    #[inline]
    pub fn record_duration(&self, d: Duration) {
        self.record(self.layout.config.unit.recorded_duration(d));
    }

    /// Records `value` with coordinated-omission correction, as
    /// [`Histogram::record_corrected`] does.
    pub fn record_corrected(&self, value: u64, expected_interval: u64) {
        // SAFETY: `shard()` is `histogram`'s shard of the slot this recorder's lease holds
        // for the calling thread.
        unsafe {
            self.histogram
                .core
                .record_corrected_into(self.shard(), value, expected_interval);
        }
    }

    /// Records `value` and offers it, with the caller's `id`, as an exemplar, as
    /// [`Histogram::record_with_exemplar`] does.
    pub fn record_with_exemplar(&self, value: u64, id: u64) {
        // SAFETY: as in `record_corrected`.
        unsafe {
            self.histogram
                .core
                .record_with_exemplar_into(self.shard(), value, id);
        }
    }

    /// This thread's shard.
    #[inline]
    fn shard(&self) -> &Shard {
        // SAFETY: `shard` points into `histogram`'s per-thread table, whose entries live
        // until the histogram's core drops and are only ever reached through shared
        // references; `histogram` keeps the core alive.
        unsafe { self.shard.as_ref() }
    }

    /// Starts a timer that records the elapsed time through this recorder when dropped (or
    /// when [`Timer::stop`] is called), like [`Histogram::start_timer`].
    #[inline]
    pub fn start_timer(&self) -> Timer<'_, LocalHistogram> {
        Timer::new(self)
    }

    /// The histogram this recorder writes to (for snapshots, or to hand to another thread).
    pub fn histogram(&self) -> &Histogram {
        &self.histogram
    }
}

/// A thread-bound recorder for a [`Counter`], from [`Counter::local`]: an increment is one
/// load and one store to this thread's cell, found once when the recorder is created.
///
/// Like [`LocalHistogram`] (see there for when to use which), it is neither `Send` nor
/// `Sync`, keeps its thread's slot claimed while it exists, and adds to the same cell as the
/// counter's own [`Counter::increment`] on this thread (except on a thread that is already
/// exiting, whose plain increments go to a shared cell while a recorder made then gets a
/// slot of its own; the total is the same).
///
/// ```compile_fail
/// fn needs_sync<T: Sync>(_: T) {}
/// needs_sync(aureon_telemetry::Counter::new().local());
/// ```
///
/// ```
/// use aureon_telemetry::Counter;
/// let txs = Counter::new();
/// let local = txs.local();
/// for _ in 0..3 {
///     local.increment(1);
/// }
/// txs.increment(2);
/// assert_eq!(txs.value(), 5);
/// ```
pub struct LocalCounter {
    /// The cell of `lease`'s slot in `counter`.
    cell: NonNull<AtomicU64>,
    /// Keeps the cell alive: cells are freed only when the counter's core drops.
    counter: Counter,
    /// Keeps this thread the cell's only writer (and makes this type `!Send + !Sync`).
    _lease: Rc<SlotLease>,
}

impl LocalCounter {
    pub(crate) fn new(counter: &Counter) -> Self {
        let lease = thread_slot::lease();
        Self {
            cell: NonNull::from(counter.core.cell(lease.id())),
            counter: counter.clone(),
            _lease: lease,
        }
    }

    /// Adds `n` (the total saturates at `u64::MAX`).
    #[inline]
    pub fn increment(&self, n: u64) {
        // SAFETY: `cell` points into `counter`'s per-thread table, whose entries live until
        // the counter's core drops, and `counter` keeps the core alive. The lease makes this
        // thread the cell's only writer, and `self` is not `Send`.
        counter::add_to_cell(unsafe { self.cell.as_ref() }, n);
    }

    /// The counter this recorder adds to.
    pub fn counter(&self) -> &Counter {
        &self.counter
    }
}

impl fmt::Debug for LocalCounter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalCounter")
            .field("value", &self.counter.value())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for LocalHistogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalHistogram")
            .field("config", &self.layout.config)
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(aureon_loom)))]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, mpsc};
    use std::thread;

    /// Records from its destructor, which runs after the thread's own slot guard is gone.
    struct LateRecorder {
        local: LocalHistogram,
        dropping: mpsc::Sender<Option<usize>>,
        resume: mpsc::Receiver<()>,
    }

    impl Drop for LateRecorder {
        fn drop(&mut self) {
            // The thread's plain records are orphaned now if its guard was destroyed first.
            let guard_gone = thread_slot::current().is_none();
            let held = guard_gone.then(|| self.local._lease.id());
            // No unwrap: a panic in a thread-local destructor aborts the test binary. If the
            // test side is gone, the count check there fails instead.
            let _ = self.dropping.send(held);
            if self.resume.recv().is_ok() {
                self.local.record(7);
            }
        }
    }

    /// Creates recorders in its destructor, after the thread's own slot guard is gone.
    struct ExitingRecorder {
        histogram: Histogram,
        counter: Counter,
        guard_was_gone: Arc<AtomicBool>,
    }

    impl Drop for ExitingRecorder {
        fn drop(&mut self) {
            let gone = thread_slot::current().is_none();
            self.guard_was_gone.store(gone, Ordering::Relaxed);
            self.histogram.record(3); // orphaned: the shared slot 0, under its lock
            self.counter.increment(1);
            let (local, count) = (self.histogram.local(), self.counter.local());
            local.record(4); // a fresh slot of the recorder's own
            count.increment(10);
        }
    }

    thread_local! {
        static HOLDER: RefCell<Option<LateRecorder>> = const { RefCell::new(None) };
        static EXITING: RefCell<Option<ExitingRecorder>> = const { RefCell::new(None) };
    }

    #[test]
    fn a_local_recorder_keeps_its_slot_after_the_threads_guard_is_gone() {
        let h = Histogram::with_default_config();
        let (dropping_tx, dropping) = mpsc::channel();
        let (resume, resume_rx) = mpsc::channel();
        let a = {
            let h = h.clone();
            thread::spawn(move || {
                // Touch HOLDER before the first record registers the slot guard: thread-local
                // destructors run in reverse order of registration, so the guard goes first.
                HOLDER.with(|_| {});
                let local = h.local();
                local.record(1);
                HOLDER.with(|holder| {
                    *holder.borrow_mut() = Some(LateRecorder {
                        local,
                        dropping: dropping_tx,
                        resume: resume_rx,
                    })
                });
            })
        };
        let held = dropping
            .recv()
            .unwrap()
            .expect("the slot guard was still alive when the recorder dropped");
        // Thread A's guard is gone, its recorder still holds the slot: a thread that starts
        // now must get another one, or two threads would write one shard.
        assert!(
            !thread_slot::is_free(held),
            "a leased slot is in the free list"
        );
        let b = {
            let h = h.clone();
            thread::spawn(move || {
                h.record(2);
                thread_slot::current().unwrap()
            })
        };
        assert_ne!(b.join().unwrap(), held, "a leased slot was handed out");
        resume.send(()).unwrap();
        a.join().unwrap();
        let s = h.snapshot();
        assert_eq!((s.count(), s.min(), s.max(), s.sum()), (3, 1, 7, 10));
    }

    #[test]
    fn recorders_created_while_the_thread_exits_count_exactly() {
        let (h, c) = (Histogram::with_default_config(), Counter::new());
        let (h2, c2) = (h.clone(), c.clone());
        let guard_was_gone = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&guard_was_gone);
        thread::spawn(move || {
            EXITING.with(|_| {}); // registered before the guard, so destroyed after it
            h2.record(1);
            c2.increment(100);
            EXITING.with(|e| {
                *e.borrow_mut() = Some(ExitingRecorder {
                    histogram: h2,
                    counter: c2,
                    guard_was_gone: flag,
                })
            });
        })
        .join()
        .unwrap();
        assert!(
            guard_was_gone.load(Ordering::Relaxed),
            "the slot guard was still alive when the recorders were made"
        );
        let s = h.snapshot();
        assert_eq!((s.count(), s.min(), s.max(), s.sum()), (3, 1, 4, 8));
        assert_eq!(c.value(), 111);
    }

    #[test]
    fn a_local_counter_adds_to_its_threads_cell() {
        let c = Counter::new();
        let local = c.local();
        let own_cell = c.core.cell(thread_slot::current().unwrap());
        assert!(std::ptr::eq(local.cell.as_ptr(), own_cell));
        local.increment(2);
        c.increment(3);
        local.increment(u64::MAX);
        assert_eq!(c.value(), u64::MAX);
        let other = {
            let c = c.clone();
            thread::spawn(move || c.local().increment(1))
        };
        other.join().unwrap();
        assert_eq!(c.value(), u64::MAX, "saturates across cells too");
        let d = Counter::new();
        let l = d.local();
        l.increment(4);
        thread::spawn({
            let d = d.clone();
            move || {
                let l = d.local();
                l.increment(5);
            }
        })
        .join()
        .unwrap();
        assert_eq!((d.value(), l.counter().value()), (9, 9));
    }

    #[test]
    fn a_local_timer_records_into_the_local_shard() {
        let h = Histogram::new(crate::HistogramConfig {
            unit: crate::Unit::Nanoseconds,
            ..crate::HistogramConfig::default()
        })
        .unwrap();
        let local = h.local();
        let elapsed = local.start_timer().stop();
        local.start_timer().cancel();
        {
            let _t = local.start_timer();
        }
        let s = h.snapshot();
        // The cancelled timer recorded nothing; the stopped one recorded what it returned.
        assert_eq!(s.count(), 2);
        let stopped = u64::try_from(elapsed.as_nanos()).unwrap();
        assert!(s.min() <= stopped && stopped <= s.max());
    }

    #[test]
    fn local_and_shared_records_of_one_thread_land_in_one_shard() {
        let h = Histogram::with_default_config();
        let before = h.heap_bytes();
        let local = h.local();
        local.record(1);
        h.record(2);
        local.record_n(3, 4);
        local.record_n(5, 0);
        let s = h.snapshot();
        assert_eq!((s.count(), s.sum()), (6, 15));
        let one_shard = h.heap_bytes() - before;
        h.local().record(3);
        assert_eq!(h.heap_bytes() - before, one_shard);
    }
}
