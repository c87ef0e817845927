//! Thread slots (crates/aureon-telemetry/src/thread_slot.rs): a slot, and every shard and
//! cell it owns, handed from an exiting thread to a new one.

use crate::support::{Expected, join_all, model, tiny};
use aureon_telemetry::{Counter, Histogram};
use loom::thread;

/// Three threads run at once; each increments a counter and records a value, then exits. The
/// allocator hands out the lowest free slot, so depending on the interleaving a thread may
/// take over the slot (shard, counter cell) of one that already exited, and continue its
/// single-writer cells with plain load + store. That is exact only if the exiting thread's
/// last stores happen-before the new owner's first loads (the allocator's mutex provides it),
/// and only if no slot is ever held by two live threads. A fourth thread, run alone after
/// the others, must reuse a slot: no new shard may appear (memory is bounded by the threads
/// alive at once, not the threads ever spawned).
#[test]
fn thread_slot_handover_keeps_counts_exact() {
    model("thread_slot_handover_keeps_counts_exact", || {
        const VALUES: [u64; 3] = [1, 4, 4];
        let c = Counter::new();
        let h = Histogram::new(tiny(7)).unwrap();
        let threads: Vec<_> = VALUES
            .into_iter()
            .map(|v| {
                let (c, h) = (c.clone(), h.clone());
                thread::spawn(move || {
                    c.increment(1);
                    h.record(v);
                })
            })
            .collect();
        join_all(threads);
        assert_eq!(c.value(), 3);
        let s = h.snapshot();
        assert_eq!(Expected::of_snapshot(&s), Expected::of(&VALUES));
        let before = h.heap_bytes();

        let late = {
            let (c, h) = (c.clone(), h.clone());
            thread::spawn(move || {
                c.increment(1);
                h.record(1);
            })
        };
        join_all([late]);
        assert_eq!(c.value(), 4);
        assert_eq!(h.snapshot().count(), 4);
        assert_eq!(
            h.heap_bytes(),
            before,
            "an exited thread's slot was not reused"
        );
    });
}

/// The same hand-over when threads record through thread-bound recorders
/// (`Histogram::local`, `Counter::local`), which hold a claim (lease) on their thread's slot
/// and write its shard or cell without looking the slot up: each thread drops its recorders,
/// then exits, and its guard's claim, the last one, gives the slot back through the
/// allocator's mutex, so the next owner sees every count of the recorders and of the
/// thread's plain records. A thread that reuses a slot continues the same shard (no new
/// shard appears). A recorder that outlives its thread's guard (kept in another
/// thread-local) needs the destructor order loom cannot choose; the unit test
/// `local::tests::a_local_recorder_keeps_its_slot_after_the_threads_guard_is_gone` covers it.
#[test]
fn local_recorders_hand_over_their_slots() {
    model("local_recorders_hand_over_their_slots", || {
        const VALUES: [u64; 2] = [1, 4];
        let c = Counter::new();
        let h = Histogram::new(tiny(7)).unwrap();
        let threads: Vec<_> = VALUES
            .into_iter()
            .map(|v| {
                let (c, h) = (c.clone(), h.clone());
                thread::spawn(move || {
                    let local = h.local();
                    let count = c.local();
                    local.record(v);
                    count.increment(1);
                    h.record(v);
                    c.increment(1);
                    drop((local, count));
                })
            })
            .collect();
        join_all(threads);
        assert_eq!(c.value(), 4);
        let s = h.snapshot();
        assert_eq!(
            Expected::of_snapshot(&s),
            Expected::of(&[VALUES[0], VALUES[0], VALUES[1], VALUES[1]])
        );
        let before = h.heap_bytes();

        let late = {
            let (c, h) = (c.clone(), h.clone());
            thread::spawn(move || {
                let local = h.local();
                local.record(2);
                local.record(4);
                c.local().increment(1);
            })
        };
        join_all([late]);
        assert_eq!(h.snapshot().count(), 6);
        assert_eq!(c.value(), 5);
        assert_eq!(
            h.heap_bytes(),
            before,
            "an exited thread's slot was not reused"
        );
    });
}
