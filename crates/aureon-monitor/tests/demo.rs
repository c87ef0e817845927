//! `demo --no-tui` as a user or a script runs it: it serves real series on `/metrics` and a
//! JSON `/health` while running, exits 0 at the end of `--duration` with a report whose
//! figures hold together, and its interval log holds exactly the latencies it recorded.

mod common;

use common::{BIN, Scratch, free_port, http_get, number_after, run, text, wait_bounded};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn demo_serves_metrics_while_running_and_ends_with_a_real_report() {
    let scratch = Scratch::new("demo");
    let hlog = scratch.path("demo.hlog");
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let child = Command::new(BIN)
        .args([
            "demo",
            "--duration",
            "5s",
            "--no-tui",
            "--listen",
            &listen,
            "--rate",
            "50",
            "--threads",
            "2",
        ])
        .args(["--report-every", "2s", "--hlog", hlog.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // Scrape over loopback while it runs, until the block counter has moved.
    let started = Instant::now();
    let mut metrics = String::new();
    let mut scraped_blocks = 0;
    while started.elapsed() < Duration::from_secs(4) {
        if let Some((200, body)) = http_get(port, "/metrics") {
            scraped_blocks =
                number_after(&body, "aureon_operations_total{op=\"block_processing\"}")
                    .unwrap_or(0);
            metrics = body;
            if scraped_blocks > 0 && health_gauge(&metrics).is_some() {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(scraped_blocks > 0, "no blocks on /metrics:\n{metrics}");
    for series in [
        // Histograms for aggregation, summaries next to them (the demo exports both).
        "# TYPE aureon_operation_latency_seconds histogram",
        "aureon_operation_latency_seconds_bucket{op=\"block_processing\",le=\"0.02\"}",
        "aureon_operation_latency_seconds_count{op=\"header_validation\"}",
        "# TYPE aureon_operation_latency_quantiles_seconds summary",
        "aureon_operation_latency_quantiles_seconds{op=\"tx_validation\",quantile=\"0.99\"}",
        "aureon_operations_total{op=\"tx_validation\"}",
        "aureon_throughput_ops_sec ",
    ] {
        assert!(
            metrics.contains(series),
            "{series:?} missing from /metrics:\n{metrics}"
        );
    }
    // The OpenMetrics scrape carries block heights as exemplars of block_processing's
    // buckets ("which block made p99 jump"); other operations record none.
    let mut exemplars = Vec::new();
    let mut openmetrics = String::new();
    while exemplars.is_empty() && started.elapsed() < Duration::from_secs(5) {
        if let Some((200, body)) = http_get(port, "/metrics?format=openmetrics") {
            exemplars = height_exemplars(&body);
            openmetrics = body;
        }
        if exemplars.is_empty() {
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    assert!(
        !exemplars.is_empty(),
        "no height exemplars on block_processing:\n{openmetrics}"
    );
    for &(le, _, seconds) in &exemplars {
        assert!(
            seconds <= le && seconds >= 0.0,
            "{seconds} s exemplar on le={le}"
        );
    }
    assert!(
        !openmetrics
            .lines()
            .any(|l| l.contains("op=\"tx_validation\"") && l.contains(" # {")),
        "tx_validation has exemplars it never recorded"
    );

    // The status depends on this machine's load (a preempted thread is a real latency spike),
    // so check that /health is consistent with itself rather than that it is healthy.
    let gauge = health_gauge(&metrics).expect("aureon_health_status is exported");
    assert!([0.0, 1.0, 2.0].contains(&gauge), "{gauge}");
    let (status, health) = http_get(port, "/health").expect("/health answers");
    let health: serde_json::Value = serde_json::from_str(&health).expect("/health is JSON");
    let expected_http = match health["status"].as_str() {
        Some("healthy") => {
            assert_eq!(
                health["reasons"].as_array().map(Vec::len),
                Some(0),
                "{health}"
            );
            200
        }
        Some("degraded") => 200,
        Some("unhealthy") => 503,
        other => panic!("unexpected /health status {other:?}"),
    };
    assert_eq!(status, expected_http, "{health}");

    // Every metric the Grafana dashboard queries is one the demo really exports.
    let grafana = run(&["grafana"], Duration::from_secs(20));
    let dashboard = String::from_utf8_lossy(&grafana.stdout).into_owned();
    for name in metric_names_in_queries(&dashboard) {
        assert!(
            metrics.contains(&name),
            "the dashboard queries {name}, which /metrics lacks"
        );
    }

    let out = wait_bounded(child, Duration::from_secs(30));
    let (stdout, stderr) = text(&out);
    assert!(
        out.status.success(),
        "exit {:?}\n{stdout}\n{stderr}",
        out.status
    );
    assert!(
        stderr.contains(&format!("Serving http://{listen}/metrics")),
        "{stderr}"
    );
    assert!(stdout.contains("── report at 2s ──"), "{stdout}");
    let report = &stdout[stdout.find("── final report").expect("a final report")..];
    assert!(
        report.contains("stopped by the end of --duration"),
        "{report}"
    );
    assert!(report.contains("Service: aureon-node (demo)"), "{report}");
    assert!(
        ["Status: Healthy", "Status: Degraded", "Status: Unhealthy"]
            .iter()
            .any(|s| report.contains(s)),
        "{report}"
    );

    // Real figures that hold together: one header validation per block, and the counts
    // only grew after the scrape.
    let blocks = number_after(report, "block_processing:").expect("block count");
    let headers = number_after(report, "header_validation:").expect("header count");
    let txs = number_after(report, "tx_validation:").expect("tx count");
    assert_eq!(blocks, headers, "{report}");
    // Each worker's chain starts at height 0 (a corrupt header may claim one more).
    for &(_, height, _) in &exemplars {
        assert!(
            height <= blocks + 1,
            "exemplar height {height} of {blocks} blocks"
        );
    }
    assert!(
        blocks >= scraped_blocks && blocks > 50,
        "{blocks} blocks after {scraped_blocks}"
    );
    assert!(txs > blocks, "{report}");
    assert!(
        report.contains("avg ") && report.contains("Throughput: "),
        "{report}"
    );

    // The interval log holds every latency recorded: one per operation.
    assert!(report.contains("Interval log:"), "{report}");
    let logged = run(
        &["report", "--from", hlog.to_str().unwrap()],
        Duration::from_secs(20),
    );
    let (table, err) = text(&logged);
    assert!(logged.status.success(), "{err}");
    assert!(table.contains("values in microseconds"), "{table}");
    assert_eq!(
        number_after(&table, "op=block_processing"),
        Some(blocks),
        "{table}"
    );
    assert_eq!(
        number_after(&table, "op=header_validation"),
        Some(headers),
        "{table}"
    );
    assert_eq!(
        number_after(&table, "op=tx_validation"),
        Some(txs),
        "{table}"
    );
}

#[test]
fn ctrl_c_stops_the_demo_cleanly_with_a_final_report() {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    // No --duration: without a terminal it would run 30 s; SIGINT ends it sooner.
    let child = Command::new(BIN)
        .args([
            "demo",
            "--listen",
            &listen,
            "--rate",
            "50",
            "--threads",
            "2",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let up = Instant::now();
    while http_get(port, "/health").is_none() {
        assert!(
            up.elapsed() < Duration::from_secs(10),
            "the demo never served /health"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(1500));
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let interrupted = Instant::now();
    let out = wait_bounded(child, Duration::from_secs(15));
    let (stdout, stderr) = text(&out);
    assert!(
        out.status.success(),
        "exit {:?}\n{stdout}\n{stderr}",
        out.status
    );
    assert!(
        interrupted.elapsed() < Duration::from_secs(5),
        "slow to stop"
    );
    assert!(
        stderr.contains("No terminal: printing reports instead"),
        "{stderr}"
    );
    assert!(
        stdout.contains("stopped by a signal (Ctrl-C or SIGTERM)"),
        "{stdout}"
    );
    assert!(
        number_after(&stdout, "block_processing:").is_some_and(|n| n > 0),
        "{stdout}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// The value of the `aureon_health_status` gauge in an exposition, once evaluated.
/// `(le, height, value in seconds)` of every exemplar on block_processing's bucket lines:
/// `…_bucket{op="block_processing",le="0.001"} 7 # {height="123"} 0.000141`.
fn height_exemplars(openmetrics: &str) -> Vec<(f64, u64, f64)> {
    openmetrics
        .lines()
        .filter(|l| {
            l.starts_with("aureon_operation_latency_seconds_bucket{op=\"block_processing\"")
        })
        .filter_map(|l| {
            let (sample, exemplar) = l.split_once(" # ")?;
            let le = sample.split("le=\"").nth(1)?.split('"').next()?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            let height = exemplar.strip_prefix("{height=\"")?.split('"').next()?;
            let value = exemplar.split("} ").nth(1)?.split_whitespace().next()?;
            Some((le, height.parse().ok()?, value.parse().ok()?))
        })
        .collect()
}

fn health_gauge(metrics: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("aureon_health_status "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|v| !v.is_nan())
}

/// The `aureon_…` metric names in a Grafana dashboard's PromQL expressions.
fn metric_names_in_queries(dashboard: &str) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(dashboard).expect("grafana prints JSON");
    let mut exprs = Vec::new();
    collect_exprs(&v, &mut exprs);
    assert!(!exprs.is_empty(), "no queries in the dashboard");
    let mut names: Vec<String> = exprs
        .iter()
        .flat_map(|e| {
            e.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|w| w.starts_with("aureon_"))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

fn collect_exprs(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("expr", serde_json::Value::String(e)) => out.push(e.clone()),
                    _ => collect_exprs(v, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_exprs(v, out)),
        _ => {}
    }
}
