//! Content negotiation as the server does it: `Format::negotiate` on an `Accept` header and
//! the server's `Accept-Encoding` gzip decision (`http::fuzzing::accepts_gzip`, the private
//! function itself), on arbitrary header text; and `?format=` values.
//!
//! Oracle: no panic; the answers follow the rules that do not depend on parsing details:
//! * a media range the server does not produce (`application/json`) appended to `Accept`
//!   changes nothing, nor does any range with `q=0`;
//! * several `Accept-Encoding` fields mean the same as their values joined by commas
//!   (RFC 9110 §5.3), and a coding that is neither `gzip` nor `*` changes nothing appended;
//! * `?format=` accepts exactly the documented names.
#![no_main]

use aureon_prometheus::Format;
use aureon_prometheus::http::fuzzing::{accepts_gzip, parse_format};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (a, b) = text.split_at(
        text.char_indices()
            .nth(text.chars().count() / 2)
            .map_or(text.len(), |(i, _)| i),
    );

    let chosen = Format::negotiate(Some(&text));
    assert_eq!(
        Format::negotiate(Some(&format!("{text},application/json"))),
        chosen
    );
    assert_eq!(
        Format::negotiate(Some(&format!("{text}, application/openmetrics-text;q=0"))),
        chosen
    );
    assert_eq!(Format::negotiate(Some(&format!("{text},*/*;q=0"))), chosen);

    let gzip = accepts_gzip(&[&text]);
    assert_eq!(accepts_gzip(&[a, b]), accepts_gzip(&[&format!("{a},{b}")]));
    assert_eq!(accepts_gzip(&[&text, "identity"]), gzip);
    assert_eq!(accepts_gzip(&[&format!("{text},br;q=1")]), gzip);

    let expected = match &*text {
        "text" | "prometheus" => Some(Format::PrometheusText),
        "openmetrics" => Some(Format::OpenMetrics),
        "protobuf" => Some(Format::Protobuf),
        _ => None,
    };
    assert_eq!(parse_format(&text), expected);
});
