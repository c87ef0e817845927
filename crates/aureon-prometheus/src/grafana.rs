//! Grafana dashboards generated from the exporter's own naming rules, so that every query
//! asks for a series the exporter actually emits.
//!
//! [`dashboard`] returns Grafana's dashboard model (schema version 39) as JSON, ready for
//! the HTTP API (`POST /api/dashboards/db` with `{"dashboard": …}`) or a provisioning file.
//! The Prometheus data source is a template variable (`$datasource`, type `datasource`), the
//! instances to show another (`$instance`, from `label_values`). Queries use Grafana's
//! `$__rate_interval`. Metric names go through [`ExportOptions`]' naming
//! ([`ExportOptions::counter_name`], [`ExportOptions::histogram_name`], …), so a namespace,
//! a histogram mode or a unit change in the options changes the queries with the output.

use crate::options::ExportOptions;
use aureon_telemetry::Unit;
use serde_json::{Value, json};

/// Where the latency panel takes its percentiles from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LatencySource {
    /// The exported summary's `quantile` series (cumulative since start, per instance).
    Summary,
    /// `histogram_quantile` over the classic `_bucket` series, aggregated across instances.
    Classic,
    /// `histogram_quantile` over native histograms (Prometheus scraping protobuf with
    /// `--enable-feature=native-histograms`), aggregated across instances.
    Native,
}

/// What the dashboard shows. [`DashboardSpec::default`] uses the aureon node's metric names.
#[derive(Debug, Clone)]
pub struct DashboardSpec {
    /// Dashboard title.
    pub title: String,
    /// Dashboard uid (stable, so re-importing replaces it).
    pub uid: String,
    /// The export options the node's exporter uses (names depend on them).
    pub options: ExportOptions,
    /// Registry name of the latency histogram (label `op`).
    pub latency_histogram: String,
    /// Unit the latency histogram records in.
    pub latency_unit: Unit,
    /// Percentiles drawn, as quantiles.
    pub quantiles: Vec<f64>,
    /// Where percentiles come from; `None`: classic buckets when the options export the
    /// latency histogram as a histogram, else the summary.
    pub latency_source: Option<LatencySource>,
    /// Registry name of the operations counter (label `op`).
    pub operations_counter: String,
    /// Registry name of the errors counter (labels `op`, `kind`).
    pub errors_counter: String,
    /// Registry name of the health gauge (0 healthy, 1 degraded, 2 unhealthy).
    pub health_gauge: String,
    /// Registry name of the node's own error-rate gauge (a ratio), if it has one.
    pub error_rate_gauge: Option<String>,
    /// Registry name of the node's own throughput gauge (ops/s), if it has one.
    pub throughput_gauge: Option<String>,
    /// Registry name of the node's own average-latency gauge (µs), if it has one.
    pub avg_latency_gauge: Option<String>,
    /// Registry name of the resident-memory gauge (bytes), if there is one.
    pub memory_gauge: Option<String>,
}

impl Default for DashboardSpec {
    fn default() -> Self {
        Self {
            title: "Aureon Node Metrics".to_owned(),
            uid: "aureon-node".to_owned(),
            options: ExportOptions::default(),
            latency_histogram: "aureon_operation_latency".to_owned(),
            latency_unit: Unit::Microseconds,
            quantiles: vec![0.5, 0.95, 0.99],
            latency_source: None,
            operations_counter: "aureon_operations_total".to_owned(),
            errors_counter: "aureon_errors_total".to_owned(),
            health_gauge: "aureon_health_status".to_owned(),
            error_rate_gauge: Some("aureon_error_rate".to_owned()),
            throughput_gauge: Some("aureon_throughput_ops_sec".to_owned()),
            avg_latency_gauge: Some("aureon_latency_avg_us".to_owned()),
            memory_gauge: Some("aureon_process_resident_memory_bytes".to_owned()),
        }
    }
}

const SEL: &str = r#"instance=~"$instance""#;
const DS: &str = "${datasource}";

/// The dashboard as Grafana's JSON model.
pub fn dashboard(spec: &DashboardSpec) -> Value {
    let o = &spec.options;
    let ops = o.counter_name(&spec.operations_counter);
    let errors = o.counter_name(&spec.errors_counter);
    let mut panels = Vec::new();
    let mut y = 0;
    let mut place = |panels: &mut Vec<Value>, mut p: Value, w: u32, h: u32, x: u32| {
        p["id"] = json!(panels.len() + 1);
        p["gridPos"] = json!({"h": h, "w": w, "x": x, "y": y});
        panels.push(p);
        if x + w >= 24 {
            y += h;
        }
    };
    let health = o.gauge_name(&spec.health_gauge);
    place(&mut panels, health_panel(&health), 6, 8, 0);
    place(&mut panels, latency_panel(spec), 18, 8, 6);
    let mut throughput = vec![target(
        &format!("sum by (op) (rate({ops}{{{SEL}}}[$__rate_interval]))"),
        "{{op}}",
    )];
    if let Some(g) = &spec.throughput_gauge {
        let g = o.gauge_name(g);
        throughput.push(target(&format!("sum({g}{{{SEL}}})"), "node-reported total"));
    }
    place(
        &mut panels,
        timeseries("Throughput", "ops", throughput),
        12,
        8,
        0,
    );
    let errors_by_kind = vec![target(
        &format!("sum by (kind) (rate({errors}{{{SEL}}}[$__rate_interval]))"),
        "{{kind}}",
    )];
    place(
        &mut panels,
        timeseries("Error rate by kind", "reqps", errors_by_kind),
        12,
        8,
        12,
    );
    let mut ratio = vec![target(
        &format!(
            "sum(rate({errors}{{{SEL}}}[$__rate_interval])) / sum(rate({ops}{{{SEL}}}[$__rate_interval]))"
        ),
        "errors / operations",
    )];
    if let Some(g) = &spec.error_rate_gauge {
        let g = o.gauge_name(g);
        ratio.push(target(
            &format!("max by (instance) ({g}{{{SEL}}})"),
            "node-reported {{instance}}",
        ));
    }
    place(
        &mut panels,
        timeseries("Error ratio", "percentunit", ratio),
        12,
        8,
        0,
    );
    let mut misc = Vec::new();
    if let Some(g) = &spec.avg_latency_gauge {
        let g = o.gauge_name(g);
        misc.push(target(&format!("{g}{{{SEL}}}"), "avg latency {{instance}}"));
    }
    if !misc.is_empty() {
        place(
            &mut panels,
            timeseries("Average latency (node-reported)", "µs", misc),
            12,
            8,
            12,
        );
    }
    // Label-set caps: which metrics record into their overflow series, and how often the
    // registry refuses a registration. `or vector(0)` so that a healthy node shows 0, not
    // "No data".
    let (label, value) = aureon_telemetry::OVERFLOW_LABEL;
    let mut cap = vec![target(
        &format!("group by (__name__) ({{{label}=\"{value}\",{SEL}}}) or vector(0)"),
        "{{__name__}} at its label-set cap",
    )];
    if let Some(prefix) = o.internal_prefix() {
        cap.push(target(
            &format!(
                "sum(rate({prefix}_registration_errors_total{{{SEL}}}[$__rate_interval])) or vector(0)"
            ),
            "refused registrations/s",
        ));
    }
    place(
        &mut panels,
        timeseries("Label-set caps: overflow series, refusals", "short", cap),
        12,
        8,
        0,
    );
    if let Some(g) = &spec.memory_gauge {
        let g = o.gauge_name(g);
        let mem = vec![target(&format!("{g}{{{SEL}}}"), "{{instance}}")];
        place(
            &mut panels,
            timeseries("Resident memory", "bytes", mem),
            24,
            8,
            0,
        );
    }
    json!({
        "uid": spec.uid,
        "title": spec.title,
        "tags": ["aureon"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "editable": true,
        "refresh": "10s",
        "time": {"from": "now-1h", "to": "now"},
        "templating": {"list": [
            {
                "type": "datasource",
                "name": "datasource",
                "label": "Data source",
                "query": "prometheus",
                "current": {},
                "hide": 0,
                "refresh": 1,
                "regex": "",
                "options": []
            },
            {
                "type": "query",
                "name": "instance",
                "label": "Instance",
                "datasource": {"type": "prometheus", "uid": DS},
                "definition": format!("label_values({ops}, instance)"),
                "query": {"query": format!("label_values({ops}, instance)"), "refId": "instance"},
                "includeAll": true,
                "allValue": ".*",
                "multi": true,
                "current": {"text": "All", "value": "$__all"},
                "refresh": 2,
                "sort": 1
            }
        ]},
        "panels": panels
    })
}

/// The dashboard as pretty-printed JSON text.
pub fn dashboard_json(spec: &DashboardSpec) -> String {
    // Serializing a `Value` cannot fail.
    serde_json::to_string_pretty(&dashboard(spec)).unwrap_or_default()
}

/// Every `(panel title, PromQL expression)` of a dashboard, for checking queries against a
/// Prometheus (substitute `$instance` and `$__rate_interval` first).
pub fn queries(dashboard: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for p in dashboard["panels"].as_array().into_iter().flatten() {
        let title = p["title"].as_str().unwrap_or_default();
        for t in p["targets"].as_array().into_iter().flatten() {
            if let Some(expr) = t["expr"].as_str() {
                out.push((title.to_owned(), expr.to_owned()));
            }
        }
    }
    out
}

fn latency_panel(spec: &DashboardSpec) -> Value {
    let o = &spec.options;
    let name = &spec.latency_histogram;
    let source = spec
        .latency_source
        .unwrap_or(if o.histogram_mode(name).has_histogram() {
            LatencySource::Classic
        } else {
            LatencySource::Summary
        });
    let hist = o.histogram_name(name, spec.latency_unit);
    let targets = match (source, hist) {
        (LatencySource::Classic, Some(h)) => spec
            .quantiles
            .iter()
            .map(|q| {
                target(
                    &format!("histogram_quantile({q}, sum by (le, op) (rate({h}_bucket{{{SEL}}}[$__rate_interval])))"),
                    &format!("p{} {{{{op}}}}", percent(*q)),
                )
            })
            .collect(),
        (LatencySource::Native, Some(h)) => spec
            .quantiles
            .iter()
            .map(|q| {
                target(
                    &format!("histogram_quantile({q}, sum by (op) (rate({h}{{{SEL}}}[$__rate_interval])))"),
                    &format!("p{} {{{{op}}}}", percent(*q)),
                )
            })
            .collect(),
        _ => {
            let s = o.summary_name(name, spec.latency_unit).unwrap_or_default();
            // Summary quantiles exist only for the quantiles the exporter writes.
            let mut qs: Vec<f64> =
                spec.quantiles.iter().copied().filter(|q| o.quantiles().contains(q)).collect();
            if qs.is_empty() {
                qs = o.quantiles().to_vec();
            }
            let mut label = Vec::new();
            qs.iter()
                .map(|&q| {
                    label.clear();
                    crate::numfmt::push_label_float(&mut label, q);
                    let ql = String::from_utf8_lossy(&label);
                    target(
                        &format!("max by (op) ({s}{{quantile=\"{ql}\",{SEL}}})"),
                        &format!("p{} {{{{op}}}} (since start)", percent(q)),
                    )
                })
                .collect()
        }
    };
    timeseries("Latency percentiles", "s", targets)
}

fn percent(q: f64) -> String {
    let p = q * 100.0;
    let mut s = format!("{p:.3}");
    while s.ends_with('0') {
        s.pop();
    }
    if s.ends_with('.') {
        s.pop();
    }
    s
}

fn target(expr: &str, legend: &str) -> Value {
    json!({
        "datasource": {"type": "prometheus", "uid": DS},
        "expr": expr,
        "legendFormat": legend,
        "range": true
    })
}

fn timeseries(title: &str, unit: &str, mut targets: Vec<Value>) -> Value {
    for (i, t) in targets.iter_mut().enumerate() {
        t["refId"] = json!(char::from(b'A' + (i % 26) as u8).to_string());
    }
    json!({
        "type": "timeseries",
        "title": title,
        "datasource": {"type": "prometheus", "uid": DS},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}, "tooltip": {"mode": "multi"}},
        "targets": targets
    })
}

fn health_panel(health: &str) -> Value {
    json!({
        "type": "stat",
        "title": "Health status",
        "datasource": {"type": "prometheus", "uid": DS},
        "fieldConfig": {
            "defaults": {
                "mappings": [{"type": "value", "options": {
                    "0": {"text": "Healthy", "color": "green", "index": 0},
                    "1": {"text": "Degraded", "color": "yellow", "index": 1},
                    "2": {"text": "Unhealthy", "color": "red", "index": 2}
                }}],
                "color": {"mode": "thresholds"},
                "thresholds": {"mode": "absolute", "steps": [
                    {"color": "green", "value": null},
                    {"color": "yellow", "value": 1},
                    {"color": "red", "value": 2}
                ]}
            },
            "overrides": []
        },
        "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": false}, "colorMode": "background", "textMode": "auto"},
        "targets": [{
            "datasource": {"type": "prometheus", "uid": DS},
            "expr": format!("{health}{{{SEL}}}"),
            "legendFormat": "{{instance}}",
            "refId": "A",
            "instant": true
        }]
    })
}
