//! What an exposition contains: the snapshot's metric families, their exported names, and the
//! series left out because they would clash. Shared by the text and protobuf encoders so that
//! every format exports the same series under the same names.
//!
//! Names: registry names carry no unit. A histogram whose unit has a base name (seconds,
//! bytes) is exported as `<name>_<unit>` (values converted to that unit); a counter as
//! `<name>_total` (not doubled when the name already ends so); a gauge as its name; all
//! behind the optional namespace.
//!
//! Clashes: two families whose series names would collide (a µs histogram `x` and a gauge
//! `x_seconds`, counters `x` and `x_total`, a gauge `x_seconds_count` …) would make a scraper
//! reject the whole exposition. The first family in snapshot order keeps the names; later
//! ones are left out. So are series that cannot be expressed: a label set of a name that was
//! registered with another kind or unit than the name's first label set, and histograms with
//! a label called `le` or `quantile`. Everything left out is counted in the
//! `<prefix>_export_conflicts` gauge, so nothing disappears silently.

use crate::options::{ExportOptions, HistogramMode};
use aureon_telemetry::{Labels, MetricValue, Snapshot, Unit};

/// A metric family's kind and, for histograms, how it is exported.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Kind {
    Counter,
    Gauge,
    Histogram { unit: Unit, mode: HistogramMode },
}

/// An exported name in parts, written without allocating: `[ns_]stem[mid][_unit]<suffix>`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Name<'a> {
    pub(crate) ns: &'a str,
    pub(crate) stem: &'a str,
    pub(crate) mid: &'static str,
    pub(crate) unit: Option<&'static str>,
}

impl Name<'_> {
    pub(crate) fn push(&self, out: &mut Vec<u8>, suffix: &str) {
        if !self.ns.is_empty() {
            out.extend_from_slice(self.ns.as_bytes());
            out.push(b'_');
        }
        out.extend_from_slice(self.stem.as_bytes());
        out.extend_from_slice(self.mid.as_bytes());
        if let Some(u) = self.unit {
            out.push(b'_');
            out.extend_from_slice(u.as_bytes());
        }
        out.extend_from_slice(suffix.as_bytes());
    }
}

/// Where a family comes from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Source<'s> {
    /// Registry metrics with this name.
    Registry(&'s str),
    /// `<prefix>_registration_errors_total`.
    RegistrationErrors,
    /// `<prefix>_export_conflicts`.
    ExportConflicts,
}

/// One family of the exposition.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Family<'s> {
    pub(crate) source: Source<'s>,
    pub(crate) kind: Kind,
    /// Counters: the name without `_total`; gauges: the name; histograms: the histogram's
    /// name (with its unit).
    pub(crate) name: Name<'s>,
    /// The summary's name (histograms exported with a summary).
    pub(crate) summary: Name<'s>,
    /// Its label sets: `Plan::entries[start..end]`.
    pub(crate) start: usize,
    pub(crate) end: usize,
    /// Left out: its names clash with an earlier family's.
    pub(crate) clashes: bool,
}

impl Family<'_> {
    /// The conversion from recorded values to exported ones: divide by this (1e6 for µs).
    pub(crate) fn divisor(&self) -> f64 {
        match self.kind {
            Kind::Histogram { unit, .. } => divisor(unit),
            _ => 1.0,
        }
    }

    /// Every series name this family uses, for the clash check (OpenMetrics' `_created`
    /// included in every format, so that which families clash never depends on the format).
    fn reserved(&self, mut each: impl FnMut(Name<'_>, &'static str)) {
        match self.kind {
            Kind::Counter => {
                for s in ["", "_total", "_created"] {
                    each(self.name, s);
                }
            }
            Kind::Gauge => each(self.name, ""),
            Kind::Histogram { mode, .. } => {
                if mode.has_histogram() {
                    for s in ["", "_bucket", "_sum", "_count", "_created"] {
                        each(self.name, s);
                    }
                }
                if mode.has_summary() {
                    for s in ["", "_sum", "_count", "_created"] {
                        each(self.summary, s);
                    }
                }
            }
        }
    }
}

/// Recorded value to base unit: the divisor that turns `unit` into seconds or bytes.
/// Dividing by an exact power of ten (rather than multiplying by 1e-6) keeps values that are
/// exact in the base unit exact, e.g. 500 000 µs is exactly 0.5 s.
pub(crate) fn divisor(unit: Unit) -> f64 {
    (1.0 / unit.to_base_factor()).round().max(1.0)
}

/// The exposition plan; its buffers are kept between renders.
#[derive(Debug, Default)]
pub(crate) struct Plan<'s> {
    pub(crate) families: Vec<Family<'s>>,
    /// The snapshot's label sets that fit their family, family by family (so rendering
    /// walks slices instead of searching the snapshot again).
    pub(crate) entries: Vec<(&'s Labels, &'s MetricValue)>,
    /// The creation time of each entry (same index), in milliseconds since the epoch.
    pub(crate) created_ms: Vec<u64>,
    /// Series left out (clashing families' series and inexpressible label sets).
    pub(crate) conflicts: u64,
}

/// Scratch space for the clash check, reused between renders.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    arena: Vec<u8>,
    /// `(start, end, family)` of every reserved name in `arena`, in family order.
    names: Vec<(u32, u32, u32)>,
    /// The same, sorted by name then family.
    sorted: Vec<(u32, u32, u32)>,
}

/// Builds the plan for `snapshot` into `plan` (cleared first).
pub(crate) fn build<'s>(
    snapshot: &'s Snapshot,
    options: &'s ExportOptions,
    plan: &mut Plan<'s>,
    scratch: &mut Scratch,
) {
    plan.families.clear();
    plan.entries.clear();
    plan.created_ms.clear();
    plan.conflicts = 0;
    let ns = options.namespace.as_str();
    let mut current: Option<&str> = None;
    for (key, value, created) in snapshot.iter_with_created() {
        let name = key.name();
        if current != Some(name) {
            let kind = match value {
                MetricValue::Counter(_) => Kind::Counter,
                MetricValue::Gauge(_) => Kind::Gauge,
                MetricValue::Histogram(h) => Kind::Histogram {
                    unit: h.config().unit,
                    mode: options.histogram_mode(name),
                },
            };
            current = Some(name);
            let start = plan.entries.len();
            plan.families.push(registry_family(name, kind, ns, start));
        }
        let family = plan.families.last_mut().expect("pushed above");
        if member_fits(family.kind, key.labels(), value) {
            plan.entries.push((key.labels(), value));
            plan.created_ms.push(epoch_ms(created));
            family.end = plan.entries.len();
        } else {
            plan.conflicts += 1;
        }
    }
    if let Some(prefix) = options.internal_prefix.as_deref() {
        let end = plan.entries.len();
        let internal = |source, kind, mid| {
            let name = Name {
                ns: "",
                stem: prefix,
                mid,
                unit: None,
            };
            Family {
                source,
                kind,
                name,
                summary: name,
                start: end,
                end,
                clashes: false,
            }
        };
        plan.families.push(internal(
            Source::RegistrationErrors,
            Kind::Counter,
            "_registration_errors",
        ));
        plan.families.push(internal(
            Source::ExportConflicts,
            Kind::Gauge,
            "_export_conflicts",
        ));
    }
    mark_clashes(plan, scratch);
}

fn registry_family<'s>(registry: &'s str, kind: Kind, ns: &'s str, start: usize) -> Family<'s> {
    let name = registry;
    let plain = Name {
        ns,
        stem: name,
        mid: "",
        unit: None,
    };
    let (name, summary) = match kind {
        Kind::Counter => {
            let stem = name
                .strip_suffix("_total")
                .filter(|s| !s.is_empty())
                .unwrap_or(name);
            (Name { stem, ..plain }, plain)
        }
        Kind::Gauge => (plain, plain),
        Kind::Histogram { unit, mode } => {
            let base = unit.base_name();
            let stem = match base {
                Some(u) => name
                    .strip_suffix(u)
                    .and_then(|s| s.strip_suffix('_'))
                    .filter(|s| !s.is_empty())
                    .unwrap_or(name),
                None => name,
            };
            let hist = Name {
                ns,
                stem,
                mid: "",
                unit: base,
            };
            let summary = if mode == HistogramMode::Both {
                Name {
                    mid: "_quantiles",
                    ..hist
                }
            } else {
                hist
            };
            (hist, summary)
        }
    };
    Family {
        source: Source::Registry(registry),
        kind,
        name,
        summary,
        start,
        end: start,
        clashes: false,
    }
}

/// Whether a label set can be exported in its family (same kind and unit as the family's
/// first label set, no label the format reserves).
fn member_fits(kind: Kind, labels: &Labels, value: &MetricValue) -> bool {
    match (kind, value) {
        (Kind::Counter, MetricValue::Counter(_)) | (Kind::Gauge, MetricValue::Gauge(_)) => true,
        (Kind::Histogram { unit, .. }, MetricValue::Histogram(h)) => {
            h.config().unit == unit
                && labels.get("le").is_none()
                && labels.get("quantile").is_none()
        }
        _ => false,
    }
}

fn mark_clashes(plan: &mut Plan<'_>, scratch: &mut Scratch) {
    let Scratch {
        arena,
        names,
        sorted,
    } = scratch;
    arena.clear();
    names.clear();
    for (i, f) in plan.families.iter().enumerate() {
        f.reserved(|name, suffix| {
            let start = arena.len() as u32;
            name.push(arena, suffix);
            names.push((start, arena.len() as u32, i as u32));
        });
    }
    let text = |&(s, e, _): &(u32, u32, u32)| &arena[s as usize..e as usize];
    sorted.clear();
    sorted.extend_from_slice(names);
    sorted.sort_unstable_by(|a, b| text(a).cmp(text(b)).then(a.2.cmp(&b.2)));
    // Families in order: one clashes when a name it uses is used by an earlier family that
    // was kept (a family left out does not block later ones).
    let mut entries = names.iter().peekable();
    for i in 0..plan.families.len() {
        let mut clash = false;
        while let Some(entry) = entries.next_if(|e| e.2 as usize == i) {
            let run = sorted.partition_point(|e| text(e) < text(entry));
            clash |= sorted[run..]
                .iter()
                .take_while(|e| text(e) == text(entry))
                .any(|e| (e.2 as usize) < i && !plan.families[e.2 as usize].clashes);
        }
        if clash {
            plan.families[i].clashes = true;
            let f = &plan.families[i];
            plan.conflicts += match f.source {
                Source::Registry(_) => (f.end - f.start) as u64,
                _ => 1,
            };
        }
    }
}

impl ExportOptions {
    /// The series name a counter registered as `name` is exported under (`…_total`).
    pub fn counter_name(&self, name: &str) -> String {
        name_string(
            registry_family(name, Kind::Counter, &self.namespace, 0).name,
            "_total",
        )
    }

    /// The series name a gauge registered as `name` is exported under.
    pub fn gauge_name(&self, name: &str) -> String {
        name_string(
            registry_family(name, Kind::Gauge, &self.namespace, 0).name,
            "",
        )
    }

    /// The family name a histogram registered as `name` with values in `unit` is exported
    /// under as a histogram (series `…_bucket`, `…_sum`, `…_count`), or `None` when its
    /// [`HistogramMode`] has no histogram.
    pub fn histogram_name(&self, name: &str, unit: Unit) -> Option<String> {
        let mode = self.histogram_mode(name);
        let f = registry_family(name, Kind::Histogram { unit, mode }, &self.namespace, 0);
        mode.has_histogram().then(|| name_string(f.name, ""))
    }

    /// The family name a histogram registered as `name` with values in `unit` is exported
    /// under as a summary (series with a `quantile` label, `…_sum`, `…_count`), or `None`
    /// when its [`HistogramMode`] has no summary.
    pub fn summary_name(&self, name: &str, unit: Unit) -> Option<String> {
        let mode = self.histogram_mode(name);
        let f = registry_family(name, Kind::Histogram { unit, mode }, &self.namespace, 0);
        mode.has_summary().then(|| name_string(f.summary, ""))
    }
}

fn name_string(name: Name<'_>, suffix: &str) -> String {
    let mut out = Vec::new();
    name.push(&mut out, suffix);
    // Names are built from valid metric names and ASCII suffixes.
    String::from_utf8(out).unwrap_or_default()
}

/// The snapshot's wall-clock time in milliseconds since the Unix epoch, when the options ask
/// for sample timestamps (shared by the text and protobuf writers).
pub(crate) fn timestamp_ms(snapshot: &Snapshot, options: &ExportOptions) -> Option<u64> {
    options.timestamps.then(|| {
        snapshot
            .system_time()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    })
}

/// Milliseconds since the Unix epoch (0 for a time before it: a clock set that far back
/// has no better answer, and nothing reads it as a reset of a real series).
pub(crate) fn epoch_ms(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
