//! Per-span busy and idle time, kept in the span's extensions from creation to close.
//!
//! Busy time is the time the span is entered, summed over every entry; idle time is the
//! rest of its life (from creation to close), as `tracing-subscriber`'s `fmt` span timings
//! define them. A span entered again while already entered (re-entered on the same thread,
//! or entered on two threads at once) is busy from its first enter until its last exit, so
//! overlapping entries are not counted twice.

use quanta::Instant;

/// The timing state of one open span.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SpanTiming {
    /// The last time the span went from idle to busy or back (its creation at first).
    last: Instant,
    busy_nanos: u64,
    idle_nanos: u64,
    /// How many entries are open (more than one when entered again before exiting).
    entered: u32,
}

fn nanos_between(earlier: Instant, later: Instant) -> u64 {
    u64::try_from(later.saturating_duration_since(earlier).as_nanos()).unwrap_or(u64::MAX)
}

impl SpanTiming {
    pub(crate) fn new(now: Instant) -> Self {
        Self {
            last: now,
            busy_nanos: 0,
            idle_nanos: 0,
            entered: 0,
        }
    }

    pub(crate) fn enter(&mut self, now: Instant) {
        if self.entered == 0 {
            self.idle_nanos = self
                .idle_nanos
                .saturating_add(nanos_between(self.last, now));
            self.last = now;
        }
        self.entered = self.entered.saturating_add(1);
    }

    pub(crate) fn exit(&mut self, now: Instant) {
        match self.entered {
            // An exit without an enter (the span was created before this layer saw it
            // entered): nothing to close.
            0 => {}
            1 => {
                self.busy_nanos = self
                    .busy_nanos
                    .saturating_add(nanos_between(self.last, now));
                self.last = now;
                self.entered = 0;
            }
            _ => self.entered -= 1,
        }
    }

    /// `(busy, idle)` in nanoseconds, counting the time since the last change up to `now`.
    pub(crate) fn close(self, now: Instant) -> (u64, u64) {
        let tail = nanos_between(self.last, now);
        if self.entered > 0 {
            (self.busy_nanos.saturating_add(tail), self.idle_nanos)
        } else {
            (self.busy_nanos, self.idle_nanos.saturating_add(tail))
        }
    }
}

/// The timings of one span, one per [`crate::SpanTimingLayer`] instance on the subscriber.
///
/// Extensions hold one value per type, so two layers (say, one per registry) must share this
/// one. The first layer's timing is kept inline, so the usual single layer costs one id
/// comparison and no allocation; further layers' go in a vector.
#[derive(Debug)]
pub(crate) struct SpanTimings {
    layer: u64,
    timing: SpanTiming,
    others: Vec<(u64, SpanTiming)>,
}

impl SpanTimings {
    pub(crate) fn new(layer: u64, timing: SpanTiming) -> Self {
        Self {
            layer,
            timing,
            others: Vec::new(),
        }
    }

    /// Adds `layer`'s timing (a second layer on the same subscriber).
    pub(crate) fn add(&mut self, layer: u64, timing: SpanTiming) {
        self.others.push((layer, timing));
    }

    /// `layer`'s timing, if it saw the span created.
    #[inline]
    pub(crate) fn get_mut(&mut self, layer: u64) -> Option<&mut SpanTiming> {
        if self.layer == layer {
            return Some(&mut self.timing);
        }
        self.others
            .iter_mut()
            .find(|(l, _)| *l == layer)
            .map(|(_, t)| t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quanta::Clock;
    use std::time::Duration;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn busy_and_idle_alternate_and_sum_over_reentries() {
        let (clock, mock) = Clock::mock();
        let mut t = SpanTiming::new(clock.now());
        mock.increment(ms(1)); // idle 1
        t.enter(clock.now());
        mock.increment(ms(2)); // busy 2
        t.exit(clock.now());
        mock.increment(ms(4)); // idle 4
        t.enter(clock.now());
        mock.increment(ms(8)); // busy 8
        t.exit(clock.now());
        mock.increment(ms(16)); // idle 16
        assert_eq!(t.close(clock.now()), (10_000_000, 21_000_000));
    }

    #[test]
    fn overlapping_entries_count_once() {
        let (clock, mock) = Clock::mock();
        let mut t = SpanTiming::new(clock.now());
        t.enter(clock.now());
        mock.increment(ms(3));
        t.enter(clock.now()); // entered again (another thread, or re-entered)
        mock.increment(ms(5));
        t.exit(clock.now());
        mock.increment(ms(7));
        t.exit(clock.now());
        mock.increment(ms(1));
        assert_eq!(t.close(clock.now()), (15_000_000, 1_000_000));
    }

    #[test]
    fn unbalanced_exits_and_closing_while_entered_are_handled() {
        let (clock, mock) = Clock::mock();
        let mut t = SpanTiming::new(clock.now());
        t.exit(clock.now()); // ignored
        mock.increment(ms(2));
        t.enter(clock.now());
        mock.increment(ms(3));
        assert_eq!(t.close(clock.now()), (3_000_000, 2_000_000));
    }
}
