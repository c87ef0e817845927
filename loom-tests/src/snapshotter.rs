//! The snapshotter (crates/aureon-telemetry/src/snapshotter.rs): serialised ticks publishing
//! immutable history rings, and a shutdown signal that cannot be lost.
//!
//! Under loom `Condvar::wait_timeout` never times out (a loom TODO), so the background thread
//! wakes only when signalled: ticks are driven with `Snapshotter::tick` from model threads,
//! and a lost shutdown signal shows up as a deadlock, which loom reports.

use crate::support::{join_all, model, writers_first};
use aureon_telemetry::{History, Registry, Snapshotter, SnapshotterConfig};
use loom::thread;
use std::sync::Arc;
use std::time::Duration;

const CONFIG: SnapshotterConfig = SnapshotterConfig {
    interval: Duration::from_millis(1),
    retention: 2,
    max_history_bytes: usize::MAX,
    ..SnapshotterConfig::DEFAULT
};

/// A published history is complete and ordered: at most `retention` points, consecutive
/// sequence numbers oldest first, and the counter present across every interval. (A counter
/// cannot go backwards along it: an interval keeps only growth, and a tick published out of
/// order breaks the sequence check first.)
fn check_history(h: &History) {
    assert!(
        !h.is_empty() && h.len() <= CONFIG.retention,
        "history of {} points",
        h.len()
    );
    for w in h.intervals() {
        assert_eq!(
            w.to().sequence(),
            w.from().sequence() + 1,
            "gap or reordering: {h:?}"
        );
        assert!(
            w.counter_delta("events", &[]).is_some(),
            "a snapshot lost the counter"
        );
    }
}

/// A recording thread increments and then ticks; another thread ticks at the same time; the
/// main thread reads the published history twice. Every history read is complete and ordered,
/// the second is never older than the first, a tick always sees what its own thread recorded
/// before it, and once all is done the latest snapshot holds the exact total.
#[test]
fn snapshotter_publishes_complete_histories() {
    model("snapshotter_publishes_complete_histories", || {
        let r = Registry::new();
        let events = r.counter("events");
        let s = Arc::new(Snapshotter::spawn(&r, CONFIG).unwrap());
        let reader = s.reader();
        let recorder = {
            let s = Arc::clone(&s);
            thread::spawn(move || {
                events.increment(1);
                let snap = s.tick();
                assert_eq!(
                    snap.counter("events"),
                    Some(1),
                    "a tick missed its own thread's record"
                );
            })
        };
        let ticker = {
            let s = Arc::clone(&s);
            thread::spawn(move || drop(s.tick()))
        };
        writers_first();
        let first = reader.history();
        check_history(&first);
        let second = reader.history();
        check_history(&second);
        let (a, b) = (first.latest(), second.latest());
        assert!(b.sequence() >= a.sequence(), "published history went back");
        assert!(
            b.counter("events") >= a.counter("events"),
            "published total went back"
        );
        join_all([recorder, ticker]);
        let last = reader.history();
        check_history(&last);
        assert_eq!(
            last.latest().sequence(),
            2,
            "initial snapshot plus two ticks"
        );
        assert_eq!(last.latest().counter("events"), Some(1));
        Arc::try_unwrap(s)
            .expect("all other handles are gone")
            .shutdown();
    });
}

/// Shutdown races the background thread's start: whether the thread has not yet taken the
/// lock, is about to wait or is already waiting, the stop flag set under the mutex and the
/// notification must reach it, and `shutdown` (which joins) must return. Wait never times out
/// under loom, so a lost signal is a deadlock. A reader keeps reading meanwhile and after.
#[test]
fn snapshotter_shutdown_is_prompt() {
    model("snapshotter_shutdown_is_prompt", || {
        let r = Registry::new();
        let s = Snapshotter::spawn(&r, CONFIG).unwrap();
        let reader = s.reader();
        let t = thread::spawn(move || reader.latest().sequence());
        s.shutdown();
        assert_eq!(join_all([t]), [0]);
    });
}

/// Dropping the snapshotter (instead of calling `shutdown`) stops and joins the thread too,
/// also right after a tick.
#[test]
fn snapshotter_drop_stops_the_thread() {
    model("snapshotter_drop_stops_the_thread", || {
        let r = Registry::new();
        let s = Snapshotter::spawn(&r, CONFIG).unwrap();
        assert_eq!(s.tick().sequence(), 1);
        drop(s);
    });
}
