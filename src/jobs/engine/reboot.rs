//! Reboot jobs: wait out the delay (cancellable while pending), take the package
//! transaction unless forced, then run the configured reboot command.

use super::*;
use crate::pkg::runner::{self, Command, RunError};
use crate::timefmt::rfc3339;

/// Deadline of the reboot command itself (`systemctl reboot` returns once it is queued).
const REBOOT_COMMAND_TIMEOUT: Duration = Duration::from_secs(120);
/// Longest single wait before the due time is checked again (the wall clock may jump).
const DUE_POLL: Duration = Duration::from_secs(1);

impl Engine {
    /// The life of a reboot job, on its own thread.
    pub(super) fn run_reboot(&self, id: &Uuid) {
        let Some(JobRequest::Reboot {
            scheduled_at,
            force,
            ..
        }) = self.meta(id).map(|j| j.request)
        else {
            return;
        };
        if !self.wait_until_due(id, scheduled_at) {
            return;
        }
        let Some((_, cancel)) = self.begin(id) else {
            return;
        };
        let outcome = self.reboot(id, force, &cancel);
        self.conclude(id, outcome);
        self.apply_retention();
    }

    /// Waits until `at` while the job stays pending; false when it was cancelled, deleted
    /// or the engine stops first.
    fn wait_until_due(&self, id: &Uuid, at: OffsetDateTime) -> bool {
        let mut table = self.table();
        loop {
            let pending = table
                .get(id)
                .is_some_and(|e| e.job.status == JobStatus::Pending);
            if !pending || !self.accepting.load(Ordering::SeqCst) {
                return false;
            }
            let left = at - now();
            if left <= time::Duration::ZERO {
                return true;
            }
            let wait = Duration::try_from(left).map_or(DUE_POLL, |d| d.min(DUE_POLL));
            table = self
                .changed
                .wait_timeout(table, wait)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Never in the middle of a package transaction unless forced.
    fn reboot(&self, id: &Uuid, force: bool, cancel: &Cancel) -> Outcome {
        let _guard = if force {
            let active = self.active_package_jobs();
            if !active.is_empty() {
                let ids: Vec<String> = active.iter().map(Uuid::to_string).collect();
                self.note(
                    id,
                    "warn",
                    format!(
                        "forced: rebooting while package job(s) {} are pending or running",
                        ids.join(", ")
                    ),
                );
            }
            None
        } else {
            let on_wait = |holder: Uuid| {
                self.note(
                    id,
                    "info",
                    format!("waiting for job {holder} to finish its package transaction"),
                );
            };
            let my_turn = || self.my_turn(id);
            match self
                .txn
                .acquire(*id, cancel, &self.accepting, &on_wait, &my_turn)
            {
                Ok(g) => Some(g),
                Err(NotStarted::Cancelled) => return cancelled("while waiting for a package job"),
                Err(NotStarted::ShuttingDown) => {
                    return Outcome::failed(
                        JobStatus::Failed,
                        JobError::new(AGENT_RESTARTED, "not started: the agent is shutting down"),
                    )
                }
            }
        };
        self.run_reboot_command(id, cancel)
    }

    fn run_reboot_command(&self, id: &Uuid, cancel: &Cancel) -> Outcome {
        let Some((program, args)) = self.settings.reboot_command.split_first() else {
            return reboot_failed("no reboot command is configured".into());
        };
        let cmd = Command::new(program)
            .args(args)
            .timeout(REBOOT_COMMAND_TIMEOUT)
            .grace(self.settings.cancel_grace);
        self.note(
            id,
            "info",
            format!("running the reboot command: {}", cmd.display()),
        );
        let mut on_line = |s: Stream, l: &str| self.tool_line(id, s, l, P_TOOL_LINES_MAX);
        match runner::run_cancellable(&cmd, &mut on_line, cancel) {
            Ok(f) if f.code == Some(0) => Outcome {
                status: JobStatus::Completed,
                error: None,
                changes: Vec::new(),
                result: JobResult {
                    success: true,
                    ..JobResult::default()
                },
            },
            Ok(f) => {
                let how = f.code.map_or("was killed by a signal".to_string(), |c| {
                    format!("failed with exit code {c}")
                });
                let tail: Vec<&str> = f.stderr.lines().rev().take(5).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                reboot_failed(format!("{} {how}: {}", cmd.display(), tail.join("\n")))
            }
            Err(RunError::Cancelled { .. }) => cancelled("while the reboot command ran"),
            Err(e) => reboot_failed(format!("{}: {e}", cmd.display())),
        }
    }

    /// After a patch job: the delay of the reboot it asked for, when a patch or the host
    /// needs one and the patches were applied.
    pub(super) fn reboot_after_patches(
        &self,
        id: &Uuid,
        request: &JobRequest,
        outcome: &Outcome,
    ) -> Option<Duration> {
        let JobRequest::PatchApply {
            patches,
            reboot: true,
            reboot_delay_seconds,
            ..
        } = request
        else {
            return None;
        };
        if outcome.status != JobStatus::Completed {
            self.note(id, "info", "no reboot: the patches were not applied");
            return None;
        }
        let flagged: Vec<&str> = patches
            .iter()
            .filter(|p| p.requires_reboot)
            .map(|p| p.id.as_str())
            .collect();
        let host = match self.inventory.backend().reboot_required() {
            Ok(r) => r,
            Err(e) => {
                self.note(
                    id,
                    "warn",
                    format!("cannot tell whether the host needs a reboot: {e}"),
                );
                crate::pkg::advisories::RebootRequired::default()
            }
        };
        if flagged.is_empty() && !host.required {
            self.note(
                id,
                "info",
                format!("no reboot needed ({}); none scheduled", host.reason),
            );
            return None;
        }
        let why = if flagged.is_empty() {
            host.reason
        } else {
            format!("patches {} ask for a reboot", flagged.join(", "))
        };
        self.note(id, "info", format!("reboot needed: {why}"));
        Some(Duration::from_secs(*reboot_delay_seconds))
    }

    /// Schedules the reboot a patch job asked for and records its id on the patch job.
    pub(super) fn schedule_follow_up_reboot(&self, id: &Uuid, delay: Duration) {
        let at = now() + delay;
        let request = JobRequest::Reboot {
            scheduled_at: at,
            force: false,
            reason: Some(format!("requested by patch job {id}")),
        };
        match self.schedule(Job::new(Uuid::new_v4(), request, now())) {
            Ok(job) => self.change(id, |j| {
                j.follow_up = Some(job.id);
                j.note(
                    "info",
                    format!("reboot job {} scheduled at {}", job.id, rfc3339(at)),
                );
            }),
            Err(e) => self.note(id, "error", format!("cannot schedule the reboot: {e}")),
        }
    }
}

fn reboot_failed(message: String) -> Outcome {
    Outcome::failed(
        JobStatus::Failed,
        JobError::new("SYSTEM_REBOOT_ERROR", message),
    )
}

fn cancelled(when: &str) -> Outcome {
    Outcome::failed(
        JobStatus::Cancelled,
        JobError::new("JOB_CANCELLED", format!("cancelled {when}")),
    )
}
