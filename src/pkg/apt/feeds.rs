//! apt's advisory feeds together: OSV notices (Ubuntu USN, Debian DSA) first, then the
//! Debian tracker for what no notice covers, the tracker's CVEs and urgency merged into
//! the notices that share an upgrade.
//!
//! Merge rule: an upgrade a notice covers is a member of that notice's patch and gets no
//! patch of its own (deduplicated by package and fixed version); the tracker's CVE ids
//! for the notice's packages are added to it (union) and its severity is the highest of
//! the notice's and the tracker's.

use std::sync::Arc;

use super::Apt;
use crate::pkg::advisories::feeds::{FeedFormat, FeedSource};
use crate::pkg::advisories::osv::{self, HostEcosystem, HostUpgrade, OsvIndex};
use crate::pkg::advisories::{debian_tracker, Advisory, FeedSettings, Parsed, Severity};
use crate::pkg::PkgError;

impl Apt {
    /// The host's OSV ecosystem for one feed: the root's, its version replaced by the
    /// feed's release when one is set; from the feed's name when the root names none.
    fn osv_host(&self, src: &FeedSource) -> Option<HostEcosystem> {
        let from_root = HostEcosystem::of_root(&self.settings.root);
        match (from_root, src.release.as_deref()) {
            (Some(mut h), Some(r)) => {
                h.version = r.to_string();
                Some(h)
            }
            (Some(h), None) => Some(h),
            (None, Some(r)) if src.name.starts_with("ubuntu") => {
                Some(HostEcosystem::ubuntu(r, false))
            }
            (None, Some(r)) if src.name.starts_with("debian") => Some(HostEcosystem::debian(r)),
            (None, _) => None,
        }
    }

    /// One OSV feed's index for the host; `None` when its file does not exist.
    fn osv_index(&self, src: &FeedSource) -> Result<Option<Arc<Parsed<OsvIndex>>>, PkgError> {
        let Some(host) = self.osv_host(src) else {
            if !src.path.exists() {
                return Ok(None);
            }
            return Err(crate::pkg::advisories::cache::unreadable(
                &src.path,
                "no release to match: the root's os-release names no Ubuntu or Debian VERSION_ID"
                    .to_string(),
            ));
        };
        let key = format!("{host:?}");
        self.osv.get_or_load(&src.path, &key, |p| {
            let (index, report) = osv::load(p, &host)?;
            Ok(Parsed { index, report })
        })
    }

    /// Every patch for `upgrades` (with their source packages and kernel flags) from all
    /// of apt's feeds.
    pub(super) fn feed_patches(
        &self,
        feed: &FeedSettings,
        upgrades: &[HostUpgrade<'_>],
    ) -> Vec<Advisory> {
        let trackers: Vec<Arc<Parsed<debian_tracker::TrackerIndex>>> = feed
            .of(FeedFormat::DebianTracker)
            .filter_map(|src| feed.load(src, |src| self.tracker_index(src)))
            .collect();
        let tracker_fixes = |i: usize| -> Vec<&debian_tracker::TrackerFix> {
            let hu = &upgrades[i];
            let u = hu.upgrade;
            let bare = u.name.split_once(':').map_or(u.name.as_str(), |(n, _)| n);
            let source = hu.source.as_deref().unwrap_or(bare);
            trackers
                .iter()
                .flat_map(|t| {
                    t.index
                        .fixed_between(source, &u.current_version, &u.available_version)
                })
                .collect()
        };
        let mut out = Vec::new();
        let mut remaining: Vec<usize> = (0..upgrades.len()).collect();
        for src in feed.of(FeedFormat::Osv) {
            let Some(parsed) = feed.load(src, |src| self.osv_index(src)) else {
                continue;
            };
            let Some(host) = self.osv_host(src) else {
                continue;
            };
            let subset: Vec<HostUpgrade<'_>> =
                remaining.iter().map(|&i| upgrades[i].clone()).collect();
            let found = osv::patches(&parsed.index, &host, &subset);
            for mut patch in found.advisories {
                let members: Vec<usize> = remaining
                    .iter()
                    .copied()
                    .filter(|&i| {
                        patch
                            .packages
                            .iter()
                            .any(|p| p.name == upgrades[i].upgrade.name)
                    })
                    .collect();
                let fixes: Vec<_> = members.iter().flat_map(|&i| tracker_fixes(i)).collect();
                merge_tracker(&mut patch, &fixes);
                out.push(patch);
            }
            remaining = found.uncovered.iter().map(|&k| remaining[k]).collect();
        }
        for i in remaining {
            let hu = &upgrades[i];
            out.push(debian_tracker::patch_for(
                hu.upgrade,
                &tracker_fixes(i),
                hu.requires_reboot,
            ));
        }
        out
    }
}

/// Adds the tracker's CVE ids to a notice's patch and raises its severity to the
/// tracker's highest.
fn merge_tracker(patch: &mut Advisory, fixes: &[&debian_tracker::TrackerFix]) {
    for f in fixes {
        if f.cve.starts_with("CVE-") && !patch.cve_ids.contains(&f.cve) {
            patch.cve_ids.push(f.cve.clone());
        }
    }
    patch.cve_ids.sort();
    let tracker = fixes
        .iter()
        .map(|f| f.severity)
        .max()
        .unwrap_or(Severity::Unknown);
    if tracker > patch.severity {
        if patch.severity == Severity::Unknown {
            patch.severity_source = debian_tracker::SOURCE.to_string();
        }
        patch.severity = tracker;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pkg::advisories::{plain_update, AdvisoryKind};
    use crate::pkg::Upgrade;

    #[test]
    fn tracker_cves_and_severity_join_a_notice() {
        let u = Upgrade {
            name: "openssl".into(),
            current_version: "3.0.1-1".into(),
            available_version: "3.0.2-1".into(),
            arch: None,
            origins: vec![],
        };
        let mut patch = plain_update(&u);
        patch.id = "DSA-5000-1".into();
        patch.kind = AdvisoryKind::Security;
        patch.severity_source = "debian-osv".into();
        patch.cve_ids = vec!["CVE-2026-0002".into()];
        let fix = |cve: &str, severity| debian_tracker::TrackerFix {
            cve: cve.into(),
            fixed_version: "3.0.2-1".into(),
            severity,
            description: String::new(),
        };
        let a = fix("CVE-2026-0001", Severity::Medium);
        let b = fix("CVE-2026-0002", Severity::High);
        let t = fix("TEMP-0001", Severity::Low);
        merge_tracker(&mut patch, &[&a, &b, &t]);
        assert_eq!(patch.cve_ids, ["CVE-2026-0001", "CVE-2026-0002"]);
        assert_eq!(patch.severity, Severity::High);
        assert_eq!(patch.severity_source, "debian-tracker");
        assert_eq!(patch.id, "DSA-5000-1");
    }
}
