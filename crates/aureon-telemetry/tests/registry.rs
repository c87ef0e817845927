//! Registration: validation errors, label-set limits, kind and configuration clashes, and
//! the infallible methods' behaviour on bad input.

use aureon_telemetry::{HistogramConfig, MetricError, MetricKind, Registry, Unit};

#[test]
fn invalid_names_and_labels_get_clear_errors() {
    let r = Registry::new();
    assert_eq!(
        r.try_counter("bad-name", &[]).unwrap_err(),
        MetricError::InvalidName("bad-name".into())
    );
    assert_eq!(
        r.try_counter("", &[]).unwrap_err(),
        MetricError::InvalidName(String::new())
    );
    assert_eq!(
        r.try_histogram("ok", &[("9lives", "x")]).unwrap_err(),
        MetricError::InvalidLabelName("9lives".into())
    );
    assert_eq!(
        r.try_gauge("ok", &[("__reserved", "x")]).unwrap_err(),
        MetricError::InvalidLabelName("__reserved".into())
    );
    assert_eq!(
        r.try_gauge("ok", &[("a", "1"), ("a", "2")]).unwrap_err(),
        MetricError::DuplicateLabel("a".into())
    );
    let msg = r.try_counter("bad-name", &[]).unwrap_err().to_string();
    assert!(
        msg.contains("bad-name") && msg.contains("[a-zA-Z_:]"),
        "{msg}"
    );
    assert!(r.is_empty());
    // Label values may be anything.
    r.try_counter("ok_total", &[("path", "/a \"b\"\n")])
        .unwrap();
}

#[test]
fn label_sets_per_name_are_capped() {
    let r = Registry::builder().max_label_sets(3).build();
    for i in 0..3 {
        r.try_counter("requests_total", &[("id", &i.to_string())])
            .unwrap();
    }
    assert_eq!(
        r.try_counter("requests_total", &[("id", "3")]).unwrap_err(),
        MetricError::TooManyLabelSets {
            name: "requests_total".into(),
            limit: 3
        }
    );
    // Existing label sets are still found, and other names have their own budget.
    r.try_counter("requests_total", &[("id", "1")]).unwrap();
    r.try_counter("other_total", &[("id", "1")]).unwrap();
    assert_eq!(r.len(), 4);
}

#[test]
fn kind_and_configuration_clashes_are_errors() {
    let r = Registry::new();
    r.try_counter("x", &[]).unwrap();
    assert_eq!(
        r.try_histogram("x", &[]).unwrap_err(),
        MetricError::KindMismatch {
            name: "x".into(),
            existing: MetricKind::Counter,
            requested: MetricKind::Histogram
        }
    );
    let ns = HistogramConfig::with_unit(Unit::Nanoseconds);
    r.try_histogram_with_config("h", &[], ns).unwrap();
    r.try_histogram_with_config("h", &[], ns).unwrap();
    assert_eq!(
        r.try_histogram("h", &[]).unwrap_err(),
        MetricError::ConfigMismatch { name: "h".into() }
    );
    let bad = HistogramConfig {
        lowest_discernible: 0,
        ..HistogramConfig::default()
    };
    assert!(matches!(
        r.try_histogram_with_config("h2", &[], bad),
        Err(MetricError::InvalidConfig(_))
    ));
}

#[test]
fn infallible_methods_return_a_working_unexported_handle_and_count_the_refusal() {
    let r = Registry::new();
    let h = r.histogram("no spaces allowed");
    h.record(42);
    assert_eq!(h.snapshot().count(), 1, "the handle still records");
    let c = r.counter("ok_total");
    let clash = r.histogram("ok_total");
    clash.record(1);
    c.increment(1);
    let snap = r.snapshot();
    assert_eq!(snap.registration_errors(), 2);
    assert_eq!(snap.len(), 1, "refused metrics are not exported");
    assert_eq!(snap.counter("ok_total"), Some(1));
    assert!(matches!(
        r.last_registration_error(),
        Some(MetricError::KindMismatch { .. })
    ));
}

#[test]
fn the_same_key_gives_the_same_metric_and_labels_are_order_free() {
    let r = Registry::new();
    r.counter_with("c_total", &[("a", "1"), ("b", "2")])
        .increment(1);
    r.counter_with("c_total", &[("b", "2"), ("a", "1")])
        .increment(1);
    let g = r.gauge("temperature");
    g.set(20.5);
    g.add(1.25);
    g.sub(0.75);
    r.describe("temperature", "Room temperature").unwrap();
    assert!(r.describe("bad name", "x").is_err());
    let snap = r.snapshot();
    assert_eq!(
        snap.counter_with("c_total", &[("a", "1"), ("b", "2")]),
        Some(2)
    );
    assert_eq!(snap.gauge("temperature"), Some(21.0));
    assert_eq!(snap.description("temperature"), Some("Room temperature"));
    assert_eq!(snap.family("c_total").count(), 1);
    assert_eq!(
        snap.histogram("temperature"),
        None,
        "wrong kind finds nothing"
    );
}

#[test]
fn all_label_sets_of_a_name_share_kind_and_configuration() {
    let r = Registry::new();
    r.try_counter("family", &[("op", "a")]).unwrap();
    assert_eq!(
        r.try_gauge("family", &[("op", "b")]).unwrap_err(),
        MetricError::KindMismatch {
            name: "family".into(),
            existing: MetricKind::Counter,
            requested: MetricKind::Gauge
        }
    );
    r.try_histogram_with_config(
        "lat",
        &[("op", "a")],
        HistogramConfig::with_unit(Unit::Nanoseconds),
    )
    .unwrap();
    assert_eq!(
        r.try_histogram("lat", &[("op", "b")]).unwrap_err(),
        MetricError::ConfigMismatch { name: "lat".into() }
    );
    r.try_histogram_with_config(
        "lat",
        &[("op", "b")],
        HistogramConfig::with_unit(Unit::Nanoseconds),
    )
    .unwrap();
    assert_eq!(r.len(), 3);
}
