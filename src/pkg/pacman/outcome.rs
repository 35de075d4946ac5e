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
