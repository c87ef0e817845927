//! Helpers shared by the integration tests: running the built binary with a time limit,
//! free loopback ports, a minimal HTTP/1.1 GET over loopback, and scratch directories.
//!
//! Every wait here is bounded: a test that hangs is a failure with a message, not a stuck
//! CI job. Only 127.0.0.1 is ever contacted.

#![allow(dead_code)] // each test file uses its own subset

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The binary under test, as cargo built it.
pub const BIN: &str = env!("CARGO_BIN_EXE_aureon-monitor");

/// Runs the binary with `args` and no standard input, killing it after `limit`.
pub fn run(args: &[&str], limit: Duration) -> Output {
    let child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    wait_bounded(child, limit)
}

/// Waits for `child` at most `limit`; kills it and fails the test past that.
pub fn wait_bounded(mut child: Child, limit: Duration) -> Output {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait().expect("try_wait") {
            Some(_) => return child.wait_with_output().expect("output"),
            None if Instant::now() >= deadline => {
                let _ = child.kill();
                let out = child.wait_with_output().expect("output");
                panic!(
                    "aureon-monitor did not exit within {limit:?}\nstdout:\n{}\nstderr:\n{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            None => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// Standard output and error as text.
pub fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// `GET path` on 127.0.0.1:`port`: `(status, body)`, or `None` if nothing answered.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream
        .set_write_timeout(Some(Duration::from_secs(5)))
        .ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).ok()?;
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_owned()))
}

/// A fresh scratch directory for one test, removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    /// `…/aureon-monitor-test-<pid>-<name>`, empty.
    pub fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("aureon-monitor-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch directory");
        Self(dir)
    }

    /// A path inside the directory.
    pub fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The first whole number after `label` in `text` (commas ignored), e.g. the `802` of
/// `block_processing: 802 ops`.
pub fn number_after(text: &str, label: &str) -> Option<u64> {
    let rest = &text[text.find(label)? + label.len()..];
    let digits: String = rest
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == ',')
        .filter(|c| *c != ',')
        .collect();
    digits.parse().ok()
}

/// `<op>: N ops` from a demo's final report; panics naming the report when it is missing.
pub fn ops_in_report(report: &str, op: &str) -> u64 {
    let line = report
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{op}:")))
        .unwrap_or_else(|| panic!("no {op} line in the report:\n{report}"));
    number_after(line, &format!("{op}:")).unwrap_or_else(|| panic!("{line}"))
}

/// A 3-second `demo` (no dashboard, 100 blocks/s, 2 threads, a snapshot every 500 ms)
/// serving on `listen` and remote-writing to `url`, with `extra` flags.
pub fn demo_remote_write(listen: &str, url: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "demo",
        "--no-tui",
        "--duration",
        "3s",
        "--rate",
        "100",
        "--threads",
        "2",
        "--listen",
        listen,
        "--interval",
        "500ms",
        "--remote-write",
        url,
    ];
    args.extend_from_slice(extra);
    run(&args, Duration::from_secs(60))
}
