//! Soak test: everything at once, for a bounded time, then an exact audit.
//!
//! Worker threads record into a histogram (plain, `record_n`, clamped and exemplar records;
//! every other generation through thread-bound `local()` recorders) and into counters,
//! create label sets as they go, and exit after a short, varying life; a
//! supervisor keeps replacing them, so thread slots are handed over thousands of times. A
//! snapshotter ticks meanwhile, one reader follows its published history and another merges
//! the registry live; both check that nothing ever goes backwards and that no exemplar is torn.
//!
//! At the end every count, sum, min, max, bin and counter must equal the workers' own tallies
//! exactly, and memory must have stayed bounded: the histogram's shards by the number of
//! threads alive at once (slots are reused, not leaked), the registry by its label sets, the
//! process' resident set by a fixed margin over its size once warmed up.
//!
//! Ignored in the normal run. `.ci/run` runs it for `AUREON_SOAK_SECS` (default 60):
//! `AUREON_SOAK_SECS=60 cargo test --release -p aureon-telemetry --test soak -- --ignored --nocapture`

use aureon_telemetry::{
    HistogramConfig, HistogramSnapshot, MetricValue, Registry, Snapshot, Snapshotter,
    SnapshotterConfig, Unit,
};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Recording threads alive at once.
const WORKERS: usize = 8;
/// Label values of the `route` counters; workers reach new ones as generations advance, so
/// metrics keep being created (racing) for the first part of the run.
const ROUTES: u64 = 64;
const HIGHEST: u64 = 1_000_000;
const CONFIG: HistogramConfig = HistogramConfig {
    lowest_discernible: 1,
    highest_trackable: HIGHEST,
    significant_figures: 2,
    unit: Unit::Microseconds,
};
/// Resident-set growth allowed after warm-up (allocator arenas of replaced threads settle
/// within it; a per-thread or per-snapshot leak over the run does not).
const RSS_MARGIN: u64 = 128 << 20;

fn soak_duration() -> Duration {
    let secs = std::env::var("AUREON_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(60);
    Duration::from_secs(secs.max(1))
}

/// A small deterministic generator (xorshift64*), so a failing run can be replayed per
/// generation.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// What one worker recorded, and what all workers recorded once merged.
struct Tally {
    reference: hdrhistogram::Histogram<u64>,
    count: u64,
    sum: u128,
    min: u64,
    max: u64,
    clamped: u64,
    ops: u64,
    routes: BTreeMap<u64, u64>,
}

impl Tally {
    fn new() -> Self {
        Self {
            reference: hdrhistogram::Histogram::new_with_bounds(1, HIGHEST, 2).unwrap(),
            count: 0,
            sum: 0,
            min: u64::MAX,
            max: 0,
            clamped: 0,
            ops: 0,
            routes: BTreeMap::new(),
        }
    }

    fn values(&mut self, value: u64, n: u64) {
        // Clamped values are counted in the top bin, as the histogram does.
        self.reference.record_n(value.min(HIGHEST), n).unwrap();
        self.count += n;
        self.sum += u128::from(value) * u128::from(n);
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        if value > HIGHEST {
            self.clamped += n;
        }
    }

    fn merge(&mut self, other: &Tally) {
        self.reference.add(&other.reference).unwrap();
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.clamped += other.clamped;
        self.ops += other.ops;
        for (&r, &n) in &other.routes {
            *self.routes.entry(r).or_default() += n;
        }
    }
}

fn route_label(r: u64) -> String {
    format!("r{r}")
}

/// One worker's life: a few thousand records, then exit (giving its slot back).
fn work(registry: &Registry, generation: u64) -> Tally {
    let mut rng = Rng::new(generation);
    let mut tally = Tally::new();
    let h = registry.histogram_with_config("soak_latency_us", &[], CONFIG);
    let ops = registry.counter("soak_ops_total");
    // Every other generation records its plain values and ops through thread-bound
    // recorders, which claim the slot themselves: hand-overs then mix both kinds of claim.
    let local = (generation % 2 == 1).then(|| (h.local(), ops.local()));
    // New routes become reachable as generations advance: later workers create them.
    let reachable = (generation / 16 + 1).min(ROUTES);
    let life = 1_000 + rng.next() % 20_000;
    for i in 0..life {
        let r = rng.next();
        let value = match r % 1000 {
            0 => HIGHEST + 1 + r % 1_000_000, // above the range: clamped
            1..=9 => 1 + (r >> 10) % 10,      // the bottom bins
            _ => 1 + (r >> 10) % HIGHEST,
        };
        match (r >> 40) % 64 {
            0 => {
                let n = 1 + (r >> 20) % 5;
                h.record_n(value, n);
                tally.values(value, n);
            }
            1 => {
                // The id encodes the value, so a reader can tell a torn exemplar.
                h.record_with_exemplar(value, value.wrapping_mul(3).wrapping_add(1));
                tally.values(value, 1);
            }
            _ => {
                match &local {
                    Some((h, _)) => h.record(value),
                    None => h.record(value),
                }
                tally.values(value, 1);
            }
        }
        match &local {
            Some((_, ops)) => ops.increment(1),
            None => ops.increment(1),
        }
        tally.ops += 1;
        if i % 64 == 0 {
            // A registry lookup (and, the first time for this route, a racing creation).
            let route = rng.next() % reachable;
            registry
                .counter_with("soak_requests_total", &[("route", &route_label(route))])
                .increment(2);
            *tally.routes.entry(route).or_default() += 2;
        }
    }
    tally
}

/// The last values a reader saw, to check that the next snapshot has at least as much.
#[derive(Default)]
struct Monotone {
    sequence: Option<u64>,
    values: BTreeMap<String, MetricValue>,
    checked: u64,
}

impl Monotone {
    fn observe(&mut self, snap: &Snapshot, who: &str) {
        if let Some(prev) = self.sequence {
            assert!(
                snap.sequence() >= prev,
                "{who}: sequence went back {prev} -> {}",
                snap.sequence()
            );
        }
        self.sequence = Some(snap.sequence());
        for (key, value) in snap.iter() {
            let name = key.to_string();
            if let Some(before) = self.values.get(&name) {
                match (before, value) {
                    (MetricValue::Counter(a), MetricValue::Counter(b)) => {
                        assert!(b >= a, "{who}: counter {name} went back {a} -> {b}")
                    }
                    (MetricValue::Histogram(a), MetricValue::Histogram(b)) => {
                        check_histogram_grew(a, b, &name, who)
                    }
                    _ => {}
                }
            }
            if let MetricValue::Histogram(h) = value {
                for e in h.exemplars() {
                    assert_eq!(
                        e.id,
                        e.value.wrapping_mul(3).wrapping_add(1),
                        "{who}: torn exemplar {e:?}"
                    );
                }
            }
            self.values.insert(name, value.clone());
        }
        self.checked += 1;
    }
}

fn check_histogram_grew(a: &HistogramSnapshot, b: &HistogramSnapshot, name: &str, who: &str) {
    assert!(b.count() >= a.count(), "{who}: {name} count went back");
    assert!(b.sum() >= a.sum(), "{who}: {name} sum went back");
    assert!(
        b.clamped() >= a.clamped(),
        "{who}: {name} clamped went back"
    );
    if !a.is_empty() {
        assert!(b.min() <= a.min(), "{who}: {name} min went up");
        assert!(b.max() >= a.max(), "{who}: {name} max went down");
    }
    let later: BTreeMap<u64, u64> = b.bins().map(|bin| (bin.low, bin.count)).collect();
    for bin in a.bins() {
        let now = later.get(&bin.low).copied().unwrap_or(0);
        assert!(
            now >= bin.count,
            "{who}: {name} bin {}..={} went back {} -> {now}",
            bin.low,
            bin.high,
            bin.count
        );
    }
    // Whatever a snapshot counts is covered by its min, max and sum.
    if !b.is_empty() {
        let first = b.bins().next().unwrap();
        let last = b.bins().last().unwrap();
        assert!(
            b.min() <= first.high,
            "{who}: {name} min above its lowest bin"
        );
        assert!(
            b.max() >= last.low.min(HIGHEST),
            "{who}: {name} max below its highest bin"
        );
    }
}

fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The heap a histogram needs when one thread has touched every part of its range: what a
/// shard costs at most, whatever it recorded.
fn full_shard_bytes() -> usize {
    let probe = aureon_telemetry::Histogram::new(CONFIG).unwrap();
    thread::spawn(move || {
        let mut v = 1;
        while v <= HIGHEST {
            probe.record(v);
            v += 1 + v / 200; // at least one value per bin at 2 significant figures
        }
        probe.record(HIGHEST + 1);
        probe.heap_bytes()
    })
    .join()
    .unwrap()
}

#[test]
#[ignore = "soak test: run with --ignored (AUREON_SOAK_SECS, default 60)"]
fn soak_everything_at_once_then_audit_exactly() {
    let duration = soak_duration();
    let started = Instant::now();
    let deadline = started + duration;
    let registry = Registry::new();
    let snapshotter = Snapshotter::spawn(
        &registry,
        SnapshotterConfig {
            interval: Duration::from_millis(5),
            retention: 64,
            ..SnapshotterConfig::default()
        },
    )
    .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let generations = Arc::new(AtomicU64::new(0));

    // Reader 1: the snapshotter's published history.
    let published = {
        let (reader, stop) = (snapshotter.reader(), Arc::clone(&stop));
        thread::spawn(move || {
            let mut seen = Monotone::default();
            while !stop.load(Ordering::Relaxed) {
                let history = reader.history();
                assert!(history.len() <= 64, "history exceeds its retention");
                let seqs: Vec<u64> = history.iter().map(|s| s.sequence()).collect();
                // Increasing, not consecutive: the live reader's merges take sequence
                // numbers from the same registry.
                assert!(
                    seqs.windows(2).all(|w| w[1] > w[0]),
                    "history out of order: {seqs:?}"
                );
                seen.observe(history.latest(), "published");
                thread::sleep(Duration::from_millis(1));
            }
            seen.checked
        })
    };
    // Reader 2: live merges of the registry, as an exporter without a snapshotter does.
    let live = {
        let (registry, stop) = (registry.clone(), Arc::clone(&stop));
        thread::spawn(move || {
            let mut seen = Monotone::default();
            while !stop.load(Ordering::Relaxed) {
                seen.observe(&registry.snapshot(), "live");
            }
            seen.checked
        })
    };

    // Supervisor (this thread): keep WORKERS alive, replace each as it exits.
    let total = Arc::new(Mutex::new(Tally::new()));
    let spawn_worker = |registry: &Registry| {
        let generation = generations.fetch_add(1, Ordering::Relaxed);
        let registry = registry.clone();
        thread::spawn(move || work(&registry, generation))
    };
    let mut alive: Vec<_> = (0..WORKERS).map(|_| spawn_worker(&registry)).collect();
    let full_shard = full_shard_bytes();
    let shard_bound = (WORKERS + 1) * full_shard;
    let mut warm_rss = None;
    let mut next_report = started + Duration::from_secs(10);
    while Instant::now() < deadline {
        let mut i = 0;
        while i < alive.len() {
            if alive[i].is_finished() {
                let tally = alive.swap_remove(i).join().expect("worker panicked");
                total.lock().unwrap().merge(&tally);
                alive.push(spawn_worker(&registry));
            } else {
                i += 1;
            }
        }
        if warm_rss.is_none() && started.elapsed() >= duration / 4 {
            warm_rss = resident_bytes();
        }
        if Instant::now() >= next_report {
            next_report += Duration::from_secs(10);
            let h = registry.histogram_with_config("soak_latency_us", &[], CONFIG);
            eprintln!(
                "soak {:>4}s: {} threads spawned, heap of histogram {} B (bound {shard_bound}), rss {:?} MiB",
                started.elapsed().as_secs(),
                generations.load(Ordering::Relaxed),
                h.heap_bytes(),
                resident_bytes().map(|b| b >> 20)
            );
        }
        thread::sleep(Duration::from_micros(200));
    }
    for worker in alive {
        total
            .lock()
            .unwrap()
            .merge(&worker.join().expect("worker panicked"));
    }
    stop.store(true, Ordering::Relaxed);
    let published_checks = published.join().expect("published-history reader failed");
    let live_checks = live.join().expect("live reader failed");

    // The audit: a final tick sees every record of every joined thread.
    let total = total.lock().unwrap();
    let last = snapshotter.tick();
    let spawned = generations.load(Ordering::Relaxed);
    eprintln!(
        "soak done: {:?}, {spawned} threads, {} values, {} snapshots checked (published), {} (live)",
        started.elapsed(),
        total.count,
        published_checks,
        live_checks
    );
    let h = last
        .histogram("soak_latency_us")
        .expect("histogram exported");
    assert_eq!(h.count(), total.count, "histogram count");
    assert_eq!(h.sum(), total.sum, "histogram sum");
    assert_eq!(h.min(), total.min, "histogram min");
    assert_eq!(h.max(), total.max, "histogram max");
    assert_eq!(h.clamped(), total.clamped, "clamped values");
    let bins: Vec<(u64, u64)> = h.bins().map(|b| (b.low, b.count)).collect();
    let expected: Vec<(u64, u64)> = total
        .reference
        .iter_recorded()
        .map(|v| {
            (
                total.reference.lowest_equivalent(v.value_iterated_to()),
                v.count_at_value(),
            )
        })
        .collect();
    assert_eq!(bins, expected, "bins differ from the workers' tallies");
    assert_eq!(
        last.counter("soak_ops_total"),
        Some(total.ops),
        "ops counter"
    );
    for r in 0..ROUTES {
        let got = last.counter_with("soak_requests_total", &[("route", &route_label(r))]);
        let want = total.routes.get(&r).copied();
        assert_eq!(got, want, "route {r} counter");
    }
    assert_eq!(last.registration_errors(), 0);
    // The same totals through a live merge.
    let again = registry.snapshot();
    assert_eq!(
        again.histogram("soak_latency_us").unwrap().count(),
        total.count
    );
    assert_eq!(again.counter("soak_ops_total"), Some(total.ops));

    // Memory stayed bounded.
    assert!(
        spawned > 4 * WORKERS as u64,
        "too few thread generations to test slot reuse ({spawned})"
    );
    let heap = registry
        .histogram_with_config("soak_latency_us", &[], CONFIG)
        .heap_bytes();
    assert!(
        heap <= shard_bound,
        "histogram holds {heap} B after {spawned} threads: more shards than threads alive at once \
         (bound {shard_bound} B = {} full shards)",
        WORKERS + 1
    );
    assert_eq!(
        registry.len() as u64,
        2 + total.routes.len() as u64,
        "one metric per key, nothing else"
    );
    if let (Some(warm), Some(now)) = (warm_rss, resident_bytes()) {
        assert!(
            now <= warm + RSS_MARGIN,
            "resident set grew from {} MiB (warm) to {} MiB",
            warm >> 20,
            now >> 20
        );
    }
    snapshotter.shutdown();
}
