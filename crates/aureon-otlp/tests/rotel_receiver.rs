//! A real OTLP receiver this project did not write: rotel (`rotel-agent`, PyPI `rotel`,
//! an OpenTelemetry collector in Rust), started on a free loopback port with its OTLP/HTTP
//! receiver and its debug exporter, which logs every decoded point. The test POSTs our
//! encoded requests (plain and gzipped) with an independent HTTP client (`ureq`) and reads
//! the values back from rotel's log: counts, sums, minima, maxima and counters exactly,
//! bucket bounds and counts against an independent bucketing of the raw values, exemplars
//! with their ids. It also checks how our response classification reads rotel's answers.
//!
//! Without rotel every test here FAILS, saying how to install it
//! (`scripts/ensure-rotel.sh`, which `scripts/test.sh` runs). `ROTEL_AGENT_BIN` points at
//! another binary; `AUREON_SKIP_ROTEL=1` skips the tests explicitly (they say so).

mod common;
mod rotel_support;

use aureon_otlp::response::{self, Disposition};
use aureon_otlp::{EncodedRequest, Encoder, METRICS_PATH, OtlpConfig};
use aureon_telemetry::{HistogramConfig, Registry, Unit};
use common::*;
use rotel_support::{Rotel, rotel_binary};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

// ---------------------------------------------------------------------------------------
// The receiver (launched by rotel_support, shared with aureon-monitor's demo --otlp test)
// ---------------------------------------------------------------------------------------

impl Rotel {
    /// Waits until the debug log holds an export from `service` with `metrics` metrics.
    /// The export is taken from the log only once the log has stopped growing: rotel prints
    /// an export line by line, and one read while it prints can end inside the last
    /// metric's buckets (a CI run read 20 of a histogram's 133 buckets that way).
    fn export_of(&mut self, service: &str, metrics: usize) -> Export {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let log = self.log();
            let found = parse_log(&log)
                .into_iter()
                .find(|e| e.service == service && e.metrics.len() == metrics);
            if let Some(e) = found {
                std::thread::sleep(Duration::from_millis(300));
                if self.log().len() == log.len() {
                    return e;
                }
            }
            assert!(
                Instant::now() < deadline,
                "rotel never logged {metrics} metrics of {service}:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// POSTs a body with the given headers; returns (status, Retry-After, body).
    fn post(&self, body: &[u8], headers: &[(&str, String)]) -> (u16, Option<String>, Vec<u8>) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        let mut request = agent.post(format!("http://{}{METRICS_PATH}", self.addr));
        for (k, v) in headers {
            request = request.header(*k, v.as_str());
        }
        let mut response = request.send(body).expect("rotel answers");
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let status = response.status().as_u16();
        let body = response.body_mut().read_to_vec().unwrap();
        (status, retry_after, body)
    }

    fn send(&self, request: &EncodedRequest) -> (u16, Option<String>, Vec<u8>) {
        self.post(request.body(), &request.headers())
    }
}

// ---------------------------------------------------------------------------------------
// Rotel's debug log
// ---------------------------------------------------------------------------------------

/// One `ResourceMetrics` as rotel's debug exporter logged it.
#[derive(Debug, Default)]
struct Export {
    service: String,
    metrics: Vec<LoggedMetric>,
}

#[derive(Debug, Default)]
struct LoggedMetric {
    name: String,
    unit: String,
    data_type: String,
    temporality: String,
    monotonic: bool,
    points: Vec<LoggedPoint>,
}

#[derive(Debug, Default)]
struct LoggedPoint {
    attributes: Vec<(String, String)>,
    count: Option<u64>,
    sum: Option<f64>,
    min: Option<f64>,
    max: Option<f64>,
    value: Option<f64>,
    zero_count: u64,
    /// (lower, upper, count) of every positive bucket, in order.
    buckets: Vec<(f64, f64, u64)>,
    /// (value, id) of every exemplar.
    exemplars: Vec<(f64, String)>,
}

/// Reads rotel's `--debug-log-verbosity detailed` output (the OpenTelemetry collector's
/// debug exporter layout).
fn parse_log(log: &str) -> Vec<Export> {
    let mut exports: Vec<Export> = Vec::new();
    let mut in_exemplar = false;
    for line in log.lines() {
        let t = line.trim();
        let field = |prefix: &str| t.strip_prefix(prefix).map(str::trim);
        if t.starts_with("ResourceMetrics #") {
            exports.push(Export::default());
            continue;
        }
        let Some(export) = exports.last_mut() else {
            continue;
        };
        if let Some(v) = field("-> service.name: Str(") {
            export.service = v.trim_end_matches(')').to_owned();
        } else if t.starts_with("Metric #") {
            export.metrics.push(LoggedMetric::default());
        } else if let Some(m) = export.metrics.last_mut() {
            if t.starts_with("ExponentialHistogramDataPoints #")
                || t.starts_with("NumberDataPoints #")
            {
                m.points.push(LoggedPoint::default());
                in_exemplar = false;
            } else if let Some(v) = field("-> Name:") {
                m.name = v.to_owned();
            } else if let Some(v) = field("-> Unit:") {
                m.unit = v.to_owned();
            } else if let Some(v) = field("-> DataType:") {
                m.data_type = v.to_owned();
            } else if let Some(v) = field("-> AggregationTemporality:") {
                m.temporality = v.to_owned();
            } else if let Some(v) = field("-> IsMonotonic:") {
                m.monotonic = v == "true";
            } else if let Some(p) = m.points.last_mut() {
                if t.starts_with("Exemplar #") {
                    in_exemplar = true;
                    p.exemplars.push((f64::NAN, String::new()));
                } else if in_exemplar {
                    if let Some(v) = field("-> Value:") {
                        p.exemplars.last_mut().unwrap().0 = v.parse().unwrap();
                    } else if let Some(v) = field("-> id: Str(") {
                        p.exemplars.last_mut().unwrap().1 = v.trim_end_matches(')').to_owned();
                    }
                } else if let Some(v) = field("Count:") {
                    p.count = Some(v.parse().unwrap());
                } else if let Some(v) = field("Sum:") {
                    p.sum = Some(v.parse().unwrap());
                } else if let Some(v) = field("Min:") {
                    p.min = Some(v.parse().unwrap());
                } else if let Some(v) = field("Max:") {
                    p.max = Some(v.parse().unwrap());
                } else if let Some(v) = field("Value:") {
                    p.value = Some(v.parse().unwrap());
                } else if let Some(v) = field("Bucket [0, 0], Count:") {
                    p.zero_count = v.parse().unwrap();
                } else if let Some(rest) = field("Bucket (") {
                    // "(lower, upper], Count: n"
                    let (bounds, count) = rest.split_once("], Count:").unwrap();
                    let (lo, hi) = bounds.split_once(", ").unwrap();
                    p.buckets.push((
                        lo.parse().unwrap(),
                        hi.parse().unwrap(),
                        count.trim().parse().unwrap(),
                    ));
                } else if let Some((k, v)) = field("->").and_then(|kv| kv.split_once(": Str(")) {
                    p.attributes
                        .push((k.to_owned(), v.trim_end_matches(')').to_owned()));
                }
            }
        }
    }
    exports
}

// ---------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------

struct Case {
    name: &'static str,
    config: HistogramConfig,
    raw: Vec<u64>,
}

fn cases() -> Vec<Case> {
    let mut rng = Rng(2026);
    vec![
        Case {
            name: "block_processing",
            config: HistogramConfig::default(),
            raw: (0..4_000)
                .map(|i| {
                    if i % 50 == 0 {
                        0
                    } else {
                        rng.log_uniform(20, 200_000)
                    }
                })
                .collect(),
        },
        Case {
            name: "tx_bytes",
            config: HistogramConfig {
                lowest_discernible: 1000,
                highest_trackable: 1 << 40,
                significant_figures: 2,
                unit: Unit::Bytes,
            },
            raw: (0..3_000)
                .map(|_| rng.log_uniform(10, 90_000_000))
                .collect(),
        },
    ]
}

/// The value rotel logged for a bucket bound is `base^index` in f64; ours too.
fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

fn check_export(export: &Export, cases: &[Case], start_counter: u64) {
    let by_name: BTreeMap<&str, &LoggedMetric> = export
        .metrics
        .iter()
        .map(|m| (m.name.as_str(), m))
        .collect();
    for case in cases {
        let m = by_name[case.name];
        assert_eq!(m.data_type, "ExponentialHistogram", "{}", case.name);
        assert_eq!(m.temporality, "AGGREGATION_TEMPORALITY_CUMULATIVE");
        assert_eq!(m.points.len(), 1);
        let p = &m.points[0];
        let raw = &case.raw;
        assert_eq!(p.attributes, vec![("node".to_owned(), "n1".to_owned())]);
        assert_eq!(p.count, Some(raw.len() as u64), "{}: count", case.name);
        assert_eq!(
            p.sum,
            Some(raw.iter().sum::<u64>() as f64),
            "{}: sum",
            case.name
        );
        assert_eq!(
            p.min,
            Some(*raw.iter().min().unwrap() as f64),
            "{}: min",
            case.name
        );
        assert_eq!(
            p.max,
            Some(*raw.iter().max().unwrap() as f64),
            "{}: max",
            case.name
        );

        // The scale from the logged bounds (upper / lower = 2^(2^-scale)), then the bounds
        // and counts against the independent bucketing of the raw values at that scale.
        let (lo, hi, _) = p.buckets[0];
        let scale = -(hi / lo).log2().log2().round() as i32;
        let (zero, reference) = reference_buckets(&case.config, raw, scale);
        assert_eq!(p.zero_count, zero, "{}: zero count", case.name);
        let logged: BTreeMap<i32, u64> = p
            .buckets
            .iter()
            .filter(|b| b.2 > 0)
            .map(|&(lo, hi, c)| {
                let i = ((lo.log2() * (scale as f64).exp2()).round()) as i32;
                assert!(
                    close(lo, lower(i, scale)) && close(hi, lower(i + 1, scale)),
                    "{}: bucket ({lo}, {hi}]",
                    case.name
                );
                (i, c)
            })
            .collect();
        assert_eq!(logged, reference, "{}: buckets at scale {scale}", case.name);
        assert!(
            p.buckets.len() <= 160,
            "{}: {} buckets",
            case.name,
            p.buckets.len()
        );
        let total: u64 = p.buckets.iter().map(|b| b.2).sum::<u64>() + p.zero_count;
        assert_eq!(total, raw.len() as u64);

        // Exemplars: the four slowest values, each with the id it was recorded with.
        let mut slowest = raw.clone();
        slowest.sort_unstable_by(|a, b| b.cmp(a));
        slowest.truncate(4);
        let mut got: Vec<u64> = p
            .exemplars
            .iter()
            .map(|(v, id)| {
                let id: usize = id.parse().unwrap();
                assert_eq!(raw[id] as f64, *v, "{}: exemplar id {id}", case.name);
                *v as u64
            })
            .collect();
        got.sort_unstable_by(|a, b| b.cmp(a));
        assert_eq!(got, slowest, "{}: exemplars", case.name);
    }
    assert_eq!(by_name["block_processing"].unit, "us");
    assert_eq!(by_name["tx_bytes"].unit, "By");

    let blocks = by_name["blocks_total"];
    assert_eq!(blocks.data_type, "Sum");
    assert!(blocks.monotonic);
    let mut values: Vec<_> = blocks
        .points
        .iter()
        .map(|p| (p.attributes.clone(), p.value))
        .collect();
    values.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        values,
        vec![
            (
                vec![("kind".to_owned(), "full".to_owned())],
                Some(start_counter as f64)
            ),
            (vec![("kind".to_owned(), "light".to_owned())], Some(3.0)),
        ]
    );
    let height = by_name["chain_height"];
    assert_eq!(height.data_type, "Gauge");
    assert_eq!(height.points[0].value, Some(1234.5));
}

fn registry_with(cases: &[Case], blocks: u64) -> Registry {
    let registry = Registry::new();
    for case in cases {
        let h = registry
            .try_histogram_with_config(case.name, &[("node", "n1")], case.config)
            .unwrap();
        for (id, &v) in case.raw.iter().enumerate() {
            h.record_with_exemplar(v, id as u64);
        }
    }
    registry
        .counter_with("blocks_total", &[("kind", "full")])
        .increment(blocks);
    registry
        .counter_with("blocks_total", &[("kind", "light")])
        .increment(3);
    registry.gauge("chain_height").set(1234.5);
    registry
}

#[test]
fn rotel_decodes_plain_and_gzipped_requests_to_the_recorded_values() {
    let Some(bin) = rotel_binary() else { return };
    let mut rotel = Rotel::start(&bin);
    let cases = cases();
    let registry = registry_with(&cases, 41);
    let snapshot = registry.snapshot();
    for (service, gzip) in [("aureon-plain", false), ("aureon-gzip", true)] {
        let config = OtlpConfig::builder(service).gzip(gzip).build().unwrap();
        let request = Encoder::new(config, SystemTime::now())
            .encode(&snapshot, None)
            .unwrap();
        assert_eq!(request.is_gzip(), gzip);
        let (status, _, body) = rotel.send(&request);
        assert_eq!(
            response::classify(status, None, SystemTime::now()),
            Disposition::Delivered,
            "rotel answered {status}:\n{}",
            rotel.log()
        );
        // Rotel answers an empty body: full success.
        assert_eq!(response::decode_success(&body), Ok(None));
        let export = rotel.export_of(service, cases.len() + 2);
        check_export(&export, &cases, 41);
    }
}

#[test]
fn rotel_refuses_malformed_bodies_and_we_do_not_retry_them() {
    let Some(bin) = rotel_binary() else { return };
    let rotel = Rotel::start(&bin);
    let headers = vec![("Content-Type", aureon_otlp::CONTENT_TYPE.to_owned())];
    // Not protobuf; and a gzip header on a body that is not gzip.
    let (status, retry_after, body) = rotel.post(b"garbage!!", &headers);
    assert_eq!(status, 400, "{}", rotel.log());
    assert_eq!(
        response::classify(status, retry_after.as_deref(), SystemTime::now()),
        Disposition::Drop
    );
    // Whatever the error body is, reading it must not panic.
    let _ = response::error_message(&body);
    let mut gz = headers.clone();
    gz.push(("Content-Encoding", "gzip".to_owned()));
    let registry = registry_with(&cases(), 1);
    let plain = Encoder::new(
        OtlpConfig::builder("x").gzip(false).build().unwrap(),
        SystemTime::now(),
    )
    .encode(&registry.snapshot(), None)
    .unwrap();
    let (status, _, _) = rotel.post(plain.body(), &gz);
    assert!(
        (400..500).contains(&status),
        "rotel answered {status} to a bad gzip body"
    );
    assert_eq!(
        response::classify(status, None, SystemTime::now()),
        Disposition::Drop
    );
}

#[test]
fn the_shared_sender_delivers_a_final_snapshot_to_rotel_exactly() {
    let Some(bin) = rotel_binary() else { return };
    let mut rotel = Rotel::start(&bin);
    let cases = cases();
    let registry = registry_with(&cases, 77);
    let snapshot = Arc::new(registry.snapshot());
    let points = Encoder::new(OtlpConfig::builder("x").build().unwrap(), SystemTime::now())
        .encode(&snapshot, None)
        .unwrap()
        .data_points();
    let config = OtlpConfig::builder("aureon-pusher").build().unwrap();
    let exporter = aureon_otlp::OtlpExporter::new(
        &aureon_otlp::metrics_url(&format!("http://{}", rotel.addr)),
        config,
        SystemTime::now(),
    )
    .unwrap();
    let own = Registry::new();
    let pusher = aureon_push::Pusher::spawn_with_transport(
        exporter,
        None::<aureon_push::NoSource>,
        aureon_push::HttpTransport::new(),
        aureon_push::PushConfig::default(),
        Some(&own),
    )
    .unwrap();
    let report = pusher.shutdown_with(Some(snapshot));
    assert_eq!(report.dropped_total(), 0, "{report}");
    assert_eq!(report.samples_sent, points, "{report}");
    assert_eq!(report.requests_sent, 1, "{report}");
    // The sender's health is in its own registry, labelled with the protocol.
    assert_eq!(
        own.snapshot()
            .counter_with("aureon_push_samples_sent", &[("protocol", "otlp")]),
        Some(points)
    );
    let export = rotel.export_of("aureon-pusher", cases.len() + 2);
    check_export(&export, &cases, 77);
}
