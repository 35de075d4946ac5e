//! The config loader: reads the YAML file, hands each section to its own file under
//! `config/` and collects every problem in the file at once.
//!
//! A setting is one field of a section struct, with its doc (key, range, default), its
//! default in the struct's `Default` and its check in its `deserialize_with` reader (or the
//! section's `validate` when it spans fields). Errors name the key and the problem, e.g.
//! `server.port: must be 1-65535, got 70000`; an unknown key is named with its dotted path.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_yaml_ng::Value;

mod access;
mod advisories;
mod audit;
mod connection;
mod de;
mod enrollment;
mod fields;
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

/// The whole configuration; each field is one top-level section of the file.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
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
        if !matches!(root, Value::Null | Value::Mapping(_)) {
            let message = format!(
                "expected a mapping of sections at the top level, got {}",
                describe(&root)
            );
            return Err(vec![ConfigError::file(message)]);
        }
        let (config, findings) = de::read_all::<Config>(&root, base);
        let mut report = Report {
            errors: findings.errors,
            items: &findings.items,
            present: &findings.present,
        };
        config.validate(&mut report);
        let mut errors = report.errors;
        if errors.is_empty() {
            return Ok(config);
        }
        // Reported in the order the settings are declared, as a reader of the docs expects.
        errors.sort_by_cached_key(|e| de::rank(&e.key, &findings.fields));
        Err(errors)
    }

    /// The checks that span several fields of a section, once every field is read.
    fn validate(&self, report: &mut Report) {
        self.server.validate("server", report);
        self.tls.validate("tls", report);
        self.advisories.validate("advisories", report);
        self.enrollment.validate("enrollment", report);
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

/// What the section checks see: the problems found so far, and where the file put things.
pub(crate) struct Report<'f> {
    /// Every problem found so far.
    errors: Vec<ConfigError>,
    /// For each list, the file position of each item kept.
    items: &'f std::collections::HashMap<String, Vec<usize>>,
    /// Every key the file gives.
    present: &'f std::collections::HashSet<String>,
}

impl Report<'_> {
    /// Records one problem.
    fn push(&mut self, key: &str, message: impl Into<String>) {
        self.errors.push(ConfigError::at(key, message));
    }

    /// Whether `key` already has a problem (its value is then the default, not the file's).
    fn failed(&self, key: &str) -> bool {
        self.errors.iter().any(|e| e.key == key)
    }

    /// Whether the file gives `key` (rather than leaving it at its default).
    fn given(&self, key: &str) -> bool {
        self.present.contains(key)
    }

    /// The key of the `i`-th item read from the list at `list`, numbered as in the file
    /// (items with an error are left out of the list, so the two can differ).
    fn item_key(&self, list: &str, i: usize) -> String {
        let position = self.items.get(list).and_then(|kept| kept.get(i)).copied();
        format!("{list}[{}]", position.unwrap_or(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compat::PatchManagerCompat;
    use std::net::IpAddr;

    pub(crate) fn parse(text: &str) -> Result<Config, Vec<ConfigError>> {
        Config::from_yaml_str(text, Path::new("/base"))
    }

    pub(crate) fn messages(text: &str) -> Vec<String> {
        match parse(text) {
            Ok(c) => panic!("expected errors, got {c:?}"),
            Err(errors) => errors.iter().map(|e| e.to_string()).collect(),
        }
    }

    pub(crate) fn one_error(text: &str) -> String {
        let all = messages(text);
        assert_eq!(all.len(), 1, "{all:?}");
        all[0].clone()
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
