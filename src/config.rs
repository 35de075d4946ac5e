//! Every setting of the agent with its default, loaded from YAML and validated.
//!
//! Validation errors name the key and the problem, e.g.
//! `server.port: must be 1-65535, got 70000`.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_yaml_ng::{Mapping, Value};

use crate::compat::PatchManagerCompat;

mod advisories;
mod audit;
mod connection;
mod tls_clients;
pub use advisories::{AdvisoriesConfig, FeedEntry, FEED_FORMATS, OFFICIAL_FEEDS};
pub use audit::{AuditConfig, DEFAULT_MAX_LINES_PER_CLIENT_PER_MINUTE};
pub use connection::ConnectionLimits;

/// Default location of the configuration file.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/linux_patch_api/config.yaml";

/// The whole configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Listener, pool, deadlines and limits.
    pub server: ServerConfig,
    /// Certificate and key files.
    pub tls: TlsConfig,
    /// IP whitelist file.
    pub whitelist: WhitelistConfig,
    /// Health endpoint access.
    pub health: HealthConfig,
    /// Per-client, per-category request budgets.
    pub rate_limits: RateLimitsConfig,
    /// Job engine settings.
    pub jobs: JobsConfig,
    /// Diagnostics and the audit trail.
    pub logging: LoggingConfig,
    /// Bounds on the audit log.
    pub audit: AuditConfig,
    /// API behaviour switches.
    pub api: ApiConfig,
    /// Compatibility switches for known clients.
    pub compat: CompatConfig,
    /// Which package manager to drive, and how.
    pub package_manager: PackageManagerConfig,
    /// `apk.*`
    pub apk: ApkConfig,
    /// Security advisory feeds.
    pub advisories: AdvisoriesConfig,
    /// Host actions: the reboot command.
    pub system: SystemConfig,
    /// `--enroll` settings.
    pub enrollment: EnrollmentConfig,
}

/// `server.*`
#[derive(Clone, Debug, PartialEq)]
pub struct ServerConfig {
    /// `server.bind`: address to listen on (IPv4 or IPv6), default `0.0.0.0`.
    pub bind: IpAddr,
    /// `server.port`: default 12443.
    pub port: u16,
    /// `server.workers`: most connection threads at once, default 64.
    pub workers: usize,
    /// `server.max_connections`: most accepted connections (serving + queued), default 256.
    pub max_connections: usize,
    /// `server.max_handshakes_per_address`: most connections from one address still in their
    /// TLS handshake, default 32; a new one beyond it drops that address's oldest.
    pub max_handshakes_per_address: usize,
    /// `server.shutdown_grace_seconds`: how long in-flight requests may finish on SIGTERM,
    /// default 30, 0-3600.
    pub shutdown_grace_seconds: u64,
    /// `server.timeouts.*`
    pub timeouts: TimeoutsConfig,
    /// `server.limits.*`
    pub limits: LimitsConfig,
}

/// `server.timeouts.*`, all in seconds, each at least 1.
#[derive(Clone, Debug, PartialEq)]
pub struct TimeoutsConfig {
    /// `tls_handshake_seconds`, default 10.
    pub tls_handshake_seconds: u64,
    /// `request_head_seconds`, default 10.
    pub request_head_seconds: u64,
    /// `request_body_seconds`, default 30.
    pub request_body_seconds: u64,
    /// `keep_alive_idle_seconds`, default 60.
    pub keep_alive_idle_seconds: u64,
    /// `response_write_seconds`, default 30.
    pub response_write_seconds: u64,
}

/// `server.limits.*`
#[derive(Clone, Debug, PartialEq)]
pub struct LimitsConfig {
    /// `max_header_bytes`: request line + headers, default 16384.
    pub max_header_bytes: usize,
    /// `max_headers`: header count, default 64.
    pub max_headers: usize,
    /// `max_body_bytes`: default 1048576.
    pub max_body_bytes: usize,
    /// Requests and age of one connection (`max_requests_per_connection`, ...).
    pub connection: ConnectionLimits,
}

/// `tls.*`
#[derive(Clone, Debug, PartialEq)]
pub struct TlsConfig {
    /// `tls.ca_cert`: CA bundle that client certificates must chain to.
    pub ca_cert: PathBuf,
    /// `tls.server_cert`: server certificate chain (leaf first).
    pub server_cert: PathBuf,
    /// `tls.server_key`: server private key (PKCS#8, SEC1 or PKCS#1 PEM).
    pub server_key: PathBuf,
    /// `tls.crl`: optional PEM CRL(s) checked for client certificates.
    pub crl: Option<PathBuf>,
    /// `tls.require_client_auth_eku` and `tls.allowed_clients`: what a client certificate
    /// must be beyond chaining to the CA.
    pub client_policy: crate::http::tls::ClientPolicy,
}

/// `whitelist.*`
#[derive(Clone, Debug, PartialEq)]
pub struct WhitelistConfig {
    /// `whitelist.path`: default `/etc/linux_patch_api/whitelist.yaml`.
    pub path: PathBuf,
}

/// `health.*`
#[derive(Clone, Debug, PartialEq)]
pub struct HealthConfig {
    /// `health.allow_unauthenticated`: default false.
    pub allow_unauthenticated: bool,
}

/// One token bucket rule: `requests` per `window_seconds`.
#[derive(Clone, Debug, PartialEq)]
pub struct RateRule {
    /// Requests allowed per window (burst size), at least 1.
    pub requests: u32,
    /// Window length in seconds, at least 1.
    pub window_seconds: u64,
}

/// `rate_limits.*`: the specification's table as defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct RateLimitsConfig {
    /// `rate_limits.enabled`: default true.
    pub enabled: bool,
    /// `rate_limits.max_clients`: most client identities tracked at once, default 4096.
    pub max_clients: usize,
    /// `rate_limits.health`: 60/60.
    pub health: RateRule,
    /// `rate_limits.package_list`: 30/60.
    pub package_list: RateRule,
    /// `rate_limits.package_operations`: 10/60.
    pub package_operations: RateRule,
    /// `rate_limits.patch_operations`: 5/60.
    pub patch_operations: RateRule,
    /// `rate_limits.job_operations`: 60/60.
    pub job_operations: RateRule,
    /// `rate_limits.system_operations`: 5/60.
    pub system_operations: RateRule,
}

/// `jobs.*`
#[derive(Clone, Debug, PartialEq)]
pub struct JobsConfig {
    /// `jobs.max_concurrent`: default 5.
    pub max_concurrent: usize,
    /// `jobs.timeout_minutes`: default 30.
    pub timeout_minutes: u64,
    /// `jobs.storage_path`: default `/var/lib/linux_patch_api/jobs`.
    pub storage_path: PathBuf,
    /// `jobs.timeout_seconds`: when set, overrides `timeout_minutes` (for tests and short
    /// maintenance windows), 1-86400; default unset.
    pub timeout_seconds: Option<u64>,
    /// `jobs.max_queued`: jobs waiting to run at most; beyond it submissions are refused with
    /// a retryable error, default 100.
    pub max_queued: usize,
    /// `jobs.retention_max_jobs`: finished jobs kept at most (oldest deleted first), default 1000.
    pub retention_max_jobs: usize,
    /// `jobs.retention_days`: finished jobs older than this are deleted, default 30.
    pub retention_days: u64,
    /// `jobs.log_max_bytes`: a job's log is capped at this size (the cap is said in the
    /// log), default 1048576.
    pub log_max_bytes: usize,
    /// `jobs.cancel_grace_seconds`: after SIGTERM, how long a cancelled or timed-out
    /// command has before SIGKILL, default 10.
    pub cancel_grace_seconds: u64,
    /// `jobs.rollback_cache_path`: where package files saved for rollbacks are kept,
    /// default `/var/lib/linux_patch_api/rollback`.
    pub rollback_cache_path: PathBuf,
    /// `jobs.rollback_cache_max_mb`: size bound of that cache (oldest saved sets evicted
    /// first), default 1024.
    pub rollback_cache_max_mb: u64,
    /// `jobs.websocket_max_sessions`: WebSocket sessions at once, default 32.
    pub websocket_max_sessions: usize,
    /// `jobs.websocket_idle_timeout_seconds`: a session with no client frame (not even a
    /// pong) for this long is closed, default 300; the server pings every third of it.
    pub websocket_idle_timeout_seconds: u64,
}

impl JobsConfig {
    /// The job timeout: `timeout_seconds` when set, else `timeout_minutes`.
    pub fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.timeout_seconds.unwrap_or(self.timeout_minutes * 60))
    }
}

/// `logging.*`
#[derive(Clone, Debug, PartialEq)]
pub struct LoggingConfig {
    /// `logging.level`: error|warn|info|debug|trace|off, default info.
    pub level: log::LevelFilter,
    /// `logging.audit_log`: JSON-lines audit file, default
    /// `/var/log/linux_patch_api/audit.log`.
    pub audit_log: PathBuf,
}

/// `api.*`
#[derive(Clone, Debug, PartialEq)]
pub struct ApiConfig {
    /// `api.read_only`: refuse every mutating endpoint, default false.
    pub read_only: bool,
}

/// `compat.*`
#[derive(Clone, Debug, PartialEq)]
pub struct CompatConfig {
    /// `compat.patch_manager`: serve the central Patch Manager's shape (`system/info` `os`
    /// and `kernel` as strings, no default page, `timeout` jobs as failed): `auto` (default,
    /// on when this host is enrolled), `true` or `false`. See [`crate::compat`].
    pub patch_manager: PatchManagerCompat,
}

/// `package_manager.backend`: which tool to drive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendChoice {
    /// Detect from `/etc/os-release` and the binaries present.
    Auto,
    /// A named backend: `apt`, `dnf`, `yum`, `zypper`, `pacman` or `apk`.
    Named(&'static str),
}

/// Backend names accepted by `package_manager.backend` besides `auto`.
pub const BACKEND_NAMES: [&str; 6] = ["apt", "dnf", "yum", "zypper", "pacman", "apk"];

/// `package_manager.*`
#[derive(Clone, Debug, PartialEq)]
pub struct PackageManagerConfig {
    /// `package_manager.backend`: `auto` (default) or a backend name.
    pub backend: BackendChoice,
    /// `package_manager.root`: the root to manage, default `/` (another path patches an image
    /// or chroot with the tool's own root option). Must be absolute.
    pub root: PathBuf,
    /// `package_manager.command_timeout_seconds`: deadline of one query or refresh command,
    /// default 600.
    pub command_timeout_seconds: u64,
    /// `package_manager.lock_wait_seconds`: how long to wait for another process's package
    /// database lock, default 120.
    pub lock_wait_seconds: u64,
    /// `package_manager.metadata_max_age_seconds`: repository metadata older than this (by
    /// the tool's cache on disk) is refreshed in the background, default 3600; 0 turns
    /// background refreshes off.
    pub metadata_max_age_seconds: u64,
    /// `package_manager.metadata_refresh_jitter_seconds`: largest random delay before a
    /// background refresh, so hosts restarted together spread out, default 300; 0 disables.
    pub metadata_refresh_jitter_seconds: u64,
    /// `package_manager.refresh_in_read_only`: refresh metadata (in the background and on
    /// `?refresh=true`) even when `api.read_only` is set, default false.
    pub refresh_in_read_only: bool,
}

impl Default for PackageManagerConfig {
    fn default() -> Self {
        PackageManagerConfig {
            backend: BackendChoice::Auto,
            root: PathBuf::from("/"),
            command_timeout_seconds: 600,
            lock_wait_seconds: 120,
            metadata_max_age_seconds: 3600,
            metadata_refresh_jitter_seconds: 300,
            refresh_in_read_only: false,
        }
    }
}

/// `apk.*`: switches of the apk backend.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApkConfig {
    /// `apk.allow_untrusted`: pass `--allow-untrusted` to every apk command, so unsigned or
    /// locally built repositories and packages are used; default false (an untrusted
    /// repository is then the error `PKG_UNTRUSTED_SOURCE`).
    pub allow_untrusted: bool,
}

/// `enrollment.*`: how `--enroll` talks to the Patch Manager (the command line wins).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnrollmentConfig {
    /// `enrollment.poll_interval_seconds`: time between approval checks, default 60.
    pub poll_interval_seconds: u64,
    /// `enrollment.timeout`: give up without a decision after this long, default 24h.
    pub timeout: std::time::Duration,
    /// `enrollment.manager_ca`: verify the manager against this CA (PEM).
    pub manager_ca: Option<PathBuf>,
    /// `enrollment.manager_fingerprint`: accept only this manager certificate (SHA-256).
    pub manager_fingerprint: Option<[u8; 32]>,
    /// `enrollment.enroll_only`: exit after provisioning instead of serving, default false.
    pub enroll_only: bool,
    /// `enrollment.state_dir`: token and received bundle, default
    /// `/var/lib/linux_patch_api/enroll`.
    pub state_dir: PathBuf,
    /// `enrollment.report_ip`: the address to report instead of the detected one.
    pub report_ip: Option<IpAddr>,
    /// `enrollment.report_fqdn`: the name to report instead of the detected one.
    pub report_fqdn: Option<String>,
    /// `enrollment.request_timeout_seconds`: deadline of one request, default 30.
    pub request_timeout_seconds: u64,
}

impl Default for EnrollmentConfig {
    fn default() -> Self {
        EnrollmentConfig {
            poll_interval_seconds: 60,
            timeout: std::time::Duration::from_secs(86_400),
            manager_ca: None,
            manager_fingerprint: None,
            enroll_only: false,
            state_dir: PathBuf::from(DEFAULT_ENROLL_DIR),
            report_ip: None,
            report_fqdn: None,
            request_timeout_seconds: 30,
        }
    }
}

/// `system.*`
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SystemConfig {
    /// `system.reboot_command`: the reboot command as a list of arguments (no shell); empty
    /// (default) = `systemctl reboot` under systemd, else `reboot`.
    pub reboot_command: Vec<String>,
}

impl SystemConfig {
    /// The reboot command to run: the configured one, or the init system's.
    pub fn reboot_argv(&self) -> Vec<String> {
        if !self.reboot_command.is_empty() {
            return self.reboot_command.clone();
        }
        if Path::new("/run/systemd/system").is_dir() {
            vec!["systemctl".into(), "reboot".into()]
        } else {
            vec!["reboot".into()]
        }
    }
}

/// One problem found in the configuration, naming the key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// Dotted key, e.g. `server.port`; empty for file-level problems.
    pub key: String,
    /// What is wrong, e.g. `must be 1-65535, got 70000`.
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.key, self.message)
        }
    }
}

/// Default CA bundle path.
const DEFAULT_CA_CERT: &str = "/etc/linux_patch_api/certs/ca.pem";
/// Default server certificate chain path.
const DEFAULT_SERVER_CERT: &str = "/etc/linux_patch_api/certs/server.pem";
/// Default server key path.
const DEFAULT_SERVER_KEY: &str = "/etc/linux_patch_api/certs/server.key.pem";
/// Default whitelist path.
const DEFAULT_WHITELIST: &str = "/etc/linux_patch_api/whitelist.yaml";
/// Default job storage directory.
const DEFAULT_JOBS_DIR: &str = "/var/lib/linux_patch_api/jobs";
const DEFAULT_ROLLBACK_DIR: &str = "/var/lib/linux_patch_api/rollback";
/// Default `enrollment.state_dir`.
const DEFAULT_ENROLL_DIR: &str = "/var/lib/linux_patch_api/enroll";
/// Default audit log file.
const DEFAULT_AUDIT_LOG: &str = "/var/log/linux_patch_api/audit.log";

/// Accepted range of every `server.timeouts.*` value, in seconds.
const TIMEOUT_RANGE: (u64, u64) = (1, 3600);

/// The rate-limit categories, in the order of [`Config::rate_rules`]: `index()` is the
/// category index the rate limiter is built and queried with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RateCategory {
    /// `GET /health`.
    Health,
    /// Listing and showing packages.
    PackageList,
    /// Installing, removing, upgrading packages.
    PackageOperations,
    /// Listing and applying patches.
    PatchOperations,
    /// Job status, cancel, rollback.
    JobOperations,
    /// System information, services, reboot.
    SystemOperations,
}

impl RateCategory {
    /// Every category, in index order.
    pub const ALL: [RateCategory; 6] = [
        RateCategory::Health,
        RateCategory::PackageList,
        RateCategory::PackageOperations,
        RateCategory::PatchOperations,
        RateCategory::JobOperations,
        RateCategory::SystemOperations,
    ];

    /// Position of this category in [`Config::rate_rules`] and in the rate limiter.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The key under `rate_limits` in config.yaml, e.g. `package_list`.
    pub fn key(self) -> &'static str {
        match self {
            RateCategory::Health => "health",
            RateCategory::PackageList => "package_list",
            RateCategory::PackageOperations => "package_operations",
            RateCategory::PatchOperations => "patch_operations",
            RateCategory::JobOperations => "job_operations",
            RateCategory::SystemOperations => "system_operations",
        }
    }
}

impl RateLimitsConfig {
    /// The configured rule of one category.
    pub fn rule(&self, category: RateCategory) -> &RateRule {
        match category {
            RateCategory::Health => &self.health,
            RateCategory::PackageList => &self.package_list,
            RateCategory::PackageOperations => &self.package_operations,
            RateCategory::PatchOperations => &self.patch_operations,
            RateCategory::JobOperations => &self.job_operations,
            RateCategory::SystemOperations => &self.system_operations,
        }
    }
}

impl ConfigError {
    /// A problem with one key.
    fn at(key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError {
            key: key.to_string(),
            message: message.into(),
        }
    }

    /// A problem with the file as a whole.
    fn file(message: impl Into<String>) -> ConfigError {
        ConfigError::at("", message)
    }
}

impl Config {
    /// Reads, parses and validates a config file; relative paths inside it are taken
    /// relative to the file's directory. Returns every problem found, not just the first.
    pub fn load(path: &Path) -> Result<Config, Vec<ConfigError>> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| vec![ConfigError::file(format!("{}: {e}", path.display()))])?;
        Config::from_yaml_str(&text, &config_dir(path))
            .map_err(|errors| errors.into_iter().map(|e| name_file(e, path)).collect())
    }

    /// Parses and validates YAML text; `base` resolves relative paths.
    pub fn from_yaml_str(text: &str, base: &Path) -> Result<Config, Vec<ConfigError>> {
        let root: Value =
            serde_yaml_ng::from_str(text).map_err(|e| vec![ConfigError::file(yaml_message(&e))])?;
        let mut walker = Walker {
            base,
            errors: Vec::new(),
        };
        let config = walker.config(&root);
        if walker.errors.is_empty() {
            Ok(config)
        } else {
            Err(walker.errors)
        }
    }

    /// The server's per-connection deadlines and size limits.
    pub fn server_limits(&self) -> crate::http::server::Limits {
        let t = &self.server.timeouts;
        let l = &self.server.limits;
        crate::http::server::Limits {
            handshake: Duration::from_secs(t.tls_handshake_seconds),
            head: Duration::from_secs(t.request_head_seconds),
            body: Duration::from_secs(t.request_body_seconds),
            keep_alive_idle: Duration::from_secs(t.keep_alive_idle_seconds),
            write: Duration::from_secs(t.response_write_seconds),
            max_header_bytes: l.max_header_bytes,
            max_headers: l.max_headers,
            max_body_bytes: l.max_body_bytes,
        }
    }

    /// One rate-limiter rule per category, indexed by [`RateCategory::index`].
    pub fn rate_rules(&self) -> Vec<crate::http::ratelimit::Rule> {
        RateCategory::ALL
            .iter()
            .map(|&c| {
                let rule = self.rate_limits.rule(c);
                crate::http::ratelimit::Rule {
                    requests: rule.requests,
                    window: Duration::from_secs(rule.window_seconds),
                }
            })
            .collect()
    }

    /// The TLS files plus whether certificate-less clients may reach `/health`.
    pub fn tls_paths(&self) -> crate::http::tls::TlsPaths {
        crate::http::tls::TlsPaths {
            ca_cert: self.tls.ca_cert.clone(),
            server_cert: self.tls.server_cert.clone(),
            server_key: self.tls.server_key.clone(),
            crl: self.tls.crl.clone(),
            allow_unauthenticated: self.health.allow_unauthenticated,
            client_policy: self.tls.client_policy.clone(),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            server: ServerConfig::default(),
            tls: TlsConfig::default(),
            whitelist: WhitelistConfig {
                path: PathBuf::from(DEFAULT_WHITELIST),
            },
            health: HealthConfig {
                allow_unauthenticated: false,
            },
            rate_limits: RateLimitsConfig::default(),
            jobs: JobsConfig::default(),
            logging: LoggingConfig {
                level: log::LevelFilter::Info,
                audit_log: PathBuf::from(DEFAULT_AUDIT_LOG),
            },
            audit: AuditConfig::default(),
            api: ApiConfig { read_only: false },
            compat: CompatConfig {
                patch_manager: PatchManagerCompat::Auto,
            },
            package_manager: PackageManagerConfig::default(),
            apk: ApkConfig::default(),
            advisories: AdvisoriesConfig::default(),
            system: SystemConfig::default(),
            enrollment: EnrollmentConfig::default(),
        }
    }
}

impl Default for JobsConfig {
    fn default() -> Self {
        JobsConfig {
            max_concurrent: 5,
            timeout_minutes: 30,
            storage_path: PathBuf::from(DEFAULT_JOBS_DIR),
            timeout_seconds: None,
            max_queued: 100,
            retention_max_jobs: 1000,
            retention_days: 30,
            log_max_bytes: 1_048_576,
            cancel_grace_seconds: 10,
            rollback_cache_path: PathBuf::from(DEFAULT_ROLLBACK_DIR),
            rollback_cache_max_mb: 1024,
            websocket_max_sessions: 32,
            websocket_idle_timeout_seconds: 300,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            port: 12443,
            workers: 64,
            max_connections: 256,
            max_handshakes_per_address: 32,
            shutdown_grace_seconds: 30,
            timeouts: TimeoutsConfig {
                tls_handshake_seconds: 10,
                request_head_seconds: 10,
                request_body_seconds: 30,
                keep_alive_idle_seconds: 60,
                response_write_seconds: 30,
            },
            limits: LimitsConfig {
                max_header_bytes: 16384,
                max_headers: 64,
                max_body_bytes: 1_048_576,
                connection: ConnectionLimits::default(),
            },
        }
    }
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            ca_cert: PathBuf::from(DEFAULT_CA_CERT),
            server_cert: PathBuf::from(DEFAULT_SERVER_CERT),
            server_key: PathBuf::from(DEFAULT_SERVER_KEY),
            crl: None,
            client_policy: crate::http::tls::ClientPolicy::default(),
        }
    }
}

impl Default for RateLimitsConfig {
    fn default() -> Self {
        let per_minute = |requests| RateRule {
            requests,
            window_seconds: 60,
        };
        RateLimitsConfig {
            enabled: true,
            max_clients: 4096,
            health: per_minute(60),
            package_list: per_minute(30),
            package_operations: per_minute(10),
            patch_operations: per_minute(5),
            job_operations: per_minute(60),
            system_operations: per_minute(5),
        }
    }
}

/// The directory relative paths in `path` are resolved against, made absolute so that a
/// later change of working directory cannot change what they mean.
fn config_dir(path: &Path) -> PathBuf {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf())
}

/// Prefixes a file-level error with the file's name; key errors already say where they are.
fn name_file(error: ConfigError, path: &Path) -> ConfigError {
    if error.key.is_empty() {
        ConfigError::file(format!("{}: {}", path.display(), error.message))
    } else {
        error
    }
}

/// A YAML syntax error as one line that says where it is.
fn yaml_message(error: &serde_yaml_ng::Error) -> String {
    match error.location() {
        Some(loc) => format!(
            "invalid YAML at line {}, column {}: {}",
            loc.line(),
            loc.column(),
            strip_location(&error.to_string())
        ),
        None => format!("invalid YAML: {error}"),
    }
}

/// Drops the " at line L column C" the YAML library puts in its message, since
/// [`yaml_message`] states the location itself.
fn strip_location(message: &str) -> String {
    match message.find(" at line ") {
        Some(start) => {
            let rest = &message[start + " at line ".len()..];
            let tail = rest.find(", ").map(|i| &rest[i..]).unwrap_or("");
            format!("{}{}", &message[..start], tail)
        }
        None => message.to_string(),
    }
}

/// How a YAML value is named in "expected X, got Y" messages.
fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a decimal number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

/// Whether `name` is a DNS host name: dot-separated labels of letters, digits and `-`.
fn is_host_name(name: &str) -> bool {
    name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// Joins a section key and a field name into a dotted key.
fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// One mapping being read: its dotted key and its content (None = absent, use defaults).
struct Section<'v> {
    /// Dotted key of the mapping, empty at the top level.
    key: String,
    /// The mapping, when present and valid.
    map: Option<&'v Mapping>,
}

impl<'v> Section<'v> {
    /// The value of a field, if present.
    fn get(&self, name: &str) -> Option<&'v Value> {
        self.map.and_then(|m| m.get(name))
    }

    /// Dotted key of a field.
    fn key(&self, name: &str) -> String {
        join(&self.key, name)
    }
}

/// Walks the YAML tree, filling a [`Config`] from defaults and collecting every problem.
struct Walker<'b> {
    /// Directory that relative paths are resolved against.
    base: &'b Path,
    /// Every problem found so far.
    errors: Vec<ConfigError>,
}

impl Walker<'_> {
    /// Reads the whole file.
    fn config(&mut self, root: &Value) -> Config {
        let top = match root {
            Value::Null => Section {
                key: String::new(),
                map: None,
            },
            Value::Mapping(_) => self.section(Some(root), "", TOP_KEYS),
            other => {
                self.errors.push(ConfigError::file(format!(
                    "expected a mapping of sections at the top level, got {}",
                    describe(other)
                )));
                return Config::default();
            }
        };
        Config {
            server: self.server(&top),
            tls: self.tls(&top),
            whitelist: self.whitelist(&top),
            health: self.health(&top),
            rate_limits: self.rate_limits(&top),
            jobs: self.jobs(&top),
            logging: self.logging(&top),
            audit: self.audit(&top),
            api: self.api(&top),
            compat: self.compat(&top),
            package_manager: self.package_manager(&top),
            apk: self.apk(&top),
            advisories: self.advisories(&top),
            system: self.system(&top),
            enrollment: self.enrollment(&top),
        }
    }

    /// Opens a mapping, reporting a wrong type and every key not in `known`.
    fn section<'v>(&mut self, value: Option<&'v Value>, key: &str, known: &[&str]) -> Section<'v> {
        let map = match value {
            None | Some(Value::Null) => None,
            Some(Value::Mapping(m)) => {
                self.check_keys(m, key, known);
                Some(m)
            }
            Some(other) => {
                self.error(key, format!("expected a mapping, got {}", describe(other)));
                None
            }
        };
        Section {
            key: key.to_string(),
            map,
        }
    }

    /// Opens the child mapping `name` of `parent`.
    fn child<'v>(&mut self, parent: &Section<'v>, name: &str, known: &[&str]) -> Section<'v> {
        self.section(parent.get(name), &parent.key(name), known)
    }

    /// Reports keys that are not strings or not known.
    fn check_keys(&mut self, map: &Mapping, key: &str, known: &[&str]) {
        for name in map.keys() {
            match name {
                Value::String(s) if known.contains(&s.as_str()) => {}
                Value::String(s) => self.error(&join(key, s), "unknown key"),
                other => self.error(
                    key,
                    format!("keys must be strings, got {}", describe(other)),
                ),
            }
        }
    }

    /// Records one problem.
    fn error(&mut self, key: &str, message: impl Into<String>) {
        self.errors.push(ConfigError::at(key, message));
    }

    /// An integer within `lo..=hi`; None when absent or wrong (the latter is recorded).
    fn integer(&mut self, s: &Section, name: &str, (lo, hi): (u64, u64)) -> Option<u64> {
        let value = s.get(name)?;
        let key = s.key(name);
        let Value::Number(n) = value else {
            self.error(
                &key,
                format!("expected an integer, got {}", describe(value)),
            );
            return None;
        };
        let in_range = n.as_u64().filter(|v| (lo..=hi).contains(v));
        if in_range.is_none() {
            if n.is_i64() || n.is_u64() {
                self.error(&key, format!("must be {lo}-{hi}, got {n}"));
            } else {
                self.error(&key, format!("expected an integer, got {n}"));
            }
        }
        in_range
    }

    /// Like [`Walker::integer`] with a default, as u64.
    fn u64_or(&mut self, s: &Section, name: &str, range: (u64, u64), default: u64) -> u64 {
        self.integer(s, name, range).unwrap_or(default)
    }

    /// Like [`Walker::integer`] with a default, as usize.
    fn usize_or(&mut self, s: &Section, name: &str, range: (u64, u64), default: usize) -> usize {
        self.integer(s, name, range)
            .and_then(|v| usize::try_from(v).ok())
            .unwrap_or(default)
    }

    /// A boolean, or `default` when absent or wrong.
    fn boolean(&mut self, s: &Section, name: &str, default: bool) -> bool {
        match s.get(name) {
            None => default,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                let message = format!(
                    "expected a boolean (true or false), got {}",
                    describe(other)
                );
                self.error(&s.key(name), message);
                default
            }
        }
    }

    /// A string, or None when absent or not a string (the latter is recorded).
    fn string<'v>(&mut self, s: &Section<'v>, name: &str) -> Option<&'v str> {
        match s.get(name)? {
            Value::String(text) => Some(text),
            other => {
                self.error(
                    &s.key(name),
                    format!("expected a string, got {}", describe(other)),
                );
                None
            }
        }
    }

    /// A non-empty path, made absolute against the base directory.
    fn path(&mut self, s: &Section, name: &str, default: &str) -> PathBuf {
        self.path_value(s, name)
            .unwrap_or_else(|| PathBuf::from(default))
    }

    /// A non-empty path, or None when absent or wrong (the latter is recorded).
    fn path_value(&mut self, s: &Section, name: &str) -> Option<PathBuf> {
        let text = self.string(s, name)?;
        if text.is_empty() {
            self.error(&s.key(name), "must not be empty");
            return None;
        }
        Some(self.base.join(text))
    }

    /// `server.*`
    fn server(&mut self, top: &Section) -> ServerConfig {
        let d = ServerConfig::default();
        let s = self.child(top, "server", SERVER_KEYS);
        let bind = self.ip(&s, "bind").unwrap_or(d.bind);
        let port = self.integer(&s, "port", (1, 65535));
        let workers = self.integer(&s, "workers", (1, 4096));
        let max_connections = self.integer(&s, "max_connections", (1, 65536));
        let workers_n = workers.unwrap_or(d.workers as u64);
        if let Some(max) = max_connections {
            if workers.is_some() || s.get("workers").is_none() {
                self.check_connections(&s, max, workers_n);
            }
        }
        ServerConfig {
            bind,
            port: port.and_then(|p| u16::try_from(p).ok()).unwrap_or(d.port),
            workers: usize::try_from(workers_n).unwrap_or(d.workers),
            max_connections: max_connections
                .and_then(|v| usize::try_from(v).ok())
                .unwrap_or(d.max_connections),
            max_handshakes_per_address: self.usize_or(
                &s,
                "max_handshakes_per_address",
                (1, 65536),
                d.max_handshakes_per_address,
            ),
            shutdown_grace_seconds: self.u64_or(
                &s,
                "shutdown_grace_seconds",
                (0, 3600),
                d.shutdown_grace_seconds,
            ),
            timeouts: self.timeouts(&s, d.timeouts),
            limits: self.limits(&s, d.limits),
        }
    }

    /// Queued connections need a serving thread each eventually, so fewer slots than
    /// threads would leave threads that can never be used.
    fn check_connections(&mut self, s: &Section, max: u64, workers: u64) {
        if max < workers {
            let message = format!("must be at least server.workers ({workers}), got {max}");
            self.error(&s.key("max_connections"), message);
        }
    }

    /// An IP address, or None when absent or wrong (the latter is recorded).
    fn ip(&mut self, s: &Section, name: &str) -> Option<IpAddr> {
        let text = self.string(s, name)?;
        match text.parse() {
            Ok(ip) => Some(ip),
            Err(_) => {
                self.error(&s.key(name), format!("not an IP address: {text:?}"));
                None
            }
        }
    }

    /// `server.timeouts.*`
    fn timeouts(&mut self, server: &Section, d: TimeoutsConfig) -> TimeoutsConfig {
        let s = self.child(server, "timeouts", TIMEOUT_KEYS);
        let r = TIMEOUT_RANGE;
        TimeoutsConfig {
            tls_handshake_seconds: self.u64_or(
                &s,
                "tls_handshake_seconds",
                r,
                d.tls_handshake_seconds,
            ),
            request_head_seconds: self.u64_or(
                &s,
                "request_head_seconds",
                r,
                d.request_head_seconds,
            ),
            request_body_seconds: self.u64_or(
                &s,
                "request_body_seconds",
                r,
                d.request_body_seconds,
            ),
            keep_alive_idle_seconds: self.u64_or(
                &s,
                "keep_alive_idle_seconds",
                r,
                d.keep_alive_idle_seconds,
            ),
            response_write_seconds: self.u64_or(
                &s,
                "response_write_seconds",
                r,
                d.response_write_seconds,
            ),
        }
    }

    /// `server.limits.*`
    fn limits(&mut self, server: &Section, d: LimitsConfig) -> LimitsConfig {
        let s = self.child(server, "limits", LIMIT_KEYS);
        LimitsConfig {
            max_header_bytes: self.usize_or(
                &s,
                "max_header_bytes",
                (1024, 1_048_576),
                d.max_header_bytes,
            ),
            max_headers: self.usize_or(&s, "max_headers", (8, 1024), d.max_headers),
            max_body_bytes: self.usize_or(
                &s,
                "max_body_bytes",
                (1024, 104_857_600),
                d.max_body_bytes,
            ),
            connection: self.connection_limits(&s, d.connection),
        }
    }

    /// `tls.*`
    fn tls(&mut self, top: &Section) -> TlsConfig {
        let s = self.child(top, "tls", TLS_KEYS);
        let crl = match s.get("crl") {
            None | Some(Value::Null) => None,
            Some(_) => self.path_value(&s, "crl"),
        };
        TlsConfig {
            ca_cert: self.path(&s, "ca_cert", DEFAULT_CA_CERT),
            server_cert: self.path(&s, "server_cert", DEFAULT_SERVER_CERT),
            server_key: self.path(&s, "server_key", DEFAULT_SERVER_KEY),
            crl,
            client_policy: self.client_policy(&s),
        }
    }

    /// `whitelist.*`
    fn whitelist(&mut self, top: &Section) -> WhitelistConfig {
        let s = self.child(top, "whitelist", &["path"]);
        WhitelistConfig {
            path: self.path(&s, "path", DEFAULT_WHITELIST),
        }
    }

    /// `health.*`
    fn health(&mut self, top: &Section) -> HealthConfig {
        let s = self.child(top, "health", &["allow_unauthenticated"]);
        HealthConfig {
            allow_unauthenticated: self.boolean(&s, "allow_unauthenticated", false),
        }
    }

    /// `rate_limits.*`
    fn rate_limits(&mut self, top: &Section) -> RateLimitsConfig {
        let d = RateLimitsConfig::default();
        let s = self.child(top, "rate_limits", RATE_KEYS);
        let mut rule = |c: RateCategory| self.rule(&s, c.key(), d.rule(c).clone());
        let health = rule(RateCategory::Health);
        let package_list = rule(RateCategory::PackageList);
        let package_operations = rule(RateCategory::PackageOperations);
        let patch_operations = rule(RateCategory::PatchOperations);
        let job_operations = rule(RateCategory::JobOperations);
        let system_operations = rule(RateCategory::SystemOperations);
        RateLimitsConfig {
            enabled: self.boolean(&s, "enabled", d.enabled),
            max_clients: self.usize_or(&s, "max_clients", (16, 1_000_000), d.max_clients),
            health,
            package_list,
            package_operations,
            patch_operations,
            job_operations,
            system_operations,
        }
    }

    /// One `rate_limits.<category>` rule.
    fn rule(&mut self, parent: &Section, name: &str, d: RateRule) -> RateRule {
        let s = self.child(parent, name, &["requests", "window_seconds"]);
        let requests = self
            .integer(&s, "requests", (1, 100_000))
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(d.requests);
        RateRule {
            requests,
            window_seconds: self.u64_or(&s, "window_seconds", (1, 86_400), d.window_seconds),
        }
    }

    /// `jobs.*`
    fn jobs(&mut self, top: &Section) -> JobsConfig {
        let d = JobsConfig::default();
        let s = self.child(
            top,
            "jobs",
            &[
                "max_concurrent",
                "timeout_minutes",
                "timeout_seconds",
                "storage_path",
                "max_queued",
                "retention_max_jobs",
                "retention_days",
                "log_max_bytes",
                "cancel_grace_seconds",
                "rollback_cache_path",
                "rollback_cache_max_mb",
                "websocket_max_sessions",
                "websocket_idle_timeout_seconds",
            ],
        );
        JobsConfig {
            max_concurrent: self.usize_or(&s, "max_concurrent", (1, 64), d.max_concurrent),
            timeout_minutes: self.u64_or(&s, "timeout_minutes", (1, 1440), d.timeout_minutes),
            timeout_seconds: self.integer(&s, "timeout_seconds", (1, 86_400)),
            storage_path: self.path(&s, "storage_path", DEFAULT_JOBS_DIR),
            max_queued: self.usize_or(&s, "max_queued", (1, 10_000), d.max_queued),
            retention_max_jobs: self.usize_or(
                &s,
                "retention_max_jobs",
                (1, 1_000_000),
                d.retention_max_jobs,
            ),
            retention_days: self.u64_or(&s, "retention_days", (1, 3650), d.retention_days),
            log_max_bytes: self.usize_or(&s, "log_max_bytes", (4096, 1 << 30), d.log_max_bytes),
            cancel_grace_seconds: self.u64_or(
                &s,
                "cancel_grace_seconds",
                (1, 600),
                d.cancel_grace_seconds,
            ),
            rollback_cache_path: self.path(&s, "rollback_cache_path", DEFAULT_ROLLBACK_DIR),
            rollback_cache_max_mb: self.u64_or(
                &s,
                "rollback_cache_max_mb",
                (1, 1 << 20),
                d.rollback_cache_max_mb,
            ),
            websocket_max_sessions: self.usize_or(
                &s,
                "websocket_max_sessions",
                (1, 4096),
                d.websocket_max_sessions,
            ),
            websocket_idle_timeout_seconds: self.u64_or(
                &s,
                "websocket_idle_timeout_seconds",
                (5, 86_400),
                d.websocket_idle_timeout_seconds,
            ),
        }
    }

    /// `logging.*`
    fn logging(&mut self, top: &Section) -> LoggingConfig {
        let s = self.child(top, "logging", &["level", "audit_log"]);
        LoggingConfig {
            level: self.level(&s).unwrap_or(log::LevelFilter::Info),
            audit_log: self.path(&s, "audit_log", DEFAULT_AUDIT_LOG),
        }
    }

    /// `logging.level`, one of [`LEVELS`].
    fn level(&mut self, s: &Section) -> Option<log::LevelFilter> {
        let text = self.string(s, "level")?;
        let found = LEVELS
            .iter()
            .find(|(name, _)| *name == text)
            .map(|(_, l)| *l);
        if found.is_none() {
            let names: Vec<&str> = LEVELS.iter().map(|(n, _)| *n).collect();
            let message = format!("must be one of {}; got {text:?}", names.join(", "));
            self.error(&s.key("level"), message);
        }
        found
    }

    /// `api.*`
    fn api(&mut self, top: &Section) -> ApiConfig {
        let s = self.child(top, "api", &["read_only"]);
        ApiConfig {
            read_only: self.boolean(&s, "read_only", false),
        }
    }

    /// `package_manager.*`
    fn package_manager(&mut self, top: &Section) -> PackageManagerConfig {
        let d = PackageManagerConfig::default();
        let s = self.child(
            top,
            "package_manager",
            &[
                "backend",
                "root",
                "command_timeout_seconds",
                "lock_wait_seconds",
                "metadata_max_age_seconds",
                "metadata_refresh_jitter_seconds",
                "refresh_in_read_only",
            ],
        );
        PackageManagerConfig {
            backend: self.backend(&s).unwrap_or(d.backend),
            root: self.absolute_path(&s, "root").unwrap_or(d.root),
            command_timeout_seconds: self.u64_or(
                &s,
                "command_timeout_seconds",
                (1, 86_400),
                d.command_timeout_seconds,
            ),
            lock_wait_seconds: self.u64_or(&s, "lock_wait_seconds", (0, 3600), d.lock_wait_seconds),
            metadata_max_age_seconds: self.u64_or(
                &s,
                "metadata_max_age_seconds",
                (0, 604_800),
                d.metadata_max_age_seconds,
            ),
            metadata_refresh_jitter_seconds: self.u64_or(
                &s,
                "metadata_refresh_jitter_seconds",
                (0, 86_400),
                d.metadata_refresh_jitter_seconds,
            ),
            refresh_in_read_only: self.boolean(&s, "refresh_in_read_only", false),
        }
    }

    /// `package_manager.backend`: `auto` or one of [`BACKEND_NAMES`].
    fn backend(&mut self, s: &Section) -> Option<BackendChoice> {
        let text = self.string(s, "backend")?;
        if text == "auto" {
            return Some(BackendChoice::Auto);
        }
        let found = BACKEND_NAMES.iter().find(|n| **n == text).copied();
        if found.is_none() {
            let message = format!(
                "must be auto or one of {}; got {text:?}",
                BACKEND_NAMES.join(", ")
            );
            self.error(&s.key("backend"), message);
        }
        found.map(BackendChoice::Named)
    }

    /// A path that must be absolute as written (a root is never relative to the config).
    fn absolute_path(&mut self, s: &Section, name: &str) -> Option<PathBuf> {
        let text = self.string(s, name)?;
        if !text.starts_with('/') {
            self.error(
                &s.key(name),
                format!("must be an absolute path, got {text:?}"),
            );
            return None;
        }
        Some(PathBuf::from(text))
    }

    /// `enrollment.*`
    fn enrollment(&mut self, top: &Section) -> EnrollmentConfig {
        let d = EnrollmentConfig::default();
        let s = self.child(
            top,
            "enrollment",
            &[
                "poll_interval_seconds",
                "timeout",
                "manager_ca",
                "manager_fingerprint",
                "enroll_only",
                "state_dir",
                "report_ip",
                "report_fqdn",
                "request_timeout_seconds",
            ],
        );
        let manager_fingerprint = self.string(&s, "manager_fingerprint").and_then(|t| {
            crate::x509::parse_sha256_fingerprint(t)
                .map_err(|m| self.error(&s.key("manager_fingerprint"), m))
                .ok()
        });
        let manager_ca = self.path_value(&s, "manager_ca");
        if manager_ca.is_some() && manager_fingerprint.is_some() {
            self.error(
                &s.key("manager_fingerprint"),
                "give enrollment.manager_ca or enrollment.manager_fingerprint, not both",
            );
        }
        let report_fqdn = self.string(&s, "report_fqdn").map(str::to_string);
        if let Some(name) = &report_fqdn {
            if !is_host_name(name) {
                self.error(
                    &s.key("report_fqdn"),
                    format!("must be a host name such as host-01.example.com, got {name:?}"),
                );
            }
        }
        EnrollmentConfig {
            poll_interval_seconds: self.u64_or(
                &s,
                "poll_interval_seconds",
                (1, 86_400),
                d.poll_interval_seconds,
            ),
            timeout: self.duration(&s, "timeout").unwrap_or(d.timeout),
            manager_ca,
            manager_fingerprint,
            enroll_only: self.boolean(&s, "enroll_only", false),
            state_dir: self.path(&s, "state_dir", DEFAULT_ENROLL_DIR),
            report_ip: self.ip(&s, "report_ip"),
            report_fqdn,
            request_timeout_seconds: self.u64_or(
                &s,
                "request_timeout_seconds",
                (1, 600),
                d.request_timeout_seconds,
            ),
        }
    }

    /// A duration written `90s`, `15m`, `24h`, `2d`, or as whole seconds.
    fn duration(&mut self, s: &Section, name: &str) -> Option<std::time::Duration> {
        let parsed = match s.get(name)? {
            Value::Number(n) => n
                .as_u64()
                .ok_or_else(|| format!("expected a duration such as 24h, got {n}"))
                .and_then(|secs| crate::timefmt::parse_duration(&secs.to_string())),
            Value::String(t) => crate::timefmt::parse_duration(t),
            other => Err(format!(
                "expected a duration such as 24h, got {}",
                describe(other)
            )),
        };
        parsed.map_err(|m| self.error(&s.key(name), m)).ok()
    }

    /// `system.*`
    fn system(&mut self, top: &Section) -> SystemConfig {
        let s = self.child(top, "system", &["reboot_command"]);
        let key = s.key("reboot_command");
        let reboot_command = match s.get("reboot_command") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Sequence(items)) => {
                let argv: Vec<String> = items
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect();
                let program = argv.first().map_or("/", String::as_str);
                if argv.len() != items.len() || argv.iter().any(String::is_empty) {
                    self.error(&key, "every item must be a non-empty string");
                    Vec::new()
                } else if !program.starts_with('/') && program.contains('/') {
                    let message =
                        format!("the program must be a name or an absolute path, got {program:?}");
                    self.error(&key, message);
                    Vec::new()
                } else {
                    argv
                }
            }
            Some(other) => {
                let message = format!(
                    "expected a list of arguments such as [systemctl, reboot], got {}",
                    describe(other)
                );
                self.error(&key, message);
                Vec::new()
            }
        };
        SystemConfig { reboot_command }
    }

    /// `compat.*`
    fn apk(&mut self, top: &Section) -> ApkConfig {
        let s = self.child(top, "apk", &["allow_untrusted"]);
        ApkConfig {
            allow_untrusted: self.boolean(&s, "allow_untrusted", false),
        }
    }

    fn compat(&mut self, top: &Section) -> CompatConfig {
        let s = self.child(top, "compat", &["patch_manager"]);
        CompatConfig {
            patch_manager: self.patch_manager_compat(&s),
        }
    }

    /// `compat.patch_manager`: a boolean (as before) or one of `auto`, `true`, `false`.
    fn patch_manager_compat(&mut self, s: &Section) -> PatchManagerCompat {
        let Some(value) = s.get("patch_manager") else {
            return PatchManagerCompat::default();
        };
        let parsed = match value {
            Value::Bool(b) => Some(PatchManagerCompat::from_bool(*b)),
            Value::String(text) => PatchManagerCompat::parse_text(text),
            _ => None,
        };
        if let Some(setting) = parsed {
            return setting;
        }
        let got = match value {
            Value::String(text) => format!("{text:?}"),
            other => describe(other).to_string(),
        };
        let message = format!("must be {}; got {got}", crate::compat::ACCEPTED);
        self.error(&s.key("patch_manager"), message);
        PatchManagerCompat::default()
    }
}

/// Sections allowed at the top level.
const TOP_KEYS: &[&str] = &[
    "package_manager",
    "apk",
    "server",
    "tls",
    "whitelist",
    "health",
    "rate_limits",
    "jobs",
    "logging",
    "audit",
    "api",
    "compat",
    "advisories",
    "system",
    "enrollment",
];

/// Keys allowed under `server`.
const SERVER_KEYS: &[&str] = &[
    "bind",
    "port",
    "workers",
    "max_connections",
    "max_handshakes_per_address",
    "shutdown_grace_seconds",
    "timeouts",
    "limits",
];

/// Keys allowed under `server.timeouts`.
const TIMEOUT_KEYS: &[&str] = &[
    "tls_handshake_seconds",
    "request_head_seconds",
    "request_body_seconds",
    "keep_alive_idle_seconds",
    "response_write_seconds",
];

/// Keys allowed under `server.limits`.
const LIMIT_KEYS: &[&str] = &[
    "max_header_bytes",
    "max_headers",
    "max_body_bytes",
    connection::KEYS[0],
    connection::KEYS[1],
    connection::KEYS[2],
];

/// Keys allowed under `tls`.
const TLS_KEYS: &[&str] = &[
    "ca_cert",
    "server_cert",
    "server_key",
    "crl",
    "require_client_auth_eku",
    "allowed_clients",
];

/// Keys allowed under `rate_limits`.
const RATE_KEYS: &[&str] = &[
    "enabled",
    "max_clients",
    "health",
    "package_list",
    "package_operations",
    "patch_operations",
    "job_operations",
    "system_operations",
];

/// Names accepted by `logging.level`.
const LEVELS: &[(&str, log::LevelFilter)] = &[
    ("error", log::LevelFilter::Error),
    ("warn", log::LevelFilter::Warn),
    ("info", log::LevelFilter::Info),
    ("debug", log::LevelFilter::Debug),
    ("trace", log::LevelFilter::Trace),
    ("off", log::LevelFilter::Off),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, Vec<ConfigError>> {
        Config::from_yaml_str(text, Path::new("/base"))
    }

    fn messages(text: &str) -> Vec<String> {
        match parse(text) {
            Ok(c) => panic!("expected errors, got {c:?}"),
            Err(errors) => errors.iter().map(|e| e.to_string()).collect(),
        }
    }

    fn one_error(text: &str) -> String {
        let all = messages(text);
        assert_eq!(all.len(), 1, "{all:?}");
        all[0].clone()
    }

    #[test]
    fn system_keys_are_validated() {
        let c = parse("system:\n  reboot_command: [/usr/local/bin/rb, --now]\n").unwrap();
        assert_eq!(c.system.reboot_argv(), vec!["/usr/local/bin/rb", "--now"]);
        assert_eq!(
            one_error("system:\n  reboot_command: systemctl reboot\n"),
            "system.reboot_command: expected a list of arguments such as [systemctl, reboot], got a string"
        );
        assert_eq!(
            one_error("system:\n  reboot_command: [bin/reboot]\n"),
            "system.reboot_command: the program must be a name or an absolute path, got \"bin/reboot\""
        );
        assert_eq!(
            one_error("system:\n  reboot_command: [reboot, '']\n"),
            "system.reboot_command: every item must be a non-empty string"
        );
        assert!(parse("system:\n  reboot_command: []\n")
            .unwrap()
            .system
            .reboot_command
            .is_empty());
        let default = SystemConfig::default().reboot_argv();
        assert!(default == ["reboot"] || default == ["systemctl", "reboot"]);
    }

    #[test]
    fn defaults_are_the_documented_values() {
        let c = Config::default();
        assert_eq!(c.server.bind, "0.0.0.0".parse::<IpAddr>().unwrap());
        assert_eq!(c.server.port, 12443);
        assert_eq!(c.server.workers, 64);
        assert_eq!(c.server.max_connections, 256);
        assert_eq!(c.server.timeouts.request_body_seconds, 30);
        assert_eq!(c.server.limits.max_body_bytes, 1_048_576);
        assert_eq!(
            c.tls.ca_cert,
            Path::new("/etc/linux_patch_api/certs/ca.pem")
        );
        assert_eq!(c.tls.crl, None);
        assert_eq!(c.rate_limits.patch_operations.requests, 5);
        assert_eq!(c.jobs.max_concurrent, 5);
        assert_eq!(c.jobs.timeout_minutes, 30);
        assert_eq!(c.logging.level, log::LevelFilter::Info);
        assert!(!c.api.read_only);
        assert_eq!(c.compat.patch_manager, PatchManagerCompat::Auto);
        assert!(!c.health.allow_unauthenticated && c.rate_limits.enabled);
    }

    #[test]
    fn empty_text_comments_and_empty_sections_mean_defaults() {
        assert_eq!(parse("").unwrap(), Config::default());
        assert_eq!(parse("# nothing\n").unwrap(), Config::default());
        assert_eq!(parse("server:\ntls:\n").unwrap(), Config::default());
    }

    #[test]
    fn example_file_parses_to_the_defaults() {
        let text = include_str!("../etc/config.yaml");
        assert_eq!(parse(text).unwrap(), Config::default());
    }

    #[test]
    fn values_override_defaults() {
        let c = parse(
            "server: {bind: '::1', port: 8443, timeouts: {tls_handshake_seconds: 3}}\n\
             logging: {level: debug}\napi: {read_only: true}\n\
             rate_limits: {health: {requests: 7, window_seconds: 2}}\n",
        )
        .unwrap();
        assert_eq!(c.server.bind, "::1".parse::<IpAddr>().unwrap());
        assert_eq!(c.server.port, 8443);
        assert_eq!(c.server.timeouts.tls_handshake_seconds, 3);
        assert_eq!(c.server.timeouts.request_head_seconds, 10);
        assert_eq!(c.logging.level, log::LevelFilter::Debug);
        assert!(c.api.read_only);
        assert_eq!(
            c.rate_limits.health,
            RateRule {
                requests: 7,
                window_seconds: 2
            }
        );
    }

    #[test]
    fn compat_patch_manager_takes_auto_and_the_booleans() {
        let value = |text: &str| parse(text).unwrap().compat.patch_manager;
        assert_eq!(value("compat:\n"), PatchManagerCompat::Auto);
        assert_eq!(
            value("compat:\n  patch_manager: auto\n"),
            PatchManagerCompat::Auto
        );
        assert_eq!(
            value("compat:\n  patch_manager: true\n"),
            PatchManagerCompat::On
        );
        assert_eq!(
            value("compat:\n  patch_manager: false\n"),
            PatchManagerCompat::Off
        );
        assert_eq!(
            value("compat: {patch_manager: \"false\"}\n"),
            PatchManagerCompat::Off
        );
        assert_eq!(
            one_error("compat:\n  patch_manager: yes\n"),
            "compat.patch_manager: must be auto, true or false; got \"yes\""
        );
        assert_eq!(
            one_error("compat:\n  patch_manager: 1\n"),
            "compat.patch_manager: must be auto, true or false; got an integer"
        );
        assert_eq!(
            one_error("compat:\n  patch_manager: [auto]\n"),
            "compat.patch_manager: must be auto, true or false; got a list"
        );
    }

    #[test]
    fn unknown_keys_are_named() {
        assert_eq!(
            one_error("server:\n  prot: 1\n"),
            "server.prot: unknown key"
        );
        assert_eq!(one_error("packages: apt\n"), "packages: unknown key");
        assert_eq!(
            one_error("rate_limits:\n  health:\n    request: 1\n"),
            "rate_limits.health.request: unknown key"
        );
    }

    #[test]
    fn wrong_types_are_named() {
        assert_eq!(
            one_error("server:\n  port: \"8443\"\n"),
            "server.port: expected an integer, got a string"
        );
        assert_eq!(
            one_error("server:\n  port: 1.5\n"),
            "server.port: expected an integer, got 1.5"
        );
        assert_eq!(
            one_error("api:\n  read_only: yes\n"),
            "api.read_only: expected a boolean (true or false), got a string"
        );
        assert_eq!(
            one_error("server: 5\n"),
            "server: expected a mapping, got an integer"
        );
        assert_eq!(
            one_error("jobs:\n  storage_path: [a]\n"),
            "jobs.storage_path: expected a string, got a list"
        );
        assert_eq!(
            one_error("- a\n- b\n"),
            "expected a mapping of sections at the top level, got a list"
        );
    }

    #[test]
    fn ranges_are_checked() {
        assert_eq!(
            one_error("server:\n  port: 70000\n"),
            "server.port: must be 1-65535, got 70000"
        );
        assert_eq!(
            one_error("server:\n  port: 0\n"),
            "server.port: must be 1-65535, got 0"
        );
        assert_eq!(
            one_error("server:\n  workers: -3\n"),
            "server.workers: must be 1-4096, got -3"
        );
        assert_eq!(
            one_error("server:\n  timeouts:\n    request_body_seconds: 3601\n"),
            "server.timeouts.request_body_seconds: must be 1-3600, got 3601"
        );
        assert_eq!(
            one_error("server:\n  limits:\n    max_headers: 7\n"),
            "server.limits.max_headers: must be 8-1024, got 7"
        );
        assert_eq!(
            one_error("rate_limits:\n  max_clients: 15\n"),
            "rate_limits.max_clients: must be 16-1000000, got 15"
        );
        assert_eq!(
            one_error("rate_limits:\n  job_operations: {window_seconds: 86401}\n"),
            "rate_limits.job_operations.window_seconds: must be 1-86400, got 86401"
        );
        assert_eq!(
            one_error("jobs:\n  max_concurrent: 65\n"),
            "jobs.max_concurrent: must be 1-64, got 65"
        );
        assert_eq!(
            one_error("jobs:\n  timeout_minutes: 1441\n"),
            "jobs.timeout_minutes: must be 1-1440, got 1441"
        );
    }

    #[test]
    fn max_handshakes_per_address_is_bounded() {
        assert_eq!(Config::default().server.max_handshakes_per_address, 32);
        let c = parse("server:\n  max_handshakes_per_address: 4\n").unwrap();
        assert_eq!(c.server.max_handshakes_per_address, 4);
        assert_eq!(
            one_error("server:\n  max_handshakes_per_address: 0\n"),
            "server.max_handshakes_per_address: must be 1-65536, got 0"
        );
    }

    #[test]
    fn max_connections_must_cover_the_workers() {
        assert_eq!(
            one_error("server:\n  workers: 100\n  max_connections: 99\n"),
            "server.max_connections: must be at least server.workers (100), got 99"
        );
        assert_eq!(
            one_error("server:\n  max_connections: 10\n"),
            "server.max_connections: must be at least server.workers (64), got 10"
        );
        assert_eq!(
            one_error("server:\n  max_connections: 65537\n"),
            "server.max_connections: must be 1-65536, got 65537"
        );
        let c = parse("server:\n  workers: 4\n  max_connections: 4\n").unwrap();
        assert_eq!((c.server.workers, c.server.max_connections), (4, 4));
    }

    #[test]
    fn bad_ip_level_and_empty_path_are_named() {
        assert_eq!(
            one_error("server:\n  bind: x\n"),
            "server.bind: not an IP address: \"x\""
        );
        assert_eq!(
            one_error("logging:\n  level: verbose\n"),
            "logging.level: must be one of error, warn, info, debug, trace, off; got \"verbose\""
        );
        assert_eq!(
            one_error("whitelist:\n  path: ''\n"),
            "whitelist.path: must not be empty"
        );
        let c = parse("logging:\n  level: off\n").unwrap();
        assert_eq!(c.logging.level, log::LevelFilter::Off);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let all = messages(
            "server:\n  port: 70000\n  bind: nope\n  prot: 1\n\
             logging:\n  level: loud\njobs:\n  max_concurrent: 0\nenrolment: {}\n",
        );
        assert_eq!(all.len(), 6, "{all:?}");
        for expected in [
            "server.port: must be 1-65535, got 70000",
            "server.bind: not an IP address: \"nope\"",
            "server.prot: unknown key",
            "jobs.max_concurrent: must be 1-64, got 0",
            "enrolment: unknown key",
        ] {
            assert!(
                all.iter().any(|m| m == expected),
                "{expected} not in {all:?}"
            );
        }
    }

    #[test]
    fn enrollment_keys_are_validated() {
        let c = parse(
            "enrollment:\n  poll_interval_seconds: 5\n  timeout: 2h\n  manager_ca: manager-ca.pem\n  enroll_only: true\n  report_ip: 192.0.2.10\n  report_fqdn: host-01.example.com\n",
        )
        .unwrap();
        let e = &c.enrollment;
        assert_eq!(e.poll_interval_seconds, 5);
        assert_eq!(e.timeout, std::time::Duration::from_secs(7200));
        assert_eq!(e.manager_ca, Some(PathBuf::from("/base/manager-ca.pem")));
        assert!(e.enroll_only);
        assert_eq!(e.report_ip, Some("192.0.2.10".parse().unwrap()));
        assert_eq!(
            e.state_dir,
            PathBuf::from("/var/lib/linux_patch_api/enroll")
        );
        let fp = "ab".repeat(32);
        let c = parse(&format!(
            "enrollment:\n  manager_fingerprint: '{fp}'\n  timeout: 600\n"
        ))
        .unwrap();
        assert_eq!(c.enrollment.manager_fingerprint, Some([0xab; 32]));
        assert_eq!(c.enrollment.timeout, std::time::Duration::from_secs(600));
        let errors = messages(&format!(
            "enrollment:\n  manager_ca: ca.pem\n  manager_fingerprint: '{fp}'\n  timeout: 3 weeks\n  report_fqdn: 'bad name'\n  poll_interval_seconds: 0\n"
        ));
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(errors[0].starts_with("enrollment.manager_fingerprint: give enrollment.manager_ca"));
        assert!(errors[1].starts_with("enrollment.report_fqdn: must be a host name"));
        assert!(errors[2].starts_with("enrollment.poll_interval_seconds: must be 1-86400"));
        assert!(errors[3].starts_with("enrollment.timeout: \"3 weeks\" is not a duration"));
        assert!(one_error("enrollment:\n  manager_fingerprint: abc\n")
            .starts_with("enrollment.manager_fingerprint: \"abc\" is not a SHA-256"));
    }

    #[test]
    fn apk_allow_untrusted_defaults_to_false() {
        assert!(!parse("").unwrap().apk.allow_untrusted);
        let c = parse("apk:\n  allow_untrusted: true\n").unwrap();
        assert!(c.apk.allow_untrusted);
        let errors = messages("apk:\n  allow_untrusted: maybe\n  keys: /x\n");
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors.iter().all(|e| e.starts_with("apk.")), "{errors:?}");
    }

    #[test]
    fn package_manager_keys_are_validated() {
        let c = parse("package_manager:\n  backend: pacman\n  root: /srv/image\n").unwrap();
        assert_eq!(c.package_manager.backend, BackendChoice::Named("pacman"));
        assert_eq!(c.package_manager.root, PathBuf::from("/srv/image"));
        let errors = messages(
            "package_manager:\n  backend: portage\n  root: relative/dir\n  lock_wait_seconds: 99999\n",
        );
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[0].starts_with("package_manager.backend: must be auto or one of apt,"));
        assert_eq!(
            errors[1],
            "package_manager.root: must be an absolute path, got \"relative/dir\""
        );
        assert!(errors[2].starts_with("package_manager.lock_wait_seconds: must be 0-3600"));
    }

    #[test]
    fn relative_paths_resolve_against_the_base() {
        let c = parse(
            "tls:\n  ca_cert: certs/ca.pem\n  server_cert: /abs/server.pem\n  crl: crl.pem\n\
             jobs:\n  storage_path: ../jobs\n",
        )
        .unwrap();
        assert_eq!(c.tls.ca_cert, Path::new("/base/certs/ca.pem"));
        assert_eq!(c.tls.server_cert, Path::new("/abs/server.pem"));
        assert_eq!(c.tls.crl.as_deref(), Some(Path::new("/base/crl.pem")));
        assert_eq!(c.jobs.storage_path, Path::new("/base/../jobs"));
    }

    #[test]
    fn yaml_syntax_error_gives_line_and_column() {
        let all = messages("server:\n  port: 1\n bind: [\n");
        assert_eq!(all.len(), 1);
        assert!(all[0].starts_with("invalid YAML at line "), "{}", all[0]);
        assert!(!all[0].contains(" at line 3 column"), "{}", all[0]);
    }

    #[test]
    fn load_resolves_against_the_file_directory_and_names_the_file() {
        let dir = std::env::temp_dir().join(format!("lpa-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("config.yaml");
        std::fs::write(&file, "whitelist:\n  path: wl.yaml\n").unwrap();
        let c = Config::load(&file).unwrap();
        assert_eq!(c.whitelist.path, dir.join("wl.yaml"));

        std::fs::write(&file, "server: [\n").unwrap();
        let errors = Config::load(&file).unwrap_err();
        assert!(errors[0].message.starts_with(&file.display().to_string()));

        let missing = Config::load(&dir.join("missing.yaml")).unwrap_err();
        assert!(missing[0].message.contains("missing.yaml"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn limits_and_rules_convert_to_the_server_types() {
        let c = parse("server:\n  timeouts:\n    keep_alive_idle_seconds: 5\n").unwrap();
        let limits = c.server_limits();
        assert_eq!(limits.keep_alive_idle, Duration::from_secs(5));
        assert_eq!(limits.handshake, Duration::from_secs(10));
        assert_eq!(limits.max_headers, 64);
        let rules = c.rate_rules();
        assert_eq!(rules.len(), RateCategory::ALL.len());
        assert_eq!(rules[RateCategory::PackageList.index()].requests, 30);
        assert_eq!(rules[RateCategory::SystemOperations.index()].requests, 5);
        assert_eq!(
            rules[RateCategory::Health.index()].window,
            Duration::from_secs(60)
        );
        for (i, c) in RateCategory::ALL.iter().enumerate() {
            assert_eq!(c.index(), i);
        }
    }
}
