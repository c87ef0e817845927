//! What a history costs, measured with a counting allocator (not the code's own estimate):
//! five minutes of one-second points for 1000 histograms recorded continuously, with every
//! window checked against references built from the raw values; `Snapshot::heap_bytes`
//! against the allocator; and a history that stays within `max_history_bytes` by dropping
//! its oldest points. Its tests run one at a time (`alone`), so no other test allocates meanwhile.

use aureon_telemetry::{Histogram, MetricValue, Registry, Snapshotter, SnapshotterConfig};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

/// Counts the bytes live on the heap.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded to `System` with the same arguments; the counter update
// has no effect on the memory handed out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `ptr` was allocated by `System` with `layout` (every allocation is).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: as in `dealloc`; `new_size` is the caller's, under `realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// Held by each test for its whole run: the tests of this binary measure one heap, so they
/// run one at a time whatever `--test-threads` says.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn alone() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// 200 histograms whose values span 1 to 5 octaves from 100 µs, and 200 counters.
fn populated_registry() -> Registry {
    let registry = Registry::new();
    for i in 0..200u64 {
        let h = registry.histogram_with("op_latency_us", &[("op", &format!("op{i}"))]);
        let top = 100u64 << (1 + i % 5);
        for v in (100..top).step_by(3) {
            h.record(v);
        }
        registry
            .counter_with("ops_total", &[("op", &format!("op{i}"))])
            .increment(i);
    }
    registry
}

const HISTOGRAMS: usize = 1000;
/// Values recorded into each histogram between two snapshots (a second, by default): 100k
/// records a second over the registry, unless `AUREON_HISTORY_PER_TICK` says otherwise.
const PER_TICK: usize = 100;
/// Ticks: past the default five minutes, so the oldest points have been thinned and
/// dropped as they are in a long run.
const TICKS: usize = 360;
/// The histograms whose raw values are kept for the reference windows.
const TRACKED: [usize; 4] = [0, 1, 2, 999];

fn per_tick() -> usize {
    std::env::var("AUREON_HISTORY_PER_TICK")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(PER_TICK)
}

/// A deterministic latency spread log-uniformly over `octaves` octaves from 100 µs (values
/// `100 ..< 100 << octaves`): many bins per octave are hit, as real latencies hit them.
fn latency(seed: u64, octaves: u32) -> u64 {
    let x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (seed >> 29);
    let x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    let u = (x >> 11) as f64 / (1u64 << 53) as f64;
    (100.0 * (u * f64::from(octaves)).exp2()) as u64
}

/// hdrhistogram fed `values`, with `config`'s bounds.
fn reference(
    h: &aureon_telemetry::HistogramSnapshot,
    values: &[u64],
) -> hdrhistogram::Histogram<u64> {
    let c = h.config();
    let mut r = hdrhistogram::Histogram::<u64>::new_with_bounds(
        c.lowest_discernible,
        c.highest_trackable,
        c.significant_figures,
    )
    .unwrap();
    for &v in values {
        r.record(v).unwrap();
    }
    r
}

/// `got` holds exactly `values`: count, sum, every bin, and quantiles as hdrhistogram's.
fn assert_holds(got: &aureon_telemetry::HistogramSnapshot, values: &[u64], what: &str) {
    let want = reference(got, values);
    assert_eq!(got.count(), want.len(), "{what}: count");
    assert_eq!(
        got.sum(),
        values.iter().map(|&v| u128::from(v)).sum::<u128>(),
        "{what}: sum"
    );
    let dense = got.to_hdrhistogram();
    let bins = |h: &hdrhistogram::Histogram<u64>| -> Vec<(u64, u64)> {
        h.iter_recorded()
            .map(|v| (v.value_iterated_to(), v.count_at_value()))
            .collect()
    };
    assert_eq!(bins(&dense), bins(&want), "{what}: bins");
    for q in [0.5, 0.9, 0.99, 0.999, 1.0] {
        assert_eq!(
            got.value_at_quantile(q),
            want.value_at_quantile(q).clamp(got.min(), got.max()),
            "{what}: q{q}"
        );
    }
    if let (Some(&lo), Some(&hi)) = (values.iter().min(), values.iter().max()) {
        assert!(got.min() <= lo && hi <= got.max(), "{what}: bounds");
    }
}

#[test]
// Miri: 36 million records and 360 snapshots of 1000 histograms are days interpreted; the
// history's code is safe Rust, which the unit tests and tests/properties.rs also run.
#[cfg_attr(miri, ignore)]
fn five_minutes_of_a_thousand_busy_histograms_fit_in_128_mib() {
    let _alone = alone();
    let per_tick = per_tick();
    let registry = Registry::new();
    let handles: Vec<Histogram> = (0..HISTOGRAMS)
        .map(|i| registry.histogram_with("op_latency_us", &[("op", &format!("op{i}"))]))
        .collect();
    let octaves = |i: usize| 2 + (i % 4) as u32; // 2 to 5 octaves wide
    // Warm up: every histogram's pages exist before the measurement starts.
    for (i, h) in handles.iter().enumerate() {
        for n in 0..2_000 {
            h.record(latency((i * 1_000_000 + n) as u64, octaves(i)));
        }
    }
    let config = SnapshotterConfig {
        // Ticks are driven by hand, as fast as the test runs; everything else is the
        // default: 300 intervals back, every point of the last 60, one per 30 before, at
        // most 256 MiB.
        interval: Duration::from_secs(3600),
        ..SnapshotterConfig::default()
    };
    let before = live();
    let snapshotter = Snapshotter::spawn(&registry, config).unwrap();
    let first = snapshotter.latest().sequence();
    // raw[s][k]: the values the tracked histogram s got in the interval closed by tick k+1.
    let mut raw: Vec<Vec<Vec<u64>>> = vec![Vec::new(); TRACKED.len()];
    let mut seed = 1u64 << 40;
    let mut peak = 0usize;
    for _ in 0..TICKS {
        for (i, h) in handles.iter().enumerate() {
            let slot = TRACKED.iter().position(|&t| t == i);
            let mut values = Vec::new();
            for _ in 0..per_tick {
                seed += 1;
                let v = latency(seed, octaves(i));
                h.record(v);
                if slot.is_some() {
                    values.push(v);
                }
            }
            if let Some(s) = slot {
                raw[s].push(values);
            }
        }
        snapshotter.tick();
        // The largest the history gets between its batches of thinning (its own figure,
        // which the allocator confirms below for the last tick).
        peak = peak.max(snapshotter.history().heap_bytes());
    }
    let history = snapshotter.history();
    snapshotter.shutdown();
    // What the history holds is what dropping it frees (the registry and the raw values
    // stay).
    let with_history = live();
    let history_bytes = history.heap_bytes();
    let latest_bytes = history.latest().heap_bytes();

    // The history reaches back the full five minutes (300 intervals of a second), every
    // point of the last minute kept and one per 30 s before it.
    let seqs: Vec<u64> = history.iter().map(|p| p.sequence() - first).collect();
    let last = *seqs.last().unwrap();
    assert_eq!(last, TICKS as u64);
    assert!(
        last - seqs[0] >= 299,
        "reaches back {} intervals: {seqs:?}",
        last - seqs[0]
    );
    assert!(
        last - seqs[1] < 299,
        "keeps no more than it needs: {seqs:?}"
    );
    for w in seqs.windows(2) {
        let fine = last - w[1] < 60;
        assert!(
            if fine {
                w[1] - w[0] == 1
            } else {
                w[1] - w[0] <= 30
            },
            "interval {w:?} of {seqs:?}"
        );
    }
    // (Up to five points of the oldest runs wait to be merged in a batch.)
    assert!(seqs.len() <= 61 + 10 + 5, "{} points: {seqs:?}", seqs.len());

    // Every interval (one second or thirty), and windows of every length, hold exactly the
    // values recorded in them.
    let intervals: Vec<_> = history.intervals().collect();
    let values = |s: usize, from: u64, to: u64| raw[s][from as usize..to as usize].concat();
    for (s, &i) in TRACKED.iter().enumerate() {
        let labels = [("op", format!("op{i}"))];
        let labels: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
        for (t, window) in intervals.iter().enumerate() {
            let got = window.histogram_delta("op_latency_us", &labels).unwrap();
            let what = format!("op{i}, interval {t} ({}..{})", seqs[t], seqs[t + 1]);
            assert_holds(&got, &values(s, seqs[t], seqs[t + 1]), &what);
        }
        let n = history.len();
        for (from, to) in [(0, n - 1), (n - 61, n - 1), (2, n - 30), (n - 3, n - 1)] {
            let window = history.window_between(from, to).unwrap();
            let got = window.histogram_delta("op_latency_us", &labels).unwrap();
            let what = format!("op{i}, window {}..{}", seqs[from], seqs[to]);
            assert_holds(&got, &values(s, seqs[from], seqs[to]), &what);
        }
    }
    // The latest snapshot is whole: the warm-up values and all the rest.
    let total = history
        .latest()
        .histogram_with("op_latency_us", &[("op", "op7")])
        .unwrap();
    assert_eq!(total.count(), (2_000 + per_tick * TICKS) as u64);

    drop((intervals, history));
    let held = with_history - live();
    let mib = |b: f64| b / f64::from(1u32 << 20);
    eprintln!(
        "{} points over {} intervals for {HISTOGRAMS} histograms at {per_tick} values each \
         per interval: {:.1} MiB live (History::heap_bytes {:.1} MiB, at most {:.1} MiB \
         over the run; the latest snapshot alone {:.1} MiB)",
        seqs.len(),
        last - seqs[0],
        mib(held as f64),
        mib(history_bytes as f64),
        mib(peak as f64),
        mib(latest_bytes as f64),
    );
    assert!(
        peak <= 128 << 20,
        "the history reached {:.1} MiB",
        mib(peak as f64)
    );
    assert!(
        held <= 128 << 20,
        "the history holds {:.1} MiB, over 128 MiB",
        mib(held as f64)
    );
    assert!(
        (0.9..=1.1).contains(&(held as f64 / history_bytes as f64)),
        "the allocator says {held} bytes, History::heap_bytes {history_bytes}"
    );
    // (`before` was taken before the snapshotter started: only the raw values are left.)
    let raw_bytes: usize = raw.iter().flatten().map(|v| v.capacity() * 8).sum();
    assert!(
        live() - before < (raw_bytes + (1 << 20)) as isize,
        "only the raw values remain"
    );
}

#[test]
// Miri: as above, far too many records interpreted.
#[cfg_attr(miri, ignore)]
fn snapshot_sizes_are_real_and_the_history_stays_within_its_budget() {
    let _alone = alone();
    let registry = populated_registry();

    // The estimate against the allocator: what a kept snapshot holds.
    let before = live();
    let snapshot = registry.snapshot();
    let real = (live() - before) as f64;
    let estimate = snapshot.heap_bytes() as f64;
    assert!(
        (0.9..=1.1).contains(&(real / estimate)),
        "snapshot holds {real} bytes, estimated {estimate}"
    );
    // Most of it is the histograms' pages (1 KiB per occupied page of 256 bins).
    let pages: usize = snapshot
        .iter()
        .filter_map(|(_, value)| match value {
            MetricValue::Histogram(h) => Some(h.heap_bytes()),
            _ => None,
        })
        .sum();
    assert!(pages as f64 > 0.8 * estimate);

    // A budget of the latest snapshot plus a little: the oldest points go, the newest stay.
    let histograms: Vec<_> = (0..200u64)
        .map(|i| registry.histogram_with("op_latency_us", &[("op", &format!("op{i}"))]))
        .collect();
    let budget = snapshot.heap_bytes() + (256 << 10);
    let snapshotter = Snapshotter::spawn(
        &registry,
        SnapshotterConfig {
            interval: Duration::from_secs(3600),
            retention: 100,
            max_history_bytes: budget,
            ..SnapshotterConfig::default()
        },
    )
    .unwrap();
    // 200 values over 100 bins every histogram already occupies, before each tick.
    for t in 0..30u64 {
        for h in &histograms {
            for v in 0..200 {
                h.record(100 + (t * 200 + v) % 100);
            }
        }
        snapshotter.tick();
    }
    let history = snapshotter.history();
    assert!(
        history.len() > 2 && history.len() < 31,
        "{} points",
        history.len()
    );
    assert!(history.heap_bytes() <= budget);
    assert_eq!(
        history.oldest().sequence() + history.len() as u64 - 1,
        history.latest().sequence()
    );
    assert!(history.window(Duration::from_secs(3600)).is_some());
    snapshotter.shutdown();

    // However small the budget, the last interval stays: two points are kept.
    let tiny = Snapshotter::spawn(
        &registry,
        SnapshotterConfig {
            interval: Duration::from_secs(3600),
            retention: 100,
            max_history_bytes: 1,
            ..SnapshotterConfig::default()
        },
    )
    .unwrap();
    for _ in 0..5 {
        tiny.tick();
    }
    assert_eq!(tiny.history().len(), 2);
    assert!(tiny.history().last_interval().is_some());
}
