//! `ErrorRateTracker`: rates, kinds, caps and refusals, ordering, and exact counts under
//! concurrency, checked against counts kept by hand.

use super::super::{ErrorKindError, ErrorRateTracker, OTHER_KIND};
use aureon_telemetry::Registry;
use std::sync::Arc;

#[test]
fn no_operations_means_no_rates_and_no_common_error() {
    let t = ErrorRateTracker::new();
    assert_eq!(
        (t.total_operations(), t.total_errors(), t.total_successes()),
        (0, 0, 0)
    );
    assert_eq!((t.error_rate(), t.success_rate()), (0.0, 0.0));
    assert_eq!(t.most_common_error(), None);
    assert!(t.error_counts().is_empty());
}

#[test]
fn ties_go_to_the_kind_recorded_first_and_top_k_truncates() {
    let t = ErrorRateTracker::new();
    for kind in ["B", "A", "C", "A", "B", "D"] {
        t.record_error(kind);
    }
    // B and A both 2: B was first recorded.
    assert_eq!(t.most_common_error().as_deref(), Some("B"));
    let expected: Vec<(String, u64)> = [("B", 2), ("A", 2), ("C", 1), ("D", 1)]
        .iter()
        .map(|&(k, n)| (k.to_owned(), n))
        .collect();
    assert_eq!(t.error_counts(), expected);
    assert_eq!(t.top_errors(2), expected[..2]);
    assert_eq!(t.error_count("A"), 2);
    assert_eq!(t.error_count("never"), 0);
    assert_eq!(t.error_rate(), 1.0);
}

#[test]
fn kinds_past_the_cap_and_empty_kinds_count_under_other() {
    let t = ErrorRateTracker::with_max_kinds(2);
    t.record_error("a");
    t.record_error("b");
    t.record_error("c"); // past the cap
    t.record_error(""); // empty
    assert_eq!(t.total_errors(), 4);
    assert_eq!(t.total_operations(), 4);
    assert_eq!(t.error_count(OTHER_KIND), 2);
    assert_eq!(t.error_count("c"), 0);
    assert_eq!(t.most_common_error().as_deref(), Some(OTHER_KIND));
    assert_eq!(t.max_kinds(), 2);
}

#[test]
fn try_record_error_refuses_without_recording() {
    let t = ErrorRateTracker::with_max_kinds(1);
    assert_eq!(t.try_record_error("a"), Ok(()));
    assert_eq!(t.try_record_error(""), Err(ErrorKindError::Empty));
    let err = t.try_record_error("b").unwrap_err();
    assert_eq!(
        err,
        ErrorKindError::TooManyKinds {
            kind: "b".to_owned(),
            limit: 1
        }
    );
    assert!(err.to_string().contains("already tracks 1 kinds"));
    assert_eq!((t.total_operations(), t.total_errors()), (1, 1));
    assert_eq!(t.error_count(OTHER_KIND), 0);
}

#[test]
fn registered_tracker_exports_operations_and_errors_by_op_and_kind() {
    let registry = Registry::new();
    let t = ErrorRateTracker::registered(&registry, "sync", 4);
    t.record_operation();
    t.record_error("Timeout");
    t.record_error("Timeout");
    let snap = registry.snapshot();
    assert_eq!(
        snap.counter_with("aureon_operations_total", &[("op", "sync")]),
        Some(3)
    );
    assert_eq!(
        snap.counter_with(
            "aureon_errors_total",
            &[("op", "sync"), ("kind", "Timeout")]
        ),
        Some(2)
    );
}

#[test]
fn concurrent_operations_and_errors_are_counted_exactly() {
    let t = Arc::new(ErrorRateTracker::new());
    let kinds = ["Timeout", "Refused", "Corrupt"];
    let threads = 6u64;
    let per_thread = 20_000u64;
    let handles: Vec<_> = (0..threads)
        .map(|k| {
            let t = Arc::clone(&t);
            std::thread::spawn(move || {
                for i in 0..per_thread {
                    // Every 10th operation fails, with a kind chosen by thread and index.
                    if i % 10 == 0 {
                        t.record_error(kinds[((i / 10 + k) % 3) as usize]);
                    } else {
                        t.record_operation();
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    // By hand: 2000 errors per thread, kinds in rotation.
    let mut expected = [0u64; 3];
    for k in 0..threads {
        for j in 0..per_thread / 10 {
            expected[((j + k) % 3) as usize] += 1;
        }
    }
    assert_eq!(t.total_operations(), threads * per_thread);
    assert_eq!(t.total_errors(), threads * per_thread / 10);
    for (kind, n) in kinds.iter().zip(expected) {
        assert_eq!(t.error_count(kind), n, "{kind}");
    }
    assert_eq!(t.error_rate(), 0.1);
}
