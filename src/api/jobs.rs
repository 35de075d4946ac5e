//! `/api/v1/jobs`: list, detail, cancel/delete and rollback of jobs. The WebSocket stream is
//! `ws.rs`.

use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::common::pkg_error;
use super::envelope::{ApiError, Reply};
use super::router::{JobQuery, JobSort, SortOrder};
use super::shape::{take_count, ClientShape};
use super::wire::jobs::{
    CancelAnswer, JobAccepted, JobDetail, JobList, JobListEntry, RollbackAccepted,
};
use crate::jobs::{Engine, EngineError, Job, JobSummary};
use crate::timefmt::rfc3339;

/// `GET /api/v1/jobs`; `engine` is `None` when no package manager was found; `shape` decides
/// how a timed-out job is spelt.
pub fn list_jobs(
    engine: Option<&Engine>,
    query: &JobQuery,
    shape: ClientShape,
) -> Result<Reply, ApiError> {
    let engine = need(engine)?;
    let mut selected = engine.summaries();
    let size = select(&mut selected, query, shape);
    let page = JobList {
        jobs: selected
            .iter()
            .skip(usize::try_from(query.page.offset).unwrap_or(usize::MAX))
            .take(take_count(size))
            .map(|j| JobListEntry::of(j, shape))
            .collect(),
        limit: size,
        offset: query.page.offset,
        total: selected.len(),
    };
    Ok(Reply::ok(&page))
}

/// `GET /api/v1/jobs/{id}`.
pub fn get_job(engine: Option<&Engine>, id: &Uuid, shape: ClientShape) -> Result<Reply, ApiError> {
    let engine = need(engine)?;
    let job = engine.get(id).ok_or_else(|| not_found(id))?;
    Ok(Reply::ok(JobDetail::of(&job, shape)))
}

/// `DELETE /api/v1/jobs/{id}`: cancel a queued or running job, delete a finished one.
pub fn cancel_job(
    engine: Option<&Engine>,
    id: &Uuid,
    shape: ClientShape,
) -> Result<Reply, ApiError> {
    let engine = need(engine)?;
    let outcome = engine.cancel(id).map_err(engine_error)?;
    Ok(Reply::ok(CancelAnswer::of(&outcome, shape)))
}

/// `POST /api/v1/jobs/{id}/rollback`: a rollback job.
pub fn rollback_job(engine: Option<&Engine>, id: &Uuid, body: &[u8]) -> Result<Reply, ApiError> {
    let engine = need(engine)?;
    super::body::empty(body)?;
    let job = engine.rollback(id).map_err(engine_error)?;
    let extra = RollbackAccepted {
        original_job_id: id.to_string(),
    };
    Ok(accepted(&job, extra))
}

/// The engine, or the 503 that says why there is none.
pub fn need(engine: Option<&Engine>) -> Result<&Engine, ApiError> {
    engine.ok_or_else(|| {
        let mut details = serde_json::Map::new();
        details.insert("job_queue".into(), Value::from("unavailable"));
        ApiError::ServiceUnhealthy {
            message: "the job engine is not running (no package manager was found, or the job store is unusable)".into(),
            details,
        }
    })
}

fn not_found(id: &Uuid) -> ApiError {
    ApiError::JobNotFound(format!("no job with id {id}"))
}

/// Maps the engine's refusals to the error table.
pub fn engine_error(e: EngineError) -> ApiError {
    match e {
        EngineError::NotFound(id) => not_found(&id),
        EngineError::QueueFull { max } => ApiError::JobQueueFull(format!(
            "{max} jobs are already waiting; try again when some have finished"
        )),
        EngineError::Pkg(p) => pkg_error(p),
        EngineError::NotRollbackable(m) => ApiError::InvalidRequest(m),
        EngineError::Storage(m) => {
            // The operator must see it in the log too (a full disk names its file here).
            log::error!("job not accepted: {m}");
            ApiError::InternalError(m)
        }
        EngineError::Busy(ref ids) => ApiError::RebootBlocked {
            message: e.to_string(),
            jobs: ids.iter().map(ToString::to_string).collect(),
        },
        EngineError::RebootPending(ref job) => ApiError::RebootPending {
            message: e.to_string(),
            job_id: job.id.to_string(),
            scheduled_at: match &job.request {
                crate::jobs::JobRequest::Reboot { scheduled_at, .. } => rfc3339(*scheduled_at),
                _ => String::new(),
            },
        },
    }
}

/// The 202 answer for a new job: `job_id`, `status`, `operation`, `created_at`, plus the
/// fields of `extra` (an object; its fields win over those four).
pub fn accepted(job: &Job, extra: impl Serialize) -> Reply {
    let mut fields = Map::new();
    for part in [
        serde_json::to_value(JobAccepted::of(job)),
        serde_json::to_value(extra),
    ] {
        match part {
            Ok(Value::Object(m)) => fields.extend(m),
            Ok(other) => log::error!("the fields of a new job's answer are not an object: {other}"),
            // Our bodies hold strings, numbers and lists only: this is a bug, logged; the
            // job was accepted, so the answer still says so with what it has.
            Err(e) => log::error!("cannot render a new job's answer: {e}"),
        }
    }
    Reply::accepted(Value::Object(fields))
}

/// `GET /api/v1/jobs`: filters (on the status as `shape` spells it) and sorts `selected` in
/// place (ties by creation, newest first); returns the page size (100 by default in either
/// shape: the manager does not list jobs). Works on metadata only: no log is read or copied
/// for a list.
fn select(selected: &mut Vec<JobSummary>, q: &JobQuery, shape: ClientShape) -> Option<u32> {
    selected.retain(|j| {
        q.status
            .is_none_or(|s| s.as_str() == shape.job_status(j.status.as_str()))
            && q.operation
                .is_none_or(|o| o.as_str() == j.operation.as_str())
    });
    selected.sort_by(|a, b| {
        let primary = match q.sort.unwrap_or(JobSort::CreatedAt) {
            JobSort::CreatedAt => a.created_at.cmp(&b.created_at),
            JobSort::UpdatedAt => a.updated_at.cmp(&b.updated_at),
            JobSort::Status => a.status.as_str().cmp(b.status.as_str()),
        };
        let ordered = primary
            .then_with(|| a.created_at.cmp(&b.created_at))
            .then_with(|| a.id.cmp(&b.id));
        match q.order {
            SortOrder::Asc => ordered,
            SortOrder::Desc => ordered.reverse(),
        }
    });
    ClientShape::Specification.page_size(&q.page)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::router::{self, Page};
    use crate::jobs::{JobRequest, JobStatus};
    use serde_json::json;
    use time::OffsetDateTime;

    fn job(status: JobStatus, created: i64) -> Job {
        let at = OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(created);
        let mut j = Job::new(
            Uuid::new_v4(),
            JobRequest::Rollback {
                original: Uuid::nil(),
            },
            at,
        );
        j.status = status;
        j
    }

    #[derive(Serialize)]
    struct Extra {
        original_job_id: &'static str,
        status: &'static str,
    }

    #[test]
    fn a_new_job_answer_merges_its_extra_fields_over_the_common_four() {
        let j = job(JobStatus::Pending, 0);
        let typed = accepted(
            &j,
            Extra {
                original_job_id: "x",
                status: "queued",
            },
        );
        let dynamic = accepted(&j, json!({"original_job_id": "x", "status": "queued"}));
        assert_eq!(typed.status, 202);
        assert_eq!(typed.to_value(), dynamic.to_value());
        assert_eq!(
            typed.to_value().to_string(),
            format!(
                r#"{{"created_at":"1970-01-01T00:00:00Z","job_id":"{}","operation":"rollback","original_job_id":"x","status":"queued"}}"#,
                j.id
            )
        );
        assert_eq!(accepted(&j, json!(null)).to_value()["status"], "pending");
    }

    #[test]
    fn a_list_filters_on_the_status_as_the_shape_spells_it_and_sorts() {
        let jobs = [
            job(JobStatus::Timeout, 3),
            job(JobStatus::Failed, 1),
            job(JobStatus::Completed, 2),
        ];
        let summaries = || jobs.iter().map(JobSummary::of).collect::<Vec<_>>();
        let query = |status| JobQuery {
            status,
            operation: None,
            page: Page {
                limit: None,
                offset: 0,
            },
            sort: None,
            order: SortOrder::Desc,
        };
        let ids = |s: &[JobSummary]| s.iter().map(|j| j.id).collect::<Vec<_>>();

        let mut all = summaries();
        assert_eq!(
            select(&mut all, &query(None), ClientShape::PatchManager),
            Some(100)
        );
        assert_eq!(
            ids(&all),
            [jobs[0].id, jobs[2].id, jobs[1].id],
            "newest first"
        );

        let failed = query(Some(router::JobStatus::Failed));
        let mut spec = summaries();
        select(&mut spec, &failed, ClientShape::Specification);
        assert_eq!(ids(&spec), [jobs[1].id]);
        let mut manager = summaries();
        select(&mut manager, &failed, ClientShape::PatchManager);
        assert_eq!(
            ids(&manager),
            [jobs[0].id, jobs[1].id],
            "a timeout is failed there"
        );
    }
}
