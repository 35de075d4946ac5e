//! `/api/v1/patches` bodies: the list (patches, counts, freshness, feeds) and the `202`
//! answer of a patch job.

use serde::Serialize;

use super::envelope::NewJob;
use super::policy::PolicyEcho;
use crate::jobs::Job;
use crate::pkg::advisories::board::FeedState;
use crate::pkg::advisories::{Advisory, AffectedPackage};
use crate::timefmt::rfc3339;

/// Where a patch stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchStatus {
    /// The tool would install it.
    Available,
    /// A queued or running job applies it.
    Pending,
    /// A finished job applied it (the tool no longer lists it).
    Applied,
}

impl PatchStatus {
    /// The word answers carry.
    pub fn as_str(self) -> &'static str {
        match self {
            PatchStatus::Available => "available",
            PatchStatus::Pending => "pending",
            PatchStatus::Applied => "applied",
        }
    }
}

/// One package a patch updates.
#[derive(Debug, Serialize)]
pub struct AffectedEntry<'a> {
    arch: Option<&'a str>,
    available_version: &'a str,
    current_version: &'a str,
    name: &'a str,
}

impl<'a> From<&'a AffectedPackage> for AffectedEntry<'a> {
    fn from(a: &'a AffectedPackage) -> AffectedEntry<'a> {
        AffectedEntry {
            arch: a.arch.as_deref(),
            available_version: &a.available_version,
            current_version: &a.current_version,
            name: &a.name,
        }
    }
}

/// One patch: the specification's fields, INTEROP's `current_version`/`available_version`
/// (of its first package; `packages` lists them all), and where the severity came from.
#[derive(Debug, Serialize)]
pub struct PatchEntry<'a> {
    advisory_ids: &'a [String],
    affected_packages: Vec<&'a str>,
    /// Only on applied patches (null when the job recorded no end).
    #[serde(skip_serializing_if = "Option::is_none")]
    applied_at: Option<Option<String>>,
    available_version: &'a str,
    current_version: &'a str,
    cve_ids: &'a [String],
    description: &'a str,
    id: &'a str,
    /// Only when a job applies or applied it.
    #[serde(skip_serializing_if = "Option::is_none")]
    job_id: Option<String>,
    name: &'a str,
    packages: Vec<AffectedEntry<'a>>,
    published_date: Option<String>,
    requires_reboot: bool,
    security: bool,
    severity: &'static str,
    severity_source: &'a str,
    status: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
}

impl<'a> PatchEntry<'a> {
    /// `p` standing at `status`, with the job applying or having applied it.
    pub fn new(p: &'a Advisory, status: PatchStatus, job: Option<&Job>) -> PatchEntry<'a> {
        let first = p.packages.first();
        PatchEntry {
            advisory_ids: &p.advisory_ids,
            affected_packages: p.packages.iter().map(|a| a.name.as_str()).collect(),
            applied_at: job
                .filter(|_| status == PatchStatus::Applied)
                .map(|j| j.completed_at.map(rfc3339)),
            available_version: first.map_or("", |a| a.available_version.as_str()),
            current_version: first.map_or("", |a| a.current_version.as_str()),
            cve_ids: &p.cve_ids,
            description: &p.description,
            id: &p.id,
            job_id: job.map(|j| j.id.to_string()),
            name: &p.name,
            packages: p.packages.iter().map(AffectedEntry::from).collect(),
            published_date: p.published.map(rfc3339),
            requires_reboot: p.requires_reboot,
            security: p.is_security(),
            severity: p.severity.as_str(),
            severity_source: &p.severity_source,
            status: status.as_str(),
            kind: p.kind.as_str(),
        }
    }
}

/// One advisory feed: records used and skipped by its last parse, why it is not used
/// (`error`), and its last download (`last_refresh`, `refresh_error`).
#[derive(Debug, Serialize)]
pub struct FeedEntry {
    error: Option<String>,
    last_refresh: Option<String>,
    name: String,
    records: usize,
    refresh_error: Option<String>,
    skipped: usize,
}

impl From<FeedState> for FeedEntry {
    fn from(f: FeedState) -> FeedEntry {
        FeedEntry {
            error: f.error,
            last_refresh: f.last_refresh.map(rfc3339),
            name: f.name,
            records: f.records,
            refresh_error: f.refresh_error,
            skipped: f.skipped,
        }
    }
}

/// The counts and facts of the whole (filtered) list, beside the page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatchTotals<'a> {
    /// Matches before paging.
    pub total: usize,
    /// The page size, `None` for every match.
    pub limit: Option<u32>,
    /// Matches skipped.
    pub offset: u64,
    /// Security patches among the matches.
    pub security_updates: usize,
    /// Whether any match asks for a reboot.
    pub requires_reboot: bool,
    /// Whether the host already waits for a reboot (null when it cannot tell).
    pub pending_reboot: Option<bool>,
    /// When the upgrades were computed.
    pub computed_at: String,
    /// When the metadata was last refreshed (by the tool's cache on disk).
    pub metadata_refreshed_at: Option<String>,
    /// Seconds since then; null without a cache.
    pub metadata_age_seconds: Option<i64>,
    /// Why the last refresh failed.
    pub metadata_refresh_error: Option<&'a str>,
}

/// `GET /api/v1/patches`.
#[derive(Debug, Serialize)]
pub struct PatchList<'a> {
    computed_at: String,
    feeds: Vec<FeedEntry>,
    /// Null when every match was returned.
    limit: Option<u32>,
    metadata_age_seconds: Option<i64>,
    metadata_refresh_error: Option<&'a str>,
    metadata_refreshed_at: Option<String>,
    offset: u64,
    patches: Vec<PatchEntry<'a>>,
    pending_reboot: Option<bool>,
    requires_reboot: bool,
    security_updates: usize,
    total: usize,
}

impl<'a> PatchList<'a> {
    /// The answer: one page of `patches`, the list's totals and every feed.
    pub fn new(
        patches: Vec<PatchEntry<'a>>,
        t: PatchTotals<'a>,
        feeds: Vec<FeedEntry>,
    ) -> PatchList<'a> {
        PatchList {
            computed_at: t.computed_at,
            feeds,
            limit: t.limit,
            metadata_age_seconds: t.metadata_age_seconds,
            metadata_refresh_error: t.metadata_refresh_error,
            metadata_refreshed_at: t.metadata_refreshed_at,
            offset: t.offset,
            patches,
            pending_reboot: t.pending_reboot,
            requires_reboot: t.requires_reboot,
            security_updates: t.security_updates,
            total: t.total,
        }
    }
}

/// What a patch job was asked, as its `202` answer repeats it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatchJobAsked<'a> {
    /// Ids of the selected patches.
    pub patches: Vec<String>,
    /// Whether any of them asks for a reboot.
    pub requires_reboot: bool,
    /// Reboot after applying.
    pub auto_reboot: bool,
    /// Delay of that reboot.
    pub reboot_delay_seconds: u64,
    /// Packages left out: plain names as given and the packages masks matched.
    pub exclude_packages: &'a [String],
    /// The policy as asked.
    pub policy: PolicyEcho<'a>,
    /// The time budget in minutes, when one was given.
    pub max_duration_minutes: Option<u32>,
}

/// `POST /api/v1/patches/apply` answered `202`.
#[derive(Debug, Serialize)]
pub struct PatchApplyAccepted<'a> {
    auto_reboot: bool,
    created_at: String,
    exclude_packages: &'a [String],
    job_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_duration_minutes: Option<u32>,
    operation: &'static str,
    patches: Vec<String>,
    patches_count: usize,
    policy: PolicyEcho<'a>,
    reboot_delay_seconds: u64,
    requires_reboot: bool,
    status: &'static str,
}

impl<'a> PatchApplyAccepted<'a> {
    /// The answer for `job`, applying what `asked` selected.
    pub fn new(job: NewJob, asked: PatchJobAsked<'a>) -> PatchApplyAccepted<'a> {
        PatchApplyAccepted {
            auto_reboot: asked.auto_reboot,
            created_at: job.created_at,
            exclude_packages: asked.exclude_packages,
            job_id: job.job_id,
            max_duration_minutes: asked.max_duration_minutes,
            operation: job.operation,
            patches_count: asked.patches.len(),
            patches: asked.patches,
            policy: asked.policy,
            reboot_delay_seconds: asked.reboot_delay_seconds,
            requires_reboot: asked.requires_reboot,
            status: job.status,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::envelope::assert_sorted_bytes;
    use super::*;
    use crate::pkg::advisories::{AdvisoryKind, Severity};

    fn advisory() -> Advisory {
        Advisory {
            id: "DSA-1".into(),
            name: "openssl".into(),
            kind: AdvisoryKind::Security,
            severity: Severity::High,
            severity_source: "debian-tracker".into(),
            published: Some(time::macros::datetime!(2026-01-02 03:04:05 UTC)),
            description: "fix".into(),
            cve_ids: vec!["CVE-2026-1".into()],
            advisory_ids: vec![],
            packages: vec![AffectedPackage {
                name: "libssl3".into(),
                current_version: "3.0.1".into(),
                available_version: "3.0.2".into(),
                arch: None,
            }],
            requires_reboot: false,
        }
    }

    #[test]
    fn an_available_patch_has_no_job_fields() {
        let a = advisory();
        let v = assert_sorted_bytes(&PatchEntry::new(&a, PatchStatus::Available, None));
        assert_eq!(v["type"], "security");
        assert_eq!(v["severity"], "high");
        assert_eq!(v["status"], "available");
        assert_eq!(v["current_version"], "3.0.1");
        assert_eq!(v["affected_packages"], serde_json::json!(["libssl3"]));
        assert_eq!(v["packages"][0]["available_version"], "3.0.2");
        assert_eq!(v["published_date"], "2026-01-02T03:04:05Z");
        assert!(v.get("job_id").is_none());
        assert!(v.get("applied_at").is_none());
        assert_eq!(v.as_object().unwrap().len(), 16);
    }

    #[test]
    fn feeds_list_and_accepted_answer_are_in_wire_order() {
        let a = advisory();
        let feed = FeedEntry::from(FeedState {
            name: "debian".into(),
            records: 3,
            skipped: 1,
            error: None,
            last_refresh: None,
            refresh_error: Some("HTTP 503".into()),
        });
        let totals = PatchTotals {
            total: 1,
            limit: Some(100),
            offset: 0,
            security_updates: 1,
            requires_reboot: false,
            pending_reboot: None,
            computed_at: "2026-01-02T03:04:05Z".into(),
            metadata_refreshed_at: None,
            metadata_age_seconds: None,
            metadata_refresh_error: None,
        };
        let list = PatchList::new(
            vec![PatchEntry::new(&a, PatchStatus::Available, None)],
            totals,
            vec![feed],
        );
        let v = assert_sorted_bytes(&list);
        assert_eq!(v["feeds"][0]["refresh_error"], "HTTP 503");
        assert_eq!(v["security_updates"], 1);
        assert!(v["pending_reboot"].is_null());
        let exclude = vec!["x".to_string()];
        let policy = crate::pkg::policy::PatchPolicy {
            exclude_packages: exclude.clone(),
            ..Default::default()
        };
        let asked = PatchJobAsked {
            patches: vec!["DSA-1".into()],
            requires_reboot: true,
            auto_reboot: false,
            reboot_delay_seconds: 60,
            exclude_packages: &exclude,
            policy: PolicyEcho::new(&policy, crate::pkg::policy::RebootSetting::Never, 60),
            max_duration_minutes: Some(90),
        };
        let job = NewJob {
            created_at: "t".into(),
            job_id: "j".into(),
            operation: "patch_apply",
            status: "pending",
        };
        let v = assert_sorted_bytes(&PatchApplyAccepted::new(job, asked));
        assert_eq!(v["patches_count"], 1);
        assert_eq!(v["exclude_packages"][0], "x");
        assert_eq!(v["policy"]["exclude_packages"][0], "x");
        assert_eq!(v["policy"]["reboot"], "never");
        assert_eq!(v["max_duration_minutes"], 90);
    }
}
