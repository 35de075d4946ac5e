//! Reboot jobs, once due (`reboot_slot.rs` waits): take the package transaction unless
//! forced, then run the configured reboot command.

use super::*;
use crate::error_code::ErrorCode;
use crate::pkg::advisories::Advisory;
use crate::pkg::policy::RebootSetting;
use crate::pkg::runner::{self, Command, RunError};
use crate::timefmt::rfc3339;

/// Deadline of the reboot command itself (`systemctl reboot` returns once it is queued).
const REBOOT_COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

impl Engine {
    /// The life of a reboot job once due, on the reboot timer's thread (`reboot_slot.rs`).
    pub(super) fn run_reboot(&self, id: &Uuid) {
        let Some(JobRequest::Reboot { force, .. }) = self.meta(id).map(|j| j.request) else {
            return;
        };
        let Some((_, cancel)) = self.begin(id) else {
            return;
        };
        let outcome = self.reboot(id, force, &cancel);
        self.conclude(id, outcome);
        self.apply_retention();
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
            let on_wait = |holder: Uuid| self.note(id, "info", worker::waiting_note(holder));
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
                budget_ends: None,
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

    /// After a patch job: the delay of the reboot it asked for, when the patches were
    /// applied and either the setting is `always` or it is `if_required` and a patch or
    /// the host needs one.
    pub(super) fn reboot_after_patches(
        &self,
        id: &Uuid,
        request: &JobRequest,
        outcome: &Outcome,
    ) -> Option<Duration> {
        let JobRequest::PatchApply {
            patches,
            exclude,
            reboot,
            reboot_delay_seconds,
            ..
        } = request
        else {
            return None;
        };
        if *reboot == RebootSetting::Never {
            self.note(id, "info", "no reboot: the reboot setting is never");
            return None;
        }
        if outcome.status != JobStatus::Completed {
            self.note(id, "info", "no reboot: the patches were not applied");
            return None;
        }
        if *reboot == RebootSetting::Always {
            self.note(
                id,
                "info",
                "reboot asked for after every run (reboot: always)",
            );
            return Some(Duration::from_secs(*reboot_delay_seconds));
        }
        // A budgeted job that stopped early asks only for what it applied.
        let budget = outcome.result.budget.as_ref();
        let flagged: Vec<&str> = reboot_flags(patches, exclude, &outcome.result.skipped_held)
            .into_iter()
            .filter(|id| budget.is_none_or(|b| b.applied.iter().any(|a| a == id)))
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

    /// Schedules the reboot a patch job asked for (or joins the one already pending) and
    /// records its id on the patch job.
    pub(super) fn schedule_follow_up_reboot(&self, id: &Uuid, delay: Duration) {
        let at = now() + delay;
        match self.follow_up_reboot(at, format!("requested by patch job {id}")) {
            Ok((job, new)) => self.change(id, |j| {
                j.follow_up = Some(job.id);
                let when = match &job.request {
                    JobRequest::Reboot { scheduled_at, .. } => rfc3339(*scheduled_at),
                    _ => rfc3339(at),
                };
                let how = if new { "scheduled" } else { "already pending" };
                j.note("info", format!("reboot job {} {how} at {when}", job.id));
            }),
            Err(e) => self.note(id, "error", format!("cannot schedule the reboot: {e}")),
        }
    }
}

/// The ids of the patches that ask for a reboot and had a package the run was told to
/// change: a patch whose every package was excluded or skipped as held was not applied, so
/// its flag does not count.
fn reboot_flags<'a>(patches: &'a [Advisory], exclude: &[String], held: &[String]) -> Vec<&'a str> {
    patches
        .iter()
        .filter(|p| p.requires_reboot)
        .filter(|p| {
            p.packages
                .iter()
                .any(|pkg| !exclude.contains(&pkg.name) && !held.contains(&pkg.name))
        })
        .map(|p| p.id.as_str())
        .collect()
}

fn reboot_failed(message: String) -> Outcome {
    Outcome::failed(
        JobStatus::Failed,
        JobError::new(ErrorCode::SystemRebootError.as_str(), message),
    )
}

fn cancelled(when: &str) -> Outcome {
    Outcome::failed(
        JobStatus::Cancelled,
        JobError::new(
            ErrorCode::JobCancelled.as_str(),
            format!("cancelled {when}"),
        ),
    )
}
