//! The two text formats: Prometheus 0.0.4 and OpenMetrics 1.0, written in one pass over the
//! plan into the caller's buffer.
//!
//! They differ in a few places only, each marked by `om`: a counter's family is named
//! without `_total` in OpenMetrics (its sample keeps it), OpenMetrics has `# UNIT`, escapes
//! quotes in help text, carries exemplars on bucket lines, writes timestamps in seconds
//! rather than milliseconds and ends with `# EOF`.

use crate::classic;
use crate::escape::{push_help, push_label_value};
use crate::numfmt::{push_label_float, push_u64, push_value};
use crate::options::ExportOptions;
use crate::plan::{Family, Kind, Name, Plan, Source};
use aureon_telemetry::{Exemplar, HistogramSnapshot, Labels, MetricValue, Snapshot};

/// The state of one text rendering.
pub(crate) struct TextWriter<'a> {
    pub(crate) out: &'a mut Vec<u8>,
    pub(crate) options: &'a ExportOptions,
    pub(crate) om: bool,
    /// Milliseconds since the epoch of the snapshot, when timestamps are on.
    timestamp_ms: Option<u64>,
    /// Cumulative bucket counts of the histogram being written (reused).
    counts: &'a mut Vec<u64>,
}

/// Writes `plan` for `snapshot` as text.
pub(crate) fn render(
    snapshot: &Snapshot,
    options: &ExportOptions,
    plan: &Plan<'_>,
    om: bool,
    counts: &mut Vec<u64>,
    out: &mut Vec<u8>,
) {
    let timestamp_ms = crate::plan::timestamp_ms(snapshot, options);
    let mut w = TextWriter {
        out,
        options,
        om,
        timestamp_ms,
        counts,
    };
    for family in plan.families.iter().filter(|f| !f.clashes) {
        match family.source {
            Source::Registry(name) => w.registry_family(snapshot, plan, family, name),
            Source::RegistrationErrors => {
                w.header(family, "Metric registrations the registry refused (invalid names, label limits, kind or configuration clashes); such metrics record but are not exported.");
                w.counter_sample(
                    family.name,
                    &Labels::default(),
                    snapshot.registration_errors(),
                );
            }
            Source::ExportConflicts => {
                w.header(family, "Series left out of this exposition because their names or labels clash with another metric's.");
                w.sample(family.name, "", &Labels::default(), None);
                push_value(w.out, plan.conflicts as f64);
                w.end_sample(None);
            }
        }
    }
    if om {
        w.out.extend_from_slice(b"# EOF\n");
    }
}

/// The help text of registry metric `name`.
pub(crate) fn help<'s>(snapshot: &'s Snapshot, name: &str) -> &'s str {
    snapshot
        .description(name)
        .unwrap_or("(no description registered)")
}

impl TextWriter<'_> {
    fn registry_family(
        &mut self,
        snapshot: &Snapshot,
        plan: &Plan<'_>,
        family: &Family<'_>,
        name: &str,
    ) {
        let help = help(snapshot, name);
        let members = || {
            plan.entries[family.start..family.end]
                .iter()
                .zip(&plan.created_ms[family.start..family.end])
                .map(|(&(l, v), &created)| (l, v, created))
        };
        match family.kind {
            Kind::Counter => {
                self.header(family, help);
                for (labels, value, created) in members() {
                    if let MetricValue::Counter(c) = value {
                        self.counter_sample(family.name, labels, *c);
                        self.created(family.name, labels, created);
                    }
                }
            }
            Kind::Gauge => {
                self.header(family, help);
                for (labels, value, _) in members() {
                    if let MetricValue::Gauge(g) = value {
                        self.sample(family.name, "", labels, None);
                        push_value(self.out, *g);
                        self.end_sample(None);
                    }
                }
            }
            Kind::Histogram { unit, mode } => {
                let div = family.divisor();
                if mode.has_histogram() {
                    self.family_header(family.name, "histogram", help, unit.base_name());
                    let bounds = self.options.buckets(name, unit);
                    for (labels, value, created) in members() {
                        if let MetricValue::Histogram(h) = value {
                            self.histogram(family.name, labels, h, bounds, div);
                            self.created(family.name, labels, created);
                        }
                    }
                }
                if mode.has_summary() {
                    self.family_header(family.summary, "summary", help, unit.base_name());
                    for (labels, value, created) in members() {
                        if let MetricValue::Histogram(h) = value {
                            self.summary(family.summary, labels, h, div);
                            self.created(family.summary, labels, created);
                        }
                    }
                }
            }
        }
    }

    /// `# HELP`, `# TYPE` (and `# UNIT`) of a counter or gauge family.
    fn header(&mut self, family: &Family<'_>, help: &str) {
        let (kind, suffix) = match family.kind {
            Kind::Counter => ("counter", "_total"),
            _ => ("gauge", ""),
        };
        // The 0.0.4 format names a counter's family after its sample (`x_total`).
        let suffix = if self.om { "" } else { suffix };
        let unit = unit_of_name(family.name);
        self.family_header_suffixed(family.name, suffix, kind, help, unit);
    }

    fn family_header(&mut self, name: Name<'_>, kind: &str, help: &str, unit: Option<&str>) {
        self.family_header_suffixed(name, "", kind, help, unit);
    }

    fn family_header_suffixed(
        &mut self,
        name: Name<'_>,
        suffix: &str,
        kind: &str,
        help: &str,
        unit: Option<&str>,
    ) {
        self.out.extend_from_slice(b"# HELP ");
        name.push(self.out, suffix);
        self.out.push(b' ');
        push_help(self.out, help, self.om);
        self.out.extend_from_slice(b"\n# TYPE ");
        name.push(self.out, suffix);
        self.out.push(b' ');
        self.out.extend_from_slice(kind.as_bytes());
        self.out.push(b'\n');
        if let (true, Some(u)) = (self.om, unit) {
            self.out.extend_from_slice(b"# UNIT ");
            name.push(self.out, suffix);
            self.out.push(b' ');
            self.out.extend_from_slice(u.as_bytes());
            self.out.push(b'\n');
        }
    }

    /// OpenMetrics' `_created` sample (seconds since the epoch, millisecond precision): when
    /// the series was created, so that a series freed by idle expiry and created again from
    /// zero reads as a reset.
    fn created(&mut self, name: Name<'_>, labels: &Labels, created_ms: u64) {
        if !(self.om && self.options.created) {
            return;
        }
        self.sample(name, "_created", labels, None);
        push_timestamp(self.out, created_ms, true);
        self.end_sample(None);
    }

    fn counter_sample(&mut self, name: Name<'_>, labels: &Labels, value: u64) {
        self.sample(name, "_total", labels, None);
        push_u64(self.out, value);
        self.end_sample(None);
    }

    fn histogram(
        &mut self,
        name: Name<'_>,
        labels: &Labels,
        h: &HistogramSnapshot,
        bounds: &[f64],
        div: f64,
    ) {
        self.counts.clear();
        classic::cumulative(
            h,
            bounds.iter().map(|&b| classic::threshold(b, div)),
            self.counts,
        );
        let exemplars = if self.om && self.options.exemplars {
            h.exemplars()
        } else {
            &[]
        };
        let mut low = None;
        for (i, &bound) in bounds.iter().enumerate() {
            let high = classic::threshold(bound, div);
            self.sample(name, "_bucket", labels, Some(bound));
            push_u64(self.out, self.counts[i]);
            self.end_sample(classic::exemplar_for(exemplars, low, Some(high)).map(|e| (e, div)));
            low = Some(high);
        }
        self.sample(name, "_bucket", labels, Some(f64::INFINITY));
        push_u64(self.out, h.count());
        self.end_sample(classic::exemplar_for(exemplars, low, None).map(|e| (e, div)));
        self.sum_count(name, labels, h, div);
    }

    fn summary(&mut self, name: Name<'_>, labels: &Labels, h: &HistogramSnapshot, div: f64) {
        for &q in &self.options.quantiles {
            self.sample(name, "", labels, Some(q));
            // An empty summary has no quantiles: NaN, as client libraries write it.
            let v = if h.is_empty() {
                f64::NAN
            } else {
                h.value_at_quantile(q) as f64 / div
            };
            push_value(self.out, v);
            self.end_sample(None);
        }
        self.sum_count(name, labels, h, div);
    }

    fn sum_count(&mut self, name: Name<'_>, labels: &Labels, h: &HistogramSnapshot, div: f64) {
        self.sample(name, "_sum", labels, None);
        push_value(self.out, h.sum() as f64 / div);
        self.end_sample(None);
        self.sample(name, "_count", labels, None);
        push_u64(self.out, h.count());
        self.end_sample(None);
    }

    /// Writes `name+suffix{labels}` and the space before the value. `extra` is the value of
    /// the family's reserved label (`le` for `_bucket`, otherwise `quantile`).
    fn sample(&mut self, name: Name<'_>, suffix: &str, labels: &Labels, extra: Option<f64>) {
        name.push(self.out, suffix);
        let consts = &self.options.const_labels;
        if !labels.is_empty() || !consts.is_empty() || extra.is_some() {
            self.out.push(b'{');
            let mut first = true;
            let mut own = labels.iter().peekable();
            for (k, v) in consts {
                while let Some((ok, ov)) = own.next_if(|(ok, _)| *ok <= k.as_str()) {
                    first = self.label(first, ok, ov);
                }
                // The series' own label wins over a constant one of the same name.
                if labels.get(k).is_none() {
                    first = self.label(first, k, v);
                }
            }
            for (k, v) in own {
                first = self.label(first, k, v);
            }
            if let Some(x) = extra {
                if !first {
                    self.out.push(b',');
                }
                self.out.extend_from_slice(if suffix == "_bucket" {
                    b"le=\""
                } else {
                    b"quantile=\""
                });
                push_label_float(self.out, x);
                self.out.push(b'"');
            }
            self.out.push(b'}');
        }
        self.out.push(b' ');
    }

    fn label(&mut self, first: bool, k: &str, v: &str) -> bool {
        if !first {
            self.out.push(b',');
        }
        self.out.extend_from_slice(k.as_bytes());
        self.out.extend_from_slice(b"=\"");
        push_label_value(self.out, v);
        self.out.push(b'"');
        false
    }

    /// Ends a sample line: timestamp, exemplar (OpenMetrics), newline.
    fn end_sample(&mut self, exemplar: Option<(Exemplar, f64)>) {
        if let Some(ms) = self.timestamp_ms {
            self.out.push(b' ');
            push_timestamp(self.out, ms, self.om);
        }
        if let Some((e, div)) = exemplar {
            self.out.extend_from_slice(b" # {");
            self.out
                .extend_from_slice(self.options.exemplar_label.as_bytes());
            self.out.extend_from_slice(b"=\"");
            push_u64(self.out, e.id);
            self.out.extend_from_slice(b"\"} ");
            push_value(self.out, e.value as f64 / div);
        }
        self.out.push(b'\n');
    }
}

/// Milliseconds in the 0.0.4 format, seconds with three decimals in OpenMetrics.
fn push_timestamp(out: &mut Vec<u8>, ms: u64, om: bool) {
    if om {
        push_u64(out, ms / 1000);
        out.push(b'.');
        let frac = ms % 1000;
        out.extend_from_slice(&[
            b'0' + (frac / 100) as u8,
            b'0' + (frac / 10 % 10) as u8,
            b'0' + (frac % 10) as u8,
        ]);
    } else {
        push_u64(out, ms);
    }
}

/// The unit a counter or gauge declares through its name (`…_seconds`, `…_bytes`), for
/// OpenMetrics' `# UNIT`.
fn unit_of_name(name: Name<'_>) -> Option<&'static str> {
    if name.mid.is_empty() && name.unit.is_none() {
        ["seconds", "bytes"]
            .into_iter()
            .find(|u| name.stem.strip_suffix(u).is_some_and(|s| s.ends_with('_')))
    } else {
        None
    }
}
