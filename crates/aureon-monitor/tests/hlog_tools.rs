//! `report`, `plot` and `grafana` on inputs with known answers: an interval log written by
//! HdrHistogram's own writer from known values (checked against a sorted array of those
//! values), the SVG parsed back, the dashboard parsed as JSON.

mod common;

use common::{Scratch, run, text};
use hdrhistogram::Histogram;
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::IntervalLogWriterBuilder;
use std::path::Path;
use std::time::{Duration, SystemTime};

const LIMIT: Duration = Duration::from_secs(30);
const INTERVALS: usize = 3;
const PER_INTERVAL: usize = 7_000;

/// Known values: log-uniform between 10 µs and 2 s, from a fixed generator.
fn known_values() -> Vec<Vec<u64>> {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    (0..INTERVALS)
        .map(|_| {
            (0..PER_INTERVAL)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    let unit = (state >> 11) as f64 / (1u64 << 53) as f64;
                    (10.0 * (200_000.0f64).powf(unit)) as u64
                })
                .collect()
        })
        .collect()
}

/// Writes `intervals` as an untagged interval log with HdrHistogram's writer.
fn write_log(path: &Path, intervals: &[Vec<u64>]) {
    let mut out = Vec::new();
    let mut serializer = V2DeflateSerializer::new();
    {
        let mut writer = IntervalLogWriterBuilder::new()
            .with_base_time(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000))
            .with_max_value_divisor(1000.0)
            .begin_log_with(&mut out, &mut serializer)
            .unwrap();
        for (i, values) in intervals.iter().enumerate() {
            let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
            for &v in values {
                h.record(v).unwrap();
            }
            writer
                .write_histogram(
                    &h,
                    Duration::from_secs(i as u64),
                    Duration::from_secs(1),
                    None,
                )
                .unwrap();
        }
    }
    std::fs::write(path, out).unwrap();
}

/// The nearest-rank value at quantile `q` of sorted `values`, ranked as HdrHistogram ranks.
fn reference(sorted: &[u64], q: f64) -> u64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).max(1);
    sorted[rank - 1]
}

/// The whitespace-separated fields of the row starting with `label`.
fn row<'a>(table: &'a str, label: &str) -> Vec<&'a str> {
    table
        .lines()
        .find(|l| l.split_whitespace().next() == Some(label))
        .unwrap_or_else(|| panic!("no row {label:?} in:\n{table}"))
        .split_whitespace()
        .skip(1)
        .collect()
}

fn close(got: f64, want: f64, what: &str) {
    // 3 significant figures: bins are at most 1/1024 of their value wide.
    assert!(
        (got - want).abs() <= want / 1000.0 + 1.0,
        "{what}: report {got}, reference {want}"
    );
}

#[test]
fn report_percentiles_match_a_sorted_reference() {
    let scratch = Scratch::new("report");
    let log = scratch.path("known.hlog");
    let intervals = known_values();
    write_log(&log, &intervals);

    let out = run(
        &["report", "--from", log.to_str().unwrap(), "--unit", "us"],
        LIMIT,
    );
    let (table, err) = text(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        table.contains("1 series, up to 3 intervals over 3.0s; values in microseconds"),
        "{table}"
    );
    let mut all: Vec<u64> = intervals.concat();
    all.sort_unstable();
    let f = row(&table, "all");
    let num = |i: usize| f[i].replace(',', "").parse::<f64>().unwrap();
    assert_eq!(num(0) as usize, all.len());
    close(num(1), all[0] as f64, "min");
    for (i, (q, name)) in [(0.5, "p50"), (0.9, "p90"), (0.99, "p99"), (0.999, "p99.9")]
        .into_iter()
        .enumerate()
    {
        close(num(2 + i), reference(&all, q) as f64, name);
    }
    close(num(6), *all.last().unwrap() as f64, "max");
    let mean = all.iter().sum::<u64>() as f64 / all.len() as f64;
    close(num(7), mean, "mean");

    // One row per interval, each with its own values.
    let out = run(
        &["report", "--from", log.to_str().unwrap(), "--intervals"],
        LIMIT,
    );
    let (table, _) = text(&out);
    assert!(
        table.contains("values in recorded units"),
        "no unit without --unit:\n{table}"
    );
    for (i, values) in intervals.iter().enumerate() {
        let mut sorted = values.clone();
        sorted.sort_unstable();
        let f = row(&table, &format!("+{i}.0s"));
        // Fields: "(1.0s)", count, min, p50, …
        assert_eq!(
            f[1].replace(',', "").parse::<usize>().unwrap(),
            PER_INTERVAL
        );
        close(
            f[5].parse().unwrap(),
            reference(&sorted, 0.99) as f64,
            "interval p99",
        );
    }
}

#[test]
fn plot_writes_a_valid_svg_of_a_monotone_distribution() {
    let scratch = Scratch::new("plot");
    let log = scratch.path("known.hlog");
    write_log(&log, &known_values());
    let svg_path = scratch.path("latency.svg");
    let out = run(
        &[
            "plot",
            "--from",
            log.to_str().unwrap(),
            "--out",
            svg_path.to_str().unwrap(),
            "--unit",
            "us",
        ],
        LIMIT,
    );
    assert!(out.status.success(), "{}", text(&out).1);
    let svg = std::fs::read_to_string(&svg_path).expect("the SVG was written");
    let doc = roxmltree::Document::parse(&svg).expect("the SVG is well-formed XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");

    let texts: Vec<&str> = doc
        .descendants()
        .filter_map(|n| n.text())
        .map(str::trim)
        .collect();
    for label in [
        "0%",
        "90%",
        "99%",
        "99.9%",
        "99.99%",
        "99.999%",
        "percentile",
        "latency (s)",
        "all",
    ] {
        assert!(
            texts.contains(&label),
            "no {label:?} among the SVG's texts: {texts:?}"
        );
    }
    // The data line: the polyline with the most points. Latency never falls as the
    // percentile grows, so in pixels (y downwards) y never grows as x grows.
    let line = doc
        .descendants()
        .filter(|n| n.has_tag_name("polyline") || n.has_tag_name("path"))
        .filter_map(|n| n.attribute("points").or(n.attribute("d")))
        .max_by_key(|p| p.len())
        .expect("a polyline or path");
    let points: Vec<(f64, f64)> = line
        .split_whitespace()
        .filter_map(|p| {
            let (x, y) = p.trim_start_matches(['M', 'L']).split_once(',')?;
            Some((x.parse().ok()?, y.parse().ok()?))
        })
        .collect();
    assert!(points.len() >= 20, "{} points", points.len());
    for pair in points.windows(2) {
        assert!(
            pair[1].0 >= pair[0].0 && pair[1].1 <= pair[0].1,
            "not monotone: {pair:?}"
        );
    }

    // A filter that matches nothing is an error that names what there is.
    let out = run(
        &[
            "plot",
            "--from",
            log.to_str().unwrap(),
            "--out",
            svg_path.to_str().unwrap(),
            "--series",
            "nope",
        ],
        LIMIT,
    );
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains("nothing to plot") && err.contains("the log has: all"),
        "{err}"
    );
}

#[test]
fn grafana_prints_a_dashboard() {
    let out = run(&["grafana"], LIMIT);
    let (stdout, err) = text(&out);
    assert!(out.status.success(), "{err}");
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("valid JSON");
    assert_eq!(v["title"], "Aureon Node Metrics");
    assert!(v["panels"].as_array().is_some_and(|p| !p.is_empty()), "{v}");
    let out = run(&["grafana", "--title", "Staging nodes"], LIMIT);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["title"], "Staging nodes");
}
