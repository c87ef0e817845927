//! Optional gzip of `/metrics` responses: whether a request accepts it, and the compression.
//!
//! Prometheus asks for gzip on every scrape (`Accept-Encoding: gzip`); text expositions
//! shrink about tenfold, which matters for fleets scraped over a network. The compressed
//! bytes are cached with the rendering they come from, so a snapshot is compressed at most
//! once per format. The fast level is used: scrapes are frequent and the text is very
//! repetitive, so higher levels cost CPU for little gain.

use flate2::Compression;
use flate2::write::GzEncoder;
use std::io::Write;

/// Whether `Accept-Encoding` values accept gzip (RFC 9110 §12.5.3): `gzip` or `x-gzip` with
/// a non-zero weight, or else `*` with a non-zero weight. No header means identity only,
/// which is what every client understands.
pub(super) fn accepts_gzip<'a>(values: impl IntoIterator<Item = &'a str>) -> bool {
    let mut any = None;
    for item in values.into_iter().flat_map(|v| v.split(',')) {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim();
        let weight = parts
            .find_map(|p| {
                let (k, v) = p.split_once('=')?;
                k.trim()
                    .eq_ignore_ascii_case("q")
                    .then(|| v.trim().parse::<f64>().unwrap_or(0.0))
            })
            .unwrap_or(1.0);
        if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
            return weight > 0.0;
        }
        if coding == "*" {
            any = Some(weight > 0.0);
        }
    }
    any.unwrap_or(false)
}

/// `data` gzipped; `None` only if the encoder fails (it writes to memory, so it does not).
pub(super) fn compress(data: &[u8]) -> Option<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(data.len() / 4 + 64), Compression::fast());
    encoder.write_all(data).ok()?;
    encoder.finish().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn accept_encoding_weights() {
        let yes = |v: &str| accepts_gzip([v]);
        assert!(yes("gzip"));
        assert!(yes("deflate, GZIP;q=0.5"));
        assert!(yes("x-gzip"));
        assert!(yes("*"));
        assert!(yes("identity;q=1, *;q=0.1"));
        assert!(!yes("gzip;q=0"));
        assert!(!yes("gzip;q=0, *"));
        assert!(!yes("identity"));
        assert!(!yes("br, deflate"));
        assert!(!yes("*;q=0"));
        assert!(!yes("gzip;q=nonsense"));
        assert!(!yes(""));
        assert!(!accepts_gzip(None::<&str>));
        assert!(accepts_gzip(["identity", "gzip"]));
    }

    #[test]
    fn compressed_bytes_decompress_to_the_input() {
        let data = b"metric_total{op=\"x\"} 1\n".repeat(1000);
        let z = compress(&data).unwrap();
        assert!(
            z.len() < data.len() / 10,
            "{} bytes from {}",
            z.len(),
            data.len()
        );
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&z[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);
    }
}
