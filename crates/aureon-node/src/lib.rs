//! # aureon-node
//!
//! The monitoring API of the product seed ("Production Monitoring & Observability"), built
//! on the lock-free core `aureon-telemetry`:
//!
//! * [`production_monitoring`]: `LatencyTracker`, `ErrorRateTracker`, `ThroughputTracker`,
//!   `HealthDashboard` and `HealthStatus`, as the seed writes them, with health rules,
//!   alerts, baseline degradation and the seed's report.
//! * [`stress_testing`]: the seed's header-chain stress test, on a real BLAKE3-linked chain
//!   validated by several threads.
//! * [`process_memory`] and [`counting_allocator`]: how memory is measured, for the health
//!   rule and the stress test.
//!
//! ```
//! use aureon_node::production_monitoring::LatencyTracker;
//! let tracker = LatencyTracker::new("block_processing");
//! for us in [1500, 2300, 980, 1200, 5500] {
//!     tracker.record_latency_us(us);
//! }
//! assert_eq!(format!("{}", tracker.average_latency()), "2296");
//! ```

pub mod counting_allocator;
pub mod process_memory;
pub mod production_monitoring;
pub mod stress_testing;
mod sync;

// The unit tests measure the stress test's heap with the counting allocator, as a binary
// would install it.
#[cfg(all(test, not(aureon_loom)))]
#[global_allocator]
static TEST_ALLOCATOR: counting_allocator::CountingAllocator =
    counting_allocator::CountingAllocator;
