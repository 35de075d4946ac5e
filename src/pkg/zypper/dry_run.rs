//! zypper's dry run: the change commands of the real change (`install`, `install -t patch`,
//! `remove`, built by the same `Zypper::install_with` / `patch_install_with` / `remove_with`)
//! with `--xmlout` before the verb and `--dry-run` after it, after the same refusals the
//! real change makes first. zypper resolves the transaction, prints its summary and changes
//! nothing; exit 102 (a patch suggests a reboot) is informational here as in the real run.
//!
//! The summary (zypper 1.14, recorded in `tests/data/zypper/dry-run-x-*`):
//! `<install-summary download-size="N">` with `<to-install>`, `<to-upgrade>`,
//! `<to-downgrade>`, `<to-reinstall>`, `<to-remove>` lists of `<solvable type="package"
//! name edition edition-old>` (patches are solvables of `type="patch"`, left out: the plan
//! lists packages). A refusal is an `<message type="error">`, read as the real change's
//! error by the same `classify_change`.

use std::collections::HashMap;

use super::super::advisories::Advisory;
use super::super::plan::{Change, Plan, PlanAction, PlanEntry, Skipped};
use super::super::rpm::{rpmdb, updateinfo};
use super::super::runner::{Command, Finished};
use super::super::xml;
use super::super::{
    advisory_targets, validate, BackendKind, Exec, InstallOptions, PackageManager, PackageSpec,
    PkgError,
};
use super::output::{classify_change, spec_arg, ZypperFailure};
use super::Zypper;

impl Zypper {
    /// What `change` would do, from zypper's own `--dry-run`; changes nothing.
    pub(super) fn dry_run(&self, change: &Change, exec: &mut Exec<'_>) -> Result<Plan, PkgError> {
        let before = rpmdb::installed_versions(&self.installed()?);
        let mut summaries = Vec::new();
        match change {
            Change::Install(specs, options) => {
                summaries.push(self.simulate_install(specs, options, &before, exec)?)
            }
            Change::Remove(names, options) => {
                for n in names {
                    validate::name(BackendKind::Zypper, n)?;
                }
                rpmdb::check_removal(&self.settings, names, options.force)?;
                summaries.push(self.dry(&self.remove_with(names, true), &[], exec)?);
            }
            Change::Apply(selected, exclude) => {
                summaries.extend(self.simulate_apply(selected, exclude, &before, exec)?)
            }
        }
        let purge = matches!(change, Change::Remove(_, o) if o.purge);
        let mut plan = Plan::default();
        for text in &summaries {
            let one = parse_summary(text, purge)?;
            plan.entries.extend(one.entries);
            plan.skipped.extend(one.skipped);
            plan.download_bytes = match (plan.download_bytes, one.download_bytes) {
                (Some(a), Some(b)) => Some(a + b),
                (a, b) => a.or(b),
            };
        }
        Ok(plan.normalise())
    }

    fn simulate_install(
        &self,
        specs: &[PackageSpec],
        options: &InstallOptions,
        before: &HashMap<String, String>,
        exec: &mut Exec<'_>,
    ) -> Result<String, PkgError> {
        for spec in specs {
            validate::name(BackendKind::Zypper, &spec.name)?;
            if let Some(v) = &spec.version {
                validate::version(BackendKind::Zypper, v)?;
            }
        }
        rpmdb::check_downgrades(before, specs, options.allow_downgrade)?;
        let args: Vec<String> = specs.iter().map(spec_arg).collect();
        self.dry(&self.install_with(&args, options, false, true), specs, exec)
    }

    /// As `apply_advisories`: the patches through `install -t patch` unless an excluded
    /// package belongs to one (then every fixed version as an install), plain updates as
    /// installs of their fixed versions.
    fn simulate_apply(
        &self,
        selected: &[Advisory],
        exclude: &[String],
        before: &HashMap<String, String>,
        exec: &mut Exec<'_>,
    ) -> Result<Vec<String>, PkgError> {
        for name in exclude {
            validate::name(BackendKind::Zypper, name)?;
        }
        let (patches, plain): (Vec<&Advisory>, Vec<&Advisory>) = selected
            .iter()
            .partition(|a| a.severity_source == super::patches::SOURCE);
        let excluded_in_patch = patches
            .iter()
            .flat_map(|a| a.packages.iter())
            .any(|p| exclude.contains(&p.name));
        let installs = |advisories: Vec<&Advisory>| advisory_targets(advisories, exclude);
        let mut out = Vec::new();
        let plain_specs = if excluded_in_patch {
            installs(selected.iter().collect())
        } else {
            let ids: Vec<&str> = patches.iter().map(|a| a.id.as_str()).collect();
            for id in &ids {
                updateinfo::validate_id(id)?;
            }
            if !ids.is_empty() {
                out.push(self.dry(&self.patch_install_with(&ids, true), &[], exec)?);
            }
            installs(plain)
        };
        if !plain_specs.is_empty() {
            let options = InstallOptions::default();
            out.push(self.simulate_install(&plain_specs, &options, before, exec)?);
        }
        Ok(out)
    }

    /// Runs a dry-run command; its XML on success, else the real change's error.
    fn dry(
        &self,
        cmd: &Command,
        specs: &[PackageSpec],
        exec: &mut Exec<'_>,
    ) -> Result<String, PkgError> {
        let finished = self.run_exec(cmd, exec)?;
        match classify_change(&as_text(&finished)) {
            ZypperFailure::None => Ok(finished.stdout),
            ZypperFailure::Locked => Err(PkgError::Locked {
                tool: "zypper".to_string(),
                waited: self.settings.lock_wait,
            }),
            ZypperFailure::NotFound(args) => Err(rpmdb::unmatched(self, &args, specs, spec_arg)),
            ZypperFailure::OlderVersion(m) => Err(PkgError::VersionConflict(m)),
            ZypperFailure::Dependency(m) => Err(PkgError::DependencyConflict(m)),
            ZypperFailure::Other => Err(super::failed(cmd, &finished)),
        }
    }
}

/// zypper's XML messages laid out as its text mode prints them (every message on standard
/// output, the errors on standard error too), for `classify_change`.
fn as_text(finished: &Finished) -> Finished {
    let messages: Vec<(String, String)> = match xml::tree::parse(&finished.stdout) {
        Ok(doc) => doc
            .descendants("message")
            .map(|m| (m.attr("type").unwrap_or("").to_string(), m.text()))
            .collect(),
        Err(_) => Vec::new(),
    };
    let join = |errors_only: bool| {
        messages
            .iter()
            .filter(|(t, _)| !errors_only || t == "error")
            .map(|(_, m)| m.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    };
    Finished {
        code: finished.code,
        stdout: join(false),
        stderr: join(true),
    }
}

/// Reads one `--xmlout ... --dry-run` answer's install summary as a plan; `purge` marks
/// removals as purges (what was asked: rpm keeps modified configuration as `.rpmsave`
/// either way). No summary (nothing to do) is an empty plan.
pub fn parse_summary(stdout: &str, purge: bool) -> Result<Plan, PkgError> {
    let doc = xml::tree::parse(stdout).map_err(super::output::xml_error)?;
    let cmp = |a: &str, b: &str| crate::pkg::version::rpm(a, b);
    let mut plan = Plan::default();
    for summary in doc.descendants("install-summary") {
        if let Some(size) = summary
            .attr("download-size")
            .and_then(|s| s.parse::<u64>().ok())
        {
            plan.download_bytes = Some(plan.download_bytes.unwrap_or(0) + size);
        }
        for list in summary.children.iter().filter_map(|n| match n {
            xml::tree::Node::Element(e) => Some(e),
            _ => None,
        }) {
            for s in list.descendants("solvable") {
                if s.attr("type") != Some("package") {
                    continue;
                }
                let (Some(name), edition) = (s.attr("name"), s.attr("edition")) else {
                    continue;
                };
                let old = s.attr("edition-old");
                match list.name.as_str() {
                    "to-remove" => plan.entries.push(PlanEntry {
                        name: name.to_string(),
                        action: if purge {
                            PlanAction::Purge
                        } else {
                            PlanAction::Remove
                        },
                        from_version: edition.map(str::to_string),
                        to_version: None,
                    }),
                    "to-install" | "to-upgrade" | "to-downgrade" | "to-reinstall"
                    | "to-change-arch" | "to-change-vendor" => {
                        let to = edition.or(old);
                        let from = old.or(if list.name == "to-reinstall" {
                            edition
                        } else {
                            None
                        });
                        plan.entries
                            .extend(PlanEntry::between(name, from, to, &cmp));
                    }
                    other => plan.skipped.push(Skipped {
                        name: name.to_string(),
                        reason: format!("zypper: {}", other.replace('-', " ")),
                    }),
                }
            }
        }
    }
    Ok(plan.normalise())
}

#[cfg(test)]
mod tests {
    use super::*;

    macro_rules! recorded {
        ($name:literal) => {
            include_str!(concat!(
                "../../../tests/data/zypper/dry-run-x-",
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
        let plan = parse_summary(recorded!("install-with-deps"), false).unwrap();
        assert_eq!(
            plan.entries,
            [
                entry("lpa-hello", PlanAction::Install, None, Some("2.0-1")),
                entry("lpa-lib", PlanAction::Install, None, Some("1.1-1")),
            ]
        );
        assert_eq!(plan.download_bytes, Some(12918));
    }

    #[test]
    fn recorded_upgrade_patch_and_downgrade() {
        let plan = parse_summary(recorded!("upgrade"), false).unwrap();
        assert_eq!(
            plan.entries,
            [entry(
                "lpa-hello",
                PlanAction::Upgrade,
                Some("1.0-1"),
                Some("2.0-1")
            )]
        );
        // The patches themselves are solvables too; the plan lists their packages only.
        let plan = parse_summary(recorded!("patch"), false).unwrap();
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
        let plan = parse_summary(recorded!("downgrade"), false).unwrap();
        assert_eq!(
            plan.entries,
            [entry(
                "lpa-lib",
                PlanAction::Downgrade,
                Some("1.1-1"),
                Some("1.0-1")
            )]
        );
        assert_eq!(plan.download_bytes, Some(6337));
    }

    #[test]
    fn recorded_removal_takes_its_dependent() {
        let plan = parse_summary(recorded!("remove-with-dependent"), false).unwrap();
        assert_eq!(
            plan.entries,
            [
                entry("lpa-hello", PlanAction::Remove, Some("1.0-1"), None),
                entry("lpa-lib", PlanAction::Remove, Some("1.0-1"), None),
            ]
        );
        let plan = parse_summary(recorded!("remove"), true).unwrap();
        assert_eq!(
            plan.entries,
            [entry("lpa-tool", PlanAction::Purge, Some("1.0-1"), None)]
        );
    }

    #[test]
    fn recorded_unknown_name_is_the_real_not_found() {
        let read = |ext: &str| {
            std::fs::read_to_string(format!(
                "{}/tests/data/zypper/dry-run-x-install-nosuch.{ext}",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap()
        };
        let fin = Finished {
            code: read("rc").trim().parse().ok(),
            stdout: read("stdout"),
            stderr: String::new(),
        };
        assert_eq!(
            classify_change(&as_text(&fin)),
            ZypperFailure::NotFound(vec!["lpa-nope".into()])
        );
        assert!(parse_summary(&fin.stdout, false)
            .unwrap()
            .entries
            .is_empty());
    }
}
