//! `/api/v1/jobs`: list, detail, cancel/delete and rollback of jobs. The WebSocket stream is
//! `ws.rs`.

use serde_json::{json, Value};
use uuid::Uuid;

use super::common::pkg_error;
use super::envelope::{ApiError, Reply};
use super::router::{JobQuery, JobSort, SortOrder};
use super::shape::{take_count, ClientShape};
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
    Ok(Reply::ok(list(engine.summaries(), query, shape)))
}

/// `GET /api/v1/jobs/{id}`.
pub fn get_job(engine: Option<&Engine>, id: &Uuid, shape: ClientShape) -> Result<Reply, ApiError> {
    let engine = need(engine)?;
    engine
        .get(id)
        .map(|job| Reply::ok(shape.job_json(job.detail_json())))
        .ok_or_else(|| not_found(id))
}

/// `DELETE /api/v1/jobs/{id}`: cancel a queued or running job, delete a finished one.
pub fn cancel_job(
    engine: Option<&Engine>,
    id: &Uuid,
    shape: ClientShape,
) -> Result<Reply, ApiError> {
    let engine = need(engine)?;
    let outcome = engine.cancel(id).map_err(engine_error)?;
    Ok(Reply::ok(json!({
        "job_id": outcome.job_id.to_string(),
        "previous_status": shape.job_status(outcome.previous_status.as_str()),
        "current_status": outcome.current_status.map(|s| shape.job_status(s.as_str())),
        "action": outcome.action,
    })))
}

/// `POST /api/v1/jobs/{id}/rollback`: a rollback job.
pub fn rollback_job(engine: Option<&Engine>, id: &Uuid, body: &[u8]) -> Result<Reply, ApiError> {
    let engine = need(engine)?;
    super::body::empty(body)?;
    let job = engine.rollback(id).map_err(engine_error)?;
    Ok(accepted(&job, json!({"original_job_id": id.to_string()})))
}

/// The engine, or the 503 that says why there is none.
pub fn need(engine: Option<&Engine>) -> Result<&Engine, ApiError> {
    engine.ok_or_else(|| {
        let mut details = serde_json::Map::new();
        details.insert("job_queue".into(), json!("unavailable"));
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

/// The 202 answer for a new job: `job_id`, `status`, `operation`, `created_at`, plus `extra`.
pub fn accepted(job: &Job, extra: Value) -> Reply {
    let mut data = json!({
        "job_id": job.id.to_string(),
        "status": job.status.as_str(),
        "operation": job.operation.as_str(),
        "created_at": rfc3339(job.created_at),
    });
    if let (Some(d), Value::Object(e)) = (data.as_object_mut(), extra) {
        d.extend(e);
    }
    Reply::accepted(data)
}

/// `GET /api/v1/jobs`: filter (on the status as `shape` spells it), sort (ties by creation,
/// newest first), paginate (100 by default in either shape: the manager does not list jobs).
/// Works on metadata only: no log is read or copied for a list.
fn list(mut selected: Vec<JobSummary>, q: &JobQuery, shape: ClientShape) -> Value {
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
    let total = selected.len();
    let size = ClientShape::Specification.page_size(&q.page);
    let page: Vec<Value> = selected
        .into_iter()
        .skip(usize::try_from(q.page.offset).unwrap_or(usize::MAX))
        .take(take_count(size))
        .map(|j| shape.job_json(j.json()))
        .collect();
    json!({"jobs": page, "total": total, "limit": size, "offset": q.page.offset})
}
