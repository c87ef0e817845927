//! The report: the seed's example in full on a manual clock, and what it says when the
//! status is not Healthy.

use super::super::{AlertPolicy, HealthDashboard, HealthRules, ManualClock};
use std::sync::Arc;
use std::time::Duration;

const MIB: u64 = 1024 * 1024;

fn dashboard(rules: HealthRules, policy: AlertPolicy) -> (Arc<ManualClock>, HealthDashboard) {
    let clock = Arc::new(ManualClock::new());
    let d = HealthDashboard::builder("aureon-node")
        .clock(clock.clone())
        .rules(rules)
        .alert_policy(policy)
        .memory_probe(Arc::new(|| Some(64 * MIB)))
        .build()
        .unwrap();
    (clock, d)
}

#[test]
fn the_seed_dashboard_report_in_full() {
    let (clock, d) = dashboard(HealthRules::default(), AlertPolicy::default());
    for i in 0..10 {
        d.record_latency("header_add", 100 + i * 10);
    }
    d.record_operation("block_proposal");
    d.record_operation("block_proposal");
    d.record_error("consensus", "TooManyValidators");
    for _ in 0..100 {
        d.record_operation("tx_validation");
    }
    clock.advance(Duration::from_millis(250));
    d.update_health_status();
    let expected = "\
═══════════════════════════════════════
Service: aureon-node
Status: Healthy
═══════════════════════════════════════

Operations:
  header_add: avg 145µs (p95: 190µs, p99: 190µs)
  block_proposal: 2 ops
  consensus: 1 ops, error rate 100.00% (TooManyValidators: 1)
  tx_validation: 100 ops

Overall Metrics:
  Avg Latency: 145µs
  Error Rate: 0.97%
  Throughput: n/a (only 250ms observed, 1s needed)
  Memory: 64MiB resident
  Status: Healthy (<1% errors, p95 <5ms, p99 <10ms, memory <300MiB)
═══════════════════════════════════════
";
    assert_eq!(d.generate_report(), expected);

    // A minute later, throughput is known: 103 operations over 60 s is below the 50 ops/s
    // alert threshold of the seed's table, so the same service is now Unhealthy, and says so.
    clock.advance(Duration::from_millis(59_750));
    d.update_health_status();
    let report = d.generate_report();
    assert!(report.contains("Status: Unhealthy\n"), "{report}");
    assert!(
        report.contains("  Throughput: 1.7 ops/s (last 60s)\n"),
        "{report}"
    );
    assert!(report.contains("  Status: Unhealthy, because:\n    - throughput 1.7 ops/s is below the 50 ops/s alert threshold\n"), "{report}");
}

#[test]
fn an_unhealthy_report_gives_every_reason_worst_first_and_the_firing_alerts() {
    let rules = HealthRules {
        throughput_ops_sec: None,
        baseline: None,
        ..HealthRules::default()
    };
    let (clock, d) = dashboard(
        rules,
        AlertPolicy {
            hold_evaluations: 2,
            hold_for: Duration::ZERO,
        },
    );
    for _ in 0..2 {
        for i in 0..100u64 {
            // 3% errors (Degraded) and p99 of 30 ms (Unhealthy).
            if i < 3 {
                d.record_error("sync", "Timeout")
            } else {
                d.record_operation("sync")
            }
            d.record_latency("sync", if i < 2 { 30_000 } else { 800 });
        }
        clock.advance(Duration::from_secs(30));
        d.update_health_status();
    }
    let report = d.generate_report();
    assert!(
        report.contains(
            "  sync: 200 ops, error rate 3.00% (Timeout: 6), avg 1.4ms (p95: 800µs, p99: 30ms)\n"
        ),
        "{report}"
    );
    assert!(report.contains(
        "  Status: Unhealthy, because:\n    - p99 latency 30ms is above the 20ms alert threshold\n    - error rate 3% is not below the 1% target (alert above 5%)\n"
    ), "{report}");
    assert!(report.contains("  Alerts firing:\n    - p99 latency 30ms is above the 20ms alert threshold (breach began 30s ago)\n"), "{report}");
}

#[test]
fn a_report_before_any_evaluation_or_any_data_says_so() {
    let (_, d) = dashboard(HealthRules::default(), AlertPolicy::default());
    let report = d.generate_report();
    assert!(report.contains("Operations:\n  (none recorded)\n"));
    assert!(report.contains("  Avg Latency: n/a (no latency recorded)\n"));
    assert!(report.contains("  Error Rate: n/a (no operations)\n"));
    assert!(report.contains("  Status: not evaluated yet (call update_health_status)\n"));
}
