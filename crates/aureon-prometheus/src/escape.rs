//! Escaping of label values and help text, appended straight into the output buffer.
//!
//! Both text formats escape label values the same way (`\\`, `\"`, `\n`). Help text differs:
//! the 0.0.4 format escapes only `\\` and `\n` (a `"` stays as it is), OpenMetrics also `\"`.

/// Appends `value` as the inside of a quoted label value.
pub(crate) fn push_label_value(out: &mut Vec<u8>, value: &str) {
    push_escaped(out, value, true);
}

/// Appends `help` as the text of a `# HELP` line (`quotes`: OpenMetrics).
pub(crate) fn push_help(out: &mut Vec<u8>, help: &str, quotes: bool) {
    push_escaped(out, help, quotes);
}

fn push_escaped(out: &mut Vec<u8>, s: &str, quotes: bool) {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'"' if quotes => b"\\\"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(esc);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_backslash_quote_newline() {
        let mut out = Vec::new();
        push_label_value(&mut out, "a\\b\"c\nd\té");
        assert_eq!(out, "a\\\\b\\\"c\\nd\té".as_bytes());
        out.clear();
        push_help(&mut out, "say \"hi\"\\\n", false);
        assert_eq!(out, b"say \"hi\"\\\\\\n");
        out.clear();
        push_help(&mut out, "say \"hi\"", true);
        assert_eq!(out, b"say \\\"hi\\\"");
    }
}
