//! HdrHistogram interval logs: a snapshot [`History`] written as the log format
//! HdrHistogram's own tools (`HistogramLogProcessor`, jHiccup's plotters, the `hdrhistogram`
//! crate's `IntervalLogIterator`) read, and such a log read back.
//!
//! A log holds one line per interval and series: `[Tag=…,]start,length,max,histogram`, the
//! histogram being HdrHistogram's V2 format, deflate-compressed and base64-encoded. The
//! header has HdrHistogram's lines: a comment, `#[Histogram log format version 1.3]`,
//! `#[StartTime: …]`, `#[BaseTime: …]` and the column legend. Start times are seconds since
//! `BaseTime` (the oldest snapshot of the history).
//!
//! Each interval is the difference between two consecutive snapshots of the history
//! ([`History::intervals`], `HistogramSnapshot::delta_since`), so the log records what
//! happened in each interval, as HdrHistogram's recorders log it; the counts are exact
//! (the core's bins are index-compatible with HdrHistogram's).
//!
//! Series: when the log holds a single series its lines are untagged (what
//! `HistogramLogProcessor` reads by default); with several, each line is tagged with the
//! series' key, `name` or `name{label=value;…}` with `%`, `,`, `;`, `=`, `{`, `}`, spaces and
//! line breaks percent-encoded so the tag stays one token and decodes back exactly
//! ([`decode_tag`]). `Interval_Max` is in milliseconds for time units (HdrHistogram's
//! convention), in recorded units otherwise.

use aureon_telemetry::{History, MetricKey, MetricValue, Unit};
use base64::Engine as _;
use hdrhistogram::serialization::interval_log::{
    IntervalLogIterator, IntervalLogWriterBuilder, LogEntry, Tag,
};
use hdrhistogram::serialization::{Deserializer, V2DeflateSerializer};
use std::fmt;
use std::io::{self, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Why a log could not be written or read.
#[derive(Debug)]
#[non_exhaustive]
pub enum HlogError {
    /// Writing to the output failed.
    Io(io::Error),
    /// A histogram could not be serialized.
    Serialize(String),
    /// The log has a line that is neither a comment, a header nor an interval (byte offset).
    Parse {
        /// Byte offset of the offending line.
        offset: usize,
    },
    /// An interval's histogram is not valid base64.
    Base64 {
        /// Index of the interval in the log.
        interval: usize,
    },
    /// A `StartTime`/`BaseTime` header, or an interval's start and length added to
    /// `BaseTime`, is beyond what a [`SystemTime`] holds.
    TimeOutOfRange {
        /// Index of the interval in the log (`None`: a header).
        interval: Option<usize>,
    },
    /// An interval's histogram is not a valid HdrHistogram encoding.
    Deserialize {
        /// Index of the interval in the log.
        interval: usize,
        /// The decoder's complaint.
        reason: String,
    },
}

impl fmt::Display for HlogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HlogError::Io(e) => write!(f, "writing the interval log failed: {e}"),
            HlogError::Serialize(e) => write!(f, "serializing a histogram failed: {e}"),
            HlogError::Parse { offset } => {
                write!(
                    f,
                    "not an HdrHistogram interval log: unreadable line at byte {offset}"
                )
            }
            HlogError::Base64 { interval } => {
                write!(f, "interval {interval}: the histogram is not valid base64")
            }
            HlogError::TimeOutOfRange { interval: None } => {
                write!(f, "a StartTime or BaseTime header is out of range")
            }
            HlogError::TimeOutOfRange {
                interval: Some(interval),
            } => write!(
                f,
                "interval {interval}: its start or length is out of range"
            ),
            HlogError::Deserialize { interval, reason } => {
                write!(
                    f,
                    "interval {interval}: the histogram cannot be decoded: {reason}"
                )
            }
        }
    }
}

impl std::error::Error for HlogError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            HlogError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for HlogError {
    fn from(e: io::Error) -> Self {
        HlogError::Io(e)
    }
}

/// One interval of one series, as read from a log.
#[derive(Debug, Clone)]
pub struct Interval {
    /// The series' tag (`None`: untagged).
    pub tag: Option<String>,
    /// Start of the interval, since the log's `BaseTime` (or since the epoch without one).
    pub start: Duration,
    /// Length of the interval.
    pub length: Duration,
    /// The `Interval_Max` column as written (divided by the log's max-value divisor).
    pub max: f64,
    /// What was recorded in the interval.
    pub histogram: hdrhistogram::Histogram<u64>,
}

/// A log read back.
#[derive(Debug, Clone, Default)]
pub struct IntervalLog {
    /// The `#[StartTime: …]` header.
    pub start_time: Option<SystemTime>,
    /// The `#[BaseTime: …]` header.
    pub base_time: Option<SystemTime>,
    /// The intervals, in log order.
    pub intervals: Vec<Interval>,
}

impl IntervalLog {
    /// The wall-clock start of `interval` (its start plus `BaseTime`, or since the epoch).
    ///
    /// # Panics
    /// If the sum is beyond what a [`SystemTime`] holds, which [`read`] checks for every
    /// interval of the logs it returns (it answers [`HlogError::TimeOutOfRange`]).
    pub fn absolute_start(&self, interval: &Interval) -> SystemTime {
        self.base_time.unwrap_or(UNIX_EPOCH) + interval.start
    }
}

/// Writes the histograms of `history` selected by `select` as an interval log: one line
/// per consecutive pair of snapshots and selected series present in the later one.
pub fn write_history<W: Write>(
    history: &History,
    mut select: impl FnMut(&MetricKey) -> bool,
    out: &mut W,
) -> Result<(), HlogError> {
    // Each interval's selected histograms, and the series across them (and the latest
    // snapshot), which decide tagging and the max divisor.
    let intervals: Vec<_> = history
        .intervals()
        .map(|window| {
            let mut histograms = window.histograms();
            histograms.retain(|(key, _)| select(key));
            (window, histograms)
        })
        .collect();
    let mut keys: Vec<(MetricKey, Unit)> = Vec::new();
    let latest = history
        .latest()
        .iter()
        .filter_map(|(key, value)| match value {
            MetricValue::Histogram(h) => Some((key, h)),
            _ => None,
        });
    let in_intervals = intervals
        .iter()
        .flat_map(|(_, hs)| hs.iter().map(|(k, h)| (k, h)));
    for (key, h) in in_intervals.chain(latest) {
        if !keys.iter().any(|(k, _)| k == key) && select(key) {
            keys.push((key.clone(), h.config().unit));
        }
    }
    keys.sort_by(|a, b| a.0.cmp(&b.0));
    let tagged = keys.len() > 1;
    let base = history.oldest().system_time();
    // One max divisor per log: the series' unit if they share one.
    let unit = match keys.first() {
        Some(&(_, u)) if keys.iter().all(|k| k.1 == u) => u,
        _ => Unit::None,
    };
    writeln!(
        out,
        "#[Written by aureon-prometheus from an aureon-telemetry snapshot history; values in {}]",
        unit_word(unit)
    )?;
    writeln!(out, "#[Histogram log format version 1.3]")?;
    let secs = fp_seconds(base);
    writeln!(out, "#[StartTime: {secs:.3} (seconds since epoch)]")?;
    writeln!(out, "#[BaseTime: {secs:.3} (seconds since epoch)]")?;
    writeln!(
        out,
        "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\""
    )?;
    let mut serializer = V2DeflateSerializer::new();
    let mut writer = IntervalLogWriterBuilder::new()
        .with_max_value_divisor(max_divisor(unit))
        .begin_log_with(out, &mut serializer)?;
    let mut tag_buf = String::new();
    for (window, histograms) in &intervals {
        let start = window
            .from()
            .system_time()
            .duration_since(base)
            .unwrap_or_default();
        let length = window.elapsed();
        for (key, delta) in histograms {
            let tag = if tagged {
                tag_buf.clear();
                encode_tag(key, &mut tag_buf);
                Tag::new(&tag_buf)
            } else {
                None
            };
            writer
                .write_histogram(&delta.to_hdrhistogram(), start, length, tag)
                .map_err(|e| HlogError::Serialize(e.to_string()))?;
        }
    }
    Ok(())
}

/// Reads an interval log (from this crate or any HdrHistogram writer).
///
/// A log is outside input (`aureon-monitor report --from FILE`), so what it declares is
/// checked before anything is allocated for it: an interval's encoded histogram may inflate
/// to at most [`MAX_DECODED_HISTOGRAM_BYTES`], and the payload length its header declares
/// must be there (the decoder would otherwise reserve whatever a 4-byte field says, up to
/// 4 GiB for a 60-byte line, found by fuzzing). The histogram's own counts are bounded by
/// its declared range and precision (at most about 48 MiB, at 5 significant figures over
/// the whole `u64` range).
pub fn read(input: &[u8]) -> Result<IntervalLog, HlogError> {
    let mut log = IntervalLog::default();
    let mut deserializer = Deserializer::new();
    let (mut raw, mut inflated) = (Vec::new(), Vec::new());
    let header_time = |d: Duration| {
        UNIX_EPOCH
            .checked_add(d)
            .ok_or(HlogError::TimeOutOfRange { interval: None })
    };
    for entry in IntervalLogIterator::new(input) {
        match entry {
            Ok(LogEntry::StartTime(d)) => log.start_time = Some(header_time(d)?),
            Ok(LogEntry::BaseTime(d)) => log.base_time = Some(header_time(d)?),
            Ok(LogEntry::Interval(i)) => {
                let interval = log.intervals.len();
                raw.clear();
                base64::engine::general_purpose::STANDARD
                    .decode_vec(i.encoded_histogram(), &mut raw)
                    .map_err(|_| HlogError::Base64 { interval })?;
                let histogram = decode_histogram(&raw, &mut inflated, &mut deserializer)
                    .map_err(|reason| HlogError::Deserialize { interval, reason })?;
                log.intervals.push(Interval {
                    tag: i.tag().map(|t| t.as_str().to_owned()),
                    start: i.start_timestamp(),
                    length: i.duration(),
                    max: i.max(),
                    histogram,
                });
            }
            Err(hdrhistogram::serialization::interval_log::LogIteratorError::ParseError {
                offset,
            }) => {
                return Err(HlogError::Parse { offset });
            }
        }
    }
    // A BaseTime may come after the intervals it applies to: check once all are read.
    let base = log.base_time.unwrap_or(UNIX_EPOCH);
    for (index, i) in log.intervals.iter().enumerate() {
        base.checked_add(i.start)
            .and_then(|t| t.checked_add(i.length))
            .ok_or(HlogError::TimeOutOfRange {
                interval: Some(index),
            })?;
    }
    Ok(log)
}

/// The most an interval's histogram may inflate to in its V2 encoding: 64 MiB, above the
/// largest legitimate one (every count of a 5-significant-figure, full-range histogram,
/// at most 9 bytes each, is about 54 MiB) and far below what would hurt.
pub const MAX_DECODED_HISTOGRAM_BYTES: usize = 64 << 20;

/// HdrHistogram's V2 cookies (plain and deflate-compressed, 64-bit counts) and the size of
/// the V2 header (cookie, payload length, normalizing offset, digits, low, high, ratio).
const V2_COOKIE: u32 = 0x1c84_9313;
const V2_DEFLATE_COOKIE: u32 = 0x1c84_9314;
const V2_HEADER_BYTES: usize = 40;

/// Decodes one histogram (`raw`: the base64-decoded bytes of a log line), inflating it into
/// `inflated` within [`MAX_DECODED_HISTOGRAM_BYTES`] and checking its declared payload
/// length against the bytes present, then handing the plain V2 encoding to hdrhistogram's
/// decoder.
fn decode_histogram(
    raw: &[u8],
    inflated: &mut Vec<u8>,
    deserializer: &mut Deserializer,
) -> Result<hdrhistogram::Histogram<u64>, String> {
    use std::io::Read as _;
    let be32 = |b: &[u8], at: usize| {
        b.get(at..at + 4)
            .map(|w| u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
    };
    let v2: &[u8] = match be32(raw, 0) {
        Some(V2_DEFLATE_COOKIE) => {
            let declared = be32(raw, 4).ok_or("truncated compressed header")?;
            let stream = &raw[8..];
            inflated.clear();
            flate2::read::ZlibDecoder::new(stream.take(u64::from(declared)))
                .take(MAX_DECODED_HISTOGRAM_BYTES as u64 + 1)
                .read_to_end(inflated)
                .map_err(|e| format!("the compressed histogram does not inflate: {e}"))?;
            if inflated.len() > MAX_DECODED_HISTOGRAM_BYTES {
                return Err(format!(
                    "the histogram inflates to more than {MAX_DECODED_HISTOGRAM_BYTES} bytes"
                ));
            }
            inflated
        }
        Some(V2_COOKIE) => raw,
        _ => return Err("not an HdrHistogram V2 encoding (unknown cookie)".to_owned()),
    };
    if be32(v2, 0) != Some(V2_COOKIE) {
        return Err("not an HdrHistogram V2 encoding (unknown inner cookie)".to_owned());
    }
    let declared = be32(v2, 4).ok_or("truncated V2 header")? as usize;
    let present = v2.len().saturating_sub(V2_HEADER_BYTES);
    if v2.len() < V2_HEADER_BYTES || declared > present {
        return Err(format!(
            "the histogram declares {declared} bytes of counts but holds {present}"
        ));
    }
    deserializer
        .deserialize(&mut &v2[..V2_HEADER_BYTES + declared])
        .map_err(|e| format!("{e:?}"))
}

/// The tag of a series: `name`, or `name{k=v;k=v}` with reserved characters
/// percent-encoded (see the module docs).
pub fn encode_tag(key: &MetricKey, out: &mut String) {
    out.push_str(key.name());
    if key.labels().is_empty() {
        return;
    }
    out.push('{');
    for (i, (k, v)) in key.labels().iter().enumerate() {
        if i > 0 {
            out.push(';');
        }
        out.push_str(k);
        out.push('=');
        for c in v.chars() {
            if matches!(c, '%' | ',' | ';' | '=' | '{' | '}' | ' ' | '\r' | '\n') {
                out.push_str(&format!("%{:02X}", c as u32));
            } else {
                out.push(c);
            }
        }
    }
    out.push('}');
}

/// The series key of a tag written by [`encode_tag`]; `None` if it is not one.
pub fn decode_tag(tag: &str) -> Option<MetricKey> {
    let Some((name, rest)) = tag.split_once('{') else {
        return MetricKey::new(tag, &[]).ok();
    };
    let body = rest.strip_suffix('}')?;
    let mut pairs = Vec::new();
    for pair in body.split(';') {
        let (k, v) = pair.split_once('=')?;
        pairs.push((k.to_owned(), percent_decode(v)?));
    }
    let refs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    MetricKey::new(name, &refs).ok()
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn fp_seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Divides recorded values into milliseconds for `Interval_Max` (time units).
fn max_divisor(unit: Unit) -> f64 {
    match unit {
        Unit::Nanoseconds => 1e6,
        Unit::Microseconds => 1e3,
        Unit::Seconds => 1e-3,
        _ => 1.0,
    }
}

fn unit_word(unit: Unit) -> &'static str {
    match unit {
        Unit::Nanoseconds => "nanoseconds",
        Unit::Microseconds => "microseconds",
        Unit::Milliseconds => "milliseconds",
        Unit::Seconds => "seconds",
        Unit::Bytes => "bytes",
        _ => "recorded units",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_round_trip_any_label_value() {
        let key = MetricKey::new("lat", &[("op", "a,b c;d=e{f}%g\nh"), ("kind", "x")]).unwrap();
        let mut tag = String::new();
        encode_tag(&key, &mut tag);
        assert!(Tag::new(&tag).is_some(), "{tag}");
        assert_eq!(decode_tag(&tag), Some(key));
        assert_eq!(
            decode_tag("plain"),
            Some(MetricKey::new("plain", &[]).unwrap())
        );
        assert_eq!(decode_tag("x{op=%zz}"), None);
        assert_eq!(decode_tag("x{op}"), None);
    }
}
