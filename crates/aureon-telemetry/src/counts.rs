//! Merged bin counts, stored as the pages that hold any count.
//!
//! A snapshot keeps, for every page (run of [`PAGE_LEN`] bins) that some shard allocated, the
//! page's counts densely. Building it is a straight copy-and-add of the shards' pages (no
//! per-bin branching), and its size follows the pages actually used, like the shards' own
//! memory, never the configured range. Readers walk the non-zero bins.
//!
//! Like the shards' pages, each page's counts are 32-bit while all of them fit, and 64-bit
//! otherwise, page by page: merging is bound by the bytes it moves, and only a histogram's
//! hottest bins ever pass 2^32, so one such bin must not make every other page wide.

use crate::shard::{NarrowPage, PAGE_LEN, PageRef};
use crate::sync::Ordering;

/// Bin counts of the occupied pages, ascending by page.
#[derive(Debug, Clone, Default)]
pub(crate) struct PagedCounts {
    /// The occupied pages, strictly ascending by page number.
    pages: Vec<PageEntry>,
    /// The counts of the narrow pages, [`PAGE_LEN`] per page.
    narrow: Vec<u32>,
    /// The counts of the wide pages, [`PAGE_LEN`] per page.
    wide: Vec<u64>,
}

/// Where one page's counts are.
#[derive(Debug, Clone, Copy)]
struct PageEntry {
    /// Page number (its first bin is `page * PAGE_LEN`).
    page: u32,
    /// Whether the counts are in `wide` (else in `narrow`).
    wide: bool,
    /// Index of the page's first count in that vector.
    at: usize,
    /// The sum of the page's counts (saturating): two snapshots of one histogram whose page
    /// totals are equal (and below saturation) have equal bins there, since no bin ever
    /// decreases, which lets [`PagedCounts::for_each_growth`] skip the page unread.
    total: u64,
}

/// One page's counts, either width.
#[derive(Clone, Copy)]
enum PageCounts<'a> {
    Narrow(&'a [u32]),
    Wide(&'a [u64]),
}

impl PageCounts<'_> {
    #[inline]
    fn get(self, bin: usize) -> u64 {
        match self {
            Self::Narrow(c) => u64::from(c[bin]),
            Self::Wide(c) => c[bin],
        }
    }
}

impl PartialEq for PagedCounts {
    /// Equal counts in equal pages, whichever width stores them.
    fn eq(&self, other: &Self) -> bool {
        self.pages.len() == other.pages.len()
            && self.pages.iter().zip(&other.pages).all(|(a, b)| {
                let (x, y) = (self.counts(a), other.counts(b));
                a.page == b.page && (0..PAGE_LEN).all(|i| x.get(i) == y.get(i))
            })
    }
}

impl Eq for PagedCounts {}

impl PagedCounts {
    /// Bytes these counts hold on the heap.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.pages.capacity() * size_of::<PageEntry>()
            + self.narrow.capacity() * size_of::<u32>()
            + self.wide.capacity() * size_of::<u64>()
    }

    pub(crate) fn with_capacity(pages: usize) -> Self {
        Self {
            pages: Vec::with_capacity(pages),
            narrow: Vec::with_capacity(pages * PAGE_LEN),
            wide: Vec::new(),
        }
    }

    fn counts(&self, entry: &PageEntry) -> PageCounts<'_> {
        let range = entry.at..entry.at + PAGE_LEN;
        if entry.wide {
            PageCounts::Wide(&self.wide[range])
        } else {
            PageCounts::Narrow(&self.narrow[range])
        }
    }

    fn push_entry(&mut self, page: usize, wide: bool, at: usize, total: u64) {
        debug_assert!(self.pages.last().is_none_or(|e| (e.page as usize) < page));
        let page = u32::try_from(page).expect("page numbers fit 32 bits (layouts are smaller)");
        self.pages.push(PageEntry {
            page,
            wide,
            at,
            total,
        });
    }

    /// Appends page `page` (greater than every page so far) as the sum of `sources`, the
    /// shards' copies of that page, read with Acquire (the shard protocol: bins before
    /// totals). Returns the page's total; an all-zero page (allocated a moment before its
    /// first count was stored) is not kept.
    pub(crate) fn push_merged(&mut self, page: usize, sources: &[PageRef<'_>]) -> u64 {
        if let Some(narrow) = narrow_sources(sources)
            && let Some(total) = self.push_merged_narrow(page, narrow)
        {
            return total;
        }
        self.push_merged_wide(page, sources)
    }

    /// The common case: every source is narrow. `None` if some sum wraps 32 bits (nothing is
    /// kept then; the caller merges the page wide).
    fn push_merged_narrow<'a>(
        &mut self,
        page: usize,
        mut sources: impl Iterator<Item = &'a NarrowPage>,
    ) -> Option<u64> {
        let Some(first) = sources.next() else {
            return Some(0);
        };
        let start = self.narrow.len();
        self.narrow
            .extend(first.0.iter().map(|c| c.load(Ordering::Acquire)));
        let out = &mut self.narrow[start..];
        // Atomic loads are never vectorised, so each further page is first loaded into a
        // plain buffer (one load and one store per bin) and then added with wrapping adds and
        // a carry flag, which the compiler vectorises: no branch in the loop, and a wrap
        // (`sum < addend`, exact for each add, so no number of sources hides one) is rare
        // enough to redo the page wide.
        let mut wrapped = false;
        for source in sources {
            let loaded: [u32; PAGE_LEN] =
                std::array::from_fn(|i| source.0[i].load(Ordering::Acquire));
            for (o, &c) in out.iter_mut().zip(&loaded) {
                let sum = o.wrapping_add(c);
                wrapped |= sum < c;
                *o = sum;
            }
        }
        let total: u64 = out.iter().map(|&c| u64::from(c)).sum();
        if wrapped || total == 0 {
            self.narrow.truncate(start);
            return (!wrapped).then_some(0);
        }
        self.push_entry(page, false, start, total);
        Some(total)
    }

    /// A page with a wide source or a sum past 32 bits: merged into 64-bit counts, saturating.
    /// Re-reading the sources after a narrow attempt is fine: counts only grow, and the bins
    /// are still read before the totals.
    #[cold]
    fn push_merged_wide(&mut self, page: usize, sources: &[PageRef<'_>]) -> u64 {
        let mut out = [0u64; PAGE_LEN];
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
        let total = saturating_total(&out);
        if total != 0 {
            self.push_wide_values(page, &out, total);
        }
        total
    }

    fn push_wide_values(&mut self, page: usize, values: &[u64; PAGE_LEN], total: u64) {
        let at = self.wide.len();
        self.wide.extend_from_slice(values);
        self.push_entry(page, true, at, total);
    }

    /// Appends page `page` (greater than every page so far) with the given counts, narrow if
    /// they all fit 32 bits, unless they are all zero.
    fn push_values(&mut self, page: usize, values: &[u64; PAGE_LEN]) {
        if values.iter().all(|&c| c == 0) {
            return;
        }
        let total = saturating_total(values);
        if values.iter().all(|&c| u32::try_from(c).is_ok()) {
            let at = self.narrow.len();
            self.narrow.extend(values.iter().map(|&c| c as u32));
            self.push_entry(page, false, at, total);
        } else {
            self.push_wide_values(page, values, total);
        }
    }

    /// Counts from `(bin index, count)` pairs in strictly ascending bin order (zero counts
    /// are skipped): how a history turns a stored change back into counts.
    pub(crate) fn from_sparse(bins: impl IntoIterator<Item = (usize, u64)>) -> Self {
        let mut out = Self::default();
        let mut values = [0u64; PAGE_LEN];
        let mut current: Option<usize> = None;
        for (bin, count) in bins {
            let page = bin / PAGE_LEN;
            if current != Some(page) {
                if let Some(done) = current {
                    out.push_values(done, &values);
                    values = [0; PAGE_LEN];
                }
                current = Some(page);
            }
            values[bin % PAGE_LEN] = count;
        }
        if let Some(done) = current {
            out.push_values(done, &values);
        }
        out
    }

    /// `(bin index, count)` of every non-zero bin, ascending.
    pub(crate) fn iter(&self) -> impl DoubleEndedIterator<Item = (usize, u64)> + '_ {
        self.pages.iter().flat_map(move |entry| {
            let base = entry.page as usize * PAGE_LEN;
            let counts = self.counts(entry);
            (0..PAGE_LEN).filter_map(move |i| {
                let c = counts.get(i);
                (c != 0).then_some((base + i, c))
            })
        })
    }

    /// Sum of all counts, saturating.
    pub(crate) fn total(&self) -> u64 {
        let narrow: u64 = self.narrow.iter().map(|&c| u64::from(c)).sum();
        narrow.saturating_add(saturating_total(&self.wide))
    }

    /// Calls `f(bin, grown)` for every bin whose count is higher here than in `earlier`
    /// (an earlier snapshot of the same histogram), with the difference, ascending: what
    /// was recorded in between, without building it as pages. Bins lower here (which an
    /// earlier snapshot of the same histogram never has) count as unchanged.
    pub(crate) fn for_each_growth(&self, earlier: &Self, mut f: impl FnMut(usize, u64)) {
        let mut old = earlier.pages.iter().peekable();
        for entry in &self.pages {
            while old.next_if(|e| e.page < entry.page).is_some() {}
            let base = entry.page as usize * PAGE_LEN;
            let now = self.counts(entry);
            match old.next_if(|e| e.page == entry.page) {
                Some(before) if before.total == entry.total && entry.total != u64::MAX => {}
                None => {
                    for i in 0..PAGE_LEN {
                        let c = now.get(i);
                        if c != 0 {
                            f(base + i, c);
                        }
                    }
                }
                Some(before) => match (now, earlier.counts(before)) {
                    // The common case: between two ticks most bins of a page did not
                    // change, so runs of 16 are compared first (a branch-free fold the
                    // compiler vectorises) and only runs with a change are walked.
                    (PageCounts::Narrow(now), PageCounts::Narrow(before)) => {
                        const RUN: usize = if PAGE_LEN < 16 { PAGE_LEN } else { 16 };
                        let runs = now.chunks_exact(RUN).zip(before.chunks_exact(RUN));
                        for (r, (n, b)) in runs.enumerate() {
                            let differs = n.iter().zip(b).fold(0, |acc, (x, y)| acc | (x ^ y));
                            if differs == 0 {
                                continue;
                            }
                            for (i, (&n, &b)) in n.iter().zip(b).enumerate() {
                                if n > b {
                                    f(base + r * RUN + i, u64::from(n - b));
                                }
                            }
                        }
                    }
                    (now, before) => {
                        for i in 0..PAGE_LEN {
                            let (n, b) = (now.get(i), before.get(i));
                            if n > b {
                                f(base + i, n - b);
                            }
                        }
                    }
                },
            }
        }
    }

    /// Combines two page sets bin by bin with `f` (a missing page counts as zeros), keeping
    /// only pages with a non-zero result.
    pub(crate) fn combine(&self, other: &Self, f: impl Fn(u64, u64) -> u64) -> Self {
        let mut out = Self::with_capacity(self.pages.len().max(other.pages.len()));
        let (mut i, mut j) = (0, 0);
        let mut values = [0u64; PAGE_LEN];
        while i < self.pages.len() || j < other.pages.len() {
            let a = self.pages.get(i).map_or(u32::MAX, |e| e.page);
            let b = other.pages.get(j).map_or(u32::MAX, |e| e.page);
            let page = a.min(b);
            let left = (a == page).then(|| {
                i += 1;
                self.counts(&self.pages[i - 1])
            });
            let right = (b == page).then(|| {
                j += 1;
                other.counts(&other.pages[j - 1])
            });
            for (bin, value) in values.iter_mut().enumerate() {
                let x = left.map_or(0, |c| c.get(bin));
                let y = right.map_or(0, |c| c.get(bin));
                *value = f(x, y);
            }
            out.push_values(page as usize, &values);
        }
        out
    }
}

/// The sources as narrow pages, if they all are.
fn narrow_sources<'a>(
    sources: &'a [PageRef<'a>],
) -> Option<impl Iterator<Item = &'a NarrowPage> + 'a> {
    sources
        .iter()
        .all(|s| matches!(s, PageRef::Narrow(_)))
        .then(|| {
            sources.iter().filter_map(|s| match s {
                PageRef::Narrow(p) => Some(*p),
                PageRef::Wide(_) => None,
            })
        })
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
    use crate::shard::WidePage;

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
        let page = NarrowPage::zeroed();
        for &(i, c) in counts {
            page.0[i].store(c, Ordering::Relaxed);
        }
        page
    }

    /// Which pages are stored wide, in order.
    fn widths(pc: &PagedCounts) -> Vec<(u32, bool)> {
        pc.pages.iter().map(|e| (e.page, e.wide)).collect()
    }

    #[test]
    fn a_page_is_wide_only_when_its_own_sum_wraps() {
        let a = narrow_page(&[(0, 7), (5, u32::MAX - 1)]);
        let b = narrow_page(&[(0, 3), (5, 1)]);
        let mut pc = PagedCounts::default();
        let total = pc.push_merged(2, &[PageRef::Narrow(&a), PageRef::Narrow(&b)]);
        assert_eq!(total, 10 + u64::from(u32::MAX), "u32::MAX still fits");
        // Three sources whose sum wraps only on the third add.
        let c = narrow_page(&[(1, u32::MAX - 10)]);
        let d = narrow_page(&[(1, 6), (3, 4)]);
        let e = narrow_page(&[(1, 6)]);
        let sources = [
            PageRef::Narrow(&c),
            PageRef::Narrow(&d),
            PageRef::Narrow(&e),
        ];
        let total = pc.push_merged(3, &sources);
        assert_eq!(total, u64::from(u32::MAX) + 2 + 4);
        // The next page fits again and stays narrow, whatever came before it.
        let f = narrow_page(&[(0, 1)]);
        assert_eq!(pc.push_merged(4, &[PageRef::Narrow(&f)]), 1);
        assert_eq!(widths(&pc), vec![(2, false), (3, true), (4, false)]);
        let expected = vec![
            (2 * PAGE_LEN, 10),
            (2 * PAGE_LEN + 5, u64::from(u32::MAX)),
            (3 * PAGE_LEN + 1, u64::from(u32::MAX) + 2),
            (3 * PAGE_LEN + 3, 4),
            (4 * PAGE_LEN, 1),
        ];
        assert_eq!(pc.iter().collect::<Vec<_>>(), expected);
        assert_eq!(pc.iter().next_back(), Some((4 * PAGE_LEN, 1)));
        assert_eq!(pc.total(), 10 + 2 * u64::from(u32::MAX) + 6 + 1);
        // An all-zero page (allocated before its first count landed) is not kept.
        let empty = narrow_page(&[]);
        assert_eq!(pc.push_merged(5, &[PageRef::Narrow(&empty)]), 0);
        assert_eq!(pc.iter().count(), 5);
        // Equality does not depend on the width that stores the counts.
        assert_eq!(pc, from_bins(&expected));
        assert_eq!(
            pc.combine(&from_bins(&expected[2..4]), u64::saturating_sub),
            from_bins(&[expected[0], expected[1], expected[4]]),
        );
        assert_eq!(
            widths(&pc.combine(&from_bins(&expected[2..4]), u64::saturating_sub)),
            vec![(2, false), (4, false)],
            "a page whose counts fit again is stored narrow"
        );
    }

    #[test]
    fn a_wide_source_makes_only_its_page_wide() {
        let narrow = narrow_page(&[(0, 5), (2, u32::MAX)]);
        let wide = WidePage::for_tests(&[(0, 1), (1, 1 << 40)]);
        let mut pc = PagedCounts::default();
        let total = pc.push_merged(0, &[PageRef::Narrow(&narrow), PageRef::Wide(&wide)]);
        assert_eq!(total, 6 + (1 << 40) + u64::from(u32::MAX));
        let again = narrow_page(&[(3, 2)]);
        pc.push_merged(1, &[PageRef::Narrow(&again)]);
        assert_eq!(widths(&pc), vec![(0, true), (1, false)]);
        assert_eq!(
            pc.iter().collect::<Vec<_>>(),
            vec![
                (0, 6),
                (1, 1 << 40),
                (2, u64::from(u32::MAX)),
                (PAGE_LEN + 3, 2)
            ]
        );
        // Saturation instead of wrap at 64 bits.
        let full = WidePage::for_tests(&[(0, u64::MAX)]);
        let mut pc = PagedCounts::default();
        assert_eq!(
            pc.push_merged(0, &[PageRef::Wide(&full), PageRef::Narrow(&narrow)]),
            u64::MAX
        );
        assert_eq!(pc.iter().next(), Some((0, u64::MAX)));
    }
}
