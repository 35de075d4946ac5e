//! Dry runs: a change request checked exactly as a submission checks it, then simulated by
//! the backend, with no job, no record and no lock of the engine's. Apart from admission
//! because nothing of it is queued or written.

use super::*;
use crate::pkg::plan::{Change, Plan};

/// Deadline of one simulation (bounded by the job deadline too): the tools resolve a
/// transaction in seconds; a longer wait is a stuck tool or lock.
const DRY_RUN_TIMEOUT: Duration = Duration::from_secs(120);

impl Engine {
    /// What `request` would do, from the package manager's own simulation, after the
    /// checks its submission makes (grammar, known names, available versions, downgrades);
    /// changes nothing and creates no job. Reboots and rollbacks have no dry run.
    pub fn dry_run(&self, request: &JobRequest) -> Result<Plan, EngineError> {
        let change = change_of(request)?;
        self.precheck(request)?;
        // An empty patch selection must not reach the tool (the job skips it too).
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
        };
        Ok(self.inventory.backend().simulate(&change, &mut exec)?)
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
            reboot: true,
            reboot_delay_seconds: 5,
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
