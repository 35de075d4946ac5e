//! `whitelist.*` and `health.*`: who may connect, and whether `/health` needs a certificate.

use std::path::PathBuf;

use super::{Section, Walker};

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

/// Default whitelist path.
pub(super) const DEFAULT_WHITELIST: &str = "/etc/linux_patch_api/whitelist.yaml";

impl Walker<'_> {
    /// `whitelist.*`
    pub(super) fn whitelist(&mut self, top: &Section) -> WhitelistConfig {
        let s = self.child(top, "whitelist", &["path"]);
        WhitelistConfig {
            path: self.path(&s, "path", DEFAULT_WHITELIST),
        }
    }

    /// `health.*`
    pub(super) fn health(&mut self, top: &Section) -> HealthConfig {
        let s = self.child(top, "health", &["allow_unauthenticated"]);
        HealthConfig {
            allow_unauthenticated: self.boolean(&s, "allow_unauthenticated", false),
        }
    }
}
