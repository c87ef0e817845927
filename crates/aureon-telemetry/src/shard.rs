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
//! Re-entrancy: a page is allocated (and widened) in the middle of a record. A global
//! allocator that itself records into the *same* histogram from the same thread would
//! re-enter the shard there, which its single-writer protocol does not allow (a count could be
//! lost or a page leaked); allocators must not record into histograms they serve.
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

impl NarrowPage {
    pub(crate) fn zeroed() -> Self {
        Self(std::array::from_fn(|_| AtomicU32::new(0)))
    }
}

/// A page of 64-bit bin counts, replacing a [`NarrowPage`] whose count would have overflowed.
#[repr(C, align(128))]
pub(crate) struct WidePage {
    pub(crate) counts: [AtomicU64; PAGE_LEN],
    /// The frozen narrow page this one replaced: readers may still hold it, so it lives as
    /// long as this page and is freed with it.
    narrow: *mut NarrowPage,
}

// SAFETY: `narrow` is an owning pointer to a page of atomics that is only dereferenced (to
// free it) in `drop`, with `&mut self`; every shared access goes through the atomics, so a
// `WidePage` may be sent to and shared between threads like the `NarrowPage` it owns.
unsafe impl Send for WidePage {}
// SAFETY: as above.
unsafe impl Sync for WidePage {}

impl Drop for WidePage {
    fn drop(&mut self) {
        // SAFETY: `narrow` came from `Box::into_raw` in `Shard::install_narrow`, and ownership
        // passed to this page when it replaced it (`Shard::widen`); nothing else frees it.
        drop(unsafe { Box::from_raw(self.narrow) });
    }
}

#[cfg(all(test, not(aureon_loom)))]
impl WidePage {
    /// A wide page with the given counts (and a zeroed frozen narrow page), for tests.
    pub(crate) fn for_tests(counts: &[(usize, u64)]) -> Self {
        let page = Self {
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
            narrow: Box::into_raw(Box::new(NarrowPage::zeroed())),
        };
        for &(i, c) in counts {
            page.counts[i].store(c, Ordering::Relaxed);
        }
        page
    }
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

// The tag lives in address bits that both page types' alignment keeps zero.
const _: () = assert!(align_of::<NarrowPage>() > WIDE_TAG && align_of::<WidePage>() > WIDE_TAG);

fn absent() -> *mut NarrowPage {
    ptr::without_provenance_mut(ABSENT)
}

/// A slot's value, decoded.
enum Slot {
    Absent,
    Narrow(*mut NarrowPage),
    Wide(*mut WidePage),
}

impl Slot {
    #[inline]
    fn decode(word: *mut NarrowPage) -> Self {
        if word.addr() == ABSENT {
            Self::Absent
        } else if word.addr() & WIDE_TAG == 0 {
            Self::Narrow(word)
        } else {
            Self::Wide(word.map_addr(|a| a & !WIDE_TAG).cast::<WidePage>())
        }
    }
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

/// Adds `n` to a narrow page's count with a Release store (see [`Shard::record_run`]) if the
/// sum fits 32 bits; `false` (and nothing stored) if it does not.
#[inline]
fn try_bump_narrow(cell: &AtomicU32, n: u64) -> bool {
    let count = cell.load(Ordering::Relaxed);
    match u32::try_from(n).ok().and_then(|n| count.checked_add(n)) {
        Some(new) => {
            cell.store(new, Ordering::Release);
            true
        }
        None => false,
    }
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
        // Loaded first so that its latency overlaps the updates below. Relaxed: the owner is
        // the slot's only writer (a previous owner's writes reach it through the slot
        // hand-over's mutex, see `thread_slot`).
        let page = slot.load(Ordering::Relaxed);
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
        // SAFETY: `page` is `slot`'s value, `slot` the page of `index` (see above).
        unsafe { Self::bump_bin(slot, page, index % PAGE_LEN, n) };
    }

    /// Records every value of `values` with one update of the min, max, sum and clamped
    /// count for the batch, then one bin update per value: the totals first, so that a
    /// snapshot that sees a value's count sees totals that cover it (the bins' Release stores
    /// publish them). Only the owning thread may call this.
    ///
    /// # Safety
    /// `layout` must be the layout this shard was created with (the page lookup relies on
    /// its indices fitting the page table; it does not check them).
    pub(crate) unsafe fn record_slice(&self, layout: &Layout, values: &[u64]) {
        let (mut lo, mut hi, mut sum, mut clamped) = (u64::MAX, 0u64, 0u128, 0u64);
        for &v in values {
            lo = lo.min(v);
            hi = hi.max(v);
            sum += u128::from(v);
            clamped += u64::from(v > layout.config.highest_trackable);
        }
        if values.is_empty() {
            return;
        }
        if lo < self.min.load(Ordering::Relaxed) {
            self.min.store(lo, Ordering::Relaxed);
        }
        if hi > self.max.load(Ordering::Relaxed) {
            self.max.store(hi, Ordering::Relaxed);
        }
        self.sum.add(sum);
        if clamped > 0 {
            bump(&self.clamped, clamped, Ordering::Relaxed);
        }
        for &v in values {
            let (index, _) = layout.index_clamped(v);
            debug_assert!(index / PAGE_LEN < self.pages.len());
            // SAFETY: `index` comes from `index_clamped` of `layout`, the layout this shard
            // was created with (this function's contract), so it is below `layout.len`, and
            // `pages` has `ceil(layout.len / PAGE_LEN)` entries.
            let slot = unsafe { self.pages.get_unchecked(index / PAGE_LEN) };
            let page = slot.load(Ordering::Relaxed);
            // SAFETY: `page` is `slot`'s value.
            unsafe { Self::bump_bin(slot, page, index % PAGE_LEN, 1) };
        }
    }

    /// Adds `n` to bin `bin` of the page in `slot`, whose current value is `page`, with a
    /// Release store. Only the owning thread may call this.
    ///
    /// # Safety
    /// `page` must be the value `slot` holds (only the owner changes it), and `slot` one of
    /// this shard's page slots.
    #[inline(always)]
    unsafe fn bump_bin(slot: &AtomicPtr<NarrowPage>, page: *mut NarrowPage, bin: usize, n: u64) {
        if page.addr() & WIDE_TAG == 0 {
            // SAFETY: an untagged slot value is a narrow page installed by `install_narrow`,
            // freed only when the shard drops; `bin` is in bounds.
            if try_bump_narrow(unsafe { &(*page).0[bin] }, n) {
                return;
            }
        } else if page.addr() != ABSENT {
            // A widened page: its bins are the hottest of the shard, so they stay on the
            // inline path too.
            let wide = page.map_addr(|a| a & !WIDE_TAG).cast::<WidePage>();
            // SAFETY: a tagged slot value other than ABSENT is a wide page installed by
            // `widen`, freed only when the shard drops.
            bump(unsafe { &(*wide).counts[bin] }, n, Ordering::Release);
            return;
        }
        Self::bump_slow(slot, page, bin, n);
    }

    /// The bin update the inline path could not do: `page` (the slot's value, which only
    /// this owner changes) is [`ABSENT`], or its narrow count would overflow. Out of line so
    /// the hot path stays short.
    #[cold]
    #[inline(never)]
    fn bump_slow(slot: &AtomicPtr<NarrowPage>, page: *mut NarrowPage, bin: usize, n: u64) {
        let narrow = if page.addr() == ABSENT {
            Self::install_narrow(slot)
        } else {
            page
        };
        // SAFETY: a live narrow page, installed above or earlier by this owner.
        if !try_bump_narrow(unsafe { &(*narrow).0[bin] }, n) {
            Self::widen(slot, narrow, bin, n);
        }
    }

    fn install_narrow(slot: &AtomicPtr<NarrowPage>) -> *mut NarrowPage {
        let page = Box::into_raw(Box::new(NarrowPage::zeroed()));
        // Release: a reader that loads the pointer sees the zeroed counts.
        slot.store(page, Ordering::Release);
        page
    }

    /// Replaces narrow page `narrow` by a wide copy whose bin `bin` has `n` more, and
    /// publishes it. The narrow page is frozen from here on (the owner never writes it again)
    /// and owned by the wide page.
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
        // Acquire: the page was initialised before its pointer was published with Release.
        match Slot::decode(self.pages[p].load(Ordering::Acquire)) {
            Slot::Absent => None,
            // SAFETY: initialised before publication (Acquire above), freed only when the
            // shard drops (a frozen narrow page lives as long as the wide page owning it).
            Slot::Narrow(page) => Some(PageRef::Narrow(unsafe { &*page })),
            // SAFETY: as above, for the wide page `widen` published with the tag.
            Slot::Wide(page) => Some(PageRef::Wide(unsafe { &*page })),
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
            match Slot::decode(slot.load(Ordering::Relaxed)) {
                Slot::Absent => {}
                // SAFETY: `&mut self` excludes readers; the page came from `Box::into_raw` in
                // `install_narrow` and is freed only here.
                Slot::Narrow(page) => drop(unsafe { Box::from_raw(page) }),
                // SAFETY: as above, from `widen`; dropping it also frees the frozen narrow
                // page it owns.
                Slot::Wide(page) => drop(unsafe { Box::from_raw(page) }),
            }
        }
    }
}
