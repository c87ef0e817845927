//! The OTLP messages this crate sends and reads, as prost derives of the official
//! `opentelemetry-proto` definitions (v1.x: `collector/metrics/v1/metrics_service.proto`,
//! `metrics/v1/metrics.proto`, `common/v1/common.proto`, `resource/v1/resource.proto`) and
//! of `google/rpc/status.proto`.
//!
//! Only the messages and fields a metrics exporter needs are declared; field numbers and
//! wire types are the official ones (a test decodes our bytes with the official generated
//! types of the `opentelemetry-proto` crate). Fields we never set (histogram buckets with
//! explicit bounds, summaries, negative buckets' users, …) are still declared where they
//! share a message with fields we do set, so a decoded response keeps them.

/// `opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExportMetricsServiceRequest {
    /// One entry per resource (this crate sends one).
    #[prost(message, repeated, tag = "1")]
    pub resource_metrics: Vec<ResourceMetrics>,
}

/// `opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExportMetricsServiceResponse {
    /// Set when the server rejected part of the request.
    #[prost(message, optional, tag = "1")]
    pub partial_success: Option<ExportMetricsPartialSuccess>,
}

/// `opentelemetry.proto.collector.metrics.v1.ExportMetricsPartialSuccess`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExportMetricsPartialSuccess {
    /// Data points the server rejected.
    #[prost(int64, tag = "1")]
    pub rejected_data_points: i64,
    /// Why, or a warning.
    #[prost(string, tag = "2")]
    pub error_message: String,
}

/// `google.rpc.Status`: the body of an OTLP/HTTP error response (`details` not decoded).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Status {
    /// A `google.rpc.Code`.
    #[prost(int32, tag = "1")]
    pub code: i32,
    /// A developer-facing error message.
    #[prost(string, tag = "2")]
    pub message: String,
}

/// `opentelemetry.proto.metrics.v1.ResourceMetrics`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ResourceMetrics {
    /// The entity that produced the metrics.
    #[prost(message, optional, tag = "1")]
    pub resource: Option<Resource>,
    /// Metrics by instrumentation scope.
    #[prost(message, repeated, tag = "2")]
    pub scope_metrics: Vec<ScopeMetrics>,
    /// The semantic-conventions schema of the data (empty: none).
    #[prost(string, tag = "3")]
    pub schema_url: String,
}

/// `opentelemetry.proto.resource.v1.Resource`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Resource {
    /// Key/value attributes (for points: the labels).
    #[prost(message, repeated, tag = "1")]
    pub attributes: Vec<KeyValue>,
    /// Attributes dropped for limits (0 here).
    #[prost(uint32, tag = "2")]
    pub dropped_attributes_count: u32,
}

/// `opentelemetry.proto.metrics.v1.ScopeMetrics`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ScopeMetrics {
    /// The instrumentation scope.
    #[prost(message, optional, tag = "1")]
    pub scope: Option<InstrumentationScope>,
    /// The metrics of the scope.
    #[prost(message, repeated, tag = "2")]
    pub metrics: Vec<Metric>,
    /// The semantic-conventions schema of the data (empty: none).
    #[prost(string, tag = "3")]
    pub schema_url: String,
}

/// `opentelemetry.proto.common.v1.InstrumentationScope`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct InstrumentationScope {
    /// The name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// The version.
    #[prost(string, tag = "2")]
    pub version: String,
    /// Key/value attributes (for points: the labels).
    #[prost(message, repeated, tag = "3")]
    pub attributes: Vec<KeyValue>,
    /// Attributes dropped for limits (0 here).
    #[prost(uint32, tag = "4")]
    pub dropped_attributes_count: u32,
}

/// `opentelemetry.proto.common.v1.KeyValue`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct KeyValue {
    /// The attribute name.
    #[prost(string, tag = "1")]
    pub key: String,
    /// The value.
    #[prost(message, optional, tag = "2")]
    pub value: Option<AnyValue>,
}

impl KeyValue {
    /// A string-valued attribute.
    pub fn string(key: &str, value: &str) -> Self {
        Self {
            key: key.to_owned(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(value.to_owned())),
            }),
        }
    }
}

/// `opentelemetry.proto.common.v1.AnyValue` (scalar variants only: we send strings).
#[derive(Clone, PartialEq, prost::Message)]
pub struct AnyValue {
    /// The value.
    #[prost(oneof = "any_value::Value", tags = "1, 2, 3, 4, 7")]
    pub value: Option<any_value::Value>,
}

/// The variants of [`AnyValue`].
pub mod any_value {
    /// `AnyValue.value`.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Value {
        /// A string.
        #[prost(string, tag = "1")]
        StringValue(String),
        /// A boolean.
        #[prost(bool, tag = "2")]
        BoolValue(bool),
        /// A signed integer.
        #[prost(int64, tag = "3")]
        IntValue(i64),
        /// A double.
        #[prost(double, tag = "4")]
        DoubleValue(f64),
        /// Bytes.
        #[prost(bytes = "vec", tag = "7")]
        BytesValue(Vec<u8>),
    }
}

/// `opentelemetry.proto.metrics.v1.Metric`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Metric {
    /// The name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// The help text.
    #[prost(string, tag = "2")]
    pub description: String,
    /// The UCUM unit of the values.
    #[prost(string, tag = "3")]
    pub unit: String,
    /// The metric's kind and points.
    #[prost(oneof = "metric::Data", tags = "5, 7, 10")]
    pub data: Option<metric::Data>,
}

/// The variants of [`Metric`] this crate sends.
pub mod metric {
    /// `Metric.data` (gauge, sum, exponential histogram).
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Data {
        /// A gauge.
        #[prost(message, tag = "5")]
        Gauge(super::Gauge),
        /// A sum.
        #[prost(message, tag = "7")]
        Sum(super::Sum),
        /// An exponential histogram.
        #[prost(message, tag = "10")]
        ExponentialHistogram(super::ExponentialHistogram),
    }
}

/// `opentelemetry.proto.metrics.v1.AggregationTemporality`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum AggregationTemporality {
    /// Not set (invalid in a request).
    Unspecified = 0,
    /// Changes since the previous report.
    Delta = 1,
    /// Totals since the start time.
    Cumulative = 2,
}

/// `opentelemetry.proto.metrics.v1.Gauge`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Gauge {
    /// The points, one per attribute set.
    #[prost(message, repeated, tag = "1")]
    pub data_points: Vec<NumberDataPoint>,
}

/// `opentelemetry.proto.metrics.v1.Sum`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Sum {
    /// The points, one per attribute set.
    #[prost(message, repeated, tag = "1")]
    pub data_points: Vec<NumberDataPoint>,
    /// Delta or cumulative (an [`AggregationTemporality`]).
    #[prost(enumeration = "AggregationTemporality", tag = "2")]
    pub aggregation_temporality: i32,
    /// Whether the sum never decreases (counters).
    #[prost(bool, tag = "3")]
    pub is_monotonic: bool,
}

/// `opentelemetry.proto.metrics.v1.ExponentialHistogram`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExponentialHistogram {
    /// The points, one per attribute set.
    #[prost(message, repeated, tag = "1")]
    pub data_points: Vec<ExponentialHistogramDataPoint>,
    /// Delta or cumulative (an [`AggregationTemporality`]).
    #[prost(enumeration = "AggregationTemporality", tag = "2")]
    pub aggregation_temporality: i32,
}

/// `opentelemetry.proto.metrics.v1.NumberDataPoint`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct NumberDataPoint {
    /// Key/value attributes (for points: the labels).
    #[prost(message, repeated, tag = "7")]
    pub attributes: Vec<KeyValue>,
    /// Start of the aggregation interval, ns since the Unix epoch.
    #[prost(fixed64, tag = "2")]
    pub start_time_unix_nano: u64,
    /// When the point was taken, ns since the Unix epoch.
    #[prost(fixed64, tag = "3")]
    pub time_unix_nano: u64,
    /// Sample records of the interval.
    #[prost(message, repeated, tag = "5")]
    pub exemplars: Vec<Exemplar>,
    /// `DataPointFlags` (0 here).
    #[prost(uint32, tag = "8")]
    pub flags: u32,
    /// The value.
    #[prost(oneof = "number_data_point::Value", tags = "4, 6")]
    pub value: Option<number_data_point::Value>,
}

/// The variants of [`NumberDataPoint`].
pub mod number_data_point {
    /// `NumberDataPoint.value`.
    #[derive(Clone, Copy, PartialEq, prost::Oneof)]
    pub enum Value {
        /// A double.
        #[prost(double, tag = "4")]
        AsDouble(f64),
        /// A signed integer.
        #[prost(sfixed64, tag = "6")]
        AsInt(i64),
    }
}

/// `opentelemetry.proto.metrics.v1.ExponentialHistogramDataPoint`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExponentialHistogramDataPoint {
    /// Key/value attributes (for points: the labels).
    #[prost(message, repeated, tag = "1")]
    pub attributes: Vec<KeyValue>,
    /// Start of the aggregation interval, ns since the Unix epoch.
    #[prost(fixed64, tag = "2")]
    pub start_time_unix_nano: u64,
    /// When the point was taken, ns since the Unix epoch.
    #[prost(fixed64, tag = "3")]
    pub time_unix_nano: u64,
    /// Number of values.
    #[prost(fixed64, tag = "4")]
    pub count: u64,
    /// Sum of the values.
    #[prost(double, optional, tag = "5")]
    pub sum: Option<f64>,
    /// Resolution: base `2^(2^-scale)`.
    #[prost(sint32, tag = "6")]
    pub scale: i32,
    /// Values in the zero region `[-zero_threshold, zero_threshold]`.
    #[prost(fixed64, tag = "7")]
    pub zero_count: u64,
    /// Buckets of positive values.
    #[prost(message, optional, tag = "8")]
    pub positive: Option<Buckets>,
    /// Buckets of negative values (never set here).
    #[prost(message, optional, tag = "9")]
    pub negative: Option<Buckets>,
    /// `DataPointFlags` (0 here).
    #[prost(uint32, tag = "10")]
    pub flags: u32,
    /// Sample records of the interval.
    #[prost(message, repeated, tag = "11")]
    pub exemplars: Vec<Exemplar>,
    /// Smallest value of the interval.
    #[prost(double, optional, tag = "12")]
    pub min: Option<f64>,
    /// Largest value of the interval.
    #[prost(double, optional, tag = "13")]
    pub max: Option<f64>,
    /// Width of the zero region.
    #[prost(double, tag = "14")]
    pub zero_threshold: f64,
}

/// `opentelemetry.proto.metrics.v1.ExponentialHistogramDataPoint.Buckets`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Buckets {
    /// Bucket index of `bucket_counts[0]`.
    #[prost(sint32, tag = "1")]
    pub offset: i32,
    /// Counts of the buckets `offset ..`.
    #[prost(uint64, repeated, tag = "2")]
    pub bucket_counts: Vec<u64>,
}

/// `opentelemetry.proto.metrics.v1.Exemplar`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Exemplar {
    /// Attributes of the record not already on the point (here: its id).
    #[prost(message, repeated, tag = "7")]
    pub filtered_attributes: Vec<KeyValue>,
    /// When the point was taken, ns since the Unix epoch.
    #[prost(fixed64, tag = "2")]
    pub time_unix_nano: u64,
    /// The span of the record (empty here).
    #[prost(bytes = "vec", tag = "4")]
    pub span_id: Vec<u8>,
    /// The trace of the record (empty here).
    #[prost(bytes = "vec", tag = "5")]
    pub trace_id: Vec<u8>,
    /// The value.
    #[prost(oneof = "exemplar::Value", tags = "3, 6")]
    pub value: Option<exemplar::Value>,
}

/// The variants of [`Exemplar`].
pub mod exemplar {
    /// `Exemplar.value`.
    #[derive(Clone, Copy, PartialEq, prost::Oneof)]
    pub enum Value {
        /// A double.
        #[prost(double, tag = "3")]
        AsDouble(f64),
        /// A signed integer.
        #[prost(sfixed64, tag = "6")]
        AsInt(i64),
    }
}
