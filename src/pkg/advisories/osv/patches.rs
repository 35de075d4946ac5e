//! Patches from OSV records for a host's upgrades.
//!
//! One patch per notice (USN/DSA/DLA) that an upgrade's fix range covers, listing every
//! upgrade it covers, with the notice's id; an upgrade two notices cover is in both (as a
//! package is in several updateinfo advisories). Per-CVE records (`UBUNTU-CVE-*`) are no
//! patch ids of their own: they give the priority of a notice's CVEs and, for an upgrade no
//! notice covers, the CVE ids and severity of its plain update (whose kind then stays what
//! its origin says, as with the Debian tracker). Notices are security updates.

use std::collections::{BTreeMap, BTreeSet};

use super::super::{affected, plain_update, Advisory, AdvisoryKind, Severity};
use super::ecosystem::HostEcosystem;
use super::index::{Notice, OsvIndex};
use super::record::RecordKind;
use crate::pkg::advisories::origin::is_security_origin;
use crate::pkg::Upgrade;

/// An upgrade with what the backend knows about its installed package.
#[derive(Clone, Debug)]
pub struct HostUpgrade<'a> {
    /// The upgrade.
    pub upgrade: &'a Upgrade,
    /// Its source package (dpkg `Source:`), when known; Debian records match by it.
    pub source: Option<String>,
    /// Whether it installs a kernel image (the patch then asks for a reboot).
    pub requires_reboot: bool,
}

/// The patches the records give, and the upgrades they say nothing about.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OsvPatches {
    /// Notice patches, then enriched plain updates (per-CVE fixes only).
    pub advisories: Vec<Advisory>,
    /// Indexes (into the input) of upgrades no record covers: the caller patches them as
    /// it would without OSV data.
    pub uncovered: Vec<usize>,
}

/// Builds the patches for `upgrades` from `index`.
pub fn patches(index: &OsvIndex, host: &HostEcosystem, upgrades: &[HostUpgrade<'_>]) -> OsvPatches {
    let mut by_notice: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    let mut cve_only: Vec<(usize, Vec<usize>)> = Vec::new();
    let mut out = OsvPatches::default();
    for (i, hu) in upgrades.iter().enumerate() {
        let u = hu.upgrade;
        let fixes = index.fixed_between(
            &u.name,
            hu.source.as_deref(),
            &u.current_version,
            &u.available_version,
        );
        let (notices, cves): (Vec<usize>, Vec<usize>) = fixes
            .iter()
            .map(|f| f.notice)
            .partition(|&n| index.notices()[n].kind == RecordKind::Notice);
        for n in &notices {
            by_notice.entry(*n).or_default().push(i);
        }
        match (notices.is_empty(), cves.is_empty()) {
            (true, true) => out.uncovered.push(i),
            (true, false) => cve_only.push((i, cves)),
            _ => {}
        }
    }
    let source = host.distro.severity_source();
    for (n, members) in by_notice {
        out.advisories.push(notice_patch(
            index,
            &index.notices()[n],
            &members,
            upgrades,
            source,
        ));
    }
    for (i, cves) in cve_only {
        out.advisories
            .push(cve_patch(index, &upgrades[i], &cves, source));
    }
    out
}

/// The patch of one notice covering `members`.
fn notice_patch(
    index: &OsvIndex,
    notice: &Notice,
    members: &[usize],
    upgrades: &[HostUpgrade<'_>],
    source: &str,
) -> Advisory {
    let severity = notice
        .cves
        .iter()
        .map(|c| index.cve_severity(c))
        .fold(notice.severity, Severity::max);
    let name = if notice.summary.is_empty() {
        &notice.id
    } else {
        &notice.summary
    };
    let mut patch = Advisory {
        id: notice.id.clone(),
        name: name.clone(),
        kind: AdvisoryKind::Security,
        severity,
        severity_source: source.to_string(),
        published: notice.published,
        description: notice.details.clone(),
        cve_ids: notice.cves.clone(),
        advisory_ids: Vec::new(),
        packages: members
            .iter()
            .map(|&i| affected(upgrades[i].upgrade))
            .collect(),
        requires_reboot: members.iter().any(|&i| upgrades[i].requires_reboot),
    };
    patch.add_advisory_ids(&notice.other_ids);
    patch
}

/// An upgrade only per-CVE records cover: its plain update with their CVEs and severity.
fn cve_patch(index: &OsvIndex, hu: &HostUpgrade<'_>, records: &[usize], source: &str) -> Advisory {
    let mut patch = plain_update(hu.upgrade);
    if hu.upgrade.origins.iter().any(|o| is_security_origin(o)) {
        patch.kind = AdvisoryKind::Security;
    }
    patch.requires_reboot = hu.requires_reboot;
    let mut cves = BTreeSet::new();
    let mut severity = Severity::Unknown;
    for &n in records {
        let rec = &index.notices()[n];
        cves.extend(rec.cves.iter().cloned());
        severity = severity.max(rec.severity);
        patch.add_advisory_ids(&rec.other_ids);
    }
    patch.severity = cves
        .iter()
        .map(|c| index.cve_severity(c))
        .fold(severity, Severity::max);
    patch.severity_source = source.to_string();
    patch.cve_ids = cves.into_iter().collect();
    patch.description = format!("Fixes {}", patch.cve_ids.join(", "));
    patch
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pkg::advisories::report::ParseReport;

    fn up(name: &str, cur: &str, new: &str, origins: &[&str]) -> Upgrade {
        Upgrade {
            name: name.into(),
            current_version: cur.into(),
            available_version: new.into(),
            arch: Some("amd64".into()),
            origins: origins.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn index_of(records: &[&str], host: &HostEcosystem) -> OsvIndex {
        let mut index = OsvIndex::default();
        let mut report = ParseReport::new("t");
        for r in records {
            index.add_bytes(r.as_bytes(), "k", host, &mut report);
        }
        assert_eq!(report.skipped, 0, "{:?}", report.examples);
        index
    }

    const USN_A: &str = r#"{"id": "USN-1-1", "summary": "a vulnerabilities", "details": "d",
        "published": "2024-07-01T09:06:31Z", "upstream": ["UBUNTU-CVE-2024-0001"],
        "affected": [{"package": {"ecosystem": "Ubuntu:22.04:LTS", "name": "a"},
          "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2"}]}],
          "ecosystem_specific": {"binaries": [{"binary_name": "liba", "binary_version": "2"},
                                              {"binary_name": "a-bin", "binary_version": "2"}]}}]}"#;
    const USN_B: &str = r#"{"id": "USN-2-1", "upstream": ["UBUNTU-CVE-2024-0002"],
        "aliases": ["USN-2-1", "GHSA-abcd-efgh-ijkl", "CVE-2024-0002"],
        "affected": [{"package": {"ecosystem": "Ubuntu:22.04:LTS", "name": "a"},
          "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3"}]}],
          "ecosystem_specific": {"binaries": [{"binary_name": "liba", "binary_version": "3"}]}}]}"#;
    const CVE_1: &str = r#"{"id": "UBUNTU-CVE-2024-0001", "upstream": ["CVE-2024-0001"],
        "severity": [{"type": "Ubuntu", "score": "high"}],
        "affected": [{"package": {"ecosystem": "Ubuntu:22.04:LTS", "name": "a"},
          "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2"}]}],
          "ecosystem_specific": {"binaries": [{"binary_name": "liba", "binary_version": "2"}]}}]}"#;
    const CVE_9: &str = r#"{"id": "UBUNTU-CVE-2024-0009", "upstream": ["CVE-2024-0009"],
        "severity": [{"type": "Ubuntu", "score": "low"}],
        "affected": [{"package": {"ecosystem": "Ubuntu:22.04:LTS", "name": "c"},
          "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "5"}]}],
          "ecosystem_specific": {"binaries": [{"binary_name": "c", "binary_version": "5"}]}}]}"#;

    #[test]
    fn one_patch_per_notice_with_priority_from_per_cve_records() {
        let host = HostEcosystem::ubuntu("22.04", false);
        let index = index_of(&[USN_A, USN_B, CVE_1, CVE_9], &host);
        let ups = [
            up("liba:amd64", "1", "3", &["Ubuntu:jammy-security"]),
            up("a-bin", "1", "2", &[]),
            up("c", "4", "5", &["Ubuntu:jammy-updates"]),
            up("other", "1", "2", &[]),
        ];
        let host_ups: Vec<HostUpgrade<'_>> = ups
            .iter()
            .map(|u| HostUpgrade {
                upgrade: u,
                source: (u.name == "c").then(|| "c".to_string()),
                requires_reboot: u.name == "a-bin",
            })
            .collect();
        let out = patches(&index, &host, &host_ups);
        assert_eq!(out.uncovered, [3]);
        let ids: Vec<&str> = out.advisories.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, ["USN-1-1", "USN-2-1", "c-5"]);
        let a = &out.advisories[0];
        assert_eq!(
            (a.name.as_str(), a.description.as_str()),
            ("a vulnerabilities", "d")
        );
        assert_eq!(a.kind, AdvisoryKind::Security);
        assert_eq!(
            a.severity,
            Severity::High,
            "priority of CVE-2024-0001 from its record"
        );
        assert_eq!(a.severity_source, "ubuntu-osv");
        assert_eq!(a.cve_ids, ["CVE-2024-0001"]);
        assert!(a.advisory_ids.is_empty(), "{:?}", a.advisory_ids);
        let names: Vec<&str> = a.packages.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["liba:amd64", "a-bin"]);
        assert!(a.requires_reboot);
        assert!(a.published.is_some());
        let b = &out.advisories[1];
        assert_eq!(
            (b.name.as_str(), b.severity),
            ("USN-2-1", Severity::Unknown)
        );
        assert_eq!(b.packages.len(), 1);
        // A non-CVE alias is an advisory id; the record's own id and its CVEs are not.
        assert_eq!(b.advisory_ids, ["GHSA-abcd-efgh-ijkl"]);
        assert_eq!(b.cve_ids, ["CVE-2024-0002"]);
        assert!(!b.requires_reboot);
        let c = &out.advisories[2];
        assert_eq!((c.kind, c.severity), (AdvisoryKind::Other, Severity::Low));
        assert_eq!(c.cve_ids, ["CVE-2024-0009"]);
        assert_eq!(c.description, "Fixes CVE-2024-0009");
        // Per-CVE records match by source only: without it, `c` is a plain update.
        let alone = [HostUpgrade {
            upgrade: &ups[2],
            source: None,
            requires_reboot: false,
        }];
        assert_eq!(patches(&index, &host, &alone).uncovered, [0]);
    }

    #[test]
    fn per_cve_records_without_fix_or_priority_are_not_kept() {
        let host = HostEcosystem::ubuntu("22.04", false);
        let bare = r#"{"id": "UBUNTU-CVE-2024-0010", "affected": [
            {"package": {"ecosystem": "Ubuntu:22.04:LTS", "name": "d"},
             "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]}]}"#;
        assert!(index_of(&[bare], &host).is_empty());
        let index = index_of(&[CVE_1], &host);
        assert_eq!(index.notices()[0].details, "");
        assert!(index.binary_fixes("liba").is_empty());
        assert_eq!(index.source_fixes("a")[0].fixed_version, "2");
    }
}
