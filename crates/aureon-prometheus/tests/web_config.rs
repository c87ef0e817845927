//! The web configuration file parser ([`WebConfig`]) on exporter-toolkit's own test corpus
//! (`tests/data/web-config/`, copied from its `web/testdata/`) and on hand-written bad
//! files: every file gets a defined answer — accepted, or refused with the file, the line
//! where there is one, and what is wrong — and never a panic.
//!
//! The corpus files name `server.crt`, `server.key`, `client_selfsigned.pem` and
//! `client2_selfsigned.pem` relative to themselves: the test copies them into a directory
//! with freshly generated certificates of those names and loads them with
//! [`WebConfig::load`], which also loads the certificates.

mod http_support;
mod tls_support;

use aureon_prometheus::http::{WebConfig, WebConfigError};
use std::path::{Path, PathBuf};

/// What loading a file must give.
enum Expect {
    /// Accepted, with TLS on or off and these users.
    Ok {
        tls: bool,
        users: &'static [&'static str],
    },
    /// Refused; the message contains the text, at the line when given.
    Err(&'static str, Option<u64>),
}
use Expect::{Err as Bad, Ok as Good};

/// The corpus, with this implementation's answer (and, in a comment, exporter-toolkit's
/// where it differs, with why).
const CORPUS: &[(&str, Expect)] = &[
    (
        "web_config_empty.yml",
        Good {
            tls: false,
            users: &[],
        },
    ),
    ("web_config_junk.yml", Bad("expected mapping", Some(1))),
    ("web_config_junk_key.yml", Bad("cert_filse", Some(2))),
    (
        "web_config_noAuth_certPath_empty.bad.yml",
        Bad("missing one of cert or cert_file", Some(2)),
    ),
    (
        "web_config_noAuth_cert_empty.bad.yml",
        Bad("missing one of cert or cert_file", Some(2)),
    ),
    (
        "web_config_noAuth_keyPath_empty.bad.yml",
        Bad("missing one of key or key_file", Some(2)),
    ),
    (
        "web_config_noAuth_key_empty.bad.yml",
        Bad("missing one of key or key_file", Some(2)),
    ),
    // exporter-toolkit reports the empty paths first; the invalid client_auth_type "x" is
    // found while parsing here.
    (
        "web_config_noAuth_certPath_keyPath_empty.bad.yml",
        Bad("unknown variant", Some(4)),
    ),
    (
        "web_config_noAuth_certPath_invalid.bad.yml",
        Bad("cannot read cert_file", None),
    ),
    (
        "web_config_noAuth_keyPath_invalid.bad.yml",
        Bad("cannot read cert_file", None),
    ),
    (
        "web_config_noAuth_certPath_keyPath_invalid.bad.yml",
        Bad("cannot read cert_file", None),
    ),
    (
        "web_config_noAuth.bad.yml",
        Bad("without a client_auth_type", Some(2)),
    ),
    // exporter-toolkit reads the (missing) CA file first; the policy error comes first here.
    (
        "web_config_auth_clientCAs_invalid.bad.yml",
        Bad("without a client_auth_type", Some(2)),
    ),
    (
        "web_config_auth_clientCAs_missing.bad.yml",
        Bad("needs client_ca_file", Some(4)),
    ),
    (
        "web_config_auth_user_list_invalid.bad.yml",
        Bad("is not a bcrypt hash", Some(5)),
    ),
    (
        "web_config_noAuth_inventedCiphers.bad.yml",
        Bad("unknown cipher suite", Some(6)),
    ),
    (
        "web_config_noAuth_inventedCurves.bad.yml",
        Bad("unknown curve", Some(6)),
    ),
    (
        "web_config_noAuth_wrongTLSVersion.bad.yml",
        Bad("TLS111", Some(5)),
    ),
    // VerifyClientCertIfGiven without a CA: no client certificate is asked for (Go would
    // verify one against the system's roots).
    (
        "web_config_noAuth.good.yml",
        Good {
            tls: true,
            users: &[],
        },
    ),
    // rustls has no CBC suites: refused by name rather than silently dropped.
    (
        "web_config_noAuth_allCiphers.good.yml",
        Bad(
            "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA is not supported by rustls",
            Some(15),
        ),
    ),
    (
        "web_config_noAuth_someCiphers.good.yml",
        Good {
            tls: true,
            users: &[],
        },
    ),
    (
        "web_config_noAuth_someCiphers_noOrder.good.yml",
        Good {
            tls: true,
            users: &[],
        },
    ),
    // The ring provider has no P-521.
    (
        "web_config_noAuth_allCurves.good.yml",
        Bad("CurveP521 is not supported", Some(8)),
    ),
    (
        "web_config_noAuth_someCurves.good.yml",
        Bad("CurveP521 is not supported", Some(7)),
    ),
    (
        "web_config_noAuth_noHTTP2.good.yml",
        Good {
            tls: true,
            users: &[],
        },
    ),
    // Go needs an HTTP/2 cipher when http2 is on; this endpoint speaks HTTP/1.1 only.
    (
        "web_config_noAuth_noHTTP2Cipher.bad.yml",
        Good {
            tls: true,
            users: &[],
        },
    ),
    (
        "web_config_headers.good.yml",
        Good {
            tls: false,
            users: &[],
        },
    ),
    (
        "web_config_headers_content_type_options.bad.yml",
        Bad("invalid value for X-Content-Type-Options", Some(3)),
    ),
    (
        "web_config_headers_frame_options.bad.yml",
        Bad("invalid value for X-Frame-Options", Some(3)),
    ),
    (
        "web_config_headers_extra_header.bad.yml",
        Bad("\"Content-Type\" can not be configured", Some(3)),
    ),
    (
        "tls_config_noAuth.requireanyclientcert.good.yml",
        Good {
            tls: true,
            users: &[],
        },
    ),
    (
        "tls_config_noAuth.requireandverifyclientcert.good.yml",
        Good {
            tls: true,
            users: &[],
        },
    ),
    (
        "web_config_noAuth.good.blocking.yml",
        Bad("needs client_ca_file", Some(4)),
    ),
    // Not implemented: refused, never ignored.
    (
        "web_config_auth_client_san.good.yaml",
        Bad("client_allowed_sans is not supported", Some(7)),
    ),
    (
        "web_config_auth_client_san.bad.yaml",
        Bad("client_allowed_sans is not supported", Some(7)),
    ),
    (
        "web_config_rate_limiter_nonblocking.yaml",
        Bad("rate_limit is not supported", Some(2)),
    ),
    (
        "web_config_rate_limiter_one_second.yaml",
        Bad("rate_limit is not supported", Some(2)),
    ),
    (
        "web_config_users.good.yml",
        Good {
            tls: true,
            users: &["alice", "bob", "carol", "dave"],
        },
    ),
    (
        "web_config_users_noTLS.good.yml",
        Good {
            tls: false,
            users: &["alice", "bob", "carol", "dave"],
        },
    ),
];

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/web-config")
}

fn check(name: &str, result: Result<WebConfig, WebConfigError>, expect: &Expect, path: &Path) {
    match (result, expect) {
        (Ok(c), Good { tls, users }) => {
            assert_eq!(c.tls_enabled(), *tls, "{name}: TLS");
            assert_eq!(c.user_names().collect::<Vec<_>>(), *users, "{name}: users");
            assert_eq!(c.path(), path);
        }
        (Ok(c), Bad(text, _)) => {
            panic!("{name}: accepted ({c:?}), should be refused with {text:?}")
        }
        (Err(e), Good { .. }) => panic!("{name}: refused: {e}"),
        (Err(e), Bad(text, line)) => {
            let shown = e.to_string();
            assert!(
                e.message().contains(text),
                "{name}: {shown:?} should say {text:?}"
            );
            assert_eq!(e.line(), *line, "{name}: line of {shown:?}");
            assert_eq!(e.path(), path, "{name}");
            // The one-line message names the file (and the line when known).
            assert!(shown.contains(&path.display().to_string()), "{shown}");
            if let Some(l) = line {
                assert!(shown.contains(&format!("line {l}")), "{shown}");
            }
        }
    }
}

#[test]
fn exporter_toolkit_corpus_gets_a_defined_answer_for_every_file() {
    let pki = tls_support::make_pki("corpus");
    std::fs::copy(&pki.client_ca, pki.dir.join("client_selfsigned.pem")).unwrap();
    std::fs::copy(&pki.rogue_cert, pki.dir.join("client2_selfsigned.pem")).unwrap();
    let mut seen = 0;
    for entry in std::fs::read_dir(corpus_dir()).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if !(name.ends_with(".yml") || name.ends_with(".yaml")) {
            continue;
        }
        let (_, expect) = CORPUS
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("{name} is in the corpus but not in the table"));
        let path = pki.dir.join(&name);
        std::fs::copy(entry.path(), &path).unwrap();
        check(&name, WebConfig::load(&path), expect, &path);
        seen += 1;
    }
    assert_eq!(seen, CORPUS.len(), "every table entry has its file");
}

#[test]
fn a_missing_file_is_an_error_naming_it() {
    let path = Path::new("/nonexistent/aureon/web.yml");
    let e = WebConfig::load(path).unwrap_err();
    assert_eq!(e.path(), path);
    assert_eq!(e.line(), None);
    assert!(e.message().contains("cannot read it"), "{e}");
    let io: std::io::Error = e.into();
    assert_eq!(io.kind(), std::io::ErrorKind::InvalidInput);
}

#[test]
fn hand_written_bad_files_are_refused_at_their_line() {
    let path = Path::new("/etc/aureon/web.yml");
    let hash = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi";
    let cases: &[(&str, &str, Option<u64>)] = &[
        ("basic_auth_users: [alice]\n", "expected mapping", Some(1)),
        (
            "basic_auth_users:\n  alice: x\n  alice: y\n",
            "duplicate",
            Some(3),
        ),
        (
            "tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS13\n  max_version: TLS12\n",
            "min_version TLS13 is above max_version TLS12",
            Some(4),
        ),
        (
            "tls_server_config:\n  cert_file: a\n  key_file: b\n  max_version: TLS11\n",
            "rustls supports only TLS12 and TLS13",
            Some(4),
        ),
        (
            "tls_server_config:\n  cert_file: a\n  key_file: b\n  cipher_suites: [TLS_RSA_WITH_RC4_128_SHA]\n",
            "not supported by rustls",
            Some(4),
        ),
        (
            "tls_server_config:\n  cert_file: a\n  key_file: b\n  curve_preferences: [X25519MLKEM768]\n",
            "not supported",
            Some(4),
        ),
        (
            "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: Sometimes\n",
            "unknown variant `Sometimes`",
            Some(4),
        ),
        ("http_server_config:\n  http3: true\n", "http3", Some(2)),
        (
            "http_server_config:\n  headers:\n    X-Frame-Options: allow\n",
            "invalid value for X-Frame-Options",
            Some(3),
        ),
        ("tls_server_config: [1, 2\n", "", None),
        ("a: &a [*a, *a]\n", "", None),
        ("? [1, 2]\n: x\n", "", None),
        ("\u{feff}tls_server_config:\n  bogus: 1\n", "bogus", Some(2)),
    ];
    for (text, wanted, line) in cases {
        let e = WebConfig::parse(text, path).unwrap_err();
        assert!(e.message().contains(wanted), "{text:?}: {e}");
        if line.is_some() {
            assert_eq!(e.line(), *line, "{text:?}: {e}");
        }
        assert!(!e.message().is_empty(), "{text:?}");
    }
    // And what is good parses, with relative paths resolved against the file's directory.
    let good = format!(
        "# comment\ntls_server_config:\n  cert_file: tls/server.crt\n  key_file: /abs/server.key\n  \
         client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n  min_version: TLS13\n\
         basic_auth_users:\n  prometheus: '{hash}'\nhttp_server_config:\n  http2: false\n  headers:\n    \
         X-Content-Type-Options: nosniff\n"
    );
    let c = WebConfig::parse(&good, path).unwrap();
    assert!(c.tls_enabled() && c.auth_enabled());
    assert_eq!(c.user_names().collect::<Vec<_>>(), ["prometheus"]);
    // A `tls_server_config` with nothing in it is no TLS (as in exporter-toolkit).
    let c = WebConfig::parse("tls_server_config:\n  min_version: TLS12\n", path).unwrap();
    assert!(!c.tls_enabled());
    let c = WebConfig::parse("tls_server_config:\n", path).unwrap();
    assert!(!c.tls_enabled());
}

#[test]
fn inline_certificates_and_keys_load() {
    let pki = tls_support::make_pki("inline");
    let indent = |p: &Path| {
        std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .map(|l| format!("    {l}\n"))
            .collect::<String>()
    };
    let text = format!(
        "tls_server_config:\n  cert: |\n{}  key: |\n{}  client_auth_type: RequireAndVerifyClientCert\n  client_ca: |\n{}",
        indent(&pki.server_cert),
        indent(&pki.server_key),
        indent(&pki.client_ca)
    );
    let path = pki.dir.join("inline.yml");
    std::fs::write(&path, &text).unwrap();
    let c = WebConfig::load(&path).unwrap();
    assert!(c.tls_enabled());
    // A key that does not belong to the certificate is refused when loading.
    let text = "tls_server_config:\n  cert_file: server.crt\n  key_file: client.key\n";
    std::fs::write(&path, text).unwrap();
    let e = WebConfig::load(&path).unwrap_err();
    assert!(e.message().contains("do not make a usable pair"), "{e}");
    // A certificate file with no certificate in it.
    std::fs::write(pki.dir.join("empty.crt"), "nothing here\n").unwrap();
    std::fs::write(
        &path,
        "tls_server_config:\n  cert_file: empty.crt\n  key_file: server.key\n",
    )
    .unwrap();
    let e = WebConfig::load(&path).unwrap_err();
    assert!(e.message().contains("no PEM certificate"), "{e}");
    // A key file with no key.
    std::fs::write(
        &path,
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.crt\n",
    )
    .unwrap();
    let e = WebConfig::load(&path).unwrap_err();
    assert!(e.message().contains("no usable PEM private key"), "{e}");
}
