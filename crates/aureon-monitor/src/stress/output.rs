//! The stress test's result for people (a table) and for scripts (JSON), with the seed's
//! thresholds and whether each passed.

use super::Threshold;
use crate::fmt;
use aureon_node::stress_testing::{MemoryMethod, StressTestResult};
use serde_json::json;
use std::fmt::Write;

fn method_words(method: MemoryMethod) -> &'static str {
    match method {
        MemoryMethod::HeapScope => "heap held by the test's threads",
        MemoryMethod::ResidentHighWaterMark => "rise of the resident high-water mark",
    }
}

fn method_key(method: MemoryMethod) -> &'static str {
    match method {
        MemoryMethod::HeapScope => "heap_scope",
        MemoryMethod::ResidentHighWaterMark => "resident_high_water_mark",
    }
}

/// The result as a table, ending with the verdict.
pub fn table(r: &StressTestResult, checks: &[Threshold]) -> String {
    let mark = |passed: bool| if passed { "✓" } else { "✗ MISSED" };
    let l = &r.latency_ns;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Header-chain stress test: {} headers, {} validator threads",
        fmt::count(r.operation_count),
        r.threads
    );
    let _ = writeln!(out, "  Operations:   {}", fmt::count(r.operation_count));
    let _ = writeln!(
        out,
        "  Duration:     {} ms (validation; building the chain took {} ms and is not counted)",
        r.duration_ms,
        r.build_duration.as_millis()
    );
    let _ = writeln!(
        out,
        "  Throughput:   {:<16} {:<14} {}",
        format!("{:.0} ops/sec", r.ops_per_sec),
        checks[0].limit,
        mark(checks[0].passed)
    );
    let _ = writeln!(
        out,
        "  Peak memory:  {:<16} {:<14} {}   ({})",
        format!("{:.2} MB", r.peak_memory_mb),
        checks[1].limit,
        mark(checks[1].passed),
        method_words(r.memory_method)
    );
    let _ = writeln!(
        out,
        "  Success rate: {:<16} {:<14} {}",
        format!("{:.1}%", r.success_rate * 100.0),
        checks[2].limit,
        mark(checks[2].passed)
    );
    let _ = writeln!(
        out,
        "  Latency:      p50 {}, p99 {}, max {} per validation",
        fmt::nanos(l.p50() as f64),
        fmt::nanos(l.p99() as f64),
        fmt::nanos(l.max() as f64)
    );
    for (reason, n) in r.failures_by_reason() {
        let _ = writeln!(out, "  Invalid:      {n} × {reason}");
    }
    let missed: Vec<&str> = checks
        .iter()
        .filter(|c| !c.passed)
        .map(|c| c.name)
        .collect();
    if missed.is_empty() {
        out.push_str("✓ Stress test passed!\n");
    } else {
        let _ = writeln!(
            out,
            "✗ Stress test missed the seed's thresholds: {}",
            missed.join(", ")
        );
    }
    out
}

/// The result as one JSON object (the seed's five fields, details, and the thresholds), with a
/// trailing newline.
pub fn json(r: &StressTestResult, checks: &[Threshold]) -> String {
    let l = &r.latency_ns;
    let value = json!({
        "operation_count": r.operation_count,
        "duration_ms": r.duration_ms,
        "ops_per_sec": r.ops_per_sec,
        "peak_memory_mb": r.peak_memory_mb,
        "success_rate": r.success_rate,
        "threads": r.threads,
        "successes": r.successes,
        "failures": r.failures.len(),
        "build_duration_ms": r.build_duration.as_secs_f64() * 1e3,
        "peak_memory_bytes": r.peak_memory_bytes,
        "memory_method": method_key(r.memory_method),
        "latency_ns": {
            "count": l.count(),
            "min": l.min(),
            "p50": l.p50(),
            "p90": l.p90(),
            "p99": l.p99(),
            "max": l.max(),
            "mean": l.mean(),
        },
        "thresholds": checks.iter().map(|c| json!({
            "name": c.name,
            "value": c.value,
            "limit": c.limit,
            "passed": c.passed,
        })).collect::<Vec<_>>(),
        "passed": checks.iter().all(|c| c.passed),
    });
    format!("{value}\n")
}
