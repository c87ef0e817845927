//! Errors: invalid histogram configurations and invalid or refused metric registrations.

use std::fmt;

/// A histogram configuration that cannot be built (the same rules as
/// `hdrhistogram::Histogram::new_with_bounds`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// `lowest_discernible` was 0; it must be at least 1.
    LowestIsZero,
    /// `highest_trackable` must be at least twice `lowest_discernible`.
    HighestLessThanTwiceLowest {
        /// The configured lowest discernible value.
        lowest: u64,
        /// The configured highest trackable value.
        highest: u64,
    },
    /// More than 5 significant figures were asked for.
    TooManySignificantFigures(u8),
    /// The precision asked for cannot be represented with this lowest discernible value.
    PrecisionBeyondRange,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::LowestIsZero => f.write_str("lowest discernible value must be at least 1"),
            ConfigError::HighestLessThanTwiceLowest { lowest, highest } => write!(
                f,
                "highest trackable value {highest} must be at least twice the lowest discernible value {lowest}"
            ),
            ConfigError::TooManySignificantFigures(n) => {
                write!(f, "{n} significant figures requested; at most 5 are supported")
            }
            ConfigError::PrecisionBeyondRange => f.write_str(
                "the requested significant figures cannot be represented above this lowest discernible value",
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

/// The kind of a registered metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricKind {
    /// A monotonically increasing count.
    Counter,
    /// A value that can go up and down.
    Gauge,
    /// A distribution of values.
    Histogram,
}

impl fmt::Display for MetricKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Histogram => "histogram",
        })
    }
}

/// Why a metric could not be registered.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetricError {
    /// The metric name does not match `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    InvalidName(String),
    /// A label name does not match `[a-zA-Z_][a-zA-Z0-9_]*`, or starts with the reserved `__`.
    InvalidLabelName(String),
    /// The same label name was given twice.
    DuplicateLabel(String),
    /// The metric name already has the maximum number of distinct label sets.
    TooManyLabelSets {
        /// The metric name.
        name: String,
        /// The configured limit.
        limit: usize,
    },
    /// The key is already registered as another kind of metric.
    KindMismatch {
        /// The metric name.
        name: String,
        /// The kind already registered.
        existing: MetricKind,
        /// The kind asked for.
        requested: MetricKind,
    },
    /// The key is already registered as a histogram with another configuration.
    ConfigMismatch {
        /// The metric name.
        name: String,
    },
    /// The histogram configuration is invalid.
    InvalidConfig(ConfigError),
}

impl fmt::Display for MetricError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetricError::InvalidName(n) => {
                write!(
                    f,
                    "invalid metric name {n:?}: must match [a-zA-Z_:][a-zA-Z0-9_:]*"
                )
            }
            MetricError::InvalidLabelName(n) => write!(
                f,
                "invalid label name {n:?}: must match [a-zA-Z_][a-zA-Z0-9_]* and not start with \"__\""
            ),
            MetricError::DuplicateLabel(n) => write!(f, "label {n:?} given more than once"),
            MetricError::TooManyLabelSets { name, limit } => write!(
                f,
                "metric {name:?} already has {limit} distinct label sets (the configured limit)"
            ),
            MetricError::KindMismatch {
                name,
                existing,
                requested,
            } => write!(
                f,
                "metric {name:?} is registered as a {existing}, not a {requested}"
            ),
            MetricError::ConfigMismatch { name } => write!(
                f,
                "histogram {name:?} is already registered with a different configuration"
            ),
            MetricError::InvalidConfig(e) => write!(f, "invalid histogram configuration: {e}"),
        }
    }
}

impl std::error::Error for MetricError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            MetricError::InvalidConfig(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ConfigError> for MetricError {
    fn from(e: ConfigError) -> Self {
        MetricError::InvalidConfig(e)
    }
}
