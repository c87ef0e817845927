//! `demo --web.config.file`: a bad file is a clear error at start (the file, the line, what
//! is wrong; exit status 1, no panic), and a good one puts TLS in front of /metrics (the
//! demo announces an https URL, and plain HTTP on its port gets the TLS hint).

mod common;

use common::{BIN, Scratch, free_port, run, text, wait_bounded};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn a_bad_web_config_file_is_refused_with_its_line() {
    let scratch = Scratch::new("web-config-bad");
    let bad = scratch.path("web.yml");
    std::fs::write(&bad, "tls_server_config:\n  cert_filse: server.crt\n").unwrap();
    let out = run(
        &[
            "demo",
            "--no-tui",
            "--duration",
            "2s",
            "--listen",
            "127.0.0.1:0",
            "--web.config.file",
            bad.to_str().unwrap(),
        ],
        Duration::from_secs(20),
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    for needle in [
        "invalid --web.config.file",
        "web.yml",
        "line 2",
        "cert_filse",
    ] {
        assert!(stderr.contains(needle), "{needle:?} in: {stderr}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
    let missing = run(
        &[
            "demo",
            "--no-tui",
            "--duration",
            "2s",
            "--listen",
            "127.0.0.1:0",
            "--web.config.file",
            "/nonexistent/web.yml",
        ],
        Duration::from_secs(20),
    );
    let (_, stderr) = text(&missing);
    assert_eq!(missing.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("/nonexistent/web.yml") && stderr.contains("cannot read"),
        "{stderr}"
    );
}

#[test]
fn a_good_web_config_file_serves_tls() {
    let scratch = Scratch::new("web-config-good");
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    std::fs::write(scratch.path("server.crt"), cert.cert.pem()).unwrap();
    std::fs::write(scratch.path("server.key"), cert.signing_key.serialize_pem()).unwrap();
    let web = scratch.path("web.yml");
    std::fs::write(
        &web,
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n",
    )
    .unwrap();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let child = Command::new(BIN)
        .args(["demo", "--no-tui", "--duration", "4s", "--listen", &listen])
        .args(["--web.config.file", web.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Plain HTTP on the TLS port: the server says what is wrong and closes.
    let deadline = Instant::now() + Duration::from_secs(10);
    let answer = loop {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            let mut answer = String::new();
            let _ = s.read_to_string(&mut answer);
            break answer;
        }
        assert!(
            Instant::now() < deadline,
            "the demo never listened on {listen}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        answer.starts_with("HTTP/1.0 400") && answer.contains("HTTPS server"),
        "{answer}"
    );
    let out = wait_bounded(child, Duration::from_secs(30));
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!("https://{listen}/metrics")),
        "the demo announces its https URL: {stderr}"
    );
}
