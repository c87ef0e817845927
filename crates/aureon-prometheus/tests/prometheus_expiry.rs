//! A real Prometheus (Debian's 2.42) scrapes a registry whose series expire and come back,
//! and what it stores must add up to what was recorded.
//!
//! The test drives every snapshot itself (`Snapshotter::tick`, idle timeout zero: a pass that
//! finds a series unchanged since the previous pass expires it), so it knows what each scrape
//! can see, and waits on Prometheus' API after each step (every wait polls with a deadline).
//!
//! * A series whose every handle is dropped is freed at the next pass: it leaves the scrape
//!   (Prometheus marks it stale), and the same key registered again starts from zero with a
//!   new `_created`. Over a window from its first stored sample to its last, `increase()`
//!   equals everything recorded into both incarnations (Prometheus sees the reset because the
//!   new incarnation is scraped at 0 before it is recorded into).
//! * A series whose handle is held goes dormant instead: it leaves the scrape too, and its
//!   handle's next record brings it back with its total continuing (no reset).
//!
//! The window's ends are the first and last stored samples' timestamps, read from a range
//! query, so `increase()` extrapolates nothing (2.x range selectors include both ends).
//!
//! Without `prometheus` installed every test here FAILS, saying how to install it
//! (`scripts/ensure-prometheus.sh`). `PROMETHEUS_BIN` overrides the binary.

mod http_support;

use aureon_prometheus::http::{HealthReport, MetricsServer, ServerConfig};
use aureon_telemetry::{Registry, Snapshotter, SnapshotterConfig};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long any wait on Prometheus may take (it scrapes every second).
const WAIT: Duration = Duration::from_secs(30);

#[test]
fn expiring_series_are_stored_as_resets_and_returns_and_increase_adds_up() {
    let bin = prometheus_binary();
    let registry = Registry::builder().idle_timeout(Duration::ZERO).build();
    let snapshotter = Snapshotter::spawn(
        &registry,
        SnapshotterConfig {
            interval: Duration::from_secs(3600),
            ..SnapshotterConfig::default()
        },
    )
    .unwrap();
    let config = ServerConfig::builder().port(0).build().unwrap();
    let server = MetricsServer::start(
        config,
        snapshotter.reader(),
        Arc::new(HealthReport::healthy),
    )
    .unwrap();
    let prom = Prometheus::start(&bin, server.local_addr());
    let tick = || {
        snapshotter.tick();
    };

    // --- A freed series that comes back from zero. ---
    let churn = "churn_events_total{peer=\"a\"}";
    let c = registry.counter_with("churn_events", &[("peer", "a")]);
    let held = registry.counter("held_events");
    tick();
    prom.wait_for_value(churn, 0.0);
    prom.wait_for_value("held_events_total", 0.0);
    let first_created = prom.value("churn_events_created{peer=\"a\"}");
    const N1: u64 = 7;
    c.increment(N1);
    held.increment(3);
    tick();
    prom.wait_for_value(churn, N1 as f64);
    prom.wait_for_value("held_events_total", 3.0);

    // Unchanged since the last pass: both expire. `churn` has no handle left, so it is freed;
    // `held_events` is kept (dormant) by its handle.
    drop(c);
    tick();
    assert_eq!(
        registry.len(),
        1,
        "the churn series was freed, the held one kept"
    );
    prom.wait_for_absent(churn);
    prom.wait_for_absent("held_events_total");

    // The same key again: a new series from zero, scraped at 0 before it is recorded into.
    std::thread::sleep(Duration::from_millis(5));
    let c = registry.counter_with("churn_events", &[("peer", "a")]);
    tick();
    prom.wait_for_value(churn, 0.0);
    // Prometheus 2.x stores OpenMetrics' `_created` sample as a series of its own.
    let first = first_created.expect("the first incarnation's _created is stored");
    let second = prom
        .value("churn_events_created{peer=\"a\"}")
        .expect("the new incarnation's _created");
    assert!(
        second > first,
        "created {first} then {second}: the reset is visible"
    );
    const N2: u64 = 5;
    c.increment(N2);
    // The held handle records again: its series comes back with its total.
    held.increment(2);
    tick();
    prom.wait_for_value(churn, N2 as f64);
    prom.wait_for_value("held_events_total", 5.0);

    // Stored samples, and `increase()` over exactly their span.
    let increase = prom.increase_over_stored(churn);
    assert_eq!(
        increase,
        (N1 + N2) as f64,
        "increase over both incarnations equals what was recorded"
    );
    let samples = prom.stored(churn);
    assert!(
        samples.windows(2).any(|w| w[1].1 < w[0].1),
        "the stored samples show the reset: {samples:?}"
    );
    let held_increase = prom.increase_over_stored("held_events_total");
    assert_eq!(held_increase, 5.0, "the held series continued, no reset");
    let held_samples = prom.stored("held_events_total");
    assert!(
        held_samples.windows(2).all(|w| w[1].1 >= w[0].1),
        "no reset for a held series: {held_samples:?}"
    );
    drop(server);
}

// ---------------------------------------------------------------------------------------
// Prometheus

struct Prometheus {
    addr: SocketAddr,
    log: PathBuf,
    _keepalive: ChildStdin,
}

impl Prometheus {
    /// Starts Prometheus on a free loopback port, scraping `target` in OpenMetrics every
    /// second; it is killed (and its directory removed) when this process exits.
    fn start(bin: &Path, target: SocketAddr) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "aureon-prom-expiry-{}-{}",
            std::process::id(),
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
             scrape_configs:\n  - job_name: aureon\n    params:\n      format: ['openmetrics']\n\
             \x20   static_configs:\n      - targets: ['{target}']\n"
        );
        std::fs::write(dir.join("prometheus.yml"), config).unwrap();
        let log = dir.join("prometheus.log");
        // `read` returns when our end of the pipe closes: at the latest when we exit.
        let script = r#"dir=$1; shift
"$@" </dev/null >"$dir/prometheus.log" 2>&1 &
pid=$!
read -r _
kill "$pid" 2>/dev/null
wait "$pid"
rm -rf "$dir""#;
        let mut wrapper = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg("aureon-prom-wrapper")
            .arg(&dir)
            .arg(bin)
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting sh for the prometheus wrapper");
        let keepalive = wrapper.stdin.take().unwrap();
        std::mem::forget(wrapper);
        let prom = Self {
            addr,
            log,
            _keepalive: keepalive,
        };
        let ready = http_support::poll(WAIT, Duration::from_millis(200), || {
            std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
            let resp = http_support::get(addr, "/-/ready", &[]);
            (resp.status == 200).then_some(())
        });
        assert!(
            ready.is_some(),
            "Prometheus did not become ready on {addr}; log:\n{}",
            prom.log_tail()
        );
        prom
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    fn api(&self, path: &str) -> Value {
        let r = http_support::get(self.addr, path, &[]);
        let v: Value =
            serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{path}: {e}: {}", r.text()));
        assert_eq!(v["status"], "success", "{path}: {v}");
        v
    }

    /// The instant value of `selector` now, if Prometheus has one (not stale).
    fn value(&self, selector: &str) -> Option<f64> {
        let v = self.api(&format!(
            "/api/v1/query?query={}",
            http_support::encode(selector)
        ));
        let result = v["data"]["result"].as_array()?;
        let sample = result.first()?;
        sample["value"][1].as_str()?.parse().ok()
    }

    fn wait_for_value(&self, selector: &str, want: f64) {
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

    fn wait_for_absent(&self, selector: &str) {
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
    fn stored(&self, selector: &str) -> Vec<(f64, f64)> {
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
    fn increase_over_stored(&self, selector: &str) -> f64 {
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

fn prometheus_binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("PROMETHEUS_BIN") {
        let bin = PathBuf::from(bin);
        assert!(
            bin.is_file(),
            "PROMETHEUS_BIN={} is not a file",
            bin.display()
        );
        return bin;
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("prometheus"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "prometheus is not installed, and this test needs the real one: run \
                 scripts/ensure-prometheus.sh (Debian: apt-get install --no-install-recommends \
                 prometheus), or point PROMETHEUS_BIN at a prometheus 2.42+ binary"
            )
        })
}
