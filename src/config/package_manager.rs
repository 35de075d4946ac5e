//! `package_manager.*` and `apk.*`: which tool to drive, and how.

use std::path::PathBuf;

use serde::de::{Deserializer, Error};
use serde::Deserialize;

use super::fields::{boolean, int, string};

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
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PackageManagerConfig {
    /// `package_manager.backend`: `auto` (default) or a backend name.
    #[serde(deserialize_with = "backend")]
    pub backend: BackendChoice,
    /// `package_manager.root`: the root to manage, default `/` (another path patches an image
    /// or chroot with the tool's own root option). Must be absolute.
    #[serde(deserialize_with = "absolute_path")]
    pub root: PathBuf,
    /// `package_manager.command_timeout_seconds`: deadline of one query or refresh command,
    /// 1-86400, default 600.
    #[serde(deserialize_with = "int::<1, 86_400, _, _>")]
    pub command_timeout_seconds: u64,
    /// `package_manager.lock_wait_seconds`: how long to wait for another process's package
    /// database lock, 0-3600, default 120.
    #[serde(deserialize_with = "int::<0, 3600, _, _>")]
    pub lock_wait_seconds: u64,
    /// `package_manager.metadata_max_age_seconds`: repository metadata older than this (by
    /// the tool's cache on disk) is refreshed in the background, 0-604800, default 3600;
    /// 0 turns background refreshes off.
    #[serde(deserialize_with = "int::<0, 604_800, _, _>")]
    pub metadata_max_age_seconds: u64,
    /// `package_manager.metadata_refresh_jitter_seconds`: largest random delay before a
    /// background refresh, so hosts restarted together spread out, 0-86400, default 300;
    /// 0 disables.
    #[serde(deserialize_with = "int::<0, 86_400, _, _>")]
    pub metadata_refresh_jitter_seconds: u64,
    /// `package_manager.refresh_in_read_only`: refresh metadata (in the background and on
    /// `?refresh=true`) even when `api.read_only` is set, default false.
    #[serde(deserialize_with = "boolean")]
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

/// `package_manager.backend`: `auto` or one of [`BACKEND_NAMES`].
fn backend<'de, D: Deserializer<'de>>(d: D) -> Result<BackendChoice, D::Error> {
    let text = string(d)?;
    if text == "auto" {
        return Ok(BackendChoice::Auto);
    }
    BACKEND_NAMES
        .iter()
        .find(|n| **n == text)
        .map(|n| BackendChoice::Named(n))
        .ok_or_else(|| {
            D::Error::custom(format!(
                "must be auto or one of {}; got {text:?}",
                BACKEND_NAMES.join(", ")
            ))
        })
}

/// A path that must be absolute as written (a root is never relative to the config).
fn absolute_path<'de, D: Deserializer<'de>>(d: D) -> Result<PathBuf, D::Error> {
    let text = string(d)?;
    if !text.starts_with('/') {
        return Err(D::Error::custom(format!(
            "must be an absolute path, got {text:?}"
        )));
    }
    Ok(PathBuf::from(text))
}

/// `apk.*`: switches of the apk backend.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApkConfig {
    /// `apk.allow_untrusted`: pass `--allow-untrusted` to every apk command, so unsigned or
    /// locally built repositories and packages are used; default false (an untrusted
    /// repository is then the error `PKG_UNTRUSTED_SOURCE`).
    #[serde(deserialize_with = "boolean")]
    pub allow_untrusted: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::{messages, parse};

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
}
