//! A throw-away Prometheus for the tests (Debian's 2.42 or `PROMETHEUS_BIN`): started on a
//! free loopback port with the scrape jobs a test gives, killed and its directory removed
//! when the test process exits, and the few API calls the tests make.

#![allow(dead_code)] // each test file uses a different part of it

use crate::http_support;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long any wait on Prometheus may take (it scrapes every second).
pub const WAIT: Duration = Duration::from_secs(30);

pub struct Prometheus {
    pub addr: SocketAddr,
    log: PathBuf,
    _keepalive: ChildStdin,
}

impl Prometheus {
    /// Starts Prometheus on a free loopback port with `jobs` (YAML list items of
    /// `scrape_configs`, indented by two spaces), scraping every second; it is killed (and
    /// its directory removed) when this process exits.
    pub fn start(bin: &Path, jobs: &str) -> Self {
        Self::start_with(bin, jobs, &[], None)
    }

    /// [`Prometheus::start`] with extra command-line flags, on `port` when given.
    pub fn start_with(bin: &Path, jobs: &str, flags: &[&str], port: Option<u16>) -> Self {
        Self::start_ready(bin, jobs, flags, port, |addr| {
            http_support::get(addr, "/-/ready", &[]).status == 200
        })
    }

    /// [`Prometheus::start_with`], ready once its port accepts connections and `ready(addr)`
    /// holds: for a Prometheus behind a `--web.config.file`, whose readiness only a TLS
    /// client with credentials can see.
    pub fn start_ready(
        bin: &Path,
        jobs: &str,
        flags: &[&str],
        port: Option<u16>,
        ready: impl Fn(SocketAddr) -> bool,
    ) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "aureon-prom-expiry-{}-{}",
            std::process::id(),
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let port = port.unwrap_or_else(|| {
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        });
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n{jobs}"
        );
        std::fs::write(dir.join("prometheus.yml"), config).unwrap();
        let log = dir.join("prometheus.log");
        let mut args = vec![
            format!("--config.file={}", dir.join("prometheus.yml").display()),
            format!("--storage.tsdb.path={}", dir.join("data").display()),
            format!("--web.listen-address={addr}"),
        ];
        args.extend(flags.iter().map(|f| f.to_string()));
        let keepalive = spawn_until_exit(&dir, "prometheus.log", bin, &args);
        let prom = Self {
            addr,
            log,
            _keepalive: keepalive,
        };
        let up = http_support::poll(WAIT, Duration::from_millis(200), || {
            std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
            ready(addr).then_some(())
        });
        assert!(
            up.is_some(),
            "Prometheus did not become ready on {addr}; log:\n{}",
            prom.log_tail()
        );
        prom
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    pub fn api(&self, path: &str) -> Value {
        let r = http_support::get(self.addr, path, &[]);
        let v: Value =
            serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{path}: {e}: {}", r.text()));
        assert_eq!(v["status"], "success", "{path}: {v}");
        v
    }

    /// The instant value of `selector` now, if Prometheus has one (not stale).
    pub fn value(&self, selector: &str) -> Option<f64> {
        let v = self.api(&format!(
            "/api/v1/query?query={}",
            http_support::encode(selector)
        ));
        let result = v["data"]["result"].as_array()?;
        let sample = result.first()?;
        sample["value"][1].as_str()?.parse().ok()
    }

    pub fn wait_for_value(&self, selector: &str, want: f64) {
        let got = http_support::poll(WAIT, Duration::from_millis(200), || {
            (self.value(selector) == Some(want)).then_some(())
        });
        assert!(
            got.is_some(),
            "{selector} never became {want} (now {:?}); log:\n{}",
            self.value(selector),
            self.log_tail()
        );
    }

    pub fn wait_for_absent(&self, selector: &str) {
        let gone = http_support::poll(WAIT, Duration::from_millis(200), || {
            self.value(selector).is_none().then_some(())
        });
        assert!(
            gone.is_some(),
            "{selector} still has a value {:?}: not marked stale",
            self.value(selector)
        );
    }

    /// Every stored sample of `selector` in the last 10 minutes: (timestamp s, value).
    pub fn stored(&self, selector: &str) -> Vec<(f64, f64)> {
        let v = self.api(&format!(
            "/api/v1/query?query={}",
            http_support::encode(&format!("{selector}[10m]"))
        ));
        let series = v["data"]["result"].as_array().expect("a matrix");
        assert_eq!(series.len(), 1, "one series for {selector}: {v}");
        series[0]["values"]
            .as_array()
            .expect("values")
            .iter()
            .map(|p| {
                (
                    p[0].as_f64().expect("timestamp"),
                    p[1].as_str().and_then(|s| s.parse().ok()).expect("value"),
                )
            })
            .collect()
    }

    /// `increase(selector[D])` evaluated at the last stored sample, with `D` exactly the span
    /// from the first stored sample to the last: no extrapolation.
    pub fn increase_over_stored(&self, selector: &str) -> f64 {
        let samples = self.stored(selector);
        let (first, last) = (samples[0].0, samples[samples.len() - 1].0);
        let span_ms = ((last - first) * 1000.0).round() as u64;
        let v = self.api(&format!(
            "/api/v1/query?query={}&time={last:.3}",
            http_support::encode(&format!("increase({selector}[{span_ms}ms])"))
        ));
        let result = v["data"]["result"].as_array().expect("a vector");
        assert_eq!(result.len(), 1, "{v}");
        result[0]["value"][1]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("a number")
    }
}

/// A real server's binary: `$env_var` when set (it must be a file), else `name` on PATH;
/// panics saying how to install it (`install`), so a test never passes without the server.
pub fn find_binary(env_var: &str, name: &str, install: &str) -> PathBuf {
    if let Some(bin) = std::env::var_os(env_var) {
        let bin = PathBuf::from(bin);
        assert!(bin.is_file(), "{env_var}={} is not a file", bin.display());
        return bin;
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{name} is not installed, and this test needs the real one: run \
                 scripts/ensure-prometheus.sh ({install}), or point {env_var} at the binary"
            )
        })
}

/// The Prometheus binary: `PROMETHEUS_BIN`, or `prometheus` on PATH.
pub fn prometheus_binary() -> PathBuf {
    find_binary(
        "PROMETHEUS_BIN",
        "prometheus",
        "Debian: apt-get install --no-install-recommends prometheus; 2.42+",
    )
}

/// Latencies in µs, log-uniform over four decades (100 µs .. 1 s), deterministic per `seed`.
pub fn latencies(n: usize, seed: u64) -> Vec<u64> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let u = (x >> 11) as f64 / (1u64 << 53) as f64;
            (100.0 * 10f64.powf(4.0 * u)) as u64
        })
        .collect()
}

/// Starts `bin args…` in the background with its output in `dir/log_name`; it is killed and
/// `dir` removed when the returned pipe closes, at the latest when the test process exits.
pub fn spawn_until_exit(dir: &Path, log_name: &str, bin: &Path, args: &[String]) -> ChildStdin {
    // `read` returns when our end of the pipe closes.
    let script = r#"dir=$1; log=$2; shift 2
"$@" </dev/null >"$dir/$log" 2>&1 &
pid=$!
read -r _
kill "$pid" 2>/dev/null
wait "$pid"
rm -rf "$dir""#;
    let mut wrapper = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("aureon-test-wrapper")
        .arg(dir)
        .arg(log_name)
        .arg(bin)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting sh for the test server wrapper");
    let keepalive = wrapper.stdin.take().unwrap();
    std::mem::forget(wrapper);
    keepalive
}

/// A throw-away Pushgateway (Debian's `prometheus-pushgateway` or `PUSHGATEWAY_BIN`) on a
/// free loopback port, keeping its groups in memory only, killed when the test process
/// exits.
pub struct Gateway {
    pub addr: SocketAddr,
    _keepalive: ChildStdin,
}

impl Gateway {
    pub fn start() -> Self {
        Self::start_with(&[], |addr| {
            http_support::get(addr, "/-/ready", &[]).status == 200
        })
    }

    /// [`Gateway::start`] with extra flags (`--web.config.file=…`), ready once `ready`
    /// answers true for its address (over TLS, with credentials, when those flags ask).
    pub fn start_with(flags: &[String], ready: impl Fn(SocketAddr) -> bool) -> Self {
        let bin = find_binary(
            "PUSHGATEWAY_BIN",
            "prometheus-pushgateway",
            "Debian package prometheus-pushgateway",
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let dir =
            std::env::temp_dir().join(format!("aureon-pushgateway-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // Memory only: Debian's build defaults --persistence.file to
        // /var/lib/prometheus/pushgateway.data, which every gateway started here would share
        // (loading the groups an earlier test run left, and writing the machine's state).
        let mut args = vec![
            format!("--web.listen-address={addr}"),
            "--persistence.file=".to_string(),
        ];
        args.extend(flags.iter().cloned());
        let keepalive = spawn_until_exit(&dir, "pushgateway.log", &bin, &args);
        let up = http_support::poll(WAIT, Duration::from_millis(100), || {
            std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
            ready(addr).then_some(())
        });
        assert!(
            up.is_some(),
            "the Pushgateway did not start on {addr}; log:\n{}",
            std::fs::read_to_string(dir.join("pushgateway.log")).unwrap_or_default()
        );
        Self {
            addr,
            _keepalive: keepalive,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The gateway's own exposition.
    pub fn metrics(&self) -> String {
        let r = http_support::get(self.addr, "/metrics", &[]);
        assert_eq!(r.status, 200);
        r.text()
    }
}
