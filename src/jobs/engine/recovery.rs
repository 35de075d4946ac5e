//! Start-up recovery: jobs a previous agent process left unfinished are failed (see
//! [`recover`]), and when one of them was inside a package transaction the package database
//! is repaired before any new job may take the transaction. A kill -9 during dpkg leaves
//! packages half-configured; without this the next job would fail on it first.

use super::*;

/// Jobs as loaded at start-up, and those cut off inside a package transaction.
pub(super) struct Loaded {
    /// Every readable job record.
    pub jobs: HashMap<Uuid, Entry>,
    /// Package jobs that were running when the previous process stopped.
    pub interrupted: Vec<Uuid>,
}

/// Loads the stored jobs, failing (and rewriting) those a previous run left unfinished;
/// their logs stay on disk (one record in memory at a time).
pub(super) fn load_jobs(store: &Store, boot_id: Option<&str>) -> Loaded {
    let at = now();
    let mut jobs = HashMap::new();
    let mut interrupted = Vec::new();
    store.load_each(|mut job| {
        let was = job.status;
        // Unchanged, the record on disk holds the log; a rewritten one only once written.
        let mut on_disk = true;
        if recover(&mut job, boot_id, at) {
            log::warn!(
                "{} job {} was left {}; marked failed",
                job.operation.as_str(),
                job.id,
                was.as_str()
            );
            if was == JobStatus::Running && job.operation != Operation::Reboot {
                interrupted.push(job.id);
            }
            if let Err(e) = store.save(&job) {
                log::error!("cannot write the record of job {}: {e}", job.id);
                on_disk = false;
            }
        }
        let id = job.id;
        let mut entry = Entry::new(job, 0);
        if on_disk {
            entry.detach_logs();
        }
        jobs.insert(id, entry);
    });
    Loaded { jobs, interrupted }
}

impl Engine {
    /// Repairs the package database on a thread of its own, holding the package transaction
    /// from now on so no job starts on a half-configured database; the repair's report goes
    /// into the log of the (first) interrupted job.
    pub(super) fn repair_after_restart(&self, interrupted: &[Uuid]) {
        let Some(&id) = interrupted.first() else {
            return;
        };
        let Some(engine) = self.me.upgrade() else {
            return;
        };
        // Taken before any worker or request can see the engine: nothing runs first.
        *relock(&self.txn.holder) = Some(id);
        log::warn!("job {id} was cut off inside a package transaction; repairing the database");
        let spawned = std::thread::Builder::new()
            .name("restart-repair".into())
            .spawn(move || {
                let guard = TxnGuard { lock: &engine.txn };
                let backend = Arc::clone(engine.inventory.backend());
                engine.repair(&id, backend.as_ref());
                engine.inventory.invalidate_upgrades();
                // Notes within a second of each other are not all written; this one is.
                if let Some(job) = engine.get(&id) {
                    engine.persist(Some(job));
                }
                log::info!("package database checked after the restart");
                drop(guard);
            });
        if let Err(e) = spawned {
            log::error!("cannot start the repair after the restart: {e}");
            *relock(&self.txn.holder) = None;
            self.txn.freed.notify_all();
        }
    }
}
