//! apk's held start ([`crate::pkg::runner::run_held`]): apk 2.14 and 3.0 take an exclusive
//! `flock` on `lib/apk/db/lock` before they change anything, and wait for it under
//! `--wait`. A job's first command is started with the agent holding that lock, which it
//! lets go once the job's gate opens (the job's first record durable): apk's process
//! creation and start-up, about 0.3-0.8 ms of a 6-7 ms install on the bench's VM, run
//! beside the record's flush instead of after it (docs/BENCHMARKS.md).

use super::{wait_secs, Apk};
use crate::pkg::runner::{self, Command, Finished, Held, RunError, Stream, ToolLock};
use crate::pkg::Exec;

/// Where apk keeps its database lock, under the root.
const LOCK: &str = "lib/apk/db/lock";

/// What apk prints when its lock is busy: with a held start, the agent's own doing, not
/// news of the job (apk 2 and 3 print the same words).
const WAITING: &str = "Waiting for repository lock";

impl Apk {
    /// Runs one changing command under `exec`. The first command of a job whose gate is
    /// still shut starts held at apk's lock; when the lock cannot be held (busy, or no lock
    /// wait configured, so apk would fail at once) the gate is opened before the command.
    pub(super) fn run_changing(
        &self,
        cmd: &Command,
        exec: &mut Exec<'_>,
    ) -> Result<Finished, RunError> {
        let Some(gate) = exec.start.take() else {
            return runner::run_cancellable(cmd, exec.on_line, exec.cancel);
        };
        let Some(lock) = self.take_lock() else {
            if !gate.open() {
                return Err(RunError::Withheld {
                    command: cmd.display(),
                });
            }
            return runner::run_cancellable(cmd, exec.on_line, exec.cancel);
        };
        let mut told = false;
        let on_line = &mut *exec.on_line;
        let mut quiet = |s: Stream, l: &str| {
            if !told && l.trim() == WAITING {
                told = true;
                return;
            }
            on_line(s, l)
        };
        runner::run_held(cmd, &mut quiet, exec.cancel, Held { lock, gate })
    }

    /// apk's lock, when apk will wait for it (`--wait`) and it is free now.
    fn take_lock(&self) -> Option<ToolLock> {
        if wait_secs(self.settings.lock_wait) == 0 {
            return None;
        }
        ToolLock::try_take(&self.settings.root.join(LOCK))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pkg::runner::{Cancel, StartGate};
    use crate::pkg::BackendSettings;
    use std::cell::Cell;
    use std::time::Duration;

    struct Gate {
        answer: bool,
        opened: Cell<u32>,
    }

    impl Gate {
        fn answering(answer: bool) -> Gate {
            Gate {
                answer,
                opened: Cell::new(0),
            }
        }
    }

    impl StartGate for Gate {
        fn open(&self) -> bool {
            self.opened.set(self.opened.get() + 1);
            self.answer
        }
    }

    fn apk_over(root: &std::path::Path, lock_wait: Duration) -> Apk {
        Apk::new(BackendSettings {
            root: root.to_path_buf(),
            command_timeout: Duration::from_secs(30),
            lock_wait,
        })
    }

    fn temp_root() -> std::path::PathBuf {
        let root = std::env::temp_dir().join(format!("lpa-apk-held-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(root.join("lib/apk/db")).unwrap();
        root
    }

    /// A stand-in for apk that prints apk's waiting line, then takes the lock as apk does
    /// (`flock`, waiting) and prints once it has it.
    fn like_apk(root: &std::path::Path) -> Command {
        let script = format!(
            "echo '{WAITING}'; exec flock --exclusive --timeout 20 {} echo locked",
            root.join(LOCK).display()
        );
        Command::new("sh").arg("-c").arg(script)
    }

    fn run(apk: &Apk, gate: &Gate, cmd: &Command) -> (Result<Finished, RunError>, Vec<String>) {
        let mut lines = Vec::new();
        let mut on_line = |_: Stream, l: &str| lines.push(l.to_string());
        let cancel = Cancel::new();
        let mut exec = Exec {
            on_line: &mut on_line,
            cancel: &cancel,
            timeout: Duration::from_secs(30),
            grace: runner::KILL_GRACE,
            start: Some(gate),
        };
        let r = apk.run_changing(cmd, &mut exec);
        assert!(exec.start.is_none(), "the gate is used once");
        (r, lines)
    }

    #[test]
    fn a_held_start_opens_the_gate_once_and_hides_the_waiting_line() {
        let root = temp_root();
        let apk = apk_over(&root, Duration::from_secs(120));
        let gate = Gate::answering(true);
        let (r, lines) = run(&apk, &gate, &like_apk(&root));
        assert_eq!(r.unwrap().code, Some(0));
        assert_eq!(gate.opened.get(), 1);
        assert_eq!(lines, ["locked"]);
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn a_shut_gate_stops_the_command_unstarted_held_or_not() {
        let root = temp_root();
        for wait in [Duration::from_secs(120), Duration::ZERO] {
            let apk = apk_over(&root, wait);
            let gate = Gate::answering(false);
            let (r, lines) = run(&apk, &gate, &like_apk(&root));
            assert!(matches!(r, Err(RunError::Withheld { .. })), "{r:?}");
            assert_eq!(gate.opened.get(), 1);
            assert!(!lines.contains(&"locked".to_string()), "{lines:?}");
        }
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn without_a_lock_wait_or_with_the_lock_busy_the_gate_opens_before_the_start() {
        let root = temp_root();
        // No `--wait`: apk would fail at once on a held lock.
        let apk = apk_over(&root, Duration::ZERO);
        let gate = Gate::answering(true);
        let (r, lines) = run(&apk, &gate, &like_apk(&root));
        assert_eq!(r.unwrap().code, Some(0));
        assert_eq!(gate.opened.get(), 1);
        // Not held: the waiting line is the command's own and is kept.
        assert_eq!(lines, [WAITING, "locked"]);
        // Another apk holds the lock: not held either.
        let apk = apk_over(&root, Duration::from_secs(120));
        let other = ToolLock::try_take(&root.join(LOCK)).unwrap();
        assert!(apk.take_lock().is_none());
        drop(other);
        assert!(apk.take_lock().is_some());
        std::fs::remove_dir_all(root).unwrap();
    }
}
