//! The push roads of the command line: `demo --remote-write` / `--otlp` and
//! `stress --push-gateway`, each a protocol of the shared sender ([`aureon_push::Pusher`]).
//!
//! The demo's pushers read what the snapshotter publishes, every `--interval`; when the run
//! ends they are shut down with the final snapshot (taken after the last record), so what a
//! receiver holds is what the final report says. A push that could not deliver everything by
//! the shutdown deadline fails the run (exit status 1) after the report, naming what was
//! dropped and why: a script must not mistake a lost push for a good one.

use crate::cli::PushHttpArgs;
use crate::failure::Failure;
use aureon_otlp::{OtlpConfig, OtlpExporter};
use aureon_prometheus::ExportOptions;
use aureon_prometheus::pushgateway::Pushgateway;
use aureon_prometheus::remote_write::{RemoteWrite, RemoteWriteHistograms};
use aureon_push::{HttpTransport, NoSource, PushConfig, PushReport, Pusher};
use aureon_telemetry::{Registry, Snapshot, SnapshotReader};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// The job label the demo's remote-written series carry (as a scrape job would add it).
pub const DEMO_JOB: &str = "aureon_demo";
/// The Pushgateway job of `stress --push-gateway`.
pub const STRESS_JOB: &str = "aureon_stress";

/// Parses a push URL on the command line: `http://` or `https://` with a host.
pub fn parse_url(text: &str) -> Result<String, String> {
    aureon_push::validate_url(text.trim())?;
    Ok(text.trim().to_owned())
}

/// The OTLP metrics URL for `--otlp`: a base endpoint (`http://collector:4318`) gets
/// `/v1/metrics` appended, as `OTEL_EXPORTER_OTLP_ENDPOINT` is read; a URL with a path is
/// used as it is.
pub fn otlp_metrics_url(url: &str) -> String {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    match after_scheme.find('/') {
        Some(i) if after_scheme[i..] != *"/" => url.to_owned(),
        _ => aureon_otlp::metrics_url(url),
    }
}

/// Checks the `--push.*` flags against the run's push URLs (every road of the run; the flags
/// apply to each): flags without a push road, or TLS flags where no URL is `https://`, are
/// usage errors (exit status 2), since a flag that would silently do nothing must not look
/// like it did something.
pub fn check_flags(http: &PushHttpArgs, urls: &[&str]) -> Result<(), Failure> {
    if urls.is_empty() && http.is_set() {
        return Err(Failure::usage(
            "the --push.* flags need a push road (--remote-write, --otlp or --push-gateway)",
        ));
    }
    if http.has_tls() && !urls.iter().any(|u| u.starts_with("https://")) {
        return Err(Failure::usage(format!(
            "--push.tls-* flags are given but no push URL is https:// ({})",
            urls.join(", ")
        )));
    }
    Ok(())
}

/// The HTTP transport the `--push.*` flags describe. An unreadable, empty or invalid file is
/// a failure naming the file (exit status 1, as a bad `--web.config.file` is).
pub fn transport(http: &PushHttpArgs) -> Result<HttpTransport, Failure> {
    let mut transport = HttpTransport::new();
    if http.has_tls() {
        let client = http
            .tls_cert_file
            .as_deref()
            .zip(http.tls_key_file.as_deref());
        transport = transport
            .tls_files(http.tls_ca_file.as_deref(), client)
            .map_err(|e| Failure::run(format!("push TLS: {e}")))?;
    }
    if let (Some(user), Some(file)) = (&http.basic_auth_username, &http.basic_auth_password_file) {
        transport =
            transport.basic_auth(user, &secret_file(file, "--push.basic-auth-password-file")?);
    }
    if let Some(file) = &http.bearer_token_file {
        transport = transport.bearer_token(&secret_file(file, "--push.bearer-token-file")?);
    }
    Ok(transport)
}

/// A secret read from `path`, surrounding whitespace trimmed (as Prometheus reads its
/// `password_file` and `credentials_file`); empty is an error, not an empty password.
fn secret_file(path: &Path, flag: &str) -> Result<String, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::run(format!("{flag}: cannot read {}: {e}", path.display())))?;
    let secret = text.trim();
    if secret.is_empty() {
        return Err(Failure::run(format!("{flag}: {} is empty", path.display())));
    }
    Ok(secret.to_owned())
}

/// The pushers of one run, each with what it pushes to.
pub struct Pushers {
    config: PushConfig,
    /// The `--push.*` flags, for each road's transport.
    http: PushHttpArgs,
    /// Where the pushers record their own health (the run's registry).
    registry: Registry,
    running: Vec<(String, Pusher)>,
}

impl Pushers {
    /// No pushers yet; those started will send with `config`, over the transport `http`
    /// describes (see [`transport`]), and record their health in `registry`.
    pub fn new(config: PushConfig, http: &PushHttpArgs, registry: &Registry) -> Self {
        Self {
            config,
            http: http.clone(),
            registry: registry.clone(),
            running: Vec::new(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.running.is_empty()
    }

    /// One line per road, said when the run starts (`Remote write to …`).
    pub fn describe(&self) -> Vec<String> {
        self.running
            .iter()
            .map(|(target, p)| format!("Pushing by {} to {target}", p.report().protocol))
            .collect()
    }

    /// Starts remote write of what `reader` publishes to `url`.
    pub fn remote_write(
        &mut self,
        url: &str,
        histograms: RemoteWriteHistograms,
        export: &ExportOptions,
        instance: &str,
        reader: SnapshotReader,
    ) -> Result<(), Failure> {
        let protocol = RemoteWrite::new(url)
            .and_then(|rw| {
                rw.export_options(export)
                    .histograms(histograms)
                    .external_label("job", DEMO_JOB)?
                    .external_label("instance", instance)
            })
            .map_err(|e| Failure::usage(format!("--remote-write: {e}")))?;
        let transport = transport(&self.http)?;
        let pusher = Pusher::spawn_with_transport(
            protocol,
            Some(reader),
            transport,
            self.config.clone(),
            Some(&self.registry),
        )
        .map_err(|e| Failure::run(format!("cannot start remote write: {e}")))?;
        self.running.push((url.to_owned(), pusher));
        Ok(())
    }

    /// Starts OTLP/HTTP export of what `reader` publishes to `url` (see [`otlp_metrics_url`]).
    pub fn otlp(
        &mut self,
        url: &str,
        service: &str,
        instance: &str,
        reader: SnapshotReader,
    ) -> Result<(), Failure> {
        let url = otlp_metrics_url(url);
        let otlp_config = OtlpConfig::builder(service)
            .resource_attribute("service.instance.id", instance)
            // The demo's exemplars are block heights, as on the OpenMetrics scrape.
            .exemplar_attribute("height")
            .build()
            .map_err(|e| Failure::run(format!("OTLP configuration: {e}")))?;
        let exporter = OtlpExporter::new(&url, otlp_config, SystemTime::now())
            .map_err(|e| Failure::usage(format!("--otlp: {e}")))?;
        let transport = transport(&self.http)?;
        let pusher = Pusher::spawn_with_transport(
            exporter,
            Some(reader),
            transport,
            self.config.clone(),
            Some(&self.registry),
        )
        .map_err(|e| Failure::run(format!("cannot start OTLP export: {e}")))?;
        self.running.push((url, pusher));
        Ok(())
    }

    /// Shuts every pusher down with `last`, the run's final snapshot; returns one report line
    /// per road, and a failure when one did not deliver everything.
    pub fn finish(self, last: &Arc<Snapshot>) -> (String, Result<(), Failure>) {
        let mut text = String::new();
        let mut incomplete = Vec::new();
        // In parallel: each waits for its own receiver, up to its own deadline.
        let reports: Vec<std::thread::Result<(String, PushReport)>> = std::thread::scope(|scope| {
            let handles: Vec<_> = self
                .running
                .into_iter()
                .map(|(target, pusher)| {
                    let last = Arc::clone(last);
                    scope.spawn(move || (target, pusher.shutdown_with(Some(last))))
                })
                .collect();
            handles.into_iter().map(|h| h.join()).collect()
        });
        for joined in reports {
            // A shutdown that panicked delivered who knows what: a failure, not a silence.
            let Ok((target, report)) = joined else {
                incomplete.push("a pusher's shutdown panicked".to_owned());
                continue;
            };
            text.push_str(&format!("Pushed to {target}: {report}\n"));
            if let Some(why) = undelivered(&report) {
                incomplete.push(format!("{target}: {why}"));
            }
        }
        let result = if incomplete.is_empty() {
            Ok(())
        } else {
            Err(Failure::run(format!(
                "not everything was pushed: {}",
                incomplete.join("; ")
            )))
        };
        (text, result)
    }
}

/// Why a finished pusher's receiver does not hold everything, if it does not.
fn undelivered(report: &PushReport) -> Option<String> {
    let last_error = report
        .last_error
        .as_ref()
        .map_or(String::new(), |e| format!(" (last error: {e})"));
    if report.dropped_total() > 0 {
        return Some(format!(
            "{} samples dropped ({}){last_error}",
            report.dropped_total(),
            report
                .dropped
                .iter()
                .filter(|(_, n)| *n > 0)
                .map(|(r, n)| format!("{n} {r}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if report.requests_sent == 0 {
        return Some(format!("nothing was delivered{last_error}"));
    }
    None
}

/// Pushes a batch job's final snapshot once to the Pushgateway at `url` over `transport`, under
/// `job`/`instance`, replacing the group; returns the report line, or a failure when the
/// gateway did not take it within `deadline`.
pub fn push_to_gateway(
    url: &str,
    transport: HttpTransport,
    instance: &str,
    snapshot: Snapshot,
    deadline: Duration,
) -> Result<String, Failure> {
    let gateway = Pushgateway::new(url, STRESS_JOB)
        .and_then(|g| g.grouping_label("instance", instance))
        .map_err(|e| Failure::usage(format!("--push-gateway: {e}")))?;
    let config = PushConfig {
        shutdown_deadline: deadline,
        ..PushConfig::default()
    };
    let pusher = Pusher::spawn_with_transport(gateway, None::<NoSource>, transport, config, None)
        .map_err(|e| Failure::run(format!("cannot start the Pushgateway push: {e}")))?;
    let report = pusher.shutdown_with(Some(Arc::new(snapshot)));
    match undelivered(&report) {
        None => Ok(format!("Pushed to {url} (job {STRESS_JOB}): {report}\n")),
        Some(why) => Err(Failure::run(format!(
            "the push to the Pushgateway {url} failed: {why}"
        ))),
    }
}

/// This host's name for the `instance` label (`HOSTNAME`, else `/etc/hostname`, else
/// `localhost`).
pub fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.trim().is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
        })
        .unwrap_or_else(|| "localhost".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn otlp_base_endpoints_get_the_metrics_path() {
        assert_eq!(
            otlp_metrics_url("http://c:4318"),
            "http://c:4318/v1/metrics"
        );
        assert_eq!(
            otlp_metrics_url("http://c:4318/"),
            "http://c:4318/v1/metrics"
        );
        assert_eq!(
            otlp_metrics_url("https://c/otlp/v1/metrics"),
            "https://c/otlp/v1/metrics"
        );
    }

    #[test]
    fn push_urls_are_checked_while_parsing() {
        assert_eq!(parse_url(" http://h:9091 "), Ok("http://h:9091".into()));
        for bad in ["h:9091", "ftp://h", "http://", "://x", ""] {
            assert!(parse_url(bad).is_err(), "{bad:?}");
        }
    }
}
