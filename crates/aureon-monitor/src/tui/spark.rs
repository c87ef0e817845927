//! Sparklines as text: a series of values drawn with the eight block characters, so one fits
//! in a table cell next to the figures it summarises.

const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// The last `width` values of `series` as bars scaled to their maximum (`None`, an interval
/// without samples, is a space). Right-aligned: the newest value is the last character.
pub fn bars(series: &[Option<u64>], width: usize) -> String {
    let shown = &series[series.len().saturating_sub(width)..];
    let max = shown.iter().flatten().copied().max().unwrap_or(0);
    let mut out = String::with_capacity(width * 3);
    for _ in shown.len()..width {
        out.push(' ');
    }
    for value in shown {
        out.push(match value {
            None => ' ',
            Some(_) if max == 0 => BARS[0],
            Some(v) => {
                let level = (*v as f64 / max as f64 * (BARS.len() - 1) as f64).round() as usize;
                BARS[level.min(BARS.len() - 1)]
            }
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_maximum_and_keep_the_newest() {
        assert_eq!(bars(&[Some(0), Some(6), Some(14)], 3), "▁▄█");
        assert_eq!(bars(&[Some(1), None, Some(1)], 5), "  █ █");
        assert_eq!(bars(&[Some(100), Some(1), Some(2)], 2), "▅█");
        assert_eq!(bars(&[], 2), "  ");
        assert_eq!(bars(&[Some(0), Some(0)], 2), "▁▁");
    }
}
