//! Reading jobs: one job with its log, lists without. The table lock is held only to copy
//! metadata; logs are read from disk, sorting and serialising happen after the lock is
//! released, so a list never stalls running jobs and costs memory by job count only. A job
//! whose first record is still being written is not shown (`admission.rs`).

use super::*;
use crate::jobs::summary::JobSummary;

/// Jobs counted by status (every status, in life-cycle order) and the last completion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobTally {
    /// Each status with its number of jobs (0 included).
    pub by_status: [(JobStatus, usize); 6],
    /// When the job that finished last finished; none when no job has.
    pub last_completed: Option<OffsetDateTime>,
}

impl Default for JobTally {
    fn default() -> JobTally {
        JobTally {
            by_status: JobStatus::ALL.map(|s| (s, 0)),
            last_completed: None,
        }
    }
}

/// The entries readers are shown: every job but one whose first record is still being
/// written. Every reader below goes through this or [`shown_one`].
fn shown(table: &HashMap<Uuid, Entry>) -> impl Iterator<Item = &Entry> {
    table.values().filter(|e| e.visible())
}

/// One entry, if readers are shown it (see [`shown`]).
fn shown_one<'a>(table: &'a HashMap<Uuid, Entry>, id: &Uuid) -> Option<&'a Entry> {
    table.get(id).filter(|e| e.visible())
}

impl Engine {
    /// A snapshot of one job with its log (read from its record once the job is final).
    pub fn get(&self, id: &Uuid) -> Option<Job> {
        let (mut job, on_disk) = {
            let table = self.table();
            let entry = shown_one(&table, id)?;
            (entry.job.clone(), entry.logs_on_disk)
        };
        if on_disk {
            job.logs = self.stored_logs(id);
        }
        Some(job)
    }

    /// A snapshot of one job without its log.
    pub fn meta(&self, id: &Uuid) -> Option<Job> {
        shown_one(&self.table(), id).map(|e| e.job.without_logs())
    }

    /// The list entries of every job, in no particular order (the caller sorts).
    pub fn summaries(&self) -> Vec<JobSummary> {
        let table = self.table();
        shown(&table).map(|e| JobSummary::of(&e.job)).collect()
    }

    /// How many jobs are in each status, and when the last one to finish finished: the
    /// metrics' view, counted under the table lock without copying any job.
    pub fn tally(&self) -> JobTally {
        let table = self.table();
        let mut tally = JobTally::default();
        for e in shown(&table) {
            if let Some(at) = JobStatus::ALL.iter().position(|s| *s == e.job.status) {
                tally.by_status[at].1 += 1;
            }
            tally.last_completed = tally.last_completed.max(e.job.completed_at);
        }
        tally
    }

    /// Snapshots of every job without their logs, newest first.
    pub fn list(&self) -> Vec<Job> {
        self.list_where(|_| true)
    }

    /// Snapshots of the jobs of one operation without their logs, newest first.
    pub fn list_of(&self, operation: Operation) -> Vec<Job> {
        self.list_where(|j| j.operation == operation)
    }

    fn list_where(&self, keep: impl Fn(&Job) -> bool) -> Vec<Job> {
        let mut all: Vec<Job> = {
            let table = self.table();
            shown(&table)
                .filter(|e| keep(&e.job))
                .map(|e| e.job.without_logs())
                .collect()
        };
        all.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        all
    }
}
