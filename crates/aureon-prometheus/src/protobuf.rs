//! The protobuf exposition: `io.prometheus.client.MetricFamily` messages (Prometheus'
//! `metrics.proto`, proto2), each preceded by its length as a varint, encoded by hand.
//!
//! Only the fields below are written; their numbers are those of `metrics.proto`:
//!
//! | message | fields |
//! | --- | --- |
//! | MetricFamily | 1 name, 2 help, 3 type (COUNTER 0, GAUGE 1, SUMMARY 2, HISTOGRAM 4), 4 metric |
//! | Metric | 1 label, 2 gauge, 3 counter, 4 summary, 6 timestamp_ms, 7 histogram |
//! | LabelPair | 1 name, 2 value |
//! | Gauge / Counter | 1 value (double); Counter 2 exemplar |
//! | Summary | 1 sample_count, 2 sample_sum, 3 quantile (1 quantile, 2 value) |
//! | Histogram | 1 sample_count, 2 sample_sum, 3 bucket, 5 schema (sint32), 6 zero_threshold, 7 zero_count, 12 positive_span, 13 positive_delta (sint64, packed) |
//! | Bucket | 1 cumulative_count, 2 upper_bound, 3 exemplar |
//! | BucketSpan | 1 offset (sint32), 2 length |
//! | Exemplar | 1 label, 2 value |
//!
//! A nested message's length is only known once it is written, so it is written in place
//! and its length prefix inserted in front afterwards (moving just that message's bytes):
//! no second buffer, no size pre-computation.
//!
//! Histograms in histogram mode carry native buckets (see [`crate::native`]) and the classic
//! buckets (with exemplars); Prometheus 2.42 with native histograms enabled keeps only the
//! native part of such a histogram.

use crate::classic;
use crate::native::NativeBuckets;
use crate::options::ExportOptions;
use crate::plan::{Family, Kind, Name, Plan, Source};
use crate::text::help;
use aureon_telemetry::{Exemplar, HistogramSnapshot, Labels, MetricValue, Snapshot};

const VARINT: u32 = 0;
const FIXED64: u32 = 1;
const LEN: u32 = 2;

const COUNTER: u64 = 0;
const GAUGE: u64 = 1;
const SUMMARY: u64 = 2;
const HISTOGRAM: u64 = 4;

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn key(out: &mut Vec<u8>, field: u32, wire: u32) {
    varint(out, u64::from(field << 3 | wire));
}

fn uint(out: &mut Vec<u8>, field: u32, v: u64) {
    key(out, field, VARINT);
    varint(out, v);
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn double(out: &mut Vec<u8>, field: u32, v: f64) {
    key(out, field, FIXED64);
    out.extend_from_slice(&v.to_le_bytes());
}

fn bytes(out: &mut Vec<u8>, field: u32, b: &[u8]) {
    key(out, field, LEN);
    varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// Writes a length-delimited field whose content `body` writes.
fn message(out: &mut Vec<u8>, field: u32, body: impl FnOnce(&mut Vec<u8>)) {
    key(out, field, LEN);
    delimited(out, body);
}

/// Writes `body` preceded by its length as a varint.
fn delimited(out: &mut Vec<u8>, body: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    body(out);
    let len = out.len() - start;
    // A varint of a usize is at most 10 bytes; encode it on the stack.
    let mut tmp = [0u8; 10];
    let mut n = 0;
    let mut v = len as u64;
    while v >= 0x80 {
        tmp[n] = (v as u8) | 0x80;
        v >>= 7;
        n += 1;
    }
    tmp[n] = v as u8;
    n += 1;
    out.extend_from_slice(&tmp[..n]);
    out.copy_within(start..start + len, start + n);
    out[start..start + n].copy_from_slice(&tmp[..n]);
}

/// Writes the plan for `snapshot` as delimited MetricFamily messages.
pub(crate) fn render(
    snapshot: &Snapshot,
    options: &ExportOptions,
    plan: &Plan<'_>,
    native: &mut NativeBuckets,
    counts: &mut Vec<u64>,
    name_buf: &mut Vec<u8>,
    out: &mut Vec<u8>,
) {
    let timestamp_ms = crate::plan::timestamp_ms(snapshot, options)
        .map(|ms| i64::try_from(ms).unwrap_or(i64::MAX));
    let mut w = Writer {
        options,
        timestamp_ms,
        native,
        counts,
        name_buf,
    };
    for family in plan.families.iter().filter(|f| !f.clashes) {
        match family.source {
            Source::Registry(name) => w.registry_family(snapshot, plan, family, name, out),
            Source::RegistrationErrors => {
                w.family(out, family.name, "_total", COUNTER, "Metric registrations the registry refused (invalid names, label limits, kind or configuration clashes); such metrics record but are not exported.", |w, out| {
                    w.metric(out, &Labels::default(), |out| {
                        message(out, 3, |out| double(out, 1, snapshot.registration_errors() as f64));
                    });
                });
            }
            Source::ExportConflicts => {
                w.family(out, family.name, "", GAUGE, "Series left out of this exposition because their names or labels clash with another metric's.", |w, out| {
                    w.metric(out, &Labels::default(), |out| {
                        message(out, 2, |out| double(out, 1, plan.conflicts as f64));
                    });
                });
            }
        }
    }
}

struct Writer<'a> {
    options: &'a ExportOptions,
    timestamp_ms: Option<i64>,
    native: &'a mut NativeBuckets,
    counts: &'a mut Vec<u64>,
    name_buf: &'a mut Vec<u8>,
}

impl Writer<'_> {
    fn registry_family(
        &mut self,
        snapshot: &Snapshot,
        plan: &Plan<'_>,
        family: &Family<'_>,
        name: &str,
        out: &mut Vec<u8>,
    ) {
        let help = help(snapshot, name);
        let members = || {
            plan.entries[family.start..family.end]
                .iter()
                .map(|&(l, v)| (l, v))
        };
        match family.kind {
            Kind::Counter => self.family(out, family.name, "_total", COUNTER, help, |w, out| {
                for (labels, value) in members() {
                    if let MetricValue::Counter(c) = value {
                        w.metric(out, labels, |out| {
                            message(out, 3, |out| double(out, 1, *c as f64))
                        });
                    }
                }
            }),
            Kind::Gauge => self.family(out, family.name, "", GAUGE, help, |w, out| {
                for (labels, value) in members() {
                    if let MetricValue::Gauge(g) = value {
                        w.metric(out, labels, |out| message(out, 2, |out| double(out, 1, *g)));
                    }
                }
            }),
            Kind::Histogram { unit, mode } => {
                let div = family.divisor();
                if mode.has_histogram() {
                    let bounds = self.options.buckets(name, unit);
                    self.family(out, family.name, "", HISTOGRAM, help, |w, out| {
                        for (labels, value) in members() {
                            if let MetricValue::Histogram(h) = value {
                                w.histogram(out, labels, h, bounds, div);
                            }
                        }
                    });
                }
                if mode.has_summary() {
                    self.family(out, family.summary, "", SUMMARY, help, |w, out| {
                        for (labels, value) in members() {
                            if let MetricValue::Histogram(h) = value {
                                w.summary(out, labels, h, div);
                            }
                        }
                    });
                }
            }
        }
    }

    fn family(
        &mut self,
        out: &mut Vec<u8>,
        name: Name<'_>,
        suffix: &str,
        kind: u64,
        help: &str,
        metrics: impl FnOnce(&mut Self, &mut Vec<u8>),
    ) {
        self.name_buf.clear();
        name.push(self.name_buf, suffix);
        delimited(out, |out| {
            bytes(out, 1, self.name_buf);
            bytes(out, 2, help.as_bytes());
            uint(out, 3, kind);
            metrics(self, out);
        });
    }

    /// A Metric message: labels (constant ones merged in), `value` writes the typed part.
    fn metric(&self, out: &mut Vec<u8>, labels: &Labels, value: impl FnOnce(&mut Vec<u8>)) {
        message(out, 4, |out| {
            let mut own = labels.iter().peekable();
            for (k, v) in &self.options.const_labels {
                while let Some((ok, ov)) = own.next_if(|(ok, _)| *ok <= k.as_str()) {
                    label(out, 1, ok, ov);
                }
                // The series' own label wins over a constant one of the same name.
                if labels.get(k).is_none() {
                    label(out, 1, k, v);
                }
            }
            for (k, v) in own {
                label(out, 1, k, v);
            }
            value(out);
            if let Some(ms) = self.timestamp_ms {
                uint(out, 6, ms as u64);
            }
        });
    }

    fn summary(&mut self, out: &mut Vec<u8>, labels: &Labels, h: &HistogramSnapshot, div: f64) {
        let quantiles = &self.options.quantiles;
        self.metric(out, labels, |out| {
            message(out, 4, |out| {
                uint(out, 1, h.count());
                double(out, 2, h.sum() as f64 / div);
                for &q in quantiles {
                    let v = if h.is_empty() {
                        f64::NAN
                    } else {
                        h.value_at_quantile(q) as f64 / div
                    };
                    message(out, 3, |out| {
                        double(out, 1, q);
                        double(out, 2, v);
                    });
                }
            });
        });
    }

    fn histogram(
        &mut self,
        out: &mut Vec<u8>,
        labels: &Labels,
        h: &HistogramSnapshot,
        bounds: &[f64],
        div: f64,
    ) {
        self.native.fill(
            h,
            div,
            self.options.native_schema,
            self.options.native_max_buckets,
        );
        self.counts.clear();
        classic::cumulative(
            h,
            bounds.iter().map(|&b| classic::threshold(b, div)),
            self.counts,
        );
        let exemplars = if self.options.exemplars {
            h.exemplars()
        } else {
            &[]
        };
        let (native, counts, options) = (&*self.native, &*self.counts, self.options);
        self.metric(out, labels, |out| {
            message(out, 7, |out| {
                uint(out, 1, h.count());
                double(out, 2, h.sum() as f64 / div);
                let mut low = None;
                for (&bound, &count) in bounds.iter().zip(counts) {
                    let high = classic::threshold(bound, div);
                    let ex = classic::exemplar_for(exemplars, low, Some(high));
                    low = Some(high);
                    message(out, 3, |out| {
                        uint(out, 1, count);
                        double(out, 2, bound);
                        if let Some(e) = ex {
                            exemplar(out, 3, options, e, div);
                        }
                    });
                }
                key(out, 5, VARINT);
                varint(out, zigzag(i64::from(native.schema)));
                double(out, 6, native.zero_threshold);
                uint(out, 7, native.zero_count);
                native.spans_and_deltas(
                    |offset, length| {
                        message(out, 12, |out| {
                            key(out, 1, VARINT);
                            varint(out, zigzag(i64::from(offset)));
                            uint(out, 2, u64::from(length));
                        });
                    },
                    |_| {},
                );
                if !native.buckets.is_empty() {
                    message(out, 13, |out| {
                        native.spans_and_deltas(|_, _| {}, |d| varint(out, zigzag(d)))
                    });
                }
            });
        });
    }
}

fn label(out: &mut Vec<u8>, field: u32, name: &str, value: &str) {
    message(out, field, |out| {
        bytes(out, 1, name.as_bytes());
        bytes(out, 2, value.as_bytes());
    });
}

fn exemplar(out: &mut Vec<u8>, field: u32, options: &ExportOptions, e: Exemplar, div: f64) {
    message(out, field, |out| {
        message(out, 1, |out| {
            bytes(out, 1, options.exemplar_label.as_bytes());
            bytes(out, 2, itoa::Buffer::new().format(e.id).as_bytes());
        });
        double(out, 2, e.value as f64 / div);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_length_prefixes() {
        let mut out = Vec::new();
        varint(&mut out, 300);
        assert_eq!(out, [0xac, 0x02]);
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
        assert_eq!(zigzag(-3), 5);
        out.clear();
        out.push(0xff);
        message(&mut out, 1, |out| out.extend(std::iter::repeat_n(7u8, 200)));
        assert_eq!(&out[..4], &[0xff, 0x0a, 0xc8, 0x01]);
        assert_eq!(out.len(), 4 + 200);
        assert!(out[4..].iter().all(|&b| b == 7));
    }
}
