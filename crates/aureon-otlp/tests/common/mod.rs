//! Shared helpers of the OTLP tests: a deterministic value generator, decoding with the
//! official generated types (`opentelemetry-proto`), and an independent reference for the
//! exponential buckets (HDR bins from the `hdrhistogram` crate, bucket indices from the
//! natural logarithm as the OpenTelemetry SDKs' "logarithm mapping" computes them).

#![allow(dead_code)]

use aureon_telemetry::HistogramConfig;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{ExponentialHistogramDataPoint, Metric};
use prost::Message;
use std::collections::BTreeMap;
use std::io::Read;

/// A small deterministic generator (SplitMix64).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A log-uniform integer in [low, high].
    pub fn log_uniform(&mut self, low: u64, high: u64) -> u64 {
        let (l, h) = ((low as f64).ln(), (high as f64).ln());
        ((l + (h - l) * self.unit()).exp().round() as u64).clamp(low, high)
    }
}

/// Decodes a request body (gunzipping it first when `gzip`) with the official types.
pub fn decode(body: &[u8], gzip: bool) -> ExportMetricsServiceRequest {
    let plain = if gzip {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(body)
            .read_to_end(&mut out)
            .expect("a gzip body");
        out
    } else {
        body.to_vec()
    };
    ExportMetricsServiceRequest::decode(plain.as_slice()).expect("an ExportMetricsServiceRequest")
}

/// Every metric of the (single) resource and scope, by name.
pub fn metrics(request: &ExportMetricsServiceRequest) -> BTreeMap<String, Metric> {
    assert_eq!(request.resource_metrics.len(), 1);
    let rm = &request.resource_metrics[0];
    assert_eq!(rm.scope_metrics.len(), 1);
    rm.scope_metrics[0]
        .metrics
        .iter()
        .map(|m| (m.name.clone(), m.clone()))
        .collect()
}

/// Attributes as `(key, string value)` pairs, sorted.
pub fn attrs(kvs: &[KeyValue]) -> Vec<(String, String)> {
    let mut v: Vec<_> = kvs
        .iter()
        .map(|kv| {
            let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(any_value::Value::StringValue(s)) => s.clone(),
                other => panic!("attribute {} is not a string: {other:?}", kv.key),
            };
            (kv.key.clone(), value)
        })
        .collect();
    v.sort();
    v
}

/// The OpenTelemetry SDKs' logarithm mapping: bucket index of `v` at `scale`, with the
/// exact answer for powers of two (computed with `ln`, unlike the crate's `log2`).
pub fn reference_index(v: u64, scale: i32) -> i32 {
    assert!(v > 0);
    if v.is_power_of_two() {
        let e = v.trailing_zeros() as i64;
        // 2^e is the upper bound of its bucket: index ceil(e·2^scale) − 1.
        let scaled = if scale >= 0 {
            e << scale
        } else {
            // ceil(e / 2^-scale)
            (e + (1 << -scale) - 1) >> -scale
        };
        return (scaled - 1) as i32;
    }
    let factor = (scale as f64).exp2() / std::f64::consts::LN_2;
    ((v as f64).ln() * factor).ceil() as i32 - 1
}

/// The lower bound `2^(index · 2^-scale)` of a bucket.
pub fn lower(index: i32, scale: i32) -> f64 {
    (index as f64 * (-scale as f64).exp2()).exp2()
}

/// The reference HDR histogram for a configuration.
pub fn reference_hdr(config: &HistogramConfig) -> hdrhistogram::Histogram<u64> {
    hdrhistogram::Histogram::new_with_bounds(
        config.lowest_discernible,
        config.highest_trackable,
        config.significant_figures,
    )
    .unwrap()
}

/// The exponential buckets the documented rule gives `raw` at `scale`, computed
/// independently: each value's HDR bin from the `hdrhistogram` crate; bin `[lo, hi]` with
/// `lo == 0` counts as zero, else at `min(hi, max)`; values above the range at the exact
/// max. Returns (zero count, index → count).
pub fn reference_buckets(
    config: &HistogramConfig,
    raw: &[u64],
    scale: i32,
) -> (u64, BTreeMap<i32, u64>) {
    let hdr = reference_hdr(config);
    let max = raw.iter().copied().max().unwrap_or(0);
    let mut zero = 0;
    let mut buckets = BTreeMap::new();
    for &v in raw {
        let r = if v > config.highest_trackable {
            max
        } else if hdr.lowest_equivalent(v) == 0 {
            zero += 1;
            continue;
        } else {
            hdr.highest_equivalent(v).min(max)
        };
        *buckets.entry(reference_index(r, scale)).or_insert(0) += 1;
    }
    (zero, buckets)
}

/// A data point's positive buckets as index → count (zero counts left out).
pub fn exported_buckets(p: &ExponentialHistogramDataPoint) -> BTreeMap<i32, u64> {
    let pos = p.positive.as_ref().expect("positive buckets");
    pos.bucket_counts
        .iter()
        .enumerate()
        .filter(|&(_, &c)| c > 0)
        .map(|(i, &c)| (pos.offset + i as i32, c))
        .collect()
}

/// `ε(m, d) = 2^(2^-m) · (1 + 2^-h) − 1` with `h = ceil(log2(2·10^d)) − 1`, as
/// `docs/otlp.md` states it (recomputed here rather than taken from the crate).
pub fn documented_bound(config: &HistogramConfig, scale: i32) -> f64 {
    let h = (2.0 * 10f64.powi(config.significant_figures as i32))
        .log2()
        .ceil()
        - 1.0;
    (-scale as f64).exp2().exp2() * (1.0 + (-h).exp2()) - 1.0
}

/// The finest scale the documentation promises: `h` (one bucket per HDR bin per octave).
pub fn documented_finest_scale(config: &HistogramConfig) -> i32 {
    (2.0 * 10f64.powi(config.significant_figures as i32))
        .log2()
        .ceil() as i32
        - 1
}
