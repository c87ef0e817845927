//! Does a flood of scrapes slow the threads that record? Group `scrape_flood`: one thread
//! records into a registry's histogram while Debian's `wrk` (one thread, 16 connections)
//! requests that registry's `/metrics` as fast as the endpoint answers, next to the same
//! record with the endpoint idle, in the same run. The endpoint renders from published
//! snapshots and never touches a recorder, so what the flood can cost the recorder is a
//! share of the cores (2 here: the recorder, the endpoint's thread and wrk compete), which
//! wall time shows and per-thread CPU time (`AUREON_BENCH_CLOCK=cpu`) leaves out.
//!
//! Without `wrk` on PATH the flood contender is skipped (with a message).

use aureon_benches::{bench_workers, for_each_value};
use aureon_prometheus::http::{HealthReport, MetricsServer, ServerConfig};
use aureon_telemetry::{Registry, Snapshotter, SnapshotterConfig};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

/// `wrk` flooding `url` until stopped (killed if dropped instead).
struct Flood(Child);

impl Flood {
    /// Starts `wrk` and checks that it is still running a moment later (a bad URL or a
    /// missing library would end it at once, and the "flood" contender would measure an
    /// idle endpoint); `None` without `wrk`.
    fn start(url: &str) -> Option<Self> {
        let child = Command::new("wrk")
            .args(["-t1", "-c16", "-d3600s", url])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let mut flood = Flood(child);
        std::thread::sleep(std::time::Duration::from_millis(300));
        assert!(
            flood.0.try_wait().expect("wrk's status").is_none(),
            "wrk exited at once: no flood to measure against"
        );
        Some(flood)
    }

    /// Stops `wrk` with SIGINT, on which it prints its summary, and returns that summary's
    /// figures (requests done, requests per second, socket errors, bad statuses), after
    /// checking that the flood really was one: requests were answered, all with 2xx.
    fn finish(mut self) -> String {
        let pid = libc::pid_t::try_from(self.0.id()).expect("a pid fits pid_t");
        // SAFETY: `kill` has no memory effects; `pid` is our own child, not yet reaped (the
        // `Child` is still held), so the number cannot name another process.
        let sent = unsafe { libc::kill(pid, libc::SIGINT) } == 0;
        if !sent {
            // No summary without SIGINT: end it so that the read below cannot wait for
            // wrk's hour-long -d to run out.
            let _ = self.0.kill();
        }
        let mut out = String::new();
        if let Some(mut stdout) = self.0.stdout.take() {
            let _ = stdout.read_to_string(&mut out);
        }
        let figures: Vec<&str> = out
            .lines()
            .map(str::trim)
            .filter(|l| {
                l.contains("requests in")
                    || l.contains("Requests/sec")
                    || l.contains("errors")
                    || l.contains("Non-2xx")
            })
            .collect();
        let done: u64 = figures
            .iter()
            .find_map(|l| l.split_once(" requests in").map(|(n, _)| n.trim()))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        assert!(
            done > 0,
            "wrk answered nothing: no flood was measured (its output: {out:?})"
        );
        assert!(
            !figures.iter().any(|l| l.contains("Non-2xx")),
            "the endpoint refused part of the flood: {figures:?}"
        );
        figures.join("; ")
    }
}

impl Drop for Flood {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn scrape_flood(c: &mut Criterion) {
    let gname = "scrape_flood";
    let mut group = c.benchmark_group(gname);
    // A registry worth rendering: 200 histograms with values over four decades.
    let registry = Registry::new();
    for i in 0..200u64 {
        let h = registry.histogram_with("latency", &[("op", &i.to_string())]);
        for v in [120, 1_500, 22_000, 410_000] {
            h.record(v + i);
        }
    }
    let snapshotter =
        Snapshotter::spawn(&registry, SnapshotterConfig::default()).expect("snapshotter thread");
    let config = ServerConfig::builder()
        .port(0)
        .build()
        .expect("valid config");
    let server = MetricsServer::start(
        config,
        snapshotter.reader(),
        Arc::new(HealthReport::healthy),
    )
    .expect("endpoint");
    let url = format!("http://{}/metrics", server.local_addr());
    let h = registry.histogram("block_processing");
    bench_workers(
        &mut group,
        gname,
        "record_idle_endpoint",
        vec![h.clone()],
        |h, values, iters| {
            for_each_value(values, iters, |v| h.record(v));
        },
    );
    match Flood::start(&url) {
        Some(flood) => {
            bench_workers(
                &mut group,
                gname,
                "record_during_wrk_flood",
                vec![h.clone()],
                |h, values, iters| {
                    for_each_value(values, iters, |v| h.record(v));
                },
            );
            eprintln!("scrape_flood: wrk: {}", flood.finish());
        }
        None => eprintln!(
            "scrape_flood: wrk is not installed (Debian: apt-get install wrk); flood contender skipped"
        ),
    }
    black_box(h.snapshot().count());
    group.finish();
    drop(server);
}

// `criterion_group!` defines a `pub fn`; inside a private module it is not exported.
mod group {
    use super::*;
    criterion_group!(benches, scrape_flood);
}
criterion_main!(group::benches);
