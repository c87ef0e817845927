//! HdrHistogram interval logs: a snapshot history written, checked for HdrHistogram's header
//! lines, read back and compared interval by interval with `hdrhistogram` histograms built
//! here from the values recorded in each interval.

mod common;

use aureon_prometheus::hlog::{self, HlogError, decode_tag};
use aureon_telemetry::{History, MetricKey, Registry};
use common::Rng;
use std::sync::Arc;
use std::time::Duration;

struct Recorded {
    history: History,
    /// Per interval, per op: the values recorded in it.
    intervals: Vec<Vec<(String, Vec<u64>)>>,
}

fn record_history(ops: &[&str], intervals: usize) -> Recorded {
    let r = Registry::new();
    let mut history = History::new(Arc::new(r.snapshot()));
    let mut rng = Rng(21);
    let mut all = Vec::new();
    for i in 0..intervals {
        let mut this = Vec::new();
        for (j, op) in ops.iter().enumerate() {
            let h = r.histogram_with("latency", &[("op", op)]);
            // Intervals differ: later ones are slower, and op j has its own scale.
            let n = 200 + 100 * i;
            let values: Vec<u64> = (0..n)
                .map(|_| rng.log_uniform(10 * (i as u64 + 1), 100_000 * (j as u64 + 1)))
                .collect();
            for &v in &values {
                h.record(v);
            }
            this.push((op.to_string(), values));
        }
        all.push(this);
        std::thread::sleep(Duration::from_millis(5));
        history = history.with_pushed(Arc::new(r.snapshot()), 100);
    }
    Recorded {
        history,
        intervals: all,
    }
}

fn reference(values: &[u64]) -> hdrhistogram::Histogram<u64> {
    let mut h = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
    for &v in values {
        h.record(v).unwrap();
    }
    h
}

fn assert_same(
    got: &hdrhistogram::Histogram<u64>,
    want: &hdrhistogram::Histogram<u64>,
    what: &str,
) {
    assert_eq!(got.len(), want.len(), "{what}: count");
    assert_eq!(got.min(), want.min(), "{what}: min");
    assert_eq!(got.max(), want.max(), "{what}: max");
    for v in want.iter_recorded() {
        assert_eq!(
            got.count_at(v.value_iterated_to()),
            v.count_at_value(),
            "{what}: bin of {}",
            v.value_iterated_to()
        );
    }
    assert_eq!(
        got.iter_recorded().count(),
        want.iter_recorded().count(),
        "{what}: no extra bins"
    );
}

#[test]
fn a_single_series_round_trips_untagged() {
    let rec = record_history(&["get"], 4);
    let mut log = Vec::new();
    hlog::write_history(&rec.history, |_| true, &mut log).unwrap();
    let text = String::from_utf8(log.clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines.contains(&"#[Histogram log format version 1.3]"),
        "{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("#[StartTime: ") && l.ends_with(" (seconds since epoch)]"))
    );
    assert!(lines.iter().any(|l| l.starts_with("#[BaseTime: ")));
    assert!(lines.contains(
        &"\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\""
    ));
    let data: Vec<&&str> = lines
        .iter()
        .filter(|l| !l.starts_with('#') && !l.starts_with('"'))
        .collect();
    assert_eq!(data.len(), 4);
    assert!(data.iter().all(|l| !l.starts_with("Tag=")));

    let read = hlog::read(&log).unwrap();
    assert_eq!(read.intervals.len(), 4);
    assert_eq!(read.start_time, read.base_time);
    let base = rec.history.oldest().system_time();
    let got_base = read.base_time.unwrap();
    let skew = got_base
        .duration_since(base)
        .unwrap_or_else(|e| e.duration());
    assert!(
        skew < Duration::from_millis(1),
        "base time written to the millisecond"
    );
    let mut previous_end = Duration::ZERO;
    for (i, interval) in read.intervals.iter().enumerate() {
        let (_, values) = &rec.intervals[i][0];
        assert_same(
            &interval.histogram,
            &reference(values),
            &format!("interval {i}"),
        );
        assert!(interval.tag.is_none());
        assert!(
            interval.length >= Duration::from_millis(4),
            "{:?}",
            interval.length
        );
        assert!(interval.start + Duration::from_millis(1) >= previous_end);
        previous_end = interval.start + interval.length;
        // Interval_Max in milliseconds for a µs histogram.
        let max_ms = *values.iter().max().unwrap() as f64 / 1e3;
        assert!(
            (interval.max - max_ms).abs() <= max_ms * 0.001 + 0.001,
            "{} vs {max_ms}",
            interval.max
        );
    }
}

#[test]
fn several_series_are_tagged_with_their_keys() {
    let rec = record_history(&["get", "p,u t"], 3);
    let mut log = Vec::new();
    hlog::write_history(&rec.history, |k| k.name() == "latency", &mut log).unwrap();
    let read = hlog::read(&log).unwrap();
    assert_eq!(read.intervals.len(), 6);
    for (n, interval) in read.intervals.iter().enumerate() {
        let (i, j) = (n / 2, n % 2);
        let (op, values) = &rec.intervals[i][j];
        let key = decode_tag(interval.tag.as_deref().unwrap()).unwrap();
        assert_eq!(key, MetricKey::new("latency", &[("op", op)]).unwrap());
        assert_same(
            &interval.histogram,
            &reference(values),
            &format!("interval {i} op {op}"),
        );
    }
    // A selector that matches nothing writes a header and no intervals.
    let mut empty = Vec::new();
    hlog::write_history(&rec.history, |_| false, &mut empty).unwrap();
    assert!(hlog::read(&empty).unwrap().intervals.is_empty());
}

#[test]
fn bad_logs_are_errors_not_panics() {
    assert!(matches!(
        hlog::read(b"this is not a log\n"),
        Err(HlogError::Parse { .. })
    ));
    let bad_b64 = b"0.000,1.000,1.000,!!!notbase64!!!\n";
    assert!(matches!(
        hlog::read(bad_b64),
        Err(HlogError::Base64 { interval: 0 })
    ));
    let bad_hist = b"0.000,1.000,1.000,AAAA\n";
    assert!(matches!(
        hlog::read(bad_hist),
        Err(HlogError::Deserialize { interval: 0, .. })
    ));
    let msg = hlog::read(bad_b64).unwrap_err().to_string();
    assert!(msg.contains("base64"), "{msg}");
    // A log truncated in the middle of a line.
    let rec = record_history(&["get"], 2);
    let mut log = Vec::new();
    hlog::write_history(&rec.history, |_| true, &mut log).unwrap();
    let cut = &log[..log.len() - 10];
    assert!(hlog::read(cut).is_err());
}
