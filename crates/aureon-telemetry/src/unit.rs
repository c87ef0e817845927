//! Units of recorded values, for timers and exporters.

use std::time::Duration;

/// What one unit of a recorded value means.
///
/// Histograms store integers; the unit says how to turn a [`Duration`] into one (timers) and
/// how an exporter converts to base units (Prometheus wants seconds and bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Unit {
    /// Nanoseconds.
    Nanoseconds,
    /// Microseconds (the default: the seed's latencies are in µs).
    #[default]
    Microseconds,
    /// Milliseconds.
    Milliseconds,
    /// Seconds.
    Seconds,
    /// Bytes.
    Bytes,
    /// A plain count with no unit.
    None,
}

impl Unit {
    /// Converts a duration to this unit, saturating at `u64::MAX`; `None` for units that are
    /// not times.
    pub fn from_duration(self, d: Duration) -> Option<u64> {
        let nanos = d.as_nanos();
        let v = match self {
            Unit::Nanoseconds => nanos,
            Unit::Microseconds => nanos / 1_000,
            Unit::Milliseconds => nanos / 1_000_000,
            Unit::Seconds => nanos / 1_000_000_000,
            Unit::Bytes | Unit::None => return None,
        };
        Some(u64::try_from(v).unwrap_or(u64::MAX))
    }

    /// The value a histogram in this unit records for a duration: [`Unit::from_duration`],
    /// or nanoseconds for units that are not times.
    pub(crate) fn recorded_duration(self, d: Duration) -> u64 {
        self.from_duration(d)
            .unwrap_or_else(|| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
    }

    /// The factor that converts a value in this unit to the base unit (seconds for times,
    /// bytes for sizes, 1 for plain counts).
    pub fn to_base_factor(self) -> f64 {
        match self {
            Unit::Nanoseconds => 1e-9,
            Unit::Microseconds => 1e-6,
            Unit::Milliseconds => 1e-3,
            Unit::Seconds | Unit::Bytes | Unit::None => 1.0,
        }
    }

    /// The base unit's name as Prometheus and OpenMetrics spell it in metric names
    /// (`seconds`, `bytes`), or `None` for plain counts.
    pub fn base_name(self) -> Option<&'static str> {
        match self {
            Unit::Nanoseconds | Unit::Microseconds | Unit::Milliseconds | Unit::Seconds => {
                Some("seconds")
            }
            Unit::Bytes => Some("bytes"),
            Unit::None => None,
        }
    }

    /// A short suffix for human-readable reports (`ns`, `µs`, `ms`, `s`, `B`, or empty).
    pub fn symbol(self) -> &'static str {
        match self {
            Unit::Nanoseconds => "ns",
            Unit::Microseconds => "µs",
            Unit::Milliseconds => "ms",
            Unit::Seconds => "s",
            Unit::Bytes => "B",
            Unit::None => "",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_convert_and_saturate() {
        let d = Duration::from_micros(1500);
        assert_eq!(Unit::Nanoseconds.from_duration(d), Some(1_500_000));
        assert_eq!(Unit::Microseconds.from_duration(d), Some(1500));
        assert_eq!(Unit::Milliseconds.from_duration(d), Some(1));
        assert_eq!(Unit::Seconds.from_duration(d), Some(0));
        assert_eq!(Unit::Bytes.from_duration(d), None);
        assert_eq!(
            Unit::Nanoseconds.from_duration(Duration::MAX),
            Some(u64::MAX)
        );
    }
}
