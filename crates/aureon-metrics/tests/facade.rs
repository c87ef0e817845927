//! Integration tests of the recorder through the `metrics` macros: exact counts from several
//! threads, labels, name mapping, unit scaling (against an independent `hdrhistogram`),
//! describe order, bad values, `absolute`, and held handles leaving the registry alone.
//!
//! Every test uses its own registry and `metrics::with_local_recorder`, so tests run in
//! parallel without a global recorder.

use aureon_metrics::{AureonRecorder, DROPPED_VALUES_METRIC, IGNORED_UNITS_METRIC};
use aureon_telemetry::{MetricError, Registry, Unit};
use metrics::{
    counter, describe_counter, describe_histogram, gauge, histogram, with_local_recorder,
};
use std::thread;

fn recorder() -> (Registry, AureonRecorder) {
    let registry = Registry::new();
    (registry.clone(), AureonRecorder::new(registry))
}

#[test]
fn macros_from_several_threads_produce_exact_counts() {
    const THREADS: u64 = 4;
    const N: u64 = 20_000;
    let (registry, recorder) = recorder();
    thread::scope(|s| {
        for t in 0..THREADS {
            let recorder = &recorder;
            s.spawn(move || {
                with_local_recorder(recorder, || {
                    // Unheld (a registration per call) and held handles must both be exact.
                    let held = counter!("jobs.done", "path" => "held");
                    let latency = histogram!("job.latency");
                    for i in 0..N {
                        counter!("jobs.done", "path" => "macro").increment(1);
                        held.increment(2);
                        latency.record((t * N + i + 1) as f64 * 1e-6); // 1 µs .. THREADS*N µs
                    }
                });
            });
        }
    });
    let snap = registry.snapshot();
    assert_eq!(
        snap.counter_with("jobs_done", &[("path", "macro")]),
        Some(THREADS * N)
    );
    assert_eq!(
        snap.counter_with("jobs_done", &[("path", "held")]),
        Some(2 * THREADS * N)
    );
    let h = snap.histogram("job_latency").unwrap();
    let total = THREADS * N;
    assert_eq!(h.count(), total);
    assert_eq!((h.min(), h.max()), (1_000, total * 1_000));
    // Sum of 1..=total microseconds, in nanoseconds: exact because every value is a whole ns.
    assert_eq!(
        h.sum(),
        u128::from(total) * u128::from(total + 1) / 2 * 1_000
    );
    assert_eq!(snap.registration_errors(), 0);
}

#[test]
fn labels_map_to_the_registrys_labelled_metrics() {
    let (registry, recorder) = recorder();
    with_local_recorder(&recorder, || {
        counter!("http.requests", "method" => "GET", "status" => "200").increment(5);
        counter!("http.requests", "status" => "200", "method" => "GET").increment(1);
        counter!("http.requests", "method" => "POST", "status" => "500").increment(2);
        let route = String::from("/blocks");
        counter!("http.requests", "method" => "GET", "status" => "200", "route" => route)
            .increment(7);
        gauge!("queue.depth", "queue.name" => "ingest").set(12.5);
        histogram!("rpc.latency", "rpc-method" => "get").record(0.25);
    });
    let snap = registry.snapshot();
    assert_eq!(
        snap.counter_with("http_requests", &[("method", "GET"), ("status", "200")]),
        Some(6)
    );
    assert_eq!(
        snap.counter_with("http_requests", &[("status", "500"), ("method", "POST")]),
        Some(2)
    );
    assert_eq!(
        snap.counter_with(
            "http_requests",
            &[("method", "GET"), ("status", "200"), ("route", "/blocks")]
        ),
        Some(7)
    );
    assert_eq!(snap.family("http_requests").count(), 3);
    assert_eq!(
        snap.gauge_with("queue_depth", &[("queue_name", "ingest")]),
        Some(12.5)
    );
    let h = snap
        .histogram_with("rpc_latency", &[("rpc_method", "get")])
        .unwrap();
    assert_eq!((h.count(), h.min()), (1, 250_000_000));
    assert_eq!(snap.len(), 5);
}

#[test]
fn prometheus_invalid_names_are_mapped_and_unfixable_ones_refused_without_panic() {
    let (registry, recorder) = recorder();
    with_local_recorder(&recorder, || {
        counter!("http.requests").increment(1);
        counter!("http_requests").increment(1); // the same metric after mapping
        counter!("2xx-responses").increment(1);
    });
    let snap = registry.snapshot();
    assert_eq!(snap.counter("http_requests"), Some(2));
    assert_eq!(snap.counter("_xx_responses"), Some(1));
    assert_eq!(snap.registration_errors(), 0);

    let refused: [(&str, fn()); 4] = [
        ("empty name", || counter!("").increment(1)),
        ("reserved label", || {
            counter!("ok", "__meta" => "x").increment(1)
        }),
        ("labels that collide", || {
            counter!("ok", "a.b" => "1", "a_b" => "2").increment(1)
        }),
        ("kind clash", || gauge!("http.requests").set(1.0)),
    ];
    for (i, (what, record)) in refused.into_iter().enumerate() {
        with_local_recorder(&recorder, record);
        assert_eq!(
            registry.snapshot().registration_errors(),
            i as u64 + 1,
            "{what}"
        );
    }
    assert_eq!(
        registry.last_registration_error(),
        Some(MetricError::KindMismatch {
            name: "http_requests".into(),
            existing: aureon_telemetry::MetricKind::Counter,
            requested: aureon_telemetry::MetricKind::Gauge,
        })
    );
    // Refused metrics are not exported, and nothing else changed.
    let snap = registry.snapshot();
    assert_eq!(snap.counter("http_requests"), Some(2));
    assert_eq!(snap.len(), 2);
}

/// A small deterministic generator, so the test needs no extra crate.
fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn seconds_scale_to_nanoseconds_with_hdr_precision_against_an_independent_hdrhistogram() {
    let (registry, recorder) = recorder();
    let mut reference =
        hdrhistogram::Histogram::<u64>::new_with_bounds(1, i64::MAX as u64, 3).unwrap();
    let mut state = 0x9E37_79B9_7F4A_7C15;
    // The reference's min and max are bin bounds; the core's are exact, so track them here.
    let (mut min, mut max) = (u64::MAX, 0);
    with_local_recorder(&recorder, || {
        describe_histogram!("op.time", metrics::Unit::Seconds, "operation time");
        let h = histogram!("op.time");
        for _ in 0..50_000 {
            // Integer nanoseconds spread over 1 ns .. ~1 hour (log-uniform-ish), given to the
            // facade as f64 seconds; the reference gets the integers themselves.
            let r = xorshift(&mut state);
            let nanos = (r >> 20) % (1 << (r % 42)) + 1;
            reference.record(nanos).unwrap();
            (min, max) = (min.min(nanos), max.max(nanos));
            h.record(nanos as f64 / 1e9);
        }
    });
    let snap = registry.snapshot();
    let h = snap.histogram("op_time").unwrap();
    assert_eq!(h.config().unit, Unit::Nanoseconds);
    assert_eq!(h.count(), reference.len());
    assert_eq!((h.min(), h.max()), (min, max));
    for q in [0.0, 0.001, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 1.0] {
        // Same bins as the reference, limited to the exact range as the core documents.
        let expected = reference.value_at_quantile(q).clamp(min, max);
        assert_eq!(h.value_at_quantile(q), expected, "q = {q}");
    }
    assert_eq!(snap.description("op_time"), Some("operation time"));
}

#[test]
fn each_unit_scales_to_its_storage_unit() {
    let (registry, recorder) = recorder();
    // (name, unit, value recorded, storage unit, integer expected: worked out by hand)
    let cases = [
        (
            "t_s",
            metrics::Unit::Seconds,
            1.5,
            Unit::Nanoseconds,
            1_500_000_000,
        ),
        (
            "t_ms",
            metrics::Unit::Milliseconds,
            2.5,
            Unit::Nanoseconds,
            2_500_000,
        ),
        (
            "t_us",
            metrics::Unit::Microseconds,
            0.75,
            Unit::Nanoseconds,
            750,
        ),
        (
            "t_ns",
            metrics::Unit::Nanoseconds,
            99.6,
            Unit::Nanoseconds,
            100,
        ),
        ("size_b", metrics::Unit::Bytes, 512.0, Unit::Bytes, 512),
        ("size_kib", metrics::Unit::Kibibytes, 4.0, Unit::Bytes, 4096),
        (
            "size_mib",
            metrics::Unit::Mebibytes,
            0.5,
            Unit::Bytes,
            524_288,
        ),
        ("batch", metrics::Unit::Count, 37.0, Unit::None, 37),
        ("ratio", metrics::Unit::Percent, 42.4, Unit::None, 42),
        (
            "link",
            metrics::Unit::MegabitsPerSecond,
            2.5,
            Unit::None,
            2_500_000,
        ),
    ];
    with_local_recorder(&recorder, || {
        for (name, unit, _, _, _) in cases {
            describe_histogram!(name, unit, "");
        }
        for (name, _, value, _, _) in cases {
            histogram!(name).record(value);
        }
    });
    let snap = registry.snapshot();
    for (name, _, _, storage, expected) in cases {
        let h = snap.histogram(name).unwrap();
        assert_eq!(
            (h.config().unit, h.count(), h.min()),
            (storage, 1, expected),
            "{name}"
        );
    }
}

#[test]
fn undescribed_histograms_default_to_seconds_and_the_default_can_be_changed() {
    let (registry, recorder) = recorder();
    let count_registry = Registry::new();
    let counts = AureonRecorder::builder(count_registry.clone())
        .undescribed_histograms(metrics::Unit::Count)
        .build();
    with_local_recorder(&recorder, || {
        histogram!("elapsed").record(std::time::Duration::from_micros(1500))
    });
    with_local_recorder(&counts, || histogram!("batch").record(37.0));
    let h = registry.snapshot().histogram("elapsed").cloned().unwrap();
    assert_eq!((h.config().unit, h.min()), (Unit::Nanoseconds, 1_500_000));
    let h = count_registry
        .snapshot()
        .histogram("batch")
        .cloned()
        .unwrap();
    assert_eq!((h.config().unit, h.min()), (Unit::None, 37));
}

#[test]
fn a_unit_described_after_first_registration_is_not_applied_and_is_counted() {
    let (registry, recorder) = recorder();
    with_local_recorder(&recorder, || {
        let early = histogram!("late.unit");
        early.record(2.0); // undescribed: seconds
        describe_histogram!(
            "late.unit",
            metrics::Unit::Milliseconds,
            "too late for the unit"
        );
        describe_histogram!(
            "late.unit",
            metrics::Unit::Seconds,
            "same scale: no conflict"
        );
        histogram!("late.unit").record(3.0); // still seconds: one scale per name
        early.record(4.0);
    });
    let seconds = aureon_metrics::HistogramScale::for_unit(metrics::Unit::Seconds);
    assert_eq!(recorder.histogram_scale("late.unit"), seconds);
    let snap = registry.snapshot();
    let h = snap.histogram("late_unit").unwrap();
    assert_eq!(
        (h.count(), h.min(), h.max()),
        (3, 2_000_000_000, 4_000_000_000)
    );
    assert_eq!(
        snap.counter_with(IGNORED_UNITS_METRIC, &[("metric", "late_unit")]),
        Some(1)
    );
    // Help text is not order-sensitive: the last description wins.
    assert_eq!(
        snap.description("late_unit"),
        Some("same scale: no conflict")
    );
}

#[test]
fn a_unit_described_first_fixes_the_scale_and_descriptions_reach_the_registry() {
    let (registry, recorder) = recorder();
    with_local_recorder(&recorder, || {
        describe_histogram!("db.query", metrics::Unit::Milliseconds, "query time");
        describe_counter!("db.queries", metrics::Unit::Count, "queries run");
        histogram!("db.query", "table" => "blocks").record(2.5);
        counter!("db.queries").increment(1);
    });
    let snap = registry.snapshot();
    let h = snap
        .histogram_with("db_query", &[("table", "blocks")])
        .unwrap();
    assert_eq!(h.min(), 2_500_000);
    assert_eq!(snap.description("db_query"), Some("query time"));
    assert_eq!(snap.description("db_queries"), Some("queries run"));
    assert_eq!(
        snap.len(),
        2,
        "no bookkeeping metric when nothing went wrong"
    );
}

#[test]
fn bad_histogram_values_are_dropped_and_counted_and_huge_ones_clamped() {
    let (registry, recorder) = recorder();
    with_local_recorder(&recorder, || {
        let h = histogram!("weird");
        for v in [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -1.0,
            -1e-12,
            1e300,
            0.5,
        ] {
            h.record(v);
        }
        h.record_many(f64::NAN, 5);
        h.record_many(0.25, 3);
    });
    let snap = registry.snapshot();
    let h = snap.histogram("weird").unwrap();
    // Kept: -1e-12 (rounds to 0 ns), 1e300 (saturates, clamped), 0.5, and 3 × 0.25.
    assert_eq!((h.count(), h.min(), h.clamped()), (6, 0, 1));
    let dropped = |reason| {
        snap.counter_with(
            DROPPED_VALUES_METRIC,
            &[("metric", "weird"), ("reason", reason)],
        )
    };
    assert_eq!(
        (dropped("nan"), dropped("infinite"), dropped("negative")),
        (Some(6), Some(2), Some(1))
    );
}

#[test]
fn absolute_keeps_the_largest_value_under_races_and_never_goes_back() {
    let (registry, recorder) = recorder();
    with_local_recorder(&recorder, || {
        // Fresh handles each time: the mark is per key, not per handle.
        for v in [10, 5, 12, 12, 0] {
            counter!("mirrored").absolute(v);
        }
    });
    assert_eq!(registry.snapshot().counter("mirrored"), Some(12));

    const MAX: u64 = 5_000;
    thread::scope(|s| {
        for t in 0..4u64 {
            let recorder = &recorder;
            s.spawn(move || {
                with_local_recorder(recorder, || {
                    let c = counter!("raced", "k" => "v");
                    for i in 0..=MAX {
                        // Each thread walks the values in another order; stale ones must add nothing.
                        let v = if t % 2 == 0 { i } else { MAX - i };
                        c.absolute(v);
                    }
                });
            });
        }
    });
    assert_eq!(
        registry.snapshot().counter_with("raced", &[("k", "v")]),
        Some(MAX)
    );

    with_local_recorder(&recorder, || {
        counter!("mixed").increment(3);
        counter!("mixed").absolute(10);
        counter!("mixed").absolute(7);
    });
    assert_eq!(
        registry.snapshot().counter("mixed"),
        Some(13),
        "increments + largest absolute"
    );
}

#[test]
fn gauges_set_and_add_exactly_from_several_threads() {
    let (registry, recorder) = recorder();
    thread::scope(|s| {
        for _ in 0..2 {
            let recorder = &recorder;
            s.spawn(move || {
                with_local_recorder(recorder, || {
                    let g = gauge!("in.flight");
                    for _ in 0..10_000 {
                        g.increment(1.0);
                    }
                    for _ in 0..2_500 {
                        g.decrement(2.0);
                    }
                });
            });
        }
    });
    assert_eq!(registry.snapshot().gauge("in_flight"), Some(10_000.0));
    with_local_recorder(&recorder, || gauge!("in.flight").set(-3.5));
    assert_eq!(registry.snapshot().gauge("in_flight"), Some(-3.5));
}

#[test]
fn held_handles_record_exactly_without_touching_the_registry() {
    const PER_THREAD: u64 = 100_000;
    let (registry, recorder) = recorder();
    let (counter, histogram) = with_local_recorder(&recorder, || {
        (counter!("hot.count"), histogram!("hot.latency"))
    });
    let before = registry.len();
    thread::scope(|s| {
        for _ in 0..2 {
            let (counter, histogram) = (counter.clone(), histogram.clone());
            // No recorder at all in these threads: the handles alone must do the work.
            s.spawn(move || {
                for i in 0..PER_THREAD {
                    counter.increment(1);
                    histogram.record((i % 1000 + 1) as f64 * 1e-6);
                }
            });
        }
    });
    assert_eq!(registry.len(), before);
    let snap = registry.snapshot();
    assert_eq!(snap.counter("hot_count"), Some(2 * PER_THREAD));
    let h = snap.histogram("hot_latency").unwrap();
    assert_eq!(
        (h.count(), h.min(), h.max()),
        (2 * PER_THREAD, 1_000, 1_000_000)
    );
    assert_eq!(snap.registration_errors(), 0);
}

#[test]
fn a_label_explosion_stops_at_the_registrys_cap_and_every_record_is_kept() {
    let registry = Registry::builder().max_label_sets(10).build();
    let recorder = AureonRecorder::new(registry.clone());
    with_local_recorder(&recorder, || {
        for _round in 0..2 {
            for id in 0..100 {
                counter!("requests", "peer" => format!("p{id}")).increment(1);
            }
        }
    });
    let snap = registry.snapshot();
    // The 10 accepted label sets plus the name's overflow series.
    assert_eq!(snap.family("requests").count(), 11);
    // Every increment is exported: 2 per accepted label set, and the 90 others' 180 in the
    // overflow series.
    let exported: u64 = snap
        .family("requests")
        .map(|(_, v)| match v {
            aureon_telemetry::MetricValue::Counter(c) => *c,
            _ => 0,
        })
        .sum();
    assert_eq!(exported, 200);
    assert_eq!(
        snap.counter_with("requests", &[aureon_telemetry::OVERFLOW_LABEL]),
        Some(180)
    );
    // Each over-cap registration is still refused and counted.
    assert_eq!(snap.registration_errors(), 180);
    assert!(matches!(
        registry.last_registration_error(),
        Some(MetricError::TooManyLabelSets { limit: 10, .. })
    ));
}

/// The cap case through the facade: `max_label_sets(4)`, ten label sets of 100
/// records each, for a counter and a histogram.
#[test]
fn ten_label_sets_under_a_cap_of_four_sum_to_everything_recorded() {
    let registry = Registry::builder().max_label_sets(4).build();
    let recorder = AureonRecorder::new(registry.clone());
    with_local_recorder(&recorder, || {
        for id in 0..10 {
            for _ in 0..100 {
                counter!("jobs", "queue" => format!("q{id}")).increment(1);
                histogram!("job_seconds", "queue" => format!("q{id}")).record(0.002);
            }
        }
    });
    let snap = registry.snapshot();
    let counters: u64 = snap
        .family("jobs")
        .map(|(_, v)| match v {
            aureon_telemetry::MetricValue::Counter(c) => *c,
            _ => 0,
        })
        .sum();
    assert_eq!(counters, 1000);
    let histogram_name = snap
        .iter()
        .map(|(k, _)| k.name().to_owned())
        .find(|n| n.starts_with("job_seconds"))
        .expect("the histogram is exported");
    let records: u64 = snap
        .family(&histogram_name)
        .map(|(_, v)| match v {
            aureon_telemetry::MetricValue::Histogram(h) => h.count(),
            _ => 0,
        })
        .sum();
    assert_eq!(records, 1000);
    for name in ["jobs", histogram_name.as_str()] {
        let overflow = snap
            .family(name)
            .filter(|(labels, _)| labels.get("otel_metric_overflow") == Some("true"))
            .count();
        assert_eq!(overflow, 1, "{name}");
    }
}

/// With idle expiry on, macros run for churning label sets (each recorded a few times, then
/// never again) leave nothing behind: the recorder drops its cached handles of expired
/// series, so the registry frees them, and the totals exported along the way (each series'
/// last exported value) equal what was recorded.
#[test]
fn with_idle_expiry_churning_macro_keys_are_freed_and_every_record_is_exported() {
    let registry = Registry::builder()
        .idle_timeout(std::time::Duration::ZERO)
        .build();
    let recorder = AureonRecorder::new(registry.clone());
    let mut last: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    let mut recorded = 0u64;
    let mut watch = |registry: &Registry| {
        for (key, value) in registry.snapshot().iter() {
            if let aureon_telemetry::MetricValue::Counter(v) = value
                && key.name() == "peer_messages"
            {
                let peer = key.labels().get("peer").expect("peer label").to_string();
                let prev = last.insert(peer, *v).unwrap_or(0);
                assert!(*v >= prev);
            }
        }
    };
    for round in 0..50u64 {
        with_local_recorder(&recorder, || {
            for peer in round * 20..round * 20 + 20 {
                for _ in 0..=(peer % 3) {
                    counter!("peer_messages", "peer" => peer.to_string()).increment(1);
                    recorded += 1;
                }
            }
        });
        watch(&registry);
    }
    // Passes until every series is idle and expired. Each round's calls dropped this
    // thread's cached handles of the series that had expired before it (the round before
    // last), so only the last two rounds' 40 are still held, by this thread's cache, until
    // its next facade call.
    for _ in 0..4 {
        watch(&registry);
    }
    assert_eq!(
        registry.len(),
        40,
        "only the last two rounds' series are held"
    );
    assert!(
        registry.snapshot().is_empty(),
        "and expired from every snapshot"
    );
    // The thread's next call (any key of this recorder) drops them; the passes free them.
    // Left: the series of that call, which this thread's cache holds in turn.
    with_local_recorder(&recorder, || counter!("peer_messages_rounds").increment(50));
    for _ in 0..4 {
        watch(&registry);
    }
    assert_eq!(registry.len(), 1, "{:?}", registry.snapshot());
    // A thread that exits takes its cache along: churn on a worker leaves nothing. (Joined
    // by its handle, not by a scope: a scope's implicit join may return before the thread's
    // thread-local destructors, which drop the cache, have run, rust-lang/rust#116179; an
    // explicit `join` waits for them. Optimised builds lose that race more often.)
    let worker_recorder = recorder.clone();
    std::thread::spawn(move || {
        with_local_recorder(&worker_recorder, || {
            counter!("peer_messages", "peer" => "worker").increment(7);
        })
    })
    .join()
    .expect("the worker records");
    recorded += 7;
    for _ in 0..4 {
        watch(&registry);
    }
    assert_eq!(registry.len(), 1, "the worker's series was freed");
    assert_eq!(last.len(), 1001);
    assert_eq!(last.values().sum::<u64>(), recorded);
}

/// A facade handle the caller holds across an expiry keeps recording into the same series:
/// it comes back with its old total plus the new records, `absolute` included.
#[test]
fn a_held_facade_handle_brings_its_series_back_with_its_total() {
    let registry = Registry::builder()
        .idle_timeout(std::time::Duration::ZERO)
        .build();
    let recorder = AureonRecorder::new(registry.clone());
    let (held, mirrored) = with_local_recorder(&recorder, || {
        let held = counter!("held_total");
        held.increment(5);
        let mirrored = counter!("mirrored_total");
        mirrored.absolute(40);
        (held, mirrored)
    });
    assert_eq!(registry.snapshot().counter("held_total"), Some(5));
    assert_eq!(registry.snapshot().counter("held_total"), None, "expired");
    held.increment(2);
    mirrored.absolute(30); // stale: adds nothing
    mirrored.absolute(45);
    let snap = registry.snapshot();
    assert_eq!(snap.counter("held_total"), Some(7));
    assert_eq!(snap.counter("mirrored_total"), Some(45));
    // A macro run again for the key finds the same series (its handle was dropped from the
    // cache at the expiry, the series was kept by `held`).
    with_local_recorder(&recorder, || counter!("held_total").increment(1));
    assert_eq!(registry.snapshot().counter("held_total"), Some(8));
}
