//! `?dry_run=true` on the package and patch changes: the request is read and checked as
//! the real one is (same body, same submission checks), then the package manager's own
//! simulation answers `200` with the plan at once. No job, no record; allowed in read-only
//! mode (the router does not count a dry run as mutating).

use super::envelope::{ApiError, Reply};
use super::wire::dry_run::DryRun;
use super::wire::policy::{PolicyEcho, SelectionEcho};
use crate::jobs::{Engine, JobRequest};

/// The `200` answer with the plan of `request`, or the error its submission or its job
/// would end with (unknown package `PKG_NOT_FOUND`, dependants `PKG_DEPENDENCY_ERROR`, ...).
pub fn answer(engine: Option<&Engine>, request: &JobRequest) -> Result<Reply, ApiError> {
    let engine = super::jobs::need(engine)?;
    let plan = engine.dry_run(request).map_err(super::jobs::engine_error)?;
    let batches = engine.forecast_batches(request);
    Ok(Reply::ok(DryRun::new(plan).with_batches(batches)))
}

/// The `200` answer of a patch apply's dry run: the plan, with the policy as asked, what it
/// selected and, with a time budget, the batches.
pub fn answer_patches(
    engine: Option<&Engine>,
    request: &JobRequest,
    policy: PolicyEcho<'_>,
    selection: SelectionEcho<'_>,
) -> Result<Reply, ApiError> {
    let engine = super::jobs::need(engine)?;
    let plan = engine.dry_run(request).map_err(super::jobs::engine_error)?;
    let batches = engine.forecast_batches(request);
    let mut answer = DryRun::new(plan).with_batches(batches);
    answer.policy = Some(policy);
    answer.selection = Some(selection);
    Ok(Reply::ok(answer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_an_engine_the_answer_is_unhealthy() {
        let request = JobRequest::Remove {
            name: "x".into(),
            options: Default::default(),
        };
        let e = answer(None, &request).err().unwrap();
        assert_eq!(e.code(), "SERVICE_UNHEALTHY");
    }
}
