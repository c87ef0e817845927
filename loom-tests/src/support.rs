//! What every model shares: the loom runner and tiny histogram configurations.

use aureon_telemetry::{HistogramConfig, HistogramSnapshot, Unit};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Runs `f` under loom for every interleaving within the preemption bound.
///
/// The bound comes from `LOOM_MAX_PREEMPTIONS` (run.sh sets 2, tokio's CI value); without it
/// we default to 2 rather than loom's unbounded search, which would not finish for the larger
/// models. Prints how many executions were explored, for run.sh's summary.
pub(crate) fn model<F>(name: &str, f: F)
where
    F: Fn() + Sync + Send + 'static,
{
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(2);
    }
    // Loom's default of 1000 scheduling points per execution is a guard against spin loops;
    // a merge walks a 64-bucket slot table per metric, so an honest execution of the larger
    // models needs a few thousand. The spin loops in the core (wide sum, none elsewhere)
    // yield, so loom still catches a livelock.
    if std::env::var_os("LOOM_MAX_BRANCHES").is_none() {
        builder.max_branches = 20_000;
    }
    let executions = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&executions);
    let started = std::time::Instant::now();
    builder.check(move || {
        counted.fetch_add(1, Ordering::Relaxed);
        f();
    });
    let line = format!(
        "{name}: {} executions in {:.1?}",
        executions.load(Ordering::Relaxed),
        started.elapsed()
    );
    eprintln!("loom model {line}");
    // libtest captures the line above unless run with --nocapture, which would also show
    // loom 0.7.3's leftover `dbg!` in its mutex (one line per lock taken); run.sh collects
    // these lines from a file instead.
    if let Some(path) = std::env::var_os("LOOM_SUMMARY_FILE") {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("LOOM_SUMMARY_FILE is writable");
        writeln!(file, "{line}").expect("LOOM_SUMMARY_FILE is writable");
    }
}

/// Lets the threads spawned so far run first, before the caller's reads.
///
/// Called by a model's reading thread right after spawning the writers. Loom 0.7 finds
/// interleavings by backtracking from conflicting accesses (DPOR), but it remembers only the
/// *last* access to each atomic. The core's single-writer updates are a load of the writer's
/// own cell followed by a store to it; if the reader's load comes first in an execution, the
/// writer's own load replaces it as "last access", the store then looks unrelated to the
/// reader, and loom never tries the reader after the store: a model whose reader runs first
/// explores a single execution (tokio-rs/loom issues #166 and #392, both open).
///
/// Starting from the execution where the writers run first avoids that: each of the reader's
/// loads then directly follows the store it reads from, loom backtracks to put the reader
/// before that store, and so on backwards through every store the reader could overtake.
/// The mutation runs in `docs/concurrency.md` show the models do reach the bad
/// interleavings this way.
pub(crate) fn writers_first() {
    loom::thread::yield_now();
}

/// Joins every thread and waits until each has fully exited, thread-local destructors
/// included, as `std::thread::JoinHandle::join` does.
///
/// Loom's `join` returns as soon as the thread's closure has returned, *before* loom runs the
/// thread's thread-local destructors (`loom::rt::thread_done`), whereas std's join waits for
/// them. The core's slot guard is such a destructor: it gives the slot back under the
/// allocator's mutex. Two things then go wrong without this helper: a later thread may not
/// find the slot free yet (so a model cannot check reuse), and the model may return while a
/// destructor is still pending, after which loom frees its lazy statics under that destructor
/// (a use-after-free inside loom, seen as "index out of bounds" in `rt/object.rs`; the
/// ordering of statics and thread-locals at model end is tokio-rs/loom PR #297, unmerged).
///
/// Loom cannot be asked whether a thread has terminated, but `yield_now` cannot return to the
/// caller while another thread is runnable without letting that thread take a step, so
/// yielding more times than the pending destructors have scheduling points (a lock, an
/// unlock and the termination per thread) runs them all to the end.
pub(crate) fn join_all<T>(
    handles: impl IntoIterator<Item = loom::thread::JoinHandle<T>>,
) -> Vec<T> {
    let results: Vec<T> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    for _ in 0..SETTLE_YIELDS {
        loom::thread::yield_now();
    }
    results
}

/// Generous for the at most four spawned threads loom allows besides the main one.
const SETTLE_YIELDS: usize = 32;

/// A thread that has taken the next free slot and keeps it until [`SlotHolder::release`].
///
/// Under loom the per-thread tables keep two slots inline (the orphan slot 0 and slot 1) and
/// put slot `s >= 2` in bucket `floor(log2(s - 1))` (slot 2 alone in bucket 0, slots 3 and 4
/// sharing bucket 1). With slots 1 and 2 held, the next two threads to record get slots 3
/// and 4 and race to install bucket 1. `record` runs on the holder before this returns (it is
/// how the holder takes its slot; it may record into the model's metric, which exercises the
/// inline entry for slot 1 and the one-entry bucket for slot 2).
pub(crate) struct SlotHolder {
    release: loom::sync::mpsc::Sender<()>,
    thread: loom::thread::JoinHandle<()>,
}

pub(crate) fn hold_next_slot(record: impl FnOnce() + Send + 'static) -> SlotHolder {
    let (ready_tx, ready_rx) = loom::sync::mpsc::channel();
    let (release, release_rx) = loom::sync::mpsc::channel::<()>();
    let thread = loom::thread::spawn(move || {
        record();
        ready_tx.send(()).unwrap();
        release_rx.recv().unwrap();
    });
    ready_rx.recv().unwrap();
    SlotHolder { release, thread }
}

impl SlotHolder {
    /// Lets the holder exit; join the returned handle with the model's other threads.
    pub(crate) fn release(self) -> loom::thread::JoinHandle<()> {
        self.release.send(()).unwrap();
        self.thread
    }
}

/// A histogram configuration with one bin per power of two (significant figures 0), so each
/// of the small values the models record has a bin of its own: with `highest_trackable` 7 the
/// bins are `{0}`, `{1}`, `{2,3}`, `{4..=7}` (one loom page); with 255 there are nine bins
/// over three pages.
pub(crate) fn tiny(highest_trackable: u64) -> HistogramConfig {
    HistogramConfig {
        lowest_discernible: 1,
        highest_trackable,
        significant_figures: 0,
        unit: Unit::None,
    }
}

/// What a set of recorded values should look like once every one of them is counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Expected {
    pub(crate) count: u64,
    pub(crate) min: u64,
    pub(crate) max: u64,
    pub(crate) sum: u128,
}

impl Expected {
    pub(crate) fn of(values: &[u64]) -> Self {
        Self {
            count: values.len() as u64,
            min: values.iter().copied().min().unwrap_or(0),
            max: values.iter().copied().max().unwrap_or(0),
            sum: values.iter().map(|&v| u128::from(v)).sum(),
        }
    }

    pub(crate) fn of_snapshot(s: &HistogramSnapshot) -> Self {
        Self {
            count: s.count(),
            min: s.min(),
            max: s.max(),
            sum: s.sum(),
        }
    }
}

/// Checks a snapshot taken while `all` (values with bins of their own, see [`tiny`]) were
/// being recorded: nothing invented (every bin holds at most as many values as were recorded
/// into it, the count at most all of them), and whatever is counted is covered by the min,
/// max and sum reported (a snapshot reads bins first, totals after).
pub(crate) fn check_in_flight(s: &HistogramSnapshot, all: &[u64]) {
    assert!(s.count() <= all.len() as u64, "invented values: {s:?}");
    let mut counted_sum = 0u128;
    for bin in s.bins() {
        let recorded: Vec<u64> = all
            .iter()
            .copied()
            .filter(|v| (bin.low..=bin.high).contains(v))
            .collect();
        assert!(
            bin.count <= recorded.len() as u64,
            "bin {}..={} counts {} but only {recorded:?} were recorded: {s:?}",
            bin.low,
            bin.high,
            bin.count
        );
        // The models give each distinct value its own bin.
        let value = recorded[0];
        assert!(
            recorded.iter().all(|&v| v == value),
            "model error: values share a bin"
        );
        assert!(
            s.min() <= value,
            "counted {value} but min is {}: {s:?}",
            s.min()
        );
        assert!(
            s.max() >= value,
            "counted {value} but max is {}: {s:?}",
            s.max()
        );
        counted_sum += u128::from(bin.count) * u128::from(value);
    }
    assert!(
        s.sum() >= counted_sum,
        "sum {} does not cover the counted values ({counted_sum}): {s:?}",
        s.sum()
    );
    let total: u128 = all.iter().map(|&v| u128::from(v)).sum();
    assert!(
        s.sum() <= total,
        "sum {} exceeds everything recorded ({total}): {s:?}",
        s.sum()
    );
}

/// Checks that `later` lost nothing `earlier` had: no bin, count or sum went backwards.
pub(crate) fn check_monotone(earlier: &HistogramSnapshot, later: &HistogramSnapshot) {
    assert!(
        later.count() >= earlier.count(),
        "count went backwards: {earlier:?} then {later:?}"
    );
    assert!(
        later.sum() >= earlier.sum(),
        "sum went backwards: {earlier:?} then {later:?}"
    );
    for old in earlier.bins() {
        let now = later
            .bins()
            .find(|b| b.low == old.low)
            .map_or(0, |b| b.count);
        assert!(
            now >= old.count,
            "bin {}..={} went backwards: {earlier:?} then {later:?}",
            old.low,
            old.high
        );
    }
}
