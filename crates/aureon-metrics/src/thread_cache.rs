//! Per-thread caches of facade handles, so that a macro run on every call
//! (`counter!("rpc_requests", "method" => "get").increment(1)` in a hot loop) writes no cache
//! line another thread writes.
//!
//! The shared cache ([`crate::cache`]) answers with a read-locked `dashmap` lookup and a clone
//! of one shared `Arc`: two writes (the shard's lock word, the reference count) to lines every
//! recording thread writes too, which is what made the unheld macro path slower at two threads
//! than at one. Here each thread keeps its own map from `metrics::Key` to a facade handle whose
//! `Arc` is the thread's own (it wraps a clone of the same core handle, so every thread records
//! into the same series): a hit is a thread-local lookup and a clone of a thread-private `Arc`.
//! A miss (a thread's first use of a key) goes to the shared cache and allocates the thread's
//! wrapper once.
//!
//! With idle expiry, the recorder's expiry listener cannot reach other threads' caches, so it
//! appends the expired keys to a short log ([`ExpiryLog`]) and bumps its epoch; a thread that
//! finds the epoch moved on its next lookup drops its entries of the keys logged since (or
//! everything, if it fell further behind than the log reaches). A thread that stops calling
//! the facade keeps its cached handles until it calls again or exits. Each thread keeps at
//! most [`MAX_PER_THREAD`] handles per kind and recorder (it starts over past that).

use crate::cache::KeyHasher;
use aureon_telemetry::MetricKey;
use metrics::Key;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::BuildHasherDefault;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, Weak};

/// The most handles a thread caches per kind and recorder.
pub(crate) const MAX_PER_THREAD: usize = 4096;

/// How many expiry events the log keeps for threads that are behind.
const LOG_EVENTS: usize = 64;

type Map<H> = HashMap<Key, (H, MetricKey), BuildHasherDefault<KeyHasher>>;

/// What one thread caches for one recorder.
pub(crate) struct RecorderCache {
    id: u64,
    /// Whether the recorder still exists (its caches are dropped once it is gone).
    alive: Weak<()>,
    epoch: u64,
    counters: Map<metrics::Counter>,
    gauges: Map<metrics::Gauge>,
    histograms: Map<metrics::Histogram>,
}

std::thread_local! {
    static CACHES: RefCell<Vec<RecorderCache>> = const { RefCell::new(Vec::new()) };
}

/// The recorder's side: its identity, its liveness token and its expiry log.
pub(crate) struct ExpiryLog {
    id: u64,
    alive: std::sync::Arc<()>,
    /// Bumped after each expiry event is logged; read (Relaxed) on every lookup. Padded: it
    /// is read by every recording thread and written only by the expiry listener.
    epoch: crossbeam_utils::CachePadded<AtomicU64>,
    /// `(epoch it ends, keys)` of the last [`LOG_EVENTS`] events.
    events: Mutex<VecDeque<(u64, Vec<MetricKey>)>>,
}

impl ExpiryLog {
    pub(crate) fn new() -> Self {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            alive: std::sync::Arc::new(()),
            epoch: crossbeam_utils::CachePadded::new(AtomicU64::new(0)),
            events: Mutex::new(VecDeque::new()),
        }
    }

    /// Logs an expiry event: every thread drops its handles of `keys` on its next lookup.
    pub(crate) fn expired(&self, keys: &[MetricKey]) {
        let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        let epoch = self.epoch.load(Ordering::Relaxed) + 1;
        events.push_back((epoch, keys.to_vec()));
        if events.len() > LOG_EVENTS {
            events.pop_front();
        }
        // Release: a thread that reads the new epoch finds its event in the log.
        self.epoch.store(epoch, Ordering::Release);
    }

    /// Which keys expired after `since`; `None` if the log no longer reaches back that far.
    fn expired_since(&self, since: u64) -> Option<HashSet<MetricKey>> {
        let events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        match events.front() {
            Some(&(first, _)) if first <= since + 1 => Some(
                events
                    .iter()
                    .filter(|(epoch, _)| *epoch > since)
                    .flat_map(|(_, keys)| keys.iter().cloned())
                    .collect(),
            ),
            _ => None,
        }
    }
}

/// Which of a recorder cache's maps a kind of handle lives in.
pub(crate) trait Kind: Clone {
    fn map(cache: &mut RecorderCache) -> &mut Map<Self>;
}

impl Kind for metrics::Counter {
    fn map(cache: &mut RecorderCache) -> &mut Map<Self> {
        &mut cache.counters
    }
}

impl Kind for metrics::Gauge {
    fn map(cache: &mut RecorderCache) -> &mut Map<Self> {
        &mut cache.gauges
    }
}

impl Kind for metrics::Histogram {
    fn map(cache: &mut RecorderCache) -> &mut Map<Self> {
        &mut cache.histograms
    }
}

/// The calling thread's handle of `key` for the recorder of `log`, made by `miss` the first
/// time: it returns the handle and, if the registry accepted the key (only those are cached),
/// its registry key. `miss` runs without the thread's cache borrowed, so nothing it calls can
/// trip over it.
#[inline]
pub(crate) fn get_or_make<H: Kind>(
    log: &ExpiryLog,
    key: &Key,
    miss: impl FnOnce() -> (H, Option<MetricKey>),
) -> H {
    let epoch = log.epoch.load(Ordering::Acquire);
    let hit = CACHES.try_with(|caches| {
        let mut caches = caches.borrow_mut();
        let cache = caches.iter_mut().find(|c| c.id == log.id)?;
        if cache.epoch != epoch {
            catch_up(cache, log, epoch);
        }
        H::map(cache).get(key).map(|(h, _)| h.clone())
    });
    if let Ok(Some(handle)) = hit {
        return handle;
    }
    let (handle, registered) = miss();
    if let Some(registered) = registered {
        // Thread-local storage being torn down (a macro in a destructor at thread exit):
        // the handle is still good, just not cached.
        let _ = CACHES.try_with(|caches| {
            let mut caches = caches.borrow_mut();
            let cache = match caches.iter().position(|c| c.id == log.id) {
                Some(i) => &mut caches[i],
                None => {
                    // A recorder this thread has not used yet; forget the dead ones meanwhile.
                    caches.retain(|c| c.alive.strong_count() > 0);
                    caches.push(RecorderCache {
                        id: log.id,
                        alive: std::sync::Arc::downgrade(&log.alive),
                        epoch,
                        counters: Map::default(),
                        gauges: Map::default(),
                        histograms: Map::default(),
                    });
                    caches.last_mut().expect("pushed")
                }
            };
            let map = H::map(cache);
            if map.len() >= MAX_PER_THREAD {
                map.clear();
            }
            map.insert(key.clone(), (handle.clone(), registered));
        });
    }
    handle
}

/// Drops a thread's handles of the keys that expired since its epoch (all of them if the log
/// does not reach back that far).
#[cold]
fn catch_up(cache: &mut RecorderCache, log: &ExpiryLog, epoch: u64) {
    match log.expired_since(cache.epoch) {
        Some(expired) => {
            cache.counters.retain(|_, (_, k)| !expired.contains(k));
            cache.gauges.retain(|_, (_, k)| !expired.contains(k));
            cache.histograms.retain(|_, (_, k)| !expired.contains(k));
        }
        None => {
            cache.counters.clear();
            cache.gauges.clear();
            cache.histograms.clear();
        }
    }
    cache.epoch = epoch;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registered(name: &str) -> Option<MetricKey> {
        Some(MetricKey::new(name, &[]).unwrap())
    }

    /// Looks `name` up in this thread's cache for `log`, counting the misses in `made`.
    fn lookup(log: &ExpiryLog, made: &AtomicU64, name: &'static str) -> metrics::Counter {
        get_or_make(log, &Key::from_static_name(name), || {
            made.fetch_add(1, Ordering::Relaxed);
            (counter(0), registered(name))
        })
    }

    fn counter(n: u64) -> metrics::Counter {
        let c = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(n));
        metrics::Counter::from_arc(c)
    }

    #[test]
    fn a_thread_makes_each_key_once_and_threads_do_not_share_entries() {
        let log = ExpiryLog::new();
        let made = AtomicU64::new(0);
        let get = |name: &'static str| lookup(&log, &made, name);
        let _ = get("a");
        let _ = get("a");
        let _ = get("b");
        assert_eq!(made.load(Ordering::Relaxed), 2);
        std::thread::scope(|s| {
            s.spawn(|| drop(get("a")));
        });
        assert_eq!(
            made.load(Ordering::Relaxed),
            3,
            "another thread makes its own"
        );
    }

    #[test]
    fn expired_keys_are_made_again_and_only_those() {
        let log = ExpiryLog::new();
        let made = AtomicU64::new(0);
        let get = |name: &'static str| lookup(&log, &made, name);
        let _ = get("a");
        let _ = get("b");
        log.expired(&[registered("a").unwrap()]);
        let _ = get("b");
        assert_eq!(made.load(Ordering::Relaxed), 2, "b stays cached");
        let _ = get("a");
        assert_eq!(made.load(Ordering::Relaxed), 3, "a was dropped");
    }

    #[test]
    fn a_thread_behind_the_log_starts_over() {
        let log = ExpiryLog::new();
        let made = AtomicU64::new(0);
        let get = |name: &'static str| lookup(&log, &made, name);
        let _ = get("kept");
        for _ in 0..LOG_EVENTS + 1 {
            log.expired(&[registered("other").unwrap()]);
        }
        let _ = get("kept");
        assert_eq!(
            made.load(Ordering::Relaxed),
            2,
            "cleared: the log did not reach back"
        );
    }

    #[test]
    fn unregistered_handles_are_not_cached() {
        let log = ExpiryLog::new();
        let made = AtomicU64::new(0);
        for _ in 0..3 {
            let _ = get_or_make(&log, &Key::from_static_name("refused"), || {
                made.fetch_add(1, Ordering::Relaxed);
                (counter(0), None)
            });
        }
        assert_eq!(made.load(Ordering::Relaxed), 3);
    }
}
