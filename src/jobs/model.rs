//! What a job is: its request, its state machine's states, its log, and what it changed.
//! The API renders it (`api/wire/jobs.rs`); this module knows no wire format.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::pkg::advisories::Advisory;
use crate::pkg::policy::{PatchPolicy, RebootSetting};
use crate::pkg::{advisory_targets, InstallOptions, PackageSpec, RemoveOptions, SavedPackage};
use crate::system::restart_needed::RestartNeeded;

/// Most bytes of log text rendered into a job's `output` field (the newest output is kept).
pub const OUTPUT_MAX_BYTES: usize = 64 * 1024;

/// Where a job is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    /// Queued, waiting for a worker.
    Pending,
    /// A worker is executing it (possibly waiting for the package transaction).
    Running,
    /// Finished successfully.
    Completed,
    /// Finished with an error.
    Failed,
    /// Stopped by a cancel request.
    Cancelled,
    /// Stopped because it ran past the job timeout.
    Timeout,
}

impl JobStatus {
    /// Every status, in life-cycle order.
    pub const ALL: [JobStatus; 6] = [
        JobStatus::Pending,
        JobStatus::Running,
        JobStatus::Completed,
        JobStatus::Failed,
        JobStatus::Cancelled,
        JobStatus::Timeout,
    ];

    /// The API's name of the status (`pending`, `running`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Running => "running",
            JobStatus::Completed => "completed",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
            JobStatus::Timeout => "timeout",
        }
    }

    /// Parses an API status name.
    pub fn from_name(name: &str) -> Option<JobStatus> {
        JobStatus::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Whether the job is over (no further change will happen to it).
    pub fn is_terminal(self) -> bool {
        !matches!(self, JobStatus::Pending | JobStatus::Running)
    }
}

/// What kind of work a job does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// Install packages.
    Install,
    /// Update one package.
    Update,
    /// Remove one package.
    Remove,
    /// Apply patches.
    PatchApply,
    /// Reboot the host.
    Reboot,
    /// Return the packages another job changed to their earlier state.
    Rollback,
}

impl Operation {
    /// Every operation.
    pub const ALL: [Operation; 6] = [
        Operation::Install,
        Operation::Update,
        Operation::Remove,
        Operation::PatchApply,
        Operation::Reboot,
        Operation::Rollback,
    ];

    /// The API's name of the operation (`install`, `patch_apply`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Install => "install",
            Operation::Update => "update",
            Operation::Remove => "remove",
            Operation::PatchApply => "patch_apply",
            Operation::Reboot => "reboot",
            Operation::Rollback => "rollback",
        }
    }

    /// Parses an API operation name.
    pub fn from_name(name: &str) -> Option<Operation> {
        Operation::ALL.into_iter().find(|o| o.as_str() == name)
    }
}

/// What was asked of a job (persisted with it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum JobRequest {
    /// Install these packages (exact versions where given).
    Install {
        /// The packages.
        packages: Vec<PackageSpec>,
        /// Install switches.
        options: InstallOptions,
    },
    /// Update one installed package (to an exact version when given).
    Update {
        /// The package.
        package: PackageSpec,
        /// Install switches.
        options: InstallOptions,
    },
    /// Remove one installed package.
    Remove {
        /// The package name.
        name: String,
        /// Removal switches.
        options: RemoveOptions,
    },
    /// Apply security patches (resolved against the advisories when submitted).
    PatchApply {
        /// The patches, as listed when the job was submitted.
        patches: Vec<Advisory>,
        /// Packages left out of the application.
        #[serde(default)]
        exclude: Vec<String>,
        /// When to reboot after applying (older records hold a boolean: `true` is
        /// `if_required`).
        #[serde(default)]
        reboot: RebootSetting,
        /// Delay of that reboot.
        #[serde(default)]
        reboot_delay_seconds: u64,
        /// The policy the patches were selected by, as asked (empty in older records).
        #[serde(default)]
        policy: PatchPolicy,
        /// The time budget in minutes: install in batches, most severe first, and start
        /// no batch the time left cannot hold. `None`: one transaction, no budget.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_duration_minutes: Option<u32>,
    },
    /// Reboot the host at `scheduled_at` by running the configured reboot command.
    Reboot {
        /// When the command runs.
        #[serde(with = "time_text")]
        scheduled_at: OffsetDateTime,
        /// Reboot even while package jobs are pending or running.
        force: bool,
        /// Why, as given by the requester (also in the audit log).
        reason: Option<String>,
    },
    /// Undo what another job changed.
    Rollback {
        /// The job whose changes are undone.
        #[serde(with = "uuid_text")]
        original: Uuid,
    },
}

impl JobRequest {
    /// The operation this request performs.
    pub fn operation(&self) -> Operation {
        match self {
            JobRequest::Install { .. } => Operation::Install,
            JobRequest::Update { .. } => Operation::Update,
            JobRequest::Remove { .. } => Operation::Remove,
            JobRequest::PatchApply { .. } => Operation::PatchApply,
            JobRequest::Reboot { .. } => Operation::Reboot,
            JobRequest::Rollback { .. } => Operation::Rollback,
        }
    }

    /// The package names the request names (empty for a rollback: its job lists them).
    pub fn package_names(&self) -> Vec<String> {
        match self {
            JobRequest::Install { packages, .. } => {
                packages.iter().map(|p| p.name.clone()).collect()
            }
            JobRequest::Update { package, .. } => vec![package.name.clone()],
            JobRequest::Remove { name, .. } => vec![name.clone()],
            JobRequest::PatchApply {
                patches, exclude, ..
            } => advisory_targets(patches, exclude)
                .into_iter()
                .map(|p| p.name)
                .collect(),
            JobRequest::Reboot { .. } | JobRequest::Rollback { .. } => Vec::new(),
        }
    }
}

/// One package whose installed version differs before and after a job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// Package name.
    pub name: String,
    /// Version before the job; `None` when it was not installed.
    pub before: Option<String>,
    /// Version after the job; `None` when it is not installed any more.
    pub after: Option<String>,
}

/// One timestamped line of a job's log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// When it was written.
    #[serde(with = "time_text")]
    pub timestamp: OffsetDateTime,
    /// `info`, `warn`, `error` or `debug`.
    pub level: String,
    /// The text.
    pub message: String,
}

/// A package a rollback could not return to its earlier version, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotRestorable {
    /// Package name.
    pub name: String,
    /// The version it should have returned to.
    pub version: String,
    /// Why that was not possible.
    pub reason: String,
}

/// The outcome of a finished job.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobResult {
    /// Whether the package operation succeeded.
    pub success: bool,
    /// Packages that were not installed before and are now.
    pub packages_installed: Vec<String>,
    /// Packages whose version changed.
    pub packages_updated: Vec<String>,
    /// Packages that were installed before and are not now.
    pub packages_removed: Vec<String>,
    /// Requested packages not in the requested state after a failed operation.
    pub packages_failed: Vec<String>,
    /// Rollback jobs: packages that could not be restored, with the reason.
    #[serde(default)]
    pub not_restorable: Vec<NotRestorable>,
    /// Patch jobs: the processes still running code the transaction deleted or replaced
    /// (scanned after it), and their units.
    #[serde(default)]
    pub restart_needed: Option<RestartNeeded>,
    /// Patch jobs: upgradable packages left out because they are held.
    #[serde(default)]
    pub skipped_held: Vec<String>,
    /// Patch jobs: packages of the selected patches left out by the policy's masks.
    #[serde(default)]
    pub excluded_packages: Vec<String>,
    /// Patch jobs with a time budget: which patches were applied, failed or not attempted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<BudgetReport>,
}

/// Why a patch of a budgeted job was not attempted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotAttemptedReason {
    /// Its batch's expected time did not fit in the time left.
    TimeBudget,
    /// An earlier batch failed, and the job stopped there.
    EarlierBatchFailed,
    /// The job was cancelled before the batch started, or while an earlier one ran.
    Cancelled,
    /// An earlier batch ran into the job's timeout (`jobs.timeout_minutes`).
    JobTimeout,
}

impl NotAttemptedReason {
    /// The API's name of the reason (`time_budget`, `earlier_batch_failed`, `cancelled`,
    /// `job_timeout`).
    pub fn as_str(self) -> &'static str {
        match self {
            NotAttemptedReason::TimeBudget => "time_budget",
            NotAttemptedReason::EarlierBatchFailed => "earlier_batch_failed",
            NotAttemptedReason::Cancelled => "cancelled",
            NotAttemptedReason::JobTimeout => "job_timeout",
        }
    }
}

/// A patch a budgeted job did not attempt, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotAttempted {
    /// Patch id.
    pub id: String,
    /// Why.
    pub reason: NotAttemptedReason,
}

/// What became of each patch of a job with a time budget.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetReport {
    /// Patch ids whose batch completed, in the order applied.
    pub applied: Vec<String>,
    /// Patch ids of the batch that failed.
    pub failed: Vec<String>,
    /// Patches never started, with the reason.
    pub not_attempted: Vec<NotAttempted>,
    /// Whether the budget alone left patches out (the job still completed).
    pub partial: bool,
    /// Why the reboot the job asked for was not started (`time_budget`), when it was not.
    #[serde(default)]
    pub reboot_skipped: Option<NotAttemptedReason>,
}

impl JobResult {
    /// The result lists derived from `changes`; the caller fills `success`, `packages_failed`
    /// and `not_restorable`.
    pub fn from_changes(changes: &[Change]) -> JobResult {
        let mut r = JobResult::default();
        for c in changes {
            match (&c.before, &c.after) {
                (None, Some(_)) => r.packages_installed.push(c.name.clone()),
                (Some(_), None) => r.packages_removed.push(c.name.clone()),
                (Some(_), Some(_)) => r.packages_updated.push(c.name.clone()),
                (None, None) => {}
            }
        }
        r
    }
}

/// Why a job did not complete.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobError {
    /// Error code: `JOB_TIMEOUT`, `JOB_CANCELLED`, `PKG_MANAGER_ERROR`,
    /// `PKG_DEPENDENCY_ERROR`, `PKG_VERSION_CONFLICT`, `PKG_NOT_FOUND`, `AGENT_RESTARTED`.
    pub code: String,
    /// What happened, for people.
    pub message: String,
}

impl JobError {
    /// An error with this code and message.
    pub fn new(code: &str, message: impl Into<String>) -> JobError {
        JobError {
            code: code.to_string(),
            message: message.into(),
        }
    }
}

/// One job, as kept in memory and persisted.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Job {
    /// Its identifier.
    #[serde(with = "uuid_text")]
    pub id: Uuid,
    /// What it does.
    pub operation: Operation,
    /// Where it is.
    pub status: JobStatus,
    /// 0-100, never decreasing; 100 once the job is over.
    pub progress_percent: u8,
    /// When it was submitted.
    #[serde(with = "time_text")]
    pub created_at: OffsetDateTime,
    /// When anything about it last changed.
    #[serde(with = "time_text")]
    pub updated_at: OffsetDateTime,
    /// When a worker started it.
    #[serde(with = "opt_time_text", default)]
    pub started_at: Option<OffsetDateTime>,
    /// When it reached a final status.
    #[serde(with = "opt_time_text", default)]
    pub completed_at: Option<OffsetDateTime>,
    /// The package names it concerns.
    pub packages: Vec<String>,
    /// What was asked.
    pub request: JobRequest,
    /// Its outcome, once over (and it ran).
    #[serde(default)]
    pub result: Option<JobResult>,
    /// Every package whose installed version it changed.
    #[serde(default)]
    pub changes: Vec<Change>,
    /// Why it did not complete.
    #[serde(default)]
    pub error: Option<JobError>,
    /// Rollback jobs: the job being undone.
    #[serde(with = "opt_uuid_text", default)]
    pub original_job_id: Option<Uuid>,
    /// Patch jobs: the reboot job they scheduled.
    #[serde(with = "opt_uuid_text", default)]
    pub follow_up: Option<Uuid>,
    /// Its log, the package tool's output included (capped).
    #[serde(default)]
    pub logs: Vec<LogLine>,
    /// What was saved before its mutation so a rollback can reinstall it.
    #[serde(default)]
    pub saved: Vec<SavedPackage>,
    /// The kernel boot id when it started running (tells a reboot from an agent restart).
    #[serde(default)]
    pub boot_id: Option<String>,
    /// Bytes of message text in `logs`.
    #[serde(default)]
    pub log_bytes: usize,
    /// Whether tool output was dropped at the log cap.
    #[serde(default)]
    pub log_truncated: bool,
    /// Bumped at every change, so a late write of an older snapshot never wins.
    #[serde(skip)]
    pub(crate) revision: u64,
}

impl Job {
    /// A new pending job for `request`.
    pub fn new(id: Uuid, request: JobRequest, now: OffsetDateTime) -> Job {
        Job {
            id,
            operation: request.operation(),
            status: JobStatus::Pending,
            progress_percent: 0,
            created_at: now,
            updated_at: now,
            started_at: None,
            completed_at: None,
            packages: request.package_names(),
            request,
            result: None,
            changes: Vec::new(),
            error: None,
            original_job_id: None,
            follow_up: None,
            logs: Vec::new(),
            saved: Vec::new(),
            boot_id: None,
            log_bytes: 0,
            log_truncated: false,
            revision: 0,
        }
    }

    /// Appends a line the engine itself writes. These are few per job, so they are kept
    /// even past the cap: a log must still say how the job ended and what repair did.
    pub fn note(&mut self, level: &str, message: impl Into<String>) {
        let message = message.into();
        self.log_bytes += message.len();
        self.push(level, message);
    }

    /// Appends a line of tool output unless the log reached `cap` bytes; the first line
    /// dropped is replaced by one saying so. Returns whether the line was kept.
    pub fn tool_line(&mut self, level: &str, message: &str, cap: usize) -> bool {
        if self.log_truncated {
            return false;
        }
        if self.log_bytes + message.len() > cap {
            self.log_truncated = true;
            self.note(
                "warn",
                format!("log truncated at {cap} bytes; further output dropped"),
            );
            return false;
        }
        self.log_bytes += message.len();
        self.push(level, message.to_string());
        true
    }

    fn push(&mut self, level: &str, message: String) {
        self.logs.push(LogLine {
            timestamp: OffsetDateTime::now_utc(),
            level: level.to_string(),
            message,
        });
    }

    /// Raises progress to `percent` (capped at 100); never lowers it.
    pub fn advance(&mut self, percent: u8) {
        self.progress_percent = self.progress_percent.max(percent.min(100));
    }

    /// The log messages joined with newlines, keeping the newest [`OUTPUT_MAX_BYTES`].
    pub fn output(&self) -> String {
        let mut total = 0usize;
        let mut first = self.logs.len();
        for (i, l) in self.logs.iter().enumerate().rev() {
            if total + l.message.len() + 1 > OUTPUT_MAX_BYTES {
                break;
            }
            total += l.message.len() + 1;
            first = i;
        }
        let kept: Vec<&str> = self.logs[first..]
            .iter()
            .map(|l| l.message.as_str())
            .collect();
        if first > 0 {
            format!("[{first} earlier log lines omitted]\n{}", kept.join("\n"))
        } else {
            kept.join("\n")
        }
    }
}

/// Uuid as its hyphenated text (the `uuid` crate's serde support is not enabled).
mod uuid_text {
    use serde::{Deserialize, Deserializer, Serializer};
    use uuid::Uuid;

    pub fn serialize<S: Serializer>(id: &Uuid, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&id.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Uuid, D::Error> {
        let text = String::deserialize(d)?;
        Uuid::parse_str(&text).map_err(serde::de::Error::custom)
    }
}

/// Optional Uuid as text or null.
mod opt_uuid_text {
    use serde::{Deserialize, Deserializer, Serializer};
    use uuid::Uuid;

    pub fn serialize<S: Serializer>(id: &Option<Uuid>, s: S) -> Result<S::Ok, S::Error> {
        match id {
            Some(id) => s.serialize_some(&id.to_string()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Uuid>, D::Error> {
        match Option::<String>::deserialize(d)? {
            Some(text) => Uuid::parse_str(&text)
                .map(Some)
                .map_err(serde::de::Error::custom),
            None => Ok(None),
        }
    }
}

/// Timestamps as RFC 3339 with full precision (the records keep sub-second order).
mod time_text {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::format_description::well_known::Rfc3339;
    use time::OffsetDateTime;

    pub fn serialize<S: Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
        let text = t.format(&Rfc3339).map_err(serde::ser::Error::custom)?;
        s.serialize_str(&text)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
        let text = String::deserialize(d)?;
        OffsetDateTime::parse(&text, &Rfc3339).map_err(serde::de::Error::custom)
    }
}

/// Optional timestamps as RFC 3339 or null.
mod opt_time_text {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::format_description::well_known::Rfc3339;
    use time::OffsetDateTime;

    pub fn serialize<S: Serializer>(t: &Option<OffsetDateTime>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => {
                let text = t.format(&Rfc3339).map_err(serde::ser::Error::custom)?;
                s.serialize_some(&text)
            }
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<OffsetDateTime>, D::Error> {
        match Option::<String>::deserialize(d)? {
            Some(text) => OffsetDateTime::parse(&text, &Rfc3339)
                .map(Some)
                .map_err(serde::de::Error::custom),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn install_job() -> Job {
        let req = JobRequest::Install {
            packages: vec![PackageSpec {
                name: "lpa-hello".into(),
                version: Some("1.0-1".into()),
            }],
            options: InstallOptions::default(),
        };
        Job::new(
            Uuid::new_v4(),
            req,
            time::macros::datetime!(2026-04-09 13:00:00.5 UTC),
        )
    }

    #[test]
    fn names_round_trip_and_terminal_states() {
        for s in JobStatus::ALL {
            assert_eq!(JobStatus::from_name(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), json!(s.as_str()));
        }
        for o in Operation::ALL {
            assert_eq!(Operation::from_name(o.as_str()), Some(o));
            assert_eq!(serde_json::to_value(o).unwrap(), json!(o.as_str()));
        }
        assert_eq!(Operation::PatchApply.as_str(), "patch_apply");
        let terminal: Vec<_> = JobStatus::ALL
            .into_iter()
            .filter(|s| s.is_terminal())
            .collect();
        assert_eq!(
            terminal,
            [
                JobStatus::Completed,
                JobStatus::Failed,
                JobStatus::Cancelled,
                JobStatus::Timeout
            ]
        );
    }

    #[test]
    fn result_lists_come_from_changes() {
        let ch = |n: &str, b: Option<&str>, a: Option<&str>| Change {
            name: n.into(),
            before: b.map(Into::into),
            after: a.map(Into::into),
        };
        let r = JobResult::from_changes(&[
            ch("new", None, Some("1")),
            ch("gone", Some("1"), None),
            ch("up", Some("1"), Some("2")),
        ]);
        assert_eq!(r.packages_installed, ["new"]);
        assert_eq!(r.packages_removed, ["gone"]);
        assert_eq!(r.packages_updated, ["up"]);
        assert!(r.packages_failed.is_empty() && !r.success);
    }

    #[test]
    fn tool_output_is_capped_with_one_note_but_engine_notes_are_kept() {
        let mut j = install_job();
        assert!(j.tool_line("info", "12345", 12));
        assert!(j.tool_line("info", "1234567", 12));
        assert!(!j.tool_line("info", "x", 12));
        assert!(!j.tool_line("warn", "y", 12));
        j.note("info", "job failed");
        let msgs: Vec<&str> = j.logs.iter().map(|l| l.message.as_str()).collect();
        assert_eq!(
            msgs,
            [
                "12345",
                "1234567",
                "log truncated at 12 bytes; further output dropped",
                "job failed"
            ]
        );
        assert_eq!(j.logs[2].level, "warn");
    }

    #[test]
    fn progress_never_decreases() {
        let mut j = install_job();
        j.advance(20);
        j.advance(10);
        assert_eq!(j.progress_percent, 20);
        j.advance(250);
        assert_eq!(j.progress_percent, 100);
    }

    #[test]
    fn output_keeps_the_newest_lines() {
        let mut j = install_job();
        let line = "x".repeat(1000);
        for _ in 0..100 {
            j.note("info", line.clone());
        }
        let out = j.output();
        assert!(out.len() <= OUTPUT_MAX_BYTES + 64, "{}", out.len());
        assert!(out.starts_with('[') && out.contains("earlier log lines omitted"));
        let mut small = install_job();
        small.note("info", "a");
        small.note("info", "b");
        assert_eq!(small.output(), "a\nb");
    }

    #[test]
    fn serde_round_trip_keeps_everything() {
        let mut j = install_job();
        j.status = JobStatus::Completed;
        j.started_at = Some(OffsetDateTime::now_utc());
        j.original_job_id = Some(Uuid::new_v4());
        j.note("info", "x");
        j.changes.push(Change {
            name: "a".into(),
            before: None,
            after: Some("1".into()),
        });
        let text = serde_json::to_string(&j).unwrap();
        let back: Job = serde_json::from_str(&text).unwrap();
        assert_eq!(
            serde_json::to_value(&back).unwrap(),
            serde_json::to_value(&j).unwrap()
        );
        assert_eq!(back.created_at, j.created_at, "sub-second precision kept");
        assert_eq!(back.request, j.request);
        let rb = JobRequest::Rollback {
            original: Uuid::nil(),
        };
        let v = serde_json::to_value(&rb).unwrap();
        assert_eq!(v["type"], "rollback");
        assert_eq!(serde_json::from_value::<JobRequest>(v).unwrap(), rb);
    }
}
