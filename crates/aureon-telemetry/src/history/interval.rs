//! One interval of a history: what changed between two consecutive retained points.
//!
//! An [`Interval`] lists, by series key, only the series whose value or life changed: a
//! counter that grew, a histogram that recorded (as an encoded [`HistogramChange`]), a series
//! that appeared, was created again (after idle expiry freed it), or went away. An idle
//! series is not in it at all, so it costs the history nothing per point. Gauges are not
//! kept: a window has nothing to say about them ([`super::Window`]); the latest snapshot
//! holds their values.

use super::change::{HistogramChange, merge_encoded};
use crate::key::MetricKey;
use crate::layout::Layout;
use crate::snapshot::{MetricValue, Snapshot};
use std::cmp::Ordering;
use std::sync::Arc;
use std::time::SystemTime;

/// What a series was at the start of an interval in which it was replaced or went away.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Was {
    /// A counter.
    Counter,
    /// A histogram with this layout.
    Histogram(Arc<Layout>),
}

/// How a changed series relates to the one at the start of its interval.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Start {
    /// The same series: the change is what it gained.
    Continued,
    /// There was none: the change is all of it.
    Appeared,
    /// There was another one under the same key (freed and created again, or of another
    /// kind or configuration): the change is all of the new one.
    Replaced(Was),
}

/// One series' change over an interval.
#[derive(Debug, Clone)]
pub(crate) enum Change {
    /// A counter grew by `grew` (from zero, if it is new).
    Counter { grew: u64, start: Start },
    /// A histogram recorded `encoded` (a [`HistogramChange`]).
    Histogram {
        start: Start,
        layout: Arc<Layout>,
        encoded: Box<[u8]>,
    },
    /// The series went away (idle expiry freed it).
    Removed(Was),
}

impl Change {
    /// Whether the series' life changed (anything but a plain [`Start::Continued`] gain).
    fn is_lifecycle(&self) -> bool {
        match self {
            Change::Counter { start, .. } | Change::Histogram { start, .. } => {
                *start != Start::Continued
            }
            Change::Removed(_) => true,
        }
    }

    /// What the series was at the start of this change's interval, if its life changed in
    /// it: `Some(None)` when there was no series, `Some(Some(was))` when there was one that
    /// was replaced or went away, and `None` for a plain gain (which says only that the
    /// series did not change kind).
    pub(crate) fn was_at_start(&self) -> Option<Option<&Was>> {
        let start = match self {
            Change::Removed(was) => return Some(Some(was)),
            Change::Counter { start, .. } | Change::Histogram { start, .. } => start,
        };
        match start {
            Start::Continued => None,
            Start::Appeared => Some(None),
            Start::Replaced(was) => Some(Some(was)),
        }
    }
}

/// The layouts the histograms of a history use, each kept once and shared by every change
/// that needs it (a registry has a handful of configurations; keeping one per change would
/// cost a history as much as the changes themselves).
#[derive(Debug, Clone, Default)]
pub(crate) struct Layouts(Vec<Arc<Layout>>);

impl Layouts {
    /// The shared copy of `layout`.
    pub(crate) fn intern(&mut self, layout: &Layout) -> Arc<Layout> {
        if let Some(known) = self.0.iter().find(|l| ***l == *layout) {
            return Arc::clone(known);
        }
        let new = Arc::new(*layout);
        self.0.push(Arc::clone(&new));
        new
    }

    /// Forgets the layouts no change or caller holds any more.
    pub(crate) fn prune(&mut self) {
        self.0.retain(|l| Arc::strong_count(l) > 1);
    }

    /// Heap bytes of the layouts and the table.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.0.capacity() * size_of::<Arc<Layout>>()
            + self.0.len() * (2 * size_of::<usize>() + size_of::<Layout>())
    }
}

/// The changes between two consecutive retained points, sorted by series key.
#[derive(Debug)]
pub(crate) struct Interval {
    changes: Box<[(MetricKey, Change)]>,
    /// Whether some series' life changed (a quick test before searching: most intervals of
    /// a running process have none).
    lifecycle: bool,
    /// Heap bytes of this interval, `Arc` allocation included.
    heap_bytes: usize,
}

impl Interval {
    /// The changes from `from` to `to`, two snapshots of one registry, `to` the later.
    pub(crate) fn between(from: &Snapshot, to: &Snapshot, layouts: &mut Layouts) -> Self {
        let mut changes = Vec::new();
        let mut before = from.metrics.iter().peekable();
        let mut after = to.metrics.iter().peekable();
        loop {
            let order = match (before.peek(), after.peek()) {
                (None, None) => break,
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (Some((a, _)), Some((b, _))) => a.cmp(b),
            };
            let (key, change) = match order {
                Ordering::Less => {
                    let (key, (value, _)) = before.next().expect("peeked");
                    (key, was(value, layouts).map(Change::Removed))
                }
                Ordering::Greater => {
                    let (key, (value, _)) = after.next().expect("peeked");
                    (key, whole(value, Start::Appeared, layouts))
                }
                Ordering::Equal => {
                    let (_, (old, then)) = before.next().expect("peeked");
                    let (key, (new, created)) = after.next().expect("peeked");
                    (key, changed(old, *then, new, *created, layouts))
                }
            };
            if let Some(change) = change {
                changes.push((key.clone(), change));
            }
        }
        Self::from_changes(changes)
    }

    fn from_changes(changes: Vec<(MetricKey, Change)>) -> Self {
        let changes = changes.into_boxed_slice();
        let lifecycle = changes.iter().any(|(_, c)| c.is_lifecycle());
        let encoded: usize = changes
            .iter()
            .map(|(_, c)| match c {
                Change::Histogram { encoded, .. } => encoded.len(),
                _ => 0,
            })
            .sum();
        let heap_bytes = 2 * size_of::<usize>()
            + size_of::<Self>()
            + changes.len() * size_of::<(MetricKey, Change)>()
            + encoded;
        Self {
            changes,
            lifecycle,
            heap_bytes,
        }
    }

    /// The change of series `key`, if it changed.
    pub(crate) fn get(&self, key: &MetricKey) -> Option<&Change> {
        self.changes
            .binary_search_by(|(k, _)| k.cmp(key))
            .ok()
            .map(|i| &self.changes[i].1)
    }

    /// The change of `key` if some series' life changed in this interval (`None` quickly
    /// otherwise).
    pub(crate) fn lifecycle_change(&self, key: &MetricKey) -> Option<&Change> {
        if self.lifecycle { self.get(key) } else { None }
    }

    /// Every change, by key.
    #[cfg(test)]
    pub(crate) fn changes(&self) -> impl Iterator<Item = &(MetricKey, Change)> + '_ {
        self.changes.iter()
    }

    /// The changes of a series' life (appeared, replaced, went away), by key.
    pub(crate) fn lifecycle_changes(&self) -> impl Iterator<Item = &(MetricKey, Change)> + '_ {
        let changes: &[(MetricKey, Change)] = if self.lifecycle { &self.changes } else { &[] };
        changes.iter().filter(|(_, c)| c.is_lifecycle())
    }

    /// Heap bytes of this interval.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.heap_bytes
    }

    /// One interval covering `run`, consecutive intervals oldest first: the change of each
    /// series over all of them (what coarser history keeps further back). A histogram's
    /// gains over several of them are merged in one pass over their bytes.
    pub(crate) fn merged(run: &[Arc<Interval>]) -> Self {
        let mut entries: Vec<(&MetricKey, &Change)> = run
            .iter()
            .flat_map(|i| i.changes.iter().map(|(k, c)| (k, c)))
            .collect();
        // Stable: each series' changes stay oldest first.
        entries.sort_by(|a, b| a.0.cmp(b.0));
        let mut changes = Vec::with_capacity(entries.len());
        for group in entries.chunk_by(|a, b| a.0 == b.0) {
            if let Some(change) = fold_changes(group.iter().map(|(_, c)| *c)) {
                changes.push((group[0].0.clone(), change));
            }
        }
        Self::from_changes(changes)
    }
}

/// The change of one series over consecutive intervals, from its changes in them (oldest
/// first); `None` when nothing is left to see.
pub(super) fn fold_changes<'a>(changes: impl Iterator<Item = &'a Change>) -> Option<Change> {
    let mut acc: Option<Change> = None;
    // Histogram gains after `acc`'s own, to be merged into it in one pass.
    let mut gains: Vec<&'a [u8]> = Vec::new();
    for next in changes {
        if let (
            Some(Change::Histogram { .. }),
            Change::Histogram {
                start: Start::Continued,
                encoded,
                ..
            },
        ) = (&acc, next)
        {
            gains.push(encoded);
            continue;
        }
        add_gains(&mut acc, &mut gains);
        acc = match acc {
            None => Some(next.clone()),
            Some(before) => then(&before, next),
        };
    }
    add_gains(&mut acc, &mut gains);
    acc
}

/// Merges `gains` into `acc`, a histogram's change.
fn add_gains(acc: &mut Option<Change>, gains: &mut Vec<&[u8]>) {
    if let (Some(Change::Histogram { encoded, .. }), false) = (acc.as_mut(), gains.is_empty()) {
        let merged = {
            let mut parts: Vec<&[u8]> = Vec::with_capacity(gains.len() + 1);
            parts.push(encoded);
            parts.extend(gains.iter().copied());
            merge_encoded(&parts)
        };
        *encoded = merged;
    }
    gains.clear();
}

/// What `value` was, for a change that replaces or removes it (`None` for a gauge, which a
/// history does not follow).
fn was(value: &MetricValue, layouts: &mut Layouts) -> Option<Was> {
    match value {
        MetricValue::Counter(_) => Some(Was::Counter),
        MetricValue::Histogram(h) => Some(Was::Histogram(layouts.intern(h.layout()))),
        MetricValue::Gauge(_) => None,
    }
}

/// All of `value` as a change (`None` for a gauge).
fn whole(value: &MetricValue, start: Start, layouts: &mut Layouts) -> Option<Change> {
    match value {
        MetricValue::Counter(c) => Some(Change::Counter { grew: *c, start }),
        MetricValue::Histogram(h) => Some(Change::Histogram {
            start,
            layout: layouts.intern(h.layout()),
            encoded: HistogramChange::between(None, h).encode(),
        }),
        MetricValue::Gauge(_) => None,
    }
}

/// The change of a series present at both points (`None` if nothing changed).
fn changed(
    old: &MetricValue,
    then: SystemTime,
    new: &MetricValue,
    created: SystemTime,
    layouts: &mut Layouts,
) -> Option<Change> {
    let same_series = then == created;
    match (old, new) {
        (MetricValue::Counter(a), MetricValue::Counter(b)) if same_series => {
            // A counter of one series never decreases (ticks are serialised); were it to,
            // the window would show no growth rather than wrap.
            let grew = b.saturating_sub(*a);
            (grew > 0).then_some(Change::Counter {
                grew,
                start: Start::Continued,
            })
        }
        (MetricValue::Histogram(a), MetricValue::Histogram(b))
            if same_series && a.layout() == b.layout() =>
        {
            let unchanged = a.shares_bins_with(b)
                && a.sum() == b.sum()
                && a.clamped() == b.clamped()
                && b.exemplars().is_empty();
            if unchanged {
                return None;
            }
            let change = HistogramChange::between(Some(a), b);
            (!change.is_nothing()).then(|| Change::Histogram {
                start: Start::Continued,
                layout: layouts.intern(b.layout()),
                encoded: change.encode(),
            })
        }
        (MetricValue::Gauge(_), _) => whole(new, Start::Appeared, layouts),
        _ => match was(old, layouts) {
            Some(w) => whole(new, Start::Replaced(w.clone()), layouts).or(Some(Change::Removed(w))),
            None => None,
        },
    }
}

/// The change over two consecutive intervals of one series that changed in both, `first`
/// then `second` (`None` when nothing is left to see: a series that appeared and went away
/// in between).
fn then(first: &Change, second: &Change) -> Option<Change> {
    // What the series was at the start of both: `first` says.
    let absent_at_start = matches!(first.was_at_start(), Some(None));
    let was_at_start = || match first.was_at_start() {
        Some(Some(w)) => Some(w.clone()),
        _ => None,
    };
    let reset_start = || match was_at_start() {
        Some(w) => Start::Replaced(w),
        None if absent_at_start => Start::Appeared,
        // A plain gain first: the series at the start is the one `first` changed.
        None => Start::Replaced(match first {
            Change::Counter { .. } => Was::Counter,
            Change::Histogram { layout, .. } => Was::Histogram(Arc::clone(layout)),
            Change::Removed(w) => w.clone(),
        }),
    };
    match second {
        Change::Removed(_) if absent_at_start => None,
        Change::Removed(w) => Some(Change::Removed(was_at_start().unwrap_or_else(|| w.clone()))),
        Change::Counter {
            grew,
            start: Start::Continued,
        } => match first {
            Change::Counter { grew: g, start } => Some(Change::Counter {
                grew: g.saturating_add(*grew),
                start: start.clone(),
            }),
            // (A plain gain always follows the same kind of series.)
            _ => Some(second.clone()),
        },
        Change::Histogram {
            start: Start::Continued,
            layout,
            encoded,
        } => match first {
            Change::Histogram {
                start,
                encoded: earlier,
                ..
            } => Some(Change::Histogram {
                start: start.clone(),
                layout: Arc::clone(layout),
                encoded: merge_encoded(&[earlier, encoded]),
            }),
            _ => Some(second.clone()),
        },
        // The second interval starts a new series: all of it, replacing what was at the
        // start of both (if anything).
        Change::Counter { grew, .. } => Some(Change::Counter {
            grew: *grew,
            start: reset_start(),
        }),
        Change::Histogram {
            layout, encoded, ..
        } => Some(Change::Histogram {
            start: reset_start(),
            layout: Arc::clone(layout),
            encoded: encoded.clone(),
        }),
    }
}
