//! zypper's machine output read: `--xmlout` documents (updates, patches, search,
//! downloads, patch info, errors) and the text a failed change leaves.

use std::collections::HashMap;

use super::super::rpm::rpmdb;
use super::super::runner::Finished;
use super::super::xml::tree as xml;
use super::super::{version, InstalledPackage, PackageSpec, PkgError, Upgrade};
use super::{classify_exit, ZypperExit};

/// One `<update kind="package">` of `zypper -x list-updates`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZypperUpdate {
    /// Package name.
    pub name: String,
    /// Candidate version `[E:]V-R`.
    pub edition: String,
    /// Installed version, when zypper says (`edition-old`).
    pub edition_old: Option<String>,
    /// Architecture.
    pub arch: Option<String>,
    /// Alias of the repository the candidate comes from.
    pub repo: Option<String>,
}

/// One `<update kind="patch">` of `zypper -x list-patches`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZypperPatch {
    /// Patch id, e.g. `SUSE-SLE-Module-Basesystem-15-SP5-2024-1234` or `LPA-2026-0001`.
    pub id: String,
    /// Patch edition.
    pub edition: String,
    /// `security`, `recommended`, `bugfix`, `optional`, `feature`, `document`, ...
    pub category: String,
    /// `critical`, `important`, `moderate`, `low`, `unspecified` or `none`.
    pub severity: String,
    /// `needed`, `applied`, `not-needed`, ...
    pub status: String,
    /// Whether installing it suggests a reboot.
    pub restart: bool,
    /// Whether it needs user interaction (a licence or message).
    pub interactive: bool,
    /// Whether it updates the package manager itself.
    pub pkgmanager: bool,
    /// One-line summary.
    pub summary: String,
    /// Its description ("" when none).
    pub description: String,
    /// Referenced issues (CVE and bug tracker ids).
    pub issues: Vec<PatchIssue>,
    /// Issue date, seconds since the epoch.
    pub issued: Option<i64>,
    /// Alias of its repository.
    pub repo: Option<String>,
}

impl ZypperPatch {
    /// Whether this is a security patch.
    pub fn is_security(&self) -> bool {
        self.category == "security"
    }

    /// Its CVE ids.
    pub fn cves(&self) -> Vec<String> {
        self.issues
            .iter()
            .filter(|i| i.kind == "cve")
            .map(|i| i.id.clone())
            .collect()
    }
}

/// One `<issue>` of a patch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatchIssue {
    /// `cve`, `bugzilla`, `jira`, ...
    pub kind: String,
    /// Issue id, e.g. `CVE-2026-0001`.
    pub id: String,
    /// Its title, when given.
    pub title: Option<String>,
    /// Its link, when given.
    pub href: Option<String>,
}

/// Parses `zypper -x list-updates`: the package updates (patch entries are left out).
pub fn parse_list_updates_xml(out: &str) -> Result<Vec<ZypperUpdate>, PkgError> {
    let doc = xml::parse(out).map_err(xml_error)?;
    let mut updates = Vec::new();
    for u in doc.descendants("update") {
        if u.attr("kind").unwrap_or("package") != "package" {
            continue;
        }
        let (Some(name), Some(edition)) = (u.attr("name"), u.attr("edition")) else {
            return Err(xml_error("an <update> without name or edition".to_string()));
        };
        updates.push(ZypperUpdate {
            name: name.to_string(),
            edition: edition.to_string(),
            edition_old: u.attr("edition-old").map(str::to_string),
            arch: u.attr("arch").map(str::to_string),
            repo: source_alias(u),
        });
    }
    Ok(updates)
}

/// Parses `zypper -x list-patches`: every patch listed, whatever its category (see
/// [`Zypper::list_patches_command`]).
pub fn parse_patches_xml(out: &str) -> Result<Vec<ZypperPatch>, PkgError> {
    let doc = xml::parse(out).map_err(xml_error)?;
    let mut patches = Vec::new();
    for u in doc.descendants("update") {
        if u.attr("kind") != Some("patch") {
            continue;
        }
        let Some(id) = u.attr("name") else {
            return Err(xml_error("a patch without a name".to_string()));
        };
        let flag = |a: &str| u.attr(a) == Some("true");
        patches.push(ZypperPatch {
            id: id.to_string(),
            edition: u.attr("edition").unwrap_or("").to_string(),
            category: u.attr("category").unwrap_or("").to_string(),
            severity: u.attr("severity").unwrap_or("").to_string(),
            status: u.attr("status").unwrap_or("").to_string(),
            restart: flag("restart"),
            interactive: flag("interactive"),
            pkgmanager: flag("pkgmanager"),
            summary: u.child("summary").map(|s| s.text()).unwrap_or_default(),
            description: u.child("description").map(|s| s.text()).unwrap_or_default(),
            issues: u.descendants("issue").map(parse_issue).collect(),
            issued: u
                .child("issue-date")
                .and_then(|d| d.attr("time_t"))
                .and_then(|t| t.parse().ok()),
            repo: source_alias(u),
        });
    }
    Ok(patches)
}

pub(super) fn parse_issue(i: &xml::Element) -> PatchIssue {
    let text = |name: &str| i.child(name).map(|c| c.text()).filter(|t| !t.is_empty());
    PatchIssue {
        kind: i.attr("type").unwrap_or("").to_string(),
        id: i.attr("id").unwrap_or("").to_string(),
        title: text("title"),
        href: text("href"),
    }
}

pub(super) fn source_alias(u: &xml::Element) -> Option<String> {
    u.child("source")
        .and_then(|s| s.attr("alias"))
        .map(str::to_string)
}

/// The `<message type="error">` texts of zypper's XML output (empty when it is not XML).
pub fn parse_error_messages(out: &str) -> Vec<String> {
    let Ok(doc) = xml::parse(out) else {
        return Vec::new();
    };
    doc.descendants("message")
        .filter(|m| m.attr("type") == Some("error"))
        .map(|m| m.text())
        .collect()
}

pub(super) fn xml_error(message: String) -> PkgError {
    PkgError::Parse {
        what: "zypper XML output".to_string(),
        message,
    }
}

/// Joins zypper's updates with the installed set where `edition-old` is missing (older
/// zypper versions do not print it).
pub fn upgrades_from(updates: &[ZypperUpdate], installed: &[InstalledPackage]) -> Vec<Upgrade> {
    let by_name: HashMap<&str, &InstalledPackage> =
        installed.iter().map(|p| (p.name.as_str(), p)).collect();
    updates
        .iter()
        .filter_map(|u| {
            let current = match &u.edition_old {
                Some(old) => old.clone(),
                None => by_name.get(u.name.as_str())?.version.clone(),
            };
            Some(Upgrade {
                name: u.name.clone(),
                current_version: current,
                available_version: u.edition.clone(),
                arch: u.arch.clone(),
                origins: u.repo.iter().cloned().collect(),
            })
        })
        .collect()
}

/// How zypper arguments a package: `name` or `name=[E:]V-R`.
pub fn spec_arg(spec: &PackageSpec) -> String {
    match &spec.version {
        Some(v) => format!("{}={v}", spec.name),
        None => spec.name.clone(),
    }
}

/// How a zypper change ended, from its exit status and recorded messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ZypperFailure {
    /// It did what was asked (as far as the output says).
    None,
    /// Exit 7: the zypp lock stayed busy past `ZYPP_LOCK_TIMEOUT`.
    Locked,
    /// Exit 104, "No provider of 'X' found.": these arguments matched nothing.
    NotFound(Vec<String>),
    /// Exit 0 with "has lower version than the installed one": a downgrade without
    /// `--oldpackage`, which zypper skips with "Nothing to do." (TESTING.md's trap).
    OlderVersion(String),
    /// The solver's "Problem: ..." report (exit 4 in non-interactive mode).
    Dependency(String),
    /// Any other failure.
    Other,
}

/// Classifies a zypper change.
pub fn classify_change(finished: &Finished) -> ZypperFailure {
    let older: Vec<&str> = finished
        .stdout
        .lines()
        .map(str::trim)
        .filter(|l| l.contains("has lower version than the installed one"))
        .collect();
    match classify_exit(finished.code) {
        ZypperExit::Success if older.is_empty() => ZypperFailure::None,
        ZypperExit::Success => ZypperFailure::OlderVersion(older.join("\n")),
        ZypperExit::Locked => ZypperFailure::Locked,
        ZypperExit::NotFound => ZypperFailure::NotFound(not_found_args(&finished.stderr)),
        _ => match solver_problem(&finished.stdout) {
            Some(p) => ZypperFailure::Dependency(p),
            None => ZypperFailure::Other,
        },
    }
}

pub(super) fn not_found_args(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter_map(|l| {
            l.trim()
                .strip_prefix("No provider of '")?
                .strip_suffix("' found.")
        })
        .map(str::to_string)
        .collect()
}

/// The solver report: the "Problem:" lines and their details, without the solutions
/// menu.
pub(super) fn solver_problem(stdout: &str) -> Option<String> {
    let mut out: Vec<&str> = Vec::new();
    let mut inside = false;
    for line in stdout.lines() {
        let t = line.trim();
        if t.starts_with("Problem:") {
            inside = true;
        } else if t.starts_with("Solution ") || t.starts_with("Choose from above") {
            inside = false;
        }
        if inside && !t.is_empty() {
            out.push(t);
        }
    }
    (!out.is_empty()).then(|| out.join("\n"))
}

/// Parses `zypper -x search -s`: the versions of packages named exactly `name`, in rpm
/// order, each once (the installed one included: `status="installed"`).
pub fn parse_search_versions(out: &str, name: &str) -> Result<Vec<String>, PkgError> {
    let doc = xml::parse(out).map_err(xml_error)?;
    let mut versions: Vec<String> = Vec::new();
    for s in doc.descendants("solvable") {
        if s.attr("name") != Some(name) || s.attr("kind").unwrap_or("package") != "package" {
            continue;
        }
        let Some(edition) = s.attr("edition") else {
            continue;
        };
        if !versions.iter().any(|v| v == edition) {
            versions.push(edition.to_string());
        }
    }
    versions.sort_by(|a, b| version::rpm(a, b));
    Ok(versions)
}

/// One `<download-result>` of `zypper -x download`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Downloaded {
    /// Package name.
    pub name: String,
    /// Its version `[E:]V-R`.
    pub version: String,
    /// Where zypper put it.
    pub path: String,
}

/// Parses `zypper -x download`.
pub fn parse_download_xml(out: &str) -> Result<Vec<Downloaded>, PkgError> {
    let doc = xml::parse(out).map_err(xml_error)?;
    let mut found = Vec::new();
    for r in doc.descendants("download-result") {
        let solvable = r.child("solvable");
        let name = solvable.and_then(|s| s.child("name")).map(|n| n.text());
        let edition = solvable.and_then(|s| s.child("edition"));
        let path = r.child("localfile").and_then(|l| l.attr("path"));
        let (Some(name), Some(e), Some(path)) = (name, edition, path) else {
            return Err(xml_error("an incomplete <download-result>".to_string()));
        };
        found.push(Downloaded {
            name,
            version: rpmdb::render_version(
                e.attr("epoch").unwrap_or(""),
                e.attr("version").unwrap_or(""),
                e.attr("release").unwrap_or(""),
            ),
            path: path.to_string(),
        });
    }
    Ok(found)
}

/// The packages one patch updates, from `zypper -x info -t patch`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatchPackages {
    /// Patch id.
    pub id: String,
    /// `(name as printed, fixed version)` from its "Conflicts" (`name < version`); the
    /// name may carry `.arch` for arch-specific packages.
    pub packages: Vec<(String, String)>,
}

/// Parses `zypper -x info -t patch`: one `<message type="info">` report per patch, with
/// `Conflicts   : name < version` or `Conflicts   : [N]` and N indented lines.
pub fn parse_patch_info_xml(out: &str) -> Result<Vec<PatchPackages>, PkgError> {
    let doc = xml::parse(out).map_err(xml_error)?;
    let mut found = Vec::new();
    for m in doc.descendants("message") {
        let text = m.text();
        let mut id = None;
        let mut packages = Vec::new();
        let mut in_conflicts = false;
        for line in text.lines() {
            let indented = line.starts_with([' ', '\t']);
            if indented && in_conflicts {
                packages.extend(conflict(line));
                continue;
            }
            in_conflicts = false;
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            match key.trim() {
                "Name" => id = Some(value.trim().to_string()),
                "Conflicts" => {
                    in_conflicts = true;
                    packages.extend(conflict(value));
                }
                _ => {}
            }
        }
        if let Some(id) = id {
            found.push(PatchPackages { id, packages });
        }
    }
    Ok(found)
}

/// `name < version` (anything else, such as the `[N]` count, is not a package).
pub(super) fn conflict(s: &str) -> Option<(String, String)> {
    let (name, version) = s.trim().split_once(" < ")?;
    Some((name.trim().to_string(), version.trim().to_string()))
}

/// The upgrade a patch's conflict names: the name as printed, or without a `.arch`
/// suffix (libsolv adds it for arch-specific packages).
pub(super) fn upgrade_for<'a>(printed: &str, upgrades: &'a [Upgrade]) -> Option<&'a Upgrade> {
    upgrades.iter().find(|u| u.name == printed).or_else(|| {
        let (name, arch) = printed.rsplit_once('.')?;
        upgrades
            .iter()
            .find(|u| u.name == name && u.arch.as_deref().is_none_or(|a| a == arch))
    })
}
