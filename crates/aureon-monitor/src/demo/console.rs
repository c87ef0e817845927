//! The demo without the live dashboard: the seed-style text report
//! (`HealthDashboard::generate_report`) every `--report-every`, until the run stops.
//!
//! Reports go to standard output, one block each, so a pipe or a log file gets them whole;
//! the figures are the dashboard's lifetime totals and its last evaluation.

use super::Live;
use crate::failure::{Failure, print_stdout};
use std::time::{Duration, Instant};

/// Prints a report every `--report-every` until the run stops.
pub fn run(live: &Live<'_>) -> Result<(), Failure> {
    let every = live.settings.report_every;
    let mut next = every;
    loop {
        if live.settings.duration.is_some_and(|d| next >= d) {
            // The final report comes at the end; one due at the same moment would repeat it.
            // The evaluator stops the run at the end of --duration, so this wait is bounded.
            while !live.stop.wait(Duration::from_secs(60)) {}
            return Ok(());
        }
        let until = (live.started + next).saturating_duration_since(Instant::now());
        if live.stop.wait(until) {
            return Ok(());
        }
        next += every;
        let elapsed = live.started.elapsed();
        let mut text = format!("── report at {} ──\n", crate::fmt::elapsed(elapsed));
        if let Some(phase) = live.settings.schedule.describe(elapsed) {
            text.push_str(&format!("   ({phase})\n"));
        }
        text.push_str(&live.dashboard.generate_report());
        print_stdout(&text)?;
    }
}
