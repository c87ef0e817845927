//! Shards (crates/aureon-telemetry/src/shard.rs): the owner's plain stores against a
//! concurrent merge; lazily allocated pages against a concurrent reader.

use crate::support::{
    Expected, check_in_flight, check_monotone, join_all, model, tiny, writers_first,
};
use aureon_telemetry::Histogram;
use loom::thread;

/// One writer records 1, 4, 4 while the main thread takes two snapshots. Each snapshot may
/// see any prefix of the writes in any mix loom allows, but never a count that was not
/// recorded, never a counted value outside its min/max or beyond its sum (the bin's Release
/// store publishes the min, max and sum written before it), and the second never shows less
/// than the first. After the join every total is exact.
#[test]
fn shard_record_while_snapshot() {
    model("shard_record_while_snapshot", || {
        const VALUES: [u64; 3] = [1, 4, 4];
        let h = Histogram::new(tiny(7)).unwrap();
        let writer = {
            let h = h.clone();
            thread::spawn(move || VALUES.iter().for_each(|&v| h.record(v)))
        };
        writers_first();
        let first = h.snapshot();
        check_in_flight(&first, &VALUES);
        let second = h.snapshot();
        check_in_flight(&second, &VALUES);
        check_monotone(&first, &second);
        join_all([writer]);
        let last = h.snapshot();
        check_monotone(&second, &last);
        assert_eq!(Expected::of_snapshot(&last), Expected::of(&VALUES));
        assert_eq!(last.bins().map(|b| b.count).collect::<Vec<_>>(), vec![1, 2]);
    });
}

/// Under loom a page holds 4 counts, so values 1 (page 0) and 200 (page 2) each make the
/// writer allocate a page while the snapshot walks the page table. A page pointer published
/// without Release would hand the reader a page whose zeroed counts it cannot see, which loom
/// reports as a causality violation; a page the reader misses must not cost a count later.
#[test]
fn page_allocation_races_reader() {
    model("page_allocation_races_reader", || {
        const VALUES: [u64; 2] = [1, 200];
        let h = Histogram::new(tiny(255)).unwrap();
        let writer = {
            let h = h.clone();
            thread::spawn(move || VALUES.iter().for_each(|&v| h.record(v)))
        };
        writers_first();
        let during = h.snapshot();
        check_in_flight(&during, &VALUES);
        join_all([writer]);
        let last = h.snapshot();
        check_monotone(&during, &last);
        assert_eq!(Expected::of_snapshot(&last), Expected::of(&VALUES));
        // One shard, whatever the interleaving: the heap report sees both pages.
        assert!(h.heap_bytes() > 0);
    });
}
