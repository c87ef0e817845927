//! Shared helpers of the exposition tests: the real `promtool` (a missing one fails the
//! test), a deterministic value generator, and a small parser of the text formats' sample
//! lines (so that tests read values back from the output, not from the renderer).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// The `promtool` binary; panics (failing the test) when it is not installed.
pub fn promtool() -> PathBuf {
    let candidates = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("promtool"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    candidates
        .into_iter()
        .chain([PathBuf::from("/usr/bin/promtool")])
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "promtool not found: these tests validate the exposition with Prometheus' own \
                 tools. Install Debian's `prometheus` package \
                 (apt-get install -y --no-install-recommends prometheus)."
            )
        })
}

/// Runs `promtool check metrics` on `text`; returns (success, findings).
pub fn promtool_check_metrics(text: &[u8]) -> (bool, String) {
    let mut child = Command::new(promtool())
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool starts");
    child.stdin.take().unwrap().write_all(text).unwrap();
    let out = child.wait_with_output().unwrap();
    let mut findings = String::from_utf8_lossy(&out.stdout).into_owned();
    findings.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), findings)
}

/// Asserts that `promtool check metrics` accepts `text` with no finding at all.
pub fn assert_promtool_clean(text: &[u8]) {
    let (ok, findings) = promtool_check_metrics(text);
    assert!(
        ok && findings.trim().is_empty(),
        "promtool check metrics reported:\n{findings}\n--- input ---\n{}",
        String::from_utf8_lossy(text)
    );
}

/// A fresh temporary directory path (not created).
pub fn temp_path(tag: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    std::env::temp_dir().join(format!(
        "aureon-prom-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

/// Backfills an OpenMetrics exposition (with timestamps) into a TSDB with
/// `promtool tsdb create-blocks-from openmetrics` — Prometheus' own OpenMetrics parser —
/// and dumps it back: `series -> value`, the series written as
/// `name{label="value",…}` with labels sorted. Panics with promtool's message if Prometheus
/// rejects the input.
pub fn prometheus_ingest_openmetrics(om: &[u8]) -> BTreeMap<String, f64> {
    let dir = temp_path("om");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("input.om");
    std::fs::write(&file, om).unwrap();
    let db = dir.join("tsdb");
    let out = Command::new(promtool())
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&file)
        .arg(&db)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "Prometheus rejected the OpenMetrics exposition: {}{}\n--- input ---\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(om)
    );
    // `tsdb dump` opens the database read-only and expects a WAL directory, which a
    // backfill does not write.
    std::fs::create_dir_all(db.join("wal")).unwrap();
    let dump = Command::new(promtool())
        .args(["tsdb", "dump"])
        .arg(&db)
        .output()
        .unwrap();
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
    parse_dump(&String::from_utf8_lossy(&dump.stdout))
}

/// Parses `promtool tsdb dump` lines: `{__name__="x", a="b"} value timestamp`.
fn parse_dump(text: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| l.starts_with('{')) {
        let close = line.rfind('}').unwrap();
        let labels = parse_labels(&line[1..close]);
        let mut fields = line[close + 1..].split_whitespace();
        let value: f64 = fields.next().unwrap().parse().unwrap();
        let name = labels
            .iter()
            .find(|(k, _)| k == "__name__")
            .unwrap()
            .1
            .clone();
        let rest: Vec<(String, String)> = labels
            .into_iter()
            .filter(|(k, _)| k != "__name__")
            .collect();
        out.insert(series_key(&name, &rest), value);
    }
    out
}

/// `name{a="x",b="y"}` with labels sorted and values escaped as in the text formats.
pub fn series_key(name: &str, labels: &[(String, String)]) -> String {
    let mut labels = labels.to_vec();
    labels.sort();
    if labels.is_empty() {
        return name.to_owned();
    }
    let body: Vec<String> = labels
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}=\"{}\"",
                v.replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('\n', "\\n")
            )
        })
        .collect();
    format!("{name}{{{}}}", body.join(","))
}

/// Parses `a="x", b="y\"z"` (either separator) into unescaped pairs.
pub fn parse_labels(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && (b[i] == b',' || b[i] == b' ') {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let eq = i + s[i..].find('=').unwrap();
        let name = s[i..eq].trim().to_owned();
        assert_eq!(b[eq + 1], b'"', "label value must be quoted in {s}");
        let mut j = eq + 2;
        let mut value = Vec::new();
        while b[j] != b'"' {
            if b[j] == b'\\' {
                j += 1;
                value.push(match b[j] {
                    b'n' => b'\n',
                    other => other,
                });
            } else {
                value.push(b[j]);
            }
            j += 1;
        }
        out.push((name, String::from_utf8(value).unwrap()));
        i = j + 1;
    }
    out
}

/// The sample lines of a text exposition: `series key -> value` (comments, timestamps and
/// exemplars dropped).
pub fn samples(text: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let line = line.split(" # ").next().unwrap();
        let (series, rest) = match line.find('{') {
            Some(open) => {
                let close = line.rfind('}').unwrap();
                let labels = parse_labels(&line[open + 1..close]);
                (series_key(&line[..open], &labels), &line[close + 1..])
            }
            None => {
                let sp = line.find(' ').unwrap();
                (line[..sp].to_owned(), &line[sp..])
            }
        };
        let v = rest.split_whitespace().next().unwrap();
        let v = match v {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            other => other
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line}")),
        };
        assert!(
            out.insert(series, v).is_none(),
            "duplicate series in line {line}"
        );
    }
    out
}

/// A deterministic stream of pseudo-random numbers (xorshift64*), so failures reproduce.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A log-uniform value in `lo ..= hi`: latencies spread over orders of magnitude.
    pub fn log_uniform(&mut self, lo: u64, hi: u64) -> u64 {
        let u = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        let v = ((lo as f64).ln() + u * ((hi as f64).ln() - (lo as f64).ln())).exp();
        (v.round() as u64).clamp(lo, hi)
    }
}

/// The exact nearest-rank `q`-quantile of sorted values (HdrHistogram's definition).
pub fn nearest_rank(sorted: &[u64], q: f64) -> u64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).max(1);
    sorted[rank - 1]
}
