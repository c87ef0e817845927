//! `install`: the one-line set-up, as a service uses it (global recorder). Its own test
//! binary, because a process has only one global recorder.

use aureon_telemetry::Registry;

#[test]
fn install_sets_the_global_recorder_once_and_refuses_a_second() {
    let registry = Registry::new();
    let recorder = aureon_metrics::install(&registry).expect("first install");
    metrics::counter!("service.started").increment(1);
    metrics::histogram!("startup.time").record(0.002);
    let snap = registry.snapshot();
    assert_eq!(snap.counter("service_started"), Some(1));
    assert_eq!(
        snap.histogram("startup_time").map(|h| h.min()),
        Some(2_000_000)
    );
    assert_eq!(recorder.registry().len(), 2);

    let other = Registry::new();
    let err = aureon_metrics::install(&other).unwrap_err();
    assert!(err.to_string().contains("already installed"), "{err}");
    // The first recorder stays in place.
    metrics::counter!("service.started").increment(1);
    assert_eq!(registry.snapshot().counter("service_started"), Some(2));
    assert!(other.is_empty());
}
