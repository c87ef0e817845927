//! Property tests (proptest) of the core's invariants against independent references:
//! random histogram configurations and random sequences of records (`record`, `record_n`,
//! `record_corrected`, through shared handles, clones, registry lookups and thread-bound
//! recorders, from several threads joined before each snapshot so the result is
//! deterministic), compared after every snapshot and for every interval window with an
//! `hdrhistogram::Histogram` fed the same values and with exact statistics kept in plain
//! integers; counters and gauges against plain integer tallies.
//!
//! Out-of-range values follow what the API documents: a value above `highest_trackable` is
//! counted in that value's bin and in `clamped()`, while count, min, max and sum keep the real
//! value, so the reference records `min(value, highest)` and the plain tallies the real one.

use aureon_telemetry::{
    Counter, Gauge, Histogram, HistogramConfig, HistogramSnapshot, History, Registry, Unit, Window,
};
use hdrhistogram::Histogram as Reference;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use std::sync::Arc;
use std::thread;

/// The runner's configuration: [`CASES`] cases, failures kept beside this file (in
/// `properties.proptest-regressions`, replayed first on the next run).
fn config() -> ProptestConfig {
    ProptestConfig {
        cases: CASES,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..ProptestConfig::default()
    }
}

/// Cases per property: enough to cover every precision and many ranges, small enough that
/// the whole file runs in a few seconds in a debug build (the dense references are the cost).
const CASES: u32 = 64;

/// The largest dense reference a case builds (counts of a `Reference`, 2 MiB): admits 5
/// significant figures, whose smallest histogram has 2^18 counts, while keeping
/// hdrhistogram's loops over every count (a reference per phase and window) quick in a debug
/// build.
const MAX_REFERENCE_LEN: u64 = 1 << 18;

/// Valid configurations: the significant figures whose smallest histogram fits `max_len`
/// (0..=5 for 2^18), a lowest discernible value from 1 to 2^13, a highest trackable value
/// log-uniform from twice that up to 2^62 or the largest whose dense reference fits
/// `max_len` (hdrhistogram's `new_with_bounds` formulas: `len = (buckets + 1) *
/// sub_bucket_count / 2`, each bucket doubling the range).
fn configs(max_len: u64) -> impl Strategy<Value = HistogramConfig> {
    let sub_buckets = |sigfig: u8| (2 * 10u64.pow(u32::from(sigfig))).next_power_of_two();
    let max_sigfig = (0..=5)
        .rev()
        .find(|&f| sub_buckets(f) <= max_len)
        .unwrap_or(0);
    (0..=max_sigfig, 0u32..=12, any::<u64>(), any::<u64>()).prop_map(
        move |(sigfig, low_bits, r, s)| {
            let low = (1u64 << low_bits) + r % (1u64 << low_bits);
            let sub_bucket_count = sub_buckets(sigfig);
            let unit = 1u128 << low.ilog2();
            // (Past 64 buckets the range is beyond u64 anyway.)
            let max_buckets = (2 * max_len / sub_bucket_count - 1).min(64) as u32;
            let limit = (u128::from(sub_bucket_count) * unit) << (max_buckets - 1);
            let max_high = (limit - 1).min(1 << 62) as u64;
            // log-uniform in [2 * low, max_high]
            let (lo_bits, hi_bits) = ((2 * low).ilog2(), max_high.ilog2());
            let bits = lo_bits + (s % u64::from(hi_bits - lo_bits + 1)) as u32;
            let high =
                ((1u64 << bits) | ((s >> 8) & ((1u64 << bits) - 1))).clamp(2 * low, max_high);
            HistogramConfig {
                lowest_discernible: low,
                highest_trackable: high,
                significant_figures: sigfig,
                unit: Unit::None,
            }
        },
    )
}

/// Values for `config`: log-uniform over every power of two up to four times the highest
/// trackable value (so several decades, and some clamped), plus the edges of the range.
fn values(config: HistogramConfig) -> impl Strategy<Value = u64> {
    let (low, high) = (config.lowest_discernible, config.highest_trackable);
    let top_bits = (high.ilog2() + 3).min(64);
    prop_oneof![
        8 => (0u32..=top_bits, any::<u64>()).prop_map(|(bits, r)| match bits {
            0 => 0,
            64 => r,
            b => (1u64 << (b - 1)) | (r & ((1u64 << (b - 1)) - 1)),
        }),
        1 => prop::sample::select(vec![0, 1, low - 1, low, high - 1, high, high + 1, u64::MAX]),
    ]
}

/// One way of recording.
#[derive(Debug, Clone, Copy)]
enum Op {
    Record(u64),
    /// `record_n`; counts up to 2^33 so that some bins pass `u32::MAX` (the page widening).
    RecordN(u64, u64),
    /// `record_corrected(value, interval)` with `value <= highest` and at most a few thousand
    /// synthesized values, so the reference can enumerate them.
    Corrected(u64, u64),
}

fn ops(config: HistogramConfig) -> impl Strategy<Value = Op> {
    let high = config.highest_trackable;
    let counts = prop_oneof![
        6 => 0u64..=1000,
        1 => (1u64 << 31)..=(1u64 << 33),
    ];
    prop_oneof![
        6 => values(config).prop_map(Op::Record),
        3 => (values(config), counts).prop_map(|(v, n)| Op::RecordN(v, n)),
        1 => (values(config), 0u64..=2000).prop_map(move |(v, k)| {
            let v = v.min(high);
            // k == 0: interval 0 (records the value alone); else about k synthesized values.
            let interval = v.checked_div(k).map_or(0, |i| i.max(1));
            Op::Corrected(v, interval)
        }),
    ]
}

/// How a thread reaches the histogram.
#[derive(Debug, Clone, Copy)]
enum Via {
    /// The handle the test holds (shared with every thread).
    Shared,
    /// A clone of it.
    Clone,
    /// Asking the registry again for the same key and configuration.
    Lookup,
    /// A thread-bound recorder (`Histogram::local`).
    Local,
}

fn vias() -> impl Strategy<Value = Via> {
    prop::sample::select(vec![Via::Shared, Via::Clone, Via::Lookup, Via::Local])
}

/// One phase: the work of 1..=3 threads (the first on the test's own thread, the others
/// spawned), all joined before the phase's snapshot.
type Phase = Vec<(Via, Vec<Op>)>;

fn phases(config: HistogramConfig) -> impl Strategy<Value = Vec<Phase>> {
    let thread = (vias(), prop::collection::vec(ops(config), 0..40));
    prop::collection::vec(prop::collection::vec(thread, 1..=3), 1..=4)
}

/// The reference of some recorded values: hdrhistogram's bins plus exact plain tallies.
#[derive(Clone)]
struct Model {
    hdr: Reference<u64>,
    count: u64,
    min: u64,
    max: u64,
    sum: u128,
    clamped: u64,
}

impl Model {
    fn new(c: &HistogramConfig) -> Self {
        Self {
            hdr: Reference::new_with_bounds(
                c.lowest_discernible,
                c.highest_trackable,
                c.significant_figures,
            )
            .unwrap(),
            count: 0,
            min: u64::MAX,
            max: 0,
            sum: 0,
            clamped: 0,
        }
    }

    fn add_n(&mut self, v: u64, n: u64) {
        if n == 0 {
            return;
        }
        let high = self.hdr.high();
        self.hdr.record_n(v.min(high), n).unwrap();
        self.count += n;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        self.sum += u128::from(v) * u128::from(n);
        if v > high {
            self.clamped += n;
        }
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Record(v) => self.add_n(v, 1),
            Op::RecordN(v, n) => self.add_n(v, n),
            Op::Corrected(v, interval) => {
                // HdrHistogram's definition, enumerated: v, then v - k*interval while that
                // is >= interval.
                self.add_n(v, 1);
                if interval > 0 {
                    let mut missing = v.saturating_sub(interval);
                    while v > interval && missing >= interval {
                        self.add_n(missing, 1);
                        missing -= interval;
                    }
                }
            }
        }
    }

    fn merge(&mut self, other: &Model) {
        self.hdr.add(&other.hdr).unwrap();
        self.count += other.count;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.sum += other.sum;
        self.clamped += other.clamped;
    }

    /// The reference's occupied bins: (lowest, highest equivalent value, count).
    fn bins(&self) -> Vec<(u64, u64, u64)> {
        self.hdr
            .iter_recorded()
            .map(|v| {
                let top = v.value_iterated_to();
                (self.hdr.lowest_equivalent(top), top, v.count_at_value())
            })
            .collect()
    }
}

fn bins_of(s: &HistogramSnapshot) -> Vec<(u64, u64, u64)> {
    s.bins().map(|b| (b.low, b.high, b.count)).collect()
}

/// A cumulative snapshot equals the model of everything recorded into it.
fn assert_matches(s: &HistogramSnapshot, m: &Model, what: &str) -> Result<(), TestCaseError> {
    prop_assert_eq!(s.count(), m.count, "{}: count", what);
    prop_assert_eq!(s.count(), m.hdr.len(), "{}: count vs hdrhistogram", what);
    prop_assert_eq!(s.sum(), m.sum, "{}: sum", what);
    prop_assert_eq!(s.clamped(), m.clamped, "{}: clamped", what);
    let (min, max) = if m.count == 0 { (0, 0) } else { (m.min, m.max) };
    prop_assert_eq!((s.min(), s.max()), (min, max), "{}: min, max", what);
    prop_assert_eq!(bins_of(s), m.bins(), "{}: bins", what);
    if m.count == 0 {
        return Ok(());
    }
    let mean = (m.sum as f64 / m.count as f64).clamp(min as f64, max as f64);
    prop_assert_eq!(s.mean(), mean, "{}: mean", what);
    for q in [
        0.0, 1e-4, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 0.9999, 1.0,
    ] {
        let rank = ((q * m.count as f64).ceil() as u64).max(1);
        // Documented: ranks on clamped values (above everything else) answer the exact max;
        // the others are hdrhistogram's answer limited to the exact [min, max].
        let want = if rank > m.count - m.clamped {
            max
        } else {
            m.hdr.value_at_quantile(q).clamp(min, max)
        };
        prop_assert_eq!(s.value_at_quantile(q), want, "{}: q = {}", what, q);
    }
    // `le` buckets: whole bins whose highest value is <= the bound.
    // (At most about eight bounds: each check walks every bin.)
    let bins = m.bins();
    for &(_, top, _) in bins.iter().step_by(bins.len().div_ceil(8)) {
        for bound in [top.saturating_sub(1), top] {
            let want: u64 = bins.iter().filter(|b| b.1 <= bound).map(|b| b.2).sum();
            prop_assert_eq!(s.count_at_or_below(bound), want, "{}: le {}", what, bound);
        }
    }
    Ok(())
}

/// A window's delta equals the model of what was recorded in it: exact bins, count, sum and
/// clamped; min and max those of the bins that grew, limited to the later snapshot's range,
/// the max being the later snapshot's exact max when clamped values were recorded (what
/// `HistogramSnapshot::delta_since` documents); and `[min, max]` holds the true values.
fn assert_delta_matches(
    d: &HistogramSnapshot,
    m: &Model,
    to: &HistogramSnapshot,
    what: &str,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(d.count(), m.count, "{}: count", what);
    prop_assert_eq!(d.sum(), m.sum, "{}: sum", what);
    prop_assert_eq!(d.clamped(), m.clamped, "{}: clamped", what);
    prop_assert_eq!(bins_of(d), m.bins(), "{}: bins", what);
    // The reference's lowest and highest occupied bins. (Not hdrhistogram's `min()`/`max()`:
    // its `max()` answers 0, not the top of bin 0, when the largest value recorded is 0.)
    let bins = m.bins();
    let (min, max) = match (bins.first(), bins.last()) {
        (Some(lo), Some(hi)) => (
            lo.0.clamp(to.min(), to.max()),
            if m.clamped > 0 {
                to.max()
            } else {
                hi.1.clamp(to.min(), to.max())
            },
        ),
        _ => (0, 0),
    };
    prop_assert_eq!((d.min(), d.max()), (min, max), "{}: min, max", what);
    // And they bound the interval's true values.
    if m.count > 0 {
        prop_assert!(
            d.min() <= m.min && m.max <= d.max(),
            "{}: [min, max] holds the values",
            what
        );
    }
    Ok(())
}

/// Runs `ops` through the handle `via` names.
fn run_ops(h: &Histogram, registry: &Registry, config: HistogramConfig, via: Via, ops: &[Op]) {
    let handle = match via {
        Via::Shared | Via::Local => h,
        Via::Clone => &h.clone(),
        Via::Lookup => &registry
            .try_histogram_with_config("latency", &[("op", "p")], config)
            .unwrap(),
    };
    let local = matches!(via, Via::Local).then(|| h.local());
    for op in ops {
        match (&local, *op) {
            (Some(l), Op::Record(v)) => l.record(v),
            (Some(l), Op::RecordN(v, n)) => l.record_n(v, n),
            (Some(l), Op::Corrected(v, i)) => l.record_corrected(v, i),
            (None, Op::Record(v)) => handle.record(v),
            (None, Op::RecordN(v, n)) => handle.record_n(v, n),
            (None, Op::Corrected(v, i)) => handle.record_corrected(v, i),
        }
    }
}

fn config_and_phases() -> impl Strategy<Value = (HistogramConfig, Vec<Phase>)> {
    configs(MAX_REFERENCE_LEN).prop_flat_map(|c| (Just(c), phases(c)))
}

proptest! {
    #![proptest_config(config())]

    /// Every snapshot of a registry histogram recorded from several threads and handles
    /// equals hdrhistogram fed the same values; every interval window, and every window
    /// spanning several intervals, equals the reference of what was recorded in it.
    #[test]
    // Hundreds of random cases: hours under Miri, which runs the same paths in the
    // other tests.
    #[cfg_attr(miri, ignore)]
    fn snapshots_and_windows_equal_hdrhistogram((config, phases) in config_and_phases()) {
        let registry = Registry::new();
        let h = registry
            .try_histogram_with_config("latency", &[("op", "p")], config)
            .unwrap();
        let first = Arc::new(registry.snapshot());
        let mut history = History::new(Arc::clone(&first));
        // The full snapshots, kept here: the history keeps only the latest whole.
        let mut snaps = vec![first];
        let mut total = Model::new(&config);
        let mut per_phase = Vec::new();
        for (p, phase) in phases.iter().enumerate() {
            let mut model = Model::new(&config);
            thread::scope(|s| {
                let (first, rest) = phase.split_first().expect("a phase has a thread");
                for (via, ops) in rest {
                    let (h, registry) = (&h, &registry);
                    s.spawn(move || run_ops(h, registry, config, *via, ops));
                }
                run_ops(&h, &registry, config, first.0, &first.1);
            });
            for op in phase.iter().flat_map(|t| &t.1) {
                model.apply(op);
            }
            total.merge(&model);
            let snap = registry.snapshot();
            let hs = snap.histogram_with("latency", &[("op", "p")]).expect("registered");
            assert_matches(hs, &total, &format!("snapshot after phase {p}"))?;
            // The handle's own snapshot is the same merge.
            assert_matches(&h.snapshot(), &total, &format!("handle after phase {p}"))?;
            let snap = Arc::new(snap);
            history = history.with_pushed(Arc::clone(&snap), 16);
            snaps.push(snap);
            per_phase.push(model);
        }
        prop_assert_eq!(history.len(), phases.len() + 1);
        let labels = [("op", "p")];
        let full = |i: usize| snaps[i].histogram_with("latency", &labels).unwrap();
        for (i, window) in history.intervals().enumerate() {
            let d = window.histogram_delta("latency", &labels).expect("present");
            assert_delta_matches(&d, &per_phase[i], full(i + 1), &format!("interval {i}"))?;
        }
        for i in 0..snaps.len() {
            for j in i + 2..snaps.len() {
                let mut model = Model::new(&config);
                per_phase[i..j].iter().for_each(|m| model.merge(m));
                // Between two full snapshots: bounds as `delta_since` computes them.
                let direct = Window::between(Arc::clone(&snaps[i]), Arc::clone(&snaps[j]));
                let d = direct.histogram_delta("latency", &labels).unwrap();
                assert_delta_matches(&d, &model, full(j), &format!("window {i}..{j}"))?;
                // The history's window adds up its intervals: the same counts, and bounds
                // that hold every value and are no looser.
                let summed = history.window_between(i, j).unwrap();
                let s = summed.histogram_delta("latency", &labels).unwrap();
                let what = format!("history window {i}..{j}");
                prop_assert_eq!(s.count(), model.count, "{}: count", &what);
                prop_assert_eq!(s.sum(), model.sum, "{}: sum", &what);
                prop_assert_eq!(s.clamped(), model.clamped, "{}: clamped", &what);
                prop_assert_eq!(bins_of(&s), model.bins(), "{}: bins", &what);
                if model.count > 0 {
                    prop_assert!(
                        d.min() <= s.min() && s.min() <= model.min
                            && model.max <= s.max() && s.max() <= d.max(),
                        "{}: [min, max] {:?} holds the values {:?}, within {:?}",
                        &what, (s.min(), s.max()), (model.min, model.max), (d.min(), d.max())
                    );
                }
            }
        }
    }

    /// A standalone histogram fed one value many times, or one value once, answers
    /// exactly as hdrhistogram does, whatever the configuration and the value (the clamping
    /// edge included).
    #[test]
    // Hundreds of random cases: hours under Miri, which runs the same paths in the
    // other tests.
    #[cfg_attr(miri, ignore)]
    fn single_values_equal_hdrhistogram(
        (config, v, n) in configs(MAX_REFERENCE_LEN).prop_flat_map(|c| (Just(c), values(c), 1u64..=1 << 40))
    ) {
        let h = Histogram::new(config).unwrap();
        let mut model = Model::new(&config);
        h.record(v);
        model.add_n(v, 1);
        assert_matches(&h.snapshot(), &model, "one record")?;
        h.record_n(v, n);
        model.add_n(v, n);
        assert_matches(&h.snapshot(), &model, "record_n")?;
        // The dense copy for hdrhistogram's tools holds the same bins. (Not `==`: that also
        // compares hdrhistogram's own max, which it keeps as the top of the highest bin the
        // real values reached, while the copy only knows the bins' lowest values.)
        let dense = h.snapshot().to_hdrhistogram();
        prop_assert_eq!(dense.len(), model.hdr.len());
        let dense_bins: Vec<(u64, u64)> =
            dense.iter_recorded().map(|v| (v.value_iterated_to(), v.count_at_value())).collect();
        let want: Vec<(u64, u64)> = model.bins().into_iter().map(|(_, top, n)| (top, n)).collect();
        prop_assert_eq!(dense_bins, want);
    }
}

/// One step on a counter and a gauge.
#[derive(Debug, Clone)]
enum MetricOp {
    /// `increment(n)`; some `n` near `u64::MAX` so that totals saturate.
    Increment(u64),
    /// `add(delta)` on the gauge (integers, exact in an f64 far beyond these sums).
    Add(i32),
    /// `sub(delta)`.
    Sub(i32),
}

fn metric_ops() -> impl Strategy<Value = MetricOp> {
    prop_oneof![
        6 => (0u64..=1_000_000).prop_map(MetricOp::Increment),
        1 => ((u64::MAX / 4)..=u64::MAX).prop_map(MetricOp::Increment),
        3 => any::<i32>().prop_map(MetricOp::Add),
        2 => any::<i32>().prop_map(MetricOp::Sub),
    ]
}

/// One phase: an optional `set` of the gauge (before the threads start: concurrent sets
/// are last-write-wins, not deterministic), then 1..=3 threads of steps.
type MetricPhase = (Option<i32>, Vec<(Via, Vec<MetricOp>)>);

fn run_metric_ops(c: &Counter, g: &Gauge, registry: &Registry, via: Via, ops: &[MetricOp]) {
    let (c, g) = match via {
        Via::Lookup => (
            registry.try_counter("events_total", &[]).unwrap(),
            registry.try_gauge("level", &[]).unwrap(),
        ),
        _ => (c.clone(), g.clone()),
    };
    let local = matches!(via, Via::Local).then(|| c.local());
    for op in ops {
        match *op {
            MetricOp::Increment(n) => match &local {
                Some(l) => l.increment(n),
                None => c.increment(n),
            },
            MetricOp::Add(d) => g.add(f64::from(d)),
            MetricOp::Sub(d) => g.sub(f64::from(d)),
        }
    }
}

proptest! {
    #![proptest_config(config())]

    /// Counters equal the exact sum of their increments (saturated at `u64::MAX`, as
    /// documented), gauges the plain integer result of their sets, adds and subs, in every
    /// snapshot and window, whichever handles and threads did the work.
    #[test]
    // Hundreds of random cases: hours under Miri, which runs the same paths in the
    // other tests.
    #[cfg_attr(miri, ignore)]
    fn counters_and_gauges_equal_plain_integers(
        phases in prop::collection::vec(
            (
                prop::option::of(any::<i32>()),
                prop::collection::vec((vias(), prop::collection::vec(metric_ops(), 0..30)), 1..=3),
            ),
            1..=4,
        )
    ) {
        let phases: Vec<MetricPhase> = phases;
        let registry = Registry::new();
        let c = registry.try_counter("events_total", &[]).unwrap();
        let g = registry.try_gauge("level", &[]).unwrap();
        let mut history = History::new(Arc::new(registry.snapshot()));
        let (mut total, mut level) = (0u128, 0i64);
        let mut totals = vec![0u64];
        for (p, (set, threads)) in phases.iter().enumerate() {
            if let Some(v) = set {
                g.set(f64::from(*v));
                level = i64::from(*v);
            }
            thread::scope(|s| {
                let (first, rest) = threads.split_first().expect("a phase has a thread");
                for (via, ops) in rest {
                    let (c, g, registry) = (&c, &g, &registry);
                    s.spawn(move || run_metric_ops(c, g, registry, *via, ops));
                }
                run_metric_ops(&c, &g, &registry, first.0, &first.1);
            });
            for op in threads.iter().flat_map(|t| &t.1) {
                match *op {
                    MetricOp::Increment(n) => total += u128::from(n),
                    MetricOp::Add(d) => level += i64::from(d),
                    MetricOp::Sub(d) => level -= i64::from(d),
                }
            }
            let want = u64::try_from(total).unwrap_or(u64::MAX);
            totals.push(want);
            let snap = registry.snapshot();
            prop_assert_eq!(c.value(), want, "counter after phase {}", p);
            prop_assert_eq!(snap.counter("events_total"), Some(want), "snapshot after phase {}", p);
            prop_assert_eq!(g.value(), level as f64, "gauge after phase {}", p);
            prop_assert_eq!(snap.gauge("level"), Some(level as f64), "snapshot after phase {}", p);
            history = history.with_pushed(Arc::new(snap), 16);
        }
        for (i, window) in history.intervals().enumerate() {
            prop_assert_eq!(
                window.counter_delta("events_total", &[]),
                Some(totals[i + 1] - totals[i]),
                "interval {}", i
            );
        }
    }
}

/// Regression (found by `snapshots_and_windows_equal_hdrhistogram`): an interval whose values
/// include one above the trackable range reported as its max the top of the range's bin,
/// below that value; the max is now the exact one, and the top quantile answers it.
#[test]
#[cfg_attr(miri, ignore)] // as above: many cases
fn a_window_with_clamped_values_keeps_their_max() {
    let config = HistogramConfig {
        lowest_discernible: 1,
        highest_trackable: 529_278_301_770,
        significant_figures: 0,
        unit: Unit::None,
    };
    let h = Histogram::new(config).unwrap();
    let before = h.snapshot();
    let above = 1u64 << 39;
    h.record(above);
    h.record(0);
    let delta = h.snapshot().delta_since(&before);
    assert_eq!(delta.clamped(), 1);
    assert_eq!((delta.min(), delta.max()), (0, above));
    assert_eq!(delta.value_at_quantile(1.0), above);
}
