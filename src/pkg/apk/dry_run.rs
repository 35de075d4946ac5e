//! apk's dry run: the change commands of the real change (`add`, `add -u`, `upgrade`, `del`,
//! built by the same `Apk::add_with` / `upgrade_with` / `del_with`) with the global
//! `--simulate`, after the same checks the real change makes first. apk resolves the change
//! and prints its steps without writing anything: neither `/etc/apk/world` nor the installed
//! database change (checked by `tests/data/apk/record-dry-run.sh` with both versions).
//!
//! The steps (apk-tools 2.14.10 and 3.0.6 print them alike, recorded in
//! `tests/data/apk/dry-run-*-apk{2,3}`): `(i/n) Installing NAME (VER)`, `(i/n) Upgrading
//! NAME (OLD -> NEW)`, `Downgrading`, `Replacing` (a reinstall), `Purging NAME (VER)` (every
//! removal, `--purge` or not); the closing `OK: ...` line is the size after the change (apk
//! 2 in MiB, apk 3 in bytes), never a download, so `download_bytes` is null. A refusal is
//! read by the real change's `interpret_change` ("World updated, but the following packages
//! are not removed" included); a patch target that world holds back is listed in `skipped`
//! (the real patch job then fails with `PATCH_APPLY_ERROR` naming it).

use super::super::plan::{Change, Plan, PlanAction, PlanEntry, Skipped};
use super::super::runner::{self, Command};
use super::super::{advisory_targets, Exec, InstallOptions, PackageManager, PackageSpec, PkgError};
use super::mutate::{check_exact, held_back};
use super::parse::interpret_change;
use super::{world, Apk};

/// What makes a changing command a simulation.
const SIMULATE: [&str; 1] = ["--simulate"];

impl Apk {
    /// What `change` would do, from apk's own `--simulate`; changes nothing.
    pub(super) fn dry_run(&self, change: &Change, exec: &mut Exec<'_>) -> Result<Plan, PkgError> {
        let db = self.read_db()?;
        let was = |n: &str| Apk::installed_version(&db, n);
        let mut out = String::new();
        let mut purge = false;
        match change {
            Change::Install(specs, options) => {
                out = self.simulate_install(specs, options, &db, exec)?;
            }
            Change::Remove(names, options) => {
                out = self.run_simulation(&self.del_with(names, options, &SIMULATE), exec)?;
                purge = options.purge;
            }
            Change::Apply(..) => {
                let names: Vec<String> =
                    change.apply_targets().into_iter().map(|s| s.name).collect();
                if !names.is_empty() {
                    out = self.run_simulation(&self.upgrade_with(&names, &SIMULATE), exec)?;
                }
            }
        }
        let mut plan = parse_plan(&out, &was, purge);
        if let Change::Apply(selected, exclude) = change {
            plan.skipped = self.held_in_plan(&plan, selected, exclude, &was)?;
        }
        Ok(plan.normalise())
    }

    /// As `install`: exact versions checked and added pinned, names added with `-u`.
    fn simulate_install(
        &self,
        specs: &[PackageSpec],
        options: &InstallOptions,
        db: &[super::db::DbRecord],
        exec: &mut Exec<'_>,
    ) -> Result<String, PkgError> {
        let mut latest = Vec::new();
        let mut exact = Vec::new();
        for spec in specs {
            match &spec.version {
                None => latest.push(spec.name.clone()),
                Some(v) => {
                    let have = Apk::installed_version(db, &spec.name);
                    let offered = self.available_versions(&spec.name)?;
                    check_exact(&spec.name, v, have.as_deref(), &offered, options)?;
                    exact.push(format!("{}={v}", spec.name));
                }
            }
        }
        let mut out = String::new();
        if !exact.is_empty() {
            out += &self.run_simulation(&self.add_with(&exact, false, &SIMULATE), exec)?;
        }
        if !latest.is_empty() {
            out += &self.run_simulation(&self.add_with(&latest, true, &SIMULATE), exec)?;
        }
        Ok(out)
    }

    /// The patch targets the simulated upgrade would not bring to their fixed version, with
    /// world's constraint (the real job's `held_back` check, on the plan's versions).
    fn held_in_plan(
        &self,
        plan: &Plan,
        selected: &[super::super::advisories::Advisory],
        exclude: &[String],
        was: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Vec<Skipped>, PkgError> {
        let targets: Vec<(String, String)> = advisory_targets(selected, exclude)
            .into_iter()
            .filter_map(|s| s.version.map(|v| (s.name, v)))
            .collect();
        let world = world::read_world(&self.settings.root)?.unwrap_or_default();
        let after = |n: &str| {
            plan.entries
                .iter()
                .find(|e| e.name == n)
                .map_or_else(|| was(n), |e| e.to_version.clone())
        };
        let held = held_back(&targets, &after, &String::from_utf8_lossy(&world));
        // Each reads "NAME stays at VERSION (patch: FIXED): WHY".
        Ok(held
            .into_iter()
            .filter_map(|reason| {
                let name = reason.split_once(" stays at ")?.0.to_string();
                Some(Skipped { name, reason })
            })
            .collect())
    }

    /// Runs one simulation under the dry run's deadline; its output, or the real change's
    /// error.
    fn run_simulation(&self, cmd: &Command, exec: &mut Exec<'_>) -> Result<String, PkgError> {
        let cmd = cmd.clone().timeout(exec.timeout).grace(exec.grace);
        let mut quiet = |_: runner::Stream, _: &str| {};
        let done =
            runner::run_cancellable(&cmd, &mut quiet, exec.cancel).map_err(PkgError::from)?;
        interpret_change(&cmd, &done, self.settings.lock_wait)?;
        Ok(done.stdout)
    }
}

/// Reads the `(i/n) Verb NAME (VERSIONS)` steps as a plan; `was` gives the installed version
/// (for a `Replacing` step); `purge` marks removals as purges.
pub fn parse_plan(stdout: &str, was: &dyn Fn(&str) -> Option<String>, purge: bool) -> Plan {
    let entries = stdout.lines().filter_map(|l| step(l, was, purge)).collect();
    Plan {
        entries,
        ..Plan::default()
    }
    .normalise()
}

fn step(line: &str, was: &dyn Fn(&str) -> Option<String>, purge: bool) -> Option<PlanEntry> {
    let rest = line.trim().strip_prefix('(')?;
    let (_, rest) = rest.split_once(") ")?;
    let (verb, rest) = rest.split_once(' ')?;
    let (name, versions) = rest.split_once(" (")?;
    let versions = versions.strip_suffix(')')?;
    let (from, to) = match versions.split_once(" -> ") {
        Some((a, b)) => (Some(a.to_string()), Some(b.to_string())),
        None => (None, Some(versions.to_string())),
    };
    let (action, from, to) = match verb {
        "Installing" => (PlanAction::Install, None, to),
        "Upgrading" => (PlanAction::Upgrade, from, to),
        "Downgrading" => (PlanAction::Downgrade, from, to),
        "Replacing" => (PlanAction::Upgrade, was(name).or(from), to),
        "Purging" if purge => (PlanAction::Purge, to, None),
        "Purging" => (PlanAction::Remove, to, None),
        _ => return None,
    };
    Some(PlanEntry {
        name: name.to_string(),
        action,
        from_version: from,
        to_version: to,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pkg::runner::Finished;

    fn read(name: &str, ext: &str) -> String {
        std::fs::read_to_string(format!(
            "{}/tests/data/apk/dry-run-{name}.{ext}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap_or_default()
    }

    fn done(name: &str) -> Finished {
        Finished {
            code: read(name, "rc").trim().parse().ok(),
            stdout: read(name, "stdout"),
            stderr: read(name, "stderr"),
        }
    }

    use crate::pkg::plan::PlanEntry;

    fn entry(name: &str, action: PlanAction, from: Option<&str>, to: Option<&str>) -> PlanEntry {
        PlanEntry::of(name, action, from, to)
    }

    fn old(_: &str) -> Option<String> {
        Some("1.0-r0".into())
    }

    #[test]
    fn recorded_plans_of_both_apk_versions() {
        for v in ["apk2", "apk3"] {
            let plan = |name: &str, purge: bool| {
                let fin = done(&format!("{name}-{v}"));
                assert_eq!(fin.code, Some(0), "{name}-{v}");
                parse_plan(&fin.stdout, &old, purge).entries
            };
            assert_eq!(
                plan("install-with-deps", false),
                [
                    entry("lpa-hello", PlanAction::Install, None, Some("2.0-r0")),
                    entry("lpa-lib", PlanAction::Install, None, Some("1.1-r0")),
                ],
                "{v}"
            );
            assert_eq!(
                plan("upgrade", false),
                [entry(
                    "lpa-hello",
                    PlanAction::Upgrade,
                    Some("1.0-r0"),
                    Some("2.0-r0")
                )]
            );
            assert_eq!(
                plan("downgrade", false),
                [entry(
                    "lpa-lib",
                    PlanAction::Downgrade,
                    Some("1.1-r0"),
                    Some("1.0-r0")
                )]
            );
            assert_eq!(
                plan("remove-rdepends", false),
                [
                    entry("lpa-hello", PlanAction::Remove, Some("1.0-r0"), None),
                    entry("lpa-lib", PlanAction::Remove, Some("1.0-r0"), None),
                ]
            );
            assert_eq!(
                plan("purge", true),
                [entry("lpa-tool", PlanAction::Purge, Some("1.0-r0"), None)]
            );
            // world pins lpa-lib=1.0-r0 and lpa-hello=1.0-r0: `upgrade` does nothing.
            assert!(plan("patch-apply", false).is_empty(), "{v}");
        }
    }

    #[test]
    fn recorded_refusals_are_the_real_errors() {
        let cmd = Command::new("apk");
        for v in ["apk2", "apk3"] {
            let e = interpret_change(
                &cmd,
                &done(&format!("install-nope-{v}")),
                Default::default(),
            )
            .unwrap_err();
            assert!(
                matches!(e, PkgError::NotFound(ref n) if n == "lpa-nope"),
                "{v}: {e}"
            );
            // Exit 0, yet nothing is removed: the real removal's dependency error.
            let e = interpret_change(
                &cmd,
                &done(&format!("remove-needed-{v}")),
                Default::default(),
            )
            .unwrap_err();
            assert!(matches!(e, PkgError::DependencyConflict(_)), "{v}: {e}");
        }
    }

    #[test]
    fn replacing_and_prose_lines() {
        let out = "(1/1) Replacing lpa-lib (1.0-r0)\nOK: 0 MiB in 4 packages\nfetch x\n";
        assert_eq!(
            parse_plan(out, &|_| Some("1.0-r0".into()), false).entries,
            [entry(
                "lpa-lib",
                PlanAction::Upgrade,
                Some("1.0-r0"),
                Some("1.0-r0")
            )]
        );
        for l in [
            "(1/2)",
            "(1/2) Installing",
            "(1/2) Installing x",
            "(a) Frobbing x (1)",
        ] {
            assert_eq!(step(l, &|_| None, false), None, "{l:?}");
        }
    }
}
