//! `/api/v1/patches`: the patches this host is missing (from the family's advisory data),
//! those being applied and those applied through this agent, and applying them as a job.

use std::collections::{HashMap, HashSet};

use super::body::{self, PatchSelection};
use super::common::pkg_error;
use super::envelope::{ApiError, Reply};
use super::router::{PatchQuery, PatchSeverity, PatchSort, PatchStatus, SortOrder};
use super::shape::{take_count, ClientShape};
use super::wire::envelope::NewJob;
use super::wire::patches::{
    FeedEntry, PatchApplyAccepted, PatchEntry, PatchJobAsked, PatchList, PatchStatus as Status,
    PatchTotals,
};
use super::wire::policy::{PolicyEcho, SelectionEcho};
use crate::jobs::{Engine, Job, JobRequest, JobStatus, Operation};
use crate::pkg::advisories::{Advisory, Severity};
use crate::pkg::inventory::Inventory;
use crate::pkg::policy::{PatchPolicy, Selection};
use crate::timefmt::rfc3339;

/// `GET /api/v1/patches`; `inventory` and `engine` are `None` when no package manager was
/// found; `shape` decides the list's default page.
pub fn list_patches(
    inventory: Option<&Inventory>,
    engine: Option<&Engine>,
    query: &PatchQuery,
    shape: ClientShape,
) -> Result<Reply, ApiError> {
    list(super::packages::need(inventory)?, engine, query, shape)
}

/// `POST /api/v1/patches/apply`: a patch job.
pub fn apply_patches(
    inventory: Option<&Inventory>,
    engine: Option<&Engine>,
    body: &[u8],
    dry_run: bool,
) -> Result<Reply, ApiError> {
    apply(super::packages::need(inventory)?, engine, body, dry_run)
}

/// One row of the list.
struct Row<'a> {
    patch: &'a Advisory,
    status: Status,
    /// The job applying or having applied it.
    job: Option<&'a Job>,
}

/// `GET /api/v1/patches`; `limit` is null in the answer when every match was returned.
fn list(
    inventory: &Inventory,
    engine: Option<&Engine>,
    query: &PatchQuery,
    shape: ClientShape,
) -> Result<Reply, ApiError> {
    let snapshot = inventory.advisories().map_err(pkg_error)?;
    // Only patch jobs count: copying every job's log on each list would be wasted.
    let jobs = engine
        .map(|e| e.list_of(Operation::PatchApply))
        .unwrap_or_default();
    let mut rows: Vec<Row> = rows(&snapshot.advisories, &jobs)
        .into_iter()
        .filter(|r| wanted_status(query.status, r.status))
        .filter(|r| wanted_severity(query.severity, r.patch.severity))
        .filter(|r| query.policy.admits(r.patch))
        .collect();
    sort(&mut rows, query.sort, query.order);
    let security = rows.iter().filter(|r| r.patch.is_security()).count();
    let needs_reboot = rows.iter().any(|r| r.patch.requires_reboot);
    let total = rows.len();
    let size = shape.page_size(&query.page);
    let page: Vec<PatchEntry> = rows
        .iter()
        .skip(usize::try_from(query.page.offset).unwrap_or(usize::MAX))
        .take(take_count(size))
        .map(|r| PatchEntry::new(r.patch, r.status, r.job))
        .collect();
    let upgrades = &snapshot.upgrades;
    let totals = PatchTotals {
        total,
        limit: size,
        offset: query.page.offset,
        security_updates: security,
        requires_reboot: needs_reboot,
        pending_reboot: inventory.reboot_required().ok().map(|r| r.required),
        computed_at: rfc3339(upgrades.computed_at),
        metadata_refreshed_at: upgrades.metadata_refreshed_at.map(rfc3339),
        metadata_age_seconds: upgrades
            .metadata_refreshed_at
            .map(|t| (time::OffsetDateTime::now_utc() - t).whole_seconds().max(0)),
        metadata_refresh_error: upgrades.refresh_error.as_deref(),
    };
    // Every advisory feed, as its last parse and download left it.
    let feeds = inventory.feed().board.snapshot();
    let feeds = feeds.into_iter().map(FeedEntry::from).collect();
    Ok(Reply::ok(PatchList::new(page, totals, feeds)))
}

/// The current patches (available, or pending when a queued or running job applies them)
/// and the ones applied by finished jobs that the tool no longer lists.
fn rows<'a>(current: &'a [Advisory], jobs: &'a [Job]) -> Vec<Row<'a>> {
    let mut active: HashMap<&str, &Job> = HashMap::new();
    let mut applied: Vec<(&Advisory, &Job)> = Vec::new();
    for job in jobs.iter().filter(|j| j.operation == Operation::PatchApply) {
        let JobRequest::PatchApply { patches, .. } = &job.request else {
            continue;
        };
        for p in patches {
            if !job.status.is_terminal() {
                active.entry(p.id.as_str()).or_insert(job);
            } else if job.status == JobStatus::Completed {
                applied.push((p, job));
            }
        }
    }
    let listed: HashSet<&str> = current.iter().map(|a| a.id.as_str()).collect();
    let mut rows: Vec<Row> = current
        .iter()
        .map(|a| match active.get(a.id.as_str()) {
            Some(job) => Row {
                patch: a,
                status: Status::Pending,
                job: Some(job),
            },
            None => Row {
                patch: a,
                status: Status::Available,
                job: None,
            },
        })
        .collect();
    // Jobs come newest first: the newest application of an id is the one shown.
    let mut seen: HashSet<&str> = HashSet::new();
    for (p, job) in applied {
        if !listed.contains(p.id.as_str()) && seen.insert(p.id.as_str()) {
            rows.push(Row {
                patch: p,
                status: Status::Applied,
                job: Some(job),
            });
        }
    }
    rows
}

/// The default is what can still be applied: a client that applies "everything listed"
/// must not name patches that are already applied.
fn wanted_status(filter: Option<PatchStatus>, status: Status) -> bool {
    match filter.unwrap_or(PatchStatus::Available) {
        PatchStatus::All => true,
        PatchStatus::Available => status == Status::Available,
        PatchStatus::Pending => status == Status::Pending,
        PatchStatus::Applied => status == Status::Applied,
    }
}

fn wanted_severity(filter: Option<PatchSeverity>, severity: Severity) -> bool {
    match filter.unwrap_or(PatchSeverity::All) {
        PatchSeverity::All => true,
        PatchSeverity::Critical => severity == Severity::Critical,
        PatchSeverity::High => severity == Severity::High,
        PatchSeverity::Medium => severity == Severity::Medium,
        PatchSeverity::Low => severity == Severity::Low,
        PatchSeverity::Unknown => severity == Severity::Unknown,
    }
}

/// Sorts by the field asked (default severity), in its natural order unless `order` says:
/// most severe first, newest first, A to Z. Ties fall back to the id.
fn sort(rows: &mut [Row], by: Option<PatchSort>, order: Option<SortOrder>) {
    let by = by.unwrap_or(PatchSort::Severity);
    let natural = match by {
        PatchSort::Severity | PatchSort::PublishedDate => SortOrder::Desc,
        PatchSort::Name => SortOrder::Asc,
    };
    let descending = order.unwrap_or(natural) == SortOrder::Desc;
    rows.sort_by(|a, b| {
        let key = match by {
            PatchSort::Severity => a.patch.severity.cmp(&b.patch.severity),
            PatchSort::PublishedDate => a.patch.published.cmp(&b.patch.published),
            PatchSort::Name => a.patch.name.cmp(&b.patch.name),
        };
        let key = if descending { key.reverse() } else { key };
        key.then_with(|| a.patch.id.cmp(&b.patch.id))
    });
}

/// `POST /api/v1/patches/apply`: the named patches (or all), then what the policy takes
/// of them; the packages its masks leave out are handed to the tool as exclusions.
fn apply(
    inventory: &Inventory,
    engine: Option<&Engine>,
    body: &[u8],
    dry_run: bool,
) -> Result<Reply, ApiError> {
    let request = body::patch_apply(body)?;
    let engine = super::jobs::need(engine)?;
    let backend = inventory.backend();
    for name in request.policy.exact_excludes() {
        backend
            .validate_name(name)
            .map_err(|e| ApiError::InvalidRequest(format!("options.exclude_packages: {e}")))?;
    }
    let snapshot = inventory.advisories().map_err(pkg_error)?;
    let named = select(&snapshot.advisories, &request.selection)?;
    let selection = request.policy.select(&named);
    let exclude = exclusions(&request.policy, &selection);
    let job_request = JobRequest::PatchApply {
        patches: selection.selected.clone(),
        exclude: exclude.clone(),
        reboot: request.reboot,
        reboot_delay_seconds: request.reboot_delay_seconds,
        policy: request.policy.clone(),
        max_duration_minutes: request.max_duration_minutes,
    };
    let policy = PolicyEcho::new(
        &request.policy,
        request.reboot,
        request.reboot_delay_seconds,
    );
    if dry_run {
        let shown = SelectionEcho::new(&selection);
        return super::dry_run::answer_patches(Some(engine), &job_request, policy, shown);
    }
    let job = engine
        .submit(job_request)
        .map_err(super::jobs::engine_error)?;
    let asked = PatchJobAsked {
        patches: selection.selected.iter().map(|p| p.id.clone()).collect(),
        requires_reboot: selection.selected.iter().any(|p| p.requires_reboot),
        auto_reboot: request.reboot.may_reboot(),
        reboot_delay_seconds: request.reboot_delay_seconds,
        exclude_packages: &exclude,
        policy,
        max_duration_minutes: request.max_duration_minutes,
    };
    Ok(Reply::accepted(PatchApplyAccepted::new(
        NewJob::of(&job),
        asked,
    )))
}

/// What the tool is told to leave out: the plain names of `exclude_packages` as given (as
/// before masks existed), and every package of the selected patches a mask leaves out.
fn exclusions(policy: &PatchPolicy, selection: &Selection) -> Vec<String> {
    let mut names: Vec<String> = policy.exact_excludes().map(str::to_string).collect();
    for n in &selection.excluded_packages {
        if !names.contains(n) {
            names.push(n.clone());
        }
    }
    names
}

/// The patches a selection names; every id or name must match one.
fn select(current: &[Advisory], selection: &PatchSelection) -> Result<Vec<Advisory>, ApiError> {
    let (wanted, by_name) = match selection {
        PatchSelection::All => return Ok(current.to_vec()),
        PatchSelection::Ids(ids) => (ids, false),
        PatchSelection::Names(names) => (names, true),
    };
    let mut chosen: Vec<&Advisory> = Vec::new();
    let mut missing: Vec<&str> = Vec::new();
    for w in wanted {
        let hits: Vec<&Advisory> = current
            .iter()
            .filter(|a| a.id == *w || (by_name && names_it(a, w)))
            .collect();
        if hits.is_empty() {
            missing.push(w);
        }
        for a in hits {
            if !chosen.iter().any(|c| c.id == a.id) {
                chosen.push(a);
            }
        }
    }
    if !missing.is_empty() {
        return Err(ApiError::PatchNotFound(missing.join(", ")));
    }
    Ok(chosen.into_iter().cloned().collect())
}

/// The manager sends what it listed as `name`; older clients send package names.
fn names_it(a: &Advisory, name: &str) -> bool {
    a.name == name || a.packages.iter().any(|p| p.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pkg::advisories::AdvisoryKind;
    use serde_json::json;

    fn adv(id: &str, sev: Severity, pkgs: &[&str]) -> Advisory {
        let mut a = Advisory::sample(id, AdvisoryKind::Security, sev, pkgs);
        a.name = format!("{id} title");
        a.severity_source = "updateinfo".into();
        for p in &mut a.packages {
            p.current_version = "1.0-1".into();
            p.available_version = "1.1-1".into();
        }
        a
    }

    #[test]
    fn selection_by_id_name_or_package() {
        let current = vec![
            adv("A-1", Severity::High, &["lib", "tool"]),
            adv("A-2", Severity::Low, &["hello"]),
        ];
        let ids = |s: &PatchSelection| -> Vec<String> {
            select(&current, s)
                .unwrap()
                .into_iter()
                .map(|a| a.id)
                .collect()
        };
        assert_eq!(ids(&PatchSelection::All), ["A-1", "A-2"]);
        assert_eq!(ids(&PatchSelection::Ids(vec!["A-2".into()])), ["A-2"]);
        assert_eq!(
            ids(&PatchSelection::Names(vec![
                "tool".into(),
                "A-1 title".into(),
                "hello".into()
            ])),
            ["A-1", "A-2"]
        );
        assert!(ids(&PatchSelection::Names(vec![])).is_empty());
        let e = select(
            &current,
            &PatchSelection::Ids(vec!["tool".into(), "X".into()]),
        )
        .unwrap_err();
        assert_eq!(e.code(), "PATCH_NOT_FOUND");
        assert_eq!(e.status(), 404);
        assert!(e.message().contains("tool, X"), "{}", e.message());
    }

    #[test]
    fn the_list_and_apply_take_the_same_patches_under_any_policy() {
        use crate::pkg::advisories::AdvisoryKind;
        let mut current = vec![
            adv(
                "A-1",
                Severity::Critical,
                &["linux-image-6.1", "linux-base"],
            ),
            adv("A-2", Severity::Low, &["lpa-lib", "lpa-tool"]),
            adv("A-3", Severity::Unknown, &["lpa-hello"]),
            adv("A-4", Severity::High, &["postgresql-15"]),
        ];
        current[2].kind = AdvisoryKind::Bugfix;
        current[3].kind = AdvisoryKind::Other;
        let policies = [
            "classification=security",
            "classification=bugfix,other&min_severity=low",
            "min_severity=medium",
            "exclude=linux-*,lpa-[lt]*",
            "include=lpa-*&exclude=lpa-tool",
            "classification=security&min_severity=critical&include=linux-image-*",
        ];
        for q in policies {
            let pairs: Vec<(String, String)> = q
                .split('&')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let get = |k: &str| {
                pairs
                    .iter()
                    .find(|(key, _)| key == k)
                    .map(|(_, v)| v.as_str())
            };
            let policy = crate::api::patch_policy::from_query(
                get("classification"),
                get("min_severity"),
                get("include"),
                get("exclude"),
            )
            .unwrap();
            let listed: Vec<String> = rows(&current, &[])
                .into_iter()
                .filter(|r| policy.admits(r.patch))
                .map(|r| r.patch.id.clone())
                .collect();
            let applied: Vec<String> = policy
                .select(&select(&current, &PatchSelection::All).unwrap())
                .selected
                .into_iter()
                .map(|a| a.id)
                .collect();
            assert_eq!(listed, applied, "{q}");
        }
    }

    #[test]
    fn sorting_follows_the_natural_order_unless_told() {
        let current = vec![
            adv("B", Severity::Low, &["b"]),
            adv("A", Severity::Critical, &["a"]),
            adv("C", Severity::Unknown, &["c"]),
        ];
        let order = |by, ord| {
            let mut rows = rows(&current, &[]);
            sort(&mut rows, by, ord);
            rows.iter().map(|r| r.patch.id.clone()).collect::<Vec<_>>()
        };
        assert_eq!(order(None, None), ["A", "B", "C"]);
        assert_eq!(order(None, Some(SortOrder::Asc)), ["C", "B", "A"]);
        assert_eq!(order(Some(PatchSort::Name), None), ["A", "B", "C"]);
        assert_eq!(
            order(Some(PatchSort::Name), Some(SortOrder::Desc)),
            ["C", "B", "A"]
        );
    }

    #[test]
    fn filters() {
        assert!(wanted_status(None, Status::Available));
        assert!(!wanted_status(None, Status::Applied));
        assert!(wanted_status(Some(PatchStatus::All), Status::Applied));
        assert!(wanted_status(Some(PatchStatus::Pending), Status::Pending));
        assert!(!wanted_status(
            Some(PatchStatus::Pending),
            Status::Available
        ));
        assert!(wanted_severity(None, Severity::Unknown));
        assert!(wanted_severity(Some(PatchSeverity::High), Severity::High));
        assert!(!wanted_severity(
            Some(PatchSeverity::High),
            Severity::Critical
        ));
        assert!(wanted_severity(
            Some(PatchSeverity::Unknown),
            Severity::Unknown
        ));
    }

    #[test]
    fn rendering_carries_both_shapes() {
        let mut a = adv("LPA-1", Severity::Critical, &["lpa-lib"]);
        a.cve_ids = vec!["CVE-2026-0002".into()];
        a.add_advisory_ids(["XSA-252", "RHBA-2026:1"]);
        a.requires_reboot = true;
        let v = serde_json::to_value(PatchEntry::new(&a, Status::Available, None)).unwrap();
        assert_eq!(v["id"], "LPA-1");
        assert_eq!(v["severity"], "critical");
        assert_eq!(v["status"], "available");
        assert_eq!(v["affected_packages"], json!(["lpa-lib"]));
        assert_eq!(v["current_version"], "1.0-1");
        assert_eq!(v["available_version"], "1.1-1");
        assert_eq!(v["requires_reboot"], true);
        assert_eq!(v["description"], "");
        assert!(v["published_date"].is_null());
        assert_eq!(v["severity_source"], "updateinfo");
        assert_eq!(v["cve_ids"], json!(["CVE-2026-0002"]));
        assert_eq!(v["advisory_ids"], json!(["RHBA-2026:1", "XSA-252"]));
    }
}
