//! The per-callsite cache of histogram handles, so closing a span never touches the registry.
//!
//! A span's histograms depend only on its callsite (name and target are static metadata), so
//! they are looked up in the registry once per callsite and kept in a map keyed by the
//! address of the callsite's `&'static Metadata`. Reads are the per-span path: an
//! `ArcSwap` load (no lock, and no write to memory another thread writes) and one hash of a
//! pointer. A new callsite copies the map (read-copy-update); callsites are few and static,
//! so the copies stop once the program has run each span site once.

use arc_swap::ArcSwap;
use aureon_telemetry::Histogram;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;
use tracing_core::Metadata;

/// The histograms of one span callsite.
#[derive(Debug)]
pub(crate) struct SpanHistograms {
    pub(crate) busy: Histogram,
    pub(crate) idle: Option<Histogram>,
}

/// Keys are addresses of `&'static Metadata`, already unique: mixing them with one multiply
/// is enough, and far cheaper than SipHash on the per-span path.
#[derive(Default)]
struct AddressHasher(u64);

impl Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        // Fibonacci hashing: the high bits (which hashbrown uses) depend on every input bit.
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}

type Map = HashMap<usize, Arc<SpanHistograms>, BuildHasherDefault<AddressHasher>>;

fn key(metadata: &'static Metadata<'static>) -> usize {
    std::ptr::from_ref(metadata).addr()
}

/// Histogram handles by span callsite.
#[derive(Default)]
pub(crate) struct Callsites {
    map: ArcSwap<Map>,
}

impl Callsites {
    /// Runs `f` with the histograms of `metadata`'s callsite, creating them with `make` (and
    /// so touching the registry) only the first time the callsite is seen.
    #[inline]
    pub(crate) fn with<R>(
        &self,
        metadata: &'static Metadata<'static>,
        make: impl FnOnce() -> SpanHistograms,
        f: impl FnOnce(&SpanHistograms) -> R,
    ) -> R {
        if let Some(histograms) = self.map.load().get(&key(metadata)) {
            return f(histograms);
        }
        f(&self.insert(metadata, make))
    }

    #[cold]
    fn insert(
        &self,
        metadata: &'static Metadata<'static>,
        make: impl FnOnce() -> SpanHistograms,
    ) -> Arc<SpanHistograms> {
        let made = Arc::new(make());
        let k = key(metadata);
        // Two threads may race to add the same callsite; both made handles to the same
        // registry metrics, so whichever lands first is kept and used by both.
        let previous = self.map.rcu(|map| {
            let mut map = Map::clone(map);
            map.entry(k).or_insert_with(|| Arc::clone(&made));
            map
        });
        previous.get(&k).map_or(made, Arc::clone)
    }

    /// Number of callsites cached.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.load().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use tracing_core::callsite::{Callsite, Identifier};
    use tracing_core::{Interest, Kind, Level, Metadata};

    struct Site;
    static SITE: Site = Site;
    impl Callsite for Site {
        fn set_interest(&self, _: Interest) {}
        fn metadata(&self) -> &Metadata<'_> {
            &META_A
        }
    }
    static META_A: Metadata<'static> = Metadata::new(
        "a",
        "t",
        Level::INFO,
        None,
        None,
        None,
        tracing_core::field::FieldSet::new(&[], Identifier(&SITE)),
        Kind::SPAN,
    );
    static META_B: Metadata<'static> = Metadata::new(
        "b",
        "t",
        Level::INFO,
        None,
        None,
        None,
        tracing_core::field::FieldSet::new(&[], Identifier(&SITE)),
        Kind::SPAN,
    );

    #[test]
    fn histograms_are_made_once_per_callsite_and_then_found_without_making() {
        let callsites = Callsites::default();
        let made = Cell::new(0);
        let make = || {
            made.set(made.get() + 1);
            SpanHistograms {
                busy: Histogram::default(),
                idle: None,
            }
        };
        let first = callsites.with(&META_A, make, |h| h.busy.clone());
        for _ in 0..3 {
            callsites.with(&META_A, make, |h| h.busy.record(1));
        }
        callsites.with(&META_B, make, |_| ());
        assert_eq!((made.get(), callsites.len()), (2, 2));
        assert_eq!(
            first.snapshot().count(),
            3,
            "later lookups found the first handles"
        );
    }
}
