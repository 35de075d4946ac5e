//! What listing jobs needs of a job, without its log: `GET /api/v1/jobs` filters, sorts and
//! pages on these, so a list never copies a stored log (they stay on disk, see
//! `engine/logs.rs`).

use time::OffsetDateTime;
use uuid::Uuid;

use super::model::{Job, JobStatus, Operation};

/// A job's metadata as a list shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobSummary {
    /// Its identifier.
    pub id: Uuid,
    /// What it does.
    pub operation: Operation,
    /// Where it is.
    pub status: JobStatus,
    /// 0-100.
    pub progress_percent: u8,
    /// When it was submitted.
    pub created_at: OffsetDateTime,
    /// When anything about it last changed.
    pub updated_at: OffsetDateTime,
    /// When it reached a final status.
    pub completed_at: Option<OffsetDateTime>,
    /// The package names it concerns.
    pub packages: Vec<String>,
    /// Why it did not complete.
    pub error: Option<String>,
}

impl JobSummary {
    /// The summary of `job`.
    pub fn of(job: &Job) -> JobSummary {
        JobSummary {
            id: job.id,
            operation: job.operation,
            status: job.status,
            progress_percent: job.progress_percent,
            created_at: job.created_at,
            updated_at: job.updated_at,
            completed_at: job.completed_at,
            packages: job.packages.clone(),
            error: job.error.as_ref().map(|e| e.message.clone()),
        }
    }
}

impl Job {
    /// A copy of everything but the log (a caller that does not show it need not copy it).
    pub fn without_logs(&self) -> Job {
        Job {
            id: self.id,
            operation: self.operation,
            status: self.status,
            progress_percent: self.progress_percent,
            created_at: self.created_at,
            updated_at: self.updated_at,
            started_at: self.started_at,
            completed_at: self.completed_at,
            packages: self.packages.clone(),
            request: self.request.clone(),
            result: self.result.clone(),
            changes: self.changes.clone(),
            error: self.error.clone(),
            original_job_id: self.original_job_id,
            follow_up: self.follow_up,
            logs: Vec::new(),
            saved: self.saved.clone(),
            boot_id: self.boot_id.clone(),
            log_bytes: self.log_bytes,
            log_truncated: self.log_truncated,
            revision: self.revision,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::model::{JobError, JobRequest};
    use crate::pkg::RemoveOptions;

    fn job() -> Job {
        let mut j = Job::new(
            Uuid::new_v4(),
            JobRequest::Remove {
                name: "a".into(),
                options: RemoveOptions::default(),
            },
            OffsetDateTime::now_utc(),
        );
        j.note("info", "x".repeat(1000));
        j.status = JobStatus::Failed;
        j.error = Some(JobError::new("PKG_NOT_FOUND", "gone"));
        j.completed_at = Some(j.updated_at);
        j
    }

    #[test]
    fn the_summary_is_the_metadata_of_the_job() {
        let j = job();
        let s = JobSummary::of(&j);
        assert_eq!((s.id, s.operation, s.status), (j.id, j.operation, j.status));
        assert_eq!((s.created_at, s.updated_at), (j.created_at, j.updated_at));
        assert_eq!(s.completed_at, j.completed_at);
        assert_eq!(
            (&s.packages, s.progress_percent),
            (&j.packages, j.progress_percent)
        );
        assert_eq!(
            s.error.as_deref(),
            Some("gone"),
            "the message, not the code"
        );
    }

    #[test]
    fn without_logs_keeps_everything_but_the_log() {
        let j = job();
        let bare = j.without_logs();
        assert!(bare.logs.is_empty() && !j.logs.is_empty());
        assert_eq!(bare.log_bytes, j.log_bytes);
        let mut expected = serde_json::to_value(&j).unwrap();
        expected["logs"] = serde_json::json!([]);
        assert_eq!(serde_json::to_value(&bare).unwrap(), expected);
    }
}
