//! aureon-node's `ThroughputTracker` (crates/aureon-node/src/production_monitoring/
//! throughput_tracker/): per-thread rings of time buckets, a slot rolled over to a newer
//! bucket while readers sum windows, and rings handed to a new thread when their owner exits.
//!
//! Driven through the public API with a `ManualClock`. Tiny configuration: 1 s buckets and a
//! 1 s longest window give rings of 3 slots, so bucket 3 reuses bucket 0's slot.

use crate::support::{join_all, model, writers_first};
use aureon_node::production_monitoring::{ManualClock, ThroughputConfig, ThroughputTracker};
use loom::thread;
use std::sync::Arc;
use std::time::Duration;

const SECOND: Duration = Duration::from_secs(1);

fn tracker(clock: &Arc<ManualClock>) -> Arc<ThroughputTracker> {
    let config = ThroughputConfig {
        bucket_width: SECOND,
        max_window: SECOND,
    };
    Arc::new(ThroughputTracker::with_clock(config, clock.clone()).unwrap())
}

/// The owner records 5 operations in bucket 0, moves the clock 3 s on and records 1 in bucket
/// 3, which rolls slot 0 over from bucket 0 to bucket 3, while the main thread reads the last
/// second's window. Whatever the interleaving, a window must pair each count with its own
/// bucket: at t = 0 it sees 0 or 5 operations, at t = 3 s (window = buckets 2 and 3) 0 or 1,
/// never bucket 0's 5 as bucket 3's or the new 1 as bucket 0's. The lifetime total never
/// goes back and ends exact.
#[test]
fn throughput_window_roll_over_never_mixes_buckets() {
    model("throughput_window_roll_over_never_mixes_buckets", || {
        let clock = Arc::new(ManualClock::new());
        let t = tracker(&clock);
        let owner = {
            let (t, clock) = (Arc::clone(&t), Arc::clone(&clock));
            thread::spawn(move || {
                t.record_operations(5);
                clock.advance(3 * SECOND);
                t.record_operation();
            })
        };
        writers_first();
        let before = t.total_operations();
        let w = t.window(SECOND).unwrap();
        if w.observed.is_zero() {
            // Read at t = 0: the window is bucket 0 alone.
            assert!(
                [0, 5].contains(&w.operations),
                "bucket 0 read as {}",
                w.operations
            );
        } else {
            assert_eq!(
                w.observed, SECOND,
                "at t = 3 s the window covers buckets 2 and 3"
            );
            assert!(
                [0, 1].contains(&w.operations),
                "buckets 2..=3 read as {}",
                w.operations
            );
        }
        let after = t.total_operations();
        assert!(
            [0, 5, 6].contains(&before) && after >= before,
            "total {before} then {after}"
        );
        join_all([owner]);
        assert_eq!(t.total_operations(), 6);
        assert_eq!(t.window(SECOND).unwrap().operations, 1);
    });
}

/// Two threads record at once and exit; a third records after them. A thread that starts after
/// another exited adopts its ring (through the tracker's ring mutex) and continues its counts
/// with plain stores: nothing may be lost, and the third thread must not need a new ring.
#[test]
fn throughput_ring_handover_loses_nothing() {
    model("throughput_ring_handover_loses_nothing", || {
        let clock = Arc::new(ManualClock::new());
        let t = tracker(&clock);
        let threads: Vec<_> = [1u64, 2]
            .into_iter()
            .map(|n| {
                let t = Arc::clone(&t);
                thread::spawn(move || t.record_operations(n))
            })
            .collect();
        writers_first();
        let during = t.window(SECOND).unwrap().operations;
        assert!([0, 1, 2, 3].contains(&during), "window read as {during}");
        join_all(threads);
        assert_eq!(t.total_operations(), 3);
        assert_eq!(t.window(SECOND).unwrap().operations, 3);
        let rings = t.ring_count();
        let late = {
            let t = Arc::clone(&t);
            thread::spawn(move || t.record_operations(4))
        };
        join_all([late]);
        assert_eq!(t.total_operations(), 7);
        assert_eq!(t.window(SECOND).unwrap().operations, 7);
        assert_eq!(
            t.ring_count(),
            rings,
            "an exited thread's ring was not adopted"
        );
    });
}
