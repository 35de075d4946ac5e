//! rustls server configuration: TLS 1.3 only, HTTP/1.1 ALPN, client certificates verified
//! against the CA (and CRL), with live reload that keeps the old set when a new one is broken.
//!
//! Trust anchors are the self-issued certificates of `tls.ca_cert`; the others are chain
//! material (see [`verify`]), and client certificates must carry the clientAuth EKU.
//!
//! Revocation policy (client certificates):
//! - Every certificate of the client's chain except the trust anchor is checked against the
//!   CRLs (rustls' default depth), so a revoked intermediate is refused too.
//! - Unknown status is allowed: the CRL file is optional and may not cover every issuer in
//!   the CA bundle; a certificate is refused only when a CRL from its issuer lists it.
//! - An overdue CRL (nextUpdate passed) is still used, not fatal: refusing every client
//!   because a CRL refresh lags would cut the manager off from the host. Its age shows in
//!   [`TlsStatus`] and [`check_files`] warns about it.
//! - An empty CRL file means no CRL (the enrollment bundle's `crl_pem` may be empty).
//! - A reload reaches open connections too: each swap moves [`TlsState::generation`], and
//!   live connections then re-verify their client chain with [`TlsState::verify_client`]
//!   (see `trust.rs`).
//!
//! PEM is read with `rustls_pki_types::pem::PemObject`; the server presents one certificate
//! whatever the SNI, offers only `http/1.1` in ALPN, and speaks only TLS 1.3.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use rustls::crypto::CryptoProvider;
use rustls::server::danger::ClientCertVerifier;
use rustls::server::WebPkiClientVerifier;
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use time::OffsetDateTime;

use crate::timefmt::rfc3339;
use crate::watch::Watched;
use crate::x509;

mod check;
#[cfg(test)]
mod testpki;
pub mod verify;

pub use check::check_files;
pub use verify::{AllowedClient, ClientPolicy};

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
    /// What a client certificate must be beyond chaining to the CA (EKU, pins).
    pub client_policy: ClientPolicy,
}

/// Why the TLS material could not be loaded.
#[derive(Debug)]
pub enum TlsError {
    /// A file could not be read.
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
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
    paths: TlsPaths,
    // Live copy of `paths.allow_unauthenticated`: a config reload may flip it.
    allow_unauthenticated: AtomicBool,
    // Live copy of `paths.client_policy`: a config reload may change it.
    client_policy: RwLock<ClientPolicy>,
    watched: Watched,
    current: RwLock<Loaded>,
    /// Counts sets swapped in, so live connections know to re-verify their client.
    generation: AtomicU64,
}

/// One successfully loaded set.
#[derive(Clone)]
struct Loaded {
    config: Arc<ServerConfig>,
    /// The client verifier inside `config` (rustls does not expose it).
    verifier: Arc<dyn ClientCertVerifier>,
    status: TlsStatus,
}

/// The parsed contents of the four files.
pub(super) struct Material {
    ca: Vec<CertificateDer<'static>>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    crls: Vec<CertificateRevocationListDer<'static>>,
}

impl TlsState {
    /// Loads and checks all files; fails if any is missing or broken.
    pub fn load(paths: TlsPaths) -> Result<TlsState, TlsError> {
        let watched = Watched::new(watched_paths(&paths));
        let loaded = load_set(&paths)?;
        Ok(TlsState {
            allow_unauthenticated: AtomicBool::new(paths.allow_unauthenticated),
            client_policy: RwLock::new(paths.client_policy.clone()),
            paths,
            watched,
            current: RwLock::new(loaded),
            generation: AtomicU64::new(0),
        })
    }

    /// The configuration new connections use.
    pub fn current(&self) -> Arc<rustls::ServerConfig> {
        Arc::clone(&self.read().config)
    }

    /// Reloads from disk; on error the old configuration stays and the error is returned.
    pub fn reload(&self) -> Result<(), TlsError> {
        self.watched.mark();
        let loaded = load_set(&self.live_paths())?;
        self.swap(loaded);
        Ok(())
    }

    /// Puts a new set in force, then tells live connections to re-verify.
    fn swap(&self, loaded: Loaded) {
        // Poison is harmless here: the value is replaced whole.
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = loaded;
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Moves each time a set is swapped in.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// [`TlsState::verify_client_chain`] with the reason as text, for the live re-check's
    /// log line (`trust.rs`).
    pub fn verify_client(&self, chain: &[CertificateDer<'static>]) -> Result<(), String> {
        self.verify_client_chain(chain).map_err(|e| e.to_string())
    }

    /// Reloads when any watched file changed since the last (attempted) load; logs outcome.
    pub fn reload_if_changed(&self) {
        if !self.watched.take_change() {
            return;
        }
        match load_set(&self.live_paths()) {
            Ok(loaded) => {
                log::info!("TLS material reloaded: {}", describe(&loaded.status));
                self.swap(loaded);
            }
            Err(e) => log::error!(
                "TLS reload failed, keeping the previous configuration until a file changes again: {e}"
            ),
        }
    }

    /// Checks a client's certificate chain (leaf first) as a new handshake would now: CA,
    /// CRLs, clientAuth EKU and pins of the current set. For re-checking open connections
    /// after a reload.
    pub fn verify_client_chain(&self, chain: &[CertificateDer<'_>]) -> Result<(), rustls::Error> {
        let (leaf, intermediates) = chain
            .split_first()
            .ok_or(rustls::Error::NoCertificatesPresented)?;
        let verifier = Arc::clone(&self.read().verifier);
        let now = rustls_pki_types::UnixTime::now();
        verifier
            .verify_client_cert(leaf, intermediates, now)
            .map(|_| ())
    }

    /// Facts about the loaded material for health reporting.
    pub fn status(&self) -> TlsStatus {
        self.read().status.clone()
    }

    /// The paths this state loads from.
    pub fn paths(&self) -> &TlsPaths {
        &self.paths
    }

    /// Whether certificate-less clients are accepted from the next reload on (config reload).
    pub fn set_allow_unauthenticated(&self, allow: bool) {
        self.allow_unauthenticated.store(allow, Ordering::Relaxed);
    }

    /// The client policy (EKU, pins) from the next reload on (config reload).
    /// Returns whether it changed (the caller then reloads).
    pub fn set_client_policy(&self, policy: ClientPolicy) -> bool {
        let mut current = self
            .client_policy
            .write()
            .unwrap_or_else(|e| e.into_inner());
        let changed = *current != policy;
        *current = policy;
        changed
    }

    fn live_paths(&self) -> TlsPaths {
        TlsPaths {
            allow_unauthenticated: self.allow_unauthenticated.load(Ordering::Relaxed),
            client_policy: self
                .client_policy
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            ..self.paths.clone()
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Loaded> {
        self.current.read().unwrap_or_else(|e| e.into_inner())
    }
}

fn describe(status: &TlsStatus) -> String {
    match status.server_not_after {
        Some(t) => format!("server certificate valid until {}", rfc3339(t)),
        None => "server certificate validity unreadable".to_string(),
    }
}

/// The files whose change triggers a reload.
fn watched_paths(paths: &TlsPaths) -> Vec<PathBuf> {
    let mut v = vec![
        paths.ca_cert.clone(),
        paths.server_cert.clone(),
        paths.server_key.clone(),
    ];
    v.extend(paths.crl.clone());
    v
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads every file and builds the configuration.
fn load_set(paths: &TlsPaths) -> Result<Loaded, TlsError> {
    let material = read_material(paths)?;
    let (config, verifier) = build_config(paths, &material)?;
    Ok(Loaded {
        config,
        verifier,
        status: status_of(&material, OffsetDateTime::now_utc()),
    })
}

fn read_material(paths: &TlsPaths) -> Result<Material, TlsError> {
    Ok(Material {
        ca: read_certs(&paths.ca_cert)?,
        chain: read_certs(&paths.server_cert)?,
        key: read_key(&paths.server_key)?,
        crls: match &paths.crl {
            Some(p) => read_crls(p)?,
            None => Vec::new(),
        },
    })
}

/// Maps a PEM reading error to one naming the file.
fn pem_error(path: &Path, e: rustls_pki_types::pem::Error, what: &str) -> TlsError {
    use rustls_pki_types::pem::Error;
    match e {
        Error::Io(error) => TlsError::Io {
            path: path.to_path_buf(),
            error,
        },
        Error::NoItemsFound => TlsError::Pem {
            path: path.to_path_buf(),
            message: format!("no {what} found"),
        },
        other => TlsError::Pem {
            path: path.to_path_buf(),
            message: format!("invalid PEM: {other}"),
        },
    }
}

/// Fails early with an I/O error that names the file (a directory, a missing file, ...).
fn check_readable(path: &Path) -> Result<(), TlsError> {
    std::fs::File::open(path)
        .map(|_| ())
        .map_err(|error| TlsError::Io {
            path: path.to_path_buf(),
            error,
        })
}

/// All certificates of a PEM file, at least one.
pub(super) fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    check_readable(path)?;
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_error(path, e, "certificate"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(path, e, "certificate"))?;
    if certs.is_empty() {
        return Err(pem_error(
            path,
            rustls_pki_types::pem::Error::NoItemsFound,
            "certificate",
        ));
    }
    Ok(certs)
}

/// The first private key of a PEM file (PKCS#8, SEC1 or PKCS#1).
pub(super) fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    check_readable(path)?;
    PrivateKeyDer::from_pem_file(path).map_err(|e| pem_error(path, e, "private key"))
}

/// All CRLs of a PEM file; an empty file is no CRL.
pub(super) fn read_crls(
    path: &Path,
) -> Result<Vec<CertificateRevocationListDer<'static>>, TlsError> {
    check_readable(path)?;
    CertificateRevocationListDer::pem_file_iter(path)
        .map_err(|e| pem_error(path, e, "CRL"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(path, e, "CRL"))
}

/// The CA bundle as rustls trust anchors; any unusable certificate is an error.
fn root_store(path: &Path, ca: &[CertificateDer<'static>]) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for (i, cert) in ca.iter().enumerate() {
        roots.add(cert.clone()).map_err(|e| TlsError::Pem {
            path: path.to_path_buf(),
            message: format!("certificate {i} is not a usable CA certificate: {e}"),
        })?;
    }
    Ok(roots)
}

/// The server key paired with its chain; refuses a key that does not match the leaf.
fn certified_key(
    paths: &TlsPaths,
    m: &Material,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let mismatch = |e: rustls::Error| {
        TlsError::Rustls(format!(
            "{}: private key unusable with certificate {}: {e}",
            paths.server_key.display(),
            paths.server_cert.display()
        ))
    };
    let ck =
        CertifiedKey::from_der(m.chain.clone(), m.key.clone_key(), provider).map_err(mismatch)?;
    match ck.keys_match() {
        // ring exposes every key's public half, so "unknown" means nothing to compare.
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => Ok(ck),
        Err(e) => Err(mismatch(e)),
    }
}

/// Builds the TLS 1.3, HTTP/1.1-only server configuration with client verification.
/// The configuration and the client verifier it holds.
type Built = (Arc<ServerConfig>, Arc<dyn ClientCertVerifier>);

pub(super) fn build_config(paths: &TlsPaths, m: &Material) -> Result<Built, TlsError> {
    let provider = provider();
    let trust = verify::split_trust(&m.ca);
    let roots = Arc::new(root_store(&paths.ca_cert, &trust.anchors)?);
    let mut verifier = WebPkiClientVerifier::builder_with_provider(roots, Arc::clone(&provider))
        .with_crls(m.crls.iter().cloned())
        .allow_unknown_revocation_status();
    if paths.allow_unauthenticated {
        verifier = verifier.allow_unauthenticated();
    }
    let verifier = verifier.build().map_err(|e| {
        let file = match &e {
            rustls::server::VerifierBuilderError::InvalidCrl(_) => {
                paths.crl.clone().unwrap_or_default()
            }
            _ => paths.ca_cert.clone(),
        };
        TlsError::Rustls(format!("{}: {e}", file.display()))
    })?;
    let verifier: Arc<dyn ClientCertVerifier> = Arc::new(verify::ClientVerifier {
        inner: verifier,
        intermediates: trust.intermediates,
        policy: paths.client_policy.clone(),
        anchors: trust.anchors,
    });
    let certified = certified_key(paths, m, &provider)?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| TlsError::Rustls(e.to_string()))?
        .with_client_cert_verifier(Arc::clone(&verifier))
        .with_cert_resolver(Arc::new(SingleCertAndKey::from(certified)));
    // The manager offers h2 too; we only speak HTTP/1.1.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((Arc::new(config), verifier))
}

/// Health facts; with several CRLs, the oldest issue time and the earliest next update,
/// since the stalest CRL is the one that matters.
fn status_of(m: &Material, now: OffsetDateTime) -> TlsStatus {
    let server_not_after = m
        .chain
        .first()
        .and_then(|c| x509::summarize_cert(c).ok())
        .map(|s| s.not_after);
    let crls: Vec<x509::CrlSummary> = m
        .crls
        .iter()
        .filter_map(|c| x509::summarize_crl(c).ok())
        .collect();
    TlsStatus {
        server_not_after,
        crl_next_update: crls.iter().filter_map(|c| c.next_update).min(),
        crl_this_update: crls.iter().map(|c| c.this_update).min(),
        loaded_at: now,
    }
}

#[cfg(test)]
mod tests {
    use super::testpki::*;
    use super::*;

    #[test]
    fn loads_and_serves_http11_to_valid_client() {
        let pki = Pki::new();
        let state = TlsState::load(pki.paths()).unwrap();
        let config = state.current();
        assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
        let alpn = handshake(config, &pki, Some(&pki.client(10))).unwrap();
        assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]));

        let status = state.status();
        let not_after = status.server_not_after.unwrap();
        assert!((not_after - in_days(365)).abs() < TimeDuration::minutes(5));
        let next = status.crl_next_update.unwrap();
        assert!((next - in_days(1)).abs() < TimeDuration::minutes(5));
        assert_eq!(status.crl_this_update, Some(next - TimeDuration::days(1)));
    }

    #[test]
    fn refuses_revoked_missing_and_foreign_client_certificates() {
        let pki = Pki::new();
        let state = TlsState::load(pki.paths()).unwrap();
        let revoked = pki.client(666);
        assert_eq!(revoked.serial, 666);
        let err = handshake(state.current(), &pki, Some(&revoked)).unwrap_err();
        assert!(format!("{err:?}").contains("Revoked"), "{err:?}");
        assert!(handshake(state.current(), &pki, None).is_err());
        let (_, other_ca) = ca("Other CA", in_days(100));
        let foreign = leaf(
            &other_ca,
            "intruder",
            5,
            ExtendedKeyUsagePurpose::ClientAuth,
            in_days(10),
        );
        assert!(handshake(state.current(), &pki, Some(&foreign)).is_err());
    }

    #[test]
    fn open_connections_can_be_rechecked_against_a_new_crl() {
        let pki = Pki::new();
        let paths = pki.paths();
        let state = TlsState::load(paths).unwrap();
        let client = pki.client(20);
        let chain = vec![CertificateDer::from_pem_slice(client.pem.as_bytes()).unwrap()];
        assert!(state.verify_client_chain(&chain).is_ok());
        pki.write("crl.pem", &pki.crl(&[20], in_days(1)));
        state.reload().unwrap();
        let err = state.verify_client_chain(&chain).unwrap_err();
        assert!(format!("{err:?}").contains("Revoked"), "{err:?}");
        assert!(state.verify_client_chain(&[]).is_err());
    }

    #[test]
    fn unauthenticated_allowed_only_when_configured() {
        let pki = Pki::new();
        let mut paths = pki.paths();
        paths.allow_unauthenticated = true;
        paths.crl = None;
        let state = TlsState::load(paths).unwrap();
        assert!(handshake(state.current(), &pki, None).is_ok());
        assert!(handshake(state.current(), &pki, Some(&pki.client(3))).is_ok());
        assert_eq!(state.status().crl_next_update, None);
    }

    #[test]
    fn empty_crl_file_is_no_crl() {
        let pki = Pki::new();
        let paths = pki.paths();
        pki.write("crl.pem", "");
        let state = TlsState::load(paths).unwrap();
        assert!(handshake(state.current(), &pki, Some(&pki.client(666))).is_ok());
    }

    #[test]
    fn mismatched_key_is_refused_naming_the_file() {
        let pki = Pki::new();
        let paths = pki.paths();
        pki.write("server.key", &KeyPair::generate().unwrap().serialize_pem());
        let err = TlsState::load(paths.clone()).err().unwrap();
        let msg = err.to_string();
        assert!(
            msg.contains(&paths.server_key.display().to_string()),
            "{msg}"
        );
        let problems = check_files(&paths, OffsetDateTime::now_utc());
        assert!(
            problems.iter().any(|p| p.contains("private key unusable")),
            "{problems:?}"
        );
    }

    #[test]
    fn missing_and_garbage_files_name_the_file() {
        let pki = Pki::new();
        let mut paths = pki.paths();
        paths.ca_cert = pki.dir.join("absent.pem");
        match TlsState::load(paths.clone()) {
            Err(TlsError::Io { path, .. }) => assert_eq!(path, paths.ca_cert),
            other => panic!("{:?}", other.err()),
        }
        paths.ca_cert = pki.write("garbage.pem", "hello\n");
        match TlsState::load(paths.clone()) {
            Err(TlsError::Pem { path, message }) => {
                assert_eq!(path, paths.ca_cert);
                assert!(message.contains("no certificate"), "{message}");
            }
            other => panic!("{:?}", other.err()),
        }
        paths.ca_cert = pki.write("ca.pem", &pki.ca_pem);
        pki.write("server.key", &pki.ca_pem);
        let msg = TlsState::load(paths.clone()).err().unwrap().to_string();
        assert!(
            msg.contains("server.key") && msg.contains("no private key"),
            "{msg}"
        );
    }

    #[test]
    fn reload_with_broken_file_keeps_old_config() {
        let pki = Pki::new();
        let paths = pki.paths();
        let state = TlsState::load(paths.clone()).unwrap();
        let before = state.current();
        pki.write("server.pem", "-----BEGIN CERTIFICATE-----\nnot base64!\n");
        let err = state.reload().unwrap_err();
        assert!(err.to_string().contains("server.pem"), "{err}");
        assert!(Arc::ptr_eq(&before, &state.current()));
        state.reload_if_changed();
        assert!(Arc::ptr_eq(&before, &state.current()));
        // Still serving with the old set.
        assert!(handshake(state.current(), &pki, Some(&pki.client(4))).is_ok());
    }

    #[test]
    fn reload_if_changed_picks_up_new_certificate() {
        let pki = Pki::new();
        let state = TlsState::load(pki.paths()).unwrap();
        let before = state.current();
        state.reload_if_changed();
        assert!(Arc::ptr_eq(&before, &state.current()), "nothing changed");

        let renewed = pki.server(in_days(700));
        pki.write_server(&renewed);
        state.reload_if_changed();
        assert!(!Arc::ptr_eq(&before, &state.current()));
        let not_after = state.status().server_not_after.unwrap();
        assert!((not_after - in_days(700)).abs() < TimeDuration::minutes(5));

        // A broken set is reported once and not retried until a file changes again.
        let good = state.current();
        pki.write("server.key", "junk");
        state.reload_if_changed();
        state.reload_if_changed();
        assert!(Arc::ptr_eq(&good, &state.current()));
        pki.write("server.key", &renewed.key.serialize_pem());
        state.reload_if_changed();
        assert!(!Arc::ptr_eq(&good, &state.current()));
    }
}
