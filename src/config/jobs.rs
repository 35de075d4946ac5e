//! `jobs.*`: the job engine's concurrency, deadlines, retention and storage.

use std::path::PathBuf;

use super::{Section, Walker};

/// `jobs.*`
#[derive(Clone, Debug, PartialEq)]
pub struct JobsConfig {
    /// `jobs.max_concurrent`: default 5.
    pub max_concurrent: usize,
    /// `jobs.timeout_minutes`: default 30.
    pub timeout_minutes: u64,
    /// `jobs.storage_path`: default `/var/lib/linux_patch_api/jobs`.
    pub storage_path: PathBuf,
    /// `jobs.timeout_seconds`: when set, overrides `timeout_minutes` (for tests and short
    /// maintenance windows), 1-86400; default unset.
    pub timeout_seconds: Option<u64>,
    /// `jobs.max_queued`: jobs waiting to run at most; beyond it submissions are refused with
    /// a retryable error, default 100.
    pub max_queued: usize,
    /// `jobs.retention_max_jobs`: finished jobs kept at most (oldest deleted first), default 1000.
    pub retention_max_jobs: usize,
    /// `jobs.retention_days`: finished jobs older than this are deleted, default 30.
    pub retention_days: u64,
    /// `jobs.log_max_bytes`: a job's log is capped at this size (the cap is said in the
    /// log), default 1048576.
    pub log_max_bytes: usize,
    /// `jobs.cancel_grace_seconds`: after SIGTERM, how long a cancelled or timed-out
    /// command has before SIGKILL, default 10.
    pub cancel_grace_seconds: u64,
    /// `jobs.rollback_cache_path`: where package files saved for rollbacks are kept,
    /// default `/var/lib/linux_patch_api/rollback`.
    pub rollback_cache_path: PathBuf,
    /// `jobs.rollback_cache_max_mb`: size bound of that cache (oldest saved sets evicted
    /// first), default 1024.
    pub rollback_cache_max_mb: u64,
    /// `jobs.websocket_max_sessions`: WebSocket sessions at once, default 32.
    pub websocket_max_sessions: usize,
    /// `jobs.websocket_idle_timeout_seconds`: a session with no client frame (not even a
    /// pong) for this long is closed, default 300; the server pings every third of it.
    pub websocket_idle_timeout_seconds: u64,
}

impl JobsConfig {
    /// The job timeout: `timeout_seconds` when set, else `timeout_minutes`.
    pub fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.timeout_seconds.unwrap_or(self.timeout_minutes * 60))
    }
}

/// Default job storage directory.
const DEFAULT_JOBS_DIR: &str = "/var/lib/linux_patch_api/jobs";
const DEFAULT_ROLLBACK_DIR: &str = "/var/lib/linux_patch_api/rollback";

impl Default for JobsConfig {
    fn default() -> Self {
        JobsConfig {
            max_concurrent: 5,
            timeout_minutes: 30,
            storage_path: PathBuf::from(DEFAULT_JOBS_DIR),
            timeout_seconds: None,
            max_queued: 100,
            retention_max_jobs: 1000,
            retention_days: 30,
            log_max_bytes: 1_048_576,
            cancel_grace_seconds: 10,
            rollback_cache_path: PathBuf::from(DEFAULT_ROLLBACK_DIR),
            rollback_cache_max_mb: 1024,
            websocket_max_sessions: 32,
            websocket_idle_timeout_seconds: 300,
        }
    }
}

impl Walker<'_> {
    /// `jobs.*`
    pub(super) fn jobs(&mut self, top: &Section) -> JobsConfig {
        let d = JobsConfig::default();
        let s = self.child(
            top,
            "jobs",
            &[
                "max_concurrent",
                "timeout_minutes",
                "timeout_seconds",
                "storage_path",
                "max_queued",
                "retention_max_jobs",
                "retention_days",
                "log_max_bytes",
                "cancel_grace_seconds",
                "rollback_cache_path",
                "rollback_cache_max_mb",
                "websocket_max_sessions",
                "websocket_idle_timeout_seconds",
            ],
        );
        JobsConfig {
            max_concurrent: self.usize_or(&s, "max_concurrent", (1, 64), d.max_concurrent),
            timeout_minutes: self.u64_or(&s, "timeout_minutes", (1, 1440), d.timeout_minutes),
            timeout_seconds: self.integer(&s, "timeout_seconds", (1, 86_400)),
            storage_path: self.path(&s, "storage_path", DEFAULT_JOBS_DIR),
            max_queued: self.usize_or(&s, "max_queued", (1, 10_000), d.max_queued),
            retention_max_jobs: self.usize_or(
                &s,
                "retention_max_jobs",
                (1, 1_000_000),
                d.retention_max_jobs,
            ),
            retention_days: self.u64_or(&s, "retention_days", (1, 3650), d.retention_days),
            log_max_bytes: self.usize_or(&s, "log_max_bytes", (4096, 1 << 30), d.log_max_bytes),
            cancel_grace_seconds: self.u64_or(
                &s,
                "cancel_grace_seconds",
                (1, 600),
                d.cancel_grace_seconds,
            ),
            rollback_cache_path: self.path(&s, "rollback_cache_path", DEFAULT_ROLLBACK_DIR),
            rollback_cache_max_mb: self.u64_or(
                &s,
                "rollback_cache_max_mb",
                (1, 1 << 20),
                d.rollback_cache_max_mb,
            ),
            websocket_max_sessions: self.usize_or(
                &s,
                "websocket_max_sessions",
                (1, 4096),
                d.websocket_max_sessions,
            ),
            websocket_idle_timeout_seconds: self.u64_or(
                &s,
                "websocket_idle_timeout_seconds",
                (5, 86_400),
                d.websocket_idle_timeout_seconds,
            ),
        }
    }
}
