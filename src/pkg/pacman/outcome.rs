//! How a pacman run ends: waiting for and classifying the database lock, reading failures
//! (dependency errors, unknown targets, failed install scripts) and finding a running pacman
//! for `repair`. Separate because both reads and changes share it.

use std::fs;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use super::{LOCK_POLL, STDERR_TAIL_LINES};
use crate::pkg::runner::{self, Command, Finished};
use crate::pkg::PkgError;

/// Waits until `lock` does not exist, looking every `poll`; false when `deadline` passed
/// first.
pub fn wait_for_lock(lock: &Path, deadline: Instant, poll: Duration) -> bool {
    loop {
        if !lock.exists() {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        thread::sleep(poll.min(deadline - now));
    }
}

pub(super) fn locked(started: Instant) -> PkgError {
    PkgError::Locked {
        tool: "pacman".to_string(),
        waited: started.elapsed(),
    }
}

pub(super) fn capture(cmd: &Command) -> Result<Finished, PkgError> {
    runner::capture(cmd).map_err(PkgError::from)
}

pub(super) fn command_failed(cmd: &Command, done: &Finished) -> PkgError {
    PkgError::Command {
        command: cmd.display(),
        code: done.code,
        stderr_tail: tail(&done.stderr, STDERR_TAIL_LINES),
    }
}

pub(super) fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Whether pacman's output says dependencies cannot be satisfied or conflict (recorded:
/// "breaks dependency" on stdout from `-R`, "could not satisfy dependencies" on stderr).
pub fn is_dependency_error(output: &str) -> bool {
    [
        "could not satisfy dependencies",
        "conflicting dependencies",
        "breaks dependency",
        "unable to satisfy dependency",
        "unresolvable package conflicts",
    ]
    .iter()
    .any(|m| output.contains(m))
}

/// The names pacman reported as unknown (`error: target not found: NAME`).
pub fn targets_not_found(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix("error: target not found: "))
        .map(|n| n.trim().to_string())
        .collect()
}

/// Whether an install script failed: pacman says so on stderr and still exits 0.
pub fn scriptlet_failed(stderr: &str) -> bool {
    stderr.contains("error: command failed to execute correctly")
}

/// Reads how a changing pacman command ended. A failed install script is a failure even
/// though pacman exits 0 (the package stays installed; the caller's before/after comparison
/// shows it), so that a job never reports success over a broken scriptlet.
pub fn interpret_change(cmd: &Command, done: &Finished) -> Result<(), PkgError> {
    if done.code == Some(0) {
        if scriptlet_failed(&done.stderr) {
            return Err(PkgError::Command {
                command: cmd.display(),
                code: done.code,
                stderr_tail: format!(
                    "an install script failed (pacman exits 0; the package stays installed): {}",
                    tail(&done.stderr, STDERR_TAIL_LINES)
                ),
            });
        }
        return Ok(());
    }
    let missing = targets_not_found(&done.stderr);
    if !missing.is_empty() {
        return Err(PkgError::NotFound(missing.join(", ")));
    }
    let both = format!("{}\n{}", done.stdout, done.stderr);
    if is_dependency_error(&both) {
        let why: Vec<&str> = both
            .lines()
            .filter(|l| is_dependency_error(l) || l.starts_with("warning: cannot resolve"))
            .map(|l| l.trim_start_matches(":: ").trim())
            .collect();
        return Err(PkgError::DependencyConflict(why.join("; ")));
    }
    Err(command_failed(cmd, done))
}

/// Maps a runner error of a changing command: cancel and deadline keep their meaning.
/// Waits until `lock` is gone, like [`wait_for_lock`], but gives up when `cancel` is set.
pub(super) fn wait_for_lock_or_cancel(
    lock: &Path,
    deadline: Instant,
    cancel: &runner::Cancel,
) -> Result<bool, ()> {
    loop {
        if cancel.is_cancelled() {
            return Err(());
        }
        let slice = (Instant::now() + LOCK_POLL).min(deadline);
        if wait_for_lock(lock, slice, LOCK_POLL) {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
    }
}

/// Live processes (not zombies) whose command name is `pacman`, read from `/proc`.
pub fn running_pacman_pids(proc_dir: &Path) -> Vec<u32> {
    let Ok(entries) = fs::read_dir(proc_dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        if stat_is_live_pacman(&stat) && pid != std::process::id() {
            out.push(pid);
        }
    }
    out.sort_unstable();
    out
}

/// Whether one `/proc/PID/stat` line is a running (not zombie) `pacman`; the command name
/// sits between the first `(` and the last `)`.
pub fn stat_is_live_pacman(stat: &str) -> bool {
    let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
        return false;
    };
    if close < open {
        return false;
    }
    let state = stat[close + 1..].split_whitespace().next();
    &stat[open + 1..close] == "pacman" && !matches!(state, Some("Z") | Some("X"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pkg::pacman::tests::{finished, TempRoot, SY_BAD_ERR, U_LOCKED_ERR};

    const S_NOPE_ERR: &str = include_str!("../../../tests/data/pacman/s-nope.stderr");
    const R_NOPE_ERR: &str = include_str!("../../../tests/data/pacman/r-nope.stderr");
    const R_BREAKS_OUT: &str = include_str!("../../../tests/data/pacman/r-lib-breaks.stdout");
    const R_BREAKS_ERR: &str = include_str!("../../../tests/data/pacman/r-lib-breaks.stderr");
    const U_UNSAT_OUT: &str = include_str!("../../../tests/data/pacman/u-unsatisfied.stdout");
    const U_UNSAT_ERR: &str = include_str!("../../../tests/data/pacman/u-unsatisfied.stderr");
    const U_SCRIPTFAIL_OUT: &str = include_str!("../../../tests/data/pacman/u-scriptfail.stdout");
    const U_SCRIPTFAIL_ERR: &str = include_str!("../../../tests/data/pacman/u-scriptfail.stderr");
    const S_AGAIN_OUT: &str = include_str!("../../../tests/data/pacman/s-needed-again.stdout");
    const S_AGAIN_ERR: &str = include_str!("../../../tests/data/pacman/s-needed-again.stderr");
    const U_DOWN_OUT: &str = include_str!("../../../tests/data/pacman/u-cache-downgrade.stdout");
    const U_DOWN_ERR: &str = include_str!("../../../tests/data/pacman/u-cache-downgrade.stderr");
    const R_PACSAVE_ERR: &str = include_str!("../../../tests/data/pacman/r-hello-pacsave.stderr");

    #[test]
    fn bad_server_stderr_tail_keeps_the_reason() {
        let cmd = Command::new("pacman").arg("-Sy");
        let e = command_failed(&cmd, &finished(1, "", SY_BAD_ERR));
        let text = e.to_string();
        assert!(text.contains("failed retrieving file 'lpa.db'"), "{text}");
        assert!(text.contains("exit code 1"), "{text}");
    }

    #[test]
    fn lock_wait_gives_up_at_the_deadline() {
        let t = TempRoot::new("lock");
        let lock = t.0.join("db.lck");
        fs::write(&lock, "").unwrap();
        let start = Instant::now();
        let r = wait_for_lock(&lock, start + Duration::from_millis(250), LOCK_POLL);
        assert!(!r);
        assert!(start.elapsed() >= Duration::from_millis(250));
        assert!(start.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn lock_wait_returns_once_the_lock_goes() {
        let t = TempRoot::new("unlock");
        let lock = t.0.join("db.lck");
        fs::write(&lock, "").unwrap();
        let l2 = lock.clone();
        let h = thread::spawn(move || {
            thread::sleep(Duration::from_millis(150));
            fs::remove_file(l2).unwrap();
        });
        let r = wait_for_lock(
            &lock,
            Instant::now() + Duration::from_secs(5),
            Duration::from_millis(20),
        );
        h.join().unwrap();
        assert!(r);
    }

    #[test]
    fn recorded_failures_are_classified() {
        let cmd = Command::new("pacman");
        assert!(matches!(
            interpret_change(&cmd, &finished(1, "", S_NOPE_ERR)),
            Err(PkgError::NotFound(n)) if n == "nope"
        ));
        assert!(matches!(
            interpret_change(&cmd, &finished(1, "", R_NOPE_ERR)),
            Err(PkgError::NotFound(n)) if n == "nope"
        ));
        // -R: the reason is on stdout, the summary on stderr.
        match interpret_change(&cmd, &finished(1, R_BREAKS_OUT, R_BREAKS_ERR)) {
            Err(PkgError::DependencyConflict(m)) => {
                assert!(
                    m.contains(
                        "removing lpa-lib breaks dependency 'lpa-lib>=1.0' required by lpa-hello"
                    ),
                    "{m}"
                )
            }
            other => panic!("{other:?}"),
        }
        match interpret_change(&cmd, &finished(1, U_UNSAT_OUT, U_UNSAT_ERR)) {
            Err(PkgError::DependencyConflict(m)) => {
                assert!(
                    m.contains("unable to satisfy dependency 'lpa-lib>=1.0'"),
                    "{m}"
                )
            }
            other => panic!("{other:?}"),
        }
        match interpret_change(&cmd, &finished(1, "", U_LOCKED_ERR)) {
            Err(PkgError::Command { code, .. }) => assert_eq!(code, Some(1)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_failed_install_script_is_a_failure_despite_exit_zero() {
        let cmd = Command::new("pacman");
        assert!(U_SCRIPTFAIL_OUT.contains("installing lpa-fail"));
        match interpret_change(&cmd, &finished(0, U_SCRIPTFAIL_OUT, U_SCRIPTFAIL_ERR)) {
            Err(PkgError::Command {
                code, stderr_tail, ..
            }) => {
                assert_eq!(code, Some(0));
                assert!(
                    stderr_tail.contains("install script failed"),
                    "{stderr_tail}"
                );
                assert!(stderr_tail.contains("command failed to execute correctly"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn recorded_warnings_with_exit_zero_are_success() {
        let cmd = Command::new("pacman");
        assert!(interpret_change(&cmd, &finished(0, S_AGAIN_OUT, S_AGAIN_ERR)).is_ok());
        assert!(interpret_change(&cmd, &finished(0, U_DOWN_OUT, U_DOWN_ERR)).is_ok());
        assert!(interpret_change(&cmd, &finished(0, "", R_PACSAVE_ERR)).is_ok());
    }

    #[test]
    fn runner_errors_keep_cancel_and_timeout() {
        let c = runner::RunError::Cancelled {
            command: "pacman -S".into(),
        };
        assert!(matches!(PkgError::from(c), PkgError::Cancelled(m) if m == "pacman -S"));
        let t = runner::RunError::Timeout {
            command: "pacman -S".into(),
            after: Duration::from_secs(3),
        };
        assert!(
            matches!(PkgError::from(t), PkgError::Timeout { after, .. } if after == Duration::from_secs(3))
        );
    }

    #[test]
    fn proc_stat_lines_find_live_pacman_only() {
        assert!(stat_is_live_pacman("4242 (pacman) S 1 4242 4242 0 -1"));
        assert!(!stat_is_live_pacman("4242 (pacman) Z 1 4242 4242 0 -1"));
        assert!(!stat_is_live_pacman("4242 (pacman-key) S 1 4242"));
        assert!(!stat_is_live_pacman("4242 (sleep) S 1 4242"));
        // A command name may itself hold ") ".
        assert!(!stat_is_live_pacman("4242 (x) pacman) S 1"));
        assert!(!stat_is_live_pacman("garbage"));
        let t = TempRoot::new("proc");
        for (pid, stat) in [
            ("10", "10 (pacman) S 1"),
            ("11", "11 (bash) S 1"),
            ("x", ""),
        ] {
            fs::create_dir_all(t.0.join(pid)).unwrap();
            fs::write(t.0.join(pid).join("stat"), stat).unwrap();
        }
        assert_eq!(running_pacman_pids(&t.0), [10]);
    }
}
