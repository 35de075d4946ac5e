//! The wire format of jobs: the bodies of `/api/v1/jobs` and of new-job answers, and the
//! frames of the job event stream (`WS /api/v1/ws/jobs`), built from the engine's domain
//! values in either client shape.
//!
//! Every struct lists its fields in byte order of their names. The answers were built as
//! `serde_json::Value` objects, which (without serde_json's `preserve_order`) write their
//! keys sorted; a derived struct writes its fields in declaration order, so this order keeps
//! the bytes on the wire what they were, whether a body is written directly or through a
//! `Value`. A unit test holds every struct to it.

use std::borrow::Cow;

use serde::Serialize;

use super::policy::PolicyEcho;
use super::restart::RestartEntry;
use crate::api::shape::{ClientShape, TIMEOUT_CODE};
use crate::jobs::events::JobEvent;
use crate::jobs::{
    CancelOutcome, Change, Job, JobRequest, JobResult, JobStatus, JobSummary, LogLine,
    NotRestorable,
};
use crate::timefmt::rfc3339;

/// How a job's status and error code read in a shape: the manager's shape spells a timed-out
/// job `failed` with `JOB_TIMEOUT` (see `api/shape.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Shaped {
    status: &'static str,
    /// The error code the shape imposes, over the job's own.
    error_code: Option<&'static str>,
}

impl Shaped {
    fn of(status: JobStatus, shape: ClientShape) -> Shaped {
        let timed_out = shape.is_patch_manager() && status == JobStatus::Timeout;
        Shaped {
            status: shape.job_status(status.as_str()),
            error_code: timed_out.then_some(TIMEOUT_CODE),
        }
    }
}

/// A job as `GET /api/v1/jobs/{id}` shows it, and as a job event's `payload` (without
/// `logs`): the specification's fields, INTEROP's (`output`, `error` as a string,
/// `started_at`), `error_code`, and the fields of its operation (absent for the others).
#[derive(Clone, Debug, Serialize)]
pub struct JobDetail<'a> {
    /// Patch jobs: whether a reboot follows when needed.
    #[serde(skip_serializing_if = "Option::is_none")]
    auto_reboot: Option<bool>,
    /// Every package whose installed version the job changed.
    changes: Vec<ChangeEntry<'a>>,
    /// When it reached a final status.
    completed_at: Option<String>,
    /// When it was submitted.
    created_at: String,
    /// Why it did not complete, for people.
    error: Option<&'a str>,
    /// Why it did not complete, as an error code.
    error_code: Option<&'a str>,
    /// Patch jobs: packages left out.
    #[serde(skip_serializing_if = "Option::is_none")]
    exclude_packages: Option<&'a [String]>,
    /// Reboot jobs: whether pending jobs were overridden.
    #[serde(skip_serializing_if = "Option::is_none")]
    force: Option<bool>,
    /// Its identifier.
    job_id: String,
    /// The detail only: its log lines.
    #[serde(skip_serializing_if = "Option::is_none")]
    logs: Option<Vec<LogEntry<'a>>>,
    /// Patch jobs with a time budget: the budget in minutes.
    #[serde(skip_serializing_if = "Option::is_none")]
    max_duration_minutes: Option<u32>,
    /// What it does.
    operation: &'static str,
    /// Rollback jobs: the job undone.
    #[serde(skip_serializing_if = "Option::is_none")]
    original_job_id: Option<String>,
    /// The detail, and the last event: the end of its log as one text.
    #[serde(skip_serializing_if = "Option::is_none")]
    output: Option<Cow<'a, str>>,
    /// Update and remove jobs: the package.
    #[serde(skip_serializing_if = "Option::is_none")]
    package: Option<&'a str>,
    /// The package names it concerns.
    packages: &'a [String],
    /// Patch jobs: the advisory ids.
    #[serde(skip_serializing_if = "Option::is_none")]
    patches: Option<Vec<&'a str>>,
    /// Patch jobs: how many advisories.
    #[serde(skip_serializing_if = "Option::is_none")]
    patches_count: Option<usize>,
    /// Patch jobs: the policy as asked (the reboot setting included).
    #[serde(skip_serializing_if = "Option::is_none")]
    policy: Option<PolicyEcho<'a>>,
    /// 0-100.
    progress_percent: u8,
    /// Remove jobs: whether configuration files go too.
    #[serde(skip_serializing_if = "Option::is_none")]
    purge: Option<bool>,
    /// Reboot jobs: why, as given (null when not given).
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<Option<&'a str>>,
    /// Patch jobs: the delay of the reboot that follows.
    #[serde(skip_serializing_if = "Option::is_none")]
    reboot_delay_seconds: Option<u64>,
    /// Patch jobs: the reboot job scheduled (null until one is).
    #[serde(skip_serializing_if = "Option::is_none")]
    reboot_job_id: Option<Option<String>>,
    /// Install jobs: the packages asked for, with their versions (null: the newest).
    #[serde(skip_serializing_if = "Option::is_none")]
    requested: Option<Vec<RequestedEntry<'a>>>,
    /// Patch jobs: whether an advisory asks for a reboot.
    #[serde(skip_serializing_if = "Option::is_none")]
    requires_reboot: Option<bool>,
    /// Its outcome, once over.
    result: Option<ResultEntry<'a>>,
    /// Reboot jobs: when the command runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    scheduled_at: Option<String>,
    /// When a worker started it.
    started_at: Option<String>,
    /// Where it is, as the shape spells it.
    status: &'static str,
    /// Update jobs: the version asked for (null: the newest).
    #[serde(skip_serializing_if = "Option::is_none")]
    target_version: Option<Option<&'a str>>,
    /// When anything about it last changed.
    updated_at: String,
}

impl<'a> JobDetail<'a> {
    /// `GET /api/v1/jobs/{id}`: the job with its log and output, in `shape`.
    pub fn of(job: &'a Job, shape: ClientShape) -> JobDetail<'a> {
        let mut detail = JobDetail::base(job, shape);
        detail.logs = Some(job.logs.iter().map(LogEntry::of).collect());
        detail.output = Some(Cow::Owned(job.output()));
        detail
    }

    /// A job event's payload: always in the specification's shape (the frame's top level
    /// carries the client's), with the output when the event has it.
    pub fn payload(event: &'a JobEvent) -> JobDetail<'a> {
        let mut detail = JobDetail::base(&event.job, ClientShape::Specification);
        detail.output = event.output.as_deref().map(Cow::Borrowed);
        detail
    }

    /// Everything but `logs` and `output`.
    fn base(job: &'a Job, shape: ClientShape) -> JobDetail<'a> {
        let shaped = Shaped::of(job.status, shape);
        let error = job.error.as_ref();
        let detail = JobDetail {
            auto_reboot: None,
            changes: job.changes.iter().map(ChangeEntry::of).collect(),
            completed_at: job.completed_at.map(rfc3339),
            created_at: rfc3339(job.created_at),
            error: error.map(|e| e.message.as_str()),
            error_code: shaped.error_code.or_else(|| error.map(|e| e.code.as_str())),
            exclude_packages: None,
            force: None,
            job_id: job.id.to_string(),
            logs: None,
            max_duration_minutes: None,
            operation: job.operation.as_str(),
            original_job_id: None,
            output: None,
            package: None,
            packages: &job.packages,
            patches: None,
            patches_count: None,
            policy: None,
            progress_percent: job.progress_percent,
            purge: None,
            reason: None,
            reboot_delay_seconds: None,
            reboot_job_id: None,
            requested: None,
            requires_reboot: None,
            result: job
                .result
                .as_ref()
                .map(|r| ResultEntry::of(r, job.operation)),
            scheduled_at: None,
            started_at: job.started_at.map(rfc3339),
            status: shaped.status,
            target_version: None,
            updated_at: rfc3339(job.updated_at),
        };
        detail.with_operation(job)
    }

    /// Fills the fields of the job's operation.
    fn with_operation(mut self, job: &'a Job) -> JobDetail<'a> {
        match &job.request {
            JobRequest::Install { packages, .. } => {
                self.requested = Some(packages.iter().map(RequestedEntry::of).collect());
            }
            JobRequest::Update { package, .. } => {
                self.package = Some(&package.name);
                self.target_version = Some(package.version.as_deref());
            }
            JobRequest::Remove { name, options } => {
                self.package = Some(name);
                self.purge = Some(options.purge);
            }
            JobRequest::PatchApply {
                patches,
                exclude,
                reboot,
                reboot_delay_seconds,
                policy,
                max_duration_minutes,
            } => {
                self.max_duration_minutes = *max_duration_minutes;
                self.patches = Some(patches.iter().map(|p| p.id.as_str()).collect());
                self.patches_count = Some(patches.len());
                self.exclude_packages = Some(exclude);
                self.requires_reboot = Some(patches.iter().any(|p| p.requires_reboot));
                self.auto_reboot = Some(reboot.may_reboot());
                self.policy = Some(PolicyEcho::new(policy, *reboot, *reboot_delay_seconds));
                self.reboot_delay_seconds = Some(*reboot_delay_seconds);
                self.reboot_job_id = Some(job.follow_up.map(|u| u.to_string()));
            }
            JobRequest::Reboot {
                scheduled_at,
                force,
                reason,
            } => {
                self.scheduled_at = Some(rfc3339(*scheduled_at));
                self.force = Some(*force);
                self.reason = Some(reason.as_deref());
            }
            JobRequest::Rollback { original } => {
                let id = job.original_job_id.unwrap_or(*original);
                self.original_job_id = Some(id.to_string());
            }
        }
        self
    }
}

/// One entry of a job's `changes`.
#[derive(Clone, Debug, Serialize)]
struct ChangeEntry<'a> {
    after: Option<&'a str>,
    before: Option<&'a str>,
    name: &'a str,
}

impl<'a> ChangeEntry<'a> {
    fn of(c: &'a Change) -> ChangeEntry<'a> {
        ChangeEntry {
            after: c.after.as_deref(),
            before: c.before.as_deref(),
            name: &c.name,
        }
    }
}

/// One entry of a job's `logs`.
#[derive(Clone, Debug, Serialize)]
struct LogEntry<'a> {
    level: &'a str,
    message: &'a str,
    timestamp: String,
}

impl<'a> LogEntry<'a> {
    fn of(l: &'a LogLine) -> LogEntry<'a> {
        LogEntry {
            level: &l.level,
            message: &l.message,
            timestamp: rfc3339(l.timestamp),
        }
    }
}

/// One entry of an install job's `requested`.
#[derive(Clone, Debug, Serialize)]
struct RequestedEntry<'a> {
    name: &'a str,
    version: Option<&'a str>,
}

impl<'a> RequestedEntry<'a> {
    fn of(p: &'a crate::pkg::PackageSpec) -> RequestedEntry<'a> {
        RequestedEntry {
            name: &p.name,
            version: p.version.as_deref(),
        }
    }
}

/// A job's `result`.
#[derive(Clone, Debug, Serialize)]
struct ResultEntry<'a> {
    /// Budgeted patch jobs: the patch ids applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    applied: Option<&'a [String]>,
    /// Patch jobs only: packages of the selected patches the policy's masks left out.
    #[serde(skip_serializing_if = "Option::is_none")]
    excluded_packages: Option<&'a [String]>,
    /// Budgeted patch jobs: the patch ids of the batch that failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    failed: Option<&'a [String]>,
    /// Budgeted patch jobs: the patches not started, with the reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    not_attempted: Option<Vec<NotAttemptedEntry<'a>>>,
    /// Rollback jobs only.
    #[serde(skip_serializing_if = "Option::is_none")]
    not_restorable: Option<Vec<NotRestorableEntry<'a>>>,
    packages_failed: &'a [String],
    packages_installed: &'a [String],
    packages_removed: &'a [String],
    packages_updated: &'a [String],
    /// Budgeted patch jobs: whether the budget alone left patches out.
    #[serde(skip_serializing_if = "Option::is_none")]
    partial: Option<bool>,
    /// Budgeted patch jobs: why the reboot was not started (null: it was not held back).
    #[serde(skip_serializing_if = "Option::is_none")]
    reboot_skipped: Option<Option<&'static str>>,
    /// Patch jobs only.
    #[serde(skip_serializing_if = "Option::is_none")]
    restart_needed: Option<RestartEntry<'a>>,
    /// Patch jobs only: the packages left out because they are held.
    #[serde(skip_serializing_if = "Option::is_none")]
    skipped_held: Option<&'a [String]>,
    success: bool,
}

impl<'a> ResultEntry<'a> {
    fn of(r: &'a JobResult, operation: crate::jobs::Operation) -> ResultEntry<'a> {
        let rollback = operation == crate::jobs::Operation::Rollback;
        let patch = operation == crate::jobs::Operation::PatchApply;
        let budget = r.budget.as_ref();
        ResultEntry {
            applied: budget.map(|b| b.applied.as_slice()),
            failed: budget.map(|b| b.failed.as_slice()),
            not_attempted: budget.map(|b| {
                b.not_attempted
                    .iter()
                    .map(|n| NotAttemptedEntry {
                        id: &n.id,
                        reason: n.reason.as_str(),
                    })
                    .collect()
            }),
            not_restorable: rollback.then(|| {
                r.not_restorable
                    .iter()
                    .map(NotRestorableEntry::of)
                    .collect()
            }),
            excluded_packages: patch.then_some(r.excluded_packages.as_slice()),
            packages_failed: &r.packages_failed,
            packages_installed: &r.packages_installed,
            packages_removed: &r.packages_removed,
            packages_updated: &r.packages_updated,
            partial: budget.map(|b| b.partial),
            reboot_skipped: budget.map(|b| b.reboot_skipped.map(|r| r.as_str())),
            restart_needed: r.restart_needed.as_ref().map(RestartEntry::of),
            skipped_held: patch.then_some(r.skipped_held.as_slice()),
            success: r.success,
        }
    }
}

/// One entry of a budgeted patch job's `result.not_attempted`.
#[derive(Clone, Debug, Serialize)]
struct NotAttemptedEntry<'a> {
    id: &'a str,
    reason: &'static str,
}

/// One entry of a rollback's `result.not_restorable`.
#[derive(Clone, Debug, Serialize)]
struct NotRestorableEntry<'a> {
    name: &'a str,
    reason: &'a str,
    version: &'a str,
}

impl<'a> NotRestorableEntry<'a> {
    fn of(n: &'a NotRestorable) -> NotRestorableEntry<'a> {
        NotRestorableEntry {
            name: &n.name,
            reason: &n.reason,
            version: &n.version,
        }
    }
}

/// One entry of `GET /api/v1/jobs`: the job without its log or operation fields.
#[derive(Clone, Debug, Serialize)]
pub struct JobListEntry<'a> {
    completed_at: Option<String>,
    created_at: String,
    error: Option<&'a str>,
    /// Only where the manager's shape turns a timeout into `failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    error_code: Option<&'static str>,
    job_id: String,
    operation: &'static str,
    packages: &'a [String],
    progress_percent: u8,
    status: &'static str,
    updated_at: String,
}

impl<'a> JobListEntry<'a> {
    /// The list entry of a job's summary, in `shape`.
    pub fn of(s: &'a JobSummary, shape: ClientShape) -> JobListEntry<'a> {
        let shaped = Shaped::of(s.status, shape);
        JobListEntry {
            completed_at: s.completed_at.map(rfc3339),
            created_at: rfc3339(s.created_at),
            error: s.error.as_deref(),
            error_code: shaped.error_code,
            job_id: s.id.to_string(),
            operation: s.operation.as_str(),
            packages: &s.packages,
            progress_percent: s.progress_percent,
            status: shaped.status,
            updated_at: rfc3339(s.updated_at),
        }
    }
}

/// The data of `GET /api/v1/jobs`: one page of entries and where it lies.
#[derive(Clone, Debug, Serialize)]
pub struct JobList<'a> {
    /// The page.
    pub jobs: Vec<JobListEntry<'a>>,
    /// The page size asked for, or the default.
    pub limit: Option<u32>,
    /// Entries skipped before the page.
    pub offset: u64,
    /// Entries matching the filter, on every page.
    pub total: usize,
}

/// The data of `DELETE /api/v1/jobs/{id}`.
#[derive(Clone, Debug, Serialize)]
pub struct CancelAnswer {
    action: &'static str,
    current_status: Option<&'static str>,
    job_id: String,
    previous_status: &'static str,
}

impl CancelAnswer {
    /// What the engine did, with the statuses as `shape` spells them.
    pub fn of(o: &CancelOutcome, shape: ClientShape) -> CancelAnswer {
        CancelAnswer {
            action: o.action,
            current_status: o.current_status.map(|s| shape.job_status(s.as_str())),
            job_id: o.job_id.to_string(),
            previous_status: shape.job_status(o.previous_status.as_str()),
        }
    }
}

/// What every 202 answer for a new job holds (each endpoint adds its own fields).
#[derive(Clone, Debug, Serialize)]
pub struct JobAccepted {
    created_at: String,
    job_id: String,
    operation: &'static str,
    status: &'static str,
}

impl JobAccepted {
    /// The new job's fields.
    pub fn of(job: &Job) -> JobAccepted {
        JobAccepted {
            created_at: rfc3339(job.created_at),
            job_id: job.id.to_string(),
            operation: job.operation.as_str(),
            status: job.status.as_str(),
        }
    }
}

/// The `original_job_id` a rollback's 202 answer adds.
#[derive(Clone, Debug, Serialize)]
pub struct RollbackAccepted {
    /// The job being undone.
    pub original_job_id: String,
}

/// A job event frame: `job_status`, or `job_complete` for a job's last event. The payload
/// is in the specification's shape; the copies of `job_id`, `status`, `progress_percent`
/// (and on completion `error` and `output`) at the top level are in the session's shape.
#[derive(Clone, Debug, Serialize)]
pub struct JobFrame<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    /// Only where the manager's shape turns a timeout into `failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    error_code: Option<&'static str>,
    job_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    output: Option<&'a str>,
    payload: JobDetail<'a>,
    progress_percent: u8,
    status: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
}

impl<'a> JobFrame<'a> {
    /// The frame of `event` for a session served in `shape`.
    pub fn of(event: &'a JobEvent, shape: ClientShape) -> JobFrame<'a> {
        let job = &event.job;
        let terminal = event.is_terminal();
        let shaped = Shaped::of(job.status, shape);
        JobFrame {
            error: job
                .error
                .as_ref()
                .filter(|_| terminal)
                .map(|e| e.message.as_str()),
            error_code: shaped.error_code,
            job_id: job.id.to_string(),
            output: event.output.as_deref().filter(|_| terminal),
            payload: JobDetail::payload(event),
            progress_percent: job.progress_percent,
            status: shaped.status,
            kind: if terminal {
                "job_complete"
            } else {
                "job_status"
            },
        }
    }
}

/// The `error` frame: a client message the session could not act on.
#[derive(Clone, Debug, Serialize)]
pub struct ErrorFrame<'a> {
    payload: ErrorPayload<'a>,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Clone, Debug, Serialize)]
struct ErrorPayload<'a> {
    code: &'static str,
    message: &'a str,
}

impl<'a> ErrorFrame<'a> {
    /// The frame for `message` under error code `code`.
    pub fn new(code: &'static str, message: &'a str) -> ErrorFrame<'a> {
        ErrorFrame {
            payload: ErrorPayload { code, message },
            kind: "error",
        }
    }
}

/// The answer to `ping`: `{"payload":{},"type":"pong"}`.
#[derive(Clone, Debug, Serialize)]
pub struct PongFrame {
    payload: Empty,
    #[serde(rename = "type")]
    kind: &'static str,
}

/// An empty object (a braced struct without fields writes `{}`).
#[derive(Clone, Debug, Serialize)]
struct Empty {}

impl PongFrame {
    /// The one pong.
    pub fn new() -> PongFrame {
        PongFrame {
            payload: Empty {},
            kind: "pong",
        }
    }
}

impl Default for PongFrame {
    fn default() -> PongFrame {
        PongFrame::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::{JobError, Operation};
    use crate::pkg::{InstallOptions, PackageSpec, RemoveOptions};
    use serde_json::{json, Value};
    use time::OffsetDateTime;
    use uuid::Uuid;

    const SPEC: ClientShape = ClientShape::Specification;
    const MANAGER: ClientShape = ClientShape::PatchManager;
    const SHAPES: [ClientShape; 2] = [SPEC, MANAGER];

    fn at() -> OffsetDateTime {
        time::macros::datetime!(2026-04-09 13:00:00.5 UTC)
    }

    fn spec(name: &str, version: Option<&str>) -> PackageSpec {
        PackageSpec {
            name: name.into(),
            version: version.map(Into::into),
        }
    }

    /// One request of every operation, with and without their optional parts.
    fn requests() -> Vec<JobRequest> {
        let mut adv = crate::pkg::advisories::plain_update(&crate::pkg::Upgrade {
            name: "a".into(),
            current_version: "1".into(),
            available_version: "2".into(),
            arch: None,
            origins: Vec::new(),
        });
        adv.id = "ADV-1".into();
        adv.requires_reboot = true;
        let options = InstallOptions::default();
        vec![
            JobRequest::Install {
                packages: vec![spec("a", Some("1")), spec("b", None)],
                options,
            },
            JobRequest::Update {
                package: spec("a", Some("2")),
                options,
            },
            JobRequest::Update {
                package: spec("a", None),
                options,
            },
            JobRequest::Remove {
                name: "c".into(),
                options: RemoveOptions {
                    purge: true,
                    force: false,
                },
            },
            JobRequest::PatchApply {
                patches: vec![adv],
                exclude: vec!["x".into()],
                reboot: crate::pkg::policy::RebootSetting::IfRequired,
                reboot_delay_seconds: 30,
                policy: Default::default(),
                max_duration_minutes: None,
            },
            JobRequest::Reboot {
                scheduled_at: at(),
                force: true,
                reason: Some("r".into()),
            },
            JobRequest::Reboot {
                scheduled_at: at(),
                force: false,
                reason: None,
            },
            JobRequest::Rollback {
                original: Uuid::from_bytes([7; 16]),
            },
        ]
    }

    /// Every request in every status, finished ones with a result, changes and errors.
    fn jobs() -> Vec<Job> {
        let mut out = Vec::new();
        for request in requests() {
            for status in JobStatus::ALL {
                let mut j = Job::new(Uuid::new_v4(), request.clone(), at());
                j.status = status;
                j.progress_percent = 42;
                j.note("info", "hello \"world\"\n");
                j.note("warn", "é");
                if status.is_terminal() {
                    j.started_at = Some(at());
                    j.completed_at = Some(at());
                    let change = Change {
                        name: "a".into(),
                        before: Some("1".into()),
                        after: None,
                    };
                    let mut result = JobResult::from_changes(std::slice::from_ref(&change));
                    result.not_restorable.push(NotRestorable {
                        name: "n".into(),
                        version: "1".into(),
                        reason: "why".into(),
                    });
                    j.result = Some(result);
                    j.changes.push(change);
                }
                if matches!(status, JobStatus::Failed | JobStatus::Timeout) {
                    j.error = Some(JobError::new("JOB_TIMEOUT", "too slow"));
                }
                if status == JobStatus::Completed {
                    j.follow_up = Some(Uuid::new_v4());
                }
                out.push(j);
            }
        }
        out
    }

    /// The body's text, after checking it is the text of its sorted `Value` (the bytes the
    /// answers had when they were built as `Value`s).
    fn sorted_text(body: &impl Serialize) -> String {
        let direct = serde_json::to_string(body).unwrap();
        let through_value = serde_json::to_value(body).unwrap().to_string();
        assert_eq!(direct, through_value, "fields out of key order");
        direct
    }

    fn detail(j: &Job, shape: ClientShape) -> Value {
        serde_json::from_str(&sorted_text(&JobDetail::of(j, shape))).unwrap()
    }

    #[test]
    fn every_body_writes_its_keys_in_sorted_order() {
        for j in jobs() {
            let summary = JobSummary::of(&j);
            let event = JobEvent::of(&j);
            for shape in SHAPES {
                sorted_text(&JobDetail::of(&j, shape));
                sorted_text(&JobListEntry::of(&summary, shape));
                sorted_text(&JobFrame::of(&event, shape));
                sorted_text(&CancelAnswer::of(
                    &CancelOutcome {
                        job_id: j.id,
                        previous_status: j.status,
                        current_status: Some(j.status),
                        action: "cancelled",
                    },
                    shape,
                ));
            }
            sorted_text(&JobAccepted::of(&j));
            sorted_text(&JobList {
                jobs: vec![JobListEntry::of(&summary, SPEC)],
                limit: Some(1),
                offset: 0,
                total: 1,
            });
        }
        sorted_text(&ErrorFrame::new("INVALID_REQUEST", "m"));
        sorted_text(&PongFrame::new());
    }

    #[test]
    fn a_detail_is_written_byte_for_byte_as_the_api_documents_it() {
        let mut j = Job::new(
            Uuid::from_bytes([1; 16]),
            JobRequest::Remove {
                name: "c".into(),
                options: RemoveOptions::default(),
            },
            at(),
        );
        j.note("info", "removing c");
        j.logs[0].timestamp = at();
        j.status = JobStatus::Failed;
        j.error = Some(JobError::new("PKG_NOT_FOUND", "package not found: c"));
        let text = serde_json::to_string(&JobDetail::of(&j, SPEC)).unwrap();
        assert_eq!(
            text,
            concat!(
                r#"{"changes":[],"completed_at":null,"created_at":"2026-04-09T13:00:00Z","#,
                r#""error":"package not found: c","error_code":"PKG_NOT_FOUND","#,
                r#""job_id":"01010101-0101-0101-0101-010101010101","#,
                r#""logs":[{"level":"info","message":"removing c","timestamp":"2026-04-09T13:00:00Z"}],"#,
                r#""operation":"remove","output":"removing c","package":"c","packages":["c"],"#,
                r#""progress_percent":0,"purge":false,"result":null,"started_at":null,"#,
                r#""status":"failed","updated_at":"2026-04-09T13:00:00Z"}"#
            )
        );
    }

    #[test]
    fn detail_has_spec_and_interop_fields() {
        let mut j = Job::new(
            Uuid::new_v4(),
            JobRequest::Install {
                packages: vec![spec("lpa-hello", Some("1.0-1"))],
                options: InstallOptions::default(),
            },
            at(),
        );
        j.note("info", "hello");
        j.error = Some(JobError::new("PKG_NOT_FOUND", "package not found: x"));
        let d = detail(&j, SPEC);
        for k in [
            "job_id",
            "operation",
            "status",
            "progress_percent",
            "created_at",
            "updated_at",
            "started_at",
            "completed_at",
            "packages",
            "result",
            "changes",
            "logs",
            "output",
            "error",
            "error_code",
        ] {
            assert!(d.get(k).is_some(), "missing {k}: {d}");
        }
        assert_eq!(d["created_at"], "2026-04-09T13:00:00Z");
        assert_eq!(d["error"], "package not found: x");
        assert_eq!(d["error_code"], "PKG_NOT_FOUND");
        assert_eq!(d["output"], "hello");
        assert_eq!(d["logs"][0]["level"], "info");
        assert_eq!(d["packages"], json!(["lpa-hello"]));
        assert_eq!(
            d["requested"],
            json!([{"name": "lpa-hello", "version": "1.0-1"}])
        );
        let event = JobEvent::of(&j);
        let payload = serde_json::to_value(JobDetail::payload(&event)).unwrap();
        assert!(payload.get("logs").is_none() && payload.get("output").is_none());
        assert_eq!(payload["job_id"], d["job_id"]);
        let s = serde_json::to_value(JobListEntry::of(&JobSummary::of(&j), SPEC)).unwrap();
        assert_eq!(s["job_id"], j.id.to_string());
        assert_eq!(s["error"], "package not found: x");
        assert!(s.get("logs").is_none() && s.get("completed_at").is_some());
        assert!(s.get("error_code").is_none() && s.get("requested").is_none());
    }

    #[test]
    fn operation_specific_fields() {
        let now = at();
        let upd = Job::new(
            Uuid::new_v4(),
            JobRequest::Update {
                package: spec("a", Some("2")),
                options: InstallOptions::default(),
            },
            now,
        );
        assert_eq!(detail(&upd, SPEC)["target_version"], "2");
        assert_eq!(detail(&upd, SPEC)["package"], "a");
        let latest = Job::new(
            Uuid::new_v4(),
            JobRequest::Update {
                package: spec("a", None),
                options: InstallOptions::default(),
            },
            now,
        );
        assert_eq!(detail(&latest, SPEC)["target_version"], Value::Null);
        let rm = Job::new(
            Uuid::new_v4(),
            JobRequest::Remove {
                name: "a".into(),
                options: RemoveOptions {
                    purge: true,
                    force: false,
                },
            },
            now,
        );
        assert_eq!(detail(&rm, SPEC)["purge"], true);
        let orig = Uuid::new_v4();
        let mut rb = Job::new(Uuid::new_v4(), JobRequest::Rollback { original: orig }, now);
        rb.result = Some(JobResult::default());
        let d = detail(&rb, SPEC);
        assert_eq!(d["original_job_id"], orig.to_string());
        assert_eq!(d["result"]["not_restorable"], json!([]));
        let d = detail(&upd, SPEC);
        assert!(d.get("original_job_id").is_none() && d.get("purge").is_none());
        let mut done = upd.clone();
        done.result = Some(JobResult::default());
        assert!(detail(&done, SPEC)["result"]
            .get("not_restorable")
            .is_none());

        let requests = requests();
        let patch = Job::new(Uuid::new_v4(), requests[4].clone(), now);
        let d = detail(&patch, SPEC);
        assert_eq!(d["patches"], json!(["ADV-1"]));
        assert_eq!(d["patches_count"], 1);
        assert_eq!(d["exclude_packages"], json!(["x"]));
        assert_eq!(
            (&d["requires_reboot"], &d["auto_reboot"]),
            (&json!(true), &json!(true))
        );
        assert_eq!(d["reboot_delay_seconds"], 30);
        assert_eq!(d["reboot_job_id"], Value::Null);
        assert!(d.get("max_duration_minutes").is_none());
        // With a time budget: the budget, and the result's report, in sorted fields.
        let mut budgeted = patch.clone();
        if let JobRequest::PatchApply {
            max_duration_minutes,
            ..
        } = &mut budgeted.request
        {
            *max_duration_minutes = Some(90);
        }
        budgeted.result = Some(JobResult {
            budget: Some(crate::jobs::BudgetReport {
                applied: vec!["ADV-1".into()],
                failed: Vec::new(),
                not_attempted: vec![crate::jobs::NotAttempted {
                    id: "ADV-2".into(),
                    reason: crate::jobs::NotAttemptedReason::TimeBudget,
                }],
                partial: true,
                reboot_skipped: Some(crate::jobs::NotAttemptedReason::TimeBudget),
            }),
            ..JobResult::default()
        });
        let d = detail(&budgeted, SPEC);
        assert_eq!(d["max_duration_minutes"], 90);
        let r = &d["result"];
        assert_eq!(
            (
                &r["applied"],
                &r["failed"],
                &r["partial"],
                &r["reboot_skipped"]
            ),
            (
                &json!(["ADV-1"]),
                &json!([]),
                &json!(true),
                &json!("time_budget")
            )
        );
        assert_eq!(
            r["not_attempted"],
            json!([{"id": "ADV-2", "reason": "time_budget"}])
        );
        let reboot = Job::new(Uuid::new_v4(), requests[6].clone(), now);
        let d = detail(&reboot, SPEC);
        assert_eq!(d["scheduled_at"], "2026-04-09T13:00:00Z");
        assert_eq!((&d["force"], &d["reason"]), (&json!(false), &Value::Null));
    }

    #[test]
    fn the_manager_sees_a_timeout_as_failed_with_job_timeout() {
        let timed_out = jobs()
            .into_iter()
            .find(|j| j.status == JobStatus::Timeout)
            .unwrap();
        let mut other = timed_out.clone();
        other.error = Some(JobError::new("PKG_MANAGER_ERROR", "x"));
        let d = detail(&other, MANAGER);
        assert_eq!(
            (&d["status"], &d["error_code"]),
            (&json!("failed"), &json!("JOB_TIMEOUT"))
        );
        let d = detail(&other, SPEC);
        assert_eq!(
            (&d["status"], &d["error_code"]),
            (&json!("timeout"), &json!("PKG_MANAGER_ERROR"))
        );
        let summary = JobSummary::of(&timed_out);
        let m = serde_json::to_value(JobListEntry::of(&summary, MANAGER)).unwrap();
        assert_eq!(
            (&m["status"], &m["error_code"]),
            (&json!("failed"), &json!("JOB_TIMEOUT"))
        );
        assert_eq!(m["progress_percent"], 42);
        let s = serde_json::to_value(JobListEntry::of(&summary, SPEC)).unwrap();
        assert_eq!(s["status"], "timeout");
        assert!(s.get("error_code").is_none(), "{s}");
        for j in jobs().iter().filter(|j| j.status != JobStatus::Timeout) {
            for shape in SHAPES {
                assert_eq!(detail(j, shape), detail(j, SPEC), "{:?}", j.status);
            }
        }
        let cancel = CancelOutcome {
            job_id: timed_out.id,
            previous_status: JobStatus::Timeout,
            current_status: None,
            action: "deleted",
        };
        let v = serde_json::to_value(CancelAnswer::of(&cancel, MANAGER)).unwrap();
        assert_eq!(
            (&v["previous_status"], &v["current_status"]),
            (&json!("failed"), &Value::Null)
        );
        let v = serde_json::to_value(CancelAnswer::of(&cancel, SPEC)).unwrap();
        assert_eq!(v["previous_status"], "timeout");
        assert_eq!(v["action"], "deleted");
    }

    #[test]
    fn a_frame_copies_the_payload_to_the_top_and_completion_adds_error_and_output() {
        for j in jobs() {
            let event = JobEvent::of(&j);
            let v: Value = serde_json::from_str(&sorted_text(&JobFrame::of(&event, SPEC))).unwrap();
            let payload = &v["payload"];
            for k in ["job_id", "status", "progress_percent"] {
                assert_eq!(v[k], payload[k], "{k}");
            }
            let terminal = j.status.is_terminal();
            let kind = if terminal {
                "job_complete"
            } else {
                "job_status"
            };
            assert_eq!(v["type"], kind);
            assert!(payload.get("logs").is_none());
            assert_eq!(payload.get("output").is_some(), terminal);
            assert_eq!(v.get("output"), payload.get("output"));
            let error = j.error.as_ref().filter(|_| terminal);
            assert_eq!(v.get("error").is_some(), error.is_some(), "{v}");
            assert!(
                v.get("error_code").is_none(),
                "the spec's frame adds no code"
            );
            assert_eq!(
                j.operation == Operation::Rollback,
                payload.get("original_job_id").is_some()
            );
        }
    }
}
