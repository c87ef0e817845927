//! [`StopSignal`]: how every thread of a demo run learns that it is over, and why.
//!
//! Workers check a flag between blocks; threads that wait (the evaluator, the report loop)
//! wait on a condition variable, so a stop (q, Ctrl-C, SIGTERM, the end of `--duration`)
//! wakes them at once instead of at their next tick. The flag is set before notifying, under
//! the mutex the waiters check it under, so a stop is never missed.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Why a run stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// `--duration` elapsed.
    Duration,
    /// The user pressed q or Esc in the dashboard.
    Quit,
    /// SIGINT (Ctrl-C) or SIGTERM.
    Signal,
    /// Something failed (the dashboard's terminal, a thread).
    Error,
}

impl StopReason {
    fn code(self) -> u8 {
        match self {
            StopReason::Duration => 1,
            StopReason::Quit => 2,
            StopReason::Signal => 3,
            StopReason::Error => 4,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(StopReason::Duration),
            2 => Some(StopReason::Quit),
            3 => Some(StopReason::Signal),
            4 => Some(StopReason::Error),
            _ => None,
        }
    }

    /// In words, for the final report.
    pub fn describe(self) -> &'static str {
        match self {
            StopReason::Duration => "the end of --duration",
            StopReason::Quit => "q or Esc",
            StopReason::Signal => "a signal (Ctrl-C or SIGTERM)",
            StopReason::Error => "an error",
        }
    }
}

/// A one-way stop flag with a reason (the first one given wins).
#[derive(Debug, Default)]
pub struct StopSignal {
    stopped: AtomicBool,
    reason: AtomicU8,
    lock: Mutex<()>,
    wake: Condvar,
}

impl StopSignal {
    /// Not stopped.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stops the run for `reason` and wakes every waiter.
    pub fn stop(&self, reason: StopReason) {
        let _ =
            self.reason
                .compare_exchange(0, reason.code(), Ordering::Relaxed, Ordering::Relaxed);
        let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        self.stopped.store(true, Ordering::Release);
        self.wake.notify_all();
    }

    /// Whether the run is stopping.
    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    /// Why the run stopped (`None` while it runs).
    pub fn reason(&self) -> Option<StopReason> {
        StopReason::from_code(self.reason.load(Ordering::Relaxed))
    }

    /// Waits up to `timeout`; returns whether the run is stopping.
    pub fn wait(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if self.stopped.load(Ordering::Acquire) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            guard = match self.wake.wait_timeout(guard, deadline - now) {
                Ok((g, _)) => g,
                Err(e) => e.into_inner().0,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_stop_wakes_a_waiter_at_once_and_keeps_its_first_reason() {
        let signal = Arc::new(StopSignal::new());
        assert!(!signal.wait(Duration::from_millis(5)));
        let waiter = {
            let s = Arc::clone(&signal);
            std::thread::spawn(move || {
                let t = Instant::now();
                (s.wait(Duration::from_secs(30)), t.elapsed())
            })
        };
        std::thread::sleep(Duration::from_millis(20));
        signal.stop(StopReason::Quit);
        signal.stop(StopReason::Signal);
        let (stopped, waited) = waiter.join().unwrap();
        assert!(stopped && waited < Duration::from_secs(10));
        assert!(signal.is_stopped());
        assert_eq!(signal.reason(), Some(StopReason::Quit));
    }
}
