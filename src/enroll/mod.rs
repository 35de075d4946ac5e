//! Enrollment: `--enroll MANAGER_URL` registers this host with the central Patch Manager,
//! polls until an administrator decides, provisions the approved certificates and the
//! manager's whitelist entry, and hands over to serving mTLS.
//!
//! The polling token and the approved bundle are kept in the state directory (0600) so a
//! restart resumes where it stopped: the manager hands the bundle out only once.
//!
//! Parts: [`identity`] (what the host reports), [`machine_id`] (the system's id or one
//! generated once in the state directory), [`client`] (the manager's two endpoints over
//! verified or pinned TLS), [`state`] (the state directory), [`provision`] (validation, TLS
//! files, whitelist) and `run` (resume, retries, polling, timeout, stop).

pub mod client;
pub mod identity;
pub mod machine_id;
pub mod provision;
pub mod state;
#[cfg(test)]
pub(crate) mod testutil;

mod run;
mod transport;

pub use run::run;

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// How the manager's TLS certificate is checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ManagerTrust {
    /// Chain to the CA certificate(s) in this PEM file (`--manager-ca`).
    CaFile(PathBuf),
    /// The manager's leaf certificate has this SHA-256 fingerprint (`--manager-fingerprint`).
    Fingerprint([u8; 32]),
    /// Not checked: the specification's relaxed default, logged as a warning when used.
    Insecure,
}

impl ManagerTrust {
    /// How the manager was checked, as `enrolled.json` records it (`manager_trust`).
    pub fn label(&self) -> &'static str {
        match self {
            ManagerTrust::CaFile(_) => "ca",
            ManagerTrust::Fingerprint(_) => "fingerprint",
            ManagerTrust::Insecure => "unverified",
        }
    }
}

/// Everything one enrollment needs (from the command line and `enrollment.*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnrollSettings {
    /// The manager's base URL, e.g. `https://manager.example.com:8443`.
    pub manager_url: String,
    /// Time between status polls.
    pub poll_interval: Duration,
    /// Give up when no decision came within this long (from the first registration).
    pub timeout: Duration,
    /// How the manager's certificate is checked.
    pub trust: ManagerTrust,
    /// Deadline of one HTTP request to the manager.
    pub request_timeout: Duration,
    /// Where the token and the received bundle are kept (created 0700).
    pub state_dir: PathBuf,
    /// Address to report instead of the one detected.
    pub report_ip: Option<IpAddr>,
    /// Name to report instead of the one detected.
    pub report_fqdn: Option<String>,
    /// `tls.ca_cert`: where the CA certificate goes.
    pub ca_cert: PathBuf,
    /// `tls.server_cert`: where the server certificate goes.
    pub server_cert: PathBuf,
    /// `tls.server_key`: where the server key goes (0600).
    pub server_key: PathBuf,
    /// `tls.crl`: where a non-empty `crl_pem` goes; `None` = the bundle's CRL is not kept.
    pub crl: Option<PathBuf>,
    /// `whitelist.path`: the manager's address is appended here.
    pub whitelist: PathBuf,
}

/// What a successful enrollment did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Provisioned {
    /// The manager's address, now in the whitelist.
    pub manager_ip: IpAddr,
    /// Every file written (TLS files, whitelist).
    pub written: Vec<PathBuf>,
}

/// Why an enrollment ended without provisioning; each has its own exit code.
#[derive(Debug)]
pub enum EnrollError {
    /// The administrator denied the request.
    Denied,
    /// The manager no longer knows the token (expired, consumed, never issued).
    NotFound,
    /// No decision within the enrollment timeout.
    Timeout(Duration),
    /// The manager refused the registration as a collision (HTTP 409), with its message.
    Conflict(String),
    /// The approved bundle failed validation; nothing was written to the TLS paths.
    InvalidBundle(String),
    /// SIGINT/SIGTERM arrived; the saved token lets a later run resume.
    Interrupted,
    /// Anything else: unusable settings, files, or a manager that answers nonsense.
    Failed(String),
}

/// Exit code: the administrator denied the enrollment.
pub const EXIT_DENIED: i32 = 4;
/// Exit code: the token expired or was already used (re-enroll).
pub const EXIT_NOT_FOUND: i32 = 5;
/// Exit code: no decision within `--enroll-timeout`.
pub const EXIT_TIMEOUT: i32 = 6;
/// Exit code: the manager refused the registration as a collision (HTTP 409).
pub const EXIT_CONFLICT: i32 = 7;
/// Exit code: the approved bundle is invalid.
pub const EXIT_INVALID_BUNDLE: i32 = 8;
/// Exit code: stopped by a signal before a decision (run again to resume).
pub const EXIT_INTERRUPTED: i32 = 9;

impl EnrollError {
    /// The process exit code of this outcome.
    pub fn exit_code(&self) -> i32 {
        match self {
            EnrollError::Denied => EXIT_DENIED,
            EnrollError::NotFound => EXIT_NOT_FOUND,
            EnrollError::Timeout(_) => EXIT_TIMEOUT,
            EnrollError::Conflict(_) => EXIT_CONFLICT,
            EnrollError::InvalidBundle(_) => EXIT_INVALID_BUNDLE,
            EnrollError::Interrupted => EXIT_INTERRUPTED,
            EnrollError::Failed(_) => crate::cli::EXIT_RUNTIME,
        }
    }
}

impl std::fmt::Display for EnrollError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EnrollError::Denied => write!(f, "the administrator denied this enrollment"),
            EnrollError::NotFound => write!(
                f,
                "the manager no longer knows this enrollment (token expired or already used); enroll again"
            ),
            EnrollError::Timeout(d) => {
                write!(f, "no decision within {} s; giving up", d.as_secs())
            }
            EnrollError::Conflict(m) => write!(f, "the manager refused the registration: {m}"),
            EnrollError::InvalidBundle(m) => {
                write!(f, "the approved certificate bundle is invalid: {m}")
            }
            EnrollError::Interrupted => write!(
                f,
                "stopped before a decision; run the same command again to resume polling"
            ),
            EnrollError::Failed(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for EnrollError {}
