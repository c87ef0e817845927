//! The generated Grafana dashboard: Grafana's model with a Prometheus data-source variable,
//! the four required panels, every query valid PromQL (checked by the real `promtool`) and
//! naming only series the exporter emits for a snapshot with the aureon node's metric names.

mod common;

use aureon_prometheus::grafana::{
    DashboardSpec, LatencySource, dashboard, dashboard_json, queries,
};
use aureon_prometheus::{ExportOptions, Format, HistogramMode, render};
use aureon_telemetry::{OVERFLOW_LABEL, Registry};
use std::collections::BTreeSet;
use std::process::Command;

/// A snapshot with the node's metric names, as `aureon-node` registers them.
fn node_registry() -> Registry {
    let r = Registry::new();
    for op in ["block_process", "tx_validation"] {
        let h = r.histogram_with("aureon_operation_latency", &[("op", op)]);
        h.record(150);
        h.record(2000);
        r.counter_with("aureon_operations_total", &[("op", op)])
            .increment(10);
        r.counter_with(
            "aureon_errors_total",
            &[("op", op), ("kind", "TooManyValidators")],
        )
        .increment(1);
    }
    r.gauge("aureon_latency_avg_us").set(1200.0);
    r.gauge("aureon_error_rate").set(0.01);
    r.gauge("aureon_throughput_ops_sec").set(150.0);
    r.gauge("aureon_health_status").set(0.0);
    r.gauge("aureon_process_resident_memory_bytes").set(2e8);
    r
}

/// Series and family names in a text exposition.
fn emitted_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            names.insert(rest.split(' ').next().unwrap().to_owned());
        } else if !line.starts_with('#') && !line.is_empty() {
            let end = line.find(['{', ' ']).unwrap();
            names.insert(line[..end].to_owned());
        }
    }
    names
}

/// Metric names in a PromQL expression: identifiers directly followed by a selector `{`
/// (every query of the dashboard selects by instance), or the first argument of
/// `label_values(`.
fn metric_names(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let b = expr.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_alphabetic() || b[i] == b'_' || b[i] == b':' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b':') {
                i += 1;
            }
            let word = &expr[start..i];
            let quoted = start > 0 && b[start - 1] == b'"';
            if !quoted && (b.get(i) == Some(&b'{') || expr[..start].ends_with("label_values(")) {
                out.push(word.to_owned());
            } else if !quoted && word.starts_with("aureon_") {
                panic!("{word} in {expr:?} is used without a selector");
            }
        } else {
            i += 1;
        }
    }
    out
}

fn check_against_exposition(spec: &DashboardSpec) -> usize {
    let snapshot = node_registry().snapshot();
    let text = String::from_utf8(render(&snapshot, Format::PrometheusText, &spec.options)).unwrap();
    let emitted = emitted_names(&text);
    let d = dashboard(spec);
    let mut checked = 0;
    let mut exprs: Vec<String> = queries(&d).into_iter().map(|(_, e)| e).collect();
    exprs.extend(
        d["templating"]["list"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v["definition"].as_str().map(str::to_owned)),
    );
    for expr in &exprs {
        let names = metric_names(expr);
        // The label-set cap panel selects overflow series across every name by their label.
        let by_overflow_label = expr.contains(&format!("{{{}=", OVERFLOW_LABEL.0));
        assert!(
            !names.is_empty() || by_overflow_label,
            "no metric in {expr}"
        );
        for n in names {
            assert!(
                emitted.contains(&n),
                "{n} (in {expr}) is not emitted; emitted: {emitted:?}"
            );
            checked += 1;
        }
    }
    checked
}

#[test]
fn every_query_names_only_emitted_series() {
    for (mode, source) in [
        (HistogramMode::Summary, None),
        (HistogramMode::Histogram, None),
        (HistogramMode::Both, None),
        (HistogramMode::Both, Some(LatencySource::Summary)),
        (HistogramMode::Histogram, Some(LatencySource::Native)),
    ] {
        let spec = DashboardSpec {
            options: ExportOptions::builder()
                .histogram_mode(mode)
                .build()
                .unwrap(),
            latency_source: source,
            ..DashboardSpec::default()
        };
        assert!(check_against_exposition(&spec) >= 9, "{mode:?}");
    }
    // A namespace changes the names, and the dashboard follows.
    let spec = DashboardSpec {
        options: ExportOptions::builder()
            .namespace("prod")
            .histogram_mode(HistogramMode::Histogram)
            .build()
            .unwrap(),
        ..DashboardSpec::default()
    };
    check_against_exposition(&spec);
    assert!(dashboard_json(&spec).contains("prod_aureon_operation_latency_seconds_bucket"));
}

#[test]
fn the_model_has_a_datasource_variable_and_the_required_panels() {
    let spec = DashboardSpec {
        options: ExportOptions::builder()
            .histogram_mode(HistogramMode::Histogram)
            .build()
            .unwrap(),
        ..DashboardSpec::default()
    };
    let d: serde_json::Value = serde_json::from_str(&dashboard_json(&spec)).unwrap();
    let vars = d["templating"]["list"].as_array().unwrap();
    assert!(vars.iter().any(|v| v["type"] == "datasource"
        && v["query"] == "prometheus"
        && v["name"] == "datasource"));
    let panels = d["panels"].as_array().unwrap();
    let titles: Vec<&str> = panels
        .iter()
        .map(|p| p["title"].as_str().unwrap())
        .collect();
    for t in [
        "Latency percentiles",
        "Error rate by kind",
        "Throughput",
        "Health status",
    ] {
        assert!(titles.contains(&t), "{titles:?}");
    }
    let mut ids = BTreeSet::new();
    for p in panels {
        assert!(
            ids.insert(p["id"].as_u64().unwrap()),
            "panel ids are unique"
        );
        assert_eq!(p["datasource"]["uid"], "${datasource}");
        for t in p["targets"].as_array().unwrap() {
            assert_eq!(t["datasource"]["uid"], "${datasource}");
            assert!(t["refId"].is_string());
        }
        assert!(p["gridPos"]["w"].as_u64().unwrap() <= 24);
    }
    let latency = panels
        .iter()
        .find(|p| p["title"] == "Latency percentiles")
        .unwrap();
    let exprs: Vec<&str> = latency["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["expr"].as_str().unwrap())
        .collect();
    assert!(exprs.iter().any(|e| e.starts_with(
        "histogram_quantile(0.99, sum by (le, op) (rate(aureon_operation_latency_seconds_bucket"
    )));
    let errors = panels
        .iter()
        .find(|p| p["title"] == "Error rate by kind")
        .unwrap();
    assert!(
        errors["targets"][0]["expr"]
            .as_str()
            .unwrap()
            .contains("sum by (kind)")
    );
    let health = panels
        .iter()
        .find(|p| p["title"] == "Health status")
        .unwrap();
    assert_eq!(health["type"], "stat");
    assert_eq!(d["schemaVersion"], 39);
}

/// Every query, with Grafana's variables substituted, is valid PromQL to Prometheus itself:
/// wrapped as recording rules and checked with `promtool check rules`.
#[test]
fn every_query_is_valid_promql() {
    for source in [
        LatencySource::Summary,
        LatencySource::Classic,
        LatencySource::Native,
    ] {
        let spec = DashboardSpec {
            options: ExportOptions::builder()
                .histogram_mode(HistogramMode::Both)
                .build()
                .unwrap(),
            latency_source: Some(source),
            ..DashboardSpec::default()
        };
        let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
        for (i, (_, expr)) in queries(&dashboard(&spec)).into_iter().enumerate() {
            let expr = expr
                .replace("$__rate_interval", "1m")
                .replace("$instance", ".*");
            rules.push_str(&format!(
                "      - record: dashboard:query{i}\n        expr: {}\n",
                serde_json::to_string(&expr).unwrap()
            ));
        }
        let dir = common::temp_path("rules");
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("rules.yml");
        std::fs::write(&file, &rules).unwrap();
        let out = Command::new(common::promtool())
            .args(["check", "rules"])
            .arg(&file)
            .output()
            .unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(
            out.status.success(),
            "{source:?}: {}{}\n{rules}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The label-set cap panel selects what a registry past its cap really exports: a series of
/// the capped name carrying the overflow label, in every format.
#[test]
fn the_overflow_panel_selects_the_overflow_series_a_capped_registry_exports() {
    let registry = Registry::builder().max_label_sets(1).build();
    registry
        .counter_with("peer_messages", &[("peer", "a")])
        .increment(1);
    registry
        .counter_with("peer_messages", &[("peer", "b")])
        .increment(2);
    let d = dashboard(&DashboardSpec::default());
    let (_, expr) = queries(&d)
        .into_iter()
        .find(|(title, _)| title.starts_with("Label-set caps"))
        .expect("the label-set cap panel");
    let (label, value) = OVERFLOW_LABEL;
    let selector = format!("{label}=\"{value}\"");
    assert!(expr.contains(&selector), "{expr}");
    for format in [Format::PrometheusText, Format::OpenMetrics] {
        let text = String::from_utf8(render(
            &registry.snapshot(),
            format,
            &ExportOptions::default(),
        ))
        .unwrap();
        assert!(
            text.lines().any(|l| l.starts_with("peer_messages_total{")
                && l.contains(&selector)
                && l.ends_with(" 2")),
            "{format:?}: {text}"
        );
    }
}
