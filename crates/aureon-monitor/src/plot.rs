//! `plot`: the percentile distribution of an interval log as SVG, drawn the way HdrHistogram's
//! own plotter draws it: latency against percentile, the percentile axis on a log scale of
//! `1 / (1 - p)` so that 90%, 99%, 99.9%, 99.99% and 99.999% are evenly spaced.
//!
//! One line per series, from the series' total over all intervals, through HdrHistogram's
//! percentile iteration (the same points its `outputPercentileDistribution` prints). Drawing
//! is `plotters` with its SVG backend only: no font or bitmap library is needed, since SVG
//! text is laid out by whatever shows the file.

use crate::cli::PlotArgs;
use crate::failure::Failure;
use crate::interval_log::{self, LogUnit, Series};
use aureon_telemetry::Unit;
use plotters::prelude::*;

/// The right edge of the percentile axis: 99.999% (`-log10(1 - p)` = 5).
const MAX_NINES: f64 = 5.0;
/// Percentile iteration steps per halving of the distance to 100% (HdrHistogram's default).
const TICKS_PER_HALF_DISTANCE: u32 = 5;
/// The share of the latency axis the data may reach: the legend sits in the rest, above the
/// curves (which rise to the right, so the upper left is the one corner they leave free).
const DATA_HEIGHT: f64 = 0.75;
/// Image size in pixels.
const SIZE: (u32, u32) = (1100, 650);
/// Line colours, one per series (cycled).
const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// Writes the plot of `args.from` to `args.out`.
pub fn run(args: PlotArgs) -> Result<(), Failure> {
    let log = interval_log::load(&args.from, args.unit)?;
    let series: Vec<&Series> = log
        .series
        .iter()
        .filter(|s| args.series.as_deref().is_none_or(|f| s.name.contains(f)))
        .filter(|s| !s.total.is_empty())
        .collect();
    if series.is_empty() {
        let names: Vec<&str> = log.series.iter().map(|s| s.name.as_str()).collect();
        return Err(Failure::run(format!(
            "nothing to plot: no series with values{}; the log has: {}",
            args.series
                .map(|f| format!(" matches {f:?}"))
                .unwrap_or_default(),
            names.join(", ")
        )));
    }
    let scale = Scale::for_values(
        log.unit,
        series.iter().map(|s| s.total.max()).max().unwrap_or(1),
    );
    let lines: Vec<(String, Vec<(f64, f64)>)> = series
        .iter()
        .map(|s| (s.name.clone(), distribution(s, &scale)))
        .collect();
    let title = format!(
        "Latency by percentile: {}",
        args.from
            .file_name()
            .map_or_else(|| "log".into(), |n| n.to_string_lossy())
    );
    draw(&args.out, &title, &lines, &scale, args.log_latency)
        .map_err(|e| Failure::run(format!("cannot write the plot {}: {e}", args.out.display())))
}

/// How values are shown: divided by `divisor`, followed by `symbol`.
#[derive(Debug, Clone, PartialEq)]
struct Scale {
    divisor: f64,
    symbol: &'static str,
}

impl Scale {
    /// A time unit that shows `max` (in `unit`) between 1 and 1000, or the values as they are.
    fn for_values(unit: Option<LogUnit>, max: u64) -> Self {
        let nanos_per = match unit {
            Some(Unit::Nanoseconds) => 1.0,
            Some(Unit::Microseconds) => 1e3,
            Some(Unit::Milliseconds) => 1e6,
            Some(Unit::Seconds) => 1e9,
            Some(Unit::Bytes) => {
                return Self {
                    divisor: 1.0,
                    symbol: "bytes",
                };
            }
            _ => {
                return Self {
                    divisor: 1.0,
                    symbol: "",
                };
            }
        };
        let max_ns = max as f64 * nanos_per;
        let (ns, symbol) = [(1e9, "s"), (1e6, "ms"), (1e3, "µs"), (1.0, "ns")]
            .into_iter()
            .find(|&(ns, _)| max_ns >= ns)
            .unwrap_or((1.0, "ns"));
        Self {
            divisor: ns / nanos_per,
            symbol,
        }
    }
}

/// `(nines, value)` points: `nines = -log10(1 - p)`, capped at [`MAX_NINES`].
fn distribution(series: &Series, scale: &Scale) -> Vec<(f64, f64)> {
    series
        .total
        .iter_quantiles(TICKS_PER_HALF_DISTANCE)
        .map(|v| {
            let q = v.quantile_iterated_to();
            let nines = if q >= 1.0 {
                MAX_NINES
            } else {
                (-(1.0 - q).log10()).min(MAX_NINES)
            };
            (nines, v.value_iterated_to() as f64 / scale.divisor)
        })
        .collect()
}

/// `0%`, `90%`, `99%`, … for the percentile axis.
fn percentile_label(nines: f64) -> String {
    let p = 100.0 * (1.0 - 10f64.powf(-nines));
    crate::fmt::trim(p, (nines.round() as usize).saturating_sub(2)) + "%"
}

fn draw(
    out: &std::path::Path,
    title: &str,
    lines: &[(String, Vec<(f64, f64)>)],
    scale: &Scale,
    log_latency: bool,
) -> Result<(), String> {
    let root = SVGBackend::new(out, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(text)?;
    let top = lines
        .iter()
        .flat_map(|(_, pts)| pts.iter().map(|p| p.1))
        .fold(0.0f64, f64::max);
    let y_desc = if scale.symbol.is_empty() {
        "latency".to_owned()
    } else {
        format!("latency ({})", scale.symbol)
    };
    let mut builder = ChartBuilder::on(&root);
    builder
        .caption(title, ("sans-serif", 24))
        .margin(20)
        .x_label_area_size(45)
        .y_label_area_size(70);
    // Two coordinate types (linear or log latency) need two chart types: one drawing
    // routine, generic over the coordinate.
    if log_latency {
        let bottom = lines
            .iter()
            .flat_map(|(_, pts)| pts.iter().map(|p| p.1))
            .filter(|v| *v > 0.0)
            .fold(f64::INFINITY, f64::min);
        let bottom = if bottom.is_finite() {
            bottom / 1.5
        } else {
            0.001
        };
        let mut chart = builder
            .build_cartesian_2d(
                0.0..MAX_NINES,
                (bottom..log_headroom(bottom, top)).log_scale(),
            )
            .map_err(text)?;
        chart
            .configure_mesh()
            .x_labels(6)
            .x_label_formatter(&|x| percentile_label(*x))
            .y_label_formatter(&|y| crate::fmt::trim(*y, 3))
            .x_desc("percentile")
            .y_desc(y_desc.clone())
            .draw()
            .map_err(text)?;
        draw_lines(&mut chart, lines)?;
    } else {
        let mut chart = builder
            .build_cartesian_2d(0.0..MAX_NINES, 0.0..(top / DATA_HEIGHT).max(1e-9))
            .map_err(text)?;
        chart
            .configure_mesh()
            .x_labels(6)
            .x_label_formatter(&|x| percentile_label(*x))
            .y_label_formatter(&|y| crate::fmt::trim(*y, 3))
            .x_desc("percentile")
            .y_desc(y_desc.clone())
            .draw()
            .map_err(text)?;
        draw_lines(&mut chart, lines)?;
    }
    root.present().map_err(text)?;
    Ok(())
}

fn draw_lines<'a, DB, Y>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<plotters::coord::types::RangedCoordf64, Y>>,
    lines: &[(String, Vec<(f64, f64)>)],
) -> Result<(), String>
where
    DB: DrawingBackend + 'a,
    Y: Ranged<ValueType = f64>,
{
    for (i, (name, points)) in lines.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(text)?
            .label(name.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.85))
        .draw()
        .map_err(text)?;
    Ok(())
}

/// The top of a log axis from `bottom` on which `top` sits at [`DATA_HEIGHT`].
fn log_headroom(bottom: f64, top: f64) -> f64 {
    let (lo, hi) = (bottom.log10(), top.max(bottom * 2.0).log10());
    10f64.powf(lo + (hi - lo) / DATA_HEIGHT)
}

/// A drawing error as text (plotters' errors borrow the backend, so they cannot leave it).
fn text(e: impl std::fmt::Display) -> String {
    e.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_percentile_axis_reads_in_nines() {
        let labels: Vec<String> = (0..=5).map(|n| percentile_label(n as f64)).collect();
        assert_eq!(labels, ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"]);
    }

    #[test]
    fn values_are_shown_in_a_readable_unit() {
        let s = Scale::for_values(Some(Unit::Microseconds), 12_000);
        assert_eq!((s.divisor, s.symbol), (1_000.0, "ms"));
        let s = Scale::for_values(Some(Unit::Microseconds), 250);
        assert_eq!((s.divisor, s.symbol), (1.0, "µs"));
        let s = Scale::for_values(Some(Unit::Nanoseconds), 2_500);
        assert_eq!((s.divisor, s.symbol), (1_000.0, "µs"));
        assert_eq!(Scale::for_values(None, 5).symbol, "");
    }
}
