//! Classic (cumulative `le`) buckets computed from HDR bins, and the exemplar of each bucket.
//!
//! A bucket's bound is given in the base unit (seconds, bytes) and compared with recorded
//! values (integers in the histogram's unit) through [`threshold`]. A bin counts towards a
//! bucket when its highest value is at or below the bound, the same rule as
//! `HistogramSnapshot::count_at_or_below`: counts are exact at HDR bin granularity, and the
//! only values that can land one bucket too high are those in the single HDR bin that
//! straddles a bound (a relative distance below 2^-(k-1) of the bound, k the bits of the
//! sub-bucket count: 1/1024 at 3 significant figures).

use aureon_telemetry::{Exemplar, HistogramSnapshot};

/// The largest recorded value (in the histogram's unit) that is `<= bound` in the base
/// unit, where `divisor` converts recorded values to the base unit (1e6 for µs). A bound
/// within floating-point noise of a whole number of units (0.005 s = 5000 µs) is that number.
pub(crate) fn threshold(bound: f64, divisor: f64) -> u64 {
    let t = bound * divisor;
    let r = t.round();
    let t = if (t - r).abs() <= 1e-9 * r.abs().max(1.0) {
        r
    } else {
        t.floor()
    };
    // `as` saturates: bounds beyond u64 count everything, negative ones nothing.
    if t < 0.0 { 0 } else { t as u64 }
}

/// Cumulative counts of `h` at each threshold (ascending), pushed into `out`.
pub(crate) fn cumulative(
    h: &HistogramSnapshot,
    thresholds: impl Iterator<Item = u64>,
    out: &mut Vec<u64>,
) {
    let mut bins = h.bins().peekable();
    let mut seen = 0u64;
    for t in thresholds {
        while let Some(b) = bins.next_if(|b| b.high <= t) {
            seen = seen.saturating_add(b.count);
        }
        out.push(seen);
    }
}

/// The exemplar to show on the bucket `(low, high]` (in recorded units; `None` for `high`
/// means `+Inf`): the largest one inside it. `exemplars` are largest first.
pub(crate) fn exemplar_for(
    exemplars: &[Exemplar],
    low: Option<u64>,
    high: Option<u64>,
) -> Option<Exemplar> {
    exemplars
        .iter()
        .find(|e| low.is_none_or(|l| e.value > l) && high.is_none_or(|h| e.value <= h))
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_survive_decimal_bounds() {
        assert_eq!(threshold(0.005, 1e6), 5000);
        assert_eq!(threshold(0.0001, 1e6), 100);
        assert_eq!(threshold(0.00025, 1e6), 250);
        assert_eq!(threshold(2.5, 1e9), 2_500_000_000);
        assert_eq!(threshold(0.3, 1e3), 300);
        assert_eq!(threshold(1.5, 1.0), 1);
        assert_eq!(threshold(1e30, 1.0), u64::MAX);
    }
}
