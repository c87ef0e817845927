//! The seed's "Error Rate Tracking" section, as written.
//!
//! Run: `cargo run -p aureon-node --example errors`

// The seed's code declares `let mut tracker`; recording takes `&self`, so the `mut` is unused.
#![allow(unused_mut)]

use aureon_node::production_monitoring::ErrorRateTracker;

fn monitor_errors() -> Result<(), String> {
    let mut tracker = ErrorRateTracker::new();

    // Simulate operations
    tracker.record_operation(); // success
    tracker.record_operation(); // success
    tracker.record_error("NetworkTimeout");
    tracker.record_operation(); // success
    tracker.record_error("NetworkTimeout");
    tracker.record_error("DatabaseError");
    tracker.record_operation(); // success

    // Get statistics (7 operations, 3 errors)
    println!("Error Monitoring:");
    println!("  Total operations: {}", tracker.total_operations());
    println!("  Total errors: {}", tracker.total_errors());
    println!("  Error rate: {:.1}%", tracker.error_rate() * 100.0);
    println!("  Success rate: {:.1}%", tracker.success_rate() * 100.0);
    println!("  Most common error: {:?}", tracker.most_common_error());

    // Output (as the seed expected):
    // Total operations: 7
    // Total errors: 3
    // Error rate: 42.9%
    // Success rate: 57.1%
    // Most common error: Some("NetworkTimeout")

    println!("  Errors by kind: {:?}", tracker.error_counts());
    Ok(())
}

fn main() -> Result<(), String> {
    monitor_errors()
}
