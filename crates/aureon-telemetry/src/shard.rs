//! One thread's part of a histogram: HDR bins in lazily allocated pages, plus exact min, max,
//! sum, clamped count and exemplars.
//!
//! The owning thread is the shard's only writer, so every update is a Relaxed load and a plain
//! store: no locked instruction, no lock, and no cache line that another thread writes.
//! Readers (snapshots) only load.
//!
//! Write order in [`Shard::record_run`]: page pointer, then min/max and sum, then the bin
//! count with Release. A snapshot reads the bins first (Acquire) and min/max/sum after, so
//! every value a snapshot counts in a bin is also covered by the min, max and sum it reads
//! (those may already include a few values whose bin store it did not see). Loom model:
//! `shard_record_while_snapshot`.
//!
//! Pages: the bins are split into pages of [`PAGE_LEN`] counts, allocated on the first record
//! that lands in them, so a shard costs memory for the part of the value range it has seen,
//! not for the configured range. Only the owner installs a page (plain Release store), and a
//! page is never freed while the shard lives, so a reader that loaded a non-null pointer
//! (Acquire) may read it. Loom model: `page_allocation_races_reader`.

use crate::exemplar::Exemplars;
use crate::layout::Layout;
use crate::sync::{AtomicPtr, AtomicU64, Ordering};
use crate::wide_sum::WideSum;
use std::ptr;

/// Counts per page: 2 KiB pages in normal builds; tiny under loom so models stay small.
#[cfg(not(aureon_loom))]
pub(crate) const PAGE_LEN: usize = 256;
/// Counts per page: 2 KiB pages in normal builds; tiny under loom so models stay small.
#[cfg(aureon_loom)]
pub(crate) const PAGE_LEN: usize = 4;

/// A page of bin counts, aligned like [`crate::sync::CachePadded`] so that no cache line holds
/// counts of two shards (pages of different threads may be allocated side by side).
#[repr(C, align(128))]
pub(crate) struct Page(pub(crate) [AtomicU64; PAGE_LEN]);

pub(crate) struct Shard {
    pages: Box<[AtomicPtr<Page>]>,
    min: AtomicU64,
    max: AtomicU64,
    sum: WideSum,
    clamped: AtomicU64,
    pub(crate) exemplars: Exemplars,
}

/// What a shard contributes to a snapshot besides its bins.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ShardTotals {
    pub(crate) min: u64,
    pub(crate) max: u64,
    pub(crate) sum: u128,
    pub(crate) clamped: u64,
}

pub(crate) fn page_count(layout: &Layout) -> usize {
    layout.len.div_ceil(PAGE_LEN)
}

/// Increments a single-writer counter without a locked instruction.
#[inline]
fn bump(cell: &AtomicU64, n: u64, order: Ordering) {
    cell.store(cell.load(Ordering::Relaxed).saturating_add(n), order);
}

impl Shard {
    pub(crate) fn new(layout: &Layout) -> Self {
        Self {
            pages: (0..page_count(layout))
                .map(|_| AtomicPtr::new(ptr::null_mut()))
                .collect(),
            min: AtomicU64::new(u64::MAX),
            max: AtomicU64::new(0),
            sum: WideSum::new(),
            clamped: AtomicU64::new(0),
            exemplars: Exemplars::new(),
        }
    }

    /// Records `n` values that all fall in bin `index`: the smallest is `lo`, the largest
    /// `hi`, and they add up to `sum`. `clamped` says they were above the trackable range.
    /// Only the owning thread may call this.
    ///
    /// # Safety
    /// `index` must come from [`Layout::index_clamped`] of the layout this shard was created
    /// with (so it is below `layout.len`); the page lookup does not check it.
    #[inline]
    pub(crate) unsafe fn record_run(
        &self,
        index: usize,
        clamped: bool,
        lo: u64,
        hi: u64,
        n: u64,
        sum: u128,
    ) {
        // SAFETY: forwarded from this function's contract.
        let bin = unsafe { self.bin(index) };
        if lo < self.min.load(Ordering::Relaxed) {
            self.min.store(lo, Ordering::Relaxed);
        }
        if hi > self.max.load(Ordering::Relaxed) {
            self.max.store(hi, Ordering::Relaxed);
        }
        self.sum.add(sum);
        if clamped {
            bump(&self.clamped, n, Ordering::Relaxed);
        }
        bump(bin, n, Ordering::Release);
    }

    #[inline]
    unsafe fn bin(&self, index: usize) -> &AtomicU64 {
        debug_assert!(index / PAGE_LEN < self.pages.len());
        // SAFETY: `record_run`'s contract: `index <= highest_index < layout.len`, and `pages`
        // has `ceil(layout.len / PAGE_LEN)` entries.
        let slot = unsafe { self.pages.get_unchecked(index / PAGE_LEN) };
        let mut page = slot.load(Ordering::Acquire);
        if page.is_null() {
            page = Self::allocate_page(slot);
        }
        // SAFETY: `page` is non-null, so it came from `allocate_page` and stays allocated
        // until the shard is dropped; `index % PAGE_LEN` is in bounds.
        unsafe { &(*page).0[index % PAGE_LEN] }
    }

    #[cold]
    #[inline(never)]
    fn allocate_page(slot: &AtomicPtr<Page>) -> *mut Page {
        let page: Box<Page> = Box::new(Page(std::array::from_fn(|_| AtomicU64::new(0))));
        let page = Box::into_raw(page);
        // The owner is the only thread that installs pages, so the slot is still null.
        slot.store(page, Ordering::Release);
        page
    }

    /// Page `p`, if this shard has allocated it.
    #[inline]
    pub(crate) fn page(&self, p: usize) -> Option<&Page> {
        let page = self.pages[p].load(Ordering::Acquire);
        // SAFETY: a non-null page pointer was published with Release by `allocate_page` after
        // the page was initialised (Acquire above), and is freed only in `drop`.
        (!page.is_null()).then(|| unsafe { &*page })
    }

    /// Min, max, sum and clamped count. Call after reading the bins (see the module docs).
    pub(crate) fn totals(&self) -> ShardTotals {
        ShardTotals {
            min: self.min.load(Ordering::Acquire),
            max: self.max.load(Ordering::Acquire),
            sum: self.sum.load(),
            clamped: self.clamped.load(Ordering::Acquire),
        }
    }

    /// Bytes this shard holds on the heap (pages and page table), for memory reports.
    pub(crate) fn heap_bytes(&self) -> usize {
        let pages = (0..self.pages.len())
            .filter(|&p| self.page(p).is_some())
            .count();
        std::mem::size_of::<Self>()
            + self.pages.len() * std::mem::size_of::<AtomicPtr<Page>>()
            + pages * std::mem::size_of::<Page>()
    }
}

impl Drop for Shard {
    fn drop(&mut self) {
        for slot in self.pages.iter() {
            let page = slot.load(Ordering::Relaxed);
            if !page.is_null() {
                // SAFETY: `&mut self` excludes readers; the page came from `Box::into_raw` in
                // `allocate_page` and is freed only here.
                drop(unsafe { Box::from_raw(page) });
            }
        }
    }
}
