//! `PerThread<T>`: one lazily created `T` per thread slot, found without a lock.
//!
//! The first [`INLINE`] slots (as many threads as most programs record from) have their entry
//! pointer inline, so finding a thread's entry is one load. Further slots live in an array of
//! buckets of doubling size (1, 2, 4, … entries), allocated on first use, so a slot number
//! maps to `(bucket, index)` with one `leading_zeros`. Nothing ever moves: a reader may walk
//! the table while writers add entries.
//!
//! Protocol (loom model `per_thread_*`):
//! - A bucket is installed once by compare-and-swap from null (any thread may race to install
//!   it; the loser frees its copy). Release on install, Acquire on load: a thread that sees the
//!   bucket sees it zeroed.
//! - An entry is written only by the thread that owns its slot ([`crate::thread_slot`]), with a
//!   plain Release store of a fully built `Box<T>`; readers load it with Acquire and so see the
//!   `T` fully initialised. Entries are never removed before the table is dropped, which is
//!   what makes handing out `&T` to readers sound.

use crate::sync::{AtomicPtr, Ordering};
use std::ptr;

/// Enough buckets for every `usize` slot number.
const BUCKETS: usize = usize::BITS as usize;

/// Slots whose entry pointer is stored inline (one load to find): the orphan slot and the
/// first 15 threads'. Under loom, two (the orphan slot and slot 1), so that the models run
/// the inline lookup every real record of a program's first threads takes, and threads on
/// slots 2 and up exercise the bucket path.
#[cfg(not(aureon_loom))]
const INLINE: usize = 16;
#[cfg(aureon_loom)]
const INLINE: usize = 2;

pub(crate) struct PerThread<T> {
    inline: [AtomicPtr<T>; INLINE],
    buckets: [AtomicPtr<AtomicPtr<T>>; BUCKETS],
}

// SAFETY: a `PerThread<T>` hands out `&T` to any thread (so `T: Sync`) and drops the `T`s on
// whichever thread drops the table (so `T: Send`).
unsafe impl<T: Send + Sync> Sync for PerThread<T> {}
// SAFETY: as above; moving the table moves ownership of the boxed `T`s.
unsafe impl<T: Send + Sync> Send for PerThread<T> {}

#[inline]
fn locate(slot: usize) -> (usize, usize) {
    // Slot s lives in bucket floor(log2(s + 1)) at offset (s + 1) - 2^bucket; the `+ 1`
    // cannot overflow for any slot the allocator hands out (they are dense from 0).
    let n = slot + 1;
    let bucket = (usize::BITS - 1 - n.leading_zeros()) as usize;
    (bucket, n - (1 << bucket))
}

const fn bucket_len(bucket: usize) -> usize {
    1 << bucket
}

impl<T> PerThread<T> {
    pub(crate) fn new() -> Self {
        Self {
            inline: std::array::from_fn(|_| AtomicPtr::new(ptr::null_mut())),
            buckets: std::array::from_fn(|_| AtomicPtr::new(ptr::null_mut())),
        }
    }

    /// The entry for `slot`, created by `make` if the slot has none yet.
    ///
    /// The caller must own `slot` (see [`crate::thread_slot::current`]); only the owner
    /// creates a slot's entry, so no compare-and-swap is needed for it.
    #[inline]
    pub(crate) fn get_or_create(&self, slot: usize, make: impl FnOnce() -> T) -> &T {
        let entry = match self.inline.get(slot) {
            Some(entry) => entry,
            None => self.spilled_entry(slot - INLINE),
        };
        let p = entry.load(Ordering::Acquire);
        if !p.is_null() {
            // SAFETY: a non-null entry points to a `T` published with Release (Acquire above)
            // and never freed before `self` is dropped.
            return unsafe { &*p };
        }
        Self::create(entry, make)
    }

    /// The entry of a slot beyond the inline ones (`slot` counted from the first spilled).
    #[inline]
    fn spilled_entry(&self, slot: usize) -> &AtomicPtr<T> {
        let (b, i) = locate(slot);
        let mut bucket = self.buckets[b].load(Ordering::Acquire);
        if bucket.is_null() {
            bucket = self.install_bucket(b);
        }
        // SAFETY: `bucket` is non-null and points to `bucket_len(b)` initialised `AtomicPtr`s
        // that live until `self` is dropped; `i < bucket_len(b)` by `locate`.
        unsafe { &*bucket.add(i) }
    }

    #[cold]
    #[inline(never)]
    fn create(entry: &AtomicPtr<T>, make: impl FnOnce() -> T) -> &T {
        let p = Box::into_raw(Box::new(make()));
        // Only this slot's owner writes the entry, so a plain store cannot lose a racing one.
        entry.store(p, Ordering::Release);
        // SAFETY: `p` was just created from a `Box` and lives until `self` is dropped.
        unsafe { &*p }
    }

    #[cold]
    #[inline(never)]
    fn install_bucket(&self, b: usize) -> *mut AtomicPtr<T> {
        let fresh: Box<[AtomicPtr<T>]> = (0..bucket_len(b))
            .map(|_| AtomicPtr::new(ptr::null_mut()))
            .collect();
        let fresh = Box::into_raw(fresh).cast::<AtomicPtr<T>>();
        match self.buckets[b].compare_exchange(
            ptr::null_mut(),
            fresh,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => fresh,
            Err(winner) => {
                // SAFETY: `fresh` came from `Box::into_raw` of a slice of `bucket_len(b)`
                // entries just above and was never shared (the CAS failed).
                drop(unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(fresh, bucket_len(b))) });
                winner
            }
        }
    }

    /// Calls `f` on every entry created so far, in slot order. Entries created concurrently
    /// may or may not be visited.
    pub(crate) fn for_each<'a>(&'a self, mut f: impl FnMut(&'a T)) {
        for entry in &self.inline {
            let p = entry.load(Ordering::Acquire);
            if !p.is_null() {
                // SAFETY: as in `get_or_create`.
                f(unsafe { &*p });
            }
        }
        for (b, bucket) in self.buckets.iter().enumerate() {
            let bucket = bucket.load(Ordering::Acquire);
            if bucket.is_null() {
                continue;
            }
            for i in 0..bucket_len(b) {
                // SAFETY: as in `get_or_create`.
                let p = unsafe { &*bucket.add(i) }.load(Ordering::Acquire);
                if !p.is_null() {
                    // SAFETY: as in `get_or_create`.
                    f(unsafe { &*p });
                }
            }
        }
    }
}

impl<T> Drop for PerThread<T> {
    fn drop(&mut self) {
        for entry in &self.inline {
            let p = entry.load(Ordering::Relaxed);
            if !p.is_null() {
                // SAFETY: `&mut self` excludes every other access; a non-null entry came from
                // `Box::into_raw` in `create` and is freed only here, once.
                drop(unsafe { Box::from_raw(p) });
            }
        }
        for (b, bucket) in self.buckets.iter().enumerate() {
            let bucket = bucket.load(Ordering::Relaxed);
            if bucket.is_null() {
                continue;
            }
            // SAFETY: `&mut self` means no other thread can reach the table; the bucket was
            // allocated by `install_bucket` as a boxed slice of `bucket_len(b)` entries.
            let entries =
                unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(bucket, bucket_len(b))) };
            for entry in entries.iter() {
                let p = entry.load(Ordering::Relaxed);
                if !p.is_null() {
                    // SAFETY: a non-null entry was created by `Box::into_raw` in `create` and
                    // is freed only here, once.
                    drop(unsafe { Box::from_raw(p) });
                }
            }
        }
    }
}

#[cfg(all(test, not(aureon_loom)))]
mod tests {
    use super::*;

    #[test]
    fn slots_map_to_distinct_places() {
        let mut seen = std::collections::HashSet::new();
        for s in 0..5000 {
            let (b, i) = locate(s);
            assert!(i < bucket_len(b));
            assert!(seen.insert((b, i)));
        }
    }

    #[test]
    fn entries_are_created_once_and_visited() {
        let t = PerThread::new();
        for s in [0, 1, 2, 7, 100] {
            assert_eq!(*t.get_or_create(s, || s * 10), s * 10);
            assert_eq!(*t.get_or_create(s, || unreachable!()), s * 10);
        }
        let mut all = Vec::new();
        t.for_each(|v| all.push(*v));
        assert_eq!(all, vec![0, 10, 20, 70, 1000]);
    }
}
