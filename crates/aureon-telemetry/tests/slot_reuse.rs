//! Thread exit and slot reuse, alone in their own test binary so that no other test's
//! threads take the freed slot first.

use aureon_telemetry::Registry;
use std::thread;

#[test]
fn counts_survive_thread_exit_and_a_later_thread_reuses_the_shard() {
    let registry = Registry::new();
    let h = registry.histogram("latency");
    let c = registry.counter("ops_total");
    h.record(1); // the test thread's own shard

    let (h1, c1) = (h.clone(), c.clone());
    thread::spawn(move || {
        for v in 0..1000 {
            h1.record(v);
            c1.increment(2);
        }
    })
    .join()
    .unwrap();
    let after_first = h.heap_bytes();
    assert_eq!(
        registry.snapshot().histogram("latency").unwrap().count(),
        1001
    );

    // The second thread gets the first one's slot back, and with it the same shard: no new
    // shard is allocated (the values stay in pages the first thread already touched).
    let (h2, c2) = (h.clone(), c.clone());
    thread::spawn(move || {
        for v in 0..1000 {
            h2.record(v);
            c2.increment(3);
        }
    })
    .join()
    .unwrap();
    assert_eq!(
        h.heap_bytes(),
        after_first,
        "a reused slot must reuse its shard"
    );

    let snap = registry.snapshot();
    let s = snap.histogram("latency").unwrap();
    assert_eq!(s.count(), 2001);
    assert_eq!(s.sum(), 1 + 2 * (0..1000u128).sum::<u128>());
    assert_eq!(snap.counter("ops_total"), Some(5000));

    // Many short-lived threads in sequence never need more than one extra shard.
    for _ in 0..if cfg!(miri) { 3 } else { 50 } {
        let h3 = h.clone();
        thread::spawn(move || h3.record(7)).join().unwrap();
    }
    assert_eq!(h.heap_bytes(), after_first);
}
