//! OpenMetrics `_created`: every counter, histogram and summary carries the time its series
//! was created, and a series that idle expiry freed and that came back from zero carries a
//! new one, so a scraper sees a reset. Times are checked against the wall clock read by the
//! test around each registration, never against the exporter's own output.

use aureon_prometheus::{ExportOptions, Format, HistogramMode, render};
use aureon_telemetry::Registry;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// The `_created` values (in ms) of the lines starting with `series` (name and labels).
fn created_of(text: &str, series: &str) -> Vec<u64> {
    text.lines()
        .filter_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| (v.parse::<f64>().expect("a number") * 1000.0).round() as u64)
        .collect()
}

fn openmetrics(r: &Registry, options: &ExportOptions) -> String {
    String::from_utf8(render(&r.snapshot(), Format::OpenMetrics, options)).unwrap()
}

#[test]
fn counters_histograms_and_summaries_carry_their_creation_time_in_openmetrics_only() {
    let r = Registry::new();
    let before = now_ms();
    r.counter_with("jobs", &[("queue", "a")]).increment(3);
    r.histogram("latency").record(250);
    r.gauge("depth").set(2.0);
    let after = now_ms();
    let options = ExportOptions::builder()
        .histogram_mode(HistogramMode::Both)
        .build()
        .unwrap();
    let text = openmetrics(&r, &options);
    for series in [
        "jobs_created{queue=\"a\"}",
        "latency_seconds_created",
        "latency_quantiles_seconds_created",
    ] {
        let created = created_of(&text, series);
        assert_eq!(created.len(), 1, "{series} in\n{text}");
        // Millisecond precision: the exposition truncates, the clock readings bracket it.
        assert!(
            (before..=after).contains(&created[0]),
            "{series}: {} not in {before}..={after}",
            created[0]
        );
    }
    assert!(!text.contains("depth_created"), "gauges have no _created");
    let plain = String::from_utf8(render(&r.snapshot(), Format::PrometheusText, &options)).unwrap();
    assert!(!plain.contains("_created"), "the 0.0.4 format has none");
    let off = ExportOptions::builder()
        .histogram_mode(HistogramMode::Both)
        .created(false)
        .build()
        .unwrap();
    assert!(!openmetrics(&r, &off).contains("_created"));
}

#[test]
fn a_series_freed_by_idle_expiry_comes_back_with_a_new_creation_time_and_from_zero() {
    let r = Registry::builder().idle_timeout(Duration::ZERO).build();
    let options = ExportOptions::default();
    let c = r.counter("peer_messages");
    c.increment(5);
    let text = openmetrics(&r, &options);
    assert!(text.contains("peer_messages_total 5\n"), "{text}");
    let first = created_of(&text, "peer_messages_created");
    assert_eq!(first.len(), 1);
    drop(c);
    // Unchanged: expired and, without handles, freed.
    assert!(!openmetrics(&r, &options).contains("peer_messages"));
    assert!(r.is_empty());
    std::thread::sleep(Duration::from_millis(5));
    let before = now_ms();
    r.counter("peer_messages").increment(2);
    let text = openmetrics(&r, &options);
    assert!(
        text.contains("peer_messages_total 2\n"),
        "from zero: {text}"
    );
    let second = created_of(&text, "peer_messages_created");
    assert_eq!(second.len(), 1);
    assert!(
        second[0] >= before && second[0] > first[0],
        "{first:?} then {second:?}"
    );
}
