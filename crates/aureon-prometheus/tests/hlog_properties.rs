//! Property test (proptest) of the interval log: random snapshot histories (1..=3 series
//! with their own random configurations and units, label values full of the characters the
//! tag encoding escapes, series registered part-way, random values over several decades,
//! some above the trackable range) written by `hlog::write_history` and read back by
//! `hlog::read` give, interval by interval, the histograms an `hdrhistogram::Histogram` fed
//! the same values holds, with the right tags, times and `Interval_Max`.

use aureon_prometheus::hlog::{self, decode_tag};
use aureon_telemetry::{HistogramConfig, History, MetricKey, Registry, Unit};
use hdrhistogram::Histogram as Reference;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use std::sync::Arc;
use std::time::Duration;

/// The largest dense histogram a case builds (2^18 counts admits 5 significant figures).
const MAX_LEN: u64 = 1 << 18;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 96,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..ProptestConfig::default()
    }
}

/// Valid configurations, with a highest trackable value log-uniform from twice the lowest
/// up to 2^62 or the largest whose dense histogram fits [`MAX_LEN`] (hdrhistogram's
/// `new_with_bounds` formulas), and any unit.
fn configs() -> impl Strategy<Value = HistogramConfig> {
    let units = prop::sample::select(vec![
        Unit::Nanoseconds,
        Unit::Microseconds,
        Unit::Milliseconds,
        Unit::Seconds,
        Unit::Bytes,
        Unit::None,
    ]);
    (0u8..=5, 0u32..=10, any::<u64>(), any::<u64>(), units).prop_map(
        |(sigfig, low_bits, r, s, unit)| {
            let low = (1u64 << low_bits) + r % (1u64 << low_bits);
            let sub_bucket_count = (2 * 10u64.pow(u32::from(sigfig))).next_power_of_two();
            let max_buckets = (2 * MAX_LEN / sub_bucket_count - 1).min(64) as u32;
            let limit = (u128::from(sub_bucket_count) << low.ilog2()) << (max_buckets - 1);
            let max_high = (limit - 1).min(1 << 62) as u64;
            let (lo_bits, hi_bits) = ((2 * low).ilog2(), max_high.ilog2());
            let bits = lo_bits + (s % u64::from(hi_bits - lo_bits + 1)) as u32;
            let high =
                ((1u64 << bits) | ((s >> 8) & ((1u64 << bits) - 1))).clamp(2 * low, max_high);
            HistogramConfig {
                lowest_discernible: low,
                highest_trackable: high,
                significant_figures: sigfig,
                unit,
            }
        },
    )
}

/// (value, count) pairs, log-uniform up to four times the highest trackable value.
fn records(config: HistogramConfig) -> impl Strategy<Value = Vec<(u64, u64)>> {
    let top_bits = (config.highest_trackable.ilog2() + 3).min(64);
    let value = (0u32..=top_bits, any::<u64>()).prop_map(|(bits, r)| match bits {
        0 => 0,
        64 => r,
        b => (1u64 << (b - 1)) | (r & ((1u64 << (b - 1)) - 1)),
    });
    prop::collection::vec(
        (value, prop_oneof![4 => Just(1u64), 1 => 1u64..=100_000]),
        0..30,
    )
}

/// One series: its configuration, the label value, the phase it is registered in, and
/// what it records in each of [`PHASES`] phases.
type Series = (HistogramConfig, String, usize, Vec<Vec<(u64, u64)>>);

const PHASES: usize = 4;

fn series() -> impl Strategy<Value = Series> {
    configs().prop_flat_map(|c| {
        (
            Just(c),
            "[a-z0-9 ,;={}%\"\\\\\n]{0,8}",
            0..PHASES,
            prop::collection::vec(records(c), PHASES),
        )
    })
}

fn reference(c: &HistogramConfig, records: &[(u64, u64)]) -> Reference<u64> {
    let mut h = Reference::new_with_bounds(
        c.lowest_discernible,
        c.highest_trackable,
        c.significant_figures,
    )
    .unwrap();
    for &(v, n) in records {
        // Documented clamping: a value above the range is counted at its top.
        h.record_n(v.min(c.highest_trackable), n).unwrap();
    }
    h
}

/// `Interval_Max`'s divisor: milliseconds for time units, recorded units otherwise.
fn divisor(unit: Unit) -> f64 {
    match unit {
        Unit::Nanoseconds => 1e6,
        Unit::Microseconds => 1e3,
        Unit::Seconds => 1e-3,
        _ => 1.0,
    }
}

fn bins(h: &Reference<u64>) -> Vec<(u64, u64)> {
    h.iter_recorded()
        .map(|v| (v.value_iterated_to(), v.count_at_value()))
        .collect()
}

fn within_a_millisecond(got: Duration, want: Duration) -> bool {
    got.abs_diff(want) <= Duration::from_millis(1)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn written_logs_read_back_as_the_reference_histograms(
        all in prop::collection::vec(series(), 1..=3)
    ) {
        let registry = Registry::new();
        let keys: Vec<MetricKey> = all
            .iter()
            .enumerate()
            // One name per series: a family shares one configuration.
            .map(|(i, s)| MetricKey::new(&format!("latency_{i}"), &[("op", &s.1)]).unwrap())
            .collect();
        let mut history = History::new(Arc::new(registry.snapshot()));
        // Per window: (key index, reference of what it recorded), in the log's order.
        let mut expected: Vec<Vec<(usize, Reference<u64>)>> = Vec::new();
        for phase in 0..PHASES {
            let mut this = Vec::new();
            for (i, (config, _, from, phases)) in all.iter().enumerate() {
                if phase < *from {
                    continue;
                }
                let labels: Vec<(&str, &str)> = keys[i].labels().iter().collect();
                let h = registry
                    .try_histogram_with_config(keys[i].name(), &labels, *config)
                    .unwrap();
                for &(v, n) in &phases[phase] {
                    h.record_n(v, n);
                }
                this.push((i, reference(config, &phases[phase])));
            }
            this.sort_by(|a, b| keys[a.0].cmp(&keys[b.0]));
            expected.push(this);
            history = history.with_pushed(Arc::new(registry.snapshot()), 16);
        }
        let mut log = Vec::new();
        hlog::write_history(&history, |_| true, &mut log).unwrap();
        let read = hlog::read(&log).unwrap();

        let base = history.oldest().system_time();
        let got_base = read.base_time.expect("BaseTime header");
        prop_assert!(got_base.duration_since(base).unwrap_or_else(|e| e.duration())
            < Duration::from_millis(1));
        let unit = all[0].0.unit;
        let div = if all.iter().all(|s| s.0.unit == unit) { divisor(unit) } else { 1.0 };
        let windows: Vec<_> = history.intervals().collect();
        let mut got = read.intervals.iter();
        for (w, want) in expected.iter().enumerate() {
            let start = windows[w].from().system_time().duration_since(base).unwrap();
            for (i, reference) in want {
                let what = format!("window {w}, series {i}");
                let interval = got.next();
                prop_assert!(interval.is_some(), "{}: missing from the log", what);
                let interval = interval.unwrap();
                match &interval.tag {
                    Some(tag) if all.len() > 1 => {
                        prop_assert_eq!(decode_tag(tag), Some(keys[*i].clone()), "{}", what)
                    }
                    None if all.len() == 1 => {}
                    other => prop_assert!(false, "{}: tag {:?}", what, other),
                }
                let c = &all[*i].0;
                let h = &interval.histogram;
                prop_assert_eq!(
                    (h.low(), h.high(), h.sigfig()),
                    (c.lowest_discernible, c.highest_trackable, c.significant_figures),
                    "{}: bounds", what
                );
                prop_assert_eq!(h.len(), reference.len(), "{}: count", what);
                prop_assert_eq!(bins(h), bins(reference), "{}: bins", what);
                prop_assert!(within_a_millisecond(interval.start, start), "{}: start", what);
                prop_assert!(
                    within_a_millisecond(interval.length, windows[w].elapsed()),
                    "{}: length", what
                );
                // The top of the highest bin (0 when that is bin 0: hdrhistogram keeps the
                // max of a histogram rebuilt from bins as the bin's lowest value), in the
                // log's unit, written with three decimals.
                let top = match reference.max() {
                    m if reference.lowest_equivalent(m) == 0 => 0,
                    m => m,
                };
                let want_max = top as f64 / div;
                prop_assert!(
                    (interval.max - want_max).abs() <= 0.0005 + want_max * 1e-12,
                    "{}: Interval_Max {} vs {}", what, interval.max, want_max
                );
            }
        }
        prop_assert!(got.next().is_none(), "no extra intervals");
    }
}
