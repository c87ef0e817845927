//! The Prometheus rule files of `deploy/prometheus/` pass `promtool check rules` and their
//! unit tests (`promtool test rules`), which check every alert of the seed's table against
//! hand-computed input series.
//!
//! Without `promtool` installed these tests FAIL, saying how to install it. `PROMTOOL_BIN`
//! overrides the binary.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/prometheus")
}

fn promtool() -> PathBuf {
    if let Some(bin) = std::env::var_os("PROMTOOL_BIN") {
        let bin = PathBuf::from(bin);
        assert!(
            bin.is_file(),
            "PROMTOOL_BIN={} is not a file",
            bin.display()
        );
        return bin;
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("promtool"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "promtool is not installed, and these tests need it: run \
                 scripts/ensure-prometheus.sh (Debian: apt-get install --no-install-recommends \
                 prometheus), or point PROMTOOL_BIN at it"
            )
        })
}

/// Runs promtool with `args` in `deploy/prometheus/`, bounded in time; its output.
fn run_promtool(args: &[&str]) -> (bool, String) {
    let mut child = Command::new(promtool())
        .args(args)
        .current_dir(deploy_dir())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("running promtool");
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("promtool {args:?} did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn rule_files() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(deploy_dir())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".rules.yml"))
        .collect();
    files.sort();
    files
}

#[test]
fn rule_files_pass_promtool_check_rules() {
    let files = rule_files();
    assert_eq!(
        files,
        ["aureon-alerts.rules.yml", "aureon-recording.rules.yml"]
    );
    let mut args = vec!["check", "rules"];
    args.extend(files.iter().map(String::as_str));
    let (ok, out) = run_promtool(&args);
    assert!(ok, "promtool check rules:\n{out}");
    // promtool also reports lint findings (e.g. duplicate rules) on success.
    assert!(
        !out.contains("WARNING") && !out.contains("lint"),
        "promtool check rules:\n{out}"
    );
}

#[test]
fn every_alert_of_the_seed_table_is_unit_tested_and_passes() {
    let (ok, out) = run_promtool(&["test", "rules", "tests/aureon-alerts.test.yml"]);
    assert!(ok, "promtool test rules:\n{out}");
    assert!(out.contains("SUCCESS"), "{out}");
    // Every alert defined is exercised by the unit tests.
    let alerts = std::fs::read_to_string(deploy_dir().join("aureon-alerts.rules.yml")).unwrap();
    let tests = std::fs::read_to_string(deploy_dir().join("tests/aureon-alerts.test.yml")).unwrap();
    let names: Vec<&str> = alerts
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
        .collect();
    for seed in [
        "AureonErrorRateHigh",
        "AureonLatencyP95High",
        "AureonLatencyP99High",
        "AureonThroughputLow",
        "AureonMemoryHigh",
    ] {
        assert!(names.contains(&seed), "the seed's alert {seed} is missing");
    }
    for name in names {
        assert!(
            tests.contains(&format!(
                "alertname: {name}\n        exp_alerts:\n          - exp_labels"
            )),
            "alert {name} has no firing unit test"
        );
    }
}
