//! Number formatting for the text formats, appending to the output buffer without allocating.
//!
//! Sample values only need to parse back to the same `f64` (shortest round-trip digits,
//! from `ryu`). Label values that hold numbers (`le`, `quantile`) are different: they are
//! strings to Prometheus, so a series is the same series only if every format spells the
//! number the same way. Prometheus turns the protobuf format's `upper_bound` and `quantile`
//! doubles into label values with its `formatOpenMetricsFloat` (Go's shortest `%g`, plus
//! `.0` when that has neither a dot nor an exponent), so the text formats spell them exactly
//! like that too: `1.0`, `0.005`, `1e-05`, `2.5e+06`, `+Inf`.

/// Appends an unsigned integer.
pub(crate) fn push_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// Appends a sample value: shortest round-trip digits, `NaN`, `+Inf` or `-Inf`.
pub(crate) fn push_value(out: &mut Vec<u8>, v: f64) {
    if v.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 { b"+Inf" } else { b"-Inf" });
    } else {
        out.extend_from_slice(ryu::Buffer::new().format_finite(v).as_bytes());
    }
}

/// Appends a number used as a label value, spelled as Prometheus' `formatOpenMetricsFloat`
/// spells it (see the module docs).
pub(crate) fn push_label_float(out: &mut Vec<u8>, v: f64) {
    if v.is_nan() {
        out.extend_from_slice(b"NaN");
        return;
    }
    if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 { b"+Inf" } else { b"-Inf" });
        return;
    }
    if v == 0.0 {
        out.extend_from_slice(if v.is_sign_negative() {
            b"-0.0"
        } else {
            b"0.0"
        });
        return;
    }
    if v < 0.0 {
        out.push(b'-');
    }
    let mut digits = [0u8; 32];
    let (nd, dp) = shortest_digits(v.abs(), &mut digits);
    let digits = &digits[..nd];
    // Go's %g with the shortest precision switches to an exponent below 1e-4 and from 1e6.
    let exp = dp - 1;
    if !(-4..6).contains(&exp) {
        out.push(digits[0]);
        if nd > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        out.push(b'e');
        out.push(if exp < 0 { b'-' } else { b'+' });
        let e = exp.unsigned_abs();
        if e < 10 {
            out.push(b'0');
        }
        push_u64(out, u64::from(e));
        return;
    }
    let mut has_dot = false;
    if dp <= 0 {
        out.extend_from_slice(b"0.");
        has_dot = true;
        out.extend(std::iter::repeat_n(b'0', dp.unsigned_abs() as usize));
        out.extend_from_slice(digits);
    } else {
        let dp = dp as usize;
        if dp >= nd {
            out.extend_from_slice(digits);
            out.extend(std::iter::repeat_n(b'0', dp - nd));
        } else {
            out.extend_from_slice(&digits[..dp]);
            out.push(b'.');
            has_dot = true;
            out.extend_from_slice(&digits[dp..]);
        }
    }
    if !has_dot {
        out.extend_from_slice(b".0");
    }
}

/// The shortest round-trip decimal digits of a positive finite `v` (no leading or trailing
/// zeros) and the decimal point position: `v = 0.d1d2… × 10^dp`.
fn shortest_digits(v: f64, digits: &mut [u8; 32]) -> (usize, i32) {
    let mut buf = ryu::Buffer::new();
    let s = buf.format_finite(v);
    let (mantissa, exp) = match s.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (s, 0),
    };
    let mut nd = 0usize;
    let mut int_len = 0i32;
    let mut seen_dot = false;
    let mut leading = 0i32;
    for b in mantissa.bytes() {
        match b {
            b'.' => seen_dot = true,
            b'0'..=b'9' => {
                if !seen_dot {
                    int_len += 1;
                }
                if nd == 0 && b == b'0' {
                    leading += 1;
                    continue;
                }
                digits[nd] = b;
                nd += 1;
            }
            _ => {}
        }
    }
    while nd > 1 && digits[nd - 1] == b'0' {
        nd -= 1;
    }
    (nd, int_len + exp - leading)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(v: f64) -> String {
        let mut out = Vec::new();
        push_label_float(&mut out, v);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn label_floats_match_go_format_open_metrics_float() {
        // Expected strings as Go's strconv.FormatFloat(v, 'g', -1, 64) plus ".0" spells them.
        for (v, want) in [
            (1.0, "1.0"),
            (0.0, "0.0"),
            (0.005, "0.005"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (0.00025, "0.00025"),
            (2.5, "2.5"),
            (10.0, "10.0"),
            (100000.0, "100000.0"),
            (1e6, "1e+06"),
            (1e20, "1e+20"),
            (123456789.0, "1.23456789e+08"),
            (1.5e-7, "1.5e-07"),
            (0.999, "0.999"),
            (0.5, "0.5"),
            (67108864.0, "6.7108864e+07"),
            (f64::INFINITY, "+Inf"),
            (-2.0, "-2.0"),
        ] {
            assert_eq!(label(v), want, "{v}");
        }
    }
}
