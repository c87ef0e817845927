//! Does a stalled push receiver cost the hot path anything? Histogram records through a
//! registry handle at 1 and 2 threads (group `push_record_{1,2}t`), in the same run:
//!
//! * `no_pusher`: a registry snapshotted every 10 ms, nothing pushed.
//! * `stalled_receiver`: the same, plus remote write of every snapshot (10 ms interval) to a
//!   loopback receiver that accepts connections and never answers: the sender sits in its
//!   request timeout, retries, and its queue fills to its budget (1 MiB here) and drops the
//!   oldest, all on its own thread.
//! * `hdrhistogram`: a thread-owned `hdrhistogram::Histogram`, for scale.
//!
//! The pusher reads published snapshots and never touches a recording thread, so the first
//! two should be indistinguishable. Values: the shared log-normal latency stream.

use aureon_benches::{HDR_HIGHEST, bench_workers, for_each_value};
use aureon_prometheus::remote_write::RemoteWrite;
use aureon_push::{PushConfig, Pusher};
use aureon_telemetry::{Registry, Snapshotter, SnapshotterConfig};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::net::TcpListener;
use std::time::Duration;

/// A receiver that accepts every connection and never reads or answers; connections are
/// kept open until the process exits.
fn stalled_receiver() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("loopback listener");
    let addr = listener.local_addr().expect("address");
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    format!("http://{addr}/api/v1/write")
}

struct Setup {
    registry: Registry,
    _snapshotter: Snapshotter,
    pusher: Option<Pusher>,
}

impl Setup {
    fn new(push: bool) -> Self {
        let registry = Registry::new();
        for i in 0..200 {
            registry
                .histogram_with("background", &[("i", &i.to_string())])
                .record(100 + i);
        }
        let snapshotter = Snapshotter::spawn(
            &registry,
            SnapshotterConfig {
                interval: Duration::from_millis(10),
                ..SnapshotterConfig::default()
            },
        )
        .expect("snapshotter thread");
        let pusher = push.then(|| {
            let protocol = RemoteWrite::new(&stalled_receiver()).expect("valid URL");
            let config = PushConfig {
                interval: Duration::from_millis(10),
                queue_bytes: 1 << 20,
                request_timeout: Duration::from_millis(500),
                shutdown_deadline: Duration::ZERO,
                ..PushConfig::default()
            };
            Pusher::spawn(protocol, snapshotter.reader(), config, Some(&registry))
                .expect("pusher thread")
        });
        Self {
            registry,
            _snapshotter: snapshotter,
            pusher,
        }
    }
}

fn record_at(c: &mut Criterion, threads: usize) {
    let gname = format!("push_record_{threads}t");
    let mut group = c.benchmark_group(&gname);
    for (id, push) in [("no_pusher", false), ("stalled_receiver", true)] {
        let setup = Setup::new(push);
        let h = setup.registry.histogram("block_processing_us");
        bench_workers(
            &mut group,
            &gname,
            id,
            vec![h.clone(); threads],
            |h, values, iters| {
                for_each_value(values, iters, |v| h.record(v));
            },
        );
        black_box(h.snapshot().count());
        if let Some(pusher) = setup.pusher {
            let report = pusher.report();
            // The receiver never answered: nothing can have been delivered, and the queue
            // stayed within its budget.
            assert_eq!(report.samples_sent, 0, "{report}");
            assert!(report.queue_bytes <= 1 << 20, "{report}");
            eprintln!("{gname}/stalled_receiver: {report}");
        }
    }
    bench_workers(
        &mut group,
        &gname,
        "hdrhistogram",
        (0..threads)
            .map(|_| {
                hdrhistogram::Histogram::<u64>::new_with_bounds(1, HDR_HIGHEST, 3)
                    .expect("valid bounds")
            })
            .collect(),
        |h, values, iters| {
            for_each_value(values, iters, |v| h.saturating_record(v));
        },
    );
    group.finish();
}

fn push_record_1t(c: &mut Criterion) {
    record_at(c, 1);
}
fn push_record_2t(c: &mut Criterion) {
    record_at(c, 2);
}

// `criterion_group!` defines a `pub fn`; inside a private module it is not exported.
mod group {
    use super::*;
    criterion_group!(benches, push_record_1t, push_record_2t);
}
criterion_main!(group::benches);
