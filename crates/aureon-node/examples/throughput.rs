//! The seed's "Throughput Measurement" section, as written (it sleeps about half a second).
//!
//! Run: `cargo run -p aureon-node --example throughput`

// The seed's code declares `let mut tracker`; recording takes `&self`, so the `mut` is unused.
#![allow(unused_mut)]

use aureon_node::production_monitoring::ThroughputTracker;
use std::thread;
use std::time::Duration;

fn measure_throughput() -> Result<(), String> {
    let mut tracker = ThroughputTracker::new();

    // Simulate 1000 operations
    for _ in 0..1000 {
        tracker.record_operation();
    }

    // Get throughput
    println!("Throughput Measurement:");
    println!("  Total operations: {}", tracker.total_operations());
    println!("  Overall ops/sec: {}", tracker.ops_per_sec());

    // Record ops with delays
    for _ in 0..500 {
        tracker.record_operation();
        thread::sleep(Duration::from_millis(1)); // 1ms per op
    }

    println!(
        "  Last 10s throughput: {} ops/sec",
        tracker.window_ops_per_sec(10)
    );

    // What to expect: the first rate is 1000 operations over the microseconds since the
    // tracker was created, so it is huge and varies from run to run. The window rate is the
    // 1500 operations over the time the tracker has existed (the window is 10 s, but only
    // about 0.5-0.6 s of it has been observed): about 2500-3000 ops/sec, less if the sleeps
    // overshoot.
    let window = tracker
        .window(Duration::from_secs(10))
        .map_err(|e| e.to_string())?;
    println!(
        "  ({} operations over the {:?} observed of the 10s window)",
        window.operations, window.observed
    );
    Ok(())
}

fn main() -> Result<(), String> {
    measure_throughput()
}
