//! The wire format of a patch policy: the `policy` object a patch job's `202` answer, its
//! job detail and its audit line repeat, and the `selection` a patch dry run shows.

use serde::Serialize;

use crate::pkg::policy::{PatchPolicy, RebootSetting, Selection};

/// The policy a patch run was asked with, the reboot setting included.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PolicyEcho<'a> {
    classifications: Vec<&'static str>,
    exclude_packages: &'a [String],
    include_packages: &'a [String],
    min_severity: Option<&'static str>,
    reboot: &'static str,
    reboot_delay_seconds: u64,
}

impl<'a> PolicyEcho<'a> {
    /// The echo of `policy` with the run's reboot setting and delay.
    pub fn new(policy: &'a PatchPolicy, reboot: RebootSetting, delay: u64) -> PolicyEcho<'a> {
        PolicyEcho {
            classifications: policy.classifications.iter().map(|k| k.as_str()).collect(),
            exclude_packages: &policy.exclude_packages,
            include_packages: &policy.include_packages,
            min_severity: policy.min_severity.map(|s| s.as_str()),
            reboot: reboot.as_str(),
            reboot_delay_seconds: delay,
        }
    }
}

/// A patch dry run's `selection`: what the policy took and left out.
#[derive(Clone, Debug, Serialize)]
pub struct SelectionEcho<'a> {
    excluded_packages: &'a [String],
    left_out: Vec<LeftOutEntry<'a>>,
    selected: Vec<&'a str>,
}

/// One patch the policy left out, and why (`classification`, `severity` or `mask`).
#[derive(Clone, Debug, Serialize)]
struct LeftOutEntry<'a> {
    id: &'a str,
    reason: &'static str,
}

impl<'a> SelectionEcho<'a> {
    /// The echo of `selection`.
    pub fn new(selection: &'a Selection) -> SelectionEcho<'a> {
        SelectionEcho {
            excluded_packages: &selection.excluded_packages,
            left_out: selection
                .left_out
                .iter()
                .map(|(id, reason)| LeftOutEntry {
                    id,
                    reason: reason.as_str(),
                })
                .collect(),
            selected: selection.selected.iter().map(|p| p.id.as_str()).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::envelope::assert_sorted_bytes;
    use super::*;
    use crate::pkg::advisories::{AdvisoryKind, Severity};
    use crate::pkg::policy::LeftOutReason;

    #[test]
    fn the_policy_echo_names_every_part() {
        let policy = PatchPolicy {
            classifications: vec![AdvisoryKind::Security, AdvisoryKind::Bugfix],
            min_severity: Some(Severity::High),
            include_packages: vec!["lpa-*".into()],
            exclude_packages: vec!["lpa-lib*".into()],
        };
        let v = assert_sorted_bytes(&PolicyEcho::new(&policy, RebootSetting::Always, 60));
        assert_eq!(v["classifications"][1], "bugfix");
        assert_eq!(v["min_severity"], "high");
        assert_eq!(v["include_packages"][0], "lpa-*");
        assert_eq!(v["exclude_packages"][0], "lpa-lib*");
        assert_eq!(v["reboot"], "always");
        assert_eq!(v["reboot_delay_seconds"], 60);
        let empty = PatchPolicy::default();
        let v = assert_sorted_bytes(&PolicyEcho::new(&empty, RebootSetting::Never, 0));
        assert!(v["min_severity"].is_null());
        assert_eq!(v["reboot"], "never");
    }

    #[test]
    fn the_selection_echo_lists_ids_and_reasons() {
        let selection = Selection {
            selected: Vec::new(),
            left_out: vec![("A-1".into(), LeftOutReason::Mask)],
            excluded_packages: vec!["lpa-lib".into()],
        };
        let v = assert_sorted_bytes(&SelectionEcho::new(&selection));
        assert_eq!(v["left_out"][0]["id"], "A-1");
        assert_eq!(v["left_out"][0]["reason"], "mask");
        assert_eq!(v["excluded_packages"][0], "lpa-lib");
        assert_eq!(v["selected"].as_array().unwrap().len(), 0);
    }
}
