//! The stress test's progress bar: indicatif on standard error, fed by the test's own outcome
//! counters in the core registry.
//!
//! The stress test takes no progress callback; it does record every validation in
//! `aureon_stress_validations_total{outcome=…}` of the registry it is given. A watcher thread
//! reads those counters (the same cores, through handles to the same keys) a few times a
//! second, so the bar shows validations really done. While the counters stay at zero the
//! chain is still being built, and the bar says so. indicatif hides the bar when standard
//! error is not a terminal.

use aureon_node::stress_testing::{Corruption, OUTCOME_METRIC};
use aureon_telemetry::{Counter, Registry};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// Time between reads of the counters.
const TICK: Duration = Duration::from_millis(100);

/// A running progress bar; [`Progress::finish`] stops it.
pub struct Progress {
    done: Arc<AtomicBool>,
    watcher: Option<JoinHandle<()>>,
}

impl Progress {
    /// Starts watching `registry` for `headers` validations.
    pub fn start(registry: &Registry, headers: usize) -> Self {
        let bar = ProgressBar::with_draw_target(Some(headers as u64), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{msg:>20} [{bar:40}] {human_pos}/{human_len} ({elapsed})",
            )
            .map(|s| s.progress_chars("=> "))
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_message("building the chain");
        let counters: Vec<Counter> = std::iter::once("ok")
            .chain(Corruption::ALL.iter().map(|c| c.as_str()))
            .map(|outcome| registry.counter_with(OUTCOME_METRIC, &[("outcome", outcome)]))
            .collect();
        let done = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&done);
        let watcher = std::thread::Builder::new()
            .name("aureon-stress-progress".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    let validated: u64 = counters.iter().map(Counter::value).sum();
                    if validated > 0 {
                        bar.set_message("validating headers");
                        bar.set_position(validated);
                    }
                    std::thread::sleep(TICK);
                }
                bar.finish_and_clear();
            })
            .ok();
        Self { done, watcher }
    }

    /// Stops the bar and clears it from the terminal.
    pub fn finish(mut self) {
        self.done.store(true, Ordering::Relaxed);
        if let Some(w) = self.watcher.take() {
            // The watcher only reads counters and draws; nothing to recover if it panicked.
            let _ = w.join();
        }
    }
}
