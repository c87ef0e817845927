//! A real Prometheus (Debian's 2.42, `--enable-feature=exemplar-storage,native-histograms`)
//! scrapes two recording node processes, in every exposition format, and its HTTP API must
//! return what the nodes recorded.
//!
//! Setup (once per test binary, shared by the tests below; about 20 s):
//! * two node processes, this test binary re-executed in node mode
//!   ([`node_process_entry_point`]): each registers the aureon node's metrics, serves them
//!   with [`MetricsServer`] on a loopback port, and records what the test sends it on stdin;
//! * one Prometheus on loopback with three jobs over both nodes: `aureon_text` and
//!   `aureon_openmetrics` pin a format with `?format=`, `aureon_native` lets Prometheus
//!   negotiate (it asks for protobuf first, so it stores native histograms). It also loads
//!   the rule files of `deploy/prometheus/`;
//! * once every target is up (Prometheus has stored the empty series), the test sends each
//!   node its values (different distributions, generated here), waits until Prometheus has
//!   them all, and lets a few more scrapes happen so `rate()` has a window to work on.
//!
//! Expectations are computed from the values themselves (exact counts, sums, nearest-rank
//! quantiles of each node and of their union), never from the exporter's output. Every wait
//! polls the API with a deadline; nothing sleeps blindly.
//!
//! Without `prometheus` installed every test here FAILS, saying how to install it
//! (`scripts/ensure-prometheus.sh`). `PROMETHEUS_BIN` overrides the binary.

mod http_support;

use aureon_prometheus::grafana::{self, DashboardSpec, LatencySource};
use aureon_prometheus::http::{HealthReport, MetricsServer, ServerConfig};
use aureon_prometheus::{ExportOptions, HistogramMode};
use aureon_telemetry::{Registry, Snapshotter, SnapshotterConfig};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Set in the environment of a node process (its value is the node's name).
const NODE_ENV: &str = "AUREON_PROMETHEUS_TEST_NODE";
/// Prefix of the node protocol's lines on the node's stdout (libtest prints there too).
const NODE_SAYS: &str = "AUREON-NODE ";
/// The operation label of every recorded latency.
const OP: &str = "block_processing";
/// Classic bucket bounds the nodes export (seconds): fine around the seed's alert
/// thresholds (10 ms, 20 ms), as `docs/operations.md` recommends.
const BUCKETS: [f64; 21] = [
    0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.025, 0.03,
    0.04, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5,
];
/// The native schema the nodes use (the exporter's default): bucket ratio 2^(1/8).
const SCHEMA: i32 = 3;
/// HDR's relative bin width at 3 significant figures.
const HDR_REL: f64 = 1.0 / 1024.0;
/// The rate window of the fleet queries.
const WINDOW: &str = "1m";
const WINDOW_SECS: f64 = 60.0;

// ---------------------------------------------------------------------------------------
// Node mode
// ---------------------------------------------------------------------------------------

/// The entry point of a node process; does nothing in a normal test run.
///
/// Protocol (stdin, one command a line): `v <µs> [id]` records a latency of [`OP`] (with
/// an exemplar id when given) and counts one operation; `e <kind>` counts an error;
/// `g <name> <value>` sets a gauge; `tick` publishes a snapshot and answers
/// `AUREON-NODE ticked <sequence>`. End of input (the test process is gone) stops the node.
#[test]
fn node_process_entry_point() {
    if let Some(name) = std::env::var_os(NODE_ENV) {
        run_node(&name.to_string_lossy());
        // The test process is gone (that is what ended the input): libtest's report would
        // only fail on the closed stdout.
        std::process::exit(0);
    }
}

fn node_export_options() -> ExportOptions {
    ExportOptions::builder()
        .histogram_mode(HistogramMode::Both)
        .buckets(BUCKETS)
        .native_schema(SCHEMA as i8)
        .build()
        .unwrap()
}

fn run_node(name: &str) {
    let registry = Registry::new();
    registry
        .describe("aureon_operation_latency", "Operation latency")
        .unwrap();
    registry
        .describe("aureon_operations_total", "Operations, failed or not")
        .unwrap();
    registry
        .describe("aureon_errors_total", "Failed operations by kind")
        .unwrap();
    let latency = registry.histogram_with("aureon_operation_latency", &[("op", OP)]);
    let ops = registry.counter_with("aureon_operations_total", &[("op", OP)]);
    // Error kinds exist (at zero) before the first scrape, like the histogram, so that
    // Prometheus sees every series start from zero.
    for kind in ["timeout", "invalid_block"] {
        registry.counter_with("aureon_errors_total", &[("op", OP), ("kind", kind)]);
    }
    let gauges = [
        "aureon_latency_avg_us",
        "aureon_error_rate",
        "aureon_throughput_ops_sec",
        "aureon_health_status",
        "aureon_process_resident_memory_bytes",
    ];
    for g in gauges {
        registry.gauge(g).set(0.0);
    }
    // Published only on `tick`, so the test knows exactly what each scrape can see.
    let snapshotter = Snapshotter::spawn(
        &registry,
        SnapshotterConfig {
            interval: Duration::from_secs(3600),
            retention: 4,
            ..SnapshotterConfig::default()
        },
    )
    .unwrap();
    let config = ServerConfig::builder()
        .port(0)
        .export_options(node_export_options())
        .build()
        .unwrap();
    let server = MetricsServer::start(
        config,
        snapshotter.reader(),
        Arc::new(HealthReport::healthy),
    )
    .unwrap();
    let mut out = std::io::stdout().lock();
    writeln!(out, "\n{NODE_SAYS}{name} listening {}", server.local_addr()).unwrap();
    out.flush().unwrap();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let mut words = line.split_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some("v"), Some(v), id) => {
                let v: u64 = v.parse().unwrap();
                match id {
                    Some(id) => latency.record_with_exemplar(v, id.parse().unwrap()),
                    None => latency.record(v),
                }
                ops.increment(1);
            }
            (Some("e"), Some(kind), None) => {
                registry
                    .counter_with("aureon_errors_total", &[("op", OP), ("kind", kind)])
                    .increment(1);
            }
            (Some("g"), Some(gauge), Some(v)) => registry.gauge(gauge).set(v.parse().unwrap()),
            (Some("tick"), None, None) => {
                let s = snapshotter.tick();
                writeln!(out, "\n{NODE_SAYS}{name} ticked {}", s.sequence()).unwrap();
                out.flush().unwrap();
            }
            _ => panic!("node {name}: bad command {line:?}"),
        }
    }
    server.shutdown();
}

// ---------------------------------------------------------------------------------------
// The shared setup
// ---------------------------------------------------------------------------------------

/// A node process as the test sees it.
struct Node {
    name: &'static str,
    addr: SocketAddr,
    /// The latencies sent (µs), in order.
    values: Vec<u64>,
    /// Errors sent, by kind.
    errors: BTreeMap<&'static str, u64>,
    /// Exemplar ids of the outliers sent.
    outlier_ids: Vec<u64>,
    /// Gauges set.
    gauges: Vec<(&'static str, f64)>,
    /// Kept open: the node stops when it closes (with this process).
    _stdin: ChildStdin,
}

struct Setup {
    prometheus: SocketAddr,
    nodes: Vec<Node>,
    /// When Prometheus had every value (Unix seconds).
    complete_at: f64,
    /// Before the first scrape (Unix seconds), for exemplar queries.
    started_at: f64,
    /// Prometheus' log file, for failure messages.
    log: PathBuf,
}

const JOBS: [&str; 3] = ["aureon_text", "aureon_openmetrics", "aureon_native"];

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Result<Setup, String>> = OnceLock::new();
    // An error is kept (not retried by every test) and reported by each of them.
    match SETUP.get_or_init(|| {
        std::panic::catch_unwind(build_setup).map_err(|e| {
            e.downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "setup panicked".into())
        })
    }) {
        Ok(s) => s,
        Err(e) => panic!("the shared Prometheus setup failed: {e}"),
    }
}

fn build_setup() -> Setup {
    let bin = prometheus_binary();
    let started_at = unix_now();
    let mut nodes = vec![spawn_node("a"), spawn_node("b")];
    let prom = Prometheus::start(&bin, &nodes.iter().map(|n| n.0).collect::<Vec<_>>());
    prom.wait_for_targets_up(Duration::from_secs(45));

    // Different distributions: node a is fast (log-normal around 0.8 ms), node b slower
    // with a heavy tail (2-6 ms, 12 % between 6 and 45 ms). Both get outliers with ids.
    let mut rng = SplitMix(0x5eed_a0e0);
    let a: Vec<u64> = (0..6000)
        .map(|_| (800.0 * (0.5 * rng.normal()).exp()).round().max(1.0) as u64)
        .collect();
    let b: Vec<u64> = (0..4000)
        .map(|_| {
            if rng.unit() < 0.88 {
                rng.range(2000, 6000)
            } else {
                rng.range(6000, 45_000)
            }
        })
        .collect();
    let outliers = [
        (150_000u64, 900_001u64),
        (400_000, 900_002),
        (800_000, 900_003),
    ];
    let errors = [("timeout", 37u64), ("invalid_block", 12)];
    let mut setups = Vec::new();
    for (i, (name_addr, values)) in nodes.drain(..).zip([a, b]).enumerate() {
        let (addr, name, mut stdin, lines) = name_addr;
        let mut batch = String::new();
        for v in &values {
            batch.push_str(&format!("v {v}\n"));
        }
        let ids: Vec<u64> = outliers
            .iter()
            .map(|&(_, id)| id + 1000 * i as u64)
            .collect();
        for (&(v, _), id) in outliers.iter().zip(&ids) {
            batch.push_str(&format!("v {v} {id}\n"));
        }
        let errors: BTreeMap<&str, u64> = errors
            .iter()
            .map(|&(k, n)| (k, n * (i as u64 + 1)))
            .collect();
        for (kind, n) in &errors {
            for _ in 0..*n {
                batch.push_str(&format!("e {kind}\n"));
            }
        }
        let gauges = vec![
            ("aureon_latency_avg_us", 1234.5 + i as f64),
            ("aureon_error_rate", 0.004 * (i as f64 + 1.0)),
            ("aureon_throughput_ops_sec", 250.0 - 10.0 * i as f64),
            ("aureon_health_status", i as f64),
            (
                "aureon_process_resident_memory_bytes",
                64.0 * 1024.0 * 1024.0,
            ),
        ];
        for (g, v) in &gauges {
            batch.push_str(&format!("g {g} {v}\n"));
        }
        batch.push_str("tick\n");
        stdin.write_all(batch.as_bytes()).unwrap();
        stdin.flush().unwrap();
        expect_line(&lines, &format!("{name} ticked"), Duration::from_secs(30));
        let mut all = values;
        all.extend(outliers.iter().map(|&(v, _)| v));
        setups.push(Node {
            name,
            addr,
            values: all,
            errors,
            outlier_ids: ids,
            gauges,
            _stdin: stdin,
        });
    }

    // Wait until every job has every node's final count.
    let total: u64 = setups.iter().map(|n| n.values.len() as u64).sum();
    let query = "sum by (job) (aureon_operations_total)";
    let seen = http_support::poll(Duration::from_secs(30), Duration::from_millis(250), || {
        let r = prom.query(query, None).ok()?;
        let done = JOBS.iter().all(|job| {
            r.iter()
                .any(|s| s["metric"]["job"] == *job && sample_value(s) == total as f64)
        });
        done.then_some(())
    });
    assert!(
        seen.is_some(),
        "Prometheus never saw {total} operations in every job ({query}); log:\n{}",
        prom.log_tail()
    );
    let complete_at = unix_now();
    // A few more scrapes of every target, so that rate() windows ending at `complete_at + 4`
    // (the time the fleet queries are evaluated at) hold several samples after the values.
    let later = http_support::poll(Duration::from_secs(30), Duration::from_millis(250), || {
        let r = prom
            .query("min(timestamp(aureon_operations_total))", None)
            .ok()?;
        (sample_value(r.first()?) >= complete_at + 5.0).then_some(())
    });
    assert!(
        later.is_some(),
        "Prometheus stopped scraping after the values arrived; log:\n{}",
        prom.log_tail()
    );

    let setup = Setup {
        prometheus: prom.addr,
        nodes: setups,
        complete_at,
        started_at,
        log: prom.log.clone(),
    };
    // The wrapper process keeps Prometheus alive until this process exits.
    std::mem::forget(prom);
    setup
}

impl Setup {
    fn query(&self, promql: &str, time: Option<f64>) -> Vec<Value> {
        api_query(self.prometheus, promql, time)
            .unwrap_or_else(|e| panic!("{e}\nlog:\n{}", log_tail(&self.log)))
    }

    /// The single value of `promql`; fails clearly when it is not exactly one sample.
    fn scalar(&self, promql: &str, time: Option<f64>) -> f64 {
        let r = self.query(promql, time);
        assert_eq!(
            r.len(),
            1,
            "{promql} should give exactly one series, got {r:?}"
        );
        sample_value(&r[0])
    }

    fn node(&self, name: &str) -> &Node {
        self.nodes.iter().find(|n| n.name == name).unwrap()
    }

    fn instance(&self, node: &Node) -> String {
        let _ = self;
        node.addr.to_string()
    }
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

#[test]
fn every_format_is_scraped_by_prometheus_without_errors() {
    let s = setup();
    let targets = api_get(s.prometheus, "/api/v1/targets?state=active").unwrap();
    let active = targets["data"]["activeTargets"].as_array().unwrap();
    assert_eq!(active.len(), JOBS.len() * s.nodes.len(), "{targets}");
    for t in active {
        let job = t["labels"]["job"].as_str().unwrap();
        assert_eq!(t["health"], "up", "{job}: {t}");
        assert_eq!(t["lastError"], "", "{job}: {t}");
    }
    for job in JOBS {
        // Prometheus' own account of each scrape: samples taken, none refused.
        let scraped = s.query(
            &format!("min(scrape_samples_scraped{{job=\"{job}\"}})"),
            None,
        );
        assert!(sample_value(&scraped[0]) > 0.0, "{job} scraped no samples");
    }
    // Nothing dropped as out of order, duplicate or out of bounds, in any format.
    for counter in [
        "prometheus_target_scrapes_sample_duplicate_timestamp_total",
        "prometheus_target_scrapes_sample_out_of_order_total",
        "prometheus_target_scrapes_sample_out_of_bounds_total",
        "prometheus_target_scrapes_exemplar_out_of_order_total",
    ] {
        let v = api_metric(s.prometheus, counter);
        assert_eq!(v, Some(0.0), "{counter} in Prometheus' own /metrics");
    }
}

#[test]
fn counters_errors_and_summary_quantiles_have_the_recorded_values() {
    let s = setup();
    for job in JOBS {
        for node in &s.nodes {
            let sel = format!("job=\"{job}\",instance=\"{}\"", s.instance(node));
            let n = node.values.len() as f64;
            assert_eq!(
                s.scalar(&format!("aureon_operations_total{{{sel}}}"), None),
                n,
                "{job} {}",
                node.name
            );
            for (kind, count) in &node.errors {
                let q = format!("aureon_errors_total{{{sel},op=\"{OP}\",kind=\"{kind}\"}}");
                assert_eq!(s.scalar(&q, None), *count as f64, "{q}");
            }
            // The summary: count and sum exact, quantiles HDR's nearest rank.
            let summary = "aureon_operation_latency_quantiles_seconds";
            assert_eq!(s.scalar(&format!("{summary}_count{{{sel}}}"), None), n);
            let sum_us: u64 = node.values.iter().sum();
            let sum = s.scalar(&format!("{summary}_sum{{{sel}}}"), None);
            assert!(
                close(sum, sum_us as f64 * 1e-6, 1e-9),
                "{job} {}: sum {sum} vs {sum_us} µs",
                node.name
            );
            for q in [0.5, 0.9, 0.99] {
                let exact = nearest_rank(&[(&node.values, 1.0)], q) as f64 * 1e-6;
                let got = s.scalar(&format!("{summary}{{{sel},quantile=\"{q}\"}}"), None);
                assert!(
                    got >= exact * (1.0 - 1e-9) && got <= exact * (1.0 + HDR_REL) + 1e-6,
                    "{job} {} p{q}: Prometheus has {got}, the values say {exact}",
                    node.name
                );
            }
            for (gauge, v) in &node.gauges {
                assert_eq!(s.scalar(&format!("{gauge}{{{sel}}}"), None), *v, "{gauge}");
            }
        }
    }
}

#[test]
fn exemplars_from_openmetrics_are_stored_with_their_ids() {
    let s = setup();
    let query = "aureon_operation_latency_seconds_bucket{job=\"aureon_openmetrics\"}";
    let path = format!(
        "/api/v1/query_exemplars?query={}&start={}&end={}",
        http_support::encode(query),
        s.started_at - 60.0,
        unix_now() + 60.0
    );
    let r = api_get(s.prometheus, &path).unwrap();
    let mut ids_by_instance: BTreeMap<String, Vec<(u64, f64)>> = BTreeMap::new();
    for series in r["data"].as_array().unwrap() {
        let instance = series["seriesLabels"]["instance"]
            .as_str()
            .unwrap()
            .to_owned();
        for e in series["exemplars"].as_array().unwrap() {
            let id = e["labels"]["trace_id"]
                .as_str()
                .expect("exemplar label trace_id")
                .parse()
                .unwrap();
            let value: f64 = e["value"].as_str().unwrap().parse().unwrap();
            ids_by_instance
                .entry(instance.clone())
                .or_default()
                .push((id, value));
        }
    }
    for node in &s.nodes {
        let got = ids_by_instance
            .get(&s.instance(node))
            .cloned()
            .unwrap_or_default();
        for (id, value_us) in node.outlier_ids.iter().zip([150_000u64, 400_000, 800_000]) {
            let found = got.iter().find(|(i, _)| i == id);
            let (_, v) = found.unwrap_or_else(|| {
                panic!("node {}: exemplar id {id} missing from {got:?}", node.name)
            });
            assert!(
                close(*v, value_us as f64 * 1e-6, HDR_REL),
                "exemplar {id}: value {v}"
            );
        }
    }
}

#[test]
fn native_histograms_are_stored_and_histogram_quantile_works() {
    let s = setup();
    let b = 2f64.powf(2f64.powi(-SCHEMA));
    for node in &s.nodes {
        let sel = format!("job=\"aureon_native\",instance=\"{}\"", s.instance(node));
        let h = format!("aureon_operation_latency_seconds{{{sel}}}");
        // Stored as a native histogram (no classic series in this job).
        let count = s.scalar(&format!("histogram_count({h})"), None);
        assert_eq!(count, node.values.len() as f64);
        let sum_us: u64 = node.values.iter().sum();
        assert!(close(
            s.scalar(&format!("histogram_sum({h})"), None),
            sum_us as f64 * 1e-6,
            1e-9
        ));
        assert!(
            s.query(
                &format!("aureon_operation_latency_seconds_bucket{{{sel}}}"),
                None
            )
            .is_empty()
        );
        for q in [0.5, 0.9, 0.99] {
            let exact = nearest_rank(&[(&node.values, 1.0)], q) as f64 * 1e-6;
            let got = s.scalar(&format!("histogram_quantile({q}, {h})"), None);
            assert!(
                got > exact / b && got <= exact * b * (1.0 + HDR_REL),
                "node {} p{q}: native {got} vs exact {exact} (bound: factor {b})",
                node.name
            );
        }
    }
}

/// The point of histograms: a fleet-wide p99 from both nodes' buckets, compared with the
/// exact p99 of the union of their values.
///
/// `rate()` scales each node's counts by its own extrapolation factor (the nodes are
/// scraped at different moments), which weights the nodes slightly differently. The test
/// measures those factors (from the `_count` rates) and checks the estimate twice: against
/// the union weighted by them, with only the bucket error as tolerance; and against the
/// plain union, with the rank tolerance `docs/operations.md` documents for that effect.
#[test]
fn fleet_p99_from_classic_and_native_histograms_is_within_the_documented_bound() {
    let s = setup();
    let t = s.complete_at + 4.0;
    let q = 0.99;
    let sets: Vec<&[u64]> = s.nodes.iter().map(|n| n.values.as_slice()).collect();
    let exact = nearest_rank(&sets.iter().map(|v| (*v, 1.0)).collect::<Vec<_>>(), q);

    // No rate: cumulative buckets hold exactly the union, so only the bucket error remains.
    let cumulative = s.scalar(
        "histogram_quantile(0.99, sum by (le) (aureon_operation_latency_seconds_bucket{job=\"aureon_text\"}))",
        Some(t),
    );
    let (lo, hi) = classic_bucket(
        exact as f64 * 1e-6 / (1.0 + HDR_REL),
        exact as f64 * 1e-6 * (1.0 + HDR_REL),
    );
    assert!(
        lo <= cumulative && cumulative <= hi,
        "cumulative classic p99 {cumulative} outside [{lo}, {hi}] (exact {exact} µs)"
    );

    for (kind, count_query, p99_query) in [
        (
            "classic",
            format!(
                "rate(aureon_operation_latency_seconds_count{{job=\"aureon_text\"}}[{WINDOW}])"
            ),
            format!(
                "histogram_quantile(0.99, sum by (le) (rate(aureon_operation_latency_seconds_bucket{{job=\"aureon_text\"}}[{WINDOW}])))"
            ),
        ),
        (
            "native",
            format!(
                "histogram_count(rate(aureon_operation_latency_seconds{{job=\"aureon_native\"}}[{WINDOW}]))"
            ),
            format!(
                "histogram_quantile(0.99, sum(rate(aureon_operation_latency_seconds{{job=\"aureon_native\"}}[{WINDOW}])))"
            ),
        ),
    ] {
        // Each node's extrapolation factor: its rate times the window over its true count.
        let rates = s.query(&count_query, Some(t));
        let factors: Vec<f64> = s
            .nodes
            .iter()
            .map(|n| {
                let r = rates
                    .iter()
                    .find(|r| r["metric"]["instance"] == s.instance(n).as_str())
                    .unwrap_or_else(|| panic!("{kind}: no rate for node {}: {rates:?}", n.name));
                sample_value(r) * WINDOW_SECS / n.values.len() as f64
            })
            .collect();
        assert!(
            factors.iter().all(|f| (0.95..2.0).contains(f)),
            "{kind}: implausible factors {factors:?}"
        );
        let weighted: Vec<(&[u64], f64)> =
            sets.iter().copied().zip(factors.iter().copied()).collect();
        let exact_weighted = nearest_rank(&weighted, q) as f64 * 1e-6;
        let ratio = factors.iter().copied().fold(f64::MIN, f64::max)
            / factors.iter().copied().fold(f64::MAX, f64::min);
        // docs/operations.md: with factors differing by `ratio`, the estimate is the
        // quantile at a level q' with (1 - q') within a factor `ratio` of (1 - q).
        let slack = (1.0 - q) * (ratio - 1.0) + 1e-9;
        let unweighted = [(sets[0], 1.0), (sets[1], 1.0)];
        let (plain_lo, plain_hi) = (
            nearest_rank(&unweighted, q - slack) as f64 * 1e-6,
            nearest_rank(&unweighted, (q + slack).min(1.0)) as f64 * 1e-6,
        );

        let got = s.scalar(&p99_query, Some(t));
        let (w_lo, w_hi, p_lo, p_hi) = if kind == "classic" {
            let w = classic_bucket(
                exact_weighted / (1.0 + HDR_REL),
                exact_weighted * (1.0 + HDR_REL),
            );
            let p = classic_bucket(plain_lo / (1.0 + HDR_REL), plain_hi * (1.0 + HDR_REL));
            (w.0, w.1, p.0, p.1)
        } else {
            let b = 2f64.powf(2f64.powi(-SCHEMA));
            let g = b * (1.0 + HDR_REL);
            (
                exact_weighted / b,
                exact_weighted * g,
                plain_lo / b,
                plain_hi * g,
            )
        };
        let context = format!(
            "{kind} fleet p99 {got}: exact union p99 {exact} µs, weighted by the measured rate factors {factors:?} {exact_weighted}"
        );
        eprintln!("{context}; bounds: weighted [{w_lo}, {w_hi}], documented [{p_lo}, {p_hi}]");
        assert!(
            w_lo <= got && got <= w_hi,
            "{context}: outside the bucket bound [{w_lo}, {w_hi}]"
        );
        assert!(
            p_lo <= got && got <= p_hi,
            "{context}: outside the documented bound [{p_lo}, {p_hi}]"
        );
    }
}

#[test]
fn recording_and_alert_rules_evaluate_on_the_real_series() {
    let s = setup();
    let rules = api_get(s.prometheus, "/api/v1/rules").unwrap();
    let groups = rules["data"]["groups"].as_array().unwrap();
    assert!(
        !groups.is_empty(),
        "the rule files were not loaded: {rules}"
    );
    for g in groups {
        for r in g["rules"].as_array().unwrap() {
            assert_eq!(
                r["health"], "ok",
                "rule {} in {}: {r}",
                r["name"], g["name"]
            );
        }
    }
    // The recorded fleet series exist and agree with the raw expressions; with rules
    // evaluated every second, wait for an evaluation after the data arrived.
    let complete = s.complete_at;
    let fresh = |name: &str| {
        http_support::poll(Duration::from_secs(15), Duration::from_millis(250), || {
            let r = api_query(s.prometheus, name, None).ok()?;
            (!r.is_empty()
                && r.iter()
                    .all(|x| x["value"][0].as_f64().unwrap_or(0.0) > complete))
            .then_some(r)
        })
        .unwrap_or_else(|| panic!("recording rule {name} produced nothing fresh"))
    };
    let ops = fresh("job:aureon_operations:rate5m");
    assert!(ops.iter().all(|x| sample_value(x) > 0.0), "{ops:?}");
    let ratio = fresh("instance:aureon_errors_per_operation:ratio_rate5m");
    for x in &ratio {
        let node = s
            .nodes
            .iter()
            .find(|n| x["metric"]["instance"] == s.instance(n).as_str())
            .unwrap();
        // Both counters cover the same window of the same target: extrapolation cancels.
        let exact = node.errors.values().sum::<u64>() as f64 / node.values.len() as f64;
        assert!(close(sample_value(x), exact, 1e-6), "{x}: expected {exact}");
    }
    let classic = fresh("job_op:aureon_operation_latency_seconds:p99_rate5m");
    assert!(
        classic.iter().any(|x| x["metric"]["job"] == "aureon_text"),
        "{classic:?}"
    );
    assert!(
        classic
            .iter()
            .any(|x| x["metric"]["job"] == "aureon_native"),
        "native p99 missing: {classic:?}"
    );
    // Node b's p99 is above 20 ms and its p95 above 10 ms: those alerts are pending (they
    // need 5 minutes to fire); node a's latency alerts are not.
    let b = s.instance(s.node("b"));
    let a = s.instance(s.node("a"));
    let names = ["AureonLatencyP99High", "AureonLatencyP95High"];
    let active = |alerts: &[Value], name: &str, instance: &str| {
        alerts
            .iter()
            .any(|x| x["labels"]["alertname"] == name && x["labels"]["instance"] == instance)
    };
    // The alert group evaluates on its own schedule, after the recorded series it reads.
    let mut last = Vec::new();
    let pending = http_support::poll(Duration::from_secs(15), Duration::from_millis(250), || {
        let r = api_get(s.prometheus, "/api/v1/alerts").ok()?;
        last = r["data"]["alerts"].as_array()?.clone();
        names.iter().all(|n| active(&last, n, &b)).then_some(())
    });
    assert!(
        pending.is_some(),
        "{names:?} should be pending for node b: {last:?}"
    );
    for name in names {
        assert!(
            !active(&last, name, &a),
            "{name} should not be active for node a: {last:?}"
        );
    }
}

#[test]
fn every_grafana_panel_query_returns_data() {
    let s = setup();
    for source in [
        LatencySource::Classic,
        LatencySource::Native,
        LatencySource::Summary,
    ] {
        let spec = DashboardSpec {
            options: node_export_options(),
            latency_source: Some(source),
            ..DashboardSpec::default()
        };
        let dashboard = grafana::dashboard(&spec);
        let queries = grafana::queries(&dashboard);
        assert!(!queries.is_empty());
        for (title, expr) in queries {
            let expr = expr
                .replace("$instance", ".+")
                .replace("$__rate_interval", WINDOW)
                .replace("${__rate_interval}", WINDOW);
            let r = s.query(&expr, Some(s.complete_at + 4.0));
            assert!(
                !r.is_empty(),
                "{source:?} panel {title:?}: {expr} returned no data"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// Expected values, from the values themselves
// ---------------------------------------------------------------------------------------

/// The nearest-rank quantile of weighted sets: the smallest value whose cumulative weight
/// reaches `q` times the total (Prometheus' rank rule; with weights 1, HdrHistogram's).
fn nearest_rank(sets: &[(&[u64], f64)], q: f64) -> u64 {
    let mut all: Vec<(u64, f64)> = sets
        .iter()
        .flat_map(|(v, w)| v.iter().map(move |&x| (x, *w)))
        .collect();
    all.sort_unstable_by_key(|&(v, _)| v);
    let total: f64 = all.iter().map(|&(_, w)| w).sum();
    let rank = q.clamp(0.0, 1.0) * total;
    let mut seen = 0.0;
    for &(v, w) in &all {
        seen += w;
        if seen >= rank * (1.0 - 1e-12) {
            return v;
        }
    }
    all.last().map_or(0, |&(v, _)| v)
}

/// The classic buckets that `[lo, hi]` touch, as `(lower bound, upper bound)`: where
/// `histogram_quantile` interpolates for a quantile between `lo` and `hi`.
fn classic_bucket(lo: f64, hi: f64) -> (f64, f64) {
    let lower = BUCKETS
        .iter()
        .copied()
        .filter(|&b| b < lo)
        .fold(0.0, f64::max);
    let upper = BUCKETS
        .iter()
        .copied()
        .find(|&b| b >= hi)
        .unwrap_or(f64::INFINITY);
    (lower, upper)
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * a.abs().max(b.abs()).max(1e-12)
}

/// A small deterministic generator (SplitMix64), so the values are the same every run.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }
    /// A standard normal deviate (Box-Muller).
    fn normal(&mut self) -> f64 {
        let u1 = self.unit().max(1e-300);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

// ---------------------------------------------------------------------------------------
// Processes and the Prometheus API
// ---------------------------------------------------------------------------------------

fn prometheus_binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("PROMETHEUS_BIN") {
        let bin = PathBuf::from(bin);
        assert!(
            bin.is_file(),
            "PROMETHEUS_BIN={} is not a file",
            bin.display()
        );
        return bin;
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("prometheus"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "prometheus is not installed, and these tests need the real one: run \
                 scripts/ensure-prometheus.sh (Debian: apt-get install --no-install-recommends \
                 prometheus), or point PROMETHEUS_BIN at a prometheus 2.42+ binary"
            )
        })
}

type NodeStart = (SocketAddr, &'static str, ChildStdin, Receiver<String>);

/// Starts this test binary in node mode and waits for its address.
fn spawn_node(name: &'static str) -> NodeStart {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args([
            "--exact",
            "node_process_entry_point",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(NODE_ENV, name)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("re-executing the test binary as a node");
    let stdout = child.stdout.take().unwrap();
    let stdin = child.stdin.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // The child is reaped by no one on purpose: it exits when its stdin closes, which is
    // when this process exits.
    std::mem::forget(child);
    let line = expect_line(&rx, &format!("{name} listening"), Duration::from_secs(30));
    let addr = line.rsplit(' ').next().unwrap().parse().unwrap();
    (addr, name, stdin, rx)
}

/// Waits (bounded) for a node protocol line containing `what`; returns it.
fn expect_line(rx: &Receiver<String>, what: &str, limit: Duration) -> String {
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                if let Some(i) = line.find(NODE_SAYS)
                    && line[i + NODE_SAYS.len()..].starts_with(what)
                {
                    return line[i + NODE_SAYS.len()..].to_owned();
                }
            }
            Err(RecvTimeoutError::Timeout) => panic!("node did not say {what:?} within {limit:?}"),
            Err(RecvTimeoutError::Disconnected) => panic!("node exited before saying {what:?}"),
        }
    }
}

/// A Prometheus started through a small shell wrapper that kills it (and removes its data
/// directory) when this process exits and the wrapper's stdin closes, even on a crash.
struct Prometheus {
    addr: SocketAddr,
    log: PathBuf,
    _keepalive: ChildStdin,
}

impl Prometheus {
    fn start(bin: &Path, nodes: &[SocketAddr]) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "aureon-prom-test-{}-{}",
            std::process::id(),
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let targets: Vec<String> = nodes.iter().map(|a| format!("'{a}'")).collect();
        let targets = targets.join(", ");
        let rules_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/prometheus");
        let mut config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n  - '{}/*.rules.yml'\nscrape_configs:\n",
            rules_dir.canonicalize().unwrap_or(rules_dir).display()
        );
        for (job, format) in [
            ("aureon_text", Some("text")),
            ("aureon_openmetrics", Some("openmetrics")),
            ("aureon_native", None),
        ] {
            config.push_str(&format!("  - job_name: {job}\n"));
            if let Some(f) = format {
                config.push_str(&format!("    params:\n      format: ['{f}']\n"));
            }
            config.push_str(&format!(
                "    static_configs:\n      - targets: [{targets}]\n"
            ));
        }
        std::fs::write(dir.join("prometheus.yml"), &config).unwrap();
        let log = dir.join("prometheus.log");
        // `read` returns when our end of the pipe closes: at the latest when we exit.
        let script = r#"dir=$1; shift
"$@" </dev/null >"$dir/prometheus.log" 2>&1 &
pid=$!
read -r _
kill "$pid" 2>/dev/null
wait "$pid"
rm -rf "$dir""#;
        let mut wrapper = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg("aureon-prom-wrapper")
            .arg(&dir)
            .arg(bin)
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--enable-feature=exemplar-storage,native-histograms")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting sh for the prometheus wrapper");
        let keepalive = wrapper.stdin.take().unwrap();
        std::mem::forget(wrapper);
        let prom = Self {
            addr,
            log,
            _keepalive: keepalive,
        };
        let ready = http_support::poll(Duration::from_secs(30), Duration::from_millis(200), || {
            let r = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
            drop(r);
            let resp = http_support::get(addr, "/-/ready", &[]);
            (resp.status == 200).then_some(())
        });
        assert!(
            ready.is_some(),
            "Prometheus did not become ready on {addr} within 30 s; log:\n{}",
            prom.log_tail()
        );
        prom
    }

    fn wait_for_targets_up(&self, limit: Duration) {
        let mut last = Value::Null;
        let up = http_support::poll(limit, Duration::from_millis(250), || {
            let t = api_get(self.addr, "/api/v1/targets?state=active").ok()?;
            let targets = t["data"]["activeTargets"].as_array()?.clone();
            last = t;
            (targets.len() == 6 && targets.iter().all(|x| x["health"] == "up")).then_some(())
        });
        assert!(
            up.is_some(),
            "targets not all up within {limit:?}: {last}\nlog:\n{}",
            self.log_tail()
        );
    }

    fn query(&self, promql: &str, time: Option<f64>) -> Result<Vec<Value>, String> {
        api_query(self.addr, promql, time)
    }

    fn log_tail(&self) -> String {
        log_tail(&self.log)
    }
}

fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// GET an API path; the JSON body when Prometheus says `success`.
fn api_get(prometheus: SocketAddr, path: &str) -> Result<Value, String> {
    let r = http_support::get(prometheus, path, &[]);
    let v: Value =
        serde_json::from_slice(&r.body).map_err(|e| format!("{path}: {e}: {}", r.text()))?;
    if v["status"] != "success" {
        return Err(format!("{path}: {v}"));
    }
    Ok(v)
}

/// An instant query's result vector.
fn api_query(
    prometheus: SocketAddr,
    promql: &str,
    time: Option<f64>,
) -> Result<Vec<Value>, String> {
    let mut path = format!("/api/v1/query?query={}", http_support::encode(promql));
    if let Some(t) = time {
        path.push_str(&format!("&time={t:.3}"));
    }
    let v = api_get(prometheus, &path)?;
    Ok(v["data"]["result"].as_array().cloned().unwrap_or_default())
}

/// A sample of Prometheus' own `/metrics` (summed over label sets), `None` if absent.
fn api_metric(prometheus: SocketAddr, name: &str) -> Option<f64> {
    let text = http_support::get(prometheus, "/metrics", &[]).text();
    let values: Vec<f64> = text
        .lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

/// The float value of an instant-vector sample.
fn sample_value(sample: &Value) -> f64 {
    sample["value"][1]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(f64::NAN)
}
