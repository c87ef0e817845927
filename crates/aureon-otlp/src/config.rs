//! What an OTLP export says about itself: resource, scope, temporality, histogram budget,
//! compression. Built with [`OtlpConfig::builder`], checked once by
//! [`OtlpConfigBuilder::build`].

use crate::scale::{MAX_SCALE, MIN_SCALE};
use std::fmt;

/// Whether counters and histograms carry totals since the start or changes since the last
/// export (OTLP `AggregationTemporality`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Temporality {
    /// Totals since the start time (the default; what Prometheus-style receivers expect).
    #[default]
    Cumulative,
    /// What changed since the previous export (some vendors' backends want this).
    Delta,
}

/// Configuration of an OTLP metrics export.
#[derive(Debug, Clone, PartialEq)]
pub struct OtlpConfig {
    pub(crate) service_name: String,
    pub(crate) resource_attributes: Vec<(String, String)>,
    pub(crate) scope_name: String,
    pub(crate) scope_version: String,
    pub(crate) temporality: Temporality,
    pub(crate) max_buckets: usize,
    pub(crate) max_scale: Option<i32>,
    pub(crate) gzip: bool,
    pub(crate) exemplar_attribute: String,
}

impl OtlpConfig {
    /// A builder with the defaults: the given `service.name`, scope `aureon-telemetry` with
    /// this crate's version, cumulative temporality, at most 160 buckets per histogram (the
    /// OpenTelemetry SDK's default `max_size`), the HDR-derived finest scale, gzip on,
    /// exemplar ids under the attribute `id`.
    pub fn builder(service_name: &str) -> OtlpConfigBuilder {
        OtlpConfigBuilder {
            config: OtlpConfig {
                service_name: service_name.to_owned(),
                resource_attributes: Vec::new(),
                scope_name: "aureon-telemetry".to_owned(),
                scope_version: env!("CARGO_PKG_VERSION").to_owned(),
                temporality: Temporality::Cumulative,
                max_buckets: DEFAULT_MAX_BUCKETS,
                max_scale: None,
                gzip: true,
                exemplar_attribute: "id".to_owned(),
            },
        }
    }

    /// The resource's `service.name`.
    pub fn service_name(&self) -> &str {
        &self.service_name
    }

    /// Further resource attributes, in the order given.
    pub fn resource_attributes(&self) -> &[(String, String)] {
        &self.resource_attributes
    }

    /// The instrumentation scope's name and version.
    pub fn scope(&self) -> (&str, &str) {
        (&self.scope_name, &self.scope_version)
    }

    /// Cumulative or delta.
    pub fn temporality(&self) -> Temporality {
        self.temporality
    }

    /// The most buckets one exponential histogram data point may have.
    pub fn max_buckets(&self) -> usize {
        self.max_buckets
    }

    /// The configured cap on the scale (`None`: the HDR-derived finest scale).
    pub fn max_scale(&self) -> Option<i32> {
        self.max_scale
    }

    /// Whether request bodies are gzipped.
    pub fn gzip(&self) -> bool {
        self.gzip
    }

    /// The exemplar attribute that carries an exemplar's id.
    pub fn exemplar_attribute(&self) -> &str {
        &self.exemplar_attribute
    }
}

/// The OpenTelemetry SDK's default `max_size` of an exponential histogram.
pub const DEFAULT_MAX_BUCKETS: usize = 160;

/// Builds an [`OtlpConfig`].
#[derive(Debug, Clone)]
pub struct OtlpConfigBuilder {
    config: OtlpConfig,
}

impl OtlpConfigBuilder {
    /// Adds a resource attribute (`deployment.environment`, `service.instance.id`, …).
    pub fn resource_attribute(mut self, key: &str, value: &str) -> Self {
        self.config
            .resource_attributes
            .push((key.to_owned(), value.to_owned()));
        self
    }

    /// The instrumentation scope's name and version.
    pub fn scope(mut self, name: &str, version: &str) -> Self {
        self.config.scope_name = name.to_owned();
        self.config.scope_version = version.to_owned();
        self
    }

    /// Cumulative (default) or delta temporality.
    pub fn temporality(mut self, temporality: Temporality) -> Self {
        self.config.temporality = temporality;
        self
    }

    /// The most buckets per histogram data point (at least 2; default 160). Wide
    /// histograms get a lower scale, hence a larger error bound, to fit.
    pub fn max_buckets(mut self, max: usize) -> Self {
        self.config.max_buckets = max;
        self
    }

    /// Caps the scale (between -10 and 20), e.g. at 8 for receivers that store Prometheus
    /// native histograms (which have no finer schema).
    pub fn max_scale(mut self, scale: i32) -> Self {
        self.config.max_scale = Some(scale);
        self
    }

    /// Whether to gzip request bodies (default on).
    pub fn gzip(mut self, on: bool) -> Self {
        self.config.gzip = on;
        self
    }

    /// The attribute name exemplar ids are sent under (default `id`).
    pub fn exemplar_attribute(mut self, name: &str) -> Self {
        self.config.exemplar_attribute = name.to_owned();
        self
    }

    /// Checks the configuration.
    pub fn build(self) -> Result<OtlpConfig, ConfigError> {
        let c = &self.config;
        if c.service_name.is_empty() {
            return Err(ConfigError::EmptyServiceName);
        }
        if let Some((k, _)) = c.resource_attributes.iter().find(|(k, _)| k.is_empty()) {
            return Err(ConfigError::InvalidAttribute(k.clone()));
        }
        if let Some((k, _)) = c
            .resource_attributes
            .iter()
            .enumerate()
            .find(|(i, (k, _))| {
                k == "service.name" || c.resource_attributes[..*i].iter().any(|(o, _)| o == k)
            })
            .map(|(_, kv)| kv)
        {
            return Err(ConfigError::DuplicateAttribute(k.clone()));
        }
        if c.max_buckets < 2 {
            return Err(ConfigError::TooFewBuckets(c.max_buckets));
        }
        if let Some(s) = c.max_scale
            && !(MIN_SCALE..=MAX_SCALE).contains(&s)
        {
            return Err(ConfigError::ScaleOutOfRange(s));
        }
        if c.exemplar_attribute.is_empty() {
            return Err(ConfigError::InvalidAttribute(String::new()));
        }
        Ok(self.config)
    }
}

/// Why an [`OtlpConfigBuilder`] was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// `service.name` must not be empty.
    EmptyServiceName,
    /// An attribute name is empty.
    InvalidAttribute(String),
    /// A resource attribute is given twice, or repeats `service.name`.
    DuplicateAttribute(String),
    /// `max_buckets` below 2.
    TooFewBuckets(usize),
    /// `max_scale` outside -10 ..= 20.
    ScaleOutOfRange(i32),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EmptyServiceName => f.write_str("the OTLP service.name must not be empty"),
            Self::InvalidAttribute(k) => write!(f, "invalid OTLP attribute name {k:?}"),
            Self::DuplicateAttribute(k) => {
                write!(f, "OTLP resource attribute {k:?} is given more than once")
            }
            Self::TooFewBuckets(n) => write!(
                f,
                "an exponential histogram needs at least 2 buckets, {n} were configured"
            ),
            Self::ScaleOutOfRange(s) => write!(
                f,
                "exponential histogram scale {s} is outside {MIN_SCALE} ..= {MAX_SCALE}"
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_configurations_are_refused_with_a_reason() {
        let b = || OtlpConfig::builder("svc");
        assert!(b().build().is_ok());
        assert_eq!(
            OtlpConfig::builder("").build(),
            Err(ConfigError::EmptyServiceName)
        );
        assert_eq!(
            b().max_buckets(1).build(),
            Err(ConfigError::TooFewBuckets(1))
        );
        assert_eq!(
            b().max_scale(21).build(),
            Err(ConfigError::ScaleOutOfRange(21))
        );
        assert_eq!(
            b().resource_attribute("a", "1")
                .resource_attribute("a", "2")
                .build(),
            Err(ConfigError::DuplicateAttribute("a".into()))
        );
        assert_eq!(
            b().resource_attribute("service.name", "x").build(),
            Err(ConfigError::DuplicateAttribute("service.name".into()))
        );
        assert_eq!(
            b().resource_attribute("", "x").build(),
            Err(ConfigError::InvalidAttribute(String::new()))
        );
        let e = b().max_scale(-11).build().unwrap_err();
        assert_eq!(
            e.to_string(),
            "exponential histogram scale -11 is outside -10 ..= 20"
        );
    }
}
