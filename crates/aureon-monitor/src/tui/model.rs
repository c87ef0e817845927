//! What the live dashboard shows, computed from the snapshotter's published history only:
//! per-operation figures over the recent window, per-interval series for the sparklines,
//! throughput, and errors by kind.
//!
//! A pure function of a [`History`], so it is tested with snapshots made by hand. Windows
//! and intervals are differences of cumulative snapshots (`History::window`,
//! `History::intervals`), so every figure covers exactly the time it says.

use aureon_node::production_monitoring::{ERRORS_METRIC, LATENCY_METRIC, OPERATIONS_METRIC};
use aureon_telemetry::{Exemplar, History, MetricValue, Window};
use std::time::Duration;

/// One operation's row.
#[derive(Debug, Clone, PartialEq)]
pub struct OpRow {
    /// Operation name.
    pub name: String,
    /// Operations per second in the window (failed ones included).
    pub rate: Option<f64>,
    /// Latency samples in the window.
    pub samples: u64,
    /// Percentiles and maximum in the window, µs (`None` without samples).
    pub p50: Option<u64>,
    /// See `p50`.
    pub p95: Option<u64>,
    /// See `p50`.
    pub p99: Option<u64>,
    /// See `p50`.
    pub max: Option<u64>,
    /// p99 of each interval, oldest first (`None`: no samples in it).
    pub p99_series: Vec<Option<u64>>,
    /// The slowest exemplar (value in µs, id) recorded in the window, if the operation
    /// records exemplars (the demo's `block_processing`: the id is the block height).
    pub slowest: Option<Exemplar>,
}

/// One error kind's row.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorRow {
    /// Operation.
    pub op: String,
    /// Error kind.
    pub kind: String,
    /// Errors in the window.
    pub recent: u64,
    /// Share of the operation's operations in the window that failed this way.
    pub share: Option<f64>,
    /// Errors since the start.
    pub lifetime: u64,
}

/// Everything the metric panels show.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsView {
    /// Sequence number of the latest snapshot.
    pub sequence: u64,
    /// The time the window really covers (`None` until two snapshots exist).
    pub span: Option<Duration>,
    /// Operations, by name.
    pub ops: Vec<OpRow>,
    /// All operations per second over the window.
    pub throughput: Option<f64>,
    /// All operations per second in each interval, oldest first.
    pub throughput_series: Vec<u64>,
    /// Error kinds seen since the start, most recent errors first.
    pub errors: Vec<ErrorRow>,
}

/// Builds the view from `history`: figures over the last `window`, series over the last
/// `points` intervals.
pub fn build(history: &History, window: Duration, points: usize) -> MetricsView {
    let latest = history.latest();
    let recent = history.window(window);
    let intervals: Vec<Window> = {
        let all: Vec<Window> = history.intervals().collect();
        let skip = all.len().saturating_sub(points);
        all.into_iter().skip(skip).collect()
    };
    let names: Vec<String> = latest
        .family(LATENCY_METRIC)
        .filter_map(|(labels, _)| labels.get("op").map(str::to_owned))
        .collect();

    let ops = names
        .iter()
        .map(|name| {
            let labels = [("op", name.as_str())];
            let delta = recent
                .as_ref()
                .and_then(|w| w.histogram_delta(LATENCY_METRIC, &labels))
                .filter(|h| h.count() > 0);
            OpRow {
                name: name.clone(),
                rate: recent
                    .as_ref()
                    .and_then(|w| w.counter_rate(OPERATIONS_METRIC, &labels)),
                samples: delta.as_ref().map_or(0, |h| h.count()),
                p50: delta.as_ref().map(|h| h.p50()),
                p95: delta.as_ref().map(|h| h.p95()),
                p99: delta.as_ref().map(|h| h.p99()),
                max: delta.as_ref().map(|h| h.max()),
                p99_series: intervals
                    .iter()
                    .map(|w| {
                        w.histogram_delta(LATENCY_METRIC, &labels)
                            .filter(|h| h.count() > 0)
                            .map(|h| h.p99())
                    })
                    .collect(),
                // A window keeps the slowest ids recorded in it.
                slowest: delta
                    .as_ref()
                    .and_then(|h| h.exemplars().iter().copied().max()),
            }
        })
        .collect();

    let all_ops = |w: &Window| -> u64 {
        names
            .iter()
            .filter_map(|n| w.counter_delta(OPERATIONS_METRIC, &[("op", n.as_str())]))
            .sum()
    };
    let per_sec = |w: &Window, n: u64| {
        let secs = w.elapsed().as_secs_f64();
        (secs > 0.0).then(|| n as f64 / secs)
    };

    let mut errors: Vec<ErrorRow> = latest
        .family(ERRORS_METRIC)
        .filter_map(|(labels, value)| {
            let (MetricValue::Counter(lifetime), Some(op), Some(kind)) =
                (value, labels.get("op"), labels.get("kind"))
            else {
                return None;
            };
            let key = [("op", op), ("kind", kind)];
            let recent_errors = recent
                .as_ref()
                .and_then(|w| w.counter_delta(ERRORS_METRIC, &key))
                .unwrap_or(0);
            let op_ops = recent
                .as_ref()
                .and_then(|w| w.counter_delta(OPERATIONS_METRIC, &[("op", op)]));
            Some(ErrorRow {
                op: op.to_owned(),
                kind: kind.to_owned(),
                recent: recent_errors,
                share: op_ops
                    .filter(|&n| n > 0)
                    .map(|n| recent_errors as f64 / n as f64),
                lifetime: *lifetime,
            })
        })
        .filter(|row| row.lifetime > 0)
        .collect();
    errors.sort_by(|a, b| {
        (b.recent, b.lifetime)
            .cmp(&(a.recent, a.lifetime))
            .then_with(|| (&a.op, &a.kind).cmp(&(&b.op, &b.kind)))
    });

    MetricsView {
        sequence: latest.sequence(),
        span: recent.as_ref().map(Window::elapsed),
        ops,
        throughput: recent.as_ref().and_then(|w| per_sec(w, all_ops(w))),
        throughput_series: intervals
            .iter()
            .map(|w| per_sec(w, all_ops(w)).map_or(0, |r| r.round() as u64))
            .collect(),
        errors,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aureon_node::production_monitoring::HealthDashboard;
    use std::sync::Arc;

    #[test]
    fn figures_cover_the_window_and_series_each_interval() {
        let dashboard = HealthDashboard::new("test");
        let registry = dashboard.registry().clone();
        let mut history = History::new(Arc::new(registry.snapshot()));
        let push = |h: &History| {
            std::thread::sleep(Duration::from_millis(5));
            h.with_pushed(Arc::new(registry.snapshot()), 100)
        };
        // Interval 1: 100 fast operations. Interval 2: 10 slow ones, 2 of them failed.
        for v in 1..=100 {
            dashboard.record_latency("validate", v);
            dashboard.record_operation("validate");
        }
        history = push(&history);
        for _ in 0..8 {
            dashboard.record_latency("validate", 5_000);
            dashboard.record_operation("validate");
        }
        for _ in 0..2 {
            dashboard.record_latency("validate", 5_000);
            dashboard.record_error("validate", "bad_signature");
        }
        history = push(&history);

        // A window longer than the history covers all of it.
        let view = build(&history, Duration::from_secs(60), 10);
        let op = &view.ops[0];
        assert_eq!((op.name.as_str(), op.samples), ("validate", 110));
        assert_eq!(op.max, Some(5_000));
        // Reference: 110 sorted values; p50 is the 55th (55), p95 the 105th (5000).
        assert_eq!((op.p50, op.p95), (Some(55), Some(5_000)));
        assert_eq!(op.p99_series, vec![Some(99), Some(5_000)]);
        assert_eq!(view.errors.len(), 1);
        let e = &view.errors[0];
        assert_eq!(
            (e.kind.as_str(), e.recent, e.lifetime),
            ("bad_signature", 2, 2)
        );
        assert_eq!(e.share, Some(2.0 / 110.0));
        assert_eq!(view.throughput_series.len(), 2);
        let span = view.span.unwrap().as_secs_f64();
        let rate = view.throughput.unwrap();
        assert!((rate * span - 110.0).abs() < 1e-6, "{rate} × {span}");

        // Only the last interval.
        let view = build(&history, Duration::ZERO, 1);
        assert_eq!(view.ops[0].samples, 10);
        assert_eq!(view.ops[0].p50, Some(5_000));
        assert_eq!(view.ops[0].p99_series, vec![Some(5_000)]);
    }

    #[test]
    fn the_slowest_exemplar_of_the_window_is_named() {
        use aureon_telemetry::{Snapshotter, SnapshotterConfig};
        let dashboard = HealthDashboard::new("test");
        let block = dashboard.operation("block_processing");
        // Exemplar intervals close when a snapshotter publishes, as in the demo; a long
        // interval so that only `tick` publishes.
        let snapshotter = Snapshotter::spawn(
            dashboard.registry(),
            SnapshotterConfig {
                interval: Duration::from_secs(3600),
                ..SnapshotterConfig::default()
            },
        )
        .unwrap();
        let push = || {
            std::thread::sleep(Duration::from_millis(5));
            snapshotter.tick();
        };
        // Interval 1: heights 1..=50, the slowest is height 17 at 900 µs.
        for height in 1..=50 {
            let us = if height == 17 { 900 } else { 40 + height };
            block.record_latency_with_exemplar(us, height);
        }
        push();
        // Interval 2: heights 51..=60, slowest 300 µs at height 58.
        for height in 51..=60 {
            block.record_latency_with_exemplar(if height == 58 { 300 } else { 50 }, height);
        }
        dashboard.record_latency("tx_validation", 5_000);
        push();
        let history = snapshotter.history();

        let view = build(&history, Duration::from_secs(60), 10);
        let by = |name: &str| view.ops.iter().find(|o| o.name == name).unwrap().clone();
        assert_eq!(
            by("block_processing").slowest,
            Some(Exemplar { value: 900, id: 17 })
        );
        // Only the last interval: the earlier spike is out of the window.
        let view = build(&history, Duration::ZERO, 1);
        let by = |name: &str| view.ops.iter().find(|o| o.name == name).unwrap().clone();
        assert_eq!(
            by("block_processing").slowest,
            Some(Exemplar { value: 300, id: 58 })
        );
        // Plain records carry no exemplar.
        assert_eq!(by("tx_validation").slowest, None);
    }

    #[test]
    fn a_fresh_history_shows_no_figures_yet() {
        let dashboard = HealthDashboard::new("test");
        dashboard.record_latency("validate", 10);
        let history = History::new(Arc::new(dashboard.registry().snapshot()));
        let view = build(&history, Duration::from_secs(10), 10);
        assert_eq!(view.span, None);
        assert_eq!(view.ops[0].p99, None);
        assert!(view.ops[0].p99_series.is_empty());
    }
}
