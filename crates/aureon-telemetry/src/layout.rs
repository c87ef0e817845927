//! HDR bucket arithmetic, index-compatible with the `hdrhistogram` crate.
//!
//! A [`Layout`] is computed once per histogram from its [`HistogramConfig`] with exactly the
//! formulas of `hdrhistogram::Histogram::new_with_bounds` (sub-bucket count from the significant
//! figures, unit magnitude from the lowest discernible value, one half-bucket per power of two
//! up to the highest trackable value). Index `i` therefore means the same value range here and
//! in an `hdrhistogram::Histogram` with the same bounds, which is what makes merging into one
//! exact.

use crate::error::ConfigError;
use crate::unit::Unit;

/// Configuration of one histogram: trackable range, precision and unit.
///
/// The defaults track 1 ..= 3 600 000 000 (an hour in microseconds) at 3 significant figures,
/// i.e. every value is kept with a relative error below 0.1 %.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HistogramConfig {
    /// Smallest value distinguished from 0 (at least 1). Smaller values share its bucket.
    pub lowest_discernible: u64,
    /// Largest value tracked; larger values are clamped to it and counted as clamped.
    pub highest_trackable: u64,
    /// Significant decimal figures kept, 0 ..= 5.
    pub significant_figures: u8,
    /// What one unit of a recorded value means (used by timers and exporters).
    pub unit: Unit,
}

impl Default for HistogramConfig {
    fn default() -> Self {
        Self {
            lowest_discernible: 1,
            highest_trackable: 3_600_000_000,
            significant_figures: 3,
            unit: Unit::Microseconds,
        }
    }
}

impl HistogramConfig {
    /// The default range and precision with another unit.
    pub fn with_unit(unit: Unit) -> Self {
        Self {
            unit,
            ..Self::default()
        }
    }

    /// Checks the configuration with the rules of `hdrhistogram::Histogram::new_with_bounds`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        Layout::new(self).map(|_| ())
    }
}

/// The derived HDR parameters of a histogram (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    pub(crate) config: HistogramConfig,
    unit_magnitude: u32,
    sub_bucket_half_count_magnitude: u32,
    sub_bucket_half_count: u32,
    sub_bucket_mask: u64,
    leading_zero_count_base: u32,
    /// Number of counts (bins) needed to cover `highest_trackable`.
    pub(crate) len: usize,
    /// The bin of `highest_trackable`, where clamped values are counted.
    pub(crate) highest_index: usize,
}

impl Layout {
    pub(crate) fn new(config: &HistogramConfig) -> Result<Self, ConfigError> {
        let (low, high, sigfig) = (
            config.lowest_discernible,
            config.highest_trackable,
            config.significant_figures,
        );
        if low < 1 {
            return Err(ConfigError::LowestIsZero);
        }
        if low > u64::MAX / 2 || high < 2 * low {
            return Err(ConfigError::HighestLessThanTwiceLowest {
                lowest: low,
                highest: high,
            });
        }
        if sigfig > 5 {
            return Err(ConfigError::TooManySignificantFigures(sigfig));
        }
        let largest_single_unit = 2 * 10_u64.pow(u32::from(sigfig));
        let unit_magnitude = low.ilog2();
        // ceil(log2(largest_single_unit)), as hdrhistogram computes it with f64.
        let sub_bucket_count_magnitude = u64::BITS - (largest_single_unit - 1).leading_zeros();
        if unit_magnitude + sub_bucket_count_magnitude > 63 {
            return Err(ConfigError::PrecisionBeyondRange);
        }
        let sub_bucket_half_count_magnitude = sub_bucket_count_magnitude - 1;
        let sub_bucket_count = 1_u64 << sub_bucket_count_magnitude;
        let mut layout = Self {
            config: *config,
            unit_magnitude,
            sub_bucket_half_count_magnitude,
            sub_bucket_half_count: 1 << sub_bucket_half_count_magnitude,
            sub_bucket_mask: (sub_bucket_count - 1) << unit_magnitude,
            leading_zero_count_base: 64 - unit_magnitude - sub_bucket_count_magnitude,
            len: 0,
            highest_index: 0,
        };
        let buckets = buckets_to_cover(high, sub_bucket_count << unit_magnitude);
        layout.len = (buckets as usize + 1) * layout.sub_bucket_half_count as usize;
        layout.highest_index = layout.index_of(high);
        debug_assert!(layout.highest_index < layout.len);
        Ok(layout)
    }

    /// The bin of `value`, which must not exceed `highest_trackable`.
    #[inline]
    pub(crate) fn index_of(&self, value: u64) -> usize {
        let bucket = self.leading_zero_count_base - (value | self.sub_bucket_mask).leading_zeros();
        let sub_bucket = (value >> (bucket + self.unit_magnitude)) as usize;
        // hdrhistogram's ((bucket + 1) << h) + sub_bucket - half, with half == 1 << h.
        ((bucket as usize) << self.sub_bucket_half_count_magnitude) + sub_bucket
    }

    /// The bin of `value`, and whether it had to be clamped to `highest_trackable`.
    #[inline]
    pub(crate) fn index_clamped(&self, value: u64) -> (usize, bool) {
        if value > self.config.highest_trackable {
            (self.highest_index, true)
        } else {
            (self.index_of(value), false)
        }
    }

    /// The lowest value of bin `index` (hdrhistogram's `value_for`).
    pub(crate) fn value_of(&self, index: usize) -> u64 {
        let half = self.sub_bucket_half_count as usize;
        let bucket = (index >> self.sub_bucket_half_count_magnitude) as i64 - 1;
        let mut sub_bucket = (index & (half - 1)) + half;
        let bucket = if bucket < 0 {
            sub_bucket -= half;
            0
        } else {
            bucket as u32
        };
        (sub_bucket as u64) << (bucket + self.unit_magnitude)
    }

    /// Width of bin `index` in value units.
    pub(crate) fn width_of(&self, index: usize) -> u64 {
        let bucket = ((index >> self.sub_bucket_half_count_magnitude) as u32).saturating_sub(1);
        1_u64 << (bucket + self.unit_magnitude)
    }

    /// The highest value of bin `index` (hdrhistogram's `highest_equivalent`).
    pub(crate) fn highest_of(&self, index: usize) -> u64 {
        self.value_of(index).saturating_add(self.width_of(index)) - 1
    }

    /// The middle of bin `index` (hdrhistogram's `median_equivalent`).
    pub(crate) fn median_of(&self, index: usize) -> u64 {
        self.value_of(index)
            .saturating_add(self.width_of(index) >> 1)
    }
}

fn buckets_to_cover(value: u64, mut smallest_untrackable: u64) -> u32 {
    let mut needed = 1;
    while smallest_untrackable <= value {
        if smallest_untrackable > u64::MAX / 2 {
            return needed + 1;
        }
        smallest_untrackable <<= 1;
        needed += 1;
    }
    needed
}

#[cfg(all(test, not(aureon_loom)))]
mod tests {
    use super::*;
    use hdrhistogram::Histogram as Reference;

    fn check_against_reference(low: u64, high: u64, sigfig: u8, values: impl Iterator<Item = u64>) {
        let config = HistogramConfig {
            lowest_discernible: low,
            highest_trackable: high,
            significant_figures: sigfig,
            unit: Unit::None,
        };
        let layout = Layout::new(&config).unwrap();
        let reference = Reference::<u64>::new_with_bounds(low, high, sigfig).unwrap();
        assert_eq!(
            layout.len,
            reference.distinct_values(),
            "{low} {high} {sigfig}"
        );
        for v in values.filter(|&v| v <= high && v != u64::MAX) {
            let i = layout.index_of(v);
            assert!(i < layout.len);
            assert_eq!(
                layout.value_of(i),
                reference.lowest_equivalent(v),
                "value {v}"
            );
            assert_eq!(
                layout.highest_of(i),
                reference.highest_equivalent(v),
                "value {v}"
            );
            assert_eq!(
                layout.median_of(i),
                reference.median_equivalent(v),
                "value {v}"
            );
        }
    }

    fn spread() -> impl Iterator<Item = u64> {
        (0..64)
            .flat_map(|shift| {
                let p = 1_u64 << shift;
                [p - 1, p, p + 1, p + p / 3, p.wrapping_mul(3) / 2]
            })
            .chain(0..5000)
    }

    #[test]
    fn bins_match_hdrhistogram_for_many_configurations() {
        for sigfig in 0..=5 {
            for (low, high) in [(1, 3_600_000_000), (1, u64::MAX), (1000, 1 << 40), (3, 7)] {
                if Layout::new(&HistogramConfig {
                    lowest_discernible: low,
                    highest_trackable: high,
                    significant_figures: sigfig,
                    unit: Unit::None,
                })
                .is_ok()
                {
                    check_against_reference(low, high, sigfig, spread());
                }
            }
        }
    }

    #[test]
    fn default_layout_is_hdrhistograms_23552_bins() {
        let layout = Layout::new(&HistogramConfig::default()).unwrap();
        assert_eq!(layout.len, 23 * 1024);
    }

    #[test]
    fn invalid_configurations_are_rejected_like_hdrhistogram() {
        let mk = |low, high, sigfig| {
            Layout::new(&HistogramConfig {
                lowest_discernible: low,
                highest_trackable: high,
                significant_figures: sigfig,
                unit: Unit::None,
            })
        };
        assert_eq!(mk(0, 10, 3), Err(ConfigError::LowestIsZero));
        assert!(matches!(
            mk(10, 19, 3),
            Err(ConfigError::HighestLessThanTwiceLowest { .. })
        ));
        assert_eq!(
            mk(1, 100, 6),
            Err(ConfigError::TooManySignificantFigures(6))
        );
        assert_eq!(
            mk(1 << 50, u64::MAX, 5),
            Err(ConfigError::PrecisionBeyondRange)
        );
        for (low, high, sigfig) in [(0, 10, 3), (10, 19, 3), (1, 100, 6), (1 << 50, u64::MAX, 5)] {
            assert!(Reference::<u64>::new_with_bounds(low, high, sigfig).is_err());
        }
    }
}
