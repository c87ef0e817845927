//! The Pushgateway road against the real thing: Debian's `prometheus-pushgateway` 1.5, and a
//! real Prometheus 2.42 scraping it with `honor_labels: true`, as operators run it.
//!
//! * a pushed batch result appears under its grouping key (a value with `/` travels in the
//!   base64 form and arrives as given), every value equal to what was recorded;
//! * Prometheus stores those values under the pushed `job`/`instance`, not its own;
//! * `PUT` replaces the group, `POST` only the families pushed, `DELETE` on shutdown removes it;
//! * pushing every interval from a snapshotter, the gateway's value rises with the running
//!   registry, never falls, and ends at exactly what was recorded (the final snapshot);
//! * a push the gateway refuses (400: a metric inconsistent with another group's) is dropped
//!   and counted as `rejected` at once, never retried.
//!
//! Without the binaries (`scripts/ensure-prometheus.sh` installs them) every test here FAILS
//! saying so. `PUSHGATEWAY_BIN` and `PROMETHEUS_BIN` override them.

mod http_support;
mod prom_support;

use aureon_prometheus::pushgateway::{GroupPush, Pushgateway};
use aureon_push::{DropReason, HttpTransport, NoSource, PushConfig, PushReport, Pusher};
use aureon_telemetry::{Registry, Snapshot};
use prom_support::{Gateway, Prometheus, latencies, prometheus_binary};
use std::sync::Arc;

/// The value of the sample line named `name` whose labels include all of `labels`.
fn sample(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.split(['{', ' ']).next() == Some(name))
        .find(|l| labels.iter().all(|want| l.contains(want)))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

/// Pushes `snapshot` once and waits for the flush.
fn push_once(gateway: Pushgateway, snapshot: Snapshot) -> PushReport {
    let pusher = Pusher::spawn_with_transport(
        gateway,
        None::<NoSource>,
        HttpTransport::new(),
        PushConfig::default(),
        None,
    )
    .unwrap();
    pusher.shutdown_with(Some(Arc::new(snapshot)))
}

#[test]
fn a_pushed_batch_result_is_stored_under_its_grouping_key_by_a_prometheus_scraping_the_gateway() {
    let gateway = Gateway::start();
    let registry = Registry::new();
    registry.counter("blocks_processed").increment(12_345);
    registry.gauge("stress_threads").set(8.0);
    let values = latencies(5000, 0x9e37_79b9_7f4a_7c15);
    let h = registry.histogram("block_latency");
    for &v in &values {
        h.record(v);
    }
    let protocol = Pushgateway::new(&gateway.url(), "aureon_stress")
        .unwrap()
        .grouping_label("instance", "node/1")
        .unwrap();
    let report = push_once(protocol, registry.snapshot());
    assert_eq!(report.dropped_total(), 0, "{report}");
    assert_eq!(report.requests_sent, 1, "{report}");

    let text = gateway.metrics();
    let key = ["job=\"aureon_stress\"", "instance=\"node/1\""];
    assert_eq!(
        sample(&text, "blocks_processed_total", &key),
        Some(12_345.0),
        "{text}"
    );
    assert_eq!(sample(&text, "stress_threads", &key), Some(8.0));
    assert_eq!(
        sample(&text, "block_latency_seconds_count", &key),
        Some(values.len() as f64)
    );
    let sum_s = values.iter().sum::<u64>() as f64 / 1e6;
    let got = sample(&text, "block_latency_seconds_sum", &key).unwrap();
    assert!((got - sum_s).abs() <= 1e-9 * sum_s, "{got} vs {sum_s}");
    assert!(
        sample(&text, "push_time_seconds", &key).is_some(),
        "the gateway stamped the push"
    );

    let jobs = format!(
        "  - job_name: pushgateway\n    honor_labels: true\n    static_configs:\n      - targets: ['{}']\n",
        gateway.addr
    );
    let prom = Prometheus::start(&prometheus_binary(), &jobs);
    prom.wait_for_value(
        "blocks_processed_total{job=\"aureon_stress\",instance=\"node/1\"}",
        12_345.0,
    );
    prom.wait_for_value(
        "block_latency_seconds_count{job=\"aureon_stress\",instance=\"node/1\"}",
        values.len() as f64,
    );
    assert_eq!(
        prom.value("stress_threads{job=\"aureon_stress\",instance=\"node/1\"}"),
        Some(8.0)
    );
}

#[test]
fn put_replaces_the_group_post_updates_it_and_shutdown_can_delete_it() {
    let gateway = Gateway::start();
    let job = ["job=\"replace_test\""];
    let first = Registry::new();
    first.counter("kept").increment(1);
    first.counter("dropped_later").increment(2);
    let new = || Pushgateway::new(&gateway.url(), "replace_test").unwrap();
    assert_eq!(push_once(new(), first.snapshot()).dropped_total(), 0);
    assert_eq!(
        sample(&gateway.metrics(), "dropped_later_total", &job),
        Some(2.0)
    );

    // PUT of a snapshot without `dropped_later`: the whole group is replaced.
    let second = Registry::new();
    second.counter("kept").increment(5);
    assert_eq!(push_once(new(), second.snapshot()).dropped_total(), 0);
    let text = gateway.metrics();
    assert_eq!(sample(&text, "kept_total", &job), Some(5.0));
    assert_eq!(sample(&text, "dropped_later_total", &job), None, "{text}");

    // POST of another family: `kept` stays.
    let third = Registry::new();
    third.counter("added").increment(7);
    let report = push_once(new().group_push(GroupPush::Update), third.snapshot());
    assert_eq!(report.dropped_total(), 0, "{report}");
    let text = gateway.metrics();
    assert_eq!(sample(&text, "kept_total", &job), Some(5.0));
    assert_eq!(sample(&text, "added_total", &job), Some(7.0));

    // A push that deletes its group on shutdown leaves nothing behind.
    let report = push_once(new().delete_on_shutdown(true), second.snapshot());
    assert_eq!(report.dropped_total(), 0, "{report}");
    assert!(
        report
            .shutdown_request
            .as_deref()
            .is_some_and(|s| s.contains("202") || s.contains("200")),
        "{report:?}"
    );
    let text = gateway.metrics();
    assert_eq!(sample(&text, "kept_total", &job), None, "{text}");
    assert_eq!(sample(&text, "push_time_seconds", &job), None, "{text}");
}

#[test]
fn a_push_the_gateway_refuses_is_counted_as_rejected_and_not_retried() {
    let gateway = Gateway::start();
    let counter = Registry::new();
    counter.counter("shared_name").increment(1);
    let ok = push_once(
        Pushgateway::new(&gateway.url(), "first").unwrap(),
        counter.snapshot(),
    );
    assert_eq!(ok.dropped_total(), 0, "{ok}");
    // The same family name as a gauge in another group is inconsistent: the gateway
    // answers 400 and keeps what it had.
    let gauge = Registry::new();
    gauge.gauge("shared_name_total").set(3.0);
    let refused = push_once(
        Pushgateway::new(&gateway.url(), "second").unwrap(),
        gauge.snapshot(),
    );
    assert_eq!(refused.samples_sent, 0, "{refused}");
    assert_eq!(refused.retries, 0, "a 400 is never retried: {refused}");
    assert!(refused.dropped(DropReason::Rejected) > 0, "{refused}");
    assert_eq!(
        refused.dropped_total(),
        refused.dropped(DropReason::Rejected)
    );
    assert!(
        refused
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("400")),
        "{refused:?}"
    );
    let text = gateway.metrics();
    assert_eq!(
        sample(&text, "shared_name_total", &["job=\"first\""]),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, "shared_name_total", &["job=\"second\""]),
        None
    );
}

#[test]
fn interval_pushes_follow_a_running_registry_and_the_last_one_is_exact() {
    use aureon_telemetry::{Snapshotter, SnapshotterConfig};
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::time::{Duration, Instant};

    let gateway = Gateway::start();
    let registry = Registry::new();
    let blocks = registry.counter("blocks_processed");
    let snapshotter = Snapshotter::spawn(
        &registry,
        SnapshotterConfig {
            interval: Duration::from_millis(50),
            ..SnapshotterConfig::default()
        },
    )
    .unwrap();
    let protocol = Pushgateway::new(&gateway.url(), "aureon_node")
        .unwrap()
        .grouping_label("instance", "node-1")
        .unwrap();
    let pusher = Pusher::spawn(
        protocol,
        snapshotter.reader(),
        PushConfig {
            interval: Duration::from_millis(100),
            ..PushConfig::default()
        },
        None,
    )
    .unwrap();

    // A recorder that counts what it recorded, independently of the registry.
    let stop = AtomicBool::new(false);
    let recorded = AtomicU64::new(0);
    let key = ["job=\"aureon_node\"", "instance=\"node-1\""];
    let seen: Vec<f64> = std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                blocks.increment(1);
                recorded.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_micros(200));
            }
        });
        // While it runs, the gateway's value must rise several times (interval pushes,
        // not only the final one) and never fall.
        let mut seen = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline && seen.iter().filter(|&&v: &&f64| v > 0.0).count() < 5 {
            if let Some(v) = sample(&gateway.metrics(), "blocks_processed_total", &key)
                && seen.last() != Some(&v)
            {
                seen.push(v);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        stop.store(true, Ordering::Relaxed);
        seen
    });
    assert!(
        seen.len() >= 5,
        "the gateway's value did not follow the run: {seen:?}"
    );
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "went backwards: {seen:?}"
    );
    let total = recorded.load(Ordering::Relaxed);
    assert!(
        seen.last().copied().unwrap() <= total as f64,
        "{seen:?} > {total}"
    );

    // The final snapshot, taken after the last record, is what the gateway ends with.
    let report = pusher.shutdown_with(Some(snapshotter.tick()));
    snapshotter.shutdown();
    assert_eq!(report.dropped_total(), 0, "{report}");
    assert!(report.requests_sent >= 5, "{report}");
    assert_eq!(
        sample(&gateway.metrics(), "blocks_processed_total", &key),
        Some(total as f64)
    );
}
