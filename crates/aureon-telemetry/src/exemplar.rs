//! Outlier exemplars: the ids (block height, trace id) of the slowest values of an interval.
//!
//! Each shard keeps [`SLOTS`] exemplar slots written only by the shard's owner. A slot holds a
//! value, an id and the interval (epoch) it belongs to; a slot of an older epoch counts as
//! empty, so nothing ever has to clear them. The owner replaces the smallest slot of the
//! current epoch when a larger value arrives. Readers (snapshots) copy the slots of one epoch
//! out under a per-slot sequence number (seqlock): a copy that raced with a write is dropped,
//! never torn (loom model `exemplar_seqlock_never_tears`). Exemplars are samples, not
//! counts: one that loses that race, or is written just as the epoch advances, may be missing
//! from a snapshot; counts are never affected.
//!
//! This code runs only for `record_with_exemplar`; plain `record` never touches it.

use crate::sync::{AtomicU64, Ordering};

/// Exemplar slots per shard (the slowest values of one interval on one thread).
pub(crate) const SLOTS: usize = 4;

/// The id and value of one of an interval's slowest records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Exemplar {
    /// The recorded value, in the histogram's unit.
    pub value: u64,
    /// The caller's id for the record (a block height, a trace id, …).
    pub id: u64,
}

struct Slot {
    /// Odd while the owner is writing the slot.
    seq: AtomicU64,
    value: AtomicU64,
    id: AtomicU64,
    /// Epoch + 1 of the interval the slot belongs to (0: never written).
    epoch: AtomicU64,
}

pub(crate) struct Exemplars {
    slots: [Slot; SLOTS],
}

impl Exemplars {
    pub(crate) fn new() -> Self {
        Self {
            slots: std::array::from_fn(|_| Slot {
                seq: AtomicU64::new(0),
                value: AtomicU64::new(0),
                id: AtomicU64::new(0),
                epoch: AtomicU64::new(0),
            }),
        }
    }

    /// Offers `(value, id)` for interval `epoch`. Only the shard's owner may call this.
    pub(crate) fn offer(&self, epoch: u64, value: u64, id: u64) {
        let tag = epoch.wrapping_add(1);
        // Pick an empty (stale) slot, else the smallest value of this epoch.
        let mut victim = None;
        let mut smallest = u64::MAX;
        for slot in &self.slots {
            if slot.epoch.load(Ordering::Relaxed) != tag {
                victim = Some(slot);
                break;
            }
            let v = slot.value.load(Ordering::Relaxed);
            if v < smallest {
                smallest = v;
                victim = Some(slot);
            }
        }
        let Some(slot) = victim else { return };
        if slot.epoch.load(Ordering::Relaxed) == tag && value <= smallest {
            return;
        }
        let seq = slot.seq.load(Ordering::Relaxed);
        slot.seq.store(seq + 1, Ordering::Relaxed);
        // The Release stores below keep the odd `seq` ahead of the data for a reader that
        // acquires any of them (the same argument as `wide_sum`).
        slot.value.store(value, Ordering::Release);
        slot.id.store(id, Ordering::Release);
        slot.epoch.store(tag, Ordering::Release);
        slot.seq.store(seq + 2, Ordering::Release);
    }

    /// Appends the slots of interval `epoch` that could be read consistently.
    pub(crate) fn collect(&self, epoch: u64, out: &mut Vec<Exemplar>) {
        let tag = epoch.wrapping_add(1);
        for slot in &self.slots {
            let s1 = slot.seq.load(Ordering::Acquire);
            if s1 & 1 == 1 {
                continue;
            }
            let value = slot.value.load(Ordering::Acquire);
            let id = slot.id.load(Ordering::Acquire);
            let e = slot.epoch.load(Ordering::Acquire);
            let s2 = slot.seq.load(Ordering::Acquire);
            if s1 == s2 && e == tag {
                out.push(Exemplar { value, id });
            }
        }
    }
}

/// Keeps the `SLOTS` largest exemplars of `all`, largest first.
pub(crate) fn keep_slowest(all: &mut Vec<Exemplar>) {
    all.sort_unstable_by(|a, b| b.cmp(a));
    all.truncate(SLOTS);
}

#[cfg(all(test, not(aureon_loom)))]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_slowest_of_the_current_epoch() {
        let ex = Exemplars::new();
        for (v, id) in [(5, 1), (9, 2), (1, 3), (7, 4), (3, 5), (8, 6)] {
            ex.offer(0, v, id);
        }
        let mut out = Vec::new();
        ex.collect(0, &mut out);
        keep_slowest(&mut out);
        let got: Vec<_> = out.iter().map(|e| (e.value, e.id)).collect();
        assert_eq!(got, vec![(9, 2), (8, 6), (7, 4), (5, 1)]);
        // A new epoch starts empty and reuses the stale slots.
        ex.offer(1, 2, 7);
        let mut out = Vec::new();
        ex.collect(1, &mut out);
        assert_eq!(out, vec![Exemplar { value: 2, id: 7 }]);
    }
}
