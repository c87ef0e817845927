//! Record cost per value, at 1 and 2 threads, for aureon-telemetry and the alternatives a user
//! would pick, all in the same run (groups `record_1t` and `record_2t`); and the cost of
//! aureon's other recording paths (group `record_extras`, including `record_slice` in
//! batches of 64 on both recorders).
//!
//! Every contender records the same precomputed log-normal latency stream (µs, median 2 ms;
//! see `aureon_benches::value_stream`) through the same loop, on long-lived worker threads
//! started together on a barrier (`aureon_benches::Workers`). At 2 threads each thread records
//! `iters` values and criterion gets the mean per-thread time, so "ns per record" reads the
//! same at 1 and 2 threads and a flat number means perfect scaling.
//!
//! Contenders, each as it is used in practice:
//! * `aureon`: `aureon_telemetry::Histogram::record` through a shared handle (one per-thread
//!   shard each).
//! * `aureon_local`: the same through `Histogram::local`, a recorder bound to the worker
//!   thread that finds its shard once per sample instead of once per record.
//! * `hdrhistogram`: a plain `hdrhistogram::Histogram` owned by each thread (not shareable,
//!   not readable while recording: the single-thread speed reference).
//! * `mutex_hdrhistogram`: one `Mutex<hdrhistogram::Histogram>` shared by all threads.
//! * `hdrhistogram_sync`: hdrhistogram's `sync::Recorder`, one per thread, of one
//!   `SyncHistogram` (never refreshed during the measurement).
//! * `metrics_util_atomic_bucket`: metrics-util's `AtomicBucket<f64>`, what
//!   metrics-exporter-prometheus records histogram samples into; cleared between samples,
//!   outside the timing, as an exporter drains it on scrape.
//! * `prometheus_histogram`: the `prometheus` crate's `Histogram` with its default buckets,
//!   observing seconds.
//! * `atomic_array_floor`: a bare single-writer array of `AtomicU64` per thread, the floor.

use aureon_benches::{
    AtomicArray, HDR_HIGHEST, bench_workers, bench_workers_then, for_each_batch, for_each_value,
};
use criterion::{Criterion, criterion_group, criterion_main};
use hdrhistogram::Histogram as Hdr;
use hdrhistogram::sync::{Recorder, SyncHistogram};
use metrics_util::storage::AtomicBucket;
use std::hint::black_box;
use std::sync::{Arc, Mutex};

/// A dense hdrhistogram with aureon's default configuration (1 ..= 1 h in µs, 3 figures).
fn hdr() -> Hdr<u64> {
    Hdr::new_with_bounds(1, HDR_HIGHEST, 3).expect("valid bounds")
}

fn record_at(c: &mut Criterion, threads: usize) {
    let gname = format!("record_{threads}t");
    let mut group = c.benchmark_group(&gname);

    let h = aureon_telemetry::Histogram::with_default_config();
    bench_workers(
        &mut group,
        &gname,
        "aureon",
        vec![h.clone(); threads],
        |h, values, iters| {
            for_each_value(values, iters, |v| h.record(v));
        },
    );
    black_box(h.snapshot().count());

    let h = aureon_telemetry::Histogram::with_default_config();
    bench_workers(
        &mut group,
        &gname,
        "aureon_local",
        vec![h.clone(); threads],
        |h, values, iters| {
            // Bound once per sample, as a worker binds it once per batch of work.
            let local = h.local();
            for_each_value(values, iters, |v| local.record(v));
        },
    );
    black_box(h.snapshot().count());

    let owned: Vec<Hdr<u64>> = (0..threads).map(|_| hdr()).collect();
    bench_workers(
        &mut group,
        &gname,
        "hdrhistogram",
        owned,
        |h, values, iters| {
            for_each_value(values, iters, |v| h.saturating_record(v));
        },
    );

    let shared = Arc::new(Mutex::new(hdr()));
    bench_workers(
        &mut group,
        &gname,
        "mutex_hdrhistogram",
        vec![Arc::clone(&shared); threads],
        |h, values, iters| {
            for_each_value(values, iters, |v| {
                h.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .saturating_record(v)
            });
        },
    );

    let sync: SyncHistogram<u64> = hdr().into_sync();
    let recorders: Vec<Recorder<u64>> = (0..threads).map(|_| sync.recorder()).collect();
    bench_workers(
        &mut group,
        &gname,
        "hdrhistogram_sync",
        recorders,
        |r, values, iters| {
            for_each_value(values, iters, |v| r.saturating_record(v));
        },
    );
    drop(sync);

    let bucket = Arc::new(AtomicBucket::<f64>::new());
    let drain = Arc::clone(&bucket);
    bench_workers_then(
        &mut group,
        &gname,
        "metrics_util_atomic_bucket",
        vec![Arc::clone(&bucket); threads],
        |b, values, iters| {
            // metrics' `Histogram::record` hands the exporter an f64; the conversion is part
            // of what a user of that stack pays.
            for_each_value(values, iters, |v| b.push(v as f64));
        },
        // Unbounded otherwise: an exporter drains the bucket at every scrape.
        move || drain.clear(),
    );

    let prom = prometheus::Histogram::with_opts(prometheus::HistogramOpts::new(
        "bench_latency_seconds",
        "benchmark latencies",
    ))
    .expect("valid histogram options");
    bench_workers(
        &mut group,
        &gname,
        "prometheus_histogram",
        vec![prom.clone(); threads],
        |p, values, iters| {
            // Prometheus convention: seconds in f64.
            for_each_value(values, iters, |v| p.observe(v as f64 * 1e-6));
        },
    );

    let floors: Vec<AtomicArray> = (0..threads).map(|_| AtomicArray::new()).collect();
    bench_workers(
        &mut group,
        &gname,
        "atomic_array_floor",
        floors,
        |a, values, iters| {
            for_each_value(values, iters, |v| a.record(v));
        },
    );

    group.finish();
}

fn record_1t(c: &mut Criterion) {
    record_at(c, 1);
}

fn record_2t(c: &mut Criterion) {
    record_at(c, 2);
}

/// aureon's other recording paths, single thread, with hdrhistogram's equivalents where it
/// has one. The `aureon_record` row is repeated here so each extra reads as a ratio to it.
fn record_extras(c: &mut Criterion) {
    let gname = String::from("record_extras");
    let mut group = c.benchmark_group(&gname);
    // The expected interval for coordinated-omission correction: 1 ms, so a typical 2 ms
    // value adds one or two corrected values and an 11 ms tail value about ten.
    const INTERVAL_US: u64 = 1000;

    let h = aureon_telemetry::Histogram::with_default_config();
    bench_workers(
        &mut group,
        &gname,
        "aureon_record",
        vec![h.clone()],
        |h, values, iters| {
            for_each_value(values, iters, |v| h.record(v));
        },
    );
    // Batches of 64 values (time per value, as for the others: criterion is told `iters`
    // values, and each batch records 64 of them).
    bench_workers(
        &mut group,
        &gname,
        "aureon_record_slice_64",
        vec![h.clone()],
        |h, values, iters| {
            for_each_batch(values, iters, 64, |batch| h.record_slice(batch));
        },
    );
    bench_workers(
        &mut group,
        &gname,
        "aureon_local_record_slice_64",
        vec![h.clone()],
        |h, values, iters| {
            let local = h.local();
            for_each_batch(values, iters, 64, |batch| local.record_slice(batch));
        },
    );
    bench_workers(
        &mut group,
        &gname,
        "aureon_record_with_exemplar",
        vec![(h.clone(), 0u64)],
        |(h, id), values, iters| {
            for_each_value(values, iters, |v| {
                *id += 1;
                h.record_with_exemplar(v, *id);
            });
        },
    );
    bench_workers(
        &mut group,
        &gname,
        "aureon_record_corrected",
        vec![h.clone()],
        |h, values, iters| {
            for_each_value(values, iters, |v| h.record_corrected(v, INTERVAL_US));
        },
    );
    bench_workers(
        &mut group,
        &gname,
        "hdrhistogram_record_correct",
        vec![hdr()],
        |h, values, iters| {
            for_each_value(values, iters, |v| {
                let _ = h.record_correct(v, INTERVAL_US);
            });
        },
    );
    // A timer around nothing: the cost of two clock reads, the unit conversion and a record.
    bench_workers(
        &mut group,
        &gname,
        "aureon_timer",
        vec![h.clone()],
        |h, values, iters| {
            for_each_value(values, iters, |_| drop(h.start_timer()));
        },
    );
    // What a user would write by hand with std's clock and a thread-owned hdrhistogram.
    bench_workers(
        &mut group,
        &gname,
        "std_instant_hdrhistogram",
        vec![hdr()],
        |h, values, iters| {
            for_each_value(values, iters, |_| {
                let start = std::time::Instant::now();
                h.saturating_record(start.elapsed().as_micros() as u64);
            });
        },
    );
    black_box(h.snapshot().count());
    group.finish();
}

// `criterion_group!` defines a `pub fn`; inside a private module it is not exported, so the
// workspace's `missing_docs` has nothing to ask of it.
mod group {
    use super::*;
    criterion_group!(benches, record_1t, record_2t, record_extras);
}
criterion_main!(group::benches);
