//! Integration tests of the layer under a real `tracing_subscriber::Registry`: span timings
//! against independent `std::time::Instant` measurements, exact timings with a mock clock,
//! labels, event counts from several threads, and the per-span path leaving the registry
//! map alone.

use aureon_telemetry::{Registry, Unit};
use aureon_tracing::{
    DEFAULT_BUSY_METRIC, DEFAULT_EVENTS_METRIC, DEFAULT_IDLE_METRIC, SpanTimingLayer,
};
use std::thread;
use std::time::{Duration, Instant};
use tracing::Dispatch;
use tracing_subscriber::prelude::*;

fn dispatch(layer: SpanTimingLayer) -> Dispatch {
    Dispatch::new(tracing_subscriber::registry().with(layer))
}

/// The layer times with `quanta` (TSC calibrated against the OS clock), the test with
/// `std::time::Instant`: allow their calibration difference (measured here at up to 1.6e-4)
/// with margin, plus a microsecond for the reads themselves.
fn within_clocks(recorded: u64, inner: Duration, outer: Duration) -> bool {
    let lo = inner.as_nanos() as f64 * (1.0 - 1e-3) - 1_000.0;
    let hi = outer.as_nanos() as f64 * (1.0 + 1e-3) + 1_000.0;
    (lo..=hi).contains(&(recorded as f64))
}

#[test]
fn busy_times_match_durations_measured_independently() {
    let registry = Registry::new();
    let d = dispatch(SpanTimingLayer::new(&registry));
    let lengths_ms = [1u64, 2, 3, 5, 8, 4, 6, 7];
    // For each section: `inner` is measured inside the entered span (a lower bound of what
    // the layer can see), `outer` around enter and exit (an upper bound).
    let mut measured: Vec<(Duration, Duration)> = Vec::new();
    tracing::dispatcher::with_default(&d, || {
        for &ms in &lengths_ms {
            let span = tracing::info_span!(target: "test", "section");
            let outer_start = Instant::now();
            let entered = span.enter();
            let inner_start = Instant::now();
            thread::sleep(Duration::from_millis(ms));
            let inner = inner_start.elapsed();
            drop(entered);
            let outer = outer_start.elapsed();
            drop(span);
            measured.push((inner, outer));
        }
    });
    let snap = registry.snapshot();
    let h = snap
        .histogram_with(
            DEFAULT_BUSY_METRIC,
            &[("span", "section"), ("target", "test")],
        )
        .unwrap();
    assert_eq!(h.config().unit, Unit::Nanoseconds);
    assert_eq!(h.count(), lengths_ms.len() as u64);
    // Sum, min and max are exact in the core, so they are compared to the clock directly.
    let inner_sum: Duration = measured.iter().map(|m| m.0).sum();
    let outer_sum: Duration = measured.iter().map(|m| m.1).sum();
    let sum = u64::try_from(h.sum()).unwrap();
    assert!(
        within_clocks(sum, inner_sum, outer_sum),
        "sum {sum} not in [{inner_sum:?}, {outer_sum:?}]"
    );
    let shortest = measured.iter().min_by_key(|m| m.0).unwrap();
    let longest = measured.iter().max_by_key(|m| m.0).unwrap();
    assert!(
        within_clocks(h.min(), shortest.0, shortest.1),
        "min {} vs {shortest:?}",
        h.min()
    );
    assert!(
        within_clocks(h.max(), longest.0, longest.1),
        "max {} vs {longest:?}",
        h.max()
    );
}

#[test]
fn reentered_span_sums_busy_sections_and_idle_gaps() {
    let registry = Registry::new();
    let d = dispatch(
        SpanTimingLayer::builder(&registry)
            .with_idle()
            .build()
            .unwrap(),
    );
    let (mut busy_in, mut busy_out, mut idle_in, mut idle_out) = (
        Duration::ZERO,
        Duration::ZERO,
        Duration::ZERO,
        Duration::ZERO,
    );
    tracing::dispatcher::with_default(&d, || {
        let span = tracing::info_span!(target: "test", "reentered");
        let mut idle_start = (Instant::now(), Instant::now());
        for ms in [3u64, 1, 4] {
            let outer_start = Instant::now();
            let entered = span.enter();
            let inner_start = Instant::now();
            // Idle ran from (about) the last exit to this enter.
            idle_in += outer_start - idle_start.1;
            idle_out += inner_start - idle_start.0;
            thread::sleep(Duration::from_millis(ms));
            let inner_end = Instant::now();
            drop(entered);
            let outer_end = Instant::now();
            busy_in += inner_end - inner_start;
            busy_out += outer_end - outer_start;
            idle_start = (inner_end, outer_end);
            thread::sleep(Duration::from_millis(2)); // idle gap
        }
        let before_close = Instant::now();
        drop(span);
        idle_in += before_close - idle_start.1;
        idle_out += Instant::now() - idle_start.0;
    });
    let snap = registry.snapshot();
    let labels = [("span", "reentered"), ("target", "test")];
    let busy = snap.histogram_with(DEFAULT_BUSY_METRIC, &labels).unwrap();
    let idle = snap.histogram_with(DEFAULT_IDLE_METRIC, &labels).unwrap();
    assert_eq!(
        (busy.count(), idle.count()),
        (1, 1),
        "one value per span, on close"
    );
    assert!(
        within_clocks(busy.min(), busy_in, busy_out),
        "busy {} vs [{busy_in:?}, {busy_out:?}]",
        busy.min()
    );
    assert!(
        within_clocks(idle.min(), idle_in, idle_out),
        "idle {} vs [{idle_in:?}, {idle_out:?}]",
        idle.min()
    );
}

#[test]
fn mock_clock_gives_exact_busy_and_idle_for_nested_spans() {
    let registry = Registry::new();
    let (clock, mock) = quanta::Clock::mock();
    let d = dispatch(
        SpanTimingLayer::builder(&registry)
            .with_idle()
            .clock(clock)
            .build()
            .unwrap(),
    );
    let ms = Duration::from_millis;
    tracing::dispatcher::with_default(&d, || {
        let parent = tracing::info_span!(target: "t", "parent");
        mock.increment(ms(1)); // parent idle 1
        parent.in_scope(|| {
            mock.increment(ms(2)); // parent busy 2
            let child = tracing::debug_span!(target: "t", "child");
            mock.increment(ms(3)); // parent busy 3, child idle 3
            child.in_scope(|| mock.increment(ms(5))); // both busy 5
            mock.increment(ms(7)); // parent busy 7, child idle 7 (still open)
            drop(child);
        });
        mock.increment(ms(11)); // parent idle 11
    });
    let snap = registry.snapshot();
    let value = |metric, span| {
        snap.histogram_with(metric, &[("span", span), ("target", "t")])
            .map(|h| (h.count(), h.min()))
    };
    assert_eq!(value(DEFAULT_BUSY_METRIC, "parent"), Some((1, 17_000_000)));
    assert_eq!(value(DEFAULT_IDLE_METRIC, "parent"), Some((1, 12_000_000)));
    assert_eq!(value(DEFAULT_BUSY_METRIC, "child"), Some((1, 5_000_000)));
    assert_eq!(value(DEFAULT_IDLE_METRIC, "child"), Some((1, 10_000_000)));
}

#[test]
fn spans_are_labelled_by_name_and_target_and_idle_is_off_by_default() {
    let registry = Registry::new();
    let d = dispatch(SpanTimingLayer::new(&registry));
    tracing::dispatcher::with_default(&d, || {
        for _ in 0..3 {
            tracing::info_span!(target: "node::sync", "fetch").in_scope(|| {});
        }
        tracing::info_span!(target: "node::store", "fetch").in_scope(|| {});
        tracing::trace_span!(target: "node::sync", "verify").in_scope(|| {});
    });
    let snap = registry.snapshot();
    let count = |span, target| {
        snap.histogram_with(DEFAULT_BUSY_METRIC, &[("span", span), ("target", target)])
            .map(|h| h.count())
    };
    assert_eq!(count("fetch", "node::sync"), Some(3));
    assert_eq!(count("fetch", "node::store"), Some(1));
    assert_eq!(count("verify", "node::sync"), Some(1));
    assert_eq!(snap.family(DEFAULT_BUSY_METRIC).count(), 3);
    assert_eq!(snap.family(DEFAULT_IDLE_METRIC).count(), 0);
}

#[test]
fn events_are_counted_by_level_exactly_from_several_threads() {
    const N: u64 = 10_000;
    let registry = Registry::new();
    let d = dispatch(SpanTimingLayer::new(&registry));
    thread::scope(|s| {
        for t in 0..2 {
            let d = &d;
            s.spawn(move || {
                tracing::dispatcher::with_default(d, || {
                    let _span = (t == 1).then(|| tracing::info_span!("open").entered());
                    for _ in 0..N {
                        tracing::trace!("t");
                        tracing::info!("i");
                        tracing::error!("e");
                    }
                    tracing::warn!("once");
                });
            });
        }
    });
    let snap = registry.snapshot();
    let events = |level| snap.counter_with(DEFAULT_EVENTS_METRIC, &[("level", level)]);
    assert_eq!(
        (
            events("trace"),
            events("debug"),
            events("info"),
            events("warn"),
            events("error")
        ),
        (Some(2 * N), Some(0), Some(2 * N), Some(2), Some(2 * N))
    );
}

#[test]
fn many_spans_from_two_threads_are_exact_and_leave_the_registry_alone() {
    const PER_THREAD: u64 = 100_000;
    let registry = Registry::new();
    let d = dispatch(
        SpanTimingLayer::builder(&registry)
            .with_idle()
            .build()
            .unwrap(),
    );
    let run = |n: u64| {
        for _ in 0..n {
            let _span = tracing::info_span!(target: "hot", "op").entered();
        }
    };
    tracing::dispatcher::with_default(&d, || run(1)); // first touch registers the callsite
    let before = registry.len();
    thread::scope(|s| {
        for _ in 0..2 {
            let d = &d;
            s.spawn(move || tracing::dispatcher::with_default(d, || run(PER_THREAD)));
        }
    });
    assert_eq!(registry.len(), before, "the per-span path created metrics");
    let snap = registry.snapshot();
    let labels = [("span", "op"), ("target", "hot")];
    assert_eq!(
        snap.histogram_with(DEFAULT_BUSY_METRIC, &labels)
            .unwrap()
            .count(),
        2 * PER_THREAD + 1
    );
    assert_eq!(
        snap.histogram_with(DEFAULT_IDLE_METRIC, &labels)
            .unwrap()
            .count(),
        2 * PER_THREAD + 1
    );
    assert_eq!(snap.registration_errors(), 0);
}

#[test]
fn two_layers_on_one_subscriber_each_record_every_span() {
    let (a, b) = (Registry::new(), Registry::new());
    let (clock, mock) = quanta::Clock::mock();
    let layer = |r: &Registry| {
        SpanTimingLayer::builder(r)
            .clock(clock.clone())
            .build()
            .unwrap()
    };
    let d = Dispatch::new(
        tracing_subscriber::registry()
            .with(layer(&a))
            .with(layer(&b)),
    );
    tracing::dispatcher::with_default(&d, || {
        for _ in 0..3 {
            tracing::info_span!(target: "t", "work")
                .in_scope(|| mock.increment(Duration::from_micros(250)));
        }
        tracing::info!("seen by both");
    });
    for registry in [&a, &b] {
        let snap = registry.snapshot();
        let h = snap
            .histogram_with(DEFAULT_BUSY_METRIC, &[("span", "work"), ("target", "t")])
            .unwrap();
        assert_eq!((h.count(), h.min(), h.max()), (3, 250_000, 250_000));
        assert_eq!(
            snap.counter_with(DEFAULT_EVENTS_METRIC, &[("level", "info")]),
            Some(1)
        );
    }
}
