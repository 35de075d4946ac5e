//! The patch policy: which of the available patches a run takes (classifications, a
//! severity floor, package name masks), and the one selection function that the patch
//! list, patch apply and its dry run all use, so what the list shows is what apply takes.
//!
//! The masks apply to every package a patch would change: a patch whose packages are all
//! masked out is left out; a partly masked one is taken without those packages, which are
//! then handed to the tool as exclusions. The time budget of a run belongs here too.

use serde::{Deserialize, Serialize};

use super::advisories::{Advisory, AdvisoryKind, Severity};
use super::glob;

/// What a patch run selects; every part optional (empty or `None` selects everything).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatchPolicy {
    /// Patch types taken; empty takes every type.
    #[serde(default)]
    pub classifications: Vec<AdvisoryKind>,
    /// Least severity taken; unknown severity is taken only with no floor or `low`.
    #[serde(default)]
    pub min_severity: Option<Severity>,
    /// Name masks: when any is given, only packages matching one are changed.
    #[serde(default)]
    pub include_packages: Vec<String>,
    /// Name masks (or exact names) of packages never changed.
    #[serde(default)]
    pub exclude_packages: Vec<String>,
}

/// Why the policy left a patch out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeftOutReason {
    /// Its type is not among `classifications`.
    Classification,
    /// Its severity is below `min_severity` (or unknown under a floor above `low`).
    Severity,
    /// Every package it changes is masked out.
    Mask,
}

impl LeftOutReason {
    /// The API's name of the reason.
    pub fn as_str(self) -> &'static str {
        match self {
            LeftOutReason::Classification => "classification",
            LeftOutReason::Severity => "severity",
            LeftOutReason::Mask => "mask",
        }
    }
}

/// The policy's answer for one patch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Taken, without these of its packages (masked out).
    Selected(Vec<String>),
    /// Left out, and why (the first rule that refused it, in the order above).
    LeftOut(LeftOutReason),
}

/// What a policy selects from a list of patches.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    /// The patches taken, in the order given.
    pub selected: Vec<Advisory>,
    /// The patches left out (id, reason), in the order given.
    pub left_out: Vec<(String, LeftOutReason)>,
    /// Packages of the selected patches that the masks leave out, sorted, each once.
    pub excluded_packages: Vec<String>,
}

impl PatchPolicy {
    /// Whether the policy selects everything (the run of a request without a policy).
    pub fn is_empty(&self) -> bool {
        *self == PatchPolicy::default()
    }

    /// Whether the masks let the package `name` be changed.
    pub fn allows_package(&self, name: &str) -> bool {
        let included = self.include_packages.is_empty()
            || self.include_packages.iter().any(|m| glob::matches(m, name));
        included && !self.exclude_packages.iter().any(|m| glob::matches(m, name))
    }

    fn allows_kind(&self, kind: AdvisoryKind) -> bool {
        self.classifications.is_empty() || self.classifications.contains(&kind)
    }

    fn allows_severity(&self, severity: Severity) -> bool {
        match self.min_severity {
            None => true,
            // Unknown sorts below low: only a floor of low lets it through.
            Some(Severity::Low) => true,
            Some(floor) => severity >= floor,
        }
    }

    /// The verdict on one patch: the test behind both the list and the selection.
    pub fn verdict(&self, patch: &Advisory) -> Verdict {
        if !self.allows_kind(patch.kind) {
            return Verdict::LeftOut(LeftOutReason::Classification);
        }
        if !self.allows_severity(patch.severity) {
            return Verdict::LeftOut(LeftOutReason::Severity);
        }
        let (kept, masked): (Vec<&str>, Vec<&str>) = patch
            .packages
            .iter()
            .map(|p| p.name.as_str())
            .partition(|n| self.allows_package(n));
        // A patch that lists no package changes nothing the masks could refuse.
        if kept.is_empty() && !masked.is_empty() {
            return Verdict::LeftOut(LeftOutReason::Mask);
        }
        Verdict::Selected(masked.into_iter().map(str::to_string).collect())
    }

    /// Whether the policy takes `patch` (the patch list's filter).
    pub fn admits(&self, patch: &Advisory) -> bool {
        matches!(self.verdict(patch), Verdict::Selected(_))
    }

    /// The patches of `patches` the policy takes, those it leaves out and the packages
    /// it masks out of the taken ones.
    pub fn select(&self, patches: &[Advisory]) -> Selection {
        let mut out = Selection::default();
        for p in patches {
            match self.verdict(p) {
                Verdict::Selected(masked) => {
                    out.excluded_packages.extend(masked);
                    out.selected.push(p.clone());
                }
                Verdict::LeftOut(reason) => out.left_out.push((p.id.clone(), reason)),
            }
        }
        out.excluded_packages.sort();
        out.excluded_packages.dedup();
        out
    }

    /// The plain names (no glob characters) among `exclude_packages`: excluded as given
    /// even when no listed patch names them, as `exclude_packages` always did.
    pub fn exact_excludes(&self) -> impl Iterator<Item = &str> {
        self.exclude_packages
            .iter()
            .map(String::as_str)
            .filter(|m| !glob::is_glob(m))
    }
}

/// When a patch run reboots the host.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RebootSetting {
    /// When a patch or the host asks for it (the request's `true`).
    IfRequired,
    /// Not at all (the request's `false`).
    #[default]
    Never,
    /// After every completed run, needed or not.
    Always,
}

impl RebootSetting {
    /// Every setting with its API name.
    pub const ALL: [(&'static str, RebootSetting); 3] = [
        ("if_required", RebootSetting::IfRequired),
        ("never", RebootSetting::Never),
        ("always", RebootSetting::Always),
    ];

    /// The API's name of the setting.
    pub fn as_str(self) -> &'static str {
        match self {
            RebootSetting::IfRequired => "if_required",
            RebootSetting::Never => "never",
            RebootSetting::Always => "always",
        }
    }

    /// The boolean of the older answers (`auto_reboot`): whether a reboot may follow.
    pub fn may_reboot(self) -> bool {
        self != RebootSetting::Never
    }
}

/// Job records written before the setting had three values hold a boolean.
impl<'de> Deserialize<'de> for RebootSetting {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Stored {
            Flag(bool),
            Name(String),
        }
        match Stored::deserialize(d)? {
            Stored::Flag(true) => Ok(RebootSetting::IfRequired),
            Stored::Flag(false) => Ok(RebootSetting::Never),
            Stored::Name(n) => RebootSetting::ALL
                .iter()
                .find(|(name, _)| *name == n)
                .map(|(_, s)| *s)
                .ok_or_else(|| serde::de::Error::custom(format!("unknown reboot setting {n:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patch(id: &str, kind: AdvisoryKind, severity: Severity, pkgs: &[&str]) -> Advisory {
        Advisory::sample(id, kind, severity, pkgs)
    }

    fn fixtures() -> Vec<Advisory> {
        use AdvisoryKind::*;
        vec![
            patch(
                "SEC-CRIT",
                Security,
                Severity::Critical,
                &["linux-image-6.1", "linux-base"],
            ),
            patch("SEC-LOW", Security, Severity::Low, &["lpa-lib", "lpa-tool"]),
            patch("BUG-HIGH", Bugfix, Severity::High, &["lpa-hello"]),
            patch("ENH-UNK", Enhancement, Severity::Unknown, &["lpa-extra"]),
            patch("OTHER-MED", Other, Severity::Medium, &["postgresql-15"]),
        ]
    }

    fn ids(s: &Selection) -> Vec<&str> {
        s.selected.iter().map(|p| p.id.as_str()).collect()
    }

    #[test]
    fn no_policy_takes_everything() {
        let s = PatchPolicy::default().select(&fixtures());
        assert_eq!(ids(&s).len(), 5);
        assert!(s.left_out.is_empty() && s.excluded_packages.is_empty());
        assert!(PatchPolicy::default().is_empty());
    }

    #[test]
    fn classifications_take_only_their_types() {
        let p = PatchPolicy {
            classifications: vec![AdvisoryKind::Security],
            ..PatchPolicy::default()
        };
        let s = p.select(&fixtures());
        assert_eq!(ids(&s), ["SEC-CRIT", "SEC-LOW"]);
        assert_eq!(
            s.left_out[0],
            ("BUG-HIGH".into(), LeftOutReason::Classification)
        );
        let p = PatchPolicy {
            classifications: vec![AdvisoryKind::Bugfix, AdvisoryKind::Other],
            ..PatchPolicy::default()
        };
        assert_eq!(ids(&p.select(&fixtures())), ["BUG-HIGH", "OTHER-MED"]);
    }

    #[test]
    fn a_severity_floor_and_the_unknown_rule() {
        let floor = |s| PatchPolicy {
            min_severity: Some(s),
            ..PatchPolicy::default()
        };
        assert_eq!(
            ids(&floor(Severity::Critical).select(&fixtures())),
            ["SEC-CRIT"]
        );
        assert_eq!(
            ids(&floor(Severity::High).select(&fixtures())),
            ["SEC-CRIT", "BUG-HIGH"]
        );
        assert_eq!(
            ids(&floor(Severity::Medium).select(&fixtures())),
            ["SEC-CRIT", "BUG-HIGH", "OTHER-MED"]
        );
        // Unknown severity passes a floor of low, and no floor, but not medium.
        assert_eq!(ids(&floor(Severity::Low).select(&fixtures())).len(), 5);
        let s = floor(Severity::Medium).select(&fixtures());
        assert!(s
            .left_out
            .contains(&("ENH-UNK".into(), LeftOutReason::Severity)));
        assert!(s
            .left_out
            .contains(&("SEC-LOW".into(), LeftOutReason::Severity)));
    }

    #[test]
    fn masks_leave_out_whole_patches_or_some_of_their_packages() {
        let p = PatchPolicy {
            exclude_packages: vec!["linux-image-*".into(), "lpa-lib".into()],
            ..PatchPolicy::default()
        };
        let s = p.select(&fixtures());
        assert_eq!(ids(&s).len(), 5, "each patch keeps a package");
        assert_eq!(s.excluded_packages, ["linux-image-6.1", "lpa-lib"]);
        let p = PatchPolicy {
            exclude_packages: vec!["linux-*".into(), "lpa-[lt]*".into()],
            ..PatchPolicy::default()
        };
        let s = p.select(&fixtures());
        assert_eq!(ids(&s), ["BUG-HIGH", "ENH-UNK", "OTHER-MED"]);
        assert_eq!(
            s.left_out,
            [
                ("SEC-CRIT".into(), LeftOutReason::Mask),
                ("SEC-LOW".into(), LeftOutReason::Mask)
            ]
        );
        assert!(s.excluded_packages.is_empty());
        let p = PatchPolicy {
            include_packages: vec!["lpa-*".into()],
            ..PatchPolicy::default()
        };
        let s = p.select(&fixtures());
        assert_eq!(ids(&s), ["SEC-LOW", "BUG-HIGH", "ENH-UNK"]);
        assert_eq!(s.left_out.len(), 2);
    }

    #[test]
    fn include_and_exclude_combine_with_the_other_rules() {
        let p = PatchPolicy {
            classifications: vec![AdvisoryKind::Security, AdvisoryKind::Bugfix],
            min_severity: Some(Severity::Low),
            include_packages: vec!["lpa-*".into()],
            exclude_packages: vec!["lpa-tool".into()],
        };
        let s = p.select(&fixtures());
        assert_eq!(ids(&s), ["SEC-LOW", "BUG-HIGH"]);
        assert_eq!(s.excluded_packages, ["lpa-tool"]);
        // The classification is judged first, the masks last.
        assert_eq!(
            p.verdict(&fixtures()[0]),
            Verdict::LeftOut(LeftOutReason::Mask)
        );
        assert_eq!(
            p.verdict(&fixtures()[3]),
            Verdict::LeftOut(LeftOutReason::Classification)
        );
        assert!(p.admits(&fixtures()[2]) && !p.admits(&fixtures()[4]));
        assert_eq!(p.exact_excludes().collect::<Vec<_>>(), ["lpa-tool"]);
    }

    #[test]
    fn reboot_settings_read_old_booleans_and_names() {
        let read = |t: &str| serde_json::from_str::<RebootSetting>(t);
        assert_eq!(read("true").unwrap(), RebootSetting::IfRequired);
        assert_eq!(read("false").unwrap(), RebootSetting::Never);
        assert_eq!(read("\"always\"").unwrap(), RebootSetting::Always);
        assert!(read("\"sometimes\"").is_err());
        assert_eq!(
            serde_json::to_string(&RebootSetting::IfRequired).unwrap(),
            "\"if_required\""
        );
        assert!(RebootSetting::Always.may_reboot() && !RebootSetting::Never.may_reboot());
    }
}
