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
//! Loom model: `thread_slot_handover_keeps_counts_exact`.
//!
//! Hot path: the slot number sits in a `const`-initialised thread-local `Cell` with no
//! destructor, so reading it is one TLS load. A second thread-local, carrying the destructor
//! that gives the slot back, is touched only on the thread's first record.
//!
//! Recording from another thread-local's destructor, after the slot was given back, is rare
//! but legal: such records go to the shared [`ORPHAN_SLOT`] under a global mutex, which keeps
//! "one writer at a time" true for that slot too.
//!
//! Leases: a thread's claim on its slot is an `Rc<`[`SlotLease`]`>`. The thread's guard holds
//! one; a thread-bound recorder ([`crate::LocalHistogram`], [`crate::LocalCounter`]) holds a
//! clone, because it writes its shard or cell without asking for the slot again. The slot goes back to the allocator when the
//! *last* claim drops, so a recorder that outlives the thread's guard (it lives in another
//! thread-local, destroyed later) never shares its shard with the slot's next owner. `Rc` is
//! not `Send`, so every claim drops on the thread that holds the slot.

use crate::sync::{Mutex, MutexGuard, global, lock, thread_local_const};
use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::rc::Rc;

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

thread_local_const! { static SLOT: Cell<usize> = Cell::new(UNASSIGNED); }
thread_local_const! { static GUARD: SlotGuard = SlotGuard { lease: RefCell::new(None) }; }

/// A claim on a slot: while one exists, the allocator hands the slot to no other thread. The
/// last one to drop gives the slot back (see the module docs).
pub(crate) struct SlotLease {
    id: usize,
}

impl SlotLease {
    /// Takes the lowest free slot (or a never-used one) from the allocator.
    fn take() -> Self {
        let mut alloc = lock(&ALLOCATOR);
        let id = match alloc.free.pop() {
            Some(Reverse(id)) => id,
            None => {
                let id = alloc.next;
                alloc.next += 1;
                id
            }
        };
        Self { id }
    }

    /// The slot this lease holds.
    pub(crate) fn id(&self) -> usize {
        self.id
    }
}

impl Drop for SlotLease {
    fn drop(&mut self) {
        // Through the allocator's mutex: the holder's last stores to the slot's shards
        // happen-before the next owner's first loads (see the module docs).
        lock(&ALLOCATOR).free.push(Reverse(self.id));
    }
}

/// Holds this thread's lease and drops it when the thread exits. Kept apart from [`SLOT`] so
/// that the hot path reads a plain `Cell` (a thread-local with no destructor needs no
/// liveness check) and only a thread's first record touches this destructor-carrying
/// thread-local.
struct SlotGuard {
    lease: RefCell<Option<Rc<SlotLease>>>,
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        if let Some(lease) = self.lease.get_mut().take() {
            // Later records on this thread (from other thread-locals' destructors) must not
            // use the slot any more: they take the cold path and end up on the orphan slot.
            // Reset before the lease drops, which may give the slot to another thread.
            let _ = SLOT.try_with(|s| s.set(UNASSIGNED));
            drop(lease);
        }
    }
}

/// The calling thread's slot number, or `None` while the thread is exiting (its slot was
/// given back): the caller then records through [`with_orphan_slot`] instead. Returning a
/// plain number keeps the hot path in registers; the rare orphan path lives out of line.
#[inline]
pub(crate) fn current() -> Option<usize> {
    let id = match SLOT.try_with(Cell::get) {
        Ok(id) if id != UNASSIGNED => id,
        _ => assign(),
    };
    (id != UNASSIGNED).then_some(id)
}

/// Runs `f` on the shared orphan slot, holding [`ORPHAN_LOCK`] so that the slot has one
/// writer at a time.
#[cold]
#[inline(never)]
pub(crate) fn with_orphan_slot<R>(f: impl FnOnce(usize) -> R) -> R {
    let _exclusive: MutexGuard<'_, ()> = lock(&ORPHAN_LOCK);
    f(ORPHAN_SLOT)
}

/// Runs `f` with the calling thread's slot (or the orphan slot, see [`current`]). For paths
/// that are not the plain record: it builds `f`'s environment, which `current` avoids.
pub(crate) fn with_slot<R>(f: impl FnOnce(usize) -> R) -> R {
    match current() {
        Some(id) => f(id),
        None => with_orphan_slot(f),
    }
}

/// First record of a thread: takes a slot and registers its release at thread exit. Returns
/// `UNASSIGNED` when the thread is exiting (its thread-locals are being destroyed).
#[cold]
#[inline(never)]
fn assign() -> usize {
    let registered = GUARD.try_with(|guard| {
        if guard.lease.borrow().is_some() {
            // Defensive: a lease is held but SLOT is unset, which only a failed SLOT write
            // below leaves behind (loom's thread-locals at thread exit). Never a second slot.
            return UNASSIGNED;
        }
        // Built before the guard is borrowed mutably, so nothing runs under that borrow.
        let lease = Rc::new(SlotLease::take());
        let id = lease.id();
        *guard.lease.borrow_mut() = Some(lease);
        id
    });
    match registered {
        Ok(id) if id != UNASSIGNED && SLOT.try_with(|s| s.set(id)).is_ok() => id,
        _ => UNASSIGNED,
    }
}

/// A claim on the calling thread's slot, for a recorder that keeps writing the slot's shards
/// without looking the slot up again. On a thread that is exiting (its own lease is gone),
/// a slot of the lease's own, given back when the lease drops.
pub(crate) fn lease() -> Rc<SlotLease> {
    if current().is_some()
        && let Ok(Some(lease)) = GUARD.try_with(|guard| guard.lease.borrow().clone())
    {
        return lease;
    }
    Rc::new(SlotLease::take())
}

/// Whether slot `id` is in the allocator's free list (for tests of the hand-over).
#[cfg(all(test, not(aureon_loom)))]
pub(crate) fn is_free(id: usize) -> bool {
    lock(&ALLOCATOR)
        .free
        .iter()
        .any(|&Reverse(free)| free == id)
}

#[cfg(all(test, not(aureon_loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_thread_keeps_its_slot_and_an_exited_threads_slot_is_reused() {
        let a = current().unwrap();
        assert_eq!(a, current().unwrap());
        assert_ne!(a, ORPHAN_SLOT);
        let first = std::thread::spawn(|| current().unwrap()).join().unwrap();
        assert_ne!(first, a);
        // The exited thread's slot (or a lower one freed by another test) is handed out again
        // before any never-used slot.
        let next = lock(&ALLOCATOR).next;
        let second = std::thread::spawn(|| current().unwrap()).join().unwrap();
        assert!(
            second < next,
            "slot {second} was not reused (next fresh slot {next})"
        );
    }
}
