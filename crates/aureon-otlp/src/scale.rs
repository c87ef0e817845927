//! Exponential-histogram arithmetic: bucket indices, the choice of scale, and the error
//! bound that choice keeps.
//!
//! # From HDR bins to exponential buckets
//!
//! An OTLP exponential histogram of scale `m` has base `b = 2^(2^-m)`; bucket `i` holds the
//! values in `(b^i, b^(i+1)]`. The HDR snapshot holds bins `[lo, hi]` of integers. Each bin's
//! whole count goes to the one bucket that holds its *representative* `r = min(hi, max)`
//! (`max` the histogram's exact maximum; `r` is never below `lo`): the highest value the bin
//! can hold, which is also what HDR's quantiles report, so a value is never counted in a
//! bucket whose upper bound is below it. A bin whose `lo` is 0 (values HDR cannot tell
//! from 0) goes to the zero bucket, with `zero_threshold` the bin's `hi`.
//!
//! # The bound
//!
//! For a value `v` in bin `[lo, hi]` exported in bucket `(L, U]` (with `L < r <= U`,
//! `U = b·L`, `lo <= v, r <= hi`):
//!
//! ```text
//! U <  b·r  <= b·(hi/lo)·v          L >= r/b >= lo/b >= v/(b·hi/lo)
//! ```
//!
//! so every value of the bucket, either bound included, lies within a factor
//! `γ = b · (hi/lo)` of `v`: relative error at most `γ − 1`. HDR keeps
//! `H = 2^h` bins per power of two, `h = ceil(log2(2·10^d)) − 1` for `d` significant
//! figures (1024 for the default 3), and a bin of width `w` starts at `lo >= H·w`, so
//! `hi/lo = 1 + (w−1)/lo < 1 + 2^-h` (bins of width 1 are exact). Hence the bound
//! [`error_bound`] states:
//!
//! ```text
//! ε(m, d) = 2^(2^-m) · (1 + 2^-h) − 1
//! ```
//!
//! It holds for every value at or above `2^u · H` (`u = floor(log2(lowest_discernible))`),
//! which is every value for the default `lowest_discernible = 1`; below that an HDR bin is
//! wider than `1/H` of its start and the bin's own `hi/lo` replaces `1 + 2^-h`. Because the
//! bin-to-bucket map is monotone, the nearest-rank quantile read from the buckets lies in
//! the bucket of the raw array's nearest-rank value, so it is within the same factor. Values
//! above the trackable range (counted by HDR as clamped) go to the bucket of the exact
//! maximum; nothing bounds them from below but the range itself.
//!
//! # The choice of scale
//!
//! The finest useful scale is `h`: `2^h` buckets per power of two, as many as HDR has
//! bins, giving `ε(h) ≈ 1.69/H` (0.165 % at 3 significant figures); finer buckets would
//! only split HDR bins. A receiver limits the number of buckets (the OpenTelemetry SDK's
//! default `max_size` is 160), so [`choose_scale`] takes the largest scale `<= h` (or the
//! configured maximum) whose occupied index range fits in `max_buckets`. A histogram
//! spanning 1 µs to 10 ms (13.3 powers of two) fits 160 buckets at scale 3: `ε ≈ 9.2 %`.
//! The scale actually used is in every data point, and [`error_bound`] gives its `ε`.

use aureon_telemetry::HistogramConfig;
use std::num::NonZeroU64;

/// The smallest scale OTLP receivers accept (the OpenTelemetry SDK's `MinScale`).
pub const MIN_SCALE: i32 = -10;
/// The largest scale OTLP receivers accept (the OpenTelemetry SDK's `MaxScale`).
pub const MAX_SCALE: i32 = 20;

/// HDR's bins per power of two, as a power of two: `h = ceil(log2(2·10^d)) − 1` for `d`
/// significant figures (`crates/aureon-telemetry/src/layout.rs`,
/// `sub_bucket_half_count_magnitude`). 10 for the default 3 figures (1024 bins).
pub fn hdr_bins_per_octave_log2(config: &HistogramConfig) -> i32 {
    let largest_single_unit = 2 * 10_u64.pow(u32::from(config.significant_figures.min(5)));
    let sub_bucket_count_magnitude = u64::BITS - (largest_single_unit - 1).leading_zeros();
    sub_bucket_count_magnitude as i32 - 1
}

/// The finest scale worth exporting for this configuration: one exponential bucket per HDR
/// bin per power of two ([`hdr_bins_per_octave_log2`]).
pub fn finest_scale(config: &HistogramConfig) -> i32 {
    hdr_bins_per_octave_log2(config).clamp(MIN_SCALE, MAX_SCALE)
}

/// The relative error bound `ε(m, d) = 2^(2^-m) · (1 + 2^-h) − 1` of a histogram with
/// configuration `config` exported at `scale` (see the module docs for the derivation and
/// the values it covers): every bound of the bucket a value is counted in, and every
/// quantile read from the buckets, is within a factor `1 + ε` of the raw value.
pub fn error_bound(config: &HistogramConfig, scale: i32) -> f64 {
    let h = hdr_bins_per_octave_log2(config);
    bucket_ratio(scale) * (1.0 + (-f64::from(h)).exp2()) - 1.0
}

/// The ratio `b = 2^(2^-scale)` of a bucket's upper to its lower bound.
pub fn bucket_ratio(scale: i32) -> f64 {
    (-f64::from(scale)).exp2().exp2()
}

/// The index of the bucket `(b^i, b^(i+1)]` holding `value` at `scale` (0 has no bucket:
/// it belongs to the zero bucket).
///
/// Exact for scales `<= 0` and for powers of two (integer arithmetic); above scale 0 it
/// is `ceil(log2(value) · 2^scale) − 1` in `f64`, as the OpenTelemetry SDKs compute it
/// (accurate to a few ulps of the logarithm near a boundary).
pub fn bucket_index(value: NonZeroU64, scale: i32) -> i32 {
    let value = value.get();
    let exponent = value.ilog2() as i32;
    if scale <= 0 {
        // Bucket i is (2^(i·2^-scale), 2^((i+1)·2^-scale)]: a power of two 2^e is the
        // upper bound of the bucket below the one its exponent would give.
        let e = if value.is_power_of_two() {
            exponent - 1
        } else {
            exponent
        };
        return e >> -scale;
    }
    if value.is_power_of_two() {
        return (exponent << scale) - 1;
    }
    let scaled = (value as f64).log2() * f64::from(scale).exp2();
    let index = scaled.ceil() as i32 - 1;
    // The logarithm may round across a power-of-two boundary; the exponent pins it.
    index.clamp(exponent << scale, ((exponent + 1) << scale) - 1)
}

/// The lower bound `b^index` of bucket `index` at `scale`.
pub fn bucket_lower(index: i32, scale: i32) -> f64 {
    (f64::from(index) * (-f64::from(scale)).exp2()).exp2()
}

/// The largest scale in `MIN_SCALE ..= max_scale` at which the values `low ..= high`
/// (both > 0) need at most `max_buckets` buckets (`max_buckets >= 1`).
pub fn choose_scale(low: NonZeroU64, high: NonZeroU64, max_scale: i32, max_buckets: usize) -> i32 {
    let mut scale = max_scale.clamp(MIN_SCALE, MAX_SCALE);
    while scale > MIN_SCALE {
        let span = i64::from(bucket_index(high, scale)) - i64::from(bucket_index(low, scale)) + 1;
        if span <= max_buckets as i64 {
            break;
        }
        scale -= 1;
    }
    scale
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(v: u64, scale: i32) -> i32 {
        bucket_index(NonZeroU64::new(v).unwrap(), scale)
    }

    fn choose(low: u64, high: u64, max_scale: i32, max_buckets: usize) -> i32 {
        choose_scale(
            NonZeroU64::new(low).unwrap(),
            NonZeroU64::new(high).unwrap(),
            max_scale,
            max_buckets,
        )
    }

    #[test]
    fn bins_per_octave_follow_hdrhistogram() {
        for (d, h) in [(0, 0), (1, 4), (2, 7), (3, 10), (4, 14), (5, 17)] {
            let config = HistogramConfig {
                significant_figures: d,
                ..HistogramConfig::default()
            };
            assert_eq!(hdr_bins_per_octave_log2(&config), h, "{d} figures");
            // hdrhistogram's own sub-bucket count is 2·H.
            let reference = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 1 << 40, d).unwrap();
            // Width-1 bins end where the sub-bucket count (2H) starts doubling.
            let first_wide = (0u64..)
                .find(|&v| reference.highest_equivalent(v) > v)
                .unwrap();
            assert_eq!(first_wide, 2u64 << h, "{d} figures");
        }
    }

    #[test]
    fn indices_match_the_definition() {
        for scale in MIN_SCALE..=MAX_SCALE {
            for v in (1u64..2000)
                .chain((0..64).map(|s| 1u64 << s))
                .chain([u64::MAX])
            {
                let i = idx(v, scale);
                let (lo, hi) = (bucket_lower(i, scale), bucket_lower(i + 1, scale));
                let v = v as f64;
                // Relative slack for the f64 bounds themselves.
                assert!(
                    lo * (1.0 - 1e-12) < v && v <= hi * (1.0 + 1e-12),
                    "{v} at scale {scale}: index {i} is ({lo}, {hi}]"
                );
            }
        }
        assert_eq!(idx(1, 0), -1);
        assert_eq!(idx(2, 0), 0);
        assert_eq!(idx(3, 0), 1);
        assert_eq!(idx(4, 1), 3);
        assert_eq!(idx(1024, -1), 4);
    }

    #[test]
    fn scale_fits_the_bucket_budget() {
        assert_eq!(choose(1, 1, 10, 160), 10);
        assert_eq!(choose(1, 10_000, 10, 160), 3);
        assert_eq!(choose(1, u64::MAX, 20, 160), 1);
        // At scale -6 one bucket holds 2^64 values: (2^-64, 1] and (1, 2^64].
        assert_eq!(choose(1, u64::MAX, 20, 2), -6);
        assert_eq!(choose(1, u64::MAX, 20, 1), MIN_SCALE);
        for max in [1usize, 2, 7, 160, 1000] {
            let s = choose(3, 9_000_000, 10, max);
            let span = idx(9_000_000, s) - idx(3, s) + 1;
            assert!(span as usize <= max || s == MIN_SCALE, "{max}: {s}");
            if s < 10 {
                let finer = idx(9_000_000, s + 1) - idx(3, s + 1) + 1;
                assert!(finer as usize > max, "{max}: {s} is not the largest");
            }
        }
    }

    #[test]
    fn bound_at_the_default_configuration() {
        let config = HistogramConfig::default();
        assert_eq!(finest_scale(&config), 10);
        let e = error_bound(&config, 10);
        assert!((e - (2f64.powf(1.0 / 1024.0) * (1.0 + 1.0 / 1024.0) - 1.0)).abs() < 1e-15);
        assert!(e > 0.00165 && e < 0.00166, "{e}");
    }
}
