//! [`ThroughputTracker`]: operations per second over the tracker's lifetime and over a
//! sliding window, recorded lock-free from any number of threads.
//!
//! # Design
//! Time is cut into buckets of [`ThroughputConfig::bucket_width`], numbered from the
//! tracker's creation (bucket `e` covers `[e·w, (e+1)·w)` on the tracker's clock). Each
//! recording thread owns a ring of buckets (`threads` says how a thread finds its ring;
//! `ring` holds the slot protocol), so a record is a clock read, a thread-local lookup and two
//! plain stores to memory no other thread writes. A reader sums, over every ring, the buckets
//! of the window it asks for.
//!
//! # Window roll-over
//! A ring has more slots than the longest window has buckets (a quarter more, plus two). When
//! a thread records into a bucket whose slot still holds an older bucket, it *rolls the slot
//! over*: it marks the slot, writes the new count, then publishes the new bucket number (the
//! `ring` module gives the orderings and why they suffice). A reader asks each slot for the
//! exact bucket it wants and takes the count only if the slot holds that bucket before and
//! after reading the count.
//!
//! **Invariant:** every count a reader adds belongs to a bucket inside its window, and every
//! operation recorded in a window bucket before the read (happens-before) is counted, unless
//! the owner has since moved a whole ring length further on (a reader stalled for longer than
//! the ring's spare slots, or a clock jump), in which case that bucket is older than the
//! owner's "now" and no longer anyone's window. Lifetime totals are kept apart from the ring
//! and never lose anything. The protocol is written against `crate::sync`, so a loom model
//! (`--cfg aureon_loom`) can check it with a [`ManualClock`] through the public API.
//!
//! # Windows and spans
//! [`ThroughputTracker::window`] counts the operations of every bucket that overlaps the last
//! `span`: from the bucket holding `now - span` to the current, partly elapsed one. It divides
//! by the time those buckets have actually covered: from the start of the oldest one, or the
//! tracker's creation if later, to now. So the rate is always operations over the exact
//! interval they were counted in; once the tracker is older than `span`, that interval is at
//! least `span` and shorter than `span + w` (exactly `span` when `now - span` falls on a bucket
//! boundary).

#[cfg(all(test, aureon_loom))]
mod loom_models;
mod ring;
mod threads;

use super::clock::{Clock, SystemClock};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use threads::Rings;

#[cfg(doc)]
use super::clock::ManualClock;

/// Bucket width and longest window of a [`ThroughputTracker`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThroughputConfig {
    /// Width of one time bucket: the resolution of windows. Default 100 ms.
    pub bucket_width: Duration,
    /// The longest window that can be asked for. Default 60 s.
    pub max_window: Duration,
}

impl Default for ThroughputConfig {
    fn default() -> Self {
        Self {
            bucket_width: Duration::from_millis(100),
            max_window: Duration::from_secs(60),
        }
    }
}

/// The most buckets a window may span (each recording thread keeps about this many 16-byte
/// slots, so this bounds a tracker's memory per thread at about 1.3 MiB).
pub const MAX_WINDOW_BUCKETS: u64 = 65_536;

/// An invalid [`ThroughputConfig`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ThroughputConfigError {
    /// The bucket width was shorter than 1 µs.
    BucketTooNarrow(Duration),
    /// The longest window was shorter than one bucket.
    WindowShorterThanBucket {
        /// The configured longest window.
        max_window: Duration,
        /// The configured bucket width.
        bucket_width: Duration,
    },
    /// The longest window spans more than [`MAX_WINDOW_BUCKETS`] buckets.
    TooManyBuckets(u64),
}

impl fmt::Display for ThroughputConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ThroughputConfigError::BucketTooNarrow(w) => {
                write!(f, "bucket width {w:?} is shorter than 1µs")
            }
            ThroughputConfigError::WindowShorterThanBucket {
                max_window,
                bucket_width,
            } => write!(
                f,
                "longest window {max_window:?} is shorter than one bucket ({bucket_width:?})"
            ),
            ThroughputConfigError::TooManyBuckets(n) => write!(
                f,
                "longest window spans {n} buckets; at most {MAX_WINDOW_BUCKETS} are allowed"
            ),
        }
    }
}

impl std::error::Error for ThroughputConfigError {}

/// Why a window rate could not be computed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WindowError {
    /// A window of zero length was asked for.
    EmptyWindow,
    /// The window is longer than the tracker's [`ThroughputConfig::max_window`].
    TooLong {
        /// The window asked for.
        requested: Duration,
        /// The longest window the tracker keeps.
        max: Duration,
    },
}

impl fmt::Display for WindowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WindowError::EmptyWindow => f.write_str("a throughput window must be longer than zero"),
            WindowError::TooLong { requested, max } => write!(
                f,
                "window {requested:?} is longer than the {max:?} this tracker keeps"
            ),
        }
    }
}

impl std::error::Error for WindowError {}

/// Operations counted over the span a window actually covered.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowRate {
    /// Operations in the window.
    pub operations: u64,
    /// The time the window's buckets covered, up to now (see the module docs).
    pub observed: Duration,
}

impl WindowRate {
    /// Operations per second over [`WindowRate::observed`]; `None` if no time was observed
    /// (a rate over zero time would be invented).
    pub fn per_sec(&self) -> Option<f64> {
        let secs = self.observed.as_secs_f64();
        (secs > 0.0).then(|| self.operations as f64 / secs)
    }
}

/// Counts operations and reports operations per second, lifetime and windowed.
///
/// ```
/// use aureon_node::production_monitoring::{ManualClock, ThroughputConfig, ThroughputTracker};
/// use std::sync::Arc;
/// use std::time::Duration;
/// let clock = Arc::new(ManualClock::new());
/// let tracker = ThroughputTracker::with_clock(ThroughputConfig::default(), clock.clone()).unwrap();
/// for _ in 0..300 {
///     tracker.record_operation();
/// }
/// clock.advance(Duration::from_secs(30));
/// for _ in 0..100 {
///     tracker.record_operation();
/// }
/// clock.advance(Duration::from_secs(10));
/// assert_eq!(tracker.total_operations(), 400);
/// assert_eq!(tracker.ops_per_sec(), 10.0); // 400 ops in 40 s
/// assert_eq!(tracker.window_ops_per_sec(10), 10.0); // 100 ops in the last 10 s
/// ```
///
/// All methods take `&self`; share a tracker by reference or `Arc` between threads.
pub struct ThroughputTracker {
    rings: Arc<Rings>,
    clock: Arc<dyn Clock>,
    /// The clock reading at creation: bucket 0 starts here.
    start: Duration,
    width_nanos: u64,
    config: ThroughputConfig,
}

impl fmt::Debug for ThroughputTracker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThroughputTracker")
            .field("config", &self.config)
            .field("total_operations", &self.total_operations())
            .finish_non_exhaustive()
    }
}

impl Default for ThroughputTracker {
    fn default() -> Self {
        Self::new()
    }
}

impl ThroughputTracker {
    /// A tracker with [`ThroughputConfig::default`] on the system clock.
    pub fn new() -> Self {
        Self::with_clock(ThroughputConfig::default(), Arc::new(SystemClock::new()))
            .expect("the default configuration is valid")
    }

    /// A tracker with another bucket width and longest window, on the system clock.
    ///
    /// # Errors
    /// See [`ThroughputTracker::with_clock`].
    pub fn with_config(config: ThroughputConfig) -> Result<Self, ThroughputConfigError> {
        Self::with_clock(config, Arc::new(SystemClock::new()))
    }

    /// A tracker reading time from `clock` (e.g. an `Arc<ManualClock>` in tests).
    ///
    /// # Errors
    /// [`ThroughputConfigError`] if the bucket is narrower than 1 µs, the longest window is
    /// shorter than one bucket, or it spans more than [`MAX_WINDOW_BUCKETS`] buckets.
    pub fn with_clock(
        config: ThroughputConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ThroughputConfigError> {
        if config.bucket_width < Duration::from_micros(1) {
            return Err(ThroughputConfigError::BucketTooNarrow(config.bucket_width));
        }
        if config.max_window < config.bucket_width {
            return Err(ThroughputConfigError::WindowShorterThanBucket {
                max_window: config.max_window,
                bucket_width: config.bucket_width,
            });
        }
        let width_nanos = u64::try_from(config.bucket_width.as_nanos()).unwrap_or(u64::MAX);
        let max_buckets = u64::try_from(
            config
                .max_window
                .as_nanos()
                .div_ceil(u128::from(width_nanos)),
        )
        .unwrap_or(u64::MAX);
        if max_buckets > MAX_WINDOW_BUCKETS {
            return Err(ThroughputConfigError::TooManyBuckets(max_buckets));
        }
        // Spare slots beyond the longest window: how many buckets a reader may fall behind
        // the recording threads before the oldest buckets of its window are reused.
        let ring_len = (max_buckets + max_buckets / 4 + 2) as usize;
        let start = clock.now();
        Ok(Self {
            rings: Arc::new(Rings::new(ring_len)),
            clock,
            start,
            width_nanos,
            config,
        })
    }

    /// The tracker's configuration.
    pub fn config(&self) -> &ThroughputConfig {
        &self.config
    }

    /// Time since the tracker was created, on its clock.
    pub fn elapsed(&self) -> Duration {
        self.clock.now().saturating_sub(self.start)
    }

    #[inline]
    fn epoch_at(&self, since_start: Duration) -> u64 {
        u64::try_from(since_start.as_nanos() / u128::from(self.width_nanos)).unwrap_or(u64::MAX - 1)
    }

    /// Records one operation now.
    #[inline]
    pub fn record_operation(&self) {
        self.record_operations(1);
    }

    /// Records `n` operations now (counts saturate at `u64::MAX`).
    #[inline]
    pub fn record_operations(&self, n: u64) {
        let epoch = self.epoch_at(self.elapsed());
        self.rings.with_ring(|ring| ring.record(epoch, n));
    }

    /// Operations recorded over the tracker's lifetime.
    pub fn total_operations(&self) -> u64 {
        let mut total = 0u64;
        self.rings
            .for_each(|r| total = total.saturating_add(r.total()));
        total
    }

    /// Operations per second over the tracker's lifetime; 0.0 while no time has passed on
    /// its clock (a rate over zero time would be invented).
    pub fn ops_per_sec(&self) -> f64 {
        let secs = self.elapsed().as_secs_f64();
        if secs > 0.0 {
            self.total_operations() as f64 / secs
        } else {
            0.0
        }
    }

    /// Operations in the last `span` and the time actually covered (see the module docs).
    ///
    /// # Errors
    /// [`WindowError::EmptyWindow`] for a zero span; [`WindowError::TooLong`] for a span
    /// longer than [`ThroughputConfig::max_window`].
    pub fn window(&self, span: Duration) -> Result<WindowRate, WindowError> {
        if span.is_zero() {
            return Err(WindowError::EmptyWindow);
        }
        if span > self.config.max_window {
            return Err(WindowError::TooLong {
                requested: span,
                max: self.config.max_window,
            });
        }
        let now = self.elapsed();
        let current = self.epoch_at(now);
        // At most `max_buckets + 1` buckets, which the ring holds with slots to spare.
        let first = self.epoch_at(now.saturating_sub(span));
        let mut operations = 0u64;
        self.rings.for_each(|ring| {
            for epoch in first..=current {
                operations = operations.saturating_add(ring.count_for(epoch));
            }
        });
        let window_start = Duration::from_nanos(first.saturating_mul(self.width_nanos));
        Ok(WindowRate {
            operations,
            observed: now.saturating_sub(window_start),
        })
    }

    /// Operations per second over the last `secs` seconds, over the span actually observed
    /// inside that window (so 1500 operations recorded over the last 1.5 s of a young
    /// tracker give 1000/s, not 150/s).
    ///
    /// Bad input does not panic: `secs` is clamped to `1 ..= max_window` (whole seconds; a
    /// `max_window` under a second is used as is), and a window over which no time has
    /// passed yet gives 0.0. Use [`ThroughputTracker::window`] to get errors instead.
    pub fn window_ops_per_sec(&self, secs: u64) -> f64 {
        let span = Duration::from_secs(secs.max(1)).min(self.config.max_window);
        self.window(span)
            .ok()
            .and_then(|w| w.per_sec())
            .unwrap_or(0.0)
    }

    /// Number of per-thread rings (one per thread recording at once, plus one shared by
    /// records made during thread teardown).
    pub fn ring_count(&self) -> usize {
        self.rings.ring_count()
    }
}
