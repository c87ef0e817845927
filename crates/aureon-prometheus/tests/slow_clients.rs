//! Slow clients and floods, with the real tool: Debian's `slowhttptest` opens 2000
//! connections at 400 per second against the endpoint and trickles their headers
//! (slowloris) or their bodies (slow body, "R-U-Dead-Yet"), while a well-behaved client
//! scrapes `/metrics` every 250 ms on a fresh connection. At least 99% of its scrapes must
//! succeed, and the server's memory must stay bounded.
//!
//! `AUREON_SLOW_SECS` sets each attack's length (default 20 s; the figures of longer runs are
//! in `docs/operations.md`). Without `slowhttptest` installed the test FAILS, saying how to
//! install it (`scripts/test.sh` does).

mod http_support;

use aureon_prometheus::http::{HealthReport, MetricsServer, ServerConfig};
use aureon_telemetry::{Registry, Snapshotter, SnapshotterConfig};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

fn slowhttptest() -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("slowhttptest"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "slowhttptest is not installed, and this test needs the real tool: run \
                 scripts/test.sh, or apt-get install --no-install-recommends slowhttptest"
            )
        })
}

fn attack_secs() -> u64 {
    std::env::var("AUREON_SLOW_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20)
}

/// The resident set of this process, in bytes.
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

struct Outcome {
    scrapes: u32,
    ok: u32,
    failures: Vec<String>,
    peak_rss_growth: u64,
}

/// Runs `slowhttptest` with `mode_args` against `addr` while scraping every 250 ms.
fn attack(addr: SocketAddr, mode_args: &[&str]) -> Outcome {
    let secs = attack_secs();
    let url = format!("http://{addr}/metrics");
    let mut tool = Command::new(slowhttptest())
        .args(mode_args)
        .args(["-c", "2000", "-r", "400", "-i", "10", "-x", "24", "-p", "3"])
        .args(["-l", &secs.to_string(), "-u", &url])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start slowhttptest");
    let baseline = rss_bytes();
    // Let the attack ramp up (2000 connections at 400/s take 5 s) before judging.
    std::thread::sleep(Duration::from_secs(2));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut peak = 0;
            while !stop.load(Ordering::Relaxed) {
                peak = peak.max(rss_bytes());
                std::thread::sleep(Duration::from_millis(100));
            }
            peak
        })
    };
    let (mut scrapes, mut ok, mut failures) = (0, 0, Vec::new());
    let end = Instant::now() + Duration::from_secs(secs.saturating_sub(3).max(5));
    while Instant::now() < end {
        let next = Instant::now() + Duration::from_millis(250);
        scrapes += 1;
        match http_support::exchange(
            addr,
            b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            false,
        ) {
            Ok(r) if r.status == 200 => ok += 1,
            Ok(r) => failures.push(format!("status {}", r.status)),
            Err(e) => failures.push(e.to_string()),
        }
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    stop.store(true, Ordering::Relaxed);
    let peak = sampler.join().unwrap();
    let _ = tool.kill();
    let _ = tool.wait();
    Outcome {
        scrapes,
        ok,
        failures,
        peak_rss_growth: peak.saturating_sub(baseline),
    }
}

fn server() -> (MetricsServer, Snapshotter) {
    let registry = Registry::new();
    for i in 0..50 {
        registry
            .histogram_with("latency", &[("op", &i.to_string())])
            .record(1000 + i);
    }
    let snapshotter = Snapshotter::spawn(&registry, SnapshotterConfig::default()).unwrap();
    let config = ServerConfig::builder().port(0).build().unwrap();
    let server = MetricsServer::start(
        config,
        snapshotter.reader(),
        Arc::new(HealthReport::healthy),
    )
    .unwrap();
    (server, snapshotter)
}

fn check(name: &str, o: &Outcome) {
    let rate = f64::from(o.ok) / f64::from(o.scrapes.max(1));
    eprintln!(
        "{name}: {}/{} scrapes succeeded ({:.1}%), peak RSS growth {:.1} MiB; failures: {:?}",
        o.ok,
        o.scrapes,
        rate * 100.0,
        o.peak_rss_growth as f64 / (1 << 20) as f64,
        o.failures
    );
    assert!(o.scrapes >= 20, "{name}: too few scrapes to judge");
    assert!(
        rate >= 0.99,
        "{name}: only {}/{} scrapes succeeded: {:?}",
        o.ok,
        o.scrapes,
        o.failures
    );
    assert!(
        o.peak_rss_growth < 256 << 20,
        "{name}: memory grew by {} MiB",
        o.peak_rss_growth >> 20
    );
}

#[test]
fn scrapes_keep_succeeding_during_slowloris_and_slow_body_attacks() {
    let (server, _snapshotter) = server();
    let addr = server.local_addr();
    let slowloris = attack(addr, &["-H"]);
    check("slowloris", &slowloris);
    let slow_body = attack(addr, &["-B"]);
    check("slow body", &slow_body);
}

/// Without the tool: more idle connections than the pending budget (they never send a
/// byte) cannot keep a scrape out. The oldest pending ones are closed to admit new ones,
/// and the scrape, whose head arrives at once, is served.
#[test]
fn a_full_pending_budget_closes_the_oldest_idle_connections_to_admit_a_scrape() {
    let registry = Registry::new();
    registry.counter("up_total").increment(1);
    let snapshotter = Snapshotter::spawn(&registry, SnapshotterConfig::default()).unwrap();
    let config = ServerConfig::builder()
        .port(0)
        .max_connections(2)
        .max_pending_connections(8)
        .build()
        .unwrap();
    let server = MetricsServer::start(
        config,
        snapshotter.reader(),
        Arc::new(HealthReport::healthy),
    )
    .unwrap();
    let addr = server.local_addr();
    let idle: Vec<_> = (0..20).map(|_| http_support::connect(addr)).collect();
    // Give the server time to accept them all (each evicts the oldest past 8).
    std::thread::sleep(Duration::from_millis(300));
    for _ in 0..3 {
        let r = http_support::get(addr, "/metrics", &[]);
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(r.text().contains("up_total 1"));
    }
    // The first idle connections were closed by the server (read returns end of file).
    let mut closed = 0;
    for mut s in idle {
        s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let mut b = [0u8; 1];
        if matches!(std::io::Read::read(&mut s, &mut b), Ok(0)) {
            closed += 1;
        }
    }
    assert!(
        closed >= 12,
        "only {closed} of 20 idle connections were closed"
    );
}

/// A request with a body the endpoint will not read (a slow POST) is answered at once and
/// its connection closed, so it cannot hold a serve slot while it trickles the body.
#[test]
fn a_request_with_an_unread_body_is_answered_and_closed_at_once() {
    let registry = Registry::new();
    let snapshotter = Snapshotter::spawn(&registry, SnapshotterConfig::default()).unwrap();
    let config = ServerConfig::builder().port(0).build().unwrap();
    let server = MetricsServer::start(
        config,
        snapshotter.reader(),
        Arc::new(HealthReport::healthy),
    )
    .unwrap();
    for (request, status) in [
        (
            &b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 4096\r\n\r\nab"[..],
            405,
        ),
        (
            &b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab"[..],
            405,
        ),
        (
            &b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 4096\r\n\r\nab"[..],
            413,
        ),
    ] {
        let mut s = http_support::connect(server.local_addr());
        std::io::Write::write_all(&mut s, request).unwrap();
        let started = Instant::now();
        let r = http_support::read_response(&mut s, false).unwrap();
        assert_eq!(r.status, status, "{}", String::from_utf8_lossy(request));
        let closed = http_support::time_until_closed(&mut s, Duration::from_secs(3));
        assert!(
            closed.is_some_and(|_| started.elapsed() < Duration::from_secs(2)),
            "{}: connection still open",
            String::from_utf8_lossy(request)
        );
    }
}
