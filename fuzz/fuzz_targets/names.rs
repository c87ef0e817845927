//! Metric and label names from outside: the registry's validation
//! (`aureon_telemetry::is_valid_metric_name`, `is_valid_label_name`, `MetricKey::new`), the
//! `metrics` facade's name mapping (`aureon_metrics::metric_name`, `label_name`), and what a
//! valid key becomes in the exposition and in an interval-log tag.
//!
//! Oracle: no panic, and
//! * validation agrees with the Prometheus grammar, checked here byte by byte
//!   (`[a-zA-Z_:][a-zA-Z0-9_:]*`; labels `[a-zA-Z_][a-zA-Z0-9_]*` without a `__` prefix);
//! * the mapping keeps the length in characters, changes only invalid characters (to `_`),
//!   borrows exactly when nothing changes, is idempotent, and yields a valid name for every
//!   non-empty input (labels: except the documented reserved `__` prefix);
//! * round trips: a valid key's label value and help text, whatever they hold, read back
//!   unescaped from the Prometheus text and OpenMetrics renderings equal to the originals; its
//!   interval-log tag (`hlog::encode_tag`) decodes (`hlog::decode_tag`) to the same key.
#![no_main]

use aureon_metrics::{label_name, metric_name};
use aureon_prometheus::hlog::{decode_tag, encode_tag};
use aureon_prometheus::{ExportOptions, Format, render};
use aureon_telemetry::{MetricKey, Registry, is_valid_label_name, is_valid_metric_name};
use libfuzzer_sys::arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use std::borrow::Cow;

fn grammar(name: &str, colon: bool) -> bool {
    let ok = |b: u8, first: bool| {
        b.is_ascii_uppercase()
            || b.is_ascii_lowercase()
            || b == b'_'
            || (colon && b == b':')
            || (!first && b.is_ascii_digit())
    };
    let bytes = name.as_bytes();
    !bytes.is_empty() && bytes.iter().enumerate().all(|(i, &b)| ok(b, i == 0))
}

fn check_mapping(input: &str, mapped: Cow<'_, str>, valid: bool, map: fn(&str) -> Cow<'_, str>) {
    assert_eq!(mapped.chars().count(), input.chars().count());
    for (m, c) in mapped.chars().zip(input.chars()) {
        assert!(m == c || m == '_', "{input:?} -> {mapped:?}");
    }
    assert_eq!(matches!(mapped, Cow::Borrowed(_)), *mapped == *input);
    if valid {
        assert!(matches!(mapped, Cow::Borrowed(_)), "valid {input:?} copied");
    }
    assert_eq!(map(&mapped), mapped, "idempotent");
}

/// Reads a quoted, escaped string (`\\`, `\"`, `\n`) starting after the opening quote;
/// returns it and the rest after the closing quote.
fn unescape(s: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &s[i + 1..])),
            '\\' => match chars.next()?.1 {
                '\\' => out.push('\\'),
                '"' => out.push('"'),
                'n' => out.push('\n'),
                _ => return None,
            },
            c => out.push(c),
        }
    }
    None
}

/// Unescapes help text: `\\` and `\n`, and `\"` in OpenMetrics.
fn unescape_help(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some(other) => out.push(other),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let (Ok(name), Ok(label), Ok(value), Ok(help)) = (
        <&str>::arbitrary(&mut u),
        <&str>::arbitrary(&mut u),
        <&str>::arbitrary(&mut u),
        <&str>::arbitrary(&mut u),
    ) else {
        return;
    };

    let name_ok = is_valid_metric_name(name);
    let label_ok = is_valid_label_name(label);
    assert_eq!(name_ok, grammar(name, true), "{name:?}");
    assert_eq!(
        label_ok,
        grammar(label, false) && !label.starts_with("__"),
        "{label:?}"
    );
    assert_eq!(
        MetricKey::new(name, &[(label, value)]).is_ok(),
        name_ok && label_ok
    );

    check_mapping(name, metric_name(name), name_ok, metric_name);
    check_mapping(label, label_name(label), label_ok, label_name);
    if !name.is_empty() {
        assert!(is_valid_metric_name(&metric_name(name)), "{name:?}");
    }
    let mapped = label_name(label);
    if !label.is_empty() {
        assert!(
            is_valid_label_name(&mapped) || mapped.starts_with("__"),
            "{label:?}"
        );
    }

    if !(name_ok && label_ok) {
        return;
    }
    let key = MetricKey::new(name, &[(label, value)]).expect("valid");
    let mut tag = String::new();
    encode_tag(&key, &mut tag);
    assert_eq!(decode_tag(&tag).as_ref(), Some(&key), "tag {tag:?}");

    let registry = Registry::new();
    registry.counter_with(name, &[(label, value)]).increment(1);
    registry
        .describe(name, help)
        .expect("a valid name takes any help text");
    let snapshot = registry.snapshot();
    let options = ExportOptions::builder()
        .internal_prefix(None)
        .build()
        .expect("options");
    for format in [Format::PrometheusText, Format::OpenMetrics] {
        let text = String::from_utf8(render(&snapshot, format, &options)).expect("UTF-8");
        let helps: Vec<String> = text
            .split('\n')
            .filter_map(|l| l.strip_prefix("# HELP "))
            .filter_map(|l| l.split_once(' '))
            .map(|(_, h)| unescape_help(h))
            .collect();
        assert!(
            helps.iter().any(|h| h == help),
            "{format:?} help {help:?} in {text}"
        );
        let needle = format!("{{{label}=\"");
        let values: Vec<String> = text
            .split('\n')
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_once(&needle))
            .filter_map(|(_, rest)| unescape(rest))
            .map(|(v, _)| v)
            .collect();
        assert!(
            !values.is_empty(),
            "{format:?}: no sample of {name} in {text}"
        );
        assert!(
            values.iter().all(|v| v == value),
            "{format:?}: {value:?} became {values:?}"
        );
    }
});
