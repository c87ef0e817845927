//! Interval logs written by HdrHistogram's own writer (the `hdrhistogram` crate's
//! `IntervalLogWriter` with its V2+deflate serializer, as `HistogramLogProcessor` and
//! jHiccup read them) and read back by `aureon_prometheus::hlog::read`.
//!
//! Oracle: no panic; the read succeeds; every interval comes back equal: the same tag, start
//! and length (to the writer's millisecond resolution), `Interval_Max` column, and a
//! histogram equal to the one written (bounds, precision, total, min and max to their bin,
//! and the count of every value).
#![no_main]

use hdrhistogram::Histogram;
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use std::time::Duration;

struct Written {
    histogram: Histogram<u64>,
    start_ms: u64,
    length_ms: u64,
    tag: Option<String>,
}

/// A random histogram configuration and contents; wide ranges at 4–5 significant figures are
/// capped so that one run stays in the milliseconds (the bounds are not what is under test).
fn histogram(u: &mut Unstructured) -> Result<Histogram<u64>> {
    let sigfig = u.int_in_range(0..=5u8)?;
    let low_bits = u.int_in_range(0..=20u32)?;
    let low = (1u64 << low_bits).max(1) + u.int_in_range(0..=3)?;
    let max_k = 63 - low.ilog2() - 1;
    let k = u.int_in_range(1..=if sigfig >= 4 { max_k.min(28) } else { max_k })?;
    let high = low.saturating_mul(1 << k).max(2 * low);
    let mut h = Histogram::new_with_bounds(low, high, sigfig).expect("valid bounds");
    for _ in 0..u.int_in_range(0..=64)? {
        let v = u.int_in_range(0..=high)?;
        let bits = u.int_in_range(0..=40)?;
        let n = u.int_in_range(1..=1u64 << bits)?;
        h.record_n(v, n).expect("within bounds");
    }
    Ok(h)
}

fn intervals(u: &mut Unstructured) -> Result<Vec<Written>> {
    let mut out = Vec::new();
    for _ in 0..u.int_in_range(0..=4)? {
        let tag: Option<String> = if u.arbitrary()? {
            let s: String = u.arbitrary()?;
            // Only what a tag may hold (no `,`, space, line break) and not empty.
            (!s.is_empty() && Tag::new(&s).is_some()).then_some(s)
        } else {
            None
        };
        out.push(Written {
            histogram: histogram(u)?,
            start_ms: u.int_in_range(0..=u64::from(u32::MAX))?,
            length_ms: u.int_in_range(0..=u64::from(u32::MAX))?,
            tag,
        });
    }
    Ok(out)
}

fuzz_target!(|data: &[u8]| {
    let Ok(written) = intervals(&mut Unstructured::new(data)) else {
        return;
    };
    let mut log = Vec::new();
    {
        let mut serializer = V2DeflateSerializer::new();
        let mut writer = IntervalLogWriterBuilder::new()
            .with_base_time(std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000))
            .begin_log_with(&mut log, &mut serializer)
            .expect("writing to memory");
        for w in &written {
            writer
                .write_histogram(
                    &w.histogram,
                    Duration::from_millis(w.start_ms),
                    Duration::from_millis(w.length_ms),
                    w.tag.as_deref().and_then(Tag::new),
                )
                .expect("writing to memory");
        }
    }
    let read = aureon_prometheus::hlog::read(&log).expect("a log HdrHistogram wrote reads back");
    assert_eq!(read.intervals.len(), written.len());
    for (r, w) in read.intervals.iter().zip(&written) {
        assert_eq!(r.tag, w.tag);
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        assert!((ms(r.start) - w.start_ms as f64).abs() < 0.5, "start");
        assert!((ms(r.length) - w.length_ms as f64).abs() < 0.5, "length");
        let max = w.histogram.max() as f64;
        assert!((r.max - max).abs() <= 0.0005 + max * 1e-15, "Interval_Max");
        let (a, b) = (&r.histogram, &w.histogram);
        assert_eq!(
            (a.low(), a.high(), a.sigfig(), a.len()),
            (b.low(), b.high(), b.sigfig(), b.len())
        );
        // The encoding carries counts per bin, not the exact extremes: min and max come
        // back as their bin (hdrhistogram itself reports a max of 0 as 0 before and as the
        // top of bin 0 after its own round trip).
        if !b.is_empty() {
            assert_eq!(
                a.lowest_equivalent(a.min()),
                b.lowest_equivalent(b.min()),
                "min"
            );
            assert_eq!(
                a.highest_equivalent(a.max()),
                b.highest_equivalent(b.max()),
                "max"
            );
        }
        let counts = |h: &Histogram<u64>| -> Vec<(u64, u64)> {
            h.iter_recorded()
                .map(|v| (v.value_iterated_to(), v.count_at_value()))
                .collect()
        };
        assert_eq!(counts(a), counts(b));
    }
});
