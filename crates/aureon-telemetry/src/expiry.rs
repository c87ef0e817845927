//! Idle expiry: which series a snapshot leaves out because no snapshot has seen their value
//! change for [`crate::RegistryBuilder::idle_timeout`], and the map transitions that follow.
//!
//! Expiry runs inside [`crate::Registry::snapshot`] (and so in every snapshotter tick), never
//! on the hot path: recording is exactly what it is without expiry. A snapshot with expiry
//! on is taken in two steps, both under [`Expiry::idle`]'s lock (so passes never overlap):
//!
//! 1. **Read** every entry (cloned out of the map): a live one's value is read and compared
//!    with the value the previous passes saw; unchanged for the timeout, it is planned for
//!    expiry and left out of this snapshot. A dormant one whose last handle is gone is
//!    planned for freeing; one whose value moved away from its fingerprint was recorded
//!    into after it expired: it is planned for revival and is in this snapshot.
//! 2. **Apply** each plan under the key's map lock, after dropping the clones read in step 1
//!    (so that reference counts mean what they say): an idle entry whose metric nobody else
//!    references is removed (freed), one still referenced by a handle turns dormant with the
//!    value read in step 1 as its fingerprint. A plan whose entry changed meanwhile (revived
//!    or replaced by a registration) is skipped.
//!
//! Why no record is lost: a record on a held handle lands in the core, which a dormant entry
//! still reaches. If step 1 read the value after the record, the series was not idle; if
//! before, the fingerprint (that value) differs from every later reading, so the next pass
//! revives the series, whose totals then include the record. The fingerprint must be the
//! value *the snapshot read*, not one read at apply time: a record between the two would
//! otherwise be in the fingerprint but in no snapshot (loom model
//! `record_racing_expiry_reaches_a_later_snapshot`, mutation M23). An entry is freed only
//! under its map lock with a reference count of one (the map's): no handle exists, and none
//! can be made meanwhile, since handles come from the map (under that lock) or from other
//! handles.

use crate::entry::{Entry, Metric, State, fingerprint};
use crate::key::MetricKey;
use crate::snapshot::MetricValue;
use crate::sync::{Change, ConcurrentMap, Mutex};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The expiry configuration and the value history it judges idleness by.
pub(crate) struct Expiry {
    pub(crate) timeout: Duration,
    pub(crate) idle: Mutex<IdleTable>,
}

/// Per live key: the value it was last seen with, and when that value was first seen.
#[derive(Default)]
pub(crate) struct IdleTable {
    seen: HashMap<MetricKey, Seen>,
    /// Keys removed since the maps were last shrunk.
    removed_since_shrink: usize,
}

struct Seen {
    fingerprint: u64,
    since: Instant,
}

/// One entry read in step 1: what to publish, and what to change.
pub(crate) enum Verdict {
    /// In the snapshot with this value; nothing to change.
    Keep(MetricValue),
    /// Not in the snapshot: idle for the timeout. `fingerprint` is the value just read.
    Expire { addr: usize, fingerprint: u64 },
    /// Not in the snapshot: a dormant entry whose last handle is gone.
    Free,
    /// In the snapshot with this value: a dormant entry that was recorded into.
    Revive(Metric, MetricValue),
    /// Not in the snapshot, nothing to change: a dormant entry nobody recorded into.
    StayDormant,
}

/// What step 2 did to one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Applied {
    /// Removed from the map; `counted` says whether it held a label-set place.
    Freed { counted: bool },
    /// Now dormant (a handle still refers to it).
    Dormant,
    /// Now live again.
    Revived,
    /// The entry had changed meanwhile; nothing done.
    Skipped,
}

impl Expiry {
    pub(crate) fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            idle: Mutex::new(IdleTable::default()),
        }
    }
}

impl IdleTable {
    /// Step 1 for one entry, at pass time `now`.
    pub(crate) fn judge(
        &mut self,
        key: &MetricKey,
        entry: &Entry,
        now: Instant,
        timeout: Duration,
        rotate_exemplars: bool,
    ) -> Verdict {
        match &entry.state {
            State::Live(metric) => {
                let value = metric.read(rotate_exemplars);
                let fp = fingerprint(&value);
                match self.seen.get_mut(key) {
                    Some(seen) if seen.fingerprint == fp => {
                        if now.saturating_duration_since(seen.since) >= timeout {
                            Verdict::Expire {
                                addr: metric.addr(),
                                fingerprint: fp,
                            }
                        } else {
                            Verdict::Keep(value)
                        }
                    }
                    Some(seen) => {
                        *seen = Seen {
                            fingerprint: fp,
                            since: now,
                        };
                        Verdict::Keep(value)
                    }
                    None => {
                        // First seen (new, or back after a registration revived it): a change.
                        self.seen.insert(
                            key.clone(),
                            Seen {
                                fingerprint: fp,
                                since: now,
                            },
                        );
                        Verdict::Keep(value)
                    }
                }
            }
            State::Dormant {
                metric,
                fingerprint: expired_at,
            } => match metric.upgrade() {
                None => Verdict::Free,
                Some(metric) => {
                    let value = metric.read(rotate_exemplars);
                    let fp = fingerprint(&value);
                    if fp == *expired_at {
                        Verdict::StayDormant
                    } else {
                        self.seen.insert(
                            key.clone(),
                            Seen {
                                fingerprint: fp,
                                since: now,
                            },
                        );
                        Verdict::Revive(metric, value)
                    }
                }
            },
        }
    }

    /// Forgets a key that expired (its value history restarts if it comes back).
    pub(crate) fn forget(&mut self, key: &MetricKey) {
        self.seen.remove(key);
    }

    /// Notes `n` removed keys, and shrinks the tables (this one and `metrics`) once as many
    /// keys were removed since the last shrink as remain: memory follows the live series
    /// back down after churn, at an amortised cost of O(1) per removal.
    pub(crate) fn note_removed(&mut self, n: usize, metrics: &ConcurrentMap<MetricKey, Entry>) {
        self.removed_since_shrink += n;
        if self.removed_since_shrink > 0 && self.removed_since_shrink >= metrics.len().max(64) {
            self.removed_since_shrink = 0;
            self.seen.shrink_to_fit();
            metrics.shrink_to_fit();
        }
    }
}

/// Step 2 for one key: expire the live metric at `addr` (freed if nothing else references it,
/// dormant with `fingerprint` otherwise).
pub(crate) fn apply_expire(
    metrics: &ConcurrentMap<MetricKey, Entry>,
    key: &MetricKey,
    addr: usize,
    fingerprint: u64,
) -> Applied {
    metrics.update(key.clone(), |slot| match slot {
        Some(entry) => match &entry.state {
            State::Live(metric) if metric.addr() == addr => {
                if metric.strong_count() == 1 {
                    let counted = entry.counted;
                    (Change::Remove, Applied::Freed { counted })
                } else {
                    entry.state = State::Dormant {
                        metric: metric.downgrade(),
                        fingerprint,
                    };
                    (Change::Keep, Applied::Dormant)
                }
            }
            _ => (Change::Keep, Applied::Skipped),
        },
        None => (Change::Keep, Applied::Skipped),
    })
}

/// Step 2 for one key: free a dormant entry whose last handle is gone.
pub(crate) fn apply_free(metrics: &ConcurrentMap<MetricKey, Entry>, key: &MetricKey) -> Applied {
    metrics.update(key.clone(), |slot| match slot {
        Some(entry) if matches!(&entry.state, State::Dormant { metric, .. } if metric.is_dead()) => {
            let counted = entry.counted;
            (Change::Remove, Applied::Freed { counted })
        }
        _ => (Change::Keep, Applied::Skipped),
    })
}

/// Step 2 for one key: make a dormant entry live again with its own metric.
pub(crate) fn apply_revive(
    metrics: &ConcurrentMap<MetricKey, Entry>,
    key: &MetricKey,
    metric: &Metric,
) -> Applied {
    metrics.update(key.clone(), |slot| match slot {
        Some(entry) => match &entry.state {
            State::Dormant { metric: weak, .. } if weak.addr() == metric.addr() => {
                entry.state = State::Live(metric.clone());
                (Change::Keep, Applied::Revived)
            }
            _ => (Change::Keep, Applied::Skipped),
        },
        None => (Change::Keep, Applied::Skipped),
    })
}
