//! zypper's patches as the agent's advisories, and its reboot verdict.

use super::super::advisories::{
    self, Advisory, AdvisoryKind, AffectedPackage, RebootRequired, Severity,
};
use super::super::{version, Upgrade};
use super::output::*;

/// The advisory kind of a zypper patch category (SUSE's `recommended` is its bug fix).
pub fn patch_kind(category: &str) -> AdvisoryKind {
    match category {
        "security" => AdvisoryKind::Security,
        "recommended" | "bugfix" => AdvisoryKind::Bugfix,
        "feature" | "optional" | "enhancement" => AdvisoryKind::Enhancement,
        _ => AdvisoryKind::Other,
    }
}

/// Patches over `upgrades`: each needed patch with the upgradable packages it fixes (the
/// fixed version newer than the installed one), then one plain patch per upgrade none
/// covers. A needed patch none of whose packages is upgradable here is left out.
pub fn patches_to_advisories(
    patches: &[ZypperPatch],
    infos: &[PatchPackages],
    upgrades: &[Upgrade],
) -> Vec<Advisory> {
    let mut out = Vec::new();
    for p in patches.iter().filter(|p| p.status == "needed") {
        let Some(info) = infos.iter().find(|i| i.id == p.id) else {
            continue;
        };
        let mut packages: Vec<AffectedPackage> = Vec::new();
        for (printed, fixed) in &info.packages {
            let Some(u) = upgrade_for(printed, upgrades) else {
                continue;
            };
            if version::rpm(fixed, &u.current_version).is_le()
                || packages.iter().any(|a| a.name == u.name)
            {
                continue;
            }
            packages.push(AffectedPackage {
                name: u.name.clone(),
                current_version: u.current_version.clone(),
                available_version: fixed.clone(),
                arch: u.arch.clone(),
            });
        }
        if packages.is_empty() {
            continue;
        }
        let mut cves = p.cves();
        cves.sort();
        cves.dedup();
        out.push(Advisory {
            id: p.id.clone(),
            name: if p.summary.is_empty() {
                p.id.clone()
            } else {
                p.summary.clone()
            },
            kind: patch_kind(&p.category),
            severity: Severity::from_source(&p.severity),
            severity_source: SOURCE.to_string(),
            published: p
                .issued
                .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok()),
            description: p.description.clone(),
            cve_ids: cves,
            // zypper's issue references besides CVEs are bug tracker numbers, not advisories.
            advisory_ids: Vec::new(),
            packages,
            requires_reboot: p.restart,
        });
    }
    advisories::with_uncovered(out, upgrades)
}

/// The `severity_source` of zypper patches.
pub const SOURCE: &str = "zypper";

/// `zypper needs-rebooting`'s verdict: 102 = reboot needed, 0 = not.
pub fn needs_rebooting_verdict(code: Option<i32>) -> Option<RebootRequired> {
    let required = match code {
        Some(0) => false,
        Some(102) => true,
        _ => return None,
    };
    Some(RebootRequired {
        required,
        reason: if required {
            "zypper needs-rebooting exit 102 (/run/reboot-needed present)".to_string()
        } else {
            "zypper needs-rebooting exit 0".to_string()
        },
        packages: Vec::new(),
    })
}
