//! Reading what the tool offers: `check-update` output (dnf's and yum's wrapped lines) joined
//! with the installed set into upgrades, and `list --showduplicates` versions. Separate
//! because it only parses; nothing here changes the host.

use std::collections::HashMap;

use crate::pkg::{version, InstalledPackage, Upgrade};

/// One line of `check-update`: a newer package available from a repository.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckUpdate {
    /// Package name.
    pub name: String,
    /// Architecture.
    pub arch: String,
    /// Candidate version `[E:]V-R`.
    pub version: String,
    /// Repository id.
    pub repo: String,
}

/// Parses `dnf check-update` / `yum check-update` output.
///
/// Each entry is `name.arch version repo`. yum wraps an entry whose name or version is
/// wider than its column onto the next line, so an entry may span two or three lines;
/// tokens are gathered until three are present. Lines that cannot be an entry (yum's
/// "Loaded plugins: ..." and mirror lines, "Security: ..." notes, metadata-age messages)
/// are skipped. Parsing stops at "Obsoleting Packages": those entries name a package that
/// replaces another (with the replaced one indented below), not a newer version of an
/// installed one.
pub fn parse_check_update(out: &str) -> Vec<CheckUpdate> {
    let mut entries = Vec::new();
    let mut pending: Vec<&str> = Vec::new();
    for line in out.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("Obsoleting Packages") {
            break;
        }
        let tokens: Vec<&str> = trimmed.split_whitespace().collect();
        if tokens.is_empty() || is_note(trimmed) {
            pending.clear();
            continue;
        }
        // A continuation line starts with blanks; anything else starts a new entry.
        if !line.starts_with([' ', '\t']) {
            pending.clear();
        }
        if pending.len() + tokens.len() > 3 {
            pending.clear();
            if tokens.len() > 3 || line.starts_with([' ', '\t']) {
                continue;
            }
        }
        pending.extend(tokens);
        if pending.len() == 3 {
            if let Some(entry) = entry_from(&pending) {
                entries.push(entry);
            }
            pending.clear();
        } else if !looks_like_name_arch(pending[0]) {
            pending.clear();
        }
    }
    entries
}

pub(super) fn is_note(line: &str) -> bool {
    const NOTES: [&str; 5] = [
        "Loaded plugins:",
        "Loading mirror speeds",
        "Last metadata expiration check",
        "Security:",
        "* ",
    ];
    NOTES.iter().any(|n| line.starts_with(n))
}

pub(super) fn looks_like_name_arch(token: &str) -> bool {
    matches!(token.rsplit_once('.'), Some((n, a)) if !n.is_empty() && !a.is_empty())
}

pub(super) fn entry_from(tokens: &[&str]) -> Option<CheckUpdate> {
    let (name, arch) = tokens[0].rsplit_once('.')?;
    let version = tokens[1];
    let repo = tokens[2];
    let version_ok = version.contains('-') && version.starts_with(|c: char| c.is_ascii_digit());
    if name.is_empty() || arch.is_empty() || !version_ok || repo.starts_with('@') {
        return None;
    }
    Some(CheckUpdate {
        name: name.to_string(),
        arch: arch.to_string(),
        version: version.to_string(),
        repo: repo.to_string(),
    })
}

/// Joins `check-update` entries with the installed set: the current version is the most
/// recently installed instance of the same name and architecture (several exist for
/// installonly packages such as kernels). Entries for packages not installed under that
/// architecture are left out.
pub fn upgrades_from(entries: &[CheckUpdate], installed: &[InstalledPackage]) -> Vec<Upgrade> {
    let mut current: HashMap<(&str, &str), &InstalledPackage> = HashMap::new();
    for p in installed {
        let key = (p.name.as_str(), p.arch.as_deref().unwrap_or(""));
        let newer = current
            .get(&key)
            .is_none_or(|old| p.installed_at >= old.installed_at);
        if newer {
            current.insert(key, p);
        }
    }
    entries
        .iter()
        .filter_map(|e| {
            let p = current.get(&(e.name.as_str(), e.arch.as_str()))?;
            Some(Upgrade {
                name: e.name.clone(),
                current_version: p.version.clone(),
                available_version: e.version.clone(),
                arch: Some(e.arch.clone()),
                origins: vec![e.repo.clone()],
            })
        })
        .collect()
}

/// Parses `--showduplicates list` output: the versions of `name` listed as installed or
/// available, in rpm order, each once (`[E:]V-R`, as check-update prints them).
pub fn parse_list_versions(out: &str, name: &str) -> Vec<String> {
    let mut versions: Vec<String> = Vec::new();
    for line in out.lines() {
        let tokens: Vec<&str> = line.split_whitespace().collect();
        let [pkg, version, _repo] = tokens[..] else {
            continue;
        };
        let same = pkg.rsplit_once('.').is_some_and(|(n, _)| n == name);
        if same && !versions.iter().any(|v| v == version) {
            versions.push(version.to_string());
        }
    }
    versions.sort_by(|a, b| version::rpm(a, b));
    versions
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pkg::rpm::rpmdb;
    use time::OffsetDateTime;

    const CHECK_UPDATE: &str = include_str!("../../../tests/data/dnf/dnf-check-update.stdout");
    const CHECK_UPDATE_EXTRA: &str =
        include_str!("../../../tests/data/dnf/dnf-check-update-extra.stdout");
    const INSTALLED: &str = include_str!("../../../tests/data/dnf/rpm-qa-installed.txt");
    // Not recorded: written from knowledge of yum 3.4.3 (see tests/data/yum/README.md).
    const YUM_CHECK_UPDATE: &str =
        include_str!("../../../tests/data/yum/check-update-centos7.stdout");
    const YUM_WRAPPED: &str = include_str!("../../../tests/data/yum/check-update-wrapped.stdout");
    fn cu(name: &str, arch: &str, version: &str, repo: &str) -> CheckUpdate {
        CheckUpdate {
            name: name.into(),
            arch: arch.into(),
            version: version.into(),
            repo: repo.into(),
        }
    }

    const LIST: &str = include_str!("../../../tests/data/dnf/dnf-list-showduplicates.stdout");
    const LIST_AVAILABLE: &str =
        include_str!("../../../tests/data/dnf/dnf-list-showduplicates-available.stdout");
    const LIST_NOSUCH_ERR: &str =
        include_str!("../../../tests/data/dnf/dnf-list-showduplicates-nosuch.stderr");

    #[test]
    fn check_update_recorded() {
        assert_eq!(
            parse_check_update(CHECK_UPDATE),
            [
                cu("lpa-hello", "noarch", "2.0-1", "lpa"),
                cu("lpa-lib", "noarch", "1.1-1", "lpa"),
            ]
        );
    }

    #[test]
    fn check_update_recorded_epoch_long_fields_and_obsoletes() {
        assert_eq!(
            parse_check_update(CHECK_UPDATE_EXTRA),
            [
                cu(
                    "lpa-a-very-long-package-name-for-line-wrapping-tests",
                    "noarch",
                    "2.0-1.lpa.extra.long.release.string",
                    "lpa-extra"
                ),
                cu("lpa-hello", "noarch", "2.0-1", "lpa"),
                cu("lpa-lib", "noarch", "1.1-1", "lpa"),
                cu("lpa-x", "noarch", "2:5.1-1", "lpa-extra"),
            ]
        );
    }

    #[test]
    fn yum_check_update_with_wrapping_and_obsoletes() {
        let entries = parse_check_update(YUM_CHECK_UPDATE);
        assert_eq!(entries.len(), 8, "{entries:#?}");
        assert_eq!(
            entries[0],
            cu("NetworkManager", "x86_64", "1:1.18.8-2.el7_9", "updates")
        );
        assert_eq!(
            entries[2],
            cu(
                "device-mapper-persistent-data",
                "x86_64",
                "0.8.5-3.el7_9.2",
                "updates"
            )
        );
        assert_eq!(
            entries[3],
            cu(
                "java-1.8.0-openjdk-headless",
                "x86_64",
                "1:1.8.0.402.b06-1.el7_9",
                "updates"
            )
        );
        assert_eq!(entries[7], cu("tzdata", "noarch", "2024a-1.el7", "updates"));
        assert!(entries.iter().all(|e| e.name != "grub2"));
    }

    #[test]
    fn yum_check_update_with_notes_and_three_line_entry() {
        let entries = parse_check_update(YUM_WRAPPED);
        assert_eq!(
            entries,
            [
                cu("kernel", "x86_64", "3.10.0-1160.119.1.el7", "updates"),
                cu(
                    "python-libguestfs-with-a-very-long-name-for-tests",
                    "x86_64",
                    "1:1.40.2-10.el7_9.extended.release",
                    "centos-extras-long-repository-id"
                ),
                cu("zlib", "x86_64", "1.2.7-21.el7_9", "updates"),
            ]
        );
    }

    #[test]
    fn empty_and_garbage_check_update() {
        assert!(parse_check_update("").is_empty());
        assert!(parse_check_update("\nLoaded plugins: fastestmirror\n").is_empty());
        assert!(parse_check_update("one two three four\n").is_empty());
    }

    #[test]
    fn upgrades_join_current_version() {
        let installed = rpmdb::parse_installed(INSTALLED).unwrap();
        let ups = upgrades_from(&parse_check_update(CHECK_UPDATE), &installed);
        assert_eq!(
            ups,
            [
                Upgrade {
                    name: "lpa-hello".into(),
                    current_version: "1.0-1".into(),
                    available_version: "2.0-1".into(),
                    arch: Some("noarch".into()),
                    origins: vec!["lpa".into()],
                },
                Upgrade {
                    name: "lpa-lib".into(),
                    current_version: "1.0-1".into(),
                    available_version: "1.1-1".into(),
                    arch: Some("noarch".into()),
                    origins: vec!["lpa".into()],
                },
            ]
        );
    }

    #[test]
    fn upgrades_pick_latest_installed_instance() {
        let k = |v: &str, t: i64| InstalledPackage {
            name: "kernel".into(),
            version: v.into(),
            arch: Some("x86_64".into()),
            description: String::new(),
            size_bytes: None,
            installed_at: Some(OffsetDateTime::from_unix_timestamp(t).unwrap()),
            maintainer: None,
            depends: vec![],
        };
        let installed = [k("6.2-1", 200), k("6.1-1", 100)];
        let ups = upgrades_from(&[cu("kernel", "x86_64", "6.3-1", "updates")], &installed);
        assert_eq!(ups[0].current_version, "6.2-1");
        assert!(upgrades_from(&[cu("kernel", "aarch64", "6.3-1", "u")], &installed).is_empty());
    }

    #[test]
    fn list_versions_recorded() {
        assert_eq!(
            parse_list_versions(LIST, "lpa-hello"),
            ["1.0-1", "1.1-1", "2.0-1"]
        );
        assert_eq!(
            parse_list_versions(LIST_AVAILABLE, "lpa-hello"),
            ["1.0-1", "1.1-1", "2.0-1"]
        );
        assert!(parse_list_versions(LIST, "lpa").is_empty());
        assert!(LIST_NOSUCH_ERR.contains("No matching Packages to list"));
        let epochs =
            "Available Packages\nx.noarch 2:1.0-1 r\nx.noarch 10-1 r\nx.noarch 2:0.9-1 r\n";
        assert_eq!(
            parse_list_versions(epochs, "x"),
            ["10-1", "2:0.9-1", "2:1.0-1"]
        );
    }
}
