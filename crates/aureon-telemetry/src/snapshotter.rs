//! The background snapshotter: merges the registry on its own thread every interval and
//! publishes the result, with a bounded history, for any number of readers.
//!
//! Publication goes through `arc-swap` ([`crate::sync::Publish`]): a reader's `load` is a few
//! atomic operations, never waits for the snapshotter or for recording threads, and returns a
//! complete [`History`]. Shutdown: [`Snapshotter::shutdown`] (or drop) sets a flag under a
//! mutex and signals a condition variable; the thread checks the flag under the same mutex
//! before every wait, so the signal cannot be lost, and exits within one wake-up. Loom models:
//! `snapshotter_publishes_complete_histories`, `snapshotter_shutdown_is_prompt`.

use crate::history::History;
use crate::registry::Registry;
use crate::snapshot::Snapshot;
use crate::sync::{Condvar, Mutex, Publish, lock, thread};
use std::sync::Arc;
use std::time::Duration;

/// The shortest [`SnapshotterConfig::interval`]; shorter ones are raised to it.
const MIN_INTERVAL: Duration = Duration::from_millis(1);

/// How often to snapshot and how much history to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotterConfig {
    /// Time between snapshots (at least 1 ms).
    pub interval: Duration,
    /// Snapshots kept in the history ring (at least 1).
    pub retention: usize,
    /// The most heap the retained snapshots may hold ([`Snapshot::heap_bytes`]): past it the
    /// oldest are dropped, down to the two newest (fewer only if `retention` is 1), so
    /// windows reach back less far than `retention` intervals ([`History::span`] says how
    /// far). A snapshot holds about 1 KiB
    /// per occupied page of 256 bins of each histogram (a histogram whose values span five
    /// octaves at 3 significant figures occupies about 20), so a registry of many wide
    /// histograms would otherwise hold `retention` times that. A histogram nothing was
    /// recorded into since the previous snapshot shares that snapshot's pages and counts
    /// once ([`History::heap_bytes`]).
    pub max_history_bytes: usize,
}

/// [`SnapshotterConfig::max_history_bytes`]'s default: 256 MiB.
pub const DEFAULT_MAX_HISTORY_BYTES: usize = 256 << 20;

impl Default for SnapshotterConfig {
    /// One snapshot a second, five minutes of history, at most
    /// [`DEFAULT_MAX_HISTORY_BYTES`] of it.
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(1),
            retention: 300,
            max_history_bytes: DEFAULT_MAX_HISTORY_BYTES,
        }
    }
}

pub(crate) struct Shared {
    registry: Registry,
    retention: usize,
    max_history_bytes: usize,
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
            retention: config.retention.max(1),
            max_history_bytes: config.max_history_bytes,
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
        // Idle histograms keep the previous snapshot's counts: one allocation for the whole
        // run of snapshots in which nothing was recorded into them.
        snapshot.share_unchanged_with(previous.latest());
        let snapshot = Arc::new(snapshot);
        let history = previous.with_pushed_within(
            Arc::clone(&snapshot),
            self.retention,
            self.max_history_bytes,
        );
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
            .field("retention", &self.shared.retention)
            .field("max_history_bytes", &self.shared.max_history_bytes)
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
