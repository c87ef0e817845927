//! A probe for counting instructions per operation under `valgrind --tool=callgrind`
//! (deterministic, unlike times on a shared machine): `benches/callgrind.sh` runs it twice per
//! contender, with N and 2N operations, and divides the difference of the instruction counts
//! by N, which cancels start-up, setup and first-touch costs.
//!
//! Usage: `instructions <contender> <n>`; contenders are listed by `instructions list`.
//! Record contenders run on one thread (instruction counts do not show contention; the
//! criterion benches do); for the two snapshot contenders one op is a whole snapshot (or
//! merge) of the snapshot benchmark's 1000 histograms, recorded from 2 threads.

use aureon_benches::{
    AtomicArray, HDR_HIGHEST, SNAPSHOT_METRICS, SNAPSHOT_THREADS, for_each_value, snapshot_values,
    value_stream,
};
use std::hint::black_box;
use std::sync::Mutex;

const CONTENDERS: &[&str] = &[
    "aureon",
    "aureon_local",
    "aureon_record_with_exemplar",
    "aureon_record_corrected",
    "aureon_timer",
    "aureon_counter",
    "aureon_local_counter",
    "hdrhistogram",
    "mutex_hdrhistogram",
    "hdrhistogram_sync",
    "metrics_util_atomic_bucket",
    "prometheus_histogram",
    "atomic_array_floor",
    "registry_snapshot_1000",
    "hdrhistogram_dense_merge_1000",
];

fn hdr() -> hdrhistogram::Histogram<u64> {
    hdrhistogram::Histogram::new_with_bounds(1, HDR_HIGHEST, 3).expect("valid bounds")
}

/// Runs `n` operations of `contender` after a warm-up of one pass over the value stream (so
/// that first-touch allocations are in both the N and the 2N run and cancel out). Each arm
/// is its own loop, so nothing but the contender's operation is inside it.
fn run(contender: &str, n: u64) -> Option<u64> {
    let values = value_stream(0);
    let warm = values.len() as u64;
    let total = match contender {
        "aureon" => {
            let h = aureon_telemetry::Histogram::with_default_config();
            for_each_value(&values, warm + n, |v| h.record(v));
            h.snapshot().count()
        }
        "aureon_local" => {
            let h = aureon_telemetry::Histogram::with_default_config();
            let local = h.local();
            for_each_value(&values, warm + n, |v| local.record(v));
            h.snapshot().count()
        }
        "aureon_record_with_exemplar" => {
            let h = aureon_telemetry::Histogram::with_default_config();
            let mut id = 0u64;
            for_each_value(&values, warm + n, |v| {
                id += 1;
                h.record_with_exemplar(v, id);
            });
            h.snapshot().count()
        }
        "aureon_record_corrected" => {
            let h = aureon_telemetry::Histogram::with_default_config();
            for_each_value(&values, warm + n, |v| h.record_corrected(v, 1000));
            h.snapshot().count()
        }
        "aureon_timer" => {
            let h = aureon_telemetry::Histogram::with_default_config();
            for_each_value(&values, warm + n, |_| drop(h.start_timer()));
            h.snapshot().count()
        }
        "aureon_counter" => {
            let c = aureon_telemetry::Counter::new();
            for_each_value(&values, warm + n, |_| c.increment(1));
            c.value()
        }
        "aureon_local_counter" => {
            let c = aureon_telemetry::Counter::new();
            let local = c.local();
            for_each_value(&values, warm + n, |_| local.increment(1));
            c.value()
        }
        "hdrhistogram" => {
            let mut h = hdr();
            for_each_value(&values, warm + n, |v| h.saturating_record(v));
            h.len()
        }
        "mutex_hdrhistogram" => {
            let h = Mutex::new(hdr());
            for_each_value(&values, warm + n, |v| {
                h.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .saturating_record(v)
            });
            h.into_inner().unwrap_or_else(|e| e.into_inner()).len()
        }
        "hdrhistogram_sync" => {
            let sync = hdr().into_sync();
            let mut r = sync.recorder();
            for_each_value(&values, warm + n, |v| r.saturating_record(v));
            drop(r);
            warm + n
        }
        "metrics_util_atomic_bucket" => {
            let b = metrics_util::storage::AtomicBucket::<f64>::new();
            for_each_value(&values, warm + n, |v| b.push(v as f64));
            b.data().len() as u64
        }
        "prometheus_histogram" => {
            let p = prometheus::Histogram::with_opts(prometheus::HistogramOpts::new(
                "probe_seconds",
                "probe",
            ))
            .expect("valid options");
            for_each_value(&values, warm + n, |v| p.observe(v as f64 * 1e-6));
            p.get_sample_count()
        }
        "atomic_array_floor" => {
            let a = AtomicArray::new();
            for_each_value(&values, warm + n, |v| a.record(v));
            a.total()
        }
        // One op = one full snapshot of the snapshot benchmark's 1000 histograms.
        "registry_snapshot_1000" => {
            let registry = aureon_telemetry::Registry::new();
            let handles: Vec<_> = (0..SNAPSHOT_METRICS)
                .map(|m| registry.histogram(&format!("probe_{m}_us")))
                .collect();
            std::thread::scope(|s| {
                for t in 0..SNAPSHOT_THREADS {
                    let handles = &handles;
                    s.spawn(move || {
                        for (m, h) in handles.iter().enumerate() {
                            snapshot_values(m, t).into_iter().for_each(|v| h.record(v));
                        }
                    });
                }
            });
            (0..n)
                .map(|_| black_box(registry.snapshot()).len() as u64)
                .sum()
        }
        // One op = resetting 1000 accumulators and adding both threads' dense histograms.
        "hdrhistogram_dense_merge_1000" => {
            let dense: Vec<Vec<hdrhistogram::Histogram<u64>>> = (0..SNAPSHOT_THREADS)
                .map(|t| {
                    (0..SNAPSHOT_METRICS)
                        .map(|m| {
                            let mut h = hdr();
                            snapshot_values(m, t)
                                .into_iter()
                                .for_each(|v| h.saturating_record(v));
                            h
                        })
                        .collect()
                })
                .collect();
            let mut acc: Vec<_> = dense[0]
                .iter()
                .map(hdrhistogram::Histogram::new_from)
                .collect();
            for _ in 0..n {
                for (m, a) in acc.iter_mut().enumerate() {
                    a.reset();
                    for thread in &dense {
                        a.add(&thread[m]).expect("same bounds");
                    }
                }
                black_box(&acc);
            }
            acc.iter().map(hdrhistogram::Histogram::len).sum()
        }
        _ => return None,
    };
    Some(total)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("list") | None => {
            for c in CONTENDERS {
                println!("{c}");
            }
        }
        Some(contender) => {
            let n: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(100_000);
            match run(contender, n) {
                Some(total) => println!("{contender}: {}", black_box(total)),
                None => {
                    eprintln!("unknown contender {contender}; try `list`");
                    std::process::exit(2);
                }
            }
        }
    }
}
