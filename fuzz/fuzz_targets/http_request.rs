//! Raw bytes from a client, through the server's real connection code: hyper's HTTP/1.1
//! parser with the server's limits, then routing, `?format=`, `Accept` and
//! `Accept-Encoding` negotiation and the endpoints (`http::fuzzing::Harness`, which runs the
//! function the server runs for every accepted socket, over an in-memory pipe).
//!
//! Oracle: no panic (a panic in a handler would kill the server thread); no unbounded
//! allocation (`-rss_limit_mb`, `-malloc_limit_mb`); whatever the bytes, the server either
//! closes without answering (a request that never completes, ended by its header timeout) or
//! answers with a well-formed HTTP/1.1 response whose status is one the module docs list.
//! And a model of the documented answers: when the bytes start with a complete bodiless
//! `GET`/`HEAD` request (as httparse, hyper's own parser, reads it, within the header
//! limits), the first answer is 404 off `/metrics` and `/health`, 400 for an unknown
//! `?format=`, and otherwise 200, with the `Content-Type` of `Format::negotiate` on the
//! `Accept` fields (joined; values that are not visible ASCII ignored) and gzip exactly
//! when the `Accept-Encoding` fields accept it.
#![no_main]

use aureon_prometheus::Format;
use aureon_prometheus::http::fuzzing::{Harness, accepts_gzip, parse_format};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

/// The statuses the server's answer table (crates/aureon-prometheus/src/http.rs) lists.
const DOCUMENTED: &[u16] = &[200, 400, 404, 405, 408, 413, 431, 500, 503];

/// The server's defaults: 16 KiB of headers, hyper's 100 header fields.
const MAX_HEADER_BYTES: usize = 16 * 1024;
const MAX_HEADERS: usize = 100;

fn visible(value: &[u8]) -> Option<&str> {
    value
        .iter()
        .all(|&b| b == b'\t' || (0x20..0x7f).contains(&b))
        .then(|| std::str::from_utf8(value).ok())
        .flatten()
}

struct Expected {
    status: u16,
    content_type: Option<&'static str>,
    gzip: bool,
}

/// What the docs say the first answer is, when the bytes start with a request simple enough
/// to say it without reimplementing hyper (`None` otherwise).
fn expected(data: &[u8]) -> Option<Expected> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let httparse::Status::Complete(head_len) = req.parse(data).ok()? else {
        return None;
    };
    if head_len > MAX_HEADER_BYTES || req.version.is_none() {
        return None;
    }
    if !matches!(req.method, Some("GET" | "HEAD")) {
        return None;
    }
    let headers = &*req.headers;
    let named = |n: &'static str| {
        headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(n))
    };
    // A body, a connection upgrade or an expectation: hyper's business, not the model's.
    for h in [
        "content-length",
        "transfer-encoding",
        "expect",
        "upgrade",
        "connection",
    ] {
        if named(h).next().is_some() {
            return None;
        }
    }
    let uri: http::Uri = req.path?.parse().ok()?;
    let path = uri.path();
    let status = |status| {
        Some(Expected {
            status,
            content_type: None,
            gzip: false,
        })
    };
    if path == "/health" {
        return status(200);
    }
    if path != "/metrics" {
        return status(404);
    }
    let format_param = uri
        .query()
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|pair| pair.strip_prefix("format="));
    let format = match format_param {
        Some(v) => match parse_format(v) {
            Some(f) => f,
            None => return status(400),
        },
        None => {
            let accept: Vec<&str> = named("accept").filter_map(|h| visible(h.value)).collect();
            Format::negotiate((!accept.is_empty()).then(|| accept.join(",")).as_deref())
        }
    };
    let encodings: Vec<&str> = named("accept-encoding")
        .filter_map(|h| visible(h.value))
        .collect();
    Some(Expected {
        status: 200,
        content_type: Some(format.content_type()),
        gzip: accepts_gzip(&encodings),
    })
}

fuzz_target!(|data: &[u8]| {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    let answer = HARNESS.get_or_init(Harness::new).exchange(data);
    if answer.is_empty() {
        // Only a request that never completed may go unanswered.
        assert!(expected(data).is_none(), "a complete request got no answer");
        return;
    }
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut headers);
    let parsed = resp.parse(&answer);
    assert!(
        matches!(parsed, Ok(httparse::Status::Complete(_))),
        "malformed response {:?}",
        String::from_utf8_lossy(&answer[..answer.len().min(300)])
    );
    // HTTP/1.1, or 1.0 in answer to a 1.0 request (hyper answers in the client's version).
    assert!(matches!(resp.version, Some(0 | 1)));
    let status = resp.code.expect("a status");
    assert!(DOCUMENTED.contains(&status), "undocumented status {status}");
    let Some(want) = expected(data) else {
        return;
    };
    assert_eq!(
        status,
        want.status,
        "for {:?}",
        String::from_utf8_lossy(data)
    );
    let header = |n: &str| {
        resp.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(n))
            .map(|h| h.value)
    };
    if let Some(ct) = want.content_type {
        assert_eq!(header("content-type"), Some(ct.as_bytes()));
        assert_eq!(header("content-encoding") == Some(b"gzip"), want.gzip);
    }
});
