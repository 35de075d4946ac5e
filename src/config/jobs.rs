//! `jobs.*`: the job engine's concurrency, deadlines, retention and storage.

use std::path::PathBuf;

use serde::Deserialize;

use super::fields::{int, opt_int, path};

/// `jobs.*`
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JobsConfig {
    /// `jobs.max_concurrent`: 1-64, default 5.
    #[serde(deserialize_with = "int::<1, 64, _, _>")]
    pub max_concurrent: usize,
    /// `jobs.timeout_minutes`: 1-1440, default 30.
    #[serde(deserialize_with = "int::<1, 1440, _, _>")]
    pub timeout_minutes: u64,
    /// `jobs.storage_path`: default `/var/lib/linux_patch_api/jobs`.
    #[serde(deserialize_with = "path")]
    pub storage_path: PathBuf,
    /// `jobs.timeout_seconds`: when set, overrides `timeout_minutes` (for tests and short
    /// maintenance windows), 1-86400; default unset.
    #[serde(deserialize_with = "opt_int::<1, 86_400, _, _>")]
    pub timeout_seconds: Option<u64>,
    /// `jobs.max_queued`: jobs waiting to run at most; beyond it submissions are refused with
    /// a retryable error, 1-10000, default 100.
    #[serde(deserialize_with = "int::<1, 10_000, _, _>")]
    pub max_queued: usize,
    /// `jobs.retention_max_jobs`: finished jobs kept at most (oldest deleted first), 1-1000000, default 1000.
    #[serde(deserialize_with = "int::<1, 1_000_000, _, _>")]
    pub retention_max_jobs: usize,
    /// `jobs.retention_days`: finished jobs older than this are deleted, 1-3650, default 30.
    #[serde(deserialize_with = "int::<1, 3650, _, _>")]
    pub retention_days: u64,
    /// `jobs.log_max_bytes`: a job's log is capped at this size (the cap is said in the
    /// log), 4096-1073741824, default 1048576.
    #[serde(deserialize_with = "int::<4096, { 1 << 30 }, _, _>")]
    pub log_max_bytes: usize,
    /// `jobs.cancel_grace_seconds`: after SIGTERM, how long a cancelled or timed-out
    /// command has before SIGKILL, 1-600, default 10.
    #[serde(deserialize_with = "int::<1, 600, _, _>")]
    pub cancel_grace_seconds: u64,
    /// `jobs.rollback_cache_path`: where package files saved for rollbacks are kept,
    /// default `/var/lib/linux_patch_api/rollback`.
    #[serde(deserialize_with = "path")]
    pub rollback_cache_path: PathBuf,
    /// `jobs.rollback_cache_max_mb`: size bound of that cache (oldest saved sets evicted
    /// first), 1-1048576, default 1024.
    #[serde(deserialize_with = "int::<1, { 1 << 20 }, _, _>")]
    pub rollback_cache_max_mb: u64,
    /// `jobs.websocket_max_sessions`: WebSocket sessions at once, 1-4096, default 32.
    #[serde(deserialize_with = "int::<1, 4096, _, _>")]
    pub websocket_max_sessions: usize,
    /// `jobs.websocket_idle_timeout_seconds`: a session with no client frame (not even a
    /// pong) for this long is closed, 5-86400, default 300; the server pings every third of it.
    #[serde(deserialize_with = "int::<5, 86_400, _, _>")]
    pub websocket_idle_timeout_seconds: u64,
    /// `jobs.batch_seconds`: a patch job with a time budget expects each batch to take
    /// this long plus `batch_package_seconds` per package until this host has measured
    /// its own batches, 0-86400, default 60.
    #[serde(deserialize_with = "int::<0, 86_400, _, _>")]
    pub batch_seconds: u64,
    /// `jobs.batch_package_seconds`: that expectation's part per package changed,
    /// 0-86400, default 10.
    #[serde(deserialize_with = "int::<0, 86_400, _, _>")]
    pub batch_package_seconds: u64,
    /// `jobs.reboot_seconds`: how long the reboot after a budgeted patch job is expected
    /// to take (the job does not start it when the budget leaves less), 0-86400, default 300.
    #[serde(deserialize_with = "int::<0, 86_400, _, _>")]
    pub reboot_seconds: u64,
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
            batch_seconds: 60,
            batch_package_seconds: 10,
            reboot_seconds: 300,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::tests::{one_error, parse};
    use std::time::Duration;

    #[test]
    fn timeout_seconds_overrides_the_minutes() {
        let c = parse("jobs:\n  timeout_minutes: 2\n").unwrap();
        assert_eq!(c.jobs.timeout(), Duration::from_secs(120));
        let c = parse("jobs:\n  timeout_minutes: 2\n  timeout_seconds: 5\n").unwrap();
        assert_eq!(c.jobs.timeout(), Duration::from_secs(5));
        assert_eq!(
            one_error("jobs:\n  timeout_seconds: 0\n"),
            "jobs.timeout_seconds: must be 1-86400, got 0"
        );
        assert_eq!(
            one_error("jobs:\n  log_max_bytes: 4095\n"),
            "jobs.log_max_bytes: must be 4096-1073741824, got 4095"
        );
    }
}
