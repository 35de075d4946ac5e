//! apt's dry run: `apt-get -s` with the arguments of the real change (`mutate::install_args`,
//! `mutate::remove_args`), after the same refusals the real change makes first, and its
//! `Inst`/`Remv`/`Purg` lines read as a [`Plan`].
//!
//! What apt prints around them (apt 2.6, recorded in `tests/data/apt/dry-run-*`): the
//! "kept back" list becomes `skipped`; "Need to get" the download size (apt prints none for
//! the `file:` repositories of the tests, whose packages it reads in place); `W:` lines
//! warnings. A refusal (`E:` lines, exit 100) is the error the real change would end with.

use std::time::Duration;

use super::super::plan::{parse_size, Change, Plan, PlanAction, PlanEntry, Skipped};
use super::super::{Exec, PkgError};
use super::sim::{parse_simulation, SimAction, SimPackage};
use super::{mutate, run_quiet, Apt};

impl Apt {
    /// What `change` would do, from apt-get's own simulation; changes nothing.
    pub(super) fn dry_run(&self, change: &Change, exec: &mut Exec<'_>) -> Result<Plan, PkgError> {
        let args = match change {
            Change::Install(specs, options) => {
                self.refuse_unknown(specs.iter().map(|s| s.name.as_str()), exec)?;
                mutate::install_args(specs, options)
            }
            Change::Apply(..) => {
                let specs = change.apply_targets();
                if specs.is_empty() {
                    return Ok(Plan::default());
                }
                mutate::install_args(&specs, &Default::default())
            }
            Change::Remove(names, options) => {
                let absent = self.not_removable(names, options.purge)?;
                if !absent.is_empty() {
                    return Err(PkgError::NotFound(absent.join(", ")));
                }
                if !options.force {
                    self.refuse_dependents(names, options.purge, exec)?;
                }
                mutate::remove_args(names, options.purge, false)
            }
        };
        let mut full: Vec<&str> = mutate::SIMULATE.to_vec();
        full.extend(args.iter().map(String::as_str));
        let cmd = self.apt_get(&full)?;
        let fin = run_quiet(cmd.clone(), exec)?;
        mutate::classify(&cmd.display(), &fin, Duration::ZERO)?;
        Ok(parse_plan(&fin.stdout, &fin.stderr))
    }

    /// The real install refuses names apt would read as patterns unless apt knows them
    /// exactly (see `Apt::unknown_names`); so does its dry run.
    fn refuse_unknown<'a>(
        &self,
        names: impl Iterator<Item = &'a str>,
        exec: &mut Exec<'_>,
    ) -> Result<(), PkgError> {
        let risky: Vec<&str> = names.filter(|n| mutate::pattern_like(n)).collect();
        if risky.is_empty() {
            return Ok(());
        }
        let unknown = self.unknown_names(&risky, exec)?;
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(PkgError::NotFound(unknown.join(", ")))
        }
    }
}

/// Reads a simulation's output (`Remv` for a removal, `Purg` for a purge) as a plan.
pub fn parse_plan(stdout: &str, stderr: &str) -> Plan {
    let entries = parse_simulation(stdout)
        .iter()
        .filter_map(entry_of)
        .collect();
    Plan {
        entries,
        download_bytes: download_bytes(stdout),
        warnings: stderr
            .lines()
            .filter_map(|l| l.strip_prefix("W: "))
            .map(|w| w.trim().to_string())
            .collect(),
        skipped: kept_back(stdout),
    }
    .normalise()
}

fn entry_of(action: &SimAction) -> Option<PlanEntry> {
    let (p, action) = match action {
        SimAction::Inst(p) => (p, install_action(p)),
        SimAction::Remv(p) => (p, PlanAction::Remove),
        SimAction::Purg(p) => (p, PlanAction::Purge),
        SimAction::Conf(_) => return None,
    };
    Some(PlanEntry {
        name: p.name.clone(),
        action,
        from_version: p.old.clone(),
        to_version: match action {
            PlanAction::Remove | PlanAction::Purge => None,
            _ => p.new.clone(),
        },
    })
}

fn install_action(p: &SimPackage) -> PlanAction {
    let (Some(old), Some(new)) = (&p.old, &p.new) else {
        return PlanAction::Install;
    };
    match crate::pkg::version::dpkg(new, old) {
        std::cmp::Ordering::Less => PlanAction::Downgrade,
        _ => PlanAction::Upgrade,
    }
}

/// "Need to get 1,234 kB of archives." or "Need to get 0 B/1,234 kB of archives." (the part
/// before the slash is what is still to fetch).
fn download_bytes(stdout: &str) -> Option<u64> {
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("Need to get "))?;
    let amount = line.split(" of archives").next()?;
    parse_size(amount.split('/').next()?)
}

/// The packages listed under "The following packages have been kept back:".
fn kept_back(stdout: &str) -> Vec<Skipped> {
    super::mutate::listed_after(stdout, "The following packages have been kept back:")
        .into_iter()
        .map(|name| Skipped {
            name,
            reason: "kept back by apt (its dependencies cannot be met without removals or new installs it would not make)".into(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pkg::runner::Finished;

    const DATA: &str = "../../../tests/data/apt/";

    macro_rules! recorded {
        ($name:literal) => {
            include_str!(concat!(
                "../../../tests/data/apt/dry-run-",
                $name,
                ".stdout"
            ))
        };
    }

    use crate::pkg::plan::PlanEntry;

    fn entry(name: &str, action: PlanAction, from: Option<&str>, to: Option<&str>) -> PlanEntry {
        PlanEntry::of(name, action, from, to)
    }

    #[test]
    fn recorded_install_pulls_in_its_dependency() {
        let plan = parse_plan(recorded!("install-with-deps"), "");
        assert_eq!(
            plan.entries,
            [
                entry("lpa-hello", PlanAction::Install, None, Some("2.0-1")),
                entry("lpa-lib", PlanAction::Install, None, Some("1.1-1")),
            ]
        );
        // file: repositories: apt reads the packages in place and prints no "Need to get".
        assert_eq!(plan.download_bytes, None);
        assert!(plan.warnings.is_empty() && plan.skipped.is_empty());
    }

    #[test]
    fn recorded_upgrade_patch_apply_and_downgrade() {
        let plan = parse_plan(recorded!("upgrade"), "");
        assert_eq!(
            plan.entries,
            [entry(
                "lpa-hello",
                PlanAction::Upgrade,
                Some("1.0-1"),
                Some("2.0-1")
            )]
        );
        let plan = parse_plan(recorded!("patch-apply"), "");
        assert_eq!(
            plan.entries,
            [
                entry(
                    "lpa-hello",
                    PlanAction::Upgrade,
                    Some("1.0-1"),
                    Some("2.0-1")
                ),
                entry("lpa-lib", PlanAction::Upgrade, Some("1.0-1"), Some("1.1-1")),
            ]
        );
        let plan = parse_plan(recorded!("downgrade"), "");
        assert_eq!(
            plan.entries,
            [entry(
                "lpa-lib",
                PlanAction::Downgrade,
                Some("1.1-1"),
                Some("1.0-1")
            )]
        );
    }

    #[test]
    fn recorded_removal_takes_its_dependents_and_purge_says_so() {
        let plan = parse_plan(recorded!("remove-with-dependents"), "");
        assert_eq!(
            plan.entries,
            [
                entry("lpa-hello", PlanAction::Remove, Some("1.0-1"), None),
                entry("lpa-lib", PlanAction::Remove, Some("1.0-1"), None),
            ]
        );
        let plan = parse_plan(recorded!("purge"), "");
        assert_eq!(
            plan.entries,
            [entry("lpa-tool", PlanAction::Purge, Some("1.0-1"), None)]
        );
    }

    #[test]
    fn recorded_refused_downgrade_is_the_real_error() {
        let read = |ext: &str| {
            std::fs::read_to_string(format!(
                "{}/src/pkg/apt/{DATA}dry-run-downgrade-refused.{ext}",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap()
        };
        let fin = Finished {
            code: read("rc").trim().parse().ok(),
            stdout: read("stdout"),
            stderr: read("stderr"),
        };
        let e = mutate::classify("apt-get -s", &fin, Duration::ZERO).unwrap_err();
        assert!(matches!(e, PkgError::VersionConflict(_)), "{e}");
    }

    #[test]
    fn need_to_get_kept_back_and_warnings() {
        // apt's own wording (apt-private-install.cc, apt-private-upgrade.cc); the fixture
        // repositories are file: ones, for which apt prints no download size.
        let out = "The following packages have been kept back:\n  libfoo libbar\n\
                   Need to get 0 B/1,234 kB of archives.\nInst x [1] (2 A:b [all])\n";
        let plan = parse_plan(out, "W: Some index files failed to download.\n");
        assert_eq!(plan.download_bytes, Some(0));
        let names: Vec<&str> = plan.skipped.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["libbar", "libfoo"]);
        assert_eq!(plan.warnings, ["Some index files failed to download."]);
        let plan = parse_plan("Need to get 1,234 kB of archives.\n", "");
        assert_eq!(plan.download_bytes, Some(1_234_000));
    }
}
