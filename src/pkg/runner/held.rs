//! A held start: the tool is started while the agent holds the lock the tool itself takes
//! before it changes anything (apk's `lib/apk/db/lock`, an exclusive `flock` it waits for
//! under `--wait`), and the lock is let go only once the caller's [`StartGate`] opens. The
//! tool's process creation and start-up then run beside what the gate waits for (a job's
//! first record being flushed) instead of after it, and the tool still changes nothing
//! before the gate opens.
//!
//! The tool's standard input is a descriptor of the agent's own lock (the same open file
//! description; it reads an empty file, as from `/dev/null`). The lock therefore outlives
//! the agent: an agent killed before the gate opened leaves the tool waiting on a lock its
//! own stdin holds, until its lock wait runs out and it fails having changed nothing.
//! apk 3 appends its command line to `var/log/apk.log` before it takes the lock; that line
//! is all a held tool may write before the gate opens.

use std::fs::{File, OpenOptions};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::process::Stdio;

/// What a held tool waits for; opened once, by the runner, with the tool started.
pub trait StartGate {
    /// Waits for whatever must come before the tool changes anything; `false` stops the
    /// tool (it never got its lock).
    fn open(&self) -> bool;
}

/// The agent's hold on a tool's own lock file (an exclusive `flock`).
#[derive(Debug)]
pub struct ToolLock {
    file: File,
}

impl ToolLock {
    /// Takes the lock at `path` (created 0600 if missing, as the tool creates it) when it is
    /// free at once; `None` when another process holds it or it cannot be opened: the
    /// caller then starts its tool the ordinary way.
    pub fn try_take(path: &Path) -> Option<ToolLock> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)
            .inspect_err(|e| log::debug!("{}: {e}; no held start", path.display()))
            .ok()?;
        // SAFETY: flock on a descriptor this function owns.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            log::debug!(
                "{} is held by another process; no held start",
                path.display()
            );
            return None;
        }
        Some(ToolLock { file })
    }

    /// The tool's standard input: the lock's own open file description, so that the lock
    /// stays held while the tool lives even if the agent does not.
    pub(super) fn stdin(&self) -> std::io::Result<Stdio> {
        Ok(Stdio::from(OwnedFd::from(self.file.try_clone()?)))
    }

    /// Lets the tool take its lock.
    pub(super) fn release(self) {
        // SAFETY: flock on a descriptor this value owns. Unlocking is explicit because the
        // tool's stdin shares the open file description: closing ours alone would keep it.
        unsafe { libc::flock(self.file.as_raw_fd(), libc::LOCK_UN) };
    }
}

/// A tool to start held at its lock until `gate` opens.
pub struct Held<'a> {
    /// The lock, already taken.
    pub lock: ToolLock,
    /// What the tool waits for.
    pub gate: &'a dyn StartGate,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pkg::runner::{run_held, Cancel, Command, RunError};
    use std::cell::Cell;
    use std::time::Duration;

    fn temp_lock() -> std::path::PathBuf {
        std::env::temp_dir().join(format!("lpa-held-{}.lock", uuid::Uuid::new_v4()))
    }

    /// Whether the lock at `path` can be taken now (from this process, through another
    /// open file description, as the tool takes it).
    fn free(path: &Path) -> bool {
        let f = File::open(path).unwrap();
        // SAFETY: flock on a descriptor owned here.
        let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        rc == 0
    }

    struct Gate<F: Fn() -> bool> {
        check: F,
        opened: Cell<u32>,
    }

    impl<F: Fn() -> bool> StartGate for Gate<F> {
        fn open(&self) -> bool {
            self.opened.set(self.opened.get() + 1);
            (self.check)()
        }
    }

    /// `flock --exclusive LOCK true`: a tool that takes the lock (waiting for it) first.
    fn locking_tool(path: &Path) -> Command {
        Command::new("flock")
            .arg("--exclusive")
            .arg("--timeout")
            .arg("20")
            .arg(path.as_os_str())
            .arg("sh")
            .arg("-c")
            .arg("echo got-the-lock; cat")
            .timeout(Duration::from_secs(30))
    }

    #[test]
    fn the_tool_waits_at_its_lock_until_the_gate_opens() {
        let path = temp_lock();
        let lock = ToolLock::try_take(&path).expect("a free lock");
        assert!(ToolLock::try_take(&path).is_none(), "taken once");
        // While the gate is asked, the tool runs and waits on the lock: nothing printed yet.
        let gate = Gate {
            check: || {
                std::thread::sleep(Duration::from_millis(200));
                !free(&path)
            },
            opened: Cell::new(0),
        };
        let mut lines = Vec::new();
        let done = run_held(
            &locking_tool(&path),
            &mut |_, l| lines.push(l.to_string()),
            &Cancel::new(),
            Held { lock, gate: &gate },
        )
        .unwrap();
        assert_eq!(gate.opened.get(), 1);
        assert_eq!(done.code, Some(0), "{done:?}");
        // `cat` read the lock file as its stdin: empty, like /dev/null.
        assert_eq!(lines, ["got-the-lock"]);
        assert!(free(&path), "released after the run");
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn a_gate_that_stays_shut_stops_the_tool_before_it_gets_the_lock() {
        let path = temp_lock();
        let lock = ToolLock::try_take(&path).unwrap();
        let gate = Gate {
            check: || false,
            opened: Cell::new(0),
        };
        let mut lines = Vec::new();
        let e = run_held(
            &locking_tool(&path),
            &mut |_, l| lines.push(l.to_string()),
            &Cancel::new(),
            Held { lock, gate: &gate },
        )
        .unwrap_err();
        assert!(matches!(e, RunError::Withheld { .. }), "{e:?}");
        assert!(lines.is_empty(), "{lines:?}");
        assert!(free(&path), "nothing keeps the lock");
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn the_lock_outlives_its_taker_while_the_tool_holds_its_stdin() {
        let path = temp_lock();
        let lock = ToolLock::try_take(&path).unwrap();
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .stdin(lock.stdin().unwrap())
            .spawn()
            .unwrap();
        // The agent's own descriptor closed, as when it dies: the tool's stdin keeps the
        // lock, so the tool cannot start changing anything.
        drop(lock);
        assert!(!free(&path));
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(free(&path));
        std::fs::remove_file(path).unwrap();
    }
}
