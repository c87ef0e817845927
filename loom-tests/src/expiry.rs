//! Idle expiry (crates/aureon-telemetry/src/expiry.rs): a record on a held handle racing the
//! snapshot pass that expires its series.
//!
//! The registry's timeout is zero, so the first pass that finds a value unchanged expires the
//! series: the race between a record and the expiring pass happens in every execution loom
//! explores. The pass is the real one (`Registry::snapshot` with expiry on: read every entry,
//! then apply each plan under its key's map lock); the record is the real `increment` /
//! `record` of a held handle. What must hold: every record appears in a later snapshot. A
//! pass that read the value *before* the record and expires the series must leave it dormant
//! with that value as its fingerprint, so that the next pass sees the record and brings the
//! series back; a fingerprint read at apply time would swallow the record (mutation M23).

use crate::support::{join_all, model, tiny, writers_first};
use aureon_telemetry::{MetricValue, Registry, Snapshot};
use loom::thread;
use std::time::Duration;

/// A registry whose series expire at the first pass that finds them unchanged.
fn eager() -> Registry {
    Registry::builder().idle_timeout(Duration::ZERO).build()
}

fn counter_in(s: &Snapshot) -> Option<u64> {
    s.counter("jobs_total")
}

fn count_in(s: &Snapshot) -> Option<u64> {
    match s.get("work", &[]) {
        Some(MetricValue::Histogram(h)) => Some(h.count()),
        _ => None,
    }
}

/// A counter recorded once (first snapshot sees it), then recorded again while the second
/// snapshot expires it; a third snapshot after the join must show both records, whichever
/// side of the record the expiring pass read.
#[test]
fn record_racing_expiry_reaches_a_later_snapshot() {
    model("record_racing_expiry_reaches_a_later_snapshot", || {
        let r = eager();
        let c = r.counter("jobs_total");
        let first = {
            let c = c.clone();
            thread::spawn(move || c.increment(1))
        };
        join_all([first]);
        // Seen once: the next pass that finds it unchanged expires it.
        assert_eq!(counter_in(&r.snapshot()), Some(1));
        let racer = {
            let c = c.clone();
            thread::spawn(move || {
                c.increment(1);
                c
            })
        };
        writers_first();
        let during = counter_in(&r.snapshot());
        // Out (expired before the record) or the value before or after it, never invented.
        assert!(matches!(during, None | Some(1) | Some(2)), "{during:?}");
        let held = join_all([racer]);
        let after = counter_in(&r.snapshot());
        // The record is in this snapshot unless the pass during the race already exported it
        // (then the series is idle again and may have expired with the record in it).
        let exported = during.max(after);
        assert_eq!(exported, Some(2), "during {during:?}, after {after:?}");
        drop(held);
    });
}

/// The same race on a histogram, through the shard path every real record takes: the
/// expiring pass merges the shards while the record writes one.
#[test]
fn histogram_record_racing_expiry_reaches_a_later_snapshot() {
    model(
        "histogram_record_racing_expiry_reaches_a_later_snapshot",
        || {
            let r = eager();
            let h = r.histogram_with_config("work", &[], tiny(7));
            let first = {
                let h = h.clone();
                thread::spawn(move || h.record(1))
            };
            join_all([first]);
            assert_eq!(count_in(&r.snapshot()), Some(1));
            let racer = {
                let h = h.clone();
                thread::spawn(move || {
                    h.record(4);
                    h
                })
            };
            writers_first();
            let during = count_in(&r.snapshot());
            assert!(matches!(during, None | Some(1) | Some(2)), "{during:?}");
            let held = join_all([racer]);
            let after = count_in(&r.snapshot());
            assert_eq!(
                during.max(after),
                Some(2),
                "during {during:?}, after {after:?}"
            );
            drop(held);
        },
    );
}
