//! Bad input gets a clear message and a non-zero exit status, never a panic: wrong flags,
//! values out of range, files that are missing or not interval logs, a port in use.

mod common;

use common::{Scratch, run, text};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(20);

/// Runs `args`, expects exit status `code` and `needle` in standard error, and no panic.
fn refused(args: &[&str], code: i32, needle: &str) {
    let out = run(args, LIMIT);
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(code),
        "{args:?}\nstdout: {stdout}\nstderr: {stderr}"
    );
    assert!(
        stderr.contains(needle),
        "{args:?}: expected {needle:?} in: {stderr}"
    );
    for bad in ["panicked", "RUST_BACKTRACE", "stack backtrace"] {
        assert!(
            !stderr.contains(bad) && !stdout.contains(bad),
            "{args:?} panicked: {stderr}"
        );
    }
}

#[test]
fn bad_flags_are_usage_errors() {
    refused(&["demo", "--threads", "0"], 2, "must be between 1 and");
    refused(
        &["demo", "--duration", "abc"],
        2,
        "expected a duration like 30s",
    );
    refused(&["demo", "--duration", "0s"], 2, "longer than zero");
    refused(&["demo", "--error-rate", "2"], 2, "between 0 and 1");
    refused(&["demo", "--rate=-5"], 2, "must be more than 0");
    refused(&["demo", "--listen", "nonsense"], 2, "expected IP:PORT");
    refused(&["demo", "--no-such-flag"], 2, "unexpected argument");
    refused(
        &["demo", "--duration", "5s", "--degrade-at", "10s"],
        2,
        "--degrade-at 10s is not before the end",
    );
    refused(&["frobnicate"], 2, "unrecognized subcommand");
    refused(&["report"], 2, "--from");
    refused(&["stress", "--headers", "0"], 2, "at least one header");
    refused(&["stress", "--headers", "lots"], 2, "invalid value");
}

#[test]
fn missing_and_foreign_files_are_run_errors() {
    let scratch = Scratch::new("cli-errors");
    refused(
        &["report", "--from", "/nonexistent/x.hlog"],
        1,
        "cannot read /nonexistent/x.hlog",
    );
    let not_a_log = scratch.path("notes.txt");
    std::fs::write(&not_a_log, "just some text\nand more\n").unwrap();
    let not_a_log = not_a_log.to_str().unwrap();
    refused(
        &["report", "--from", not_a_log],
        1,
        "not an HdrHistogram interval log",
    );
    let empty = scratch.path("empty.hlog");
    std::fs::write(&empty, "#[Histogram log format version 1.3]\n").unwrap();
    refused(
        &["plot", "--from", empty.to_str().unwrap(), "--out", "x.svg"],
        1,
        "no intervals",
    );
    let garbage = scratch.path("garbage.hlog");
    std::fs::write(&garbage, "0.0,1.0,5.0,####notbase64####\n").unwrap();
    refused(
        &["report", "--from", garbage.to_str().unwrap()],
        1,
        "garbage.hlog",
    );
    refused(
        &[
            "demo",
            "--no-tui",
            "--duration",
            "1s",
            "--listen",
            "127.0.0.1:0",
            "--hlog",
            "/nonexistent/dir/x.hlog",
        ],
        1,
        "cannot write the interval log",
    );
}

#[test]
fn a_port_in_use_is_said_plainly() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    refused(
        &["demo", "--no-tui", "--duration", "2s", "--listen", &addr],
        1,
        "already in use",
    );
}
