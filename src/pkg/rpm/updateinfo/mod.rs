//! rpm-md advisories (`updateinfo`) for dnf and yum, and the rpm family's kernel-based
//! reboot check.
//!
//! What dnf prints is the primary source: `updateinfo list --updates` maps each advisory
//! to the upgradable packages it fixes, and `updateinfo info --updates` gives its title,
//! type, severity, CVE ids and description. Neither prints `reboot_suggested` nor the
//! issued date (dnf 4.14 shows only "Updated"; verified in its source and output,
//! `tests/data/dnf/`), so those two come from the repository's `updateinfo.xml` in the
//! tool's metadata cache under the managed root. An uncompressed file is read directly;
//! a compressed one (createrepo_c/modifyrepo_c compress with gzip by default, Fedora uses
//! xz/zstd) is piped through the system's `gzip`/`xz`/`bzip2`/`zstd -dc`, because the
//! crate has no decompression library. When the tool is missing or the file is gone, the
//! advisory still lists with everything dnf printed, `requires_reboot` false and the
//! "Updated" date as `published`, and a warning is logged.
//!
//! yum 3 (RHEL 7) could not be run here: its `updateinfo` text and cache layout
//! (`/var/cache/yum/.../gen/updateinfo.xml`, decompressed by yum itself) follow yum
//! 3.4.3's source and are tested on typed samples only (`tests/data/yum/README.md`).
//!
//! `updateinfo.xml` is read as a stream of quick-xml events ([`stream`]): only the
//! `<update>` being built is held, and only the notices the caller wants are kept, so a
//! tens-of-MB Fedora or RHEL file costs a few MiB (docs/BENCHMARKS.md). A malformed
//! `<update>` is skipped and counted in a [`ParseReport`]; only a document that is not
//! updateinfo XML at all is an error.
//!
//! Files: [`output`] (dnf's printed output), [`notice`] and [`stream`] (the XML),
//! [`date`], [`cache`] (where the files are and how they are opened), [`feeds`] (each
//! file's parse on the advisory board), [`kernel`] (the reboot check); the join into
//! patches is here.

pub mod cache;
pub mod date;
pub mod feeds;
pub mod kernel;
pub mod notice;
pub mod output;
pub mod piped;
pub mod stream;

use std::collections::HashMap;

use crate::pkg::advisories::{self, Advisory, AdvisoryKind, AffectedPackage, Severity};
use crate::pkg::{version, PkgError, Upgrade};

pub use crate::pkg::advisories::report::ParseReport;
pub use cache::{cached_files, cached_notices, decompressor, repomd_updateinfo, CachedNotices};
pub use date::parse_date;
pub use kernel::{
    kernel_query_command, kernel_reboot, kernel_verdict, needs_restarting_verdict,
    parse_kernel_query, running_kernel, KernelPackage, KERNEL_PACKAGES,
};
pub use notice::Notice;
pub use output::{parse_info, parse_list, InfoBlock, ListEntry};
pub use stream::{parse_reader, parse_xml};

/// The `severity_source` of advisories read from updateinfo.
pub const SOURCE: &str = "updateinfo";

/// The advisory kind of an updateinfo type.
pub fn kind_of(kind: &str) -> AdvisoryKind {
    match kind {
        "security" => AdvisoryKind::Security,
        "bugfix" => AdvisoryKind::Bugfix,
        "enhancement" => AdvisoryKind::Enhancement,
        _ => AdvisoryKind::Other,
    }
}

/// Joins what dnf listed and printed with the cached notices into patches over
/// `upgrades`: one per advisory fixing a package upgradable here (the fixed version newer
/// than the installed one), then one plain patch per upgrade no advisory covers.
pub fn build(
    list: &[ListEntry],
    info: &[InfoBlock],
    notices: &HashMap<String, Notice>,
    upgrades: &[Upgrade],
) -> Vec<Advisory> {
    let mut out: Vec<Advisory> = Vec::new();
    for e in list {
        let Some(u) = upgrades
            .iter()
            .find(|u| u.name == e.name && u.arch.as_deref().is_none_or(|a| a == e.arch))
        else {
            continue;
        };
        if version::rpm(&e.version, &u.current_version).is_le() {
            continue;
        }
        let package = AffectedPackage {
            name: u.name.clone(),
            current_version: u.current_version.clone(),
            available_version: e.version.clone(),
            arch: Some(e.arch.clone()),
        };
        match out.iter_mut().find(|a| a.id == e.id) {
            Some(a) => add_package(a, package),
            None => out.push(advisory(e, info, notices.get(&e.id), package)),
        }
    }
    advisories::with_uncovered(out, upgrades)
}

fn add_package(a: &mut Advisory, package: AffectedPackage) {
    match a.packages.iter_mut().find(|p| p.name == package.name) {
        Some(p) if version::rpm(&package.available_version, &p.available_version).is_gt() => {
            *p = package
        }
        Some(_) => {}
        None => a.packages.push(package),
    }
}

fn advisory(
    e: &ListEntry,
    info: &[InfoBlock],
    notice: Option<&Notice>,
    package: AffectedPackage,
) -> Advisory {
    let block = info.iter().find(|b| b.id == e.id);
    let severity = e
        .severity
        .clone()
        .or_else(|| block.and_then(|b| b.severity.clone()))
        .or_else(|| notice.and_then(|n| n.severity.clone()));
    let mut cves: Vec<String> = block.map(|b| b.cves.clone()).unwrap_or_default();
    cves.extend(notice.map(|n| n.cves.clone()).unwrap_or_default());
    cves.sort();
    cves.dedup();
    let title = block
        .map(|b| b.title.clone())
        .filter(|t| !t.is_empty())
        .or_else(|| notice.map(|n| n.title.clone()).filter(|t| !t.is_empty()))
        .unwrap_or_else(|| e.id.clone());
    let description = block
        .map(|b| b.description.clone())
        .filter(|d| !d.is_empty())
        .or_else(|| notice.map(|n| n.description.clone()))
        .unwrap_or_default();
    let published = notice
        .and_then(|n| n.issued.as_deref())
        .or_else(|| block.and_then(|b| b.issued.as_deref()))
        .or_else(|| block.and_then(|b| b.updated.as_deref()))
        .and_then(parse_date);
    let mut patch = Advisory {
        id: e.id.clone(),
        name: title,
        kind: kind_of(&e.kind),
        severity: severity
            .as_deref()
            .map_or(Severity::Unknown, Severity::from_source),
        severity_source: SOURCE.to_string(),
        published,
        description,
        cve_ids: cves,
        advisory_ids: Vec::new(),
        packages: vec![package],
        requires_reboot: notice.is_some_and(|n| n.reboot_suggested),
    };
    // Only the cached file names other ids (`RHBA-...`, `XSA-252`); dnf's output does not.
    patch.add_advisory_ids(notice.map(|n| n.other_ids.as_slice()).unwrap_or_default());
    patch
}

/// Checks an advisory id before it goes on a command line (`--advisory=ID`).
pub fn validate_id(id: &str) -> Result<(), PkgError> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && !id.starts_with('-')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':' | '.' | '+'));
    if ok {
        return Ok(());
    }
    Err(PkgError::Invalid {
        field: "patch".to_string(),
        message: format!("{id:?} is not an advisory id"),
    })
}

/// After applying advisories, checks that each affected package (but the excluded ones) is
/// at least at the version the advisory fixes: dnf exits 0 with "Nothing to do." for an
/// advisory it does not know, and zypper for a patch that does not apply.
pub fn verify_applied(
    installed: &HashMap<String, String>,
    selected: &[&Advisory],
    exclude: &[String],
) -> Result<(), PkgError> {
    for a in selected {
        for p in &a.packages {
            if exclude.contains(&p.name) {
                continue;
            }
            let now = installed.get(&p.name);
            if now.is_some_and(|v| version::rpm(v, &p.available_version).is_ge()) {
                continue;
            }
            return Err(PkgError::VersionConflict(format!(
                "{}: {} is {} after applying it, not {} or newer",
                a.id,
                p.name,
                now.map_or("not installed", String::as_str),
                p.available_version
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST: &str =
        include_str!("../../../../tests/data/dnf/dnf-updateinfo-list-updates.stdout");
    const INFO: &str =
        include_str!("../../../../tests/data/dnf/dnf-updateinfo-info-updates.stdout");
    const XML: &str = include_str!("../../../../tests/data/dnf/dnf-cache-updateinfo.xml");

    fn up(name: &str, cur: &str, new: &str) -> Upgrade {
        Upgrade {
            name: name.into(),
            current_version: cur.into(),
            available_version: new.into(),
            arch: Some("noarch".into()),
            origins: vec!["lpa".into()],
        }
    }

    fn fixture_upgrades() -> Vec<Upgrade> {
        vec![
            up("lpa-hello", "1.0-1", "2.0-1"),
            up("lpa-lib", "1.0-1", "1.1-1"),
        ]
    }

    #[test]
    fn patches_from_recorded_output() {
        let mut notices: HashMap<String, Notice> = parse_xml(XML)
            .unwrap()
            .0
            .into_iter()
            .map(|n| (n.id.clone(), n))
            .collect();
        // As a cached file names them in `<reference type="erratum"/"other">`.
        if let Some(n) = notices.get_mut("LPA-2026-0003") {
            n.other_ids = vec!["RHBA-2026:7".into(), "XSA-252".into()];
        }
        let ups = fixture_upgrades();
        let a = build(
            &parse_list(LIST).unwrap(),
            &parse_info(INFO),
            &notices,
            &ups,
        );
        let ids: Vec<&str> = a.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, ["LPA-2026-0001", "LPA-2026-0002", "LPA-2026-0003"]);
        let crit = &a[2];
        assert_eq!(crit.kind, AdvisoryKind::Security);
        assert_eq!(crit.severity, Severity::Critical);
        assert_eq!(crit.severity_source, "updateinfo");
        assert_eq!(crit.cve_ids, ["CVE-2026-0002", "CVE-2026-0003"]);
        assert!(crit.requires_reboot);
        assert_eq!(crit.advisory_ids, ["RHBA-2026:7", "XSA-252"]);
        assert!(a[0].advisory_ids.is_empty());
        assert_eq!(crit.name, "Critical: lpa-lib security update");
        assert_eq!(
            crit.published,
            Some(time::macros::datetime!(2026-01-20 00:00 UTC))
        );
        assert_eq!(
            crit.packages,
            [AffectedPackage {
                name: "lpa-lib".into(),
                current_version: "1.0-1".into(),
                available_version: "1.1-1".into(),
                arch: Some("noarch".into()),
            }]
        );
        assert_eq!(a[0].severity, Severity::High);
        assert!(!a[0].requires_reboot);
        assert_eq!(a[1].kind, AdvisoryKind::Bugfix);
        assert_eq!(a[1].severity, Severity::Unknown);

        // Without the cache: dnf's own output still gives everything but the reboot flag,
        // and "Updated" stands in for the issue date.
        let bare = build(
            &parse_list(LIST).unwrap(),
            &parse_info(INFO),
            &HashMap::new(),
            &ups,
        );
        assert!(!bare[2].requires_reboot);
        assert_eq!(bare[2].cve_ids, crit.cve_ids);
        assert_eq!(bare[2].published, crit.published);

        // Only what is upgradable here counts; the rest stays a plain patch.
        let only_hello = [
            up("lpa-hello", "1.0-1", "2.0-1"),
            up("lpa-tool", "1.0-1", "1.1-1"),
        ];
        let a = build(&parse_list(LIST).unwrap(), &[], &notices, &only_hello);
        let ids: Vec<&str> = a.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, ["LPA-2026-0001", "lpa-tool-1.1-1"]);
        assert_eq!(a[1].severity_source, "none");
        // An advisory fixing the installed version (or older) no longer applies.
        let at_fix = [up("lpa-lib", "1.1-1", "1.2-1")];
        let a = build(&parse_list(LIST).unwrap(), &[], &notices, &at_fix);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].id, "lpa-lib-1.2-1");
    }

    #[test]
    fn ids_are_checked() {
        assert!(validate_id("RHSA-2024:1234").is_ok());
        assert!(validate_id("FEDORA-2024-1a2b3c").is_ok());
        assert!(validate_id("openSUSE-SLE-15.5-2024-1234").is_ok());
        assert!(validate_id("--exclude=x").is_err());
        assert!(validate_id("a b").is_err());
        assert!(validate_id("").is_err());
    }

    #[test]
    fn applied_is_verified() {
        let ups = fixture_upgrades();
        let mut a = advisories::plain_update(&ups[0]);
        a.id = "LPA-2026-0001".into();
        let installed = HashMap::from([("lpa-hello".to_string(), "1.0-1".to_string())]);
        let err = verify_applied(&installed, &[&a], &[]).unwrap_err();
        assert!(
            matches!(err, PkgError::VersionConflict(ref m) if m.contains("LPA-2026-0001")),
            "{err}"
        );
        assert!(verify_applied(&installed, &[&a], &["lpa-hello".into()]).is_ok());
        let newer = HashMap::from([("lpa-hello".to_string(), "2.1-1".to_string())]);
        assert!(verify_applied(&newer, &[&a], &[]).is_ok());
    }
}
