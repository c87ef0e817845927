//! [`ServerConfig`]: where the metrics endpoint listens and the limits that keep a slow,
//! broken or hostile client from costing more than a bounded amount of memory, sockets and
//! time.
//!
//! Every limit has a default that suits a Prometheus scraping every few seconds; all of them
//! are checked in one place ([`ServerConfigBuilder::build`]) so that a nonsensical value is an
//! [`std::io::ErrorKind::InvalidInput`] error rather than a panic deep inside the HTTP
//! library (hyper asserts on some of them).

use crate::ExportOptions;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The port the endpoint listens on unless told otherwise (the one the README's demo uses).
pub const DEFAULT_PORT: u16 = 9898;

/// The largest accepted [`ServerConfig::max_connections`] (far beyond what a metrics
/// endpoint needs; a bound keeps the permit arithmetic trivially in range).
pub const MAX_CONNECTIONS: usize = 1 << 20;

/// The smallest accepted [`ServerConfig::max_header_bytes`]: a Prometheus scrape request
/// is about 300 bytes, and below this even ordinary browsers' requests would be refused.
pub const MIN_HEADER_BYTES: usize = 1024;

/// How the metrics endpoint listens and what it tolerates; built (and checked) by
/// [`ServerConfig::builder`].
///
/// [`ServerConfig::default`] listens on `127.0.0.1:`[`DEFAULT_PORT`]. Listening on anything
/// but loopback is an explicit choice: [`ServerConfigBuilder::bind_address`].
///
/// ```
/// use aureon_prometheus::http::ServerConfig;
/// use std::time::Duration;
/// let config = ServerConfig::builder()
///     .port(0) // any free port; ask the server which one with `local_addr()`
///     .max_connections(8)
///     .header_read_timeout(Duration::from_secs(2))
///     .build()
///     .unwrap();
/// assert!(config.address().ip().is_loopback());
/// assert!(ServerConfig::builder().max_connections(0).build().is_err());
/// ```
#[derive(Debug, Clone)]
pub struct ServerConfig {
    address: SocketAddr,
    max_connections: usize,
    max_pending_connections: usize,
    header_read_timeout: Duration,
    request_timeout: Duration,
    connection_lifetime: Duration,
    shutdown_grace: Duration,
    max_header_bytes: usize,
    max_body_bytes: usize,
    gzip: bool,
    stale_after: Option<Duration>,
    export: ExportOptions,
    web_config_file: Option<PathBuf>,
    open_health: bool,
}

impl Default for ServerConfig {
    /// `127.0.0.1:9898`; 64 connections served and 4096 pending; headers within 5 s, a request answered within
    /// 10 s, a connection closed after 60 s; 16 KiB of headers, 1 KiB of body; 2 s of grace
    /// on shutdown; gzip when asked for; snapshots stale after three snapshot intervals plus
    /// 2 s; [`ExportOptions::default`].
    fn default() -> Self {
        Self {
            address: SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, DEFAULT_PORT)),
            max_connections: 64,
            max_pending_connections: 4096,
            header_read_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            connection_lifetime: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(2),
            max_header_bytes: 16 * 1024,
            max_body_bytes: 1024,
            gzip: true,
            stale_after: None,
            export: ExportOptions::default(),
            web_config_file: None,
            open_health: false,
        }
    }
}

impl ServerConfig {
    /// A builder starting from [`ServerConfig::default`].
    pub fn builder() -> ServerConfigBuilder {
        ServerConfigBuilder {
            config: Self::default(),
        }
    }

    /// The address to listen on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// See [`ServerConfigBuilder::max_connections`].
    pub fn max_connections(&self) -> usize {
        self.max_connections
    }

    /// See [`ServerConfigBuilder::max_pending_connections`].
    pub fn max_pending_connections(&self) -> usize {
        self.max_pending_connections
    }

    /// See [`ServerConfigBuilder::header_read_timeout`].
    pub fn header_read_timeout(&self) -> Duration {
        self.header_read_timeout
    }

    /// See [`ServerConfigBuilder::request_timeout`].
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// See [`ServerConfigBuilder::connection_lifetime`].
    pub fn connection_lifetime(&self) -> Duration {
        self.connection_lifetime
    }

    /// See [`ServerConfigBuilder::shutdown_grace`].
    pub fn shutdown_grace(&self) -> Duration {
        self.shutdown_grace
    }

    /// See [`ServerConfigBuilder::max_header_bytes`].
    pub fn max_header_bytes(&self) -> usize {
        self.max_header_bytes
    }

    /// See [`ServerConfigBuilder::max_body_bytes`].
    pub fn max_body_bytes(&self) -> usize {
        self.max_body_bytes
    }

    /// See [`ServerConfigBuilder::gzip`].
    pub fn gzip(&self) -> bool {
        self.gzip
    }

    /// See [`ServerConfigBuilder::stale_after`]; `None` for the default, which depends on
    /// the snapshotter's interval.
    pub fn stale_after(&self) -> Option<Duration> {
        self.stale_after
    }

    /// See [`ServerConfigBuilder::export_options`].
    pub fn export_options(&self) -> &ExportOptions {
        &self.export
    }

    /// See [`ServerConfigBuilder::web_config_file`].
    pub fn web_config_file(&self) -> Option<&Path> {
        self.web_config_file.as_deref()
    }

    /// See [`ServerConfigBuilder::open_health`].
    pub fn open_health(&self) -> bool {
        self.open_health
    }

    fn validate(&self) -> io::Result<()> {
        let invalid = |msg: String| Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
        if self.max_connections == 0 {
            return invalid("max_connections must be at least 1".into());
        }
        if self.max_connections > MAX_CONNECTIONS {
            return invalid(format!("max_connections must be at most {MAX_CONNECTIONS}"));
        }
        if !(1..=MAX_CONNECTIONS).contains(&self.max_pending_connections) {
            return invalid(format!(
                "max_pending_connections must be between 1 and {MAX_CONNECTIONS}"
            ));
        }
        for (name, d) in [
            ("header_read_timeout", self.header_read_timeout),
            ("request_timeout", self.request_timeout),
            ("connection_lifetime", self.connection_lifetime),
        ] {
            if d.is_zero() {
                return invalid(format!("{name} must be longer than zero"));
            }
        }
        if self.stale_after.is_some_and(|d| d.is_zero()) {
            return invalid("stale_after must be longer than zero".into());
        }
        if self.connection_lifetime < self.request_timeout {
            return invalid(format!(
                "connection_lifetime ({:?}) must be at least request_timeout ({:?})",
                self.connection_lifetime, self.request_timeout
            ));
        }
        if self.max_header_bytes < MIN_HEADER_BYTES {
            return invalid(format!(
                "max_header_bytes ({}) must be at least {MIN_HEADER_BYTES}",
                self.max_header_bytes
            ));
        }
        Ok(())
    }
}

/// Builds a [`ServerConfig`]; [`ServerConfigBuilder::build`] checks every limit.
#[derive(Debug, Clone)]
pub struct ServerConfigBuilder {
    config: ServerConfig,
}

impl ServerConfigBuilder {
    /// Listens on `127.0.0.1:port`; port 0 picks a free port (see
    /// [`super::MetricsServer::local_addr`]).
    pub fn port(mut self, port: u16) -> Self {
        self.config.address = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port));
        self
    }

    /// Listens on `address`, which may be any interface (`0.0.0.0:9898`). Without a
    /// [`ServerConfigBuilder::web_config_file`] the endpoint has no authentication or TLS:
    /// exposing it beyond loopback is a decision for the operator (see
    /// `docs/operations.md`), which is why it is a method of its own.
    pub fn bind_address(mut self, address: SocketAddr) -> Self {
        self.config.address = address;
        self
    }

    /// Connections served at the same time (1 ..= [`MAX_CONNECTIONS`], default 64). A connection beyond
    /// the limit gets `503 Service Unavailable` with `Retry-After: 1` and is closed; see the
    /// [module docs](super) for the details.
    pub fn max_connections(mut self, limit: usize) -> Self {
        self.config.max_connections = limit;
        self
    }

    /// Connections that may be waiting for their first request head at once (1 ..=
    /// [`MAX_CONNECTIONS`], default 4096). A pending connection holds no serve slot (see
    /// [`ServerConfigBuilder::max_connections`]), only a socket and a small task, so clients
    /// that trickle or never send their headers cannot crowd out a scrape; when this many
    /// are pending, the oldest is closed to admit a new one. Each costs one file
    /// descriptor: keep the process' limit (`ulimit -n`) above this plus `max_connections`.
    pub fn max_pending_connections(mut self, limit: usize) -> Self {
        self.config.max_pending_connections = limit;
        self
    }

    /// Time a client has to send a request's complete headers (default 5 s), counted from
    /// when the server starts waiting for them, so it also closes a keep-alive connection
    /// that stays idle that long. A client that misses it is disconnected without a
    /// response.
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.config.header_read_timeout = timeout;
        self
    }

    /// Time from a request's headers to its response being ready (default 10 s), which
    /// covers reading its body; past it the answer is `408 Request Timeout` and the
    /// connection is closed.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.config.request_timeout = timeout;
        self
    }

    /// The longest a connection stays open (default 60 s, at least the request timeout).
    /// At the end, the request in progress may finish within the shutdown grace, then the
    /// connection is closed; this is what bounds a client that stops reading its response.
    pub fn connection_lifetime(mut self, lifetime: Duration) -> Self {
        self.config.connection_lifetime = lifetime;
        self
    }

    /// How long requests in progress may take to finish when the server shuts down or a
    /// connection reaches its lifetime, before the connection is dropped (default 2 s).
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.config.shutdown_grace = grace;
        self
    }

    /// The most bytes of request line and headers accepted (default 16 KiB, at least
    /// [`MIN_HEADER_BYTES`]); a request with more gets `431 Request Header Fields Too Large`.
    /// More than 100 header fields also get 431.
    pub fn max_header_bytes(mut self, limit: usize) -> Self {
        self.config.max_header_bytes = limit;
        self
    }

    /// The most bytes of request body accepted (default 1 KiB) and ignored: the endpoints
    /// take no input. A larger body gets `413 Content Too Large` and the connection is
    /// closed.
    pub fn max_body_bytes(mut self, limit: usize) -> Self {
        self.config.max_body_bytes = limit;
        self
    }

    /// Whether `/metrics` responses are gzipped for clients that accept it (default on;
    /// Prometheus always asks). Off trades bandwidth for the server thread's CPU.
    pub fn gzip(mut self, on: bool) -> Self {
        self.config.gzip = on;
        self
    }

    /// The age of the latest published snapshot past which `/health` answers unhealthy
    /// (503), adding a reason that says how old it is, whatever the health source reported:
    /// when the snapshotter has stopped, every figure the application judges its health by is
    /// frozen, and `/metrics` keeps serving the last values. Default: three of the
    /// snapshotter's intervals plus 2 s (5 s at the default 1 s interval), which a snapshot
    /// that takes up to two intervals plus 2 s to merge still passes (the snapshotter waits
    /// one interval *after* each snapshot). It must be longer than the snapshotter's interval
    /// ([`super::MetricsServer::start`] refuses it otherwise). `Duration::MAX` turns the
    /// check off.
    pub fn stale_after(mut self, age: Duration) -> Self {
        self.config.stale_after = Some(age);
        self
    }

    /// What `/metrics` contains and how it is named.
    pub fn export_options(mut self, options: ExportOptions) -> Self {
        self.config.export = options;
        self
    }

    /// TLS, mTLS and basic auth from a web configuration file in the Prometheus
    /// exporter-toolkit format (`--web.config.file` of node_exporter; see
    /// [`super::WebConfig`] and `docs/operations.md`). The file is loaded by
    /// [`super::MetricsServer::start`], which fails on a bad one (naming the file, the line and
    /// the problem), and re-read when it or a file it names changes; a bad new version keeps
    /// the previous one in force (see [`super::MetricsServer::web_config_reloads`]).
    pub fn web_config_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.config.web_config_file = Some(path.into());
        self
    }

    /// Whether `/health` answers without basic-auth credentials when the web configuration
    /// has users (default `false`: every path needs them). Load balancers and orchestrator
    /// probes that cannot send credentials need `true`; `/health` still goes over TLS when
    /// the port speaks it, and says only healthy, degraded or unhealthy with its reasons.
    pub fn open_health(mut self, open: bool) -> Self {
        self.config.open_health = open;
        self
    }

    /// Checks every limit; the [`io::ErrorKind::InvalidInput`] error names the wrong one.
    pub fn build(self) -> io::Result<ServerConfig> {
        self.config.validate()?;
        Ok(self.config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_listen_on_loopback_and_are_valid() {
        let c = ServerConfig::default();
        assert_eq!(c.address().to_string(), "127.0.0.1:9898");
        c.validate().unwrap();
        let c = ServerConfig::builder().port(0).build().unwrap();
        assert_eq!(c.address().port(), 0);
        assert!(c.address().ip().is_loopback());
    }

    #[test]
    fn nonsense_limits_are_refused_with_the_name_of_the_limit() {
        let b = ServerConfig::builder;
        let cases = [
            (b().max_connections(0), "max_connections"),
            (b().max_connections(usize::MAX), "max_connections"),
            (
                b().header_read_timeout(Duration::ZERO),
                "header_read_timeout",
            ),
            (b().request_timeout(Duration::ZERO), "request_timeout"),
            (
                b().connection_lifetime(Duration::ZERO),
                "connection_lifetime",
            ),
            (
                b().request_timeout(Duration::from_secs(30))
                    .connection_lifetime(Duration::from_secs(10)),
                "connection_lifetime",
            ),
            (b().max_header_bytes(10), "max_header_bytes"),
            (b().stale_after(Duration::ZERO), "stale_after"),
        ];
        for (builder, name) in cases {
            let e = builder.build().unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
            assert!(e.to_string().contains(name), "{e} should name {name}");
        }
    }
}
