//! The Prometheus 0.0.4 text format: validated by the real `promtool check metrics` (no
//! lint finding allowed), values compared with independent references (sorted arrays, the
//! `hdrhistogram` crate, direct counts), escaping, naming and clash handling.

mod common;

use aureon_prometheus::{ExportOptions, Format, HistogramMode, Renderer, render};
use aureon_telemetry::{HistogramConfig, Registry, Unit};
use common::{Rng, assert_promtool_clean, nearest_rank, promtool_check_metrics, samples};

fn text(registry: &Registry, options: &ExportOptions) -> String {
    String::from_utf8(render(
        &registry.snapshot(),
        Format::PrometheusText,
        options,
    ))
    .unwrap()
}

/// A registry with every kind, unit and mode, awkward label values and help texts.
fn varied_registry() -> Registry {
    let r = Registry::new();
    r.describe(
        "rpc_latency",
        "RPC latency, \"quoted\" and back\\slashed\nover two lines",
    )
    .unwrap();
    let lat = r.histogram_with("rpc_latency", &[("op", "get")]);
    let lat2 = r.histogram_with("rpc_latency", &[("op", "we\"ird\\op\nname")]);
    let ns = r.histogram_with_config(
        "gc_pause",
        &[],
        HistogramConfig::with_unit(Unit::Nanoseconds),
    );
    let bytes =
        r.histogram_with_config("payload_size", &[], HistogramConfig::with_unit(Unit::Bytes));
    let plain = r.histogram_with_config("batch_len", &[], HistogramConfig::with_unit(Unit::None));
    let secs = r.histogram_with_config(
        "job_duration_seconds",
        &[],
        HistogramConfig::with_unit(Unit::Seconds),
    );
    let mut rng = Rng(7);
    for _ in 0..2000 {
        lat.record(rng.log_uniform(50, 200_000));
        lat2.record(rng.log_uniform(10, 5_000));
        ns.record(rng.log_uniform(1_000, 50_000_000));
        bytes.record(rng.log_uniform(10, 10_000_000));
        plain.record(rng.log_uniform(1, 5000));
        secs.record(rng.log_uniform(1, 100));
    }
    r.histogram("never_recorded");
    r.counter("blocks").increment(12);
    r.counter_with("requests_total", &[("code", "200")])
        .increment(7);
    r.counter_with("requests_total", &[("code", "500")])
        .increment(1);
    r.gauge("temperature").set(-3.25);
    r.gauge("not_a_number").set(f64::NAN);
    r.gauge("infinite").set(f64::INFINITY);
    r.gauge("queue_bytes").set(1e9);
    r
}

#[test]
fn every_mode_passes_promtool_without_findings() {
    let r = varied_registry();
    for mode in [
        HistogramMode::Summary,
        HistogramMode::Histogram,
        HistogramMode::Both,
    ] {
        for options in [
            ExportOptions::builder()
                .histogram_mode(mode)
                .build()
                .unwrap(),
            ExportOptions::builder()
                .histogram_mode(mode)
                .namespace("aureon")
                .const_label("node", "n\"1\"")
                .quantiles([0.0, 0.25, 0.5, 1.0])
                .buckets([0.001, 0.01, 0.1, 1.0])
                .timestamps(true)
                .build()
                .unwrap(),
        ] {
            assert_promtool_clean(text(&r, &options).as_bytes());
        }
    }
}

#[test]
fn an_empty_registry_still_renders_valid_output() {
    let out = text(&Registry::new(), &ExportOptions::default());
    assert_promtool_clean(out.as_bytes());
    let s = samples(&out);
    assert_eq!(s["aureon_telemetry_registration_errors_total"], 0.0);
    assert_eq!(s["aureon_telemetry_export_conflicts"], 0.0);
}

/// The seed's series names (`…_avg_us`, `…_ops_sec`) carry abbreviated units, which
/// promtool's linter flags. They are exported as the registry names them (dashboards written
/// against the seed need them); this pins that they are the *only* findings.
#[test]
fn seed_series_trip_only_the_abbreviated_unit_lint() {
    let r = Registry::new();
    r.gauge("aureon_latency_avg_us").set(1200.0);
    r.gauge("aureon_error_rate").set(0.0097);
    r.gauge("aureon_throughput_ops_sec").set(150.0);
    r.gauge("aureon_health_status").set(0.0);
    let out = text(&r, &ExportOptions::default());
    let (ok, findings) = promtool_check_metrics(out.as_bytes());
    assert!(!ok);
    let mut lines: Vec<&str> = findings.lines().filter(|l| !l.trim().is_empty()).collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "aureon_latency_avg_us metric names should not contain abbreviated units",
            "aureon_throughput_ops_sec metric names should not contain abbreviated units",
        ],
        "{findings}"
    );
}

#[test]
fn summary_quantiles_match_a_sorted_array_and_hdrhistogram() {
    let r = Registry::new();
    let h = r.histogram_with("op_latency", &[("op", "x")]);
    let mut rng = Rng(42);
    let mut values: Vec<u64> = (0..20_000)
        .map(|_| rng.log_uniform(20, 3_000_000))
        .collect();
    let mut reference =
        hdrhistogram::Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
    for &v in &values {
        h.record(v);
        reference.record(v).unwrap();
    }
    values.sort_unstable();
    let quantiles = [0.0, 0.1, 0.5, 0.9, 0.95, 0.99, 0.999, 0.9999, 1.0];
    let options = ExportOptions::builder()
        .quantiles(quantiles)
        .build()
        .unwrap();
    let s = samples(&text(&r, &options));
    let max = *values.last().unwrap();
    for q in quantiles {
        let key = format!("op_latency_seconds{{op=\"x\",quantile=\"{}\"}}", label(q));
        let got_us = (s[&key] * 1e6).round() as u64;
        // HdrHistogram's answer (highest value equivalent to the rank's bin), which the
        // core limits to the exact maximum.
        let hdr = if q == 0.0 {
            reference.lowest_equivalent(reference.value_at_quantile(q))
        } else {
            reference.value_at_quantile(q)
        };
        assert_eq!(got_us, hdr.min(max), "q={q}");
        // And within HDR's precision of the exact nearest-rank value.
        let exact = nearest_rank(&values, q);
        assert!(
            got_us >= reference.lowest_equivalent(exact)
                && got_us <= reference.highest_equivalent(exact),
            "q={q}: {got_us} vs exact {exact}"
        );
        assert!(
            (got_us as f64 - exact as f64).abs() <= exact as f64 / 1000.0,
            "q={q}: {got_us} vs exact {exact}"
        );
    }
    let sum: u64 = values.iter().sum();
    assert_eq!(s["op_latency_seconds_sum{op=\"x\"}"], sum as f64 / 1e6);
    assert_eq!(s["op_latency_seconds_count{op=\"x\"}"], values.len() as f64);
}

fn label(q: f64) -> String {
    // The spelling Prometheus gives these numbers (Go's %g plus ".0"), written out by hand.
    match q {
        0.0 => "0.0".into(),
        1.0 => "1.0".into(),
        q => format!("{q}"),
    }
}

#[test]
fn classic_buckets_match_direct_counts() {
    let r = Registry::new();
    let h = r.histogram("op_latency");
    let mut rng = Rng(9);
    let values: Vec<u64> = (0..50_000)
        .map(|_| rng.log_uniform(1, 20_000_000))
        .collect();
    let reference = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
    for &v in &values {
        h.record(v);
    }
    let bounds = [
        0.0001, 0.000333, 0.001, 0.0025, 0.005, 0.0123, 0.1, 1.0, 7.5,
    ];
    let options = ExportOptions::builder()
        .histogram_mode(HistogramMode::Histogram)
        .buckets(bounds)
        .build()
        .unwrap();
    let out = text(&r, &options);
    let s = samples(&out);
    let le_labels = [
        "0.0001", "0.000333", "0.001", "0.0025", "0.005", "0.0123", "0.1", "1.0", "7.5",
    ];
    let mut previous = 0.0;
    for (bound, le) in bounds.iter().zip(le_labels) {
        let got = s[&format!("op_latency_seconds_bucket{{le=\"{le}\"}}")];
        let le_us = (bound * 1e6).round() as u64;
        // Whole HDR bins: a value counts when its bin ends at or below the bound...
        let by_bins = values
            .iter()
            .filter(|&&v| reference.highest_equivalent(v) <= le_us)
            .count();
        assert_eq!(got, by_bins as f64, "le={le}");
        // ...which differs from the exact count only by the values of the one bin that
        // straddles the bound.
        let exact = values.iter().filter(|&&v| v <= le_us).count();
        let straddling = values
            .iter()
            .filter(|&&v| v <= le_us && reference.highest_equivalent(v) > le_us)
            .count();
        assert_eq!(exact - by_bins, straddling);
        assert!(
            straddling as f64 <= exact as f64 * 0.01 + 5.0,
            "le={le}: {straddling} of {exact}"
        );
        assert!(got >= previous);
        previous = got;
    }
    assert_eq!(
        s["op_latency_seconds_bucket{le=\"+Inf\"}"],
        values.len() as f64
    );
    assert_eq!(s["op_latency_seconds_count"], values.len() as f64);
    assert_promtool_clean(out.as_bytes());
}

#[test]
fn names_get_units_and_total_once() {
    let r = Registry::new();
    r.histogram("a_latency").record(1);
    r.histogram_with_config(
        "b_duration_seconds",
        &[],
        HistogramConfig::with_unit(Unit::Seconds),
    )
    .record(1);
    r.histogram_with_config("c_size", &[], HistogramConfig::with_unit(Unit::Bytes))
        .record(1);
    r.histogram_with_config("d_items", &[], HistogramConfig::with_unit(Unit::None))
        .record(1);
    r.counter("e_events").increment(1);
    r.counter("f_events_total").increment(1);
    let options = ExportOptions::builder()
        .histogram_mode(HistogramMode::Both)
        .build()
        .unwrap();
    let out = text(&r, &options);
    for family in [
        "# TYPE a_latency_seconds histogram",
        "# TYPE a_latency_quantiles_seconds summary",
        "# TYPE b_duration_seconds histogram",
        "# TYPE b_duration_quantiles_seconds summary",
        "# TYPE c_size_bytes histogram",
        "# TYPE d_items histogram",
        "# TYPE d_items_quantiles summary",
        "# TYPE e_events_total counter",
        "# TYPE f_events_total counter",
    ] {
        assert!(
            out.lines().any(|l| l == family),
            "missing {family:?} in\n{out}"
        );
    }
    assert!(!out.contains("_total_total") && !out.contains("seconds_seconds"));
    // Naming helpers agree with the output.
    assert_eq!(options.counter_name("f_events_total"), "f_events_total");
    assert_eq!(
        options
            .histogram_name("a_latency", Unit::Microseconds)
            .unwrap(),
        "a_latency_seconds"
    );
    assert_eq!(
        options
            .summary_name("a_latency", Unit::Microseconds)
            .unwrap(),
        "a_latency_quantiles_seconds"
    );
    assert_promtool_clean(out.as_bytes());
}

#[test]
fn units_are_converted_to_seconds_and_bytes() {
    let r = Registry::new();
    r.histogram_with_config("t_ns", &[], HistogramConfig::with_unit(Unit::Nanoseconds))
        .record(1_500_000);
    r.histogram_with_config("t_ms", &[], HistogramConfig::with_unit(Unit::Milliseconds))
        .record(250);
    r.histogram("t_us").record(500_000);
    r.histogram_with_config("sz", &[], HistogramConfig::with_unit(Unit::Bytes))
        .record(4096);
    let s = samples(&text(&r, &ExportOptions::default()));
    assert_eq!(s["t_ns_seconds_sum"], 0.0015);
    assert_eq!(s["t_ms_seconds_sum"], 0.25);
    assert_eq!(s["t_us_seconds_sum"], 0.5);
    assert_eq!(s["t_us_seconds{quantile=\"0.5\"}"], 0.5);
    assert_eq!(s["sz_bytes_sum"], 4096.0);
}

#[test]
fn label_values_and_help_are_escaped() {
    let r = Registry::new();
    r.describe("odd", "help with \\ and \"quotes\"\nand a newline")
        .unwrap();
    r.counter_with("odd", &[("path", "C:\\dir\\\"file\"\nline2")])
        .increment(3);
    let out = text(&r, &ExportOptions::default());
    assert!(
        out.contains("# HELP odd_total help with \\\\ and \"quotes\"\\nand a newline\n"),
        "{out}"
    );
    assert!(
        out.contains("odd_total{path=\"C:\\\\dir\\\\\\\"file\\\"\\nline2\"} 3\n"),
        "{out}"
    );
    let s = samples(&out);
    // The parser in `common` unescapes; the round trip gives the original value back.
    let key = common::series_key(
        "odd_total",
        &[("path".into(), "C:\\dir\\\"file\"\nline2".into())],
    );
    assert_eq!(s[&key], 3.0);
    assert_promtool_clean(out.as_bytes());
}

#[test]
fn constant_labels_merge_and_the_series_own_label_wins() {
    let r = Registry::new();
    r.counter_with("c", &[("zone", "own"), ("b", "1")])
        .increment(1);
    let options = ExportOptions::builder()
        .const_label("zone", "const")
        .const_label("a", "x")
        .build()
        .unwrap();
    let out = text(&r, &options);
    assert!(
        out.contains("c_total{a=\"x\",b=\"1\",zone=\"own\"} 1\n"),
        "{out}"
    );
    assert_promtool_clean(out.as_bytes());
}

#[test]
fn clashing_names_are_left_out_and_counted() {
    let r = Registry::new();
    // `x` (µs histogram) is exported as `x_seconds`: the gauge `x_seconds` clashes.
    r.histogram("x").record(5);
    r.gauge("x_seconds").set(1.0);
    // Counters `y` and `y_total` are both `y_total`.
    r.counter("y").increment(1);
    r.counter("y_total").increment(2);
    // A gauge named like a histogram's series.
    r.histogram_with_config("z", &[], HistogramConfig::with_unit(Unit::None))
        .record(1);
    r.gauge("z_count").set(9.0);
    // A histogram with a label the formats reserve.
    r.histogram_with("w", &[("quantile", "x")]).record(1);
    r.histogram_with("w", &[("op", "fine")]).record(1);
    let out = text(&r, &ExportOptions::default());
    let s = samples(&out);
    assert_eq!(s["aureon_telemetry_export_conflicts"], 4.0, "{out}");
    assert_eq!(s["y_total"], 1.0, "the first family keeps the name");
    assert!(!s.contains_key("x_seconds"));
    assert!(!s.contains_key("z_count") || s["z_count"] == 1.0);
    assert_eq!(s["w_seconds_count{op=\"fine\"}"], 1.0);
    assert_promtool_clean(out.as_bytes());
}

#[test]
fn refused_registrations_are_exported_as_a_counter() {
    let r = Registry::new();
    r.counter("bad-name");
    r.counter("ok").increment(1);
    r.gauge("ok");
    let s = samples(&text(&r, &ExportOptions::default()));
    assert_eq!(s["aureon_telemetry_registration_errors_total"], 2.0);
    let none = ExportOptions::builder()
        .internal_prefix(None)
        .build()
        .unwrap();
    assert!(!text(&r, &none).contains("aureon_telemetry"));
}

#[test]
fn output_is_deterministic_and_buffers_are_reused() {
    let r = varied_registry();
    let snapshot = r.snapshot();
    let options = ExportOptions::builder()
        .histogram_mode(HistogramMode::Both)
        .build()
        .unwrap();
    let once = render(&snapshot, Format::PrometheusText, &options);
    let mut renderer = Renderer::new();
    let mut out = Vec::new();
    for _ in 0..3 {
        out.clear();
        renderer.render_into(&snapshot, Format::PrometheusText, &options, &mut out);
        assert_eq!(out, once);
    }
    let capacity = out.capacity();
    out.clear();
    renderer.render_into(&snapshot, Format::PrometheusText, &options, &mut out);
    assert_eq!(
        out.capacity(),
        capacity,
        "a warm render does not grow the buffer"
    );
}

#[test]
fn empty_summaries_report_nan_not_zero() {
    let r = Registry::new();
    r.histogram("idle");
    let s = samples(&text(&r, &ExportOptions::default()));
    assert!(s["idle_seconds{quantile=\"0.5\"}"].is_nan());
    assert_eq!(s["idle_seconds_count"], 0.0);
    assert_eq!(s["idle_seconds_sum"], 0.0);
}
