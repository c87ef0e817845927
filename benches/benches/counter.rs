//! Counter increment cost, at 1 and 2 threads (groups `counter_1t`, `counter_2t`), all in the
//! same run, with the same harness as the record benchmarks (`aureon_benches::Workers`: mean
//! per-thread time, so a flat number from 1 to 2 threads means perfect scaling).
//!
//! Contenders:
//! * `aureon`: `aureon_telemetry::Counter::increment(1)` through a shared handle (one
//!   cache-padded cell per thread).
//! * `aureon_local`: the same through `Counter::local`, a `LocalCounter` bound to the worker
//!   thread that finds its cell once per sample.
//! * `shared_atomic_fetch_add`: one `AtomicU64` shared by all threads, `fetch_add(1, Relaxed)`:
//!   what a hand-rolled counter is, one locked instruction on one contended cache line.
//! * `prometheus_int_counter`: the `prometheus` crate's `IntCounter::inc` (shared).
//! * `thread_owned_atomic_floor`: each thread's own cache-padded `AtomicU64`, Relaxed load +
//!   store: the floor for any counter that can be read from another thread.

use aureon_benches::{bench_workers, for_each_value};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A cache-line-aligned atomic, so that two threads' floor cells never share a line.
#[repr(align(128))]
#[derive(Default)]
struct Padded(AtomicU64);

fn counter_at(c: &mut Criterion, threads: usize) {
    let gname = format!("counter_{threads}t");
    let mut group = c.benchmark_group(&gname);

    // The loops walk the value stream like the record benches do, so the loop shape is the
    // same for every contender; the values themselves are not used by a counter.
    let counter = aureon_telemetry::Counter::new();
    bench_workers(
        &mut group,
        &gname,
        "aureon",
        vec![counter.clone(); threads],
        |c, values, iters| {
            for_each_value(values, iters, |_| c.increment(1));
        },
    );
    black_box(counter.value());

    let counter = aureon_telemetry::Counter::new();
    bench_workers(
        &mut group,
        &gname,
        "aureon_local",
        vec![counter.clone(); threads],
        |c, values, iters| {
            // Bound once per sample, as a worker binds it once per batch of work.
            let local = c.local();
            for_each_value(values, iters, |_| local.increment(1));
        },
    );
    black_box(counter.value());

    let shared = Arc::new(AtomicU64::new(0));
    bench_workers(
        &mut group,
        &gname,
        "shared_atomic_fetch_add",
        vec![Arc::clone(&shared); threads],
        |a, values, iters| {
            for_each_value(values, iters, |_| {
                a.fetch_add(1, Ordering::Relaxed);
            });
        },
    );
    black_box(shared.load(Ordering::Relaxed));

    let prom =
        prometheus::IntCounter::new("bench_total", "benchmark counter").expect("valid counter");
    bench_workers(
        &mut group,
        &gname,
        "prometheus_int_counter",
        vec![prom.clone(); threads],
        |p, values, iters| {
            for_each_value(values, iters, |_| p.inc());
        },
    );
    black_box(prom.get());

    let cells: Vec<Arc<Padded>> = (0..threads).map(|_| Arc::new(Padded::default())).collect();
    bench_workers(
        &mut group,
        &gname,
        "thread_owned_atomic_floor",
        cells,
        |cell, values, iters| {
            for_each_value(values, iters, |_| {
                cell.0
                    .store(cell.0.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
            });
        },
    );

    group.finish();
}

fn counter_1t(c: &mut Criterion) {
    counter_at(c, 1);
}

fn counter_2t(c: &mut Criterion) {
    counter_at(c, 2);
}

// `criterion_group!` defines a `pub fn`; inside a private module it is not exported, so the
// workspace's `missing_docs` has nothing to ask of it.
mod group {
    use super::*;
    criterion_group!(benches, counter_1t, counter_2t);
}
criterion_main!(group::benches);
