//! What keeping a history costs the snapshotter per tick, for 1000 histograms that are all
//! recorded into between ticks (group `history_tick_1000`). Ticks run on the snapshotter's
//! own thread, never on a recording one: this is the price of the five-minute windows in
//! CPU time of that thread, not a cost to recording.
//!
//! Data: histogram `i` gets the log-normal values of `aureon_benches::snapshot_values` (about
//! five octaves wide, medians 500 µs to 8 ms); 2000 of them before the measurement, then
//! [`PER_TICK`] more before every tick, outside the timed region. Every contender has its
//! own registry fed exactly the same values.
//!
//! * `registry_snapshot`: `Registry::snapshot()` alone, the merge every tick pays whatever it
//!   keeps.
//! * `snapshotter_tick`: `Snapshotter::tick()` with the default configuration, its history
//!   already past five minutes (every point of the last minute, one per 30 s before): the
//!   merge, the interval (what changed since the previous snapshot), thinning, publication.
//! * `full_snapshot_ring`: the design before the intervals, for comparison: the merge, the
//!   idle counts shared with the previous snapshot, and the snapshot pushed into a ring of
//!   whole snapshots bounded by the default 256 MiB (the oldest dropped, as that history did).
//!
//! Read `snapshotter_tick ÷ registry_snapshot`: the machine is shared and noisy, the ratio of
//! one run is what means something.

use aureon_benches::snapshot_values;
use aureon_telemetry::{
    DEFAULT_MAX_HISTORY_BYTES, Histogram, Registry, Snapshot, Snapshotter, SnapshotterConfig,
};
use criterion::{Criterion, criterion_group, criterion_main};
use std::collections::VecDeque;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Histograms in the registry.
const METRICS: usize = 1000;
/// Values recorded into every histogram between two ticks.
const PER_TICK: usize = 100;
/// Ticks before the measurement: past the default five minutes, so the history is as large
/// as it gets and thins and drops points on every tick.
const WARM_TICKS: usize = 330;

/// A registry of [`METRICS`] histograms fed the same values in the same order each time.
struct Load {
    registry: Registry,
    histograms: Vec<Histogram>,
    values: Vec<Vec<u64>>,
    next: usize,
}

impl Load {
    fn new() -> Self {
        let registry = Registry::new();
        let histograms: Vec<Histogram> = (0..METRICS)
            .map(|i| registry.histogram_with("op_latency_us", &[("op", &format!("op{i}"))]))
            .collect();
        let values: Vec<Vec<u64>> = (0..METRICS).map(|i| snapshot_values(i, 0)).collect();
        for (h, v) in histograms.iter().zip(&values) {
            v.iter().for_each(|&x| h.record(x));
        }
        Self {
            registry,
            histograms,
            values,
            next: 0,
        }
    }

    /// [`PER_TICK`] more values into every histogram.
    fn record_interval(&mut self) {
        for (h, v) in self.histograms.iter().zip(&self.values) {
            for k in 0..PER_TICK {
                h.record(v[(self.next + k) % v.len()]);
            }
        }
        self.next += PER_TICK;
    }
}

/// Times `op` after each untimed interval of recording.
fn timed_ticks(load: &mut Load, iters: u64, mut op: impl FnMut(&Registry)) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        load.record_interval();
        let start = Instant::now();
        op(&load.registry);
        total += start.elapsed();
    }
    total
}

/// The ring of whole snapshots the history was before intervals: idle counts shared with
/// the previous snapshot, at most `max_bytes` of [`Snapshot::heap_bytes`].
struct FullSnapshotRing {
    ring: VecDeque<Arc<Snapshot>>,
    bytes: usize,
    max_bytes: usize,
}

impl FullSnapshotRing {
    fn push(&mut self, registry: &Registry) {
        let mut snapshot = registry.snapshot();
        if let Some(previous) = self.ring.back() {
            snapshot.share_unchanged_with(previous);
        }
        self.bytes += snapshot.heap_bytes();
        self.ring.push_back(Arc::new(snapshot));
        while self.bytes > self.max_bytes && self.ring.len() > 2 {
            let oldest = self.ring.pop_front().expect("more than two");
            self.bytes -= oldest.heap_bytes();
        }
    }
}

fn history_tick(c: &mut Criterion) {
    let mut group = c.benchmark_group("history_tick_1000");
    group.sample_size(10);

    let mut load = Load::new();
    group.bench_function("registry_snapshot", |b| {
        b.iter_custom(|iters| {
            timed_ticks(&mut load, iters, |r| {
                black_box(r.snapshot());
            })
        });
    });

    let mut load = Load::new();
    let config = SnapshotterConfig {
        // Ticks come from the benchmark only.
        interval: Duration::from_secs(3600),
        ..SnapshotterConfig::default()
    };
    let snapshotter = Snapshotter::spawn(&load.registry, config).expect("spawn");
    for _ in 0..WARM_TICKS {
        load.record_interval();
        snapshotter.tick();
    }
    group.bench_function("snapshotter_tick", |b| {
        b.iter_custom(|iters| timed_ticks(&mut load, iters, |_| drop(snapshotter.tick())));
    });
    println!(
        "history_tick_1000: the snapshotter's history holds {} points, {:.1} MiB",
        snapshotter.history().len(),
        snapshotter.history().heap_bytes() as f64 / f64::from(1u32 << 20)
    );
    snapshotter.shutdown();

    let mut load = Load::new();
    let mut ring = FullSnapshotRing {
        ring: VecDeque::new(),
        bytes: 0,
        max_bytes: DEFAULT_MAX_HISTORY_BYTES,
    };
    for _ in 0..WARM_TICKS {
        load.record_interval();
        ring.push(&load.registry);
    }
    group.bench_function("full_snapshot_ring", |b| {
        b.iter_custom(|iters| timed_ticks(&mut load, iters, |r| ring.push(r)));
    });
    println!(
        "history_tick_1000: the ring of whole snapshots holds {} of them, {:.1} MiB",
        ring.ring.len(),
        ring.bytes as f64 / f64::from(1u32 << 20)
    );
    group.finish();
}

// `criterion_group!` defines a `pub fn`; inside a private module it is not exported, so the
// workspace's `missing_docs` has nothing to ask of it.
mod group {
    use super::*;
    criterion_group!(benches, history_tick);
}
criterion_main!(group::benches);
