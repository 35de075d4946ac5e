//! `enrollment.*`: how `--enroll` reaches the Patch Manager.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::de::{Deserializer, Error};
use serde::Deserialize;
use serde_yaml_ng::Value;

use super::fields::{boolean, int, opt_ip, opt_path, path, raw, string};
use super::{describe, Report};

/// `enrollment.*`: how `--enroll` talks to the Patch Manager (the command line wins).
///
/// Fields are declared in the order their problems are reported: who the manager is first.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EnrollmentConfig {
    /// `enrollment.manager_ca`: verify the manager against this CA (PEM); not together with
    /// `manager_fingerprint`.
    #[serde(deserialize_with = "opt_path")]
    pub manager_ca: Option<PathBuf>,
    /// `enrollment.manager_fingerprint`: accept only this manager certificate (SHA-256, 64
    /// hex digits, colons allowed).
    #[serde(deserialize_with = "fingerprint")]
    pub manager_fingerprint: Option<[u8; 32]>,
    /// `enrollment.report_fqdn`: the host name to report instead of the detected one.
    #[serde(deserialize_with = "host_name")]
    pub report_fqdn: Option<String>,
    /// `enrollment.poll_interval_seconds`: time between approval checks, 1-86400, default 60.
    #[serde(deserialize_with = "int::<1, 86_400, _, _>")]
    pub poll_interval_seconds: u64,
    /// `enrollment.timeout`: give up without a decision after this long (`90s`, `15m`, `24h`,
    /// `2d` or whole seconds), default 24h.
    #[serde(deserialize_with = "duration")]
    pub timeout: Duration,
    /// `enrollment.enroll_only`: exit after provisioning instead of serving, default false.
    #[serde(deserialize_with = "boolean")]
    pub enroll_only: bool,
    /// `enrollment.state_dir`: token and received bundle, default
    /// `/var/lib/linux_patch_api/enroll`.
    #[serde(deserialize_with = "path")]
    pub state_dir: PathBuf,
    /// `enrollment.report_ip`: the address to report instead of the detected one.
    #[serde(deserialize_with = "opt_ip")]
    pub report_ip: Option<IpAddr>,
    /// `enrollment.request_timeout_seconds`: deadline of one request, 1-600, default 30.
    #[serde(deserialize_with = "int::<1, 600, _, _>")]
    pub request_timeout_seconds: u64,
}

impl Default for EnrollmentConfig {
    fn default() -> Self {
        EnrollmentConfig {
            manager_ca: None,
            manager_fingerprint: None,
            report_fqdn: None,
            poll_interval_seconds: 60,
            timeout: Duration::from_secs(86_400),
            enroll_only: false,
            state_dir: PathBuf::from("/var/lib/linux_patch_api/enroll"),
            report_ip: None,
            request_timeout_seconds: 30,
        }
    }
}

impl EnrollmentConfig {
    /// The manager is pinned one way: by its CA or by its certificate's fingerprint.
    pub(super) fn validate(&self, key: &str, report: &mut Report) {
        if self.manager_ca.is_some() && self.manager_fingerprint.is_some() {
            report.push(
                &format!("{key}.manager_fingerprint"),
                "give enrollment.manager_ca or enrollment.manager_fingerprint, not both",
            );
        }
    }
}

/// A SHA-256 certificate fingerprint.
fn fingerprint<'de, D: Deserializer<'de>>(d: D) -> Result<Option<[u8; 32]>, D::Error> {
    let text = string(d)?;
    crate::x509::parse_sha256_fingerprint(&text)
        .map(Some)
        .map_err(D::Error::custom)
}

/// A DNS host name.
fn host_name<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let name = string(d)?;
    if !is_host_name(&name) {
        return Err(D::Error::custom(format!(
            "must be a host name such as host-01.example.com, got {name:?}"
        )));
    }
    Ok(Some(name))
}

/// A duration written `90s`, `15m`, `24h`, `2d`, or as whole seconds.
fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let parsed = match raw(d)? {
        Value::Number(n) => n
            .as_u64()
            .ok_or_else(|| format!("expected a duration such as 24h, got {n}"))
            .and_then(|secs| crate::timefmt::parse_duration(&secs.to_string())),
        Value::String(t) => crate::timefmt::parse_duration(&t),
        other => Err(format!(
            "expected a duration such as 24h, got {}",
            describe(&other)
        )),
    };
    parsed.map_err(D::Error::custom)
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

#[cfg(test)]
mod tests {
    use crate::config::tests::{messages, one_error, parse};
    use std::path::PathBuf;

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
}
