//! `report`: the percentile table of an HdrHistogram interval log, totals per series or one
//! row per interval.
//!
//! Percentiles are HdrHistogram's (`value_at_quantile`: the highest value equivalent to the
//! bin holding the nearest-rank sample), so they agree with a sorted array of the recorded
//! values within the histogram's precision (0.1% at 3 significant figures). Values are whole
//! numbers in the log's unit, as recorded, so nothing is rounded away.

use crate::cli::ReportArgs;
use crate::failure::{Failure, print_stdout};
use crate::interval_log::{self, Log};
use hdrhistogram::Histogram;
use std::fmt::Write;

/// The quantiles of the table, with their column titles.
pub const COLUMNS: [(f64, &str); 4] = [(0.5, "p50"), (0.9, "p90"), (0.99, "p99"), (0.999, "p99.9")];

/// Prints the table for `args.from`.
pub fn run(args: ReportArgs) -> Result<(), Failure> {
    let log = interval_log::load(&args.from, args.unit)?;
    print_stdout(&render(
        &log,
        &args.from.display().to_string(),
        args.intervals,
    ))
}

fn render(log: &Log, source: &str, per_interval: bool) -> String {
    let intervals = log
        .series
        .iter()
        .map(|s| s.intervals.len())
        .max()
        .unwrap_or(0);
    let span = log
        .series
        .iter()
        .flat_map(|s| s.intervals.iter().map(|i| i.start + i.length))
        .max()
        .unwrap_or_default();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Interval log {source}: {} series, up to {intervals} intervals over {:.1}s; values in {}\n",
        log.series.len(),
        span.as_secs_f64(),
        interval_log::unit_words(log.unit)
    );
    let width = log
        .series
        .iter()
        .map(|s| s.name.len())
        .max()
        .unwrap_or(6)
        .max(6);
    if per_interval {
        for series in &log.series {
            let _ = writeln!(out, "{}", series.name);
            header(&mut out, "interval", width.max(16));
            for i in &series.intervals {
                let label = format!(
                    "+{:.1}s ({:.1}s)",
                    i.start.as_secs_f64(),
                    i.length.as_secs_f64()
                );
                row(&mut out, &label, width.max(16), &i.histogram);
            }
            out.push('\n');
        }
    } else {
        header(&mut out, "series", width);
        for series in &log.series {
            row(&mut out, &series.name, width, &series.total);
        }
    }
    out
}

fn header(out: &mut String, first: &str, width: usize) {
    let _ = write!(out, "{first:<width$} {:>12} {:>10}", "count", "min");
    for (_, title) in COLUMNS {
        let _ = write!(out, " {title:>10}");
    }
    let _ = writeln!(out, " {:>10} {:>12}", "max", "mean");
}

fn row(out: &mut String, label: &str, width: usize, h: &Histogram<u64>) {
    let _ = write!(out, "{label:<width$} {:>12}", crate::fmt::count(h.len()));
    if h.is_empty() {
        let _ = writeln!(out, " {:>10}", "(no values)");
        return;
    }
    let _ = write!(out, " {:>10}", h.min());
    for (q, _) in COLUMNS {
        let _ = write!(out, " {:>10}", h.value_at_quantile(q));
    }
    let _ = writeln!(out, " {:>10} {:>12.1}", h.max(), h.mean());
}
