//! The answer of a dry run (`?dry_run=true` on the package and patch changes).

use serde::Serialize;

use super::policy::{PolicyEcho, SelectionEcho};
use crate::jobs::BatchForecast;
use crate::pkg::plan::{Plan, PlanEntry, Skipped};

/// `data` of a dry run: what the change would do, as the package manager simulated it.
#[derive(Debug, Serialize)]
pub struct DryRun<'a> {
    /// A patch apply with a time budget: its batches in order (absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batches: Option<Vec<BatchItem>>,
    /// Bytes the tool says it would download; null when it does not say.
    pub download_bytes: Option<u64>,
    /// `true`: nothing was changed and no job was created.
    pub dry_run: bool,
    /// Every package the change would install, change or remove (dependencies included).
    pub plan: Vec<PlanItem>,
    /// Patch applies: the policy as asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<PolicyEcho<'a>>,
    /// Patch applies: the patches the policy took and left out, the packages it masked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selection: Option<SelectionEcho<'a>>,
    /// Packages the change would leave alone, with the reason.
    pub skipped: Vec<SkippedItem>,
    /// The tool's messages about problems that would not stop the change.
    pub warnings: Vec<String>,
}

/// One package of [`DryRun::plan`].
#[derive(Debug, Serialize)]
pub struct PlanItem {
    /// `install`, `upgrade`, `downgrade`, `remove` or `purge`.
    pub action: &'static str,
    /// The installed version; null for a new install.
    pub from_version: Option<String>,
    /// Package name.
    pub name: String,
    /// The version it would have; null for a removal.
    pub to_version: Option<String>,
}

/// One batch of [`DryRun::batches`].
#[derive(Debug, Serialize)]
pub struct BatchItem {
    /// Its expected time in seconds.
    pub expected_seconds: u64,
    /// The packages it is expected to change.
    pub packages: Vec<String>,
    /// Its patch ids, most severe first.
    pub patches: Vec<String>,
    /// Whether it would start within the budget, every batch before it taking its expected
    /// time; false for every batch after the first that would not.
    pub within_budget: bool,
}

/// One package of [`DryRun::skipped`].
#[derive(Debug, Serialize)]
pub struct SkippedItem {
    /// Package name.
    pub name: String,
    /// Why the change would leave it alone.
    pub reason: String,
}

impl<'a> DryRun<'a> {
    /// The answer for a backend's plan.
    pub fn new(plan: Plan) -> DryRun<'a> {
        DryRun {
            batches: None,
            download_bytes: plan.download_bytes,
            dry_run: true,
            plan: plan.entries.into_iter().map(PlanItem::from).collect(),
            policy: None,
            selection: None,
            skipped: plan.skipped.into_iter().map(SkippedItem::from).collect(),
            warnings: plan.warnings,
        }
    }

    /// The answer with a budgeted patch apply's batches.
    pub fn with_batches(mut self, batches: Option<Vec<BatchForecast>>) -> DryRun<'a> {
        self.batches = batches.map(|bs| {
            bs.into_iter()
                .map(|b| BatchItem {
                    expected_seconds: b.expected_seconds,
                    packages: b.packages,
                    patches: b.patches,
                    within_budget: b.within_budget,
                })
                .collect()
        });
        self
    }
}

impl From<PlanEntry> for PlanItem {
    fn from(e: PlanEntry) -> PlanItem {
        PlanItem {
            action: e.action.as_str(),
            from_version: e.from_version,
            name: e.name,
            to_version: e.to_version,
        }
    }
}

impl From<Skipped> for SkippedItem {
    fn from(s: Skipped) -> SkippedItem {
        SkippedItem {
            name: s.name,
            reason: s.reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::wire::envelope::assert_sorted_bytes;
    use crate::pkg::plan::PlanAction;

    #[test]
    fn a_plan_in_sorted_fields() {
        let plan = Plan {
            entries: vec![PlanEntry {
                name: "lpa-lib".into(),
                action: PlanAction::Downgrade,
                from_version: Some("1.1-1".into()),
                to_version: Some("1.0-1".into()),
            }],
            download_bytes: Some(1234),
            warnings: vec!["w".into()],
            skipped: vec![Skipped {
                name: "lpa-hello".into(),
                reason: "kept back".into(),
            }],
        };
        let v = assert_sorted_bytes(&DryRun::new(plan));
        assert_eq!(v["plan"][0]["action"], "downgrade");
        assert_eq!(v["plan"][0]["from_version"], "1.1-1");
        assert_eq!(v["download_bytes"], 1234);
        assert_eq!(v["skipped"][0]["reason"], "kept back");
        assert_eq!(v["dry_run"], true);
        let empty = assert_sorted_bytes(&DryRun::new(Plan::default()));
        assert!(empty["download_bytes"].is_null());
        assert!(empty.get("batches").is_none());
        let forecast = BatchForecast {
            patches: vec!["P-1".into()],
            packages: vec!["a".into()],
            expected_seconds: 70,
            within_budget: false,
        };
        let budgeted =
            assert_sorted_bytes(&DryRun::new(Plan::default()).with_batches(Some(vec![forecast])));
        assert_eq!(
            budgeted["batches"],
            serde_json::json!([{"expected_seconds": 70, "packages": ["a"], "patches": ["P-1"], "within_budget": false}])
        );
        assert_eq!(empty["plan"], serde_json::json!([]));
    }
}
