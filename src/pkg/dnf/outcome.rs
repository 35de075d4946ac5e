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

#[cfg(test)]
mod tests {
    use super::*;

    const LOCKED_STDERR: &str =
        include_str!("../../../tests/data/dnf/dnf-check-update-locked.stderr");
    const BROKEN_STDERR: &str = include_str!("../../../tests/data/dnf/dnf-makecache-broken.stderr");
    fn rec(code: i32, stdout: &str, stderr: &str) -> Finished {
        Finished {
            code: Some(code),
            stdout: stdout.to_string(),
            stderr: stderr.to_string(),
        }
    }

    #[test]
    fn locked_recorded_and_retry_is_bounded() {
        let locked = Finished {
            code: Some(200),
            stdout: String::new(),
            stderr: LOCKED_STDERR.to_string(),
        };
        assert!(is_locked(&locked));
        let broken = Finished {
            code: Some(1),
            stdout: String::new(),
            stderr: BROKEN_STDERR.to_string(),
        };
        assert!(!is_locked(&broken));
        let mut tries = 0;
        let mut attempt = || {
            tries += 1;
            Ok(locked.clone())
        };
        let err = with_lock_retry(
            &mut attempt,
            Duration::from_millis(30),
            Duration::from_millis(10),
            "dnf",
        )
        .unwrap_err();
        assert!(
            matches!(err, PkgError::Locked { ref tool, .. } if tool == "dnf"),
            "{err}"
        );
        assert!((2..=5).contains(&tries), "{tries}");
    }

    #[test]
    fn retry_returns_once_lock_is_free() {
        let mut tries = 0;
        let mut attempt = || {
            tries += 1;
            Ok(Finished {
                code: Some(if tries < 3 { 200 } else { 100 }),
                stdout: String::new(),
                stderr: String::new(),
            })
        };
        let f = with_lock_retry(
            &mut attempt,
            Duration::from_secs(5),
            Duration::from_millis(1),
            "dnf",
        )
        .unwrap();
        assert_eq!(f.code, Some(100));
    }

    #[test]
    fn failures_recorded() {
        let nosuch = rec(
            1,
            include_str!("../../../tests/data/dnf/dnf-install-nosuch.stdout"),
            include_str!("../../../tests/data/dnf/dnf-install-nosuch.stderr"),
        );
        assert_eq!(
            classify_failure(&nosuch),
            DnfFailure::Unmatched(vec!["nosuch".into()])
        );
        let noversion = rec(
            1,
            include_str!("../../../tests/data/dnf/dnf-install-noversion.stdout"),
            include_str!("../../../tests/data/dnf/dnf-install-noversion.stderr"),
        );
        assert_eq!(
            classify_failure(&noversion),
            DnfFailure::Unmatched(vec!["lpa-hello-9.9-1".into()])
        );
        let dep = rec(
            1,
            include_str!("../../../tests/data/dnf/dnf-install-depproblem.stdout"),
            include_str!("../../../tests/data/dnf/dnf-install-depproblem.stderr"),
        );
        let DnfFailure::Dependency(problem) = classify_failure(&dep) else {
            panic!("not a dependency problem");
        };
        assert!(
            problem.starts_with("Problem: conflicting requests"),
            "{problem}"
        );
        assert!(problem.contains("requires lpa-lib >= 1.0"), "{problem}");
        assert!(!problem.contains("Unable to detect release"), "{problem}");
        assert_eq!(
            classify_failure(&rec(1, "", BROKEN_STDERR)),
            DnfFailure::Other
        );
    }

    #[test]
    fn yum_unmatched_message() {
        // yum 3 wording (not recorded: see tests/data/yum/README.md).
        let f = rec(
            1,
            "No package lpa-hello-9.9-1 available.\nError: Nothing to do\n",
            "",
        );
        assert_eq!(
            classify_failure(&f),
            DnfFailure::Unmatched(vec!["lpa-hello-9.9-1".into()])
        );
    }
}
