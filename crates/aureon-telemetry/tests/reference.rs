//! Histogram results against independent references: the `hdrhistogram` crate fed the same
//! values, and exact statistics computed from sorted arrays.

use aureon_telemetry::{Histogram, HistogramConfig, Unit};
use hdrhistogram::Histogram as Reference;

/// A deterministic, dependency-free stream of values spread over several octaves.
fn values(n: usize, seed: u64) -> Vec<u64> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // 2^(6..22): 64 µs .. ~4 s, log-uniform.
            let octave = 6 + (x % 16);
            (1u64 << octave) + (x >> 20) % (1u64 << octave)
        })
        .collect()
}

const N: usize = if cfg!(miri) { 300 } else { 100_000 };

fn reference_of(vs: &[u64], config: &HistogramConfig) -> Reference<u64> {
    let mut r = Reference::new_with_bounds(
        config.lowest_discernible,
        config.highest_trackable,
        config.significant_figures,
    )
    .unwrap();
    for &v in vs {
        r.record(v).unwrap();
    }
    r
}

#[test]
fn exact_count_min_max_mean_and_sum_match_a_sorted_array() {
    let h = Histogram::with_default_config();
    let mut vs = values(N, 7);
    for &v in &vs {
        h.record(v);
    }
    let s = h.snapshot();
    vs.sort_unstable();
    let sum: u128 = vs.iter().map(|&v| u128::from(v)).sum();
    assert_eq!(s.count(), N as u64);
    assert_eq!(s.min(), vs[0]);
    assert_eq!(s.max(), *vs.last().unwrap());
    assert_eq!(s.sum(), sum);
    assert_eq!(s.mean(), sum as f64 / N as f64);
    assert_eq!(s.clamped(), 0);
}

#[test]
fn quantiles_equal_hdrhistogram_and_lie_in_the_true_values_bucket() {
    let config = HistogramConfig::default();
    let h = Histogram::new(config).unwrap();
    let mut vs = values(N, 11);
    for &v in &vs {
        h.record(v);
    }
    let s = h.snapshot();
    let r = reference_of(&vs, &config);
    vs.sort_unstable();
    for q in [
        0.0, 0.001, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 0.9999, 1.0,
    ] {
        let ours = s.value_at_quantile(q);
        let theirs = r.value_at_quantile(q);
        // Same bins, same rank rule; ours is additionally limited to the exact [min, max].
        assert_eq!(ours, theirs.clamp(s.min(), s.max()), "q = {q}");
        // And the true nearest-rank value lies in the same bin.
        let rank = ((q * N as f64).ceil() as usize).max(1);
        let exact = vs[rank - 1];
        assert!(
            r.equivalent(ours, exact),
            "q = {q}: {ours} vs exact {exact}"
        );
    }
    // The named percentiles against the reference too, not against `value_at_quantile`.
    for (ours, q) in [
        (s.p50(), 0.5),
        (s.p90(), 0.9),
        (s.p95(), 0.95),
        (s.p99(), 0.99),
        (s.p999(), 0.999),
    ] {
        assert_eq!(
            ours,
            r.value_at_quantile(q).clamp(s.min(), s.max()),
            "q = {q}"
        );
    }
}

#[test]
fn conversion_to_hdrhistogram_is_exact_bin_for_bin() {
    let config = HistogramConfig {
        lowest_discernible: 1,
        highest_trackable: 1 << 40,
        significant_figures: 2,
        unit: Unit::Nanoseconds,
    };
    let h = Histogram::new(config).unwrap();
    let vs = values(N, 3);
    for &v in &vs {
        h.record(v);
    }
    let ours = h.snapshot().to_hdrhistogram();
    let theirs = reference_of(&vs, &config);
    assert_eq!(ours.len(), theirs.len());
    let a: Vec<(u64, u64)> = ours
        .iter_recorded()
        .map(|v| (v.value_iterated_to(), v.count_at_value()))
        .collect();
    let b: Vec<(u64, u64)> = theirs
        .iter_recorded()
        .map(|v| (v.value_iterated_to(), v.count_at_value()))
        .collect();
    assert_eq!(a, b);
}

#[test]
// Arithmetic against the reference, minutes under Miri; the unsafe paths it drives are
// exercised by the other tests, which Miri runs.
#[cfg_attr(miri, ignore)]
fn stdev_matches_hdrhistogram_within_bin_precision() {
    let h = Histogram::with_default_config();
    let vs = values(N, 5);
    for &v in &vs {
        h.record(v);
    }
    let s = h.snapshot();
    let r = reference_of(&vs, &HistogramConfig::default());
    let rel = (s.stdev() - r.stdev()).abs() / r.stdev();
    assert!(rel < 1e-3, "{} vs {}", s.stdev(), r.stdev());
}

#[test]
fn record_n_equals_n_records() {
    let a = Histogram::with_default_config();
    let b = Histogram::with_default_config();
    for (v, n) in [(5, 3), (1000, 10), (123_456, 1), (7, 0)] {
        a.record_n(v, n);
        for _ in 0..n {
            b.record(v);
        }
    }
    assert_eq!(a.snapshot(), b.snapshot());
}

#[test]
// Arithmetic against the reference, minutes under Miri; the unsafe paths it drives are
// exercised by the other tests, which Miri runs.
#[cfg_attr(miri, ignore)]
fn coordinated_omission_correction_matches_hdrhistogram() {
    let config = HistogramConfig::default();
    let h = Histogram::new(config).unwrap();
    // The same corrections through a thread-bound recorder, into a second histogram.
    let l = Histogram::new(config).unwrap();
    let local = l.local();
    let mut r = reference_of(&[], &config);
    let mut expected_sum: u128 = 0;
    let mut expected_count = 0u64;
    for (v, interval) in [
        (10_000, 100),
        (250, 100),
        (100, 100),
        (99, 100),
        (5_000_000, 1_000),
        (77_777, 3),
        (42, 0),
    ] {
        h.record_corrected(v, interval);
        local.record_corrected(v, interval);
        r.record_correct(v, interval).unwrap();
        // Independent expansion of the definition: v, v - i, v - 2i, ... while >= i.
        expected_sum += u128::from(v);
        expected_count += 1;
        if interval > 0 && v > interval {
            let mut missing = v - interval;
            while missing >= interval {
                expected_sum += u128::from(missing);
                expected_count += 1;
                missing -= interval;
            }
        }
    }
    let s = h.snapshot();
    assert_eq!(s.count(), r.len());
    assert_eq!(s.count(), expected_count);
    assert_eq!(s.sum(), expected_sum);
    assert_eq!(s.min(), 5); // 77_777 - k*3 >= 3 ends at 5 (77_777 = 2 mod 3)
    assert_eq!(s.max(), 5_000_000);
    let ours: Vec<(u64, u64)> = s
        .to_hdrhistogram()
        .iter_recorded()
        .map(|v| (v.value_iterated_to(), v.count_at_value()))
        .collect();
    let theirs: Vec<(u64, u64)> = r
        .iter_recorded()
        .map(|v| (v.value_iterated_to(), v.count_at_value()))
        .collect();
    assert_eq!(ours, theirs);
    assert_eq!(l.snapshot(), s);
}

#[test]
// Arithmetic against the reference, minutes under Miri; the unsafe paths it drives are
// exercised by the other tests, which Miri runs.
#[cfg_attr(miri, ignore)]
fn huge_corrections_are_bounded_and_exact() {
    // 2^50 / 1 synthesized values: one record each would never finish.
    let h = Histogram::with_default_config();
    h.record_corrected(1 << 50, 1);
    let s = h.snapshot();
    let n = (1u64 << 50) - 1 + 1; // v itself plus v-1 .. 1
    assert_eq!(s.count(), n);
    assert_eq!(s.min(), 1);
    assert_eq!(s.max(), 1 << 50);
    let v = 1u128 << 50;
    assert_eq!(s.sum(), v * (v + 1) / 2);
    // Everything above the trackable range was clamped, and counted as such.
    assert_eq!(
        s.clamped(),
        (1u64 << 50) - HistogramConfig::default().highest_trackable
    );
}

#[test]
fn extreme_values_keep_counts_exact_without_panicking() {
    let h = Histogram::with_default_config();
    for v in [0, 1, u64::MAX, u64::MAX, 3_600_000_001, 3_600_000_000] {
        h.record(v);
    }
    h.record_n(u64::MAX, u64::MAX);
    let s = h.snapshot();
    assert_eq!(s.count(), u64::MAX, "counts saturate rather than wrap");
    let h = Histogram::with_default_config();
    for v in [0, 1, u64::MAX, u64::MAX, 3_600_000_001, 3_600_000_000] {
        h.record(v);
    }
    let s = h.snapshot();
    assert_eq!(s.count(), 6);
    assert_eq!(s.min(), 0);
    assert_eq!(s.max(), u64::MAX);
    assert_eq!(s.clamped(), 3);
    assert_eq!(
        s.sum(),
        2 * u128::from(u64::MAX) + 3_600_000_001 + 3_600_000_000 + 1
    );
    assert_eq!(s.value_at_quantile(1.0), u64::MAX);
    assert_eq!(s.value_at_quantile(0.0), 0);
    // Out-of-range quantiles are clamped, NaN is 0.
    assert_eq!(s.value_at_quantile(7.0), u64::MAX);
    assert_eq!(s.value_at_quantile(-1.0), 0);
    assert_eq!(s.value_at_quantile(f64::NAN), 0);
}

/// A shard's page starts with 32-bit counts and is widened when a count would pass 2^32; a
/// snapshot's merged counts widen the same way when a sum does. Neither may lose a count.
#[test]
fn counts_past_32_bits_stay_exact_across_widening() {
    let config = HistogramConfig::default();
    let h = Histogram::new(config).unwrap();
    let mut reference = Reference::<u64>::new_with_bounds(
        config.lowest_discernible,
        config.highest_trackable,
        config.significant_figures,
    )
    .unwrap();
    let near = u64::from(u32::MAX) - 5;
    // Two threads, each close to the 32-bit limit in the same bin, then crossing it one
    // record at a time (the hot path's overflow check), plus a neighbour on the same page.
    let before = std::thread::scope(|s| {
        let a = s.spawn(|| {
            h.record_n(1000, near);
            let before = h.snapshot();
            for _ in 0..10 {
                h.record(1000);
            }
            h.record(1001);
            before
        });
        let b = s.spawn(|| {
            h.record_n(1000, u64::from(u32::MAX));
            h.record_n(2000, 3);
        });
        b.join().unwrap();
        a.join().unwrap()
    });
    reference
        .record_n(1000, near + 10 + u64::from(u32::MAX))
        .unwrap();
    reference.record_n(1001, 1).unwrap();
    reference.record_n(2000, 3).unwrap();
    let after = h.snapshot();
    assert_eq!(after.count(), reference.len());
    assert!(after.count() > u64::from(u32::MAX) * 2);
    let bins: Vec<(u64, u64)> = after.bins().map(|b| (b.high, b.count)).collect();
    let expected: Vec<(u64, u64)> = reference
        .iter_recorded()
        .map(|v| (v.value_iterated_to(), v.count_at_value()))
        .collect();
    assert_eq!(bins.len(), expected.len());
    for ((lo, n), (hi, m)) in bins.iter().zip(&expected) {
        assert_eq!(n, m);
        assert!(reference.equivalent(*lo, *hi));
    }
    assert_eq!(
        after.value_at_quantile(0.5),
        reference.value_at_quantile(0.5)
    );
    assert_eq!(after.to_hdrhistogram().len(), reference.len());
    // The earlier snapshot never exceeds the later one, bin by bin.
    assert!(before.count() >= near && before.count() <= after.count());
    let delta = after.delta_since(&before);
    assert_eq!(delta.count(), after.count() - before.count());
    // Past 64 bits a count saturates instead of wrapping.
    h.record_n(1000, u64::MAX);
    assert_eq!(h.snapshot().count(), u64::MAX);
}

#[test]
fn the_seed_latency_example_has_correct_figures() {
    let h = Histogram::with_default_config();
    for v in [1500, 2300, 980, 1200, 5500] {
        h.record(v);
    }
    let s = h.snapshot();
    assert_eq!(s.count(), 5);
    assert_eq!(s.mean(), 11_480.0 / 5.0);
    assert_eq!((s.min(), s.max()), (980, 5500));
    assert_eq!(s.p95(), 5500);
    assert_eq!(s.p99(), 5500);
    assert_eq!(s.p50(), 1500);
}

#[test]
// Arithmetic against the reference, minutes under Miri; the unsafe paths it drives are
// exercised by the other tests, which Miri runs.
#[cfg_attr(miri, ignore)]
fn delta_and_merge_are_exact() {
    let h = Histogram::with_default_config();
    let vs = values(2000, 9);
    for &v in &vs[..1000] {
        h.record(v);
    }
    let before = h.snapshot();
    for &v in &vs[1000..] {
        h.record(v);
    }
    let after = h.snapshot();
    let delta = after.delta_since(&before);
    let second = reference_of(&vs[1000..], &HistogramConfig::default());
    assert_eq!(delta.count(), 1000);
    assert_eq!(
        delta.sum(),
        vs[1000..].iter().map(|&v| u128::from(v)).sum::<u128>()
    );
    for q in [0.5, 0.9, 0.99] {
        assert!(second.equivalent(delta.value_at_quantile(q), second.value_at_quantile(q)));
    }
    let mut merged = before.clone();
    assert!(merged.merge(&delta));
    assert_eq!(merged.count(), after.count());
    assert_eq!(merged.sum(), after.sum());
    assert_eq!(merged.to_hdrhistogram(), after.to_hdrhistogram());
    let other = Histogram::new(HistogramConfig {
        significant_figures: 2,
        ..Default::default()
    })
    .unwrap();
    assert!(
        !merged.merge(&other.snapshot()),
        "different layouts do not merge"
    );
}

#[test]
fn count_at_or_below_counts_whole_bins() {
    let h = Histogram::with_default_config();
    let vs = values(N.min(10_000), 13);
    for &v in &vs {
        h.record(v);
    }
    let s = h.snapshot();
    let r = reference_of(&vs, &HistogramConfig::default());
    for le in [100, 1000, 5000, 100_000, 1_000_000, u64::MAX] {
        // A value counts when its whole bin is <= le.
        let expected = vs
            .iter()
            .filter(|&&v| r.highest_equivalent(v) <= le)
            .count() as u64;
        assert_eq!(s.count_at_or_below(le), expected, "le = {le}");
    }
}

#[test]
fn timers_and_durations_record_in_the_histograms_unit() {
    let h = Histogram::new(HistogramConfig::with_unit(Unit::Nanoseconds)).unwrap();
    h.record_duration(std::time::Duration::from_micros(3));
    let t = h.start_timer();
    let elapsed = t.stop();
    h.start_timer().cancel();
    {
        let _t = h.start_timer();
    }
    let s = h.snapshot();
    assert_eq!(s.count(), 3);
    assert!(
        s.min() <= 3000,
        "the timers ran for less than the recorded 3 µs duration"
    );
    assert!(s.max() >= 3000);
    assert!(u128::from(s.max()) >= elapsed.as_nanos().min(3000));
}

#[test]
fn exemplars_keep_the_slowest_ids() {
    let (h, l) = (
        Histogram::with_default_config(),
        Histogram::with_default_config(),
    );
    let local = l.local();
    for (i, v) in [10, 500, 20, 900, 30, 700, 40, 800].into_iter().enumerate() {
        h.record_with_exemplar(v, i as u64);
        local.record_with_exemplar(v, i as u64);
    }
    for s in [h.snapshot(), l.snapshot()] {
        assert_eq!(s.count(), 8);
        let got: Vec<(u64, u64)> = s.exemplars().iter().map(|e| (e.value, e.id)).collect();
        assert_eq!(got, vec![(900, 3), (800, 7), (700, 5), (500, 1)]);
    }
}

#[test]
fn memory_follows_the_values_used_not_the_configured_range() {
    let h = Histogram::with_default_config();
    // One octave of values touches a handful of 1 KiB pages, not the 184 KiB dense array.
    for v in 1000..2000 {
        h.record(v);
    }
    let bytes = h.heap_bytes();
    assert!(bytes < 16 * 1024, "{bytes} bytes for one octave");
    assert_eq!(h.snapshot().count(), 1000);
}
