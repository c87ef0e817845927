//! Gauges: an `f64` stored as bits in one cache-padded atomic.
//!
//! A gauge is one shared value by nature (last write wins), so unlike counters it cannot be
//! split per thread. `set` is a single store; `add`/`sub` are a compare-and-swap loop, which
//! is a shared read-modify-write: prefer a [`crate::Counter`] for anything incremented on a
//! hot path from many threads.

use crate::sync::{AtomicU64, CachePadded, Ordering};
use std::fmt;
use std::sync::Arc;

pub(crate) struct GaugeCore {
    bits: CachePadded<AtomicU64>,
}

impl GaugeCore {
    pub(crate) fn new() -> Self {
        Self {
            bits: CachePadded::new(AtomicU64::new(0f64.to_bits())),
        }
    }

    pub(crate) fn value(&self) -> f64 {
        f64::from_bits(self.bits.load(Ordering::Relaxed))
    }
}

/// A handle to a gauge holding an `f64`: cheap to clone, `Send + Sync`, never locks.
#[derive(Clone)]
pub struct Gauge {
    pub(crate) core: Arc<GaugeCore>,
}

impl fmt::Debug for Gauge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gauge")
            .field("value", &self.value())
            .finish()
    }
}

impl Default for Gauge {
    fn default() -> Self {
        Self::new()
    }
}

impl Gauge {
    /// A standalone gauge (not in any registry), starting at 0.
    pub fn new() -> Self {
        Self {
            core: Arc::new(GaugeCore::new()),
        }
    }

    /// Sets the value.
    #[inline]
    pub fn set(&self, value: f64) {
        self.core.bits.store(value.to_bits(), Ordering::Relaxed);
    }

    /// Adds `delta` (atomically with respect to other `add`/`sub` calls).
    pub fn add(&self, delta: f64) {
        let _ = self
            .core
            .bits
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                Some((f64::from_bits(b) + delta).to_bits())
            });
    }

    /// Subtracts `delta`.
    pub fn sub(&self, delta: f64) {
        self.add(-delta);
    }

    /// The current value.
    pub fn value(&self) -> f64 {
        self.core.value()
    }
}
