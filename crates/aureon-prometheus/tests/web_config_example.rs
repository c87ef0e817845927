//! The example web configuration file of the documentation (`docs/examples/web-config.yml`)
//! works as its comments say: copied next to freshly made certificates, it serves
//! `/metrics` over TLS to a client trusting the CA with the documented example password,
//! answers 401 to a wrong one, and adds its header.

mod http_support;
mod tls_support;

use aureon_prometheus::http::{HealthReport, MetricsServer, ServerConfig, WebConfig};
use aureon_telemetry::{Registry, Snapshotter, SnapshotterConfig};
use std::path::Path;
use std::sync::Arc;

const EXAMPLE: &str = "../../docs/examples/web-config.yml";
/// The password the example's comment documents for its hash.
const PASSWORD: &str = "change-me-example-only";

#[test]
fn the_documented_example_file_serves_tls_with_basic_auth() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join(EXAMPLE);
    let text = std::fs::read_to_string(&example).expect("the example file");
    let parsed = WebConfig::parse(&text, &example).expect("the example parses");
    assert!(parsed.tls_enabled() && parsed.auth_enabled());
    assert_eq!(parsed.user_names().collect::<Vec<_>>(), ["prometheus"]);

    // Next to certificates named as the example names them (server.crt, server.key).
    let pki = tls_support::make_pki("example");
    let file = pki.dir.join("web-config.yml");
    std::fs::write(&file, &text).unwrap();
    let registry = Registry::new();
    registry.counter("example_total").increment(41);
    let snapshotter = Snapshotter::spawn(&registry, SnapshotterConfig::default()).unwrap();
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
    .expect("the example loads with real certificates");
    let client = tls_support::client_config(&pki.ca, None);
    let ok = tls_support::https_get(
        server.local_addr(),
        &client,
        "/metrics",
        &[&tls_support::basic("prometheus", PASSWORD)],
    )
    .unwrap();
    assert_eq!(ok.status, 200);
    assert!(ok.text().contains("example_total 41"), "{}", ok.text());
    assert_eq!(ok.header("x-content-type-options"), Some("nosniff"));
    let wrong = tls_support::https_get(
        server.local_addr(),
        &client,
        "/metrics",
        &[&tls_support::basic("prometheus", "not-the-password")],
    )
    .unwrap();
    assert_eq!(wrong.status, 401);
    assert!(
        wrong
            .header("www-authenticate")
            .is_some_and(|v| v.starts_with("Basic"))
    );
}
