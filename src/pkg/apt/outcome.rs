//! How an apt-get run ended, as a result: success, a held lock, or apt's own errors.

use std::time::Duration;

use super::super::runner::Finished;
use super::super::PkgError;
use super::{APT_ERROR, TAIL_LINES, TOOL};

/// Maps how an apt-get run ended to a result: exit 0 is success; a lock held by another
/// process (apt's "Could not get lock" family of errors) is [`PkgError::Locked`] with the
/// time waited so far; anything else is [`PkgError::Command`] with apt's `E:` lines.
pub fn check_outcome(command: &str, fin: &Finished, waited: Duration) -> Result<(), PkgError> {
    if fin.code == Some(0) {
        return Ok(());
    }
    if fin.code == Some(APT_ERROR) && is_lock_failure(&fin.stderr) {
        return Err(PkgError::Locked {
            tool: TOOL.to_string(),
            waited,
        });
    }
    Err(PkgError::Command {
        command: command.to_string(),
        code: fin.code,
        stderr_tail: stderr_tail(&fin.stderr),
    })
}

/// Whether apt's error output says a lock was busy (dpkg's frontend or database lock, the
/// lists lock or the archives lock).
pub fn is_lock_failure(stderr: &str) -> bool {
    stderr.lines().filter(|l| l.starts_with("E:")).any(|l| {
        l.contains("Could not get lock")
            || l.contains("Unable to acquire the dpkg frontend lock")
            || l.contains("Unable to lock the administration directory")
            || l.contains("Unable to lock directory")
    })
}

/// apt's `E:` lines (the last [`TAIL_LINES`]); when there are none, the last lines of the
/// whole error output.
pub fn stderr_tail(stderr: &str) -> String {
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("E:")).collect();
    let lines: Vec<&str> = if errors.is_empty() {
        stderr.lines().filter(|l| !l.trim().is_empty()).collect()
    } else {
        errors
    };
    lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n")
}
