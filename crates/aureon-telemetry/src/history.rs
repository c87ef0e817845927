//! The snapshot history and windowed views over it.
//!
//! A [`History`] keeps the latest snapshot whole and every earlier point only as the change
//! since the point before it ([`interval::Interval`]): the series that changed, each
//! histogram's change as a few bytes per bin that grew. So it costs what was recorded, not
//! `retention` copies of every histogram: an idle series costs nothing per point, and a
//! busy one the bins its values fell in. Further back than [`HistoryLimits::full_resolution`]
//! ticks the points are thinned to one per [`HistoryLimits::coarse_every`], the intervals
//! either side of each dropped point added into one: exact, since changes add. A [`Window`]
//! adds up the intervals it spans; a one-interval window reads exactly one.
//!
//! A history is immutable: the snapshotter builds a new one each tick (sharing the retained
//! intervals by `Arc`) and publishes it, so readers hold a consistent history for as long as
//! they like without blocking anyone.

mod change;
mod interval;
mod window;

pub use window::Window;

use crate::snapshot::{Snapshot, Stamp};
use interval::{Interval, Layouts};
use std::sync::Arc;
use std::time::Duration;

/// The retained points, oldest first, and the latest snapshot; never empty.
///
/// Windows ([`History::window`], [`History::intervals`], …) answer counter growth and what
/// histograms recorded between any two retained points, exactly. Full values are those of
/// [`History::latest`].
#[derive(Debug, Clone)]
pub struct History {
    timeline: Arc<Timeline>,
    /// The layouts the retained intervals' histograms use.
    layouts: Layouts,
    /// Heap bytes of the timeline: the latest snapshot, the intervals and the tables.
    heap_bytes: usize,
}

/// What a history and the windows taken from it share.
#[derive(Debug)]
struct Timeline {
    /// Every retained point, oldest first; the last is `latest`'s.
    stamps: Vec<Stamp>,
    /// Each point's tick: how many snapshots were pushed before it since the history began.
    ticks: Vec<u64>,
    /// `intervals[i]` is what changed from point `i` to point `i + 1`.
    intervals: Vec<Arc<Interval>>,
    latest: Arc<Snapshot>,
}

impl Timeline {
    /// Heap bytes of the timeline (its vectors are kept at their exact length).
    fn heap_bytes(&self) -> usize {
        self.bytes_from(0)
    }

    /// Heap bytes of the timeline without its first `drop` points.
    fn bytes_from(&self, drop: usize) -> usize {
        let points = self.stamps.len() - drop;
        2 * size_of::<usize>()
            + size_of::<Self>()
            + points * (size_of::<Stamp>() + size_of::<u64>())
            + points.saturating_sub(1) * size_of::<Arc<Interval>>()
            + self.latest.heap_bytes()
            + self.intervals[drop.min(self.intervals.len())..]
                .iter()
                .map(|i| i.heap_bytes())
                .sum::<usize>()
    }

    /// Removes the points older than `limits.full_resolution` ticks that are not the first
    /// of their run of `limits.coarse_every` ticks, merging the intervals between: further
    /// back, one point per `coarse_every` ticks. (The oldest point stays; it goes only by
    /// [`Self::trim`].)
    ///
    /// The points that join a run are merged [`THIN_BATCH`] at a time (or all at once when
    /// the run is complete), not one a tick: each merge rewrites the run's interval, which
    /// grows with the run, so one point a tick would rewrite it `coarse_every` times.
    fn thin(&mut self, now: u64, limits: &HistoryLimits) {
        let coarse = limits.coarse_every.max(1) as u64;
        if coarse == 1 {
            return;
        }
        let horizon = limits.full_resolution as u64;
        let old = |t: u64| now - t > horizon;
        let mut head = 0;
        while head + 1 < self.stamps.len() && old(self.ticks[head]) {
            let run = self.ticks[head] / coarse;
            // The points after `head` that belong to its run and may go (never the latest).
            let mut last = head;
            while last + 2 < self.stamps.len()
                && old(self.ticks[last + 1])
                && self.ticks[last + 1] / coarse == run
            {
                last += 1;
            }
            let complete = self.ticks[last + 1] / coarse != run;
            if last > head && (last - head >= THIN_BATCH || complete) {
                let merged = Interval::merged(&self.intervals[head..=last]);
                self.intervals[head] = Arc::new(merged);
                self.intervals.drain(head + 1..=last);
                self.stamps.drain(head + 1..=last);
                self.ticks.drain(head + 1..=last);
            }
            head = if last > head && self.ticks.get(head + 1).is_some_and(|t| t / coarse == run) {
                // A run still waiting for its batch: its points stay for now.
                last + 1
            } else {
                head + 1
            };
        }
    }

    /// Drops the oldest points: while the next one alone reaches back `retention - 1`
    /// ticks, or more than `retention` points remain, and then while the history holds more
    /// than `max_bytes` (with `extra`, what the history holds besides) and more than two
    /// points remain.
    fn trim(&mut self, now: u64, limits: &HistoryLimits, extra: usize) {
        let retention = limits.retention.max(1);
        let reach = retention as u64 - 1;
        let mut drop = 0;
        while self.stamps.len() - drop > retention
            || (self.stamps.len() - drop > 1 && now - self.ticks[drop + 1] >= reach)
        {
            drop += 1;
        }
        while self.stamps.len() - drop > 2 && self.bytes_from(drop) + extra > limits.max_bytes {
            drop += 1;
        }
        self.stamps.drain(..drop);
        self.ticks.drain(..drop);
        self.intervals.drain(..drop.min(self.intervals.len()));
        self.stamps.shrink_to_fit();
        self.ticks.shrink_to_fit();
        self.intervals.shrink_to_fit();
    }
}

/// How many points joining a thinned run are merged into it at once (see `Timeline::thin`):
/// up to `THIN_BATCH - 1` more points than one per run may be kept for a while.
const THIN_BATCH: usize = 6;

/// How much a [`History`] keeps ([`History::pushed`]; the [`crate::Snapshotter`] takes them
/// from its [`crate::SnapshotterConfig`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryLimits {
    /// How far back the history reaches, in ticks (pushed snapshots): the oldest point is
    /// kept while the one after it is less than `retention - 1` ticks before the latest,
    /// and there are never more than `retention` points (at least 1).
    pub retention: usize,
    /// Points up to this many ticks before the latest are all kept (one per tick).
    pub full_resolution: usize,
    /// Further back, one point per this many ticks: the others go, and the intervals on
    /// either side of each become one (exact: an interval is the change between its two
    /// points, and changes add). They go a few at a time, so up to five more points than
    /// one per run may be kept for a while. 1 keeps every point.
    pub coarse_every: usize,
    /// The most heap the history may hold ([`History::heap_bytes`]): past it the oldest
    /// points are dropped, down to the two newest (the newest alone when `retention` is 1),
    /// so the last interval stays visible however large it is. Windows then reach back
    /// less far; [`History::span`] says how far.
    pub max_bytes: usize,
}

impl HistoryLimits {
    /// Every point kept, however many, without a byte budget: the base to set a
    /// `retention` or a `max_bytes` on (`HistoryLimits { retention: 60, ..KEEP_ALL }`).
    pub const KEEP_ALL: Self = Self {
        retention: usize::MAX,
        full_resolution: usize::MAX,
        coarse_every: 1,
        max_bytes: usize::MAX,
    };
}

impl History {
    /// A history holding one snapshot.
    pub fn new(first: Arc<Snapshot>) -> Self {
        let timeline = Timeline {
            stamps: vec![first.stamp()],
            ticks: vec![0],
            intervals: Vec::new(),
            latest: first,
        };
        Self {
            heap_bytes: timeline.heap_bytes(),
            timeline: Arc::new(timeline),
            layouts: Layouts::default(),
        }
    }

    /// This history plus `latest`, keeping at most `retention` points (at least 1), all at
    /// full resolution.
    pub fn with_pushed(&self, latest: Arc<Snapshot>, retention: usize) -> Self {
        self.with_pushed_within(latest, retention, usize::MAX)
    }

    /// This history plus `latest`, keeping at most `retention` points (at least 1), all at
    /// full resolution, within `max_bytes` as [`HistoryLimits::max_bytes`] says.
    pub fn with_pushed_within(
        &self,
        latest: Arc<Snapshot>,
        retention: usize,
        max_bytes: usize,
    ) -> Self {
        self.pushed(
            latest,
            &HistoryLimits {
                retention,
                max_bytes,
                ..HistoryLimits::KEEP_ALL
            },
        )
    }

    /// This history plus `latest` (the next snapshot of the same registry: one more tick),
    /// within `limits`.
    pub fn pushed(&self, latest: Arc<Snapshot>, limits: &HistoryLimits) -> Self {
        let previous = &self.timeline;
        let mut layouts = self.layouts.clone();
        let tick = previous.ticks.last().expect("never empty") + 1;
        let mut stamps = Vec::with_capacity(previous.stamps.len() + 1);
        stamps.extend_from_slice(&previous.stamps);
        stamps.push(latest.stamp());
        let mut ticks = Vec::with_capacity(stamps.len());
        ticks.extend_from_slice(&previous.ticks);
        ticks.push(tick);
        let mut intervals = Vec::with_capacity(stamps.len() - 1);
        intervals.extend(previous.intervals.iter().cloned());
        intervals.push(Arc::new(Interval::between(
            &previous.latest,
            &latest,
            &mut layouts,
        )));
        let mut timeline = Timeline {
            stamps,
            ticks,
            intervals,
            latest,
        };
        timeline.thin(tick, limits);
        layouts.prune();
        timeline.trim(tick, limits, layouts.heap_bytes());
        layouts.prune();
        Self {
            heap_bytes: timeline.heap_bytes() + layouts.heap_bytes(),
            timeline: Arc::new(timeline),
            layouts,
        }
    }

    /// Heap bytes this history holds: the latest snapshot ([`Snapshot::heap_bytes`]), the
    /// retained intervals' changes and the tables of points. Parts shared with an older
    /// history or with readers count once per history.
    pub fn heap_bytes(&self) -> usize {
        self.heap_bytes
    }

    /// Time from the oldest retained point to the latest: the longest window available.
    pub fn span(&self) -> Duration {
        self.latest()
            .taken_at()
            .duration_since(self.oldest().taken_at())
    }

    /// The newest snapshot, whole.
    pub fn latest(&self) -> &Arc<Snapshot> {
        &self.timeline.latest
    }

    /// The oldest retained point.
    pub fn oldest(&self) -> &Stamp {
        &self.timeline.stamps[0]
    }

    /// Number of retained points.
    pub fn len(&self) -> usize {
        self.timeline.stamps.len()
    }

    /// Always `false`: a history holds at least one snapshot.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The retained points, oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Stamp> + ExactSizeIterator + '_ {
        self.timeline.stamps.iter()
    }

    /// The window ending at the latest point and starting at the newest retained point
    /// taken at least `span` before it (or the oldest one, if the history is shorter).
    /// `None` while only one point is retained.
    pub fn window(&self, span: Duration) -> Option<Window> {
        let stamps = &self.timeline.stamps;
        let last = stamps.len() - 1;
        if last == 0 {
            return None;
        }
        let to = stamps[last].taken_at();
        let from = stamps[..last]
            .iter()
            .rposition(|s| to.duration_since(s.taken_at()) >= span)
            .unwrap_or(0);
        Some(Window::of_timeline(&self.timeline, from, last))
    }

    /// The window from retained point `from` to retained point `to` (indices into
    /// [`History::iter`], oldest first); `None` unless `from < to < len()`.
    pub fn window_between(&self, from: usize, to: usize) -> Option<Window> {
        (from < to && to < self.len()).then(|| Window::of_timeline(&self.timeline, from, to))
    }

    /// The window between the last two points (the last interval).
    pub fn last_interval(&self) -> Option<Window> {
        let n = self.len();
        (n >= 2).then(|| Window::of_timeline(&self.timeline, n - 2, n - 1))
    }

    /// For each consecutive pair of points, the window between them (oldest first): the
    /// per-interval series a dashboard's sparklines draw.
    pub fn intervals(&self) -> impl ExactSizeIterator<Item = Window> + '_ {
        (1..self.len()).map(|i| Window::of_timeline(&self.timeline, i - 1, i))
    }
}

#[cfg(all(test, not(aureon_loom)))]
mod tests {
    use super::*;
    use crate::snapshot::MetricValue;
    use crate::{Histogram, HistogramConfig, MetricKey, Registry};
    use std::collections::BTreeMap;
    use std::time::{Instant, SystemTime};

    /// Snapshots of a registry whose one histogram grows by a wider value each time.
    fn growing_snapshots(n: u64) -> Vec<Arc<Snapshot>> {
        let registry = Registry::new();
        let h = registry.histogram("latency_us");
        (0..n)
            .map(|i| {
                h.record(1000 << i);
                Arc::new(registry.snapshot())
            })
            .collect()
    }

    #[test]
    fn the_byte_budget_drops_the_oldest_and_keeps_two() {
        let snaps = growing_snapshots(8);
        let mut unbounded = History::new(Arc::clone(&snaps[0]));
        for s in &snaps[1..] {
            unbounded = unbounded.with_pushed(Arc::clone(s), 100);
        }
        assert_eq!(unbounded.len(), 8);
        // A budget that the last four points fit and the last five do not.
        let mut four = History::new(Arc::clone(&snaps[4]));
        for s in &snaps[5..] {
            four = four.with_pushed(Arc::clone(s), 100);
        }
        let budget = four.heap_bytes();
        let mut history = History::new(Arc::clone(&snaps[0]));
        for s in &snaps[1..] {
            history = history.with_pushed_within(Arc::clone(s), 100, budget);
            assert!(history.heap_bytes() <= budget || history.len() == 2);
        }
        let kept: Vec<u64> = history.iter().map(|s| s.sequence()).collect();
        let last4: Vec<u64> = snaps[4..].iter().map(|s| s.sequence()).collect();
        assert_eq!(kept, last4);
        assert_eq!(
            history.span(),
            snaps[7].taken_at().duration_since(snaps[4].taken_at())
        );
        // A budget smaller than anything still keeps the last interval.
        let tiny = history.with_pushed_within(Arc::clone(&snaps[7]), 100, 1);
        assert_eq!(tiny.len(), 2);
        assert!(tiny.last_interval().is_some());
    }

    #[test]
    fn retention_one_keeps_only_the_newest() {
        let snaps = growing_snapshots(3);
        let mut history = History::new(Arc::clone(&snaps[0]));
        for s in &snaps[1..] {
            history = history.with_pushed_within(Arc::clone(s), 1, usize::MAX);
        }
        assert_eq!(history.len(), 1);
        assert_eq!(history.span(), Duration::ZERO);
        assert!(history.last_interval().is_none());
        assert!(history.window(Duration::ZERO).is_none());
        // `with_pushed` is the same without a byte budget.
        let unbounded = history.with_pushed(Arc::clone(&snaps[2]), 3);
        assert_eq!(unbounded.len(), 2);
    }

    #[test]
    fn idle_series_cost_nothing_per_point() {
        let registry = Registry::new();
        let h = registry.histogram("latency_us");
        for v in (100..20_000).step_by(7) {
            h.record(v);
        }
        registry.counter("idle_total").increment(3);
        let mut history = History::new(Arc::new(registry.snapshot()));
        for _ in 0..5 {
            history = history.with_pushed(Arc::new(registry.snapshot()), 10);
        }
        assert!(
            history
                .timeline
                .intervals
                .iter()
                .all(|i| i.changes().count() == 0)
        );
        let w = history.window(Duration::from_secs(3600)).unwrap();
        assert_eq!(w.histogram_delta("latency_us", &[]).unwrap().count(), 0);
        assert_eq!(w.counter_delta("idle_total", &[]), Some(0));
    }

    /// A hand-built registry state: each series' value and creation time.
    fn snapshot(sequence: u64, series: &[(&str, MetricValue, u64)]) -> Arc<Snapshot> {
        let base = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let metrics: BTreeMap<MetricKey, (MetricValue, SystemTime)> = series
            .iter()
            .map(|(name, value, created)| {
                (
                    MetricKey::lookup(name, &[]),
                    (value.clone(), base + Duration::from_secs(*created)),
                )
            })
            .collect();
        Arc::new(Snapshot {
            stamp: Stamp::new(
                sequence,
                Instant::now() + Duration::from_secs(sequence),
                base + Duration::from_secs(sequence),
            ),
            metrics,
            descriptions: BTreeMap::new(),
            registration_errors: 0,
        })
    }

    /// Every window of a history answers what the window between the same two full
    /// snapshots answers, while series appear, go away, come back (created again) and change
    /// kind or configuration.
    #[test]
    fn windows_equal_those_between_full_snapshots_through_series_lives() {
        let narrow = HistogramConfig::default();
        let wide = HistogramConfig {
            significant_figures: 2,
            ..narrow
        };
        let a = Histogram::new(narrow).unwrap();
        let b = Histogram::new(wide).unwrap();
        let again = Histogram::new(narrow).unwrap();
        let hist = |h: &Histogram, values: &[u64]| {
            values.iter().for_each(|&v| h.record(v));
            MetricValue::Histogram(h.snapshot())
        };
        let c = MetricValue::Counter;
        let g = MetricValue::Gauge(1.0);
        // (name, value, created): "k" changes kind and configuration, "h" goes away and
        // comes back, "gone" appears and leaves between two points.
        let states: Vec<Vec<(&str, MetricValue, u64)>> = vec![
            vec![
                ("c", c(1), 0),
                ("h", hist(&a, &[5, 700]), 0),
                ("k", c(4), 0),
            ],
            vec![
                ("c", c(1), 0),
                ("h", hist(&a, &[9]), 0),
                ("k", c(9), 0),
                ("g", g.clone(), 1),
            ],
            vec![
                ("c", c(6), 0),
                ("k", hist(&b, &[3_000]), 2),
                ("g", g.clone(), 1),
            ],
            vec![("c", c(6), 0), ("k", hist(&b, &[40]), 2), ("gone", c(2), 3)],
            vec![("c", c(2), 4), ("h", hist(&again, &[1]), 4)],
            vec![("c", c(3), 4), ("h", hist(&again, &[]), 4), ("k", c(1), 5)],
            vec![("c", c(3), 4), ("k", c(8), 5), ("k2", hist(&a, &[77]), 6)],
        ];
        let snaps: Vec<Arc<Snapshot>> = states
            .iter()
            .enumerate()
            .map(|(i, s)| snapshot(i as u64, s))
            .collect();
        // Every point kept, and thinned (older points merged) at several coarseness.
        for (full_resolution, coarse_every) in [(usize::MAX, 1), (1, 2), (0, 3), (2, 4)] {
            let limits = HistoryLimits {
                full_resolution,
                coarse_every,
                ..HistoryLimits::KEEP_ALL
            };
            let mut history = History::new(Arc::clone(&snaps[0]));
            for s in &snaps[1..] {
                history = history.pushed(Arc::clone(s), &limits);
            }
            let kept: Vec<usize> = history.iter().map(|p| p.sequence() as usize).collect();
            if coarse_every > 1 {
                assert!(kept.len() < snaps.len(), "{kept:?}");
            }
            assert_eq!((kept[0], *kept.last().unwrap()), (0, snaps.len() - 1));
            assert_windows_match(&history, &kept, &snaps, full_resolution == usize::MAX);
        }
    }

    /// Every window of `history` (whose points are `snaps[kept[..]]`) answers as the window
    /// between the two full snapshots does; one-interval windows between consecutive
    /// snapshots read exactly the same.
    fn assert_windows_match(
        history: &History,
        kept: &[usize],
        snaps: &[Arc<Snapshot>],
        consecutive: bool,
    ) {
        let names = ["c", "h", "k", "g", "gone", "k2", "absent"];
        for (a, &i) in kept.iter().enumerate() {
            for (b, &j) in kept.iter().enumerate().skip(a + 1) {
                let ours = history.window_between(a, b).unwrap();
                let direct = Window::between(Arc::clone(&snaps[i]), Arc::clone(&snaps[j]));
                assert_eq!(ours.from().sequence(), i as u64);
                assert_eq!(ours.to().sequence(), j as u64);
                for name in names {
                    let what = format!("{name} over {i}..{j}");
                    assert_eq!(
                        ours.counter_delta(name, &[]),
                        direct.counter_delta(name, &[]),
                        "{what}"
                    );
                    let (x, y) = (
                        ours.histogram_delta(name, &[]),
                        direct.histogram_delta(name, &[]),
                    );
                    assert_eq!(x.is_some(), y.is_some(), "{what}");
                    if let (Some(x), Some(y)) = (x, y) {
                        assert_eq!(x.config(), y.config(), "{what}");
                        assert_eq!((x.count(), x.sum()), (y.count(), y.sum()), "{what}");
                        assert!(x.bins().eq(y.bins()), "{what}");
                        if consecutive && j == i + 1 {
                            assert_eq!(x, y, "{what}: one interval reads the same");
                        }
                    }
                }
                let keys = |w: &Window| -> Vec<(MetricKey, u64)> {
                    w.histograms()
                        .into_iter()
                        .map(|(k, h)| (k, h.count()))
                        .collect()
                };
                assert_eq!(keys(&ours), keys(&direct), "histograms over {i}..{j}");
            }
        }
    }
}
