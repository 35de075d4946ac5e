//! Planning package changes: which specs go to `install`, `upgrade` or `downgrade`, exact
//! `name-version` arguments, and restore steps split into names and exact installs.
//! Separate because it is pure decision logic, tested without dnf.

use std::path::PathBuf;

use crate::pkg::rpm::rpmdb;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pkg::dnf::tests::spec;
    use std::collections::HashMap;

    #[test]
    fn install_plan() {
        let installed = HashMap::from([
            ("lpa-hello".to_string(), "1.0-1".to_string()),
            ("lpa-lib".to_string(), "1.0-1".to_string()),
        ]);
        let specs = [
            spec("lpa-hello", Some("1.0-1")),
            spec("lpa-lib", None),
            spec("lpa-tool", None),
            spec("lpa-x", Some("1:2-3")),
        ];
        assert_eq!(
            plan_install(&installed, &specs, false),
            InstallPlan {
                install: vec![
                    "lpa-hello-1.0-1".into(),
                    "lpa-tool".into(),
                    "lpa-x-1:2-3".into()
                ],
                upgrade: vec!["lpa-lib".into()],
                reinstall: vec![],
                reinstall_if_unchanged: vec![],
            }
        );
        assert_eq!(
            plan_install(&installed, &specs, true),
            InstallPlan {
                install: vec!["lpa-tool".into(), "lpa-x-1:2-3".into()],
                upgrade: vec!["lpa-lib".into()],
                reinstall: vec!["lpa-hello-1.0-1".into()],
                reinstall_if_unchanged: vec!["lpa-lib".into()],
            }
        );
        assert_eq!(
            exact(&specs),
            [
                ("lpa-hello".to_string(), "1.0-1".to_string()),
                ("lpa-x".to_string(), "1:2-3".to_string())
            ]
        );
    }

    #[test]
    fn restore_steps_split() {
        let steps = [
            RestoreStep::Remove { name: "a".into() },
            RestoreStep::Install {
                name: "b".into(),
                version: "1-1".into(),
                file: Some(PathBuf::from("/r/b-1-1.noarch.rpm")),
            },
        ];
        let (removes, installs) = split_steps(&steps);
        assert_eq!(removes, ["a"]);
        assert_eq!(
            installs,
            [(
                "b".to_string(),
                "1-1".to_string(),
                Some(PathBuf::from("/r/b-1-1.noarch.rpm"))
            )]
        );
    }
}
