//! The background snapshotter: merges the registry on its own thread every interval and
//! publishes the result, with a bounded history, for any number of readers.
//!
//! Publication goes through `arc-swap` ([`crate::sync::Publish`]): a reader's `load` is a few
//! atomic operations, never waits for the snapshotter or for recording threads, and returns a
//! complete [`History`]. Shutdown: [`Snapshotter::shutdown`] (or drop) sets a flag under a
//! mutex and signals a condition variable; the thread checks the flag under the same mutex
//! before every wait, so the signal cannot be lost, and exits within one wake-up. Loom models:
//! `snapshotter_publishes_complete_histories`, `snapshotter_shutdown_is_prompt`.

use crate::history::{History, HistoryLimits};
use crate::registry::Registry;
use crate::snapshot::Snapshot;
use crate::sync::{Condvar, Mutex, Publish, lock, thread};
use std::sync::Arc;
use std::time::Duration;

/// The shortest [`SnapshotterConfig::interval`]; shorter ones are raised to it.
const MIN_INTERVAL: Duration = Duration::from_millis(1);

/// How often to snapshot and how much history to keep.
///
/// The default keeps five minutes: every one-second point of the last minute, then one
/// point every 30 seconds (see [`History`] for what a point costs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotterConfig {
    /// Time between snapshots (at least 1 ms).
    pub interval: Duration,
    /// How far back the history reaches, in intervals ([`HistoryLimits::retention`]; at
    /// least 1): with every point kept, the number of points.
    pub retention: usize,
    /// Points this many intervals back or newer are all kept
    /// ([`HistoryLimits::full_resolution`]).
    pub full_resolution: usize,
    /// Further back, one point per this many intervals ([`HistoryLimits::coarse_every`]; 1
    /// keeps every point).
    pub coarse_every: usize,
    /// The most heap the history may hold ([`HistoryLimits::max_bytes`]): past it the
    /// oldest points are dropped, down to the two newest, so windows reach back less far
    /// ([`History::span`] says how far). The history holds the latest snapshot (about
    /// 1 KiB per occupied page of 256 bins of each histogram) and, for each earlier point,
    /// only what changed: an idle series costs nothing, a busy histogram a few bytes per
    /// bin its values fell in.
    pub max_history_bytes: usize,
}

/// [`SnapshotterConfig::max_history_bytes`]'s default: 256 MiB.
pub const DEFAULT_MAX_HISTORY_BYTES: usize = 256 << 20;

impl SnapshotterConfig {
    /// The default configuration, in a `const` context.
    pub const DEFAULT: Self = Self {
        interval: Duration::from_secs(1),
        retention: 300,
        full_resolution: 60,
        coarse_every: 30,
        max_history_bytes: DEFAULT_MAX_HISTORY_BYTES,
    };

    /// What the history keeps, as [`History::pushed`] takes it.
    pub fn history_limits(&self) -> HistoryLimits {
        HistoryLimits {
            retention: self.retention.max(1),
            full_resolution: self.full_resolution,
            coarse_every: self.coarse_every.max(1),
            max_bytes: self.max_history_bytes,
        }
    }
}

impl Default for SnapshotterConfig {
    /// One snapshot a second and five minutes of history (every point of the last minute,
    /// one per 30 s before), at most [`DEFAULT_MAX_HISTORY_BYTES`] of it.
    fn default() -> Self {
        Self::DEFAULT
    }
}

pub(crate) struct Shared {
    registry: Registry,
    limits: HistoryLimits,
    /// The period of the background ticks.
    interval: Duration,
    published: Publish<History>,
    /// Serialises ticks, so a published history never goes back to an older snapshot.
    tick_lock: Mutex<()>,
    stop: Mutex<bool>,
    wake: Condvar,
}

impl Shared {
    pub(crate) fn new(registry: Registry, config: &SnapshotterConfig) -> Self {
        let first = Arc::new(registry.take_snapshot(true));
        Self {
            registry,
            limits: config.history_limits(),
            interval: config.interval.max(MIN_INTERVAL),
            published: Publish::new(Arc::new(History::new(first))),
            tick_lock: Mutex::new(()),
            stop: Mutex::new(false),
            wake: Condvar::new(),
        }
    }

    /// One tick: snapshot, append to the ring, publish. Ticks are serialised by `tick_lock`
    /// (the background thread and [`Snapshotter::tick`] callers); writers never take it.
    pub(crate) fn tick(&self) -> Arc<Snapshot> {
        let _serial = lock(&self.tick_lock);
        let previous = self.published.load();
        let mut snapshot = self.registry.take_snapshot(true);
        // Idle histograms take the previous snapshot's counts: the history's interval then
        // sees them unchanged without comparing bins, and readers holding both snapshots
        // hold one copy.
        snapshot.share_unchanged_with(previous.latest());
        let snapshot = Arc::new(snapshot);
        let history = previous.pushed(Arc::clone(&snapshot), &self.limits);
        self.published.store(Arc::new(history));
        snapshot
    }

    pub(crate) fn history(&self) -> Arc<History> {
        self.published.load()
    }

    /// Runs ticks every `interval` until stopped.
    pub(crate) fn run(&self, interval: Duration) {
        let mut stop = lock(&self.stop);
        while !*stop {
            stop = wait(&self.wake, stop, interval);
            if *stop {
                break;
            }
            drop(stop);
            self.tick();
            stop = lock(&self.stop);
        }
    }

    pub(crate) fn request_stop(&self) {
        *lock(&self.stop) = true;
        self.wake.notify_all();
    }
}

fn wait<'a>(
    cv: &Condvar,
    guard: crate::sync::MutexGuard<'a, bool>,
    timeout: Duration,
) -> crate::sync::MutexGuard<'a, bool> {
    match cv.wait_timeout(guard, timeout) {
        Ok((g, _)) => g,
        Err(e) => e.into_inner().0,
    }
}

/// A running background snapshotter. Dropping it stops the thread and waits for it.
///
/// ```
/// use aureon_telemetry::{Registry, Snapshotter, SnapshotterConfig};
/// use std::time::Duration;
/// let registry = Registry::new();
/// let blocks = registry.counter("blocks_total");
/// let snapshotter = Snapshotter::spawn(&registry, SnapshotterConfig {
///     interval: Duration::from_millis(10),
///     retention: 60,
///     ..SnapshotterConfig::default()
/// }).unwrap();
/// blocks.increment(3);
/// snapshotter.tick(); // or wait for the next interval
/// assert_eq!(snapshotter.latest().counter("blocks_total"), Some(3));
/// snapshotter.shutdown();
/// ```
pub struct Snapshotter {
    shared: Arc<Shared>,
    thread: Option<thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Snapshotter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshotter")
            .field("interval", &self.shared.interval)
            .field("limits", &self.shared.limits)
            .finish_non_exhaustive()
    }
}

impl Snapshotter {
    /// Takes a first snapshot and starts the thread (named `aureon-snapshotter`).
    pub fn spawn(registry: &Registry, config: SnapshotterConfig) -> std::io::Result<Self> {
        let shared = Arc::new(Shared::new(registry.clone(), &config));
        let (worker, interval) = (Arc::clone(&shared), shared.interval);
        let thread = thread::Builder::new()
            .name("aureon-snapshotter".into())
            .spawn(move || worker.run(interval))?;
        Ok(Self {
            shared,
            thread: Some(thread),
        })
    }

    /// The latest published snapshot.
    pub fn latest(&self) -> Arc<Snapshot> {
        Arc::clone(self.shared.history().latest())
    }

    /// The latest published history ring.
    pub fn history(&self) -> Arc<History> {
        self.shared.history()
    }

    /// Takes and publishes a snapshot now, in addition to the periodic ones (for a final
    /// flush, or tests). Returns it.
    pub fn tick(&self) -> Arc<Snapshot> {
        self.shared.tick()
    }

    /// A cheap, cloneable reader of the published history that does not keep the thread
    /// alive (for HTTP handlers and dashboards).
    pub fn reader(&self) -> SnapshotReader {
        SnapshotReader {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Stops the thread and waits for it to exit.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        self.shared.request_stop();
        if let Some(t) = self.thread.take() {
            // The thread only runs `tick`, which does not panic; if it did, the panic was
            // already reported on that thread and there is nothing left to clean up here.
            let _ = t.join();
        }
    }
}

impl Drop for Snapshotter {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// Reads what a [`Snapshotter`] publishes; clone it freely.
#[derive(Clone)]
pub struct SnapshotReader {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for SnapshotReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotReader")
            .field("interval", &self.shared.interval)
            .finish_non_exhaustive()
    }
}

impl SnapshotReader {
    /// The latest published snapshot.
    pub fn latest(&self) -> Arc<Snapshot> {
        Arc::clone(self.shared.history().latest())
    }

    /// The latest published history ring.
    pub fn history(&self) -> Arc<History> {
        self.shared.history()
    }

    /// The period the snapshotter publishes at ([`SnapshotterConfig::interval`], at least
    /// 1 ms).
    pub fn interval(&self) -> Duration {
        self.shared.interval
    }

    /// How long ago the latest published snapshot was taken (monotonic clock). Normally
    /// below [`SnapshotReader::interval`] plus the time a snapshot takes; much more means the
    /// snapshotter has stopped (shut down, or its thread died) or cannot keep up, and what
    /// readers see is stale. A health check should say so.
    pub fn age(&self) -> Duration {
        self.latest().taken_at().elapsed()
    }
}
