//! Planning package changes: which specs go to `install`, `upgrade` or `downgrade`, exact
//! `name-version` arguments, and restore steps split into names and exact installs.
//! Separate because it is pure decision logic, tested without dnf.

use std::path::PathBuf;

use crate::pkg::rpmdb;
use crate::pkg::{PackageSpec, RestoreStep};

/// What an install runs, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InstallPlan {
    /// `install` arguments: new packages and exact versions.
    pub install: Vec<String>,
    /// `upgrade` names: installed packages asked for without a version.
    pub upgrade: Vec<String>,
    /// `reinstall` arguments (`force`, exact version already installed).
    pub reinstall: Vec<String>,
    /// Names to reinstall (`force`) if the upgrade left them as they were.
    pub reinstall_if_unchanged: Vec<String>,
}

/// Splits a request into the dnf/yum verbs it needs, given the installed versions.
pub fn plan_install(
    installed: &std::collections::HashMap<String, String>,
    specs: &[PackageSpec],
    force: bool,
) -> InstallPlan {
    let mut plan = InstallPlan::default();
    for spec in specs {
        match (&spec.version, installed.get(&spec.name)) {
            (Some(v), Some(now)) if force && rpmdb::version_matches(now, v) => {
                plan.reinstall.push(spec_arg(spec));
            }
            (None, Some(_)) => {
                plan.upgrade.push(spec.name.clone());
                if force {
                    plan.reinstall_if_unchanged.push(spec.name.clone());
                }
            }
            _ => plan.install.push(spec_arg(spec)),
        }
    }
    plan
}

/// The exact `(name, version)` pairs of a request.
pub fn exact(specs: &[PackageSpec]) -> Vec<(String, String)> {
    specs
        .iter()
        .filter_map(|s| Some((s.name.clone(), s.version.clone()?)))
        .collect()
}

/// One rollback install: name, version, and the saved file to install it from.
pub type ExactInstall = (String, String, Option<PathBuf>);

/// Rollback steps as removals and `(name, version, file)` installs.
pub fn split_steps(steps: &[RestoreStep]) -> (Vec<String>, Vec<ExactInstall>) {
    let (mut removes, mut installs) = (Vec::new(), Vec::new());
    for step in steps {
        match step {
            RestoreStep::Remove { name } => removes.push(name.clone()),
            RestoreStep::Install {
                name,
                version,
                file,
            } => installs.push((name.clone(), version.clone(), file.clone())),
        }
    }
    (removes, installs)
}

/// How dnf/yum argument a package: `name` or `name-[E:]V-R` (dnf resolves the NEVR form).
pub fn spec_arg(spec: &PackageSpec) -> String {
    match &spec.version {
        Some(v) => format!("{}-{v}", spec.name),
        None => spec.name.clone(),
    }
}
