//! The histogram handle: lock-free recording into this thread's shard, and merging all shards
//! into a [`HistogramSnapshot`].
//!
//! A value's path: [`Histogram::record`] finds the calling thread's slot
//! ([`crate::thread_slot`]), the slot's shard ([`crate::per_thread`], created on the thread's
//! first record), the value's bin ([`crate::layout`]), and bumps it with a plain store
//! ([`crate::shard`]). A snapshot walks every shard page by page and adds the counts up;
//! pages no shard has allocated cost one pointer load each.

use crate::clock::Instant;
use crate::counts::{self, PagedCounts};
use crate::error::ConfigError;
use crate::exemplar::{self, Exemplar};
use crate::layout::{HistogramConfig, Layout};
use crate::local::LocalHistogram;
use crate::per_thread::PerThread;
use crate::shard::{Shard, page_count};
use crate::snapshot::HistogramSnapshot;
use crate::sync::{AtomicU64, CachePadded, Ordering};
use crate::thread_slot;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

/// Aligned to 128 bytes so that in an `Arc<HistogramCore>` the reference counts (which every
/// handle clone and drop writes) sit on lines of their own, not on the layout and inline
/// shard pointers every record reads.
#[repr(align(128))]
pub(crate) struct HistogramCore {
    layout: Layout,
    shards: PerThread<CachePadded<Shard>>,
    /// The exemplar interval writers tag their exemplars with; advanced by the snapshotter
    /// every tick, so padded away from the fields every record reads.
    exemplar_epoch: CachePadded<AtomicU64>,
}

impl HistogramCore {
    pub(crate) fn new(layout: Layout) -> Self {
        Self {
            layout,
            shards: PerThread::new(),
            exemplar_epoch: CachePadded::new(AtomicU64::new(0)),
        }
    }

    pub(crate) fn config(&self) -> &HistogramConfig {
        &self.layout.config
    }

    pub(crate) fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The shard of thread slot `slot`, created on its first record. The caller must own the
    /// slot (see [`thread_slot`]).
    #[inline]
    pub(crate) fn shard(&self, slot: usize) -> &Shard {
        self.shards
            .get_or_create(slot, || CachePadded::new(Shard::new(&self.layout)))
    }

    #[inline]
    fn record_n(&self, value: u64, n: u64) {
        if n == 0 {
            return;
        }
        let (index, clamped) = self.layout.index_clamped(value);
        let sum = u128::from(value) * u128::from(n);
        match thread_slot::current() {
            // SAFETY: `index` comes from `index_clamped` of the layout every shard is built with.
            Some(slot) => unsafe {
                self.shard(slot)
                    .record_run(index, clamped, value, value, n, sum)
            },
            None => self.record_orphaned(index, clamped, value, n, sum),
        }
    }

    fn record_slice(&self, values: &[u64]) {
        thread_slot::with_slot(|slot| {
            // SAFETY: `shard(slot)` was created with `self.layout`.
            unsafe { self.shard(slot).record_slice(&self.layout, values) }
        });
    }

    /// `record_n` for a thread that is exiting (see [`thread_slot::current`]). Out of line and
    /// taking plain values, so the hot path keeps them in registers.
    #[cold]
    #[inline(never)]
    fn record_orphaned(&self, index: usize, clamped: bool, value: u64, n: u64, sum: u128) {
        thread_slot::with_orphan_slot(|slot| {
            // SAFETY: `index` comes from `index_clamped` of the layout every shard is built with.
            unsafe {
                self.shard(slot)
                    .record_run(index, clamped, value, value, n, sum)
            }
        });
    }

    fn record_corrected(&self, value: u64, interval: u64) {
        thread_slot::with_slot(|slot| {
            // SAFETY: `shard(slot)` is this histogram's shard of a slot the caller owns.
            unsafe { self.record_corrected_into(self.shard(slot), value, interval) }
        });
    }

    /// [`Histogram::record_corrected`] into `shard`.
    ///
    /// # Safety
    /// `shard` must be one of this histogram's shards (the bin lookup relies on its page
    /// table fitting this layout), and the calling thread must own its slot.
    pub(crate) unsafe fn record_corrected_into(&self, shard: &Shard, value: u64, interval: u64) {
        let layout = &self.layout;
        let (index, clamped) = layout.index_clamped(value);
        // SAFETY: `index` comes from `index_clamped` of this layout, which `shard` (one of
        // this histogram's, by the contract) was built with.
        unsafe { shard.record_run(index, clamped, value, value, 1, u128::from(value)) };
        if interval == 0 || value <= interval {
            return;
        }
        // HdrHistogram adds value - k*interval for every k >= 1 while that is >= interval.
        // Rather than one record per synthesized value (unbounded for a huge value and a tiny
        // interval), add each bin's share of that arithmetic sequence at once: the work is
        // bounded by the number of bins, and counts, min, max and sum are the same.
        let mut current = value - interval;
        while current >= interval {
            let (index, clamped) = layout.index_clamped(current);
            let bin_low = if clamped {
                layout.config.highest_trackable + 1
            } else {
                layout.value_of(index)
            };
            let floor = bin_low.max(interval);
            let n = (current - floor) / interval + 1;
            let lowest = current - (n - 1) * interval;
            let (n128, i128) = (u128::from(n), u128::from(interval));
            let sum = n128 * u128::from(current) - i128 * n128 * (n128 - 1) / 2;
            // SAFETY: as above.
            unsafe { shard.record_run(index, clamped, lowest, current, n, sum) };
            current = lowest - interval;
        }
    }

    fn record_with_exemplar(&self, value: u64, id: u64) {
        thread_slot::with_slot(|slot| {
            // SAFETY: `shard(slot)` is this histogram's shard of a slot the caller owns.
            unsafe { self.record_with_exemplar_into(self.shard(slot), value, id) }
        });
    }

    /// [`Histogram::record_with_exemplar`] into `shard`.
    ///
    /// # Safety
    /// As [`HistogramCore::record_corrected_into`].
    pub(crate) unsafe fn record_with_exemplar_into(&self, shard: &Shard, value: u64, id: u64) {
        let (index, clamped) = self.layout.index_clamped(value);
        let epoch = self.exemplar_epoch.load(Ordering::Relaxed);
        // SAFETY: `index` comes from `index_clamped` of this layout, which `shard` (one of
        // this histogram's, by the contract) was built with.
        unsafe { shard.record_run(index, clamped, value, value, 1, u128::from(value)) };
        shard.exemplars.offer(epoch, value, id);
    }

    /// Merges every shard. With `rotate`, also closes the current exemplar interval: the
    /// snapshot gets its exemplars and writers move on to the next one.
    pub(crate) fn snapshot(&self, rotate: bool) -> HistogramSnapshot {
        let epoch = if rotate {
            self.exemplar_epoch.fetch_add(1, Ordering::Relaxed)
        } else {
            self.exemplar_epoch.load(Ordering::Relaxed)
        };
        let mut shards: Vec<&Shard> = Vec::new();
        self.shards.for_each(|s| shards.push(s));

        // Which pages any shard has, each with the range of `sources` holding its shard
        // copies: the output is allocated once, and the merge can look one page ahead.
        let mut sources = Vec::with_capacity(shards.len() * 32);
        let mut spans: Vec<(usize, Range<usize>)> = Vec::with_capacity(32);
        for p in 0..page_count(&self.layout) {
            let start = sources.len();
            sources.extend(shards.iter().filter_map(|s| s.page(p)));
            if sources.len() > start {
                spans.push((p, start..sources.len()));
            }
        }
        // Prefetch the next page's copies while this one is merged (see `counts::prefetch`).
        let prefetch = |(_, copies): &(usize, Range<usize>)| {
            sources[copies.clone()]
                .iter()
                .copied()
                .for_each(counts::prefetch);
        };
        let mut bins = PagedCounts::with_capacity(spans.len());
        let mut count = 0u64;
        if let Some(first) = spans.first() {
            prefetch(first);
        }
        for (k, (p, copies)) in spans.iter().enumerate() {
            if let Some(next) = spans.get(k + 1) {
                prefetch(next);
            }
            count = count.saturating_add(bins.push_merged(*p, &sources[copies.clone()]));
        }
        // Totals after bins: see `shard`'s module docs for why this order.
        let (mut min, mut max, mut sum, mut clamped) = (u64::MAX, 0u64, 0u128, 0u64);
        let mut exemplars: Vec<Exemplar> = Vec::new();
        for shard in &shards {
            let t = shard.totals();
            min = min.min(t.min);
            max = max.max(t.max);
            sum = sum.saturating_add(t.sum);
            clamped = clamped.saturating_add(t.clamped);
            shard.exemplars.collect(epoch, &mut exemplars);
        }
        exemplar::keep_slowest(&mut exemplars);
        HistogramSnapshot::from_counted_parts(
            self.layout,
            bins,
            count,
            (min, max, sum, clamped),
            exemplars,
        )
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        let mut total = std::mem::size_of::<Self>();
        self.shards.for_each(|s| total += s.heap_bytes());
        total
    }
}

/// A handle to a histogram: cheap to clone, `Send + Sync`, records without a lock.
///
/// Obtain one from [`crate::Registry::histogram`] (exported in snapshots) or create a
/// standalone one with [`Histogram::new`]. Keep the handle: recording through it never
/// touches the registry's map.
///
/// Each thread that records gets its own shard, created on its first record (and, inside the
/// shard, a 1 KiB page of counts on the first value in each part of the range); after that a
/// record is a handful of plain loads and stores to memory only this thread writes. A page
/// starts with 32-bit counts; the record that would take one of them past `u32::MAX` copies
/// the page into 64-bit counts (about 2 KiB more, once per page; the frozen 32-bit page stays
/// for readers), so counts never wrap.
///
/// Values above the configured `highest_trackable` are counted in its bin and reported by
/// [`HistogramSnapshot::clamped`]; count, min, max and sum still use the real value. Nothing
/// panics, whatever the value.
#[derive(Clone)]
pub struct Histogram {
    pub(crate) core: Arc<HistogramCore>,
}

impl fmt::Debug for Histogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Histogram")
            .field("config", self.core.config())
            .finish_non_exhaustive()
    }
}

impl Default for Histogram {
    fn default() -> Self {
        Self::with_default_config()
    }
}

impl Histogram {
    /// A standalone histogram (not in any registry) with the given configuration.
    pub fn new(config: HistogramConfig) -> Result<Self, ConfigError> {
        Ok(Self {
            core: Arc::new(HistogramCore::new(Layout::new(&config)?)),
        })
    }

    /// A standalone histogram with [`HistogramConfig::default`].
    pub fn with_default_config() -> Self {
        Self {
            core: Arc::new(HistogramCore::new(
                Layout::new(&HistogramConfig::default())
                    .expect("the default configuration is valid"),
            )),
        }
    }

    /// This histogram's configuration.
    pub fn config(&self) -> &HistogramConfig {
        self.core.config()
    }

    /// Records one value.
    #[inline]
    pub fn record(&self, value: u64) {
        self.core.record_n(value, 1);
    }

    /// Records `n` occurrences of `value` (counts saturate at `u64::MAX`).
    #[inline]
    pub fn record_n(&self, value: u64, n: u64) {
        self.core.record_n(value, n);
    }

    /// Records every value of `values`, as many calls of [`Histogram::record`] would, at a
    /// lower cost per value: the thread's shard is found once, and its min, max and sum are
    /// updated once for the batch (then one bin update per value). For batches a thread
    /// collected itself (a block's transaction latencies, a buffer drained per tick).
    ///
    /// ```
    /// let h = aureon_telemetry::Histogram::with_default_config();
    /// h.record_slice(&[120, 95, 4_000, 120]);
    /// let s = h.snapshot();
    /// assert_eq!((s.count(), s.min(), s.max(), s.sum()), (4, 95, 4_000, 4_335));
    /// ```
    pub fn record_slice(&self, values: &[u64]) {
        self.core.record_slice(values);
    }

    /// Records a duration, converted to this histogram's unit (nanoseconds if the unit is not
    /// a time unit), saturating at `u64::MAX`.
    #[inline]
    pub fn record_duration(&self, d: Duration) {
        self.record(self.core.config().unit.recorded_duration(d));
    }

    /// Records `value` and corrects for coordinated omission as HdrHistogram's
    /// `recordValueWithExpectedInterval` defines it: when a measurement took longer than the
    /// `expected_interval` between measurements, the measurements that should have happened
    /// meanwhile are added too (`value - interval`, `value - 2*interval`, … down to
    /// `interval`). The result equals `hdrhistogram::Histogram::record_correct`, but costs at
    /// most one update per bin instead of one per synthesized value. An interval of 0 records
    /// `value` alone.
    pub fn record_corrected(&self, value: u64, expected_interval: u64) {
        self.core.record_corrected(value, expected_interval);
    }

    /// Records `value` and offers it, with the caller's `id` (block height, trace id…), as an
    /// exemplar: each snapshot interval keeps the ids of its slowest values
    /// ([`HistogramSnapshot::exemplars`]). Costs a little more than [`Histogram::record`],
    /// which it leaves untouched.
    pub fn record_with_exemplar(&self, value: u64, id: u64) {
        self.core.record_with_exemplar(value, id);
    }

    /// A recorder bound to the calling thread, which finds this thread's shard once instead of
    /// on every record: the fastest way to record many values from one thread (see
    /// [`LocalHistogram`]). Creating one costs a few tens of nanoseconds (the lookup a
    /// record does, plus two reference counts); keep it rather than creating one per value.
    #[must_use = "a recorder only helps if it is kept and recorded through"]
    pub fn local(&self) -> LocalHistogram {
        LocalHistogram::new(self)
    }

    /// Starts a timer that records the elapsed time into this histogram when dropped (or
    /// when [`Timer::stop`] is called).
    #[inline]
    pub fn start_timer(&self) -> Timer<'_> {
        Timer::new(self)
    }

    /// Merges every thread's shard now.
    pub fn snapshot(&self) -> HistogramSnapshot {
        self.core.snapshot(false)
    }

    /// Heap bytes held by this histogram's shards and pages (an estimate for reports; the
    /// benchmarks measure the allocator directly).
    pub fn heap_bytes(&self) -> usize {
        self.core.heap_bytes()
    }
}

/// Where a [`Timer`] records: a [`Histogram`] or a [`LocalHistogram`]. Sealed: implemented
/// by those two only.
pub trait RecordDuration: sealed::Sealed {
    /// Records a duration, converted to the histogram's unit.
    fn record_duration(&self, d: Duration);
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Histogram {}
    impl Sealed for super::LocalHistogram {}
}

impl RecordDuration for Histogram {
    #[inline]
    fn record_duration(&self, d: Duration) {
        Histogram::record_duration(self, d);
    }
}

impl RecordDuration for LocalHistogram {
    #[inline]
    fn record_duration(&self, d: Duration) {
        LocalHistogram::record_duration(self, d);
    }
}

/// Records the time since its creation into a histogram when dropped: from
/// [`Histogram::start_timer`] (a `Timer<'_>`, `Send` like the handle) or
/// [`LocalHistogram::start_timer`] (a `Timer<'_, LocalHistogram>`, bound to its thread).
///
/// ```
/// fn needs_send<T: Send>(_: T) {}
/// let h = aureon_telemetry::Histogram::with_default_config();
/// needs_send(h.start_timer()); // may be held across an `.await` in a `Send` future
/// ```
#[must_use = "a timer records when dropped; dropping it at once records ~0"]
pub struct Timer<'a, H: RecordDuration = Histogram> {
    histogram: &'a H,
    start: Instant,
    armed: bool,
}

impl<'a, H: RecordDuration> Timer<'a, H> {
    #[inline]
    pub(crate) fn new(histogram: &'a H) -> Self {
        Self {
            histogram,
            start: Instant::now(),
            armed: true,
        }
    }

    /// Records now and returns the elapsed time.
    pub fn stop(mut self) -> Duration {
        self.armed = false;
        let elapsed = self.start.elapsed();
        self.histogram.record_duration(elapsed);
        elapsed
    }

    /// Drops the timer without recording.
    pub fn cancel(mut self) {
        self.armed = false;
    }
}

impl<H: RecordDuration> fmt::Debug for Timer<'_, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timer")
            .field("elapsed", &self.start.elapsed())
            .field("armed", &self.armed)
            .finish_non_exhaustive()
    }
}

impl<H: RecordDuration> Drop for Timer<'_, H> {
    fn drop(&mut self) {
        if self.armed {
            self.histogram.record_duration(self.start.elapsed());
        }
    }
}
