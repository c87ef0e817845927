//! Re-bucketing HDR bins into Prometheus native (sparse exponential) histogram buckets.
//!
//! # The buckets
//! At schema `s` the bucket with index `k` holds the values in `(b^(k-1), b^k]`, where
//! `b = 2^(2^-s)` (schema 3: b ≈ 1.0905; schema 0: b = 2; schema -4: b = 65536). Values at
//! or below the zero threshold go to the zero bucket. Indexes are computed exactly as
//! client_golang computes them (`frexp` of the value, then the position of its fraction
//! among the `2^s` bounds of an octave), so a value exactly on a power of two lands where
//! Prometheus' own clients put it.
//!
//! # Assigning HDR bins
//! HDR keeps only per-bin counts, so each bin (an integer range `low ..= high`) is assigned
//! as a whole to the bucket that holds its **highest** value, converted to the base unit.
//! This is the rule classic `le` buckets use too ([`crate::classic`]), with the same
//! consequence: at every bucket boundary `B` the exported cumulative count is exactly the
//! number of values `<= B'`, where `B'` is the highest HDR bin edge at or below `B`. Only
//! values of the single HDR bin that straddles `B` can sit one bucket too high, and they are
//! within that bin's width of `B`.
//!
//! # Error bound
//! Let `δ` be the HDR relative bin width (`2^-(m-1)` with `m = ⌈log2(2·10^d)⌉` for `d`
//! significant figures: 1/1024 at 3 figures; below `2^m` units bins are 1 unit wide and
//! exact). Moving every value `v` up to its bin's highest value `h(v)` (`v <= h(v) < v(1+δ)`)
//! changes no rank, and the exported buckets are exact for those moved values. So any
//! quantile estimate that lies inside the bucket holding the moved `q`-quantile (which is
//! what `histogram_quantile` returns) lies in `(v*/b, v*·b·(1+δ)]` for the exact
//! `q`-quantile `v*`: a relative error below `b(1+δ) - 1`, i.e. about 9.2 % at schema 3
//! and 0.37 % at schema 8 with 3 significant figures, dominated by the bucket width.
//! Values above the histogram's highest trackable value are counted in its top bin (see
//! `HistogramSnapshot::clamped`) and exported there.
//!
//! # Bucket limit
//! A histogram that would need more populated buckets than allowed is exported at a lower
//! schema: each step merges buckets in pairs (`k -> ceil(k/2)`), which is exact.

use aureon_telemetry::HistogramSnapshot;
use std::sync::OnceLock;

/// The zero threshold used when recorded zeros are the only values at or near zero: the
/// smallest threshold client_golang uses (2^-128), so that Prometheus sees a native
/// histogram even when it is empty.
pub(crate) const MIN_ZERO_THRESHOLD: f64 = 2.938735877055719e-39;

/// A native histogram's buckets, reusing its vector between histograms.
#[derive(Debug, Default)]
pub(crate) struct NativeBuckets {
    /// The schema actually used (at most the one asked for).
    pub(crate) schema: i8,
    pub(crate) zero_threshold: f64,
    pub(crate) zero_count: u64,
    /// `(index, count)`, ascending by index, counts non-zero.
    pub(crate) buckets: Vec<(i32, u64)>,
}

impl NativeBuckets {
    /// Re-buckets `h` (values divided by `divisor` give base units) at `schema`, lowering
    /// the schema until at most `max_buckets` buckets are populated.
    pub(crate) fn fill(
        &mut self,
        h: &HistogramSnapshot,
        divisor: f64,
        schema: i8,
        max_buckets: usize,
    ) {
        self.buckets.clear();
        self.zero_count = 0;
        self.schema = schema;
        // HDR's first bin is `0 ..= 2^u - 1` (u = floor(log2(lowest discernible))): 0 alone
        // when the lowest discernible value is 1. It is the zero bucket, its threshold the
        // bin's top, which depends only on the configuration and so never moves between
        // scrapes.
        let zero_top = (1u64 << h.config().lowest_discernible.max(1).ilog2()) - 1;
        self.zero_threshold = if zero_top > 0 {
            zero_top as f64 / divisor
        } else {
            MIN_ZERO_THRESHOLD
        };
        for bin in h.bins() {
            if bin.low == 0 {
                self.zero_count = bin.count;
                continue;
            }
            let key = bucket_index(bin.high as f64 / divisor, schema);
            match self.buckets.last_mut() {
                Some((k, c)) if *k == key => *c = c.saturating_add(bin.count),
                _ => self.buckets.push((key, bin.count)),
            }
        }
        while self.buckets.len() > max_buckets && self.schema > -4 {
            self.halve();
        }
    }

    /// Lowers the schema by one, merging bucket pairs.
    fn halve(&mut self) {
        self.schema -= 1;
        let mut w = 0usize;
        for r in 0..self.buckets.len() {
            let (k, c) = self.buckets[r];
            // Bucket k at schema s is half of bucket ceil(k/2) at s-1; `>>` floors, so
            // (k+1)>>1 is ceil(k/2) for negative k too.
            let k = (k + 1) >> 1;
            if w > 0 && self.buckets[w - 1].0 == k {
                self.buckets[w - 1].1 = self.buckets[w - 1].1.saturating_add(c);
            } else {
                self.buckets[w] = (k, c);
                w += 1;
            }
        }
        self.buckets.truncate(w);
    }

    /// Spans and deltas as the protobuf format wants them: `(offset, length)` spans (the
    /// first offset is the first index, later ones the gap since the previous span) and the
    /// counts as differences from the previous bucket. Gaps of one or two empty buckets are
    /// filled with zero counts instead of starting a span, as client_golang does.
    pub(crate) fn spans_and_deltas(
        &self,
        mut span: impl FnMut(i32, u32),
        mut delta: impl FnMut(i64),
    ) {
        let mut prev_count = 0i64;
        let mut current: Option<(i32, u32)> = None;
        let mut next_index = 0i32;
        for &(k, c) in &self.buckets {
            match current {
                Some((offset, len)) if k - next_index <= 2 => {
                    for _ in next_index..k {
                        delta(-prev_count);
                        prev_count = 0;
                    }
                    current = Some((offset, len + (k - next_index) as u32 + 1));
                }
                Some((offset, len)) => {
                    span(offset, len);
                    current = Some((k - next_index, 1));
                }
                None => current = Some((k, 1)),
            }
            let c = i64::try_from(c).unwrap_or(i64::MAX);
            delta(c - prev_count);
            prev_count = c;
            next_index = k + 1;
        }
        if let Some((offset, len)) = current {
            span(offset, len);
        }
    }
}

/// The bucket index of a positive value at `schema` (client_golang's rule).
pub(crate) fn bucket_index(v: f64, schema: i8) -> i32 {
    let (frac, exp) = frexp(v);
    if schema > 0 {
        let bounds = &octave_bounds()[schema as usize];
        let j = bounds.partition_point(|&b| b < frac) as i32;
        j + (exp - 1) * bounds.len() as i32
    } else {
        let mut key = exp;
        if frac == 0.5 {
            key -= 1;
        }
        let shift = -i32::from(schema);
        (key + (1 << shift) - 1) >> shift
    }
}

/// `v = frac · 2^exp` with `frac` in `[0.5, 1)`, for positive finite `v`.
fn frexp(v: f64) -> (f64, i32) {
    let bits = v.to_bits();
    let exp_bits = ((bits >> 52) & 0x7ff) as i32;
    if exp_bits == 0 {
        // Subnormal: scale into the normal range first.
        let (f, e) = frexp(v * 2f64.powi(64));
        return (f, e - 64);
    }
    let frac = f64::from_bits((bits & !(0x7ff << 52)) | (1022 << 52));
    (frac, exp_bits - 1022)
}

/// For each schema 1..=8, the `2^s` bounds `2^(j/2^s) / 2` of an octave's fraction
/// (index 0 unused).
fn octave_bounds() -> &'static [Vec<f64>; 9] {
    static BOUNDS: OnceLock<[Vec<f64>; 9]> = OnceLock::new();
    BOUNDS.get_or_init(|| {
        std::array::from_fn(|s| {
            if s == 0 {
                return Vec::new();
            }
            let n = 1usize << s;
            (0..n).map(|j| (j as f64 / n as f64 - 1.0).exp2()).collect()
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_follow_the_bucket_definition() {
        for schema in -4i8..=8 {
            let base = 2f64.powf(2f64.powi(-i32::from(schema)));
            for v in [
                1e-6, 0.001, 0.3, 1.0, 1.5, 2.0, 3.0, 1000.0, 4096.0, 123456.789,
            ] {
                let k = bucket_index(v, schema);
                let (lo, hi) = (base.powi(k - 1), base.powi(k));
                // (lo, hi] up to floating-point noise in powi itself.
                assert!(
                    v > lo * (1.0 - 1e-12) && v <= hi * (1.0 + 1e-12),
                    "schema {schema} v {v} k {k} ({lo}, {hi}]"
                );
            }
            // Powers of two are upper bounds: 1 is the top of bucket 0, 2 of bucket 2^s
            // (schema >= 0).
            assert_eq!(bucket_index(1.0, schema), 0);
            if schema >= 0 {
                assert_eq!(bucket_index(2.0, schema), 1 << schema);
            }
        }
    }

    #[test]
    fn halving_merges_pairs() {
        let mut n = NativeBuckets {
            schema: 2,
            zero_threshold: 0.0,
            zero_count: 0,
            buckets: vec![(-3, 1), (-2, 2), (0, 4), (1, 8), (2, 16), (5, 32)],
        };
        n.halve();
        assert_eq!(n.schema, 1);
        assert_eq!(n.buckets, vec![(-1, 3), (0, 4), (1, 24), (3, 32)]);
    }

    #[test]
    fn spans_fill_small_gaps() {
        let n = NativeBuckets {
            schema: 0,
            zero_threshold: 0.0,
            zero_count: 0,
            buckets: vec![(-2, 3), (-1, 5), (2, 1), (7, 4)],
        };
        let (mut spans, mut deltas) = (Vec::new(), Vec::new());
        n.spans_and_deltas(|o, l| spans.push((o, l)), |d| deltas.push(d));
        // -2,-1 then a gap of 2 (0, 1) filled, 2; then a gap of 4 -> new span at offset 4.
        assert_eq!(spans, vec![(-2, 5), (4, 1)]);
        assert_eq!(deltas, vec![3, 2, -5, 0, 1, 3]);
    }
}
