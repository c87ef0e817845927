//! Snapshot cost and live heap for 1000 histograms recorded from 2 threads (group
//! `snapshot_1000`), against the dense alternative: one `hdrhistogram::Histogram` per metric
//! per thread, merged with `add`.
//!
//! Data (`aureon_benches::snapshot_values`): metric `i` gets log-normal latencies (σ 0.5, cut
//! at ±3.5σ, so about five octaves wide) around a median of 500 µs · 2^(i mod 5), i.e. 500 µs
//! to 8 ms across metrics; each of the 2 threads records [`VALUES_PER_THREAD`] values into
//! every metric. Both contenders get exactly the same values on the same threads.
//!
//! * `aureon_registry_snapshot`: `Registry::snapshot()` of the 1000 histograms, recording
//!   finished (the merged, immutable, sparse view; no dense array is built).
//! * `hdrhistogram_dense_merge`: for every metric, `reset` a preallocated accumulator and
//!   `add` both threads' dense histograms into it. Reusing accumulators is the cheapest way
//!   to merge with `add` (no 184 KiB allocation per metric), so this is the competitor at its
//!   best.
//! * `aureon_snapshot_to_hdrhistogram` (information, no goal): the snapshot plus converting
//!   every metric to a dense `hdrhistogram::Histogram`, the on-demand path for serialization.
//!
//! Drops of the snapshots happen outside the timed region (the conversion's dense histograms
//! are dropped inside it, one by one, as a serializer would).
//!
//! Live heap: this binary's global allocator counts bytes allocated minus bytes freed, and the
//! setup of each contender is measured alone (everything its threads allocated and still hold
//! once they have exited). The result goes to `<criterion dir>/aureon-heap.json` for
//! `benches/summarize.py`, and to stdout.

use aureon_benches::{
    HDR_HIGHEST, SNAPSHOT_METRICS, SNAPSHOT_THREADS, SNAPSHOT_VALUES_PER_THREAD, output_dir,
    snapshot_values, thread_schedstat, write_sched_report,
};
use criterion::{Criterion, criterion_group, criterion_main};
use hdrhistogram::Histogram as Hdr;
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

/// Number of histograms in the registry.
const METRICS: usize = SNAPSHOT_METRICS;
/// Recording threads.
const THREADS: usize = SNAPSHOT_THREADS;
/// Values each thread records into each metric.
const VALUES_PER_THREAD: usize = SNAPSHOT_VALUES_PER_THREAD;

/// Bytes currently allocated through [`Counting`].
static LIVE: AtomicIsize = AtomicIsize::new(0);

/// The system allocator, counting live bytes. One uncontended Relaxed add per call: cheap
/// next to the allocation itself, and the same for both contenders.
struct Counting;

// SAFETY: every method forwards to `System` with the caller's arguments unchanged and only
// adds bookkeeping on an atomic, so `System`'s guarantees carry over.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's (valid, non-zero-size) layout.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as in `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by this allocator (i.e. by `System`) with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from `System` with `layout`; the caller guarantees `new_size`.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live_bytes() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// The aureon side: a registry of [`METRICS`] histograms, recorded into from [`THREADS`]
/// threads that then exit. Returns the registry and its live heap in bytes.
fn setup_aureon() -> (
    aureon_telemetry::Registry,
    Vec<aureon_telemetry::Histogram>,
    isize,
) {
    // Values are generated before the measurement starts: they are input, not heap held.
    let inputs: Vec<Vec<Vec<u64>>> = (0..THREADS)
        .map(|t| (0..METRICS).map(|m| snapshot_values(m, t)).collect())
        .collect();
    let before = live_bytes();
    let registry = aureon_telemetry::Registry::new();
    let handles: Vec<aureon_telemetry::Histogram> = (0..METRICS)
        .map(|m| registry.histogram(&format!("bench_latency_{m}_us")))
        .collect();
    std::thread::scope(|s| {
        for values in &inputs {
            let handles = &handles;
            s.spawn(move || {
                for (h, vs) in handles.iter().zip(values) {
                    for &v in vs {
                        h.record(v);
                    }
                }
            });
        }
    });
    let heap = live_bytes() - before;
    drop(inputs);
    (registry, handles, heap)
}

/// The dense side: per thread, one `hdrhistogram::Histogram` per metric, created and recorded
/// into on that thread. Returns them (`[thread][metric]`) and their live heap in bytes.
fn setup_dense() -> (Vec<Vec<Hdr<u64>>>, isize) {
    let inputs: Vec<Vec<Vec<u64>>> = (0..THREADS)
        .map(|t| (0..METRICS).map(|m| snapshot_values(m, t)).collect())
        .collect();
    let before = live_bytes();
    let per_thread: Vec<Vec<Hdr<u64>>> = std::thread::scope(|s| {
        let workers: Vec<_> = inputs
            .iter()
            .map(|values| {
                s.spawn(move || {
                    values
                        .iter()
                        .map(|vs| {
                            let mut h =
                                Hdr::new_with_bounds(1, HDR_HIGHEST, 3).expect("valid bounds");
                            for &v in vs {
                                h.saturating_record(v);
                            }
                            h
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("dense setup thread"))
            .collect()
    });
    let heap = live_bytes() - before;
    drop(inputs);
    (per_thread, heap)
}

/// Times `op` `iters` times on this thread, dropping its result outside the timed region, and
/// keeps count of how long this thread waited for a CPU meanwhile (the scheduling report).
struct Timed {
    label: &'static str,
    runs: u64,
    busy: Duration,
    waited_ns: Option<u64>,
}

impl Timed {
    fn new(label: &'static str) -> Self {
        Self {
            label,
            runs: 0,
            busy: Duration::ZERO,
            waited_ns: Some(0),
        }
    }

    fn run<R>(&mut self, iters: u64, mut op: impl FnMut() -> R) -> Duration {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            let before = thread_schedstat();
            let start = Instant::now();
            let result = op();
            let elapsed = start.elapsed();
            let after = thread_schedstat();
            drop(black_box(result));
            total += elapsed;
            self.waited_ns = match (self.waited_ns, before, after) {
                (Some(w), Some((_, w0)), Some((_, w1))) => Some(w + w1.saturating_sub(w0)),
                _ => None,
            };
        }
        self.runs += 1;
        self.busy += total;
        total
    }
}

impl Drop for Timed {
    fn drop(&mut self) {
        if self.runs > 0 {
            let busy = self.busy.as_nanos().max(1) as f64;
            let wait = self.waited_ns.map(|w| w as f64 / busy);
            write_sched_report(
                &format!("snapshot_1000/{}", self.label),
                1,
                self.runs,
                wait,
                1.0,
            );
        }
    }
}

fn write_heap_report(aureon: isize, aureon_estimate: usize, dense: isize) {
    let json = format!(
        "{{\n  \"metrics\": {METRICS},\n  \"threads\": {THREADS},\n  \"values_per_thread_per_metric\": {VALUES_PER_THREAD},\n  \"aureon_live_heap_bytes\": {aureon},\n  \"aureon_heap_bytes_estimate\": {aureon_estimate},\n  \"dense_live_heap_bytes\": {dense}\n}}\n"
    );
    println!("live heap, {METRICS} histograms x {THREADS} threads:\n{json}");
    let dir = output_dir();
    let written = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(dir.join("aureon-heap.json"), &json));
    if let Err(e) = written {
        eprintln!(
            "could not write {}: {e}",
            dir.join("aureon-heap.json").display()
        );
    }
}

fn snapshot_1000(c: &mut Criterion) {
    let (registry, handles, aureon_heap) = setup_aureon();
    let (dense, dense_heap) = setup_dense();
    let estimate: usize = handles
        .iter()
        .map(aureon_telemetry::Histogram::heap_bytes)
        .sum();
    write_heap_report(aureon_heap, estimate, dense_heap);

    // Both sides hold the same counts: a cheap cross-check that the comparison is fair.
    let snap = registry.snapshot();
    let aureon_total: u64 = handles.iter().map(|h| h.snapshot().count()).sum();
    let dense_total: u64 = dense.iter().flatten().map(Hdr::len).sum();
    assert_eq!(aureon_total, dense_total);
    assert_eq!(aureon_total, (METRICS * THREADS * VALUES_PER_THREAD) as u64);
    drop(snap);

    let mut group = c.benchmark_group("snapshot_1000");
    // One iteration takes milliseconds; 20 samples fit criterion's measurement time.
    group.sample_size(20);

    let mut timed = Timed::new("aureon_registry_snapshot");
    group.bench_function(timed.label, |b| {
        b.iter_custom(|iters| timed.run(iters, || registry.snapshot()))
    });
    drop(timed);

    let mut accumulators: Vec<Hdr<u64>> = dense[0].iter().map(Hdr::new_from).collect();
    let mut timed = Timed::new("hdrhistogram_dense_merge");
    group.bench_function(timed.label, |b| {
        b.iter_custom(|iters| {
            timed.run(iters, || {
                for (m, acc) in accumulators.iter_mut().enumerate() {
                    acc.reset();
                    for thread in &dense {
                        acc.add(&thread[m]).expect("same bounds");
                    }
                }
                black_box(&accumulators);
            })
        })
    });
    drop(timed);
    drop(accumulators);

    // The dense histograms are dropped as they are made: 1000 of them at once would add
    // 184 MiB to the process for nothing.
    let mut timed = Timed::new("aureon_snapshot_to_hdrhistogram");
    group.bench_function(timed.label, |b| {
        b.iter_custom(|iters| {
            timed.run(iters, || {
                let snap = registry.snapshot();
                let mut total = 0u64;
                for (_, value) in snap.iter() {
                    if let aureon_telemetry::MetricValue::Histogram(h) = value {
                        total += h.to_hdrhistogram().len();
                    }
                }
                (snap, total)
            })
        })
    });
    drop(timed);
    group.finish();
}

// `criterion_group!` defines a `pub fn`; inside a private module it is not exported, so the
// workspace's `missing_docs` has nothing to ask of it.
mod group {
    use super::*;
    criterion_group!(benches, snapshot_1000);
}
criterion_main!(group::benches);
