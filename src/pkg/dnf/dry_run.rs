//! dnf's dry run: the change commands of the real change (`install`, `upgrade`,
//! `reinstall`, `remove`, `upgrade --advisory=...`, built by the same `Dnf::change_with` /
//! `advisory_upgrade_with`) with `--assumeno`, after the same refusals the real change makes
//! first. dnf resolves the transaction, prints its table and answers no: exit 1 with
//! "Operation aborted." is the expected end; "Nothing to do." exits 0 with no table.
//!
//! The table (dnf 4.14, recorded in `tests/data/dnf/dry-run-*`): a section header per kind
//! (`Installing:`, `Installing dependencies:`, `Upgrading:`, `Downgrading:`, `Reinstalling:`,
//! `Removing:`, `Removing dependent packages:`, `Removing unused dependencies:`, `Skipping
//! packages with conflicts:`, ...) then one line per package, ` NAME ARCH VERSION REPO SIZE`
//! (a long name alone on its line, the rest on the next). "Total download size: 13 k" is the
//! download; dnf prints "Total size" instead when it downloads nothing it would count (the
//! `file:` repository of the tests), and then the size is left null.

use std::collections::HashMap;

use super::super::advisories::Advisory;
use super::super::plan::{parse_size, Change, Plan, PlanAction, PlanEntry, Skipped};
use super::super::rpm::rpmdb;
use super::super::runner::Command;
use super::super::{
    advisory_targets, validate, Exec, InstallOptions, PackageManager, PackageSpec, PkgError,
};
use super::mutate::plan_install;
use super::Dnf;

/// What makes a change command a dry run.
const ASSUMENO: [&str; 1] = ["--assumeno"];

/// One package line of a transaction table, with the section it is in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableRow {
    /// The section header, without its colon (`Installing dependencies`).
    pub section: String,
    /// Package name.
    pub name: String,
    /// The version column (epoch included where set).
    pub version: String,
}

impl Dnf {
    /// What `change` would do, from dnf's own resolution; changes nothing.
    pub(super) fn dry_run(&self, change: &Change, exec: &mut Exec<'_>) -> Result<Plan, PkgError> {
        let before = rpmdb::installed_versions(&self.installed()?);
        let mut out = Output::default();
        match change {
            Change::Install(specs, options) => {
                self.simulate_install(specs, options, &before, exec, &mut out)?
            }
            Change::Remove(names, options) => {
                for n in names {
                    validate::name(self.kind, n)?;
                }
                rpmdb::check_removal(&self.settings, names, options.force)?;
                let cmd = self.change_with("remove", names, false, &ASSUMENO);
                out.add(self.assume_no(&cmd, &[], exec)?);
                out.purge = options.purge;
            }
            Change::Apply(selected, exclude) => {
                self.simulate_apply(selected, exclude, &before, exec, &mut out)?
            }
        }
        Ok(out.plan(&before))
    }

    fn simulate_install(
        &self,
        specs: &[PackageSpec],
        options: &InstallOptions,
        before: &HashMap<String, String>,
        exec: &mut Exec<'_>,
        out: &mut Output,
    ) -> Result<(), PkgError> {
        self.validate_specs(specs)?;
        rpmdb::check_downgrades(before, specs, options.allow_downgrade)?;
        let plan = plan_install(before, specs, options.force);
        let nr = options.no_recommends;
        let mut reinstall = plan.reinstall;
        // Nothing changes in a dry run, so the upgrade leaves them as they are.
        reinstall.extend(plan.reinstall_if_unchanged);
        for (verb, args) in [
            ("install", plan.install),
            (self.upgrade_verb(), plan.upgrade),
            ("reinstall", reinstall),
        ] {
            if !args.is_empty() {
                let cmd = self.change_with(verb, &args, nr, &ASSUMENO);
                out.add(self.assume_no(&cmd, specs, exec)?);
            }
        }
        Ok(())
    }

    /// As `apply_advisories`: the advisories dnf knows through its own `--advisory` path,
    /// the plain updates as an install of their fixed versions.
    fn simulate_apply(
        &self,
        selected: &[Advisory],
        exclude: &[String],
        before: &HashMap<String, String>,
        exec: &mut Exec<'_>,
        out: &mut Output,
    ) -> Result<(), PkgError> {
        let split = self.split_advisories(selected, exclude)?;
        if split.pending {
            let cmd = self.advisory_upgrade_with(&split.ids, exclude, &ASSUMENO);
            out.add(self.assume_no(&cmd, &[], exec)?);
        }
        let specs = advisory_targets(split.plain.iter().copied(), exclude);
        if !specs.is_empty() {
            self.simulate_install(&specs, &InstallOptions::default(), before, exec, out)?;
        }
        Ok(())
    }

    /// Runs a `--assumeno` command: its table on the expected abort, nothing on "Nothing to
    /// do.", else the error the real command would give.
    fn assume_no(
        &self,
        cmd: &Command,
        specs: &[PackageSpec],
        exec: &mut Exec<'_>,
    ) -> Result<String, PkgError> {
        let finished = self.run_exec(cmd, exec)?;
        let aborted = finished.code == Some(1)
            && finished
                .stderr
                .lines()
                .any(|l| l.trim() == "Operation aborted.");
        if finished.code == Some(0) || aborted {
            return Ok(finished.stdout);
        }
        Err(self.failure(cmd, &finished, specs))
    }
}

/// The tables of a dry run's commands, read into a plan at the end.
#[derive(Default)]
struct Output {
    stdouts: Vec<String>,
    purge: bool,
}

impl Output {
    fn add(&mut self, stdout: String) {
        self.stdouts.push(stdout);
    }

    fn plan(&self, before: &HashMap<String, String>) -> Plan {
        let mut plan = Plan::default();
        for text in &self.stdouts {
            let one = parse_plan(text, &|n| before.get(n).cloned(), self.purge);
            plan.entries.extend(one.entries);
            plan.skipped.extend(one.skipped);
            plan.download_bytes = match (plan.download_bytes, one.download_bytes) {
                (Some(a), Some(b)) => Some(a + b),
                (a, b) => a.or(b),
            };
        }
        plan.normalise()
    }
}

/// Reads one transaction table as a plan; `was` gives the installed version; `purge` marks
/// removals as purges (what was asked: rpm keeps modified configuration as `.rpmsave`
/// either way).
pub fn parse_plan(stdout: &str, was: &dyn Fn(&str) -> Option<String>, purge: bool) -> Plan {
    let cmp = |a: &str, b: &str| crate::pkg::version::rpm(a, b);
    let mut plan = Plan::default();
    for row in parse_table(stdout) {
        let removing = row.section.starts_with("Removing");
        if row.section.starts_with("Skipping") {
            plan.skipped.push(Skipped {
                name: row.name,
                reason: format!("dnf: {}", row.section.to_lowercase()),
            });
        } else if removing {
            plan.entries.push(PlanEntry {
                from_version: Some(was(&row.name).unwrap_or(row.version)),
                name: row.name,
                action: if purge {
                    PlanAction::Purge
                } else {
                    PlanAction::Remove
                },
                to_version: None,
            });
        } else if let Some(e) = PlanEntry::between(
            &row.name,
            was(&row.name).as_deref(),
            Some(&row.version),
            &cmp,
        ) {
            plan.entries.push(e);
        }
    }
    plan.download_bytes = stdout
        .lines()
        .find_map(|l| l.strip_prefix("Total download size:"))
        .and_then(parse_size);
    plan.normalise()
}

/// The package rows of a transaction table, each with its section.
pub fn parse_table(stdout: &str) -> Vec<TableRow> {
    let mut rows = Vec::new();
    let mut section: Option<String> = None;
    let mut pending: Option<String> = None;
    for line in stdout.lines() {
        if line.starts_with("Transaction Summary") {
            break;
        }
        if line.starts_with('(') {
            // The second line of a skip header: "(add '--best --allowerasing' to ...):".
            continue;
        }
        if !line.starts_with(' ') {
            pending = None;
            section = line
                .strip_suffix(':')
                .filter(|h| !h.is_empty())
                .map(str::to_string);
            continue;
        }
        let Some(sec) = &section else { continue };
        let mut cols: Vec<&str> = line.split_whitespace().collect();
        if cols.len() == 1 {
            // A name too long for its column; the rest follows on the next line.
            pending = Some(cols[0].to_string());
            continue;
        }
        let name = match pending.take() {
            Some(n) => n,
            None if !cols.is_empty() => cols.remove(0).to_string(),
            None => continue,
        };
        // ARCH VERSION REPO SIZE [UNIT]
        if cols.len() < 3 {
            continue;
        }
        rows.push(TableRow {
            section: sec.clone(),
            name,
            version: cols[1].to_string(),
        });
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    macro_rules! recorded {
        ($name:literal) => {
            include_str!(concat!(
                "../../../tests/data/dnf/dry-run-",
                $name,
                ".stdout"
            ))
        };
    }

    use crate::pkg::plan::PlanEntry;

    fn entry(name: &str, action: PlanAction, from: Option<&str>, to: Option<&str>) -> PlanEntry {
        PlanEntry::of(name, action, from, to)
    }

    fn old(n: &str) -> Option<String> {
        ["lpa-lib", "lpa-hello", "lpa-tool"]
            .contains(&n)
            .then(|| "1.0-1".to_string())
    }

    #[test]
    fn recorded_install_pulls_in_its_dependency() {
        let plan = parse_plan(recorded!("install-with-deps"), &|_| None, false);
        assert_eq!(
            plan.entries,
            [
                entry("lpa-hello", PlanAction::Install, None, Some("2.0-1")),
                entry("lpa-lib", PlanAction::Install, None, Some("1.1-1")),
            ]
        );
        // "Total size", not "Total download size": a file: repository.
        assert_eq!(plan.download_bytes, None);
        let rows = parse_table(recorded!("install-with-deps"));
        assert_eq!(rows[1].section, "Installing dependencies");
    }

    #[test]
    fn recorded_upgrade_advisory_and_downgrade() {
        let plan = parse_plan(recorded!("upgrade"), &old, false);
        assert_eq!(
            plan.entries,
            [entry(
                "lpa-hello",
                PlanAction::Upgrade,
                Some("1.0-1"),
                Some("2.0-1")
            )]
        );
        let plan = parse_plan(recorded!("advisory"), &old, false);
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
        let plan = parse_plan(recorded!("downgrade"), &|_| Some("1.1-1".into()), false);
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
    fn recorded_removal_takes_its_dependent() {
        let plan = parse_plan(recorded!("remove-with-dependent"), &old, false);
        assert_eq!(
            plan.entries,
            [
                entry("lpa-hello", PlanAction::Remove, Some("1.0-1"), None),
                entry("lpa-lib", PlanAction::Remove, Some("1.0-1"), None),
            ]
        );
        let plan = parse_plan(recorded!("remove"), &old, true);
        assert_eq!(
            plan.entries,
            [entry("lpa-tool", PlanAction::Purge, Some("1.0-1"), None)]
        );
    }

    #[test]
    fn wrapped_names_skips_and_download_size() {
        // dnf's layout (output.py list_transaction) for a name wider than its column, a
        // skipped package and a download; the fixture repository is too small to show them.
        let text = "Upgrading:\n a-very-long-package-name-that-wraps\n                 x86_64   2.0-1   repo   1.0 M\n\
                    Skipping packages with conflicts:\n(add '--best --allowerasing' to command line to force their upgrade):\n \
                    libfoo   x86_64   3.0-1   repo   10 k\n\nTransaction Summary\n\
                    Total download size: 1.5 M\n";
        let plan = parse_plan(text, &|_| Some("1.0-1".into()), false);
        assert_eq!(
            plan.entries,
            [entry(
                "a-very-long-package-name-that-wraps",
                PlanAction::Upgrade,
                Some("1.0-1"),
                Some("2.0-1")
            )]
        );
        assert_eq!(plan.skipped.len(), 1, "{:?}", plan.skipped);
        assert_eq!(plan.skipped[0].name, "libfoo");
        assert_eq!(plan.download_bytes, Some(1_572_864));
    }
}
