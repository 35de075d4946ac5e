//! Changing a job and keeping it: every change is published as an event and written to the
//! job's record (throttled while running), and retention deletes old finished jobs. Kept
//! apart so the one path by which a job's state moves is in one place.

use super::*;

/// Progress events of one job are sent at most this often (status changes always go out).
const PROGRESS_EVENT_INTERVAL: Duration = Duration::from_millis(200);

/// A running job's record is rewritten at most this often (status changes always are).
const PERSIST_INTERVAL: Duration = Duration::from_secs(1);

impl Engine {
    /// Applies `f` to a job under the table lock, publishing its events in order; returns a
    /// snapshot when the record should be written.
    pub(super) fn change_locked(&self, entry: &mut Entry, f: impl FnOnce(&mut Job)) -> Option<Job> {
        let status = entry.job.status;
        let progress = entry.job.progress_percent;
        f(&mut entry.job);
        let job = &mut entry.job;
        job.revision += 1;
        job.updated_at = now();
        let at = Instant::now();
        let status_changed = job.status != status;
        let progress_due = job.progress_percent != progress
            && entry
                .last_event
                .is_none_or(|t| at.duration_since(t) >= PROGRESS_EVENT_INTERVAL);
        if status_changed || progress_due {
            entry.last_event = Some(at);
            self.events.publish(&JobEvent::of(job));
        }
        if status_changed {
            self.changed.notify_all();
        }
        let persist_due = status_changed
            || entry
                .last_persist
                .is_none_or(|t| at.duration_since(t) >= PERSIST_INTERVAL);
        if persist_due {
            entry.last_persist = Some(at);
            Some(job.clone())
        } else {
            None
        }
    }

    pub(super) fn change(&self, id: &Uuid, f: impl FnOnce(&mut Job)) {
        let mut table = self.table();
        if let Some(entry) = table.get_mut(id) {
            self.attach_logs(entry);
            let snap = self.change_locked(entry, f);
            // Written before the lock is released: records land in order, and whoever sees
            // a new status in the table (shutdown, a reader) knows it is already on disk.
            self.persist_and_settle(entry, snap);
        }
        drop(table);
    }

    pub(super) fn persist(&self, snap: Option<Job>) {
        if let Some(job) = snap {
            if let Err(e) = self.store.save(&job) {
                log::error!("cannot write the record of job {}: {e}", job.id);
            }
        }
    }

    pub(super) fn note(&self, id: &Uuid, level: &str, message: impl Into<String>) {
        let message = message.into();
        self.change(id, |j| j.note(level, message));
    }

    pub(super) fn advance(&self, id: &Uuid, percent: u8) {
        self.change(id, |j| j.advance(percent));
    }

    /// One line of tool output: logged (capped) and worth a percent, up to `cap`.
    pub(super) fn tool_line(&self, id: &Uuid, stream: Stream, line: &str, cap: u8) {
        let level = match stream {
            Stream::Stdout => "info",
            Stream::Stderr => "warn",
        };
        let max = self.settings.log_max_bytes;
        self.change(id, |j| {
            j.tool_line(level, line, max);
            if j.progress_percent < cap {
                j.advance(j.progress_percent + 1);
            }
        });
    }

    pub(super) fn apply_retention(&self) {
        let max_age = Duration::from_secs(self.settings.retention_days.saturating_mul(86_400));
        let gone = {
            let mut table = self.table();
            let ids = expired(
                table.values().map(|e| &e.job),
                self.settings.retention_max_jobs,
                max_age,
                now(),
            );
            for id in &ids {
                table.remove(id);
            }
            ids
        };
        for id in gone {
            log::info!("job {id} deleted by retention");
            self.store.delete(&id);
            self.cache.remove(&id);
        }
    }
}

/// Sets a final status (100 %, completed_at) with its error.
pub(super) fn end(j: &mut Job, status: JobStatus, error: Option<JobError>) {
    j.status = status;
    j.error = error;
    j.progress_percent = 100;
    j.completed_at = Some(now());
    if j.result.is_none() {
        j.result = Some(JobResult::default());
    }
}

pub(super) fn fail_not_started(j: &mut Job, message: &str) {
    j.note("error", message);
    end(
        j,
        JobStatus::Failed,
        Some(JobError::new(AGENT_RESTARTED, message)),
    );
}
