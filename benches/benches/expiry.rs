//! Does idle expiry cost the hot path anything? Histogram records and counter increments
//! through registry handles, with expiry off and on, at 1 and 2 threads, in the same run
//! (groups `expiry_record_{1,2}t`, `expiry_increment_{1,2}t`), next to a thread-owned
//! `hdrhistogram` (records) and the thread-owned atomic floor (increments) for scale.
//!
//! * `expiry_off`: a registry without an idle timeout, snapshotted every 10 ms.
//! * `expiry_on`: a registry with a 50 ms idle timeout, snapshotted every 10 ms, so every
//!   pass expires, frees and revives series while the benchmark records. The measured series
//!   itself is recorded continuously (it never expires).
//!
//! Both hold 1000 other series of which a fifth are recorded into again every 20 ms by a
//! background thread (the same load on both: only the expiry passes differ).
//!
//! Expiry runs inside the snapshot pass, never on the recording thread, and the handle is the
//! same `Arc` of the same core either way: the two should be indistinguishable.
//! Values: the shared log-normal latency stream (`aureon_benches::value_stream`).

use aureon_benches::{HDR_HIGHEST, bench_workers, for_each_value};
use aureon_telemetry::{Registry, Snapshotter, SnapshotterConfig};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// A registry under snapshot passes every 10 ms and a churner thread that records into a
/// fifth of its series every 20 ms (with expiry on, they keep coming and going); both stop
/// when dropped.
struct Background {
    registry: Registry,
    _snapshotter: Snapshotter,
    stop: Arc<AtomicBool>,
    churner: Option<std::thread::JoinHandle<()>>,
}

impl Background {
    fn new(expiry: bool) -> Self {
        let mut builder = Registry::builder();
        if expiry {
            builder = builder.idle_timeout(Duration::from_millis(50));
        }
        let registry = builder.build();
        for i in 0..1000 {
            registry
                .counter_with("background_total", &[("i", &i.to_string())])
                .increment(1);
        }
        let snapshotter = Snapshotter::spawn(
            &registry,
            SnapshotterConfig {
                interval: Duration::from_millis(10),
                ..SnapshotterConfig::default()
            },
        )
        .expect("snapshotter thread");
        let stop = Arc::new(AtomicBool::new(false));
        let churner = Some({
            let (registry, stop) = (registry.clone(), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut round = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    for i in 0..200 {
                        let label = (round * 200 + i) % 1000;
                        registry
                            .counter_with("background_total", &[("i", &label.to_string())])
                            .increment(1);
                    }
                    round += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
        });
        Self {
            registry,
            _snapshotter: snapshotter,
            stop,
            churner,
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.churner.take() {
            let _ = t.join();
        }
    }
}

fn record_at(c: &mut Criterion, threads: usize) {
    let gname = format!("expiry_record_{threads}t");
    let mut group = c.benchmark_group(&gname);
    for (id, expiry) in [("expiry_off", false), ("expiry_on", true)] {
        let bg = Background::new(expiry);
        let h = bg.registry.histogram("block_processing_us");
        bench_workers(
            &mut group,
            &gname,
            id,
            vec![h.clone(); threads],
            |h, values, iters| {
                for_each_value(values, iters, |v| h.record(v));
            },
        );
        black_box(h.snapshot().count());
    }
    bench_workers(
        &mut group,
        &gname,
        "hdrhistogram",
        (0..threads)
            .map(|_| {
                hdrhistogram::Histogram::<u64>::new_with_bounds(1, HDR_HIGHEST, 3)
                    .expect("valid bounds")
            })
            .collect(),
        |h, values, iters| {
            for_each_value(values, iters, |v| h.saturating_record(v));
        },
    );
    group.finish();
}

/// A cache-line-aligned atomic, so that two threads' floor cells never share a line.
#[repr(align(128))]
#[derive(Default)]
struct Padded(AtomicU64);

fn increment_at(c: &mut Criterion, threads: usize) {
    let gname = format!("expiry_increment_{threads}t");
    let mut group = c.benchmark_group(&gname);
    for (id, expiry) in [("expiry_off", false), ("expiry_on", true)] {
        let bg = Background::new(expiry);
        let counter = bg.registry.counter("blocks_total");
        bench_workers(
            &mut group,
            &gname,
            id,
            vec![counter.clone(); threads],
            |c, values, iters| {
                for_each_value(values, iters, |_| c.increment(1));
            },
        );
        black_box(counter.value());
    }
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

fn expiry_record_1t(c: &mut Criterion) {
    record_at(c, 1);
}
fn expiry_record_2t(c: &mut Criterion) {
    record_at(c, 2);
}
fn expiry_increment_1t(c: &mut Criterion) {
    increment_at(c, 1);
}
fn expiry_increment_2t(c: &mut Criterion) {
    increment_at(c, 2);
}

// `criterion_group!` defines a `pub fn`; inside a private module it is not exported.
mod group {
    use super::*;
    criterion_group!(
        benches,
        expiry_record_1t,
        expiry_record_2t,
        expiry_increment_1t,
        expiry_increment_2t
    );
}
criterion_main!(group::benches);
