//! pacman's dry run: the commands of the real change (`-U` of cache files, `-S` of
//! repository targets, `-R`) with `--print --print-format '%n %v %s'` before their targets,
//! which resolves the transaction, takes no lock and changes nothing. Each line is one
//! package of the transaction with its version and its download size (0 when the package
//! is already in the cache); the installed versions come from the local database.
//!
//! pacman refuses `--nosave` with `--print`, so a purge is simulated as the plain removal
//! (`--nosave` only decides what happens to modified backup files, never which packages go)
//! and its entries say `purge`. A refusal (unknown target, broken dependency) is the error
//! the real command gives, read by the same `interpret_change`.

use super::super::plan::{Change, Plan, PlanAction, PlanEntry};
use super::super::runner::Command;
use super::super::{Exec, InstallOptions, PkgError, RemoveOptions};
use super::outcome::{capture, interpret_change};
use super::rollback::lookup;
use super::Pacman;

/// What makes a changing command a print-only one.
const PRINT: [&str; 3] = ["--print", "--print-format", "%n %v %s"];

/// One line of `--print-format '%n %v %s'`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Printed {
    /// Package name.
    pub name: String,
    /// The version the transaction acts on (the new one, or the removed one).
    pub version: String,
    /// Bytes to download (0 when cached; for removals, pacman's size of the package).
    pub size: u64,
}

impl Pacman {
    /// What `change` would do, from pacman's own `--print`; changes nothing.
    pub(super) fn dry_run(&self, change: &Change, exec: &mut Exec<'_>) -> Result<Plan, PkgError> {
        let installed = self.installed_versions()?;
        let was = |n: &str| lookup(&installed, n).cloned();
        match change {
            Change::Remove(names, options) => {
                let plain = RemoveOptions {
                    purge: false,
                    ..*options
                };
                let printed = self.print(&self.remove_with(names, &plain, &PRINT), exec)?;
                let action = if options.purge {
                    PlanAction::Purge
                } else {
                    PlanAction::Remove
                };
                Ok(removal_plan(&printed, action, &was))
            }
            Change::Install(..) | Change::Apply(..) => {
                let (specs, options) = match change {
                    Change::Install(specs, options) => (specs.clone(), *options),
                    _ => (change.apply_targets(), InstallOptions::default()),
                };
                let install = self.install_plan(&specs, &options)?;
                let mut files = Vec::new();
                if !install.files.is_empty() {
                    let cmd = self.install_files_with(&install.files, options.force, &PRINT);
                    files = self.print(&cmd, exec)?;
                }
                let mut targets = Vec::new();
                if !install.targets.is_empty() {
                    let cmd = self.install_targets_with(&install.targets, options.force, &PRINT);
                    targets = self.print(&cmd, exec)?;
                }
                Ok(install_plan(&files, &targets, &was))
            }
        }
    }

    /// Runs one print-only command under the dry run's deadline and reads its lines.
    fn print(&self, cmd: &Command, exec: &mut Exec<'_>) -> Result<Vec<Printed>, PkgError> {
        let cmd = cmd.clone().timeout(exec.timeout).grace(exec.grace);
        let done = capture(&cmd)?;
        interpret_change(&cmd, &done)?;
        Ok(parse_print(&done.stdout))
    }
}

/// The lines of `--print-format '%n %v %s'`, skipping pacman's prose ("loading packages...",
/// ":: ..." notes).
pub fn parse_print(stdout: &str) -> Vec<Printed> {
    stdout
        .lines()
        .filter_map(|l| {
            let mut parts = l.split(' ');
            let (name, version, size) = (parts.next()?, parts.next()?, parts.next()?);
            if parts.next().is_some() || name.is_empty() || version.is_empty() {
                return None;
            }
            Some(Printed {
                name: name.to_string(),
                version: version.to_string(),
                size: size.parse().ok()?,
            })
        })
        .collect()
}

/// The plan of an install: `files` from `-U` (nothing to download), `targets` from `-S`
/// (their sizes are the download); `was` gives the installed version.
pub fn install_plan(
    files: &[Printed],
    targets: &[Printed],
    was: &dyn Fn(&str) -> Option<String>,
) -> Plan {
    let cmp = |a: &str, b: &str| crate::pkg::version::alpm(a, b);
    let entries = files
        .iter()
        .chain(targets)
        .filter_map(|p| {
            PlanEntry::between(&p.name, was(&p.name).as_deref(), Some(&p.version), &cmp)
        })
        .collect();
    Plan {
        entries,
        download_bytes: Some(targets.iter().map(|p| p.size).sum()),
        warnings: Vec::new(),
        skipped: Vec::new(),
    }
    .normalise()
}

/// The plan of a removal: every printed package goes (`action`: remove or purge).
pub fn removal_plan(
    printed: &[Printed],
    action: PlanAction,
    was: &dyn Fn(&str) -> Option<String>,
) -> Plan {
    let entries = printed
        .iter()
        .map(|p| PlanEntry {
            name: p.name.clone(),
            action,
            from_version: Some(was(&p.name).unwrap_or_else(|| p.version.clone())),
            to_version: None,
        })
        .collect();
    Plan {
        entries,
        download_bytes: None,
        ..Plan::default()
    }
    .normalise()
}

#[cfg(test)]
mod tests {
    use super::*;

    macro_rules! recorded {
        ($name:literal) => {
            include_str!(concat!(
                "../../../tests/data/pacman/dry-run-",
                $name,
                ".stdout"
            ))
        };
    }

    use crate::pkg::plan::PlanEntry;

    fn entry(name: &str, action: PlanAction, from: Option<&str>, to: Option<&str>) -> PlanEntry {
        PlanEntry::of(name, action, from, to)
    }

    fn installed<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |n| {
            pairs
                .iter()
                .find(|(p, _)| *p == n)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn recorded_install_pulls_in_its_dependency_with_download_sizes() {
        let printed = parse_print(recorded!("install-with-deps"));
        let plan = install_plan(&[], &printed, &installed(&[]));
        assert_eq!(
            plan.entries,
            [
                entry("lpa-hello", PlanAction::Install, None, Some("2.0-1")),
                entry("lpa-lib", PlanAction::Install, None, Some("1.1-1")),
            ]
        );
        assert_eq!(plan.download_bytes, Some(686 + 836));
    }

    #[test]
    fn recorded_upgrade_from_the_cache_downloads_nothing() {
        let printed = parse_print(recorded!("upgrade-and-up-to-date"));
        let was = installed(&[("lpa-hello", "1.0-1"), ("lpa-tool", "1.0-1")]);
        let plan = install_plan(&[], &printed, &was);
        assert_eq!(
            plan.entries,
            [entry(
                "lpa-hello",
                PlanAction::Upgrade,
                Some("1.0-1"),
                Some("2.0-1")
            )]
        );
        assert_eq!(plan.download_bytes, Some(0));
    }

    #[test]
    fn recorded_downgrade_from_a_file_skips_the_prose() {
        let printed = parse_print(recorded!("downgrade-file"));
        assert_eq!(printed.len(), 1, "{printed:?}");
        let plan = install_plan(&printed, &[], &installed(&[("lpa-lib", "1.1-1")]));
        assert_eq!(
            plan.entries,
            [entry(
                "lpa-lib",
                PlanAction::Downgrade,
                Some("1.1-1"),
                Some("1.0-1")
            )]
        );
        assert_eq!(plan.download_bytes, Some(0));
    }

    #[test]
    fn recorded_removals_and_purge() {
        let was = installed(&[("lpa-lib", "1.0-1"), ("lpa-tool", "1.0-1")]);
        let plan = removal_plan(
            &parse_print(recorded!("remove-nodeps")),
            PlanAction::Remove,
            &was,
        );
        assert_eq!(
            plan.entries,
            [entry("lpa-lib", PlanAction::Remove, Some("1.0-1"), None)]
        );
        assert_eq!(plan.download_bytes, None);
        let plan = removal_plan(&parse_print(recorded!("remove")), PlanAction::Purge, &was);
        assert_eq!(
            plan.entries,
            [entry("lpa-tool", PlanAction::Purge, Some("1.0-1"), None)]
        );
        // The dependency note is prose, not a package.
        assert!(parse_print(recorded!("remove-breaks")).is_empty());
    }

    #[test]
    fn recorded_refusals_are_the_real_errors() {
        let cmd = Command::new("pacman");
        let read = |name: &str, ext: &str| {
            std::fs::read_to_string(format!(
                "{}/tests/data/pacman/dry-run-{name}.{ext}",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap_or_default()
        };
        let done = |name: &str| crate::pkg::runner::Finished {
            code: read(name, "rc").trim().parse().ok(),
            stdout: read(name, "stdout"),
            stderr: read(name, "stderr"),
        };
        let e = interpret_change(&cmd, &done("install-nope")).unwrap_err();
        assert!(
            matches!(e, PkgError::NotFound(ref n) if n == "lpa-nope"),
            "{e}"
        );
        let e = interpret_change(&cmd, &done("remove-breaks")).unwrap_err();
        assert!(matches!(e, PkgError::DependencyConflict(_)), "{e}");
        // Why a purge is printed without --nosave.
        assert!(interpret_change(&cmd, &done("nosave-with-print")).is_err());
    }
}
