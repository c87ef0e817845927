//! The command line, declared with clap's derive API: one struct of arguments per command.
//!
//! Values are checked while parsing (see [`crate::args`]), so a command's `run` only sees
//! valid input, and bad input gets clap's message and exit status 2 before anything starts.

use crate::args;
use aureon_prometheus::remote_write::RemoteWriteHistograms;
use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// aureon-monitor: a lock-free metrics core under load, and the tools around it.
#[derive(Debug, Parser)]
#[command(name = "aureon-monitor", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
// Parsed once per process and moved into its command: the size of the largest variant
// costs nothing, and boxing it would only add a dereference to every use.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a simulated block-processing node under load with a live dashboard, /metrics and
    /// /health.
    Demo(DemoArgs),
    /// Run the header-chain stress test and check the seed's thresholds.
    Stress(StressArgs),
    /// Print the percentiles of an HdrHistogram interval log.
    Report(ReportArgs),
    /// Plot the latency distribution of an HdrHistogram interval log as SVG.
    Plot(PlotArgs),
    /// Print a Grafana dashboard (JSON) for what the demo's /metrics exports.
    Grafana(GrafanaArgs),
}

/// `demo` arguments.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Worker threads processing blocks [default: the machine's cores, between 2 and 8].
    #[arg(long, value_parser = args::threads)]
    pub threads: Option<usize>,
    /// How long to run [default: until q or Ctrl-C with the live dashboard, 30s without].
    #[arg(long, value_parser = args::duration)]
    pub duration: Option<Duration>,
    /// Where to serve /metrics and /health (IP:PORT, localhost:PORT or PORT).
    #[arg(long, default_value = "127.0.0.1:9898", value_parser = args::listen)]
    pub listen: SocketAddr,
    /// TLS, mTLS and basic auth for /metrics and /health from a web configuration file in
    /// the Prometheus exporter-toolkit format (as node_exporter's; see
    /// docs/examples/web-config.yml). Re-read when it changes.
    #[arg(long = "web.config.file", value_name = "FILE")]
    pub web_config_file: Option<PathBuf>,
    /// Blocks offered per second, all threads together.
    #[arg(long, default_value = "200", value_parser = args::rate)]
    pub rate: f64,
    /// Fraction of transactions and headers that arrive corrupted (0.002, or 0.2%).
    #[arg(long, default_value = "0.002", value_parser = args::fraction)]
    pub error_rate: f64,
    /// When to inject a slowdown and extra errors (e.g. 20s after the start).
    #[arg(long, value_parser = args::duration)]
    pub degrade_at: Option<Duration>,
    /// How long the injected degradation lasts.
    #[arg(long, default_value = "15s", value_parser = args::duration)]
    pub degrade_for: Duration,
    /// Write the latency histograms to this HdrHistogram interval log when the run ends.
    #[arg(long)]
    pub hlog: Option<PathBuf>,
    /// Print the text report every --report-every instead of the live dashboard.
    #[arg(long)]
    pub no_tui: bool,
    /// Time between snapshots and health evaluations.
    #[arg(long, default_value = "1s", value_parser = args::duration)]
    pub interval: Duration,
    /// The health rules' window: status and dashboard figures cover this much recent time.
    #[arg(long, default_value = "10s", value_parser = args::duration)]
    pub window: Duration,
    /// Time between text reports without the live dashboard.
    #[arg(long, default_value = "5s", value_parser = args::duration)]
    pub report_every: Duration,
    /// Also send every snapshot by Prometheus remote write 1.0 to this URL (e.g.
    /// http://127.0.0.1:9090/api/v1/write for Prometheus with --web.enable-remote-write-receiver,
    /// http://127.0.0.1:8428/api/v1/write for VictoriaMetrics).
    #[arg(long, value_name = "URL", value_parser = crate::push::parse_url)]
    pub remote_write: Option<String>,
    /// How --remote-write sends histograms: classic (_bucket/_sum/_count, every receiver) or
    /// native (Prometheus with --enable-feature=native-histograms).
    #[arg(
        long,
        value_name = "FORM",
        default_value = "classic",
        requires = "remote_write"
    )]
    pub remote_write_histograms: RemoteWriteHistograms,
    /// Also export every snapshot by OTLP/HTTP to this collector (http://127.0.0.1:4318, to
    /// which /v1/metrics is appended, or a full metrics URL).
    #[arg(long, value_name = "URL", value_parser = crate::push::parse_url)]
    pub otlp: Option<String>,
    /// TLS and credentials of the push roads.
    #[command(flatten)]
    pub push_http: PushHttpArgs,
}

/// `stress` arguments.
#[derive(Debug, Args)]
pub struct StressArgs {
    /// Headers to build and validate.
    #[arg(long, default_value_t = 1000)]
    pub headers: usize,
    /// Validator threads [default: the machine's cores, between 2 and 8].
    #[arg(long, value_parser = args::threads)]
    pub threads: Option<usize>,
    /// Print the result as JSON (for scripts) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Push the result to this Prometheus Pushgateway (e.g. http://127.0.0.1:9091) under
    /// job "aureon_stress" and this host's instance, replacing the previous run's group.
    #[arg(long, value_name = "URL", value_parser = crate::push::parse_url)]
    pub push_gateway: Option<String>,
    /// TLS and credentials of the push.
    #[command(flatten)]
    pub push_http: PushHttpArgs,
}

/// TLS and credentials for every push road of a run (`--remote-write`, `--otlp`,
/// `--push-gateway`), as a Prometheus `remote_write` block's `tls_config`, `basic_auth` and
/// `authorization` give them. Secrets are read from files (as `password_file` and
/// `credentials_file` are, surrounding whitespace trimmed), never taken on the command line,
/// where any user's `ps` would show them.
#[derive(Debug, Default, Clone, Args)]
pub struct PushHttpArgs {
    /// Trust the CA certificates of this PEM file (instead of the system's roots) for https
    /// push URLs.
    #[arg(long = "push.tls-ca-file", value_name = "FILE")]
    pub tls_ca_file: Option<PathBuf>,
    /// Present this client certificate (PEM) to the receiver, for mutual TLS; needs
    /// --push.tls-key-file.
    #[arg(
        long = "push.tls-cert-file",
        value_name = "FILE",
        requires = "tls_key_file"
    )]
    pub tls_cert_file: Option<PathBuf>,
    /// The private key (PEM) of --push.tls-cert-file.
    #[arg(
        long = "push.tls-key-file",
        value_name = "FILE",
        requires = "tls_cert_file"
    )]
    pub tls_key_file: Option<PathBuf>,
    /// Send HTTP basic auth with this user name and the password in
    /// --push.basic-auth-password-file.
    #[arg(
        long = "push.basic-auth-username",
        value_name = "USER",
        requires = "basic_auth_password_file",
        conflicts_with = "bearer_token_file"
    )]
    pub basic_auth_username: Option<String>,
    /// The file holding the basic-auth password (surrounding whitespace trimmed).
    #[arg(
        long = "push.basic-auth-password-file",
        value_name = "FILE",
        requires = "basic_auth_username"
    )]
    pub basic_auth_password_file: Option<PathBuf>,
    /// Send `Authorization: Bearer <token>` with the token in this file (surrounding
    /// whitespace trimmed).
    #[arg(long = "push.bearer-token-file", value_name = "FILE")]
    pub bearer_token_file: Option<PathBuf>,
}

impl PushHttpArgs {
    /// Whether any of the flags was given.
    pub fn is_set(&self) -> bool {
        self.tls_ca_file.is_some()
            || self.tls_cert_file.is_some()
            || self.basic_auth_username.is_some()
            || self.bearer_token_file.is_some()
    }

    /// Whether a TLS flag was given.
    pub fn has_tls(&self) -> bool {
        self.tls_ca_file.is_some() || self.tls_cert_file.is_some()
    }
}

/// `report` arguments.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The interval log to read (HdrHistogram's format; `demo --hlog` writes one).
    #[arg(long, value_name = "FILE.hlog")]
    pub from: PathBuf,
    /// One row per interval instead of totals per series.
    #[arg(long)]
    pub intervals: bool,
    /// The unit of the log's values, when its header does not say (ns, us, ms, s, none).
    #[arg(long, value_parser = crate::interval_log::parse_unit)]
    pub unit: Option<crate::interval_log::LogUnit>,
}

/// `plot` arguments.
#[derive(Debug, Args)]
pub struct PlotArgs {
    /// The interval log to read.
    #[arg(long, value_name = "FILE.hlog")]
    pub from: PathBuf,
    /// The SVG file to write.
    #[arg(long, value_name = "FILE.svg")]
    pub out: PathBuf,
    /// Only series whose name contains this text (e.g. block_processing).
    #[arg(long)]
    pub series: Option<String>,
    /// Latency axis on a log scale (for distributions with far outliers).
    #[arg(long)]
    pub log_latency: bool,
    /// The unit of the log's values, when its header does not say (ns, us, ms, s, none).
    #[arg(long, value_parser = crate::interval_log::parse_unit)]
    pub unit: Option<crate::interval_log::LogUnit>,
}

/// `grafana` arguments.
#[derive(Debug, Args)]
pub struct GrafanaArgs {
    /// Dashboard title [default: Aureon Node Metrics].
    #[arg(long)]
    pub title: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn demo_defaults_need_no_flags() {
        let cli = Cli::try_parse_from(["aureon-monitor", "demo"]).unwrap();
        let Command::Demo(d) = cli.command else {
            panic!("not demo")
        };
        assert_eq!(d.listen.to_string(), "127.0.0.1:9898");
        assert_eq!((d.rate, d.error_rate), (200.0, 0.002));
        assert_eq!(d.duration, None);
        assert_eq!((d.remote_write, d.otlp), (None, None));
    }

    #[test]
    fn push_flags_are_checked_while_parsing() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from([&["aureon-monitor"], args].concat()).map(|c| c.command)
        };
        let Ok(Command::Demo(d)) = parse(&[
            "demo",
            "--remote-write",
            "http://127.0.0.1:9090/api/v1/write",
            "--remote-write-histograms",
            "native",
            "--otlp",
            "http://127.0.0.1:4318",
        ]) else {
            panic!("valid push flags refused")
        };
        assert_eq!(d.remote_write_histograms, RemoteWriteHistograms::Native);
        for bad in [
            &["demo", "--remote-write", "localhost:9090"][..],
            &["demo", "--otlp", "ftp://collector"],
            &["demo", "--remote-write-histograms", "native"],
            &[
                "demo",
                "--remote-write",
                "http://h/w",
                "--remote-write-histograms",
                "sparse",
            ],
            &["stress", "--push-gateway", "not a url"],
            // A certificate without its key, and the other way round.
            &["demo", "--push.tls-cert-file", "c.pem"],
            &["stress", "--push.tls-key-file", "k.pem"],
            // A user without a password file, and basic auth with a bearer token.
            &["demo", "--push.basic-auth-username", "u"],
            &[
                "demo",
                "--push.basic-auth-username",
                "u",
                "--push.basic-auth-password-file",
                "p",
                "--push.bearer-token-file",
                "t",
            ],
        ] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad:?}: {e}");
        }
    }
}
