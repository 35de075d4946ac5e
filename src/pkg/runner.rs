//! Runs package tools: no shell, argument lists, stdin from /dev/null, own process group,
//! a deadline that kills the whole group, a non-interactive environment, output line by line.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

/// Which output stream a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// A command to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    /// Program path or name (looked up in PATH).
    pub program: PathBuf,
    /// Arguments; user-supplied values come after a `--` the backend adds.
    pub args: Vec<OsString>,
    /// Extra environment (the parent's environment is cleared to a safe base first).
    pub env: Vec<(OsString, OsString)>,
    /// Deadline for the whole run.
    pub timeout: Duration,
}

impl Command {
    /// A command with no arguments and a 10-minute deadline.
    pub fn new(program: impl Into<PathBuf>) -> Command {
        Command {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            timeout: Duration::from_secs(600),
        }
    }

    /// Adds one argument.
    pub fn arg(mut self, a: impl Into<OsString>) -> Command {
        self.args.push(a.into());
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(mut self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets one environment variable.
    pub fn env(mut self, k: impl Into<OsString>, v: impl Into<OsString>) -> Command {
        self.env.push((k.into(), v.into()));
        self
    }

    /// Sets the deadline.
    pub fn timeout(mut self, t: Duration) -> Command {
        self.timeout = t;
        self
    }

    /// The command line as text, for logs and errors.
    pub fn display(&self) -> String {
        let mut s = self.program.display().to_string();
        for a in &self.args {
            s.push(' ');
            s.push_str(&a.to_string_lossy());
        }
        s
    }
}

/// How a command ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finished {
    /// Exit code; `None` when ended by a signal.
    pub code: Option<i32>,
    /// Captured standard output.
    pub stdout: String,
    /// Captured standard error.
    pub stderr: String,
}

/// Why a command could not be run to its end.
#[derive(Debug)]
pub enum RunError {
    /// The program could not be started.
    Spawn {
        /// The command line.
        command: String,
        /// Why.
        error: std::io::Error,
    },
    /// The deadline passed; the process group was killed.
    Timeout {
        /// The command line.
        command: String,
        /// The deadline.
        after: Duration,
    },
    /// Reading its output or waiting for it failed.
    Io {
        /// The command line.
        command: String,
        /// Why.
        error: std::io::Error,
    },
}

/// Runs a command to its end, delivering each output line to `on_line` as it arrives, and
/// returns the captured output (capped) with the exit status.
pub fn run(cmd: &Command, on_line: &mut dyn FnMut(Stream, &str)) -> Result<Finished, RunError> {
    let _ = (cmd, on_line);
    todo!("runner")
}

/// Runs a command and captures its output without a line callback.
pub fn capture(cmd: &Command) -> Result<Finished, RunError> {
    run(cmd, &mut |_, _| {})
}
