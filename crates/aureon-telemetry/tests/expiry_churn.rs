//! Churn: 100,000 label sets created over time, each recorded a few times and abandoned,
//! under an idle timeout. The registry's series count and its live heap (measured by a
//! counting global allocator, not by the code's own estimate) come back to the baseline, and
//! the totals exported over the run equal the totals recorded. One test in its own binary, so
//! nothing else allocates meanwhile.

use aureon_telemetry::{MetricValue, Registry};
use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

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

const LABEL_SETS: u64 = 100_000;
const PER_ROUND: u64 = 1_000;
const TIMEOUT: Duration = Duration::from_millis(10);

/// One round: `PER_ROUND` new peers, each with a counter and (every tenth) a histogram,
/// recorded a few times; the handles are dropped at the end of the round.
fn churn_round(r: &Registry, round: u64, recorded: &mut (u64, u64)) {
    for i in 0..PER_ROUND {
        let id = round * PER_ROUND + i;
        let peer = format!("p{id}");
        let c = r.counter_with("peer_messages_total", &[("peer", &peer)]);
        let n = 1 + id % 4;
        for _ in 0..n {
            c.increment(1);
        }
        recorded.0 += n;
        if id.is_multiple_of(10) {
            let h = r.histogram_with("peer_rtt_us", &[("peer", &peer)]);
            for k in 0..3 {
                // Several decades: 50 µs .. 50 ms.
                h.record(50 * 10u64.pow(((id + k) % 4) as u32));
            }
            recorded.1 += 3;
        }
    }
}

/// Adds each series' exported value to the tally, keeping the largest seen (a series'
/// value only grows while it lives; each peer's series lives once).
fn tally(snap: &aureon_telemetry::Snapshot, exported: &mut HashMap<(bool, String), u64>) {
    for (key, value) in snap.iter() {
        let Some(peer) = key.labels().get("peer") else {
            continue;
        };
        let (hist, v) = match value {
            MetricValue::Counter(c) => (false, *c),
            MetricValue::Histogram(h) => (true, h.count()),
            MetricValue::Gauge(_) => continue,
        };
        let e = exported.entry((hist, peer.to_owned())).or_default();
        *e = (*e).max(v);
    }
}

#[test]
// 100,000 label sets: hours under Miri; the expiry tests that Miri runs drive the same code.
#[cfg_attr(miri, ignore)]
fn churning_label_sets_leave_no_memory_and_lose_no_record() {
    // A cap well above the series alive at once (a few rounds' worth), so that every label
    // set is a series of its own (the overflow series has its own test).
    let r = Registry::builder()
        .idle_timeout(TIMEOUT)
        .max_label_sets(100_000)
        .build();
    let mut recorded = (0u64, 0u64);
    let mut exported: HashMap<(bool, String), u64> = HashMap::new();
    // A warm-up round and its expiry, so that one-time allocations (thread slot, map shards,
    // families) are in the baseline.
    churn_round(&r, 0, &mut recorded);
    tally(&r.snapshot(), &mut exported);
    std::thread::sleep(TIMEOUT * 2);
    r.snapshot();
    r.snapshot();
    assert_eq!(r.len(), 0, "the warm-up round expired");
    // The tally is the test's own memory: counted from an empty map, freed before the end.
    let warm_up = std::mem::take(&mut exported);
    drop(warm_up);
    let baseline = live();

    let started = Instant::now();
    let mut peak_len = 0;
    let mut peak_heap = 0isize;
    for round in 1..LABEL_SETS / PER_ROUND {
        churn_round(&r, round, &mut recorded);
        let snap = r.snapshot();
        tally(&snap, &mut exported);
        drop(snap);
        peak_len = peak_len.max(r.len());
        peak_heap = peak_heap.max(live() - baseline);
        std::thread::sleep(Duration::from_millis(3));
    }
    // Let the last rounds go idle and expire.
    std::thread::sleep(TIMEOUT * 2);
    tally(&r.snapshot(), &mut exported);
    r.snapshot();
    let run = started.elapsed();

    let warm_up_recorded = (PER_ROUND + PER_ROUND * 3 / 2, PER_ROUND / 10 * 3);
    recorded = (
        recorded.0 - warm_up_recorded.0,
        recorded.1 - warm_up_recorded.1,
    );
    let exported_counts: u64 = exported.iter().filter(|(k, _)| !k.0).map(|(_, v)| v).sum();
    let exported_records: u64 = exported.iter().filter(|(k, _)| k.0).map(|(_, v)| v).sum();
    assert_eq!(
        exported_counts, recorded.0,
        "counter increments exported = recorded"
    );
    assert_eq!(
        exported_records, recorded.1,
        "histogram records exported = recorded"
    );
    assert_eq!(
        exported.len() as u64,
        (LABEL_SETS - PER_ROUND) * 11 / 10,
        "every label set after the warm-up round was exported"
    );

    assert_eq!(r.len(), 0, "every abandoned series was freed");
    assert_eq!(r.snapshot().registration_errors(), 0);
    drop(exported);
    let left = live() - baseline;
    eprintln!(
        "churn: {LABEL_SETS} label sets in {run:?}; peak {peak_len} series, peak heap +{} KiB; \
         after expiry {left:+} bytes against the baseline",
        peak_heap / 1024
    );
    // What the registry keeps must be within a few KiB of where it started (map and table
    // capacities are shrunk back as series are freed).
    assert!(left.abs() < 16 * 1024, "{left} bytes left after churn");
    assert!(peak_len < 20 * PER_ROUND as usize, "peak {peak_len} series");
}
