//! Parsers for command-line values that clap does not know: durations (`30s`, `1m30s`,
//! `250ms`), fractions (`0.002`, `0.5%`), positive rates and thread counts.
//!
//! Each returns a message that says what was expected, which clap shows as
//! `error: invalid value '…' for '--duration <DURATION>': …` with exit status 2.

use std::net::SocketAddr;
use std::time::Duration;

/// The longest duration accepted anywhere (a week): longer is almost certainly a typo.
const MAX_DURATION: Duration = Duration::from_secs(7 * 24 * 3600);

/// Parses `30s`, `250ms`, `2m`, `1h`, `1m30s` or a bare number of seconds (`45`, `1.5`).
/// Zero, negative and absurdly long durations are refused.
pub fn duration(text: &str) -> Result<Duration, String> {
    let d = parse_duration(text.trim())
        .ok_or_else(|| format!("expected a duration like 30s, 250ms, 2m or 1m30s, got {text:?}"))?;
    if d.is_zero() {
        return Err("the duration must be longer than zero".to_owned());
    }
    if d > MAX_DURATION {
        return Err("the duration must be at most a week (168h)".to_owned());
    }
    Ok(d)
}

fn parse_duration(text: &str) -> Option<Duration> {
    if text.is_empty() {
        return None;
    }
    // A bare number is seconds.
    if let Ok(secs) = text.parse::<f64>() {
        return seconds(secs);
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if number_len == 0 {
            return None;
        }
        let value: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ms" => 1e-3,
            "s" | "sec" | "secs" => 1.0,
            "m" | "min" | "mins" => 60.0,
            "h" | "hr" | "hrs" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total = total.checked_add(seconds(value * scale)?)?;
    }
    Some(total)
}

fn seconds(secs: f64) -> Option<Duration> {
    (secs.is_finite() && secs >= 0.0 && secs <= MAX_DURATION.as_secs_f64() * 2.0)
        .then(|| Duration::from_secs_f64(secs))
}

/// Parses a fraction in `0 ..= 1`: `0.002`, or a percentage `0.2%`.
pub fn fraction(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let value = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0),
        None => t.parse::<f64>(),
    }
    .map_err(|_| {
        format!("expected a fraction like 0.002 or a percentage like 0.2%, got {text:?}")
    })?;
    if !(0.0..=1.0).contains(&value) {
        return Err(format!("must be between 0 and 1 (0% and 100%), got {text}"));
    }
    Ok(value)
}

/// The highest `--rate` accepted, in blocks per second.
pub const MAX_RATE: f64 = 1_000_000.0;

/// Parses a positive rate (blocks per second), at most [`MAX_RATE`].
pub fn rate(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("expected a number of blocks per second, got {text:?}"))?;
    if !(value.is_finite() && value > 0.0 && value <= MAX_RATE) {
        return Err(format!(
            "must be more than 0 and at most {MAX_RATE} blocks per second, got {text}"
        ));
    }
    Ok(value)
}

/// Parses `--listen`: `IP:PORT` (`127.0.0.1:9898`, `[::1]:9898`), `localhost:PORT`, or a
/// bare `PORT` on 127.0.0.1.
pub fn listen(text: &str) -> Result<SocketAddr, String> {
    let t = text.trim();
    if let Ok(addr) = t.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let port = t.strip_prefix("localhost:").unwrap_or(t);
    port.parse::<u16>()
        .map(|port| SocketAddr::from(([127, 0, 0, 1], port)))
        .map_err(|_| {
            format!(
                "expected IP:PORT like 127.0.0.1:9898 (or localhost:PORT, or PORT), got {text:?}"
            )
        })
}

/// The most worker threads `demo` accepts.
pub const MAX_THREADS: usize = 64;

/// Parses a worker-thread count, 1 ..= [`MAX_THREADS`].
pub fn threads(text: &str) -> Result<usize, String> {
    let n: usize = text
        .trim()
        .parse()
        .map_err(|_| format!("expected a whole number of threads, got {text:?}"))?;
    if n == 0 || n > MAX_THREADS {
        return Err(format!("must be between 1 and {MAX_THREADS}, got {n}"));
    }
    Ok(n)
}

/// The default worker-thread count: the machine's parallelism, between 2 and 8.
pub fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(2, 8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_the_usual_spellings() {
        let ms = Duration::from_millis;
        assert_eq!(duration("30s"), Ok(ms(30_000)));
        assert_eq!(duration("250ms"), Ok(ms(250)));
        assert_eq!(duration("2m"), Ok(ms(120_000)));
        assert_eq!(duration("1m30s"), Ok(ms(90_000)));
        assert_eq!(duration("1h"), Ok(ms(3_600_000)));
        assert_eq!(duration("45"), Ok(ms(45_000)));
        assert_eq!(duration("1.5s"), Ok(ms(1_500)));
        assert_eq!(duration(" 5s "), Ok(ms(5_000)));
    }

    #[test]
    fn bad_durations_say_what_was_expected() {
        for bad in ["", "abc", "5x", "s", "-3s", "1e400", "NaN", "5s3"] {
            let e = duration(bad).unwrap_err();
            assert!(e.contains("expected a duration"), "{bad:?}: {e}");
        }
        assert!(duration("0s").unwrap_err().contains("longer than zero"));
        assert!(duration("200h").unwrap_err().contains("at most a week"));
    }

    #[test]
    fn fractions_and_percentages() {
        assert_eq!(fraction("0.002"), Ok(0.002));
        assert_eq!(fraction("5%"), Ok(0.05));
        assert_eq!(fraction("0"), Ok(0.0));
        assert!(fraction("1.5").unwrap_err().contains("between 0 and 1"));
        assert!(fraction("-0.1").is_err());
        assert!(
            fraction("lots")
                .unwrap_err()
                .contains("expected a fraction")
        );
    }

    #[test]
    fn listen_addresses() {
        assert_eq!(
            listen("127.0.0.1:9898").unwrap().to_string(),
            "127.0.0.1:9898"
        );
        assert_eq!(listen("[::1]:80").unwrap().to_string(), "[::1]:80");
        assert_eq!(
            listen("localhost:9000").unwrap().to_string(),
            "127.0.0.1:9000"
        );
        assert_eq!(listen("9001").unwrap().to_string(), "127.0.0.1:9001");
        assert!(listen("nonsense").unwrap_err().contains("expected IP:PORT"));
        assert!(listen("127.0.0.1:99999").is_err());
    }

    #[test]
    fn rates_and_threads_are_bounded() {
        assert_eq!(rate("200"), Ok(200.0));
        assert!(rate("0").is_err());
        assert!(rate("inf").is_err());
        assert!(rate("-5").is_err());
        assert_eq!(threads("4"), Ok(4));
        assert!(threads("0").unwrap_err().contains("between 1 and"));
        assert!(threads("1000").is_err());
        assert!(threads("two").is_err());
    }
}
