//! A real Prometheus (Debian's 2.42) scrapes the endpoint over https: with `tls_config`
//! (the test's CA) and `basic_auth` it stores the series with the values recorded; with a
//! client certificate against a server that requires one (mTLS) too; with a wrong password
//! its target is down and the scrape error names the 401.
//!
//! Certificates are made per run (`tls_support`). Without `prometheus` installed the test
//! FAILS, saying how to install it (`scripts/ensure-prometheus.sh`).

mod http_support;
mod prom_support;
mod tls_support;

use aureon_prometheus::http::{HealthReport, MetricsServer, ServerConfig};
use aureon_telemetry::{Registry, Snapshotter, SnapshotterConfig};
use prom_support::{Prometheus, WAIT, prometheus_binary};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const PASSWORD: &str = "scrape-secret";

/// A server for `registry` with the web configuration `yaml`, written next to the PKI.
fn serve(registry: &Registry, dir: &Path, name: &str, yaml: &str) -> (MetricsServer, Snapshotter) {
    let file = dir.join(name);
    std::fs::write(&file, yaml).unwrap();
    let snapshotter = Snapshotter::spawn(
        registry,
        SnapshotterConfig {
            interval: Duration::from_millis(200),
            ..SnapshotterConfig::default()
        },
    )
    .unwrap();
    let config = ServerConfig::builder()
        .port(0)
        .web_config_file(&file)
        .build()
        .unwrap();
    let server = MetricsServer::start(
        config,
        snapshotter.reader(),
        Arc::new(HealthReport::healthy),
    )
    .unwrap();
    (server, snapshotter)
}

#[test]
fn prometheus_scrapes_over_https_with_basic_auth_and_mtls_and_reports_a_401() {
    let bin = prometheus_binary();
    let pki = tls_support::make_pki("prom-https");
    let hash = bcrypt::hash(PASSWORD, 4).unwrap();
    let registry = Registry::new();
    registry.counter("https_scraped").increment(17);
    registry
        .counter_with("https_jobs", &[("queue", "a")])
        .increment(5);
    let tls = format!(
        "tls_server_config:\n  cert_file: {}\n  key_file: {}\n",
        pki.server_cert.display(),
        pki.server_key.display()
    );
    let (auth_server, _s1) = serve(
        &registry,
        &pki.dir,
        "auth.yml",
        &format!("{tls}basic_auth_users:\n  prometheus: {hash}\n"),
    );
    let (mtls_server, _s2) = serve(
        &registry,
        &pki.dir,
        "mtls.yml",
        &format!(
            "{tls}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {}\n",
            pki.client_ca.display()
        ),
    );
    let password_file = pki.dir.join("password");
    std::fs::write(&password_file, PASSWORD).unwrap();
    // `extra` follows `ca_file`: lines indented by 6 continue `tls_config` (the client
    // certificate of mTLS), lines indented by 4 are keys of the job (`basic_auth`).
    let job = |name: &str, target: std::net::SocketAddr, extra: &str| {
        format!(
            "  - job_name: {name}\n    scheme: https\n    tls_config:\n      ca_file: {}\n{extra}\
             \x20   static_configs:\n      - targets: ['{target}']\n",
            pki.ca.display()
        )
    };
    let jobs = [
        job(
            "basic_auth",
            auth_server.local_addr(),
            &format!(
                "    basic_auth:\n      username: prometheus\n      password_file: {}\n",
                password_file.display()
            ),
        ),
        job(
            "wrong_password",
            auth_server.local_addr(),
            "    basic_auth:\n      username: prometheus\n      password: not-it\n",
        ),
        job(
            "mtls",
            mtls_server.local_addr(),
            &format!(
                "      cert_file: {}\n      key_file: {}\n",
                pki.client_cert.display(),
                pki.client_key.display()
            ),
        ),
    ];
    let prom = Prometheus::start(&bin, &jobs.concat());

    for job in ["basic_auth", "mtls"] {
        prom.wait_for_value(&format!("https_scraped_total{{job=\"{job}\"}}"), 17.0);
        prom.wait_for_value(
            &format!("https_jobs_total{{job=\"{job}\",queue=\"a\"}}"),
            5.0,
        );
        prom.wait_for_value(&format!("up{{job=\"{job}\"}}"), 1.0);
    }
    prom.wait_for_value("up{job=\"wrong_password\"}", 0.0);
    let error = http_support::poll(WAIT, Duration::from_millis(200), || {
        let v = prom.api("/api/v1/targets?state=active");
        v["data"]["activeTargets"]
            .as_array()?
            .iter()
            .find(|t| t["labels"]["job"] == "wrong_password")
            .and_then(|t| t["lastError"].as_str().map(str::to_owned))
            .filter(|e| !e.is_empty())
    })
    .expect("the wrong-password target reports an error");
    assert!(error.contains("401"), "lastError names the status: {error}");
    assert_eq!(
        prom.value("https_scraped_total{job=\"wrong_password\"}"),
        None,
        "nothing stored without the password"
    );
}
