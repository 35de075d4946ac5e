//! `package_manager.*` and `apk.*`: which tool to drive, and how.

use std::path::PathBuf;

use super::{Section, Walker};

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
    /// `package_manager.metadata_max_age_seconds`: repository metadata older than this is
    /// refreshed before upgradable packages are computed, and a computed list is reused for
    /// at most this long (unless the installed set changes), default 3600.
    pub metadata_max_age_seconds: u64,
}

impl Default for PackageManagerConfig {
    fn default() -> Self {
        PackageManagerConfig {
            backend: BackendChoice::Auto,
            root: PathBuf::from("/"),
            command_timeout_seconds: 600,
            lock_wait_seconds: 120,
            metadata_max_age_seconds: 3600,
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

impl Walker<'_> {
    /// `package_manager.*`
    pub(super) fn package_manager(&mut self, top: &Section) -> PackageManagerConfig {
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

    /// `apk.*`
    pub(super) fn apk(&mut self, top: &Section) -> ApkConfig {
        let s = self.child(top, "apk", &["allow_untrusted"]);
        ApkConfig {
            allow_untrusted: self.boolean(&s, "allow_untrusted", false),
        }
    }
}
