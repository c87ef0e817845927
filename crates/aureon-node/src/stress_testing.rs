//! The seed's header-chain stress test: build a real chain of block headers, validate it on
//! several threads, and report throughput, peak memory and success rate.
//!
//! The workload is real: `n` headers (height, parent hash, Merkle root of four transaction
//! ids, timestamp, proof-of-work nonce) linked by BLAKE3 hashes ([`BlockHeader`], [`Block`]).
//! The operation being measured is validating one block against its parent (one check per
//! [`Corruption`] rule): the parent's hash, the Merkle root and the header's own hash are
//! recomputed each time. Every validation's
//! latency goes into a core histogram (nanoseconds) and its outcome into a core counter, both
//! registered in a [`Registry`] (a fresh one, or the caller's), and the result is read back
//! from them.
//!
//! # How memory is measured
//! `peak_memory_mb` is measured, never assumed, in one of two ways:
//! * [`MemoryMethod::HeapScope`], when the binary installed
//!   [`crate::counting_allocator::CountingAllocator`]: the peak of heap bytes held at once by
//!   the test's own threads (the caller and the validators), from building the chain to the
//!   last validation. Other threads of the process do not count. Thread stacks do not count.
//! * [`MemoryMethod::ResidentHighWaterMark`], otherwise, on Linux: the resident high-water
//!   mark (`VmHWM`) is reset to the current resident size before the test (by writing `5` to
//!   `/proc/self/clear_refs`) and read after it; the figure is the rise over the resident size
//!   at the start. This is process-wide (other threads' memory counts), page-granular, and can
//!   read low when the allocator reuses memory that was already resident.
//!
//! If neither is available the test returns [`StressTestError::MemoryUnmeasurable`] instead
//! of a made-up figure.

mod chain;
mod validate;

pub use chain::{
    Block, BlockHeader, Corruption, Hash, TRANSACTIONS_PER_BLOCK, meets_difficulty, merkle_root,
};
pub use validate::validate_header;

#[cfg(all(test, not(aureon_loom)))]
mod tests;

use crate::counting_allocator::{self, HeapMeasurement};
use crate::process_memory;
use aureon_telemetry::{Counter, HistogramConfig, HistogramSnapshot, Registry, Unit};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The most headers one stress test may build (about 250 MB of blocks).
pub const MAX_HEADERS: usize = 1_000_000;
/// The most validator threads.
pub const MAX_THREADS: usize = 256;
/// The highest proof-of-work difficulty, in leading zero bits (building a header costs about
/// `2^bits` hashes).
pub const MAX_DIFFICULTY_BITS: u32 = 20;

/// Histogram of validation latencies (nanoseconds).
pub const LATENCY_METRIC: &str = "aureon_stress_validation_latency";
/// Counter of validations by `outcome` (`ok` or a [`Corruption`] name).
pub const OUTCOME_METRIC: &str = "aureon_stress_validations_total";

const MIB: f64 = 1024.0 * 1024.0;

/// How a stress test runs.
#[derive(Debug, Clone)]
pub struct StressTestConfig {
    /// Headers to build and validate (1 ..= [`MAX_HEADERS`]).
    pub headers: usize,
    /// Validator threads (1 ..= [`MAX_THREADS`]; more threads than headers are not started).
    /// Default: the available parallelism, between 2 and 8.
    pub threads: usize,
    /// Proof-of-work difficulty in leading zero bits (0 ..= [`MAX_DIFFICULTY_BITS`]).
    /// Default 4.
    pub difficulty_bits: u32,
    /// Headers to corrupt on purpose: `(index, rule broken)`, at most one per index.
    pub corrupt: Vec<(usize, Corruption)>,
    /// Where latency and outcomes are recorded; a fresh registry when `None`.
    pub registry: Option<Registry>,
    /// How to measure memory; `None` picks [`MemoryMethod::HeapScope`] when the counting
    /// allocator is installed, else [`MemoryMethod::ResidentHighWaterMark`].
    pub memory_method: Option<MemoryMethod>,
}

impl StressTestConfig {
    /// `headers` headers, no corruption, default threads and difficulty.
    pub fn new(headers: usize) -> Self {
        let threads = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .clamp(2, 8);
        Self {
            headers,
            threads,
            difficulty_bits: 4,
            corrupt: Vec::new(),
            registry: None,
            memory_method: None,
        }
    }

    /// Adds a corrupt header at `index` that breaks `rule`.
    pub fn corrupt(mut self, index: usize, rule: Corruption) -> Self {
        self.corrupt.push((index, rule));
        self
    }

    /// Sets the number of validator threads.
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = threads;
        self
    }

    /// Records into `registry` instead of a fresh one.
    pub fn registry(mut self, registry: Registry) -> Self {
        self.registry = Some(registry);
        self
    }

    /// Measures memory with `method` instead of picking one.
    pub fn memory_method(mut self, method: MemoryMethod) -> Self {
        self.memory_method = Some(method);
        self
    }

    fn validate(&self) -> Result<BTreeMap<usize, Corruption>, StressTestError> {
        if self.headers == 0 {
            return Err(StressTestError::NoHeaders);
        }
        if self.headers > MAX_HEADERS {
            return Err(StressTestError::TooManyHeaders {
                requested: self.headers,
                max: MAX_HEADERS,
            });
        }
        if self.threads == 0 || self.threads > MAX_THREADS {
            return Err(StressTestError::InvalidThreads(self.threads));
        }
        if self.difficulty_bits > MAX_DIFFICULTY_BITS {
            return Err(StressTestError::DifficultyTooHigh(self.difficulty_bits));
        }
        let mut corrupt = BTreeMap::new();
        for &(index, rule) in &self.corrupt {
            let why = if index >= self.headers {
                Some("index is past the last header")
            } else if rule == Corruption::StaleTimestamp && index == 0 {
                Some("genesis has no parent timestamp to be stale against")
            } else if rule == Corruption::BadProofOfWork && self.difficulty_bits == 0 {
                Some("every hash meets a difficulty of 0 bits")
            } else if corrupt.insert(index, rule).is_some() {
                Some("index is corrupted twice")
            } else {
                None
            };
            if let Some(reason) = why {
                return Err(StressTestError::InvalidCorruption {
                    index,
                    rule,
                    reason,
                });
            }
        }
        Ok(corrupt)
    }
}

/// Why a stress test did not run.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StressTestError {
    /// Zero headers were asked for.
    NoHeaders,
    /// More than [`MAX_HEADERS`] headers were asked for.
    TooManyHeaders {
        /// Headers asked for.
        requested: usize,
        /// The limit.
        max: usize,
    },
    /// The thread count was 0 or above [`MAX_THREADS`].
    InvalidThreads(usize),
    /// The difficulty was above [`MAX_DIFFICULTY_BITS`].
    DifficultyTooHigh(u32),
    /// A corruption cannot be injected where it was asked for.
    InvalidCorruption {
        /// The header index.
        index: usize,
        /// The rule.
        rule: Corruption,
        /// Why not.
        reason: &'static str,
    },
    /// No way to measure memory here (see the module docs).
    MemoryUnmeasurable(String),
    /// A validator thread could not be started, or panicked.
    Thread(String),
    /// The core counted a different number of validations than were run (a bug).
    Miscounted {
        /// Validations run.
        expected: u64,
        /// Validations the counters hold.
        counted: u64,
    },
}

impl fmt::Display for StressTestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StressTestError::NoHeaders => f.write_str("a stress test needs at least one header"),
            StressTestError::TooManyHeaders { requested, max } => {
                write!(
                    f,
                    "{requested} headers requested; at most {max} are allowed"
                )
            }
            StressTestError::InvalidThreads(n) => {
                write!(
                    f,
                    "{n} validator threads requested; 1 ..= {MAX_THREADS} are allowed"
                )
            }
            StressTestError::DifficultyTooHigh(bits) => write!(
                f,
                "difficulty of {bits} bits requested; at most {MAX_DIFFICULTY_BITS} are allowed"
            ),
            StressTestError::InvalidCorruption {
                index,
                rule,
                reason,
            } => {
                write!(f, "cannot corrupt header {index} with {rule}: {reason}")
            }
            StressTestError::MemoryUnmeasurable(why) => write!(
                f,
                "peak memory cannot be measured ({why}); install aureon_node::counting_allocator::CountingAllocator or run on Linux"
            ),
            StressTestError::Thread(why) => write!(f, "validator thread failed: {why}"),
            StressTestError::Miscounted { expected, counted } => {
                write!(
                    f,
                    "ran {expected} validations but the counters hold {counted}"
                )
            }
        }
    }
}

impl std::error::Error for StressTestError {}

/// Lets the seed's `stress_test_header_chain(1000)?` work in a function returning
/// `Result<_, String>`.
impl From<StressTestError> for String {
    fn from(e: StressTestError) -> Self {
        e.to_string()
    }
}

/// How [`StressTestResult::peak_memory_mb`] was measured (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryMethod {
    /// Heap bytes held by the test's threads, counted by the installed `CountingAllocator`.
    HeapScope,
    /// Rise of the process's resident high-water mark (Linux `/proc`).
    ResidentHighWaterMark,
}

/// A header that failed validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidationFailure {
    /// Its position in the chain.
    pub index: usize,
    /// The rule it broke (the first one, in [`Corruption::ALL`] order).
    pub reason: Corruption,
}

/// What a stress test measured.
#[derive(Debug, Clone)]
pub struct StressTestResult {
    /// Validations performed (one per header).
    pub operation_count: u64,
    /// Wall time of the validation phase, whole milliseconds (see [`Self::duration`]).
    pub duration_ms: u64,
    /// Validations per second over [`Self::duration`].
    pub ops_per_sec: f64,
    /// Peak memory used by the test in MiB (2^20 bytes; see [`Self::memory_method`]).
    pub peak_memory_mb: f64,
    /// Valid headers over validations, `0.0 ..= 1.0`.
    pub success_rate: f64,
    /// Wall time of the validation phase (threads started to threads joined).
    pub duration: Duration,
    /// Wall time of building the chain (not part of the operations).
    pub build_duration: Duration,
    /// Headers that passed validation.
    pub successes: u64,
    /// Headers that failed, by index.
    pub failures: Vec<ValidationFailure>,
    /// Validator threads used.
    pub threads: usize,
    /// Latency of each validation, nanoseconds (as recorded in the core histogram).
    pub latency_ns: HistogramSnapshot,
    /// Peak memory in bytes.
    pub peak_memory_bytes: u64,
    /// How the peak was measured.
    pub memory_method: MemoryMethod,
}

impl StressTestResult {
    /// Failures per rule broken.
    pub fn failures_by_reason(&self) -> BTreeMap<Corruption, u64> {
        let mut by = BTreeMap::new();
        for f in &self.failures {
            *by.entry(f.reason).or_insert(0) += 1;
        }
        by
    }
}

/// Builds a chain of `n` valid headers and validates it on several threads (the seed's
/// stress test). See [`stress_test_header_chain_with`].
///
/// ```
/// # // Doc tests have no counting allocator; on Linux the resident high-water mark is used.
/// # if cfg!(target_os = "linux") {
/// let result = aureon_node::stress_testing::stress_test_header_chain(200).unwrap();
/// assert_eq!(result.operation_count, 200);
/// assert_eq!(result.success_rate, 1.0);
/// # }
/// ```
///
/// # Errors
/// [`StressTestError`] for `n == 0`, `n > MAX_HEADERS`, or when memory cannot be measured.
pub fn stress_test_header_chain(n: usize) -> Result<StressTestResult, StressTestError> {
    stress_test_header_chain_with(StressTestConfig::new(n))
}

/// Runs a stress test as configured (corrupt headers, threads, difficulty, registry).
///
/// # Errors
/// [`StressTestError`] for an invalid configuration (checked before any work), when memory
/// cannot be measured, or when a validator thread fails.
pub fn stress_test_header_chain_with(
    config: StressTestConfig,
) -> Result<StressTestResult, StressTestError> {
    let corrupt = config.validate()?;
    let method = config
        .memory_method
        .unwrap_or(if counting_allocator::is_installed() {
            MemoryMethod::HeapScope
        } else {
            MemoryMethod::ResidentHighWaterMark
        });
    if method == MemoryMethod::HeapScope {
        if !counting_allocator::is_installed() {
            return Err(StressTestError::MemoryUnmeasurable(
                "the counting allocator is not installed".into(),
            ));
        }
        let (run, peak) = counting_allocator::measure_heap(|m| run(&config, &corrupt, Some(m)));
        let peak = peak.ok_or_else(|| {
            StressTestError::MemoryUnmeasurable("the counting allocator is not installed".into())
        })?;
        Ok(run?.finish(peak, MemoryMethod::HeapScope))
    } else {
        // The high-water mark is process-wide: one such measurement at a time.
        static RESIDENT_MEASUREMENT: Mutex<()> = Mutex::new(());
        let _one = RESIDENT_MEASUREMENT
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        process_memory::reset_peak_resident().map_err(|e| {
            StressTestError::MemoryUnmeasurable(format!("/proc/self/clear_refs: {e}"))
        })?;
        let before = process_memory::resident_bytes()
            .ok_or_else(|| StressTestError::MemoryUnmeasurable("VmRSS unreadable".into()))?;
        let run = run(&config, &corrupt, None)?;
        let peak = process_memory::peak_resident_bytes()
            .ok_or_else(|| StressTestError::MemoryUnmeasurable("VmHWM unreadable".into()))?;
        Ok(run.finish(
            peak.saturating_sub(before),
            MemoryMethod::ResidentHighWaterMark,
        ))
    }
}

/// Everything but the memory figure.
struct Run {
    operations: u64,
    duration: Duration,
    build_duration: Duration,
    successes: u64,
    failures: Vec<ValidationFailure>,
    threads: usize,
    latency: HistogramSnapshot,
}

impl Run {
    fn finish(self, peak_bytes: u64, method: MemoryMethod) -> StressTestResult {
        let secs = self.duration.as_secs_f64().max(1e-9);
        StressTestResult {
            operation_count: self.operations,
            duration_ms: u64::try_from(self.duration.as_millis()).unwrap_or(u64::MAX),
            ops_per_sec: self.operations as f64 / secs,
            peak_memory_mb: peak_bytes as f64 / MIB,
            success_rate: crate::production_monitoring::ratio(self.successes, self.operations),
            duration: self.duration,
            build_duration: self.build_duration,
            successes: self.successes,
            failures: self.failures,
            threads: self.threads,
            latency_ns: self.latency,
            peak_memory_bytes: peak_bytes,
            memory_method: method,
        }
    }
}

/// The outcome counters, looked up once before the validators start.
struct Outcomes {
    ok: Counter,
    failed: [(Corruption, Counter); Corruption::ALL.len()],
}

impl Outcomes {
    fn new(registry: &Registry) -> Self {
        Self {
            ok: registry.counter_with(OUTCOME_METRIC, &[("outcome", "ok")]),
            failed: Corruption::ALL.map(|c| {
                (
                    c,
                    registry.counter_with(OUTCOME_METRIC, &[("outcome", c.as_str())]),
                )
            }),
        }
    }

    fn counter(&self, rule: Corruption) -> &Counter {
        &self
            .failed
            .iter()
            .find(|(c, _)| *c == rule)
            .expect("every rule has a counter")
            .1
    }

    fn total(&self) -> u64 {
        self.failed
            .iter()
            .fold(self.ok.value(), |a, (_, c)| a.saturating_add(c.value()))
    }
}

fn run(
    config: &StressTestConfig,
    corrupt: &BTreeMap<usize, Corruption>,
    measurement: Option<&HeapMeasurement>,
) -> Result<Run, StressTestError> {
    let registry = config.registry.clone().unwrap_or_default();
    let latency = registry.histogram_with_config(
        LATENCY_METRIC,
        &[],
        HistogramConfig::with_unit(Unit::Nanoseconds),
    );
    let outcomes = Outcomes::new(&registry);
    // The caller's registry may hold earlier runs: this run is the difference.
    let (latency_before, counted_before, ok_before) =
        (latency.snapshot(), outcomes.total(), outcomes.ok.value());

    let built = Instant::now();
    let blocks = chain::build_chain(config.headers, config.difficulty_bits, |i| {
        corrupt.get(&i).copied()
    });
    let build_duration = built.elapsed();

    let threads = config.threads.min(config.headers);
    let chunk = config.headers.div_ceil(threads);
    let difficulty = config.difficulty_bits;
    let started = Instant::now();
    let per_thread: Result<Vec<Vec<ValidationFailure>>, StressTestError> =
        std::thread::scope(|scope| {
            let mut handles = Vec::with_capacity(threads);
            for t in 0..threads {
                let range = t * chunk..((t + 1) * chunk).min(config.headers);
                let (blocks, latency, outcomes) = (&blocks, &latency, &outcomes);
                let handle = std::thread::Builder::new()
                    .name(format!("aureon-stress-{t}"))
                    .spawn_scoped(scope, move || {
                        let _counted = measurement.map(HeapMeasurement::enter);
                        let mut failures = Vec::new();
                        for index in range {
                            let timer = latency.start_timer();
                            let outcome = validate::validate(blocks, index, difficulty);
                            timer.stop();
                            match outcome {
                                Ok(()) => outcomes.ok.increment(1),
                                Err(reason) => {
                                    outcomes.counter(reason).increment(1);
                                    failures.push(ValidationFailure { index, reason });
                                }
                            }
                        }
                        failures
                    })
                    .map_err(|e| StressTestError::Thread(e.to_string()))?;
                handles.push(handle);
            }
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .map_err(|_| StressTestError::Thread("a validator panicked".into()))
                })
                .collect()
        });
    let duration = started.elapsed();
    let mut failures: Vec<ValidationFailure> = per_thread?.into_iter().flatten().collect();
    failures.sort_by_key(|f| f.index);

    let operations = config.headers as u64;
    let counted = outcomes.total().saturating_sub(counted_before);
    if counted != operations {
        return Err(StressTestError::Miscounted {
            expected: operations,
            counted,
        });
    }
    Ok(Run {
        operations,
        duration,
        build_duration,
        successes: outcomes.ok.value().saturating_sub(ok_before),
        failures,
        threads,
        latency: if latency_before.is_empty() {
            latency.snapshot()
        } else {
            latency.snapshot().delta_since(&latency_before)
        },
    })
}
