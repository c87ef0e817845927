//! The one place where `std` becomes `loom` in this crate.
//!
//! The throughput tracker's per-thread rings and the manual clock take their atomics, locks
//! and thread-locals from here, so that `RUSTFLAGS="--cfg aureon_loom"` puts the window
//! roll-over protocol onto loom's model-checked types without a `cfg` anywhere else. This
//! mirrors `aureon-telemetry`'s own `sync` module (same cfg name, same shape).
//!
//! Left on `std` under loom, on purpose:
//! * the process-wide id counter of trackers (`std` atomic): ids only need to be unique, and
//!   no ordering between threads depends on them;
//! * `arc-swap` and its insert mutex in the dashboard's lookup tables, and the dashboard's
//!   status cell and evaluation mutex: `arc-swap` is not loom-aware, and no loom model covers
//!   the dashboard (its lock-free parts are the core's metrics and this tracker);
//! * the counting allocator's counters: a global allocator runs beneath everything, loom
//!   included.

#[cfg(not(aureon_loom))]
pub(crate) use std::sync::{
    Mutex, MutexGuard,
    atomic::{AtomicBool, AtomicU64, Ordering},
};

#[cfg(aureon_loom)]
pub(crate) use loom::sync::{
    Mutex, MutexGuard,
    atomic::{AtomicBool, AtomicU64, Ordering},
};

/// Declares a thread-local (std's, or loom's mock under `aureon_loom`).
macro_rules! thread_local_lazy {
    ($vis:vis static $name:ident: $t:ty = $init:expr;) => {
        #[cfg(not(aureon_loom))]
        std::thread_local! { $vis static $name: $t = $init; }
        #[cfg(aureon_loom)]
        loom::thread_local! { $vis static $name: $t = $init; }
    };
}
pub(crate) use thread_local_lazy;

/// Locks a mutex, ignoring poisoning: the structures behind this crate's locks are consistent
/// after every statement, so a panic elsewhere while holding the lock cannot corrupt them.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
