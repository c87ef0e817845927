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
//! page is never freed while the shard lives, so a reader that loaded a page pointer
//! (Acquire) may read it. Loom model: `page_allocation_races_reader`.
//!
//! Narrow pages, widened on overflow: a page starts with 32-bit counts (1 KiB), because a
//! snapshot's cost is the bytes it reads, and a bin of one thread rarely passes 2^32. When a
//! count would overflow, the owner *widens* the page: it copies the page into a new page of
//! 64-bit counts (plus the new count), publishes it in the page's slot with Release and from
//! then on writes only the wide page. The narrow page stays allocated, frozen, so a reader
//! that loaded its pointer before the switch still reads valid, merely older, counts, which
//! are never above the wide page's. A slot holds one word: [`ABSENT`], a narrow page's
//! address, or a wide page's address with [`WIDE_TAG`] set, so the hot path tells "narrow
//! page, write here" from everything else with one bit test, as cheap as the null check it
//! replaces. Loom model: `page_widening_keeps_counts`.

use crate::exemplar::Exemplars;
use crate::layout::Layout;
use crate::sync::{AtomicPtr, AtomicU32, AtomicU64, Ordering};
use crate::wide_sum::WideSum;
use std::ptr;

/// Counts per page: 1 KiB narrow pages in normal builds; tiny under loom so models stay small.
#[cfg(not(aureon_loom))]
pub(crate) const PAGE_LEN: usize = 256;
/// Counts per page: 1 KiB narrow pages in normal builds; tiny under loom so models stay small.
#[cfg(aureon_loom)]
pub(crate) const PAGE_LEN: usize = 4;

/// A page of 32-bit bin counts, aligned like [`crate::sync::CachePadded`] so that no cache
/// line holds counts of two shards (pages of different threads may be allocated side by
/// side). The alignment also keeps the low bits of its address free for [`WIDE_TAG`].
#[repr(C, align(128))]
pub(crate) struct NarrowPage(pub(crate) [AtomicU32; PAGE_LEN]);

/// A page of 64-bit bin counts, replacing a [`NarrowPage`] whose count would have overflowed.
#[repr(C, align(128))]
pub(crate) struct WidePage {
    pub(crate) counts: [AtomicU64; PAGE_LEN],
    /// The frozen narrow page this one replaced: readers may still hold it, so it is freed
    /// with the shard.
    narrow: *mut NarrowPage,
}

/// A page as a reader sees it.
#[derive(Clone, Copy)]
pub(crate) enum PageRef<'a> {
    /// 32-bit counts (the page never overflowed, or the reader loaded it before it widened).
    Narrow(&'a NarrowPage),
    /// 64-bit counts.
    Wide(&'a WidePage),
}

/// The slot value of a page not yet allocated. It has [`WIDE_TAG`] set, so the hot path's
/// single bit test sends it to the slow path too.
const ABSENT: usize = 1;
/// Set in a slot that holds a [`WidePage`]'s address (pages are 128-byte aligned).
const WIDE_TAG: usize = 1;

fn absent() -> *mut NarrowPage {
    ptr::without_provenance_mut(ABSENT)
}

pub(crate) struct Shard {
    /// One slot per page: [`ABSENT`], a narrow page, or a tagged wide page.
    pages: Box<[AtomicPtr<NarrowPage>]>,
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
                .map(|_| AtomicPtr::new(absent()))
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
        debug_assert!(index / PAGE_LEN < self.pages.len());
        // SAFETY: `record_run`'s contract: `index <= highest_index < layout.len`, and `pages`
        // has `ceil(layout.len / PAGE_LEN)` entries.
        let slot = unsafe { self.pages.get_unchecked(index / PAGE_LEN) };
        // Loaded first so that its latency overlaps the updates below.
        let page = slot.load(Ordering::Acquire);
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
        // The bin's Release store comes last: it publishes the min, max and sum above.
        if page.addr() & WIDE_TAG == 0 {
            // SAFETY: an untagged slot value is a narrow page installed by `install_narrow`,
            // freed only when the shard drops; `index % PAGE_LEN` is in bounds.
            let cell = unsafe { &(*page).0[index % PAGE_LEN] };
            let count = cell.load(Ordering::Relaxed);
            if let Ok(n) = u32::try_from(n)
                && let Some(new) = count.checked_add(n)
            {
                cell.store(new, Ordering::Release);
                return;
            }
        }
        self.bump_slow(slot, index % PAGE_LEN, n);
    }

    /// The bin update when the fast path could not do it: the page is absent, or wide, or its
    /// narrow count would overflow. Out of line so the hot path stays short.
    #[cold]
    #[inline(never)]
    fn bump_slow(&self, slot: &AtomicPtr<NarrowPage>, bin: usize, n: u64) {
        // The owner is the only thread that writes the slot, so Relaxed reads its own value.
        let mut page = slot.load(Ordering::Relaxed);
        if page.addr() == ABSENT {
            page = Self::install_narrow(slot);
        }
        if page.addr() & WIDE_TAG == 0 {
            // SAFETY: an untagged, non-absent slot value is a live narrow page (see above).
            let narrow = unsafe { &*page };
            let cell = &narrow.0[bin];
            let count = cell.load(Ordering::Relaxed);
            if let Ok(n) = u32::try_from(n)
                && let Some(new) = count.checked_add(n)
            {
                cell.store(new, Ordering::Release);
            } else {
                Self::widen(slot, page, bin, n);
            }
        } else {
            // SAFETY: a tagged slot value is a wide page installed by `widen`, freed only when
            // the shard drops.
            let wide = unsafe { &*page.map_addr(|a| a & !WIDE_TAG).cast::<WidePage>() };
            bump(&wide.counts[bin], n, Ordering::Release);
        }
    }

    fn install_narrow(slot: &AtomicPtr<NarrowPage>) -> *mut NarrowPage {
        let page = Box::new(NarrowPage(std::array::from_fn(|_| AtomicU32::new(0))));
        let page = Box::into_raw(page);
        // Release: a reader that loads the pointer sees the zeroed counts.
        slot.store(page, Ordering::Release);
        page
    }

    /// Replaces narrow page `narrow` by a wide copy whose bin `bin` has `n` more, and
    /// publishes it. The narrow page is frozen from here on (the owner never writes it again).
    fn widen(slot: &AtomicPtr<NarrowPage>, narrow: *mut NarrowPage, bin: usize, n: u64) {
        // SAFETY: `narrow` is the live narrow page the slot holds (the caller loaded it).
        let old = unsafe { &*narrow };
        let wide = Box::new(WidePage {
            counts: std::array::from_fn(|i| {
                let count = u64::from(old.0[i].load(Ordering::Relaxed));
                AtomicU64::new(if i == bin {
                    count.saturating_add(n)
                } else {
                    count
                })
            }),
            narrow,
        });
        let wide = Box::into_raw(wide);
        // Release: a reader that loads the tagged pointer sees the copied counts, and (as
        // with a bin's Release store) the min, max and sum written before them.
        slot.store(
            wide.map_addr(|a| a | WIDE_TAG).cast::<NarrowPage>(),
            Ordering::Release,
        );
    }

    /// Page `p`, if this shard has allocated it.
    #[inline]
    pub(crate) fn page(&self, p: usize) -> Option<PageRef<'_>> {
        let page = self.pages[p].load(Ordering::Acquire);
        if page.addr() == ABSENT {
            None
        } else if page.addr() & WIDE_TAG == 0 {
            // SAFETY: the narrow page was initialised before its pointer was published with
            // Release (Acquire above), and is freed only in `drop`.
            Some(PageRef::Narrow(unsafe { &*page }))
        } else {
            // SAFETY: as above, for the wide page `widen` published with the tag.
            let wide = unsafe { &*page.map_addr(|a| a & !WIDE_TAG).cast::<WidePage>() };
            Some(PageRef::Wide(wide))
        }
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
        let pages: usize = (0..self.pages.len())
            .map(|p| match self.page(p) {
                None => 0,
                Some(PageRef::Narrow(_)) => size_of::<NarrowPage>(),
                Some(PageRef::Wide(_)) => size_of::<NarrowPage>() + size_of::<WidePage>(),
            })
            .sum();
        size_of::<Self>() + self.pages.len() * size_of::<AtomicPtr<NarrowPage>>() + pages
    }
}

impl Drop for Shard {
    fn drop(&mut self) {
        for slot in self.pages.iter() {
            let page = slot.load(Ordering::Relaxed);
            if page.addr() == ABSENT {
                continue;
            }
            let narrow = if page.addr() & WIDE_TAG == 0 {
                page
            } else {
                let wide = page.map_addr(|a| a & !WIDE_TAG).cast::<WidePage>();
                // SAFETY: `&mut self` excludes readers; the wide page came from
                // `Box::into_raw` in `widen` and is freed only here.
                let wide = unsafe { Box::from_raw(wide) };
                wide.narrow
            };
            // SAFETY: as above; the narrow page came from `Box::into_raw` in
            // `install_narrow` and is freed only here (a wide page hands its frozen one on).
            drop(unsafe { Box::from_raw(narrow) });
        }
    }
}
