//! Capped exponential backoff with full jitter (as the remote-write spec and the OTLP
//! exporters prescribe): the n-th consecutive failure waits a uniformly random time in
//! `[min/2, min·2^n]`, never more than `max`, so a fleet whose receiver comes back does not
//! retry in lock step.

use std::time::Duration;

/// The backoff state of one sender.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    failures: u32,
    rng: u64,
}

impl Backoff {
    /// Backoff from `min` doubling up to `max` (`max` is raised to `min` if smaller).
    pub fn new(min: Duration, max: Duration, seed: u64) -> Self {
        Self {
            min,
            max: max.max(min),
            failures: 0,
            // xorshift64* must not start at zero.
            rng: seed | 1,
        }
    }

    /// The wait after one more failure.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self
            .min
            .saturating_mul(1u32 << self.failures.min(30))
            .min(self.max);
        self.failures = self.failures.saturating_add(1);
        let floor = (self.min / 2).min(ceiling);
        let span = ceiling - floor;
        let r = self.random();
        // `r / 2^64` of the span, in nanoseconds (spans above u64 nanoseconds do not occur:
        // `max` is a configuration value of minutes at most).
        let nanos = u64::try_from(span.as_nanos()).unwrap_or(u64::MAX);
        floor + Duration::from_nanos(((u128::from(nanos) * u128::from(r)) >> 64) as u64)
    }

    /// A success: the next failure starts from `min` again.
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// Consecutive failures so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    fn random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_stay_under_the_cap_and_reset() {
        let (min, max) = (Duration::from_millis(30), Duration::from_secs(5));
        let mut b = Backoff::new(min, max, 42);
        for n in 0..20u32 {
            let d = b.next_delay();
            let ceiling = min.saturating_mul(1 << n.min(30)).min(max);
            assert!(d >= min / 2 && d <= ceiling, "{n}: {d:?} vs {ceiling:?}");
        }
        assert_eq!(b.failures(), 20);
        b.reset();
        assert!(b.next_delay() <= min);
    }

    #[test]
    fn jitter_spreads_the_delays() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(10), 7);
        let delays: Vec<_> = (0..6)
            .map(|_| {
                let d = b.next_delay();
                b.reset();
                d
            })
            .collect();
        let distinct: std::collections::HashSet<_> = delays.iter().collect();
        assert!(distinct.len() >= 5, "{delays:?}");
    }
}
