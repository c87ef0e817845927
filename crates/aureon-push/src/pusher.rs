//! The sending loop: one thread per pusher that reads published snapshots each interval,
//! queues their requests, sends them in order with retries and backoff, and flushes on
//! shutdown until a deadline.
//!
//! The loop is the only owner of the queue, the protocol and the transport, so none of them
//! needs a lock; the handle talks to it over a channel (explicit pushes, the stop request)
//! and reads its figures from shared atomics. Requests go out strictly in order, one at a
//! time: remote-write receivers reject samples older than one already stored for a series,
//! so a newer request must never overtake an older one being retried.

use crate::backoff::Backoff;
use crate::config::{ConfigError, PushConfig};
use crate::metrics::{Recorder, SelfMetrics, Stats};
use crate::protocol::{DropReason, Outcome, Protocol, PushRequest};
use crate::queue::Queue;
use crate::source::SnapshotSource;
use crate::transport::{HttpTransport, Transport};
use aureon_telemetry::{Registry, Snapshot};
use std::fmt;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Why a pusher could not start.
#[derive(Debug)]
pub enum SpawnError {
    /// The configuration is invalid.
    Config(ConfigError),
    /// The sending thread could not be started.
    Thread(std::io::Error),
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpawnError::Config(e) => e.fmt(f),
            SpawnError::Thread(e) => write!(f, "cannot start the push thread: {e}"),
        }
    }
}

impl std::error::Error for SpawnError {}

enum Command {
    Push(Arc<Snapshot>),
    Stop {
        last: Option<Arc<Snapshot>>,
        deadline: Instant,
    },
}

/// A running push exporter: a protocol, a snapshot source and the sending thread.
///
/// Dropping it stops the thread like [`Pusher::shutdown`] without a final snapshot.
pub struct Pusher {
    commands: mpsc::Sender<Command>,
    stats: Arc<Stats>,
    last_error: Arc<Mutex<Option<String>>>,
    protocol: &'static str,
    deadline: Duration,
    thread: Option<JoinHandle<Option<String>>>,
}

impl fmt::Debug for Pusher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pusher")
            .field("protocol", &self.protocol)
            .field("report", &self.report())
            .finish()
    }
}

impl Pusher {
    /// Starts pushing what `source` publishes with `protocol` over HTTP(S), recording the
    /// sender's health in `registry` (see [`SelfMetrics`]).
    pub fn spawn<P: Protocol>(
        protocol: P,
        source: impl SnapshotSource,
        config: PushConfig,
        registry: Option<&Registry>,
    ) -> Result<Self, SpawnError> {
        Self::spawn_with_transport(
            protocol,
            Some(source),
            HttpTransport::new(),
            config,
            registry,
        )
    }

    /// [`Pusher::spawn`] with another transport (TLS files, credentials, a test double), and
    /// optionally no source: then only [`Pusher::push`] and the final snapshot of
    /// [`Pusher::shutdown_with`] are sent (a batch job's one push).
    pub fn spawn_with_transport<P: Protocol, S: SnapshotSource, T: Transport>(
        protocol: P,
        source: Option<S>,
        transport: T,
        config: PushConfig,
        registry: Option<&Registry>,
    ) -> Result<Self, SpawnError> {
        config.validate().map_err(SpawnError::Config)?;
        let name = protocol.name();
        let stats = Arc::new(Stats::default());
        let last_error = Arc::new(Mutex::new(None));
        let recorder = Recorder {
            metrics: SelfMetrics::new(registry, name),
            stats: Arc::clone(&stats),
        };
        let (tx, rx) = mpsc::channel();
        let deadline = config.shutdown_deadline;
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
            ^ (Arc::as_ptr(&stats) as u64);
        let worker = Worker {
            backoff: Backoff::new(config.min_backoff, config.max_backoff, seed),
            queue: Queue::new(config.queue_bytes),
            config,
            protocol,
            transport,
            recorder,
            last_error: Arc::clone(&last_error),
            last_sequence: None,
            retry_at: None,
        };
        let thread = std::thread::Builder::new()
            .name(format!("aureon-push-{name}"))
            .spawn(move || worker.run(source, rx))
            .map_err(SpawnError::Thread)?;
        Ok(Self {
            commands: tx,
            stats,
            last_error,
            protocol: name,
            deadline,
            thread: Some(thread),
        })
    }

    /// Queues `snapshot` now (besides the source's), e.g. a batch job's result. Each call
    /// queues it again, even when it is the snapshot the source published last.
    pub fn push(&self, snapshot: Arc<Snapshot>) {
        let _ = self.commands.send(Command::Push(snapshot));
    }

    /// What the pusher has done so far.
    pub fn report(&self) -> PushReport {
        let s = &self.stats;
        PushReport {
            protocol: self.protocol,
            samples_sent: s.sent.load(Relaxed),
            requests_sent: s.requests.load(Relaxed),
            dropped: DropReason::ALL
                .iter()
                .zip(&s.dropped)
                .map(|(r, n)| (*r, n.load(Relaxed)))
                .collect(),
            retries: s.retries.load(Relaxed),
            queue_bytes: s.queue_bytes.load(Relaxed),
            snapshots_queued: s.snapshots.load(Relaxed),
            last_error: self.last_error.lock().map_or(None, |e| e.clone()),
            shutdown_request: None,
        }
    }

    /// Stops after sending what is queued, for at most the configured
    /// [`PushConfig::shutdown_deadline`] (plus the request in flight, at most one
    /// [`PushConfig::request_timeout`]); what is still queued then is counted as dropped
    /// (`shutdown`). Returns the final figures.
    pub fn shutdown(self) -> PushReport {
        self.shutdown_with(None)
    }

    /// [`Pusher::shutdown`], queuing `last` first: the snapshot that holds everything
    /// recorded (take it with `Snapshotter::tick` after the last record), so that what the
    /// receiver holds equals the final report.
    pub fn shutdown_with(mut self, last: Option<Arc<Snapshot>>) -> PushReport {
        let deadline = Instant::now() + self.deadline;
        let _ = self.commands.send(Command::Stop { last, deadline });
        let outcome = self.thread.take().and_then(|t| t.join().ok()).flatten();
        let mut report = self.report();
        report.shutdown_request = outcome;
        report
    }
}

impl Drop for Pusher {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            let deadline = Instant::now() + self.deadline;
            let _ = self.commands.send(Command::Stop {
                last: None,
                deadline,
            });
            let _ = t.join();
        }
    }
}

/// A pusher's figures (see also its [`SelfMetrics`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushReport {
    /// The protocol's name.
    pub protocol: &'static str,
    /// Samples delivered.
    pub samples_sent: u64,
    /// Requests delivered.
    pub requests_sent: u64,
    /// Samples dropped, by reason (every reason listed, zero or not).
    pub dropped: Vec<(DropReason, u64)>,
    /// Retries after retryable failures.
    pub retries: u64,
    /// Bytes still queued.
    pub queue_bytes: u64,
    /// Snapshots encoded and queued.
    pub snapshots_queued: u64,
    /// The last failure (status and the start of the receiver's message, or the transport
    /// error), if any.
    pub last_error: Option<String>,
    /// What the protocol's shutdown request (the Pushgateway's `DELETE`) got, if it sent one.
    pub shutdown_request: Option<String>,
}

impl PushReport {
    /// Samples dropped for `reason`.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped
            .iter()
            .find(|(r, _)| *r == reason)
            .map_or(0, |(_, n)| *n)
    }

    /// Samples dropped for any reason.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.iter().map(|(_, n)| n).sum()
    }
}

impl fmt::Display for PushReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} samples in {} requests delivered, {} retries",
            self.protocol, self.samples_sent, self.requests_sent, self.retries
        )?;
        let dropped: Vec<_> = self.dropped.iter().filter(|(_, n)| *n > 0).collect();
        if dropped.is_empty() {
            write!(f, ", nothing dropped")?;
        } else {
            for (reason, n) in dropped {
                write!(f, ", {n} dropped ({reason})")?;
            }
        }
        if let Some(e) = &self.last_error {
            write!(f, "; last error: {e}")?;
        }
        Ok(())
    }
}

struct Worker<P, T> {
    config: PushConfig,
    protocol: P,
    transport: T,
    queue: Queue,
    backoff: Backoff,
    recorder: Recorder,
    last_error: Arc<Mutex<Option<String>>>,
    /// The source's last snapshot (sequence and time, which together tell snapshots of
    /// different registries apart), so an unchanged one is not sent again.
    last_sequence: Option<(u64, Instant)>,
    /// While set, the front request waits for its retry.
    retry_at: Option<Instant>,
}

impl<P: Protocol, T: Transport> Worker<P, T> {
    fn run<S: SnapshotSource>(
        mut self,
        source: Option<S>,
        commands: mpsc::Receiver<Command>,
    ) -> Option<String> {
        let mut next_tick = Instant::now();
        loop {
            let now = Instant::now();
            if now >= next_tick {
                if let Some(source) = &source {
                    let latest = source.latest();
                    let id = (latest.sequence(), latest.taken_at());
                    if self.last_sequence != Some(id) {
                        self.last_sequence = Some(id);
                        self.ingest(&latest);
                    }
                }
                next_tick = now + self.config.interval;
            }
            if !self.queue.is_empty() && self.retry_at.is_none_or(|t| now >= t) {
                self.send_front(self.config.request_timeout);
                // Send the next at once (or notice the retry), but read commands first.
            }
            let now = Instant::now();
            let mut wake = next_tick;
            if !self.queue.is_empty() {
                wake = wake.min(self.retry_at.unwrap_or(now));
            }
            match commands.recv_timeout(wake.saturating_duration_since(now)) {
                Ok(Command::Push(s)) => self.ingest(&s),
                Ok(Command::Stop { last, deadline }) => return self.finish(last, deadline),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    let deadline = Instant::now() + self.config.shutdown_deadline;
                    return self.finish(None, deadline);
                }
            }
        }
    }

    /// Encodes and queues `snapshot`.
    fn ingest(&mut self, snapshot: &Snapshot) {
        match self.protocol.encode(snapshot) {
            Ok(requests) => {
                if self.protocol.supersedes() && !requests.is_empty() {
                    // The newer push replaces the group: the queued ones are contained in it.
                    self.queue.drain();
                    self.retry_at = None;
                }
                for request in requests {
                    for old in self.queue.push(request) {
                        self.recorder.dropped(DropReason::QueueFull, old.samples);
                        self.error(format!(
                            "queue full ({} bytes): dropped the oldest request",
                            self.queue.budget()
                        ));
                    }
                }
                self.recorder.snapshot_queued();
            }
            Err(e) => {
                self.recorder
                    .dropped(DropReason::Invalid, snapshot.len() as u64);
                self.error(format!(
                    "cannot encode snapshot {}: {e}",
                    snapshot.sequence()
                ));
            }
        }
        self.recorder.queue(self.queue.bytes());
    }

    /// Sends the front request once; on a retryable failure sets `retry_at`.
    fn send_front(&mut self, timeout: Duration) {
        let Some(request) = self.queue.front() else {
            return;
        };
        let started = Instant::now();
        let result = self.transport.send(request, timeout);
        self.recorder.took(started.elapsed());
        let samples = request.samples;
        let retry = |w: &mut Self, after: Option<Duration>, why: String| {
            w.recorder.retried();
            let delay = after.unwrap_or_else(|| w.backoff.next_delay());
            w.retry_at = Some(Instant::now() + delay);
            w.error(why);
        };
        match result {
            Ok(response) => match self.protocol.classify(&response) {
                Outcome::Delivered { rejected } => {
                    self.finish_front();
                    let rejected = rejected.min(samples);
                    self.recorder.delivered(samples - rejected);
                    if rejected > 0 {
                        self.recorder
                            .dropped(DropReason::PartiallyRejected, rejected);
                        self.error(format!(
                            "receiver rejected {rejected} of {samples} samples: {}",
                            message(&response.body)
                        ));
                    }
                }
                Outcome::Retry { after } => {
                    let why = format!("HTTP {}: {}", response.status, message(&response.body));
                    retry(self, after, why);
                }
                Outcome::Drop => {
                    self.finish_front();
                    self.recorder.dropped(DropReason::Rejected, samples);
                    self.error(format!(
                        "HTTP {} (not retried): {}",
                        response.status,
                        message(&response.body)
                    ));
                }
            },
            Err(e) if e.retryable => retry(self, None, e.message),
            Err(e) => {
                self.finish_front();
                self.recorder.dropped(DropReason::Invalid, samples);
                self.error(e.message);
            }
        }
        self.recorder.queue(self.queue.bytes());
    }

    fn finish_front(&mut self) {
        self.queue.pop_front();
        self.retry_at = None;
        self.backoff.reset();
    }

    /// The flush: send what is queued until `deadline`, count the rest, then the protocol's
    /// shutdown request.
    fn finish(mut self, last: Option<Arc<Snapshot>>, deadline: Instant) -> Option<String> {
        if let Some(s) = last {
            self.ingest(&s);
        }
        while !self.queue.is_empty() {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            if let Some(t) = self.retry_at.filter(|t| *t > now) {
                std::thread::sleep(t.min(deadline) - now);
                continue;
            }
            let left = deadline - now;
            self.send_front(self.config.request_timeout.min(left));
        }
        let mut undelivered = false;
        for request in self.queue.drain() {
            self.recorder.dropped(DropReason::Shutdown, request.samples);
            undelivered = true;
        }
        if undelivered {
            // Keep why the requests were still queued (the receiver's last answer or the
            // transport's error): "deadline passed" alone would hide the cause.
            let cause = self.last_error.lock().ok().and_then(|e| e.clone());
            self.error(match cause {
                Some(cause) => {
                    format!("shutdown deadline passed with requests queued; last failure: {cause}")
                }
                None => "shutdown deadline passed with requests queued".to_owned(),
            });
        }
        self.recorder.queue(0);
        let request: PushRequest = self.protocol.on_shutdown()?;
        let left = deadline.saturating_duration_since(Instant::now());
        let timeout = self
            .config
            .request_timeout
            .min(left.max(Duration::from_secs(1)));
        Some(match self.transport.send(&request, timeout) {
            Ok(r) => format!(
                "{} {}: HTTP {}",
                request.method.as_str(),
                request.url,
                r.status
            ),
            Err(e) => format!("{} {}: {e}", request.method.as_str(), request.url),
        })
    }

    fn error(&self, message: String) {
        if let Ok(mut e) = self.last_error.lock() {
            *e = Some(message);
        }
    }
}

/// The start of a receiver's message, printable.
fn message(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(256)]);
    let text: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let text = text.trim();
    if text.is_empty() {
        "(no message)".to_owned()
    } else {
        text.to_owned()
    }
}
