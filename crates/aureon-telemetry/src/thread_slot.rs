//! Thread slots: a small, dense, reusable number for every thread that records.
//!
//! Each metric keeps its per-thread state (histogram shards, counter cells) in a table indexed
//! by this number (see [`crate::per_thread`]). A slot is taken on a thread's first record and
//! given back when the thread exits; the lowest free slot is handed out first, so the tables
//! stay as small as the number of threads alive at once, not the number ever spawned.
//!
//! Hand-over: a thread that reuses a slot becomes the only writer of every shard that slot
//! owns. The exiting thread's last (Relaxed) stores to those shards happen-before the new
//! owner's first loads because the slot passes through the allocator's mutex: the exiting
//! thread releases it after its last record, the new thread acquires it before its first.
//!
//! Recording from another thread-local's destructor, after this module's own thread-local is
//! gone, is rare but legal: such records go to the shared [`ORPHAN_SLOT`] under a global
//! mutex, which keeps "one writer at a time" true for that slot too.

use crate::sync::{Mutex, MutexGuard, global, lock, thread_local_const};
use std::cell::Cell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// The slot used, under [`ORPHAN_LOCK`], by threads whose slot thread-local is destroyed.
pub(crate) const ORPHAN_SLOT: usize = 0;
const UNASSIGNED: usize = usize::MAX;

struct Allocator {
    /// The next never-used slot.
    next: usize,
    /// Slots given back by exited threads, lowest first.
    free: BinaryHeap<Reverse<usize>>,
}

global! { static ALLOCATOR: Mutex<Allocator> = Mutex::new(Allocator { next: ORPHAN_SLOT + 1, free: BinaryHeap::new() }); }
global! { static ORPHAN_LOCK: Mutex<()> = Mutex::new(()); }

/// This thread's slot; returns it to the allocator when the thread exits.
struct SlotGuard {
    id: Cell<usize>,
}

impl SlotGuard {
    fn id(&self) -> usize {
        let id = self.id.get();
        if id != UNASSIGNED {
            return id;
        }
        self.assign()
    }

    #[cold]
    fn assign(&self) -> usize {
        let mut alloc = lock(&ALLOCATOR);
        let id = match alloc.free.pop() {
            Some(Reverse(id)) => id,
            None => {
                let id = alloc.next;
                alloc.next += 1;
                id
            }
        };
        self.id.set(id);
        id
    }
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        let id = self.id.get();
        if id != UNASSIGNED {
            lock(&ALLOCATOR).free.push(Reverse(id));
        }
    }
}

thread_local_const! { static SLOT: SlotGuard = SlotGuard { id: Cell::new(UNASSIGNED) }; }

/// Runs `f` with the calling thread's slot. While `f` runs, the calling thread is the only one
/// using that slot.
#[inline]
pub(crate) fn with_slot<R>(f: impl FnOnce(usize) -> R) -> R {
    match SLOT.try_with(SlotGuard::id) {
        Ok(id) => f(id),
        Err(_) => with_orphan_slot(f),
    }
}

#[cold]
fn with_orphan_slot<R>(f: impl FnOnce(usize) -> R) -> R {
    let _exclusive: MutexGuard<'_, ()> = lock(&ORPHAN_LOCK);
    f(ORPHAN_SLOT)
}

#[cfg(all(test, not(aureon_loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_thread_keeps_its_slot_and_an_exited_threads_slot_is_reused() {
        let a = with_slot(|s| s);
        assert_eq!(a, with_slot(|s| s));
        assert_ne!(a, ORPHAN_SLOT);
        let first = std::thread::spawn(|| with_slot(|s| s)).join().unwrap();
        assert_ne!(first, a);
        // The exited thread's slot (or a lower one freed by another test) is handed out again
        // before any never-used slot.
        let next = lock(&ALLOCATOR).next;
        let second = std::thread::spawn(|| with_slot(|s| s)).join().unwrap();
        assert!(
            second < next,
            "slot {second} was not reused (next fresh slot {next})"
        );
    }
}
