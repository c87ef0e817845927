//! The registry (crates/aureon-telemetry/src/registry.rs): get-or-create of a key, and the
//! per-name cap on label sets, under racing registrations.
//!
//! Under loom the map is the shim's two-shard mutex stand-in for `dashmap` with the same
//! atomic get-or-insert and update contract; these models check the registry's protocol
//! around that contract (lookup first, create inside the key's critical section, the name's
//! family created atomically across shards, the cap counted there), not dashmap's internals.

use crate::support::{join_all, model};
use aureon_telemetry::{MetricError, MetricKind, Registry};
use loom::thread;

/// Two threads ask for the same labelled counter at once and increment their handles. There
/// must be one metric, and it must hold both increments: two metrics for one key would lose
/// one handle's counts from every export.
#[test]
fn racing_get_or_create_yields_one_metric() {
    model("racing_get_or_create_yields_one_metric", || {
        let r = Registry::new();
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let r = r.clone();
                thread::spawn(move || r.counter_with("requests", &[("route", "/")]).increment(1))
            })
            .collect();
        join_all(threads);
        assert_eq!(r.len(), 1, "one key, one metric");
        let snap = r.snapshot();
        assert_eq!(snap.counter_with("requests", &[("route", "/")]), Some(2));
        assert_eq!(snap.registration_errors(), 0);
    });
}

/// With a cap of one label set per name, two threads registering different label sets of the
/// same name at once: exactly one wins, the other gets `TooManyLabelSets`. A third thread
/// registering the same name as another kind gets `KindMismatch` if it comes second, or wins
/// if it comes first; in no interleaving do two kinds or two label sets coexist.
#[test]
fn racing_registrations_respect_label_cap_and_kind() {
    model("racing_registrations_respect_label_cap_and_kind", || {
        let r = Registry::builder().max_label_sets(1).build();
        let spawn = |f: fn(&Registry) -> Result<(), MetricError>| {
            let r = r.clone();
            thread::spawn(move || f(&r))
        };
        let a = spawn(|r| r.try_counter("jobs", &[("queue", "a")]).map(drop));
        // "a" and "d" land in different shards of the loom map (as label sets of one name
        // may in dashmap's), so their registrations race to create the name's family.
        let b = spawn(|r| r.try_counter("jobs", &[("queue", "d")]).map(drop));
        let g = spawn(|r| r.try_gauge("jobs", &[("queue", "a")]).map(drop));
        let results = join_all([a, b, g]);
        let wins = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(wins, 1, "exactly one registration wins: {results:?}");
        assert_eq!(r.len(), 1);
        for e in results.iter().filter_map(|r| r.as_ref().err()) {
            assert!(
                matches!(
                    e,
                    MetricError::TooManyLabelSets { limit: 1, .. }
                        | MetricError::KindMismatch {
                            requested: MetricKind::Gauge | MetricKind::Counter,
                            ..
                        }
                ),
                "unexpected refusal {e:?}"
            );
        }
    });
}
