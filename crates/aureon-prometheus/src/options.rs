//! What an exposition contains and how it is named: [`ExportOptions`] and its builder.
//!
//! Options are validated once, when built, so that rendering never has to fail: every check
//! that can be made without a snapshot (quantiles in range, bucket bounds sorted and finite,
//! names and labels valid) is made here and reported as an [`OptionsError`].

use aureon_telemetry::{Unit, is_valid_label_name, is_valid_metric_name};
use std::collections::BTreeMap;
use std::fmt;

/// Summary quantiles exported unless configured otherwise.
pub const DEFAULT_QUANTILES: [f64; 5] = [0.5, 0.9, 0.95, 0.99, 0.999];

/// Classic `le` bounds (seconds) for time histograms: 100 µs to 10 s, roughly 1-2.5-5 steps.
pub const DEFAULT_TIME_BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Classic `le` bounds (bytes) for size histograms: 64 B to 64 MiB in powers of 4.
pub const DEFAULT_SIZE_BUCKETS: [f64; 11] = [
    64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0, 16777216.0,
    67108864.0,
];

/// Classic `le` bounds for histograms of plain counts: 1 to 1 000 000 in 1-2-5 steps.
pub const DEFAULT_COUNT_BUCKETS: [f64; 19] = [
    1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5,
    5e5, 1e6,
];

/// The native-histogram schema used unless configured otherwise: bucket boundaries grow by
/// a factor of 2^(1/8) ≈ 1.0905, as with client_golang's default bucket factor of 1.1.
pub const DEFAULT_NATIVE_SCHEMA: i8 = 3;

/// The most populated native buckets per histogram unless configured otherwise; above it the
/// schema is lowered (buckets merged in pairs) until the histogram fits.
pub const DEFAULT_NATIVE_MAX_BUCKETS: usize = 160;

/// How a histogram of the snapshot is exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum HistogramMode {
    /// A summary: `quantile` series from the HDR data, `_sum` and `_count`, under the base
    /// name (e.g. `op_latency_seconds{quantile="0.99"}`). Quantiles cannot be aggregated
    /// across instances.
    #[default]
    Summary,
    /// A histogram under the base name: classic cumulative `_bucket{le}` series in the text
    /// formats; native (sparse exponential) buckets plus the classic ones in protobuf.
    /// Aggregatable across instances.
    Histogram,
    /// Both: the histogram under the base name, and the summary under the base name with
    /// `_quantiles` inserted before the unit (`op_latency_quantiles_seconds{quantile=…}`),
    /// because the two cannot share `_sum` and `_count` series.
    Both,
}

impl HistogramMode {
    /// Whether a summary family is emitted.
    pub fn has_summary(self) -> bool {
        matches!(self, HistogramMode::Summary | HistogramMode::Both)
    }

    /// Whether a histogram family is emitted.
    pub fn has_histogram(self) -> bool {
        matches!(self, HistogramMode::Histogram | HistogramMode::Both)
    }
}

/// Why a set of export options was refused.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum OptionsError {
    /// A quantile was NaN or outside `0.0 ..= 1.0`.
    InvalidQuantile(f64),
    /// Classic bucket bounds must be finite, positive and strictly increasing (`+Inf` is
    /// always added).
    InvalidBuckets {
        /// The metric they were given for (`None`: the default set).
        metric: Option<String>,
        /// What is wrong with them.
        reason: &'static str,
    },
    /// The native schema must be within `-4 ..= 8`.
    InvalidSchema(i8),
    /// The native bucket limit must be at least 1.
    InvalidMaxBuckets,
    /// A namespace or internal-metrics prefix is not a valid metric name.
    InvalidName(String),
    /// A constant or exemplar label name is invalid, reserved (`le`, `quantile`, `__…`) or
    /// given twice.
    InvalidLabelName(String),
}

impl fmt::Display for OptionsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptionsError::InvalidQuantile(q) => {
                write!(f, "invalid quantile {q}: must be within 0.0 ..= 1.0")
            }
            OptionsError::InvalidBuckets {
                metric: Some(m),
                reason,
            } => {
                write!(f, "invalid classic buckets for {m:?}: {reason}")
            }
            OptionsError::InvalidBuckets {
                metric: None,
                reason,
            } => {
                write!(f, "invalid default classic buckets: {reason}")
            }
            OptionsError::InvalidSchema(s) => {
                write!(
                    f,
                    "invalid native histogram schema {s}: must be within -4 ..= 8"
                )
            }
            OptionsError::InvalidMaxBuckets => {
                f.write_str("the native histogram bucket limit must be at least 1")
            }
            OptionsError::InvalidName(n) => write!(
                f,
                "invalid metric name prefix {n:?}: must match [a-zA-Z_:][a-zA-Z0-9_:]*"
            ),
            OptionsError::InvalidLabelName(n) => write!(
                f,
                "invalid label name {n:?}: must match [a-zA-Z_][a-zA-Z0-9_]*, not start with \
                 \"__\", not be \"le\" or \"quantile\", and be given once"
            ),
        }
    }
}

impl std::error::Error for OptionsError {}

/// Per-metric settings that override the defaults for one registry name.
#[derive(Debug, Clone, PartialEq, Default)]
struct MetricOverride {
    mode: Option<HistogramMode>,
    buckets: Option<Vec<f64>>,
}

/// What an exposition contains and how it is named. Build one with
/// [`ExportOptions::builder`]; [`ExportOptions::default`] is the builder's defaults.
///
/// Defaults: histograms as summaries with quantiles [`DEFAULT_QUANTILES`]; classic buckets
/// (when a histogram mode asks for them) from [`DEFAULT_TIME_BUCKETS`],
/// [`DEFAULT_SIZE_BUCKETS`] or [`DEFAULT_COUNT_BUCKETS`] by the histogram's unit; native
/// schema [`DEFAULT_NATIVE_SCHEMA`] with at most [`DEFAULT_NATIVE_MAX_BUCKETS`] buckets;
/// exemplars on with label `trace_id`; no namespace, no constant labels, no timestamps; the
/// internal series under the prefix `aureon_telemetry`.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportOptions {
    pub(crate) quantiles: Vec<f64>,
    pub(crate) mode: HistogramMode,
    pub(crate) buckets: Option<Vec<f64>>,
    per_metric: BTreeMap<String, MetricOverride>,
    pub(crate) native_schema: i8,
    pub(crate) native_max_buckets: usize,
    pub(crate) exemplars: bool,
    pub(crate) exemplar_label: String,
    pub(crate) namespace: String,
    pub(crate) const_labels: Vec<(String, String)>,
    pub(crate) internal_prefix: Option<String>,
    pub(crate) timestamps: bool,
    pub(crate) created: bool,
}

impl Default for ExportOptions {
    fn default() -> Self {
        Self {
            quantiles: DEFAULT_QUANTILES.to_vec(),
            mode: HistogramMode::Summary,
            buckets: None,
            per_metric: BTreeMap::new(),
            native_schema: DEFAULT_NATIVE_SCHEMA,
            native_max_buckets: DEFAULT_NATIVE_MAX_BUCKETS,
            exemplars: true,
            exemplar_label: "trace_id".to_owned(),
            namespace: String::new(),
            const_labels: Vec::new(),
            internal_prefix: Some("aureon_telemetry".to_owned()),
            timestamps: false,
            created: true,
        }
    }
}

impl ExportOptions {
    /// A builder starting from the defaults.
    pub fn builder() -> ExportOptionsBuilder {
        ExportOptionsBuilder {
            options: Self::default(),
        }
    }

    /// The summary quantiles, ascending.
    pub fn quantiles(&self) -> &[f64] {
        &self.quantiles
    }

    /// These options with every histogram exported as a histogram only (no summaries): the
    /// push encoders send buckets, never client-side quantiles.
    pub(crate) fn histograms_only(&self) -> ExportOptions {
        let mut o = self.clone();
        o.mode = HistogramMode::Histogram;
        for m in o.per_metric.values_mut() {
            m.mode = None;
        }
        o
    }

    /// How the histogram registered as `name` is exported.
    pub fn histogram_mode(&self, name: &str) -> HistogramMode {
        self.per_metric
            .get(name)
            .and_then(|o| o.mode)
            .unwrap_or(self.mode)
    }

    /// The classic `le` bounds (in base units, without `+Inf`) of the histogram registered
    /// as `name` with values in `unit`.
    pub fn buckets(&self, name: &str, unit: Unit) -> &[f64] {
        if let Some(b) = self.per_metric.get(name).and_then(|o| o.buckets.as_deref()) {
            return b;
        }
        if let Some(b) = self.buckets.as_deref() {
            return b;
        }
        match unit.base_name() {
            Some("seconds") => &DEFAULT_TIME_BUCKETS,
            Some(_) => &DEFAULT_SIZE_BUCKETS,
            None => &DEFAULT_COUNT_BUCKETS,
        }
    }

    /// The native-histogram schema asked for (the exported one can be lower, see
    /// [`ExportOptions::native_max_buckets`]).
    pub fn native_schema(&self) -> i8 {
        self.native_schema
    }

    /// The most populated native buckets per histogram.
    pub fn native_max_buckets(&self) -> usize {
        self.native_max_buckets
    }

    /// Whether OpenMetrics carries each counter's, histogram's and summary's creation time
    /// as its `_created` sample (default: on).
    pub fn created(&self) -> bool {
        self.created
    }

    /// Whether exemplars are exported (OpenMetrics and protobuf only).
    pub fn exemplars(&self) -> bool {
        self.exemplars
    }

    /// The label name exemplar ids are exported under.
    pub fn exemplar_label(&self) -> &str {
        &self.exemplar_label
    }

    /// The prefix put before every registry metric name (empty: none).
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Labels added to every series.
    pub fn const_labels(&self) -> &[(String, String)] {
        &self.const_labels
    }

    /// The prefix of the exporter's own series (`None`: not exported).
    pub fn internal_prefix(&self) -> Option<&str> {
        self.internal_prefix.as_deref()
    }

    /// Whether samples carry the snapshot's timestamp.
    pub fn timestamps(&self) -> bool {
        self.timestamps
    }
}

/// Builds [`ExportOptions`]; [`ExportOptionsBuilder::build`] validates everything.
#[derive(Debug, Clone)]
pub struct ExportOptionsBuilder {
    options: ExportOptions,
}

impl ExportOptionsBuilder {
    /// Summary quantiles (each within `0.0 ..= 1.0`; sorted and de-duplicated on build).
    pub fn quantiles(mut self, quantiles: impl IntoIterator<Item = f64>) -> Self {
        self.options.quantiles = quantiles.into_iter().collect();
        self
    }

    /// How histograms are exported by default.
    pub fn histogram_mode(mut self, mode: HistogramMode) -> Self {
        self.options.mode = mode;
        self
    }

    /// How the histogram registered as `name` is exported.
    pub fn metric_histogram_mode(mut self, name: &str, mode: HistogramMode) -> Self {
        self.options
            .per_metric
            .entry(name.to_owned())
            .or_default()
            .mode = Some(mode);
        self
    }

    /// Classic `le` bounds for every histogram, in base units (seconds, bytes), finite,
    /// positive and strictly increasing; `+Inf` is added.
    pub fn buckets(mut self, bounds: impl IntoIterator<Item = f64>) -> Self {
        self.options.buckets = Some(bounds.into_iter().collect());
        self
    }

    /// Classic `le` bounds for the histogram registered as `name`.
    pub fn metric_buckets(mut self, name: &str, bounds: impl IntoIterator<Item = f64>) -> Self {
        self.options
            .per_metric
            .entry(name.to_owned())
            .or_default()
            .buckets = Some(bounds.into_iter().collect());
        self
    }

    /// The native-histogram schema (`-4 ..= 8`; boundaries grow by `2^(2^-schema)`).
    pub fn native_schema(mut self, schema: i8) -> Self {
        self.options.native_schema = schema;
        self
    }

    /// The most populated native buckets per histogram (at least 1); a histogram that needs
    /// more is exported at a lower schema.
    pub fn native_max_buckets(mut self, max: usize) -> Self {
        self.options.native_max_buckets = max;
        self
    }

    /// Whether OpenMetrics carries the `_created` sample of each counter, histogram and
    /// summary (default: on): the time its series was created, which changes when idle
    /// expiry freed a series and it came back from zero, so a scraper sees a reset rather
    /// than a counter going down. Prometheus 2.x stores `_created` as a series of its own
    /// (`x_created`); turn it off to save those series. The 0.0.4 text format has no such
    /// sample.
    pub fn created(mut self, on: bool) -> Self {
        self.options.created = on;
        self
    }

    /// Whether to export exemplars (OpenMetrics and protobuf; the 0.0.4 text format has none).
    pub fn exemplars(mut self, on: bool) -> Self {
        self.options.exemplars = on;
        self
    }

    /// The label name of exemplar ids (default `trace_id`).
    pub fn exemplar_label(mut self, name: &str) -> Self {
        self.options.exemplar_label = name.to_owned();
        self
    }

    /// A prefix for every registry metric name; `_` is inserted between them.
    pub fn namespace(mut self, namespace: &str) -> Self {
        self.options.namespace = namespace.to_owned();
        self
    }

    /// A label added to every series (a series' own label of the same name wins).
    pub fn const_label(mut self, name: &str, value: &str) -> Self {
        self.options
            .const_labels
            .push((name.to_owned(), value.to_owned()));
        self
    }

    /// The prefix of the exporter's own series (`<prefix>_registration_errors_total` and
    /// `<prefix>_export_conflicts`); `None` leaves them out.
    pub fn internal_prefix(mut self, prefix: Option<&str>) -> Self {
        self.options.internal_prefix = prefix.map(str::to_owned);
        self
    }

    /// Whether every sample carries the snapshot's wall-clock time. Off for live scrapes
    /// (Prometheus then uses its own scrape time); on for files meant for backfilling
    /// (`promtool tsdb create-blocks-from openmetrics`).
    pub fn timestamps(mut self, on: bool) -> Self {
        self.options.timestamps = on;
        self
    }

    /// Validates and returns the options.
    pub fn build(self) -> Result<ExportOptions, OptionsError> {
        let mut o = self.options;
        if let Some(&q) = o.quantiles.iter().find(|q| !(0.0..=1.0).contains(*q)) {
            return Err(OptionsError::InvalidQuantile(q));
        }
        o.quantiles.sort_by(f64::total_cmp);
        o.quantiles.dedup();
        if let Some(b) = &o.buckets {
            check_buckets(b).map_err(|reason| OptionsError::InvalidBuckets {
                metric: None,
                reason,
            })?;
        }
        for (name, m) in &o.per_metric {
            if let Some(b) = &m.buckets {
                check_buckets(b).map_err(|reason| OptionsError::InvalidBuckets {
                    metric: Some(name.clone()),
                    reason,
                })?;
            }
        }
        if !(-4..=8).contains(&o.native_schema) {
            return Err(OptionsError::InvalidSchema(o.native_schema));
        }
        if o.native_max_buckets == 0 {
            return Err(OptionsError::InvalidMaxBuckets);
        }
        check_label_name(&o.exemplar_label)?;
        if !o.namespace.is_empty() && !is_valid_metric_name(&o.namespace) {
            return Err(OptionsError::InvalidName(o.namespace));
        }
        if let Some(p) = &o.internal_prefix
            && !is_valid_metric_name(p)
        {
            return Err(OptionsError::InvalidName(p.clone()));
        }
        for (i, (name, _)) in o.const_labels.iter().enumerate() {
            check_label_name(name)?;
            if o.const_labels[..i].iter().any(|(other, _)| other == name) {
                return Err(OptionsError::InvalidLabelName(name.clone()));
            }
        }
        o.const_labels.sort();
        Ok(o)
    }
}

fn check_label_name(name: &str) -> Result<(), OptionsError> {
    if is_valid_label_name(name) && name != "le" && name != "quantile" {
        Ok(())
    } else {
        Err(OptionsError::InvalidLabelName(name.to_owned()))
    }
}

fn check_buckets(bounds: &[f64]) -> Result<(), &'static str> {
    if bounds.iter().any(|b| !b.is_finite()) {
        return Err("bounds must be finite (+Inf is always added)");
    }
    if bounds.iter().any(|&b| b <= 0.0) {
        return Err("bounds must be positive");
    }
    if bounds.windows(2).any(|w| w[0] >= w[1]) {
        return Err("bounds must be strictly increasing");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_options_are_refused_with_a_reason() {
        let b = ExportOptions::builder;
        assert_eq!(
            b().quantiles([0.5, 1.5]).build(),
            Err(OptionsError::InvalidQuantile(1.5))
        );
        assert!(matches!(
            b().quantiles([f64::NAN]).build(),
            Err(OptionsError::InvalidQuantile(_))
        ));
        assert!(matches!(
            b().buckets([0.1, 0.1]).build(),
            Err(OptionsError::InvalidBuckets { metric: None, .. })
        ));
        assert!(matches!(
            b().metric_buckets("x", [f64::INFINITY]).build(),
            Err(OptionsError::InvalidBuckets {
                metric: Some(_),
                ..
            })
        ));
        assert!(matches!(
            b().buckets([0.0, 1.0]).build(),
            Err(OptionsError::InvalidBuckets { .. })
        ));
        assert_eq!(
            b().native_schema(9).build(),
            Err(OptionsError::InvalidSchema(9))
        );
        assert_eq!(
            b().native_max_buckets(0).build(),
            Err(OptionsError::InvalidMaxBuckets)
        );
        assert!(matches!(
            b().namespace("a-b").build(),
            Err(OptionsError::InvalidName(_))
        ));
        for bad in ["le", "quantile", "__x", "a b"] {
            assert!(matches!(
                b().const_label(bad, "v").build(),
                Err(OptionsError::InvalidLabelName(_))
            ));
        }
        assert!(matches!(
            b().const_label("a", "1").const_label("a", "2").build(),
            Err(OptionsError::InvalidLabelName(_))
        ));
        let msg = b().buckets([2.0, 1.0]).build().unwrap_err().to_string();
        assert!(msg.contains("strictly increasing"), "{msg}");
    }

    #[test]
    fn per_metric_settings_override_defaults() {
        let o = ExportOptions::builder()
            .histogram_mode(HistogramMode::Histogram)
            .metric_histogram_mode("a", HistogramMode::Summary)
            .metric_buckets("b", [1.0, 2.0])
            .quantiles([0.99, 0.5, 0.5])
            .build()
            .unwrap();
        assert_eq!(o.histogram_mode("a"), HistogramMode::Summary);
        assert_eq!(o.histogram_mode("b"), HistogramMode::Histogram);
        assert_eq!(o.buckets("b", Unit::Microseconds), &[1.0, 2.0]);
        assert_eq!(o.buckets("a", Unit::Microseconds), &DEFAULT_TIME_BUCKETS);
        assert_eq!(o.buckets("a", Unit::Bytes), &DEFAULT_SIZE_BUCKETS);
        assert_eq!(o.quantiles(), &[0.5, 0.99]);
    }
}
