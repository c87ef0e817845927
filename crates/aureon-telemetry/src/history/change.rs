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
    /// What `to` holds that `from` did not (all of `to` without `from`): the same bins,
    /// sum, bounds and exemplars as [`HistogramSnapshot::delta_since`], so a one-interval
    /// window reads exactly what a window between the two full snapshots reads, found
    /// without building the difference as pages.
    pub(crate) fn between(from: Option<&HistogramSnapshot>, to: &HistogramSnapshot) -> Self {
        let Some(from) = from else {
            return Self::of(to);
        };
        let mut bins = Vec::new();
        to.for_each_growth(from, |bin, grown| bins.push((bin, grown)));
        let clamped = to.clamped().saturating_sub(from.clamped());
        let grown = bins.first().zip(bins.last()).map(|(lo, hi)| (lo.0, hi.0));
        let (min, max) = to.delta_bounds(grown, clamped);
        Self {
            bins,
            sum: to.sum().saturating_sub(from.sum()),
            min,
            max,
            clamped,
            exemplars: to.exemplars().to_vec(),
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
    /// The decoded reference the tests hold [`merge_encoded`] to.
    #[cfg(test)]
    pub(crate) fn add(&mut self, later: &HistogramChange) {
        (self.min, self.max) = widened(
            (!self.bins.is_empty()).then_some((self.min, self.max)),
            (!later.bins.is_empty()).then_some((later.min, later.max)),
        );
        self.bins = merge_bins(&self.bins, &later.bins);
        self.sum = self.sum.saturating_add(later.sum);
        self.clamped = self.clamped.saturating_add(later.clamped);
        self.exemplars = slowest_of(std::mem::take(&mut self.exemplars), &later.exemplars);
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

    /// The compact form: the header (sum, min, `max - min`, clamped), each bin as (gap to
    /// the previous bin, count) ended by a zero count, then the exemplars (their number, then
    /// value and id each), all LEB128 varints.
    pub(crate) fn encode(&self) -> Box<[u8]> {
        let mut out = Vec::with_capacity(8 + 3 * self.bins.len());
        let header = Header {
            sum: self.sum,
            min: self.min,
            max: self.max,
            clamped: self.clamped,
        };
        header.write(&mut out);
        let mut bins = BinWriter::default();
        for &(bin, count) in &self.bins {
            bins.write(&mut out, bin, count);
        }
        BinWriter::end(&mut out);
        write_exemplars(&mut out, &self.exemplars);
        out.into_boxed_slice()
    }

    /// The change [`Self::encode`] wrote into `bytes`.
    pub(crate) fn decode(bytes: &[u8]) -> Self {
        let mut r = Reader { bytes, at: 0 };
        let header = Header::read(&mut r);
        let mut bins = Vec::new();
        let mut next = 0;
        while let Some(bin) = r.bin(&mut next) {
            bins.push(bin);
        }
        Self {
            bins,
            sum: header.sum,
            min: header.min,
            max: header.max,
            clamped: header.clamped,
            exemplars: r.exemplars(),
        }
    }
}

/// Encoded changes of consecutive intervals, oldest first, as the encoded change over all
/// of them: what [`HistogramChange::add`] gives one after the other, merged from the bytes
/// without decoding any into a list (thinning a history merges a few each tick). The newer
/// parts are merged first: when an old, wide run takes in a few short intervals, its bytes
/// are then walked once.
pub(crate) fn merge_encoded(parts: &[&[u8]]) -> Box<[u8]> {
    match parts {
        [] => HistogramChange::default().encode(),
        [one] => Box::from(*one),
        [first, rest @ ..] => merge_two(first, &merge_encoded(rest)),
    }
}

/// [`merge_encoded`] of two parts, `older` then `newer`, in one pass over both.
fn merge_two(older: &[u8], newer: &[u8]) -> Box<[u8]> {
    let (mut a, mut b) = (Reader::new(older), Reader::new(newer));
    let (ha, hb) = (Header::read(&mut a), Header::read(&mut b));
    let (mut next_a, mut next_b) = (0, 0);
    let (mut x, mut y) = (a.bin(&mut next_a), b.bin(&mut next_b));
    let (min, max) = widened(x.map(|_| (ha.min, ha.max)), y.map(|_| (hb.min, hb.max)));
    let mut out = Vec::with_capacity(older.len() + newer.len());
    let header = Header {
        sum: ha.sum.saturating_add(hb.sum),
        min,
        max,
        clamped: ha.clamped.saturating_add(hb.clamped),
    };
    header.write(&mut out);
    let mut bins = BinWriter::default();
    loop {
        match (x, y) {
            (None, None) => break,
            (Some((i, c)), Some((j, _))) if i < j => {
                bins.write(&mut out, i, c);
                x = a.bin(&mut next_a);
            }
            (Some((i, c)), Some((j, d))) if i == j => {
                bins.write(&mut out, i, c.saturating_add(d));
                (x, y) = (a.bin(&mut next_a), b.bin(&mut next_b));
            }
            (Some((i, c)), None) => {
                bins.write(&mut out, i, c);
                x = a.bin(&mut next_a);
            }
            (_, Some((j, d))) => {
                bins.write(&mut out, j, d);
                y = b.bin(&mut next_b);
            }
        }
    }
    BinWriter::end(&mut out);
    write_exemplars(&mut out, &slowest_of(a.exemplars(), &b.exemplars()));
    out.into_boxed_slice()
}

/// The bounds of two consecutive intervals' values together (`None`: no bin grew in it).
fn widened(first: Option<(u64, u64)>, second: Option<(u64, u64)>) -> (u64, u64) {
    match (first, second) {
        (Some((a, b)), Some((c, d))) => (a.min(c), b.max(d)),
        (Some(bounds), None) | (None, Some(bounds)) => bounds,
        (None, None) => (0, 0),
    }
}

/// The slowest exemplars of `first` and `second`.
fn slowest_of(mut first: Vec<Exemplar>, second: &[Exemplar]) -> Vec<Exemplar> {
    if !second.is_empty() {
        first.extend_from_slice(second);
        keep_slowest(&mut first);
    }
    first
}

/// The bin-by-bin sum of two ascending bin lists (saturating).
#[cfg(test)]
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

/// What an encoded change starts with.
struct Header {
    sum: u128,
    min: u64,
    max: u64,
    clamped: u64,
}

impl Header {
    fn write(&self, out: &mut Vec<u8>) {
        put(out, self.sum);
        put(out, u128::from(self.min));
        put(out, u128::from(self.max.saturating_sub(self.min)));
        put(out, u128::from(self.clamped));
    }

    fn read(r: &mut Reader<'_>) -> Self {
        let sum = r.next();
        let min = r.next_u64();
        let max = min.saturating_add(r.next_u64());
        Self {
            sum,
            min,
            max,
            clamped: r.next_u64(),
        }
    }
}

/// Writes ascending bins as (gap, count) pairs.
#[derive(Default)]
struct BinWriter {
    /// The lowest bin the next one may be (one past the last written).
    next: usize,
}

impl BinWriter {
    #[inline]
    fn write(&mut self, out: &mut Vec<u8>, bin: usize, count: u64) {
        debug_assert!(bin >= self.next && count > 0);
        put_u64(out, (bin - self.next) as u64);
        put_u64(out, count);
        self.next = bin + 1;
    }

    /// The end of the bins: a pair with a zero count (a bin's count never is).
    fn end(out: &mut Vec<u8>) {
        put(out, 0);
        put(out, 0);
    }
}

fn write_exemplars(out: &mut Vec<u8>, exemplars: &[Exemplar]) {
    put(out, exemplars.len() as u128);
    for e in exemplars {
        put(out, u128::from(e.value));
        put(out, u128::from(e.id));
    }
}

/// Appends `v` as an LEB128 varint (7 bits a byte, low first).
fn put(out: &mut Vec<u8>, v: u128) {
    match u64::try_from(v) {
        Ok(small) => put_u64(out, small),
        Err(_) => {
            let mut v = v;
            while v >= 0x80 {
                out.push((v as u8) | 0x80);
                v >>= 7;
            }
            out.push(v as u8);
        }
    }
}

/// [`put`] for a `u64`: bin gaps and counts, most of them a single byte.
#[inline]
fn put_u64(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads the varints [`put`] wrote.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, at: 0 }
    }

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

    /// The next varint as a `u64` (saturating), one byte read directly.
    #[inline]
    fn next_u64(&mut self) -> u64 {
        match self.bytes.get(self.at) {
            Some(&byte) if byte < 0x80 => {
                self.at += 1;
                u64::from(byte)
            }
            _ => u64::try_from(self.next()).unwrap_or(u64::MAX),
        }
    }

    /// The next bin and its count, `next` being one past the previous bin; `None` at the end
    /// of the bins.
    fn bin(&mut self, next: &mut usize) -> Option<(usize, u64)> {
        let bin = next.saturating_add(self.next_u64() as usize);
        let count = self.next_u64();
        (count != 0).then(|| {
            *next = bin + 1;
            (bin, count)
        })
    }

    /// The exemplars, after the bins.
    fn exemplars(&mut self) -> Vec<Exemplar> {
        let n = self.next_u64() as usize;
        (0..n.min(self.bytes.len()))
            .map(|_| Exemplar {
                value: self.next_u64(),
                id: self.next_u64(),
            })
            .collect()
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
    fn merging_several_encoded_changes_equals_adding_them_in_turn() {
        let ex = |value, id| Exemplar { value, id };
        let parts = [
            HistogramChange {
                bins: vec![(3, 2), (700, 1)],
                sum: 900,
                min: 3,
                max: 720,
                clamped: 0,
                exemplars: vec![ex(720, 1)],
            },
            // Nothing recorded in between (only the sum moved: a racing snapshot).
            HistogramChange {
                sum: 5,
                ..HistogramChange::default()
            },
            HistogramChange {
                bins: vec![(0, 1), (3, 4), (90_000, 1)],
                sum: 1 << 70,
                min: 0,
                max: u64::MAX,
                clamped: 1,
                exemplars: vec![ex(u64::MAX, 2), ex(5, 3)],
            },
            HistogramChange {
                bins: vec![(700, 9)],
                sum: 6_300,
                min: 700,
                max: 703,
                clamped: 0,
                exemplars: vec![ex(703, 4)],
            },
        ];
        let mut added = parts[0].clone();
        parts[1..].iter().for_each(|p| added.add(p));
        let encoded: Vec<Box<[u8]>> = parts.iter().map(HistogramChange::encode).collect();
        let refs: Vec<&[u8]> = encoded.iter().map(|e| &**e).collect();
        assert_eq!(HistogramChange::decode(&merge_encoded(&refs)), added);
        // And pairwise, in turn, the same.
        let pairwise = refs[1..]
            .iter()
            .fold(encoded[0].clone(), |acc, p| merge_encoded(&[&acc, p]));
        assert_eq!(HistogramChange::decode(&pairwise), added);
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
        let (first, second) = (
            HistogramChange::between(Some(&a), &b),
            HistogramChange::between(Some(&b), &c),
        );
        let mut summed = first.clone();
        summed.add(&second);
        // Merging the encoded forms gives the same change.
        let merged = merge_encoded(&[&first.encode(), &second.encode()]);
        assert_eq!(HistogramChange::decode(&merged), summed);
        // And one interval's change is `delta_since`'s.
        assert_eq!(first.to_snapshot(*b.layout()), b.delta_since(&a));
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
