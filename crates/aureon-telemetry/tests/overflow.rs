//! The overflow series: past a name's label-set cap, records go to the name's series
//! labelled `otel_metric_overflow="true"`, so the series of a name sum to everything recorded.
//! Checked against tallies kept by the test, for every kind.

use aureon_telemetry::{MetricError, MetricValue, OVERFLOW_LABEL, Registry};

/// Ten label sets of 100 records each under a cap of 4: (label value, records).
fn ten_label_sets() -> impl Iterator<Item = String> {
    (0..10).map(|i| format!("peer{i}"))
}

#[test]
fn counters_past_the_cap_go_to_the_overflow_series_and_sum_exactly() {
    let r = Registry::builder().max_label_sets(4).build();
    for peer in ten_label_sets() {
        let c = r.counter_with("messages_total", &[("peer", &peer)]);
        for _ in 0..100 {
            c.increment(1);
        }
    }
    let snap = r.snapshot();
    let family: Vec<_> = snap.family("messages_total").collect();
    assert_eq!(
        family.len(),
        5,
        "4 label sets under the cap plus the overflow series"
    );
    let total: u64 = family
        .iter()
        .map(|(_, v)| match v {
            MetricValue::Counter(c) => *c,
            other => panic!("not a counter: {other:?}"),
        })
        .sum();
    assert_eq!(total, 1000);
    let overflow: Vec<_> = family
        .iter()
        .filter(|(labels, _)| labels.get(OVERFLOW_LABEL.0) == Some(OVERFLOW_LABEL.1))
        .collect();
    assert_eq!(overflow.len(), 1);
    assert_eq!(
        overflow[0].0.len(),
        1,
        "the overflow series has that one label only"
    );
    assert_eq!(
        snap.counter_with("messages_total", &[OVERFLOW_LABEL]),
        Some(600)
    );
    // Each refused label set is still counted and kept.
    assert_eq!(snap.registration_errors(), 6);
    assert!(matches!(
        r.last_registration_error(),
        Some(MetricError::TooManyLabelSets { limit: 4, .. })
    ));
    // The fallible method still refuses.
    assert!(matches!(
        r.try_counter("messages_total", &[("peer", "peer9")]),
        Err(MetricError::TooManyLabelSets { .. })
    ));
}

#[test]
fn histograms_overflow_the_same_way_with_exact_counts_and_extremes() {
    let r = Registry::builder().max_label_sets(4).build();
    let mut all = Vec::new();
    for (i, peer) in ten_label_sets().enumerate() {
        let h = r.histogram_with("rpc_latency_us", &[("peer", &peer)]);
        for k in 0..100u64 {
            // Spread over several decades: 10 µs .. ~10 s.
            let v = 10 * 10u64.pow((k % 7) as u32) + i as u64;
            h.record(v);
            all.push(v);
        }
    }
    let snap = r.snapshot();
    let mut count = 0;
    let mut sum = 0u128;
    let (mut min, mut max) = (u64::MAX, 0);
    for (_, v) in snap.family("rpc_latency_us") {
        let MetricValue::Histogram(h) = v else {
            panic!("not a histogram")
        };
        count += h.count();
        sum += h.sum();
        min = min.min(h.min());
        max = max.max(h.max());
    }
    assert_eq!(count, 1000);
    assert_eq!(sum, all.iter().map(|&v| u128::from(v)).sum::<u128>());
    assert_eq!(
        (min, max),
        (*all.iter().min().unwrap(), *all.iter().max().unwrap())
    );
    let overflow = snap
        .histogram_with("rpc_latency_us", &[OVERFLOW_LABEL])
        .unwrap();
    assert_eq!(overflow.count(), 600);
    // The overflow series merges exactly what the six refused label sets recorded.
    let mut reference = hdrhistogram::Histogram::<u64>::new_with_bounds(
        1,
        overflow.config().highest_trackable,
        overflow.config().significant_figures,
    )
    .unwrap();
    for v in &all[400..] {
        reference.record(*v).unwrap();
    }
    for q in [0.5, 0.9, 0.99, 1.0] {
        // Same bins and rank rule; ours is also limited to the exact [min, max].
        assert_eq!(
            overflow.value_at_quantile(q),
            reference
                .value_at_quantile(q)
                .clamp(overflow.min(), overflow.max()),
            "q={q}"
        );
    }
}

#[test]
fn gauges_overflow_last_write_wins() {
    let r = Registry::builder().max_label_sets(4).build();
    for (i, peer) in ten_label_sets().enumerate() {
        r.gauge_with("peer_height", &[("peer", &peer)])
            .set(i as f64);
    }
    let snap = r.snapshot();
    assert_eq!(snap.family("peer_height").count(), 5);
    assert_eq!(snap.gauge_with("peer_height", &[OVERFLOW_LABEL]), Some(9.0));
    assert_eq!(
        snap.gauge_with("peer_height", &[("peer", "peer3")]),
        Some(3.0)
    );
}

#[test]
fn kind_and_name_errors_stay_refusals() {
    let r = Registry::builder().max_label_sets(1).build();
    r.counter_with("jobs", &[("q", "a")]).increment(1);
    // Over the cap but the wrong kind: refused, not overflowed.
    r.gauge_with("jobs", &[("q", "b")]).set(1.0);
    r.counter_with("bad-name", &[("q", "b")]).increment(1);
    let snap = r.snapshot();
    assert_eq!(snap.len(), 1);
    assert_eq!(snap.registration_errors(), 2);
}

#[test]
fn an_overflow_series_takes_no_place_under_the_cap_and_overflows_records_from_racing_threads() {
    let r = Registry::builder().max_label_sets(2).build();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let r = r.clone();
            std::thread::spawn(move || {
                for i in 0..50 {
                    r.counter_with("hits_total", &[("k", &format!("{t}-{i}"))])
                        .increment(1);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let snap = r.snapshot();
    assert_eq!(snap.family("hits_total").count(), 3);
    let total: u64 = snap
        .family("hits_total")
        .map(|(_, v)| match v {
            MetricValue::Counter(c) => *c,
            _ => 0,
        })
        .sum();
    assert_eq!(total, 200);
    assert_eq!(
        snap.counter_with("hits_total", &[OVERFLOW_LABEL]),
        Some(198)
    );
}
