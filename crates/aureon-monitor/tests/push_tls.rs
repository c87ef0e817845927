//! The `--push.*` flags against real receivers behind TLS and basic auth, each with an
//! exporter-toolkit `--web.config.file` (the same format as ours): Debian's Pushgateway
//! (`stress --push-gateway https://…`) and Prometheus 2.42's remote-write receiver
//! (`demo --remote-write https://…`); and a plain-HTTP recording receiver for the exact
//! `Authorization` header.
//!
//! * the CA file and the password file get the result onto the gateway (read back over TLS);
//! * with mTLS required, the client certificate and key get it there, and without them the
//!   run fails;
//! * a wrong password fails the run (exit status 1) naming the 401, an unknown CA fails it
//!   naming the certificate, an empty password file is refused before the run;
//! * TLS flags with no https URL, and push flags with no push road, are usage errors
//!   (exit status 2): a flag that would do nothing must not look like it did something;
//! * the remote-write road over the same flags: `demo --remote-write https://…` into a real
//!   Prometheus 2.42 whose receiver sits behind TLS and basic auth: the counters it stores
//!   (queried over TLS) equal the final report's, and a wrong password fails the run naming
//!   the 401;
//! * `--push.bearer-token-file` and basic auth put exactly `Bearer <token>` and
//!   `Basic base64(user:password)` on the wire (a recording receiver; no real receiver
//!   here checks bearer tokens).
//!
//! Certificates are made per run (`tls_support`). Without the Pushgateway or Prometheus
//! (`scripts/ensure-prometheus.sh` installs both) the tests here FAIL saying so.

mod common;
#[path = "../../aureon-prometheus/tests/http_support/mod.rs"]
mod http_support;
#[path = "../../aureon-prometheus/tests/prom_support/mod.rs"]
mod prom_support;
#[path = "../../aureon-prometheus/tests/tls_support/mod.rs"]
mod tls_support;

use common::{Scratch, demo_remote_write, free_port, ops_in_report, run, text};
use prom_support::{Gateway, Prometheus, prometheus_binary};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;
use tls_support::Pki;

/// The user of the receivers' web configuration, and the password whose bcrypt hash it holds
/// (the documented example of `docs/examples/web-config.yml`).
const USER: &str = "prometheus";
const PASSWORD: &str = "change-me-example-only";
const HASH: &str = "$2b$12$2oTbTNNbeQBpdHanALccKOzza7IGNBoG6BQHVzOdDuDRW9AFT7u32";

/// A Pushgateway serving TLS with the test PKI's server certificate and basic auth, and
/// requiring a client certificate of the client CA when `mtls`.
fn secured_gateway(pki: &Pki, mtls: bool) -> Gateway {
    let mut yaml = format!(
        "tls_server_config:\n  cert_file: {}\n  key_file: {}\n",
        pki.server_cert.display(),
        pki.server_key.display()
    );
    if mtls {
        yaml.push_str(&format!(
            "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {}\n",
            pki.client_ca.display()
        ));
    }
    yaml.push_str(&format!("basic_auth_users:\n  {USER}: {HASH}\n"));
    let web = pki.dir.join(if mtls { "mtls-web.yml" } else { "web.yml" });
    std::fs::write(&web, yaml).unwrap();
    let client = client_of(pki, mtls);
    Gateway::start_with(
        &[format!("--web.config.file={}", web.display())],
        move |addr| {
            tls_support::https_get(addr, &client, "/-/ready", &[&auth()])
                .is_ok_and(|r| r.status == 200)
        },
    )
}

fn client_of(pki: &Pki, mtls: bool) -> std::sync::Arc<rustls::ClientConfig> {
    let client = mtls.then_some((pki.client_cert.as_path(), pki.client_key.as_path()));
    // HTTP/1.1 only: the reader here speaks nothing else, and Go's server picks h2 when
    // offered (tls_support offers both, for our own server's ALPN test).
    let mut config = (*tls_support::client_config(&pki.ca, client)).clone();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    std::sync::Arc::new(config)
}

fn auth() -> String {
    tls_support::basic(USER, PASSWORD)
}

/// Prometheus 2.42 with its remote-write receiver on, behind TLS (the test PKI's server
/// certificate) and basic auth: the same exporter-toolkit file as the gateway's.
fn secured_prometheus(pki: &Pki) -> Prometheus {
    let yaml = format!(
        "tls_server_config:\n  cert_file: {}\n  key_file: {}\nbasic_auth_users:\n  {USER}: {HASH}\n",
        pki.server_cert.display(),
        pki.server_key.display()
    );
    let web = pki.dir.join("prometheus-web.yml");
    std::fs::write(&web, yaml).unwrap();
    let client = client_of(pki, false);
    Prometheus::start_ready(
        &prometheus_binary(),
        "",
        &[
            "--web.enable-remote-write-receiver",
            &format!("--web.config.file={}", web.display()),
        ],
        None,
        move |addr| {
            tls_support::https_get(addr, &client, "/-/ready", &[&auth()])
                .is_ok_and(|r| r.status == 200)
        },
    )
}

/// The instant value of `selector` in a secured Prometheus, read over TLS with credentials.
fn secured_value(prom: &Prometheus, pki: &Pki, selector: &str) -> Option<f64> {
    let path = format!("/api/v1/query?query={}", http_support::encode(selector));
    let r = tls_support::https_get(prom.addr, &client_of(pki, false), &path, &[&auth()]).ok()?;
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    v["data"]["result"].as_array()?.first()?["value"][1]
        .as_str()?
        .parse()
        .ok()
}

/// `stress --push-gateway <url>` with `flags`.
fn stress(url: &str, flags: &[&str]) -> Output {
    let mut args = vec![
        "stress",
        "--headers",
        "500",
        "--threads",
        "2",
        "--json",
        "--push-gateway",
        url,
    ];
    args.extend_from_slice(flags);
    run(&args, Duration::from_secs(120))
}

/// Asserts the run pushed (exit 0, or 3 when the seed's thresholds were missed on this
/// machine: the push happens either way) and the gateway, read over TLS with credentials,
/// holds the result under job `aureon_stress`.
fn assert_pushed(out: &Output, gateway: &Gateway, pki: &Pki, mtls: bool) {
    let (stdout, stderr) = text(out);
    assert!(
        matches!(out.status.code(), Some(0 | 3)),
        "{stdout}\n{stderr}"
    );
    assert!(stderr.contains("(job aureon_stress)"), "{stderr}");
    let result: serde_json::Value = serde_json::from_str(&stdout).expect("JSON result");
    let metrics =
        tls_support::https_get(gateway.addr, &client_of(pki, mtls), "/metrics", &[&auth()])
            .expect("the gateway answers over TLS");
    assert_eq!(metrics.status, 200);
    let body = metrics.text();
    let ratio = body
        .lines()
        .find(|l| {
            l.starts_with("aureon_stress_success_ratio{") && l.contains("job=\"aureon_stress\"")
        })
        .unwrap_or_else(|| panic!("no result on the gateway:\n{body}"))
        .rsplit(' ')
        .next()
        .unwrap()
        .parse::<f64>()
        .unwrap();
    assert!((ratio - result["success_rate"].as_f64().unwrap()).abs() < 1e-9);
}

/// The password file (with a trailing newline, as `echo` writes it: trimmed, as Prometheus
/// trims its files) and a file with a wrong password, in `scratch`.
fn password_files(scratch: &Scratch) -> (PathBuf, PathBuf) {
    let password = scratch.path("password");
    std::fs::write(&password, format!("{PASSWORD}\n")).unwrap();
    let wrong = scratch.path("wrong");
    std::fs::write(&wrong, "not-the-password").unwrap();
    (password, wrong)
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn tls_and_basic_auth_flags_reach_a_secured_pushgateway() {
    let pki = tls_support::make_pki("push-tls");
    let scratch = Scratch::new("push-tls");
    let (password, wrong) = password_files(&scratch);
    let gateway = secured_gateway(&pki, false);
    let url = format!("https://{}", gateway.addr);

    let good = stress(
        &url,
        &[
            "--push.tls-ca-file",
            path(&pki.ca),
            "--push.basic-auth-username",
            USER,
            "--push.basic-auth-password-file",
            path(&password),
        ],
    );
    assert_pushed(&good, &gateway, &pki, false);

    let refused = stress(
        &url,
        &[
            "--push.tls-ca-file",
            path(&pki.ca),
            "--push.basic-auth-username",
            USER,
            "--push.basic-auth-password-file",
            path(&wrong),
        ],
    );
    let (stdout, stderr) = text(&refused);
    assert_eq!(refused.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stderr.contains("401"), "{stderr}");

    // The system roots do not know the test CA.
    let untrusted = stress(
        &url,
        &[
            "--push.basic-auth-username",
            USER,
            "--push.basic-auth-password-file",
            path(&password),
        ],
    );
    let (stdout, stderr) = text(&untrusted);
    assert_eq!(untrusted.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stderr.to_lowercase().contains("certificate"), "{stderr}");
}

#[test]
fn mtls_flags_present_the_client_certificate() {
    let pki = tls_support::make_pki("push-mtls");
    let scratch = Scratch::new("push-mtls");
    let password = scratch.path("password");
    std::fs::write(&password, PASSWORD).unwrap();
    let gateway = secured_gateway(&pki, true);
    let url = format!("https://{}", gateway.addr);
    let common = [
        "--push.tls-ca-file",
        path(&pki.ca),
        "--push.basic-auth-username",
        USER,
        "--push.basic-auth-password-file",
        path(&password),
    ];

    let with_cert = stress(
        &url,
        &[
            &common[..],
            &[
                "--push.tls-cert-file",
                path(&pki.client_cert),
                "--push.tls-key-file",
                path(&pki.client_key),
            ],
        ]
        .concat(),
    );
    assert_pushed(&with_cert, &gateway, &pki, true);

    let without = stress(&url, &common);
    let (stdout, stderr) = text(&without);
    assert_eq!(without.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stderr.contains("Pushgateway"), "{stderr}");
}

#[test]
fn push_flags_that_would_do_nothing_are_refused_before_the_run() {
    let scratch = Scratch::new("push-flags");
    let empty = scratch.path("empty");
    std::fs::write(&empty, "\n").unwrap();
    let ca = scratch.path("ca.pem");
    std::fs::write(&ca, "not a certificate").unwrap();
    let cases: [(&[&str], i32, &str); 5] = [
        (
            &["stress", "--push.bearer-token-file", path(&empty)],
            2,
            "need a push road",
        ),
        (
            &[
                "stress",
                "--push-gateway",
                "http://127.0.0.1:9",
                "--push.tls-ca-file",
                path(&ca),
            ],
            2,
            "no push URL is https://",
        ),
        (
            &[
                "stress",
                "--push-gateway",
                "http://127.0.0.1:9",
                "--push.bearer-token-file",
                path(&empty),
            ],
            1,
            "is empty",
        ),
        (
            &[
                "stress",
                "--push-gateway",
                "https://127.0.0.1:9",
                "--push.tls-ca-file",
                path(&ca),
            ],
            1,
            "no PEM certificate",
        ),
        (
            &[
                "demo",
                "--no-tui",
                "--duration",
                "2s",
                "--listen",
                "127.0.0.1:0",
                "--push.basic-auth-username",
                "u",
                "--push.basic-auth-password-file",
                path(&empty),
            ],
            2,
            "need a push road",
        ),
    ];
    for (args, code, needle) in cases {
        let out = run(args, Duration::from_secs(30));
        let (stdout, stderr) = text(&out);
        assert_eq!(
            out.status.code(),
            Some(code),
            "{args:?}\n{stdout}\n{stderr}"
        );
        assert!(stderr.contains(needle), "{args:?}: {needle:?} in {stderr}");
        // Refused before the run: no stress result was printed.
        assert!(!stdout.contains("success_rate"), "{args:?}: {stdout}");
    }
}

#[test]
fn remote_write_over_tls_with_basic_auth_lands_the_final_report_in_prometheus() {
    let pki = tls_support::make_pki("rw-tls");
    let scratch = Scratch::new("rw-tls");
    let (password, wrong) = password_files(&scratch);
    let prom = secured_prometheus(&pki);
    let url = format!("https://{}/api/v1/write", prom.addr);
    let demo = |password_file: &Path, listen: &str| {
        demo_remote_write(
            listen,
            &url,
            &[
                "--push.tls-ca-file",
                path(&pki.ca),
                "--push.basic-auth-username",
                USER,
                "--push.basic-auth-password-file",
                path(password_file),
            ],
        )
    };

    let listen = format!("127.0.0.1:{}", free_port());
    let good = demo(&password, &listen);
    let (stdout, stderr) = text(&good);
    assert!(good.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("nothing dropped"), "{stdout}");
    for op in ["block_processing", "tx_validation", "header_validation"] {
        let n = ops_in_report(&stdout, op);
        assert!(n > 0, "{op}: {stdout}");
        let selector = format!(
            "aureon_operations_total{{op=\"{op}\",job=\"aureon_demo\",instance=\"{listen}\"}}"
        );
        // The final flush precedes the exit, but Prometheus makes a sample queryable a
        // moment after it acknowledged it.
        let stored =
            http_support::poll(Duration::from_secs(30), Duration::from_millis(200), || {
                (secured_value(&prom, &pki, &selector) == Some(n as f64)).then_some(())
            });
        assert!(
            stored.is_some(),
            "{selector}: Prometheus holds {:?}, the report says {n}",
            secured_value(&prom, &pki, &selector)
        );
    }

    let refused = demo(&wrong, &format!("127.0.0.1:{}", free_port()));
    let (stdout, stderr) = text(&refused);
    assert_eq!(refused.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stderr.contains("401"), "{stderr}");
}

/// A plain-HTTP receiver on loopback that answers every request `200` and keeps the
/// `Authorization` header values of each request (every one it carried), in arrival order:
/// what a push put on the wire.
fn header_recorder() -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::Mutex<Vec<Vec<String>>>>,
) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let tally = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let (mut auth, mut length) = (Vec::new(), 0usize);
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                let (name, value) = line.split_once(':').unwrap_or((&line, ""));
                match name.to_ascii_lowercase().as_str() {
                    "authorization" => auth.push(value.trim().to_string()),
                    "content-length" => length = value.trim().parse().unwrap_or(0),
                    _ => {}
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            tally.lock().unwrap().push(auth);
            let _ = conn
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    (addr, seen)
}

#[test]
fn credential_flags_put_the_exact_authorization_header_on_the_wire() {
    let scratch = Scratch::new("push-auth-header");
    let token = scratch.path("token");
    std::fs::write(&token, "  s3cr3t-token\n").unwrap();
    let password = scratch.path("password");
    std::fs::write(&password, "pa:ss word\n").unwrap();
    let cases: [(&[&str], String); 2] = [
        (
            &["--push.bearer-token-file", path(&token)],
            "Bearer s3cr3t-token".to_string(),
        ),
        (
            &[
                "--push.basic-auth-username",
                "aureon",
                "--push.basic-auth-password-file",
                path(&password),
            ],
            // RFC 7617: base64 of "aureon:pa:ss word" (a colon and a space in the password),
            // worked out once by Python's base64 module.
            "Basic YXVyZW9uOnBhOnNzIHdvcmQ=".to_string(),
        ),
    ];
    for (flags, want) in cases {
        let (addr, seen) = header_recorder();
        let out = stress(&format!("http://{addr}"), flags);
        let (stdout, stderr) = text(&out);
        assert!(
            matches!(out.status.code(), Some(0 | 3)),
            "{flags:?}\n{stdout}\n{stderr}"
        );
        let seen = seen.lock().unwrap().clone();
        assert!(!seen.is_empty(), "{flags:?}: nothing pushed\n{stderr}");
        for got in &seen {
            assert_eq!(
                got.as_slice(),
                [want.as_str()],
                "{flags:?}: one header, this value"
            );
        }
    }
}
