//! `stress`: the seed's header-chain stress test (`aureon_node::stress_testing`), with a
//! progress bar, its result as a table or JSON, and the seed's thresholds as the exit status.
//!
//! The seed's thresholds: more than 10 000 validations per second, less than 5 MB of peak
//! memory, more than 99% of headers valid. A run that misses one still prints its result,
//! then exits with status 3 ([`crate::failure::EXIT_THRESHOLDS_MISSED`]).
//!
//! With `--push-gateway URL` the result is pushed to a Prometheus Pushgateway under job
//! `aureon_stress` (the seed's "notify the monitoring system" for a batch job): the run's
//! registry (validations, failures, latency histograms) plus the result as gauges
//! (`aureon_stress_*`, with the time of the push and whether the thresholds passed). A push
//! the gateway did not take fails the command (status 1), after the result is printed.

mod output;
mod progress;

use crate::cli::StressArgs;
use crate::failure::{EXIT_THRESHOLDS_MISSED, Failure, print_stdout};
use aureon_node::stress_testing::{
    StressTestConfig, StressTestError, StressTestResult, stress_test_header_chain_with,
};
use aureon_telemetry::Registry;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The result as gauges next to the run's own series, for the Pushgateway: a dashboard or an
/// alert on a batch job reads these (`time() - aureon_stress_last_run_timestamp_seconds`
/// for "has not run for a day").
fn record_result(registry: &Registry, result: &StressTestResult, passed: bool) {
    let gauge = |name: &str, v: f64| registry.gauge(name).set(v);
    gauge("aureon_stress_ops_per_second", result.ops_per_sec);
    gauge(
        "aureon_stress_peak_memory_bytes",
        result.peak_memory_mb * 1024.0 * 1024.0,
    );
    gauge("aureon_stress_success_ratio", result.success_rate);
    gauge("aureon_stress_passed", if passed { 1.0 } else { 0.0 });
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    gauge("aureon_stress_last_run_timestamp_seconds", now);
}

/// One of the seed's pass/fail checks.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// What is checked, as the seed names it.
    pub name: &'static str,
    /// The measured value.
    pub value: f64,
    /// The limit, in words (`> 10000 ops/s`).
    pub limit: &'static str,
    /// Whether the value meets it.
    pub passed: bool,
}

/// The seed's three checks against `result` (`assert!(result.ops_per_sec > 10000.0)`, …).
pub fn thresholds(result: &StressTestResult) -> [Threshold; 3] {
    [
        Threshold {
            name: "throughput",
            value: result.ops_per_sec,
            limit: "> 10000 ops/s",
            passed: result.ops_per_sec > 10_000.0,
        },
        Threshold {
            name: "peak memory",
            value: result.peak_memory_mb,
            limit: "< 5 MB",
            passed: result.peak_memory_mb < 5.0,
        },
        Threshold {
            name: "success rate",
            value: result.success_rate,
            limit: "> 99%",
            passed: result.success_rate > 0.99,
        },
    ]
}

/// Runs the stress test and prints its result.
pub fn run(args: StressArgs) -> Result<(), Failure> {
    // Push flags and credential files are checked before the run, not after it.
    let urls: Vec<&str> = args.push_gateway.iter().map(String::as_str).collect();
    crate::push::check_flags(&args.push_http, &urls)?;
    let transport = match args.push_gateway {
        Some(_) => Some(crate::push::transport(&args.push_http)?),
        None => None,
    };
    let registry = Registry::new();
    let mut config = StressTestConfig::new(args.headers).registry(registry.clone());
    if let Some(threads) = args.threads {
        config = config.threads(threads);
    }
    let bar = progress::Progress::start(&registry, args.headers);
    let outcome = stress_test_header_chain_with(config);
    bar.finish();
    let result = outcome.map_err(|e| match e {
        StressTestError::NoHeaders | StressTestError::TooManyHeaders { .. } => {
            Failure::usage(format!("--headers: {e}"))
        }
        StressTestError::InvalidThreads(_) => Failure::usage(format!("--threads: {e}")),
        other => Failure::run(format!("the stress test failed: {other}")),
    })?;
    let checks = thresholds(&result);
    let text = if args.json {
        output::json(&result, &checks)
    } else {
        output::table(&result, &checks)
    };
    print_stdout(&text)?;
    let passed = checks.iter().all(|c| c.passed);
    if let (Some(url), Some(transport)) = (&args.push_gateway, transport) {
        record_result(&registry, &result, passed);
        let line = crate::push::push_to_gateway(
            url,
            transport,
            &crate::push::host_name(),
            registry.snapshot(),
            Duration::from_secs(10),
        )?;
        // The result went to standard output; how the push went is a diagnostic.
        let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
    }
    if passed {
        Ok(())
    } else {
        Err(Failure::silent(EXIT_THRESHOLDS_MISSED))
    }
}
