//! Span latencies from code instrumented with `tracing`, by adding one layer.
//! Run: `cargo run -p aureon-tracing --example span_timing`.

use aureon_telemetry::{MetricValue, Registry};
use aureon_tracing::SpanTimingLayer;
use std::time::Duration;
use tracing_subscriber::prelude::*;

#[tracing::instrument]
fn verify(height: u64) {
    std::thread::sleep(Duration::from_micros(300 + height % 7 * 100));
}

#[tracing::instrument]
fn import_block(height: u64) {
    verify(height);
    if height.is_multiple_of(10) {
        tracing::warn!(height, "slow peer");
    }
    std::thread::sleep(Duration::from_micros(500));
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let registry = Registry::new();
    let layer = SpanTimingLayer::builder(&registry).with_idle().build()?;
    tracing_subscriber::registry().with(layer).init();

    std::thread::scope(|s| {
        for worker in 0..2u64 {
            s.spawn(move || {
                for i in 0..25 {
                    import_block(worker * 100 + i);
                }
            });
        }
    });

    for (key, value) in registry.snapshot().iter() {
        match value {
            MetricValue::Histogram(h) => println!(
                "{key}: count {} p50 {:.3} ms p99 {:.3} ms",
                h.count(),
                h.p50() as f64 / 1e6,
                h.p99() as f64 / 1e6
            ),
            MetricValue::Counter(c) => println!("{key} = {c}"),
            MetricValue::Gauge(g) => println!("{key} = {g}"),
        }
    }
    Ok(())
}
