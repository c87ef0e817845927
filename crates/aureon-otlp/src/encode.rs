//! Published snapshots to `ExportMetricsServiceRequest`s: counters as monotonic Sums,
//! gauges as Gauges, histograms as exponential histograms (see [`crate::scale`]).
//!
//! The encoder only reads [`Snapshot`]s that a snapshotter already published; it never
//! touches recorders, and it merges nothing (a delta is the difference of two snapshots).

use crate::config::{OtlpConfig, Temporality};
use crate::proto::{self, KeyValue, metric::Data};
use crate::request::EncodedRequest;
use crate::scale::{bucket_index, choose_scale, finest_scale};
use aureon_telemetry::{HistogramSnapshot, Labels, MetricValue, Snapshot, Unit};
use std::fmt;
use std::num::NonZeroU64;
use std::time::SystemTime;

/// Turns snapshots into OTLP requests for one configuration and start time.
///
/// ```
/// use aureon_otlp::{Encoder, OtlpConfig};
/// use aureon_telemetry::Registry;
/// use std::time::SystemTime;
///
/// let registry = Registry::new();
/// let encoder = Encoder::new(OtlpConfig::builder("node").build()?, SystemTime::now());
/// registry.histogram("block_processing").record(61);
/// let request = encoder.encode(&registry.snapshot(), None)?;
/// assert_eq!(request.data_points(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Encoder {
    config: OtlpConfig,
    start_time: SystemTime,
}

impl Encoder {
    /// An encoder whose cumulative series start at `start_time` (the process' or the
    /// registry's start: every series was zero then, created or not). It is also the start
    /// of the first delta.
    pub fn new(config: OtlpConfig, start_time: SystemTime) -> Self {
        Self { config, start_time }
    }

    /// The configuration.
    pub fn config(&self) -> &OtlpConfig {
        &self.config
    }

    /// The start time of cumulative series.
    pub fn start_time(&self) -> SystemTime {
        self.start_time
    }

    /// The request for `snapshot`. With [`Temporality::Delta`], `previous` is the snapshot
    /// the last export sent (`None` for the first: the delta then runs from the start
    /// time); cumulative exports ignore it.
    pub fn request(
        &self,
        snapshot: &Snapshot,
        previous: Option<&Snapshot>,
    ) -> Result<proto::ExportMetricsServiceRequest, EncodeError> {
        Ok(self.build(snapshot, previous)?.0)
    }

    /// The request for `snapshot` (see [`Encoder::request`]) as protobuf bytes, gzipped
    /// when configured, with its HTTP metadata.
    pub fn encode(
        &self,
        snapshot: &Snapshot,
        previous: Option<&Snapshot>,
    ) -> Result<EncodedRequest, EncodeError> {
        let (request, data_points) = self.build(snapshot, previous)?;
        EncodedRequest::new(&request, data_points, self.config.gzip).map_err(EncodeError::Gzip)
    }

    fn build(
        &self,
        snapshot: &Snapshot,
        previous: Option<&Snapshot>,
    ) -> Result<(proto::ExportMetricsServiceRequest, u64), EncodeError> {
        let delta = self.config.temporality == Temporality::Delta;
        let previous = if delta { previous } else { None };
        if let Some(p) = previous
            && p.sequence() >= snapshot.sequence()
        {
            return Err(EncodeError::PreviousNotEarlier {
                previous: p.sequence(),
                current: snapshot.sequence(),
            });
        }
        let time = unix_nanos(snapshot.system_time())?;
        let start = unix_nanos(previous.map_or(self.start_time, Snapshot::system_time))?;
        let temporality = if delta {
            proto::AggregationTemporality::Delta
        } else {
            proto::AggregationTemporality::Cumulative
        } as i32;
        let ctx = PointContext {
            start,
            time,
            exemplar_attribute: &self.config.exemplar_attribute,
            max_scale: self.config.max_scale.unwrap_or(i32::MAX),
            max_buckets: self.config.max_buckets,
        };

        let mut metrics: Vec<proto::Metric> = Vec::new();
        let mut data_points = 0u64;
        for (key, value) in snapshot.iter() {
            let attributes = attributes(key.labels());
            let before = previous.and_then(|p| {
                let labels: Vec<(&str, &str)> = key.labels().iter().collect();
                p.get(key.name(), &labels)
            });
            let data = match value {
                MetricValue::Counter(total) => {
                    let v = match before {
                        // A counter below its previous value restarted: all of it is new.
                        Some(MetricValue::Counter(p)) if p <= total => total - p,
                        _ => *total,
                    };
                    Data::Sum(proto::Sum {
                        data_points: vec![ctx.number(attributes, counter_value(v))],
                        aggregation_temporality: temporality,
                        is_monotonic: true,
                    })
                }
                MetricValue::Gauge(g) => Data::Gauge(proto::Gauge {
                    data_points: vec![
                        ctx.number(attributes, proto::number_data_point::Value::AsDouble(*g)),
                    ],
                }),
                MetricValue::Histogram(h) => {
                    let point = match before {
                        Some(MetricValue::Histogram(p)) if !p.is_empty() => {
                            // Min and max of an interval are not known exactly: omitted.
                            ctx.histogram(attributes, &h.delta_since(p), false)
                        }
                        _ => ctx.histogram(attributes, h, true),
                    };
                    Data::ExponentialHistogram(proto::ExponentialHistogram {
                        data_points: vec![point],
                        aggregation_temporality: temporality,
                    })
                }
            };
            data_points += 1;
            push_point(&mut metrics, snapshot, key.name(), value, data);
        }

        let mut resource = vec![KeyValue::string("service.name", &self.config.service_name)];
        resource.extend(
            self.config
                .resource_attributes
                .iter()
                .map(|(k, v)| KeyValue::string(k, v)),
        );
        let request = proto::ExportMetricsServiceRequest {
            resource_metrics: vec![proto::ResourceMetrics {
                resource: Some(proto::Resource {
                    attributes: resource,
                    dropped_attributes_count: 0,
                }),
                scope_metrics: vec![proto::ScopeMetrics {
                    scope: Some(proto::InstrumentationScope {
                        name: self.config.scope_name.clone(),
                        version: self.config.scope_version.clone(),
                        attributes: Vec::new(),
                        dropped_attributes_count: 0,
                    }),
                    metrics,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        };
        Ok((request, data_points))
    }
}

/// Appends `data` to the last metric when it is the same family, else starts a metric.
fn push_point(
    metrics: &mut Vec<proto::Metric>,
    snapshot: &Snapshot,
    name: &str,
    value: &MetricValue,
    data: Data,
) {
    if let Some(last) = metrics.last_mut()
        && last.name == name
    {
        match (&mut last.data, data) {
            (Some(Data::Sum(a)), Data::Sum(b)) => return a.data_points.extend(b.data_points),
            (Some(Data::Gauge(a)), Data::Gauge(b)) => return a.data_points.extend(b.data_points),
            (Some(Data::ExponentialHistogram(a)), Data::ExponentialHistogram(b)) => {
                return a.data_points.extend(b.data_points);
            }
            // A registry never gives one name two kinds; should it, each keeps its own metric.
            (_, data) => return metrics.push(new_metric(snapshot, name, value, data)),
        }
    }
    metrics.push(new_metric(snapshot, name, value, data));
}

fn new_metric(snapshot: &Snapshot, name: &str, value: &MetricValue, data: Data) -> proto::Metric {
    let unit = match value {
        MetricValue::Histogram(h) => ucum(h.config().unit),
        MetricValue::Counter(_) | MetricValue::Gauge(_) => "",
    };
    proto::Metric {
        name: name.to_owned(),
        description: snapshot.description(name).unwrap_or_default().to_owned(),
        unit: unit.to_owned(),
        data: Some(data),
    }
}

/// The UCUM code OTLP wants for a unit (values are sent in the recorded unit, unscaled, so
/// that sums, minima and maxima stay exact).
fn ucum(unit: Unit) -> &'static str {
    match unit {
        Unit::Nanoseconds => "ns",
        Unit::Microseconds => "us",
        Unit::Milliseconds => "ms",
        Unit::Seconds => "s",
        Unit::Bytes => "By",
        Unit::None => "1",
        _ => "",
    }
}

fn attributes(labels: &Labels) -> Vec<KeyValue> {
    labels.iter().map(|(k, v)| KeyValue::string(k, v)).collect()
}

/// A counter as `as_int` when it fits an `i64` (always, in practice), else `as_double`.
fn counter_value(v: u64) -> proto::number_data_point::Value {
    match i64::try_from(v) {
        Ok(i) => proto::number_data_point::Value::AsInt(i),
        Err(_) => proto::number_data_point::Value::AsDouble(v as f64),
    }
}

fn unix_nanos(t: SystemTime) -> Result<u64, EncodeError> {
    let d = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_err(|_| EncodeError::ClockBeforeEpoch)?;
    u64::try_from(d.as_nanos()).map_err(|_| EncodeError::ClockBeforeEpoch)
}

/// What every data point of one request shares.
struct PointContext<'a> {
    start: u64,
    time: u64,
    exemplar_attribute: &'a str,
    max_scale: i32,
    max_buckets: usize,
}

impl PointContext<'_> {
    fn number(
        &self,
        attributes: Vec<KeyValue>,
        value: proto::number_data_point::Value,
    ) -> proto::NumberDataPoint {
        proto::NumberDataPoint {
            attributes,
            start_time_unix_nano: self.start,
            time_unix_nano: self.time,
            exemplars: Vec::new(),
            flags: 0,
            value: Some(value),
        }
    }

    /// One exponential data point; `exact_extremes` says whether `h`'s min and max are the
    /// exact ones of its values (true for a whole histogram, false for a delta's).
    fn histogram(
        &self,
        attributes: Vec<KeyValue>,
        h: &HistogramSnapshot,
        exact_extremes: bool,
    ) -> proto::ExponentialHistogramDataPoint {
        let buckets = Bucketing::of(h, self.max_scale, self.max_buckets);
        let exemplars = h
            .exemplars()
            .iter()
            .map(|e| proto::Exemplar {
                filtered_attributes: vec![KeyValue::string(
                    self.exemplar_attribute,
                    &e.id.to_string(),
                )],
                time_unix_nano: self.time,
                span_id: Vec::new(),
                trace_id: Vec::new(),
                value: Some(proto::exemplar::Value::AsDouble(e.value as f64)),
            })
            .collect();
        let extremes = exact_extremes && !h.is_empty();
        proto::ExponentialHistogramDataPoint {
            attributes,
            start_time_unix_nano: self.start,
            time_unix_nano: self.time,
            count: h.count(),
            sum: Some(h.sum() as f64),
            scale: buckets.scale,
            zero_count: buckets.zero_count,
            positive: Some(proto::Buckets {
                offset: buckets.offset,
                bucket_counts: buckets.counts,
            }),
            negative: None,
            flags: 0,
            exemplars,
            min: extremes.then(|| h.min() as f64),
            max: extremes.then(|| h.max() as f64),
            zero_threshold: buckets.zero_threshold as f64,
        }
    }
}

/// The exponential buckets of one histogram snapshot (see [`crate::scale`] for the rule
/// and its error bound).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucketing {
    /// The scale chosen.
    pub scale: i32,
    /// Index of `counts[0]`.
    pub offset: i32,
    /// Counts of the buckets `offset ..`; they add up to the count minus `zero_count`.
    pub counts: Vec<u64>,
    /// Values HDR cannot tell from zero (its lowest bin).
    pub zero_count: u64,
    /// The highest value of HDR's lowest bin (`2^floor(log2(lowest_discernible)) − 1`).
    pub zero_threshold: u64,
}

impl Bucketing {
    /// Buckets `h` at the largest scale `<= min(max_scale, finest)` that fits `max_buckets`
    /// (at least 1).
    pub fn of(h: &HistogramSnapshot, max_scale: i32, max_buckets: usize) -> Self {
        let config = h.config();
        let zero_threshold = (1u64 << config.lowest_discernible.max(1).ilog2()) - 1;
        let top = config.highest_trackable;
        // (representative, count) of every bin above the zero bin, ascending. Clamped
        // values (above the range, counted in the top bin) go to the exact max instead.
        let mut points: Vec<(NonZeroU64, u64)> = Vec::new();
        let mut zero_count = 0;
        for bin in h.bins() {
            let mut count = bin.count;
            if bin.low <= top && top <= bin.high {
                count = count.saturating_sub(h.clamped());
            }
            match NonZeroU64::new(bin.low) {
                None => zero_count += count,
                Some(low) => {
                    let r = bin.high.min(h.max()).max(low.get());
                    points.push((NonZeroU64::new(r).unwrap_or(low), count));
                }
            }
        }
        if h.clamped() > 0 {
            match NonZeroU64::new(h.max()) {
                Some(max) => points.push((max, h.clamped())),
                None => zero_count += h.clamped(),
            }
        }
        points.retain(|&(_, c)| c > 0);
        let finest = finest_scale(config).min(max_scale);
        let scale = match (points.first(), points.last()) {
            (Some(&(low, _)), Some(&(high, _))) => {
                choose_scale(low, high, finest, max_buckets.max(1))
            }
            _ => finest,
        };
        let offset = points.first().map_or(0, |&(r, _)| bucket_index(r, scale));
        let mut counts = Vec::new();
        for (r, c) in points {
            let i = (bucket_index(r, scale) - offset) as usize;
            if counts.len() <= i {
                counts.resize(i + 1, 0);
            }
            counts[i] += c;
        }
        Self {
            scale,
            offset,
            counts,
            zero_count,
            zero_threshold,
        }
    }
}

/// Why a snapshot could not be encoded.
#[derive(Debug)]
#[non_exhaustive]
pub enum EncodeError {
    /// The "previous" snapshot of a delta is not older than the current one.
    PreviousNotEarlier {
        /// Its sequence number.
        previous: u64,
        /// The current snapshot's.
        current: u64,
    },
    /// The wall clock reads before 1970 (or after 2554): OTLP times cannot express it.
    ClockBeforeEpoch,
    /// Compressing the body failed.
    Gzip(std::io::Error),
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PreviousNotEarlier { previous, current } => write!(
                f,
                "the previous snapshot (#{previous}) of a delta export is not older than the \
                 current one (#{current})"
            ),
            Self::ClockBeforeEpoch => {
                f.write_str("the wall clock is outside what OTLP timestamps can express")
            }
            Self::Gzip(e) => write!(f, "gzip of the OTLP request failed: {e}"),
        }
    }
}

impl std::error::Error for EncodeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Gzip(e) => Some(e),
            _ => None,
        }
    }
}
