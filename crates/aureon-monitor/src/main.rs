//! `aureon-monitor`: the command a new user runs first.
//!
//! * `demo`: a multi-threaded block-processing node under load, recorded through the lock-free
//!   core, served on `/metrics` and `/health`, shown on a live terminal dashboard
//!   ([`demo`], [`tui`]).
//! * `stress`: the seed's header-chain stress test with a progress bar ([`stress`]).
//! * `report` and `plot`: percentile tables and plots of HdrHistogram interval logs
//!   ([`report`], [`plot`], both reading through [`interval_log`]).
//! * `grafana`: the Grafana dashboard matching what `/metrics` exports.
//! * `demo --remote-write`/`--otlp` and `stress --push-gateway`: the push roads ([`push`]).
//!
//! This file only parses the command line and turns a [`Failure`] into a message and an exit
//! status; every command lives in its own module.

mod args;
mod cli;
mod demo;
mod failure;
mod fmt;
mod interval_log;
mod plot;
mod push;
mod report;
mod stress;
mod tui;

use aureon_node::counting_allocator::CountingAllocator;
use clap::Parser;
use failure::Failure;
use std::io::Write;
use std::process::ExitCode;

// The stress test then measures the heap its own threads hold (its most precise method);
// other threads pay one thread-local read per allocation, and recording never allocates.
#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let outcome = match cli.command {
        cli::Command::Demo(args) => demo::run(args),
        cli::Command::Stress(args) => stress::run(args),
        cli::Command::Report(args) => report::run(args),
        cli::Command::Plot(args) => plot::run(args),
        cli::Command::Grafana(args) => grafana(args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            if !failure.message.is_empty() {
                // Not `eprintln!`, which panics when standard error is gone (a closed terminal).
                let _ = writeln!(std::io::stderr(), "aureon-monitor: {}", failure.message);
            }
            ExitCode::from(failure.code)
        }
    }
}

/// `grafana`: the dashboard for the names the demo's `/metrics` exports (default options).
fn grafana(args: cli::GrafanaArgs) -> Result<(), Failure> {
    let mut spec = aureon_prometheus::grafana::DashboardSpec::default();
    if let Some(title) = args.title {
        spec.title = title;
    }
    let json = aureon_prometheus::grafana::dashboard_json(&spec);
    failure::print_stdout(&format!("{json}\n"))
}
