//! Injectable monotonic clocks: the system's for production, a manual one for tests and loom
//! models.
//!
//! The throughput tracker buckets operations by time and the dashboard holds alerts for a
//! duration; both read time only through [`Clock`], so a test can move time by hand and check
//! window roll-over and alert hold times exactly, without sleeping.

use crate::sync::{AtomicU64, Ordering};
use std::fmt;
use std::time::Duration;

#[cfg(not(any(miri, aureon_loom)))]
use quanta::Instant;
#[cfg(any(miri, aureon_loom))]
use std::time::Instant;

/// A monotonic clock: [`Clock::now`] is the time elapsed since a fixed origin of the clock's
/// choosing, and never goes backwards.
///
/// Implementations must be cheap: the throughput tracker reads the clock on every
/// [`crate::production_monitoring::ThroughputTracker::record_operation`].
pub trait Clock: Send + Sync + fmt::Debug {
    /// Time since this clock's origin.
    fn now(&self) -> Duration;
}

/// The system's monotonic clock (`quanta`'s TSC-based `Instant`, or `std`'s under Miri and
/// loom), counted from the moment the `SystemClock` was created.
#[derive(Debug, Clone, Copy)]
pub struct SystemClock {
    origin: Instant,
}

impl SystemClock {
    /// A clock whose origin is now.
    pub fn new() -> Self {
        Self {
            origin: Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    #[inline]
    fn now(&self) -> Duration {
        Instant::now().duration_since(self.origin)
    }
}

/// A clock that moves only when told to: [`ManualClock::advance`] and [`ManualClock::set`].
///
/// Share it as an `Arc<ManualClock>`: hand one clone to a tracker (it coerces to
/// `Arc<dyn Clock>`) and keep another to move time.
///
/// ```
/// use aureon_node::production_monitoring::{Clock, ManualClock};
/// use std::time::Duration;
/// let clock = ManualClock::new();
/// clock.advance(Duration::from_millis(1500));
/// assert_eq!(clock.now(), Duration::from_millis(1500));
/// ```
#[derive(Debug, Default)]
pub struct ManualClock {
    nanos: AtomicU64,
}

impl ManualClock {
    /// A clock at time zero.
    pub fn new() -> Self {
        Self {
            nanos: AtomicU64::new(0),
        }
    }

    /// Moves the clock forward by `d` (saturating at `u64::MAX` nanoseconds, about 584
    /// years).
    pub fn advance(&self, d: Duration) {
        let add = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        // Relaxed: the clock is one value; what a reader must see of other memory is ordered
        // by the structures that read it, not by the clock.
        let _ = self
            .nanos
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_add(add))
            });
    }

    /// Sets the time to `t` if that is not earlier than the current time, and returns whether
    /// it did: a [`Clock`] never goes backwards, so an earlier `t` is refused.
    pub fn set(&self, t: Duration) -> bool {
        let t = u64::try_from(t.as_nanos()).unwrap_or(u64::MAX);
        self.nanos
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (t >= n).then_some(t)
            })
            .is_ok()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(Ordering::Relaxed))
    }
}
