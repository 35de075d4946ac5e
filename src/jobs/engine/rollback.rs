//! The engine's side of rollbacks: queueing a rollback job, planning what it restores, and
//! saving the packages a later rollback needs before a job changes them. The rollback data
//! itself (cache, restore steps) lives in `jobs/rollback.rs`.

use super::transaction::{Action, Plan, Want, P_SAVE_LINES_MAX};
use super::*;
use crate::error_code::ErrorCode;

impl Engine {
    /// Queues a job returning every package `id` changed to its state before it.
    pub fn rollback(&self, id: &Uuid) -> Result<Job, EngineError> {
        self.check_accepting()?;
        let original = self.meta(id).ok_or(EngineError::NotFound(*id))?;
        if !original.status.is_terminal() {
            return Err(EngineError::NotRollbackable(format!(
                "job {id} is still {}; only a finished job can be rolled back",
                original.status.as_str()
            )));
        }
        if original.changes.is_empty() {
            return Err(EngineError::NotRollbackable(format!(
                "job {id} changed no package; there is nothing to roll back"
            )));
        }
        let mut job = Job::new(
            Uuid::new_v4(),
            JobRequest::Rollback { original: *id },
            now(),
        );
        job.original_job_id = Some(*id);
        job.packages = original.changes.iter().map(|c| c.name.clone()).collect();
        self.admit(job, None)
    }

    pub(super) fn plan_rollback(
        &self,
        id: &Uuid,
        original: &Uuid,
        backend: &dyn PackageManager,
    ) -> Result<Plan, Box<Outcome>> {
        let Some(orig) = self.meta(original) else {
            return Err(Box::new(Outcome::failed(
                JobStatus::Failed,
                JobError::new(
                    ErrorCode::JobNotFound.as_str(),
                    format!("job {original} no longer exists; nothing to roll back"),
                ),
            )));
        };
        let (steps, not) = check_restorable(steps_from(&orig), backend);
        for n in &not {
            self.note(
                id,
                "warn",
                format!("cannot restore {} {}: {}", n.name, n.version, n.reason),
            );
        }
        if steps.is_empty() {
            let why: Vec<String> = not
                .iter()
                .map(|n| format!("{} {}: {}", n.name, n.version, n.reason))
                .collect();
            let mut o = Outcome::failed(
                JobStatus::Failed,
                JobError::new(
                    ErrorCode::PkgVersionConflict.as_str(),
                    format!("nothing can be restored: {}", why.join("; ")),
                ),
            );
            o.result.not_restorable = not;
            return Err(Box::new(o));
        }
        let wants = targets(&steps)
            .into_iter()
            .map(|(n, v)| (n, v.map_or(Want::Absent, Want::Version)))
            .collect();
        Ok(Plan {
            action: Action::Restore(steps),
            wants,
            not_restorable: not,
        })
    }

    /// Saves what a rollback of this job needs; only a cancel or the deadline stops the job
    /// here, anything else is logged and the job goes on.
    pub(super) fn save(
        &self,
        id: &Uuid,
        plan: &Plan,
        before: &BTreeMap<String, String>,
        backend: &dyn PackageManager,
        cancel: &Cancel,
        deadline: Instant,
    ) -> Result<(), PkgError> {
        let pairs: Vec<(String, String)> = plan
            .wants
            .iter()
            .filter_map(|(n, _)| before.get(n).map(|v| (n.clone(), v.clone())))
            .collect();
        if pairs.is_empty() {
            return Ok(());
        }
        let dir = match self.cache.prepare(id) {
            Ok(d) => d,
            Err(e) => {
                self.note(
                    id,
                    "warn",
                    format!("cannot create the rollback cache: {e}; nothing saved for a rollback"),
                );
                return Ok(());
            }
        };
        let timeout = self.remaining(deadline)?;
        let mut on_line = |s: Stream, l: &str| self.tool_line(id, s, l, P_SAVE_LINES_MAX);
        let mut exec = Exec {
            on_line: &mut on_line,
            cancel,
            timeout,
            grace: self.settings.cancel_grace,
            start: None,
        };
        match backend.save_for_rollback(&pairs, &dir, &mut exec) {
            Ok(saved) => {
                for (n, v) in &pairs {
                    if !saved.iter().any(|s| &s.name == n && &s.version == v) {
                        self.note(id, "warn", format!("could not save {n} {v} for a rollback; a rollback of this job cannot restore it"));
                    }
                }
                self.change(id, |j| j.saved = saved);
            }
            Err(e) if cancel.is_cancelled() || Instant::now() >= deadline => return Err(e),
            Err(e) => self.note(
                id,
                "warn",
                format!(
                    "saving packages for a rollback failed: {e}; a rollback may not restore them"
                ),
            ),
        }
        for (gone, bytes) in self.cache.evict(id) {
            self.note(id, "info", format!(
                "rollback cache: evicted the packages saved by job {gone} ({bytes} bytes) to stay within {} bytes",
                self.settings.rollback_cache_max_bytes
            ));
        }
        Ok(())
    }
}
