//! The sending machinery against a misbehaving receiver: a real HTTP server on loopback
//! (std sockets, no code of this crate) that answers as each test scripts it, and counts
//! what it received. Every test checks exact sample counts: delivered + dropped (by reason)
//! equals everything queued, and the server's own tally agrees with the report.

use aureon_push::{
    DropReason, EncodeError, Outcome, Protocol, PushConfig, PushRequest, Pusher, Response,
    classify_remote_write, from_fn,
};
use aureon_telemetry::{Registry, Snapshot};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How the stub answers.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Status(u16),
    /// Reads the request, never answers (holds the connection).
    Stall,
}

struct Stub {
    port: u16,
    mode: Arc<Mutex<Mode>>,
    /// Bodies of requests answered 2xx, in arrival order.
    accepted: Arc<Mutex<Vec<Vec<u8>>>>,
    attempts: Arc<AtomicU64>,
    up: Arc<AtomicBool>,
}

impl Stub {
    fn start(mode: Mode) -> Stub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stub = Stub {
            port,
            mode: Arc::new(Mutex::new(mode)),
            accepted: Arc::default(),
            attempts: Arc::default(),
            up: Arc::new(AtomicBool::new(true)),
        };
        let (mode, accepted, attempts, up) = (
            stub.mode.clone(),
            stub.accepted.clone(),
            stub.attempts.clone(),
            stub.up.clone(),
        );
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (mode, accepted, attempts, up) =
                    (mode.clone(), accepted.clone(), attempts.clone(), up.clone());
                std::thread::spawn(move || serve(conn, &mode, &accepted, &attempts, &up));
            }
        });
        stub
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/write", self.port)
    }

    fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    fn accepted_samples(&self) -> u64 {
        self.accepted
            .lock()
            .unwrap()
            .iter()
            .map(|b| std::str::from_utf8(b).unwrap().parse::<u64>().unwrap())
            .sum()
    }
}

fn serve(
    conn: TcpStream,
    mode: &Mutex<Mode>,
    accepted: &Mutex<Vec<Vec<u8>>>,
    attempts: &AtomicU64,
    up: &AtomicBool,
) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut conn = conn;
    loop {
        let mut length = 0usize;
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            if h == "\r\n" {
                break;
            }
            let lower = h.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        attempts.fetch_add(1, SeqCst);
        if !up.load(SeqCst) {
            return; // "down": drop the connection without an answer
        }
        let m = *mode.lock().unwrap();
        match m {
            Mode::Stall => {
                std::thread::sleep(Duration::from_secs(3600));
                return;
            }
            Mode::Status(s) => {
                if (200..300).contains(&s) {
                    accepted.lock().unwrap().push(body);
                }
                let msg = format!("status {s}");
                let reply = format!(
                    "HTTP/1.1 {s} X\r\ncontent-length: {}\r\n\r\n{msg}",
                    msg.len()
                );
                if conn.write_all(reply.as_bytes()).is_err() {
                    return;
                }
            }
        }
    }
}

/// A protocol whose body is the number of samples, so the stub can add them up: each
/// snapshot carries the value of counter `n` as its samples.
struct Tally {
    url: String,
    size: usize,
}

impl Protocol for Tally {
    fn name(&self) -> &'static str {
        "tally"
    }
    fn encode(&mut self, s: &Snapshot) -> Result<Vec<PushRequest>, EncodeError> {
        let n = s.counter("n").unwrap_or(0);
        let body = n.to_string().into_bytes();
        // The stub parses the body as the sample count, so requests are sized by the URL.
        let url = format!("{}?pad={}", self.url, "x".repeat(self.size));
        Ok(vec![PushRequest::post(&url, body, n)])
    }
    fn classify(&mut self, r: &Response) -> Outcome {
        classify_remote_write(r)
    }
}

fn config() -> PushConfig {
    PushConfig {
        interval: Duration::from_secs(3600),
        request_timeout: Duration::from_millis(500),
        min_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(80),
        shutdown_deadline: Duration::from_secs(5),
        ..PushConfig::default()
    }
}

/// A registry whose snapshots carry `n` samples each (a fresh registry per snapshot, so the
/// sequences differ and each snapshot's samples are its own).
fn snapshot(n: u64) -> Arc<Snapshot> {
    let r = Registry::new();
    r.counter("n").increment(n);
    Arc::new(r.snapshot())
}

fn no_source() -> Option<aureon_push::NoSource> {
    None
}

fn spawn(stub: &Stub, config: PushConfig, size: usize) -> Pusher {
    Pusher::spawn_with_transport(
        Tally {
            url: stub.url(),
            size,
        },
        no_source(),
        aureon_push::HttpTransport::new(),
        config,
        None,
    )
    .unwrap()
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_400_is_dropped_at_once_and_counted() {
    let stub = Stub::start(Mode::Status(400));
    let pusher = spawn(&stub, config(), 0);
    pusher.push(snapshot(7));
    wait_for("the drop", || {
        pusher.report().dropped(DropReason::Rejected) == 7
    });
    std::thread::sleep(Duration::from_millis(200));
    let report = pusher.shutdown();
    assert_eq!(stub.attempts.load(SeqCst), 1, "a 400 must not be retried");
    assert_eq!((report.samples_sent, report.retries), (0, 0));
    assert_eq!(report.dropped_total(), 7);
    assert!(report.last_error.unwrap().contains("HTTP 400"));
}

#[test]
fn a_500_is_retried_with_backoff_until_it_succeeds() {
    let stub = Stub::start(Mode::Status(500));
    let pusher = spawn(&stub, config(), 0);
    pusher.push(snapshot(5));
    wait_for("three attempts", || stub.attempts.load(SeqCst) >= 3);
    stub.set(Mode::Status(204));
    wait_for("delivery", || pusher.report().samples_sent == 5);
    let report = pusher.shutdown();
    assert!(report.retries >= 3, "{report}");
    assert_eq!(report.dropped_total(), 0);
    assert_eq!(stub.accepted_samples(), 5);
}

#[test]
fn an_outage_within_the_budget_loses_nothing_and_keeps_the_order() {
    let stub = Stub::start(Mode::Status(204));
    stub.up.store(false, SeqCst);
    let pusher = spawn(&stub, config(), 0);
    for n in 1..=30 {
        pusher.push(snapshot(n));
    }
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(pusher.report().samples_sent, 0);
    stub.up.store(true, SeqCst);
    let total: u64 = (1..=30).sum();
    wait_for("everything", || pusher.report().samples_sent == total);
    let report = pusher.shutdown();
    assert_eq!(report.dropped_total(), 0, "{report}");
    let order: Vec<u64> = stub
        .accepted
        .lock()
        .unwrap()
        .iter()
        .map(|b| std::str::from_utf8(b).unwrap().parse().unwrap())
        .collect();
    assert_eq!(
        order,
        (1..=30).collect::<Vec<_>>(),
        "requests must arrive in order"
    );
}

#[test]
fn past_the_budget_the_oldest_are_dropped_and_counted_exactly() {
    let stub = Stub::start(Mode::Status(204));
    stub.up.store(false, SeqCst);
    // Each request is ~1 KiB (its URL); the budget holds 5 of them.
    let config = PushConfig {
        queue_bytes: 5 * 1100,
        ..config()
    };
    let pusher = spawn(&stub, config, 1024);
    for n in 1..=20 {
        pusher.push(snapshot(n));
    }
    wait_for("queued", || pusher.report().snapshots_queued == 20);
    assert!(pusher.report().queue_bytes <= 5 * 1100);
    stub.up.store(true, SeqCst);
    let total: u64 = (1..=20).sum();
    wait_for("all accounted", || {
        let r = pusher.report();
        r.samples_sent + r.dropped_total() == total
    });
    let report = pusher.shutdown();
    // The newest five survive (16..=20, possibly plus the one in flight when the outage
    // ended); every other is a counted queue_full drop.
    assert_eq!(report.samples_sent, stub.accepted_samples());
    assert_eq!(
        report.dropped(DropReason::QueueFull),
        total - report.samples_sent
    );
    assert!(report.samples_sent >= (16..=20).sum::<u64>(), "{report}");
    assert!(report.dropped(DropReason::QueueFull) > 0);
}

#[test]
fn a_receiver_that_never_answers_holds_no_more_than_the_budget() {
    let stub = Stub::start(Mode::Stall);
    let budget = 8 * 1100;
    let config = PushConfig {
        queue_bytes: budget,
        request_timeout: Duration::from_millis(200),
        shutdown_deadline: Duration::from_millis(500),
        ..config()
    };
    let pusher = spawn(&stub, config, 1024);
    for n in 1..=50 {
        pusher.push(snapshot(n));
        assert!(pusher.report().queue_bytes <= budget as u64);
        std::thread::sleep(Duration::from_millis(10));
    }
    wait_for("a few timeouts", || pusher.report().retries >= 2);
    let started = Instant::now();
    let report = pusher.shutdown();
    // Deadline 0.5 s plus at most the request in flight (0.2 s), with scheduling slack.
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    let total: u64 = (1..=50).sum();
    assert_eq!(report.samples_sent, 0);
    assert_eq!(
        report.dropped(DropReason::QueueFull) + report.dropped(DropReason::Shutdown),
        total,
        "{report}"
    );
    assert!(report.dropped(DropReason::Shutdown) > 0);
}

#[test]
fn an_unreachable_host_is_retried_and_a_bad_url_is_dropped() {
    // A port nothing listens on: connection refused, retried until the deadline.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = PushConfig {
        shutdown_deadline: Duration::from_millis(300),
        ..config()
    };
    let pusher = Pusher::spawn_with_transport(
        Tally {
            url: format!("http://127.0.0.1:{port}/write"),
            size: 0,
        },
        no_source(),
        aureon_push::HttpTransport::new(),
        config.clone(),
        None,
    )
    .unwrap();
    pusher.push(snapshot(3));
    wait_for("retries", || pusher.report().retries >= 2);
    let report = pusher.shutdown();
    assert_eq!(report.dropped(DropReason::Shutdown), 3, "{report}");

    let pusher = Pusher::spawn_with_transport(
        Tally {
            url: "ht!tp://nope".into(),
            size: 0,
        },
        no_source(),
        aureon_push::HttpTransport::new(),
        config,
        None,
    )
    .unwrap();
    pusher.push(snapshot(4));
    wait_for("the drop", || {
        pusher.report().dropped(DropReason::Invalid) == 4
    });
    assert_eq!(pusher.shutdown().retries, 0);
}

#[test]
fn a_published_source_is_read_each_interval_and_sent_once_per_snapshot() {
    let stub = Stub::start(Mode::Status(200));
    let registry = Registry::new();
    let current = Arc::new(Mutex::new(snapshot(1)));
    let source = {
        let current = current.clone();
        from_fn(move || current.lock().unwrap().clone())
    };
    let config = PushConfig {
        interval: Duration::from_millis(20),
        ..config()
    };
    let pusher = Pusher::spawn(
        Tally {
            url: stub.url(),
            size: 0,
        },
        source,
        config,
        Some(&registry),
    )
    .unwrap();
    wait_for("the first", || pusher.report().samples_sent == 1);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        stub.attempts.load(SeqCst),
        1,
        "an unchanged snapshot is not sent again"
    );
    *current.lock().unwrap() = snapshot(2);
    wait_for("the second", || pusher.report().samples_sent == 3);
    let report = pusher.shutdown();
    assert_eq!(report.requests_sent, 2);
    // The self-metrics are in the registry.
    let s = registry.snapshot();
    assert_eq!(
        s.counter_with("aureon_push_samples_sent", &[("protocol", "tally")]),
        Some(3)
    );
    assert_eq!(
        s.counter_with("aureon_push_requests_sent", &[("protocol", "tally")]),
        Some(2)
    );
    assert_eq!(
        s.counter_with(
            "aureon_push_samples_dropped",
            &[("protocol", "tally"), ("reason", "queue_full")]
        ),
        Some(0)
    );
    assert!(
        s.histogram_with("aureon_push_send_duration", &[("protocol", "tally")])
            .unwrap()
            .count()
            >= 2
    );
}

#[test]
fn bad_configurations_are_refused() {
    let stub = Stub::start(Mode::Status(200));
    let bad = PushConfig {
        interval: Duration::ZERO,
        ..config()
    };
    let err = Pusher::spawn_with_transport(
        Tally {
            url: stub.url(),
            size: 0,
        },
        no_source(),
        aureon_push::HttpTransport::new(),
        bad,
        None,
    )
    .unwrap_err();
    assert!(err.to_string().contains("interval"), "{err}");
}
