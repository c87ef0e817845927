//! The background snapshotter: periodic publication, bounded history, windowed views and
//! clean shutdown.

use aureon_telemetry::{Registry, Snapshotter, SnapshotterConfig};
use std::time::{Duration, Instant};

/// How long a test waits for the background thread. Miri interprets every merge and runs the
/// threads one at a time, so a tick there takes seconds of wall time, not milliseconds; the
/// bound only catches a thread that never publishes, never a slow one.
const PATIENCE: Duration = Duration::from_secs(if cfg!(miri) { 600 } else { 10 });

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn publishes_periodically_and_keeps_a_bounded_history() {
    let registry = Registry::new();
    let c = registry.counter("ops_total");
    let h = registry.histogram("latency");
    let s = Snapshotter::spawn(
        &registry,
        SnapshotterConfig {
            interval: Duration::from_millis(5),
            retention: 4,
            ..SnapshotterConfig::default()
        },
    )
    .unwrap();
    c.increment(10);
    h.record(100);
    wait_for("the counter to be published", || {
        s.latest().counter("ops_total") == Some(10)
    });
    wait_for("the ring to fill", || s.history().len() == 4);
    for _ in 0..5 {
        let seq = s.latest().sequence();
        wait_for("another tick", || s.latest().sequence() > seq);
        assert_eq!(s.history().len(), 4, "retention bounds the ring");
    }
    let history = s.history();
    let seqs: Vec<u64> = history.iter().map(|s| s.sequence()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    let reader = s.reader();
    let started = Instant::now();
    s.shutdown();
    assert!(
        started.elapsed() < Duration::from_secs(if cfg!(miri) { 120 } else { 1 }),
        "shutdown is prompt"
    );
    assert_eq!(
        reader.latest().counter("ops_total"),
        Some(10),
        "readers outlive the thread"
    );
}

#[test]
fn windows_give_deltas_and_rates() {
    let registry = Registry::new();
    let c = registry.counter("ops_total");
    let h = registry.histogram("latency");
    // A long interval: ticks come only from `tick()`, so the test controls them.
    let s = Snapshotter::spawn(
        &registry,
        SnapshotterConfig {
            interval: Duration::from_secs(3600),
            retention: 10,
            ..SnapshotterConfig::default()
        },
    )
    .unwrap();
    c.increment(5);
    h.record(10);
    s.tick();
    std::thread::sleep(Duration::from_millis(20));
    c.increment(7);
    for v in [1000, 2000, 3000] {
        h.record(v);
    }
    s.tick();
    let history = s.history();
    assert_eq!(history.len(), 3, "the first snapshot plus two ticks");
    let w = history.last_interval().unwrap();
    assert_eq!(w.counter_delta("ops_total", &[]), Some(7));
    let rate = w.counter_rate("ops_total", &[]).unwrap();
    let expected = 7.0 / w.elapsed().as_secs_f64();
    assert!((rate - expected).abs() < 1e-9);
    let d = w.histogram_delta("latency", &[]).unwrap();
    assert_eq!((d.count(), d.sum()), (3, 6000));
    assert_eq!((d.min(), d.max()), (1000, 3000));
    // A window longer than the history spans all of it.
    let all = history.window(Duration::from_secs(3600)).unwrap();
    assert_eq!(all.counter_delta("ops_total", &[]), Some(12));
    assert_eq!(history.intervals().count(), 2);
    drop(s); // drop also stops and joins
}

#[test]
fn exemplars_belong_to_the_interval_they_were_recorded_in() {
    let registry = Registry::new();
    let h = registry.histogram("block_processing");
    let s = Snapshotter::spawn(
        &registry,
        SnapshotterConfig {
            interval: Duration::from_secs(3600),
            retention: 10,
            ..SnapshotterConfig::default()
        },
    )
    .unwrap();
    h.record_with_exemplar(900, 17);
    h.record_with_exemplar(100, 18);
    let first = s.tick();
    h.record_with_exemplar(50, 19);
    let second = s.tick();
    let ids = |snap: &aureon_telemetry::Snapshot| -> Vec<u64> {
        snap.histogram("block_processing")
            .unwrap()
            .exemplars()
            .iter()
            .map(|e| e.id)
            .collect()
    };
    assert_eq!(ids(&first), vec![17, 18]);
    assert_eq!(ids(&second), vec![19]);
}

#[test]
fn a_reader_knows_the_interval_and_how_old_the_latest_snapshot_is() {
    let registry = Registry::new();
    let snapshotter = Snapshotter::spawn(
        &registry,
        SnapshotterConfig {
            interval: Duration::from_millis(10),
            retention: 4,
            ..SnapshotterConfig::default()
        },
    )
    .unwrap();
    let reader = snapshotter.reader();
    assert_eq!(reader.interval(), Duration::from_millis(10));
    let before_last_tick = Instant::now();
    snapshotter.tick();
    snapshotter.shutdown();
    // Nothing is published any more: the age grows with the clock.
    std::thread::sleep(Duration::from_millis(30));
    let age = reader.age();
    // Both are read off the same monotonic clock (`std::time::Instant`).
    assert!(age >= Duration::from_millis(30), "{age:?}");
    assert!(age <= before_last_tick.elapsed(), "{age:?}");

    // A zero interval is raised to the 1 ms floor, and the reader reports that.
    let zero = Snapshotter::spawn(
        &registry,
        SnapshotterConfig {
            interval: Duration::ZERO,
            retention: 1,
            ..SnapshotterConfig::default()
        },
    )
    .unwrap();
    assert_eq!(zero.reader().interval(), Duration::from_millis(1));
}
