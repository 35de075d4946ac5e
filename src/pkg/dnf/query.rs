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
