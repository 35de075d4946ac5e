//! `enrollment.*`: how `--enroll` reaches the Patch Manager.

use std::net::IpAddr;
use std::path::PathBuf;

use serde_yaml_ng::Value;

use super::{describe, Section, Walker};

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

/// Default `enrollment.state_dir`.
const DEFAULT_ENROLL_DIR: &str = "/var/lib/linux_patch_api/enroll";

impl Walker<'_> {
    /// `enrollment.*`
    pub(super) fn enrollment(&mut self, top: &Section) -> EnrollmentConfig {
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
