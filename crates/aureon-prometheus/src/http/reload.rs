//! The web configuration in force, re-read when its file (or a certificate, key or CA file
//! it names) changes, as exporter-toolkit re-reads it per connection.
//!
//! Every new connection looks at the files' metadata (modification time, size, inode: a few
//! `stat` calls, no read); when any differs from the last look, the file is loaded again. A
//! version that loads becomes the one in force for the connections that follow (those
//! already open keep the version they started with). A version that does not load leaves
//! the previous one in force: the error is written to stderr and counted
//! ([`WebConfigReloads`]), and the same broken files are not tried again until they change.
//! Whether the port speaks TLS is fixed when the server starts: a new version that turns
//! TLS on or off is refused like a broken one (restart to change it).

use super::tls;
use super::web_config::WebConfig;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;
use tokio_rustls::TlsAcceptor;

/// A web configuration in force: the parsed file and what was built from it.
pub(super) struct Active {
    pub(super) config: WebConfig,
    pub(super) tls: Option<TlsAcceptor>,
}

impl Active {
    fn build(config: WebConfig) -> Result<Self, String> {
        let tls = match &config.tls {
            Some(t) => Some(TlsAcceptor::from(tls::server_config(t)?)),
            None => None,
        };
        Ok(Self { config, tls })
    }
}

/// How the web configuration file's reloads went, from [`super::MetricsServer::web_config_reloads`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebConfigReloads {
    /// New versions that loaded and are (or were) in force.
    pub succeeded: u64,
    /// New versions refused (the previous one stayed in force).
    pub failed: u64,
    /// The message of the latest refusal, if any.
    pub last_error: Option<String>,
}

/// What a file looked like at the last look (`None`: it could not be looked at).
type Fingerprint = Vec<(PathBuf, Option<(SystemTime, u64, u64, i64)>)>;

/// The watched web configuration of one server.
pub(super) struct WebState {
    path: PathBuf,
    inner: Mutex<Inner>,
    succeeded: AtomicU64,
    failed: AtomicU64,
}

struct Inner {
    active: Arc<Active>,
    /// The files of the active version and of the last version tried, as last seen.
    seen: Fingerprint,
    last_error: Option<String>,
}

fn fingerprint(files: &[PathBuf]) -> Fingerprint {
    files
        .iter()
        .map(|f| {
            let meta = std::fs::metadata(f).ok().map(|m| {
                (
                    m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                    m.len(),
                    m.ino(),
                    m.ctime_nsec() + m.ctime() * 1_000_000_000,
                )
            });
            (f.clone(), meta)
        })
        .collect()
}

impl WebState {
    /// Loads the file for the first time.
    ///
    /// # Errors
    /// The file does not load; the message names the file, the line and the problem.
    pub(super) fn load(path: &Path) -> std::io::Result<Self> {
        let config = WebConfig::load(path)?;
        let files = config.files();
        let active = Active::build(config).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("web config file {}: {e}", path.display()),
            )
        })?;
        Ok(Self {
            path: path.to_path_buf(),
            inner: Mutex::new(Inner {
                active: Arc::new(active),
                seen: fingerprint(&files),
                last_error: None,
            }),
            succeeded: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        })
    }

    /// The version in force, after loading the file again if it changed.
    pub(super) fn current(&self) -> Arc<Active> {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let files: Vec<PathBuf> = inner.seen.iter().map(|(f, _)| f.clone()).collect();
        let now = fingerprint(&files);
        if now == inner.seen {
            return Arc::clone(&inner.active);
        }
        let tls_before = inner.active.tls.is_some();
        let attempt = WebConfig::load(&self.path)
            .map_err(|e| e.to_string())
            .and_then(|config| {
                if config.tls_enabled() != tls_before {
                    return Err(format!(
                        "web config file {}: the new version turns TLS {}, which takes a restart",
                        self.path.display(),
                        if tls_before { "off" } else { "on" }
                    ));
                }
                Ok(config)
            })
            .and_then(|config| {
                let files = config.files();
                Active::build(config)
                    .map(|a| (a, files))
                    .map_err(|e| format!("web config file {}: {e}", self.path.display()))
            });
        match attempt {
            Ok((active, files)) => {
                inner.active = Arc::new(active);
                inner.seen = fingerprint(&files);
                inner.last_error = None;
                self.succeeded.fetch_add(1, Ordering::Relaxed);
                eprintln!(
                    "aureon-prometheus: web config file {} reloaded",
                    self.path.display()
                );
            }
            Err(e) => {
                // Watch the files of the version in force and of the one tried, so that
                // fixing either is noticed, and do not try these same files again.
                let mut watched = files;
                if let Ok(text) = std::fs::read_to_string(&self.path)
                    && let Ok(tried) = WebConfig::parse(&text, &self.path)
                {
                    for f in tried.files() {
                        if !watched.contains(&f) {
                            watched.push(f);
                        }
                    }
                }
                inner.seen = fingerprint(&watched);
                self.failed.fetch_add(1, Ordering::Relaxed);
                eprintln!("aureon-prometheus: {e}; keeping the previous version in force");
                inner.last_error = Some(e);
            }
        }
        Arc::clone(&inner.active)
    }

    /// The reload counts so far.
    pub(super) fn reloads(&self) -> WebConfigReloads {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        WebConfigReloads {
            succeeded: self.succeeded.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            last_error: inner.last_error.clone(),
        }
    }
}
