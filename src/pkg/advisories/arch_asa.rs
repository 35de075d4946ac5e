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
//!
//! Each group is an independent record: one of the wrong shape is skipped, counted and
//! logged in the [`ParseReport`]. Published values that are valid: `ticket: null`, `fixed:
//! null` (still vulnerable: no patch), status/severity `Unknown` (severity unknown, never
//! guessed), epoch versions (`1:8.05-1`, alpm ordering). Issue ids go through
//! [`ids::normalise`]: CVEs into `cve_ids`, other ids kept beside them.

use std::path::Path;

use serde_json::{Map, Value};

use super::ids;
use super::report::ParseReport;
use super::shape::kind_of;
use super::{affected, Advisory, AdvisoryKind, Severity};
use crate::pkg::{version, PkgError, Upgrade};

/// `severity_source` of the patches this feed gives.
pub const SOURCE: &str = "arch-asa";

/// One advisory group (AVG).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AvgGroup {
    /// `AVG-NNNN`.
    pub name: String,
    /// Package names (pkgname) the group affects.
    pub packages: Vec<String>,
    /// `Fixed`, `Vulnerable`, `Testing`, `Not affected`, `Unknown` (`Unknown` when null).
    pub status: String,
    /// `Critical`, `High`, `Medium`, `Low`, `Unknown` (`Unknown` when null).
    pub severity: String,
    /// Vulnerability type, e.g. `arbitrary code execution` ("" when none).
    pub kind: String,
    /// The affected version.
    pub affected: Option<String>,
    /// The first fixed version; `None` while still vulnerable.
    pub fixed: Option<String>,
    /// CVE ids of its issues, normalised, sorted and unique.
    pub issues: Vec<String>,
    /// Other ids among its issues (not CVEs), sorted and unique.
    pub other_ids: Vec<String>,
    /// `ASA-YYYYMM-N` advisories published for it.
    pub advisories: Vec<String>,
}

/// Parses the whole array; `feed` names it in errors and in the report. A group of the
/// wrong shape is skipped and reported; only a document that is not a list of groups (or
/// has groups but none usable) is an error.
pub fn parse(bytes: &[u8], feed: &str) -> Result<(Vec<AvgGroup>, ParseReport), String> {
    let not_asa = |why: String| format!("{feed}: not an Arch security advisory list: {why}");
    let doc: Value = serde_json::from_slice(bytes).map_err(|e| not_asa(e.to_string()))?;
    let Value::Array(items) = doc else {
        return Err(not_asa(format!("the top level is {}", kind_of(&doc))));
    };
    let mut report = ParseReport::new(feed);
    let mut groups = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        match group_of(item) {
            Ok(g) => {
                report.kept();
                groups.push(g);
            }
            Err(why) => report.skip(key_of(i, item), why),
        }
    }
    if report.nothing_usable() {
        let why = format!("none of its {} groups is usable", report.skipped);
        return Err(not_asa(why));
    }
    Ok((groups, report))
}

/// Checks a downloaded body before it replaces the feed file: a list of groups; single
/// malformed groups are acceptable (they are skipped when read).
pub fn validate(bytes: &[u8]) -> Result<(), String> {
    parse(bytes, SOURCE).map(|_| ())
}

/// Reads and parses a feed file; errors name the file.
pub fn load(path: &Path, feed: &str) -> Result<(Vec<AvgGroup>, ParseReport), PkgError> {
    let bytes = super::cache::read(path)?;
    parse(&bytes, feed).map_err(|m| super::cache::unreadable(path, m))
}

/// A record's key for the report: its name when it has one, else its position.
fn key_of(i: usize, item: &Value) -> String {
    match item.get("name").and_then(Value::as_str) {
        Some(name) if !name.trim().is_empty() => name.trim().to_string(),
        _ => format!("[{i}]"),
    }
}

/// One group from its JSON object, or why it cannot be used.
fn group_of(item: &Value) -> Result<AvgGroup, String> {
    let Value::Object(g) = item else {
        return Err(format!("the group is {}, not an object", kind_of(item)));
    };
    let name = text(g, "name")?
        .filter(|n| !n.is_empty())
        .ok_or("no name")?;
    let packages = texts(g, "packages")?;
    if packages.is_empty() {
        return Err("no packages".to_string());
    }
    let found = ids::normalise(texts(g, "issues")?.iter().map(String::as_str));
    Ok(AvgGroup {
        name,
        packages,
        status: text(g, "status")?.unwrap_or_else(|| "Unknown".to_string()),
        severity: text(g, "severity")?.unwrap_or_else(|| "Unknown".to_string()),
        kind: text(g, "type")?.unwrap_or_default(),
        affected: text(g, "affected")?,
        fixed: text(g, "fixed")?.filter(|f| !f.is_empty()),
        issues: found.cves,
        other_ids: found.others,
        advisories: texts(g, "advisories")?,
    })
}

/// A string field, trimmed: `None` when absent or null, an error for another type.
fn text(g: &Map<String, Value>, field: &str) -> Result<Option<String>, String> {
    match g.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
        Some(other) => Err(format!("{field} is {}", kind_of(other))),
    }
}

/// A list-of-strings field: empty when absent or null, an error for another type.
fn texts(g: &Map<String, Value>, field: &str) -> Result<Vec<String>, String> {
    let items = match g.get(field) {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(other) => return Err(format!("{field} is {}, not a list", kind_of(other))),
    };
    items
        .iter()
        .map(|v| match v {
            Value::String(s) => Ok(s.trim().to_string()),
            other => Err(format!("an item of {field} is {}", kind_of(other))),
        })
        .collect()
}

/// Whether an upgrade brings the group's fix: installed < fixed <= candidate.
fn fixes(fixed: &str, u: &Upgrade) -> bool {
    version::alpm_libalpm(&u.current_version, fixed).is_lt()
        && version::alpm_libalpm(fixed, &u.available_version).is_le()
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
    let cve_ids = g.issues.clone();
    let mut patch = Advisory {
        id: g.name.clone(),
        name: title(g),
        kind: AdvisoryKind::Security,
        severity: Severity::from_source(&g.severity),
        severity_source: SOURCE.to_string(),
        published: None,
        description: description(g, fixed),
        cve_ids,
        advisory_ids: Vec::new(),
        packages: hits.iter().map(|u| affected(u)).collect(),
        requires_reboot: hits.iter().any(|u| requires_reboot(&u.name)),
    };
    // The group's ASA ids and its issues' other ids (`XSA-252`) name the same fix.
    patch.add_advisory_ids(g.advisories.iter().chain(g.other_ids.iter()));
    Some(patch)
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

/// E.g. `arbitrary code execution in lpa-hello, fixed in 2.0-1 (ASA-202601-1).` (the
/// group's ASA ids, then other non-CVE ids of its issues).
fn description(g: &AvgGroup, fixed: &str) -> String {
    let what = if g.kind.is_empty() {
        "vulnerability".to_string()
    } else {
        g.kind.clone()
    };
    let mut text = format!("{what} in {}, fixed in {fixed}", g.packages.join(", "));
    let named: Vec<&str> = g
        .advisories
        .iter()
        .chain(g.other_ids.iter())
        .map(String::as_str)
        .collect();
    if !named.is_empty() {
        text.push_str(&format!(" ({})", named.join(", ")));
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
        let (groups, report) = parse(SAMPLE.as_bytes(), SOURCE).unwrap();
        assert_eq!(report.skipped, 0);
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
        let (groups, _) = parse(FIXTURE.as_bytes(), SOURCE).unwrap();
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
        assert_eq!(hello.advisory_ids, ["ASA-202601-1"]);
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
    fn documents_that_are_not_a_group_list_are_errors_naming_the_feed() {
        for bad in [
            "",
            "{}",
            "[{}]",
            r#"[{"name": "AVG-1"}]"#,
            "[1]",
            "[] x",
            "null",
        ] {
            let err = parse(bad.as_bytes(), "arch-asa all.json").unwrap_err();
            assert!(err.starts_with("arch-asa all.json: "), "{bad:?}: {err}");
            assert!(validate(bad.as_bytes()).is_err(), "{bad:?}");
        }
        assert!(validate(b"[]").is_ok());
        let dir = std::env::temp_dir().join(format!("lpa-asa-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("all.json");
        std::fs::write(&file, "[").unwrap();
        let err = load(&file, SOURCE).unwrap_err().to_string();
        assert!(err.contains("all.json"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Before issue 15 one group without `packages` rejected the whole feed ("missing field
    /// `packages`") and `CVE 2018-16859` was not a CVE.
    #[test]
    fn a_malformed_group_costs_only_itself() {
        let doc = r#"[{"name": "AVG-1"},
            {"name": "AVG-2", "packages": ["a"], "status": "Fixed", "severity": "Unknown",
             "type": null, "affected": "1:1.0-1", "fixed": "1:2.0-1", "ticket": null,
             "issues": ["CVE 2018-16859", "CVE_2019-2426", "XSA-252"], "advisories": []},
            {"name": "AVG-3", "packages": ["b"], "status": "Vulnerable", "severity": "High",
             "fixed": null, "issues": ["CVE-2020-12823"]},
            {"name": "AVG-4", "packages": "c", "status": "Fixed", "severity": "Low"},
            {"name": "AVG-5", "packages": ["d"], "fixed": 2},
            "AVG-6",
            {"name": "AVG-7", "packages": ["e"], "issues": ["CVE-2020-0001", 7]}]"#;
        let (groups, report) = parse(doc.as_bytes(), SOURCE).unwrap();
        let names: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, ["AVG-2", "AVG-3"]);
        assert_eq!(groups[0].issues, ["CVE-2018-16859", "CVE-2019-2426"]);
        assert_eq!(groups[0].other_ids, ["XSA-252"]);
        assert_eq!(groups[0].kind, "");
        assert_eq!(groups[1].fixed, None);
        let skipped: Vec<(&str, &str)> = report
            .examples
            .iter()
            .map(|e| (e.key.as_str(), e.reason.as_str()))
            .collect();
        assert_eq!(
            skipped,
            [
                ("AVG-1", "no packages"),
                ("AVG-4", "packages is a string, not a list"),
                ("AVG-5", "fixed is a number"),
                ("[5]", "the group is a string, not an object"),
                ("AVG-7", "an item of issues is a number"),
            ]
        );
        assert_eq!((report.records, report.skipped), (2, 5));
        // Epoch versions order by alpm rules; a still-vulnerable group gives no patch;
        // severity `Unknown` stays unknown.
        let ups = [up("a", "1:1.5-1", "1:2.0-1"), up("b", "1.0-1", "9.0-1")];
        let found = patches(&groups, &ups, &|_| false);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].id, "AVG-2");
        assert_eq!(found[0].severity, Severity::Unknown);
        assert_eq!(found[0].cve_ids, ["CVE-2018-16859", "CVE-2019-2426"]);
        assert_eq!(
            found[0].description,
            "vulnerability in a, fixed in 1:2.0-1 (XSA-252)."
        );
        assert_eq!(found[0].advisory_ids, ["XSA-252"]);
        // Without the epoch the candidate is older than the fix.
        assert!(patches(&groups, &[up("a", "1.5-1", "2.0-1")], &|_| false).is_empty());
    }
}
