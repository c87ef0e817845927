//! The one place where `std` becomes `loom`.
//!
//! Every atomic, lock, thread-local and shared map the core uses comes from here, so that
//! `RUSTFLAGS="--cfg aureon_loom"` swaps the whole crate onto loom's model-checked versions
//! without a `cfg` anywhere else (the pattern of crossbeam's `primitive` module and
//! sharded-slab's `sync.rs`). The cfg is crate-specific so that other crates in the build
//! (dashmap, arc-swap, …) are not switched with it.
//!
//! Two dependencies are not loom-aware: `arc-swap` (publication of snapshots) and `dashmap`
//! (the registry's map). Under loom they are replaced by [`Publish`] and [`ConcurrentMap`]
//! built on loom's `Mutex`, which keep the same contract (atomic replace / atomic
//! get-or-insert), so the models check the protocols *around* them; `docs/concurrency.md`
//! says what that does and does not cover.

#[cfg(not(aureon_loom))]
pub(crate) use std::{
    hint::spin_loop,
    sync::{
        Condvar, Mutex, MutexGuard,
        atomic::{AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering},
    },
    thread,
};

#[cfg(aureon_loom)]
pub(crate) use loom::{
    hint::spin_loop,
    sync::{
        Condvar, Mutex, MutexGuard,
        atomic::{AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering},
    },
    thread,
};

pub(crate) use crossbeam_utils::CachePadded;

/// Declares a thread-local with a constant initialiser (std's fast `const` form), or loom's
/// mock thread-local under `aureon_loom`.
macro_rules! thread_local_const {
    ($vis:vis static $name:ident: $t:ty = $init:expr;) => {
        #[cfg(not(aureon_loom))]
        std::thread_local! { $vis static $name: $t = const { $init }; }
        #[cfg(aureon_loom)]
        loom::thread_local! { $vis static $name: $t = $init; }
    };
}
pub(crate) use thread_local_const;

/// Declares a process-wide lazily initialised (private) static; under loom it is reset for
/// every explored execution (loom's `lazy_static`), which a plain `static` would not be.
/// Private only: loom's `lazy_static!` matches `pub` literally, so a forwarded `$vis`
/// fragment cannot be passed through to it.
macro_rules! global {
    (static $name:ident: $t:ty = $init:expr;) => {
        #[cfg(not(aureon_loom))]
        static $name: std::sync::LazyLock<$t> = std::sync::LazyLock::new(|| $init);
        #[cfg(aureon_loom)]
        loom::lazy_static! { static ref $name: $t = $init; }
    };
}
pub(crate) use global;

/// Locks a mutex, ignoring poisoning: every structure behind the core's locks is left
/// consistent at each step, so a panic elsewhere while holding the lock cannot corrupt it.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(not(aureon_loom))]
mod publish {
    use std::sync::Arc;

    /// Atomically replaceable `Arc<T>`: readers load the latest value without blocking writers
    /// or each other (`arc-swap`).
    pub(crate) struct Publish<T>(arc_swap::ArcSwap<T>);

    impl<T> Publish<T> {
        pub(crate) fn new(value: Arc<T>) -> Self {
            Self(arc_swap::ArcSwap::new(value))
        }
        pub(crate) fn load(&self) -> Arc<T> {
            self.0.load_full()
        }
        pub(crate) fn store(&self, value: Arc<T>) {
            self.0.store(value);
        }
    }
}

#[cfg(aureon_loom)]
mod publish {
    use loom::sync::{Arc as LoomArc, Mutex};
    use std::sync::Arc;

    /// Loom stand-in for `arc-swap`: the same replace/load contract on a loom mutex.
    pub(crate) struct Publish<T>(LoomArc<Mutex<Arc<T>>>);

    impl<T> Publish<T> {
        pub(crate) fn new(value: Arc<T>) -> Self {
            Self(LoomArc::new(Mutex::new(value)))
        }
        pub(crate) fn load(&self) -> Arc<T> {
            Arc::clone(&super::lock(&self.0))
        }
        pub(crate) fn store(&self, value: Arc<T>) {
            *super::lock(&self.0) = value;
        }
    }
}
pub(crate) use publish::Publish;

#[cfg(not(aureon_loom))]
mod map {
    use std::hash::Hash;

    /// Concurrent map with an atomic get-or-insert (`dashmap`).
    pub(crate) struct ConcurrentMap<K, V>(dashmap::DashMap<K, V>);

    impl<K: Eq + Hash, V: Clone> ConcurrentMap<K, V> {
        pub(crate) fn new() -> Self {
            Self(dashmap::DashMap::new())
        }
        pub(crate) fn get(&self, key: &K) -> Option<V> {
            self.0.get(key).map(|v| v.value().clone())
        }
        /// Returns the value for `key`, calling `make` to create it if absent. `make` runs
        /// while the key's shard is locked, so two racing callers get the same value.
        pub(crate) fn get_or_try_insert<E>(
            &self,
            key: K,
            make: impl FnOnce() -> Result<V, E>,
        ) -> Result<V, E> {
            match self.0.entry(key) {
                dashmap::Entry::Occupied(e) => Ok(e.get().clone()),
                dashmap::Entry::Vacant(e) => Ok(e.insert(make()?).value().clone()),
            }
        }
        /// Clones every entry out, holding each shard's read lock only while copying it.
        pub(crate) fn entries(&self) -> Vec<(K, V)>
        where
            K: Clone,
        {
            self.0
                .iter()
                .map(|e| (e.key().clone(), e.value().clone()))
                .collect()
        }
        pub(crate) fn insert(&self, key: K, value: V) {
            self.0.insert(key, value);
        }
        /// Calls `f` with `key`'s value (or `None`) while the key's shard is write-locked, and
        /// applies the [`Change`] it returns; a removed value is dropped after the lock is
        /// released. Every transition of a registry entry (create, expire, revive, free) goes
        /// through here, so two of them on one key never interleave.
        pub(crate) fn update<R>(
            &self,
            key: K,
            f: impl FnOnce(Option<&mut V>) -> (super::Change<V>, R),
        ) -> R {
            let removed;
            let result = match self.0.entry(key) {
                dashmap::Entry::Occupied(mut e) => {
                    let (change, r) = f(Some(e.get_mut()));
                    removed = match change {
                        super::Change::Keep => None,
                        super::Change::Put(v) => Some(e.insert(v)),
                        super::Change::Remove => Some(e.remove()),
                    };
                    r
                }
                dashmap::Entry::Vacant(e) => {
                    let (change, r) = f(None);
                    if let super::Change::Put(v) = change {
                        e.insert(v);
                    }
                    removed = None;
                    r
                }
            };
            drop(removed);
            result
        }
        /// Gives memory back after many removals (dashmap never shrinks by itself).
        pub(crate) fn shrink_to_fit(&self) {
            self.0.shrink_to_fit();
        }
        pub(crate) fn len(&self) -> usize {
            self.0.len()
        }
    }
}

/// What [`ConcurrentMap::update`] does with the entry after its closure ran.
pub(crate) enum Change<V> {
    /// Leave the entry as the closure left it (absent stays absent).
    Keep,
    /// Insert or replace the value.
    Put(V),
    /// Remove the entry (no-op if absent).
    Remove,
}

#[cfg(aureon_loom)]
mod map {
    use loom::sync::Mutex;
    use std::collections::HashMap;
    use std::hash::Hash;

    /// Loom stand-in for `dashmap`: the same atomic get-or-insert on one loom mutex.
    pub(crate) struct ConcurrentMap<K, V>(Mutex<HashMap<K, V>>);

    impl<K: Eq + Hash, V: Clone> ConcurrentMap<K, V> {
        pub(crate) fn new() -> Self {
            Self(Mutex::new(HashMap::new()))
        }
        pub(crate) fn get(&self, key: &K) -> Option<V> {
            super::lock(&self.0).get(key).cloned()
        }
        pub(crate) fn get_or_try_insert<E>(
            &self,
            key: K,
            make: impl FnOnce() -> Result<V, E>,
        ) -> Result<V, E> {
            let mut map = super::lock(&self.0);
            if let Some(v) = map.get(&key) {
                return Ok(v.clone());
            }
            let v = make()?;
            map.insert(key, v.clone());
            Ok(v)
        }
        pub(crate) fn entries(&self) -> Vec<(K, V)>
        where
            K: Clone,
        {
            super::lock(&self.0)
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        }
        pub(crate) fn insert(&self, key: K, value: V) {
            super::lock(&self.0).insert(key, value);
        }
        pub(crate) fn update<R>(
            &self,
            key: K,
            f: impl FnOnce(Option<&mut V>) -> (super::Change<V>, R),
        ) -> R {
            let mut map = super::lock(&self.0);
            let (change, r) = f(map.get_mut(&key));
            let removed = match change {
                super::Change::Keep => None,
                super::Change::Put(v) => map.insert(key, v),
                super::Change::Remove => map.remove(&key),
            };
            drop(map);
            drop(removed);
            r
        }
        pub(crate) fn shrink_to_fit(&self) {
            super::lock(&self.0).shrink_to_fit();
        }
        pub(crate) fn len(&self) -> usize {
            super::lock(&self.0).len()
        }
    }
}
pub(crate) use map::ConcurrentMap;
