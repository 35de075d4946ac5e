//! The job engine: checks a request, queues it, runs it on a worker under the host's one
//! package transaction, records what really changed, and keeps every step on disk.
//!
//! Locks, always taken in this order when nested: the transaction lock's holder slot, then
//! the job table. Records are written outside the job table lock; their revision keeps a
//! late write of an older snapshot from winning.
//!
//! This file is the coordinator: the engine's struct, its constructor and shutdown, with its
//! settings and error types. Its methods live by concern in `engine/`: `queue.rs`
//! (admission), `worker.rs` (the transaction lock, a job from pending to its end, cancel),
//! `transaction.rs` (a job's package work), `rollback.rs`, `persistence.rs` (changes,
//! events, records, retention), `listing.rs`, `logs.rs`, `panics.rs`, `recovery.rs`,
//! `reboot.rs` and `reboot_slot.rs`, `batches.rs` + `budget.rs` (patch jobs with a time
//! budget); their tests are in `engine/tests/`, by the same names.

use std::cmp::Ordering as CmpOrdering;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use crossbeam_channel::{Sender, TrySendError};
use time::OffsetDateTime;
use uuid::Uuid;

use super::events::{Events, JobEvent};
use super::model::{
    Change, Job, JobError, JobRequest, JobResult, JobStatus, NotRestorable, Operation,
};
use super::rollback::{check_restorable, steps_from, targets, RollbackCache};
use super::store::{current_boot_id, expired, record_cap, recover, Store, AGENT_RESTARTED};
use crate::pkg::advisories::Advisory;
use crate::pkg::inventory::Inventory;
use crate::pkg::runner::{Cancel, Stream};
use crate::pkg::{
    advisory_targets, Exec, InstallOptions, InstalledPackage, PackageManager, PackageSpec,
    PkgError, RemoveOptions, RestoreStep,
};
use crate::watch::FileStamp;

mod admission;
mod batches;
mod budget;
mod dry_run;
mod holds;
mod listing;
mod logs;
mod opening;
mod panics;
mod persistence;
mod phases;
mod queue;
mod reboot;
mod reboot_slot;
mod recovery;
mod rollback;
mod transaction;
mod worker;

pub use budget::{BatchForecast, BudgetSettings};
pub use listing::JobTally;
use persistence::{end, fail_not_started};
use transaction::{Outcome, P_STARTED, P_TOOL_LINES_MAX};
use worker::{NotStarted, TxnGuard, TxnLock, TXN_POLL};

/// The stamps of the package database's files, in the backend's order.
type DbStamps = Vec<Option<FileStamp>>;

/// The engine's knobs (from `jobs.*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineSettings {
    /// Directory of the job records.
    pub storage_path: PathBuf,
    /// Worker threads (jobs taken off the queue at once).
    pub max_concurrent: usize,
    /// Deadline of one job, counted from when it holds the package transaction.
    pub timeout: Duration,
    /// Jobs waiting in the queue at most.
    pub max_queued: usize,
    /// Finished jobs kept at most.
    pub retention_max_jobs: usize,
    /// Finished jobs older than this many days are deleted.
    pub retention_days: u64,
    /// A job's log is capped at this many bytes of tool output.
    pub log_max_bytes: usize,
    /// SIGTERM-to-SIGKILL grace of a cancelled or timed-out command.
    pub cancel_grace: Duration,
    /// Where package files saved for rollbacks go.
    pub rollback_cache_path: PathBuf,
    /// Size bound of that cache.
    pub rollback_cache_max_bytes: u64,
    /// The reboot command of reboot jobs (`system.reboot_command`).
    pub reboot_command: Vec<String>,
    /// The expected times a patch job with a time budget plans with.
    pub budget: BudgetSettings,
}

impl EngineSettings {
    /// The settings of the `jobs.*` and `system.*` configuration.
    pub fn from_config(
        c: &crate::config::JobsConfig,
        system: &crate::config::SystemConfig,
    ) -> Self {
        EngineSettings {
            storage_path: c.storage_path.clone(),
            max_concurrent: c.max_concurrent,
            timeout: c.timeout(),
            max_queued: c.max_queued,
            retention_max_jobs: c.retention_max_jobs,
            retention_days: c.retention_days,
            log_max_bytes: c.log_max_bytes,
            cancel_grace: Duration::from_secs(c.cancel_grace_seconds),
            rollback_cache_path: c.rollback_cache_path.clone(),
            rollback_cache_max_bytes: c.rollback_cache_max_mb.saturating_mul(1024 * 1024),
            reboot_command: system.reboot_argv(),
            budget: BudgetSettings {
                batch: crate::jobs::batch_times::BatchDefaults {
                    per_batch: c.batch_seconds,
                    per_package: c.batch_package_seconds,
                },
                reboot: Duration::from_secs(c.reboot_seconds),
            },
        }
    }
}

/// Why the engine refused a call.
#[derive(Debug)]
pub enum EngineError {
    /// No job with this id.
    NotFound(Uuid),
    /// The queue holds `max` waiting jobs already (retryable).
    QueueFull {
        /// The queue bound.
        max: usize,
    },
    /// A synchronous check of the request failed (invalid, unknown, version conflict).
    Pkg(PkgError),
    /// The job cannot be rolled back (not finished, or changed nothing).
    NotRollbackable(String),
    /// Job records could not be written, or the engine is stopping.
    Storage(String),
    /// A reboot without `force` while package jobs are pending or running (retryable).
    Busy(Vec<Uuid>),
    /// A reboot asking something else while this reboot job is pending or running.
    RebootPending(Box<Job>),
}

impl std::fmt::Display for EngineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EngineError::NotFound(id) => write!(f, "job {id} not found"),
            EngineError::QueueFull { max } => write!(
                f,
                "the job queue is full ({max} jobs waiting); retry when some have started"
            ),
            EngineError::Pkg(e) => write!(f, "{e}"),
            EngineError::NotRollbackable(m) => write!(f, "{m}"),
            EngineError::Storage(m) => write!(f, "job storage: {m}"),
            EngineError::Busy(ids) => {
                let ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
                write!(
                    f,
                    "package job(s) {} pending or running; reboot when they are done, or set force",
                    ids.join(", ")
                )
            }
            EngineError::RebootPending(job) => write!(
                f,
                "reboot job {} is already {}{}; cancel it (DELETE /api/v1/jobs/{}) to ask \
                 for another",
                job.id,
                job.status.as_str(),
                match &job.request {
                    JobRequest::Reboot { scheduled_at, .. } =>
                        format!(" for {}", crate::timefmt::rfc3339(*scheduled_at)),
                    _ => String::new(),
                },
                job.id
            ),
        }
    }
}

impl std::error::Error for EngineError {}

impl From<PkgError> for EngineError {
    fn from(e: PkgError) -> EngineError {
        EngineError::Pkg(e)
    }
}

/// What `DELETE /api/v1/jobs/{id}` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CancelOutcome {
    /// The job.
    pub job_id: Uuid,
    /// Its status when the request came.
    pub previous_status: JobStatus,
    /// Its status now; `None` when its record was deleted.
    pub current_status: Option<JobStatus>,
    /// `cancelled`, `deleted`, or `cancelling` (still stopping when the wait ended).
    pub action: &'static str,
}

/// One job in memory with what only the running engine needs.
struct Entry {
    job: Job,
    cancel: Cancel,
    last_persist: Option<Instant>,
    last_event: Option<Instant>,
    /// Submission order: the package transaction is granted in this order.
    seq: u64,
    /// Whether it has had its turn at the package transaction.
    had_turn: bool,
    /// Whether its log was dropped from memory, its record holding it (see `logs.rs`).
    logs_on_disk: bool,
    /// The package database's stamps under which the submission checks passed; `None`
    /// when they were deferred (see `transaction.rs`).
    checked: Option<DbStamps>,
    /// Marked running at admission and not yet taken by a worker (see `queue.rs`).
    begun: bool,
    /// Set while the first record of a job started at admission is being written (see
    /// `admission.rs`).
    admission: Option<Arc<admission::Admission>>,
}

impl Entry {
    fn new(job: Job, seq: u64) -> Entry {
        Entry {
            job,
            cancel: Cancel::new(),
            last_persist: None,
            last_event: None,
            seq,
            had_turn: false,
            logs_on_disk: false,
            checked: None,
            begun: false,
            admission: None,
        }
    }

    /// Whether readers see it: not while its first record is still being written.
    fn visible(&self) -> bool {
        self.admission.is_none()
    }

    /// Whether this job is still to take the package transaction before later ones.
    fn in_line(&self) -> bool {
        self.job.operation != Operation::Reboot && !self.had_turn && !self.job.status.is_terminal()
    }
}

fn relock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every value behind these locks stays consistent across a panicking holder.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Pending -> running: what a worker, or the admission of a job that starts at once, does.
fn mark_started(j: &mut Job, boot_id: Option<String>) {
    j.status = JobStatus::Running;
    j.started_at = Some(now());
    j.boot_id = boot_id;
    j.advance(P_STARTED);
    j.note("info", "job started");
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// The job engine. Create it with [`Engine::start`].
pub struct Engine {
    settings: EngineSettings,
    inventory: Arc<Inventory>,
    events: Events,
    store: Store,
    cache: RollbackCache,
    boot_id: Option<String>,
    jobs: Mutex<HashMap<Uuid, Entry>>,
    changed: Condvar,
    queue: Mutex<Option<Sender<Uuid>>>,
    txn: TxnLock,
    accepting: AtomicBool,
    /// Held while a reboot request checks for a pending reboot and adds its job.
    reboot_slot: Mutex<()>,
    // The repair after a restart runs on a thread of its own, which needs the engine.
    me: Weak<Engine>,
    next_seq: std::sync::atomic::AtomicU64,
}

impl Engine {
    /// Loads the stored jobs (failing those a previous run left unfinished), applies
    /// retention, and starts `max_concurrent` workers.
    pub fn start(
        settings: EngineSettings,
        inventory: Arc<Inventory>,
        events: Events,
    ) -> Result<Arc<Engine>, EngineError> {
        Engine::start_with_boot_id(settings, inventory, events, current_boot_id())
    }

    /// [`Engine::start`] with the boot id given (tests simulate reboots with it).
    pub(crate) fn start_with_boot_id(
        settings: EngineSettings,
        inventory: Arc<Inventory>,
        events: Events,
        boot_id: Option<String>,
    ) -> Result<Arc<Engine>, EngineError> {
        let store = Store::open(&settings.storage_path)
            .map_err(|e| EngineError::Storage(e.to_string()))?
            .with_record_cap(record_cap(settings.log_max_bytes));
        let recovery::Loaded { jobs, interrupted } =
            recovery::load_jobs(&store, boot_id.as_deref());
        let cache = RollbackCache::new(
            &settings.rollback_cache_path,
            settings.rollback_cache_max_bytes,
        );
        cache.remove_orphans(&|id| jobs.contains_key(id));
        let (tx, rx) = crossbeam_channel::bounded(settings.max_queued.max(1));
        let engine = Arc::new_cyclic(|me| Engine {
            me: me.clone(),
            next_seq: std::sync::atomic::AtomicU64::new(1),
            settings,
            inventory,
            events,
            store,
            cache,
            boot_id,
            jobs: Mutex::new(jobs),
            changed: Condvar::new(),
            queue: Mutex::new(Some(tx)),
            txn: TxnLock::default(),
            accepting: AtomicBool::new(true),
            reboot_slot: Mutex::new(()),
        });
        engine.store.keep_spares();
        engine.apply_retention();
        engine.repair_after_restart(&interrupted);
        reboot_slot::start_reboot_timer(&engine)?;
        for i in 0..engine.settings.max_concurrent.max(1) {
            let worker = Arc::clone(&engine);
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("job-worker-{i}"))
                .spawn(move || worker.work_guarded(&rx))
                .map_err(|e| EngineError::Storage(format!("cannot start a job worker: {e}")))?;
        }
        Ok(engine)
    }

    /// Stops taking jobs, fails the queued ones (they never start), and waits up to `wait`
    /// for running ones to finish; a package transaction is never killed half-way.
    pub fn shutdown(&self, wait: Duration) {
        self.accepting.store(false, Ordering::SeqCst);
        drop(relock(&self.queue).take());
        let pending: Vec<Uuid> = self
            .table()
            .values()
            .filter(|e| e.job.status == JobStatus::Pending)
            .map(|e| e.job.id)
            .collect();
        for id in pending {
            self.change(&id, |j| {
                if j.status == JobStatus::Pending {
                    fail_not_started(j, "not started: the agent is shutting down");
                }
            });
        }
        let deadline = Instant::now() + wait;
        let mut table = self.table();
        loop {
            let running = table
                .values()
                .filter(|e| e.job.status == JobStatus::Running)
                .count();
            let left = deadline.saturating_duration_since(Instant::now());
            // No job runs but the transaction is held: the repair after a restart, which must
            // not be cut off half-way either (no record would make the next start redo it).
            // Asked without the table lock: the transaction lock is taken before it elsewhere.
            let repairing = running == 0 && {
                drop(table);
                let busy = self.txn.held_by_a_change();
                table = self.table();
                busy
            };
            if running == 0 && !repairing {
                return;
            }
            if left.is_zero() {
                log::warn!(
                    "{running} job(s) still running at shutdown (repair running: {repairing}); \
                     they will be marked failed at the next start"
                );
                return;
            }
            table = self
                .changed
                .wait_timeout(table, left.min(TXN_POLL))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    fn table(&self) -> MutexGuard<'_, HashMap<Uuid, Entry>> {
        relock(&self.jobs)
    }
}

#[cfg(test)]
mod tests;
