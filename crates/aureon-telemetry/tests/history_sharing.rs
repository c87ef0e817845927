//! Idle histograms cost a history nothing per retained point: each point but the latest is
//! kept as the change since the one before, which lists only the series that changed.
//! Measured with a counting allocator (not the code's own estimate), with the windows checked
//! against a reference built from the raw values. One test in its own binary, so no other
//! test allocates meanwhile.

use aureon_telemetry::{Registry, Snapshotter, SnapshotterConfig};
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

const HISTOGRAMS: u64 = 1000;
/// How many of them are recorded into between snapshots.
const ACTIVE: u64 = 10;
const TICKS: usize = 60;

/// A deterministic latency in `100 ..< 100 << octaves` µs.
fn value(i: u64, octaves: u32) -> u64 {
    let x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11;
    100 + x % ((100u64 << octaves) - 100)
}

#[test]
// Miri: a thousand histograms and sixty snapshots take far too long interpreted; the sharing
// code is safe Rust, reached by the other tests too.
#[cfg_attr(miri, ignore)]
fn idle_histograms_add_almost_nothing_per_retained_snapshot() {
    let registry = Registry::new();
    let handles: Vec<_> = (0..HISTOGRAMS)
        .map(|i| {
            let h = registry.histogram_with("op_latency_us", &[("op", &format!("op{i}"))]);
            // Each a few octaves wide (2 to 5), as a node's operations are.
            for n in 0..2_000 {
                h.record(value(i * 7_919 + n, 2 + (i % 4) as u32));
            }
            h
        })
        .collect();

    // What one full snapshot really holds.
    let before = live();
    let one = registry.snapshot();
    let full_snapshot = (live() - before) as f64;
    drop(one);

    let base = live();
    let snapshotter = Snapshotter::spawn(
        &registry,
        SnapshotterConfig {
            interval: Duration::from_secs(3600),
            ..SnapshotterConfig::default()
        },
    )
    .unwrap();
    // The values recorded into the active histograms after each tick, for the reference.
    let mut recorded: Vec<Vec<Vec<u64>>> = vec![Vec::new(); ACTIVE as usize];
    for t in 0..TICKS {
        for (a, per_tick) in recorded.iter_mut().enumerate() {
            let values: Vec<u64> = (0..50)
                .map(|n| value((t * 50 + n) as u64 + 1_000_000 * a as u64, 4))
                .collect();
            for &v in &values {
                handles[a].record(v);
            }
            per_tick.push(values);
        }
        snapshotter.tick();
    }
    let history = snapshotter.history();
    assert_eq!(
        history.len(),
        TICKS + 1,
        "nothing dropped by the byte budget"
    );
    let real = (live() - base) as f64;
    eprintln!(
        "{} snapshots retained: {real} bytes live (one full snapshot {full_snapshot}, \
         History::heap_bytes {})",
        history.len(),
        history.heap_bytes()
    );

    // As full snapshots the history would hold 61 of them. As changes: the latest snapshot,
    // then per point the active histograms' changes (50 values in 4 octaves: a few hundred
    // bytes each) and nothing for the 990 idle ones.
    let per_active_change = 1024.0; // generously
    let bound = full_snapshot + TICKS as f64 * (ACTIVE as f64 * per_active_change + 512.0);
    assert!(
        real <= bound,
        "the history holds {real} bytes; bound {bound} (one full snapshot is {full_snapshot})"
    );
    // The history's own figure agrees with the allocator.
    let estimate = history.heap_bytes() as f64;
    assert!(
        (0.8..=1.2).contains(&(real / estimate)),
        "the allocator says {real}, History::heap_bytes {estimate}"
    );

    // Windows stay exact: every interval of an active histogram holds exactly the values
    // recorded in it (against a reference hdrhistogram), an idle one's is empty.
    for (t, window) in history.intervals().enumerate() {
        for (a, per_tick) in recorded.iter().enumerate() {
            let labels = [("op", format!("op{a}"))];
            let labels: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let delta = window.histogram_delta("op_latency_us", &labels).unwrap();
            let mut reference = hdrhistogram::Histogram::<u64>::new_with_bounds(
                delta.config().lowest_discernible,
                delta.config().highest_trackable,
                delta.config().significant_figures,
            )
            .unwrap();
            for &v in &per_tick[t] {
                reference.record(v).unwrap();
            }
            assert_eq!(delta.count(), reference.len(), "interval {t}, op{a}");
            assert_eq!(
                delta.sum(),
                per_tick[t].iter().map(|&v| v as u128).sum::<u128>()
            );
            let got = delta.to_hdrhistogram();
            for q in [0.5, 0.9, 0.99, 1.0] {
                assert_eq!(
                    got.value_at_quantile(q),
                    reference.value_at_quantile(q),
                    "interval {t}, op{a}, q{q}"
                );
            }
        }
        let idle = window
            .histogram_delta("op_latency_us", &[("op", "op500")])
            .unwrap();
        assert_eq!(idle.count(), 0, "interval {t}");
    }
    // The latest snapshot holds the idle histogram's full counts, and a window over the
    // whole history holds the active ones' every value.
    let latest = history.latest();
    let idle = latest.histogram_with("op_latency_us", &[("op", "op500")]);
    assert_eq!(idle.unwrap().count(), 2_000);
    let whole = history.window(Duration::from_secs(3600)).unwrap();
    for (a, per_tick) in recorded.iter().enumerate() {
        let labels = [("op", format!("op{a}"))];
        let labels: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let delta = whole.histogram_delta("op_latency_us", &labels).unwrap();
        assert_eq!(delta.count(), (TICKS * 50) as u64, "op{a}");
        assert_eq!(
            delta.sum(),
            per_tick.iter().flatten().map(|&v| v as u128).sum::<u128>(),
            "op{a}"
        );
    }
    snapshotter.shutdown();
}
