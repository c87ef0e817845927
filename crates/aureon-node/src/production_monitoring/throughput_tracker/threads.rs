//! Which ring a thread records into: one ring per (tracker, live thread), found through a
//! thread-local list, handed on to a new thread when its owner exits.
//!
//! A thread's first record into a tracker takes the tracker's ring mutex once: it adopts a
//! ring whose owner has exited, or creates one, and remembers it in its thread-local list.
//! Every later record finds the ring in that list (a short scan by tracker id) and writes
//! only that ring, so no lock is taken and no cache line is shared with other recording
//! threads. When the thread exits, its thread-local list is dropped and each ring is marked
//! unowned under the same mutex; its counts stay (nothing recorded is lost) and the next new
//! thread continues in it. The mutex orders the old owner's last stores before the new
//! owner's first loads, which keeps "one writer per ring" true across the hand-over, and
//! bounds the number of rings by the number of threads recording at once.
//!
//! A record made after the thread-local list is gone (from another thread-local's
//! destructor) goes to a shared orphan ring under a mutex, which keeps one writer at a time
//! there too.

use super::ring::Ring;
use crate::sync::{Mutex, Ordering, lock, thread_local_lazy};
use std::cell::RefCell;
use std::sync::atomic::AtomicU64 as StdAtomicU64;
use std::sync::{Arc, Weak};

/// Ids of trackers, never reused, so a thread-local entry can never be mistaken for another
/// tracker's. A `std` atomic even under loom: see `crate::sync`.
static NEXT_ID: StdAtomicU64 = StdAtomicU64::new(0);

/// The rings of one tracker.
pub(crate) struct Rings {
    id: u64,
    ring_len: usize,
    all: Mutex<Vec<Arc<Ring>>>,
    orphan: Arc<Ring>,
    orphan_lock: Mutex<()>,
}

struct Local {
    id: u64,
    ring: Arc<Ring>,
    rings: Weak<Rings>,
}

impl Drop for Local {
    fn drop(&mut self) {
        if let Some(rings) = self.rings.upgrade() {
            let _all = lock(&rings.all);
            self.ring.owned.store(false, Ordering::Relaxed);
        }
    }
}

thread_local_lazy! { static LOCAL: RefCell<Vec<Local>> = RefCell::new(Vec::new()); }

impl Rings {
    pub(crate) fn new(ring_len: usize) -> Self {
        let orphan = Arc::new(Ring::new(ring_len));
        Self {
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            ring_len,
            all: Mutex::new(vec![Arc::clone(&orphan)]),
            orphan,
            orphan_lock: Mutex::new(()),
        }
    }

    /// Runs `f` on the calling thread's ring of this tracker; while `f` runs, the calling
    /// thread is that ring's only writer.
    #[inline]
    pub(crate) fn with_ring<R>(self: &Arc<Self>, f: impl FnOnce(&Ring) -> R) -> R {
        let mut f = Some(f);
        let found = LOCAL.try_with(|local| {
            let local = local.borrow();
            local
                .iter()
                .find(|l| l.id == self.id)
                .map(|l| (f.take().expect("called once"))(&l.ring))
        });
        match found {
            Ok(Some(r)) => r,
            Ok(None) => {
                let ring = self.adopt();
                let r = (f.take().expect("called once"))(&ring);
                // `try_with` succeeded just above on this thread, so it still does.
                let _ = LOCAL.try_with(|local| {
                    let mut local = local.borrow_mut();
                    local.retain(|l| l.rings.strong_count() > 0);
                    local.push(Local {
                        id: self.id,
                        ring,
                        rings: Arc::downgrade(self),
                    });
                });
                r
            }
            Err(_) => {
                let _one_writer = lock(&self.orphan_lock);
                (f.take().expect("called once"))(&self.orphan)
            }
        }
    }

    /// A ring for the calling thread: an unowned one if any, else a new one.
    #[cold]
    fn adopt(&self) -> Arc<Ring> {
        let mut all = lock(&self.all);
        // The orphan ring is created owned and never released, so it is never adopted.
        if let Some(ring) = all.iter().find(|r| !r.owned.load(Ordering::Relaxed)) {
            ring.owned.store(true, Ordering::Relaxed);
            return Arc::clone(ring);
        }
        let ring = Arc::new(Ring::new(self.ring_len));
        all.push(Arc::clone(&ring));
        ring
    }

    /// Runs `f` on every ring (owned, unowned and the orphan ring). Holds the ring mutex
    /// while it runs, which only delays a thread's first record into this tracker.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&Ring)) {
        let all = lock(&self.all);
        for ring in all.iter() {
            f(ring);
        }
    }

    /// Number of rings, the orphan ring included.
    pub(crate) fn ring_count(&self) -> usize {
        lock(&self.all).len()
    }
}
