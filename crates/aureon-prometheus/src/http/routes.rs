//! From one parsed request to its response: routing, method and body checks, content
//! negotiation, and the two endpoints, `/metrics` and `/health`.
//!
//! Everything here runs on the server's own thread and reads only what the snapshotter has
//! already published ([`SnapshotReader::latest`]), so no request, however malformed, can
//! reach a recording thread. Requests that the HTTP parser itself rejects (bad request line,
//! oversized headers) never get here: hyper answers them (400, 431) before routing.
//!
//! Rendering (and gzip, when asked for) is cached per format and snapshot: Prometheus
//! servers scraping faster than the snapshotter publishes, or several of them, get the same
//! bytes without rendering again.

use super::ServerConfig;
use super::auth::Authenticator;
use super::gzip;
use super::health::{HealthReport, HealthStatus};
use super::reload::Active;
use crate::{ExportOptions, Format, Renderer};
use aureon_telemetry::{Snapshot, SnapshotReader};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::{Body, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use std::convert::Infallible;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// What the application says about its health; called on every `/health` request, on the
/// server's thread, so it should be quick (read a published value, not compute one).
pub type HealthSource = Arc<dyn Fn() -> HealthReport + Send + Sync>;

/// The methods the endpoints answer (`Allow` header of a 405).
const ALLOWED: &str = "GET, HEAD";

/// The shared state of every connection's request handler.
pub(super) struct Endpoint {
    reader: SnapshotReader,
    health: HealthSource,
    export: ExportOptions,
    request_timeout: Duration,
    max_body_bytes: usize,
    /// Whether `/metrics` is gzipped for clients that accept it.
    gzip: bool,
    /// Past this age of the latest snapshot, `/health` answers unhealthy.
    stale_after: Duration,
    /// The last rendering per format, indexed by [`format_slot`].
    cache: Mutex<[Option<Rendered>; 3]>,
    /// Keeps its working buffers between scrapes. Only the server thread renders, so the
    /// lock is never contended; it is there because handlers must be `Sync`.
    renderer: Mutex<Renderer>,
    /// Checks basic-auth credentials when the web configuration has users.
    auth: Arc<Authenticator>,
    /// Whether `/health` answers without credentials.
    open_health: bool,
}

#[derive(Clone)]
struct Rendered {
    sequence: u64,
    body: Bytes,
    /// `body` gzipped, once a client has asked for it.
    gzipped: Option<Bytes>,
}

fn format_slot(format: Format) -> usize {
    match format {
        Format::PrometheusText => 0,
        Format::OpenMetrics => 1,
        Format::Protobuf => 2,
    }
}

type Reply = Response<Full<Bytes>>;

impl Endpoint {
    pub(super) fn new(
        reader: SnapshotReader,
        health: HealthSource,
        config: &ServerConfig,
    ) -> std::io::Result<Self> {
        let stale_after = config
            .stale_after()
            .unwrap_or_else(|| default_stale_after(reader.interval()));
        Ok(Self {
            reader,
            health,
            export: config.export_options().clone(),
            request_timeout: config.request_timeout(),
            max_body_bytes: config.max_body_bytes(),
            gzip: config.gzip(),
            stale_after,
            cache: Mutex::new([None, None, None]),
            renderer: Mutex::new(Renderer::new()),
            auth: Arc::new(Authenticator::new()?),
            open_health: config.open_health(),
        })
    }

    /// Answers one request under the web configuration `web` (if any) in force for its
    /// connection. Never fails: every problem is an HTTP status.
    pub(super) async fn handle(
        &self,
        req: Request<Incoming>,
        web: Option<&Active>,
    ) -> Result<Reply, Infallible> {
        let mut reply = match web {
            Some(web) if !self.authorized(&req, web).await => unauthorized(),
            _ => self.answer(req).await.unwrap_or_else(Refusal::reply),
        };
        if let Some(web) = web {
            let h = reply.headers_mut();
            for (name, value) in &web.config.headers {
                // Both were checked when the file was loaded.
                if let (Ok(n), Ok(v)) = (
                    header::HeaderName::from_bytes(name.as_bytes()),
                    HeaderValue::from_str(value),
                ) {
                    h.insert(n, v);
                }
            }
        }
        Ok(reply)
    }

    /// Whether `req` may be answered: the web configuration has no users, or the request
    /// carries the credentials of one, or it is for `/health` and that is left open.
    async fn authorized(&self, req: &Request<Incoming>, web: &Active) -> bool {
        if web.config.users.is_empty() || (self.open_health && req.uri().path() == "/health") {
            return true;
        }
        self.auth
            .check(&web.config.users, req.headers().get(header::AUTHORIZATION))
            .await
    }

    async fn answer(&self, req: Request<Incoming>) -> Result<Reply, Refusal> {
        enum Route {
            Metrics,
            Health,
        }
        let route = match req.uri().path() {
            "/metrics" => Route::Metrics,
            "/health" => Route::Health,
            _ => return Err(Refusal::NotFound),
        };
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return Err(Refusal::MethodNotAllowed);
        }
        let format = match route {
            Route::Metrics => requested_format(&req)?,
            Route::Health => Format::PrometheusText,
        };
        let gzip = self.gzip
            && gzip::accepts_gzip(
                req.headers()
                    .get_all(header::ACCEPT_ENCODING)
                    .iter()
                    .filter_map(|v| v.to_str().ok()),
            );
        self.discard_body(req.into_body()).await?;
        Ok(match route {
            Route::Metrics => self.metrics(format, gzip),
            Route::Health => self.health(),
        })
    }

    /// Reads (and drops) a request body of at most `max_body_bytes` within the request
    /// timeout, so that the connection can be reused; anything else closes it.
    async fn discard_body(&self, body: Incoming) -> Result<(), Refusal> {
        // A declared length says it all up front, without reading a byte.
        if body.size_hint().lower() > self.max_body_bytes as u64 {
            return Err(Refusal::BodyTooLarge);
        }
        if body.is_end_stream() {
            return Ok(());
        }
        let limited = Limited::new(body, self.max_body_bytes);
        match tokio::time::timeout(self.request_timeout, limited.collect()).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) if e.is::<LengthLimitError>() => Err(Refusal::BodyTooLarge),
            Ok(Err(_)) => Err(Refusal::MalformedBody),
            Err(_) => Err(Refusal::BodyTimeout),
        }
    }

    fn metrics(&self, format: Format, gzip: bool) -> Reply {
        let Some((body, gzipped)) = self.rendered(format, gzip) else {
            return text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the exporter failed to render the snapshot\n",
            );
        };
        let mut reply = Response::new(Full::new(body));
        let h = reply.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(format.content_type()),
        );
        h.insert(
            header::VARY,
            HeaderValue::from_static("Accept, Accept-Encoding"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if gzipped {
            h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        reply
    }

    /// The latest snapshot in `format` (gzipped if `gzip`, saying whether it is), from the
    /// cache when that snapshot was already rendered; `None` if the renderer panicked (a
    /// bug, reported as a 500, never a crash).
    fn rendered(&self, format: Format, gzip: bool) -> Option<(Bytes, bool)> {
        let snapshot = self.reader.latest();
        let sequence = snapshot.sequence();
        let slot = format_slot(format);
        let (cached, previous) = {
            let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
            match &cache[slot] {
                Some(r) if r.sequence == sequence => match (&r.gzipped, gzip) {
                    (_, false) => return Some((r.body.clone(), false)),
                    (Some(z), true) => return Some((z.clone(), true)),
                    (None, true) => (Some(r.body.clone()), r.body.len()),
                },
                Some(r) => (None, r.body.len()),
                None => (None, 0),
            }
        };
        // Rendering and compression happen outside the cache lock.
        let body = match cached {
            Some(body) => body,
            None => self.render(&snapshot, format, previous)?,
        };
        let gzipped = gzip
            .then(|| gzip::compress(&body))
            .flatten()
            .map(Bytes::from);
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        match &mut cache[slot] {
            Some(r) if r.sequence == sequence => {
                if r.gzipped.is_none() {
                    r.gzipped.clone_from(&gzipped);
                }
            }
            Some(r) if r.sequence > sequence => {}
            entry => {
                *entry = Some(Rendered {
                    sequence,
                    body: body.clone(),
                    gzipped: gzipped.clone(),
                });
            }
        }
        Some(match gzipped {
            Some(z) => (z, true),
            None => (body, false),
        })
    }

    /// Renders `snapshot`; `previous` (the last rendering's size) is a good first capacity.
    fn render(&self, snapshot: &Snapshot, format: Format, previous: usize) -> Option<Bytes> {
        let mut out = Vec::with_capacity(previous + previous / 8);
        let mut renderer = self.renderer.lock().unwrap_or_else(PoisonError::into_inner);
        let rendered = catch_unwind(AssertUnwindSafe(|| {
            renderer.render_into(snapshot, format, &self.export, &mut out)
        }));
        if rendered.is_err() {
            // Its buffers may be half-updated: the next scrape starts from scratch.
            *renderer = Renderer::new();
            return None;
        }
        Some(Bytes::from(out))
    }

    fn health(&self) -> Reply {
        let (report, code) = match catch_unwind(AssertUnwindSafe(|| (self.health)())) {
            Ok(mut report) => {
                self.check_freshness(&mut report);
                let code = StatusCode::from_u16(report.status.http_status())
                    .unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
                (report, code)
            }
            Err(_) => (
                HealthReport::new(
                    HealthStatus::Unhealthy,
                    "the health check itself failed (panicked)",
                ),
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
        };
        let mut reply = Response::new(Full::new(Bytes::from(report.to_json())));
        *reply.status_mut() = code;
        let h = reply.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        reply
    }

    /// Makes `report` unhealthy, with the reason, when the snapshots everything is read from
    /// have stopped coming: whatever the application concluded from them is stale too.
    fn check_freshness(&self, report: &mut HealthReport) {
        let age = self.reader.age();
        if age > self.stale_after {
            report.status = HealthStatus::Unhealthy;
            report.reasons.push(format!(
                "metrics are stale: the latest snapshot is {:.1}s old (published every {:?}, stale after {:?}); is the snapshotter running?",
                age.as_secs_f64(),
                self.reader.interval(),
                self.stale_after,
            ));
        }
    }
}

/// The default [`ServerConfigBuilder::stale_after`](super::ServerConfigBuilder::stale_after)
/// for a snapshotter publishing every `interval`: three missed publications, plus 2 s for
/// a snapshot that takes long or a scheduler that runs the thread late.
pub(super) fn default_stale_after(interval: Duration) -> Duration {
    interval
        .saturating_mul(3)
        .saturating_add(Duration::from_secs(2))
}

/// The format of a `/metrics` request: `?format=` when given (for scrape jobs that must pin
/// one, see `docs/operations.md`), else negotiated from `Accept`.
fn requested_format(req: &Request<Incoming>) -> Result<Format, Refusal> {
    if let Some(value) = req
        .uri()
        .query()
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|pair| pair.strip_prefix("format="))
    {
        return parse_format(value).ok_or(Refusal::UnknownFormat);
    }
    // Several Accept fields mean the same as one with their values joined by commas; a
    // value that is not visible ASCII is ignored, as if absent.
    let accept: Vec<&str> = req
        .headers()
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    Ok(match accept.as_slice() {
        [] => Format::negotiate(None),
        [one] => Format::negotiate(Some(one)),
        many => Format::negotiate(Some(&many.join(","))),
    })
}

/// Why a request is not answered with what it asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    NotFound,
    MethodNotAllowed,
    UnknownFormat,
    BodyTooLarge,
    MalformedBody,
    BodyTimeout,
}

impl Refusal {
    fn reply(self) -> Reply {
        match self {
            Refusal::NotFound => text(
                StatusCode::NOT_FOUND,
                "not found: the endpoints are /metrics and /health\n",
            ),
            Refusal::MethodNotAllowed => {
                let mut reply = text(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "method not allowed: use GET or HEAD\n",
                );
                reply
                    .headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static(ALLOWED));
                reply
            }
            Refusal::UnknownFormat => text(
                StatusCode::BAD_REQUEST,
                "unknown format: use format=text, format=openmetrics or format=protobuf\n",
            ),
            // The rest of the request is unread, so the connection cannot carry another.
            Refusal::BodyTooLarge => close(text(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body too large: the endpoints take no body\n",
            )),
            Refusal::MalformedBody => {
                close(text(StatusCode::BAD_REQUEST, "malformed request body\n"))
            }
            Refusal::BodyTimeout => close(text(
                StatusCode::REQUEST_TIMEOUT,
                "request body not received in time\n",
            )),
        }
    }
}

/// The values of `?format=`.
pub(super) fn parse_format(value: &str) -> Option<Format> {
    match value {
        "text" | "prometheus" => Some(Format::PrometheusText),
        "openmetrics" => Some(Format::OpenMetrics),
        "protobuf" => Some(Format::Protobuf),
        _ => None,
    }
}

/// `401 Unauthorized` with the challenge that makes clients send basic-auth credentials.
fn unauthorized() -> Reply {
    let mut reply = text(StatusCode::UNAUTHORIZED, "Unauthorized\n");
    reply
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
    reply
}

fn text(status: StatusCode, body: &'static str) -> Reply {
    let mut reply = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *reply.status_mut() = status;
    reply.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    reply
}

/// Asks hyper to close the connection after this response (whatever is left of the request
/// is unread, so the connection cannot carry another one).
fn close(mut reply: Reply) -> Reply {
    reply
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_are_stale_after_three_intervals_plus_two_seconds() {
        let secs = Duration::from_secs;
        assert_eq!(default_stale_after(secs(1)), secs(5));
        assert_eq!(default_stale_after(secs(60)), secs(182));
        assert_eq!(default_stale_after(Duration::MAX), Duration::MAX);

        // The endpoint takes the default from its reader's interval unless configured.
        let registry = aureon_telemetry::Registry::new();
        let snapshotter = aureon_telemetry::Snapshotter::spawn(
            &registry,
            aureon_telemetry::SnapshotterConfig {
                interval: Duration::from_millis(20),
                ..Default::default()
            },
        )
        .unwrap();
        let health: HealthSource = Arc::new(HealthReport::healthy);
        let endpoint = |config: ServerConfig| {
            Endpoint::new(snapshotter.reader(), Arc::clone(&health), &config)
                .unwrap()
                .stale_after
        };
        assert_eq!(
            endpoint(ServerConfig::default()),
            Duration::from_millis(2060)
        );
        let configured = ServerConfig::builder()
            .stale_after(secs(9))
            .build()
            .unwrap();
        assert_eq!(endpoint(configured), secs(9));
    }

    #[test]
    fn format_parameter_values() {
        assert_eq!(parse_format("text"), Some(Format::PrometheusText));
        assert_eq!(parse_format("prometheus"), Some(Format::PrometheusText));
        assert_eq!(parse_format("openmetrics"), Some(Format::OpenMetrics));
        assert_eq!(parse_format("protobuf"), Some(Format::Protobuf));
        assert_eq!(parse_format("json"), None);
        assert_eq!(parse_format(""), None);
    }
}
