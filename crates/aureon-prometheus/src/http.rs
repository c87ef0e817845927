//! The embedded HTTP endpoint: `/metrics` for Prometheus, `/health` for load balancers and
//! probes, served from a thread of its own so that nothing a client does can reach the
//! recording threads.
//!
//! [`MetricsServer::start`] binds (loopback by default), then serves on a one-thread tokio
//! runtime with hyper's HTTP/1.1 server until [`MetricsServer::shutdown`] or drop. Each
//! `/metrics` request renders the latest snapshot the [`Snapshotter`] has published (cached
//! until the next one), so a scrape never touches a histogram shard.
//!
//! ```
//! use aureon_prometheus::http::{HealthReport, MetricsServer, ServerConfig};
//! use aureon_telemetry::{Registry, Snapshotter, SnapshotterConfig};
//! use std::sync::Arc;
//!
//! let registry = Registry::new();
//! registry.counter("blocks_total").increment(1);
//! let snapshotter = Snapshotter::spawn(&registry, SnapshotterConfig::default())?;
//! let config = ServerConfig::builder().port(0).build()?;
//! let server = MetricsServer::start(config, snapshotter.reader(), Arc::new(HealthReport::healthy))?;
//! println!("scrape http://{}/metrics", server.local_addr());
//! server.shutdown();
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Answers
//!
//! | request | answer |
//! |---|---|
//! | `GET /metrics` | 200, the latest snapshot in the format negotiated from `Accept` ([`crate::Format::negotiate`]), or the one named by `?format=text\|openmetrics\|protobuf`; gzipped when `Accept-Encoding` allows (see [`ServerConfigBuilder::gzip`]) |
//! | `GET /metrics?format=other` | 400 |
//! | `GET /health` | JSON `{"status":…,"reasons":[…]}` from the health source; 200 when healthy or degraded, 503 when unhealthy, 500 if the health source panics |
//! | `GET /health` while the latest snapshot is older than [`ServerConfigBuilder::stale_after`] | 503, `unhealthy`, the source's reasons plus one saying how old the snapshot is |
//! | `HEAD` of either | the same status and headers, no body |
//! | any other path | 404 |
//! | another method on a known path | 405 with `Allow: GET, HEAD` |
//! | malformed request line or header | 400 (from hyper), connection closed |
//! | request line and headers over [`ServerConfigBuilder::max_header_bytes`], or more than 100 header fields | 431 (from hyper), connection closed |
//! | body over [`ServerConfigBuilder::max_body_bytes`] | 413, connection closed |
//! | body not received within [`ServerConfigBuilder::request_timeout`] | 408, connection closed |
//! | headers not received within [`ServerConfigBuilder::header_read_timeout`] | connection closed, no answer |
//! | a connection beyond [`ServerConfigBuilder::max_connections`] | 503 with `Retry-After: 1`, connection closed; beyond twice the limit, closed at once |
//! | a renderer bug (panic) | 500; the server keeps serving |
//! | with a [`ServerConfigBuilder::web_config_file`] that has `basic_auth_users`: missing, malformed or wrong credentials, any path (`/health` too unless [`ServerConfigBuilder::open_health`]) | 401 with `WWW-Authenticate: Basic` |
//! | plain HTTP on a TLS port | `400` "Client sent an HTTP request to an HTTPS server.", connection closed |
//! | TLS handshake failing (junk, no or wrong client certificate under mTLS, no common version) | connection closed (rustls sends its alert); no handshake within [`ServerConfigBuilder::header_read_timeout`]: closed |
//! | the web config file changes | re-read at the next connection; a bad new version keeps the previous one in force, logged to stderr and counted ([`MetricsServer::web_config_reloads`]) |
//!
//! [`Snapshotter`]: aureon_telemetry::Snapshotter

mod auth;
mod config;
// The fuzz targets' entry point into the real request path (see the module docs).
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
mod gzip;
mod head;
mod health;
mod pending;
mod reload;
mod routes;
mod serve;
mod tls;
mod web_config;

pub use config::{
    DEFAULT_PORT, MAX_CONNECTIONS, MIN_HEADER_BYTES, ServerConfig, ServerConfigBuilder,
};
pub use health::{HealthReport, HealthStatus};
pub use reload::WebConfigReloads;
pub use routes::HealthSource;
pub use web_config::{WebConfig, WebConfigError};

use aureon_telemetry::SnapshotReader;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use tokio::sync::watch;

/// A running metrics endpoint. Dropping it shuts it down like [`MetricsServer::shutdown`].
pub struct MetricsServer {
    local_addr: SocketAddr,
    web: Option<Arc<reload::WebState>>,
    stop: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for MetricsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsServer")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

impl MetricsServer {
    /// Binds `config.address()` and starts serving on a thread named `aureon-metrics-http`.
    ///
    /// `reader` is where `/metrics` gets its snapshots (`Snapshotter::reader`); `health`
    /// answers `/health`, on the server's thread, so it should only read a published value.
    ///
    /// # Errors
    /// Binding fails (address in use, not a local address, no permission), or the runtime or
    /// thread cannot be created; nothing keeps running then. A configured
    /// [`ServerConfigBuilder::stale_after`] that is not longer than the snapshotter's interval
    /// is an [`io::ErrorKind::InvalidInput`] error, and so is a
    /// [`ServerConfigBuilder::web_config_file`] that does not load (the message names the
    /// file, the line and the problem; the source is a [`WebConfigError`] when the file
    /// itself is wrong).
    pub fn start(
        config: ServerConfig,
        reader: SnapshotReader,
        health: HealthSource,
    ) -> io::Result<Self> {
        if let Some(stale_after) = config.stale_after()
            && stale_after <= reader.interval()
        {
            // /health would flap to 503 between two publications.
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "stale_after ({stale_after:?}) must be longer than the snapshotter's interval ({:?})",
                    reader.interval()
                ),
            ));
        }
        // Before binding: a bad file must not leave a port half-opened.
        let web = match config.web_config_file() {
            Some(path) => Some(Arc::new(reload::WebState::load(path)?)),
            None => None,
        };
        let listener = std::net::TcpListener::bind(config.address())?;
        listener.set_nonblocking(true)?;
        let local_addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            // bcrypt checks of basic-auth passwords run here, one at a time (http/auth.rs).
            .max_blocking_threads(1)
            .thread_name("aureon-metrics-http-auth")
            .build()?;
        let listener = {
            let _in_runtime = runtime.enter();
            tokio::net::TcpListener::from_std(listener)?
        };
        let endpoint = Arc::new(routes::Endpoint::new(reader, health, &config)?);
        let limits = serve::Limits {
            max_connections: config.max_connections(),
            header_read_timeout: config.header_read_timeout(),
            connection_lifetime: config.connection_lifetime(),
            shutdown_grace: config.shutdown_grace(),
            max_header_bytes: config.max_header_bytes(),
            max_pending: config.max_pending_connections(),
        };
        let (stop, stop_rx) = watch::channel(false);
        let thread = std::thread::Builder::new()
            .name("aureon-metrics-http".into())
            .spawn({
                let web = web.clone();
                move || runtime.block_on(serve::run(listener, endpoint, web, limits, stop_rx))
            })?;
        Ok(Self {
            local_addr,
            web,
            stop,
            thread: Some(thread),
        })
    }

    /// The address actually bound (with the port chosen by the system for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The web configuration in force (the file's latest good version; `None` without a
    /// [`ServerConfigBuilder::web_config_file`]): whether the endpoint speaks TLS, which
    /// users it knows.
    pub fn web_config(&self) -> Option<WebConfig> {
        self.web.as_ref().map(|w| w.current().config.clone())
    }

    /// How the reloads of the [`ServerConfigBuilder::web_config_file`] went (`None` without
    /// one). A failed reload is also written to stderr; the previous version stays in force.
    pub fn web_config_reloads(&self) -> Option<WebConfigReloads> {
        self.web.as_ref().map(|w| w.reloads())
    }

    /// Stops accepting (the port is released), lets requests in progress finish within the
    /// shutdown grace, closes every connection and waits for the thread to exit.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        // Only fails when the server task is gone already, which is what we want anyway.
        let _ = self.stop.send(true);
        if let Some(thread) = self.thread.take() {
            // The server task does not panic (handlers catch the panics of the renderer and
            // the health source); if it did, it was reported on that thread already.
            let _ = thread.join();
        }
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}
