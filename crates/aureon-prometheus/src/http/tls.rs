//! From a checked `tls_server_config` to a rustls server configuration: certificates and
//! keys loaded from PEM, the client-certificate policy, versions, suites and groups.
//!
//! rustls with the ring provider: it builds with a C compiler alone (aws-lc-rs needs cmake
//! and, for some targets, nasm), and covers every suite and group exporter-toolkit users
//! ask for except the ones the web configuration parser refuses by name.

use super::web_config::{ClientAuth, Pem, TlsSettings, TlsVersion};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms, ring};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme,
};
use std::sync::Arc;

/// Builds the rustls configuration, reading the PEM files it names.
///
/// # Errors
/// A message naming the file or field and what is wrong with it.
pub(super) fn server_config(t: &TlsSettings) -> Result<Arc<ServerConfig>, String> {
    let mut provider = ring::default_provider();
    if let Some(suites) = &t.cipher_suites {
        // TLS 1.3 suites stay (not configurable, as in Go); TLS 1.2 ones are those named.
        let mut chosen: Vec<_> = provider
            .cipher_suites
            .iter()
            .filter(|s| s.tls13().is_some())
            .copied()
            .collect();
        chosen.extend(suites.iter().copied());
        if suites.is_empty() && t.max_version < TlsVersion::TLS13 {
            return Err(
                "cipher_suites names no TLS 1.2 suite and max_version is TLS12: no connection could be made"
                    .into(),
            );
        }
        provider.cipher_suites = chosen;
    }
    if let Some(groups) = &t.kx_groups {
        provider.kx_groups = groups.clone();
    }
    let provider = Arc::new(provider);
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = [
        (TlsVersion::TLS12, &rustls::version::TLS12),
        (TlsVersion::TLS13, &rustls::version::TLS13),
    ]
    .into_iter()
    .filter(|(v, _)| (t.min_version..=t.max_version).contains(v))
    .map(|(_, p)| p)
    .collect();
    let certs = load_certs(&t.cert, "cert_file")?;
    let key = load_key(&t.key)?;
    let verifier = client_verifier(t, &provider)?;
    let mut config = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&versions)
        .map_err(|e| format!("TLS versions: {e}"))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(|e| format!("cert_file and key_file do not make a usable pair: {e}"))?;
    config.ignore_client_order = t.prefer_server_cipher_suites;
    // HTTP/1.1 only: a client offering h2 and http/1.1 (Prometheus) picks http/1.1.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn describe(pem: &Pem, field: &str) -> String {
    match pem {
        Pem::File(f) => format!("{field} {}", f.display()),
        Pem::Inline(_) => field.trim_end_matches("_file").to_owned(),
    }
}

fn read(pem: &Pem, field: &str) -> Result<Vec<u8>, String> {
    match pem {
        Pem::File(f) => {
            std::fs::read(f).map_err(|e| format!("cannot read {}: {e}", describe(pem, field)))
        }
        Pem::Inline(text) => Ok(text.as_bytes().to_vec()),
    }
}

fn load_certs(pem: &Pem, field: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let data = read(pem, field)?;
    let certs = CertificateDer::pem_slice_iter(&data)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: not PEM certificates: {e}", describe(pem, field)))?;
    if certs.is_empty() {
        return Err(format!(
            "{}: no PEM certificate (-----BEGIN CERTIFICATE-----) in it",
            describe(pem, field)
        ));
    }
    Ok(certs)
}

fn load_key(pem: &Pem) -> Result<PrivateKeyDer<'static>, String> {
    let data = read(pem, "key_file")?;
    PrivateKeyDer::from_pem_slice(&data).map_err(|e| {
        format!(
            "{}: no usable PEM private key (PKCS#8, PKCS#1 or SEC1): {e}",
            describe(pem, "key_file")
        )
    })
}

fn client_verifier(
    t: &TlsSettings,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>, String> {
    let roots = || -> Result<Arc<RootCertStore>, String> {
        let pem = t
            .client_ca
            .as_ref()
            .ok_or("client_auth_type needs client_ca_file")?;
        let mut store = RootCertStore::empty();
        for cert in load_certs(pem, "client_ca_file")? {
            store.add(cert).map_err(|e| {
                format!(
                    "{}: not a usable CA certificate: {e}",
                    describe(pem, "client_ca_file")
                )
            })?;
        }
        Ok(Arc::new(store))
    };
    let webpki = |allow_unauthenticated: bool| -> Result<Arc<dyn ClientCertVerifier>, String> {
        let builder = WebPkiClientVerifier::builder_with_provider(roots()?, Arc::clone(provider));
        let builder = if allow_unauthenticated {
            builder.allow_unauthenticated()
        } else {
            builder
        };
        builder.build().map_err(|e| format!("client_ca_file: {e}"))
    };
    Ok(match t.client_auth {
        ClientAuth::NoClientCert => WebPkiClientVerifier::no_client_auth(),
        ClientAuth::RequestClientCert | ClientAuth::RequireAnyClientCert => {
            if let Some(pem) = &t.client_ca {
                // Go reads it even though these modes verify nothing: a broken file is an error.
                load_certs(pem, "client_ca_file")?;
            }
            Arc::new(AnyClientCert {
                mandatory: t.client_auth == ClientAuth::RequireAnyClientCert,
                algorithms: provider.signature_verification_algorithms,
            })
        }
        // Without a CA nothing could verify a certificate: none is asked for.
        ClientAuth::VerifyClientCertIfGiven if t.client_ca.is_none() => {
            WebPkiClientVerifier::no_client_auth()
        }
        ClientAuth::VerifyClientCertIfGiven => webpki(true)?,
        ClientAuth::RequireAndVerifyClientCert => webpki(false)?,
    })
}

/// `RequestClientCert` / `RequireAnyClientCert`: any certificate is taken without checking
/// who issued it (as Go does), but the client must still prove it holds its key (the
/// handshake signature is verified).
#[derive(Debug)]
struct AnyClientCert {
    mandatory: bool,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for AnyClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
