//! Shared harness for the `aureon-benches` criterion benchmarks.
//!
//! The benchmarks compare `aureon-telemetry` with the crates a user would pick instead, in the
//! same run, and report ratios (this machine is shared and noisy, absolute times mean little).
//! What lives here is what every bench binary must do the same way, so that a ratio compares
//! like with like:
//!
//! * [`value_stream`]: the precomputed, log-normal-ish latencies (µs) every contender records;
//! * [`Workers`]: long-lived recording threads released together by a spinning barrier and
//!   timed from inside, for criterion's `iter_custom` at 1 and 2 threads;
//! * [`AtomicArray`]: the floor, a bare single-writer array of `AtomicU64` indexed like an HDR
//!   histogram, bumped with a Relaxed load + store;
//! * [`output_dir`]: where criterion writes its estimates, so that facts criterion cannot
//!   measure (the live heap) are written next to them for `benches/summarize.py`.

use criterion::BenchmarkGroup;
use criterion::measurement::WallTime;
use std::cell::Cell;
use std::path::PathBuf;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Length of every value stream: a power of two, so the record loops index it with a mask
/// (one `and`, no bounds-check branch the compiler cannot remove), and small enough (16 KiB)
/// that reading the stream stays in L1/L2 and does not dominate what is measured.
pub const STREAM_LEN: usize = 2048;

/// Median of the record benchmarks' latencies: 2 ms expressed in µs, the unit of aureon's
/// default histogram.
pub const MEDIAN_US: f64 = 2000.0;

/// Spread (σ of the natural log) of the record benchmarks' latencies. With the ±3.5σ cut
/// below, values span `2000 · e^(±1.75)`, about 350 µs to 11.5 ms: five octaves, most of them
/// within 1–5 ms.
pub const SIGMA: f64 = 0.5;

/// SplitMix64: a tiny, fast, well-mixed generator; the benches need reproducible values, not
/// cryptographic ones, and a dependency for that would only add build time.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator started at `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform `f64` in `(0, 1]` (never 0, so its logarithm is finite).
    pub fn next_unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }

    /// A standard normal deviate (Box–Muller), cut at ±3.5 so that the range of the values
    /// derived from it is known in advance.
    pub fn next_normal(&mut self) -> f64 {
        let (u1, u2) = (self.next_unit(), self.next_unit());
        let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        z.clamp(-3.5, 3.5)
    }
}

/// `len` log-normal latencies in µs: `median · e^(σ·z)`, z standard normal cut at ±3.5σ,
/// rounded to integers (at least 1).
pub fn lognormal_values(seed: u64, len: usize, median: f64, sigma: f64) -> Vec<u64> {
    let mut rng = SplitMix64::new(seed);
    (0..len)
        .map(|_| ((median * (sigma * rng.next_normal()).exp()).round() as u64).max(1))
        .collect()
}

/// The value stream of recording thread `thread`: [`STREAM_LEN`] latencies around
/// [`MEDIAN_US`] with spread [`SIGMA`]. Each thread gets its own seed (and its own copy), so
/// two threads do not walk the same bins in lock-step.
pub fn value_stream(thread: usize) -> Vec<u64> {
    lognormal_values(0xA5E0_0000 + thread as u64, STREAM_LEN, MEDIAN_US, SIGMA)
}

/// Histograms in the snapshot benchmark.
pub const SNAPSHOT_METRICS: usize = 1000;
/// Threads recording into every histogram of the snapshot benchmark.
pub const SNAPSHOT_THREADS: usize = 2;
/// Values each of those threads records into each histogram.
pub const SNAPSHOT_VALUES_PER_THREAD: usize = 2000;

/// The values thread `thread` records into histogram `metric` in the snapshot benchmark:
/// log-normal with spread [`SIGMA`] (about five octaves wide after the ±3.5σ cut) around a
/// median of 500 µs · 2^(metric mod 5), so the metrics' medians range from 500 µs to 8 ms.
pub fn snapshot_values(metric: usize, thread: usize) -> Vec<u64> {
    let median = MEDIAN_US / 4.0 * f64::from(1u32 << (metric % 5));
    lognormal_values(
        ((metric as u64) << 8) | thread as u64,
        SNAPSHOT_VALUES_PER_THREAD,
        median,
        SIGMA,
    )
}

/// Calls `f` with `iters` values taken from `values` in order, wrapping around.
///
/// Every contender's loop goes through here, so the loop overhead (a counter, a mask, a load)
/// is identical for all and cancels out of the ratios.
#[inline(always)]
pub fn for_each_value(values: &[u64], iters: u64, mut f: impl FnMut(u64)) {
    debug_assert!(values.len().is_power_of_two());
    let mask = values.len() - 1;
    for k in 0..iters {
        f(values[k as usize & mask]);
    }
}

/// Calls `f` with `iters` values taken from `values` in order, wrapping around, in batches of
/// `batch` (a power of two no larger than `values.len()`; `iters` rounded down to whole
/// batches): the loop of the `record_slice` contenders, value for value the same stream.
#[inline(always)]
pub fn for_each_batch(values: &[u64], iters: u64, batch: usize, mut f: impl FnMut(&[u64])) {
    debug_assert!(values.len().is_power_of_two() && batch.is_power_of_two());
    debug_assert!(batch <= values.len());
    let mask = values.len() - 1;
    let mut k = 0usize;
    for _ in 0..iters / batch as u64 {
        f(&values[k..k + batch]);
        k = (k + batch) & mask;
    }
}

/// The bin count of an HDR histogram with aureon's default configuration (1 ..= 3.6e9,
/// 3 significant figures): 23 half-buckets of 1024 bins, 184 KiB of `u64` counts.
pub const HDR_BINS: usize = 23 * 1024;
/// The highest value the default configuration tracks (an hour in µs).
pub const HDR_HIGHEST: u64 = 3_600_000_000;

/// HDR's bin index for the default configuration (2048 sub-buckets, unit 1): the same
/// `leading_zeros` arithmetic as `hdrhistogram::Histogram::index_for`, with the constants
/// folded. Values above [`HDR_HIGHEST`] are clamped into the top bin.
#[inline(always)]
pub fn hdr_index(value: u64) -> usize {
    let v = value.min(HDR_HIGHEST);
    // sub_bucket_mask = 2047, leading_zero_count_base = 64 - 0 - 11.
    let bucket = 53 - (v | 2047).leading_zeros();
    let sub_bucket = (v >> bucket) as usize;
    ((bucket as usize + 1) << 10) + sub_bucket - 1024
}

/// The floor: a bare, dense, single-writer histogram of `AtomicU64` counts.
///
/// Its owner bumps a bin with a Relaxed load and a plain store (no locked instruction); it
/// keeps no count, min, max or sum and allocates its whole range up front. Nothing
/// thread-safe can record for less, which is why aureon's goal is stated relative to it.
#[derive(Debug)]
pub struct AtomicArray {
    counts: Box<[AtomicU64]>,
}

impl Default for AtomicArray {
    fn default() -> Self {
        Self::new()
    }
}

impl AtomicArray {
    /// A zeroed array of [`HDR_BINS`] counts.
    pub fn new() -> Self {
        Self {
            counts: (0..HDR_BINS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Counts `value` in its bin. Only the owning thread may call this (single writer).
    #[inline(always)]
    pub fn record(&self, value: u64) {
        let cell = &self.counts[hdr_index(value)];
        cell.store(cell.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }

    /// Total of all bins (a check that the records happened).
    pub fn total(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }
}

/// A reusable barrier whose waiters spin (yielding now and then, for a machine with fewer
/// free cores than waiters) instead of sleeping, so the last arrival releases the others in
/// well under a microsecond.
struct SpinBarrier {
    threads: usize,
    arrived: AtomicUsize,
    generation: AtomicUsize,
}

impl SpinBarrier {
    fn new(threads: usize) -> Self {
        Self {
            threads,
            arrived: AtomicUsize::new(0),
            generation: AtomicUsize::new(0),
        }
    }

    fn wait(&self) {
        // Read before arriving: the generation cannot move on until this thread has arrived.
        let generation = self.generation.load(Ordering::Acquire);
        if self.arrived.fetch_add(1, Ordering::AcqRel) + 1 == self.threads {
            // Reset before releasing, so a waiter that races ahead to the next round counts
            // from zero.
            self.arrived.store(0, Ordering::Relaxed);
            self.generation.fetch_add(1, Ordering::Release);
            return;
        }
        let mut spins = 0u32;
        while self.generation.load(Ordering::Acquire) == generation {
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(4096) {
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
    }
}

/// Long-lived recording threads for criterion's `iter_custom`.
///
/// Each worker owns one state `S` (a histogram, a recorder, a handle to a shared metric…) and
/// its own [`value_stream`]. [`Workers::run`] asks every worker to do `iters` records; the
/// workers meet on a spinning barrier so they start within a few hundred nanoseconds of each
/// other (a sleeping barrier's wake-up takes tens of microseconds), each notes when its loop
/// started and ended, and `run` returns the span from the first start to the last end: the
/// time in which every thread did `iters` records while the others recorded too. So
/// `span / iters` is the per-thread cost of a record, and `threads * iters / span` the
/// throughput; a contender that serialises its threads (a lock) shows it in full, where the
/// mean of the threads' own durations would hide up to half of it. Threads live for the whole benchmark, so thread start-up and
/// per-thread first-touch costs (aureon's shard and pages) fall in criterion's warm-up, not
/// in the samples, as they would in a long-running node.
///
/// On a shared 2-core machine a "2-thread" sample is only meaningful if both threads really
/// ran at the same time. Each worker therefore also reads how long the kernel kept it
/// runnable but off-CPU (`/proc/thread-self/schedstat`), and `run` measures how much of the
/// workers' timed intervals overlapped. When dropped, the workers write both fractions to
/// `<criterion dir>/<label>/aureon-workers.json`, where `benches/summarize.py` flags samples
/// that other processes disturbed.
pub struct Workers {
    label: String,
    threads: usize,
    jobs: Vec<mpsc::Sender<u64>>,
    done: mpsc::Receiver<Report>,
    handles: Vec<JoinHandle<()>>,
    stats: Cell<SchedTotals>,
}

/// What one worker reports for one [`Workers::run`].
struct Report {
    start: Instant,
    end: Instant,
    /// Nanoseconds the thread was runnable but not running during its timed loop, if the
    /// kernel says.
    waited_ns: Option<u64>,
    /// Nanoseconds the thread ran on a CPU during its timed loop, if the kernel says.
    cpu_ns: Option<u64>,
}

/// The calling thread's CPU time in nanoseconds (`CLOCK_THREAD_CPUTIME_ID`, exact to the
/// nanosecond, unlike schedstat's total, which the kernel brings up to date only at context
/// switches and ticks); `None` where the clock is not available.
pub fn thread_cpu_ns() -> Option<u64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `clock_gettime` writes one `timespec` through the valid pointer given.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    (rc == 0).then(|| ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
}

/// Whether [`Workers::run`] reports per-thread CPU time instead of wall time
/// (`AUREON_BENCH_CLOCK=cpu`): on a machine shared with other work, wall time counts the
/// time other processes held the core, CPU time only the thread's own running (cache and
/// contention effects between the recorders themselves still show, which is what the
/// benchmarks compare).
pub fn cpu_clock() -> bool {
    std::env::var("AUREON_BENCH_CLOCK").is_ok_and(|v| v == "cpu")
}

#[derive(Debug, Clone, Copy, Default)]
struct SchedTotals {
    runs: u64,
    /// Sum over runs and workers of the timed durations.
    busy_ns: u128,
    /// Sum over runs and workers of the runqueue waits inside the timed durations.
    waited_ns: u128,
    /// Whether every worker could read its schedstat.
    schedstat: bool,
    /// Sum over runs of the time all workers were inside their loops at once.
    overlap_ns: u128,
    /// Sum over runs of the mean worker duration.
    mean_ns: u128,
}

/// This thread's cumulative (on-CPU, runnable-but-waiting) nanoseconds, from the kernel's
/// schedstat; `None` where the kernel does not provide it. The second number growing during a
/// measurement means another process held the CPU this thread wanted.
pub fn thread_schedstat() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let mut fields = text.split_whitespace().map(str::parse::<u64>);
    Some((fields.next()?.ok()?, fields.next()?.ok()?))
}

impl std::fmt::Debug for Workers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workers")
            .field("label", &self.label)
            .field("threads", &self.threads)
            .finish()
    }
}

impl Workers {
    /// Starts one worker per state; worker `i` runs `body(&mut states[i], &value_stream(i),
    /// iters)` for every [`Workers::run`]. `label` is the criterion id (`group/function`)
    /// the workers are measured under, for the scheduling report (none if empty).
    pub fn spawn<S, F>(label: &str, states: Vec<S>, body: F) -> Self
    where
        S: Send + 'static,
        F: Fn(&mut S, &[u64], u64) + Send + Sync + 'static,
    {
        let threads = states.len();
        assert!(threads > 0, "at least one worker");
        let body = Arc::new(body);
        let barrier = Arc::new(SpinBarrier::new(threads));
        let (done_tx, done) = mpsc::channel();
        let mut jobs = Vec::with_capacity(threads);
        let mut handles = Vec::with_capacity(threads);
        for (i, mut state) in states.into_iter().enumerate() {
            let (job_tx, job_rx) = mpsc::channel::<u64>();
            let (body, barrier, done_tx) =
                (Arc::clone(&body), Arc::clone(&barrier), done_tx.clone());
            let handle = std::thread::Builder::new()
                .name(format!("bench-worker-{i}"))
                .spawn(move || {
                    let values = value_stream(i);
                    while let Ok(iters) = job_rx.recv() {
                        barrier.wait();
                        let before = thread_schedstat();
                        let cpu_before = thread_cpu_ns();
                        let start = Instant::now();
                        body(&mut state, &values, iters);
                        let end = Instant::now();
                        let cpu_after = thread_cpu_ns();
                        let after = thread_schedstat();
                        let waited_ns = before
                            .zip(after)
                            .map(|((_, w0), (_, w1))| w1.saturating_sub(w0));
                        let cpu_ns = cpu_before
                            .zip(cpu_after)
                            .map(|(c0, c1)| c1.saturating_sub(c0));
                        if done_tx
                            .send(Report {
                                start,
                                end,
                                waited_ns,
                                cpu_ns,
                            })
                            .is_err()
                        {
                            break;
                        }
                    }
                })
                .expect("spawn a bench worker");
            jobs.push(job_tx);
            handles.push(handle);
        }
        Self {
            label: label.to_owned(),
            threads,
            jobs,
            done,
            handles,
            stats: Cell::new(SchedTotals {
                schedstat: true,
                ..SchedTotals::default()
            }),
        }
    }

    /// Number of workers.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Has every worker do `iters` records, starting together; returns the span from the first
    /// worker's start to the last one's end (per-thread time for `iters` records, as
    /// criterion's `iter_custom` expects), or with [`cpu_clock`] the workers' mean CPU time.
    pub fn run(&self, iters: u64) -> Duration {
        for job in &self.jobs {
            job.send(iters).expect("bench worker alive");
        }
        let reports: Vec<Report> = (0..self.jobs.len())
            .map(|_| self.done.recv().expect("bench worker result"))
            .collect();
        let total: Duration = reports.iter().map(|r| r.end - r.start).sum();
        let mean = total / self.threads as u32;
        let first_start = reports.iter().map(|r| r.start).min().expect("a worker");
        let last_start = reports.iter().map(|r| r.start).max().expect("a worker");
        let first_end = reports.iter().map(|r| r.end).min().expect("a worker");
        let last_end = reports.iter().map(|r| r.end).max().expect("a worker");
        let span = last_end - first_start;

        let mut stats = self.stats.get();
        stats.runs += 1;
        stats.busy_ns += total.as_nanos();
        stats.mean_ns += mean.as_nanos();
        stats.overlap_ns += first_end.saturating_duration_since(last_start).as_nanos();
        for r in &reports {
            match r.waited_ns {
                Some(w) => stats.waited_ns += u128::from(w),
                None => stats.schedstat = false,
            }
        }
        self.stats.set(stats);
        if cpu_clock() {
            let cpu: Option<u64> = reports.iter().map(|r| r.cpu_ns).sum();
            if let Some(cpu) = cpu {
                return Duration::from_nanos(cpu / self.threads as u64);
            }
        }
        span
    }

    fn write_report(&self) {
        let s = self.stats.get();
        if s.runs == 0 || self.label.is_empty() {
            return;
        }
        let frac = |a: u128, b: u128| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        write_sched_report(
            &self.label,
            self.threads,
            s.runs,
            s.schedstat.then(|| frac(s.waited_ns, s.busy_ns)),
            frac(s.overlap_ns, s.mean_ns),
        );
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        // Closing the job channels ends each worker's loop; join so that per-thread state is
        // dropped (and any thread-exit work done) before the next benchmark starts.
        self.jobs.clear();
        for handle in self.handles.drain(..) {
            let _ = handle.join();
        }
        self.write_report();
    }
}

/// Benchmarks `body` on `states.len()` [`Workers`] under criterion id `group_name/name`:
/// one `iter_custom` sample is one [`Workers::run`].
pub fn bench_workers<S, F>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    group_name: &str,
    name: &str,
    states: Vec<S>,
    body: F,
) where
    S: Send + 'static,
    F: Fn(&mut S, &[u64], u64) + Send + Sync + 'static,
{
    bench_workers_then(group, group_name, name, states, body, || {});
}

/// As [`bench_workers`], calling `after` after every sample, outside the timed region (to
/// drain a structure that would otherwise grow without bound, as its exporter would).
pub fn bench_workers_then<S, F>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    group_name: &str,
    name: &str,
    states: Vec<S>,
    body: F,
    after: impl Fn(),
) where
    S: Send + 'static,
    F: Fn(&mut S, &[u64], u64) + Send + Sync + 'static,
{
    let workers = Workers::spawn(&format!("{group_name}/{name}"), states, body);
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let t = workers.run(iters);
            after();
            t
        })
    });
}

/// Writes `<criterion dir>/<label>/aureon-workers.json` for `benches/summarize.py`: over `runs`
/// samples of `threads` threads, the fraction of the timed time the threads waited for a CPU
/// (`None`: unknown) and the fraction during which all of them were running their loops.
pub fn write_sched_report(
    label: &str,
    threads: usize,
    runs: u64,
    wait_fraction: Option<f64>,
    overlap_fraction: f64,
) {
    let waited = wait_fraction.map_or_else(|| "null".to_owned(), |w| format!("{w:.4}"));
    let json = format!(
        "{{\"threads\": {threads}, \"runs\": {runs}, \"runqueue_wait_fraction\": {waited}, \"overlap_fraction\": {overlap_fraction:.4}}}\n"
    );
    let dir = output_dir().join(label);
    if let Err(e) = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(dir.join("aureon-workers.json"), json))
    {
        eprintln!("could not write the scheduling report of {label}: {e}");
    }
}

/// Criterion's output directory, found the way criterion 0.5 finds it (`CRITERION_HOME`, else
/// `$CARGO_TARGET_DIR/criterion`, else the workspace's `target/criterion`).
pub fn output_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target")));
    target.join("criterion")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hdr_index_matches_hdrhistogram() {
        let reference = hdrhistogram::Histogram::<u64>::new_with_bounds(1, HDR_HIGHEST, 3)
            .expect("valid bounds");
        assert_eq!(reference.distinct_values(), HDR_BINS);
        let mut rng = SplitMix64::new(7);
        let probes = (0..64u32)
            .flat_map(|s| {
                let p = 1u64 << s;
                [p - 1, p, p + 1]
            })
            .chain((0..10_000).map(|_| rng.next_u64() >> (rng.next_u64() % 64)))
            .filter(|&v| v <= HDR_HIGHEST);
        // hdrhistogram does not expose its index function; equal bin boundaries and
        // consecutive indices across each boundary pin `hdr_index` down just as well.
        assert_eq!(hdr_index(0), 0);
        for v in probes {
            let (lo, hi) = (
                reference.lowest_equivalent(v),
                reference.highest_equivalent(v),
            );
            let i = hdr_index(v);
            assert!(i < HDR_BINS);
            assert_eq!(hdr_index(lo), i, "value {v}");
            assert_eq!(hdr_index(hi), i, "value {v}");
            if hi < HDR_HIGHEST {
                assert_eq!(hdr_index(hi + 1), i + 1, "value {v}");
            }
            if lo > 0 {
                assert_eq!(hdr_index(lo - 1) + 1, i, "value {v}");
            }
        }
    }

    #[test]
    fn value_stream_is_a_few_octaves_around_the_median() {
        let v = value_stream(0);
        assert_eq!(v.len(), STREAM_LEN);
        let (lo, hi) = (*v.iter().min().unwrap(), *v.iter().max().unwrap());
        assert!(lo >= 340 && hi <= 11_600, "{lo}..{hi}");
        let mut sorted = v.clone();
        sorted.sort_unstable();
        let median = sorted[STREAM_LEN / 2];
        assert!((1700..2300).contains(&median), "median {median}");
        assert_ne!(value_stream(0), value_stream(1));
    }

    #[test]
    fn workers_run_every_thread() {
        let counts: Vec<Arc<AtomicU64>> = (0..2).map(|_| Arc::new(AtomicU64::new(0))).collect();
        let workers = Workers::spawn(
            "",
            counts.clone(),
            |c: &mut Arc<AtomicU64>, values, iters| {
                for_each_value(values, iters, |_| {
                    c.fetch_add(1, Ordering::Relaxed);
                });
            },
        );
        workers.run(1000);
        workers.run(24);
        drop(workers);
        assert!(counts.iter().all(|c| c.load(Ordering::Relaxed) == 1024));
    }
}
