//! Checks and arguments of package changes: exact versions are refused before apk runs
//! when it would downgrade silently, and the arguments of a rollback.

use std::cmp::Ordering;

use crate::pkg::{version, InstallOptions, PkgError, RestoreStep};

/// Refuses an exact version before apk runs: one no repository offers (`NotFound` when the
/// name is unknown altogether), or a downgrade without `allow_downgrade` — `apk add
/// name=older` downgrades without a word (recorded).
pub fn check_exact(
    name: &str,
    version: &str,
    installed: Option<&str>,
    offered: &[String],
    options: &InstallOptions,
) -> Result<(), PkgError> {
    if offered.is_empty() && installed.is_none() {
        return Err(PkgError::NotFound(name.to_string()));
    }
    if !offered.iter().any(|v| v == version) && installed != Some(version) {
        return Err(PkgError::VersionConflict(format!(
            "{name} {version} is not in any repository (on offer: {})",
            offered.join(", ")
        )));
    }
    match installed {
        Some(have) if !options.allow_downgrade && version::apk(version, have) == Ordering::Less => {
            Err(PkgError::VersionConflict(format!(
                "{name} {version} is older than the installed {have}; allow_downgrade is not set"
            )))
        }
        _ => Ok(()),
    }
}

/// The `name=version` arguments and the names to remove of a rollback.
pub fn restore_args(steps: &[RestoreStep]) -> (Vec<String>, Vec<String>) {
    let mut add = Vec::new();
    let mut del = Vec::new();
    for step in steps {
        match step {
            RestoreStep::Install { name, version, .. } => add.push(format!("{name}={version}")),
            RestoreStep::Remove { name } => del.push(name.clone()),
        }
    }
    (add, del)
}

/// What `apk upgrade NAME...` left below the version a patch asked for: apk upgrades only
/// as far as world allows and exits 0 when a constraint there (`name=1.0-r0`, `name<2`)
/// holds a package back. Each entry names the package, both versions and world's
/// constraints on it; `targets` are `(name, patched version)`.
pub fn held_back(
    targets: &[(String, String)],
    installed: &dyn Fn(&str) -> Option<String>,
    world: &str,
) -> Vec<String> {
    let mut out = Vec::new();
    for (name, wanted) in targets {
        let have = installed(name);
        let reached = have
            .as_deref()
            .is_some_and(|h| version::apk(h, wanted) != Ordering::Less);
        if reached {
            continue;
        }
        let held = super::world::constraints_for(world, name);
        let why = if held.is_empty() {
            "apk did not upgrade it".to_string()
        } else {
            format!("/etc/apk/world holds {}", held.join(" "))
        };
        out.push(format!(
            "{name} stays at {} (patch: {wanted}): {why}",
            have.as_deref().unwrap_or("not installed")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn packages_a_world_constraint_held_back_are_named_with_it() {
        let targets = vec![
            ("lpa-hello".to_string(), "2.0-r0".to_string()),
            ("lpa-lib".to_string(), "1.1-r0".to_string()),
            ("lpa-tool".to_string(), "1.0-r1".to_string()),
        ];
        let installed = |n: &str| match n {
            "lpa-hello" => Some("2.1-r0".to_string()),
            "lpa-lib" => Some("1.0-r0".to_string()),
            _ => None,
        };
        let held = held_back(&targets, &installed, "lpa-hello\nlpa-lib=1.0-r0\n");
        assert_eq!(
            held,
            [
                "lpa-lib stays at 1.0-r0 (patch: 1.1-r0): /etc/apk/world holds lpa-lib=1.0-r0",
                "lpa-tool stays at not installed (patch: 1.0-r1): apk did not upgrade it"
            ]
        );
    }

    #[test]
    fn exact_versions_are_checked_before_apk_runs() {
        let offered = vs(&["1.0-r0", "1.1-r0", "2.0-r0"]);
        let refuse = InstallOptions::default();
        let allow = InstallOptions {
            allow_downgrade: true,
            ..refuse
        };
        assert!(check_exact("lpa-hello", "2.0-r0", Some("1.1-r0"), &offered, &refuse).is_ok());
        match check_exact("lpa-hello", "1.1-r0", Some("2.0-r0"), &offered, &refuse) {
            Err(PkgError::VersionConflict(m)) => assert!(m.contains("allow_downgrade"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert!(check_exact("lpa-hello", "1.1-r0", Some("2.0-r0"), &offered, &allow).is_ok());
        match check_exact("lpa-hello", "3.0-r0", None, &offered, &allow) {
            Err(PkgError::VersionConflict(m)) => assert!(m.contains("1.0-r0, 1.1-r0, 2.0-r0")),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            check_exact("nope", "1-r0", None, &[], &allow),
            Err(PkgError::NotFound(n)) if n == "nope"
        ));
        // Installed but gone from the repositories: asking for that version is fine.
        assert!(check_exact("old", "1-r0", Some("1-r0"), &[], &refuse).is_ok());
    }

    #[test]
    fn restore_pins_old_versions_and_removes_new_packages() {
        let steps = [
            RestoreStep::Install {
                name: "lpa-hello".into(),
                version: "1.0-r0".into(),
                file: None,
            },
            RestoreStep::Remove {
                name: "lpa-tool".into(),
            },
        ];
        let (add, del) = restore_args(&steps);
        assert_eq!(add, ["lpa-hello=1.0-r0"]);
        assert_eq!(del, ["lpa-tool"]);
    }
}
