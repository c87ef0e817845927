//! The HTTP client side: a [`Transport`] sends one request and returns the receiver's
//! answer. [`HttpTransport`] is the real one (ureq over rustls, with the operator's CA,
//! client certificate and credentials); tests and embedders may supply their own.

use crate::protocol::{Method, PushRequest, Response};
use std::fmt;
use std::path::Path;
use std::time::Duration;

/// The most of a response body that is read (receivers put error messages there).
pub(crate) const MAX_RESPONSE_BODY: u64 = 64 << 10;

/// A request that got no HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportError {
    /// Whether sending again can help (connection refused, timeout, reset) or not (a URL
    /// that cannot be parsed, a scheme that is not http or https).
    pub retryable: bool,
    /// What happened.
    pub message: String,
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TransportError {}

/// Sends requests. Implementations must bound the time one request can take (the sender's
/// progress and its shutdown deadline depend on it).
pub trait Transport: Send + 'static {
    /// Sends `request`, waiting at most `timeout` for the whole exchange.
    fn send(
        &mut self,
        request: &PushRequest,
        timeout: Duration,
    ) -> Result<Response, TransportError>;
}

/// The HTTP/1.1 transport: ureq with rustls (TLS 1.2 and 1.3, the Mozilla roots unless a CA
/// file is given), optional client certificate (mTLS) and credentials on every request.
pub struct HttpTransport {
    tls: Option<ureq::tls::TlsConfig>,
    /// The agent built for the last timeout asked for (rebuilt when it changes).
    agent: Option<(Duration, ureq::Agent)>,
    authorization: Option<String>,
}

impl fmt::Debug for HttpTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpTransport")
            .field("custom_tls", &self.tls.is_some())
            .field(
                "authorization",
                &self.authorization.as_ref().map(|_| "<set>"),
            )
            .finish()
    }
}

impl Default for HttpTransport {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpTransport {
    /// Plain HTTP and HTTPS with the built-in roots, no credentials.
    pub fn new() -> Self {
        Self {
            tls: None,
            agent: None,
            authorization: None,
        }
    }

    /// Sends `Authorization: Basic …` with every request.
    pub fn basic_auth(mut self, user: &str, password: &str) -> Self {
        use base64::Engine as _;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        self.authorization = Some(format!("Basic {token}"));
        self
    }

    /// Sends `Authorization: Bearer <token>` with every request.
    pub fn bearer_token(mut self, token: &str) -> Self {
        self.authorization = Some(format!("Bearer {token}"));
        self
    }

    /// Trusts the certificates of a PEM file (instead of the built-in roots) and, when
    /// given, presents a client certificate and key (PEM files) for mutual TLS.
    pub fn tls_files(
        mut self,
        ca_file: Option<&Path>,
        client: Option<(&Path, &Path)>,
    ) -> Result<Self, TransportError> {
        use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig};
        let read = |p: &Path| {
            std::fs::read(p).map_err(|e| TransportError {
                retryable: false,
                message: format!("{}: {e}", p.display()),
            })
        };
        let certs_of = |p: &Path| -> Result<Vec<Certificate<'static>>, TransportError> {
            let bytes = read(p)?;
            let certs: Vec<_> = ureq::tls::parse_pem(&bytes)
                .filter_map(|item| match item {
                    Ok(PemItem::Certificate(c)) => Some(c.to_owned()),
                    _ => None,
                })
                .collect();
            if certs.is_empty() {
                return Err(TransportError {
                    retryable: false,
                    message: format!("{}: no PEM certificate in it", p.display()),
                });
            }
            Ok(certs)
        };
        let mut tls = TlsConfig::builder();
        if let Some(ca) = ca_file {
            tls = tls.root_certs(RootCerts::new_with_certs(&certs_of(ca)?));
        }
        if let Some((cert, key)) = client {
            let certs = certs_of(cert)?;
            let key_bytes = read(key)?;
            let key = PrivateKey::from_pem(&key_bytes)
                .map_err(|e| TransportError {
                    retryable: false,
                    message: format!("{}: not a PEM private key: {e}", key.display()),
                })?
                .to_owned();
            tls = tls.client_cert(Some(ClientCert::new_with_certs(&certs, key)));
        }
        self.tls = Some(tls.build());
        self.agent = None;
        Ok(self)
    }

    fn agent(&mut self, timeout: Duration) -> &ureq::Agent {
        if self.agent.as_ref().is_none_or(|(t, _)| *t != timeout) {
            let mut config = ureq::Agent::config_builder()
                .timeout_global(Some(timeout))
                .http_status_as_error(false)
                // Receivers answer, they do not redirect; a redirect is a misconfigured URL.
                .max_redirects(0)
                .user_agent(concat!("aureon-push/", env!("CARGO_PKG_VERSION")));
            if let Some(tls) = &self.tls {
                config = config.tls_config(tls.clone());
            }
            self.agent = Some((timeout, config.build().into()));
        }
        &self.agent.as_ref().expect("set above").1
    }
}

impl Transport for HttpTransport {
    fn send(
        &mut self,
        request: &PushRequest,
        timeout: Duration,
    ) -> Result<Response, TransportError> {
        let authorization = self.authorization.clone();
        let agent = self.agent(timeout);
        let mut builder = ureq::http::Request::builder()
            .method(request.method.as_str())
            .uri(request.url.as_str());
        for (k, v) in &request.headers {
            builder = builder.header(k.as_str(), v.as_str());
        }
        if let Some(auth) = &authorization {
            builder = builder.header("authorization", auth.as_str());
        }
        let result = match request.method {
            Method::Delete => builder
                .body(())
                .map_err(|e| permanent(format!("{}: {e}", request.url)))
                .and_then(|r| agent.run(r).map_err(|e| classify(&request.url, e))),
            Method::Post | Method::Put => builder
                .body(request.body.as_slice())
                .map_err(|e| permanent(format!("{}: {e}", request.url)))
                .and_then(|r| agent.run(r).map_err(|e| classify(&request.url, e))),
        };
        let mut response = result?;
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let status = response.status().as_u16();
        // A body cut at the limit or broken off is still a response: the status decides.
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE_BODY)
            .read_to_vec()
            .unwrap_or_default();
        Ok(Response {
            status,
            headers,
            body,
        })
    }
}

fn permanent(message: String) -> TransportError {
    TransportError {
        retryable: false,
        message,
    }
}

fn classify(url: &str, e: ureq::Error) -> TransportError {
    let retryable = !matches!(
        e,
        ureq::Error::BadUri(_) | ureq::Error::Http(_) | ureq::Error::RequireHttpsOnly(_)
    );
    TransportError {
        retryable,
        message: format!("{url}: {e}"),
    }
}
