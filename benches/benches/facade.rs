//! The `metrics` facade: `metrics::counter!` and `metrics::histogram!` through
//! `aureon-metrics`' recorder against `metrics-exporter-prometheus`'s recorder
//! (`PrometheusBuilder::new().build_recorder()`, no HTTP), at 1 and 2 threads, all in the same
//! run (groups `facade_counter_{1,2}t`, `facade_histogram_{1,2}t`), with the shared harness
//! (`aureon_benches::Workers`: per-thread time from the first thread's start to the last
//! thread's end, so flat from 1 to 2 threads means perfect scaling). Read the ratios, not the
//! times: the machine is shared.
//!
//! Contenders (handles are obtained through the macros under `metrics::with_local_recorder`,
//! once per worker, then held, as a hot loop should):
//! * `aureon`: the facade handle from `AureonRecorder`.
//! * `prometheus_recorder`: the facade handle from `PrometheusRecorder`.
//! * `aureon_core`: the core handle itself, no facade: what the facade's virtual call and
//!   `f64` scaling cost on top.
//! * `aureon_unheld` / `prometheus_unheld`: the macro run on every increment or record
//!   (`counter!("…", "method" => "GET").increment(1)`, `histogram!(…).record(v)`), i.e. a
//!   registry lookup per record, as code that does not hold handles pays.
//!
//! Histogram values are the harness' latency stream (µs integers), recorded as `f64` seconds
//! by both recorders. `metrics-exporter-prometheus` appends every value to a bucket that only
//! its `render` drains; the benchmark renders after each sample, outside the timed region, as
//! a scrape would, so its memory stays bounded.

use aureon_benches::{bench_workers, bench_workers_then, for_each_value};
use aureon_metrics::AureonRecorder;
use aureon_telemetry::Registry;
use criterion::{Criterion, criterion_group, criterion_main};
use metrics::{Recorder, with_local_recorder};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusRecorder};
use std::hint::black_box;
use std::sync::Arc;

/// `n` handles made by `make` under `recorder`, one per worker.
fn handles<T>(recorder: &dyn Recorder, n: usize, make: impl Fn() -> T) -> Vec<T> {
    with_local_recorder(recorder, || (0..n).map(|_| make()).collect())
}

fn counter_at(c: &mut Criterion, threads: usize) {
    let gname = format!("facade_counter_{threads}t");
    let mut group = c.benchmark_group(&gname);
    let registry = Registry::new();
    let aureon = AureonRecorder::new(registry.clone());
    let prometheus = Arc::new(PrometheusBuilder::new().build_recorder());
    let count = || metrics::counter!("bench_requests", "method" => "GET");

    bench_workers(
        &mut group,
        &gname,
        "aureon",
        handles(&aureon, threads, count),
        |h, values, iters| {
            for_each_value(values, iters, |_| h.increment(1));
        },
    );
    bench_workers(
        &mut group,
        &gname,
        "prometheus_recorder",
        handles(&*prometheus, threads, count),
        |h, values, iters| for_each_value(values, iters, |_| h.increment(1)),
    );
    let core = registry.counter_with("bench_core_requests", &[("method", "GET")]);
    bench_workers(
        &mut group,
        &gname,
        "aureon_core",
        vec![core; threads],
        |h, values, iters| {
            for_each_value(values, iters, |_| h.increment(1));
        },
    );
    bench_workers(
        &mut group,
        &gname,
        "aureon_unheld",
        vec![aureon.clone(); threads],
        move |r, values, iters| {
            with_local_recorder(r, || {
                for_each_value(values, iters, |_| count().increment(1))
            });
        },
    );
    bench_workers(
        &mut group,
        &gname,
        "prometheus_unheld",
        vec![Arc::clone(&prometheus); threads],
        move |r, values, iters| {
            with_local_recorder(&**r, || {
                for_each_value(values, iters, |_| count().increment(1))
            });
        },
    );
    group.finish();
    black_box((
        registry.snapshot().len(),
        prometheus.handle().render().len(),
    ));
}

fn histogram_at(c: &mut Criterion, threads: usize) {
    let gname = format!("facade_histogram_{threads}t");
    let mut group = c.benchmark_group(&gname);
    let registry = Registry::new();
    let aureon = AureonRecorder::new(registry.clone());
    let prometheus: Arc<PrometheusRecorder> = Arc::new(PrometheusBuilder::new().build_recorder());
    let latency = || metrics::histogram!("bench_latency_seconds", "method" => "GET");
    let seconds = |us: u64| us as f64 * 1e-6;

    bench_workers(
        &mut group,
        &gname,
        "aureon",
        handles(&aureon, threads, latency),
        move |h, values, iters| {
            for_each_value(values, iters, |v| h.record(seconds(v)));
        },
    );
    let render = prometheus.handle();
    bench_workers_then(
        &mut group,
        &gname,
        "prometheus_recorder",
        handles(&*prometheus, threads, latency),
        move |h, values, iters| for_each_value(values, iters, |v| h.record(seconds(v))),
        move || {
            black_box(render.render().len());
        },
    );
    let core = registry.histogram_with_config(
        "bench_core_latency",
        &[("method", "GET")],
        *aureon_metrics::HistogramScale::for_unit(metrics::Unit::Seconds).config(),
    );
    bench_workers(
        &mut group,
        &gname,
        "aureon_core",
        vec![core; threads],
        |h, values, iters| {
            // The core records integers: the caller converts (µs to ns here) instead of the facade.
            for_each_value(values, iters, |v| h.record(v * 1_000));
        },
    );
    bench_workers(
        &mut group,
        &gname,
        "aureon_unheld",
        vec![aureon.clone(); threads],
        move |r, values, iters| {
            with_local_recorder(r, || {
                for_each_value(values, iters, |v| latency().record(seconds(v)))
            });
        },
    );
    let render = prometheus.handle();
    bench_workers_then(
        &mut group,
        &gname,
        "prometheus_unheld",
        vec![Arc::clone(&prometheus); threads],
        move |r, values, iters| {
            with_local_recorder(&**r, || {
                for_each_value(values, iters, |v| latency().record(seconds(v)))
            });
        },
        move || {
            black_box(render.render().len());
        },
    );
    group.finish();
    black_box(registry.snapshot().len());
}

fn facade(c: &mut Criterion) {
    for threads in [1, 2] {
        counter_at(c, threads);
        histogram_at(c, threads);
    }
}

// `criterion_group!` defines a `pub fn`; inside a private module it is not exported, so the
// workspace's `missing_docs` has nothing to ask of it.
mod group {
    use super::*;
    criterion_group!(benches, facade);
}
criterion_main!(group::benches);
