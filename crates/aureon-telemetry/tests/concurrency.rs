//! Recording from many threads at once, through shared handles and thread-bound recorders:
//! exact totals against independent tallies, and snapshots that never go backwards.

use aureon_telemetry::{Counter, Histogram, HistogramSnapshot, Registry};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

const THREADS: usize = if cfg!(miri) { 2 } else { 6 };
const PER_THREAD: u64 = if cfg!(miri) { 200 } else { 200_000 };

fn thread_values(t: usize) -> impl Iterator<Item = u64> {
    // Each thread its own range and pattern, so a value lost or double-counted shows.
    (0..PER_THREAD).map(move |i| 1 + (i * 7919 + t as u64 * 104_729) % 5_000_000)
}

/// Records thread `t`'s values and counts them: even threads mostly through a thread-bound
/// recorder (`Histogram::local`), odd threads mostly through the shared handle, and every
/// thread one value in eight through the other path, so both paths write each shard.
fn record_thread_values(t: usize, h: &Histogram, c: &Counter) {
    let local = h.local();
    let mostly_local = t.is_multiple_of(2);
    for (i, v) in thread_values(t).enumerate() {
        let switch = i.is_multiple_of(8);
        if mostly_local != switch {
            local.record(v);
        } else {
            h.record(v);
        }
        c.increment(1);
    }
}

fn bins_of(s: &HistogramSnapshot) -> BTreeMap<u64, u64> {
    s.bins().map(|b| (b.low, b.count)).collect()
}

#[test]
fn counts_from_many_threads_are_exact() {
    let registry = Registry::new();
    let h = registry.histogram("latency");
    let c = registry.counter("ops_total");
    let start = Arc::new(Barrier::new(THREADS));
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (h, c, start) = (h.clone(), c.clone(), Arc::clone(&start));
            thread::spawn(move || {
                start.wait();
                record_thread_values(t, &h, &c);
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    // Reference: every value fed to one hdrhistogram, plus exact sums from the values.
    let mut reference =
        hdrhistogram::Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
    let (mut sum, mut min, mut max) = (0u128, u64::MAX, 0u64);
    for t in 0..THREADS {
        for v in thread_values(t) {
            reference.record(v).unwrap();
            sum += u128::from(v);
            min = min.min(v);
            max = max.max(v);
        }
    }
    let snap = registry.snapshot();
    let s = snap.histogram("latency").unwrap();
    assert_eq!(s.count(), THREADS as u64 * PER_THREAD);
    assert_eq!(snap.counter("ops_total"), Some(THREADS as u64 * PER_THREAD));
    assert_eq!((s.sum(), s.min(), s.max()), (sum, min, max));
    assert_eq!(s.to_hdrhistogram(), reference);
}

#[test]
fn snapshots_taken_while_recording_never_go_backwards() {
    let registry = Registry::new();
    let h = registry.histogram("latency");
    let c = registry.counter("ops_total");
    let done = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (h, c) = (h.clone(), c.clone());
            thread::spawn(move || record_thread_values(t, &h, &c))
        })
        .collect();
    let reader = {
        let (registry, done) = (registry.clone(), Arc::clone(&done));
        thread::spawn(move || {
            let mut last_bins = BTreeMap::new();
            let (mut last_count, mut last_ops, mut snapshots) = (0, 0, 0u32);
            loop {
                let finished = done.load(Ordering::Acquire);
                let snap = registry.snapshot();
                let s = snap.histogram("latency").unwrap();
                let ops = snap.counter("ops_total").unwrap();
                assert!(s.count() >= last_count && ops >= last_ops);
                let bins = bins_of(s);
                for (low, count) in &last_bins {
                    assert!(
                        bins.get(low).copied().unwrap_or(0) >= *count,
                        "bin {low} went backwards"
                    );
                }
                if s.count() > 0 {
                    // Everything counted is covered by min/max/sum read after it.
                    let first = s.bins().next().unwrap();
                    let last = s.bins().last().unwrap();
                    assert!(s.min() <= first.high && s.max() >= last.low);
                    assert!(s.sum() >= u128::from(s.count()) * u128::from(s.min()));
                }
                (last_count, last_ops, last_bins) = (s.count(), ops, bins);
                snapshots += 1;
                if finished {
                    return (last_count, last_ops, snapshots);
                }
            }
        })
    };
    for w in workers {
        w.join().unwrap();
    }
    done.store(true, Ordering::Release);
    let (count, ops, snapshots) = reader.join().unwrap();
    assert!(snapshots >= 2);
    // The reader's last snapshot began after every writer finished.
    assert_eq!(count, THREADS as u64 * PER_THREAD);
    assert_eq!(ops, THREADS as u64 * PER_THREAD);
}

#[test]
fn racing_creation_of_one_key_yields_one_metric() {
    let registry = Registry::new();
    let start = Arc::new(Barrier::new(THREADS));
    let workers: Vec<_> = (0..THREADS)
        .map(|_| {
            let (registry, start) = (registry.clone(), Arc::clone(&start));
            thread::spawn(move || {
                start.wait();
                let h = registry.histogram_with("raced", &[("op", "x")]);
                let c = registry.counter_with("raced_total", &[("op", "x")]);
                for _ in 0..100 {
                    h.record(5);
                    c.increment(1);
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    assert_eq!(registry.len(), 2);
    let snap = registry.snapshot();
    assert_eq!(
        snap.histogram_with("raced", &[("op", "x")])
            .unwrap()
            .count(),
        THREADS as u64 * 100
    );
    assert_eq!(
        snap.counter_with("raced_total", &[("op", "x")]),
        Some(THREADS as u64 * 100)
    );
}
