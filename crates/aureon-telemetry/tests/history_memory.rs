//! What retained snapshots cost: `Snapshot::heap_bytes` against the bytes the allocator
//! really handed out, and a history that stays within `max_history_bytes` by dropping its
//! oldest snapshots. One test in its own binary, so no other test allocates meanwhile.

use aureon_telemetry::{MetricValue, Registry, Snapshotter, SnapshotterConfig};
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

#[test]
// Miri: 140 000 records and eleven snapshots of 400 metrics take minutes there, and the unsafe
// code they reach (shards, pages, snapshot merge) is what the other tests already run.
#[cfg_attr(miri, ignore)]
fn snapshot_sizes_are_real_and_the_history_stays_within_its_budget() {
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

    // A budget of three and a half snapshots keeps three of them, whatever the retention.
    let per_snapshot = snapshot.heap_bytes();
    let budget = per_snapshot * 7 / 2;
    let snapshotter = Snapshotter::spawn(
        &registry,
        SnapshotterConfig {
            interval: Duration::from_secs(3600),
            retention: 100,
            max_history_bytes: budget,
        },
    )
    .unwrap();
    // One more value in every histogram before each tick: no snapshot shares counts with
    // the one before (tests/history_sharing.rs covers the idle case).
    let histograms: Vec<_> = (0..200u64)
        .map(|i| registry.histogram_with("op_latency_us", &[("op", &format!("op{i}"))]))
        .collect();
    for _ in 0..10 {
        for h in &histograms {
            h.record(150);
        }
        snapshotter.tick();
    }
    let history = snapshotter.history();
    assert_eq!(history.len(), 3);
    assert!(history.heap_bytes() <= budget);
    assert_eq!(
        history.heap_bytes(),
        history.iter().map(|s| s.heap_bytes()).sum::<usize>()
    );
    // The oldest retained is the eighth of eleven (the first was taken at spawn).
    assert_eq!(history.oldest().sequence() + 2, history.latest().sequence());
    assert!(history.window(Duration::from_secs(3600)).is_some());
    snapshotter.shutdown();

    // However small the budget, the last interval stays: two snapshots are kept.
    let tiny = Snapshotter::spawn(
        &registry,
        SnapshotterConfig {
            interval: Duration::from_secs(3600),
            retention: 100,
            max_history_bytes: 1,
        },
    )
    .unwrap();
    for _ in 0..5 {
        tiny.tick();
    }
    assert_eq!(tiny.history().len(), 2);
    assert!(tiny.history().last_interval().is_some());
}
