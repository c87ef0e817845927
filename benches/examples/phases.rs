//! A probe for the machine's slow phases: does a thread that records slowly for a while record
//! slowly into *every* histogram, or only into aureon's?
//!
//! Each thread records the record benchmark's value stream in rounds; in every round it times
//! a block of records into aureon (`Histogram::record`, one shared handle), the same block
//! through a thread-bound `Histogram::local` recorder, and then into a thread-owned
//! `hdrhistogram::Histogram`, and prints the three times per round.
//! If slow phases were aureon's (its memory layout, say), aureon's time would jump while the
//! hdrhistogram's stayed. On this VM (docs/benchmarks.md, "aureon's slow mode") most phases
//! hit all contenders together (the machine's), and the first block after the barrier is slow
//! whichever contender runs first; but in about one process in four one thread records
//! through the shared handle at ~7.5 ns instead of ~3.5 for the whole run, while the same
//! thread's `local` recorder (same shard, same pages, same values) and its hdrhistogram stay
//! within 10-30% of their usual times. So the slow mode belongs to the loads that find the shard
//! (thread-local slot, per-thread table, shard), which the local recorder skips.
//!
//! Usage: `cargo run --release -p aureon-benches --example phases -- [threads] [rounds]`
//! (default 1 thread, 12 rounds of 4 M records per contender). Run it several times: the
//! phases come and go between processes and within one.

use aureon_benches::{HDR_HIGHEST, for_each_value, value_stream};
use std::sync::{Arc, Barrier};
use std::time::Instant;

/// Records per contender per round.
const BLOCK: u64 = 4_000_000;

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>());
    let threads = args.next().and_then(Result::ok).unwrap_or(1).max(1);
    let rounds = args.next().and_then(Result::ok).unwrap_or(12).max(1);

    let shared = aureon_telemetry::Histogram::with_default_config();
    let barrier = Arc::new(Barrier::new(threads));
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let h = shared.clone();
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                let values = value_stream(t);
                let mut owned = hdrhistogram::Histogram::<u64>::new_with_bounds(1, HDR_HIGHEST, 3)
                    .expect("valid bounds");
                // First touch of every page and bin outside the timing.
                for_each_value(&values, values.len() as u64, |v| h.record(v));
                for_each_value(&values, values.len() as u64, |v| owned.saturating_record(v));
                (0..rounds)
                    .map(|_| {
                        barrier.wait();
                        let start = Instant::now();
                        for_each_value(&values, BLOCK, |v| h.record(v));
                        let aureon = start.elapsed().as_nanos() as f64 / BLOCK as f64;
                        let local = h.local();
                        let start = Instant::now();
                        for_each_value(&values, BLOCK, |v| local.record(v));
                        let local = start.elapsed().as_nanos() as f64 / BLOCK as f64;
                        let start = Instant::now();
                        for_each_value(&values, BLOCK, |v| owned.saturating_record(v));
                        let hdr = start.elapsed().as_nanos() as f64 / BLOCK as f64;
                        (aureon, local, hdr)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for (t, worker) in workers.into_iter().enumerate() {
        let rounds = worker.join().expect("probe thread");
        let line: Vec<String> = rounds
            .iter()
            .map(|(a, l, h)| format!("{a:.1}/{l:.1}/{h:.1}"))
            .collect();
        println!(
            "thread {t}: ns per record, aureon record/aureon local/hdrhistogram, per round: {}",
            line.join("  ")
        );
    }
}
