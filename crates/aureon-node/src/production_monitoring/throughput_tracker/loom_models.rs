//! A loom model of one ring slot's roll-over protocol in isolation (`ring`'s module docs):
//! a reader never pairs a count with the wrong bucket. Small enough to explore every
//! interleaving without a preemption bound. The whole tracker (thread-local rings, hand-over,
//! clock) is modelled through its public API in the workspace's `loom-tests` crate
//! (`throughput.rs`).
//!
//! Run: `RUSTFLAGS="--cfg aureon_loom" CARGO_TARGET_DIR=target/loom cargo test -p aureon-node
//! --release --lib loom`.

use super::ring::Ring;
use loom::sync::Arc;

#[test]
fn loom_a_reader_sees_a_bucket_with_its_own_count_or_not_at_all() {
    loom::model(|| {
        // Two slots: buckets 0 and 2 share slot 0, so recording bucket 2 rolls it over.
        let ring = Arc::new(Ring::new(2));
        ring.record(0, 1);
        let owner = {
            let ring = Arc::clone(&ring);
            loom::thread::spawn(move || {
                ring.record(2, 5);
                ring.record(2, 1);
            })
        };
        let old = ring.count_for(0);
        let new = ring.count_for(2);
        assert!(old == 0 || old == 1, "bucket 0 read as {old}");
        assert!([0, 5, 6].contains(&new), "bucket 2 read as {new}");
        owner.join().unwrap();
        assert_eq!(
            (ring.count_for(0), ring.count_for(2), ring.total()),
            (0, 6, 7)
        );
    });
}
