//! Immutable merged views: [`HistogramSnapshot`] for one histogram and [`Snapshot`] for a
//! whole registry.
//!
//! A histogram snapshot keeps only the pages of bins that hold counts ([`PagedCounts`]), so its
//! size and the cost of building it follow the values actually recorded, not the configured
//! range; the dense `hdrhistogram::Histogram` is built only on request
//! ([`HistogramSnapshot::to_hdrhistogram`]).

use crate::counts::PagedCounts;
use crate::exemplar::Exemplar;
use crate::key::{Labels, MetricKey};
use crate::layout::{HistogramConfig, Layout};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

/// A merged, immutable view of one histogram.
///
/// Count, min, max and sum are exact (the sum is a `u128` and does not overflow); quantiles
/// follow HdrHistogram's nearest-rank definition and are never outside `[min, max]`.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    layout: Layout,
    /// The counts of every occupied page of bins; shared with the same series' counts in
    /// the previous snapshot when nothing was recorded in between
    /// ([`Snapshot::share_unchanged_with`]), so an idle histogram costs a retained history
    /// (almost) nothing per snapshot.
    bins: Arc<PagedCounts>,
    count: u64,
    min: u64,
    max: u64,
    sum: u128,
    clamped: u64,
    exemplars: Vec<Exemplar>,
}

/// One occupied bin of a histogram snapshot: the values `low ..= high` were recorded `count`
/// times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bin {
    /// Lowest value of the bin.
    pub low: u64,
    /// Highest value of the bin.
    pub high: u64,
    /// How many values fell in it.
    pub count: u64,
}

impl HistogramSnapshot {
    pub(crate) fn from_parts(
        layout: Layout,
        bins: PagedCounts,
        min: u64,
        max: u64,
        sum: u128,
        clamped: u64,
        exemplars: Vec<Exemplar>,
    ) -> Self {
        let count = bins.total();
        Self::from_counted_parts(layout, bins, count, (min, max, sum, clamped), exemplars)
    }

    /// As [`Self::from_parts`], with the total of `bins` already known.
    pub(crate) fn from_counted_parts(
        layout: Layout,
        bins: PagedCounts,
        count: u64,
        (min, max, sum, clamped): (u64, u64, u128, u64),
        exemplars: Vec<Exemplar>,
    ) -> Self {
        debug_assert_eq!(count, bins.total());
        let (min, max) = if count == 0 { (0, 0) } else { (min, max) };
        Self {
            layout,
            bins: Arc::new(bins),
            count,
            min,
            max,
            sum,
            clamped,
            exemplars,
        }
    }

    /// The bin layout (configuration and derived parameters).
    pub(crate) fn layout(&self) -> &Layout {
        &self.layout
    }

    /// `(bin index, count)` of every non-zero bin, ascending.
    pub(crate) fn bin_counts(&self) -> impl Iterator<Item = (usize, u64)> + '_ {
        self.bins.iter()
    }

    /// An empty snapshot with the given configuration.
    pub fn empty(config: HistogramConfig) -> Result<Self, crate::ConfigError> {
        Ok(Self::from_parts(
            Layout::new(&config)?,
            PagedCounts::default(),
            0,
            0,
            0,
            0,
            Vec::new(),
        ))
    }

    /// The histogram's configuration.
    pub fn config(&self) -> &HistogramConfig {
        &self.layout.config
    }

    /// Number of values recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Smallest value recorded (exact), 0 when empty.
    pub fn min(&self) -> u64 {
        self.min
    }

    /// Largest value recorded (exact, even when above the trackable range), 0 when empty.
    pub fn max(&self) -> u64 {
        self.max
    }

    /// Sum of all values recorded (exact).
    pub fn sum(&self) -> u128 {
        self.sum
    }

    /// Arithmetic mean of the values recorded (exact up to `f64` rounding), 0 when empty.
    ///
    /// A snapshot taken while threads record may see a value's contribution to the sum a
    /// moment before its bin; the mean is therefore kept within `[min, max]`.
    pub fn mean(&self) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        (self.sum as f64 / self.count as f64).clamp(self.min as f64, self.max as f64)
    }

    /// Standard deviation, computed like HdrHistogram's (each bin at its median value) around
    /// the exact mean.
    pub fn stdev(&self) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        let mean = self.mean();
        let total: f64 = self
            .bins
            .iter()
            .map(|(i, c)| {
                let d = self.layout.median_of(i) as f64 - mean;
                d * d * c as f64
            })
            .sum();
        (total / self.count as f64).sqrt()
    }

    /// Number of recorded values that were above the trackable range (counted at its top).
    pub fn clamped(&self) -> u64 {
        self.clamped
    }

    /// The value at quantile `q` (0.0 ..= 1.0; out-of-range `q` is clamped and NaN is 0).
    ///
    /// Nearest rank as HdrHistogram defines it: the highest value equivalent to the bin
    /// holding the `ceil(q * count)`-th value (the lowest equivalent for `q == 0`), then
    /// limited to the exact `[min, max]`. Ranks that fall on clamped values (above the
    /// trackable range, so above every other value) return the exact max, the only bound
    /// known for them. Returns 0 when empty.
    pub fn value_at_quantile(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let q = if q.is_nan() { 0.0 } else { q.clamp(0.0, 1.0) };
        let rank = ((q * self.count as f64).ceil() as u64).max(1);
        if rank > self.count - self.clamped.min(self.count) {
            return self.max;
        }
        let mut seen = 0u64;
        for (i, c) in self.bins.iter() {
            seen = seen.saturating_add(c);
            if seen >= rank {
                let v = if q == 0.0 {
                    self.layout.value_of(i)
                } else {
                    self.layout.highest_of(i)
                };
                return v.clamp(self.min, self.max);
            }
        }
        self.max
    }

    /// The value at percentile `p` (0.0 ..= 100.0).
    pub fn value_at_percentile(&self, p: f64) -> u64 {
        self.value_at_quantile(p / 100.0)
    }

    /// Median.
    pub fn p50(&self) -> u64 {
        self.value_at_quantile(0.5)
    }
    /// 90th percentile.
    pub fn p90(&self) -> u64 {
        self.value_at_quantile(0.9)
    }
    /// 95th percentile.
    pub fn p95(&self) -> u64 {
        self.value_at_quantile(0.95)
    }
    /// 99th percentile.
    pub fn p99(&self) -> u64 {
        self.value_at_quantile(0.99)
    }
    /// 99.9th percentile.
    pub fn p999(&self) -> u64 {
        self.value_at_quantile(0.999)
    }

    /// How many recorded values are `<= value`, counting whole bins: a bin counts when its
    /// highest value is `<= value`. This is what a classic Prometheus `le` bucket needs.
    pub fn count_at_or_below(&self, value: u64) -> u64 {
        self.bins
            .iter()
            .take_while(|&(i, _)| self.layout.highest_of(i) <= value)
            .fold(0u64, |a, (_, c)| a.saturating_add(c))
    }

    /// The occupied bins, ascending.
    pub fn bins(&self) -> impl DoubleEndedIterator<Item = Bin> + '_ {
        self.bins.iter().map(|(i, c)| Bin {
            low: self.layout.value_of(i),
            high: self.layout.highest_of(i),
            count: c,
        })
    }

    /// The slowest values of the interval this snapshot closes, with their ids, largest
    /// first (see [`crate::Histogram::record_with_exemplar`]).
    pub fn exemplars(&self) -> &[Exemplar] {
        &self.exemplars
    }

    /// Bytes this snapshot holds on the heap (its occupied pages of counts and its
    /// exemplars): what keeping it costs.
    ///
    /// Counts shared with another snapshot (see [`Snapshot::share_unchanged_with`]) are
    /// included here; [`crate::History::heap_bytes`] counts them once.
    pub fn heap_bytes(&self) -> usize {
        self.bins_heap_bytes() + self.exemplars.capacity() * size_of::<Exemplar>()
    }

    /// The bytes of the counts alone (the part snapshots may share).
    fn bins_heap_bytes(&self) -> usize {
        // The `Arc`'s allocation (two reference counts and the vectors) and the pages.
        2 * size_of::<usize>() + size_of::<PagedCounts>() + self.bins.heap_bytes()
    }

    /// Whether `self` and `other` share their counts (one allocation).
    pub(crate) fn shares_bins_with(&self, other: &HistogramSnapshot) -> bool {
        Arc::ptr_eq(&self.bins, &other.bins)
    }

    /// Takes `earlier`'s counts when they equal this snapshot's (same configuration, same
    /// bins), so the two share one allocation.
    fn share_bins_if_equal(&mut self, earlier: &HistogramSnapshot) -> bool {
        let equal = self.layout == earlier.layout
            && self.count == earlier.count
            && (self.shares_bins_with(earlier) || *self.bins == *earlier.bins);
        if equal {
            self.bins = Arc::clone(&earlier.bins);
        }
        equal
    }

    /// The same data as a dense `hdrhistogram::Histogram` with the same bounds, for its
    /// serializers and iterators. Bins are index-compatible, so the counts are exact.
    pub fn to_hdrhistogram(&self) -> hdrhistogram::Histogram<u64> {
        let c = &self.layout.config;
        let mut h = hdrhistogram::Histogram::new_with_bounds(
            c.lowest_discernible,
            c.highest_trackable,
            c.significant_figures,
        )
        .expect("a validated layout has valid hdrhistogram bounds");
        for (i, n) in self.bins.iter() {
            h.saturating_record_n(self.layout.value_of(i), n);
        }
        h
    }

    /// What was recorded between `earlier` and `self` (two snapshots of the same histogram).
    ///
    /// Bin counts, count and sum are exact differences (a bin never shows fewer values than in
    /// an earlier snapshot, so no difference is negative); min and max are those of the bins
    /// that grew, limited to `self`'s exact range, except that when values above the trackable
    /// range were recorded in between (`clamped()` grew) the max is `self`'s exact max: their
    /// bin's top is below them, and `self`'s max is the only bound known for them. So the
    /// delta's `[min, max]` always holds every value recorded in between. Exemplars are
    /// `self`'s.
    pub fn delta_since(&self, earlier: &HistogramSnapshot) -> HistogramSnapshot {
        let bins = if self.shares_bins_with(earlier) {
            // Nothing recorded in between (the snapshotter shared the counts).
            PagedCounts::default()
        } else {
            self.bins.combine(&earlier.bins, u64::saturating_sub)
        };
        let clamped = self.clamped.saturating_sub(earlier.clamped);
        let grown = bins.iter().next().zip(bins.iter().next_back());
        let (min, max) = self.delta_bounds(grown.map(|((lo, _), (hi, _))| (lo, hi)), clamped);
        HistogramSnapshot::from_parts(
            self.layout,
            bins,
            min,
            max,
            self.sum.saturating_sub(earlier.sum),
            clamped,
            self.exemplars.clone(),
        )
    }

    /// The `[min, max]` of what was recorded since an earlier snapshot, given the lowest
    /// and highest bins that grew (`None` if none did) and how many clamped values were
    /// recorded: see [`Self::delta_since`].
    pub(crate) fn delta_bounds(&self, grown: Option<(usize, usize)>, clamped: u64) -> (u64, u64) {
        match grown {
            Some((lo, hi)) => (
                self.layout.value_of(lo).clamp(self.min, self.max),
                if clamped > 0 {
                    // (The top of the highest bin understated an interval's clamped values:
                    // found by the property test tests/properties.rs.)
                    self.max
                } else {
                    self.layout.highest_of(hi).clamp(self.min, self.max)
                },
            ),
            None => (0, 0),
        }
    }

    /// [`Self::for_each_growth`] of the counts: every bin that grew since `earlier`, with
    /// how much, ascending.
    pub(crate) fn for_each_growth(&self, earlier: &HistogramSnapshot, f: impl FnMut(usize, u64)) {
        if !self.shares_bins_with(earlier) {
            self.bins.for_each_growth(&earlier.bins, f);
        }
    }

    /// Adds `other` (same configuration) into `self`, e.g. to combine label sets or nodes.
    /// Returns `false`, changing nothing, when the configurations differ.
    pub fn merge(&mut self, other: &HistogramSnapshot) -> bool {
        if self.layout != other.layout {
            return false;
        }
        if other.count == 0 {
            return true;
        }
        let merged = self.bins.combine(&other.bins, u64::saturating_add);
        let (min, max) = if self.count == 0 {
            (other.min, other.max)
        } else {
            (self.min.min(other.min), self.max.max(other.max))
        };
        let mut exemplars: Vec<Exemplar> = self
            .exemplars
            .iter()
            .chain(&other.exemplars)
            .copied()
            .collect();
        crate::exemplar::keep_slowest(&mut exemplars);
        *self = HistogramSnapshot::from_parts(
            self.layout,
            merged,
            min,
            max,
            self.sum.saturating_add(other.sum),
            self.clamped.saturating_add(other.clamped),
            exemplars,
        );
        true
    }
}

/// The merged value of one metric in a [`Snapshot`].
#[derive(Debug, Clone, PartialEq)]
pub enum MetricValue {
    /// A counter's total.
    Counter(u64),
    /// A gauge's last value.
    Gauge(f64),
    /// A histogram's merged distribution.
    Histogram(HistogramSnapshot),
}

/// When a snapshot was taken: its sequence number and clocks. A [`crate::History`] keeps one
/// for each retained point (the values of every point but the latest are kept only as
/// changes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    sequence: u64,
    taken_at: Instant,
    system_time: SystemTime,
}

impl Stamp {
    pub(crate) fn new(sequence: u64, taken_at: Instant, system_time: SystemTime) -> Self {
        Self {
            sequence,
            taken_at,
            system_time,
        }
    }

    /// The snapshot's [`Snapshot::sequence`].
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// When the snapshot was taken (monotonic clock).
    pub fn taken_at(&self) -> Instant {
        self.taken_at
    }

    /// When the snapshot was taken (wall clock).
    pub fn system_time(&self) -> SystemTime {
        self.system_time
    }
}

/// An immutable view of every metric of a registry at one moment.
///
/// Metrics iterate in a stable order (by name, then labels), which keeps exports
/// deterministic.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Its sequence number and times.
    pub(crate) stamp: Stamp,
    /// Each series' value and creation time ([`Snapshot::created`]).
    pub(crate) metrics: BTreeMap<MetricKey, (MetricValue, SystemTime)>,
    pub(crate) descriptions: BTreeMap<Arc<str>, Arc<str>>,
    pub(crate) registration_errors: u64,
}

impl Snapshot {
    /// Bytes this snapshot holds on the heap, estimated: one map entry per metric plus each
    /// histogram's [`HistogramSnapshot::heap_bytes`]. Names, labels and descriptions are
    /// shared with the registry and not counted. A [`crate::History`] bounds its retained
    /// snapshots by this figure ([`crate::SnapshotterConfig::max_history_bytes`]).
    pub fn heap_bytes(&self) -> usize {
        // A B-tree stores up to 11 entries per node; count each entry's size plus a share of
        // the node's overhead, rounded up to a whole pointer.
        let entry =
            size_of::<MetricKey>() + size_of::<(MetricValue, SystemTime)>() + size_of::<usize>();
        self.metrics
            .values()
            .map(|(value, _)| match value {
                MetricValue::Histogram(h) => entry + h.heap_bytes(),
                MetricValue::Counter(_) | MetricValue::Gauge(_) => entry,
            })
            .sum::<usize>()
            + self.descriptions.len() * (2 * size_of::<Arc<str>>() + size_of::<usize>())
    }

    /// Makes every histogram whose counts are unchanged since `earlier` (an older snapshot of
    /// the same registry: same series, same creation time, equal bins) share `earlier`'s
    /// counts instead of holding a copy; returns how many do. The values are untouched (the
    /// counts are equal), only their memory is shared: the [`crate::Snapshotter`] does this
    /// for each snapshot it keeps, so idle histograms cost a history (almost) nothing per
    /// retained snapshot.
    pub fn share_unchanged_with(&mut self, earlier: &Snapshot) -> usize {
        let mut shared = 0;
        for (key, (value, created)) in &mut self.metrics {
            if let (MetricValue::Histogram(h), Some((MetricValue::Histogram(before), then))) =
                (value, earlier.metrics.get(key))
                && created == then
                && h.share_bins_if_equal(before)
            {
                shared += 1;
            }
        }
        shared
    }

    /// Increases by one with every snapshot of the same registry.
    pub fn sequence(&self) -> u64 {
        self.stamp.sequence()
    }

    /// When the snapshot was taken (monotonic clock).
    pub fn taken_at(&self) -> Instant {
        self.stamp.taken_at()
    }

    /// When the snapshot was taken (wall clock, for logs and exporters).
    pub fn system_time(&self) -> SystemTime {
        self.stamp.system_time()
    }

    /// Its sequence number and times together.
    pub fn stamp(&self) -> Stamp {
        self.stamp
    }

    /// Every metric, ordered by name then labels.
    pub fn iter(&self) -> impl Iterator<Item = (&MetricKey, &MetricValue)> + '_ {
        self.metrics.iter().map(|(k, (v, _))| (k, v))
    }

    /// Every series with its creation time (see [`Snapshot::created`]), in key order.
    pub fn iter_with_created(
        &self,
    ) -> impl Iterator<Item = (&MetricKey, &MetricValue, SystemTime)> + '_ {
        self.metrics
            .iter()
            .map(|(k, (v, created))| (k, v, *created))
    }

    /// When the series `key` was created (registered, or created again after idle expiry
    /// freed it): exporters give it as OpenMetrics `_created`, so a series that restarts
    /// from zero is seen as a reset. `None` if the snapshot has no such series.
    pub fn created(&self, key: &MetricKey) -> Option<SystemTime> {
        self.metrics.get(key).map(|(_, created)| *created)
    }

    /// [`Snapshot::created`] by name and labels (in any order).
    pub fn created_with(&self, name: &str, labels: &[(&str, &str)]) -> Option<SystemTime> {
        self.created(&MetricKey::lookup(name, labels))
    }

    /// Number of metrics.
    pub fn len(&self) -> usize {
        self.metrics.len()
    }

    /// Whether the registry had no metrics.
    pub fn is_empty(&self) -> bool {
        self.metrics.is_empty()
    }

    /// The value of the metric `name` with exactly these labels (in any order).
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<&MetricValue> {
        let key = MetricKey::lookup(name, labels);
        self.metrics.get(&key).map(|(v, _)| v)
    }

    /// The histogram `name` without labels.
    pub fn histogram(&self, name: &str) -> Option<&HistogramSnapshot> {
        self.histogram_with(name, &[])
    }

    /// The histogram `name` with exactly these labels.
    pub fn histogram_with(
        &self,
        name: &str,
        labels: &[(&str, &str)],
    ) -> Option<&HistogramSnapshot> {
        match self.get(name, labels)? {
            MetricValue::Histogram(h) => Some(h),
            _ => None,
        }
    }

    /// The counter `name` without labels.
    pub fn counter(&self, name: &str) -> Option<u64> {
        self.counter_with(name, &[])
    }

    /// The counter `name` with exactly these labels.
    pub fn counter_with(&self, name: &str, labels: &[(&str, &str)]) -> Option<u64> {
        match self.get(name, labels)? {
            MetricValue::Counter(c) => Some(*c),
            _ => None,
        }
    }

    /// The gauge `name` without labels.
    pub fn gauge(&self, name: &str) -> Option<f64> {
        self.gauge_with(name, &[])
    }

    /// The gauge `name` with exactly these labels.
    pub fn gauge_with(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        match self.get(name, labels)? {
            MetricValue::Gauge(g) => Some(*g),
            _ => None,
        }
    }

    /// Every label set of metric `name`, with its value.
    pub fn family<'a>(
        &'a self,
        name: &'a str,
    ) -> impl Iterator<Item = (&'a Labels, &'a MetricValue)> + 'a {
        self.metrics
            .range(MetricKey::family_start(name)..)
            .take_while(move |(k, _)| k.name() == name)
            .map(|(k, (v, _))| (k.labels(), v))
    }

    /// The help text given with [`crate::Registry::describe`] for `name`.
    pub fn description(&self, name: &str) -> Option<&str> {
        self.descriptions.get(name).map(|d| &**d)
    }

    /// How many registrations the registry refused (invalid names, label limits, kind
    /// clashes) through its infallible methods; each such handle records but is not exported.
    pub fn registration_errors(&self) -> u64 {
        self.registration_errors
    }
}
