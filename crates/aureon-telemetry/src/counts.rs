//! Merged bin counts, stored as the pages that hold any count.
//!
//! A snapshot keeps, for every page (run of [`PAGE_LEN`] bins) that some shard allocated, the
//! page's counts densely. Building it is a straight copy-and-add of the shards' pages (no
//! per-bin branching), and its size follows the pages actually used, like the shards' own
//! memory, never the configured range. Readers walk the non-zero bins.

use crate::shard::PAGE_LEN;

/// Bin counts of the occupied pages, ascending by page.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct PagedCounts {
    /// Page numbers, strictly ascending.
    pages: Vec<u32>,
    /// `pages.len() * PAGE_LEN` counts: page `pages[k]`'s bins at `k * PAGE_LEN ..`.
    counts: Vec<u64>,
}

impl PagedCounts {
    pub(crate) fn with_capacity(pages: usize) -> Self {
        Self {
            pages: Vec::with_capacity(pages),
            counts: Vec::with_capacity(pages * PAGE_LEN),
        }
    }

    /// Appends page `page` (greater than every page so far), zeroed, and returns its counts.
    pub(crate) fn push_page(&mut self, page: usize) -> &mut [u64] {
        debug_assert!(self.pages.last().is_none_or(|&p| (p as usize) < page));
        self.pages.push(page as u32);
        let start = self.counts.len();
        self.counts.resize(start + PAGE_LEN, 0);
        &mut self.counts[start..]
    }

    /// Appends page `page` (greater than every page so far) with the given counts (exactly
    /// [`PAGE_LEN`] of them) and returns them for further adding.
    pub(crate) fn push_page_from(
        &mut self,
        page: usize,
        counts: impl Iterator<Item = u64>,
    ) -> &mut [u64] {
        debug_assert!(self.pages.last().is_none_or(|&p| (p as usize) < page));
        self.pages.push(page as u32);
        let start = self.counts.len();
        self.counts.extend(counts.take(PAGE_LEN));
        debug_assert_eq!(self.counts.len(), start + PAGE_LEN);
        &mut self.counts[start..]
    }

    /// Removes the last page (the caller found it empty).
    pub(crate) fn pop_page(&mut self) {
        if self.pages.pop().is_some() {
            self.counts.truncate(self.pages.len() * PAGE_LEN);
        }
    }

    /// Removes the last page if all its counts are zero (a page can be allocated a moment
    /// before its first count is stored).
    pub(crate) fn drop_last_if_empty(&mut self) {
        let start = self.counts.len().saturating_sub(PAGE_LEN);
        if !self.pages.is_empty() && self.counts[start..].iter().all(|&c| c == 0) {
            self.pages.pop();
            self.counts.truncate(start);
        }
    }

    /// `(bin index, count)` of every non-zero bin, ascending.
    pub(crate) fn iter(&self) -> impl DoubleEndedIterator<Item = (usize, u64)> + '_ {
        self.pages
            .iter()
            .zip(self.counts.chunks_exact(PAGE_LEN))
            .flat_map(|(&page, counts)| {
                let base = page as usize * PAGE_LEN;
                counts
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| **c != 0)
                    .map(move |(i, &c)| (base + i, c))
            })
    }

    /// Sum of all counts, saturating.
    pub(crate) fn total(&self) -> u64 {
        self.counts.iter().fold(0u64, |a, &c| a.saturating_add(c))
    }

    /// Combines two page sets bin by bin with `f` (a missing page counts as zeros), keeping
    /// only pages with a non-zero result.
    pub(crate) fn combine(&self, other: &Self, f: impl Fn(u64, u64) -> u64) -> Self {
        const ZEROS: [u64; PAGE_LEN] = [0; PAGE_LEN];
        let mut out = Self::with_capacity(self.pages.len().max(other.pages.len()));
        let (mut i, mut j) = (0, 0);
        while i < self.pages.len() || j < other.pages.len() {
            let a = self.pages.get(i).copied().unwrap_or(u32::MAX);
            let b = other.pages.get(j).copied().unwrap_or(u32::MAX);
            let page = a.min(b);
            let left = if a == page {
                i += 1;
                self.page_counts(i - 1)
            } else {
                &ZEROS
            };
            let right = if b == page {
                j += 1;
                other.page_counts(j - 1)
            } else {
                &ZEROS
            };
            for ((o, &x), &y) in out.push_page(page as usize).iter_mut().zip(left).zip(right) {
                *o = f(x, y);
            }
            out.drop_last_if_empty();
        }
        out
    }

    fn page_counts(&self, k: usize) -> &[u64] {
        &self.counts[k * PAGE_LEN..(k + 1) * PAGE_LEN]
    }
}

#[cfg(all(test, not(aureon_loom)))]
mod tests {
    use super::*;

    fn from_bins(bins: &[(usize, u64)]) -> PagedCounts {
        let mut pc = PagedCounts::default();
        for &(i, c) in bins {
            if pc.pages.last().is_none_or(|&p| p as usize != i / PAGE_LEN) {
                pc.push_page(i / PAGE_LEN);
            }
            let start = pc.counts.len() - PAGE_LEN;
            pc.counts[start + i % PAGE_LEN] += c;
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
}
