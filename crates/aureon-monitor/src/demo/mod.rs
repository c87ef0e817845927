//! `demo`: a simulated block-processing node under load, measured through the lock-free core,
//! served on `/metrics` and `/health`, and shown live.
//!
//! What runs, and who owns it:
//! * worker threads ([`worker`]) produce and validate blocks ([`chain`]) at `--rate`,
//!   recording through a [`HealthDashboard`] on one [`Registry`];
//! * the core's [`Snapshotter`] merges the registry every `--interval` and publishes the
//!   history ring; `/metrics` and the live dashboard read only what it published;
//! * an evaluator thread calls [`HealthDashboard::update_health_status`] every interval and
//!   publishes the result ([`health`]) for `/health` and the live dashboard; it also ends the
//!   run at the end of `--duration`;
//! * the main thread shows the live dashboard ([`crate::tui`]) or prints reports
//!   ([`console`]) until the run stops ([`stop`]), then flushes a final snapshot, prints the
//!   final report and writes `--hlog`.

mod chain;
mod console;
pub mod health;
mod rng;
pub mod schedule;
pub mod settings;
pub mod stop;
pub mod worker;

use crate::cli::DemoArgs;
use crate::failure::{Failure, print_stdout};
use crate::push::Pushers;
use aureon_node::production_monitoring::{HealthDashboard, LATENCY_METRIC};
use aureon_prometheus::http::{MetricsServer, ServerConfig};
use aureon_prometheus::{ExportOptions, HistogramMode};
use aureon_push::PushConfig;
use aureon_telemetry::{Registry, SnapshotReader, Snapshotter, SnapshotterConfig};
use health::HealthBoard;
use settings::Settings;
use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use stop::{StopReason, StopSignal};

/// The service name shown in reports.
pub const SERVICE: &str = "aureon-node (demo)";

/// What the views of a running demo read.
pub struct Live<'a> {
    /// The dashboard the workers record into.
    pub dashboard: &'a HealthDashboard,
    /// The snapshotter's published history.
    pub reader: SnapshotReader,
    /// The published health.
    pub board: &'a HealthBoard,
    /// Set when the run ends (shared: the dashboard's keyboard thread holds it too).
    pub stop: &'a Arc<StopSignal>,
    /// The run's settings.
    pub settings: &'a Settings,
    /// When the workers started.
    pub started: Instant,
    /// Where `/metrics` is served.
    pub metrics_url: String,
}

/// Runs the demo until `--duration`, q or a signal; see the module docs.
pub fn run(args: DemoArgs) -> Result<(), Failure> {
    let tty = io::stdout().is_terminal() && io::stdin().is_terminal();
    let settings = Settings::new(&args, tty && !args.no_tui)?;
    // Open the log first: a path that cannot be written is better said now than after the run.
    let hlog = match &settings.hlog {
        Some(path) => Some(File::create(path).map_err(|e| {
            Failure::run(format!(
                "cannot write the interval log {}: {e}",
                path.display()
            ))
        })?),
        None => None,
    };

    let registry = Registry::new();
    let dashboard = HealthDashboard::builder(SERVICE)
        .registry(registry.clone())
        .rules(settings.rules.clone())
        .build()
        .map_err(|e| Failure::run(format!("cannot build the health dashboard: {e}")))?;
    // Register the operations before the first snapshot, so every series is there from it.
    drop(worker::Ops::new(&dashboard));
    let snapshotter = Snapshotter::spawn(
        &registry,
        SnapshotterConfig {
            interval: settings.interval,
            retention: settings.retention,
            // The interval log has a line per interval: keep every point then (the demo's
            // registry is small). Otherwise the default: older points thinned.
            full_resolution: match settings.hlog {
                Some(_) => usize::MAX,
                None => SnapshotterConfig::DEFAULT.full_resolution,
            },
            ..SnapshotterConfig::default()
        },
    )
    .map_err(|e| Failure::run(format!("cannot start the snapshotter: {e}")))?;
    let board = Arc::new(HealthBoard::new());
    let export = export_options()?;
    let server = start_server(
        settings.listen,
        settings.web_config_file.as_deref(),
        snapshotter.reader(),
        &board,
        &export,
    )?;
    let pushers = start_pushers(&args, &settings, &export, &registry, &snapshotter, &server)?;
    let stop = Arc::new(StopSignal::new());
    {
        let stop = Arc::clone(&stop);
        ctrlc::set_handler(move || stop.stop(StopReason::Signal))
            .map_err(|e| Failure::run(format!("cannot handle Ctrl-C: {e}")))?;
    }
    let scheme = match server.web_config() {
        Some(web) if web.tls_enabled() => "https",
        _ => "http",
    };
    let metrics_url = format!("{scheme}://{}/metrics", server.local_addr());
    if !settings.tui {
        announce(&settings, &metrics_url, !args.no_tui, &pushers.describe());
    }

    let started = Instant::now();
    let live = Live {
        dashboard: &dashboard,
        reader: snapshotter.reader(),
        board: &board,
        stop: &stop,
        settings: &settings,
        started,
        metrics_url,
    };
    let shown = run_threads(&live);
    let ran = started.elapsed();

    // The workers have stopped: everything they recorded goes into one last snapshot, which
    // the pushers deliver before they stop (so receivers hold what the report says).
    let last = snapshotter.tick();
    board.evaluate(&dashboard);
    let (pushed, delivered) = if pushers.is_empty() {
        (String::new(), Ok(()))
    } else {
        pushers.finish(&last)
    };
    let reason = stop.reason().unwrap_or(StopReason::Error);
    let mut text = format!(
        "── final report after {:.1}s, stopped by {} ──\n",
        ran.as_secs_f64(),
        reason.describe()
    );
    text.push_str(&dashboard.generate_report());
    text.push_str(&pushed);
    let logged = match (hlog, &settings.hlog) {
        (Some(file), Some(path)) => {
            let written = write_log(file, &snapshotter);
            match &written {
                Ok(intervals) => {
                    text.push_str(&format!(
                        "Interval log: {intervals} intervals written to {}\n",
                        path.display()
                    ));
                    if settings.log_is_truncated(ran) {
                        text.push_str(&format!(
                            "  (the last {intervals} intervals only: the history ring keeps at most {} snapshots)\n",
                            settings::MAX_LOGGED_SNAPSHOTS
                        ));
                    }
                }
                Err(e) => text.push_str(&format!("Interval log NOT written: {}\n", e.message)),
            }
            written.map(|_| ())
        }
        _ => Ok(()),
    };
    let printed = print_stdout(&text);
    server.shutdown();
    snapshotter.shutdown();
    shown.and(logged).and(printed).and(delivered)
}

/// Starts `--remote-write` and `--otlp`, reading what the snapshotter publishes every
/// `--interval`; the `instance` is the address `/metrics` is served on, as a scrape names it.
fn start_pushers(
    args: &DemoArgs,
    settings: &Settings,
    export: &ExportOptions,
    registry: &Registry,
    snapshotter: &Snapshotter,
    server: &MetricsServer,
) -> Result<Pushers, Failure> {
    let config = PushConfig {
        interval: settings.interval,
        ..PushConfig::default()
    };
    let urls: Vec<&str> = [&args.remote_write, &args.otlp]
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect();
    crate::push::check_flags(&args.push_http, &urls)?;
    let mut pushers = Pushers::new(config, &args.push_http, registry);
    let instance = server.local_addr().to_string();
    if let Some(url) = &args.remote_write {
        pushers.remote_write(
            url,
            args.remote_write_histograms,
            export,
            &instance,
            snapshotter.reader(),
        )?;
    }
    if let Some(url) = &args.otlp {
        pushers.otlp(url, "aureon-node", &instance, snapshotter.reader())?;
    }
    Ok(pushers)
}

/// Starts the workers and the evaluator, shows the run until it stops, and joins them all.
fn run_threads(live: &Live<'_>) -> Result<(), Failure> {
    let settings = live.settings;
    std::thread::scope(|scope| {
        let mut started = Ok(());
        for index in 0..settings.threads {
            let plan = worker::WorkerPlan {
                seed: 0x5EED_0000 + index as u64,
                rate: settings.rate / settings.threads as f64,
                schedule: settings.schedule.clone(),
                started: live.started,
            };
            let spawned = std::thread::Builder::new()
                .name(format!("aureon-demo-worker-{index}"))
                .spawn_scoped(scope, move || worker::run(live.dashboard, &plan, live.stop));
            if let Err(e) = spawned {
                started = Err(Failure::run(format!("cannot start a worker thread: {e}")));
                break;
            }
        }
        if started.is_ok() {
            let spawned = std::thread::Builder::new()
                .name("aureon-demo-evaluator".into())
                .spawn_scoped(scope, || evaluate_until_stopped(live));
            if let Err(e) = spawned {
                started = Err(Failure::run(format!(
                    "cannot start the evaluator thread: {e}"
                )));
            }
        }
        let shown = match started {
            Ok(()) if settings.tui => crate::tui::run(live),
            Ok(()) => console::run(live),
            Err(e) => Err(e),
        };
        // Whatever ended the view ends the run (the first reason given is kept).
        live.stop.stop(StopReason::Error);
        shown
    })
}

/// Evaluates health every interval, and stops the run at the end of `--duration`.
fn evaluate_until_stopped(live: &Live<'_>) {
    let interval = live.settings.interval;
    let deadline = live.settings.duration.map(|d| live.started + d);
    let mut next = live.started + interval;
    loop {
        let until = deadline.map_or(next, |d| d.min(next));
        if live
            .stop
            .wait(until.saturating_duration_since(Instant::now()))
        {
            return;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            live.stop.stop(StopReason::Duration);
            return;
        }
        if Instant::now() >= next {
            live.board.evaluate(live.dashboard);
            next += interval;
        }
    }
}

/// What `/metrics` and remote write export, and under which names.
fn export_options() -> Result<ExportOptions, Failure> {
    // Histograms as well as summaries, so a fleet's Prometheus can aggregate latency and the
    // recording/alert rules in deploy/prometheus/ have buckets at the seed's thresholds.
    ExportOptions::builder()
        .histogram_mode(HistogramMode::Both)
        // block_processing's exemplars are block heights.
        .exemplar_label("height")
        .metric_buckets(
            "aureon_operation_latency",
            [
                0.0005, 0.001, 0.002, 0.005, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1.0,
                2.5,
            ],
        )
        .build()
        .map_err(|e| Failure::run(format!("export options: {e}")))
}

fn start_server(
    listen: SocketAddr,
    web_config_file: Option<&Path>,
    reader: SnapshotReader,
    board: &Arc<HealthBoard>,
    export: &ExportOptions,
) -> Result<MetricsServer, Failure> {
    let mut config = ServerConfig::builder()
        .bind_address(listen)
        .export_options(export.clone());
    if let Some(path) = web_config_file {
        config = config.web_config_file(path);
    }
    let config = config
        .build()
        .map_err(|e| Failure::run(format!("invalid --listen {listen}: {e}")))?;
    MetricsServer::start(config, reader, board.source()).map_err(|e| {
        // A bad web configuration names the file, the line and what is wrong itself.
        if let Some(web) = e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<aureon_prometheus::http::WebConfigError>())
        {
            return Failure::run(format!("invalid --web.config.file: {web}"));
        }
        let why = match e.kind() {
            io::ErrorKind::AddrInUse => "the address is already in use (another demo running?); \
                 choose another port, e.g. --listen 127.0.0.1:9899"
                .to_owned(),
            io::ErrorKind::AddrNotAvailable => "that is not an address of this machine".to_owned(),
            io::ErrorKind::PermissionDenied => {
                "permission denied (ports below 1024 need privileges)".to_owned()
            }
            _ => e.to_string(),
        };
        Failure::run(format!("cannot serve /metrics on {listen}: {why}"))
    })
}

/// Says on standard error what is running (standard output carries the reports).
fn announce(settings: &Settings, metrics_url: &str, asked_for_tui: bool, pushes: &[String]) {
    let mut err = io::stderr().lock();
    if asked_for_tui {
        let _ = writeln!(
            err,
            "No terminal: printing reports instead of the live dashboard."
        );
    }
    let until = match settings.duration {
        Some(d) => format!("for {} (Ctrl-C stops sooner)", crate::fmt::elapsed(d)),
        None => "until Ctrl-C".to_owned(),
    };
    let _ = writeln!(
        err,
        "Demo: {} workers, {} blocks/s offered, {} of inputs corrupt; running {until}.\n\
         Serving {metrics_url} and /health; a report every {}.",
        settings.threads,
        crate::fmt::trim(settings.rate, 1),
        crate::fmt::percent(settings.schedule.error_rate),
        crate::fmt::elapsed(settings.report_every),
    );
    for push in pushes {
        let _ = writeln!(
            err,
            "{push}, every {}.",
            crate::fmt::elapsed(settings.interval)
        );
    }
    if !settings.listen.ip().is_loopback() && settings.web_config_file.is_none() {
        let _ = writeln!(
            err,
            "Warning: {} is not a loopback address, and the endpoint has no TLS or authentication \
             (--web.config.file gives it both).",
            settings.listen
        );
    }
}

/// Writes the latency histograms of the whole history ring as an interval log; returns the
/// number of intervals.
fn write_log(file: File, snapshotter: &Snapshotter) -> Result<usize, Failure> {
    let history = snapshotter.history();
    let mut out = BufWriter::new(file);
    aureon_prometheus::hlog::write_history(&history, |key| key.name() == LATENCY_METRIC, &mut out)
        .map_err(|e| Failure::run(format!("cannot write the interval log: {e}")))?;
    out.flush()
        .map_err(|e| Failure::run(format!("cannot write the interval log: {e}")))?;
    Ok(history.len().saturating_sub(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_in_use_is_said_plainly() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let registry = Registry::new();
        let snapshotter = Snapshotter::spawn(&registry, SnapshotterConfig::default()).unwrap();
        let board = Arc::new(HealthBoard::new());
        let e = start_server(
            taken.local_addr().unwrap(),
            None,
            snapshotter.reader(),
            &board,
            &export_options().unwrap(),
        )
        .unwrap_err();
        assert!(e.message.contains("already in use"), "{}", e.message);
        assert!(e.message.contains("--listen"), "{}", e.message);
    }
}
