//! Counters (crates/aureon-telemetry/src/counter.rs): one single-writer cell per thread,
//! summed by readers; plus the gauge's shared read-modify-write.

use crate::support::{join_all, model, writers_first};
use aureon_telemetry::{Counter, Gauge};
use loom::thread;

/// Two threads increment (one of them twice) while the main thread reads the total twice.
/// Each read is the sum of some prefix of each thread's increments (nothing invented), the
/// second read is never below the first (each cell only grows, and read-read coherence holds
/// per cell), and once both threads are done the total is exact.
#[test]
fn counter_cells_sum_exactly() {
    model("counter_cells_sum_exactly", || {
        let c = Counter::new();
        let a = {
            let c = c.clone();
            thread::spawn(move || {
                c.increment(1);
                c.increment(2);
            })
        };
        let b = {
            let c = c.clone();
            thread::spawn(move || c.increment(5))
        };
        // Every total a reader may see: a prefix of a's increments plus 0 or 5.
        let possible = [0, 1, 3, 5, 6, 8];
        writers_first();
        let first = c.value();
        let second = c.value();
        assert!(possible.contains(&first), "invented total {first}");
        assert!(possible.contains(&second), "invented total {second}");
        assert!(
            second >= first,
            "total went backwards: {first} then {second}"
        );
        join_all([a, b]);
        assert_eq!(c.value(), 8);
    });
}

/// Gauges are one shared cell: `add` is a compare-and-swap loop, so concurrent adds are
/// never lost (a load-then-store would lose one).
#[test]
fn gauge_adds_are_atomic() {
    model("gauge_adds_are_atomic", || {
        let g = Gauge::new();
        let threads: Vec<_> = [1.0, 2.0]
            .into_iter()
            .map(|d| {
                let g = g.clone();
                thread::spawn(move || g.add(d))
            })
            .collect();
        writers_first();
        let seen = g.value();
        assert!(
            [0.0, 1.0, 2.0, 3.0].contains(&seen),
            "invented gauge value {seen}"
        );
        join_all(threads);
        assert_eq!(g.value(), 3.0);
    });
}
