//! The mapping from `metrics` key names and label names to Prometheus-valid ones.
//!
//! The `metrics` facade accepts any string as a name (`"http.requests"` is idiomatic there),
//! while the registry only accepts Prometheus names. Rather than refuse such names, the
//! recorder maps them exactly as `metrics-exporter-prometheus` does, so a service that swaps
//! that exporter for this recorder keeps its series names: every character that is not valid
//! at its position becomes `_` (one `_` per character, so `"é"` becomes `"_"`).
//!
//! What the mapping cannot fix is left to the registry, which refuses it through its
//! documented path (the handle records but is not exported, the refusal is counted in
//! `Snapshot::registration_errors`): the empty name, label names with the reserved `__`
//! prefix, and two label names that map to the same name.

use std::borrow::Cow;

/// The Prometheus metric name the recorder uses for a `metrics` key name: characters outside
/// `[a-zA-Z0-9_:]`, and a leading digit, become `_`.
///
/// ```
/// use aureon_metrics::metric_name;
/// assert_eq!(metric_name("http.requests"), "http_requests");
/// assert_eq!(metric_name("1st-try"), "_st_try");
/// assert_eq!(metric_name("already_valid:total"), "already_valid:total");
/// ```
pub fn metric_name(name: &str) -> Cow<'_, str> {
    sanitize(name, |i, c| {
        c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit())
    })
}

/// The Prometheus label name the recorder uses for a `metrics` label key: characters outside
/// `[a-zA-Z0-9_]`, and a leading digit, become `_`. The reserved `__` prefix is kept (and then
/// refused by the registry), because silently renaming it could merge it with a user label.
///
/// ```
/// use aureon_metrics::label_name;
/// assert_eq!(label_name("http.method"), "http_method");
/// assert_eq!(label_name("a:b"), "a_b");
/// ```
pub fn label_name(name: &str) -> Cow<'_, str> {
    sanitize(name, |i, c| {
        c.is_ascii_alphabetic() || c == '_' || (i > 0 && c.is_ascii_digit())
    })
}

/// Maps a `metrics` key and calls `f` with the registry's name and labels. Registration is the
/// cold path, so the two small label vectors it allocates do not matter; keys without labels
/// and with valid names allocate nothing here.
pub(crate) fn with_mapped_key<R>(
    key: &metrics::Key,
    f: impl FnOnce(&str, &[(&str, &str)]) -> R,
) -> R {
    let name = metric_name(key.name());
    let mapped: Vec<(Cow<'_, str>, &str)> = key
        .labels()
        .map(|l| (label_name(l.key()), l.value()))
        .collect();
    let labels: Vec<(&str, &str)> = mapped.iter().map(|(k, v)| (&**k, *v)).collect();
    f(&name, &labels)
}

/// Replaces every character for which `valid(position, char)` is false by `_`, borrowing when
/// nothing changes: the common case (names that are already valid) allocates nothing.
fn sanitize(name: &str, valid: impl Fn(usize, char) -> bool) -> Cow<'_, str> {
    if name.chars().enumerate().all(|(i, c)| valid(i, c)) {
        return Cow::Borrowed(name);
    }
    Cow::Owned(
        name.chars()
            .enumerate()
            .map(|(i, c)| if valid(i, c) { c } else { '_' })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use aureon_telemetry::{is_valid_label_name, is_valid_metric_name};

    #[test]
    fn metric_names_map_like_the_prometheus_exporter() {
        // Expected values written out by hand from the Prometheus data model, including the
        // cases `metrics-exporter-prometheus` documents for its own sanitizer.
        for (input, expected) in [
            ("foo_bar", "foo_bar"),
            ("foo1:bar2", "foo1:bar2"),
            ("1foobar", "_foobar"),
            ("http.requests.total", "http_requests_total"),
            ("a-b c", "a_b_c"),
            ("*", "_"),
            ("é1", "_1"),
            ("", ""),
        ] {
            assert_eq!(metric_name(input), expected, "{input:?}");
        }
    }

    #[test]
    fn label_names_map_like_the_prometheus_exporter() {
        for (input, expected) in [
            ("method", "method"),
            ("http.method", "http_method"),
            ("a:b", "a_b"),
            ("9lives", "_lives"),
            ("__reserved", "__reserved"),
        ] {
            assert_eq!(label_name(input), expected, "{input:?}");
        }
    }

    #[test]
    fn mapped_names_are_valid_for_the_registry_except_the_documented_cases() {
        for input in ["a", "a.b", "0", "-", "x y", "ü", ":", "a:b.c"] {
            assert!(is_valid_metric_name(&metric_name(input)), "{input:?}");
            let label = label_name(input);
            assert!(
                is_valid_label_name(&label) || label.starts_with("__"),
                "{input:?}"
            );
        }
        assert!(!is_valid_metric_name(&metric_name("")));
    }

    #[test]
    fn valid_names_are_borrowed_not_copied() {
        assert!(matches!(metric_name("ok_name"), Cow::Borrowed(_)));
        assert!(matches!(label_name("ok"), Cow::Borrowed(_)));
    }
}
