//! Certificates made for one test run (rcgen: a server CA, a server certificate for
//! `127.0.0.1`/`localhost`, a client CA with a client certificate, and a second client from
//! another CA that must be refused), written as PEM files in a fresh directory; and a small
//! blocking HTTPS client (rustls over a loopback `TcpStream`) that reads responses with the
//! raw parser of `http_support`.

#![allow(dead_code)] // each test file uses a different part of it

use crate::http_support::{self, Response};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

/// The PEM files of one run, in `dir`.
pub struct Pki {
    pub dir: PathBuf,
    /// The CA that signed the server certificate (what clients trust).
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    /// The CA of the scrapers' certificates (what the server trusts with mTLS).
    pub client_ca: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// A client certificate signed by another CA (must be refused).
    pub rogue_cert: PathBuf,
    pub rogue_key: PathBuf,
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

fn leaf(
    issuer: &CertifiedIssuer<'static, KeyPair>,
    names: &[&str],
    usage: ExtendedKeyUsagePurpose,
) -> (String, String) {
    let mut params =
        CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name.push(DnType::CommonName, names[0]);
    params.extended_key_usages = vec![usage];
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

/// Makes a fresh set of certificates in a new directory under the system's temp dir.
pub fn make_pki(tag: &str) -> Pki {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "aureon-tls-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let server_ca = ca("aureon test server CA");
    let (server_cert, server_key) = leaf(
        &server_ca,
        &["127.0.0.1", "localhost"],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let client_ca = ca("aureon test client CA");
    let (client_cert, client_key) = leaf(
        &client_ca,
        &["prometheus-scraper"],
        ExtendedKeyUsagePurpose::ClientAuth,
    );
    let rogue_ca = ca("some other CA");
    let (rogue_cert, rogue_key) = leaf(
        &rogue_ca,
        &["prometheus-scraper"],
        ExtendedKeyUsagePurpose::ClientAuth,
    );
    Pki {
        ca: write("ca.crt", &server_ca.pem()),
        server_cert: write("server.crt", &server_cert),
        server_key: write("server.key", &server_key),
        client_ca: write("client-ca.crt", &client_ca.pem()),
        client_cert: write("client.crt", &client_cert),
        client_key: write("client.key", &client_key),
        rogue_cert: write("rogue.crt", &rogue_cert),
        rogue_key: write("rogue.key", &rogue_key),
        dir,
    }
}

/// A TLS client trusting `ca`, presenting `client` (certificate, key files) when given.
pub fn client_config(ca: &Path, client: Option<(&Path, &Path)>) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let mut config = match client {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let certs: Vec<_> = CertificateDer::pem_file_iter(cert)
                .unwrap()
                .map(Result::unwrap)
                .collect();
            let key = PrivateKeyDer::from_pem_file(key).unwrap();
            builder.with_client_auth_cert(certs, key).unwrap()
        }
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(config)
}

/// `GET path` over TLS with extra header lines; the handshake or I/O error if any.
pub fn https_get(
    addr: SocketAddr,
    config: &Arc<ClientConfig>,
    path: &str,
    headers: &[&str],
) -> io::Result<Response> {
    let tcp = http_support::connect(addr);
    let name = ServerName::IpAddress(addr.ip().into());
    let conn = ClientConnection::new(Arc::clone(config), name).map_err(io::Error::other)?;
    let mut tls = StreamOwned::new(conn, tcp);
    let mut raw = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for h in headers {
        raw.push_str(h);
        raw.push_str("\r\n");
    }
    raw.push_str("\r\n");
    tls.write_all(raw.as_bytes())?;
    tls.flush()?;
    http_support::read_response(&mut tls, false)
}

/// The `Authorization` header line for `user:password`.
pub fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    format!(
        "Authorization: Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// Writes `text` to `path` through a temporary file and a rename, as configuration
/// management tools do, so that the server never reads half a file.
pub fn replace_file(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}
