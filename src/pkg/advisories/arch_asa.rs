//! Arch Linux's security tracker JSON (`https://security.archlinux.org/issues/all.json`) and
//! how it annotates pacman's upgrades.
//!
//! Shape: an array of advisory groups `{"name": "AVG-1234", "packages": [PKGNAME...],
//! "status": "Fixed"|"Vulnerable"|"Testing"|"Not affected"|"Unknown", "severity":
//! "Critical"|"High"|"Medium"|"Low"|"Unknown", "type": "...", "affected": VERSION, "fixed":
//! VERSION|null, "ticket": ..., "issues": ["CVE-..."], "advisories": ["ASA-..."]}`.
//!
//! One patch per group (id = the AVG name, stable across calls) that has a fixed version,
//! listing its packages that are upgradable here with installed < fixed <= candidate (alpm
//! ordering); kind security, severity from the group, `severity_source` `arch-asa`. The
//! available version is the candidate pacman installs (it can only install that one).

use std::path::Path;

use serde::Deserialize;

use super::{affected, Advisory, AdvisoryKind, Severity};
use crate::pkg::{version, PkgError, Upgrade};

/// `severity_source` of the patches this feed gives.
pub const SOURCE: &str = "arch-asa";

/// One advisory group (AVG).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct AvgGroup {
    /// `AVG-NNNN`.
    pub name: String,
    /// Package names (pkgname) the group affects.
    pub packages: Vec<String>,
    /// `Fixed`, `Vulnerable`, `Testing`, `Not affected`, `Unknown`.
    pub status: String,
    /// `Critical`, `High`, `Medium`, `Low`, `Unknown`.
    pub severity: String,
    /// Vulnerability type, e.g. `arbitrary code execution`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The affected version.
    #[serde(default)]
    pub affected: Option<String>,
    /// The first fixed version, when there is one.
    #[serde(default)]
    pub fixed: Option<String>,
    /// CVE ids.
    #[serde(default)]
    pub issues: Vec<String>,
    /// `ASA-YYYYMM-N` advisories published for it.
    #[serde(default)]
    pub advisories: Vec<String>,
}

/// Parses the whole array.
pub fn parse(bytes: &[u8]) -> Result<Vec<AvgGroup>, String> {
    serde_json::from_slice(bytes).map_err(|e| e.to_string())
}

/// Checks a downloaded body before it replaces the feed file.
pub fn validate(bytes: &[u8]) -> Result<(), String> {
    parse(bytes).map(|_| ())
}

/// Reads and parses a feed file; errors name the file.
pub fn load(path: &Path) -> Result<Vec<AvgGroup>, PkgError> {
    let bytes = super::cache::read(path)?;
    parse(&bytes).map_err(|m| super::cache::unreadable(path, m))
}

/// Whether an upgrade brings the group's fix: installed < fixed <= candidate.
fn fixes(fixed: &str, u: &Upgrade) -> bool {
    version::alpm(&u.current_version, fixed).is_lt()
        && version::alpm(fixed, &u.available_version).is_le()
}

/// One patch per group whose fix an upgrade brings; `requires_reboot(name)` says whether
/// an installed package installs a kernel image. Upgrades no group covers are left to
/// `with_uncovered`.
pub fn patches(
    groups: &[AvgGroup],
    upgrades: &[Upgrade],
    requires_reboot: &dyn Fn(&str) -> bool,
) -> Vec<Advisory> {
    groups
        .iter()
        .filter(|g| g.status != "Not affected")
        .filter_map(|g| patch_of(g, upgrades, requires_reboot))
        .collect()
}

fn patch_of(
    g: &AvgGroup,
    upgrades: &[Upgrade],
    requires_reboot: &dyn Fn(&str) -> bool,
) -> Option<Advisory> {
    let fixed = g.fixed.as_deref()?;
    let hits: Vec<&Upgrade> = upgrades
        .iter()
        .filter(|u| g.packages.contains(&u.name) && fixes(fixed, u))
        .collect();
    if hits.is_empty() {
        return None;
    }
    let mut cve_ids: Vec<String> = g
        .issues
        .iter()
        .filter(|i| i.starts_with("CVE-"))
        .cloned()
        .collect();
    cve_ids.sort();
    cve_ids.dedup();
    Some(Advisory {
        id: g.name.clone(),
        name: title(g),
        kind: AdvisoryKind::Security,
        severity: Severity::from_source(&g.severity),
        severity_source: SOURCE.to_string(),
        published: None,
        description: description(g, fixed),
        cve_ids,
        packages: hits.iter().map(|u| affected(u)).collect(),
        requires_reboot: hits.iter().any(|u| requires_reboot(&u.name)),
    })
}

/// `PACKAGES: TYPE`, e.g. `openssl: denial of service`.
fn title(g: &AvgGroup) -> String {
    let packages = g.packages.join(", ");
    if g.kind.is_empty() {
        packages
    } else {
        format!("{packages}: {}", g.kind)
    }
}

/// E.g. `arbitrary code execution in lpa-hello, fixed in 2.0-1 (ASA-202601-1).`
fn description(g: &AvgGroup, fixed: &str) -> String {
    let what = if g.kind.is_empty() {
        "vulnerability".to_string()
    } else {
        g.kind.clone()
    };
    let mut text = format!("{what} in {}, fixed in {fixed}", g.packages.join(", "));
    if !g.advisories.is_empty() {
        text.push_str(&format!(" ({})", g.advisories.join(", ")));
    }
    text.push('.');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = include_str!("../../../tests/data/feeds/arch-all-sample.json");
    const FIXTURE: &str = include_str!("../../../tests/sandbox/feeds/arch-security.json");

    fn up(name: &str, cur: &str, new: &str) -> Upgrade {
        Upgrade {
            name: name.into(),
            current_version: cur.into(),
            available_version: new.into(),
            arch: None,
            origins: vec![],
        }
    }

    #[test]
    fn recorded_sample_parses() {
        let groups = parse(SAMPLE.as_bytes()).unwrap();
        validate(SAMPLE.as_bytes()).unwrap();
        assert!(groups
            .iter()
            .any(|g| g.fixed.is_none() && g.status == "Vulnerable"));
        let ups = [
            up("curl", "8.4.0-1", "8.5.0-1"),
            up("vim", "9.0.1000-1", "9.0.1500-1"),
        ];
        let found = patches(&groups, &ups, &|_| false);
        // vim's group has no fix yet: no patch for it.
        assert!(found
            .iter()
            .all(|p| p.packages.iter().all(|a| a.name == "curl")));
        assert!(!found.is_empty());
    }

    #[test]
    fn fixture_groups_match_the_sandbox_upgrades() {
        let groups = parse(FIXTURE.as_bytes()).unwrap();
        let ups = [
            up("lpa-hello", "1.0-1", "2.0-1"),
            up("lpa-lib", "1.0-1", "1.1-1"),
        ];
        let found = patches(&groups, &ups, &|n| n == "lpa-lib");
        let ids: Vec<&str> = found.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, ["AVG-9001", "AVG-9002"]);
        let hello = &found[0];
        assert_eq!(hello.kind, AdvisoryKind::Security);
        assert_eq!(hello.severity, Severity::High);
        assert_eq!(hello.severity_source, SOURCE);
        assert_eq!(hello.cve_ids, ["CVE-2026-0001", "CVE-2026-0004"]);
        assert_eq!(hello.packages[0].available_version, "2.0-1");
        assert!(
            hello.description.contains("ASA-202601-1"),
            "{}",
            hello.description
        );
        assert!(!hello.requires_reboot);
        assert_eq!(found[1].severity, Severity::Low);
        assert!(found[1].requires_reboot);
        // Already at the fixed version: nothing.
        let none = patches(&groups, &[up("lpa-hello", "2.0-1", "2.0-2")], &|_| false);
        assert!(none.is_empty());
    }

    #[test]
    fn malformed_feeds_are_errors() {
        for bad in ["", "{}", "[{}]", r#"[{"name": "AVG-1"}]"#, "[1]", "[] x"] {
            assert!(validate(bad.as_bytes()).is_err(), "{bad:?}");
        }
        assert!(validate(b"[]").is_ok());
    }
}
