//! The snapshot history ring and windowed views over it.
//!
//! A [`History`] is immutable: the snapshotter builds a new one each tick (sharing the
//! retained snapshots by `Arc`) and publishes it, so readers hold a consistent ring for as
//! long as they like without blocking anyone.

use crate::snapshot::{HistogramSnapshot, MetricValue, Snapshot};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

/// The retained snapshots, oldest first; never empty.
#[derive(Debug, Clone)]
pub struct History {
    snapshots: VecDeque<Retained>,
    /// What the retained snapshots hold, each allocation once: the oldest's
    /// [`Snapshot::heap_bytes`] plus, for each later one, what it does not share with the
    /// one before it.
    heap_bytes: usize,
}

/// One retained snapshot and its sizes, measured once when it was pushed.
#[derive(Debug, Clone)]
struct Retained {
    snapshot: Arc<Snapshot>,
    /// Its [`Snapshot::heap_bytes`].
    full: usize,
    /// The part of `full` it does not share with the snapshot retained before it (all of it
    /// for the first).
    own: usize,
}

impl History {
    /// A history holding one snapshot.
    pub fn new(first: Arc<Snapshot>) -> Self {
        let bytes = first.heap_bytes();
        Self {
            snapshots: VecDeque::from([Retained {
                snapshot: first,
                full: bytes,
                own: bytes,
            }]),
            heap_bytes: bytes,
        }
    }

    /// This history plus `latest`, keeping at most `retention` snapshots (at least 1).
    pub fn with_pushed(&self, latest: Arc<Snapshot>, retention: usize) -> Self {
        self.with_pushed_within(latest, retention, usize::MAX)
    }

    /// This history plus `latest`, keeping at most `retention` snapshots (at least 1), and
    /// dropping the oldest while the retained snapshots hold more than `max_bytes` of heap
    /// (as [`History::heap_bytes`] counts it) and more than two remain: the two newest are
    /// always kept (the newest alone when `retention` is 1), so the last interval stays
    /// visible however large one snapshot is. Windows then reach back less far than
    /// `retention` intervals; [`History::span`] says how far.
    pub fn with_pushed_within(
        &self,
        latest: Arc<Snapshot>,
        retention: usize,
        max_bytes: usize,
    ) -> Self {
        let mut snapshots = self.snapshots.clone();
        let mut heap_bytes = self.heap_bytes;
        let full = latest.heap_bytes();
        let own = full.saturating_sub(latest.bytes_shared_with(self.latest()));
        snapshots.push_back(Retained {
            snapshot: latest,
            full,
            own,
        });
        heap_bytes += own;
        while snapshots.len() > retention.max(1) || (heap_bytes > max_bytes && snapshots.len() > 2)
        {
            let dropped = snapshots.pop_front().expect("more than one snapshot");
            // The new oldest now holds alone what it shared with the one dropped.
            let next = snapshots.front().expect("at least one snapshot remains");
            heap_bytes = heap_bytes - dropped.full + (next.full - next.own);
        }
        if let Some(first) = snapshots.front_mut() {
            first.own = first.full;
        }
        Self {
            snapshots,
            heap_bytes,
        }
    }

    /// Heap bytes the retained snapshots hold, each allocation counted once: counts that
    /// consecutive snapshots share (an idle histogram's, see
    /// [`Snapshot::share_unchanged_with`]) count for the first of them only. Snapshots shared
    /// with an older history or with readers count once per history.
    pub fn heap_bytes(&self) -> usize {
        self.heap_bytes
    }

    /// Time from the oldest retained snapshot to the latest: the longest window available.
    pub fn span(&self) -> Duration {
        self.latest()
            .taken_at
            .duration_since(self.oldest().taken_at)
    }

    /// The newest snapshot.
    pub fn latest(&self) -> &Arc<Snapshot> {
        &self
            .snapshots
            .back()
            .expect("a history is never empty")
            .snapshot
    }

    /// The oldest retained snapshot.
    pub fn oldest(&self) -> &Arc<Snapshot> {
        &self
            .snapshots
            .front()
            .expect("a history is never empty")
            .snapshot
    }

    /// Number of retained snapshots.
    pub fn len(&self) -> usize {
        self.snapshots.len()
    }

    /// Always `false`: a history holds at least one snapshot.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The retained snapshots, oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Arc<Snapshot>> + ExactSizeIterator + '_ {
        self.snapshots.iter().map(|r| &r.snapshot)
    }

    /// The window ending at the latest snapshot and starting at the newest retained snapshot
    /// taken at least `span` before it (or the oldest one, if the history is shorter).
    /// `None` while only one snapshot is retained.
    pub fn window(&self, span: Duration) -> Option<Window> {
        let to = Arc::clone(self.latest());
        let from = self
            .iter()
            .rev()
            .skip(1)
            .find(|s| to.taken_at.duration_since(s.taken_at) >= span)
            .or_else(|| (self.snapshots.len() > 1).then(|| self.oldest()))?;
        Some(Window {
            from: Arc::clone(from),
            to,
        })
    }

    /// The window between the last two snapshots (the last interval).
    pub fn last_interval(&self) -> Option<Window> {
        let n = self.snapshots.len();
        (n >= 2).then(|| Window {
            from: Arc::clone(&self.snapshots[n - 2].snapshot),
            to: Arc::clone(&self.snapshots[n - 1].snapshot),
        })
    }

    /// For each consecutive pair of snapshots, the window between them (oldest first): the
    /// per-interval series a dashboard's sparklines draw.
    pub fn intervals(&self) -> impl Iterator<Item = Window> + '_ {
        self.iter().zip(self.iter().skip(1)).map(|(a, b)| Window {
            from: Arc::clone(a),
            to: Arc::clone(b),
        })
    }
}

/// Two snapshots of the same registry, `from` taken before `to`: what happened in between.
#[derive(Debug, Clone)]
pub struct Window {
    /// The earlier snapshot.
    pub from: Arc<Snapshot>,
    /// The later snapshot.
    pub to: Arc<Snapshot>,
}

impl Window {
    /// Time between the two snapshots.
    pub fn elapsed(&self) -> Duration {
        self.to.taken_at.duration_since(self.from.taken_at)
    }

    /// How much counter `name{labels}` grew (a counter absent earlier counts from 0, as does
    /// one created again since `from`, after idle expiry freed it: see
    /// [`Snapshot::created`]).
    pub fn counter_delta(&self, name: &str, labels: &[(&str, &str)]) -> Option<u64> {
        let now = self.to.counter_with(name, labels)?;
        let before = match self.same_series(name, labels) {
            true => self.from.counter_with(name, labels).unwrap_or(0),
            false => 0,
        };
        Some(now.saturating_sub(before))
    }

    /// Whether `from` holds the same series as `to` (not an earlier one that was freed and
    /// created again in between).
    fn same_series(&self, name: &str, labels: &[(&str, &str)]) -> bool {
        self.from.created_with(name, labels) == self.to.created_with(name, labels)
    }

    /// Counter growth per second over the window.
    pub fn counter_rate(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let secs = self.elapsed().as_secs_f64();
        let delta = self.counter_delta(name, labels)?;
        (secs > 0.0).then(|| delta as f64 / secs)
    }

    /// What histogram `name{labels}` recorded during the window.
    pub fn histogram_delta(
        &self,
        name: &str,
        labels: &[(&str, &str)],
    ) -> Option<HistogramSnapshot> {
        let now = self.to.histogram_with(name, labels)?;
        Some(match self.from.get(name, labels) {
            Some(MetricValue::Histogram(before)) if self.same_series(name, labels) => {
                now.delta_since(before)
            }
            _ => now.clone(),
        })
    }
}

#[cfg(all(test, not(aureon_loom)))]
mod tests {
    use super::*;
    use crate::Registry;

    /// Snapshots of a registry whose one histogram covers more pages each time (growing
    /// sizes), each with its size.
    fn growing_snapshots(n: u64) -> Vec<(Arc<Snapshot>, usize)> {
        let registry = Registry::new();
        let h = registry.histogram("latency_us");
        (0..n)
            .map(|i| {
                h.record(1000 << i);
                let s = Arc::new(registry.snapshot());
                let bytes = s.heap_bytes();
                (s, bytes)
            })
            .collect()
    }

    #[test]
    fn the_byte_budget_drops_the_oldest_and_keeps_two() {
        let snaps = growing_snapshots(6);
        assert!(snaps.windows(2).all(|w| w[0].1 < w[1].1), "sizes grow");
        // A budget that fits the last three exactly.
        let budget: usize = snaps[3..].iter().map(|(_, b)| b).sum();
        let mut history = History::new(Arc::clone(&snaps[0].0));
        for (s, _) in &snaps[1..] {
            history = history.with_pushed_within(Arc::clone(s), 100, budget);
            assert!(history.heap_bytes() <= budget || history.len() == 2);
            let sum: usize = history.iter().map(|s| s.heap_bytes()).sum();
            assert_eq!(history.heap_bytes(), sum);
        }
        let kept: Vec<u64> = history.iter().map(|s| s.sequence()).collect();
        let last3: Vec<u64> = snaps[3..].iter().map(|(s, _)| s.sequence()).collect();
        assert_eq!(kept, last3);
        assert_eq!(
            history.span(),
            snaps[5].0.taken_at().duration_since(snaps[3].0.taken_at())
        );

        // A budget smaller than any snapshot still keeps the last interval.
        let tiny = history.with_pushed_within(Arc::clone(&snaps[5].0), 100, 1);
        assert_eq!(tiny.len(), 2);
        assert!(tiny.last_interval().is_some());
    }

    #[test]
    fn shared_counts_count_once_and_pass_to_the_new_oldest() {
        let registry = Registry::new();
        let h = registry.histogram("latency_us");
        for v in (100..20_000).step_by(7) {
            h.record(v);
        }
        let first = Arc::new(registry.snapshot());
        let full = first.heap_bytes();
        let mut history = History::new(Arc::clone(&first));
        let mut previous = first;
        for _ in 0..4 {
            let mut next = registry.snapshot();
            assert_eq!(next.share_unchanged_with(&previous), 1);
            let next = Arc::new(next);
            assert_eq!(
                next.heap_bytes(),
                full,
                "sharing does not change a snapshot"
            );
            history = history.with_pushed(Arc::clone(&next), 3);
            previous = next;
        }
        // Three retained, one copy of the counts: the oldest's full size plus what the
        // other two hold alone (their map entries, not the counts).
        let counts = previous.bytes_shared_with(history.oldest());
        assert!(counts > full / 2, "the counts are most of a snapshot");
        assert_eq!(history.heap_bytes(), full + 2 * (full - counts));
        // A recorded value ends the sharing.
        h.record(150);
        let mut changed = registry.snapshot();
        assert_eq!(changed.share_unchanged_with(&previous), 0);
        let history = history.with_pushed(Arc::new(changed), 3);
        assert_eq!(history.heap_bytes(), full + (full - counts) + full);
    }

    #[test]
    fn retention_one_keeps_only_the_newest() {
        let snaps = growing_snapshots(3);
        let mut history = History::new(Arc::clone(&snaps[0].0));
        for (s, _) in &snaps[1..] {
            history = history.with_pushed_within(Arc::clone(s), 1, usize::MAX);
        }
        assert_eq!(history.len(), 1);
        assert_eq!(history.heap_bytes(), snaps[2].1);
        assert_eq!(history.span(), Duration::ZERO);
        assert!(history.last_interval().is_none());
        // `with_pushed` is the same without a byte budget.
        let unbounded = history.with_pushed(Arc::clone(&snaps[2].0), 3);
        assert_eq!(unbounded.len(), 2);
    }
}
