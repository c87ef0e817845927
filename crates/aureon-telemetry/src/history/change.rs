//! What one histogram recorded over an interval, decoded ([`HistogramChange`]) and in the
//! compact form a history keeps it in (a byte string of varints).
//!
//! A history keeps every point but the newest only as the changes since the point before,
//! so what it holds follows what was recorded, not how wide the histograms are: a bin that
//! did not change costs nothing, one that did costs its index gap and count, one to three
//! bytes each. The encoding is private to the history (it is never read from outside the
//! process), so it carries no version and needs no validation.

use crate::counts::PagedCounts;
use crate::exemplar::{Exemplar, keep_slowest};
use crate::layout::Layout;
use crate::snapshot::HistogramSnapshot;

/// A histogram's change over an interval: the bins that grew and by how much, with the
/// sum, `[min, max]`, clamped count and exemplars of what was recorded in it.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct HistogramChange {
    /// `(bin index, count)`, strictly ascending by bin, no zero counts.
    bins: Vec<(usize, u64)>,
    sum: u128,
    /// Bounds of the values recorded (0 and 0 when no bin grew).
    min: u64,
    max: u64,
    clamped: u64,
    exemplars: Vec<Exemplar>,
}

impl HistogramChange {
    /// What `to` holds that `from` did not (all of `to` without `from`): the
    /// [`HistogramSnapshot::delta_since`] of the two, so a one-interval window reads exactly
    /// what a window between the two full snapshots reads.
    pub(crate) fn between(from: Option<&HistogramSnapshot>, to: &HistogramSnapshot) -> Self {
        match from {
            Some(from) => Self::of(&to.delta_since(from)),
            None => Self::of(to),
        }
    }

    /// Everything `h` holds, as a change.
    fn of(h: &HistogramSnapshot) -> Self {
        Self {
            bins: h.bin_counts().collect(),
            sum: h.sum(),
            min: h.min(),
            max: h.max(),
            clamped: h.clamped(),
            exemplars: h.exemplars().to_vec(),
        }
    }

    /// Whether nothing at all changed (no bin, sum, clamped count or exemplar): such a
    /// change is not stored.
    pub(crate) fn is_nothing(&self) -> bool {
        self.bins.is_empty() && self.sum == 0 && self.clamped == 0 && self.exemplars.is_empty()
    }

    /// Number of values recorded (saturating).
    fn count(&self) -> u64 {
        self.bins
            .iter()
            .fold(0u64, |a, &(_, c)| a.saturating_add(c))
    }

    /// Adds `later`, the change over the interval right after this one's: bins, sums and
    /// clamped counts add, `[min, max]` widens, and the slowest exemplars of both remain.
    pub(crate) fn add(&mut self, later: &HistogramChange) {
        if later.bins.is_empty() {
            // (min and max describe recorded bins only.)
        } else if self.bins.is_empty() {
            (self.min, self.max) = (later.min, later.max);
        } else {
            self.min = self.min.min(later.min);
            self.max = self.max.max(later.max);
        }
        self.bins = merge_bins(&self.bins, &later.bins);
        self.sum = self.sum.saturating_add(later.sum);
        self.clamped = self.clamped.saturating_add(later.clamped);
        if !later.exemplars.is_empty() {
            self.exemplars.extend_from_slice(&later.exemplars);
            keep_slowest(&mut self.exemplars);
        }
    }

    /// The change as a histogram snapshot with `layout`.
    pub(crate) fn to_snapshot(&self, layout: Layout) -> HistogramSnapshot {
        let count = self.count();
        HistogramSnapshot::from_counted_parts(
            layout,
            PagedCounts::from_sparse(self.bins.iter().copied()),
            count,
            (self.min, self.max, self.sum, self.clamped),
            self.exemplars.clone(),
        )
    }

    /// The compact form: sum, min, `max - min`, clamped, the number of bins and each bin as
    /// (gap to the previous bin, count), then the exemplars, all LEB128 varints.
    pub(crate) fn encode(&self) -> Box<[u8]> {
        let mut out = Vec::with_capacity(8 + 3 * self.bins.len());
        put(&mut out, self.sum);
        put(&mut out, u128::from(self.min));
        put(&mut out, u128::from(self.max.saturating_sub(self.min)));
        put(&mut out, u128::from(self.clamped));
        put(&mut out, self.bins.len() as u128);
        let mut next = 0usize;
        for &(bin, count) in &self.bins {
            put(&mut out, (bin - next) as u128);
            put(&mut out, u128::from(count));
            next = bin + 1;
        }
        put(&mut out, self.exemplars.len() as u128);
        for e in &self.exemplars {
            put(&mut out, u128::from(e.value));
            put(&mut out, u128::from(e.id));
        }
        out.into_boxed_slice()
    }

    /// The change [`Self::encode`] wrote into `bytes`.
    pub(crate) fn decode(bytes: &[u8]) -> Self {
        let mut r = Reader { bytes, at: 0 };
        let sum = r.next();
        let min = r.next_u64();
        let max = min.saturating_add(r.next_u64());
        let clamped = r.next_u64();
        let n = r.next_u64() as usize;
        let mut bins = Vec::with_capacity(n.min(bytes.len()));
        let mut next = 0usize;
        for _ in 0..n {
            let bin = next + r.next_u64() as usize;
            bins.push((bin, r.next_u64()));
            next = bin + 1;
        }
        let n = r.next_u64() as usize;
        let exemplars = (0..n)
            .map(|_| Exemplar {
                value: r.next_u64(),
                id: r.next_u64(),
            })
            .collect();
        Self {
            bins,
            sum,
            min,
            max,
            clamped,
            exemplars,
        }
    }
}

/// The bin-by-bin sum of two ascending bin lists (saturating).
fn merge_bins(a: &[(usize, u64)], b: &[(usize, u64)]) -> Vec<(usize, u64)> {
    let mut out = Vec::with_capacity(a.len().max(b.len()));
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let ((x, cx), (y, cy)) = (a[i], b[j]);
        if x < y {
            out.push((x, cx));
            i += 1;
        } else if y < x {
            out.push((y, cy));
            j += 1;
        } else {
            out.push((x, cx.saturating_add(cy)));
            i += 1;
            j += 1;
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

/// Appends `v` as an LEB128 varint (7 bits a byte, low first).
fn put(out: &mut Vec<u8>, mut v: u128) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Reads the varints [`put`] wrote.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    /// The next varint; past the end (which the history's own bytes never reach) it reads
    /// zeros instead of panicking.
    fn next(&mut self) -> u128 {
        let mut v = 0u128;
        let mut shift = 0;
        while let Some(&byte) = self.bytes.get(self.at) {
            self.at += 1;
            if shift < 128 {
                v |= u128::from(byte & 0x7f) << shift;
            }
            shift += 7;
            if byte & 0x80 == 0 {
                break;
            }
        }
        v
    }

    fn next_u64(&mut self) -> u64 {
        u64::try_from(self.next()).unwrap_or(u64::MAX)
    }
}

#[cfg(all(test, not(aureon_loom)))]
mod tests {
    use super::*;
    use crate::Registry;

    #[test]
    fn encoding_round_trips_extremes() {
        let change = HistogramChange {
            bins: vec![(0, 1), (1, u64::MAX), (255, 7), (256, 1), (100_000, 3)],
            sum: u128::MAX,
            min: 0,
            max: u64::MAX,
            clamped: u64::MAX,
            exemplars: vec![
                Exemplar {
                    value: u64::MAX,
                    id: 0,
                },
                Exemplar { value: 1, id: 2 },
            ],
        };
        assert_eq!(HistogramChange::decode(&change.encode()), change);
        let empty = HistogramChange::default();
        assert!(empty.is_nothing());
        assert_eq!(HistogramChange::decode(&empty.encode()), empty);
    }

    #[test]
    fn added_changes_equal_the_change_over_both_intervals() {
        let registry = Registry::new();
        let h = registry.histogram("latency_us");
        let snap = |r: &Registry| r.snapshot().histogram("latency_us").unwrap().clone();
        h.record(5);
        let a = snap(&registry);
        for v in [7, 9_000, 5, 130] {
            h.record(v);
        }
        let b = snap(&registry);
        for v in [2, 9_000, 70_000_000] {
            h.record(v);
        }
        let c = snap(&registry);
        let mut summed = HistogramChange::between(Some(&a), &b);
        summed.add(&HistogramChange::between(Some(&b), &c));
        let whole = summed.to_snapshot(*c.layout());
        let direct = c.delta_since(&a);
        assert_eq!(whole.count(), 7);
        assert_eq!(whole.sum(), direct.sum());
        assert!(whole.bins().eq(direct.bins()));
        // The summed bounds are at least as tight as the direct ones and hold every value.
        assert!(whole.min() >= direct.min() && whole.min() <= 2);
        assert!(whole.max() <= direct.max() && whole.max() >= 70_000_000);
    }
}
