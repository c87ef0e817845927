//! Exemplars (crates/aureon-telemetry/src/exemplar.rs): per-slot seqlocks that readers copy
//! out whole or not at all.

use crate::support::{join_all, model, tiny, writers_first};
use aureon_telemetry::Histogram;
use loom::thread;

/// A first thread fills all four exemplar slots of its shard (ids are ten times the value)
/// and exits. A second thread reuses that slot, hence that shard, and offers a larger value,
/// which overwrites the smallest slot while the main thread copies the slots out. Every
/// exemplar a snapshot reports must be a pair that was written together: a copy that
/// overlapped the write must be dropped, not torn into the new value with the old id.
#[test]
fn exemplar_seqlock_never_tears() {
    model("exemplar_seqlock_never_tears", || {
        let h = Histogram::new(tiny(7)).unwrap();
        let fill = {
            let h = h.clone();
            thread::spawn(move || (1..=4).for_each(|v| h.record_with_exemplar(v, v * 10)))
        };
        join_all([fill]);
        let writer = {
            let h = h.clone();
            thread::spawn(move || h.record_with_exemplar(7, 70))
        };
        writers_first();
        let during = h.snapshot();
        for e in during.exemplars() {
            assert_eq!(e.id, e.value * 10, "torn exemplar {e:?}");
            assert!(
                [1, 2, 3, 4, 7].contains(&e.value),
                "invented exemplar {e:?}"
            );
        }
        join_all([writer]);
        let after = h.snapshot();
        let values: Vec<u64> = after.exemplars().iter().map(|e| e.value).collect();
        assert_eq!(values, vec![7, 4, 3, 2], "the slowest four are kept");
        assert_eq!(after.count(), 5);
    });
}
