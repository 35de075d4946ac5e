//! Every setting of the agent with its default, loaded from YAML and validated.
//!
//! Validation errors name the key and the problem, e.g.
//! `server.port: must be 1-65535, got 70000`.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

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
    /// API behaviour switches.
    pub api: ApiConfig,
    /// Compatibility switches for known clients.
    pub compat: CompatConfig,
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
    /// `server.shutdown_grace_seconds`: how long in-flight requests may finish on SIGTERM.
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
}

/// `logging.*`
#[derive(Clone, Debug, PartialEq)]
pub struct LoggingConfig {
    /// `logging.level`: error|warn|info|debug|trace, default info.
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
    /// `compat.patch_manager`: render `system/info` `os`/`kernel` as strings.
    pub patch_manager: bool,
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

impl Config {
    /// Reads, parses and validates a config file; relative paths inside it are taken
    /// relative to the file's directory. Returns every problem found, not just the first.
    pub fn load(path: &Path) -> Result<Config, Vec<ConfigError>> {
        let _ = path;
        todo!("config loading")
    }

    /// Parses and validates YAML text; `base` resolves relative paths.
    pub fn from_yaml_str(text: &str, base: &Path) -> Result<Config, Vec<ConfigError>> {
        let _ = (text, base);
        todo!("config parsing")
    }
}

impl Default for Config {
    fn default() -> Self {
        todo!("defaults")
    }
}
