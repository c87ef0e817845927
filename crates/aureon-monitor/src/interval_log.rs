//! Loading an HdrHistogram interval log for `report` and `plot`: its series (one per tag),
//! each with its intervals and their total, and the unit of its values.
//!
//! Reading is `aureon_prometheus::hlog::read`, so any HdrHistogram writer's log works. The
//! unit is taken from the header comment `aureon-prometheus` writes (`values in
//! microseconds`), or given with `--unit`; otherwise values are shown as recorded.

use crate::failure::Failure;
use aureon_prometheus::hlog;
use aureon_telemetry::Unit;
use hdrhistogram::Histogram;
use std::path::Path;
use std::time::Duration;

/// The unit of a log's values (the core's [`Unit`]).
pub type LogUnit = Unit;

/// Parses `--unit`: `ns`, `us`/`µs`, `ms`, `s`, `bytes` or `none`.
pub fn parse_unit(text: &str) -> Result<LogUnit, String> {
    match text.trim() {
        "ns" | "nanoseconds" => Ok(Unit::Nanoseconds),
        "us" | "µs" | "microseconds" => Ok(Unit::Microseconds),
        "ms" | "milliseconds" => Ok(Unit::Milliseconds),
        "s" | "seconds" => Ok(Unit::Seconds),
        "bytes" | "B" => Ok(Unit::Bytes),
        "none" => Ok(Unit::None),
        other => Err(format!(
            "expected ns, us, ms, s, bytes or none, got {other:?}"
        )),
    }
}

/// One interval of one series.
#[derive(Debug, Clone)]
pub struct Interval {
    /// Start, since the log's base time.
    pub start: Duration,
    /// Length.
    pub length: Duration,
    /// What was recorded in it.
    pub histogram: Histogram<u64>,
}

/// One series of a log (the lines with one tag).
#[derive(Debug, Clone)]
pub struct Series {
    /// How to call it: the tag's labels when every series shares one metric name
    /// (`op=block_processing`), else the whole tag; `all` for an untagged log.
    pub name: String,
    /// Its intervals, in log order.
    pub intervals: Vec<Interval>,
    /// Everything recorded over all its intervals.
    pub total: Histogram<u64>,
}

/// A log, loaded.
#[derive(Debug, Clone)]
pub struct Log {
    /// The unit of its values (`None`: unknown).
    pub unit: Option<LogUnit>,
    /// Its series, in order of first appearance.
    pub series: Vec<Series>,
}

/// Reads and groups the log at `path`; `unit` overrides what its header says.
pub fn load(path: &Path, unit: Option<LogUnit>) -> Result<Log, Failure> {
    let bytes = std::fs::read(path)
        .map_err(|e| Failure::run(format!("cannot read {}: {e}", path.display())))?;
    let log = hlog::read(&bytes).map_err(|e| Failure::run(format!("{}: {e}", path.display())))?;
    if log.intervals.is_empty() {
        return Err(Failure::run(format!(
            "{}: no intervals in it (an empty log, or not an HdrHistogram interval log)",
            path.display()
        )));
    }
    let mut tags: Vec<Option<String>> = Vec::new();
    let mut grouped: Vec<Vec<Interval>> = Vec::new();
    for interval in log.intervals {
        let slot = match tags.iter().position(|t| *t == interval.tag) {
            Some(i) => i,
            None => {
                tags.push(interval.tag.clone());
                grouped.push(Vec::new());
                tags.len() - 1
            }
        };
        grouped[slot].push(Interval {
            start: interval.start,
            length: interval.length,
            histogram: interval.histogram,
        });
    }
    let names = series_names(&tags);
    let series = names
        .into_iter()
        .zip(grouped)
        .map(|(name, intervals)| {
            let total = total_of(&intervals)
                .map_err(|why| Failure::run(format!("{}: series {name}: {why}", path.display())))?;
            Ok(Series {
                name,
                intervals,
                total,
            })
        })
        .collect::<Result<Vec<_>, Failure>>()?;
    Ok(Log {
        unit: unit.or_else(|| unit_from_header(&bytes)),
        series,
    })
}

/// Sums the intervals into one histogram (auto-resizing, so no value is refused).
fn total_of(intervals: &[Interval]) -> Result<Histogram<u64>, String> {
    let first = &intervals[0].histogram;
    let mut total = Histogram::<u64>::new_with_bounds(first.low(), first.high(), first.sigfig())
        .map_err(|e| format!("{e:?}"))?;
    total.auto(true);
    for i in intervals {
        total.add(&i.histogram).map_err(|e| format!("{e:?}"))?;
    }
    Ok(total)
}

/// Display names: labels only when every tag names the same metric.
fn series_names(tags: &[Option<String>]) -> Vec<String> {
    let keys: Vec<Option<aureon_telemetry::MetricKey>> = tags
        .iter()
        .map(|t| t.as_deref().and_then(hlog::decode_tag))
        .collect();
    let shared_name = keys
        .first()
        .and_then(Option::as_ref)
        .map(|k| k.name())
        .filter(|n| {
            keys.iter().all(|k| {
                k.as_ref()
                    .is_some_and(|k| k.name() == *n && !k.labels().is_empty())
            })
        });
    tags.iter()
        .zip(&keys)
        .map(|(tag, key)| match (tag, key) {
            (None, _) => "all".to_owned(),
            (Some(_), Some(k)) if shared_name.is_some() => k
                .labels()
                .iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect::<Vec<_>>()
                .join(","),
            (Some(_), Some(k)) => k.to_string(),
            (Some(raw), None) => raw.clone(),
        })
        .collect()
}

/// The unit named by aureon-prometheus' header comment (`…; values in microseconds]`).
fn unit_from_header(bytes: &[u8]) -> Option<LogUnit> {
    let head = &bytes[..bytes.len().min(4096)];
    let text = String::from_utf8_lossy(head);
    let line = text
        .lines()
        .take_while(|l| l.starts_with('#'))
        .find(|l| l.contains("values in "))?;
    let word = line
        .split("values in ")
        .nth(1)?
        .trim_end_matches(']')
        .trim();
    match word {
        "nanoseconds" => Some(Unit::Nanoseconds),
        "microseconds" => Some(Unit::Microseconds),
        "milliseconds" => Some(Unit::Milliseconds),
        "seconds" => Some(Unit::Seconds),
        "bytes" => Some(Unit::Bytes),
        _ => None,
    }
}

/// A unit in words, for headers.
pub fn unit_words(unit: Option<LogUnit>) -> &'static str {
    match unit {
        Some(Unit::Nanoseconds) => "nanoseconds",
        Some(Unit::Microseconds) => "microseconds",
        Some(Unit::Milliseconds) => "milliseconds",
        Some(Unit::Seconds) => "seconds",
        Some(Unit::Bytes) => "bytes",
        _ => "recorded units",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_from_flags_and_headers() {
        assert_eq!(parse_unit("us"), Ok(Unit::Microseconds));
        assert_eq!(parse_unit("ns"), Ok(Unit::Nanoseconds));
        assert!(parse_unit("parsecs").unwrap_err().contains("expected ns"));
        let header = b"#[Written by aureon-prometheus from an aureon-telemetry snapshot history; values in microseconds]\n#[Histogram log format version 1.3]\n";
        assert_eq!(unit_from_header(header), Some(Unit::Microseconds));
        assert_eq!(
            unit_from_header(b"#[Histogram log format version 1.3]\n"),
            None
        );
    }

    #[test]
    fn series_are_named_by_their_labels_when_they_share_a_metric() {
        let tags = [
            Some("aureon_operation_latency{op=block_processing}".to_owned()),
            Some("aureon_operation_latency{op=tx_validation}".to_owned()),
        ];
        assert_eq!(
            series_names(&tags),
            ["op=block_processing", "op=tx_validation"]
        );
        assert_eq!(series_names(&[None]), ["all"]);
        let mixed = [Some("a".to_owned()), Some("b{k=v}".to_owned())];
        assert_eq!(series_names(&mixed)[0], "a");
    }
}
