//! `HealthDashboard` recording: exact totals from many threads through one shared dashboard,
//! what the registry exports, caps and refusals.

use super::super::{
    DashboardError, ERROR_RATE_GAUGE, ERRORS_METRIC, HEALTH_STATUS_GAUGE, HealthDashboard,
    LATENCY_AVG_GAUGE, LATENCY_METRIC, OPERATIONS_METRIC, OTHER_OPERATION, RESIDENT_MEMORY_GAUGE,
    THROUGHPUT_GAUGE,
};
use super::Rng;
use aureon_telemetry::{Registry, Unit};
use std::collections::BTreeMap;
use std::sync::Arc;

#[test]
fn many_threads_through_one_dashboard_give_exact_totals() {
    let dashboard = Arc::new(HealthDashboard::new("aureon-node"));
    let ops = ["header_add", "block_proposal", "tx_validation"];
    let kinds = ["Timeout", "Invalid"];
    let threads = 8u64;
    let per_thread = 5_000u64;
    let handles: Vec<_> = (0..threads)
        .map(|k| {
            let d = Arc::clone(&dashboard);
            std::thread::spawn(move || {
                // Each thread replays a deterministic script and returns what it did, so the
                // expected totals are counted outside the dashboard.
                let mut rng = Rng::new(k);
                let mut did: Vec<(usize, Option<usize>, u64)> = Vec::new();
                for _ in 0..per_thread {
                    let op = rng.below(3) as usize;
                    let latency = 50 + rng.below(5_000);
                    d.record_latency(ops[op], latency);
                    let kind = (rng.below(20) == 0).then(|| rng.below(2) as usize);
                    match kind {
                        Some(kind) => d.record_error(ops[op], kinds[kind]),
                        None => d.record_operation(ops[op]),
                    }
                    did.push((op, kind, latency));
                }
                did
            })
        })
        .collect();
    let mut all: Vec<(usize, Option<usize>, u64)> = Vec::new();
    for h in handles {
        all.extend(h.join().unwrap());
    }

    let n = threads * per_thread;
    let total_errors = all.iter().filter(|(_, k, _)| k.is_some()).count() as u64;
    assert_eq!(dashboard.error_tracker.total_operations(), n);
    assert_eq!(dashboard.error_tracker.total_errors(), total_errors);
    assert_eq!(dashboard.throughput().total_operations(), n);
    let latency_sum: u64 = all.iter().map(|&(_, _, l)| l).sum();
    assert_eq!(
        dashboard.calculate_avg_latency(),
        latency_sum as f64 / n as f64
    );

    let snap = dashboard.registry().snapshot();
    let summaries = dashboard.operation_summaries();
    assert_eq!(summaries.len(), 3);
    for (i, op) in ops.iter().enumerate() {
        let mine: Vec<&(usize, Option<usize>, u64)> =
            all.iter().filter(|(o, _, _)| *o == i).collect();
        let latencies: Vec<u64> = mine.iter().map(|&&(_, _, l)| l).collect();
        let s = summaries.iter().find(|s| s.name == *op).unwrap();
        assert_eq!(s.operations, mine.len() as u64, "{op}");
        assert_eq!(s.latency.count, mine.len() as u64);
        assert_eq!(s.latency.min, *latencies.iter().min().unwrap());
        assert_eq!(s.latency.max, *latencies.iter().max().unwrap());
        assert_eq!(
            s.latency.mean,
            latencies.iter().sum::<u64>() as f64 / latencies.len() as f64
        );
        assert_eq!(
            snap.counter_with(OPERATIONS_METRIC, &[("op", op)]),
            Some(mine.len() as u64)
        );
        let h = snap.histogram_with(LATENCY_METRIC, &[("op", op)]).unwrap();
        assert_eq!(
            h.sum(),
            latencies.iter().map(|&l| u128::from(l)).sum::<u128>()
        );
        for (k, kind) in kinds.iter().enumerate() {
            let expected = mine.iter().filter(|(_, kk, _)| *kk == Some(k)).count() as u64;
            let exported = snap
                .counter_with(ERRORS_METRIC, &[("op", op), ("kind", kind)])
                .unwrap_or(0);
            assert_eq!(exported, expected, "{op} {kind}");
        }
    }
}

#[test]
fn the_registry_exports_the_agreed_names_units_and_help() {
    let registry = Registry::new();
    let dashboard = HealthDashboard::with_registry("svc", registry.clone()).unwrap();
    dashboard.record_latency("sync", 1200);
    dashboard.record_operation("sync");
    dashboard.record_error("sync", "Timeout");

    let snap = registry.snapshot();
    let h = snap
        .histogram_with(LATENCY_METRIC, &[("op", "sync")])
        .unwrap();
    assert_eq!(h.config().unit, Unit::Microseconds);
    assert_eq!((h.count(), h.max()), (1, 1200));
    assert_eq!(
        snap.counter_with(OPERATIONS_METRIC, &[("op", "sync")]),
        Some(2)
    );
    assert_eq!(
        snap.counter_with(ERRORS_METRIC, &[("op", "sync"), ("kind", "Timeout")]),
        Some(1)
    );
    for name in [
        LATENCY_METRIC,
        OPERATIONS_METRIC,
        ERRORS_METRIC,
        LATENCY_AVG_GAUGE,
        ERROR_RATE_GAUGE,
        THROUGHPUT_GAUGE,
        HEALTH_STATUS_GAUGE,
        RESIDENT_MEMORY_GAUGE,
    ] {
        assert!(
            snap.description(name).is_some_and(|d| !d.is_empty()),
            "{name} has no help text"
        );
        assert!(
            !name.ends_with("_seconds"),
            "{name}: units are the exporter's business"
        );
    }
    assert_eq!(
        snap.description(HEALTH_STATUS_GAUGE).unwrap(),
        "Health status at the last evaluation: 0 healthy, 1 degraded, 2 unhealthy."
    );
    // Before any evaluation the window gauges hold no figure.
    for gauge in [
        LATENCY_AVG_GAUGE,
        ERROR_RATE_GAUGE,
        THROUGHPUT_GAUGE,
        RESIDENT_MEMORY_GAUGE,
    ] {
        assert!(snap.gauge(gauge).unwrap().is_nan(), "{gauge}");
    }
    assert_eq!(snap.gauge(HEALTH_STATUS_GAUGE), Some(0.0));

    dashboard.update_health_status();
    let snap = registry.snapshot();
    assert_eq!(snap.gauge(LATENCY_AVG_GAUGE), Some(1200.0));
    assert_eq!(snap.gauge(ERROR_RATE_GAUGE), Some(0.5));
    assert_eq!(
        snap.gauge(HEALTH_STATUS_GAUGE),
        Some(2.0),
        "50% errors is past the 5% alert"
    );
    assert_eq!(snap.registration_errors(), 0);
}

#[test]
fn a_registry_already_holding_a_dashboard_is_refused() {
    let registry = Registry::new();
    let _first = HealthDashboard::with_registry("a", registry.clone()).unwrap();
    let err = HealthDashboard::with_registry("b", registry).unwrap_err();
    assert_eq!(err, DashboardError::RegistryInUse);
    assert!(err.to_string().contains("own registry"));
}

#[test]
fn operations_past_the_cap_and_empty_names_fold_into_other() {
    let dashboard = HealthDashboard::builder("svc")
        .max_operations(2)
        .build()
        .unwrap();
    dashboard.record_operation("a");
    dashboard.record_operation("b");
    dashboard.record_operation("c");
    dashboard.record_latency("", 10);
    assert!(matches!(
        dashboard.try_operation("d"),
        Err(DashboardError::TooManyOperations { limit: 2, .. })
    ));
    assert_eq!(
        dashboard.try_operation("").unwrap_err(),
        DashboardError::EmptyOperation
    );
    assert_eq!(dashboard.operation("e").name(), OTHER_OPERATION);
    assert_eq!(dashboard.operation("a").name(), "a");

    let by_name: BTreeMap<String, u64> = dashboard
        .operation_summaries()
        .into_iter()
        .map(|s| (s.name, s.operations + s.latency.count))
        .collect();
    assert_eq!(
        by_name,
        BTreeMap::from([
            ("a".into(), 1),
            ("b".into(), 1),
            (OTHER_OPERATION.into(), 2)
        ])
    );
    assert_eq!(
        dashboard.error_tracker.total_operations(),
        3,
        "nothing was dropped"
    );
}

#[test]
fn operation_handles_record_like_the_named_methods() {
    let dashboard = HealthDashboard::new("svc");
    let h = dashboard.try_operation("sync").unwrap();
    h.record_latency(300);
    h.record_operation();
    h.record_error("Timeout");
    let s = &dashboard.operation_summaries()[0];
    assert_eq!(
        (s.name.as_str(), s.operations, s.errors, s.latency.count),
        ("sync", 2, 1, 1)
    );
    assert_eq!(dashboard.error_tracker.total_operations(), 2);
    assert_eq!(dashboard.throughput().total_operations(), 2);
}

#[test]
fn evaluating_while_threads_record_neither_blocks_nor_miscounts() {
    let dashboard = Arc::new(HealthDashboard::new("svc"));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let evaluator = {
        let (d, stop) = (Arc::clone(&dashboard), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut evaluations = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let e = d.update_health_status();
                assert!(e.errors <= e.operations);
                let _ = d.generate_report();
                evaluations += 1;
            }
            evaluations
        })
    };
    let workers: Vec<_> = (0..4)
        .map(|k| {
            let d = Arc::clone(&dashboard);
            std::thread::spawn(move || {
                for i in 0..20_000u64 {
                    d.record_latency("op", 100 + (i + k) % 900);
                    if i % 50 == 0 {
                        d.record_error("op", "E")
                    } else {
                        d.record_operation("op")
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(evaluator.join().unwrap() > 0);
    assert_eq!(dashboard.error_tracker.total_operations(), 80_000);
    assert_eq!(dashboard.error_tracker.total_errors(), 4 * 400);
    let last = dashboard.update_health_status();
    assert!(last.window > std::time::Duration::ZERO);
}
