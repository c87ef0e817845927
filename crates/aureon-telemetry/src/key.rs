//! Metric keys (name plus labels) and their validation against Prometheus' naming rules.

use crate::error::MetricError;
use std::fmt;
use std::sync::Arc;

/// A metric's labels, sorted by name, each name unique.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Labels(Arc<[(Arc<str>, Arc<str>)]>);

impl Labels {
    /// The `(name, value)` pairs, sorted by name.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str)> + '_ {
        self.0.iter().map(|(k, v)| (&**k, &**v))
    }

    /// The value of label `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| &**k == name).map(|(_, v)| &**v)
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no labels.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn from_unchecked(labels: &[(&str, &str)]) -> Self {
        let mut v: Vec<(Arc<str>, Arc<str>)> = labels
            .iter()
            .map(|&(k, v)| (Arc::from(k), Arc::from(v)))
            .collect();
        v.sort();
        Labels(v.into())
    }
}

/// A metric's identity: its name and its labels.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MetricKey {
    name: Arc<str>,
    labels: Labels,
}

impl MetricKey {
    /// Builds a key, checking the name and labels against Prometheus' rules: metric names match
    /// `[a-zA-Z_:][a-zA-Z0-9_:]*`, label names `[a-zA-Z_][a-zA-Z0-9_]*` without the reserved
    /// `__` prefix, and no label name twice. Label values may be any string.
    pub fn new(name: &str, labels: &[(&str, &str)]) -> Result<Self, MetricError> {
        if !is_valid_metric_name(name) {
            return Err(MetricError::InvalidName(name.to_owned()));
        }
        for (i, &(k, _)) in labels.iter().enumerate() {
            if !is_valid_label_name(k) {
                return Err(MetricError::InvalidLabelName(k.to_owned()));
            }
            if labels[..i].iter().any(|&(other, _)| other == k) {
                return Err(MetricError::DuplicateLabel(k.to_owned()));
            }
        }
        Ok(Self::lookup(name, labels))
    }

    /// A key for lookups only (no validation: an invalid key simply finds nothing).
    pub(crate) fn lookup(name: &str, labels: &[(&str, &str)]) -> Self {
        Self {
            name: Arc::from(name),
            labels: Labels::from_unchecked(labels),
        }
    }

    /// The smallest key with this name, for range scans over a family.
    pub(crate) fn family_start(name: &str) -> Self {
        Self::lookup(name, &[])
    }

    /// The metric name.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn name_arc(&self) -> &Arc<str> {
        &self.name
    }

    /// The labels.
    pub fn labels(&self) -> &Labels {
        &self.labels
    }
}

impl fmt::Display for MetricKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if !self.labels.is_empty() {
            f.write_str("{")?;
            for (i, (k, v)) in self.labels.iter().enumerate() {
                if i > 0 {
                    f.write_str(",")?;
                }
                write!(f, "{k}={v:?}")?;
            }
            f.write_str("}")?;
        }
        Ok(())
    }
}

/// Whether `name` is a valid Prometheus metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn is_valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Whether `name` is a valid, non-reserved Prometheus label name:
/// `[a-zA-Z_][a-zA-Z0-9_]*` not starting with `__`.
pub fn is_valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("__")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_prometheus_rules() {
        for ok in ["a", "_x", ":x", "block_processing_us", "a:b_c9"] {
            assert!(is_valid_metric_name(ok), "{ok}");
        }
        for bad in ["", "9a", "a-b", "a b", "é", "a.b", "a{"] {
            assert!(!is_valid_metric_name(bad), "{bad}");
        }
        for ok in ["a", "_x", "kind", "op9"] {
            assert!(is_valid_label_name(ok), "{ok}");
        }
        for bad in ["", "9", "a:b", "__name__", "__x", "a-b"] {
            assert!(!is_valid_label_name(bad), "{bad}");
        }
    }

    #[test]
    fn keys_are_label_order_independent_and_reject_bad_input() {
        let a = MetricKey::new("m", &[("b", "2"), ("a", "1")]).unwrap();
        let b = MetricKey::new("m", &[("a", "1"), ("b", "2")]).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_string(), r#"m{a="1",b="2"}"#);
        assert_eq!(
            MetricKey::new("m-x", &[]),
            Err(MetricError::InvalidName("m-x".into()))
        );
        assert_eq!(
            MetricKey::new("m", &[("__x", "v")]),
            Err(MetricError::InvalidLabelName("__x".into()))
        );
        assert_eq!(
            MetricKey::new("m", &[("a", "1"), ("a", "2")]),
            Err(MetricError::DuplicateLabel("a".into()))
        );
    }
}
