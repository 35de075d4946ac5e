//! How a dnf or yum run ends: retrying while the lock is busy and classifying failures
//! (not found, dependency problems, nothing to do). Separate because reads and changes
//! share it.

use std::thread;
use std::time::{Duration, Instant};

use super::EXIT_LOCKED;
use crate::pkg::runner::Finished;
use crate::pkg::PkgError;

/// Runs `attempt` until it is not refused for a busy lock (exit 200, or dnf's "already
/// locked by" message), sleeping `poll` between tries; after `wait` it gives up with
/// [`PkgError::Locked`].
pub fn with_lock_retry(
    attempt: &mut dyn FnMut() -> Result<Finished, PkgError>,
    wait: Duration,
    poll: Duration,
    tool: &str,
) -> Result<Finished, PkgError> {
    let start = Instant::now();
    loop {
        let finished = attempt()?;
        if !is_locked(&finished) {
            return Ok(finished);
        }
        let waited = start.elapsed();
        if waited >= wait {
            return Err(PkgError::Locked {
                tool: tool.to_string(),
                waited,
            });
        }
        thread::sleep(poll.min(wait - waited));
    }
}

/// Whether dnf/yum gave up because another process holds its lock.
pub fn is_locked(finished: &Finished) -> bool {
    finished.code == Some(EXIT_LOCKED)
        || (finished.code != Some(0) && finished.stderr.contains("already locked by"))
}

/// Why a dnf/yum change failed, from its recorded messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DnfFailure {
    /// "No match for argument: X" / "Unable to find a match: X Y": these arguments matched
    /// no package (unknown name, or a version no repository offers).
    Unmatched(Vec<String>),
    /// The solver's "Problem: ..." report (unsatisfiable requirement, conflict).
    Dependency(String),
    /// Anything else.
    Other,
}

/// Classifies a failed dnf/yum change from its output.
pub fn classify_failure(finished: &Finished) -> DnfFailure {
    let mut unmatched: Vec<String> = Vec::new();
    let both = format!("{}\n{}", finished.stdout, finished.stderr);
    for line in both.lines() {
        let line = line.trim();
        let found = line
            .strip_prefix("No match for argument: ")
            .or_else(|| line.strip_prefix("Error: Unable to find a match: "))
            .or_else(|| {
                line.strip_prefix("No package ")
                    .and_then(|r| r.strip_suffix(" available."))
            });
        for arg in found.into_iter().flat_map(str::split_whitespace) {
            if !unmatched.iter().any(|u| u == arg) {
                unmatched.push(arg.to_string());
            }
        }
    }
    if !unmatched.is_empty() {
        return DnfFailure::Unmatched(unmatched);
    }
    let problem = problem_lines(&finished.stderr);
    if !problem.is_empty() {
        return DnfFailure::Dependency(problem);
    }
    DnfFailure::Other
}

/// The solver report: from the first "Problem" line, its lines (trimmed) joined.
pub(super) fn problem_lines(stderr: &str) -> String {
    let mut lines = stderr.lines().map(str::trim);
    let mut out: Vec<&str> = Vec::new();
    for line in lines.by_ref() {
        if line.starts_with("Problem") || is_dependency_line(line) {
            out.push(line);
            break;
        }
    }
    out.extend(lines.filter(|l| !l.is_empty()));
    out.join("\n")
}

pub(super) fn is_dependency_line(line: &str) -> bool {
    line.contains("nothing provides")
        || line.contains("conflicts with")
        || line.contains("Error: Transaction test error")
}
