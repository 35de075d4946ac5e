//! The package work of a job while it holds the transaction: plan what it asks, run the
//! tool under the job's deadline, read back what really changed, repair after a failure,
//! and map a failure to its status and error code. Separate so the package steps read
//! without the queueing and locking around them.

use super::opening::{Opening, Shut};
use super::*;
use crate::error_code::ErrorCode;
use crate::pkg::runner::StartGate;

/// Deadline of the database repair after a failed, cancelled or timed-out transaction.
const REPAIR_TIMEOUT: Duration = Duration::from_secs(300);

/// Progress milestones.
pub(super) const P_STARTED: u8 = 10;
const P_SAVED: u8 = 20;
pub(super) const P_SAVE_LINES_MAX: u8 = 19;
pub(super) const P_TOOL_LINES_MAX: u8 = 90;
const P_CHANGES: u8 = 95;

/// The package operation a job performs.
pub(super) enum Action {
    Install(Vec<PackageSpec>, InstallOptions),
    Apply(Vec<Advisory>, Vec<String>),
    Remove(Vec<String>, RemoveOptions),
    Restore(Vec<RestoreStep>),
}

/// The state a job asks for, per package, to tell which ones failed.
pub(super) enum Want {
    Present,
    Version(String),
    Changed,
    Absent,
}

impl Want {
    fn met(&self, before: Option<&str>, after: Option<&str>) -> bool {
        match self {
            Want::Present => after.is_some(),
            Want::Version(v) => after == Some(v.as_str()),
            Want::Changed => after.is_some() && after != before,
            Want::Absent => after.is_none(),
        }
    }
}

/// What a job will do, decided once it holds the transaction.
pub(super) struct Plan {
    pub(super) action: Action,
    pub(super) wants: Vec<(String, Want)>,
    pub(super) not_restorable: Vec<NotRestorable>,
}

/// The job a batched run belongs to, and what its transactions run with.
pub(super) struct JobTurn<'a> {
    pub(super) id: &'a Uuid,
    pub(super) backend: &'a dyn PackageManager,
    pub(super) cancel: &'a Cancel,
    /// The job's own deadline (the job timeout), which the budget does not lift.
    pub(super) deadline: Instant,
}

/// How a job ended.
pub(super) struct Outcome {
    pub(super) status: JobStatus,
    pub(super) error: Option<JobError>,
    pub(super) changes: Vec<Change>,
    pub(super) result: JobResult,
    /// When a job with a time budget runs out of it.
    pub(super) budget_ends: Option<Instant>,
}

impl Outcome {
    pub(super) fn failed(status: JobStatus, error: JobError) -> Outcome {
        Outcome {
            status,
            error: Some(error),
            changes: Vec::new(),
            result: JobResult::default(),
            budget_ends: None,
        }
    }
}

impl Engine {
    /// The job's work while it holds the package transaction.
    pub(super) fn transact(
        &self,
        id: &Uuid,
        request: &JobRequest,
        cancel: &Cancel,
        deadline: Instant,
    ) -> Outcome {
        // A time budget counts from here, like the job's deadline.
        let started = Instant::now();
        let mut phases = super::phases::Phases::start();
        let backend = Arc::clone(self.inventory.backend());
        // Checked again now that nothing else changes the database, when the state may have
        // moved since the submission or the checks were deferred because the tool was busy.
        // Each check asks the tool (a dnf run costs as much as the install), so an unchanged
        // database is not asked twice; what the repositories offer may still have changed,
        // and then the tool refuses with the same error codes.
        if self.checks_stale(id) {
            if let Err(e) = self.precheck(request) {
                let e = match e {
                    EngineError::Pkg(p) => p,
                    other => PkgError::Unsupported(other.to_string()),
                };
                return self.classify(e, cancel, deadline, Vec::new(), JobResult::default());
            }
        }
        // Holds are read now, under the transaction: a hold set while the job waited counts.
        let held = self
            .refuse_held(request)
            .and_then(|()| self.skip_held(id, request));
        let (adjusted, skipped_held) = match held {
            Ok(h) => h,
            Err(e) => return self.classify(e, cancel, deadline, Vec::new(), JobResult::default()),
        };
        let request = adjusted.as_ref().unwrap_or(request);
        phases.mark("checks");
        // Read from the database itself (the rpm family keeps the last read until a database
        // file changes), never from the inventory's cache: the changes must be exact. The
        // inventory keeps the read for the requests that follow.
        let before = match self.inventory.read_installed() {
            Ok(b) => versions(&b),
            Err(e) => return self.classify(e, cancel, deadline, Vec::new(), JobResult::default()),
        };
        phases.mark("before");
        let plan = match self.plan(id, request, backend.as_ref()) {
            Ok(p) => p,
            Err(o) => return *o,
        };
        phases.mark("plan");
        // Read before anything changes; written (two fsyncs) while the tool runs, since
        // only a rollback of this job reads it, and that waits for the job's end.
        let selection = crate::jobs::rollback::read_selection(backend.as_ref());
        let budget = match (request, &plan.action) {
            (
                JobRequest::PatchApply {
                    max_duration_minutes: Some(minutes),
                    ..
                },
                Action::Apply(patches, exclude),
            ) => Some((*minutes, patches, exclude)),
            _ => None,
        };
        // Everything above only read; what follows changes the host and the job, after the
        // opening (`opening.rs`): here, or by the tool's first command, held at its lock.
        let steps = || self.open_job(id, &plan, &before, backend.as_ref(), cancel, deadline);
        let opening = Opening::new(&steps);
        let held = backend.starts_held() && budget.is_none() && self.admission_pending(id);
        let mut shut = if held { None } else { opening.open_or_shut() };
        if let Some(Shut::NotAdmitted(not)) = shut {
            return not.outcome();
        }
        phases.mark("opened");
        let mut budgeted = None;
        let (ran, selection_saved) = std::thread::scope(|scope| {
            let writer = scope.spawn(|| {
                // Not before the job's record is on disk (a held start has not waited yet).
                if self.admitted(id).is_err() {
                    return Ok(());
                }
                match &selection {
                    Ok(Some(bytes)) => {
                        crate::jobs::rollback::write_selection(&self.cache, id, bytes)
                    }
                    Ok(None) => Ok(()),
                    Err(w) => Err(w.clone()),
                }
            });
            let ran = match (&shut, budget) {
                (Some(_), _) => Ok(()),
                (None, Some((minutes, patches, exclude))) => {
                    let turn = JobTurn {
                        id,
                        backend: backend.as_ref(),
                        cancel,
                        deadline,
                    };
                    let (r, run) = self.apply_in_batches(&turn, patches, exclude, minutes, started);
                    budgeted = Some(run);
                    r
                }
                (None, None) => {
                    let gate = held.then_some(&opening as &dyn StartGate);
                    self.mutate(id, &plan.action, backend.as_ref(), cancel, deadline, gate)
                }
            };
            phases.mark("tool");
            let saved = writer
                .join()
                .unwrap_or_else(|_| Err("saving the package selection panicked".into()));
            (ran, saved)
        });
        if held {
            // Opened by the tool's first command, or now for a mutation that started none.
            shut = opening.open_or_shut();
        }
        let ran = match shut {
            Some(Shut::NotAdmitted(not)) => return not.outcome(),
            Some(Shut::Save(e)) => Err(e),
            None => ran,
        };
        if let Err(w) = selection_saved {
            self.note(id, "warn", w);
        }
        if let (Ok(()), JobRequest::Rollback { original }) = (&ran, request) {
            for (level, m) in
                crate::jobs::rollback::restore_selection(&self.cache, original, backend.as_ref())
            {
                self.note(id, level, m);
            }
        }
        self.advance(id, P_CHANGES);
        if ran.is_err() {
            self.repair(id, backend.as_ref());
        }
        self.inventory.invalidate_upgrades();
        let after = match self.inventory.read_installed() {
            Ok(a) => versions(&a),
            Err(e) => {
                self.note(
                    id,
                    "error",
                    format!(
                        "cannot read the installed packages after the job: {e}; changes unknown"
                    ),
                );
                before.clone()
            }
        };
        phases.mark("after");
        let changes = diff(&before, &after);
        let mut result = JobResult::from_changes(&changes);
        result.not_restorable = plan.not_restorable;
        if let JobRequest::PatchApply {
            patches, policy, ..
        } = request
        {
            // Read once the tool is done, whatever its outcome: a failed transaction may
            // still have replaced some libraries.
            result.restart_needed = Some(crate::system::restart_needed::scan_host());
            result.excluded_packages = policy.select(patches).excluded_packages;
        }
        result.skipped_held = skipped_held;
        let budget_ends = budgeted.as_ref().map(|b| b.ends);
        // A budgeted run answers for the batches it started only.
        let attempted = budgeted.as_ref().map(|b| &b.attempted);
        result.budget = budgeted.as_ref().map(|b| b.report.clone());
        let mut outcome = match ran {
            Ok(()) => {
                result.success = true;
                Outcome {
                    status: JobStatus::Completed,
                    error: None,
                    changes,
                    result,
                    budget_ends: None,
                }
            }
            Err(e) => {
                result.packages_failed = plan
                    .wants
                    .iter()
                    .filter(|(n, _)| attempted.is_none_or(|a| a.contains(n)))
                    .filter(|(n, w)| {
                        !w.met(
                            before.get(n).map(String::as_str),
                            after.get(n).map(String::as_str),
                        )
                    })
                    .map(|(n, _)| n.clone())
                    .collect();
                self.classify(e, cancel, deadline, changes, result)
            }
        };
        outcome.budget_ends = budget_ends;
        phases.mark("result");
        log::debug!("job {id}: {}", phases.summary());
        outcome
    }

    /// A job's opening steps (`opening.rs`): its first record on disk, what a rollback
    /// needs saved, its progress at "saved".
    fn open_job(
        &self,
        id: &Uuid,
        plan: &Plan,
        before: &BTreeMap<String, String>,
        backend: &dyn PackageManager,
        cancel: &Cancel,
        deadline: Instant,
    ) -> Result<(), Shut> {
        self.admitted(id).map_err(Shut::NotAdmitted)?;
        self.save(id, plan, before, backend, cancel, deadline)
            .map_err(Shut::Save)?;
        self.advance(id, P_SAVED);
        Ok(())
    }

    /// The stamps of the package database's files now.
    pub(super) fn db_stamps(&self) -> DbStamps {
        crate::watch::stamps_of(&self.inventory.backend().database_paths())
    }

    /// Whether the job's submission checks must run again: they were deferred, or the
    /// database changed since they passed (or cannot be stamped).
    fn checks_stale(&self, id: &Uuid) -> bool {
        let checked = self.table().get_mut(id).and_then(|e| e.checked.take());
        match checked {
            Some(stamps) => {
                stamps.is_empty()
                    || stamps.iter().any(Option::is_none)
                    || stamps != self.db_stamps()
            }
            None => true,
        }
    }

    /// Maps a failure to the job's final status and error code.
    fn classify(
        &self,
        e: PkgError,
        cancel: &Cancel,
        deadline: Instant,
        changes: Vec<Change>,
        result: JobResult,
    ) -> Outcome {
        let (status, code, message) =
            if cancel.is_cancelled() || matches!(e, PkgError::Cancelled(_)) {
                (
                    JobStatus::Cancelled,
                    ErrorCode::JobCancelled.as_str(),
                    format!("cancelled by request ({e})"),
                )
            } else if Instant::now() >= deadline || matches!(e, PkgError::Timeout { .. }) {
                let secs = self.settings.timeout.as_secs();
                (
                    JobStatus::Timeout,
                    ErrorCode::JobTimeout.as_str(),
                    format!("the job did not finish within {secs} s and was stopped ({e})"),
                )
            } else {
                let code = match e {
                    PkgError::DependencyConflict(_) => ErrorCode::PkgDependencyError.as_str(),
                    PkgError::VersionConflict(_) => ErrorCode::PkgVersionConflict.as_str(),
                    PkgError::NotFound(_) => ErrorCode::PkgNotFound.as_str(),
                    PkgError::Untrusted(_) => ErrorCode::PkgUntrustedSource.as_str(),
                    PkgError::Held(_) => ErrorCode::PkgHeld.as_str(),
                    _ => ErrorCode::PkgManagerError.as_str(),
                };
                (JobStatus::Failed, code, e.to_string())
            };
        Outcome {
            status,
            error: Some(JobError::new(code, message)),
            changes,
            result,
            budget_ends: None,
        }
    }

    fn plan(
        &self,
        id: &Uuid,
        request: &JobRequest,
        backend: &dyn PackageManager,
    ) -> Result<Plan, Box<Outcome>> {
        let plan = match request {
            JobRequest::Install { packages, options } => Plan {
                wants: packages
                    .iter()
                    .map(|p| {
                        (
                            p.name.clone(),
                            p.version.clone().map_or(Want::Present, Want::Version),
                        )
                    })
                    .collect(),
                action: Action::Install(packages.clone(), *options),
                not_restorable: Vec::new(),
            },
            JobRequest::Update { package, options } => Plan {
                wants: vec![(
                    package.name.clone(),
                    package.version.clone().map_or(Want::Changed, Want::Version),
                )],
                action: Action::Install(vec![package.clone()], *options),
                not_restorable: Vec::new(),
            },
            JobRequest::Remove { name, options } => Plan {
                wants: vec![(name.clone(), Want::Absent)],
                action: Action::Remove(vec![name.clone()], *options),
                not_restorable: Vec::new(),
            },
            JobRequest::PatchApply {
                patches, exclude, ..
            } => Plan {
                wants: advisory_targets(patches, exclude)
                    .into_iter()
                    .map(|p| (p.name, Want::Changed))
                    .collect(),
                action: Action::Apply(patches.clone(), exclude.clone()),
                not_restorable: Vec::new(),
            },
            JobRequest::Rollback { original } => self.plan_rollback(id, original, backend)?,
            JobRequest::Reboot { .. } => {
                return Err(Box::new(Outcome::failed(
                    JobStatus::Failed,
                    JobError::new(
                        ErrorCode::InternalError.as_str(),
                        "a reboot job reached a package worker",
                    ),
                )))
            }
        };
        Ok(plan)
    }

    /// Runs the job's package change; `start`: the opening its first command opens, held at
    /// the tool's lock (only for a backend that [`PackageManager::starts_held`]).
    pub(super) fn mutate(
        &self,
        id: &Uuid,
        action: &Action,
        backend: &dyn PackageManager,
        cancel: &Cancel,
        deadline: Instant,
        start: Option<&dyn StartGate>,
    ) -> Result<(), PkgError> {
        if cancel.is_cancelled() {
            return Err(PkgError::Cancelled("the job".into()));
        }
        let timeout = self.remaining(deadline)?;
        let mut on_line = |s: Stream, l: &str| self.tool_line(id, s, l, P_TOOL_LINES_MAX);
        let mut exec = Exec {
            on_line: &mut on_line,
            cancel,
            timeout,
            grace: self.settings.cancel_grace,
            start,
        };
        match action {
            Action::Install(specs, options) => backend.install(specs, options, &mut exec),
            // An empty selection must not reach the tool: `dnf upgrade` without an
            // advisory means everything.
            Action::Apply(patches, exclude) if advisory_targets(patches, exclude).is_empty() => {
                self.note(id, "info", "no package to update: nothing applied");
                Ok(())
            }
            Action::Apply(patches, exclude) => {
                backend.apply_advisories(patches, exclude, &mut exec)
            }
            Action::Remove(names, options) => backend.remove(names, options, &mut exec),
            Action::Restore(steps) => backend.restore(steps, &mut exec),
        }
    }

    pub(super) fn remaining(&self, deadline: Instant) -> Result<Duration, PkgError> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(PkgError::Timeout {
                command: "the job".into(),
                after: self.settings.timeout,
            });
        }
        Ok(left)
    }

    /// Repairs what a stopped or failed transaction may have left, with its own deadline and
    /// no cancel: the database must not stay broken.
    pub(super) fn repair(&self, id: &Uuid, backend: &dyn PackageManager) {
        self.note(
            id,
            "info",
            "checking the package database after the failed transaction",
        );
        let cancel = Cancel::new();
        let mut on_line = |s: Stream, l: &str| self.tool_line(id, s, l, P_CHANGES);
        let mut exec = Exec {
            on_line: &mut on_line,
            cancel: &cancel,
            timeout: REPAIR_TIMEOUT,
            grace: self.settings.cancel_grace,
            start: None,
        };
        match backend.repair(&mut exec) {
            Ok(lines) if lines.is_empty() => {
                self.note(id, "info", "package database consistent; no repair needed")
            }
            Ok(lines) => {
                for l in lines {
                    self.note(id, "info", format!("repair: {l}"));
                }
            }
            Err(e) => self.note(id, "warn", format!("repair failed: {e}")),
        }
    }
}

fn versions(pkgs: &[InstalledPackage]) -> BTreeMap<String, String> {
    pkgs.iter()
        .map(|p| (p.name.clone(), p.version.clone()))
        .collect()
}

/// Every package whose installed version differs, in name order.
fn diff(before: &BTreeMap<String, String>, after: &BTreeMap<String, String>) -> Vec<Change> {
    let mut names: Vec<&String> = before.keys().chain(after.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter(|n| before.get(*n) != after.get(*n))
        .map(|n| Change {
            name: n.clone(),
            before: before.get(n).cloned(),
            after: after.get(n).cloned(),
        })
        .collect()
}
