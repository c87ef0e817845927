//! Shards (crates/aureon-telemetry/src/shard.rs): the owner's plain stores against a
//! concurrent merge; lazily allocated pages against a concurrent reader; a page widened from
//! 32-bit to 64-bit counts against a concurrent reader.

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

/// The writer fills bin {4..7} to exactly `u32::MAX` (the narrow page's limit), then records
/// 4 (the count would overflow, so the owner widens the page: a copy with 64-bit counts is
/// published in the page's slot) and then 2 (into the wide page, same page). Meanwhile the
/// main thread takes two snapshots. A snapshot may read the frozen narrow page or the wide
/// one, but never a torn or invented count; whatever it counts is covered by the sum it
/// reports (the wide page's Release publication carries the sum written before it); the
/// second never shows less than the first; the final snapshot is exact. A wide page published
/// without Release is a causality violation here, a widening that forgot the old counts or
/// kept writing the narrow page fails the final check.
#[test]
fn page_widening_keeps_counts() {
    model("page_widening_keeps_counts", || {
        let full = u64::from(u32::MAX);
        let h = Histogram::new(tiny(7)).unwrap();
        let writer = {
            let h = h.clone();
            thread::spawn(move || {
                h.record_n(4, full);
                h.record(4);
                h.record(2);
            })
        };
        writers_first();
        let first = h.snapshot();
        let second = h.snapshot();
        for s in [&first, &second] {
            let fours = s.bins().find(|b| b.low == 4).map_or(0, |b| b.count);
            let twos = s.bins().find(|b| b.low == 2).map_or(0, |b| b.count);
            assert!(
                fours == 0 || fours == full || fours == full + 1,
                "torn count {fours} in bin 4..=7"
            );
            assert!(twos <= 1, "invented count {twos} in bin 2..=3");
            let counted = 4 * u128::from(fours) + 2 * u128::from(twos);
            assert!(
                s.sum() >= counted,
                "sum {} does not cover the counted values ({counted})",
                s.sum()
            );
            assert!(s.sum() <= 4 * u128::from(full + 1) + 2);
        }
        check_monotone(&first, &second);
        join_all([writer]);
        let last = h.snapshot();
        check_monotone(&second, &last);
        assert_eq!(
            Expected::of_snapshot(&last),
            Expected {
                count: full + 2,
                min: 2,
                max: 4,
                sum: 4 * u128::from(full + 1) + 2,
            }
        );
    });
}
