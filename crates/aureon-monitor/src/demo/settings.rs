//! A demo run's settings: the command line's flags completed with their defaults (which
//! depend on whether the live dashboard is shown) and checked against each other.

use super::schedule::Schedule;
use crate::cli::DemoArgs;
use crate::failure::Failure;
use aureon_node::production_monitoring::{BaselineRule, HealthRules};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// How long a run without the live dashboard lasts by default: long enough for a few
/// reports, short enough for a script or CI.
pub const DEFAULT_REPORT_DURATION: Duration = Duration::from_secs(30);
/// Snapshots kept when writing an interval log: the log covers at most the last hour.
pub const MAX_LOGGED_SNAPSHOTS: usize = 3600;
/// Snapshots kept otherwise: what the dashboard's sparklines and windows need, and more.
const DASHBOARD_SNAPSHOTS: usize = 300;

/// Everything a demo run needs to know.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Worker threads.
    pub threads: usize,
    /// When to stop by itself (`None`: on q or a signal only).
    pub duration: Option<Duration>,
    /// Where `/metrics` and `/health` listen.
    pub listen: SocketAddr,
    /// The web configuration file (TLS and auth), if any.
    pub web_config_file: Option<PathBuf>,
    /// Blocks per second, all workers together.
    pub rate: f64,
    /// The load over time.
    pub schedule: Schedule,
    /// Where to write the interval log.
    pub hlog: Option<PathBuf>,
    /// Whether to show the live dashboard (else print reports).
    pub tui: bool,
    /// Time between snapshots and evaluations.
    pub interval: Duration,
    /// Time between printed reports.
    pub report_every: Duration,
    /// How far back the history reaches, in intervals.
    pub retention: usize,
    /// The health rules: the seed's thresholds over `--window`.
    pub rules: HealthRules,
}

impl Settings {
    /// Completes and checks `args`; `tui` says whether the live dashboard will be shown.
    pub fn new(args: &DemoArgs, tui: bool) -> Result<Self, Failure> {
        let duration = match args.duration {
            Some(d) => Some(d),
            None if tui => None,
            None => Some(DEFAULT_REPORT_DURATION),
        };
        if let (Some(at), Some(d)) = (args.degrade_at, duration)
            && at >= d
        {
            return Err(Failure::usage(format!(
                "--degrade-at {} is not before the end of the run ({} in all); use a longer --duration",
                crate::fmt::elapsed(at),
                crate::fmt::elapsed(d)
            )));
        }
        if args.interval > args.window {
            return Err(Failure::usage(format!(
                "--interval ({:?}) must not be longer than --window ({:?}): each evaluation covers one window",
                args.interval, args.window
            )));
        }
        let wanted = match duration {
            Some(d) if args.hlog.is_some() => {
                (d.as_secs_f64() / args.interval.as_secs_f64()).ceil() as usize + 2
            }
            None if args.hlog.is_some() => MAX_LOGGED_SNAPSHOTS,
            _ => DASHBOARD_SNAPSHOTS,
        };
        let rules = HealthRules {
            window: args.window,
            baseline: Some(BaselineRule {
                window: (args.window * 6).max(Duration::from_secs(60)),
                ..BaselineRule::default()
            }),
            ..HealthRules::default()
        };
        rules
            .validate()
            .map_err(|e| Failure::usage(format!("--window: {e}")))?;
        Ok(Self {
            threads: args.threads.unwrap_or_else(crate::args::default_threads),
            duration,
            listen: args.listen,
            web_config_file: args.web_config_file.clone(),
            rate: args.rate,
            schedule: Schedule::new(args.error_rate, args.degrade_at, args.degrade_for),
            hlog: args.hlog.clone(),
            tui,
            interval: args.interval,
            report_every: args.report_every,
            retention: wanted.clamp(DASHBOARD_SNAPSHOTS, MAX_LOGGED_SNAPSHOTS),
            rules,
        })
    }

    /// Whether the history ring is too short to hold the whole run in the interval log.
    pub fn log_is_truncated(&self, ran: Duration) -> bool {
        self.hlog.is_some()
            && ran.as_secs_f64() / self.interval.as_secs_f64() > (self.retention - 1) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn demo(flags: &[&str]) -> DemoArgs {
        let argv = ["aureon-monitor", "demo"].iter().chain(flags);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Demo(d) => d,
            _ => unreachable!(),
        }
    }

    #[test]
    fn the_default_duration_depends_on_the_dashboard() {
        assert_eq!(Settings::new(&demo(&[]), true).unwrap().duration, None);
        assert_eq!(
            Settings::new(&demo(&[]), false).unwrap().duration,
            Some(DEFAULT_REPORT_DURATION)
        );
        let s = Settings::new(&demo(&["--duration", "5s"]), true).unwrap();
        assert_eq!(s.duration, Some(Duration::from_secs(5)));
        assert_eq!(s.rules.window, Duration::from_secs(10));
    }

    #[test]
    fn inconsistent_flags_are_refused() {
        let e =
            Settings::new(&demo(&["--duration", "10s", "--degrade-at", "20s"]), false).unwrap_err();
        assert!(e.message.contains("--degrade-at") && e.code == crate::failure::EXIT_USAGE);
        let e = Settings::new(&demo(&["--interval", "20s"]), false).unwrap_err();
        assert!(e.message.contains("--interval"));
        assert!(Settings::new(&demo(&["--window", "48h"]), false).is_err());
    }

    #[test]
    fn a_logged_run_keeps_its_whole_history_up_to_an_hour() {
        let s = Settings::new(&demo(&["--duration", "5s", "--hlog", "x.hlog"]), false).unwrap();
        assert!(s.retention >= 7 && !s.log_is_truncated(Duration::from_secs(5)));
        let s = Settings::new(&demo(&["--duration", "2h", "--hlog", "x.hlog"]), false).unwrap();
        assert_eq!(s.retention, MAX_LOGGED_SNAPSHOTS);
        assert!(s.log_is_truncated(Duration::from_secs(7200)));
    }
}
