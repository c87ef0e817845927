//! A service instrumented with the `metrics` macros, recording into aureon-telemetry after a
//! one-line set-up. Run: `cargo run -p aureon-metrics --example metrics_facade`.

use aureon_telemetry::{MetricValue, Registry};
use std::time::{Duration, Instant};

fn handle_request(method: &'static str, work: Duration) {
    let start = Instant::now();
    std::thread::sleep(work);
    metrics::counter!("http.requests", "method" => method).increment(1);
    // A `Duration` is recorded as f64 seconds; the recorder stores nanoseconds.
    metrics::histogram!("http.latency", "method" => method).record(start.elapsed());
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let registry = Registry::new();
    aureon_metrics::install(&registry)?;

    // Describe before first use: a histogram's unit is fixed when it is first registered.
    metrics::describe_histogram!("http.latency", metrics::Unit::Seconds, "Request latency");
    metrics::describe_counter!("http.requests", "Requests served");
    metrics::describe_histogram!("http.body", metrics::Unit::Kibibytes, "Response body size");

    std::thread::scope(|s| {
        for (method, ms) in [("GET", 2), ("POST", 5)] {
            s.spawn(move || {
                for i in 0..20 {
                    handle_request(method, Duration::from_millis(ms + i % 3));
                }
            });
        }
    });
    // A held handle: the registry is looked up once, here, not per record.
    let body = metrics::histogram!("http.body");
    for kib in [0.5, 1.0, 4.0, 16.0] {
        body.record(kib);
    }
    metrics::gauge!("connections.open").set(3.0);

    for (key, value) in registry.snapshot().iter() {
        match value {
            MetricValue::Counter(c) => println!("{key} = {c}"),
            MetricValue::Gauge(g) => println!("{key} = {g}"),
            MetricValue::Histogram(h) => println!(
                "{key}: count {} p50 {} p99 {} max {} ({:?})",
                h.count(),
                h.p50(),
                h.p99(),
                h.max(),
                h.config().unit
            ),
        }
    }
    Ok(())
}
