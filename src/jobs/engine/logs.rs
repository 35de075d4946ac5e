//! Where job logs live: a pending or running job's log is kept in memory (up to
//! `jobs.log_max_bytes`) and written with its record; once the job is final and its record is
//! on disk, the log is dropped from memory and read back from the record only for the job
//! asked for. The agent's memory then does not grow with the number or size of stored logs.
//!
//! The record format is unchanged (one JSON file per job, log included, written to a temp
//! file, fsynced and renamed), so crash safety is the record's and records of earlier
//! versions load as they are. The rare change to a final job (a note of the repair after a restart, the reboot a
//! patch job scheduled) reads its log back first, so a rewrite never loses it.

use super::*;
use crate::jobs::model::LogLine;

impl Entry {
    /// Drops the log from memory: the record on disk holds it.
    pub(super) fn detach_logs(&mut self) {
        self.job.logs = Vec::new();
        self.logs_on_disk = true;
    }
}

impl Engine {
    /// Puts a final job's log back in memory before it is changed (the change rewrites its
    /// record, which must keep the log). Reads one record under the table lock: only final
    /// jobs that change again come here, which is rare.
    pub(super) fn attach_logs(&self, entry: &mut Entry) {
        if !entry.logs_on_disk {
            return;
        }
        let id = entry.job.id;
        entry.job.logs = self.stored_logs(&id);
        entry.logs_on_disk = false;
    }

    /// Writes `snap` (a final job is always written) and, once a final job's record is on
    /// disk, drops its log from memory. Called with the table lock held, as `change` writes.
    pub(super) fn persist_and_settle(&self, entry: &mut Entry, snap: Option<Job>) {
        if !entry.job.status.is_terminal() {
            self.persist(snap);
            return;
        }
        let snap = snap.unwrap_or_else(|| {
            entry.last_persist = Some(Instant::now());
            entry.job.clone()
        });
        match self.store.save(&snap) {
            Ok(()) => entry.detach_logs(),
            Err(e) => log::error!("cannot write the record of job {}: {e}", snap.id),
        }
    }

    /// The log in job `id`'s record; a line saying why when it cannot be read.
    pub(super) fn stored_logs(&self, id: &Uuid) -> Vec<LogLine> {
        match self.store.load_logs(id) {
            Ok(logs) => logs,
            Err(e) => {
                log::warn!("cannot read the log of job {id}: {e}");
                vec![LogLine {
                    timestamp: now(),
                    level: "error".into(),
                    message: format!("the stored log cannot be read: {e}"),
                }]
            }
        }
    }
}
