//! A narrow entry point into the real server code for the fuzz targets in `fuzz/` (cargo
//! feature `fuzzing`; compiled for this crate's unit tests too). Not a stable API: it exists
//! because the routing, the `?format=` parsing and the `Accept`/`Accept-Encoding`
//! negotiation are private, and fuzzing a copy of them would prove nothing about the server.
//!
//! [`Harness::exchange`] feeds raw bytes, as a client would send them, to the very
//! connection function the server runs for every accepted socket (`serve::serve`: hyper's
//! HTTP/1.1 parser with the server's limits, then [`Endpoint::handle`]), over an in-memory
//! pipe instead of a TCP socket, and returns every byte the server wrote back.

use super::ServerConfig;
use super::health::HealthReport;
use super::routes::{Endpoint, HealthSource};
use super::serve::{self, Limits};
use aureon_telemetry::{Registry, Snapshotter, SnapshotterConfig};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

/// A server endpoint over a small registry (a histogram and a counter with labels whose
/// values need escaping, a gauge), ready to answer raw requests.
pub struct Harness {
    runtime: tokio::runtime::Runtime,
    endpoint: Arc<Endpoint>,
    limits: Limits,
    stop: watch::Receiver<bool>,
    /// Keeps the stop channel open: a closed channel would read as "stop".
    _stop_sender: watch::Sender<bool>,
    /// Owns the published snapshot the endpoint reads (and its thread, stopped on drop).
    _snapshotter: Snapshotter,
}

impl std::fmt::Debug for Harness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Harness").finish_non_exhaustive()
    }
}

impl Harness {
    /// An endpoint with [`ServerConfig::default`]'s limits (gzip on), serving one published
    /// snapshot of a small registry.
    ///
    /// # Panics
    /// If the runtime or the snapshotter thread cannot be created (the fuzzer cannot run).
    pub fn new() -> Self {
        let registry = Registry::new();
        let h = registry.histogram_with("rpc_latency", &[("op", "get \"x\"\n\\")]);
        for v in [1, 12, 1500, 90_000] {
            h.record(v);
        }
        registry
            .counter_with("blocks", &[("peer", "a,b")])
            .increment(7);
        registry.gauge("queue_depth").set(3.5);
        // A long interval: the one explicit tick below is the snapshot every request reads,
        // so answers do not change between runs of the same input.
        let snapshotter = Snapshotter::spawn(
            &registry,
            SnapshotterConfig {
                interval: Duration::from_secs(3600),
                ..Default::default()
            },
        )
        .expect("snapshotter thread");
        snapshotter.tick();
        let config = ServerConfig::default();
        let health: HealthSource = Arc::new(HealthReport::healthy);
        let endpoint = Arc::new(
            Endpoint::new(snapshotter.reader(), health, &config)
                .expect("the default configuration is valid"),
        );
        let limits = Limits {
            max_connections: config.max_connections(),
            header_read_timeout: config.header_read_timeout(),
            connection_lifetime: config.connection_lifetime(),
            shutdown_grace: config.shutdown_grace(),
            max_header_bytes: config.max_header_bytes(),
            max_pending: config.max_pending_connections(),
        };
        let (stop_sender, stop) = watch::channel(false);
        // Paused time: the runtime jumps to the next timer whenever every task waits, so a
        // request that leaves the server waiting (a partial header, a body still to come)
        // meets the real timeouts without the fuzzer waiting seconds for them.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("tokio runtime");
        Self {
            runtime,
            endpoint,
            limits,
            stop,
            _stop_sender: stop_sender,
            _snapshotter: snapshotter,
        }
    }

    /// Sends `request` (then end of input) on a fresh connection and returns everything the
    /// server answered before closing it.
    pub fn exchange(&self, request: &[u8]) -> Vec<u8> {
        self.runtime.block_on(async {
            let (client, server) = tokio::io::duplex(64 * 1024);
            let endpoint = Arc::clone(&self.endpoint);
            let limits = self.limits;
            let mut stop = self.stop.clone();
            // No web configuration: the plain-HTTP path every request takes after TLS.
            let served = tokio::spawn(async move {
                serve::serve_http(server, endpoint, None, limits, &mut stop).await
            });
            let (mut rx, mut tx) = tokio::io::split(client);
            // Sent by a task of its own while this one reads: a large request fills the pipe
            // before the server has answered (tokio's `join!` needs its macros feature).
            let request = request.to_vec();
            let (done, answered) = tokio::sync::oneshot::channel::<()>();
            let send = tokio::spawn(async move {
                // The server may close before reading everything (a 400, a 413): not an error.
                let _ = tx.write_all(&request).await;
                // Then wait like a real client, without closing our side (hyper drops a
                // connection whose client half-closes): the server's own timeouts end the
                // connection, instantly on the paused clock. `tx` lives until then.
                let _ = answered.await;
                drop(tx);
            });
            let mut answer = Vec::new();
            let _ = rx.read_to_end(&mut answer).await;
            // Ends the sender (and frees what it holds) before returning: nothing of one
            // exchange outlives it.
            let _ = done.send(());
            let _ = send.await;
            let _ = served.await;
            answer
        })
    }
}

impl Default for Harness {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether `Accept-Encoding` values accept gzip, as the server decides it.
pub fn accepts_gzip(values: &[&str]) -> bool {
    super::gzip::accepts_gzip(values.iter().copied())
}

/// The format the server answers for `?format=value` (`None`: a 400).
pub fn parse_format(value: &str) -> Option<crate::Format> {
    super::routes::parse_format(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status_and_head(answer: &[u8]) -> (u16, String) {
        let text = String::from_utf8_lossy(answer);
        let head = text.split("\r\n\r\n").next().unwrap_or("").to_owned();
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        (status, head.to_ascii_lowercase())
    }

    #[test]
    fn the_harness_answers_like_the_server() {
        let h = Harness::new();
        let (status, head) = status_and_head(&h.exchange(
            b"GET /metrics HTTP/1.1\r\nhost: x\r\naccept: application/openmetrics-text\r\n\r\n",
        ));
        assert_eq!(status, 200);
        assert!(head.contains("content-type: application/openmetrics-text"));
        let (status, _) = status_and_head(&h.exchange(b"GET /nope HTTP/1.1\r\nhost: x\r\n\r\n"));
        assert_eq!(status, 404);
        let (status, _) =
            status_and_head(&h.exchange(b"GET /metrics?format=json HTTP/1.1\r\n\r\n"));
        assert_eq!(status, 400);
        let (status, head) =
            status_and_head(&h.exchange(b"GET /metrics HTTP/1.1\r\naccept-encoding: gzip\r\n\r\n"));
        assert_eq!(status, 200);
        assert!(head.contains("content-encoding: gzip"));
        // A request whose body never comes: the request timeout's 408.
        let (status, _) =
            status_and_head(&h.exchange(b"GET /metrics HTTP/1.1\r\ncontent-length: 5\r\n\r\nab"));
        assert_eq!(status, 408);
        // Not HTTP at all: hyper's 400, no panic.
        let (status, _) = status_and_head(&h.exchange(b"\x00\xff garbage\r\n\r\n"));
        assert_eq!(status, 400);
        assert!(h.exchange(b"").is_empty());
    }
}
