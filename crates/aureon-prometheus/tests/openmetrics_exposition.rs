//! OpenMetrics 1.0 text: parsed by Prometheus' own OpenMetrics parser (through
//! `promtool tsdb create-blocks-from openmetrics`, which fails on any syntax error) and the
//! values it stored compared with independent computations; exemplars on the bucket lines
//! that hold them.

mod common;

use aureon_prometheus::{ExportOptions, Format, HistogramMode, render};
use aureon_telemetry::{HistogramConfig, Registry, Unit};
use common::{Rng, prometheus_ingest_openmetrics, samples};

fn om(registry: &Registry, options: &ExportOptions) -> String {
    String::from_utf8(render(&registry.snapshot(), Format::OpenMetrics, options)).unwrap()
}

#[test]
fn prometheus_ingests_every_series_with_the_right_values() {
    let r = Registry::new();
    r.describe("op_latency", "Operation \"latency\"\nin µs")
        .unwrap();
    let get = r.histogram_with("op_latency", &[("op", "get")]);
    let put = r.histogram_with("op_latency", &[("op", "p\"u\\t")]);
    let size = r.histogram_with_config("msg_size", &[], HistogramConfig::with_unit(Unit::Bytes));
    let mut rng = Rng(3);
    let mut get_values = Vec::new();
    for i in 0..5000u64 {
        let v = rng.log_uniform(100, 1_000_000);
        get_values.push(v);
        if i % 500 == 0 {
            get.record_with_exemplar(v, i);
        } else {
            get.record(v);
        }
        put.record(rng.log_uniform(10, 2000));
        size.record(rng.log_uniform(100, 100_000));
    }
    r.counter_with("aureon_errors_total", &[("op", "get"), ("kind", "Timeout")])
        .increment(4);
    r.counter("blocks").increment(9);
    r.gauge("aureon_process_resident_memory_bytes")
        .set(123456789.0);
    r.gauge("aureon_health_status").set(1.0);
    for mode in [
        HistogramMode::Summary,
        HistogramMode::Histogram,
        HistogramMode::Both,
    ] {
        let options = ExportOptions::builder()
            .histogram_mode(mode)
            .const_label("node", "a")
            .timestamps(true)
            .build()
            .unwrap();
        let text = om(&r, &options);
        assert!(text.ends_with("# EOF\n"));
        let stored = prometheus_ingest_openmetrics(text.as_bytes());
        // Everything we wrote, Prometheus stored with the same value (NaN aside).
        let written = samples(&text);
        assert_eq!(stored.len(), written.len(), "{text}");
        for (series, v) in &written {
            let got = stored
                .get(series)
                .unwrap_or_else(|| panic!("{series} not stored"));
            assert!(
                got == v || (got.is_nan() && v.is_nan()),
                "{series}: {got} vs {v}"
            );
        }
        // And the values are right, computed here from the recorded values.
        let sum: u64 = get_values.iter().sum();
        let count = get_values.len() as f64;
        let sum_key = if mode == HistogramMode::Both {
            "op_latency_quantiles_seconds_sum{node=\"a\",op=\"get\"}"
        } else {
            "op_latency_seconds_sum{node=\"a\",op=\"get\"}"
        };
        assert_eq!(stored[sum_key], sum as f64 / 1e6);
        assert_eq!(
            stored["aureon_errors_total{kind=\"Timeout\",node=\"a\",op=\"get\"}"],
            4.0
        );
        assert_eq!(stored["blocks_total{node=\"a\"}"], 9.0);
        if mode.has_histogram() {
            assert_eq!(
                stored["op_latency_seconds_bucket{le=\"+Inf\",node=\"a\",op=\"get\"}"],
                count
            );
            let hundred_ms = get_values.iter().filter(|&&v| v <= 100_000).count() as f64;
            let got = stored["op_latency_seconds_bucket{le=\"0.1\",node=\"a\",op=\"get\"}"];
            // Exact up to the one HDR bin (0.1 %) below the bound.
            let lower = get_values.iter().filter(|&&v| v <= 99_900).count() as f64;
            assert!(
                got <= hundred_ms && got >= lower,
                "{got} not in [{lower}, {hundred_ms}]"
            );
        }
    }
}

#[test]
fn families_units_and_counters_follow_openmetrics() {
    let r = Registry::new();
    r.histogram("lat").record(10);
    r.counter("ops_total").increment(1);
    r.gauge("mem_bytes").set(1.0);
    let text = om(
        &r,
        &ExportOptions::builder()
            .histogram_mode(HistogramMode::Histogram)
            .build()
            .unwrap(),
    );
    let lines: Vec<&str> = text.lines().collect();
    for expected in [
        "# TYPE lat_seconds histogram",
        "# UNIT lat_seconds seconds",
        "# TYPE ops counter",
        "ops_total 1",
        "# TYPE mem_bytes gauge",
        "# UNIT mem_bytes bytes",
    ] {
        assert!(lines.contains(&expected), "missing {expected:?}:\n{text}");
    }
    assert_eq!(lines.last(), Some(&"# EOF"));
    assert_eq!(lines.iter().filter(|l| **l == "# EOF").count(), 1);
}

#[test]
fn exemplars_sit_on_the_bucket_that_holds_their_value() {
    let r = Registry::new();
    let h = r.histogram("lat");
    for v in [100, 200, 300] {
        h.record(v);
    }
    // Slowest values with ids: 4 ms (id 7), 40 ms (id 8), 20 s (id 9).
    h.record_with_exemplar(4_000, 7);
    h.record_with_exemplar(40_000, 8);
    h.record_with_exemplar(20_000_000, 9);
    let options = ExportOptions::builder()
        .histogram_mode(HistogramMode::Histogram)
        .buckets([0.001, 0.005, 0.05])
        .exemplar_label("block")
        .build()
        .unwrap();
    let text = om(&r, &options);
    let line = |le: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("lat_seconds_bucket{{le=\"{le}\"}}")))
            .unwrap_or_else(|| panic!("no bucket {le}:\n{text}"))
            .to_owned()
    };
    assert_eq!(line("0.001"), "lat_seconds_bucket{le=\"0.001\"} 3");
    assert_eq!(
        line("0.005"),
        "lat_seconds_bucket{le=\"0.005\"} 4 # {block=\"7\"} 0.004"
    );
    assert_eq!(
        line("0.05"),
        "lat_seconds_bucket{le=\"0.05\"} 5 # {block=\"8\"} 0.04"
    );
    assert_eq!(
        line("+Inf"),
        "lat_seconds_bucket{le=\"+Inf\"} 6 # {block=\"9\"} 20.0"
    );
    // Prometheus' parser accepts the exemplars (with timestamps on, for the backfill).
    let with_ts = ExportOptions::builder()
        .histogram_mode(HistogramMode::Histogram)
        .buckets([0.001, 0.005, 0.05])
        .timestamps(true)
        .build()
        .unwrap();
    prometheus_ingest_openmetrics(om(&r, &with_ts).as_bytes());
    // Off means off; summaries never carry them; the 0.0.4 format never does.
    let off = ExportOptions::builder()
        .histogram_mode(HistogramMode::Histogram)
        .exemplars(false)
        .build()
        .unwrap();
    assert!(!om(&r, &off).contains(" # {"));
    assert!(!om(&r, &ExportOptions::default()).contains(" # {"));
    let text004 =
        String::from_utf8(render(&r.snapshot(), Format::PrometheusText, &options)).unwrap();
    assert!(!text004.contains(" # {"));
}
