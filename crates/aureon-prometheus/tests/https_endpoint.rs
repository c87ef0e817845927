//! The endpoint with a web configuration file, over real loopback TCP and TLS (rustls client,
//! certificates generated per run): basic auth (401 with `WWW-Authenticate: Basic` for
//! missing, wrong or unknown credentials), `/health` open or not, configured headers, mTLS
//! in its modes (no, wrong and right client certificate), plain HTTP on the TLS port, junk
//! handshakes, a bad file at start, and reloads with good and bad new versions.
//!
//! Expectations come from the documented answer table of `aureon_prometheus::http`, RFC 7617
//! (basic auth) and the exporter-toolkit behaviour it mirrors; values from the recording
//! side (the counter the test increments), never from the server's own output.

mod http_support;
mod tls_support;

use aureon_prometheus::http::{HealthReport, MetricsServer, ServerConfig, ServerConfigBuilder};
use aureon_telemetry::{Registry, Snapshotter, SnapshotterConfig};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tls_support::{Pki, basic, client_config, https_get, make_pki, replace_file};

/// A registry whose counter is at 42, published once, served with `config`.
struct Fixture {
    _registry: Registry,
    _snapshotter: Snapshotter,
    server: MetricsServer,
}

impl Fixture {
    fn start(config: ServerConfigBuilder) -> Self {
        let registry = Registry::new();
        registry.counter("aureon_tls_test_total").increment(42);
        let snapshotter = Snapshotter::spawn(
            &registry,
            SnapshotterConfig {
                interval: Duration::from_secs(3600),
                ..SnapshotterConfig::default()
            },
        )
        .unwrap();
        snapshotter.tick();
        let server = MetricsServer::start(
            config.port(0).build().unwrap(),
            snapshotter.reader(),
            Arc::new(HealthReport::healthy),
        )
        .unwrap();
        Self {
            _registry: registry,
            _snapshotter: snapshotter,
            server,
        }
    }

    fn addr(&self) -> SocketAddr {
        self.server.local_addr()
    }
}

/// bcrypt at the lowest cost: the tests check behaviour, not the hash's strength.
fn hash(password: &str) -> String {
    bcrypt::hash(password, 4).unwrap()
}

fn write_config(pki: &Pki, name: &str, text: &str) -> PathBuf {
    let path = pki.dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn tls_section(pki: &Pki) -> String {
    format!(
        "tls_server_config:\n  cert_file: {}\n  key_file: {}\n",
        pki.server_cert.display(),
        pki.server_key.display()
    )
}

fn counter_value(body: &str) -> Option<f64> {
    body.lines()
        .find(|l| l.starts_with("aureon_tls_test_total "))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

#[test]
fn basic_auth_over_tls_lets_the_right_user_in_and_answers_401_otherwise() {
    let pki = make_pki("auth");
    let config = format!(
        "{}basic_auth_users:\n  prometheus: {}\n  other: {}\nhttp_server_config:\n  headers:\n    \
         X-Content-Type-Options: nosniff\n    Strict-Transport-Security: max-age=31536000\n",
        tls_section(&pki),
        hash("s3cret"),
        hash("another")
    );
    let path = write_config(&pki, "web.yml", &config);
    let f = Fixture::start(ServerConfig::builder().web_config_file(&path));
    let client = client_config(&pki.ca, None);
    let ok = https_get(
        f.addr(),
        &client,
        "/metrics",
        &[&basic("prometheus", "s3cret")],
    )
    .unwrap();
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!(counter_value(&ok.text()), Some(42.0), "{}", ok.text());
    // Configured headers are on every response, the 401s too.
    assert_eq!(ok.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(
        ok.header("strict-transport-security"),
        Some("max-age=31536000")
    );
    let other = https_get(f.addr(), &client, "/metrics", &[&basic("other", "another")]).unwrap();
    assert_eq!(other.status, 200);
    for (what, headers) in [
        ("no credentials", vec![]),
        ("wrong password", vec![basic("prometheus", "S3cret")]),
        (
            "another user's password",
            vec![basic("prometheus", "another")],
        ),
        ("unknown user", vec![basic("mallory", "s3cret")]),
        (
            "the dummy hash's password",
            vec![basic("mallory", "fakepassword")],
        ),
        ("empty password", vec![basic("prometheus", "")]),
        ("not basic", vec!["Authorization: Bearer s3cret".to_owned()]),
        ("not base64", vec!["Authorization: Basic ???".to_owned()]),
    ] {
        let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
        let r = https_get(f.addr(), &client, "/metrics", &headers).unwrap();
        assert_eq!(r.status, 401, "{what}: {}", r.text());
        assert_eq!(r.header("www-authenticate"), Some("Basic"), "{what}");
        assert_eq!(
            r.header("x-content-type-options"),
            Some("nosniff"),
            "{what}"
        );
        assert!(
            counter_value(&r.text()).is_none(),
            "{what}: no metrics in a 401"
        );
    }
    // Every path needs credentials by default, /health and unknown paths too.
    for path in ["/health", "/nope"] {
        let r = https_get(f.addr(), &client, path, &[]).unwrap();
        assert_eq!(r.status, 401, "{path}");
    }
    let r = https_get(
        f.addr(),
        &client,
        "/nope",
        &[&basic("prometheus", "s3cret")],
    )
    .unwrap();
    assert_eq!(r.status, 404);
    // Cached results give the same answers again.
    for _ in 0..3 {
        let r = https_get(
            f.addr(),
            &client,
            "/metrics",
            &[&basic("prometheus", "s3cret")],
        )
        .unwrap();
        assert_eq!(r.status, 200);
        let r = https_get(
            f.addr(),
            &client,
            "/metrics",
            &[&basic("prometheus", "nope")],
        )
        .unwrap();
        assert_eq!(r.status, 401);
    }
}

#[test]
fn health_can_be_left_open_while_metrics_need_credentials() {
    let pki = make_pki("health");
    let config = format!("basic_auth_users:\n  prometheus: {}\n", hash("pw"));
    let path = write_config(&pki, "web.yml", &config);
    // Basic auth without TLS (allowed, as in exporter-toolkit; the docs say why not to).
    let f = Fixture::start(
        ServerConfig::builder()
            .web_config_file(&path)
            .open_health(true),
    );
    let health = http_support::get(f.addr(), "/health", &[]);
    assert_eq!(health.status, 200, "{}", health.text());
    let v: serde_json::Value = serde_json::from_slice(&health.body).unwrap();
    assert_eq!(v["status"], "healthy");
    let metrics = http_support::get(f.addr(), "/metrics", &[]);
    assert_eq!(metrics.status, 401);
    let metrics = http_support::get(f.addr(), "/metrics", &[&basic("prometheus", "pw")]);
    assert_eq!(metrics.status, 200);
    assert_eq!(counter_value(&metrics.text()), Some(42.0));
}

#[test]
fn plain_http_and_junk_on_the_tls_port_fail_cleanly_and_the_server_keeps_serving() {
    let pki = make_pki("plain");
    let path = write_config(&pki, "web.yml", &tls_section(&pki));
    let f = Fixture::start(ServerConfig::builder().web_config_file(&path));
    // Plain HTTP: a 400 saying what is wrong (Go's words), then the connection is closed.
    let r = http_support::get(f.addr(), "/metrics", &[]);
    assert_eq!(r.status, 400);
    assert!(
        r.text().contains("HTTP request to an HTTPS server"),
        "{}",
        r.text()
    );
    // A TLS record header followed by junk: the handshake fails, the connection closes.
    let mut s = http_support::connect(f.addr());
    s.write_all(&[0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5])
        .unwrap();
    let closed = http_support::time_until_closed(&mut s, Duration::from_secs(5));
    assert!(closed.is_some(), "junk handshake left the connection open");
    // A client that connects and says nothing is closed after the header timeout.
    let f2 = Fixture::start(
        ServerConfig::builder()
            .web_config_file(&path)
            .header_read_timeout(Duration::from_millis(300)),
    );
    let mut idle = http_support::connect(f2.addr());
    let closed = http_support::time_until_closed(&mut idle, Duration::from_secs(5));
    assert!(
        closed.is_some_and(|d| d < Duration::from_secs(3)),
        "{closed:?}"
    );
    // A TLS client that does not trust the server's CA fails its own verification.
    let other = make_pki("other-ca");
    let untrusting = client_config(&other.ca, None);
    assert!(https_get(f.addr(), &untrusting, "/metrics", &[]).is_err());
    // And a proper client is still served.
    let r = https_get(f.addr(), &client_config(&pki.ca, None), "/metrics", &[]).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(counter_value(&r.text()), Some(42.0));
}

#[test]
fn mtls_require_and_verify_refuses_missing_and_foreign_client_certificates() {
    let pki = make_pki("mtls");
    let config = format!(
        "{}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {}\n",
        tls_section(&pki),
        pki.client_ca.display()
    );
    let path = write_config(&pki, "web.yml", &config);
    let f = Fixture::start(ServerConfig::builder().web_config_file(&path));
    let good = client_config(&pki.ca, Some((&pki.client_cert, &pki.client_key)));
    let r = https_get(f.addr(), &good, "/metrics", &[]).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(counter_value(&r.text()), Some(42.0));
    // No client certificate: the handshake (or the first read after it, in TLS 1.3) fails.
    let none = client_config(&pki.ca, None);
    assert!(https_get(f.addr(), &none, "/metrics", &[]).is_err());
    // A certificate from another CA: refused too.
    let rogue = client_config(&pki.ca, Some((&pki.rogue_cert, &pki.rogue_key)));
    assert!(https_get(f.addr(), &rogue, "/metrics", &[]).is_err());
    // The good client is still served after the failures.
    assert_eq!(
        https_get(f.addr(), &good, "/metrics", &[]).unwrap().status,
        200
    );
}

#[test]
fn mtls_optional_modes_take_or_skip_client_certificates() {
    let pki = make_pki("mtls-modes");
    let with = client_config(&pki.ca, Some((&pki.client_cert, &pki.client_key)));
    let rogue = client_config(&pki.ca, Some((&pki.rogue_cert, &pki.rogue_key)));
    let without = client_config(&pki.ca, None);
    // (mode, with CA, answers for: good cert, rogue cert, no cert)
    let cases = [
        ("RequireAnyClientCert", false, [true, true, false]),
        ("RequestClientCert", false, [true, true, true]),
        ("VerifyClientCertIfGiven", true, [true, false, true]),
        ("NoClientCert", false, [true, true, true]),
    ];
    for (mode, ca, expected) in cases {
        let mut config = format!("{}  client_auth_type: {mode}\n", tls_section(&pki));
        if ca {
            config.push_str(&format!("  client_ca_file: {}\n", pki.client_ca.display()));
        }
        let path = write_config(&pki, &format!("{mode}.yml"), &config);
        let f = Fixture::start(ServerConfig::builder().web_config_file(&path));
        for (client, ok, which) in [
            (&with, expected[0], "good cert"),
            (&rogue, expected[1], "rogue cert"),
            (&without, expected[2], "no cert"),
        ] {
            let r = https_get(f.addr(), client, "/metrics", &[]);
            assert_eq!(
                r.as_ref().is_ok_and(|r| r.status == 200),
                ok,
                "{mode} with {which}: {:?}",
                r.map(|r| r.status)
            );
        }
    }
}

#[test]
fn a_bad_file_at_start_is_an_error_naming_file_and_line() {
    let pki = make_pki("bad-start");
    let path = write_config(
        &pki,
        "web.yml",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  min_version: TLS14\n",
    );
    let registry = Registry::new();
    let snapshotter = Snapshotter::spawn(&registry, SnapshotterConfig::default()).unwrap();
    let config = ServerConfig::builder()
        .port(0)
        .web_config_file(&path)
        .build()
        .unwrap();
    let e = MetricsServer::start(
        config,
        snapshotter.reader(),
        Arc::new(HealthReport::healthy),
    )
    .unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    let text = e.to_string();
    assert!(text.contains(&path.display().to_string()), "{text}");
    assert!(text.contains("line 4") && text.contains("TLS14"), "{text}");
    // A missing certificate file is named too.
    std::fs::write(
        &path,
        "tls_server_config:\n  cert_file: gone.crt\n  key_file: server.key\n",
    )
    .unwrap();
    let config = ServerConfig::builder()
        .port(0)
        .web_config_file(&path)
        .build()
        .unwrap();
    let e = MetricsServer::start(
        config,
        snapshotter.reader(),
        Arc::new(HealthReport::healthy),
    )
    .unwrap_err();
    assert!(e.to_string().contains("gone.crt"), "{e}");
}

/// Polls until `probe` is true (the file change is seen by the next connection; mtime
/// resolution and the rename make "next" a matter of milliseconds).
fn eventually(what: &str, mut probe: impl FnMut() -> bool) {
    let ok = http_support::poll(Duration::from_secs(10), Duration::from_millis(50), || {
        probe().then_some(())
    });
    assert!(ok.is_some(), "{what} did not happen within 10 s");
}

#[test]
fn the_file_is_reloaded_when_it_changes_and_a_bad_version_keeps_the_old_one() {
    let pki = make_pki("reload");
    let users = |pw: &str| {
        format!(
            "{}basic_auth_users:\n  prometheus: {}\n",
            tls_section(&pki),
            hash(pw)
        )
    };
    let path = pki.dir.join("web.yml");
    replace_file(&path, &users("first"));
    let f = Fixture::start(ServerConfig::builder().web_config_file(&path));
    let client = client_config(&pki.ca, None);
    let status = |pw: &str| {
        https_get(f.addr(), &client, "/metrics", &[&basic("prometheus", pw)])
            .map(|r| r.status)
            .unwrap_or(0)
    };
    assert_eq!(status("first"), 200);
    assert_eq!(f.server.web_config_reloads().unwrap().succeeded, 0);

    // A good new version: the new password works, the old one no longer does.
    replace_file(&path, &users("second"));
    eventually("the new password working", || status("second") == 200);
    assert_eq!(status("first"), 401);
    let reloads = f.server.web_config_reloads().unwrap();
    assert_eq!((reloads.succeeded, reloads.failed), (1, 0));

    // A broken version: refused, counted, the error kept; the version in force stays.
    let broken = users("third").replacen(
        "basic_auth_users:",
        "  bogus_field: 1\nbasic_auth_users:",
        1,
    );
    replace_file(&path, &broken);
    eventually("the failed reload being counted", || {
        let _ = status("second");
        f.server.web_config_reloads().unwrap().failed == 1
    });
    assert_eq!(status("second"), 200);
    assert_eq!(status("third"), 401);
    let reloads = f.server.web_config_reloads().unwrap();
    let error = reloads.last_error.unwrap();
    assert!(
        error.contains("bogus_field") && error.contains("line 4"),
        "{error}"
    );
    // Not retried (nor counted again) while the file stays the same.
    for _ in 0..3 {
        assert_eq!(status("second"), 200);
    }
    assert_eq!(f.server.web_config_reloads().unwrap().failed, 1);

    // A version naming a certificate that does not exist: refused too.
    replace_file(
        &path,
        "tls_server_config:\n  cert_file: missing.crt\n  key_file: server.key\n",
    );
    eventually("the second failed reload", || {
        let _ = status("second");
        f.server.web_config_reloads().unwrap().failed == 2
    });
    assert_eq!(status("second"), 200);
    // Turning TLS off takes a restart: refused as well.
    replace_file(
        &path,
        &format!("basic_auth_users:\n  prometheus: {}\n", hash("x")),
    );
    eventually("the third failed reload", || {
        let _ = status("second");
        f.server.web_config_reloads().unwrap().failed == 3
    });
    assert!(
        f.server
            .web_config_reloads()
            .unwrap()
            .last_error
            .unwrap()
            .contains("restart")
    );

    // Fixed: in force again.
    replace_file(&path, &users("fourth"));
    eventually("the fixed version working", || status("fourth") == 200);
    let reloads = f.server.web_config_reloads().unwrap();
    assert_eq!((reloads.succeeded, reloads.failed), (2, 3));
    assert_eq!(reloads.last_error, None);
}

#[test]
fn a_rotated_certificate_is_picked_up_without_a_restart() {
    let pki = make_pki("rotate");
    let path = write_config(&pki, "web.yml", &tls_section(&pki));
    let f = Fixture::start(ServerConfig::builder().web_config_file(&path));
    let old_ca = client_config(&pki.ca, None);
    assert_eq!(
        https_get(f.addr(), &old_ca, "/metrics", &[])
            .unwrap()
            .status,
        200
    );
    // New certificate and key from a new CA, written over the same files.
    let next = make_pki("rotate-next");
    replace_file(
        &pki.server_key,
        &std::fs::read_to_string(&next.server_key).unwrap(),
    );
    replace_file(
        &pki.server_cert,
        &std::fs::read_to_string(&next.server_cert).unwrap(),
    );
    let new_ca = client_config(&next.ca, None);
    eventually("the new certificate being served", || {
        https_get(f.addr(), &new_ca, "/metrics", &[]).is_ok_and(|r| r.status == 200)
    });
    assert!(https_get(f.addr(), &old_ca, "/metrics", &[]).is_err());
}
