//! Facade handles by `metrics::Key`, shared by every thread, so a macro run again finds its
//! handle with one hash lookup instead of mapping names and walking the registry. Recording
//! threads ask their own cache first ([`crate::thread_cache`]); this one answers a thread's
//! first use of a key.
//!
//! Code that does not hold handles (`counter!("x").increment(1)` in a loop) registers on every
//! call. Without this cache each call would map the names, build a registry key (several
//! allocations) and wrap a new handle; with it, a repeated key costs a read-locked lookup
//! keyed by the hash the `metrics` key already carries, and a reference-count increment: the
//! same work `metrics-exporter-prometheus`'s registry does. The registry's label-set cap bounds
//! the cache (refused keys are not cached); with idle expiry on, the recorder drops the
//! entries of expired series ([`HandleCache::forget`], from the registry's
//! `on_expiry` listener), so that their memory can be freed. Each entry keeps the registry key
//! it maps to for that.

use aureon_telemetry::MetricKey;
use dashmap::DashMap;
use metrics::Key;
use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

/// Passes `metrics::Key`'s precomputed hash through: `Key`'s `Hash` writes exactly one `u64`,
/// already a good hash, so hashing it again would only cost time.
#[derive(Default)]
pub(crate) struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }

    /// Not reached for `Key` (see above); FNV-1a keeps any other input correct anyway.
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// One facade handle per `metrics::Key`, with the registry key it maps to.
pub(crate) struct HandleCache<H> {
    map: DashMap<Key, (H, MetricKey), BuildHasherDefault<KeyHasher>>,
}

impl<H: Clone> HandleCache<H> {
    pub(crate) fn new() -> Self {
        Self {
            map: DashMap::default(),
        }
    }

    /// The handle of `key`, made by `make` the first time. `make` also returns the registry
    /// key of the metric if the registry accepted it under that key: one it did not (refused,
    /// or sent to the name's overflow series past the label-set cap) is not cached, so such
    /// keys cannot grow the cache (each such call goes to the registry again, which counts
    /// it). Two threads racing on a new key may both run `make`; both wrap the same registry
    /// metric, and the first stored is kept.
    ///
    /// Returns the handle and, for a cached one, its registry key.
    #[inline]
    pub(crate) fn get_or_make(
        &self,
        key: &Key,
        make: impl FnOnce() -> (H, Option<MetricKey>),
    ) -> (H, Option<MetricKey>) {
        if let Some(entry) = self.map.get(key) {
            return (entry.0.clone(), Some(entry.1.clone()));
        }
        match make() {
            (made, Some(registered)) => {
                let entry = self.map.entry(key.clone()).or_insert((made, registered));
                (entry.0.clone(), Some(entry.1.clone()))
            }
            (made, None) => (made, None),
        }
    }

    /// Drops the handles of the registry keys in `expired`. A handle dropped while its series
    /// comes back is harmless: the next call finds the same metric in the registry again.
    /// One pass over the cache per expiry event (never per record).
    pub(crate) fn forget(&self, expired: &HashSet<&MetricKey>) {
        self.map
            .retain(|_, (_, registered)| !expired.contains(registered));
    }

    /// Number of cached handles.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn the_key_hash_passes_through() {
        let key = Key::from_parts("a.b", vec![metrics::Label::new("k", "v")]);
        let hash = BuildHasherDefault::<KeyHasher>::default().hash_one(&key);
        assert_eq!(hash, key.get_hash());
    }

    fn registered(name: &str) -> Option<MetricKey> {
        Some(MetricKey::new(name, &[]).unwrap())
    }

    #[test]
    fn a_key_is_made_once() {
        let cache = HandleCache::new();
        let key = Key::from_name("x");
        assert_eq!(cache.get_or_make(&key, || (1, registered("x"))).0, 1);
        assert_eq!(
            cache.get_or_make(&key, || (2, registered("x"))),
            (1, registered("x"))
        );
        assert_eq!(
            cache
                .get_or_make(&Key::from_name("y"), || (3, registered("y")))
                .0,
            3
        );
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn refused_metrics_are_not_cached() {
        let cache = HandleCache::new();
        let key = Key::from_name("refused");
        assert_eq!(cache.get_or_make(&key, || (1, None)), (1, None));
        assert_eq!(cache.get_or_make(&key, || (2, None)), (2, None));
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn forgetting_drops_every_entry_of_the_expired_keys_only() {
        let cache = HandleCache::new();
        // Two facade keys that map to one registry key (`a.b` is exported as `a_b`).
        cache.get_or_make(&Key::from_name("a.b"), || (1, registered("a_b")));
        cache.get_or_make(&Key::from_name("a_b"), || (2, registered("a_b")));
        cache.get_or_make(&Key::from_name("c"), || (3, registered("c")));
        let gone = registered("a_b").unwrap();
        cache.forget(&HashSet::from([&gone]));
        assert_eq!(cache.len(), 1);
        assert_eq!(
            cache
                .get_or_make(&Key::from_name("c"), || (4, registered("c")))
                .0,
            3
        );
        assert_eq!(
            cache
                .get_or_make(&Key::from_name("a.b"), || (5, registered("a_b")))
                .0,
            5
        );
    }
}
