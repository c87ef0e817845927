//! The web configuration file (exporter-toolkit format): `WebConfig::parse`, which is what
//! `--web.config.file` and `ServerConfigBuilder::web_config_file` run on a file an operator
//! (or an attacker who can write it) provides, at start and at every reload.
//!
//! Oracle: no panic, no unbounded allocation (libFuzzer's `-malloc_limit_mb`), and
//! * an error names the file it was given and, when it carries a line, a line that exists in
//!   the input (1-based, at most the number of lines plus one for an error at the end;
//!   lines as YAML counts them: `\r\n`, a lone `\r` and `\n` each end one, which the first
//!   run of this target taught the oracle), with a column when it has a line; its message is
//!   not empty;
//! * parsing is deterministic: the same text gives the same result twice;
//! * an accepted configuration parses again from the same text to an equal result, and
//!   (YAML being a superset of JSON flow style) the empty document and whitespace-only
//!   documents are accepted as "no TLS, no users".
#![no_main]

use aureon_prometheus::http::WebConfig;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("/fuzz/web-config.yml");
    let first = WebConfig::parse(text, path);
    let second = WebConfig::parse(text, path);
    match (&first, &second) {
        (Ok(a), Ok(b)) => assert_eq!(format!("{a:?}"), format!("{b:?}"), "not deterministic"),
        (Err(a), Err(b)) => assert_eq!(a, b, "not deterministic"),
        _ => panic!("parse accepted and refused the same text"),
    }
    if text.trim().is_empty() {
        assert!(first.is_ok(), "an empty file is no TLS, no users");
    }
    if let Err(e) = first {
        assert_eq!(e.path(), path, "the error names the file");
        assert!(!e.message().is_empty(), "an error says what is wrong");
        if let Some(line) = e.line() {
            let lines = yaml_lines(text) + 1;
            assert!(
                (1..=lines).contains(&line),
                "line {line} of a {lines}-line file: {e}"
            );
            assert!(e.column().is_some(), "a line comes with a column: {e}");
        }
        // The message a user sees never panics to format.
        let _ = e.to_string();
    }
});

/// Lines as YAML 1.2 counts them (its line breaks are `\r\n`, `\r` and `\n`).
fn yaml_lines(text: &str) -> u64 {
    let b = text.as_bytes();
    let mut n = 0;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\r' if b.get(i + 1) == Some(&b'\n') => {
                n += 1;
                i += 1;
            }
            b'\r' | b'\n' => n += 1,
            _ => {}
        }
        i += 1;
    }
    n + u64::from(!text.is_empty())
}
