//! rustls server configuration: TLS 1.3 only, HTTP/1.1 ALPN, client certificates verified
//! against the CA (and CRL), with live reload that keeps the old set when a new one is broken.

use std::path::PathBuf;
use std::sync::Arc;

use time::OffsetDateTime;

/// Where the TLS material lives and how clients are verified.
#[derive(Clone, Debug, PartialEq)]
pub struct TlsPaths {
    /// CA bundle (PEM) that client certificates must chain to.
    pub ca_cert: PathBuf,
    /// Server certificate chain (PEM, leaf first).
    pub server_cert: PathBuf,
    /// Server private key (PEM: PKCS#8, SEC1 or PKCS#1).
    pub server_key: PathBuf,
    /// Optional CRL file (PEM, one or more CRLs).
    pub crl: Option<PathBuf>,
    /// Accept connections without a client certificate (they may only reach `GET /health`).
    pub allow_unauthenticated: bool,
}

/// Why the TLS material could not be loaded.
#[derive(Debug)]
pub enum TlsError {
    /// A file could not be read.
    Io { path: PathBuf, error: std::io::Error },
    /// A file was read but holds no usable PEM item of the expected kind.
    Pem { path: PathBuf, message: String },
    /// rustls refused the combination (key does not match certificate, bad CA, bad CRL, ...).
    Rustls(String),
}

impl std::fmt::Display for TlsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TlsError::Io { path, error } => write!(f, "{}: {error}", path.display()),
            TlsError::Pem { path, message } => write!(f, "{}: {message}", path.display()),
            TlsError::Rustls(m) => write!(f, "TLS configuration refused: {m}"),
        }
    }
}

impl std::error::Error for TlsError {}

/// What the health check reports about the loaded material.
#[derive(Clone, Debug, PartialEq)]
pub struct TlsStatus {
    /// Server leaf certificate's end of validity.
    pub server_not_after: Option<OffsetDateTime>,
    /// CRL next update, when a CRL is loaded and states one.
    pub crl_next_update: Option<OffsetDateTime>,
    /// CRL issue time, when a CRL is loaded.
    pub crl_this_update: Option<OffsetDateTime>,
    /// When the current set was loaded.
    pub loaded_at: OffsetDateTime,
}

/// The live TLS configuration, swapped atomically on reload.
pub struct TlsState {
    _private: (),
}

impl TlsState {
    /// Loads and checks all files; fails if any is missing or broken.
    pub fn load(paths: TlsPaths) -> Result<TlsState, TlsError> {
        let _ = paths;
        todo!()
    }

    /// The configuration new connections use.
    pub fn current(&self) -> Arc<rustls::ServerConfig> {
        todo!()
    }

    /// Reloads from disk; on error the old configuration stays and the error is returned.
    pub fn reload(&self) -> Result<(), TlsError> {
        todo!()
    }

    /// Reloads when any watched file changed since the last (attempted) load; logs outcome.
    pub fn reload_if_changed(&self) {
        todo!()
    }

    /// Facts about the loaded material for health reporting.
    pub fn status(&self) -> TlsStatus {
        todo!()
    }
}

/// Checks the TLS files for `--check-config`: every problem as a line, warnings prefixed `warning:`.
pub fn check_files(paths: &TlsPaths, now: OffsetDateTime) -> Vec<String> {
    let _ = (paths, now);
    Vec::new()
}
