//! The job engine: checks a request, queues it, runs it on a worker under the host's one
//! package transaction, records what really changed, and keeps every step on disk.
//!
//! Locks, always taken in this order when nested: the transaction lock's holder slot, then
//! the job table. Records are written outside the job table lock; their revision keeps a
//! late write of an older snapshot from winning.

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

mod listing;
mod logs;
mod panics;
mod persistence;
mod queue;
mod reboot;
mod reboot_slot;
mod recovery;
mod rollback;
mod transaction;
mod worker;

use persistence::{end, event_of, fail_not_started};
use transaction::{Outcome, P_STARTED, P_TOOL_LINES_MAX};
use worker::{NotStarted, TxnGuard, TxnLock, TXN_POLL};

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
        }
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
                let busy = self.txn.busy();
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
mod tests {
    use super::*;

    mod logs;
    mod reboot_once;
    use crate::pkg::{BackendKind, PackageDetails, SavedPackage, Upgrade};
    use std::sync::atomic::AtomicUsize;

    /// How the fake's next mutations fail (after applying their first package).
    #[derive(Clone, Copy, Debug)]
    enum Fail {
        Dependency,
        Version,
        NotFound,
        Tool,
        Panic,
    }

    impl Fail {
        fn error(self) -> PkgError {
            match self {
                Fail::Dependency => PkgError::DependencyConflict("b conflicts".into()),
                Fail::Version => PkgError::VersionConflict("no such version".into()),
                Fail::NotFound => PkgError::NotFound("ghost".into()),
                Fail::Tool => PkgError::Command {
                    command: "fake-tool".into(),
                    code: Some(100),
                    stderr_tail: "E: broken".into(),
                },
                Fail::Panic => panic!("the fake backend panicked"),
            }
        }
    }

    /// An in-memory package manager with scripted mutations; no process is ever started.
    struct Fake {
        db: PathBuf,
        installed: Mutex<BTreeMap<String, String>>,
        available: Mutex<BTreeMap<String, Vec<String>>>,
        hang: AtomicBool,
        delay: Mutex<Duration>,
        lines: AtomicUsize,
        fail: Mutex<Option<Fail>>,
        unsaveable: Mutex<Vec<String>>,
        calls: Mutex<Vec<String>>,
        intervals: Mutex<Vec<(Instant, Instant)>>,
    }

    impl Fake {
        fn new(dir: &std::path::Path) -> Arc<Fake> {
            let map = |v: &[(&str, &str)]| {
                v.iter()
                    .map(|(n, v)| (n.to_string(), v.to_string()))
                    .collect::<BTreeMap<_, _>>()
            };
            let fake = Fake {
                db: dir.join("fake-db"),
                installed: Mutex::new(map(&[("a", "1"), ("b", "1")])),
                available: Mutex::new(
                    [("a", vec!["1", "2"]), ("b", vec!["1"]), ("c", vec!["1"])]
                        .into_iter()
                        .map(|(n, v)| (n.to_string(), v.into_iter().map(String::from).collect()))
                        .collect(),
                ),
                hang: AtomicBool::new(false),
                delay: Mutex::new(Duration::ZERO),
                lines: AtomicUsize::new(2),
                fail: Mutex::new(None),
                unsaveable: Mutex::new(Vec::new()),
                calls: Mutex::new(Vec::new()),
                intervals: Mutex::new(Vec::new()),
            };
            fake.write_db();
            Arc::new(fake)
        }

        fn write_db(&self) {
            // Replaced by rename, so the inventory sees a new stamp whatever the clock says.
            let text = format!("{:?}", *self.installed.lock().unwrap());
            let tmp = self.db.with_extension("new");
            std::fs::write(&tmp, text).unwrap();
            std::fs::rename(&tmp, &self.db).unwrap();
        }

        fn called(&self, prefix: &str) -> usize {
            let calls = self.calls.lock().unwrap();
            calls.iter().filter(|c| c.starts_with(prefix)).count()
        }

        fn version(&self, name: &str) -> Option<String> {
            self.installed.lock().unwrap().get(name).cloned()
        }

        fn wait(&self, exec: &Exec<'_>, start: Instant) -> Result<(), PkgError> {
            loop {
                let delay = *self.delay.lock().unwrap();
                if !self.hang.load(Ordering::SeqCst) && start.elapsed() >= delay {
                    return Ok(());
                }
                if exec.cancel.is_cancelled() {
                    return Err(PkgError::Cancelled("fake-tool".into()));
                }
                if start.elapsed() >= exec.timeout {
                    return Err(PkgError::Timeout {
                        command: "fake-tool".into(),
                        after: exec.timeout,
                    });
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }

        fn mutation(
            &self,
            what: String,
            exec: &mut Exec<'_>,
            apply: Vec<(String, Option<String>)>,
        ) -> Result<(), PkgError> {
            let start = Instant::now();
            self.calls.lock().unwrap().push(what);
            for i in 0..self.lines.load(Ordering::SeqCst) {
                (exec.on_line)(Stream::Stdout, &format!("line {i}"));
            }
            (exec.on_line)(Stream::Stderr, "W: a warning");
            let mut r = self.wait(exec, start);
            if r.is_ok() {
                let fail = *self.fail.lock().unwrap();
                let n = if fail.is_some() { 1 } else { apply.len() };
                {
                    let mut inst = self.installed.lock().unwrap();
                    for (name, v) in apply.into_iter().take(n) {
                        match v {
                            Some(v) => inst.insert(name, v),
                            None => inst.remove(&name),
                        };
                    }
                }
                self.write_db();
                if let Some(f) = fail {
                    r = Err(f.error());
                }
            }
            self.intervals.lock().unwrap().push((start, Instant::now()));
            r
        }
    }

    impl PackageManager for Fake {
        fn kind(&self) -> BackendKind {
            BackendKind::Apt
        }
        fn installed(&self) -> Result<Vec<InstalledPackage>, PkgError> {
            let inst = self.installed.lock().unwrap();
            Ok(inst
                .iter()
                .map(|(n, v)| InstalledPackage {
                    name: n.clone(),
                    version: v.clone(),
                    arch: None,
                    description: String::new(),
                    size_bytes: None,
                    installed_at: None,
                    maintainer: None,
                    depends: Vec::new(),
                })
                .collect())
        }
        fn database_paths(&self) -> Vec<PathBuf> {
            vec![self.db.clone()]
        }
        fn details(&self, _: &str) -> Result<Option<PackageDetails>, PkgError> {
            Ok(None)
        }
        fn refresh(&self) -> Result<(), PkgError> {
            Ok(())
        }
        fn upgradable(&self) -> Result<Vec<Upgrade>, PkgError> {
            Ok(Vec::new())
        }
        fn compare_versions(&self, a: &str, b: &str) -> CmpOrdering {
            a.cmp(b)
        }
        fn validate_name(&self, name: &str) -> Result<(), PkgError> {
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_lowercase() || c == '-') {
                return Err(PkgError::Invalid {
                    field: "name".into(),
                    message: format!("{name:?} is not a package name"),
                });
            }
            Ok(())
        }
        fn validate_version(&self, version: &str) -> Result<(), PkgError> {
            if version.is_empty() || version.contains(' ') {
                return Err(PkgError::Invalid {
                    field: "version".into(),
                    message: format!("{version:?} is not a version"),
                });
            }
            Ok(())
        }
        fn available_versions(&self, name: &str) -> Result<Vec<String>, PkgError> {
            Ok(self
                .available
                .lock()
                .unwrap()
                .get(name)
                .cloned()
                .unwrap_or_default())
        }
        fn install(
            &self,
            packages: &[PackageSpec],
            _: &InstallOptions,
            exec: &mut Exec<'_>,
        ) -> Result<(), PkgError> {
            let apply = packages
                .iter()
                .map(|p| {
                    let latest = self.available_versions(&p.name).unwrap().last().cloned();
                    (p.name.clone(), p.version.clone().or(latest))
                })
                .collect();
            let names: Vec<&str> = packages.iter().map(|p| p.name.as_str()).collect();
            self.mutation(format!("install {}", names.join(",")), exec, apply)
        }
        fn remove(
            &self,
            names: &[String],
            _: &RemoveOptions,
            exec: &mut Exec<'_>,
        ) -> Result<(), PkgError> {
            let apply = names.iter().map(|n| (n.clone(), None)).collect();
            self.mutation(format!("remove {}", names.join(",")), exec, apply)
        }
        fn save_for_rollback(
            &self,
            installed: &[(String, String)],
            dir: &std::path::Path,
            exec: &mut Exec<'_>,
        ) -> Result<Vec<SavedPackage>, PkgError> {
            self.calls.lock().unwrap().push("save".into());
            (exec.on_line)(Stream::Stdout, "saving");
            let skip = self.unsaveable.lock().unwrap().clone();
            let mut saved = Vec::new();
            for (n, v) in installed.iter().filter(|(n, _)| !skip.contains(n)) {
                let file = dir.join(format!("{n}_{v}.pkg"));
                std::fs::write(&file, b"package").unwrap();
                saved.push(SavedPackage {
                    name: n.clone(),
                    version: v.clone(),
                    file: Some(file),
                });
            }
            Ok(saved)
        }
        fn restore(&self, steps: &[RestoreStep], exec: &mut Exec<'_>) -> Result<(), PkgError> {
            let apply = steps
                .iter()
                .map(|s| match s {
                    RestoreStep::Install { name, version, .. } => {
                        (name.clone(), Some(version.clone()))
                    }
                    RestoreStep::Remove { name } => (name.clone(), None),
                })
                .collect();
            let files = steps
                .iter()
                .filter(|s| matches!(s, RestoreStep::Install { file: Some(_), .. }))
                .count();
            self.mutation(
                format!("restore {} steps, {files} from files", steps.len()),
                exec,
                apply,
            )
        }
        fn repair(&self, _: &mut Exec<'_>) -> Result<Vec<String>, PkgError> {
            self.calls.lock().unwrap().push("repair".into());
            Ok(vec!["configured 1 half-installed package".into()])
        }
    }

    struct Rig {
        dir: PathBuf,
        fake: Arc<Fake>,
        inventory: Arc<Inventory>,
        events: Events,
        settings: EngineSettings,
        engine: Arc<Engine>,
    }

    impl Drop for Rig {
        fn drop(&mut self) {
            self.fake.hang.store(false, Ordering::SeqCst);
            self.engine.shutdown(Duration::from_secs(2));
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn rig_with(tune: impl FnOnce(&mut EngineSettings)) -> Rig {
        let dir = std::env::temp_dir().join(format!("lpa-engine-{}", Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut settings = EngineSettings {
            storage_path: dir.join("jobs"),
            max_concurrent: 2,
            timeout: Duration::from_secs(5),
            max_queued: 10,
            retention_max_jobs: 100,
            retention_days: 30,
            log_max_bytes: 1 << 20,
            cancel_grace: Duration::from_millis(100),
            rollback_cache_path: dir.join("rollback"),
            rollback_cache_max_bytes: 1 << 20,
            reboot_command: vec![reboot_script(&dir).display().to_string(), "--now".into()],
        };
        tune(&mut settings);
        let fake = Fake::new(&dir);
        let inventory = Arc::new(Inventory::new(fake.clone(), Duration::from_secs(3600)));
        let events = Events::new();
        let engine = Engine::start_with_boot_id(
            settings.clone(),
            inventory.clone(),
            events.clone(),
            Some("boot-1".into()),
        )
        .unwrap();
        Rig {
            dir,
            fake,
            inventory,
            events,
            settings,
            engine,
        }
    }

    fn rig() -> Rig {
        rig_with(|_| {})
    }

    /// A stand-in reboot command: appends its arguments to `reboots` beside itself, or
    /// fails when a file `reboot-fails` is there.
    fn reboot_script(dir: &std::path::Path) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join("reboot.sh");
        let script = "#!/bin/sh\nd=$(dirname \"$0\")\n[ -e \"$d/reboot-fails\" ] && { echo 'reboot: refused' >&2; exit 3; }\necho \"$*\" >> \"$d/reboots\"\n";
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    fn reboots(r: &Rig) -> Vec<String> {
        std::fs::read_to_string(r.dir.join("reboots"))
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect()
    }

    fn reboot_in(delay: Duration, force: bool) -> JobRequest {
        JobRequest::Reboot {
            scheduled_at: now() + delay,
            force,
            reason: Some("maintenance".into()),
        }
    }

    fn patch(id: &str, name: &str, from: &str, to: &str, reboot: bool) -> Advisory {
        let mut a = crate::pkg::advisories::plain_update(&crate::pkg::Upgrade {
            name: name.into(),
            current_version: from.into(),
            available_version: to.into(),
            arch: None,
            origins: Vec::new(),
        });
        a.id = id.into();
        a.requires_reboot = reboot;
        a
    }

    fn apply(patches: Vec<Advisory>, exclude: &[&str], reboot: bool) -> JobRequest {
        JobRequest::PatchApply {
            patches,
            exclude: exclude.iter().map(|s| s.to_string()).collect(),
            reboot,
            reboot_delay_seconds: 0,
        }
    }

    impl Rig {
        fn wait_for(&self, id: &Uuid, what: &str, done: impl Fn(&Job) -> bool) -> Job {
            let give_up = Instant::now() + Duration::from_secs(5);
            loop {
                let job = self.engine.get(id).expect("job exists");
                if done(&job) {
                    return job;
                }
                assert!(
                    Instant::now() < give_up,
                    "timed out waiting for {what}: {:?}",
                    job.status
                );
                std::thread::sleep(Duration::from_millis(2));
            }
        }

        fn wait_done(&self, id: &Uuid) -> Job {
            self.wait_for(id, "the end", |j| j.status.is_terminal())
        }

        fn wait_in_tool(&self, prefix: &str) {
            let give_up = Instant::now() + Duration::from_secs(5);
            while self.fake.called(prefix) == 0 {
                assert!(Instant::now() < give_up, "{prefix} never called");
                std::thread::sleep(Duration::from_millis(2));
            }
        }

        fn run(&self, request: JobRequest) -> Job {
            let job = self.engine.submit(request).unwrap();
            assert_eq!(job.status, JobStatus::Pending);
            self.wait_done(&job.id)
        }
    }

    fn spec(name: &str, version: Option<&str>) -> PackageSpec {
        PackageSpec {
            name: name.into(),
            version: version.map(Into::into),
        }
    }

    fn install(specs: &[(&str, Option<&str>)]) -> JobRequest {
        JobRequest::Install {
            packages: specs.iter().map(|(n, v)| spec(n, *v)).collect(),
            options: InstallOptions::default(),
        }
    }

    fn remove(name: &str) -> JobRequest {
        JobRequest::Remove {
            name: name.into(),
            options: RemoveOptions::default(),
        }
    }

    fn change(n: &str, b: Option<&str>, a: Option<&str>) -> Change {
        Change {
            name: n.into(),
            before: b.map(Into::into),
            after: a.map(Into::into),
        }
    }

    fn messages(job: &Job) -> Vec<String> {
        job.logs.iter().map(|l| l.message.clone()).collect()
    }

    #[test]
    fn every_precheck_refuses_before_anything_is_queued() {
        let r = rig();
        let e = &r.engine;
        let err = |req| e.submit(req).unwrap_err();
        assert!(
            matches!(err(install(&[])), EngineError::Pkg(PkgError::Invalid { field, .. }) if field == "packages")
        );
        assert!(
            matches!(err(install(&[("Bad!", None)])), EngineError::Pkg(PkgError::Invalid { field, .. }) if field == "name")
        );
        assert!(
            matches!(err(install(&[("c", Some("1 2"))])), EngineError::Pkg(PkgError::Invalid { field, .. }) if field == "version")
        );
        assert!(
            matches!(err(install(&[("ghost", None)])), EngineError::Pkg(PkgError::NotFound(n)) if n == "ghost")
        );
        match err(install(&[("a", Some("9"))])) {
            EngineError::Pkg(PkgError::VersionConflict(m)) => {
                assert_eq!(m, "a: version 9 is not available; available: 1, 2")
            }
            other => panic!("{other:?}"),
        }
        r.fake
            .installed
            .lock()
            .unwrap()
            .insert("a".into(), "2".into());
        r.fake.write_db();
        match err(install(&[("a", Some("1"))])) {
            EngineError::Pkg(PkgError::VersionConflict(m)) => {
                assert_eq!(
                    m,
                    "a: version 1 would downgrade from 2 to 1; set allow_downgrade"
                )
            }
            other => panic!("{other:?}"),
        }
        let allowed = JobRequest::Install {
            packages: vec![spec("a", Some("1"))],
            options: InstallOptions {
                allow_downgrade: true,
                ..InstallOptions::default()
            },
        };
        assert!(e.submit(allowed).is_ok());
        let update_missing = JobRequest::Update {
            package: spec("c", None),
            options: InstallOptions::default(),
        };
        assert!(matches!(err(update_missing), EngineError::Pkg(PkgError::NotFound(n)) if n == "c"));
        assert!(matches!(err(remove("c")), EngineError::Pkg(PkgError::NotFound(n)) if n == "c"));
        assert!(matches!(
            err(remove("NO")),
            EngineError::Pkg(PkgError::Invalid { .. })
        ));
        assert_eq!(e.list().len(), 1, "only the allowed downgrade was queued");
    }

    #[test]
    fn a_completed_job_records_exact_changes_result_and_logs() {
        let r = rig();
        let job = r.run(install(&[("a", Some("2")), ("c", None)]));
        assert_eq!(job.status, JobStatus::Completed, "{:?}", messages(&job));
        assert_eq!(
            job.changes,
            [
                change("a", Some("1"), Some("2")),
                change("c", None, Some("1"))
            ]
        );
        let res = job.result.clone().unwrap();
        assert!(res.success);
        assert_eq!(res.packages_installed, ["c"]);
        assert_eq!(res.packages_updated, ["a"]);
        assert!(res.packages_removed.is_empty() && res.packages_failed.is_empty());
        assert_eq!(job.progress_percent, 100);
        assert!(job.started_at.is_some() && job.completed_at.is_some() && job.error.is_none());
        assert_eq!(job.boot_id.as_deref(), Some("boot-1"));
        let line = job.logs.iter().find(|l| l.message == "line 0").unwrap();
        assert_eq!(line.level, "info");
        let warn = job
            .logs
            .iter()
            .find(|l| l.message == "W: a warning")
            .unwrap();
        assert_eq!(warn.level, "warn");
        // Only what was installed before is saved: a at 1, into the job's cache dir.
        assert_eq!(job.saved.len(), 1);
        let file = job.saved[0].file.clone().unwrap();
        assert!(file.starts_with(r.settings.rollback_cache_path.join(job.id.to_string())));
        assert!(file.is_file());
        assert_eq!(r.fake.called("repair"), 0, "no repair after success");
        let d = job.detail_json();
        assert_eq!(d["status"], "completed");
        assert_eq!(d["error"], serde_json::Value::Null);
        assert!(d["output"].as_str().unwrap().contains("line 1"));
        assert!(
            r.inventory.cached_upgrades().is_none(),
            "upgrade cache invalidated"
        );
    }

    #[test]
    fn a_failed_job_keeps_the_changes_it_made_and_is_repaired() {
        let r = rig();
        *r.fake.fail.lock().unwrap() = Some(Fail::Dependency);
        let job = r.run(install(&[("c", None), ("a", Some("2"))]));
        assert_eq!(job.status, JobStatus::Failed);
        assert_eq!(job.changes, [change("c", None, Some("1"))]);
        let res = job.result.clone().unwrap();
        assert!(!res.success);
        assert_eq!(res.packages_installed, ["c"]);
        assert_eq!(res.packages_failed, ["a"]);
        let e = job.error.clone().unwrap();
        assert_eq!(e.code, "PKG_DEPENDENCY_ERROR");
        assert!(e.message.contains("b conflicts"));
        assert_eq!(r.fake.called("repair"), 1);
        assert!(messages(&job)
            .iter()
            .any(|m| m == "repair: configured 1 half-installed package"));
        assert_eq!(job.progress_percent, 100);
        for (fail, code) in [
            (Fail::Version, "PKG_VERSION_CONFLICT"),
            (Fail::NotFound, "PKG_NOT_FOUND"),
            (Fail::Tool, "PKG_MANAGER_ERROR"),
        ] {
            *r.fake.fail.lock().unwrap() = Some(fail);
            let job = r.run(install(&[("c", None)]));
            assert_eq!(job.status, JobStatus::Failed);
            assert_eq!(job.error.unwrap().code, code, "{fail:?}");
        }
    }

    #[test]
    fn a_panicking_backend_fails_its_job_and_the_worker_lives_on() {
        let r = rig_with(|s| s.max_concurrent = 1);
        *r.fake.fail.lock().unwrap() = Some(Fail::Panic);
        let job = r.run(install(&[("c", None)]));
        assert_eq!(job.status, JobStatus::Failed);
        let e = job.error.unwrap();
        assert_eq!(e.code, "INTERNAL_ERROR");
        assert!(
            e.message.contains("the fake backend panicked"),
            "{}",
            e.message
        );
        // The only worker took the next job, and the package transaction was released.
        *r.fake.fail.lock().unwrap() = None;
        let job = r.run(install(&[("a", Some("2"))]));
        assert_eq!(job.status, JobStatus::Completed, "{:?}", job.error);
    }

    #[test]
    fn progress_only_rises_to_100_and_events_end_with_one_terminal() {
        let r = rig();
        let sub = r.events.subscribe(10_000);
        r.fake.lines.store(40, Ordering::SeqCst);
        *r.fake.delay.lock().unwrap() = Duration::from_millis(250);
        let job = r.run(install(&[("c", None)]));
        let events: Vec<JobEvent> = sub
            .receiver
            .try_iter()
            .filter(|e| e.job_id == job.id)
            .collect();
        let statuses: Vec<&str> = events.iter().map(|e| e.status.as_str()).collect();
        assert_eq!(statuses.first(), Some(&"pending"));
        assert_eq!(statuses.get(1), Some(&"running"));
        assert_eq!(statuses.last(), Some(&"completed"));
        let terminals: Vec<&JobEvent> = events.iter().filter(|e| e.terminal).collect();
        assert_eq!(terminals.len(), 1);
        assert!(events.last().unwrap().terminal);
        let progress: Vec<u8> = events.iter().map(|e| e.progress_percent).collect();
        assert!(progress.windows(2).all(|w| w[0] <= w[1]), "{progress:?}");
        assert_eq!(progress.last(), Some(&100));
        assert!(
            progress.iter().any(|&p| p > 10 && p < 100),
            "no intermediate progress: {progress:?}"
        );
        let t = terminals[0];
        assert_eq!(t.payload["result"]["success"], true);
        assert_eq!(t.payload["changes"][0]["name"], "c");
        assert!(t.payload.get("logs").is_none() && t.payload.get("output").is_some());
        assert!(events[1].payload.get("output").is_none());
        assert!(
            events.len() < 20,
            "progress events not throttled: {}",
            events.len()
        );
    }

    #[test]
    fn cancel_pending_running_and_finished_jobs() {
        let r = rig_with(|s| s.max_concurrent = 1);
        r.fake.hang.store(true, Ordering::SeqCst);
        let running = r.engine.submit(install(&[("c", None)])).unwrap();
        r.wait_in_tool("install");
        let pending = r.engine.submit(remove("b")).unwrap();

        let o = r.engine.cancel(&pending.id).unwrap();
        assert_eq!(
            o,
            CancelOutcome {
                job_id: pending.id,
                previous_status: JobStatus::Pending,
                current_status: Some(JobStatus::Cancelled),
                action: "cancelled"
            }
        );
        let p = r.engine.get(&pending.id).unwrap();
        assert_eq!(p.error.unwrap().code, "JOB_CANCELLED");

        let o = r.engine.cancel(&running.id).unwrap();
        assert_eq!(o.previous_status, JobStatus::Running);
        assert_eq!(o.current_status, Some(JobStatus::Cancelled));
        assert_eq!(o.action, "cancelled");
        let job = r.engine.get(&running.id).unwrap();
        assert_eq!(job.error.clone().unwrap().code, "JOB_CANCELLED");
        assert_eq!(job.progress_percent, 100);
        assert_eq!(r.fake.called("repair"), 1);
        assert!(messages(&job).contains(&"cancel requested".to_string()));
        assert_eq!(
            r.fake.version("b").as_deref(),
            Some("1"),
            "the cancelled removal never ran"
        );

        let o = r.engine.cancel(&running.id).unwrap();
        assert_eq!(o.previous_status, JobStatus::Cancelled);
        assert_eq!((o.current_status, o.action), (None, "deleted"));
        assert!(r.engine.get(&running.id).is_none());
        assert!(!r.engine.store.path_of(&running.id).exists());
        assert!(matches!(
            r.engine.cancel(&running.id),
            Err(EngineError::NotFound(_))
        ));
    }

    #[test]
    fn a_job_past_its_deadline_times_out_and_is_repaired() {
        let r = rig_with(|s| s.timeout = Duration::from_millis(150));
        r.fake.hang.store(true, Ordering::SeqCst);
        let job = r.run(install(&[("c", None)]));
        assert_eq!(job.status, JobStatus::Timeout);
        let e = job.error.clone().unwrap();
        assert_eq!(e.code, "JOB_TIMEOUT");
        assert_eq!(r.fake.called("repair"), 1);
        assert!(messages(&job).iter().any(|m| m.starts_with("repair: ")));
        assert_eq!(job.result.unwrap().packages_failed, ["c"]);
    }

    #[test]
    fn one_package_transaction_at_a_time() {
        let r = rig_with(|s| s.max_concurrent = 3);
        *r.fake.delay.lock().unwrap() = Duration::from_millis(60);
        let ids: Vec<Uuid> = (0..3)
            .map(|_| r.engine.submit(install(&[("c", None)])).unwrap().id)
            .collect();
        let jobs: Vec<Job> = ids.iter().map(|id| r.wait_done(id)).collect();
        assert!(jobs.iter().all(|j| j.status == JobStatus::Completed));
        let mut iv = r.fake.intervals.lock().unwrap().clone();
        assert_eq!(iv.len(), 3);
        iv.sort();
        assert!(iv.windows(2).all(|w| w[0].1 <= w[1].0), "overlap: {iv:?}");
        let waited = jobs
            .iter()
            .flat_map(messages)
            .filter(|m| {
                m.starts_with("waiting for job ")
                    && m.ends_with(" to finish its package transaction")
            })
            .count();
        assert!(waited >= 1, "nobody said it waited");
    }

    #[test]
    fn checks_that_need_the_tool_wait_for_the_job_while_a_transaction_runs() {
        let r = rig();
        // Long enough that the transaction is surely still held when the next jobs arrive.
        *r.fake.delay.lock().unwrap() = Duration::from_secs(2);
        let busy = r.engine.submit(install(&[("c", None)])).unwrap().id;
        // In the tool, so surely holding the transaction ("running" comes a moment before).
        r.wait_in_tool("install");
        // The grammar is still checked at once...
        assert!(matches!(
            r.engine.submit(install(&[("Bad!", None)])),
            Err(EngineError::Pkg(PkgError::Invalid { .. }))
        ));
        // ...but an unknown name is accepted now and refused by the job itself.
        let ghost = r.engine.submit(install(&[("ghost", None)])).unwrap().id;
        let j = r.wait_done(&ghost);
        assert_eq!(j.status, JobStatus::Failed);
        assert_eq!(
            j.error.as_ref().map(|e| e.code.as_str()),
            Some("PKG_NOT_FOUND")
        );
        assert!(j.changes.is_empty());
        assert_eq!(r.wait_done(&busy).status, JobStatus::Completed);
    }

    #[test]
    fn a_full_queue_refuses_with_its_bound() {
        let r = rig_with(|s| {
            s.max_concurrent = 1;
            s.max_queued = 1;
        });
        r.fake.hang.store(true, Ordering::SeqCst);
        let first = r.engine.submit(install(&[("c", None)])).unwrap();
        r.wait_for(&first.id, "running", |j| j.status == JobStatus::Running);
        let second = r.engine.submit(install(&[("c", None)])).unwrap();
        let third = r.engine.submit(install(&[("c", None)]));
        assert!(
            matches!(third, Err(EngineError::QueueFull { max: 1 })),
            "{third:?}"
        );
        assert_eq!(r.engine.list().len(), 2);
        r.fake.hang.store(false, Ordering::SeqCst);
        assert_eq!(r.wait_done(&second.id).status, JobStatus::Completed);
        assert!(EngineError::QueueFull { max: 1 }
            .to_string()
            .contains("retry"));
    }

    #[test]
    fn jobs_survive_a_restart_and_unfinished_ones_fail_honestly() {
        let r = rig();
        let done = r.run(install(&[("c", None)]));
        let store = Store::open(&r.settings.storage_path).unwrap();
        let stored = |status: JobStatus, boot: &str| {
            let mut j = Job::new(Uuid::new_v4(), remove("a"), now());
            j.status = status;
            j.boot_id = Some(boot.into());
            j.revision = 1;
            store.save(&j).unwrap();
            j.id
        };
        let same_boot = stored(JobStatus::Running, "boot-1");
        let old_boot = stored(JobStatus::Running, "boot-0");
        let queued = stored(JobStatus::Pending, "boot-1");
        r.engine.shutdown(Duration::from_secs(1));
        let calls = r.fake.calls.lock().unwrap().len();

        let again = Engine::start_with_boot_id(
            r.settings.clone(),
            r.inventory.clone(),
            Events::new(),
            Some("boot-1".into()),
        )
        .unwrap();
        let back = again.get(&done.id).unwrap();
        assert_eq!(back.detail_json(), done.detail_json());
        let msg = |id: &Uuid| {
            let j = again.get(id).unwrap();
            assert_eq!(j.status, JobStatus::Failed);
            let e = j.error.unwrap();
            assert_eq!(e.code, "AGENT_RESTARTED");
            e.message
        };
        assert_eq!(
            msg(&same_boot),
            "the agent restarted while this job was running"
        );
        assert_eq!(
            msg(&old_boot),
            "the host rebooted while this job was running (boot id changed)"
        );
        assert_eq!(msg(&queued), "not started: the agent restarted");
        // Jobs cut off inside a transaction: the database is repaired, no stale job is run.
        let until = Instant::now() + Duration::from_secs(10);
        while r.fake.calls.lock().unwrap().len() == calls && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(
            r.fake.calls.lock().unwrap()[calls..],
            ["repair".to_string()]
        );
        let reported = [same_boot, old_boot].iter().any(|id| {
            messages(&again.get(id).unwrap())
                .contains(&"repair: configured 1 half-installed package".to_string())
        });
        assert!(reported, "the repair is not in an interrupted job's log");
        assert_eq!(r.fake.version("a").as_deref(), Some("1"));
        // The recovery itself was persisted.
        let on_disk = store.load();
        let q = on_disk.iter().find(|j| j.id == queued).unwrap();
        assert_eq!(q.status, JobStatus::Failed);
        again.shutdown(Duration::from_secs(1));
    }

    #[test]
    fn retention_deletes_the_oldest_finished_jobs_with_their_cache() {
        let r = rig_with(|s| s.retention_max_jobs = 2);
        let first = r.run(remove("b"));
        let cache_dir = r.settings.rollback_cache_path.join(first.id.to_string());
        assert!(cache_dir.is_dir());
        let second = r.run(install(&[("c", None)]));
        let third = r.run(install(&[("b", None)]));
        // Retention runs just after the job's final status is recorded.
        let give_up = Instant::now() + Duration::from_secs(5);
        while (r.engine.list().len() > 2 || cache_dir.exists()) && Instant::now() < give_up {
            std::thread::sleep(Duration::from_millis(2));
        }
        let left: Vec<Uuid> = r.engine.list().iter().map(|j| j.id).collect();
        assert_eq!(left, [third.id, second.id]);
        assert!(!r.engine.store.path_of(&first.id).exists());
        assert!(!cache_dir.exists());
    }

    #[test]
    fn rollback_restores_every_change_and_can_itself_be_rolled_back() {
        let r = rig();
        let original = r.run(install(&[("a", Some("2")), ("c", None)]));
        assert_eq!(original.changes.len(), 2);
        let rb = r.engine.rollback(&original.id).unwrap();
        assert_eq!(rb.operation, super::super::model::Operation::Rollback);
        assert_eq!(rb.original_job_id, Some(original.id));
        assert_eq!(rb.packages, ["a", "c"]);
        let rb = r.wait_done(&rb.id);
        assert_eq!(rb.status, JobStatus::Completed, "{:?}", messages(&rb));
        assert_eq!(
            rb.changes,
            [
                change("a", Some("2"), Some("1")),
                change("c", Some("1"), None)
            ]
        );
        assert_eq!(
            r.fake.called("restore 2 steps, 1 from files"),
            1,
            "a came from its saved file"
        );
        let res = rb.result.clone().unwrap();
        assert!(res.success && res.not_restorable.is_empty());
        assert_eq!(res.packages_updated, ["a"]);
        assert_eq!(res.packages_removed, ["c"]);
        assert_eq!(rb.detail_json()["original_job_id"], original.id.to_string());
        assert_eq!(rb.saved.len(), 2, "the rollback saved what it changed");

        let rb2 = r.engine.rollback(&rb.id).unwrap();
        let rb2 = r.wait_done(&rb2.id);
        assert_eq!(rb2.status, JobStatus::Completed, "{:?}", messages(&rb2));
        assert_eq!(
            rb2.changes,
            [
                change("a", Some("1"), Some("2")),
                change("c", None, Some("1"))
            ]
        );
        assert_eq!(
            r.fake.called("restore 2 steps, 2 from files"),
            1,
            "both came from the files the first rollback saved"
        );
        assert_eq!(r.fake.version("a").as_deref(), Some("2"));
    }

    #[test]
    fn what_cannot_be_restored_is_reported_never_skipped_silently() {
        let r = rig();
        r.fake.unsaveable.lock().unwrap().push("a".into());
        let original = r.run(install(&[("a", Some("2")), ("c", None)]));
        assert!(messages(&original)
            .iter()
            .any(|m| m.starts_with("could not save a 1 for a rollback")));
        // The repositories drop version 1 of a.
        r.fake
            .available
            .lock()
            .unwrap()
            .insert("a".into(), vec!["2".into()]);
        let rb = r.wait_done(&r.engine.rollback(&original.id).unwrap().id);
        assert_eq!(rb.status, JobStatus::Completed);
        assert_eq!(rb.changes, [change("c", Some("1"), None)]);
        let res = rb.result.clone().unwrap();
        assert_eq!(res.not_restorable.len(), 1);
        assert_eq!(
            (
                res.not_restorable[0].name.as_str(),
                res.not_restorable[0].version.as_str()
            ),
            ("a", "1")
        );
        assert!(res.not_restorable[0].reason.contains("no longer offer"));
        assert_eq!(rb.detail_json()["result"]["not_restorable"][0]["name"], "a");
        assert!(messages(&rb)
            .iter()
            .any(|m| m.starts_with("cannot restore a 1: ")));

        r.fake.unsaveable.lock().unwrap().push("b".into());
        r.fake
            .available
            .lock()
            .unwrap()
            .insert("b".into(), Vec::new());
        let removal = r.run(remove("b"));
        let rb = r.wait_done(&r.engine.rollback(&removal.id).unwrap().id);
        assert_eq!(rb.status, JobStatus::Failed);
        let e = rb.error.clone().unwrap();
        assert!(
            e.message.starts_with("nothing can be restored: b 1: "),
            "{}",
            e.message
        );
        assert_eq!(rb.result.unwrap().not_restorable.len(), 1);
        assert_eq!(
            r.fake.called("restore"),
            1,
            "nothing was run for the hopeless rollback"
        );
    }

    #[test]
    fn rollback_refuses_unfinished_unchanged_and_unknown_jobs() {
        let r = rig_with(|s| s.max_concurrent = 1);
        assert!(matches!(
            r.engine.rollback(&Uuid::new_v4()),
            Err(EngineError::NotFound(_))
        ));
        // Reinstalling the installed version changes nothing.
        let nothing = r.run(install(&[("a", Some("1"))]));
        assert!(nothing.changes.is_empty());
        assert!(
            matches!(r.engine.rollback(&nothing.id), Err(EngineError::NotRollbackable(m)) if m.contains("changed no package"))
        );
        r.fake.hang.store(true, Ordering::SeqCst);
        let busy = r.engine.submit(install(&[("c", None)])).unwrap();
        r.wait_for(&busy.id, "running", |j| j.status == JobStatus::Running);
        assert!(
            matches!(r.engine.rollback(&busy.id), Err(EngineError::NotRollbackable(m)) if m.contains("still running"))
        );
    }

    #[test]
    fn the_log_is_capped_and_says_so() {
        let r = rig_with(|s| s.log_max_bytes = 40);
        r.fake.lines.store(30, Ordering::SeqCst);
        let job = r.run(install(&[("c", None)]));
        let notes: Vec<String> = messages(&job)
            .into_iter()
            .filter(|m| m.starts_with("log truncated"))
            .collect();
        assert_eq!(notes, ["log truncated at 40 bytes; further output dropped"]);
        let tool_bytes: usize = messages(&job)
            .iter()
            .filter(|m| m.starts_with("line ") || m.starts_with("saving"))
            .map(|m| m.len())
            .sum();
        assert!(tool_bytes <= 40, "{tool_bytes}");
        assert!(!messages(&job).contains(&"line 29".to_string()));
        assert!(
            messages(&job)
                .iter()
                .any(|m| m.starts_with("job completed")),
            "engine notes kept"
        );
    }

    #[test]
    fn shutdown_lets_the_running_job_finish_and_fails_queued_ones() {
        let r = rig_with(|s| s.max_concurrent = 1);
        *r.fake.delay.lock().unwrap() = Duration::from_millis(150);
        let running = r.engine.submit(install(&[("c", None)])).unwrap();
        r.wait_in_tool("install");
        let queued = r.engine.submit(remove("b")).unwrap();
        r.engine.shutdown(Duration::from_secs(3));
        assert_eq!(
            r.engine.get(&running.id).unwrap().status,
            JobStatus::Completed
        );
        let q = r.engine.get(&queued.id).unwrap();
        assert_eq!(q.status, JobStatus::Failed);
        assert_eq!(
            q.error.unwrap().message,
            "not started: the agent is shutting down"
        );
        assert!(matches!(
            r.engine.submit(remove("b")),
            Err(EngineError::Storage(_))
        ));
        assert_eq!(r.fake.version("b").as_deref(), Some("1"));
    }

    #[test]
    fn settings_come_from_the_jobs_config() {
        let c = crate::config::JobsConfig {
            timeout_seconds: Some(7),
            rollback_cache_max_mb: 2,
            cancel_grace_seconds: 3,
            ..crate::config::JobsConfig::default()
        };
        let system = crate::config::SystemConfig {
            reboot_command: vec!["/sbin/reboot".into()],
        };
        let s = EngineSettings::from_config(&c, &system);
        assert_eq!(s.reboot_command, ["/sbin/reboot"]);
        assert_eq!(s.timeout, Duration::from_secs(7));
        assert_eq!(s.rollback_cache_max_bytes, 2 * 1024 * 1024);
        assert_eq!(s.cancel_grace, Duration::from_secs(3));
        assert_eq!(s.max_concurrent, c.max_concurrent);
        assert_eq!(s.storage_path, c.storage_path);
    }

    #[test]
    fn a_reboot_waits_for_its_time_then_runs_the_command() {
        let r = rig();
        let job = r
            .engine
            .submit(reboot_in(Duration::from_millis(1500), false))
            .unwrap();
        let JobRequest::Reboot { scheduled_at, .. } = job.request else {
            panic!("{:?}", job.request)
        };
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(r.engine.get(&job.id).unwrap().status, JobStatus::Pending);
        assert!(reboots(&r).is_empty());
        let done = r.wait_for(&job.id, "the reboot", |j| j.status.is_terminal());
        assert_eq!(done.status, JobStatus::Completed, "{:?}", messages(&done));
        assert_eq!(reboots(&r), ["--now"]);
        // Never before the scheduled time: the job started at or after it.
        assert!(done.started_at.unwrap() >= scheduled_at);
        assert!(messages(&done)
            .iter()
            .any(|m| m.starts_with("running the reboot command: ")));
        assert_eq!(done.detail_json()["reason"], "maintenance");
    }

    #[test]
    fn a_cancelled_reboot_never_runs() {
        let r = rig();
        let job = r
            .engine
            .submit(reboot_in(Duration::from_millis(700), false))
            .unwrap();
        let out = r.engine.cancel(&job.id).unwrap();
        assert_eq!(out.current_status, Some(JobStatus::Cancelled));
        std::thread::sleep(Duration::from_millis(1200));
        assert!(reboots(&r).is_empty());
        assert_eq!(r.engine.get(&job.id).unwrap().status, JobStatus::Cancelled);
    }

    #[test]
    fn a_reboot_is_refused_during_package_jobs_unless_forced() {
        let r = rig();
        r.fake.hang.store(true, Ordering::SeqCst);
        let busy = r.engine.submit(install(&[("c", None)])).unwrap();
        r.wait_in_tool("install");
        match r.engine.submit(reboot_in(Duration::ZERO, false)) {
            Err(EngineError::Busy(ids)) => assert_eq!(ids, vec![busy.id]),
            other => panic!("{other:?}"),
        }
        let forced = r.engine.submit(reboot_in(Duration::ZERO, true)).unwrap();
        let done = r.wait_done(&forced.id);
        assert_eq!(done.status, JobStatus::Completed);
        assert_eq!(reboots(&r), ["--now"]);
        assert!(messages(&done).iter().any(|m| m.contains(&format!(
            "forced: rebooting while package job(s) {}",
            busy.id
        ))));
        assert_eq!(r.engine.get(&busy.id).unwrap().status, JobStatus::Running);
        r.fake.hang.store(false, Ordering::SeqCst);
        r.wait_done(&busy.id);
    }

    #[test]
    fn a_failing_reboot_command_is_a_reboot_error() {
        let r = rig();
        std::fs::write(r.dir.join("reboot-fails"), b"").unwrap();
        let job = r.run(reboot_in(Duration::ZERO, false));
        assert_eq!(job.status, JobStatus::Failed);
        let e = job.error.unwrap();
        assert_eq!(e.code, "SYSTEM_REBOOT_ERROR");
        assert!(
            e.message
                .contains("failed with exit code 3: reboot: refused"),
            "{}",
            e.message
        );
    }

    #[test]
    fn a_patch_job_updates_its_packages_and_keeps_rollback_data() {
        let r = rig();
        let job = r.run(apply(
            vec![patch("ADV-1", "a", "1", "2", false)],
            &[],
            false,
        ));
        assert_eq!(job.status, JobStatus::Completed, "{:?}", messages(&job));
        assert_eq!(job.changes, vec![change("a", Some("1"), Some("2"))]);
        assert_eq!(job.packages, vec!["a"]);
        assert_eq!(job.saved.len(), 1);
        assert_eq!(job.detail_json()["patches"], serde_json::json!(["ADV-1"]));
        assert!(job.follow_up.is_none());
        let back = r.engine.rollback(&job.id).unwrap();
        assert_eq!(r.wait_done(&back.id).status, JobStatus::Completed);
        assert_eq!(r.fake.version("a").as_deref(), Some("1"));
    }

    #[test]
    fn excluded_and_empty_selections_leave_the_tool_alone() {
        let r = rig();
        let job = r.run(apply(
            vec![patch("ADV-1", "a", "1", "2", false)],
            &["a"],
            false,
        ));
        assert_eq!(job.status, JobStatus::Completed);
        assert!(job.changes.is_empty());
        let job = r.run(apply(Vec::new(), &[], true));
        assert_eq!(job.status, JobStatus::Completed);
        assert_eq!(r.fake.called("install"), 0);
        assert!(messages(&job)
            .iter()
            .any(|m| m == "no package to update: nothing applied"));
        assert!(job.follow_up.is_none());
    }

    #[test]
    fn a_failed_patch_job_is_a_patch_apply_error() {
        let r = rig();
        *r.fake.fail.lock().unwrap() = Some(Fail::Tool);
        let job = r.run(apply(vec![patch("ADV-1", "a", "1", "2", true)], &[], true));
        assert_eq!(job.status, JobStatus::Failed);
        assert_eq!(job.error.unwrap().code, "PATCH_APPLY_ERROR");
        assert!(
            job.follow_up.is_none(),
            "no reboot after a failed application"
        );
    }

    #[test]
    fn a_patch_that_needs_a_reboot_schedules_one_when_allowed() {
        let r = rig();
        let job = r.run(apply(vec![patch("ADV-1", "a", "1", "2", true)], &[], true));
        assert_eq!(job.status, JobStatus::Completed);
        let follow = r
            .wait_for(&job.id, "the follow-up", |j| j.follow_up.is_some())
            .follow_up
            .unwrap();
        let reboot = r.wait_done(&follow);
        assert_eq!(reboot.operation, Operation::Reboot);
        assert_eq!(reboot.status, JobStatus::Completed);
        assert_eq!(reboots(&r), ["--now"]);
        assert_eq!(
            reboot.detail_json()["reason"],
            format!("requested by patch job {}", job.id)
        );
        // Not asked to reboot, or nothing needs it: no reboot job.
        let quiet = r.run(apply(vec![patch("ADV-2", "b", "1", "1", true)], &[], false));
        assert!(quiet.follow_up.is_none());
        let unneeded = r.run(apply(vec![patch("ADV-3", "a", "2", "2", false)], &[], true));
        assert!(unneeded.follow_up.is_none());
        assert!(messages(&unneeded)
            .iter()
            .any(|m| m.starts_with("no reboot needed (apt has no reboot signal)")));
        assert_eq!(reboots(&r).len(), 1);
    }

    #[test]
    fn the_transaction_goes_to_jobs_in_submission_order() {
        let r = rig_with(|s| s.max_concurrent = 5);
        r.fake.hang.store(true, Ordering::SeqCst);
        let first = r.engine.submit(install(&[("c", None)])).unwrap();
        r.wait_in_tool("install c");
        let later = [
            install(&[("a", Some("2"))]),
            JobRequest::Update {
                package: spec("b", None),
                options: InstallOptions::default(),
            },
            JobRequest::Install {
                packages: vec![spec("a", Some("1"))],
                options: InstallOptions {
                    allow_downgrade: true,
                    ..InstallOptions::default()
                },
            },
            remove("c"),
        ];
        let ids: Vec<Uuid> = later
            .into_iter()
            .map(|req| r.engine.submit(req).unwrap().id)
            .collect();
        // Every worker holds a job by now; they must still take turns in order.
        std::thread::sleep(Duration::from_millis(200));
        r.fake.hang.store(false, Ordering::SeqCst);
        for id in ids.iter().chain([&first.id]) {
            r.wait_done(id);
        }
        let calls: Vec<String> = r
            .fake
            .calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.starts_with("install") || c.starts_with("remove"))
            .cloned()
            .collect();
        assert_eq!(
            calls,
            [
                "install c",
                "install a",
                "install b",
                "install a",
                "remove c"
            ]
        );
    }
}
