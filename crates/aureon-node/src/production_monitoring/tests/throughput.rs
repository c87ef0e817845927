//! `ThroughputTracker`: windows and roll-over on a manual clock (deterministic, no sleeping),
//! exact totals and window counts under concurrent recording, ring reuse, bad input.

use super::super::{
    Clock, ManualClock, ThroughputConfig, ThroughputConfigError, ThroughputTracker, WindowError,
    WindowRate,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

fn manual(bucket_ms: u64, max_window_s: u64) -> (Arc<ManualClock>, ThroughputTracker) {
    let clock = Arc::new(ManualClock::new());
    let config = ThroughputConfig {
        bucket_width: Duration::from_millis(bucket_ms),
        max_window: Duration::from_secs(max_window_s),
    };
    let tracker = ThroughputTracker::with_clock(config, clock.clone()).unwrap();
    (clock, tracker)
}

const fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn lifetime_rate_is_total_over_elapsed_and_zero_before_time_passes() {
    let (clock, t) = manual(100, 60);
    t.record_operations(50);
    assert_eq!(t.ops_per_sec(), 0.0, "no time has passed: no rate");
    clock.advance(Duration::from_millis(2_500));
    assert_eq!(t.total_operations(), 50);
    assert_eq!(t.ops_per_sec(), 20.0);
    assert_eq!(t.elapsed(), Duration::from_millis(2_500));
}

#[test]
fn a_young_tracker_divides_by_the_time_it_has_observed() {
    // The seed's example, on a manual clock: 1000 at once, then 500 over 0.5 s.
    let (clock, t) = manual(100, 60);
    t.record_operations(1000);
    for _ in 0..500 {
        t.record_operation();
        clock.advance(Duration::from_millis(1));
    }
    let w = t.window(secs(10)).unwrap();
    assert_eq!(
        w,
        WindowRate {
            operations: 1500,
            observed: Duration::from_millis(500)
        }
    );
    assert_eq!(t.window_ops_per_sec(10), 3000.0);
}

#[test]
fn windows_roll_over_bucket_by_bucket() {
    // One operation at the start of every second for 100 s, 1 s buckets, 10 s window.
    let (clock, t) = manual(1000, 10);
    for second in 0..100u64 {
        clock.set(secs(second));
        t.record_operation();
        // Just before the next second: the window [second - 10, second + 0.999] holds the
        // operations at (second - 10) ..= second, 11 of them once 10 s have passed.
        clock.set(secs(second) + Duration::from_millis(999));
        let w = t.window(secs(10)).unwrap();
        let expected_ops = second.min(10) + 1;
        assert_eq!(w.operations, expected_ops, "second {second}");
        let start = second.saturating_sub(10);
        assert_eq!(
            w.observed,
            secs(second - start) + Duration::from_millis(999)
        );
    }
    // Exactly on a boundary, now - span falls on a bucket start: exactly `span` observed.
    clock.set(secs(100));
    let w = t.window(secs(10)).unwrap();
    assert_eq!(
        w,
        WindowRate {
            operations: 10,
            observed: secs(10)
        }
    );
    assert_eq!(t.total_operations(), 100);
}

#[test]
fn a_window_after_a_long_pause_forgets_everything_older() {
    let (clock, t) = manual(100, 60);
    t.record_operations(1000);
    clock.advance(secs(3600)); // the ring has been lapped many times over
    t.record_operations(7);
    clock.advance(Duration::from_millis(500));
    assert_eq!(t.window(secs(60)).unwrap().operations, 7);
    assert_eq!(t.total_operations(), 1007);
}

#[test]
fn a_ring_slot_reused_after_a_lap_counts_only_its_new_bucket() {
    // 100 ms buckets, 1 s window: ring of 10 + 2 + 2 = 14 slots. Record into bucket 0, then
    // exactly one lap later (bucket 14), which lands in the same slot.
    let (clock, t) = manual(100, 1);
    t.record_operations(5);
    clock.set(Duration::from_millis(1_400));
    t.record_operations(3);
    assert_eq!(t.window(secs(1)).unwrap().operations, 3);
    clock.set(Duration::from_millis(1_450));
    assert_eq!(t.window(secs(1)).unwrap().operations, 3);
    assert_eq!(t.total_operations(), 8);
}

#[test]
fn bad_windows_and_configurations_are_refused_with_reasons() {
    let (_, t) = manual(100, 60);
    assert_eq!(t.window(Duration::ZERO), Err(WindowError::EmptyWindow));
    assert_eq!(
        t.window(secs(61)),
        Err(WindowError::TooLong {
            requested: secs(61),
            max: secs(60)
        })
    );
    // The infallible form clamps instead: 0 s -> 1 s, 3600 s -> 60 s, and gives 0.0 without
    // observed time.
    assert_eq!(t.window_ops_per_sec(0), 0.0);
    assert_eq!(t.window_ops_per_sec(3600), 0.0);

    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new());
    let cfg = |bucket: Duration, max: Duration| ThroughputConfig {
        bucket_width: bucket,
        max_window: max,
    };
    assert_eq!(
        ThroughputTracker::with_clock(cfg(Duration::ZERO, secs(1)), clock.clone()).unwrap_err(),
        ThroughputConfigError::BucketTooNarrow(Duration::ZERO)
    );
    assert!(matches!(
        ThroughputTracker::with_clock(cfg(secs(2), secs(1)), clock.clone()),
        Err(ThroughputConfigError::WindowShorterThanBucket { .. })
    ));
    assert_eq!(
        ThroughputTracker::with_clock(cfg(Duration::from_millis(1), secs(3600)), clock)
            .unwrap_err(),
        ThroughputConfigError::TooManyBuckets(3_600_000)
    );
}

#[test]
fn the_manual_clock_never_goes_back() {
    let clock = ManualClock::new();
    assert!(clock.set(secs(5)));
    assert!(!clock.set(secs(4)));
    assert_eq!(clock.now(), secs(5));
}

#[test]
fn concurrent_recording_while_the_window_rolls_loses_and_invents_nothing() {
    // 8 threads record while a ninth moves the clock through up to 90 bucket roll-overs (and
    // the ring, 104 slots long, partly round), and a tenth reads windows all along. Nothing
    // may be lost from the lifetime total, a reader never sees more than was recorded, and
    // since the clock moves less than the window, the final window holds every operation.
    let (clock, t) = manual(10, 1);
    let t = Arc::new(t);
    let threads = 8;
    let per_thread = 20_000u64;
    let start = Arc::new(Barrier::new(threads + 1));
    let done = Arc::new(AtomicBool::new(false));
    let mover = {
        let (clock, done) = (clock.clone(), done.clone());
        std::thread::spawn(move || {
            let mut steps = 0u64;
            while !done.load(Ordering::Relaxed) && steps < 300 {
                clock.advance(Duration::from_millis(3));
                steps += 1;
                std::thread::yield_now();
            }
            steps
        })
    };
    let reader = {
        let (t, done) = (t.clone(), done.clone());
        std::thread::spawn(move || {
            let mut max_seen = 0;
            while !done.load(Ordering::Relaxed) {
                let w = t.window(secs(1)).unwrap();
                assert!(w.operations <= threads as u64 * per_thread);
                max_seen = max_seen.max(w.operations);
            }
            max_seen
        })
    };
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (t, start) = (t.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                for _ in 0..per_thread {
                    t.record_operation();
                }
            })
        })
        .collect();
    start.wait();
    for w in workers {
        w.join().unwrap();
    }
    done.store(true, Ordering::Relaxed);
    let steps = mover.join().unwrap();
    reader.join().unwrap();
    assert_eq!(t.total_operations(), threads as u64 * per_thread);
    assert!(steps <= 300);
    assert_eq!(
        t.window(secs(1)).unwrap().operations,
        threads as u64 * per_thread
    );
}

#[test]
fn every_operation_lands_in_the_bucket_its_thread_saw() {
    // Threads record in lock-step with the clock: phase p at time p × 100 ms, thread k
    // records k + 1 operations per phase. Afterwards each 100 ms window (one bucket) must
    // hold exactly the sum over threads, for every phase still in the ring.
    let (clock, t) = manual(100, 2);
    let t = Arc::new(t);
    let threads = 4u64;
    let phases = 15u64;
    let barrier = Arc::new(Barrier::new(threads as usize + 1));
    let workers: Vec<_> = (0..threads)
        .map(|k| {
            let (t, barrier) = (t.clone(), barrier.clone());
            std::thread::spawn(move || {
                for _ in 0..phases {
                    barrier.wait(); // clock set for this phase
                    t.record_operations(k + 1);
                    barrier.wait(); // phase recorded
                }
            })
        })
        .collect();
    let per_phase: u64 = (1..=threads).sum();
    for p in 0..phases {
        clock.set(Duration::from_millis(p * 100));
        barrier.wait();
        barrier.wait();
        // The current bucket alone (span shorter than a bucket, now on its start).
        clock.set(Duration::from_millis(p * 100 + 50));
        let w = t.window(Duration::from_millis(50)).unwrap();
        assert_eq!(w.operations, per_phase, "phase {p}");
        // The last 2 s: everything so far, up to 21 buckets.
        let all = t.window(secs(2)).unwrap();
        assert_eq!(all.operations, per_phase * (p + 1).min(21), "phase {p}");
    }
    for w in workers {
        w.join().unwrap();
    }
    assert_eq!(t.total_operations(), per_phase * phases);
}

#[test]
fn rings_of_exited_threads_are_reused_and_keep_their_counts() {
    let (_, t) = manual(100, 60);
    let t = Arc::new(t);
    for _ in 0..20 {
        let t2 = Arc::clone(&t);
        std::thread::spawn(move || t2.record_operations(5))
            .join()
            .unwrap();
    }
    // One ring for the orphan path, one reused by all 20 sequential threads.
    assert_eq!(t.ring_count(), 2);
    assert_eq!(t.total_operations(), 100);
    assert_eq!(t.window(secs(60)).unwrap().operations, 100);
}
