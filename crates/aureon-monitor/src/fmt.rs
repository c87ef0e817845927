//! Numbers for people: latencies (`61µs`, `1.2ms`), counts with thousands separators,
//! percentages and rates, shared by the dashboard, the stress table and the report.

use std::time::Duration;

/// Microseconds as people read them: `850µs`, `1.2ms`, `1.25s` (`-` when not finite).
pub fn micros(us: f64) -> String {
    if !us.is_finite() {
        "-".to_owned()
    } else if us < 1_000.0 {
        format!("{}µs", us.round())
    } else if us < 1_000_000.0 {
        format!("{}ms", trim(us / 1_000.0, 1))
    } else {
        format!("{}s", trim(us / 1_000_000.0, 2))
    }
}

/// Nanoseconds as people read them: `640ns`, `12.3µs`, then as [`micros`].
pub fn nanos(ns: f64) -> String {
    if ns.is_finite() && ns < 1_000.0 {
        format!("{}ns", ns.round())
    } else if ns.is_finite() && ns < 100_000.0 {
        format!("{}µs", trim(ns / 1_000.0, 1))
    } else {
        micros(ns / 1_000.0)
    }
}

/// A count with thousands separators: `1,234,567`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A rate per second, whole when large: `5,012/s`, `12.5/s`.
pub fn per_sec(rate: f64) -> String {
    if rate.is_finite() {
        format!("{}/s", number(rate))
    } else {
        "-".to_owned()
    }
}

/// A number for people, whole with separators when large: `5,012`, `12.5`.
pub fn number(value: f64) -> String {
    if !value.is_finite() {
        "-".to_owned()
    } else if value >= 100.0 {
        count(value.round() as u64)
    } else {
        trim(value, 1)
    }
}

/// A fraction as a percentage with up to two decimals: `0.37%`, `5%`.
pub fn percent(fraction: f64) -> String {
    if fraction.is_finite() {
        format!("{}%", trim(fraction * 100.0, 2))
    } else {
        "-".to_owned()
    }
}

/// A duration as a clock: `42s`, `3m05s`, `1h02m`.
pub fn elapsed(d: Duration) -> String {
    let s = d.as_secs();
    if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    }
}

/// `value` with at most `decimals` decimals, trailing zeros dropped.
pub fn trim(value: f64, decimals: usize) -> String {
    let s = format!("{value:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_pick_their_unit() {
        assert_eq!(micros(61.4), "61µs");
        assert_eq!(micros(1_234.0), "1.2ms");
        assert_eq!(micros(1_250_000.0), "1.25s");
        assert_eq!(micros(f64::NAN), "-");
        assert_eq!(nanos(640.0), "640ns");
        assert_eq!(nanos(12_345.0), "12.3µs");
        assert_eq!(nanos(2_500_000.0), "2.5ms");
    }

    #[test]
    fn counts_rates_and_percentages() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1_000), "1,000");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(per_sec(5_012.4), "5,012/s");
        assert_eq!(per_sec(12.54), "12.5/s");
        assert_eq!(percent(0.0037), "0.37%");
        assert_eq!(percent(0.05), "5%");
        assert_eq!(elapsed(Duration::from_secs(185)), "3m05s");
        assert_eq!(elapsed(Duration::from_secs(3720)), "1h02m");
    }
}
