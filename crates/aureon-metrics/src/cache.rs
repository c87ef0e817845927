//! Facade handles by `metrics::Key`, so a macro run again finds its handle with one hash
//! lookup instead of mapping names and walking the registry.
//!
//! Code that does not hold handles (`counter!("x").increment(1)` in a loop) registers on every
//! call. Without this cache each call would map the names, build a registry key (several
//! allocations) and wrap a new handle; with it, a repeated key costs a read-locked lookup
//! keyed by the hash the `metrics` key already carries, and a reference-count increment: the
//! same work `metrics-exporter-prometheus`'s registry does. Entries are never removed, like the
//! registry's metrics (the registry's label-set cap bounds both).

use dashmap::DashMap;
use metrics::Key;
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

/// One facade handle per `metrics::Key`.
pub(crate) struct HandleCache<H> {
    map: DashMap<Key, H, BuildHasherDefault<KeyHasher>>,
}

impl<H: Clone> HandleCache<H> {
    pub(crate) fn new() -> Self {
        Self {
            map: DashMap::default(),
        }
    }

    /// The handle of `key`, made by `make` the first time. `make` also says whether the
    /// registry accepted the metric: a refused one is not cached, so keys past the registry's
    /// label-set cap cannot grow the cache either (each such call is refused and counted
    /// again, as the registry does). Two threads racing on a new key may both run `make`; both
    /// wrap the same registry metric, and the first stored is kept.
    #[inline]
    pub(crate) fn get_or_make(&self, key: &Key, make: impl FnOnce() -> (H, bool)) -> H {
        if let Some(handle) = self.map.get(key) {
            return handle.clone();
        }
        match make() {
            (made, true) => self.map.entry(key.clone()).or_insert(made).clone(),
            (made, false) => made,
        }
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

    #[test]
    fn a_key_is_made_once() {
        let cache = HandleCache::new();
        let key = Key::from_name("x");
        assert_eq!(cache.get_or_make(&key, || (1, true)), 1);
        assert_eq!(cache.get_or_make(&key, || (2, true)), 1);
        assert_eq!(cache.get_or_make(&Key::from_name("y"), || (3, true)), 3);
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn refused_metrics_are_not_cached() {
        let cache = HandleCache::new();
        let key = Key::from_name("refused");
        assert_eq!(cache.get_or_make(&key, || (1, false)), 1);
        assert_eq!(cache.get_or_make(&key, || (2, false)), 2);
        assert_eq!(cache.len(), 0);
    }
}
