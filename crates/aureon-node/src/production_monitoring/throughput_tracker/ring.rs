//! One thread's ring of time buckets, and the roll-over protocol that keeps every count
//! tagged with the exact bucket it belongs to.
//!
//! A ring has `len` slots; bucket (epoch) `e` lives in slot `e % len`. Each slot holds the
//! epoch it currently counts and that epoch's count. Only the ring's owner writes it (one
//! thread at a time; see `super::threads`), so a record is a load and a store, never a
//! read-modify-write. Readers on other threads need `(epoch, count)` as a *pair*, and a pair
//! of atomics cannot be written at once, so a roll-over goes through a marker:
//!
//! * owner, same epoch: `count.store(count + n, Release)`;
//! * owner, roll-over to epoch `e`: `epoch.store(ROLLING, Relaxed)`, then
//!   `count.store(n, Release)`, then `epoch.store(e, Release)`;
//! * reader wanting epoch `w`: `e1 = epoch.load(Acquire)`; if `e1 != w` the slot holds no
//!   count of `w`; else `c = count.load(Acquire)`, `e2 = epoch.load(Relaxed)`, and `c` is
//!   `w`'s count if `e2 == w`, else `w`'s count is gone.
//!
//! Why the pair is consistent: if `c` was written for a later epoch (by a roll's count store
//! or by an increment after it), that store is a Release sequenced after the roll's `ROLLING`
//! store, and the reader's Acquire load of `c` reads from it, so the `ROLLING` store happens
//! before the reader's `e2` load, which therefore sees `ROLLING` or a later epoch, not `w`.
//! If instead `e1 == w` was read from the roll that started `w`, that Release store comes
//! after the roll's count store, so `c` includes at least that count. An owner's epochs never
//! decrease (the clock is monotonic, and a ring changes owner only through a mutex), so once
//! a slot has left epoch `w` it never holds `w` again: a reader never needs to retry.
//!
//! Invariant: a slot's count is the number of operations its owners recorded with exactly the
//! slot's epoch. Nothing counted for one bucket is ever read as another's.

use crate::sync::{AtomicBool, AtomicU64, Ordering};
use crossbeam_utils::CachePadded;

/// Marks a slot whose epoch is being changed. Epochs never reach it (2^64 buckets).
const ROLLING: u64 = u64::MAX;

/// Slots per cache-padded block: 8 × 16 bytes fill the 128 bytes `CachePadded` reserves on
/// x86-64, so a ring shares no cache line with any other thread's data.
const SLOTS_PER_BLOCK: usize = 8;

struct Slot {
    epoch: AtomicU64,
    count: AtomicU64,
}

impl Slot {
    fn new() -> Self {
        // Epoch 0 with a count of 0 is a valid, empty bucket: no separate "unused" state.
        Self {
            epoch: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }
}

/// One thread's buckets and lifetime total.
pub(crate) struct Ring {
    blocks: Box<[CachePadded<[Slot; SLOTS_PER_BLOCK]>]>,
    len: u64,
    /// Operations ever recorded into this ring (owner-written, like the slots).
    total: CachePadded<AtomicU64>,
    /// Whether a live thread owns the ring; changed only under the tracker's ring mutex.
    pub(crate) owned: AtomicBool,
}

impl Ring {
    pub(crate) fn new(len: usize) -> Self {
        let blocks = len.div_ceil(SLOTS_PER_BLOCK);
        Self {
            blocks: (0..blocks)
                .map(|_| CachePadded::new(std::array::from_fn(|_| Slot::new())))
                .collect(),
            len: len as u64,
            total: CachePadded::new(AtomicU64::new(0)),
            owned: AtomicBool::new(true),
        }
    }

    #[inline]
    fn slot(&self, epoch: u64) -> &Slot {
        let i = (epoch % self.len) as usize;
        &self.blocks[i / SLOTS_PER_BLOCK][i % SLOTS_PER_BLOCK]
    }

    /// Counts `n` operations in bucket `epoch`. Only the ring's current owner may call this.
    #[inline]
    pub(crate) fn record(&self, epoch: u64, n: u64) {
        let slot = self.slot(epoch);
        // Relaxed loads of the owner's own stores: it always sees its latest values.
        let current = slot.epoch.load(Ordering::Relaxed);
        if current == epoch {
            let c = slot.count.load(Ordering::Relaxed);
            slot.count.store(c.saturating_add(n), Ordering::Release);
        } else if current < epoch {
            slot.epoch.store(ROLLING, Ordering::Relaxed);
            slot.count.store(n, Ordering::Release);
            slot.epoch.store(epoch, Ordering::Release);
        }
        // else: the slot already counts a later bucket, so `epoch` is a whole ring older than
        // what this ring has seen; it cannot be in any window the ring serves. Only the
        // lifetime total below keeps it. (Unreachable with a monotonic clock; kept total.)
        let t = self.total.load(Ordering::Relaxed);
        self.total.store(t.saturating_add(n), Ordering::Relaxed);
    }

    /// The count of bucket `want` as this ring holds it now (0 if its slot has moved on or
    /// never held it). Any thread may call this.
    #[inline]
    pub(crate) fn count_for(&self, want: u64) -> u64 {
        let slot = self.slot(want);
        if slot.epoch.load(Ordering::Acquire) != want {
            return 0;
        }
        let c = slot.count.load(Ordering::Acquire);
        if slot.epoch.load(Ordering::Relaxed) == want {
            c
        } else {
            0
        }
    }

    /// Operations ever recorded into this ring.
    pub(crate) fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }
}

#[cfg(all(test, not(aureon_loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_slot_answers_only_for_the_bucket_it_holds() {
        let ring = Ring::new(4);
        ring.record(1, 5);
        ring.record(1, 2);
        assert_eq!(ring.count_for(1), 7);
        // Bucket 5 shares bucket 1's slot: it replaces it, never adds to it.
        ring.record(5, 3);
        assert_eq!(ring.count_for(5), 3);
        assert_eq!(ring.count_for(1), 0);
        assert_eq!(
            ring.count_for(9),
            0,
            "a later bucket of the same slot is not there yet"
        );
        // A bucket older than the slot's (impossible with a monotonic clock) only counts in
        // the lifetime total.
        ring.record(1, 100);
        assert_eq!(ring.count_for(5), 3);
        assert_eq!(ring.total(), 110);
    }

    #[test]
    fn fresh_slots_hold_empty_bucket_zero_and_blocks_cover_every_slot() {
        let ring = Ring::new(13);
        for e in 0..13 {
            assert_eq!(ring.count_for(e), 0);
            ring.record(e, e + 1);
        }
        for e in 0..13 {
            assert_eq!(ring.count_for(e), e + 1);
        }
        assert_eq!(ring.blocks.len(), 2);
    }
}
