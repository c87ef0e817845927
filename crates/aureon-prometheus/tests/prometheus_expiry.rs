//! A real Prometheus (Debian's 2.42) scrapes a registry whose series expire and come back,
//! and what it stores must add up to what was recorded.
//!
//! The test drives every snapshot itself (`Snapshotter::tick`, idle timeout zero: a pass that
//! finds a series unchanged since the previous pass expires it), so it knows what each scrape
//! can see, and waits on Prometheus' API after each step (every wait polls with a deadline).
//!
//! * A series whose every handle is dropped is freed at the next pass: it leaves the scrape
//!   (Prometheus marks it stale), and the same key registered again starts from zero with a
//!   new `_created`. Over a window from its first stored sample to its last, `increase()`
//!   equals everything recorded into both incarnations (Prometheus sees the reset because the
//!   new incarnation is scraped at 0 before it is recorded into).
//! * A series whose handle is held goes dormant instead: it leaves the scrape too, and its
//!   handle's next record brings it back with its total continuing (no reset).
//!
//! The window's ends are the first and last stored samples' timestamps, read from a range
//! query, so `increase()` extrapolates nothing (2.x range selectors include both ends).
//!
//! Without `prometheus` installed every test here FAILS, saying how to install it
//! (`scripts/ensure-prometheus.sh`). `PROMETHEUS_BIN` overrides the binary.

mod http_support;
mod prom_support;

use aureon_prometheus::http::{HealthReport, MetricsServer, ServerConfig};
use aureon_telemetry::{Registry, Snapshotter, SnapshotterConfig};
use prom_support::{Prometheus, prometheus_binary};
use std::sync::Arc;
use std::time::Duration;

#[test]
fn expiring_series_are_stored_as_resets_and_returns_and_increase_adds_up() {
    let bin = prometheus_binary();
    let registry = Registry::builder().idle_timeout(Duration::ZERO).build();
    let snapshotter = Snapshotter::spawn(
        &registry,
        SnapshotterConfig {
            interval: Duration::from_secs(3600),
            ..SnapshotterConfig::default()
        },
    )
    .unwrap();
    let config = ServerConfig::builder().port(0).build().unwrap();
    let server = MetricsServer::start(
        config,
        snapshotter.reader(),
        Arc::new(HealthReport::healthy),
    )
    .unwrap();
    let prom = Prometheus::start(
        &bin,
        &format!(
            "  - job_name: aureon\n    params:\n      format: ['openmetrics']\n\
             \x20   static_configs:\n      - targets: ['{}']\n",
            server.local_addr()
        ),
    );
    let tick = || {
        snapshotter.tick();
    };

    // --- A freed series that comes back from zero. ---
    let churn = "churn_events_total{peer=\"a\"}";
    let c = registry.counter_with("churn_events", &[("peer", "a")]);
    let held = registry.counter("held_events");
    tick();
    prom.wait_for_value(churn, 0.0);
    prom.wait_for_value("held_events_total", 0.0);
    let first_created = prom.value("churn_events_created{peer=\"a\"}");
    const N1: u64 = 7;
    c.increment(N1);
    held.increment(3);
    tick();
    prom.wait_for_value(churn, N1 as f64);
    prom.wait_for_value("held_events_total", 3.0);

    // Unchanged since the last pass: both expire. `churn` has no handle left, so it is freed;
    // `held_events` is kept (dormant) by its handle.
    drop(c);
    tick();
    assert_eq!(
        registry.len(),
        1,
        "the churn series was freed, the held one kept"
    );
    prom.wait_for_absent(churn);
    prom.wait_for_absent("held_events_total");

    // The same key again: a new series from zero, scraped at 0 before it is recorded into.
    std::thread::sleep(Duration::from_millis(5));
    let c = registry.counter_with("churn_events", &[("peer", "a")]);
    tick();
    prom.wait_for_value(churn, 0.0);
    // Prometheus 2.x stores OpenMetrics' `_created` sample as a series of its own.
    let first = first_created.expect("the first incarnation's _created is stored");
    let second = prom
        .value("churn_events_created{peer=\"a\"}")
        .expect("the new incarnation's _created");
    assert!(
        second > first,
        "created {first} then {second}: the reset is visible"
    );
    const N2: u64 = 5;
    c.increment(N2);
    // The held handle records again: its series comes back with its total.
    held.increment(2);
    tick();
    prom.wait_for_value(churn, N2 as f64);
    prom.wait_for_value("held_events_total", 5.0);

    // Stored samples, and `increase()` over exactly their span.
    let increase = prom.increase_over_stored(churn);
    assert_eq!(
        increase,
        (N1 + N2) as f64,
        "increase over both incarnations equals what was recorded"
    );
    let samples = prom.stored(churn);
    assert!(
        samples.windows(2).any(|w| w[1].1 < w[0].1),
        "the stored samples show the reset: {samples:?}"
    );
    let held_increase = prom.increase_over_stored("held_events_total");
    assert_eq!(held_increase, 5.0, "the held series continued, no reset");
    let held_samples = prom.stored("held_events_total");
    assert!(
        held_samples.windows(2).all(|w| w[1].1 >= w[0].1),
        "no reset for a held series: {held_samples:?}"
    );
    drop(server);
}
