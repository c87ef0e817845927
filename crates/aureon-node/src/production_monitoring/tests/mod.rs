//! Tests of the monitoring API. The seed's own examples are here at the top (so the seed's
//! commands `cargo test production_monitoring::tests::test_latency_tracker -- --nocapture`
//! and friends find them by name); the submodules test each part in depth.
//!
//! Expected figures are computed independently of the code under test: from sorted arrays
//! (nearest rank), by hand, or with the `hdrhistogram` crate; never from the trackers' own
//! output.

mod dashboard;
mod errors;
mod health;
mod latency;
mod report;
mod throughput;

use super::{ErrorRateTracker, HealthDashboard, HealthStatus, LatencyTracker, ThroughputTracker};
use std::time::Duration;

/// SplitMix64: a small deterministic generator for test data (no external crate needed).
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(super) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0; the tiny modulo bias is irrelevant for tests).
    pub(super) fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// The nearest-rank quantile of a sorted slice, as HdrHistogram defines it: the
/// `ceil(q * n)`-th smallest value (at least the first).
pub(super) fn nearest_rank(sorted: &[u64], q: f64) -> u64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).max(1);
    sorted[rank - 1]
}

/// The seed's latency example: five samples, their statistics.
#[test]
fn test_latency_tracker() {
    let samples = [1500u64, 2300, 980, 1200, 5500];
    #[allow(unused_mut)] // the seed's code as written; recording takes `&self`
    let mut tracker = LatencyTracker::new("block_processing");
    for us in samples {
        tracker.record_latency_us(us);
    }
    println!("Block Processing Latency:");
    println!("  Avg:  {}µs", tracker.average_latency());
    println!("  Min:  {}µs", tracker.min_latency());
    println!("  Max:  {}µs", tracker.max_latency());
    println!("  p95:  {}µs", tracker.p95_latency());
    println!("  p99:  {}µs", tracker.p99_latency());
    println!("  Samples: {}", tracker.sample_count());

    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    // 1500 + 2300 + 980 + 1200 + 5500 = 11480; / 5 = 2296 (the seed says 2396).
    assert_eq!(samples.iter().sum::<u64>(), 11_480);
    assert_eq!(tracker.average_latency(), 11_480.0 / 5.0);
    assert_eq!(format!("{}", tracker.average_latency()), "2296");
    assert_eq!(tracker.min_latency(), sorted[0]);
    assert_eq!(tracker.max_latency(), sorted[4]);
    // Nearest rank: ceil(0.95 * 5) = 5th smallest = 5500 (the seed says 5016, which no
    // recorded sample has and no usual percentile convention gives).
    assert_eq!(tracker.p95_latency(), nearest_rank(&sorted, 0.95));
    assert_eq!(tracker.p95_latency(), 5500);
    assert_eq!(tracker.p99_latency(), 5500);
    assert_eq!(tracker.sample_count(), 5);
}

/// The seed's error example: 4 successes and 3 errors are 7 operations.
#[test]
fn test_error_rate_tracker() {
    #[allow(unused_mut)] // the seed's code as written; recording takes `&self`
    let mut tracker = ErrorRateTracker::new();
    tracker.record_operation(); // success
    tracker.record_operation(); // success
    tracker.record_error("NetworkTimeout");
    tracker.record_operation(); // success
    tracker.record_error("NetworkTimeout");
    tracker.record_error("DatabaseError");
    tracker.record_operation(); // success

    println!("Error Monitoring:");
    println!("  Total operations: {}", tracker.total_operations());
    println!("  Total errors: {}", tracker.total_errors());
    println!("  Error rate: {:.1}%", tracker.error_rate() * 100.0);
    println!("  Success rate: {:.1}%", tracker.success_rate() * 100.0);
    println!("  Most common error: {:?}", tracker.most_common_error());

    assert_eq!(tracker.total_operations(), 7);
    assert_eq!(tracker.total_errors(), 3);
    assert_eq!(tracker.error_rate(), 3.0 / 7.0);
    assert_eq!(tracker.success_rate(), 4.0 / 7.0);
    assert_eq!(format!("{:.1}%", tracker.error_rate() * 100.0), "42.9%");
    assert_eq!(format!("{:.1}%", tracker.success_rate() * 100.0), "57.1%");
    assert_eq!(
        format!("{:?}", tracker.most_common_error()),
        r#"Some("NetworkTimeout")"#
    );
    assert_eq!(
        tracker.error_counts(),
        [
            ("NetworkTimeout".to_owned(), 2),
            ("DatabaseError".to_owned(), 1)
        ]
    );
}

/// The seed's throughput example, on the real clock: 1000 operations at once, then 500 at
/// about one per millisecond.
#[test]
fn test_throughput_tracker() {
    #[allow(unused_mut)] // the seed's code as written; recording takes `&self`
    let mut tracker = ThroughputTracker::new();
    let started = std::time::Instant::now();
    for _ in 0..1000 {
        tracker.record_operation();
    }
    println!("Throughput Measurement:");
    println!("  Total operations: {}", tracker.total_operations());
    println!("  Overall ops/sec: {}", tracker.ops_per_sec());
    assert_eq!(tracker.total_operations(), 1000);

    for _ in 0..500 {
        tracker.record_operation();
        std::thread::sleep(Duration::from_millis(1));
    }
    let rate = tracker.window_ops_per_sec(10);
    let elapsed = started.elapsed();
    println!("  Last 10s throughput: {} ops/sec", rate);

    assert_eq!(tracker.total_operations(), 1500);
    // All 1500 are inside the last 10 s, and the window covers only the tracker's life
    // (not 10 s), so the rate is 1500 over a little less than `elapsed`. The sleeps make
    // that at least 500 ms, so the rate is at most 3000/s; scheduling can only stretch it.
    let lowest = 1500.0 / (elapsed.as_secs_f64() + 0.05);
    assert!(
        rate >= lowest && rate <= 3000.0,
        "rate {rate}, elapsed {elapsed:?}"
    );
}

/// The seed's dashboard example, with the figures the seed should have shown.
#[test]
fn test_health_dashboard() {
    #[allow(unused_mut)] // the seed's code as written; recording takes `&self`
    let mut dashboard = HealthDashboard::new("aureon-node");
    for i in 0..10 {
        dashboard.record_latency("header_add", 100 + i * 10);
    }
    dashboard.record_operation("block_proposal");
    dashboard.record_operation("block_proposal");
    dashboard.record_error("consensus", "TooManyValidators");
    for _ in 0..100 {
        dashboard.record_operation("tx_validation");
    }
    dashboard.update_health_status();
    let report = dashboard.generate_report();
    println!("{report}");

    // Independent figures: header_add is 100, 110, …, 190.
    let header_add: Vec<u64> = (0..10).map(|i| 100 + i * 10).collect();
    let mean = header_add.iter().sum::<u64>() as f64 / 10.0;
    assert_eq!(mean, 145.0);
    assert_eq!(nearest_rank(&header_add, 0.95), 190);
    assert_eq!(nearest_rank(&header_add, 0.99), 190);
    // Operations: 2 block_proposal + 1 consensus (an error) + 100 tx_validation = 103.
    let error_rate = 1.0 / 103.0;
    assert_eq!(format!("{:.2}%", error_rate * 100.0), "0.97%");

    assert_eq!(dashboard.calculate_avg_latency(), mean);
    assert_eq!(dashboard.error_tracker.total_operations(), 103);
    assert_eq!(dashboard.error_tracker.error_rate(), error_rate);
    assert!(dashboard.status == HealthStatus::Healthy);

    let lines: Vec<&str> = report.lines().collect();
    let rule = "═".repeat(39);
    assert_eq!(
        lines[..5],
        [
            rule.as_str(),
            "Service: aureon-node",
            "Status: Healthy",
            rule.as_str(),
            ""
        ]
    );
    assert_eq!(
        lines[5..11],
        [
            "Operations:",
            "  header_add: avg 145µs (p95: 190µs, p99: 190µs)",
            "  block_proposal: 2 ops",
            "  consensus: 1 ops, error rate 100.00% (TooManyValidators: 1)",
            "  tx_validation: 100 ops",
            "",
        ]
    );
    assert_eq!(
        lines[11..14],
        [
            "Overall Metrics:",
            "  Avg Latency: 145µs",
            "  Error Rate: 0.97%"
        ]
    );
    // Throughput needs a second of observation; this dashboard is microseconds old.
    assert!(
        lines[14].starts_with("  Throughput: n/a (only "),
        "{}",
        lines[14]
    );
    assert!(
        lines[15].starts_with("  Memory: ") && lines[15].ends_with("MiB resident"),
        "{}",
        lines[15]
    );
    assert_eq!(
        lines[16],
        "  Status: Healthy (<1% errors, p95 <5ms, p99 <10ms, memory <300MiB)"
    );
    assert_eq!(lines[17], rule);
    assert_eq!(lines.len(), 18);
}
