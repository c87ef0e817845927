//! The protobuf exposition decoded by an independent decoder (`prost`, with the messages of
//! Prometheus' `metrics.proto` declared here), its native buckets checked against buckets
//! computed here from the raw values, and its quantile accuracy against the documented bound.

mod common;

use aureon_prometheus::{ExportOptions, Format, HistogramMode, render};
use aureon_telemetry::{HistogramConfig, Registry, Unit};
use common::{Rng, nearest_rank, samples};
use prost::Message;

#[derive(Clone, PartialEq, Message)]
struct MetricFamily {
    #[prost(string, optional, tag = "1")]
    name: Option<String>,
    #[prost(string, optional, tag = "2")]
    help: Option<String>,
    #[prost(int32, optional, tag = "3")]
    r#type: Option<i32>,
    #[prost(message, repeated, tag = "4")]
    metric: Vec<Metric>,
}

#[derive(Clone, PartialEq, Message)]
struct Metric {
    #[prost(message, repeated, tag = "1")]
    label: Vec<LabelPair>,
    #[prost(message, optional, tag = "2")]
    gauge: Option<Gauge>,
    #[prost(message, optional, tag = "3")]
    counter: Option<Counter>,
    #[prost(message, optional, tag = "4")]
    summary: Option<Summary>,
    #[prost(int64, optional, tag = "6")]
    timestamp_ms: Option<i64>,
    #[prost(message, optional, tag = "7")]
    histogram: Option<Histogram>,
}

#[derive(Clone, PartialEq, Message)]
struct LabelPair {
    #[prost(string, optional, tag = "1")]
    name: Option<String>,
    #[prost(string, optional, tag = "2")]
    value: Option<String>,
}

#[derive(Clone, PartialEq, Message)]
struct Gauge {
    #[prost(double, optional, tag = "1")]
    value: Option<f64>,
}

#[derive(Clone, PartialEq, Message)]
struct Counter {
    #[prost(double, optional, tag = "1")]
    value: Option<f64>,
}

#[derive(Clone, PartialEq, Message)]
struct Quantile {
    #[prost(double, optional, tag = "1")]
    quantile: Option<f64>,
    #[prost(double, optional, tag = "2")]
    value: Option<f64>,
}

#[derive(Clone, PartialEq, Message)]
struct Summary {
    #[prost(uint64, optional, tag = "1")]
    sample_count: Option<u64>,
    #[prost(double, optional, tag = "2")]
    sample_sum: Option<f64>,
    #[prost(message, repeated, tag = "3")]
    quantile: Vec<Quantile>,
}

#[derive(Clone, PartialEq, Message)]
struct Histogram {
    #[prost(uint64, optional, tag = "1")]
    sample_count: Option<u64>,
    #[prost(double, optional, tag = "2")]
    sample_sum: Option<f64>,
    #[prost(message, repeated, tag = "3")]
    bucket: Vec<Bucket>,
    #[prost(sint32, optional, tag = "5")]
    schema: Option<i32>,
    #[prost(double, optional, tag = "6")]
    zero_threshold: Option<f64>,
    #[prost(uint64, optional, tag = "7")]
    zero_count: Option<u64>,
    #[prost(message, repeated, tag = "9")]
    negative_span: Vec<BucketSpan>,
    #[prost(sint64, repeated, packed = "false", tag = "10")]
    negative_delta: Vec<i64>,
    #[prost(message, repeated, tag = "12")]
    positive_span: Vec<BucketSpan>,
    #[prost(sint64, repeated, packed = "false", tag = "13")]
    positive_delta: Vec<i64>,
}

#[derive(Clone, PartialEq, Message)]
struct Bucket {
    #[prost(uint64, optional, tag = "1")]
    cumulative_count: Option<u64>,
    #[prost(double, optional, tag = "2")]
    upper_bound: Option<f64>,
    #[prost(message, optional, tag = "3")]
    exemplar: Option<Exemplar>,
}

#[derive(Clone, PartialEq, Message)]
struct BucketSpan {
    #[prost(sint32, optional, tag = "1")]
    offset: Option<i32>,
    #[prost(uint32, optional, tag = "2")]
    length: Option<u32>,
}

#[derive(Clone, PartialEq, Message)]
struct Exemplar {
    #[prost(message, repeated, tag = "1")]
    label: Vec<LabelPair>,
    #[prost(double, optional, tag = "2")]
    value: Option<f64>,
}

const COUNTER: i32 = 0;
const GAUGE: i32 = 1;
const SUMMARY: i32 = 2;
const HISTOGRAM: i32 = 4;

fn decode(mut bytes: &[u8]) -> Vec<MetricFamily> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        out.push(
            MetricFamily::decode_length_delimited(&mut bytes)
                .expect("a valid delimited MetricFamily"),
        );
    }
    out
}

fn family<'a>(families: &'a [MetricFamily], name: &str) -> &'a MetricFamily {
    families
        .iter()
        .find(|f| f.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no family {name}"))
}

/// `(index, count)` of the positive native buckets, expanded from spans and deltas.
fn expand(h: &Histogram) -> Vec<(i32, u64)> {
    let mut out = Vec::new();
    let mut deltas = h.positive_delta.iter();
    let (mut index, mut count) = (0i32, 0i64);
    // The first span's offset is the first index; later ones the gap after the previous span.
    for span in &h.positive_span {
        index += span.offset.unwrap_or(0);
        for _ in 0..span.length.unwrap_or(0) {
            count += deltas.next().expect("a delta per bucket");
            assert!(count >= 0, "negative bucket count");
            out.push((index, count as u64));
            index += 1;
        }
    }
    assert!(deltas.next().is_none(), "more deltas than buckets");
    out
}

/// The native bucket of `x > 0` at `schema`, from the definition `(b^(k-1), b^k]`,
/// `b = 2^(2^-schema)`.
fn reference_index(x: f64, schema: i32) -> i32 {
    (x.log2() * 2f64.powi(schema)).ceil() as i32
}

fn latency_registry(seed: u64, n: usize) -> (Registry, Vec<u64>) {
    let r = Registry::new();
    let h = r.histogram_with("op_latency", &[("op", "get")]);
    let mut rng = Rng(seed);
    let values: Vec<u64> = (0..n).map(|_| rng.log_uniform(20, 5_000_000)).collect();
    for &v in &values {
        h.record(v);
    }
    (r, values)
}

#[test]
fn native_buckets_equal_buckets_computed_from_the_raw_values() {
    let (r, values) = latency_registry(11, 30_000);
    let reference = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
    for schema in [-2i8, 0, 3, 5, 8] {
        let options = ExportOptions::builder()
            .histogram_mode(HistogramMode::Histogram)
            .native_schema(schema)
            .native_max_buckets(100_000)
            .build()
            .unwrap();
        let families = decode(&render(&r.snapshot(), Format::Protobuf, &options));
        let f = family(&families, "op_latency_seconds");
        assert_eq!(f.r#type, Some(HISTOGRAM));
        let h = f.metric[0].histogram.as_ref().unwrap();
        assert_eq!(h.schema, Some(i32::from(schema)));
        assert!(
            h.zero_threshold.unwrap() > 0.0,
            "a zero threshold marks the histogram native"
        );
        assert_eq!(h.zero_count, Some(0));
        let got = expand(h);
        // Independently: each value is moved to the top of its HDR bin (hdrhistogram's
        // highest_equivalent), converted to seconds and placed by the bucket definition.
        let mut want = std::collections::BTreeMap::<i32, u64>::new();
        for &v in &values {
            let x = reference.highest_equivalent(v) as f64 / 1e6;
            *want
                .entry(reference_index(x, i32::from(schema)))
                .or_default() += 1;
        }
        let got_nonzero: Vec<(i32, u64)> = got.iter().copied().filter(|&(_, c)| c > 0).collect();
        assert_eq!(
            got_nonzero,
            want.into_iter().collect::<Vec<_>>(),
            "schema {schema}"
        );
        let total: u64 = got.iter().map(|b| b.1).sum::<u64>() + h.zero_count.unwrap();
        assert_eq!(total, values.len() as u64);
        assert_eq!(h.sample_count, Some(values.len() as u64));
        assert_eq!(h.sample_sum, Some(values.iter().sum::<u64>() as f64 / 1e6));
    }
}

/// Prometheus 2.42's `histogram_quantile` on a native histogram: find the bucket holding
/// rank `q * count` and interpolate linearly inside it.
fn native_quantile(h: &Histogram, q: f64) -> f64 {
    let schema = h.schema.unwrap();
    let base = 2f64.powf(2f64.powi(-schema));
    let count = h.sample_count.unwrap() as f64;
    let rank = q * count;
    let mut seen = h.zero_count.unwrap() as f64;
    if rank <= seen {
        return h.zero_threshold.unwrap();
    }
    for (k, c) in expand(h) {
        let c = c as f64;
        if c > 0.0 && seen + c >= rank {
            let (lo, hi) = (base.powi(k - 1), base.powi(k));
            return lo + (hi - lo) * (rank - seen) / c;
        }
        seen += c;
    }
    f64::NAN
}

#[test]
fn native_quantiles_stay_within_the_documented_error_bound() {
    let (r, mut values) = latency_registry(5, 50_000);
    values.sort_unstable();
    let delta = 1.0 / 1024.0; // HDR relative bin width at 3 significant figures.
    for schema in [0i8, 3, 8] {
        let options = ExportOptions::builder()
            .histogram_mode(HistogramMode::Histogram)
            .native_schema(schema)
            .native_max_buckets(100_000)
            .build()
            .unwrap();
        let families = decode(&render(&r.snapshot(), Format::Protobuf, &options));
        let h = family(&families, "op_latency_seconds").metric[0]
            .histogram
            .clone()
            .unwrap();
        let b = 2f64.powf(2f64.powi(-i32::from(schema)));
        let bound = b * (1.0 + delta) - 1.0;
        for q in [0.5, 0.9, 0.99, 0.999] {
            let exact = nearest_rank(&values, q) as f64 / 1e6;
            let est = native_quantile(&h, q);
            let rel = (est - exact).abs() / exact;
            assert!(
                rel <= bound,
                "schema {schema} q {q}: {est} vs exact {exact}: {rel} > {bound}"
            );
        }
    }
}

#[test]
fn bucket_limit_lowers_the_schema_without_losing_counts() {
    let (r, values) = latency_registry(8, 10_000);
    let options = ExportOptions::builder()
        .histogram_mode(HistogramMode::Histogram)
        .native_schema(8)
        .native_max_buckets(20)
        .build()
        .unwrap();
    let families = decode(&render(&r.snapshot(), Format::Protobuf, &options));
    let h = family(&families, "op_latency_seconds").metric[0]
        .histogram
        .clone()
        .unwrap();
    let buckets = expand(&h);
    assert!(buckets.iter().filter(|b| b.1 > 0).count() <= 20);
    assert!(h.schema.unwrap() < 8);
    assert_eq!(
        buckets.iter().map(|b| b.1).sum::<u64>(),
        values.len() as u64
    );
}

#[test]
fn zeros_go_to_the_zero_bucket() {
    let r = Registry::new();
    let h = r.histogram_with_config("q", &[], HistogramConfig::with_unit(Unit::None));
    h.record_n(0, 5);
    h.record_n(3, 2);
    let coarse = r.histogram_with_config(
        "c",
        &[],
        HistogramConfig {
            lowest_discernible: 1000,
            ..HistogramConfig::with_unit(Unit::None)
        },
    );
    coarse.record_n(200, 4); // below the first HDR bin's top (511): zero bucket
    coarse.record_n(5000, 1);
    let options = ExportOptions::builder()
        .histogram_mode(HistogramMode::Histogram)
        .build()
        .unwrap();
    let families = decode(&render(&r.snapshot(), Format::Protobuf, &options));
    let q = family(&families, "q").metric[0].histogram.clone().unwrap();
    assert_eq!(q.zero_count, Some(5));
    assert_eq!(expand(&q).iter().map(|b| b.1).sum::<u64>(), 2);
    let c = family(&families, "c").metric[0].histogram.clone().unwrap();
    assert_eq!(c.zero_count, Some(4));
    assert_eq!(c.zero_threshold, Some(511.0));
    assert_eq!(expand(&c).iter().map(|b| b.1).sum::<u64>(), 1);
}

#[test]
fn every_family_agrees_with_the_text_format() {
    let (r, _) = latency_registry(2, 5000);
    r.histogram_with("op_latency", &[("op", "put")])
        .record_with_exemplar(30_000, 77);
    r.counter_with("aureon_errors_total", &[("op", "get"), ("kind", "Timeout")])
        .increment(3);
    r.gauge("aureon_health_status").set(2.0);
    r.describe("aureon_health_status", "0 healthy, 1 degraded, 2 unhealthy")
        .unwrap();
    let options = ExportOptions::builder()
        .histogram_mode(HistogramMode::Both)
        .const_label("node", "n1")
        .timestamps(true)
        .build()
        .unwrap();
    let snapshot = r.snapshot();
    let families = decode(&render(&snapshot, Format::Protobuf, &options));
    let text =
        samples(&String::from_utf8(render(&snapshot, Format::PrometheusText, &options)).unwrap());

    let key = |name: &str, labels: &[LabelPair], extra: Option<(&str, String)>| {
        let mut l: Vec<(String, String)> = labels
            .iter()
            .map(|p| (p.name.clone().unwrap(), p.value.clone().unwrap()))
            .collect();
        l.extend(extra.map(|(k, v)| (k.to_owned(), v)));
        common::series_key(name, &l)
    };
    let mut compared = 0;
    for f in &families {
        let name = f.name.as_deref().unwrap();
        assert!(f.help.as_deref().is_some_and(|h| !h.is_empty()));
        for m in &f.metric {
            assert!(m.timestamp_ms.is_some());
            assert!(m.label.iter().any(|l| l.name.as_deref() == Some("node")));
            match f.r#type.unwrap() {
                COUNTER => {
                    assert_eq!(
                        text[&key(name, &m.label, None)],
                        m.counter.as_ref().unwrap().value.unwrap()
                    );
                    compared += 1;
                }
                GAUGE => {
                    assert_eq!(
                        text[&key(name, &m.label, None)],
                        m.gauge.as_ref().unwrap().value.unwrap()
                    );
                    compared += 1;
                }
                SUMMARY => {
                    let s = m.summary.as_ref().unwrap();
                    for q in &s.quantile {
                        let ql = text_label(q.quantile.unwrap());
                        assert_eq!(
                            text[&key(name, &m.label, Some(("quantile", ql)))],
                            q.value.unwrap()
                        );
                        compared += 1;
                    }
                    assert_eq!(
                        text[&key(&format!("{name}_count"), &m.label, None)],
                        s.sample_count.unwrap() as f64
                    );
                }
                HISTOGRAM => {
                    let h = m.histogram.as_ref().unwrap();
                    for b in &h.bucket {
                        let le = text_label(b.upper_bound.unwrap());
                        assert_eq!(
                            text[&key(&format!("{name}_bucket"), &m.label, Some(("le", le)))],
                            b.cumulative_count.unwrap() as f64
                        );
                        compared += 1;
                        if let Some(e) = &b.exemplar {
                            assert_eq!(e.label[0].name.as_deref(), Some("trace_id"));
                            assert_eq!(e.label[0].value.as_deref(), Some("77"));
                            assert_eq!(e.value, Some(0.03));
                            assert!(b.upper_bound.unwrap() >= 0.03);
                        }
                    }
                    assert_eq!(
                        text[&key(&format!("{name}_count"), &m.label, None)],
                        h.sample_count.unwrap() as f64
                    );
                    assert_eq!(
                        text[&key(&format!("{name}_sum"), &m.label, None)],
                        h.sample_sum.unwrap()
                    );
                }
                other => panic!("unexpected type {other}"),
            }
        }
    }
    assert!(compared > 30);
    assert!(
        families
            .iter()
            .flat_map(|f| &f.metric)
            .filter_map(|m| m.histogram.as_ref())
            .flat_map(|h| &h.bucket)
            .any(|b| b.exemplar.is_some()),
        "the exemplar travels on a classic bucket"
    );
    // Counters are named with `_total` in protobuf, as client_golang does.
    assert_eq!(
        family(&families, "aureon_errors_total").r#type,
        Some(COUNTER)
    );
    assert_eq!(
        family(&families, "aureon_telemetry_registration_errors_total").r#type,
        Some(COUNTER)
    );
}

/// How Prometheus spells `upper_bound`/`quantile` doubles as labels (formatOpenMetricsFloat),
/// computed here from Rust's shortest representation.
fn text_label(v: f64) -> String {
    if v.is_infinite() {
        return "+Inf".into();
    }
    let s = format!("{v:e}");
    let (mantissa, exp) = s.split_once('e').unwrap();
    let exp: i32 = exp.parse().unwrap();
    if !(-4..6).contains(&exp) {
        return format!(
            "{mantissa}e{}{:02}",
            if exp < 0 { '-' } else { '+' },
            exp.abs()
        );
    }
    let plain = format!("{v}");
    if plain.contains('.') {
        plain
    } else {
        format!("{plain}.0")
    }
}
