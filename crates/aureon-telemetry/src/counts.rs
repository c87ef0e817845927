//! Merged bin counts, stored as the pages that hold any count.
//!
//! A snapshot keeps, for every page (run of [`PAGE_LEN`] bins) that some shard allocated, the
//! page's counts densely. Building it is a straight copy-and-add of the shards' pages (no
//! per-bin branching), and its size follows the pages actually used, like the shards' own
//! memory, never the configured range. Readers walk the non-zero bins.
//!
//! Like the shards' pages, the counts are 32-bit while every count fits, and the whole set
//! switches to 64-bit the first time one does not: merging is bound by the bytes it moves,
//! and almost no histogram has a bin above 2^32.

use crate::shard::{NarrowPage, PAGE_LEN, PageRef};
use crate::sync::Ordering;

/// Bin counts of the occupied pages, ascending by page.
#[derive(Debug, Clone, Default)]
pub(crate) struct PagedCounts {
    /// Page numbers, strictly ascending.
    pages: Vec<u32>,
    /// `pages.len() * PAGE_LEN` counts: page `pages[k]`'s bins at `k * PAGE_LEN ..`.
    counts: Counts,
}

/// The count words: 32-bit until a count needs more.
#[derive(Debug, Clone)]
enum Counts {
    Narrow(Vec<u32>),
    Wide(Vec<u64>),
}

impl Default for Counts {
    fn default() -> Self {
        Self::Narrow(Vec::new())
    }
}

impl PartialEq for PagedCounts {
    /// Equal counts in equal pages, whichever width stores them.
    fn eq(&self, other: &Self) -> bool {
        self.pages == other.pages && (0..self.len()).all(|j| self.get(j) == other.get(j))
    }
}

impl Eq for PagedCounts {}

impl PagedCounts {
    pub(crate) fn with_capacity(pages: usize) -> Self {
        Self {
            pages: Vec::with_capacity(pages),
            counts: Counts::Narrow(Vec::with_capacity(pages * PAGE_LEN)),
        }
    }

    /// Number of count words.
    fn len(&self) -> usize {
        match &self.counts {
            Counts::Narrow(v) => v.len(),
            Counts::Wide(v) => v.len(),
        }
    }

    /// Count word `j`.
    #[inline]
    fn get(&self, j: usize) -> u64 {
        match &self.counts {
            Counts::Narrow(v) => u64::from(v[j]),
            Counts::Wide(v) => v[j],
        }
    }

    /// Switches to 64-bit counts (once, when a count does not fit 32 bits).
    #[cold]
    fn widen(&mut self) -> &mut Vec<u64> {
        if let Counts::Narrow(v) = &self.counts {
            let mut wide = Vec::with_capacity(v.capacity());
            wide.extend(v.iter().map(|&c| u64::from(c)));
            self.counts = Counts::Wide(wide);
        }
        match &mut self.counts {
            Counts::Wide(v) => v,
            Counts::Narrow(_) => unreachable!("widened above"),
        }
    }

    /// Appends page `page` (greater than every page so far) as the sum of `sources`, the
    /// shards' copies of that page, read with Acquire (the shard protocol: bins before
    /// totals). Returns the page's total; an all-zero page (allocated a moment before its
    /// first count was stored) is not kept.
    pub(crate) fn push_merged(&mut self, page: usize, sources: &[PageRef<'_>]) -> u64 {
        debug_assert!(self.pages.last().is_none_or(|&p| (p as usize) < page));
        let Some((first, rest)) = sources.split_first() else {
            return 0;
        };
        if let Counts::Narrow(v) = &mut self.counts
            && let PageRef::Narrow(first) = first
            && rest.iter().all(|s| matches!(s, PageRef::Narrow(_)))
        {
            let start = v.len();
            v.extend(first.0.iter().map(|c| c.load(Ordering::Acquire)));
            let out = &mut v[start..];
            // Atomic loads are never vectorised, so each further page is first loaded into a
            // plain buffer (one load and one store per bin) and then added with wrapping adds
            // and a carry flag, which the compiler vectorises: no branch in the loop, and a
            // wrap (`sum < addend`) is rare enough to redo the page wide.
            let mut wrapped = false;
            for source in rest {
                let PageRef::Narrow(source) = source else {
                    unreachable!("checked above")
                };
                let loaded: [u32; PAGE_LEN] =
                    std::array::from_fn(|i| source.0[i].load(Ordering::Acquire));
                for (o, &c) in out.iter_mut().zip(&loaded) {
                    let sum = o.wrapping_add(c);
                    wrapped |= sum < c;
                    *o = sum;
                }
            }
            if !wrapped {
                let total: u64 = out.iter().map(|&c| u64::from(c)).sum();
                if total == 0 {
                    v.truncate(start);
                } else {
                    self.pages.push(page as u32);
                }
                return total;
            }
            v.truncate(start);
        }
        let v = self.widen();
        let start = v.len();
        v.resize(start + PAGE_LEN, 0);
        let out = &mut v[start..];
        for source in sources {
            match source {
                PageRef::Narrow(p) => {
                    for (o, c) in out.iter_mut().zip(p.0.iter()) {
                        *o = o.saturating_add(u64::from(c.load(Ordering::Acquire)));
                    }
                }
                PageRef::Wide(p) => {
                    for (o, c) in out.iter_mut().zip(p.counts.iter()) {
                        *o = o.saturating_add(c.load(Ordering::Acquire));
                    }
                }
            }
        }
        let total = saturating_total(out);
        if total == 0 {
            v.truncate(start);
        } else {
            self.pages.push(page as u32);
        }
        total
    }

    /// Appends page `page` (greater than every page so far) with the given counts (exactly
    /// [`PAGE_LEN`]) unless they are all zero.
    fn push_values(&mut self, page: usize, values: &[u64; PAGE_LEN]) {
        debug_assert!(self.pages.last().is_none_or(|&p| (p as usize) < page));
        if values.iter().all(|&c| c == 0) {
            return;
        }
        self.pages.push(page as u32);
        if let Counts::Narrow(v) = &mut self.counts
            && values.iter().all(|&c| u32::try_from(c).is_ok())
        {
            v.extend(values.iter().map(|&c| c as u32));
            return;
        }
        self.widen().extend_from_slice(values);
    }

    /// `(bin index, count)` of every non-zero bin, ascending.
    pub(crate) fn iter(&self) -> impl DoubleEndedIterator<Item = (usize, u64)> + '_ {
        self.pages.iter().enumerate().flat_map(move |(k, &page)| {
            let base = page as usize * PAGE_LEN;
            (0..PAGE_LEN).filter_map(move |i| {
                let c = self.get(k * PAGE_LEN + i);
                (c != 0).then_some((base + i, c))
            })
        })
    }

    /// Sum of all counts, saturating.
    pub(crate) fn total(&self) -> u64 {
        match &self.counts {
            Counts::Narrow(v) => {
                let sum: u128 = v.iter().map(|&c| u128::from(c)).sum();
                sum.min(u128::from(u64::MAX)) as u64
            }
            Counts::Wide(v) => saturating_total(v),
        }
    }

    /// Combines two page sets bin by bin with `f` (a missing page counts as zeros), keeping
    /// only pages with a non-zero result.
    pub(crate) fn combine(&self, other: &Self, f: impl Fn(u64, u64) -> u64) -> Self {
        let mut out = Self::with_capacity(self.pages.len().max(other.pages.len()));
        let (mut i, mut j) = (0, 0);
        let mut values = [0u64; PAGE_LEN];
        while i < self.pages.len() || j < other.pages.len() {
            let a = self.pages.get(i).copied().unwrap_or(u32::MAX);
            let b = other.pages.get(j).copied().unwrap_or(u32::MAX);
            let page = a.min(b);
            let left = (a == page).then(|| {
                i += 1;
                i - 1
            });
            let right = (b == page).then(|| {
                j += 1;
                j - 1
            });
            for (bin, value) in values.iter_mut().enumerate() {
                let x = left.map_or(0, |k| self.get(k * PAGE_LEN + bin));
                let y = right.map_or(0, |k| other.get(k * PAGE_LEN + bin));
                *value = f(x, y);
            }
            out.push_values(page as usize, &values);
        }
        out
    }
}

/// Asks the CPU to start loading `page` into cache. A snapshot reads pages scattered over the
/// heap, 1 KiB each: too short for the hardware prefetcher to ramp up on, so without a hint
/// the merge waits on every cache miss. Issued one page ahead of the merge, into L2 (`T1`):
/// on the benchmark machine that beat both L1 (`T0`, whose few line-fill buffers then stall
/// the prefetches themselves) and a two-page lookahead (docs/benchmarks.md, run 5).
#[inline]
pub(crate) fn prefetch(page: PageRef<'_>) {
    let (start, len) = match page {
        PageRef::Narrow(p) => (
            (p as *const NarrowPage).cast::<u8>(),
            size_of::<NarrowPage>(),
        ),
        PageRef::Wide(p) => (
            (&p.counts as *const [_; PAGE_LEN]).cast::<u8>(),
            size_of_val(&p.counts),
        ),
    };
    for offset in (0..len).step_by(64) {
        prefetch_line(start.wrapping_add(offset));
    }
}

#[cfg(all(target_arch = "x86_64", not(miri), not(aureon_loom)))]
#[inline]
fn prefetch_line(p: *const u8) {
    use std::arch::x86_64::{_MM_HINT_T1, _mm_prefetch};
    // SAFETY: a prefetch is only a hint: it never faults and has no effect on memory,
    // whatever the address (here always inside a live page).
    unsafe { _mm_prefetch::<_MM_HINT_T1>(p.cast::<i8>()) };
}

#[cfg(not(all(target_arch = "x86_64", not(miri), not(aureon_loom))))]
#[inline]
fn prefetch_line(_: *const u8) {}

/// Sum of `counts`, saturating at `u64::MAX`.
fn saturating_total(counts: &[u64]) -> u64 {
    let sum: u128 = counts.iter().map(|&c| u128::from(c)).sum();
    sum.min(u128::from(u64::MAX)) as u64
}

#[cfg(all(test, not(aureon_loom)))]
mod tests {
    use super::*;
    use crate::sync::AtomicU32;

    fn from_bins(bins: &[(usize, u64)]) -> PagedCounts {
        let mut pc = PagedCounts::default();
        let mut page = [0u64; PAGE_LEN];
        let mut current = None;
        for &(i, c) in bins {
            if current.is_some_and(|p| p != i / PAGE_LEN) {
                pc.push_values(current.unwrap(), &page);
                page = [0; PAGE_LEN];
            }
            current = Some(i / PAGE_LEN);
            page[i % PAGE_LEN] += c;
        }
        if let Some(p) = current {
            pc.push_values(p, &page);
        }
        pc
    }

    #[test]
    fn iterates_non_zero_bins_in_order_and_combines_pagewise() {
        let a = from_bins(&[(3, 1), (PAGE_LEN + 2, 5), (7 * PAGE_LEN, 2)]);
        let b = from_bins(&[(3, 4), (2 * PAGE_LEN, 1)]);
        assert_eq!(
            a.iter().collect::<Vec<_>>(),
            vec![(3, 1), (PAGE_LEN + 2, 5), (7 * PAGE_LEN, 2)]
        );
        assert_eq!(a.total(), 8);
        let sum = a.combine(&b, u64::saturating_add);
        assert_eq!(
            sum.iter().collect::<Vec<_>>(),
            vec![
                (3, 5),
                (PAGE_LEN + 2, 5),
                (2 * PAGE_LEN, 1),
                (7 * PAGE_LEN, 2)
            ]
        );
        let back = sum.combine(&b, u64::saturating_sub);
        assert_eq!(back, a, "pages that become all-zero are dropped");
    }

    fn narrow_page(counts: &[(usize, u32)]) -> NarrowPage {
        let page = NarrowPage(std::array::from_fn(|_| AtomicU32::new(0)));
        for &(i, c) in counts {
            page.0[i].store(c, Ordering::Relaxed);
        }
        page
    }

    #[test]
    fn merging_narrow_pages_stays_narrow_until_a_sum_wraps() {
        let a = narrow_page(&[(0, 7), (5, u32::MAX - 1)]);
        let b = narrow_page(&[(0, 3), (5, 1)]);
        let mut pc = PagedCounts::default();
        let total = pc.push_merged(2, &[PageRef::Narrow(&a), PageRef::Narrow(&b)]);
        assert_eq!(total, 10 + u64::from(u32::MAX));
        assert!(
            matches!(pc.counts, Counts::Narrow(_)),
            "u32::MAX still fits"
        );
        // The next page's sum wraps 32 bits: the whole set switches to 64-bit counts.
        let c = narrow_page(&[(1, u32::MAX)]);
        let d = narrow_page(&[(1, 2), (3, 4)]);
        let total = pc.push_merged(3, &[PageRef::Narrow(&c), PageRef::Narrow(&d)]);
        assert_eq!(total, u64::from(u32::MAX) + 6);
        assert!(matches!(pc.counts, Counts::Wide(_)));
        let expected = vec![
            (2 * PAGE_LEN, 10),
            (2 * PAGE_LEN + 5, u64::from(u32::MAX)),
            (3 * PAGE_LEN + 1, u64::from(u32::MAX) + 2),
            (3 * PAGE_LEN + 3, 4),
        ];
        assert_eq!(pc.iter().collect::<Vec<_>>(), expected);
        assert_eq!(pc.total(), 10 + 2 * u64::from(u32::MAX) + 6);
        // An all-zero page (allocated before its first count landed) is not kept.
        let empty = narrow_page(&[]);
        assert_eq!(pc.push_merged(4, &[PageRef::Narrow(&empty)]), 0);
        assert_eq!(pc.iter().count(), 4);
        // Equality does not depend on the width that stores the counts.
        assert_eq!(pc, from_bins(&expected));
        assert!(matches!(
            from_bins(&expected[..2]).counts,
            Counts::Narrow(_)
        ));
        assert_eq!(
            pc.combine(&from_bins(&expected[2..]), u64::saturating_sub),
            from_bins(&expected[..2]),
        );
    }
}
