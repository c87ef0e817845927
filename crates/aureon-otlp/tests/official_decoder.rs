//! Request bodies decoded with the official generated OTLP types (`opentelemetry-proto`),
//! every value checked against the raw values recorded: counts, sums, minima and maxima
//! exactly; bucket counts against an independent bucketing of the raw values at the
//! exported scale; the documented error bound against the sorted raw arrays (bucket by
//! bucket and for quantiles); exemplars against the slowest recorded values.

mod common;

use aureon_otlp::{Encoder, OtlpConfig, Temporality, scale};
use aureon_telemetry::{HistogramConfig, Registry, Snapshot, Unit};
use common::*;
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, ExponentialHistogramDataPoint, exemplar, metric::Data,
    number_data_point,
};
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// One histogram of the test registry: its name, configuration and raw values.
struct Case {
    name: &'static str,
    config: HistogramConfig,
    raw: Vec<u64>,
}

fn cases() -> Vec<Case> {
    let mut rng = Rng(42);
    let default = HistogramConfig::default();
    let mut cases = vec![
        // Latencies over 6 decades: the 160-bucket budget forces a coarse scale.
        Case {
            name: "wide_latency",
            config: default,
            raw: (0..20_000).map(|_| rng.log_uniform(1, 2_000_000)).collect(),
        },
        // Narrow enough for the finest scale (one bucket per HDR bin per octave).
        Case {
            name: "narrow_latency",
            config: default,
            raw: (0..5_000)
                .map(|_| rng.log_uniform(100_000, 100_090))
                .collect(),
        },
        // Width-1 HDR bins only (values below 2048 are exact at 3 figures).
        Case {
            name: "small_exact",
            config: default,
            raw: (0..5_000).map(|_| rng.log_uniform(1, 40)).collect(),
        },
        // Two significant figures, values spanning 4 octaves.
        Case {
            name: "two_figures",
            config: HistogramConfig {
                significant_figures: 2,
                ..default
            },
            raw: (0..5_000).map(|_| rng.log_uniform(5_000, 80_000)).collect(),
        },
        // lowest_discernible 1000: values below 512 are HDR's zero bin.
        Case {
            name: "coarse_floor",
            config: HistogramConfig {
                lowest_discernible: 1000,
                highest_trackable: 1 << 40,
                significant_figures: 3,
                unit: Unit::Nanoseconds,
            },
            raw: (0..5_000)
                .map(|_| rng.log_uniform(1, 50_000_000))
                .chain([0, 0, 511])
                .collect(),
        },
        // Values above the trackable range (clamped by HDR).
        Case {
            name: "clamped",
            config: HistogramConfig {
                highest_trackable: 10_000,
                unit: Unit::Bytes,
                ..default
            },
            raw: (0..3_000)
                .map(|_| rng.log_uniform(100, 9_000))
                .chain([12_345, 50_000, 10_001])
                .collect(),
        },
    ];
    cases.push(Case {
        name: "with_zeros",
        config: default,
        raw: (0..2_000)
            .map(|i| {
                if i % 10 == 0 {
                    0
                } else {
                    rng.log_uniform(1, 5_000)
                }
            })
            .collect(),
    });
    cases
}

fn record(registry: &Registry, cases: &[Case]) {
    for case in cases {
        let h = registry
            .try_histogram_with_config(case.name, &[("op", "test")], case.config)
            .unwrap();
        for (id, &v) in case.raw.iter().enumerate() {
            h.record_with_exemplar(v, 1_000_000 + id as u64);
        }
    }
}

fn histogram_point<'a>(
    metrics: &'a BTreeMap<String, opentelemetry_proto::tonic::metrics::v1::Metric>,
    name: &str,
) -> &'a ExponentialHistogramDataPoint {
    match &metrics[name].data {
        Some(Data::ExponentialHistogram(h)) => {
            assert_eq!(h.data_points.len(), 1);
            &h.data_points[0]
        }
        other => panic!("{name} is not an exponential histogram: {other:?}"),
    }
}

fn nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64
}

/// Checks one exported point against the raw values it was recorded from.
fn check_histogram(case: &Case, p: &ExponentialHistogramDataPoint, max_buckets: usize) {
    let name = case.name;
    let raw = &case.raw;
    assert_eq!(p.count, raw.len() as u64, "{name}: count");
    let sum: u64 = raw.iter().sum();
    assert_eq!(p.sum, Some(sum as f64), "{name}: sum");
    assert_eq!(
        p.min,
        Some(*raw.iter().min().unwrap() as f64),
        "{name}: min"
    );
    assert_eq!(
        p.max,
        Some(*raw.iter().max().unwrap() as f64),
        "{name}: max"
    );
    let buckets = exported_buckets(p);
    let total: u64 = buckets.values().sum::<u64>() + p.zero_count;
    assert_eq!(total, p.count, "{name}: buckets + zero_count = count");
    assert!(
        p.negative
            .as_ref()
            .is_none_or(|n| n.bucket_counts.is_empty())
    );

    // The bucket counts are the documented rule applied to the raw values.
    let (zero, reference) = reference_buckets(&case.config, raw, p.scale);
    assert_eq!(p.zero_count, zero, "{name}: zero count");
    assert_eq!(buckets, reference, "{name}: buckets at scale {}", p.scale);
    let hdr = reference_hdr(&case.config);
    assert_eq!(p.zero_threshold, hdr.highest_equivalent(0) as f64, "{name}");

    // The scale is the largest the bucket budget allows, never finer than HDR's bins.
    let finest = documented_finest_scale(&case.config);
    assert!(
        p.scale <= finest,
        "{name}: scale {} finer than {finest}",
        p.scale
    );
    let pos = p.positive.as_ref().unwrap();
    assert!(
        pos.bucket_counts.len() <= max_buckets,
        "{name}: too many buckets"
    );
    if p.scale < finest {
        let (_, finer) = reference_buckets(&case.config, raw, p.scale + 1);
        let span = finer.keys().next_back().unwrap() - finer.keys().next().unwrap() + 1;
        assert!(
            span as usize > max_buckets,
            "{name}: scale {} is not the largest",
            p.scale
        );
    }

    // The documented bound, bucket by bucket, without the rule: for the exported buckets'
    // cumulative counts C(i) (zero bucket included), every raw value below U(i)/γ must be
    // counted at or below bucket i, and every value counted there must be at most γ·L(i).
    let eps = documented_bound(&case.config, p.scale);
    assert!((scale::error_bound(&case.config, p.scale) - eps).abs() < 1e-12);
    let gamma = 1.0 + eps;
    let slack = 1e-9; // f64 bounds of the buckets themselves
    let mut sorted = raw.clone();
    sorted.sort_unstable();
    // The bound holds for values at or above lowest_discernible's power of two times 2^h
    // and below the trackable range (see docs/otlp.md); others are checked separately.
    // (With lowest_discernible = 1 the bins below 2^h are one value wide: all covered.)
    let unit_magnitude = case.config.lowest_discernible.ilog2();
    let floor = (1u64 << unit_magnitude) << finest;
    let covered =
        |v: u64| (unit_magnitude == 0 || v >= floor) && v <= case.config.highest_trackable;
    let mut cumulative = p.zero_count;
    for (&i, &c) in &buckets {
        cumulative += c;
        let (l, u) = (lower(i, p.scale), lower(i + 1, p.scale));
        let must_be_below = sorted.partition_point(|&v| (v as f64) < u / gamma * (1.0 - slack));
        let may_be_below = sorted.partition_point(|&v| (v as f64) <= l * gamma * (1.0 + slack));
        let outside = sorted.iter().filter(|&&v| !covered(v)).count();
        assert!(
            cumulative + outside as u64 >= must_be_below as u64,
            "{name}: bucket {i} ({l}, {u}]: {cumulative} counted at or below, but \
             {must_be_below} raw values are below U/γ"
        );
        assert!(
            cumulative <= may_be_below as u64 + outside as u64,
            "{name}: bucket {i} ({l}, {u}]: {cumulative} counted at or below, but only \
             {may_be_below} raw values are at most γ·L"
        );
    }

    // Quantiles read from the buckets (either bound) are within the bound of the raw
    // nearest-rank quantile, for ranks on covered values.
    for q in [
        0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1.0,
    ] {
        let rank = ((q * sorted.len() as f64).ceil() as u64).max(1);
        let truth = sorted[rank as usize - 1];
        if !covered(truth) || rank <= p.zero_count {
            continue;
        }
        let mut seen = p.zero_count;
        let (&i, _) = buckets
            .iter()
            .find(|&(_, &c)| {
                seen += c;
                seen >= rank
            })
            .unwrap();
        for estimate in [lower(i, p.scale), lower(i + 1, p.scale)] {
            let ratio = estimate / truth as f64;
            assert!(
                ratio <= gamma * (1.0 + slack) && ratio >= 1.0 / gamma * (1.0 - slack),
                "{name}: q{q} estimate {estimate} vs raw {truth}: ratio {ratio}, bound {gamma}"
            );
        }
    }
    // Values below the covered floor (coarse HDR bins) still lie within their own HDR bin's
    // ratio times the bucket ratio.
    for &v in raw
        .iter()
        .filter(|&&v| v > 0 && !covered(v) && v <= case.config.highest_trackable)
    {
        let lo = hdr.lowest_equivalent(v);
        if lo == 0 {
            continue;
        }
        let hi = hdr.highest_equivalent(v);
        let r = hi.min(*sorted.last().unwrap());
        let i = reference_index(r, p.scale);
        let g = scale::bucket_ratio(p.scale) * hi as f64 / lo as f64;
        let (l, u) = (lower(i, p.scale), lower(i + 1, p.scale));
        assert!(
            u <= v as f64 * g * (1.0 + slack) && l >= v as f64 / g * (1.0 - slack),
            "{name}: {v}"
        );
    }

    // Exemplars: the four slowest values (ties keep the earliest), each with the id it was
    // recorded with.
    let mut slowest: Vec<u64> = raw.clone();
    slowest.sort_unstable_by(|a, b| b.cmp(a));
    slowest.truncate(4);
    let mut got: Vec<u64> = p
        .exemplars
        .iter()
        .map(|e| {
            let v = match e.value {
                Some(exemplar::Value::AsDouble(v)) => v as u64,
                other => panic!("{name}: exemplar value {other:?}"),
            };
            let id = attrs(&e.filtered_attributes);
            assert_eq!(id.len(), 1);
            assert_eq!(id[0].0, "id");
            let id: usize = id[0].1.parse().unwrap();
            assert_eq!(
                raw[id - 1_000_000],
                v,
                "{name}: exemplar id {id} was recorded with another value"
            );
            v
        })
        .collect();
    got.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(got, slowest, "{name}: exemplars");
}

fn encoder(temporality: Temporality, gzip: bool, start: SystemTime) -> Encoder {
    let config = OtlpConfig::builder("aureon-test")
        .resource_attribute("service.instance.id", "node-7")
        .resource_attribute("deployment.environment", "test")
        .temporality(temporality)
        .gzip(gzip)
        .build()
        .unwrap();
    Encoder::new(config, start)
}

#[test]
fn cumulative_requests_carry_every_recorded_value() {
    let registry = Registry::new();
    let cases = cases();
    record(&registry, &cases);
    registry
        .describe("wide_latency", "Latency over many decades")
        .unwrap();
    registry
        .counter_with("blocks_total", &[("kind", "full")])
        .increment(41);
    registry
        .counter_with("blocks_total", &[("kind", "light")])
        .increment(7);
    registry.counter("big_total").increment(u64::MAX);
    registry.gauge("height").set(1234.5);
    let start = SystemTime::now() - Duration::from_secs(60);
    let snapshot = registry.snapshot();

    for gzip in [false, true] {
        let encoded = encoder(Temporality::Cumulative, gzip, start)
            .encode(&snapshot, None)
            .unwrap();
        assert_eq!(encoded.is_gzip(), gzip);
        let request = decode(encoded.body(), gzip);
        let rm = &request.resource_metrics[0];
        assert_eq!(
            attrs(&rm.resource.as_ref().unwrap().attributes),
            vec![
                ("deployment.environment".into(), "test".into()),
                ("service.instance.id".into(), "node-7".into()),
                ("service.name".into(), "aureon-test".into()),
            ]
        );
        let scope = rm.scope_metrics[0].scope.as_ref().unwrap();
        assert_eq!(scope.name, "aureon-telemetry");
        assert_eq!(scope.version, env!("CARGO_PKG_VERSION"));
        let metrics = metrics(&request);
        // Seven histograms, two counter families, one gauge.
        assert_eq!(metrics.len(), cases.len() + 3);
        assert_eq!(encoded.data_points(), cases.len() as u64 + 4);

        for case in &cases {
            let p = histogram_point(&metrics, case.name);
            check_histogram(case, p, 160);
            assert_eq!(attrs(&p.attributes), vec![("op".into(), "test".into())]);
            assert_eq!(p.start_time_unix_nano, nanos(start));
            assert_eq!(p.time_unix_nano, nanos(snapshot.system_time()));
            let Some(Data::ExponentialHistogram(h)) = &metrics[case.name].data else {
                unreachable!()
            };
            assert_eq!(
                h.aggregation_temporality,
                AggregationTemporality::Cumulative as i32
            );
        }
        assert_eq!(metrics["wide_latency"].unit, "us");
        assert_eq!(metrics["coarse_floor"].unit, "ns");
        assert_eq!(metrics["clamped"].unit, "By");
        assert_eq!(
            metrics["wide_latency"].description,
            "Latency over many decades"
        );

        let Some(Data::Sum(blocks)) = &metrics["blocks_total"].data else {
            panic!("blocks_total is not a Sum")
        };
        assert!(blocks.is_monotonic);
        assert_eq!(
            blocks.aggregation_temporality,
            AggregationTemporality::Cumulative as i32
        );
        let values: Vec<_> = blocks
            .data_points
            .iter()
            .map(|p| (attrs(&p.attributes), p.value, p.start_time_unix_nano))
            .collect();
        assert_eq!(
            values,
            vec![
                (
                    vec![("kind".into(), "full".into())],
                    Some(number_data_point::Value::AsInt(41)),
                    nanos(start)
                ),
                (
                    vec![("kind".into(), "light".into())],
                    Some(number_data_point::Value::AsInt(7)),
                    nanos(start)
                ),
            ]
        );
        let Some(Data::Sum(big)) = &metrics["big_total"].data else {
            panic!()
        };
        assert_eq!(
            big.data_points[0].value,
            Some(number_data_point::Value::AsDouble(u64::MAX as f64))
        );
        let Some(Data::Gauge(height)) = &metrics["height"].data else {
            panic!("height is not a Gauge")
        };
        assert_eq!(
            height.data_points[0].value,
            Some(number_data_point::Value::AsDouble(1234.5))
        );
    }
}

#[test]
fn a_small_bucket_budget_lowers_the_scale_and_the_bound_still_holds() {
    for max_buckets in [2usize, 10, 40, 1000, 40_000] {
        let registry = Registry::new();
        let cases = cases();
        record(&registry, &cases);
        let config = OtlpConfig::builder("budget")
            .max_buckets(max_buckets)
            .gzip(false)
            .build()
            .unwrap();
        let encoded = Encoder::new(config, UNIX_EPOCH)
            .encode(&registry.snapshot(), None)
            .unwrap();
        let metrics = metrics(&decode(encoded.body(), false));
        for case in &cases {
            check_histogram(case, histogram_point(&metrics, case.name), max_buckets);
        }
        if max_buckets == 40_000 {
            // Enough room (21 octaves × 1024): the finest scale, 0.165 % at 3 figures.
            assert_eq!(histogram_point(&metrics, "wide_latency").scale, 10);
        }
    }
}

#[test]
fn a_scale_cap_is_honoured() {
    let registry = Registry::new();
    let cases = cases();
    record(&registry, &cases);
    let config = OtlpConfig::builder("capped")
        .max_scale(2)
        .gzip(false)
        .build()
        .unwrap();
    let encoded = Encoder::new(config, UNIX_EPOCH)
        .encode(&registry.snapshot(), None)
        .unwrap();
    let metrics = metrics(&decode(encoded.body(), false));
    assert_eq!(histogram_point(&metrics, "narrow_latency").scale, 2);
    for case in &cases {
        let p = histogram_point(&metrics, case.name);
        assert!(p.scale <= 2);
        let (zero, reference) = reference_buckets(&case.config, &case.raw, p.scale);
        assert_eq!(
            (p.zero_count, exported_buckets(p)),
            (zero, reference),
            "{}",
            case.name
        );
    }
}

/// Records `first`, snapshots, records `second`, snapshots; returns both snapshots.
fn two_snapshots(registry: &Registry, first: &[u64], second: &[u64]) -> (Snapshot, Snapshot) {
    let h = registry.histogram("latency");
    let c = registry.counter("ops_total");
    for &v in first {
        h.record(v);
        c.increment(1);
    }
    let a = registry.snapshot();
    for &v in second {
        h.record(v);
        c.increment(1);
    }
    (a, registry.snapshot())
}

#[test]
fn delta_requests_carry_what_changed_between_snapshots() {
    let mut rng = Rng(7);
    let first: Vec<u64> = (0..3_000).map(|_| rng.log_uniform(10, 100_000)).collect();
    let second: Vec<u64> = (0..2_000).map(|_| rng.log_uniform(50, 900_000)).collect();
    let registry = Registry::new();
    let (a, b) = two_snapshots(&registry, &first, &second);
    let start = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let encoder = encoder(Temporality::Delta, true, start);

    // The first delta runs from the start and is the whole histogram (exact min and max).
    let m = metrics(&decode(encoder.encode(&a, None).unwrap().body(), true));
    let p = histogram_point(&m, "latency");
    let first_case = Case {
        name: "latency",
        config: HistogramConfig::default(),
        raw: first.clone(),
    };
    assert_eq!(p.start_time_unix_nano, nanos(start));
    assert_eq!(
        (p.count, p.min, p.max),
        (
            3_000,
            Some(*first.iter().min().unwrap() as f64),
            Some(*first.iter().max().unwrap() as f64)
        )
    );
    assert_eq!(
        exported_buckets(p),
        reference_buckets(&first_case.config, &first, p.scale).1
    );

    // The second: exactly the second batch, from the first snapshot's time; min and max of
    // an interval are not known exactly, so they are absent.
    let m = metrics(&decode(encoder.encode(&b, Some(&a)).unwrap().body(), true));
    let Some(Data::ExponentialHistogram(h)) = &m["latency"].data else {
        panic!()
    };
    assert_eq!(
        h.aggregation_temporality,
        AggregationTemporality::Delta as i32
    );
    let p = &h.data_points[0];
    assert_eq!(p.start_time_unix_nano, nanos(a.system_time()));
    assert_eq!(p.time_unix_nano, nanos(b.system_time()));
    assert_eq!(p.count, second.len() as u64);
    assert_eq!(p.sum, Some(second.iter().sum::<u64>() as f64));
    assert_eq!((p.min, p.max), (None, None));
    // Bins hold the second batch only; the representative of the top bin is limited by the
    // cumulative max, which the second batch holds here.
    assert!(second.iter().max() > first.iter().max());
    let (zero, reference) = reference_buckets(&HistogramConfig::default(), &second, p.scale);
    assert_eq!((p.zero_count, exported_buckets(p)), (zero, reference));
    let Some(Data::Sum(ops)) = &m["ops_total"].data else {
        panic!()
    };
    assert_eq!(
        ops.aggregation_temporality,
        AggregationTemporality::Delta as i32
    );
    assert!(ops.is_monotonic);
    assert_eq!(
        ops.data_points[0].value,
        Some(number_data_point::Value::AsInt(second.len() as i64))
    );

    // Out of order is refused, not silently wrong; cumulative ignores `previous`.
    assert!(encoder.encode(&a, Some(&b)).is_err());
    let cumulative = self::encoder(Temporality::Cumulative, false, start);
    let m = metrics(&decode(
        cumulative.encode(&b, Some(&a)).unwrap().body(),
        false,
    ));
    assert_eq!(histogram_point(&m, "latency").count, 5_000);
}

#[test]
fn empty_registries_and_histograms_encode_validly() {
    let registry = Registry::new();
    let encoder = encoder(Temporality::Cumulative, false, UNIX_EPOCH);
    let request = decode(
        encoder.encode(&registry.snapshot(), None).unwrap().body(),
        false,
    );
    assert!(metrics(&request).is_empty());
    registry.histogram("idle");
    let m = metrics(&decode(
        encoder.encode(&registry.snapshot(), None).unwrap().body(),
        false,
    ));
    let p = histogram_point(&m, "idle");
    assert_eq!(
        (p.count, p.sum, p.min, p.max, p.zero_count),
        (0, Some(0.0), None, None, 0)
    );
    assert!(exported_buckets(p).is_empty());
    // Resource attribute values are plain strings.
    let rm = &request.resource_metrics[0];
    let kv = &rm.resource.as_ref().unwrap().attributes[0];
    assert!(matches!(
        kv.value.as_ref().unwrap().value,
        Some(any_value::Value::StringValue(_))
    ));
}

#[test]
fn extreme_values_encode_exactly_where_f64_can() {
    let registry = Registry::new();
    let config = HistogramConfig {
        highest_trackable: u64::MAX,
        ..HistogramConfig::default()
    };
    let h = registry
        .try_histogram_with_config("extreme", &[], config)
        .unwrap();
    let raw = [1u64, 1 << 40, u64::MAX / 2, u64::MAX - 1, u64::MAX];
    for v in raw {
        h.record(v);
    }
    let encoded = encoder(Temporality::Cumulative, true, UNIX_EPOCH)
        .encode(&registry.snapshot(), None)
        .unwrap();
    let metrics = metrics(&decode(encoded.body(), true));
    let p = histogram_point(&metrics, "extreme");
    assert_eq!(p.count, 5);
    assert_eq!((p.min, p.max), (Some(1.0), Some(u64::MAX as f64)));
    let sum: u128 = raw.iter().map(|&v| u128::from(v)).sum();
    assert_eq!(p.sum, Some(sum as f64));
    let (zero, reference) = reference_buckets(&config, &raw, p.scale);
    assert_eq!((p.zero_count, exported_buckets(p)), (zero, reference));
    assert!(p.positive.as_ref().unwrap().bucket_counts.len() <= 160);
}
