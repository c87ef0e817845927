//! `stress --json` runs the real header-chain stress test and reports figures that hold
//! together; the exit status follows the seed's thresholds.

mod common;

use common::{run, text};
use std::time::Duration;

#[test]
fn stress_json_parses_and_its_figures_hold_together() {
    let out = run(
        &["stress", "--headers", "2000", "--threads", "2", "--json"],
        Duration::from_secs(60),
    );
    let (stdout, stderr) = text(&out);
    let v: serde_json::Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}\n{stderr}"));
    let u = |k: &str| v[k].as_u64().unwrap_or_else(|| panic!("{k} in {v}"));
    let f = |k: &str| v[k].as_f64().unwrap_or_else(|| panic!("{k} in {v}"));
    assert_eq!(u("operation_count"), 2000);
    assert_eq!((u("successes"), u("failures")), (2000, 0));
    assert_eq!(f("success_rate"), 1.0);
    assert_eq!(u("threads"), 2);
    assert_eq!(v["latency_ns"]["count"].as_u64(), Some(2000));
    let lat = |k: &str| v["latency_ns"][k].as_u64().unwrap();
    assert!(lat("min") <= lat("p50") && lat("p50") <= lat("p99") && lat("p99") <= lat("max"));
    // Throughput is operations over the measured duration.
    let ops = f("ops_per_sec");
    assert!(ops > 0.0);
    let ms = u("duration_ms");
    if ms > 0 {
        let implied = 2000.0 / (ms as f64 / 1000.0);
        // duration_ms is truncated to whole milliseconds.
        assert!(
            ops >= implied * (ms as f64 / (ms as f64 + 1.0)) * 0.999 && ops <= implied * 1.001,
            "{ops} vs {implied}"
        );
    }
    let mb = f("peak_memory_mb");
    assert!(mb > 0.0 && mb < 100.0, "{mb}");
    assert!((mb * 1024.0 * 1024.0 - u("peak_memory_bytes") as f64).abs() < 1.0);
    // The verdict is the seed's three thresholds, and so is the exit status.
    let passed = ops > 10_000.0 && mb < 5.0 && f("success_rate") > 0.99;
    assert_eq!(v["passed"].as_bool(), Some(passed));
    assert_eq!(
        out.status.code(),
        Some(if passed { 0 } else { 3 }),
        "{stderr}"
    );
}

#[test]
fn stress_table_names_every_threshold() {
    let out = run(&["stress", "--headers", "500"], Duration::from_secs(60));
    let (stdout, _) = text(&out);
    for needle in [
        "Operations:   500",
        "Throughput:",
        "Peak memory:",
        "Success rate: 100.0%",
        "> 10000 ops/s",
        "< 5 MB",
        "> 99%",
    ] {
        assert!(stdout.contains(needle), "{needle:?} in:\n{stdout}");
    }
    let verdict = if out.status.success() {
        "Stress test passed"
    } else {
        "missed the seed's thresholds"
    };
    assert!(stdout.contains(verdict), "{stdout}");
}
