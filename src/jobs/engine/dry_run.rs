//! Dry runs: a change request checked exactly as a submission checks it, then simulated by
//! the backend, with no job, no record and no lock of the engine's. Apart from admission
//! because nothing of it is queued or written.

use super::*;
use crate::pkg::plan::{Change, Plan, Skipped};

/// The reason of a package a patch dry run leaves out because it is held.
pub const HELD: &str = "held";

/// Deadline of one simulation (bounded by the job deadline too): the tools resolve a
/// transaction in seconds; a longer wait is a stuck tool or lock.
const DRY_RUN_TIMEOUT: Duration = Duration::from_secs(120);

impl Engine {
    /// What `request` would do, from the package manager's own simulation, after the
    /// checks its submission makes (grammar, known names, available versions, downgrades);
    /// changes nothing and creates no job. Reboots and rollbacks have no dry run. A patch
    /// run's held packages are left out of the simulation and listed in `skipped` (reason
    /// `held`), as the job leaves them out and lists them in `skipped_held`.
    pub fn dry_run(&self, request: &JobRequest) -> Result<Plan, EngineError> {
        // Reboots and rollbacks are refused before any check runs.
        change_of(request)?;
        // Refuses an explicit change of a held package, as the submission does.
        self.precheck(request)?;
        let (adjusted, held) = self.held_exclusions(request)?;
        let change = change_of(adjusted.as_ref().unwrap_or(request))?;
        let mut plan = self.simulate(&change)?;
        // First, so that the tool's own reason for the same name (a kept-back line) gives way.
        let mut skipped: Vec<Skipped> = held
            .into_iter()
            .map(|name| Skipped {
                name,
                reason: HELD.to_string(),
            })
            .collect();
        skipped.append(&mut plan.skipped);
        plan.skipped = skipped;
        Ok(plan.normalise())
    }

    /// The backend's simulation of `change`; nothing for a patch selection left empty (the
    /// job does not run the tool either).
    fn simulate(&self, change: &Change) -> Result<Plan, EngineError> {
        if matches!(change, Change::Apply(..)) && change.apply_targets().is_empty() {
            return Ok(Plan::default());
        }
        let cancel = Cancel::new();
        let mut quiet = |_: Stream, _: &str| {};
        let mut exec = Exec {
            on_line: &mut quiet,
            cancel: &cancel,
            timeout: DRY_RUN_TIMEOUT.min(self.settings.timeout),
            grace: self.settings.cancel_grace,
            start: None,
        };
        Ok(self.inventory.backend().simulate(change, &mut exec)?)
    }
}

/// The change a request makes, as the job's plan builds it (`transaction.rs`).
fn change_of(request: &JobRequest) -> Result<Change, EngineError> {
    Ok(match request {
        JobRequest::Install { packages, options } => Change::Install(packages.clone(), *options),
        JobRequest::Update { package, options } => Change::Install(vec![package.clone()], *options),
        JobRequest::Remove { name, options } => Change::Remove(vec![name.clone()], *options),
        JobRequest::PatchApply {
            patches, exclude, ..
        } => Change::Apply(patches.clone(), exclude.clone()),
        JobRequest::Reboot { .. } | JobRequest::Rollback { .. } => {
            return Err(EngineError::Pkg(PkgError::Unsupported(
                "reboots and rollbacks have no dry run".into(),
            )))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_request_becomes_the_change_its_job_makes() {
        let spec = PackageSpec {
            name: "a".into(),
            version: Some("1".into()),
        };
        let options = InstallOptions {
            allow_downgrade: true,
            ..InstallOptions::default()
        };
        let update = JobRequest::Update {
            package: spec.clone(),
            options,
        };
        assert_eq!(
            change_of(&update).unwrap(),
            Change::Install(vec![spec], options)
        );
        let remove = JobRequest::Remove {
            name: "a".into(),
            options: RemoveOptions {
                purge: true,
                force: false,
            },
        };
        let Change::Remove(names, o) = change_of(&remove).unwrap() else {
            panic!("not a removal")
        };
        assert_eq!((names, o.purge), (vec!["a".to_string()], true));
        let apply = JobRequest::PatchApply {
            patches: Vec::new(),
            exclude: vec!["b".into()],
            reboot: crate::pkg::policy::RebootSetting::IfRequired,
            reboot_delay_seconds: 5,
            policy: Default::default(),
            max_duration_minutes: None,
        };
        assert_eq!(
            change_of(&apply).unwrap(),
            Change::Apply(Vec::new(), vec!["b".into()])
        );
        let reboot = JobRequest::Reboot {
            scheduled_at: OffsetDateTime::UNIX_EPOCH,
            force: false,
            reason: None,
        };
        assert!(matches!(
            change_of(&reboot),
            Err(EngineError::Pkg(PkgError::Unsupported(_)))
        ));
    }
}
