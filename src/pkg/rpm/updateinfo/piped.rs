//! A decompressor's output read as a stream, under a deadline.
//!
//! [`crate::pkg::runner`] captures a command's whole output, which for a decompressed
//! updateinfo would mean holding tens of MB (and cutting at its 64 MiB cap). Here the
//! tool's standard output is handed to the XML reader as it comes. The same rules as the
//! runner apply: a cleared environment, its own process group, and at the deadline the
//! group is killed, which ends the reader's input, so nothing waits without bound.

use std::io::{BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::pkg::runner::BASE_PATH;

/// Most bytes of the tool's standard error kept for the error message.
const STDERR_KEPT: usize = 4096;

/// A running `TOOL -dc -- FILE` whose output is being read.
pub struct Piped {
    command: String,
    child: Child,
    stdout: Option<BufReader<ChildStdout>>,
    stop_watchdog: Sender<()>,
    watchdog: JoinHandle<bool>,
    stderr: Option<JoinHandle<String>>,
}

/// Starts `tool -dc -- path`.
pub fn decompress(tool: &str, path: &Path, timeout: Duration) -> Result<Piped, String> {
    let command = format!("{tool} -dc -- {}", path.display());
    let mut child = Command::new(tool)
        .args(["-dc", "--"])
        .arg(path)
        .env_clear()
        .env("PATH", BASE_PATH)
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot start {command}: {e}"))?;
    let stdout = child
        .stdout
        .take()
        .map(|s| BufReader::with_capacity(64 * 1024, s));
    let stderr = child.stderr.take().map(|mut s| {
        std::thread::spawn(move || {
            let mut kept = Vec::new();
            let _ = (&mut s).take(STDERR_KEPT as u64).read_to_end(&mut kept);
            // Drain the rest so the tool never blocks on a full pipe.
            let _ = std::io::copy(&mut s, &mut std::io::sink());
            String::from_utf8_lossy(&kept).trim().to_string()
        })
    });
    let pgid = libc::pid_t::try_from(child.id()).unwrap_or(libc::pid_t::MAX);
    let (stop_watchdog, stopped) = mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || match stopped.recv_timeout(timeout) {
        Err(RecvTimeoutError::Timeout) => {
            // SAFETY: plain syscall on the group created at spawn; its leader is not
            // reaped before this thread is joined, so the id cannot be reused.
            unsafe { libc::killpg(pgid, libc::SIGKILL) };
            true
        }
        _ => false,
    });
    Ok(Piped {
        command,
        child,
        stdout,
        stop_watchdog,
        watchdog,
        stderr,
    })
}

impl Piped {
    /// The tool's standard output; empty once [`Piped::finish`] ran.
    pub fn output(&mut self) -> Option<&mut BufReader<ChildStdout>> {
        self.stdout.as_mut()
    }

    /// Closes the output, waits for the tool (bounded by the deadline) and says whether it
    /// decompressed the whole file.
    pub fn finish(mut self) -> Result<(), String> {
        // A tool still writing gets EPIPE once its reader is gone.
        drop(self.stdout.take());
        let status = self.child.wait();
        let _ = self.stop_watchdog.send(());
        let killed = self.watchdog.join().unwrap_or(false);
        let stderr = self
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        let status = status.map_err(|e| format!("{}: {e}", self.command))?;
        if killed {
            return Err(format!(
                "{}: no result within the deadline; stopped",
                self.command
            ));
        }
        if !status.success() {
            return Err(format!("{} exited with {status}: {stderr}", self.command));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufRead;

    #[test]
    fn streams_and_reports_failures() {
        let dir = std::env::temp_dir().join(format!("lpa-piped-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let plain = dir.join("u.xml");
        std::fs::write(&plain, "<updates/>\n").unwrap();
        let gz = std::process::Command::new("gzip")
            .args(["-kf", "--"])
            .arg(&plain)
            .status()
            .unwrap();
        assert!(gz.success());
        let mut p = decompress("gzip", &dir.join("u.xml.gz"), Duration::from_secs(30)).unwrap();
        let mut line = String::new();
        p.output().unwrap().read_line(&mut line).unwrap();
        assert_eq!(line, "<updates/>\n");
        p.finish().unwrap();
        // Not gzip data: the tool's complaint comes back.
        let p = decompress("gzip", &plain, Duration::from_secs(30)).unwrap();
        let err = p.finish().unwrap_err();
        assert!(err.contains("not in gzip format"), "{err}");
        assert!(decompress("lpa-no-such-tool", &plain, Duration::from_secs(1)).is_err());
        // A tool that never finishes is stopped at the deadline instead of holding the
        // reader (a stand-in that ignores its arguments and sleeps).
        let stuck = dir.join("stuck-tool");
        std::fs::write(&stuck, "#!/bin/sh\nexec sleep 600\n").unwrap();
        std::fs::set_permissions(&stuck, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let tool = stuck.to_str().unwrap();
        let mut p = decompress(tool, &plain, Duration::from_millis(200)).unwrap();
        let mut rest = Vec::new();
        p.output().unwrap().read_to_end(&mut rest).unwrap();
        let err = p.finish().unwrap_err();
        assert!(err.contains("no result within the deadline"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
