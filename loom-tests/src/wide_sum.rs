//! The 128-bit sum (crates/aureon-telemetry/src/wide_sum.rs): a seqlock-bracketed carry that
//! readers must never see torn.

use crate::support::{join_all, model, writers_first};
use aureon_telemetry::Histogram;
use loom::thread;

/// The writer records `u64::MAX` (clamped into the top bin, but the sum uses the real value)
/// and then 2, whose add carries into the high word. A reader may see the sum before either
/// record, between them, or after both, and nothing else: a torn read would show the new low
/// word with the old high word (1) or the reverse (2^65 - 1). Without the odd "carry in
/// progress" store the reader could accept such a pair.
#[test]
fn wide_sum_carry_is_never_torn() {
    model("wide_sum_carry_is_never_torn", || {
        let h = Histogram::new(crate::support::tiny(7)).unwrap();
        let writer = {
            let h = h.clone();
            thread::spawn(move || {
                h.record(u64::MAX);
                h.record(2);
            })
        };
        let max = u128::from(u64::MAX);
        let states = [0, max, max + 2];
        writers_first();
        let first = h.snapshot().sum();
        assert!(states.contains(&first), "torn sum {first:#x}");
        let second = h.snapshot().sum();
        assert!(states.contains(&second), "torn sum {second:#x}");
        assert!(
            second >= first,
            "sum went backwards: {first:#x} then {second:#x}"
        );
        join_all([writer]);
        let last = h.snapshot();
        assert_eq!((last.count(), last.sum(), last.clamped()), (2, max + 2, 1));
        assert_eq!((last.min(), last.max()), (2, u64::MAX));
    });
}
