//! How a histogram's `f64` values become the HDR histogram's integers.
//!
//! `metrics::histogram!` records `f64`s in whatever unit the caller chose; the core stores
//! `u64`s with a [`Unit`]. A [`HistogramScale`] fixes both halves of the conversion for one
//! metric name: the factor that turns a caller's value into an integer count of the storage
//! unit, and the [`HistogramConfig`] (range, precision, unit) the histogram is registered with,
//! which exporters use to convert back to base units.
//!
//! # The choice: every time unit is stored in nanoseconds
//! Seconds, milliseconds, microseconds and nanoseconds are all stored as integer nanoseconds.
//! Nanoseconds are the resolution of [`std::time::Duration`] (which `histogram!` converts to
//! `f64` seconds), so nothing a timer measured is lost; and rounding to a whole nanosecond
//! adds at most 0.5 ns, which is below HDR's own bin width (3 significant figures: relative
//! error below 2⁻¹⁰ ≈ 0.1 %) for every value of 1 µs or more, and is an absolute error of at
//! most 0.5 ns below that. Microseconds would lose the sub-millisecond latencies that HDR
//! exists to resolve (0.5 µs of rounding is 5 % of a 10 µs value). The wide range this needs
//! costs nothing up front: the core allocates bin pages only for the part of the range values
//! actually land in.
//!
//! Sizes are stored in bytes (kibibytes … tebibytes are multiplied out), bit rates in bits per
//! second, and counts, percentages and count rates as plain integers (rounded: a fractional
//! part is lost; see the crate docs for the core change that would keep it).
//!
//! # Bad values
//! The scaled value is rounded to the nearest integer. NaN, infinities and values that round
//! to a negative integer have no place in an HDR histogram: [`HistogramScale::to_integer`]
//! rejects them, and the recorder drops them and counts them (see the crate docs). Finite
//! values too large for a `u64` saturate, land in the top bin and are reported by the
//! snapshot's `clamped()`.

use aureon_telemetry::{HistogramConfig, Unit};

/// The highest value a facade histogram tracks, in its storage unit: 2⁶³ − 1, i.e. 292 years
/// in nanoseconds or 8 EiB, so only absurd values are clamped.
pub const HIGHEST_TRACKABLE: u64 = i64::MAX as u64;

/// The conversion of one histogram's `f64` values to stored integers, and the configuration
/// the histogram is registered with. See the [module docs](self) for the choices.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HistogramScale {
    factor: f64,
    config: HistogramConfig,
}

/// Why a histogram value was not recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rejected {
    /// The value was NaN.
    NaN,
    /// The value was +∞ or −∞.
    Infinite,
    /// The value rounded to a negative integer.
    Negative,
}

impl Rejected {
    /// The `reason` label value the recorder counts this rejection under.
    pub fn as_str(self) -> &'static str {
        match self {
            Rejected::NaN => "nan",
            Rejected::Infinite => "infinite",
            Rejected::Negative => "negative",
        }
    }

    pub(crate) const ALL: [Rejected; 3] = [Rejected::NaN, Rejected::Infinite, Rejected::Negative];

    pub(crate) fn index(self) -> usize {
        match self {
            Rejected::NaN => 0,
            Rejected::Infinite => 1,
            Rejected::Negative => 2,
        }
    }
}

impl HistogramScale {
    /// The scale for values described with `unit` (see the [module docs](self)).
    ///
    /// ```
    /// use aureon_metrics::HistogramScale;
    /// use aureon_telemetry::Unit;
    /// let s = HistogramScale::for_unit(metrics::Unit::Milliseconds);
    /// assert_eq!(s.config().unit, Unit::Nanoseconds);
    /// assert_eq!(s.to_integer(1.5), Ok(1_500_000));
    /// ```
    pub fn for_unit(unit: metrics::Unit) -> Self {
        use metrics::Unit as M;
        let (factor, stored) = match unit {
            M::Seconds => (1e9, Unit::Nanoseconds),
            M::Milliseconds => (1e6, Unit::Nanoseconds),
            M::Microseconds => (1e3, Unit::Nanoseconds),
            M::Nanoseconds => (1.0, Unit::Nanoseconds),
            M::Tebibytes => ((1u64 << 40) as f64, Unit::Bytes),
            M::Gibibytes => ((1u64 << 30) as f64, Unit::Bytes),
            M::Mebibytes => ((1u64 << 20) as f64, Unit::Bytes),
            M::Kibibytes => (1024.0, Unit::Bytes),
            M::Bytes => (1.0, Unit::Bytes),
            M::TerabitsPerSecond => (1e12, Unit::None),
            M::GigabitsPerSecond => (1e9, Unit::None),
            M::MegabitsPerSecond => (1e6, Unit::None),
            M::KilobitsPerSecond => (1e3, Unit::None),
            M::BitsPerSecond | M::Count | M::Percent | M::CountPerSecond => (1.0, Unit::None),
        };
        Self {
            factor,
            config: HistogramConfig {
                lowest_discernible: 1,
                highest_trackable: HIGHEST_TRACKABLE,
                significant_figures: 3,
                unit: stored,
            },
        }
    }

    /// The factor a caller's value is multiplied by before rounding.
    pub fn factor(&self) -> f64 {
        self.factor
    }

    /// The configuration the histogram is registered with (its `unit` is the storage unit).
    pub fn config(&self) -> &HistogramConfig {
        &self.config
    }

    /// The integer stored for `value`: `value * factor` rounded to the nearest integer (halves
    /// away from zero, as `f64::round`), saturating at `u64::MAX`.
    #[inline]
    pub fn to_integer(&self, value: f64) -> Result<u64, Rejected> {
        /// 2⁶³: below it, `f64` ↔ `i64` conversions are single instructions on x86-64, where
        /// `u64`'s need fix-up branches.
        const FAST_LIMIT: f64 = 9_223_372_036_854_775_808.0;
        let scaled = value * self.factor;
        // One test for every value a histogram normally sees (NaN fails it too).
        if (0.0..FAST_LIMIT).contains(&scaled) {
            // Round half up by hand: `f64::round` is a libm call on baseline x86-64, more than
            // the rest of a record. `scaled - t` has no rounding error (Sterbenz: `t <= scaled
            // < 2t` once `t >= 1`), and the comparison's result is added, not branched on: the
            // fraction is as likely above 0.5 as below.
            let t = scaled as i64;
            return Ok((t + i64::from(scaled - t as f64 >= 0.5)) as u64);
        }
        Self::to_integer_rare(value, scaled)
    }

    /// NaN, infinities, negatives and values of 2⁶³ or more (after scaling).
    #[cold]
    fn to_integer_rare(value: f64, scaled: f64) -> Result<u64, Rejected> {
        if value.is_infinite() {
            Err(Rejected::Infinite)
        } else if scaled.is_nan() {
            Err(Rejected::NaN)
        } else if scaled >= 0.0 {
            // Finite but huge (possibly infinite only after scaling): `as` saturates, and the
            // top bin counts it as clamped.
            let t = scaled as u64;
            Ok(t.saturating_add(u64::from(scaled - t as f64 >= 0.5)))
        } else if scaled > -0.5 {
            // Tiny negatives round to zero, like tiny positives.
            Ok(0)
        } else {
            Err(Rejected::Negative)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_units_are_stored_in_nanoseconds() {
        let cases = [
            (metrics::Unit::Seconds, 0.0015, 1_500_000),
            (metrics::Unit::Milliseconds, 2.25, 2_250_000),
            (metrics::Unit::Microseconds, 7.0, 7_000),
            (metrics::Unit::Nanoseconds, 42.4, 42),
        ];
        for (unit, value, nanos) in cases {
            let s = HistogramScale::for_unit(unit);
            assert_eq!(s.config().unit, Unit::Nanoseconds);
            assert_eq!(s.to_integer(value), Ok(nanos), "{unit:?} {value}");
        }
    }

    #[test]
    fn sizes_are_stored_in_bytes_and_counts_are_rounded() {
        let kib = HistogramScale::for_unit(metrics::Unit::Kibibytes);
        assert_eq!(
            (kib.config().unit, kib.to_integer(1.5)),
            (Unit::Bytes, Ok(1536))
        );
        let gib = HistogramScale::for_unit(metrics::Unit::Gibibytes);
        assert_eq!(gib.to_integer(2.0), Ok(2_147_483_648));
        let count = HistogramScale::for_unit(metrics::Unit::Count);
        assert_eq!(
            (count.config().unit, count.to_integer(2.5)),
            (Unit::None, Ok(3))
        );
        assert_eq!(count.to_integer(2.49), Ok(2));
        let gbps = HistogramScale::for_unit(metrics::Unit::GigabitsPerSecond);
        assert_eq!(gbps.to_integer(1.25), Ok(1_250_000_000));
    }

    #[test]
    fn bad_values_are_rejected_or_saturate_never_panic() {
        let s = HistogramScale::for_unit(metrics::Unit::Seconds);
        assert_eq!(s.to_integer(f64::NAN), Err(Rejected::NaN));
        assert_eq!(s.to_integer(f64::INFINITY), Err(Rejected::Infinite));
        assert_eq!(s.to_integer(f64::NEG_INFINITY), Err(Rejected::Infinite));
        assert_eq!(s.to_integer(-1e-9), Err(Rejected::Negative));
        assert_eq!(s.to_integer(-1.0), Err(Rejected::Negative));
        assert_eq!(s.to_integer(-0.0), Ok(0));
        assert_eq!(s.to_integer(-1e-10), Ok(0), "rounds to -0");
        assert_eq!(s.to_integer(f64::MAX), Ok(u64::MAX));
        assert_eq!(s.to_integer(1e300), Ok(u64::MAX));
        assert_eq!(s.to_integer(f64::MIN_POSITIVE), Ok(0));
    }

    #[test]
    fn rounding_matches_std_round_without_calling_it() {
        let s = HistogramScale::for_unit(metrics::Unit::Count);
        let edges = [
            0.0,
            0.5,
            1.5,
            2.5,
            0.499_999_999_999_999_94,
            1.0 - f64::EPSILON / 2.0,
            4_503_599_627_370_495.5,
            9_007_199_254_740_993.0,
            1e19,
            1.844_674_407_370_955_2e19,
            1e30,
            9_223_372_036_854_774_784.0, // the largest f64 below 2^63 (the fast path)
            9_223_372_036_854_775_808.0, // 2^63 (the rare path)
            -0.49,
            -0.5,
            -0.51,
            -2.5,
        ];
        let mut x = 0x2545_F491_4F6C_DD1D_u64;
        let randoms = (0..100_000).map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Fractions at every magnitude from 1e-3 to 1e12, both signs.
            let v = (x >> 11) as f64 / (1u64 << 53) as f64 * 10f64.powi((i % 16) - 3);
            if i % 5 == 0 { -v } else { v }
        });
        for v in edges.into_iter().chain(randoms) {
            let r = v.round();
            let expected = if r >= 0.0 {
                Ok(r as u64)
            } else {
                Err(Rejected::Negative)
            };
            assert_eq!(s.to_integer(v), expected, "{v:e}");
        }
    }

    #[test]
    fn every_configuration_is_valid() {
        use metrics::Unit as M;
        for unit in [
            M::Count,
            M::Percent,
            M::Seconds,
            M::Milliseconds,
            M::Microseconds,
            M::Nanoseconds,
            M::Tebibytes,
            M::Gibibytes,
            M::Mebibytes,
            M::Kibibytes,
            M::Bytes,
            M::TerabitsPerSecond,
            M::GigabitsPerSecond,
            M::MegabitsPerSecond,
            M::KilobitsPerSecond,
            M::BitsPerSecond,
            M::CountPerSecond,
        ] {
            assert_eq!(
                HistogramScale::for_unit(unit).config().validate(),
                Ok(()),
                "{unit:?}"
            );
        }
    }
}
