//! Runs package tools: no shell, argument lists, stdin from /dev/null, own process group,
//! a deadline that kills the whole group, a non-interactive environment, output line by line.

use std::ffi::OsString;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::PkgError;
use crate::system::open_files;

mod held;
pub use held::{Held, StartGate, ToolLock};

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
    /// How long a stopped process group gets between SIGTERM and SIGKILL.
    pub grace: Duration,
}

impl Command {
    /// A command with no arguments, a 10-minute deadline and [`KILL_GRACE`].
    pub fn new(program: impl Into<PathBuf>) -> Command {
        Command {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            timeout: Duration::from_secs(600),
            grace: KILL_GRACE,
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

    /// Sets the SIGTERM-to-SIGKILL grace used when the deadline passes or on cancel.
    pub fn grace(mut self, g: Duration) -> Command {
        self.grace = g;
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
    /// A [`Cancel`] token was triggered; the process group was stopped.
    Cancelled {
        /// The command line.
        command: String,
    },
    /// Started held at its lock ([`run_held`]), it was stopped there: the gate stayed shut.
    Withheld {
        /// The command line.
        command: String,
    },
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Spawn { command, error } => write!(f, "cannot start {command}: {error}"),
            RunError::Timeout { command, after } => {
                write!(
                    f,
                    "{command}: no result within {} s; stopped",
                    after.as_secs()
                )
            }
            RunError::Io { command, error } => write!(f, "{command}: {error}"),
            RunError::Cancelled { command } => write!(f, "{command}: cancelled"),
            RunError::Withheld { command } => {
                write!(
                    f,
                    "{command}: stopped at its lock before it changed anything"
                )
            }
        }
    }
}

impl std::error::Error for RunError {}

impl From<RunError> for PkgError {
    fn from(e: RunError) -> PkgError {
        match e {
            RunError::Spawn { command, error } => PkgError::Io {
                what: format!("cannot start {command}"),
                error,
            },
            RunError::Io { command, error } => PkgError::Io {
                what: command,
                error,
            },
            RunError::Timeout { command, after } => PkgError::Timeout { command, after },
            RunError::Cancelled { command } | RunError::Withheld { command } => {
                PkgError::Cancelled(command)
            }
        }
    }
}

/// A cancellation flag shared between the job engine and a running command; clones share it.
#[derive(Clone, Debug, Default)]
pub struct Cancel {
    flag: Arc<AtomicBool>,
}

impl Cancel {
    /// A token that is not cancelled.
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// Asks every command watching this token to stop (idempotent).
    pub fn cancel(&self) {
        self.flag.store(true, Ordering::SeqCst);
    }

    /// Whether [`Cancel::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }
}

/// PATH of the base environment every command gets (the agent's own is never passed on).
pub const BASE_PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

/// Most bytes captured per stream; the rest is still read (and given to the callback) but
/// dropped from [`Finished`], with a note saying so.
pub const CAPTURE_LIMIT: usize = 64 << 20;

/// How long a stopped process group gets between SIGTERM and SIGKILL unless the command
/// says otherwise ([`Command::grace`]).
pub const KILL_GRACE: Duration = Duration::from_secs(5);

/// A line longer than this is delivered in pieces, so one endless line cannot exhaust memory.
const MAX_LINE: usize = 1 << 20;

/// How often the supervisor wakes to check the deadline, the cancel flag and the child.
const TICK: Duration = Duration::from_millis(50);

/// The knobs tests shrink; production uses [`Limits::STANDARD`].
#[derive(Clone, Copy, Debug)]
struct Limits {
    /// Bytes captured per stream.
    capture: usize,
    /// SIGTERM-to-SIGKILL grace.
    grace: Duration,
    /// How long to keep reading after the program exited while something it started still
    /// holds the pipes (a daemon that did not detach).
    linger: Duration,
}

impl Limits {
    const STANDARD: Limits = Limits {
        capture: CAPTURE_LIMIT,
        grace: KILL_GRACE,
        linger: Duration::from_secs(2),
    };

    /// The standard limits with the command's own grace.
    fn for_command(cmd: &Command) -> Limits {
        Limits {
            grace: cmd.grace,
            ..Limits::STANDARD
        }
    }
}

/// Runs a command to its end, delivering each output line to `on_line` as it arrives, and
/// returns the captured output (capped) with the exit status.
///
/// The child gets a cleared environment (PATH, `LC_ALL=C`, `HOME=/root`, then `cmd.env`),
/// stdin from /dev/null and its own process group. At the deadline the whole group gets
/// SIGTERM, then SIGKILL after the command's grace ([`KILL_GRACE`] by default). Processes it leaves behind after a normal
/// exit are not killed (they may be services it started); the pipes are closed after a
/// short linger instead.
pub fn run(cmd: &Command, on_line: &mut dyn FnMut(Stream, &str)) -> Result<Finished, RunError> {
    run_with(cmd, on_line, None, Limits::for_command(cmd), None)
}

/// Like [`run`], but also stops the process group (SIGTERM, grace, SIGKILL) when `cancel`
/// is triggered, returning [`RunError::Cancelled`]; nothing starts if it already is.
pub fn run_cancellable(
    cmd: &Command,
    on_line: &mut dyn FnMut(Stream, &str),
    cancel: &Cancel,
) -> Result<Finished, RunError> {
    run_with(cmd, on_line, Some(cancel), Limits::for_command(cmd), None)
}

/// Like [`run_cancellable`], with the tool started while the agent holds the lock it takes
/// before changing anything, released once `held.gate` opens ([`held`]'s note); stopped with
/// [`RunError::Withheld`] when it does not.
pub fn run_held(
    cmd: &Command,
    on_line: &mut dyn FnMut(Stream, &str),
    cancel: &Cancel,
    held: Held<'_>,
) -> Result<Finished, RunError> {
    run_with(
        cmd,
        on_line,
        Some(cancel),
        Limits::for_command(cmd),
        Some(held),
    )
}

/// Runs a command and captures its output without a line callback.
pub fn capture(cmd: &Command) -> Result<Finished, RunError> {
    run(cmd, &mut |_, _| {})
}

/// Why supervision ended early.
enum Stop {
    Timeout,
    Cancelled,
}

fn run_with(
    cmd: &Command,
    on_line: &mut dyn FnMut(Stream, &str),
    cancel: Option<&Cancel>,
    limits: Limits,
    held: Option<Held<'_>>,
) -> Result<Finished, RunError> {
    let started = Instant::now();
    let result = supervise(cmd, on_line, cancel, limits, held);
    // Every command a request or a job starts, with its time: what profiling a job needs.
    log::debug!(
        "ran {} in {} ms",
        cmd.display(),
        started.elapsed().as_millis()
    );
    result
}

fn supervise(
    cmd: &Command,
    on_line: &mut dyn FnMut(Stream, &str),
    cancel: Option<&Cancel>,
    limits: Limits,
    held: Option<Held<'_>>,
) -> Result<Finished, RunError> {
    let command = cmd.display();
    if cancel.is_some_and(Cancel::is_cancelled) {
        return Err(RunError::Cancelled { command });
    }
    let spawn_error = |error| RunError::Spawn {
        command: command.clone(),
        error,
    };
    let stdin = match &held {
        Some(h) => h.lock.stdin().map_err(spawn_error)?,
        None => Stdio::null(),
    };
    let mut child = spawn(cmd, stdin).map_err(spawn_error)?;
    if let Some(held) = held {
        let since = Instant::now();
        if !held.gate.open() {
            // Still waiting on the lock: it has changed nothing.
            kill_group(child_pid(&child), libc::SIGKILL);
            let _ = reap(child, None);
            return Err(RunError::Withheld { command });
        }
        held.lock.release();
        // What profiling a job needs: how long the started tool waited at its lock.
        log::debug!(
            "{command}: held at its lock for {} us",
            since.elapsed().as_micros()
        );
    }
    let mut outputs = [
        Output::new(Stream::Stdout, child.stdout.take().map(OwnedFd::from)),
        Output::new(Stream::Stderr, child.stderr.take().map(OwnedFd::from)),
    ];
    let pgid = child_pid(&child);
    let deadline = Instant::now().checked_add(cmd.timeout);
    let mut sup = Supervisor {
        pgid,
        exit: exit_fd(pgid),
        outputs: &mut outputs,
        on_line,
        limits,
        buf: vec![0u8; 64 * 1024],
    };
    let outcome = sup.watch(deadline, cancel);
    let outcome = match outcome {
        Ok(None) => Ok(None),
        Ok(Some(stop)) => sup.stop_group().map(|()| Some(stop)),
        Err(e) => Err(e),
    };
    if outcome.is_err() {
        // Whatever went wrong, leave nothing running behind us.
        kill_group(pgid, libc::SIGKILL);
    }
    let status = reap(child, sup.exit.as_ref());
    match (outcome, status) {
        (Err(error), _) | (Ok(_), Err(error)) => Err(RunError::Io { command, error }),
        (Ok(Some(Stop::Timeout)), _) => Err(RunError::Timeout {
            command,
            after: cmd.timeout,
        }),
        (Ok(Some(Stop::Cancelled)), _) => Err(RunError::Cancelled { command }),
        (Ok(None), Ok(status)) => Ok(finish(&command, status, outputs)),
    }
}

fn spawn(cmd: &Command, stdin: Stdio) -> std::io::Result<Child> {
    let mut c = std::process::Command::new(program_path(cmd));
    c.args(&cmd.args)
        .env_clear()
        .env("PATH", BASE_PATH)
        .env("LC_ALL", "C")
        .env("HOME", "/root");
    for (k, v) in &cmd.env {
        c.env(k, v);
    }
    if let Some(limit) = open_files::for_tools() {
        // SAFETY: the closure runs in the child between fork and exec and makes one
        // async-signal-safe system call on a value computed before the fork.
        unsafe {
            c.pre_exec(move || {
                // A lower soft limit within the hard one cannot fail; if it did, the
                // tool would only run with the agent's limit, as it did before.
                libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
                Ok(())
            });
        }
    }
    c.stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
}

/// The program as the absolute path the child's PATH finds: std can then start it with
/// posix_spawn (vfork, no copy of the agent's page tables), which it refuses for a name
/// still to be searched in a PATH other than the agent's own, falling back to fork + exec
/// (as it must for the open-files limit, when that is lowered).
/// Not found: the bare name, so that the spawn fails as it always did.
fn program_path(cmd: &Command) -> PathBuf {
    if cmd.program.components().count() != 1 || cmd.program.is_absolute() {
        return cmd.program.clone();
    }
    let path = cmd
        .env
        .iter()
        .rev()
        .find(|(k, _)| k == "PATH")
        .map_or(std::ffi::OsStr::new(BASE_PATH), |(_, v)| v.as_os_str());
    std::env::split_paths(path)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(&cmd.program))
        .find(|p| crate::system::info::is_executable(p))
        .unwrap_or_else(|| cmd.program.clone())
}

fn child_pid(child: &Child) -> libc::pid_t {
    // Linux pids fit in pid_t; the conversion cannot fail in practice.
    libc::pid_t::try_from(child.id()).unwrap_or(libc::pid_t::MAX)
}

fn finish(command: &str, status: ExitStatus, outputs: [Output; 2]) -> Finished {
    if let Some(sig) = status.signal() {
        log::debug!("{command} was ended by signal {sig}");
    }
    let [out, err] = outputs;
    Finished {
        code: status.code(),
        stdout: out.into_text(),
        stderr: err.into_text(),
    }
}

fn kill_group(pgid: libc::pid_t, signal: libc::c_int) {
    // SAFETY: plain syscall; the group is ours (created at spawn) and, as long as its
    // leader is not reaped, cannot be another one.
    unsafe {
        libc::killpg(pgid, signal);
    }
}

/// Whether the group leader has exited, WITHOUT reaping it: an unreaped leader keeps the
/// process group id reserved, so a later killpg cannot hit a stranger's group.
fn leader_exited(pid: libc::pid_t) -> bool {
    // SAFETY: siginfo_t is plain data; zeroed is a valid value and lets us test si_pid.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let id = libc::id_t::try_from(pid).unwrap_or(0);
        let rc = libc::waitid(
            libc::P_PID,
            id,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        );
        // An error (ECHILD) means there is nothing left to wait for.
        rc != 0 || info.si_pid() != 0
    }
}

/// Reaps the leader. A process that survives SIGKILL (stuck in the kernel) is handed to a
/// thread that waits for it, so it never stays a zombie and the caller is not held up.
fn reap(mut child: Child, exit: Option<&OwnedFd>) -> std::io::Result<ExitStatus> {
    let pid = child_pid(&child);
    let give_up = Instant::now() + Duration::from_secs(1);
    while !leader_exited(pid) {
        let now = Instant::now();
        if now >= give_up {
            std::thread::spawn(move || {
                let _ = child.wait();
            });
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the process did not end after SIGKILL",
            ));
        }
        match exit {
            Some(fd) => {
                let mut pfd = [pollfd(fd.as_raw_fd())];
                poll(&mut pfd, give_up - now)?;
            }
            None => std::thread::sleep(Duration::from_millis(2)),
        }
    }
    child.wait()
}

/// A descriptor that becomes readable when the process exits (a pidfd, Linux 5.3 and
/// later): the supervisor then sleeps in one `poll` until output or the exit, and sees the
/// exit at once instead of on its next timer tick (2 ms: half of a 4 ms `apk add`).
/// `None` on older kernels, where the exit is checked between short sleeps.
fn exit_fd(pid: libc::pid_t) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1; the
    // pid is our unreaped child, so it cannot name another process.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let fd = RawFd::try_from(fd).ok().filter(|fd| *fd >= 0)?;
    // SAFETY: the descriptor was just created here and nothing else owns it.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn pollfd(fd: RawFd) -> libc::pollfd {
    libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    }
}

/// One `poll` of `fds` for at most `wait` (at least 1 ms); an interrupted wait is no error.
fn poll(fds: &mut [libc::pollfd], wait: Duration) -> std::io::Result<()> {
    let ms = libc::c_int::try_from(wait.as_millis().max(1)).unwrap_or(libc::c_int::MAX);
    // SAFETY: fds points to fds.len() initialised pollfd structs that outlive the call.
    let rc = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
    if rc < 0 {
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    Ok(())
}

/// Watches one running command: pumps its output, checks deadline and cancel flag.
struct Supervisor<'a, 'b> {
    pgid: libc::pid_t,
    /// Readable once the leader exited ([`exit_fd`]); dropped when that was seen, as it
    /// would then wake every poll.
    exit: Option<OwnedFd>,
    outputs: &'a mut [Output; 2],
    on_line: &'a mut (dyn FnMut(Stream, &str) + 'b),
    limits: Limits,
    /// Read buffer, reused for every read.
    buf: Vec<u8>,
}

impl Supervisor<'_, '_> {
    /// Runs until the program ended and its output is drained (`None`), or until the
    /// deadline or a cancel (`Some`).
    fn watch(
        &mut self,
        deadline: Option<Instant>,
        cancel: Option<&Cancel>,
    ) -> std::io::Result<Option<Stop>> {
        let mut exited_at: Option<Instant> = None;
        loop {
            let now = Instant::now();
            if exited_at.is_none() && self.leader_exited() {
                exited_at = Some(now);
            }
            let open = self.outputs.iter().any(Output::is_open);
            match exited_at {
                Some(_) if !open => return Ok(None),
                Some(t) if now.duration_since(t) >= self.limits.linger => {
                    self.close_all();
                    return Ok(None);
                }
                _ => {}
            }
            if deadline.is_some_and(|d| now >= d) {
                return Ok(Some(Stop::Timeout));
            }
            if cancel.is_some_and(Cancel::is_cancelled) {
                return Ok(Some(Stop::Cancelled));
            }
            let until_deadline = deadline.map_or(TICK, |d| d.saturating_duration_since(now));
            self.pump(TICK.min(until_deadline))?;
        }
    }

    /// SIGTERM to the group, output still drained during the grace, then SIGKILL.
    fn stop_group(&mut self) -> std::io::Result<()> {
        kill_group(self.pgid, libc::SIGTERM);
        let grace_end = Instant::now() + self.limits.grace;
        loop {
            let done = self.leader_exited() && !self.outputs.iter().any(Output::is_open);
            let now = Instant::now();
            if done || now >= grace_end {
                break;
            }
            self.pump(TICK.min(grace_end - now))?;
        }
        kill_group(self.pgid, libc::SIGKILL);
        self.close_all();
        Ok(())
    }

    /// Whether the leader exited; once it has, its exit descriptor is no longer polled.
    fn leader_exited(&mut self) -> bool {
        let exited = leader_exited(self.pgid);
        if exited {
            self.exit = None;
        }
        exited
    }

    /// Waits up to `wait` for output or the leader's exit and hands output on; sleeps
    /// briefly when there is nothing to poll.
    fn pump(&mut self, wait: Duration) -> std::io::Result<()> {
        let mut fds: Vec<libc::pollfd> = Vec::with_capacity(3);
        let mut which: Vec<usize> = Vec::with_capacity(2);
        for (i, o) in self.outputs.iter().enumerate() {
            if let Some(fd) = o.raw_fd() {
                fds.push(pollfd(fd));
                which.push(i);
            }
        }
        if let Some(exit) = &self.exit {
            fds.push(pollfd(exit.as_raw_fd()));
        }
        if fds.is_empty() {
            // Only the exit is awaited now; it usually follows the pipes' EOF at once.
            std::thread::sleep(wait.min(Duration::from_millis(2)));
            return Ok(());
        }
        poll(&mut fds, wait)?;
        for (pfd, &i) in fds.iter().zip(&which) {
            if pfd.revents != 0 {
                let cap = self.limits.capture;
                self.outputs[i].read_once(&mut self.buf, cap, &mut *self.on_line)?;
            }
        }
        Ok(())
    }

    fn close_all(&mut self) {
        for o in self.outputs.iter_mut() {
            o.close(&mut *self.on_line);
        }
    }
}

/// One output stream: the pipe, the partial line, and what was captured.
struct Output {
    stream: Stream,
    pipe: Option<File>,
    partial: Vec<u8>,
    captured: Vec<u8>,
    dropped: u64,
}

impl Output {
    fn new(stream: Stream, fd: Option<OwnedFd>) -> Output {
        Output {
            stream,
            pipe: fd.map(File::from),
            partial: Vec::new(),
            captured: Vec::new(),
            dropped: 0,
        }
    }

    fn is_open(&self) -> bool {
        self.pipe.is_some()
    }

    fn raw_fd(&self) -> Option<std::os::fd::RawFd> {
        self.pipe.as_ref().map(AsRawFd::as_raw_fd)
    }

    /// One read (poll said it will not block): capture, split into lines, deliver.
    fn read_once(
        &mut self,
        buf: &mut [u8],
        cap: usize,
        on_line: &mut dyn FnMut(Stream, &str),
    ) -> std::io::Result<()> {
        let Some(pipe) = self.pipe.as_mut() else {
            return Ok(());
        };
        match pipe.read(buf) {
            Ok(0) => {
                self.close(on_line);
                Ok(())
            }
            Ok(n) => {
                self.keep(&buf[..n], cap);
                self.split_lines(&buf[..n], on_line);
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn keep(&mut self, data: &[u8], cap: usize) {
        let room = cap.saturating_sub(self.captured.len()).min(data.len());
        self.captured.extend_from_slice(&data[..room]);
        self.dropped += (data.len() - room) as u64;
    }

    fn split_lines(&mut self, mut data: &[u8], on_line: &mut dyn FnMut(Stream, &str)) {
        while let Some(nl) = data.iter().position(|&c| c == b'\n') {
            if self.partial.is_empty() {
                on_line(self.stream, &String::from_utf8_lossy(&data[..nl]));
            } else {
                self.partial.extend_from_slice(&data[..nl]);
                on_line(self.stream, &String::from_utf8_lossy(&self.partial));
                self.partial.clear();
            }
            data = &data[nl + 1..];
        }
        self.partial.extend_from_slice(data);
        while self.partial.len() >= MAX_LINE {
            let rest = self.partial.split_off(MAX_LINE);
            on_line(self.stream, &String::from_utf8_lossy(&self.partial));
            self.partial = rest;
        }
    }

    /// Stops reading; a last line without a newline is still delivered.
    fn close(&mut self, on_line: &mut dyn FnMut(Stream, &str)) {
        self.pipe = None;
        if !self.partial.is_empty() {
            on_line(self.stream, &String::from_utf8_lossy(&self.partial));
            self.partial.clear();
        }
    }

    fn into_text(self) -> String {
        let mut text = String::from_utf8_lossy(&self.captured).into_owned();
        if self.dropped > 0 {
            text.push_str(&format!(
                "\n[output truncated: {} bytes after the first {} were not kept]\n",
                self.dropped,
                self.captured.len()
            ));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn sh(script: &str) -> Command {
        Command::new("/bin/sh")
            .args(["-c", script])
            .timeout(Duration::from_secs(5))
    }

    fn collect(cmd: &Command) -> (Result<Finished, RunError>, Vec<(Stream, String)>) {
        let mut lines = Vec::new();
        let r = run(cmd, &mut |s, l| lines.push((s, l.to_string())));
        (r, lines)
    }

    fn quick(capture: usize) -> Limits {
        Limits {
            capture,
            grace: Duration::from_millis(300),
            linger: Duration::from_millis(200),
        }
    }

    /// Gone, or a zombie of a parent that is not us (this machine's PID 1 may not reap).
    fn is_dead(pid: i32) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => true,
            Ok(stat) => {
                let state = stat.rsplit(')').next().unwrap_or("").trim_start();
                state.starts_with('Z') || state.starts_with('X')
            }
        }
    }

    fn kill(pid: i32) {
        // SAFETY: test cleanup of a process this test started.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }

    #[test]
    fn lines_arrive_in_order_and_while_the_process_runs() {
        let start = Instant::now();
        let mut seen: Vec<(String, Duration)> = Vec::new();
        let cmd = sh("echo one; echo two; sleep 0.4; echo three");
        let f = run(&cmd, &mut |_, l| {
            seen.push((l.to_string(), start.elapsed()))
        })
        .unwrap();
        let total = start.elapsed();
        let names: Vec<&str> = seen.iter().map(|(l, _)| l.as_str()).collect();
        assert_eq!(names, ["one", "two", "three"]);
        assert!(
            seen[1].1 + Duration::from_millis(300) < total,
            "line 'two' came at {:?}, the run ended at {total:?}",
            seen[1].1
        );
        assert_eq!(f.stdout, "one\ntwo\nthree\n");
        assert_eq!(f.code, Some(0));
    }

    #[test]
    fn streams_and_exit_code_are_reported() {
        let (r, lines) = collect(&sh("echo out; echo err >&2; printf 'no newline'; exit 3"));
        let f = r.unwrap();
        assert_eq!(f.code, Some(3));
        assert_eq!(f.stdout, "out\nno newline");
        assert_eq!(f.stderr, "err\n");
        assert!(lines.contains(&(Stream::Stderr, "err".to_string())));
        assert!(lines.contains(&(Stream::Stdout, "no newline".to_string())));
    }

    #[test]
    fn death_by_signal_has_no_exit_code() {
        let (r, _) = collect(&sh("kill -KILL $$"));
        assert_eq!(r.unwrap().code, None);
    }

    #[test]
    fn the_exit_descriptor_wakes_a_poll_when_the_process_ends() {
        // Blocked on its stdin, the shell runs until that pipe is closed.
        let mut child = std::process::Command::new("/bin/sh")
            .args(["-c", "read line || :"])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        let fd = exit_fd(child_pid(&child)).expect("pidfd_open (Linux 5.3 and later)");
        let mut fds = [pollfd(fd.as_raw_fd())];
        poll(&mut fds, Duration::from_millis(1)).unwrap();
        assert_eq!(fds[0].revents, 0, "readable while the process runs");
        drop(child.stdin.take());
        let mut fds = [pollfd(fd.as_raw_fd())];
        poll(&mut fds, Duration::from_secs(10)).unwrap();
        assert_ne!(
            fds[0].revents & libc::POLLIN,
            0,
            "not readable after the exit"
        );
        assert!(child.wait().unwrap().success());
    }

    #[test]
    fn stdin_is_dev_null() {
        let start = Instant::now();
        let f = capture(&Command::new("cat").timeout(Duration::from_secs(3))).unwrap();
        assert_eq!(f.code, Some(0));
        assert_eq!(f.stdout, "");
        assert!(start.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn environment_is_cleared_to_the_base() {
        std::env::set_var("LPA_RUNNER_TEST_SECRET", "leak");
        let f = capture(&Command::new("env").env("DEBIAN_FRONTEND", "noninteractive")).unwrap();
        let mut vars: Vec<&str> = f.stdout.lines().collect();
        vars.sort_unstable();
        assert_eq!(
            vars,
            [
                "DEBIAN_FRONTEND=noninteractive",
                "HOME=/root",
                "LC_ALL=C",
                "PATH=/usr/sbin:/usr/bin:/sbin:/bin"
            ]
        );
    }

    #[test]
    fn command_env_overrides_the_base() {
        let f = capture(&Command::new("env").env("LC_ALL", "C.UTF-8")).unwrap();
        let lc: Vec<&str> = f
            .stdout
            .lines()
            .filter(|l| l.starts_with("LC_ALL="))
            .collect();
        assert_eq!(lc, ["LC_ALL=C.UTF-8"]);
    }

    #[test]
    fn timeout_kills_the_whole_group_and_reaps() {
        let cmd = sh("sleep 30 & echo $!; echo $$; sleep 30").timeout(Duration::from_millis(300));
        let start = Instant::now();
        let (r, lines) = collect(&cmd);
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
        match r {
            Err(RunError::Timeout { after, .. }) => assert_eq!(after, Duration::from_millis(300)),
            other => panic!("expected a timeout, got {other:?}"),
        }
        let pids: Vec<i32> = lines.iter().map(|(_, l)| l.parse().unwrap()).collect();
        let (grandchild, leader) = (pids[0], pids[1]);
        assert!(
            !Path::new(&format!("/proc/{leader}")).exists(),
            "leader not reaped"
        );
        let gone_by = Instant::now() + Duration::from_secs(1);
        while !is_dead(grandchild) && Instant::now() < gone_by {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(is_dead(grandchild), "grandchild {grandchild} survived");
    }

    #[test]
    fn sigterm_is_followed_by_sigkill() {
        let cmd = sh("trap '' TERM; echo $$; while :; do sleep 0.05; done")
            .timeout(Duration::from_millis(200));
        let start = Instant::now();
        let mut pid = 0;
        let r = run_with(
            &cmd,
            &mut |_, l| pid = l.parse().unwrap_or(0),
            None,
            quick(1024),
            None,
        );
        assert!(matches!(r, Err(RunError::Timeout { .. })), "{r:?}");
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(450),
            "no grace was given: {took:?}"
        );
        assert!(took < Duration::from_millis(1500), "{took:?}");
        assert!(pid > 0 && !Path::new(&format!("/proc/{pid}")).exists());
    }

    #[test]
    fn cancel_stops_the_group() {
        let cancel = Cancel::new();
        let remote = cancel.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            remote.cancel();
        });
        let start = Instant::now();
        let mut pid = 0;
        let r = run_cancellable(
            &sh("echo $$; sleep 30"),
            &mut |_, l| pid = l.parse().unwrap_or(0),
            &cancel,
        );
        t.join().unwrap();
        assert!(matches!(r, Err(RunError::Cancelled { .. })), "{r:?}");
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "{:?}",
            start.elapsed()
        );
        assert!(pid > 0 && !Path::new(&format!("/proc/{pid}")).exists());
    }

    #[test]
    fn the_command_grace_bounds_a_cancel_of_a_term_ignoring_group() {
        let cmd = sh("trap '' TERM; echo $$; while :; do sleep 0.05; done")
            .grace(Duration::from_millis(300));
        assert_eq!(Command::new("x").grace, KILL_GRACE);
        let cancel = Cancel::new();
        let remote = cancel.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(150));
            remote.cancel();
        });
        let start = Instant::now();
        let mut pid = 0;
        let r = run_cancellable(&cmd, &mut |_, l| pid = l.parse().unwrap_or(0), &cancel);
        t.join().unwrap();
        assert!(matches!(r, Err(RunError::Cancelled { .. })), "{r:?}");
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(400),
            "no grace was given: {took:?}"
        );
        assert!(
            took < Duration::from_secs(2),
            "the 5 s default was used: {took:?}"
        );
        assert!(pid > 0 && !Path::new(&format!("/proc/{pid}")).exists());
    }

    #[test]
    fn an_already_cancelled_token_starts_nothing() {
        let cancel = Cancel::new();
        cancel.cancel();
        assert!(cancel.is_cancelled());
        let dir = std::env::temp_dir().join(format!("lpa-runner-{}", std::process::id()));
        let cmd = Command::new("mkdir").args(["-p".into(), dir.clone().into_os_string()]);
        let r = run_cancellable(&cmd, &mut |_, _| {}, &cancel);
        assert!(matches!(r, Err(RunError::Cancelled { .. })), "{r:?}");
        assert!(!dir.exists(), "mkdir ran although the token was cancelled");
    }

    #[test]
    fn capture_is_capped_but_lines_keep_flowing() {
        let cmd = sh("i=0; while [ $i -lt 300 ]; do echo line$i; i=$((i+1)); done");
        let mut n = 0;
        let f = run_with(&cmd, &mut |_, _| n += 1, None, quick(1000), None).unwrap();
        assert_eq!(n, 300);
        assert!(f.stdout.starts_with("line0\nline1\n"));
        assert!(f.stdout.contains("[output truncated:"), "{}", f.stdout);
        assert!(f.stdout.len() < 1200);
        assert_eq!(f.code, Some(0));
    }

    #[test]
    fn the_real_cap_is_64_mib() {
        let cmd = Command::new("head").args(["-c", "68000000", "/dev/zero"]);
        let mut pieces = 0;
        let f = run(&cmd, &mut |_, l| {
            pieces += 1;
            assert!(l.len() <= MAX_LINE);
        })
        .unwrap();
        assert!(f.stdout.len() > CAPTURE_LIMIT && f.stdout.len() < CAPTURE_LIMIT + 200);
        assert!(f.stdout.ends_with(&format!(
            "[output truncated: {} bytes after the first {CAPTURE_LIMIT} were not kept]\n",
            68_000_000 - CAPTURE_LIMIT
        )));
        assert_eq!(pieces, 68_000_000_usize.div_ceil(MAX_LINE));
    }

    #[test]
    fn a_background_process_holding_the_pipes_does_not_hold_the_result() {
        let cmd = sh("sleep 5 & echo $!");
        let start = Instant::now();
        let mut pid = 0;
        let f = run_with(
            &cmd,
            &mut |_, l| pid = l.parse().unwrap_or(0),
            None,
            quick(1024),
            None,
        );
        kill(pid);
        let f = f.unwrap();
        assert_eq!(f.code, Some(0));
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "{:?}",
            start.elapsed()
        );
    }

    #[test]
    fn missing_program_is_a_spawn_error() {
        let r = capture(&Command::new("/nonexistent/lpa-no-such-program"));
        match r {
            Err(RunError::Spawn { command, error }) => {
                assert_eq!(command, "/nonexistent/lpa-no-such-program");
                assert_eq!(error.kind(), std::io::ErrorKind::NotFound);
            }
            other => panic!("expected a spawn error, got {other:?}"),
        }
    }

    #[test]
    fn run_errors_map_to_pkg_errors() {
        let io = || std::io::Error::other("x");
        let c = || "tool --flag".to_string();
        let after = Duration::from_secs(7);
        assert!(matches!(
            PkgError::from(RunError::Spawn { command: c(), error: io() }),
            PkgError::Io { what, .. } if what.contains("tool --flag")
        ));
        assert!(matches!(
            PkgError::from(RunError::Io {
                command: c(),
                error: io()
            }),
            PkgError::Io { .. }
        ));
        assert!(matches!(
            PkgError::from(RunError::Timeout { command: c(), after }),
            PkgError::Timeout { after: a, .. } if a == after
        ));
        assert!(matches!(
            PkgError::from(RunError::Cancelled { command: c() }),
            PkgError::Cancelled(command) if command == "tool --flag"
        ));
    }

    #[test]
    fn a_bare_name_is_started_by_the_path_its_child_searches() {
        let found = program_path(&Command::new("sh"));
        assert!(found.is_absolute(), "{}", found.display());
        assert!(BASE_PATH
            .split(':')
            .any(|d| found.parent() == Some(Path::new(d))));
        // A PATH given to the command wins over the base one.
        let dir = std::env::temp_dir().join(format!("lpa-runner-path-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let tool = dir.join("lpa-only-here");
        std::fs::write(&tool, "#!/bin/sh\necho found\n").unwrap();
        std::fs::set_permissions(&tool, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let cmd = Command::new("lpa-only-here")
            .env("PATH", &dir)
            .timeout(Duration::from_secs(5));
        assert_eq!(program_path(&cmd), tool);
        assert_eq!(capture(&cmd).unwrap().stdout, "found\n");
        std::fs::remove_dir_all(&dir).unwrap();
        // Paths are kept as given; an unknown name stays bare and fails to start as before.
        assert_eq!(program_path(&Command::new("/bin/sh")), Path::new("/bin/sh"));
        assert_eq!(
            program_path(&Command::new("lpa-no-such-tool")),
            Path::new("lpa-no-such-tool")
        );
    }

    #[test]
    fn tools_get_at_most_the_default_open_files_limit() {
        let (soft, _) = open_files::current().unwrap();
        let out = capture(&sh("ulimit -n")).unwrap();
        let child: u64 = out.stdout.trim().parse().unwrap();
        // Above the default (this machine: 20000, CI's root shell likewise) the tool gets
        // the default; at or below it, the agent's own.
        assert_eq!(
            child,
            soft.min(open_files::FOR_TOOLS),
            "agent's soft limit {soft}"
        );
        assert_eq!(
            open_files::for_tools().is_some(),
            soft > open_files::FOR_TOOLS
        );
    }
}
