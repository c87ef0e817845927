//! The seed's "Stress Test Monitoring" section, as written.
//!
//! Run: `cargo run -p aureon-node --example stress_test`
//!
//! This binary installs the counting allocator, so `peak_memory_mb` is the heap the test's
//! own threads held at once; without it the stress test falls back to the process's resident
//! high-water mark (see the `stress_testing` module docs).

use aureon_node::counting_allocator::CountingAllocator;
use aureon_node::stress_testing::{StressTestResult, stress_test_header_chain};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

fn monitor_stress_test() -> Result<(), String> {
    let result: StressTestResult = stress_test_header_chain(1000)?;

    println!("Stress Test Results:");
    println!("  Operations: {}", result.operation_count);
    println!("  Duration: {}ms", result.duration_ms);
    println!("  Throughput: {:.0} ops/sec", result.ops_per_sec);
    println!("  Peak memory: {:.1}MB", result.peak_memory_mb);
    println!("  Success rate: {:.1}%", result.success_rate * 100.0);

    // Validate performance
    assert!(result.ops_per_sec > 10000.0, "Throughput too low");
    assert!(result.peak_memory_mb < 5.0, "Memory usage too high");
    assert!(result.success_rate > 0.99, "Success rate too low");

    println!("✓ Stress test passed!");
    println!(
        "  ({} validator threads; latency p50 {}ns, p99 {}ns; memory measured by {:?})",
        result.threads,
        result.latency_ns.p50(),
        result.latency_ns.p99(),
        result.memory_method
    );

    Ok(())
}

fn main() -> Result<(), String> {
    monitor_stress_test()
}
