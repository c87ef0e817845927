//! The three exposition formats and content negotiation from an HTTP `Accept` header.

/// An exposition format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Format {
    /// Prometheus text format 0.0.4 (no exemplars, no units).
    #[default]
    PrometheusText,
    /// OpenMetrics 1.0 text (`# UNIT`, exemplars, `# EOF`).
    OpenMetrics,
    /// Prometheus protobuf: `io.prometheus.client.MetricFamily` messages, each preceded by its
    /// length as a varint, carrying native histograms.
    Protobuf,
}

impl Format {
    /// Chooses a format from an HTTP `Accept` header.
    ///
    /// Media ranges are ranked by their `q` weight (default 1, `q=0` excluded), ties by their
    /// order in the header. Protobuf is chosen only for
    /// `application/vnd.google.protobuf` with `proto=io.prometheus.client.MetricFamily` and
    /// `encoding=delimited` (what Prometheus sends with native histograms enabled);
    /// `application/openmetrics-text` gives OpenMetrics; `text/plain`, `text/*`, `*/*`, a
    /// missing or unparsable header, or nothing acceptable give the Prometheus text format,
    /// which every scraper understands.
    pub fn negotiate(accept: Option<&str>) -> Format {
        let Some(accept) = accept else {
            return Format::PrometheusText;
        };
        let mut best: Option<(f64, Format)> = None;
        for range in accept.split(',') {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or("");
            let mut q = 1.0;
            let (mut proto, mut delimited) = (false, false);
            for p in parts {
                let Some((k, v)) = p.split_once('=') else {
                    continue;
                };
                let (k, v) = (k.trim(), v.trim().trim_matches('"'));
                if k.eq_ignore_ascii_case("q") {
                    q = v
                        .parse::<f64>()
                        .ok()
                        .filter(|q| (0.0..=1.0).contains(q))
                        .unwrap_or(0.0);
                } else if k.eq_ignore_ascii_case("proto") {
                    proto = v == "io.prometheus.client.MetricFamily";
                } else if k.eq_ignore_ascii_case("encoding") {
                    delimited = v.eq_ignore_ascii_case("delimited");
                }
            }
            let format = if media.eq_ignore_ascii_case("application/vnd.google.protobuf") {
                if !(proto && delimited) {
                    continue;
                }
                Format::Protobuf
            } else if media.eq_ignore_ascii_case("application/openmetrics-text") {
                Format::OpenMetrics
            } else if media.eq_ignore_ascii_case("text/plain")
                || media.eq_ignore_ascii_case("text/*")
                || media == "*/*"
            {
                Format::PrometheusText
            } else {
                continue;
            };
            if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, format));
            }
        }
        best.map_or(Format::PrometheusText, |(_, f)| f)
    }

    /// The `Content-Type` of a response in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::PrometheusText => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::Protobuf => {
                "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Format::{self, *};

    #[test]
    fn prometheus_accept_headers_pick_the_richest_format() {
        // What Prometheus 2.42 sends, with and without --enable-feature=native-histograms.
        let native = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        let plain = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(Format::negotiate(Some(native)), Protobuf);
        assert_eq!(Format::negotiate(Some(plain)), OpenMetrics);
    }

    #[test]
    fn weights_order_and_fallbacks() {
        let n = |s| Format::negotiate(Some(s));
        assert_eq!(Format::negotiate(None), PrometheusText);
        assert_eq!(n(""), PrometheusText);
        assert_eq!(n("garbage;;;q=x"), PrometheusText);
        assert_eq!(n("application/json"), PrometheusText);
        assert_eq!(
            n("text/plain;q=0.9, application/openmetrics-text"),
            OpenMetrics
        );
        assert_eq!(
            n("text/plain, application/openmetrics-text"),
            PrometheusText
        );
        assert_eq!(
            n("application/openmetrics-text;q=0, text/plain;q=0.1"),
            PrometheusText
        );
        assert_eq!(n("application/openmetrics-text;q=0"), PrometheusText);
        // Protobuf without the delimited MetricFamily parameters is not ours to answer.
        assert_eq!(n("application/vnd.google.protobuf"), PrometheusText);
        assert_eq!(
            n(
                "APPLICATION/VND.GOOGLE.PROTOBUF; proto=io.prometheus.client.MetricFamily; encoding=delimited"
            ),
            Protobuf
        );
        assert_eq!(n("*/*"), PrometheusText);
    }
}
