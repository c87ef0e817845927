//! The accept loop and the life of one connection: the pending budget, the connection
//! limit, the answer to connections beyond it, the per-connection timeouts, and shutdown.
//!
//! Everything runs as tasks of one current-thread runtime on the server's thread. A
//! connection's life has two stages:
//! 1. **Pending** (see [`super::pending`]): the TLS handshake, if any, and the request head,
//!    read within the header timeout without holding a serve slot. Pending connections are
//!    bounded by `max_pending_connections`; when that budget is full the oldest pending one
//!    is closed to admit the new one. So clients that trickle their headers (slowloris) or
//!    never send any cost a socket and a small task each, never a slot, and cannot keep a
//!    well-behaved client from being read.
//! 2. **Served**: with its head complete, the connection takes one of `max_connections`
//!    slots (a semaphore permit, returned when its task ends) and hyper serves it from the
//!    bytes already read on ([`super::head::Prefixed`]). A connection whose head is complete
//!    when every slot is taken gets a fixed `503` and is closed within [`REJECT_TIME`].
//!
//! Every served connection ends after its lifetime at the latest (graceful first: the
//! request in progress may finish within the grace), which bounds clients that stall while
//! reading a response; hyper's header-read timeout bounds keep-alive clients that stall while
//! sending their next request, and the endpoint closes connections whose requests carry a
//! body it will not read.

use super::head::{Head, Prefixed, read_head};
use super::pending::{Pending, PendingGuard};
use super::reload::WebState;
use super::routes::Endpoint;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::{Future, poll_fn};
use std::io;
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

/// Hyper refuses read buffers smaller than this (it asserts).
const HYPER_MIN_BUF: usize = 8192;

/// The longest a rejected connection is kept to deliver its `503`.
pub(super) const REJECT_TIME: Duration = Duration::from_secs(1);

/// What a rejected connection reads before closing (see [`answer_and_close`]).
const REJECT_DRAIN_BYTES: usize = 64 * 1024;

/// The answer to a connection beyond the limit (fixed, so it costs no allocation).
pub(super) const BUSY_RESPONSE: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: text/plain; charset=utf-8\r\n\
retry-after: 1\r\n\
connection: close\r\n\
content-length: 40\r\n\
\r\n\
too many connections: try again shortly\n";

/// The answer to a plain-HTTP request on a TLS port (what Go's server says, so that
/// someone trying `curl http://` learns what is wrong).
pub(super) const PLAIN_HTTP_ON_TLS_RESPONSE: &[u8] = b"HTTP/1.0 400 Bad Request\r\n\
content-type: text/plain; charset=utf-8\r\n\
connection: close\r\n\
content-length: 48\r\n\
\r\n\
Client sent an HTTP request to an HTTPS server.\n";

/// The first byte of every TLS connection (a handshake record).
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// The limits a connection is served with (see [`super::ServerConfig`]).
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    pub(super) max_connections: usize,
    pub(super) header_read_timeout: Duration,
    pub(super) connection_lifetime: Duration,
    pub(super) shutdown_grace: Duration,
    pub(super) max_header_bytes: usize,
    pub(super) max_pending: usize,
}

/// Accepts and serves connections until `stop` turns true (or its sender is gone), then
/// waits up to the grace for the connections to finish.
pub(super) async fn run(
    listener: TcpListener,
    endpoint: Arc<Endpoint>,
    web: Option<Arc<WebState>>,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let pending = Pending::new(limits.max_pending);
    loop {
        let accepted = match race(listener.accept(), stopped(&mut stop)).await {
            Either::Left(accepted) => accepted,
            Either::Right(()) => break,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            Err(e) if is_per_connection(&e) => continue,
            Err(_) => {
                // Out of file descriptors or memory: retrying at once would spin. The
                // connection stays in the backlog and is accepted on a later try.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Responses are written in one piece; Nagle would only delay their last segment.
        let _ = stream.set_nodelay(true);
        let id = pending.next_id();
        let guard = PendingGuard::new(Arc::clone(&pending), id);
        let task = tokio::spawn(serve(
            stream,
            Arc::clone(&endpoint),
            web.clone(),
            limits,
            stop.clone(),
            Arc::clone(&slots),
            guard,
        ));
        // Registered before the task first runs (this runtime has one thread, and nothing
        // awaits in between), so its guard always finds itself.
        pending.admit(id, task.abort_handle());
    }
    drop(listener);
    // Every connection saw `stop` and is finishing within the grace; its permit comes back
    // when it has. `max_connections` fits u32 (checked by the config). Whatever is still
    // running after the grace is dropped with the runtime.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(limits.shutdown_grace, slots.acquire_many(all)).await;
}

/// Accept errors that concern one connection (it was reset before we got to it) rather than
/// the listener.
fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    )
}

/// Serves one connection (keep-alive, any number of requests) until the client closes it,
/// a timeout closes it, its lifetime ends or the server stops; over TLS when the web
/// configuration in force says so. Pending (see the module docs) until its first request
/// head is complete, then served if a slot is free.
async fn serve(
    stream: TcpStream,
    endpoint: Arc<Endpoint>,
    web: Option<Arc<WebState>>,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
    slots: Arc<Semaphore>,
    pending: PendingGuard,
) {
    let active = web.as_ref().map(|w| w.current());
    let acceptor = active.as_ref().and_then(|a| a.tls.clone());
    // The handshake and the head share the header timeout: a client that opens a TLS
    // connection and says nothing is as slow as one that sends no headers.
    let deadline = tokio::time::Instant::now() + limits.header_read_timeout;
    let Some(acceptor) = acceptor else {
        if let Some((stream, head)) = pending_head(stream, limits, deadline, &mut stop).await {
            admit(
                stream, head, endpoint, active, limits, &mut stop, &slots, pending,
            )
            .await;
        }
        return;
    };
    let handshake = async {
        let mut first = [0u8; 1];
        if stream.peek(&mut first).await.ok()? == 0 {
            return None;
        }
        if first[0] != TLS_HANDSHAKE_RECORD {
            // Plain HTTP (or anything else) on the TLS port: say so and close.
            let mut stream = stream;
            answer_and_close(&mut stream, PLAIN_HTTP_ON_TLS_RESPONSE).await;
            return None;
        }
        // A failed handshake (wrong client certificate, no common version or suite,
        // garbage) ends the connection; rustls has sent the client its alert.
        acceptor.accept(stream).await.ok()
    };
    let tls = match race(
        tokio::time::timeout_at(deadline, handshake),
        stopped(&mut stop),
    )
    .await
    {
        Either::Left(Ok(Some(tls))) => tls,
        _ => return,
    };
    if let Some((tls, head)) = pending_head(tls, limits, deadline, &mut stop).await {
        admit(
            tls, head, endpoint, active, limits, &mut stop, &slots, pending,
        )
        .await;
    }
}

/// Reads the connection's first request head by `deadline` (stage 1); `None` if the client
/// closed, failed, was too slow, or the server stops.
async fn pending_head<Io: AsyncRead + Unpin>(
    mut io: Io,
    limits: Limits,
    deadline: tokio::time::Instant,
    stop: &mut watch::Receiver<bool>,
) -> Option<(Io, Vec<u8>)> {
    let read = tokio::time::timeout_at(deadline, read_head(&mut io, limits.max_header_bytes));
    match race(read, stopped(stop)).await {
        Either::Left(Ok(Ok(Head::Ready(head)))) => Some((io, head)),
        _ => None,
    }
}

/// Stage 2: leaves the pending budget, then serves the connection from its first request
/// head on if a slot is free, or answers `503` and closes it.
#[allow(clippy::too_many_arguments)] // one call site each; a struct would only rename them
async fn admit<Io>(
    mut io: Io,
    head: Vec<u8>,
    endpoint: Arc<Endpoint>,
    active: Option<Arc<super::reload::Active>>,
    limits: Limits,
    stop: &mut watch::Receiver<bool>,
    slots: &Arc<Semaphore>,
    pending: PendingGuard,
) where
    Io: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    drop(pending);
    match Arc::clone(slots).try_acquire_owned() {
        Ok(_slot) => {
            serve_http(Prefixed::new(head, io), endpoint, active, limits, stop).await;
        }
        Err(_) => answer_and_close(&mut io, BUSY_RESPONSE).await,
    }
}

/// Serves HTTP/1.1 on an established connection (plain or TLS).
///
/// Generic over the byte stream so that the fuzz entry point ([`super::fuzzing`]) drives this
/// very function over an in-memory pipe.
pub(super) async fn serve_http<Io>(
    io: Io,
    endpoint: Arc<Endpoint>,
    active: Option<Arc<super::reload::Active>>,
    limits: Limits,
    stop: &mut watch::Receiver<bool>,
) where
    Io: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| {
        let endpoint = Arc::clone(&endpoint);
        let active = active.clone();
        async move { endpoint.handle(req, active.as_deref()).await }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_header_size(limits.max_header_bytes)
        // The read buffer holds headers (and pipelined requests); twice the header limit
        // lets a full header block be parsed while bounding memory per connection.
        .max_buf_size(limits.max_header_bytes.saturating_mul(2).max(HYPER_MIN_BUF))
        .keep_alive(true);
    let mut conn = pin!(builder.serve_connection(TokioIo::new(io), service));
    let end_of_life = race(
        tokio::time::sleep(limits.connection_lifetime),
        stopped(stop),
    );
    // Errors (client vanished, header timeout, parse error after hyper's 400) end the
    // connection; there is nobody to report them to.
    if let Either::Right(_) = race(conn.as_mut(), end_of_life).await {
        conn.as_mut().graceful_shutdown();
        let _ = tokio::time::timeout(limits.shutdown_grace, conn).await;
    }
}

/// Writes a fixed `response` and closes the connection, within [`REJECT_TIME`].
async fn answer_and_close<Io: AsyncRead + AsyncWrite + Unpin>(stream: &mut Io, response: &[u8]) {
    let _ = tokio::time::timeout(REJECT_TIME, async {
        stream.write_all(response).await?;
        stream.shutdown().await?;
        // Closing a socket with unread input makes the kernel send a reset, which can make
        // the client drop our response unread. Reading (a bounded amount) until the client
        // closes its side, or until the time is up, lets the answer arrive.
        let mut buf = [0u8; 4096];
        let mut drained = 0;
        while drained < REJECT_DRAIN_BYTES {
            match stream.read(&mut buf).await? {
                0 => break,
                n => drained += n,
            }
        }
        Ok::<_, io::Error>(())
    })
    .await;
}

/// Completes when `stop` is true or its sender is gone.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|&s| s).await;
}

/// The output of [`race`].
enum Either<L, R> {
    Left(L),
    Right(R),
}

/// Polls both futures until one completes (the left one first, when both could), and drops
/// the other. A two-branch `select!` without tokio's macros feature.
async fn race<A: Future, B: Future>(a: A, b: B) -> Either<A::Output, B::Output> {
    let mut a = pin!(a);
    let mut b = pin!(b);
    poll_fn(move |cx| {
        if let Poll::Ready(v) = a.as_mut().poll(cx) {
            return Poll::Ready(Either::Left(v));
        }
        if let Poll::Ready(v) = b.as_mut().poll(cx) {
            return Poll::Ready(Either::Right(v));
        }
        Poll::Pending
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_response_declares_its_exact_length() {
        let text = std::str::from_utf8(BUSY_RESPONSE).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let declared: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(declared, body.len());
        assert!(head.starts_with("HTTP/1.1 503 "));
        let text = std::str::from_utf8(PLAIN_HTTP_ON_TLS_RESPONSE).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let declared: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(declared, body.len());
    }
}
