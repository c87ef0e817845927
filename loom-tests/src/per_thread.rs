//! `PerThread` (crates/aureon-telemetry/src/per_thread.rs): inline entries for the first
//! slots, buckets for the others installed by compare-and-swap, entries published by their
//! slot's owner with a Release store and walked by readers with Acquire.

use crate::support::{
    Expected, check_in_flight, check_monotone, hold_next_slot, join_all, model, tiny, writers_first,
};
use aureon_telemetry::{Counter, Histogram};
use loom::thread;

/// Two first threads record 1 (slot 1, the inline entry; slot 2, alone in bucket 0) and keep
/// their slots; two more threads then record 2 and 4 (slots 3 and 4, which share bucket 1)
/// and race to install that bucket while the main thread merges. A lost install (a plain store instead of the CAS) drops one
/// thread's shard and its count; an entry published without Release lets the merge reach a
/// shard whose initialisation it cannot see (loom reports a causality violation on the
/// shard's first atomic). Every snapshot is a consistent subset; the final one is exact.
#[test]
fn per_thread_first_touch_races_install_and_walk() {
    model("per_thread_first_touch_races_install_and_walk", || {
        const ALL: [u64; 4] = [1, 1, 2, 4];
        let h = Histogram::new(tiny(7)).unwrap();
        let holders = [(); 2].map(|()| {
            let h = h.clone();
            hold_next_slot(move || h.record(1))
        });
        let writers: Vec<_> = [2u64, 4]
            .into_iter()
            .map(|v| {
                let h = h.clone();
                thread::spawn(move || h.record(v))
            })
            .collect();
        writers_first();
        let first = h.snapshot();
        check_in_flight(&first, &ALL);
        assert!(first.count() >= 2, "lost a holder's record: {first:?}");
        let mut threads = writers;
        threads.extend(holders.map(|h| h.release()));
        join_all(threads);
        let last = h.snapshot();
        check_monotone(&first, &last);
        assert_eq!(Expected::of_snapshot(&last), Expected::of(&ALL));
    });
}

/// The same race on counter cells, with a reader summing while the cells appear: the total is
/// never invented, never goes backwards, and is exact once every thread is done.
#[test]
fn per_thread_counter_cells_race_install() {
    model("per_thread_counter_cells_race_install", || {
        let c = Counter::new();
        let holders = [(); 2].map(|()| {
            let c = c.clone();
            hold_next_slot(move || c.increment(1))
        });
        let writers: Vec<_> = [2u64, 4]
            .into_iter()
            .map(|n| {
                let c = c.clone();
                thread::spawn(move || c.increment(n))
            })
            .collect();
        writers_first();
        let a = c.value();
        let b = c.value();
        assert!([2, 4, 6, 8].contains(&a), "invented or lost total {a}");
        assert!(b >= a, "total went backwards: {a} then {b}");
        let mut threads = writers;
        threads.extend(holders.map(|h| h.release()));
        join_all(threads);
        assert_eq!(c.value(), 8);
    });
}
