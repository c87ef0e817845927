//! What the simulated peers do over time: the normal load, and the degradation injected by
//! `--degrade-at` for `--degrade-for`.
//!
//! A pure function of the time since the start, so the phases can be tested without waiting
//! and every worker agrees on them.

use super::chain::Faults;
use std::time::Duration;

/// How much worse inputs get while degraded: this is added to `--error-rate`. Validation
/// stops at a block's first bad transaction, so most blocks of 32 transactions are rejected
/// and about 7% of operations fail: the 10 s window's error rate passes the 1% target within
/// seconds and the 5% alert threshold after about ten.
pub const DEGRADED_EXTRA_ERRORS: f64 = 0.06;
/// The storage stall added to every block's processing while degraded. It lands between the
/// p99 target (10 ms) and alert threshold (20 ms), and far above the normal baseline.
pub const DEGRADED_STALL: Duration = Duration::from_millis(12);

/// The load plan of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// Fraction of transactions and headers corrupted normally.
    pub error_rate: f64,
    /// When the degradation starts and ends, since the start of the run.
    pub degrade: Option<(Duration, Duration)>,
}

/// What the peers and the node do at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Phase {
    /// What the peer corrupts.
    pub faults: Faults,
    /// Time the node's storage stalls in each block's processing (zero normally).
    pub stall: Duration,
    /// Whether this is the injected degradation.
    pub degraded: bool,
}

impl Schedule {
    /// The plan for `--error-rate`, `--degrade-at` and `--degrade-for`.
    pub fn new(error_rate: f64, degrade_at: Option<Duration>, degrade_for: Duration) -> Self {
        Self {
            error_rate,
            degrade: degrade_at.map(|at| (at, at.saturating_add(degrade_for))),
        }
    }

    /// Whether `elapsed` falls in the degradation.
    pub fn degraded_at(&self, elapsed: Duration) -> bool {
        self.degrade
            .is_some_and(|(from, to)| from <= elapsed && elapsed < to)
    }

    /// The phase at `elapsed` since the start.
    pub fn phase_at(&self, elapsed: Duration) -> Phase {
        let degraded = self.degraded_at(elapsed);
        let p = if degraded {
            (self.error_rate + DEGRADED_EXTRA_ERRORS).min(1.0)
        } else {
            self.error_rate
        };
        Phase {
            faults: Faults { tx: p, header: p },
            stall: if degraded {
                DEGRADED_STALL
            } else {
                Duration::ZERO
            },
            degraded,
        }
    }

    /// For people: what happens next, at `elapsed` ("degradation in 12s", "degraded for 3s
    /// more", or nothing).
    pub fn describe(&self, elapsed: Duration) -> Option<String> {
        let (from, to) = self.degrade?;
        if elapsed < from {
            Some(format!(
                "degradation injected in {}",
                crate::fmt::elapsed(from - elapsed + Duration::from_millis(999))
            ))
        } else if elapsed < to {
            Some(format!(
                "DEGRADATION INJECTED: +{}% corrupt inputs, {}ms storage stalls, {} left",
                DEGRADED_EXTRA_ERRORS * 100.0,
                DEGRADED_STALL.as_millis(),
                crate::fmt::elapsed(to - elapsed + Duration::from_millis(999))
            ))
        } else {
            Some(format!(
                "degradation over {} ago; watch the status recover",
                crate::fmt::elapsed(elapsed - to)
            ))
        }
    }
}

/// Paces one worker at `rate` blocks per second: the times at which to start each block.
/// A worker that falls more than a second behind (the machine is busy, or the storage
/// stalls) starts afresh from now instead of bursting to catch up.
#[derive(Debug, Clone)]
pub struct Pacer {
    period: Duration,
    next: Duration,
}

impl Pacer {
    /// `rate` blocks per second (positive), the first at `start`.
    pub fn new(rate: f64, start: Duration) -> Self {
        Self {
            period: Duration::from_secs_f64(1.0 / rate),
            next: start,
        }
    }

    /// How long to wait at `now` before the next block, and reserves the slot after it.
    pub fn wait_at(&mut self, now: Duration) -> Duration {
        if now > self.next + Duration::from_secs(1) {
            self.next = now;
        }
        let wait = self.next.saturating_sub(now);
        self.next += self.period;
        wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn degradation_covers_its_span_only() {
        let s = Schedule::new(0.002, Some(S(20)), S(15));
        assert!(!s.phase_at(S(19)).degraded);
        let p = s.phase_at(S(20));
        assert!(p.degraded);
        assert_eq!(p.stall, DEGRADED_STALL);
        assert!((p.faults.tx - 0.062).abs() < 1e-12);
        assert!(s.phase_at(S(34)).degraded);
        assert!(!s.phase_at(S(35)).degraded);
        assert_eq!(s.phase_at(S(35)).faults.tx, 0.002);
        assert!(s.describe(S(5)).unwrap().contains("in 15s"));
        assert!(s.describe(S(25)).unwrap().contains("10s left"));
        assert!(s.describe(S(40)).unwrap().contains("5s ago"));
        let calm = Schedule::new(0.0, None, S(15));
        assert!(!calm.phase_at(S(20)).degraded && calm.describe(S(1)).is_none());
    }

    #[test]
    fn pacing_keeps_the_rate_and_does_not_burst() {
        let mut p = Pacer::new(10.0, Duration::ZERO);
        assert_eq!(p.wait_at(Duration::ZERO), Duration::ZERO);
        assert_eq!(
            p.wait_at(Duration::from_millis(30)),
            Duration::from_millis(70)
        );
        assert_eq!(p.wait_at(Duration::from_millis(200)), Duration::ZERO);
        // Far behind: start afresh, no burst of catch-up blocks.
        assert_eq!(p.wait_at(S(10)), Duration::ZERO);
        assert_eq!(p.wait_at(S(10)), Duration::from_millis(100));
    }
}
