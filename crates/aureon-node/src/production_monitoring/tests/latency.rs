//! `LatencyTracker` against independent references: sorted arrays (exact statistics) and the
//! `hdrhistogram` crate (quantiles), from one thread and many.

use super::super::{LatencyTracker, QuantileError};
use super::{Rng, nearest_rank};
use std::sync::Arc;

#[test]
fn empty_tracker_reports_zeros_and_no_samples() {
    let t = LatencyTracker::new("idle");
    assert_eq!(t.sample_count(), 0);
    assert_eq!(
        (
            t.min_latency(),
            t.max_latency(),
            t.p95_latency(),
            t.p99_latency()
        ),
        (0, 0, 0, 0)
    );
    assert_eq!(t.average_latency(), 0.0);
    assert_eq!(t.name(), "idle");
}

#[test]
fn exact_statistics_and_hdr_quantiles_match_references_on_random_data() {
    let mut rng = Rng::new(7);
    let t = LatencyTracker::new("random");
    let mut reference =
        hdrhistogram::Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
    let mut values = Vec::new();
    for _ in 0..20_000 {
        // Log-uniform-ish spread over 1 µs .. ~1 s, where bins are coarse.
        let magnitude = rng.below(20);
        let v = 1 + rng.below(1 << magnitude);
        t.record_latency_us(v);
        reference.record(v).unwrap();
        values.push(v);
    }
    values.sort_unstable();
    let stats = t.stats();
    assert_eq!(stats.count, values.len() as u64);
    assert_eq!(stats.min, values[0]);
    assert_eq!(stats.max, *values.last().unwrap());
    let exact_mean =
        values.iter().map(|&v| u128::from(v)).sum::<u128>() as f64 / values.len() as f64;
    assert!(
        (stats.mean - exact_mean).abs() <= exact_mean * 1e-12,
        "{} vs {exact_mean}",
        stats.mean
    );
    assert_eq!(t.value_at_quantile(0.0).unwrap(), values[0]);
    for q in [0.1, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0] {
        let got = t.value_at_quantile(q).unwrap();
        // The crate's answer is the highest value equivalent to the nearest-rank bin; ours is
        // the same, limited to the exact [min, max].
        let hdr = reference
            .value_at_quantile(q)
            .clamp(values[0], *values.last().unwrap());
        assert_eq!(got, hdr, "q = {q}");
        // And within the bin's relative error (3 significant figures) of the exact rank.
        let exact = nearest_rank(&values, q);
        assert!(
            got >= exact && (got - exact) as f64 <= exact as f64 / 1000.0 + 1.0,
            "q = {q}: {got} vs {exact}"
        );
    }
}

#[test]
fn quantiles_outside_zero_to_one_are_refused() {
    let t = LatencyTracker::new("q");
    t.record_latency_us(10);
    assert_eq!(
        t.value_at_quantile(1.5),
        Err(QuantileError { quantile: 1.5 })
    );
    assert_eq!(
        t.value_at_quantile(-0.1).unwrap_err().to_string(),
        "quantile -0.1 is not in 0.0 ..= 1.0"
    );
    for q in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        assert!(t.value_at_quantile(q).is_err(), "{q}");
    }
    assert_eq!(t.value_at_quantile(0.5), Ok(10));
}

#[test]
fn values_above_an_hour_keep_exact_max_and_mean() {
    let t = LatencyTracker::new("huge");
    t.record_latency_us(u64::MAX);
    t.record_latency_us(1);
    assert_eq!(t.max_latency(), u64::MAX);
    assert_eq!(t.min_latency(), 1);
    assert_eq!(t.average_latency(), (u128::from(u64::MAX) + 1) as f64 / 2.0);
    assert_eq!(t.snapshot().clamped(), 1);
    assert_eq!(t.p99_latency(), u64::MAX);
}

#[test]
fn durations_are_recorded_in_whole_microseconds() {
    let t = LatencyTracker::new("d");
    t.record_duration(std::time::Duration::from_nanos(2_999));
    assert_eq!(t.max_latency(), 2);
}

#[test]
fn concurrent_recording_loses_nothing() {
    let t = Arc::new(LatencyTracker::new("shared"));
    let threads = 8u64;
    let per_thread = 10_000u64;
    let handles: Vec<_> = (0..threads)
        .map(|k| {
            let t = Arc::clone(&t);
            std::thread::spawn(move || {
                for i in 0..per_thread {
                    t.record_latency_us(1 + k * per_thread + i);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    // Values 1 ..= 80_000, each once.
    let n = threads * per_thread;
    let s = t.stats();
    assert_eq!(s.count, n);
    assert_eq!((s.min, s.max), (1, n));
    assert_eq!(s.mean, (n + 1) as f64 / 2.0);
    assert_eq!(t.snapshot().sum(), u128::from(n) * u128::from(n + 1) / 2);
}
