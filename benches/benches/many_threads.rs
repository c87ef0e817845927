//! A node's worker pool has 32-64 threads, and only the first 15 thread slots have their
//! per-thread entry inline (one load to find); later slots take the bucket path. Does a
//! thread on a later slot record slower? Group `many_threads`: 64 threads record into one
//! histogram, each measuring its own **CPU time** (`CLOCK_THREAD_CPUTIME_ID`), so
//! 64 threads on 2 cores still give a per-record figure; each contender reports the mean of
//! one part of the pool:
//!
//! * `shared_inline_slots` / `shared_spilled_slots`: `Histogram::record` through a shared
//!   handle, threads on slots 1-15 / 16-64;
//! * `local_inline_slots` / `local_spilled_slots`: the same through each thread's
//!   `LocalHistogram` (which finds its shard once, so the slot should not matter at all).
//!
//! Threads take slots in the order they first record: the pool is started one thread at a
//! time, each recording once before the next starts, so thread `k` owns slot `k + 1`
//! (slot 0 is the orphan slot). Values: the shared log-normal latency stream.

use aureon_benches::{for_each_value, thread_cpu_ns, value_stream};
use aureon_telemetry::Histogram;
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::sync::mpsc;
use std::time::Duration;

const THREADS: usize = 64;
/// Slots with inline entries, the orphan slot 0 included (`per_thread::INLINE`).
const INLINE_SLOTS: usize = 16;

/// 64 recording threads; `run` has each record `iters` values and returns the mean CPU time
/// of the threads whose slots are in `slots`.
struct Pool {
    jobs: Vec<mpsc::Sender<u64>>,
    done: mpsc::Receiver<(usize, u64)>,
    handles: Vec<std::thread::JoinHandle<()>>,
}

impl Pool {
    fn start(h: &Histogram, local: bool) -> Self {
        let (done_tx, done) = mpsc::channel();
        let mut jobs = Vec::new();
        let mut handles = Vec::new();
        for k in 0..THREADS {
            let (job_tx, job_rx) = mpsc::channel::<u64>();
            let (ready_tx, ready_rx) = mpsc::channel::<()>();
            let (h, done_tx) = (h.clone(), done_tx.clone());
            handles.push(std::thread::spawn(move || {
                let values = value_stream(k);
                // The first record takes this thread's slot (k + 1).
                h.record(values[0]);
                let local_h = local.then(|| h.local());
                ready_tx.send(()).expect("pool starter alive");
                while let Ok(iters) = job_rx.recv() {
                    let before = thread_cpu_ns().expect("per-thread CPU clock");
                    match &local_h {
                        Some(l) => for_each_value(&values, iters, |v| l.record(v)),
                        None => for_each_value(&values, iters, |v| h.record(v)),
                    }
                    let after = thread_cpu_ns().expect("per-thread CPU clock");
                    done_tx
                        .send((k + 1, after - before))
                        .expect("pool owner alive");
                }
            }));
            ready_rx.recv().expect("pool thread started");
            jobs.push(job_tx);
        }
        Self {
            jobs,
            done,
            handles,
        }
    }

    fn run(&self, iters: u64, slots: std::ops::Range<usize>) -> Duration {
        for job in &self.jobs {
            job.send(iters).expect("pool thread alive");
        }
        let (mut total, mut n) = (0u64, 0u64);
        for _ in 0..THREADS {
            let (slot, cpu_ns) = self.done.recv().expect("pool thread result");
            if slots.contains(&slot) {
                total += cpu_ns;
                n += 1;
            }
        }
        Duration::from_nanos(total / n.max(1))
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.jobs.clear();
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

fn many_threads(c: &mut Criterion) {
    if thread_cpu_ns().is_none() {
        eprintln!("many_threads: no per-thread CPU clock here; skipped");
        return;
    }
    let mut group = c.benchmark_group("many_threads");
    for (prefix, local) in [("shared", false), ("local", true)] {
        let h = Histogram::with_default_config();
        let pool = Pool::start(&h, local);
        for (part, slots) in [
            ("inline_slots", 1..INLINE_SLOTS),
            ("spilled_slots", INLINE_SLOTS..THREADS + 1),
        ] {
            group.bench_function(format!("{prefix}_{part}"), |b| {
                b.iter_custom(|iters| pool.run(iters, slots.clone()))
            });
        }
        drop(pool);
        black_box(h.snapshot().count());
    }
    group.finish();
}

// `criterion_group!` defines a `pub fn`; inside a private module it is not exported.
mod group {
    use super::*;
    criterion_group!(benches, many_threads);
}
criterion_main!(group::benches);
