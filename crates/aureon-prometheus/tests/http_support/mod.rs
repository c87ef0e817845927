//! A deliberately small HTTP/1.1 client over raw TCP, shared by the endpoint and
//! real-Prometheus tests.
//!
//! Raw sockets, not an HTTP client library, because the tests must be able to send what no
//! well-behaved client would (broken request lines, endless headers, half a request) and
//! see exactly what comes back. Every socket operation has a timeout, and every address is
//! on loopback.

#![allow(dead_code)] // each test file uses a different part of it

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// How long any single read or write may block.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// A parsed response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// Header names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Connects to a loopback address with all timeouts set.
pub fn connect(addr: SocketAddr) -> TcpStream {
    assert!(
        addr.ip().is_loopback(),
        "tests talk to loopback only, not {addr}"
    );
    let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
        .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    stream
}

/// Sends `raw` on a new connection and reads one response (`head` when the request was a
/// HEAD, whose response has no body whatever its content-length says).
pub fn exchange(addr: SocketAddr, raw: &[u8], head: bool) -> io::Result<Response> {
    let mut stream = connect(addr);
    stream.write_all(raw)?;
    read_response(&mut stream, head)
}

/// `GET path` with extra header lines (each without CRLF), `Connection: close`.
pub fn get(addr: SocketAddr, path: &str, headers: &[&str]) -> Response {
    request(addr, "GET", path, headers)
}

/// `method path` with extra header lines, `Connection: close`; panics on I/O errors.
pub fn request(addr: SocketAddr, method: &str, path: &str, headers: &[&str]) -> Response {
    let mut raw = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for h in headers {
        raw.push_str(h);
        raw.push_str("\r\n");
    }
    raw.push_str("\r\n");
    exchange(addr, raw.as_bytes(), method == "HEAD")
        .unwrap_or_else(|e| panic!("{method} {path} on {addr}: {e}"))
}

/// Reads one response: status line, headers, then a body by content-length, chunked
/// encoding, or until the server closes.
pub fn read_response(stream: &mut impl Read, head: bool) -> io::Result<Response> {
    let mut buf = Vec::new();
    let header_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i;
        }
        if buf.len() > 1 << 20 {
            return Err(io::Error::other("response headers over 1 MiB"));
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("closed after {} bytes", buf.len()),
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head_text = std::str::from_utf8(&buf[..header_end])
        .map_err(io::Error::other)?
        .to_owned();
    let mut rest = buf[header_end + 4..].to_vec();
    let mut lines = head_text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::other(format!("bad status line {status_line:?}")))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut response = Response {
        status,
        headers,
        body: Vec::new(),
    };
    if head || status == 204 || status == 304 || (100..200).contains(&status) {
        return Ok(response);
    }
    if let Some(len) = response.header("content-length") {
        let len: usize = len.parse().map_err(io::Error::other)?;
        while rest.len() < len {
            let mut chunk = vec![0u8; (len - rest.len()).min(1 << 16)];
            let n = stream.read(&mut chunk)?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "body cut short",
                ));
            }
            rest.extend_from_slice(&chunk[..n]);
        }
        rest.truncate(len);
        response.body = rest;
    } else if response
        .header("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        response.body = read_chunked(stream, rest)?;
    } else {
        stream.read_to_end(&mut rest)?;
        response.body = rest;
    }
    Ok(response)
}

fn read_chunked(stream: &mut impl Read, mut buf: Vec<u8>) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = loop {
            if let Some(i) = find(&buf, b"\r\n") {
                break i;
            }
            fill(stream, &mut buf)?;
        };
        let size_text = std::str::from_utf8(&buf[..line_end]).map_err(io::Error::other)?;
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(io::Error::other)?;
        buf.drain(..line_end + 2);
        while buf.len() < size + 2 {
            fill(stream, &mut buf)?;
        }
        if size == 0 {
            return Ok(body);
        }
        body.extend_from_slice(&buf[..size]);
        buf.drain(..size + 2);
    }
}

fn fill(stream: &mut impl Read, buf: &mut Vec<u8>) -> io::Result<()> {
    let mut chunk = [0u8; 4096];
    let n = stream.read(&mut chunk)?;
    if n == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "chunked body cut short",
        ));
    }
    buf.extend_from_slice(&chunk[..n]);
    Ok(())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Waits until the server closes `stream` (read returns 0 or an error other than a timeout)
/// and returns how long that took, or `None` if it stayed open for `limit`.
pub fn time_until_closed(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    stream
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut buf = [0u8; 1024];
    while start.elapsed() < limit {
        match stream.read(&mut buf) {
            Ok(0) => return Some(start.elapsed()),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return Some(start.elapsed()),
        }
    }
    None
}

/// Percent-encodes a query-string value (everything but RFC 3986 unreserved characters).
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Polls `probe` every `every` until it returns `Some`, for at most `limit`.
pub fn poll<T>(
    limit: Duration,
    every: Duration,
    mut probe: impl FnMut() -> Option<T>,
) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = probe() {
            return Some(v);
        }
        if start.elapsed() >= limit {
            return None;
        }
        std::thread::sleep(every);
    }
}
