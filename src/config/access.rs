//! `whitelist.*` and `health.*`: who may connect, and whether `/health` needs a certificate.

use std::path::PathBuf;

use serde::Deserialize;

use super::fields::{boolean, path};

/// `whitelist.*`
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WhitelistConfig {
    /// `whitelist.path`: the IP whitelist file, default `/etc/linux_patch_api/whitelist.yaml`.
    #[serde(deserialize_with = "path")]
    pub path: PathBuf,
}

impl Default for WhitelistConfig {
    fn default() -> Self {
        WhitelistConfig {
            path: PathBuf::from("/etc/linux_patch_api/whitelist.yaml"),
        }
    }
}

/// `health.*`
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HealthConfig {
    /// `health.allow_unauthenticated`: `GET /health` without a client certificate, default
    /// false.
    #[serde(deserialize_with = "boolean")]
    pub allow_unauthenticated: bool,
}

#[cfg(test)]
mod tests {
    use crate::config::tests::{one_error, parse};
    use std::path::Path;

    #[test]
    fn whitelist_path_and_health_switch_are_read() {
        let c =
            parse("whitelist: {path: wl.yaml}\nhealth: {allow_unauthenticated: true}\n").unwrap();
        assert_eq!(c.whitelist.path, Path::new("/base/wl.yaml"));
        assert!(c.health.allow_unauthenticated);
        assert_eq!(
            one_error("whitelist:\n  path: ''\n"),
            "whitelist.path: must not be empty"
        );
        assert_eq!(
            one_error("health:\n  allow_unauthenticated: 1\n"),
            "health.allow_unauthenticated: expected a boolean (true or false), got an integer"
        );
    }
}
