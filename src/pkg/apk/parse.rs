//! Reading apk's command output: `apk version -l '<'`, `apk info -a`, and how `apk update`,
//! `add` and `del` ended (exit code and messages).

use crate::pkg::runner::{Command, Finished};
use crate::pkg::{PkgError, Upgrade};

/// How many trailing output lines an error keeps.
const TAIL_LINES: usize = 10;

/// Prefixes of the warnings apk prints for a repository it could not read. For a local
/// (path) repository this is the only sign: `apk update` still exits 0.
const REPO_WARNINGS: [&str; 7] = [
    "WARNING: opening ",
    "WARNING: fetching ",
    "WARNING: updating ",
    "WARNING: opening from cache ",
    "WARNING: updating and opening ",
    // apk-tools before 2.12.
    "WARNING: Ignoring ",
    "WARNING: failed to ",
];

/// Splits `name-version` the way apk does: the version starts at the last `-` followed by a
/// digit, skipping at most one other `-` (the `-rN` release).
pub fn split_name_version(s: &str) -> Option<(&str, &str)> {
    let bytes = s.as_bytes();
    let mut other_dashes = 0;
    for i in (0..bytes.len()).rev() {
        if bytes[i] != b'-' {
            continue;
        }
        if bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
            return (i > 0).then(|| (&s[..i], &s[i + 1..]));
        }
        other_dashes += 1;
        if other_dashes >= 2 {
            return None;
        }
    }
    None
}

/// Parses `apk version -l '<'` (apk 2 and 3 print the same): a header, then
/// `name-version   < newversion [tag]` per line.
pub fn parse_version_list(stdout: &str) -> Result<Vec<Upgrade>, PkgError> {
    let mut out = Vec::new();
    for line in stdout.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [] | ["Installed:", ..] => {}
            [pkg, "<", new, rest @ ..] if rest.len() <= 1 => {
                let (name, current) = split_name_version(pkg).ok_or_else(|| bad_line(line))?;
                out.push(Upgrade {
                    name: name.to_string(),
                    current_version: current.to_string(),
                    available_version: new.to_string(),
                    arch: None,
                    origins: rest.iter().map(|t| t.to_string()).collect(),
                });
            }
            _ => return Err(bad_line(line)),
        }
    }
    Ok(out)
}

fn bad_line(line: &str) -> PkgError {
    PkgError::Parse {
        what: "apk version -l '<' output".to_string(),
        message: format!("unexpected line: {line}"),
    }
}

/// The first repository warning in apk's output, if any.
pub fn repository_warning(output: &str) -> Option<&str> {
    output
        .lines()
        .map(str::trim_end)
        .find(|l| REPO_WARNINGS.iter().any(|w| l.starts_with(w)))
}

/// Whether apk failed because another process held its database lock (the error apk gives
/// without `--wait`, or when `--wait` ran out), not for lack of permission.
pub fn is_lock_error(stderr: &str) -> bool {
    stderr.lines().any(|l| {
        l.contains("Unable to lock database")
            && (l.contains("Resource temporarily unavailable")
                || l.contains("Interrupted system call"))
    })
}

/// What apk says of an index or package without a trusted signature: apk 2 and 3 alike,
/// `WARNING: opening SOURCE: UNTRUSTED signature` for an index (exit 0: the repository is
/// then skipped, so its packages are "no such package") and `ERROR: PKG: UNTRUSTED
/// signature` for a package.
const UNTRUSTED: &str = ": UNTRUSTED signature";

/// The sources apk refused for want of a trusted signature, each once, in order.
pub fn untrusted_sources(output: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in output.lines() {
        let Some(head) = line.trim().strip_suffix(UNTRUSTED) else {
            continue;
        };
        let source = head
            .trim_start_matches("WARNING: ")
            .trim_start_matches("ERROR: ")
            .trim_start_matches("opening ")
            .to_string();
        if !out.contains(&source) {
            out.push(source);
        }
    }
    out
}

/// `Untrusted` when apk refused a source for its signature, with one message saying how to
/// trust it; this is the cause of whatever else apk reported (missing packages).
pub fn check_untrusted(done: &Finished) -> Result<(), PkgError> {
    let mut sources = untrusted_sources(&done.stderr);
    for s in untrusted_sources(&done.stdout) {
        if !sources.contains(&s) {
            sources.push(s);
        }
    }
    if sources.is_empty() {
        return Ok(());
    }
    Err(PkgError::Untrusted(format!(
        "apk refused {} (UNTRUSTED signature): install its signing key in /etc/apk/keys, \
         or set apk.allow_untrusted to use unsigned repositories",
        sources.join(", ")
    )))
}

/// Reads how `apk update` ended: exit 0 with a repository warning is a failure too.
pub fn interpret_refresh(
    cmd: &Command,
    done: &Finished,
    waited: std::time::Duration,
) -> Result<(), PkgError> {
    if is_lock_error(&done.stderr) {
        return Err(PkgError::Locked {
            tool: "apk".to_string(),
            waited,
        });
    }
    check_untrusted(done)?;
    if done.code != Some(0) {
        return Err(command_failed(cmd, done));
    }
    let warning = repository_warning(&done.stderr).or_else(|| repository_warning(&done.stdout));
    match warning {
        None => Ok(()),
        Some(w) => Err(PkgError::Command {
            command: cmd.display(),
            code: done.code,
            stderr_tail: w.to_string(),
        }),
    }
}

/// A failed command with the tail of its error output.
pub fn command_failed(cmd: &Command, done: &Finished) -> PkgError {
    let lines: Vec<&str> = done.stderr.lines().collect();
    PkgError::Command {
        command: cmd.display(),
        code: done.code,
        stderr_tail: lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n"),
    }
}

/// The versions of `name` in `apk info -a` output: each block starts with
/// `NAME-VERSION description:` (recorded, apk 2 and 3).
pub fn parse_info_versions(stdout: &str, name: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in stdout.lines() {
        let Some(pkg) = line.strip_suffix(" description:") else {
            continue;
        };
        if let Some((n, v)) = split_name_version(pkg) {
            if n == name && !out.iter().any(|o| o == v) {
                out.push(v.to_string());
            }
        }
    }
    out
}

/// What apk printed when `del` kept a package others need: it exits 0 after taking the
/// name out of `/etc/apk/world` (apk-tools `app_del.c`; not recorded).
const NOT_REMOVED: &str = "World updated, but the following packages are not removed due to:";

/// Reads how `apk add`/`apk del` ended. Classified from the recordings: `unable to select
/// packages` + `(no such package)` and `No such package: NAME` are `NotFound`; from
/// apk-tools' source (not recorded): any other `unable to select packages` (conflicts,
/// `breaks:`) and `del`'s "not removed due to" (exit 0!) are `DependencyConflict`, a busy
/// lock is `Locked`. A failed install script makes apk exit 1 with the package installed
/// (recorded behaviour): that is a failure (`Command`), like any other non-zero exit.
pub fn interpret_change(
    cmd: &Command,
    done: &Finished,
    waited: std::time::Duration,
) -> Result<(), PkgError> {
    if is_lock_error(&done.stderr) {
        return Err(PkgError::Locked {
            tool: "apk".to_string(),
            waited,
        });
    }
    check_untrusted(done)?;
    let both = format!("{}\n{}", done.stdout, done.stderr);
    if let Some(at) = both.find(NOT_REMOVED) {
        // The reasons follow the header line, indented, up to a blank line.
        let why: Vec<&str> = both[at + NOT_REMOVED.len()..]
            .lines()
            .skip(1)
            .map(str::trim)
            .take_while(|l| !l.is_empty())
            .collect();
        return Err(PkgError::DependencyConflict(format!(
            "not removed, still needed: {}",
            why.join("; ")
        )));
    }
    if done.code == Some(0) {
        return Ok(());
    }
    let missing = unknown_names(&done.stderr);
    if !missing.is_empty() {
        return Err(PkgError::NotFound(missing.join(", ")));
    }
    if done.stderr.contains("unable to select packages") {
        let why: Vec<&str> = done.stderr.lines().skip(1).map(str::trim).collect();
        return Err(PkgError::DependencyConflict(why.join("; ")));
    }
    Err(command_failed(cmd, done))
}

/// Names apk reported as unknown: `NAME (no such package):` under `unable to select
/// packages`, or `ERROR: No such package: NAME` from `del` (both recorded).
pub fn unknown_names(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            l.strip_suffix(" (no such package):")
                .or_else(|| l.strip_prefix("ERROR: No such package: "))
        })
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const VERSION_APK2: &str = include_str!("../../../tests/data/apk/version-l-apk2.stdout");
    const VERSION_APK3: &str = include_str!("../../../tests/data/apk/version-l-apk3.stdout");
    const UPDATE_APK2: &str = include_str!("../../../tests/data/apk/update-apk2.stdout");
    const UPDATE_APK3: &str = include_str!("../../../tests/data/apk/update-apk3.stdout");
    const INFO_A_APK2: &str = include_str!("../../../tests/data/apk/info-a-lpa-hello-apk2.stdout");
    const INFO_A_APK3: &str = include_str!("../../../tests/data/apk/info-a-lpa-hello-apk3.stdout");
    const ADD_NOPE_ERR: &str = include_str!("../../../tests/data/apk/add-nope.stderr");
    const DEL_NOPE_ERR: &str = include_str!("../../../tests/data/apk/del-nope.stderr");
    const ADD_EXACT_APK2: &str = include_str!("../../../tests/data/apk/add-exact-apk2.stdout");
    const ADD_U_APK2: &str = include_str!("../../../tests/data/apk/add-u-apk2.stdout");
    const ADD_DOWN_APK3: &str = include_str!("../../../tests/data/apk/add-downgrade-apk3.stdout");
    const DEL_APK3: &str = include_str!("../../../tests/data/apk/del-apk3.stdout");

    fn finished(code: i32, stdout: &str, stderr: &str) -> Finished {
        Finished {
            code: Some(code),
            stdout: stdout.to_string(),
            stderr: stderr.to_string(),
        }
    }

    /// A root holding the recorded installed database, removed on drop.

    #[test]
    fn name_version_split_as_apk_does() {
        assert_eq!(
            split_name_version("lpa-hello-1.0-r0"),
            Some(("lpa-hello", "1.0-r0"))
        );
        assert_eq!(
            split_name_version("py3-foo-2-1.2_rc1-r3"),
            Some(("py3-foo-2", "1.2_rc1-r3"))
        );
        assert_eq!(
            split_name_version("musl-1.2.5-r0"),
            Some(("musl", "1.2.5-r0"))
        );
        assert_eq!(split_name_version("nodigits"), None);
        assert_eq!(split_name_version("a-b-c-d"), None);
    }

    #[test]
    fn version_list_of_apk2_and_apk3() {
        for out in [VERSION_APK2, VERSION_APK3] {
            let u = parse_version_list(out).unwrap();
            assert_eq!(u.len(), 2);
            assert_eq!(u[0].name, "lpa-hello");
            assert_eq!(u[0].current_version, "1.0-r0");
            assert_eq!(u[0].available_version, "2.0-r0");
            assert!(u[0].origins.is_empty());
            assert_eq!(
                (u[1].name.as_str(), u[1].available_version.as_str()),
                ("lpa-lib", "2.0-r0")
            );
        }
    }

    #[test]
    fn version_list_edge_cases() {
        let header_only = "Installed:                                Available:\n";
        assert!(parse_version_list(header_only).unwrap().is_empty());
        let tagged = "curl-8.0-r0                             < 8.1-r0 @edge\n";
        assert_eq!(parse_version_list(tagged).unwrap()[0].origins, ["@edge"]);
        assert!(matches!(
            parse_version_list("lpa-hello-1.0-r0 = 1.0-r0\n"),
            Err(PkgError::Parse { .. })
        ));
    }

    #[test]
    fn recorded_update_output_is_success() {
        let cmd = Command::new("apk").arg("update");
        for out in [UPDATE_APK2, UPDATE_APK3] {
            interpret_refresh(&cmd, &finished(0, out, ""), Duration::ZERO).unwrap();
        }
    }

    #[test]
    fn missing_local_repository_warning_fails_despite_exit_zero() {
        let cmd = Command::new("apk").arg("update");
        // apk 2.12+/3 wording for a local repository it cannot open (source: database.c).
        let stderr = "WARNING: opening /srv/apkrepo: No such file or directory\n";
        let stdout = "OK: 0 distinct packages available\n";
        match interpret_refresh(&cmd, &finished(0, stdout, stderr), Duration::ZERO) {
            Err(PkgError::Command {
                code, stderr_tail, ..
            }) => {
                assert_eq!(code, Some(0));
                assert!(stderr_tail.contains("/srv/apkrepo"), "{stderr_tail}");
            }
            other => panic!("{other:?}"),
        }
        let old = "WARNING: Ignoring /srv/apkrepo: No such file or directory\n";
        assert!(interpret_refresh(&cmd, &finished(0, "", old), Duration::ZERO).is_err());
        // Other warnings are not fetch failures.
        let other = "WARNING: This apk-tools is OLD! Some packages might not function properly.\n";
        assert!(interpret_refresh(&cmd, &finished(0, UPDATE_APK2, other), Duration::ZERO).is_ok());
    }

    #[test]
    fn remote_failure_exit_code_fails() {
        let cmd = Command::new("apk").arg("update");
        let out = "1 unavailable, 0 stale; 5 distinct packages available\n";
        let err = "WARNING: fetching https://x.invalid/main: DNS lookup error\n";
        assert!(matches!(
            interpret_refresh(&cmd, &finished(1, out, err), Duration::ZERO),
            Err(PkgError::Command { code: Some(1), .. })
        ));
    }

    #[test]
    fn lock_contention_is_locked_but_permission_is_not() {
        let cmd = Command::new("apk").arg("update");
        let busy = "ERROR: Unable to lock database: Resource temporarily unavailable\n\
                    ERROR: Failed to open apk database: Resource temporarily unavailable\n";
        match interpret_refresh(&cmd, &finished(99, "", busy), Duration::from_secs(7)) {
            Err(PkgError::Locked { tool, waited }) => {
                assert_eq!((tool.as_str(), waited), ("apk", Duration::from_secs(7)));
            }
            other => panic!("{other:?}"),
        }
        let timed_out = "ERROR: Unable to lock database: Interrupted system call\n";
        assert!(is_lock_error(timed_out));
        let denied = "ERROR: Unable to lock database: Permission denied\n";
        assert!(!is_lock_error(denied));
        assert!(matches!(
            interpret_refresh(&cmd, &finished(99, "", denied), Duration::ZERO),
            Err(PkgError::Command { .. })
        ));
    }

    #[test]
    fn info_a_lists_every_version_in_apk2_and_apk3() {
        for out in [INFO_A_APK2, INFO_A_APK3] {
            assert_eq!(
                parse_info_versions(out, "lpa-hello"),
                ["1.0-r0", "1.1-r0", "2.0-r0"]
            );
            assert!(parse_info_versions(out, "lpa-lib").is_empty());
            assert!(parse_info_versions(out, "lpa").is_empty());
        }
        assert!(parse_info_versions("", "nope").is_empty());
    }

    #[test]
    fn recorded_changes_are_classified() {
        let cmd = Command::new("apk");
        let w = Duration::from_secs(3);
        for ok in [ADD_EXACT_APK2, ADD_U_APK2, ADD_DOWN_APK3, DEL_APK3] {
            assert!(interpret_change(&cmd, &finished(0, ok, ""), w).is_ok());
        }
        assert!(matches!(
            interpret_change(&cmd, &finished(1, "", ADD_NOPE_ERR), w),
            Err(PkgError::NotFound(n)) if n == "nope"
        ));
        assert!(matches!(
            interpret_change(&cmd, &finished(1, "", DEL_NOPE_ERR), w),
            Err(PkgError::NotFound(n)) if n == "nope"
        ));
        let busy = "ERROR: Unable to lock database: Resource temporarily unavailable\n";
        assert!(matches!(
            interpret_change(&cmd, &finished(1, "", busy), w),
            Err(PkgError::Locked { waited, .. }) if waited == w
        ));
    }

    #[test]
    fn source_only_messages_are_classified() {
        let cmd = Command::new("apk");
        let w = Duration::ZERO;
        // app_del.c: exit 0, the package stays.
        let kept = "World updated, but the following packages are not removed due to:\n  lpa-lib: lpa-hello\n\nOK: 0 MiB in 2 packages\n";
        match interpret_change(&cmd, &finished(0, kept, ""), w) {
            Err(PkgError::DependencyConflict(m)) => {
                assert_eq!(m, "not removed, still needed: lpa-lib: lpa-hello")
            }
            other => panic!("{other:?}"),
        }
        let breaks = "ERROR: unable to select packages:\n  lpa-hello-2.0-r0:\n    breaks: world[lpa-lib<2.0]\n";
        assert!(matches!(
            interpret_change(&cmd, &finished(1, "", breaks), w),
            Err(PkgError::DependencyConflict(m)) if m.contains("breaks: world[lpa-lib<2.0]")
        ));
        // A failed install script: exit 1, package installed; a plain failure.
        let script = "ERROR: lpa-slow-1.0-r0.post-install: script exited with error 1\n";
        assert!(matches!(
            interpret_change(&cmd, &finished(1, "", script), w),
            Err(PkgError::Command { code: Some(1), .. })
        ));
    }

    #[test]
    fn untrusted_signatures_are_one_error_naming_each_source_once() {
        let cmd = Command::new("apk");
        let w = Duration::ZERO;
        // Seen with apk-tools 2.14.10 and 3.0.6 on an unsigned fixture repository.
        let v2 = "WARNING: opening /srv/lpa-apk/unsigned: UNTRUSTED signature\n\
                  ERROR: unable to select packages:\n  lpa-hello (no such package):\n    \
                  required by: world[lpa-hello]\n";
        let v3 =
            "WARNING: opening /srv/lpa-apk/unsigned/x86_64/APKINDEX.tar.gz: UNTRUSTED signature\n";
        let e = interpret_change(&cmd, &finished(1, "", v2), w).unwrap_err();
        match &e {
            PkgError::Untrusted(m) => {
                assert!(m.contains("/srv/lpa-apk/unsigned (UNTRUSTED"), "{m}");
                assert!(m.contains("apk.allow_untrusted"), "{m}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(e.to_string().matches("UNTRUSTED").count(), 1, "{e}");
        let twice = format!("{v3}{v3}");
        assert!(matches!(
            interpret_refresh(&cmd, &finished(0, "OK: 0 distinct packages available\n", &twice), w),
            Err(PkgError::Untrusted(m)) if m.matches("APKINDEX").count() == 1
        ));
        assert_eq!(
            untrusted_sources("ERROR: lpa-hello-2.0-r0: UNTRUSTED signature\n"),
            ["lpa-hello-2.0-r0"]
        );
        assert!(check_untrusted(&finished(0, UPDATE_APK2, "")).is_ok());
    }

    #[test]
    fn unknown_names_from_both_recorded_forms() {
        assert_eq!(unknown_names(ADD_NOPE_ERR), ["nope"]);
        assert_eq!(unknown_names(DEL_NOPE_ERR), ["nope"]);
        assert!(unknown_names("ERROR: unable to select packages:\n  x-1-r0:\n").is_empty());
    }
}
