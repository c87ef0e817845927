//! [`Window`]: what happened between two points, answered series by series.
//!
//! A window of a [`super::History`] adds up the intervals between its two points (a
//! one-interval window reads one); a window between two full snapshots
//! ([`Window::between`]) subtracts one from the other. Both follow the same rules: a series
//! absent at the start, or created again since (after idle expiry freed it), counts from
//! zero, and a series absent at the end has no value.

use super::Timeline;
use super::change::HistogramChange;
use super::interval::{Change, Was, fold_changes};
use crate::key::MetricKey;
use crate::layout::Layout;
use crate::snapshot::{HistogramSnapshot, MetricValue, Snapshot, Stamp};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

/// What happened to a registry between two points in time: counter growth and what
/// histograms recorded.
///
/// Windows come from a [`super::History`] ([`super::History::window`],
/// [`super::History::intervals`], …) or from two snapshots a caller kept
/// ([`Window::between`]). Cloning one is cheap: it shares the history it reads.
#[derive(Debug, Clone)]
pub struct Window {
    from: Stamp,
    to: Stamp,
    source: Source,
}

#[derive(Debug, Clone)]
enum Source {
    /// Two full snapshots.
    Snapshots {
        from: Arc<Snapshot>,
        to: Arc<Snapshot>,
    },
    /// Points `from < to` of a history's timeline.
    Timeline {
        timeline: Arc<Timeline>,
        from: usize,
        to: usize,
    },
}

/// A series' kind (and histogram layout) at one point.
enum Kind<'a> {
    Counter,
    Histogram(&'a Layout),
}

impl Window {
    /// The window between two snapshots of the same registry, `from` taken before `to`.
    pub fn between(from: Arc<Snapshot>, to: Arc<Snapshot>) -> Self {
        Self {
            from: from.stamp(),
            to: to.stamp(),
            source: Source::Snapshots { from, to },
        }
    }

    pub(super) fn of_timeline(timeline: &Arc<Timeline>, from: usize, to: usize) -> Self {
        debug_assert!(from < to && to < timeline.stamps.len());
        Self {
            from: timeline.stamps[from],
            to: timeline.stamps[to],
            source: Source::Timeline {
                timeline: Arc::clone(timeline),
                from,
                to,
            },
        }
    }

    /// The point the window starts at.
    pub fn from(&self) -> &Stamp {
        &self.from
    }

    /// The point the window ends at.
    pub fn to(&self) -> &Stamp {
        &self.to
    }

    /// Time between the two points.
    pub fn elapsed(&self) -> Duration {
        self.to.taken_at().duration_since(self.from.taken_at())
    }

    /// How much counter `name{labels}` grew (a counter absent at the start counts from 0, as
    /// does one created again since, after idle expiry freed it: see [`Snapshot::created`]).
    /// `None` if there is no such counter at the end.
    pub fn counter_delta(&self, name: &str, labels: &[(&str, &str)]) -> Option<u64> {
        let key = MetricKey::lookup(name, labels);
        match &self.source {
            Source::Snapshots { from, to } => {
                let now = to.counter_with(name, labels)?;
                let before = match from.created(&key) == to.created(&key) {
                    true => from.counter_with(name, labels).unwrap_or(0),
                    false => 0,
                };
                Some(now.saturating_sub(before))
            }
            Source::Timeline { timeline, from, to } => {
                let Kind::Counter = timeline.kind_at(*to, &key)? else {
                    return None;
                };
                Some(match timeline.sum(*from, *to, &key) {
                    Some(Change::Counter { grew, .. }) => grew,
                    _ => 0,
                })
            }
        }
    }

    /// Counter growth per second over the window.
    pub fn counter_rate(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let secs = self.elapsed().as_secs_f64();
        let delta = self.counter_delta(name, labels)?;
        (secs > 0.0).then(|| delta as f64 / secs)
    }

    /// What histogram `name{labels}` recorded during the window (empty if nothing); `None`
    /// if there is no such histogram at the end.
    ///
    /// Count, sum and bins are exact. The bounds hold every value recorded in the window:
    /// a window of a history takes the widest of its intervals' bounds, each computed as
    /// [`HistogramSnapshot::delta_since`] computes them. The exemplars are the slowest of
    /// the window (a window between two snapshots has only those of the later one, which
    /// holds its last interval's).
    pub fn histogram_delta(
        &self,
        name: &str,
        labels: &[(&str, &str)],
    ) -> Option<HistogramSnapshot> {
        self.histogram_delta_of(&MetricKey::lookup(name, labels))
    }

    fn histogram_delta_of(&self, key: &MetricKey) -> Option<HistogramSnapshot> {
        match &self.source {
            Source::Snapshots { from, to } => {
                let Some(MetricValue::Histogram(now)) = to.metrics.get(key).map(|(v, _)| v) else {
                    return None;
                };
                Some(match from.metrics.get(key) {
                    Some((MetricValue::Histogram(before), then))
                        if Some(*then) == to.created(key) && before.layout() == now.layout() =>
                    {
                        now.delta_since(before)
                    }
                    _ => now.clone(),
                })
            }
            Source::Timeline { timeline, from, to } => {
                let Kind::Histogram(layout) = timeline.kind_at(*to, key)? else {
                    return None;
                };
                Some(match timeline.sum(*from, *to, key) {
                    Some(Change::Histogram {
                        layout, encoded, ..
                    }) => HistogramChange::decode(&encoded).to_snapshot(*layout),
                    _ => HistogramChange::default().to_snapshot(*layout),
                })
            }
        }
    }

    /// Every histogram present at the end of the window with what it recorded during it
    /// (empty if nothing), in key order.
    pub fn histograms(&self) -> Vec<(MetricKey, HistogramSnapshot)> {
        let keys: BTreeSet<&MetricKey> = match &self.source {
            Source::Snapshots { to, .. } => histogram_keys(to).collect(),
            Source::Timeline { timeline, to, .. } => {
                let mut keys: BTreeSet<&MetricKey> = histogram_keys(&timeline.latest).collect();
                // A series present at the end but not in the latest snapshot went away (or
                // was replaced) after the end: a change of its life says so.
                for interval in &timeline.intervals[*to..] {
                    keys.extend(interval.lifecycle_changes().map(|(k, _)| k));
                }
                keys
            }
        };
        keys.into_iter()
            .filter_map(|k| Some((k.clone(), self.histogram_delta_of(k)?)))
            .collect()
    }
}

fn histogram_keys(snapshot: &Snapshot) -> impl Iterator<Item = &MetricKey> + '_ {
    snapshot
        .iter()
        .filter(|(_, v)| matches!(v, MetricValue::Histogram(_)))
        .map(|(k, _)| k)
}

impl Timeline {
    /// What series `key` is at point `at`, `None` if there is none there. Only a change of
    /// the series' life can change its kind, so the first such change after `at` tells;
    /// without one, the latest snapshot does.
    fn kind_at(&self, at: usize, key: &MetricKey) -> Option<Kind<'_>> {
        for interval in &self.intervals[at..] {
            if let Some(was) = interval
                .lifecycle_change(key)
                .and_then(Change::was_at_start)
            {
                return was.map(|w| match w {
                    Was::Counter => Kind::Counter,
                    Was::Histogram(layout) => Kind::Histogram(layout),
                });
            }
        }
        match self.latest.metrics.get(key).map(|(v, _)| v)? {
            MetricValue::Counter(_) => Some(Kind::Counter),
            MetricValue::Histogram(h) => Some(Kind::Histogram(h.layout())),
            MetricValue::Gauge(_) => None,
        }
    }

    /// The change of `key` from point `from` to point `to`: its changes in the intervals in
    /// between, added up as thinning adds them ([`fold_changes`]); `None` if it did not
    /// change.
    fn sum(&self, from: usize, to: usize, key: &MetricKey) -> Option<Change> {
        fold_changes(self.intervals[from..to].iter().filter_map(|i| i.get(key)))
    }
}
