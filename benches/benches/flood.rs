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
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

/// `wrk` flooding `url` until dropped.
struct Flood(Child);

impl Flood {
    fn start(url: &str) -> Option<Self> {
        Command::new("wrk")
            .args(["-t1", "-c16", "-d3600s", url])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()
            .map(Flood)
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
            drop(flood);
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
