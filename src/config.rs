//! Every setting of the agent with its default, loaded from YAML and validated.
//!
//! Validation errors name the key and the problem, e.g.
//! `server.port: must be 1-65535, got 70000`.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_yaml_ng::{Mapping, Value};

use crate::compat::PatchManagerCompat;

mod access;
mod advisories;
mod audit;
mod connection;
mod enrollment;
mod jobs;
mod logging;
mod package_manager;
mod rate_limits;
mod server;
mod system;
mod tls;
mod tls_clients;
pub use access::{HealthConfig, WhitelistConfig};
pub use advisories::{AdvisoriesConfig, FeedEntry, FEED_FORMATS, OFFICIAL_FEEDS};
pub use audit::{AuditConfig, DEFAULT_MAX_LINES_PER_CLIENT_PER_MINUTE};
pub use connection::ConnectionLimits;
pub use enrollment::EnrollmentConfig;
pub use jobs::JobsConfig;
pub use logging::{ApiConfig, CompatConfig, LoggingConfig};
pub use package_manager::{ApkConfig, BackendChoice, PackageManagerConfig, BACKEND_NAMES};
pub use rate_limits::{RateCategory, RateLimitsConfig, RateRule};
pub use server::{LimitsConfig, ServerConfig, TimeoutsConfig};
pub use system::SystemConfig;
pub use tls::TlsConfig;

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
                path: PathBuf::from(access::DEFAULT_WHITELIST),
            },
            health: HealthConfig {
                allow_unauthenticated: false,
            },
            rate_limits: RateLimitsConfig::default(),
            jobs: JobsConfig::default(),
            logging: LoggingConfig {
                level: log::LevelFilter::Info,
                audit_log: PathBuf::from(logging::DEFAULT_AUDIT_LOG),
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
