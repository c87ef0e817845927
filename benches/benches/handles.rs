//! Does cloning and dropping handles on another thread slow the threads that record?
//! Group `handle_churn`: one thread records into a shared `Histogram` (or increments a shared
//! `Counter`) while, on the other core, a second thread clones and drops a handle of the same
//! metric in a tight loop (as code that clones a handle per task does), next to the same
//! record without that thread, in the same run.
//!
//! A clone or drop writes the handle's `Arc` reference counts. If those shared a cache line
//! with what every record reads (the histogram's layout and inline shard pointers), each
//! write would evict that line from the recorder's cache; the cores keep the counts on lines
//! of their own (`#[repr(align(128))]`), so the two contenders should be equal within noise.
//! (On a 2-core machine the cloner has the other core; other load on the machine shows up in
//! both contenders alike.)

use aureon_benches::{bench_workers, for_each_value};
use aureon_telemetry::{Counter, Histogram};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A thread cloning and dropping `handle` until dropped.
struct Cloner {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<u64>>,
}

impl Cloner {
    fn start<T: Clone + Send + 'static>(handle: T) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let c = handle.clone();
                    black_box(&c);
                    drop(c);
                    n += 1;
                }
                n
            })
        };
        Self {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Cloner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            black_box(t.join().unwrap_or(0));
        }
    }
}

fn handle_churn(c: &mut Criterion) {
    let gname = "handle_churn";
    let mut group = c.benchmark_group(gname);

    let h = Histogram::with_default_config();
    bench_workers(
        &mut group,
        gname,
        "record_quiet",
        vec![h.clone()],
        |h, values, iters| {
            for_each_value(values, iters, |v| h.record(v));
        },
    );
    let h = Histogram::with_default_config();
    let cloner = Cloner::start(h.clone());
    bench_workers(
        &mut group,
        gname,
        "record_while_cloning",
        vec![h.clone()],
        |h, values, iters| {
            for_each_value(values, iters, |v| h.record(v));
        },
    );
    drop(cloner);
    black_box(h.snapshot().count());

    let counter = Counter::new();
    bench_workers(
        &mut group,
        gname,
        "increment_quiet",
        vec![counter.clone()],
        |c, values, iters| {
            for_each_value(values, iters, |_| c.increment(1));
        },
    );
    let counter = Counter::new();
    let cloner = Cloner::start(counter.clone());
    bench_workers(
        &mut group,
        gname,
        "increment_while_cloning",
        vec![counter.clone()],
        |c, values, iters| {
            for_each_value(values, iters, |_| c.increment(1));
        },
    );
    drop(cloner);
    black_box(counter.value());
    group.finish();
}

// `criterion_group!` defines a `pub fn`; inside a private module it is not exported.
mod group {
    use super::*;
    criterion_group!(benches, handle_churn);
}
criterion_main!(group::benches);
