//! Which package manager a host (or an image root) uses: from `/etc/os-release` (`ID`,
//! `ID_LIKE`) and the tools present, or as configured.

use std::sync::Arc;

use super::{BackendKind, BackendSettings, PackageManager};
use crate::system::info::{find_binary, parse_os_release};
use std::path::{Path, PathBuf};

/// Why no backend could be chosen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DetectError(pub String);

impl std::fmt::Display for DetectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DetectError {}

/// The program whose presence tells that a backend can run.
pub fn program(kind: BackendKind) -> &'static str {
    match kind {
        BackendKind::Apt => "apt-get",
        BackendKind::Dnf => "dnf",
        BackendKind::Yum => "yum",
        BackendKind::Zypper => "zypper",
        BackendKind::Pacman => "pacman",
        BackendKind::Apk => "apk",
    }
}

/// Directories searched for the tools: the agent runs them from its own PATH, so these are
/// the host's, whatever root is managed.
pub fn tool_dirs() -> Vec<PathBuf> {
    crate::system::info::bin_search_dirs(std::env::var_os("PATH").as_deref())
}

/// The families an `/etc/os-release` names, most specific first (`ID`, then `ID_LIKE`).
fn family_ids(os_release: &str) -> Vec<String> {
    let release = parse_os_release(os_release);
    let mut ids: Vec<String> = release.get("ID").map(str::to_string).into_iter().collect();
    if let Some(like) = release.get("ID_LIKE") {
        ids.extend(like.split_whitespace().map(str::to_string));
    }
    ids
}

/// The backends a distribution id points to, preferred first.
fn kinds_for_id(id: &str) -> &'static [BackendKind] {
    match id {
        "debian" | "ubuntu" | "raspbian" | "linuxmint" | "pop" | "kali" => &[BackendKind::Apt],
        "fedora" | "rhel" | "centos" | "rocky" | "almalinux" | "ol" | "amzn" => {
            &[BackendKind::Dnf, BackendKind::Yum]
        }
        "suse" | "opensuse" | "sles" | "sled" | "opensuse-leap" | "opensuse-tumbleweed" => {
            &[BackendKind::Zypper]
        }
        "arch" | "manjaro" | "endeavouros" | "archarm" => &[BackendKind::Pacman],
        "alpine" | "postmarketos" => &[BackendKind::Apk],
        _ => &[],
    }
}

/// Chooses a backend from os-release text and a test of which tools exist.
pub fn choose(
    os_release: Option<&str>,
    has_tool: &dyn Fn(BackendKind) -> bool,
) -> Result<BackendKind, DetectError> {
    let ids = os_release.map(family_ids).unwrap_or_default();
    for id in &ids {
        if let Some(kind) = kinds_for_id(id).iter().copied().find(|k| has_tool(*k)) {
            return Ok(kind);
        }
    }
    // An unknown or missing os-release: the first tool present decides.
    if let Some(kind) = BackendKind::ALL.into_iter().find(|k| has_tool(*k)) {
        return Ok(kind);
    }
    Err(DetectError(format!(
        "no supported package manager found (os-release ids: {}; looked for {})",
        if ids.is_empty() {
            "none".to_string()
        } else {
            ids.join(", ")
        },
        BackendKind::ALL.map(program).join(", ")
    )))
}

/// Detects the backend for `root` (its os-release) with the tools on this host.
pub fn detect(root: &Path) -> Result<BackendKind, DetectError> {
    let text = ["etc/os-release", "usr/lib/os-release"]
        .iter()
        .find_map(|rel| std::fs::read_to_string(root.join(rel)).ok());
    let dirs = tool_dirs();
    choose(text.as_deref(), &|k| {
        find_binary(program(k), &dirs).is_some()
    })
}

/// Switches of single backends, from their own config sections.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BackendOptions {
    /// `apk.allow_untrusted`: pass `--allow-untrusted` to every apk command.
    pub apk_allow_untrusted: bool,
}

/// Builds the backend of `kind`.
pub fn build(
    kind: BackendKind,
    settings: BackendSettings,
    options: BackendOptions,
) -> Arc<dyn PackageManager> {
    match kind {
        BackendKind::Apt => Arc::new(super::apt::Apt::new(settings)),
        BackendKind::Dnf => Arc::new(super::dnf::Dnf::new(settings)),
        BackendKind::Yum => Arc::new(super::dnf::Dnf::yum(settings)),
        BackendKind::Zypper => Arc::new(super::zypper::Zypper::new(settings)),
        BackendKind::Pacman => Arc::new(super::pacman::Pacman::new(settings)),
        BackendKind::Apk => {
            Arc::new(super::apk::Apk::new(settings).allow_untrusted(options.apk_allow_untrusted))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROCKY: &str =
        "NAME=\"Rocky Linux\"\nID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.3\"\n";
    const UBUNTU: &str = "NAME=\"Ubuntu\"\nID=ubuntu\nID_LIKE=debian\nVERSION_ID=\"22.04\"\n";
    const LEAP: &str = "NAME=\"openSUSE Leap\"\nID=\"opensuse-leap\"\nID_LIKE=\"suse opensuse\"\n";
    const UNKNOWN: &str = "NAME=Mystery\nID=mystery\n";

    fn only(kinds: &'static [BackendKind]) -> impl Fn(BackendKind) -> bool {
        move |k| kinds.contains(&k)
    }

    #[test]
    fn os_release_id_decides_when_its_tool_exists() {
        assert_eq!(
            choose(Some(UBUNTU), &only(&[BackendKind::Apt, BackendKind::Dnf])),
            Ok(BackendKind::Apt)
        );
        assert_eq!(
            choose(Some(LEAP), &only(&[BackendKind::Zypper, BackendKind::Dnf])),
            Ok(BackendKind::Zypper)
        );
    }

    #[test]
    fn rhel_family_prefers_dnf_and_falls_back_to_yum() {
        assert_eq!(
            choose(Some(ROCKY), &only(&[BackendKind::Dnf, BackendKind::Yum])),
            Ok(BackendKind::Dnf)
        );
        assert_eq!(
            choose(Some(ROCKY), &only(&[BackendKind::Yum])),
            Ok(BackendKind::Yum)
        );
    }

    #[test]
    fn unknown_distribution_uses_the_first_tool_present() {
        assert_eq!(
            choose(Some(UNKNOWN), &only(&[BackendKind::Pacman])),
            Ok(BackendKind::Pacman)
        );
        assert_eq!(
            choose(None, &only(&[BackendKind::Apk])),
            Ok(BackendKind::Apk)
        );
    }

    #[test]
    fn nothing_present_is_an_error_naming_what_was_sought() {
        let e = choose(Some(UBUNTU), &only(&[])).unwrap_err();
        assert!(
            e.0.contains("ubuntu, debian") && e.0.contains("apt-get"),
            "{e}"
        );
    }

    #[test]
    fn every_kind_has_a_program_and_a_name_that_round_trips() {
        for k in BackendKind::ALL {
            assert!(!program(k).is_empty());
            assert_eq!(BackendKind::from_name(k.name()), Some(k));
        }
    }
}
