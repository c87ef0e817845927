//! Health rules, status transitions, alerts with hold and hysteresis, and baseline
//! degradation, on a manual clock so every window is exact.

use super::super::{
    AlertPolicy, BaselineRule, Check, DashboardError, HealthDashboard, HealthEvaluation,
    HealthRules, HealthStatus, Level, Limit, ManualClock, RulesError,
};
use super::nearest_rank;
use std::sync::Arc;
use std::time::Duration;

const MIB: u64 = 1024 * 1024;
const MINUTE: Duration = Duration::from_secs(60);

/// A dashboard on a manual clock with a fixed memory reading.
fn dashboard(
    rules: HealthRules,
    policy: AlertPolicy,
    memory: Option<u64>,
) -> (Arc<ManualClock>, HealthDashboard) {
    let clock = Arc::new(ManualClock::new());
    let d = HealthDashboard::builder("svc")
        .clock(clock.clone())
        .rules(rules)
        .alert_policy(policy)
        .memory_probe(Arc::new(move || memory))
        .build()
        .unwrap();
    (clock, d)
}

/// Default rules without throughput and baseline, to look at one rule at a time.
fn error_rules() -> HealthRules {
    HealthRules {
        throughput_ops_sec: None,
        baseline: None,
        ..HealthRules::default()
    }
}

/// One minute of traffic: `ops` operations of which `errors` fail, then an evaluation.
fn minute(clock: &ManualClock, d: &HealthDashboard, ops: u64, errors: u64) -> HealthEvaluation {
    for i in 0..ops {
        if i < errors {
            d.record_error("work", "Failed")
        } else {
            d.record_operation("work")
        }
    }
    clock.advance(MINUTE);
    d.update_health_status()
}

#[test]
fn limits_classify_at_and_around_their_thresholds() {
    let upper = Limit::at_most(0.01, 0.05);
    assert_eq!(upper.level(0.0099), Level::Ok);
    assert_eq!(
        upper.level(0.01),
        Level::Warning,
        "the target is '< 1%': 1% is not within it"
    );
    assert_eq!(
        upper.level(0.05),
        Level::Warning,
        "the alert is '> 5%': 5% is not past it"
    );
    assert_eq!(upper.level(0.0501), Level::Critical);
    let lower = Limit::at_least(100.0, 50.0);
    assert_eq!(lower.level(100.5), Level::Ok);
    assert_eq!(lower.level(100.0), Level::Warning);
    assert_eq!(lower.level(50.0), Level::Warning);
    assert_eq!(lower.level(49.9), Level::Critical);
}

#[test]
fn status_goes_healthy_degraded_unhealthy_healthy_while_the_alert_holds_and_clears() {
    let (clock, d) = dashboard(error_rules(), AlertPolicy::default(), Some(100 * MIB));
    let e = minute(&clock, &d, 1000, 0);
    assert_eq!(
        (e.status, e.operations, e.window),
        (HealthStatus::Healthy, 1000, MINUTE)
    );
    assert!(e.firing.is_empty() && e.pending.is_empty());

    // 2% errors: between the 1% target and the 5% alert.
    let e = minute(&clock, &d, 1000, 20);
    assert_eq!(
        (e.status, e.errors, e.error_rate),
        (HealthStatus::Degraded, 20, Some(0.02))
    );
    assert!(d.status == HealthStatus::Degraded);
    assert!(e.pending.is_empty(), "degraded is not an alert");

    // 10% errors for three evaluations: Unhealthy at once, the alert only at the third.
    for held in 1..=3u32 {
        let e = minute(&clock, &d, 1000, 100);
        assert_eq!(e.status, HealthStatus::Unhealthy);
        assert_eq!(e.error_rate, Some(0.1), "the window holds only this minute");
        if held < 3 {
            assert_eq!(e.pending, [(Check::ErrorRate, held)]);
            assert!(e.fired.is_empty() && e.firing.is_empty());
        } else {
            assert_eq!(e.fired.len(), 1);
            assert_eq!(e.fired[0].check, Check::ErrorRate);
            assert_eq!(
                e.fired[0].since,
                MINUTE * 3,
                "the breach began at the first 10% minute"
            );
            assert_eq!(e.fired[0].fired_at, MINUTE * 5);
        }
    }

    // Back to 2%: Degraded, but the alert keeps firing until the rate is within target.
    let e = minute(&clock, &d, 1000, 20);
    assert_eq!(e.status, HealthStatus::Degraded);
    assert_eq!(e.firing.len(), 1);
    assert!(e.resolved.is_empty());

    // 0.5%: Healthy, and the alert clears.
    let e = minute(&clock, &d, 1000, 5);
    assert_eq!(e.status, HealthStatus::Healthy);
    assert_eq!(e.resolved.len(), 1);
    assert!(e.firing.is_empty());
    assert!(d.status == HealthStatus::Healthy);
    assert!(d.firing_alerts().is_empty());
}

#[test]
fn one_bad_interval_neither_pages_nor_flaps() {
    let (clock, d) = dashboard(error_rules(), AlertPolicy::default(), None);
    for round in 0..5 {
        let bad = minute(&clock, &d, 1000, 300);
        assert_eq!(bad.status, HealthStatus::Unhealthy, "round {round}");
        assert_eq!(bad.pending, [(Check::ErrorRate, 1)]);
        let good = minute(&clock, &d, 1000, 0);
        assert_eq!(good.status, HealthStatus::Healthy);
        assert!(good.pending.is_empty() && good.firing.is_empty() && good.fired.is_empty());
    }
}

#[test]
fn an_alert_can_be_held_for_a_duration_instead_of_a_count() {
    let policy = AlertPolicy {
        hold_evaluations: 1,
        hold_for: Duration::from_secs(120),
    };
    let (clock, d) = dashboard(error_rules(), policy, None);
    let fired_at: Vec<usize> = (0..4)
        .map(|_| minute(&clock, &d, 100, 50))
        .enumerate()
        .filter(|(_, e)| !e.fired.is_empty())
        .map(|(i, _)| i)
        .collect();
    // Breach from t = 60 s; 120 s later is the evaluation at t = 180 s, the third.
    assert_eq!(fired_at, [2]);
}

#[test]
fn a_fresh_dashboard_at_20_percent_errors_is_unhealthy_at_its_first_update() {
    let d = HealthDashboard::new("svc");
    for i in 0..10 {
        if i < 2 {
            d.record_error("op", "E")
        } else {
            d.record_operation("op")
        }
    }
    let e = d.update_health_status();
    assert_eq!(e.status, HealthStatus::Unhealthy);
    assert_eq!(e.error_rate, Some(0.2));
    assert_eq!(
        e.reasons()[0].detail,
        "error rate 20% is above the 5% alert threshold"
    );
}

#[test]
fn latency_percentiles_degrade_and_break_health_with_independent_figures() {
    let (clock, d) = dashboard(error_rules(), AlertPolicy::default(), None);
    // 100 samples: 94 at 1 ms, 6 at 7 ms -> p95 (95th smallest) = 7 ms: between 5 and 10 ms;
    // p99 = 7 ms: within 10 ms.
    let mut samples: Vec<u64> = [vec![1_000; 94], vec![7_000; 6]].concat();
    for &s in &samples {
        d.record_latency("op", s);
    }
    clock.advance(MINUTE);
    let e = d.update_health_status();
    samples.sort_unstable();
    assert_eq!(e.latency_p95_us, Some(nearest_rank(&samples, 0.95)));
    assert_eq!(e.latency_p95_us, Some(7_000));
    assert_eq!(e.status, HealthStatus::Degraded);
    assert_eq!(e.reasons().len(), 1);
    assert_eq!(e.reasons()[0].check, Check::LatencyP95);
    assert!(
        e.skipped.iter().any(|s| s.check == Check::ErrorRate),
        "no operations were counted"
    );

    // Next minute: 100 samples, 2 of them at 25 ms -> p99 = 25 ms > 20 ms.
    let next: Vec<u64> = [vec![1_000; 98], vec![25_000; 2]].concat();
    for &s in &next {
        d.record_latency("op", s);
    }
    clock.advance(MINUTE);
    let e = d.update_health_status();
    assert_eq!(
        e.latency_samples, 100,
        "only the last minute is in the window"
    );
    assert_eq!(e.latency_p99_us, Some(25_000));
    assert_eq!(e.latency_p95_us, Some(1_000));
    assert_eq!(e.status, HealthStatus::Unhealthy);
    assert_eq!(
        e.latency_avg_us,
        Some((98.0 * 1_000.0 + 2.0 * 25_000.0) / 100.0)
    );
}

#[test]
fn throughput_is_judged_only_after_enough_time_and_against_the_seed_table() {
    let rules = HealthRules {
        baseline: None,
        ..HealthRules::default()
    };
    let cases = [
        (6_060, HealthStatus::Healthy),
        (6_000, HealthStatus::Degraded),
        (3_000, HealthStatus::Degraded),
        (2_999, HealthStatus::Unhealthy),
    ];
    for (ops, status) in cases {
        let (clock, d) = dashboard(rules.clone(), AlertPolicy::default(), None);
        d.throughput().record_operations(ops);
        clock.advance(Duration::from_millis(500));
        let early = d.update_health_status();
        assert!(
            early
                .skipped
                .iter()
                .any(|s| s.check == Check::Throughput && s.reason.contains("500ms observed"))
        );
        clock.advance(Duration::from_millis(59_500));
        let e = d.update_health_status();
        assert_eq!(e.throughput_ops_sec, Some(ops as f64 / 60.0), "{ops}");
        assert_eq!(e.status, status, "{ops} ops in 60 s");
    }
}

#[test]
fn the_memory_rule_uses_the_probe_and_is_skipped_without_a_reading() {
    for (memory, status) in [
        (Some(100 * MIB), HealthStatus::Healthy),
        (Some(400 * MIB), HealthStatus::Degraded),
        (Some(600 * MIB), HealthStatus::Unhealthy),
    ] {
        let (_, d) = dashboard(error_rules(), AlertPolicy::default(), memory);
        let e = d.update_health_status();
        assert_eq!(e.status, status, "{memory:?}");
        assert_eq!(e.memory_bytes, memory);
    }
    let (_, d) = dashboard(error_rules(), AlertPolicy::default(), None);
    let e = d.update_health_status();
    assert_eq!(e.status, HealthStatus::Healthy);
    assert!(e.skipped.iter().any(|s| s.check == Check::Memory));
    assert!(
        d.registry()
            .snapshot()
            .gauge("aureon_process_resident_memory_bytes")
            .unwrap()
            .is_nan()
    );
}

#[test]
fn a_slow_rise_under_every_threshold_is_caught_against_the_baseline() {
    let rules = HealthRules {
        throughput_ops_sec: None,
        ..HealthRules::default()
    };
    let (clock, d) = dashboard(
        rules,
        AlertPolicy {
            hold_evaluations: 2,
            hold_for: Duration::ZERO,
        },
        None,
    );
    let interval = |us: u64| {
        for _ in 0..200 {
            d.record_latency("block", us);
        }
        clock.advance(MINUTE);
        d.update_health_status()
    };
    for _ in 0..5 {
        assert_eq!(interval(1_000).status, HealthStatus::Healthy);
    }
    // p99 2.5 ms: far under the 10 ms target, but 2.5× the last five minutes' 1 ms.
    let e = interval(2_500);
    assert_eq!(e.status, HealthStatus::Degraded);
    let reason = e.reasons()[0];
    assert_eq!(reason.check, Check::Baseline { op: "block".into() });
    assert_eq!(reason.value, 2.5);
    assert_eq!(
        reason.detail,
        "block p99 2.5ms in the last interval is 2.5× its baseline 1ms"
    );
    assert_eq!(e.pending, [(Check::Baseline { op: "block".into() }, 1)]);
    // Still 2.5 ms: against a baseline that now holds one 2.5 ms minute of six, whose p99
    // is 2.5 ms: ratio 1, not degraded; the pending alert is dropped.
    let e = interval(2_500);
    assert_eq!(e.status, HealthStatus::Healthy);
    assert!(e.pending.is_empty());
}

#[test]
fn too_few_samples_never_trigger_the_baseline() {
    let rules = HealthRules {
        throughput_ops_sec: None,
        ..HealthRules::default()
    };
    let (clock, d) = dashboard(rules, AlertPolicy::default(), None);
    for us in [1_000, 1_000, 1_000, 50_000] {
        // 10 samples per interval: below the 20 the rule needs.
        for _ in 0..10 {
            d.record_latency("op", us);
        }
        clock.advance(MINUTE);
        let e = d.update_health_status();
        assert!(
            e.findings
                .iter()
                .all(|f| !matches!(f.check, Check::Baseline { .. }))
        );
    }
}

#[test]
fn invalid_rules_are_refused_with_the_reason() {
    let build = |rules: HealthRules| {
        HealthDashboard::builder("svc")
            .rules(rules)
            .build()
            .map(|_| ())
    };
    let bad = |rules: HealthRules| match build(rules) {
        Err(DashboardError::InvalidRules(e)) => e,
        other => panic!("expected invalid rules, got {other:?}"),
    };
    let d = HealthRules::default;
    assert!(matches!(
        bad(HealthRules {
            error_rate: Some(Limit::at_most(0.1, 0.05)),
            ..d()
        }),
        RulesError::InvalidLimit {
            check: Check::ErrorRate,
            ..
        }
    ));
    assert!(matches!(
        bad(HealthRules {
            latency_p99_us: Some(Limit::at_most(f64::NAN, 1.0)),
            ..d()
        }),
        RulesError::InvalidLimit { .. }
    ));
    assert_eq!(
        bad(HealthRules {
            throughput_ops_sec: Some(Limit::at_most(1.0, 2.0)),
            ..d()
        }),
        RulesError::WrongDirection(Check::Throughput)
    );
    assert_eq!(
        bad(HealthRules {
            window: Duration::ZERO,
            ..d()
        }),
        RulesError::InvalidWindow(Duration::ZERO)
    );
    assert_eq!(
        bad(HealthRules {
            min_operations: 0,
            ..d()
        }),
        RulesError::ZeroMinimum
    );
    let e = bad(HealthRules {
        baseline: Some(BaselineRule {
            clear_ratio: 3.0,
            ..BaselineRule::default()
        }),
        ..d()
    });
    assert!(e.to_string().contains("clear_ratio"), "{e}");
    assert!(
        build(HealthRules {
            memory_bytes: None,
            throughput_ops_sec: None,
            baseline: None,
            ..d()
        })
        .is_ok()
    );
}

#[test]
fn the_history_stays_bounded_however_often_health_is_evaluated() {
    let (clock, d) = dashboard(HealthRules::default(), AlertPolicy::default(), None);
    for _ in 0..20_000 {
        d.record_operation("op");
        clock.advance(Duration::from_millis(50));
        d.update_health_status();
    }
    // Kept: 600 s of baseline at one ledger per 60 s / 64, plus the edges.
    let bound = (600.0 / (60.0 / 64.0)) as usize + 3;
    assert!(d.ledger_count() <= bound, "{} ledgers", d.ledger_count());
    let e = d.update_health_status();
    assert!(
        e.window >= MINUTE && e.window < MINUTE + Duration::from_secs(1),
        "{:?}",
        e.window
    );
    // One operation per 50 ms, each counted in the first ledger taken after it.
    assert_eq!(e.operations, (e.window.as_secs_f64() * 20.0).round() as u64);
}
