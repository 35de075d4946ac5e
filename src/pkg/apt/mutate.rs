//! The changing side of apt: argument lists of installs, removals and rollbacks, and what
//! apt-get's and dpkg's refusals mean (each message recorded from apt 2.6 in
//! `tests/data/apt/`).

use std::path::PathBuf;
use std::time::Duration;

use super::super::runner::Finished;
use super::super::{InstallOptions, PackageSpec, PkgError};
use super::sim::SimAction;
use super::{check_outcome, stderr_tail};

/// How a rollback names one package for apt-get install.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RestoreArg {
    /// A saved `.deb` (path as the tool sees it; absolute).
    File(PathBuf),
    /// `name=version` from the repositories.
    Version(String, String),
    /// `name-`: remove it in the same transaction.
    Remove(String),
}

/// Whether apt-get could read `name` as something else than that exact name when no
/// package has it: a `.` or `+` makes it a regular expression, a trailing `-` a removal.
/// Other names (a-z, 0-9, inner `-`, the whole grammar left) are only ever looked up
/// exactly, and an unknown one fails with "Unable to locate package", so only these must
/// be checked against apt's cache before they reach apt-get.
pub fn pattern_like(name: &str) -> bool {
    name.contains(['.', '+']) || name.ends_with('-')
}

/// Arguments after apt-get's common options for one install transaction.
pub fn install_args(packages: &[PackageSpec], options: &InstallOptions) -> Vec<String> {
    let mut args: Vec<String> = ["install", "-y", "-q"].map(String::from).to_vec();
    if options.allow_downgrade {
        args.push("--allow-downgrades".into());
    }
    if options.no_recommends {
        args.push("--no-install-recommends".into());
    }
    if options.force {
        args.push("--reinstall".into());
    }
    args.push("--".into());
    args.extend(packages.iter().map(|p| match &p.version {
        Some(v) => format!("{}={v}", p.name),
        None => p.name.clone(),
    }));
    args
}

/// apt-get's options that make a run a simulation changing nothing on disk: no lock taken,
/// and no planner log (apt writes `/var/log/apt/eipp.log.xz` even when only simulating).
pub const SIMULATE: [&str; 5] = [
    "-s",
    "-o",
    "Debug::NoLocking=1",
    "-o",
    "Dir::Log::Planner=/dev/null",
];

/// Arguments of a removal (`purge` removes conffiles too); `simulate` only asks apt what it
/// would do ([`SIMULATE`]).
pub fn remove_args(names: &[String], purge: bool, simulate: bool) -> Vec<String> {
    let mut args: Vec<String> = Vec::new();
    if simulate {
        args.extend(SIMULATE.map(String::from));
    }
    args.push(if purge { "purge" } else { "remove" }.into());
    args.extend(["-y", "-q", "--"].map(String::from));
    args.extend(names.iter().cloned());
    args
}

/// Arguments of one rollback transaction: downgrades allowed, removals as `name-`.
pub fn restore_args(steps: &[RestoreArg]) -> Vec<String> {
    let mut args: Vec<String> = ["install", "-y", "-q", "--allow-downgrades", "--"]
        .map(String::from)
        .to_vec();
    args.extend(steps.iter().map(|s| match s {
        RestoreArg::File(p) => p.display().to_string(),
        RestoreArg::Version(n, v) => format!("{n}={v}"),
        RestoreArg::Remove(n) => format!("{n}-"),
    }));
    args
}

/// Arguments of `apt-get download` for one exact version.
pub fn download_args(name: &str, version: &str) -> Vec<String> {
    vec![
        "download".into(),
        "-q".into(),
        "--".into(),
        format!("{name}={version}"),
    ]
}

/// Packages a removal simulation would remove beyond `requested` (apt takes installed
/// dependents along without asking); `name:arch` requests also match apt's bare name.
pub fn extra_removals(actions: &[SimAction], requested: &[String]) -> Vec<String> {
    let wanted = |n: &str| {
        requested
            .iter()
            .any(|r| r == n || r.split_once(':').is_some_and(|(bare, _)| bare == n))
    };
    actions
        .iter()
        .filter_map(|a| match a {
            SimAction::Remv(p) | SimAction::Purg(p) => Some(p.name.as_str()),
            _ => None,
        })
        .filter(|n| !wanted(n))
        .map(str::to_string)
        .collect()
}

/// Maps how an install, removal or rollback ended: success; a lock ([`PkgError::Locked`]);
/// an unknown package ([`PkgError::NotFound`]); a missing version or a refused downgrade
/// ([`PkgError::VersionConflict`]); unmet dependencies, conflicts or held broken packages
/// ([`PkgError::DependencyConflict`]); anything else [`PkgError::Command`].
pub fn classify(command: &str, fin: &Finished, waited: Duration) -> Result<(), PkgError> {
    let err = match check_outcome(command, fin, waited) {
        Ok(()) => return Ok(()),
        Err(e @ PkgError::Locked { .. }) => return Err(e),
        Err(e) => e,
    };
    let errors: Vec<&str> = fin
        .stderr
        .lines()
        .filter_map(|l| l.strip_prefix("E: "))
        .collect();
    if let Some(e) = refusal(&errors, &fin.stdout) {
        return Err(e);
    }
    Err(err)
}

fn refusal(errors: &[&str], stdout: &str) -> Option<PkgError> {
    for e in errors {
        if let Some(name) = e.strip_prefix("Unable to locate package ") {
            return Some(PkgError::NotFound(name.trim().to_string()));
        }
        if let Some(rest) = e.strip_prefix("Package '") {
            if rest.contains("has no installation candidate") {
                return Some(PkgError::NotFound(rest.split('\'').next()?.to_string()));
            }
        }
        if e.starts_with("Version '") && e.contains("was not found") {
            return Some(PkgError::VersionConflict(e.trim().to_string()));
        }
        if e.starts_with("Packages were downgraded and -y was used without --allow-downgrades") {
            let names = listed_after(stdout, "The following packages will be DOWNGRADED:");
            return Some(PkgError::VersionConflict(format!(
                "downgrade of {} not allowed (allow_downgrade is off)",
                or_unknown(&names)
            )));
        }
    }
    if errors.iter().any(|e| is_dependency_error(e)) {
        return Some(PkgError::DependencyConflict(dependency_message(
            errors, stdout,
        )));
    }
    None
}

fn is_dependency_error(e: &str) -> bool {
    e.contains("held broken packages")
        || e.contains("Unmet dependencies")
        || e.contains("pkgProblemResolver")
        || e.contains("Conflicting values")
        || e.contains("conflicts with")
        || e.contains("Broken packages")
}

/// apt's own explanation: the lines under "The following packages have unmet dependencies:"
/// (one per package and relation), then its error lines.
fn dependency_message(errors: &[&str], stdout: &str) -> String {
    let mut lines: Vec<String> = unmet_lines(stdout);
    lines.extend(errors.iter().map(|e| e.trim().to_string()));
    lines.join("; ")
}

/// The indented lines following apt's "unmet dependencies" heading.
pub fn unmet_lines(stdout: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in stdout.lines() {
        if line.starts_with("The following packages have unmet dependencies:") {
            inside = true;
            continue;
        }
        if inside {
            if !line.starts_with(' ') || line.trim().is_empty() {
                break;
            }
            out.push(line.trim().to_string());
        }
    }
    out
}

/// Package names apt lists (indented, space-separated) under `heading`.
pub fn listed_after(stdout: &str, heading: &str) -> Vec<String> {
    stdout
        .lines()
        .skip_while(|l| !l.starts_with(heading))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .flat_map(|l| l.split_whitespace().map(str::to_string))
        .collect()
}

fn or_unknown(names: &[String]) -> String {
    if names.is_empty() {
        "a package".to_string()
    } else {
        names.join(", ")
    }
}

/// The problem line for a pending dpkg journal (see [`journal_pending`]).
pub const JOURNAL_PENDING: &str =
    "dpkg was interrupted: its journal (var/lib/dpkg/updates) is pending";

/// Whether an interrupted dpkg left journal entries (files named by digits only) in its
/// `updates` directory: apt then refuses every run until `dpkg --configure -a`.
pub fn journal_pending(updates: &std::path::Path) -> bool {
    !super::journal::files(updates).is_empty()
}

/// Whether apt refused to run because an earlier dpkg run was interrupted.
pub fn dpkg_interrupted(fin: &Finished) -> bool {
    const SIGN: &str = "dpkg was interrupted, you must manually run";
    fin.stderr.contains(SIGN) || fin.stdout.contains(SIGN)
}

/// What `dpkg --audit` reports: its non-empty lines (dpkg exits 0 either way).
pub fn audit_problems(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

/// The packages `dpkg --audit` names (its indented `name  summary` lines), for a short
/// report; empty when it names none.
pub fn audit_packages(problems: &[String]) -> Vec<String> {
    let mut names: Vec<String> = problems
        .iter()
        .filter(|l| l.starts_with(' '))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect();
    names.sort();
    names.dedup();
    names
}

/// One line saying what `dpkg --audit` found: the packages it names, else its first line.
pub fn audit_summary(problems: &[String]) -> String {
    let names = audit_packages(problems);
    if names.is_empty() {
        let first = problems.first().map(String::as_str).unwrap_or("");
        format!("dpkg --audit reports: {}", first.trim())
    } else {
        format!(
            "dpkg --audit reports unfinished packages: {}",
            names.join(", ")
        )
    }
}

/// A failed dpkg run (repair): a lock held by another process is [`PkgError::Locked`].
pub fn classify_dpkg(command: &str, fin: &Finished, waited: Duration) -> Result<(), PkgError> {
    if fin.code == Some(0) {
        return Ok(());
    }
    let locked = fin.stderr.lines().any(|l| {
        l.starts_with("dpkg: error:")
            && (l.contains("was locked by another process")
                || l.contains("unable to acquire the dpkg frontend lock"))
    });
    if locked {
        return Err(PkgError::Locked {
            tool: "dpkg".into(),
            waited,
        });
    }
    Err(PkgError::Command {
        command: command.to_string(),
        code: fin.code,
        stderr_tail: stderr_tail(&fin.stderr),
    })
}

/// The file name apt gives a downloaded version in its archive cache:
/// `name_version_arch.deb` with the epoch's `:` escaped as `%3a`.
pub fn archive_file_name(name: &str, version: &str, arch: &str) -> String {
    format!("{name}_{}_{arch}.deb", version.replace(':', "%3a"))
}

#[cfg(test)]
mod tests {

    #[test]
    fn only_names_apt_get_could_read_as_patterns_need_the_cache() {
        for plain in ["lpa-hello", "0ad", "libc6", "a-b-c"] {
            assert!(!super::pattern_like(plain), "{plain}");
        }
        for pattern in ["lpa.hello", "libstdc++6", "g++", "python3.11", "lpa-hello-"] {
            assert!(super::pattern_like(pattern), "{pattern}");
        }
    }

    #[test]
    fn a_pending_dpkg_journal_is_seen_and_other_files_are_not() {
        let dir = std::env::temp_dir().join(format!("lpa-journal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(!journal_pending(&dir), "empty");
        std::fs::write(dir.join("tmp.i"), b"").unwrap();
        assert!(
            !journal_pending(&dir),
            "dpkg's own temp file is not a journal entry"
        );
        std::fs::write(dir.join("0004"), b"Package: lpa-slow\n").unwrap();
        assert!(journal_pending(&dir));
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(!journal_pending(&dir), "absent directory");
    }

    #[test]
    fn apts_interrupted_dpkg_refusal_is_recognised() {
        let fin = |stderr: &str| Finished {
            code: Some(100),
            stdout: String::new(),
            stderr: stderr.to_string(),
        };
        assert!(dpkg_interrupted(&fin(
            "E: dpkg was interrupted, you must manually run 'dpkg --configure -a' to correct the problem. "
        )));
        assert!(!dpkg_interrupted(&fin(
            "E: Unable to locate package lpa-nope"
        )));
    }

    use super::*;

    macro_rules! rec {
        ($name:literal) => {
            include_str!(concat!("../../../tests/data/apt/", $name))
        };
    }

    fn fin(rc: &str, stdout: &str, stderr: &str) -> Finished {
        Finished {
            code: Some(rc.trim().parse().unwrap()),
            stdout: stdout.into(),
            stderr: stderr.into(),
        }
    }

    fn spec(name: &str, version: Option<&str>) -> PackageSpec {
        PackageSpec {
            name: name.into(),
            version: version.map(str::to_string),
        }
    }

    #[test]
    fn install_arguments() {
        let pkgs = [spec("lpa-hello", Some("1:1.0-1")), spec("lpa-tool", None)];
        assert_eq!(
            install_args(&pkgs, &InstallOptions::default()),
            ["install", "-y", "-q", "--", "lpa-hello=1:1.0-1", "lpa-tool"]
        );
        let all = InstallOptions {
            force: true,
            no_recommends: true,
            allow_downgrade: true,
        };
        assert_eq!(
            install_args(&pkgs[1..], &all),
            [
                "install",
                "-y",
                "-q",
                "--allow-downgrades",
                "--no-install-recommends",
                "--reinstall",
                "--",
                "lpa-tool"
            ]
        );
    }

    #[test]
    fn remove_restore_and_download_arguments() {
        let names = ["lpa-hello".to_string(), "lpa-lib".to_string()];
        assert_eq!(
            remove_args(&names, false, false),
            ["remove", "-y", "-q", "--", "lpa-hello", "lpa-lib"]
        );
        assert_eq!(
            remove_args(&names[..1], true, true),
            [
                "-s",
                "-o",
                "Debug::NoLocking=1",
                "-o",
                "Dir::Log::Planner=/dev/null",
                "purge",
                "-y",
                "-q",
                "--",
                "lpa-hello"
            ]
        );
        let steps = [
            RestoreArg::File("/var/tmp/s/lpa-lib_1.0-1_all.deb".into()),
            RestoreArg::Version("lpa-hello".into(), "1.1-1".into()),
            RestoreArg::Remove("lpa-tool".into()),
        ];
        assert_eq!(
            restore_args(&steps),
            [
                "install",
                "-y",
                "-q",
                "--allow-downgrades",
                "--",
                "/var/tmp/s/lpa-lib_1.0-1_all.deb",
                "lpa-hello=1.1-1",
                "lpa-tool-"
            ]
        );
        assert_eq!(
            download_args("lpa-lib", "1.0-1"),
            ["download", "-q", "--", "lpa-lib=1.0-1"]
        );
    }

    #[test]
    fn recorded_successes() {
        for (rc, err) in [
            (rec!("install-upgrade.rc"), rec!("install-upgrade.stderr")),
            (
                rec!("install-downgrade.rc"),
                rec!("install-downgrade.stderr"),
            ),
            (rec!("restore.rc"), rec!("restore.stderr")),
        ] {
            assert!(classify("apt-get", &fin(rc, "", err), Duration::ZERO).is_ok());
        }
        assert!(classify("apt-get", &fin(rec!("purge.rc"), "", ""), Duration::ZERO).is_ok());
    }

    #[test]
    fn recorded_unknown_package() {
        let f = fin(
            rec!("install-not-found.rc"),
            rec!("install-not-found.stdout"),
            rec!("install-not-found.stderr"),
        );
        match classify("apt-get install", &f, Duration::ZERO) {
            Err(PkgError::NotFound(n)) => assert_eq!(n, "lpa-nosuch"),
            other => panic!("{other:?}"),
        }
        let no_candidate = fin(
            "100",
            "",
            "E: Package 'lpa-x' has no installation candidate\n",
        );
        assert!(matches!(
            classify("apt-get", &no_candidate, Duration::ZERO),
            Err(PkgError::NotFound(n)) if n == "lpa-x"
        ));
    }

    #[test]
    fn recorded_missing_version_and_refused_downgrade() {
        let f = fin(
            rec!("install-version-missing.rc"),
            rec!("install-version-missing.stdout"),
            rec!("install-version-missing.stderr"),
        );
        match classify("apt-get install", &f, Duration::ZERO) {
            Err(PkgError::VersionConflict(m)) => {
                assert_eq!(m, "Version '9.9' for 'lpa-hello' was not found")
            }
            other => panic!("{other:?}"),
        }
        let f = fin(
            rec!("install-downgrade-refused.rc"),
            rec!("install-downgrade-refused.stdout"),
            rec!("install-downgrade-refused.stderr"),
        );
        match classify("apt-get install", &f, Duration::ZERO) {
            Err(PkgError::VersionConflict(m)) => {
                assert_eq!(
                    m,
                    "downgrade of lpa-lib not allowed (allow_downgrade is off)"
                )
            }
            other => panic!("{other:?}"),
        }
        let missing = fin(
            rec!("save-download-missing.rc"),
            rec!("save-download-missing.stdout"),
            rec!("save-download-missing.stderr"),
        );
        assert!(matches!(
            classify("apt-get download", &missing, Duration::ZERO),
            Err(PkgError::VersionConflict(_))
        ));
    }

    #[test]
    fn recorded_broken_dependencies() {
        let f = fin(
            rec!("install-broken.rc"),
            rec!("install-broken.stdout"),
            rec!("install-broken.stderr"),
        );
        match classify("apt-get install", &f, Duration::ZERO) {
            Err(PkgError::DependencyConflict(m)) => assert_eq!(
                m,
                "lpa-hello : Depends: lpa-lib (>= 1.0) but it is not going to be installed; \
                 Unable to correct problems, you have held broken packages."
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn recorded_lock_interruption_and_other_failures() {
        let locked = fin(
            rec!("install-locked.rc"),
            rec!("install-locked.stdout"),
            rec!("install-locked.stderr"),
        );
        assert!(matches!(
            classify("apt-get", &locked, Duration::from_secs(3)),
            Err(PkgError::Locked { waited, .. }) if waited == Duration::from_secs(3)
        ));
        // dpkg left interrupted: a plain failure (the engine repairs and reports).
        let interrupted = fin(
            rec!("install-interrupted.rc"),
            rec!("install-interrupted.stdout"),
            rec!("install-interrupted.stderr"),
        );
        match classify("apt-get install", &interrupted, Duration::ZERO) {
            Err(PkgError::Command {
                code, stderr_tail, ..
            }) => {
                assert_eq!(code, Some(100));
                assert!(stderr_tail.contains("dpkg --configure -a"), "{stderr_tail}");
            }
            other => panic!("{other:?}"),
        }
        let killed = fin(rec!("install-killed.rc"), "", rec!("install-killed.stderr"));
        assert!(matches!(
            classify("apt-get", &killed, Duration::ZERO),
            Err(PkgError::Command {
                code: Some(124),
                ..
            })
        ));
    }

    #[test]
    fn recorded_removal_simulations() {
        use super::super::sim::parse_simulation;
        let with_dependent = parse_simulation(rec!("simulate-remove.stdout"));
        assert_eq!(
            extra_removals(&with_dependent, &["lpa-lib".to_string()]),
            ["lpa-hello"]
        );
        assert!(extra_removals(
            &with_dependent,
            &["lpa-lib:amd64".to_string(), "lpa-hello".to_string()]
        )
        .is_empty());
        let alone = parse_simulation(rec!("simulate-remove-alone.stdout"));
        assert_eq!(alone.len(), 1);
        assert!(extra_removals(&alone, &["lpa-tool".to_string()]).is_empty());
    }

    #[test]
    fn recorded_audits() {
        assert!(audit_problems(rec!("dpkg-audit-clean.stdout")).is_empty());
        assert!(audit_problems(rec!("dpkg-audit-repaired.stdout")).is_empty());
        let p = audit_problems(rec!("dpkg-audit-interrupted.stdout"));
        assert_eq!(p.len(), 4);
        assert_eq!(p[3], " lpa-slow             LPA fixture slow");
        assert_eq!(rec!("dpkg-audit-interrupted.rc").trim(), "0");
        assert_eq!(audit_packages(&p), ["lpa-slow"]);
        assert!(audit_packages(&["odd text".to_string()]).is_empty());
    }

    #[test]
    fn dpkg_outcomes() {
        let ok = fin(rec!("configure-a.rc"), rec!("configure-a.stdout"), "");
        assert!(classify_dpkg("dpkg --configure -a", &ok, Duration::ZERO).is_ok());
        let locked = fin(
            "2",
            "",
            "dpkg: error: dpkg frontend lock was locked by another process with pid 7\n\
             Note: removing the lock file is always wrong, can damage the locked area\n",
        );
        assert!(matches!(
            classify_dpkg("dpkg", &locked, Duration::ZERO),
            Err(PkgError::Locked { tool, .. }) if tool == "dpkg"
        ));
        let other = fin("1", "", "dpkg: error processing package x (--configure):\n");
        assert!(matches!(
            classify_dpkg("dpkg", &other, Duration::ZERO),
            Err(PkgError::Command { code: Some(1), .. })
        ));
    }

    #[test]
    fn heading_lists_and_archive_names() {
        let out = rec!("simulate-install-regex.stdout");
        assert_eq!(
            listed_after(out, "The following NEW packages will be installed:"),
            ["lpa-hello", "lpa-lib"]
        );
        assert!(listed_after(out, "The following packages will be REMOVED:").is_empty());
        assert_eq!(
            archive_file_name("lpa-lib", "1.0-1", "all"),
            rec!("save-download.ls").trim()
        );
        assert_eq!(
            archive_file_name("libfoo", "2:1.0-1", "amd64"),
            "libfoo_2%3a1.0-1_amd64.deb"
        );
    }
}
