//! A real OTLP receiver for the tests: rotel (`rotel-agent`, PyPI `rotel`, an OpenTelemetry
//! collector in Rust, installed into a venv under target/ by `scripts/ensure-rotel.sh`),
//! started on free loopback ports with its debug exporter, which logs every decoded point.
//! Shared by aureon-otlp's receiver tests and aureon-monitor's `demo --otlp` test (through
//! `#[path]`), so there is one way to find and start it.
//!
//! Without rotel, [`rotel_binary`] FAILS the test saying how to install it;
//! `ROTEL_AGENT_BIN` points at another binary; `AUREON_SKIP_ROTEL=1` skips explicitly (and
//! says so).

#![allow(dead_code)] // each test file uses a different part of it

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The `rotel-agent` binary, or `None` when the tests are explicitly skipped.
pub fn rotel_binary() -> Option<PathBuf> {
    if std::env::var_os("AUREON_SKIP_ROTEL").is_some_and(|v| v == "1") {
        eprintln!("AUREON_SKIP_ROTEL=1: the tests that need the rotel receiver are SKIPPED");
        return None;
    }
    if let Some(bin) = std::env::var_os("ROTEL_AGENT_BIN") {
        let bin = PathBuf::from(bin);
        assert!(
            bin.is_file(),
            "ROTEL_AGENT_BIN={} is not a file",
            bin.display()
        );
        return Some(bin);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    // As scripts/ensure-rotel.sh resolves it: relative to the repository root.
    let venv = root.join(
        std::env::var_os("ROTEL_VENV")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("target/rotel-venv")),
    );
    let found = std::fs::read_dir(venv.join("lib"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|python| python.path().join("site-packages/rotel/rotel-agent"))
        .find(|p| p.is_file());
    Some(found.unwrap_or_else(|| {
        panic!(
            "rotel-agent is not installed, and these tests need the real receiver: run \
             scripts/ensure-rotel.sh (a venv under target/ with PyPI's rotel), or point \
             ROTEL_AGENT_BIN at a rotel-agent binary (AUREON_SKIP_ROTEL=1 skips them)"
        )
    }))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running rotel-agent; killed on drop.
pub struct Rotel {
    child: Child,
    /// Its OTLP/HTTP receiver.
    pub addr: SocketAddr,
    log: Arc<Mutex<String>>,
}

impl Drop for Rotel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Rotel {
    /// Starts `bin` with its OTLP/HTTP (and gRPC) receiver on free loopback ports, its
    /// exporter a blackhole and its debug log printing every decoded metric point.
    pub fn start(bin: &Path) -> Rotel {
        let (http, grpc) = (free_port(), free_port());
        let mut child = Command::new(bin)
            .args([
                "start",
                "--exporter",
                "blackhole",
                "--debug-log",
                "metrics",
                "--debug-log-verbosity",
                "detailed",
                "--disable-batching",
                "--otlp-http-endpoint",
                &format!("127.0.0.1:{http}"),
                "--otlp-grpc-endpoint",
                &format!("127.0.0.1:{grpc}"),
            ])
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let log = Arc::new(Mutex::new(String::new()));
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let mut log = log.lock().unwrap();
                    log.push_str(&strip_ansi(&line));
                    log.push('\n');
                }
            });
        }
        let addr: SocketAddr = format!("127.0.0.1:{http}").parse().unwrap();
        let mut rotel = Rotel { child, addr, log };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Some(status) = rotel.child.try_wait().unwrap() {
                panic!("rotel-agent exited ({status}):\n{}", rotel.log());
            }
            assert!(
                Instant::now() < deadline,
                "rotel-agent never listened:\n{}",
                rotel.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        rotel
    }

    /// Everything it logged so far, colour codes removed.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
