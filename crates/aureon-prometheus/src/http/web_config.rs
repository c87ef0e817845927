//! [`WebConfig`]: the web configuration file of the Prometheus exporter-toolkit
//! (`--web.config.file`, the format of node_exporter and every exporter built on it), parsed
//! and checked: TLS (`tls_server_config`), basic auth (`basic_auth_users`) and response
//! headers (`http_server_config`).
//!
//! The YAML is read with `serde-saphyr`: pure Rust (no libyaml translated to unsafe Rust, as
//! in the `serde_yaml` forks), maintained (`serde_yaml` itself is archived, `serde_yml` is
//! flagged unsound), panic-free by design, with a budget against alias bombs, and its errors
//! carry the line and column. As in exporter-toolkit (`yaml.UnmarshalStrict`), an unknown
//! field or a duplicate key is an error, never silently ignored: a misspelt `cert_file`
//! must not turn TLS off.
//!
//! Where this implementation differs from exporter-toolkit (Go's TLS stack versus rustls),
//! the file is refused with a message saying so rather than half-applied:
//! * `cipher_suites`: rustls implements only the AEAD suites (AES-GCM, ChaCha20-Poly1305);
//!   naming a CBC, RC4 or 3DES suite is an error. TLS 1.3 names are accepted and, as in Go,
//!   change nothing (TLS 1.3 suites are not configurable).
//! * `curve_preferences`: `X25519`, `CurveP256` and `CurveP384`; `CurveP521` and
//!   `X25519MLKEM768` are not in the ring provider and are an error.
//! * `min_version` `TLS10`/`TLS11` are accepted but rustls never negotiates below TLS 1.2;
//!   a `max_version` below `TLS12` is an error.
//! * `VerifyClientCertIfGiven` without a client CA asks for no client certificate (Go would
//!   verify one against the system's roots, which lets a certificate from any public CA
//!   in); `RequireAndVerifyClientCert` without one is an error, as in Go.
//! * `client_allowed_sans` and `rate_limit` are not implemented: an error, not ignored.
//! * `http_server_config.http2` is accepted and has no effect: the endpoint speaks
//!   HTTP/1.1 only (it offers `http/1.1` by ALPN, which every Prometheus accepts).

use bcrypt::HashParts;
use rustls::SupportedCipherSuite;
use rustls::crypto::SupportedKxGroup;
use rustls::crypto::ring as provider;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_saphyr::{Location, Spanned};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The response headers a web configuration file may set, and the values allowed for those
/// that are enumerations (an empty list allows any value) — exporter-toolkit's list, so that
/// a file valid for one exporter is valid for all.
const CONFIGURABLE_HEADERS: [(&str, &[&str]); 5] = [
    ("Strict-Transport-Security", &[]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-XSS-Protection", &[]),
    ("Content-Security-Policy", &[]),
];

/// Cipher suites Go knows that rustls does not implement (so the message can say
/// "unsupported" rather than "unknown").
const GO_ONLY_CIPHER_SUITES: [&str; 16] = [
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_RC4_128_SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
];

/// TLS 1.3 suite names as Go spells them: accepted, no effect (as in Go).
const TLS13_CIPHER_SUITES: [&str; 3] = [
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
];

/// A web configuration file that parsed and passed every check (see the module
/// docs of `src/http/web_config.rs`, which list the differences from exporter-toolkit));
/// [`WebConfig::load`] has also loaded its certificates and keys once.
///
/// ```
/// use aureon_prometheus::http::WebConfig;
/// use std::path::Path;
/// let text = "basic_auth_users:\n  prometheus: $2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi\n";
/// let config = WebConfig::parse(text, Path::new("/etc/aureon/web.yml")).unwrap();
/// assert!(!config.tls_enabled());
/// assert_eq!(config.user_names().collect::<Vec<_>>(), ["prometheus"]);
///
/// let e = WebConfig::parse("tls_server_config:\n  cert_filse: a.crt\n", Path::new("web.yml"))
///     .unwrap_err();
/// assert_eq!(e.line(), Some(2));
/// assert!(e.to_string().contains("cert_filse"), "{e}");
/// ```
#[derive(Clone)]
pub struct WebConfig {
    path: PathBuf,
    pub(super) tls: Option<TlsSettings>,
    /// User name -> bcrypt hash.
    pub(super) users: BTreeMap<String, String>,
    /// Extra response headers, checked against [`CONFIGURABLE_HEADERS`].
    pub(super) headers: Vec<(String, String)>,
}

impl fmt::Debug for WebConfig {
    // Hashes and inline keys stay out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebConfig")
            .field("path", &self.path)
            .field("tls", &self.tls_enabled())
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .field("headers", &self.headers)
            .finish()
    }
}

/// Where a PEM document comes from: a file (relative paths are relative to the web
/// configuration file's directory, as in exporter-toolkit) or the file itself (`cert:`,
/// `key:`, `client_ca:`).
#[derive(Clone)]
pub(super) enum Pem {
    File(PathBuf),
    Inline(String),
}

/// `client_auth_type`, with exporter-toolkit's five values (and its old alias
/// `RequireClientCert`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub(super) enum ClientAuth {
    /// No client certificate asked for (also the empty string).
    #[serde(alias = "")]
    NoClientCert,
    /// Asked for, not required, not verified.
    RequestClientCert,
    /// Required, not verified against a CA.
    #[serde(alias = "RequireClientCert")]
    RequireAnyClientCert,
    /// Verified against the client CA when given.
    VerifyClientCertIfGiven,
    /// Required and verified against the client CA.
    RequireAndVerifyClientCert,
}

/// `min_version` / `max_version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
pub(super) enum TlsVersion {
    TLS10,
    TLS11,
    TLS12,
    TLS13,
}

/// A checked `tls_server_config`.
#[derive(Clone)]
pub(super) struct TlsSettings {
    pub(super) cert: Pem,
    pub(super) key: Pem,
    pub(super) client_ca: Option<Pem>,
    pub(super) client_auth: ClientAuth,
    pub(super) min_version: TlsVersion,
    pub(super) max_version: TlsVersion,
    /// TLS 1.2 suites to offer, in order; `None` for the provider's default list.
    pub(super) cipher_suites: Option<Vec<SupportedCipherSuite>>,
    /// Key exchange groups, in order; `None` for the provider's default list.
    pub(super) kx_groups: Option<Vec<&'static dyn SupportedKxGroup>>,
    pub(super) prefer_server_cipher_suites: bool,
}

impl TlsSettings {
    /// The files this configuration reads (watched for changes).
    pub(super) fn files(&self) -> impl Iterator<Item = &Path> {
        [Some(&self.cert), Some(&self.key), self.client_ca.as_ref()]
            .into_iter()
            .flatten()
            .filter_map(|p| match p {
                Pem::File(f) => Some(f.as_path()),
                Pem::Inline(_) => None,
            })
    }
}

/// Why a web configuration file was refused: the file, the line and column when the problem
/// is at a place in it, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebConfigError {
    path: PathBuf,
    line: Option<u64>,
    column: Option<u64>,
    message: String,
}

impl WebConfigError {
    fn at(path: &Path, location: Option<Location>, message: impl Into<String>) -> Self {
        let location = location.filter(|l| l.line() > 0);
        Self {
            path: path.to_path_buf(),
            line: location.map(|l| l.line()),
            column: location.map(|l| l.column()),
            message: message.into(),
        }
    }

    /// The web configuration file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The line (from 1) of the problem, when it is at a place in the file.
    pub fn line(&self) -> Option<u64> {
        self.line
    }

    /// The column (from 1) of the problem, with [`WebConfigError::line`].
    pub fn column(&self) -> Option<u64> {
        self.column
    }

    /// What is wrong, without the place.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for WebConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "web config file {}", self.path.display())?;
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, ", line {l} column {c}")?,
            (Some(l), None) => write!(f, ", line {l}")?,
            _ => {}
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for WebConfigError {}

impl From<WebConfigError> for std::io::Error {
    fn from(e: WebConfigError) -> Self {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, e)
    }
}

// --- the file as written -----------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    tls_server_config: Option<Spanned<RawTls>>,
    #[serde(default)]
    http_server_config: Option<RawHttp>,
    #[serde(default)]
    basic_auth_users: Option<BTreeMap<String, Spanned<String>>>,
    #[serde(default)]
    rate_limit: Option<Spanned<IgnoredAny>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    #[serde(default)]
    cert: Option<String>,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    client_ca: Option<String>,
    #[serde(default)]
    cert_file: Option<String>,
    #[serde(default)]
    key_file: Option<String>,
    #[serde(default)]
    client_auth_type: Option<Spanned<ClientAuth>>,
    #[serde(default)]
    client_ca_file: Option<String>,
    #[serde(default)]
    cipher_suites: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    curve_preferences: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    min_version: Option<Spanned<TlsVersion>>,
    #[serde(default)]
    max_version: Option<Spanned<TlsVersion>>,
    #[serde(default)]
    prefer_server_cipher_suites: Option<bool>,
    #[serde(default)]
    client_allowed_sans: Option<Spanned<IgnoredAny>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    #[serde(default)]
    headers: Option<BTreeMap<String, Spanned<String>>>,
    #[serde(default)]
    #[allow(dead_code)] // accepted for compatibility; HTTP/1.1 only (module docs)
    http2: Option<bool>,
}

impl WebConfig {
    /// Reads and checks the file at `path`, and loads the certificates, keys and client CAs
    /// it names once, so that every problem shows now rather than at the first connection.
    ///
    /// # Errors
    /// The file cannot be read, is not valid YAML, has an unknown field or a wrong value, or
    /// a certificate or key it names cannot be loaded; the error names the file, the line
    /// when there is one, and what is wrong.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, WebConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| WebConfigError::at(path, None, format!("cannot read it: {e}")))?;
        let config = Self::parse(&text, path)?;
        if let Some(tls) = &config.tls {
            super::tls::server_config(tls).map_err(|e| WebConfigError::at(path, None, e))?;
        }
        Ok(config)
    }

    /// Parses and checks `text` as if read from `path` (used in messages, and as the base of
    /// relative file names); reads no file, so certificates are checked only by
    /// [`WebConfig::load`].
    ///
    /// # Errors
    /// As for [`WebConfig::load`], except that no file is read.
    pub fn parse(text: &str, path: &Path) -> Result<Self, WebConfigError> {
        let raw: Option<RawConfig> = if text.trim().is_empty() {
            None
        } else {
            serde_saphyr::from_str(text)
                .map_err(|e| WebConfigError::at(path, e.location(), plain_message(&e)))?
        };
        let Some(raw) = raw else {
            // An empty file: no TLS, no users (exporter-toolkit accepts it too).
            return Ok(Self {
                path: path.to_path_buf(),
                tls: None,
                users: BTreeMap::new(),
                headers: Vec::new(),
            });
        };
        let err = |loc: Location, msg: String| WebConfigError::at(path, Some(loc), msg);
        if let Some(r) = raw.rate_limit {
            return Err(err(
                r.referenced,
                "rate_limit is not supported by this exporter; remove it (the endpoint's own \
                 connection limits apply)"
                    .into(),
            ));
        }
        let base = path.parent().unwrap_or(Path::new(""));
        let tls = match raw.tls_server_config {
            Some(t) => check_tls(t, base, &err)?,
            None => None,
        };
        let mut users = BTreeMap::new();
        for (user, hash) in raw.basic_auth_users.unwrap_or_default() {
            HashParts::from_str(&hash.value).map_err(|e| {
                err(
                    hash.referenced,
                    format!(
                        "the password of basic_auth_users {user:?} is not a bcrypt hash ({e}); \
                         store `htpasswd -nBC 10 \"\" | tr -d ':\\n'` output, not the password"
                    ),
                )
            })?;
            users.insert(user, hash.value);
        }
        let mut headers = Vec::new();
        for (name, value) in raw
            .http_server_config
            .and_then(|h| h.headers)
            .unwrap_or_default()
        {
            let Some((_, allowed)) = CONFIGURABLE_HEADERS.iter().find(|(n, _)| *n == name) else {
                let names: Vec<&str> = CONFIGURABLE_HEADERS.iter().map(|(n, _)| *n).collect();
                return Err(err(
                    value.referenced,
                    format!("HTTP header {name:?} can not be configured (only {names:?})"),
                ));
            };
            if !allowed.is_empty() && !allowed.contains(&value.value.as_str()) {
                return Err(err(
                    value.referenced,
                    format!(
                        "invalid value for {name}: expected one of {allowed:?}, got {:?}",
                        value.value
                    ),
                ));
            }
            if hyper::header::HeaderValue::from_str(&value.value).is_err() {
                return Err(err(
                    value.referenced,
                    format!("the value of {name} is not a valid HTTP header value"),
                ));
            }
            headers.push((name, value.value));
        }
        Ok(Self {
            path: path.to_path_buf(),
            tls,
            users,
            headers,
        })
    }

    /// The file this configuration was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the endpoint serves TLS (`tls_server_config` present).
    pub fn tls_enabled(&self) -> bool {
        self.tls.is_some()
    }

    /// Whether requests need basic-auth credentials (`basic_auth_users` not empty).
    pub fn auth_enabled(&self) -> bool {
        !self.users.is_empty()
    }

    /// The users of `basic_auth_users`, sorted.
    pub fn user_names(&self) -> impl Iterator<Item = &str> {
        self.users.keys().map(String::as_str)
    }

    /// Every file this configuration depends on: the file itself, then the certificate, key
    /// and client CA files it names.
    pub(super) fn files(&self) -> Vec<PathBuf> {
        let mut files = vec![self.path.clone()];
        if let Some(tls) = &self.tls {
            files.extend(tls.files().map(Path::to_path_buf));
        }
        files
    }
}

/// serde-saphyr's message without its own location suffix (we print ours).
fn plain_message(e: &serde_saphyr::Error) -> String {
    let text = e.to_string();
    // The location is reported separately; keep the first line (the rest is a snippet)
    // without its "error: line L column C: " prefix.
    let mut first = text.lines().next().unwrap_or("invalid YAML").trim();
    first = first.strip_prefix("error:").unwrap_or(first).trim_start();
    if first.starts_with("line ")
        && let Some((_, rest)) = first.split_once(": ")
    {
        first = rest;
    }
    // Some scanner errors end with the place again ("… at line 31, column 1").
    if let Some((message, place)) = first.rsplit_once(" at line ")
        && place.split_once(", column ").is_some_and(|(l, c)| {
            !l.is_empty() && l.bytes().chain(c.bytes()).all(|b| b.is_ascii_digit())
        })
    {
        first = message;
    }
    // Advice about the parser's own options means nothing to someone editing the file.
    first
        .replace(", set DuplicateKeyPolicy in Options if acceptable", "")
        .to_owned()
}

fn check_tls(
    t: Spanned<RawTls>,
    base: &Path,
    err: &dyn Fn(Location, String) -> WebConfigError,
) -> Result<Option<TlsSettings>, WebConfigError> {
    let at = t.referenced;
    let t = t.value;
    let non_empty = |s: Option<String>| s.filter(|s| !s.is_empty());
    let file = |s: Option<String>| non_empty(s).map(|f| Pem::File(base.join(f)));
    let inline = |s: Option<String>| non_empty(s).map(Pem::Inline);
    if let Some(s) = t.client_allowed_sans {
        return Err(err(
            s.referenced,
            "client_allowed_sans is not supported by this exporter; use a client CA that \
             signs only the scrapers' certificates"
                .into(),
        ));
    }
    let cert = file(t.cert_file).or(inline(t.cert));
    let key = file(t.key_file).or(inline(t.key));
    let client_ca = file(t.client_ca_file).or(inline(t.client_ca));
    let client_auth = t
        .client_auth_type
        .as_ref()
        .map_or(ClientAuth::NoClientCert, |c| c.value);
    let auth_at = t.client_auth_type.as_ref().map_or(at, |c| c.referenced);
    let enabled =
        cert.is_some() || key.is_some() || client_ca.is_some() || t.client_auth_type.is_some();
    if !enabled {
        // As in exporter-toolkit: a `tls_server_config` with nothing in it is no TLS.
        return Ok(None);
    }
    let Some(cert) = cert else {
        return Err(err(
            at,
            "tls_server_config: missing one of cert or cert_file".into(),
        ));
    };
    let Some(key) = key else {
        return Err(err(
            at,
            "tls_server_config: missing one of key or key_file".into(),
        ));
    };
    match (client_auth, client_ca.is_some()) {
        (ClientAuth::NoClientCert, true) => {
            return Err(err(
                at,
                "client CA's have been configured without a client_auth_type".into(),
            ));
        }
        (ClientAuth::RequireAndVerifyClientCert, false) => {
            return Err(err(
                auth_at,
                format!("client_auth_type {client_auth:?} needs client_ca_file (or client_ca)"),
            ));
        }
        _ => {}
    }
    let min_version = t
        .min_version
        .as_ref()
        .map_or(TlsVersion::TLS12, |v| v.value);
    let max_version = t
        .max_version
        .as_ref()
        .map_or(TlsVersion::TLS13, |v| v.value);
    if let Some(v) = &t.max_version
        && v.value < TlsVersion::TLS12
    {
        return Err(err(
            v.referenced,
            format!(
                "max_version {:?}: rustls supports only TLS12 and TLS13",
                v.value
            ),
        ));
    }
    if min_version > max_version {
        let loc = t.min_version.as_ref().map_or(at, |v| v.referenced);
        return Err(err(
            loc,
            format!("min_version {min_version:?} is above max_version {max_version:?}"),
        ));
    }
    let cipher_suites = match t.cipher_suites {
        None => None,
        Some(names) => {
            let mut suites = Vec::new();
            for name in names {
                let found = provider::ALL_CIPHER_SUITES
                    .iter()
                    .filter(|s| s.tls13().is_none())
                    .find(|s| format!("{:?}", s.suite()) == name.value);
                match found {
                    Some(s) => suites.push(*s),
                    None if TLS13_CIPHER_SUITES.contains(&name.value.as_str()) => {}
                    None if GO_ONLY_CIPHER_SUITES.contains(&name.value.as_str()) => {
                        return Err(err(
                            name.referenced,
                            format!(
                                "cipher suite {} is not supported by rustls, which implements \
                                 only the AEAD suites (ECDHE with AES-GCM or ChaCha20-Poly1305)",
                                name.value
                            ),
                        ));
                    }
                    None => {
                        return Err(err(
                            name.referenced,
                            format!("unknown cipher suite {:?}", name.value),
                        ));
                    }
                }
            }
            Some(suites)
        }
    };
    let kx_groups = match t.curve_preferences {
        None => None,
        Some(names) => {
            let mut groups: Vec<&'static dyn SupportedKxGroup> = Vec::new();
            for name in names {
                let group: &'static dyn SupportedKxGroup = match name.value.as_str() {
                    "X25519" => provider::kx_group::X25519,
                    "CurveP256" => provider::kx_group::SECP256R1,
                    "CurveP384" => provider::kx_group::SECP384R1,
                    "CurveP521" | "X25519MLKEM768" => {
                        return Err(err(
                            name.referenced,
                            format!(
                                "curve {} is not supported by this exporter's TLS provider \
                                 (ring); use X25519, CurveP256 or CurveP384",
                                name.value
                            ),
                        ));
                    }
                    other => {
                        return Err(err(name.referenced, format!("unknown curve {other:?}")));
                    }
                };
                groups.push(group);
            }
            Some(groups)
        }
    };
    Ok(Some(TlsSettings {
        cert,
        key,
        client_ca,
        client_auth,
        min_version,
        max_version,
        cipher_suites,
        kx_groups,
        prefer_server_cipher_suites: t.prefer_server_cipher_suites.unwrap_or(true),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `web_config` fuzz target: YAML ends a line at a lone `\r` too (YAML 1.2
    /// line breaks are `\r\n`, `\r` and `\n`), so a file with lone carriage returns gets its
    /// errors at YAML's line numbers, which an old-Mac-style editor shows and `wc -l` does
    /// not. The error still names the file, a line and a column, and what is wrong.
    #[test]
    fn lone_carriage_returns_end_lines_as_yaml_says() {
        let text = "tls_server_config:\r  cert_file: a.crt\r  bogus line\r";
        let e = WebConfig::parse(text, Path::new("web.yml")).unwrap_err();
        assert_eq!(e.path(), Path::new("web.yml"));
        assert!(matches!(e.line(), Some(2..=4)), "{e}");
        assert!(e.column().is_some(), "{e}");
        assert!(!e.message().is_empty());
        assert!(!e.message().contains(" at line "), "the place once: {e}");
    }
}
