//! Panics in job workers (issue 17): a panic in a job's backend call fails that job with
//! `INTERNAL_ERROR`, and the worker thread goes on with the next job. The release profile
//! unwinds, so the transaction guard and the table's locks are released on the way out;
//! the engine's locks recover from poisoning (`table()`), the data they guard is only ever
//! changed by whole assignments.

use std::panic::{catch_unwind, AssertUnwindSafe};

use crossbeam_channel::Receiver;
use uuid::Uuid;

use super::{end, Engine, Outcome};
use crate::error_code::ErrorCode;
use crate::jobs::model::{JobError, JobRequest, JobStatus};
use crate::pkg::runner::Cancel;

/// The error code of a job whose worker panicked.
const INTERNAL_ERROR: &str = ErrorCode::InternalError.as_str();

impl Engine {
    /// The worker loop: runs each job with a panic anywhere in it caught, so the thread
    /// lives on; a job left running by such a panic is failed.
    pub(super) fn work_guarded(&self, rx: &Receiver<Uuid>) {
        for id in rx.iter() {
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| self.run_job(&id))) {
                let message = crate::panic_guard::message(&*payload);
                log::error!("job {id}: the worker panicked: {}", message.escape_debug());
                let fail = AssertUnwindSafe(|| self.fail_running(&id, &message));
                if catch_unwind(fail).is_err() {
                    log::error!("job {id}: cannot record its failure after a panic");
                }
            }
        }
    }

    /// Runs the job's work with a panic (a bug in a backend) turned into a failed outcome.
    pub(super) fn execute_guarded(
        &self,
        id: &Uuid,
        request: &JobRequest,
        cancel: &Cancel,
    ) -> Outcome {
        let run = AssertUnwindSafe(|| self.execute(id, request, cancel));
        catch_unwind(run).unwrap_or_else(|payload| {
            let message = crate::panic_guard::message(&*payload);
            log::error!("job {id}: the backend panicked: {}", message.escape_debug());
            Outcome::failed(JobStatus::Failed, internal_error(&message))
        })
    }

    /// Fails `id` if a panic left it pending or running.
    fn fail_running(&self, id: &Uuid, message: &str) {
        // After its first record, as any end of the job.
        let _ = self.admitted(id);
        self.change(id, |j| {
            if !j.status.is_terminal() {
                let error = internal_error(message);
                j.note("error", format!("job failed: {}", error.message));
                end(j, JobStatus::Failed, Some(error));
            }
        });
    }
}

fn internal_error(message: &str) -> JobError {
    JobError::new(
        INTERNAL_ERROR,
        format!("internal error in the agent (logged): {message}"),
    )
}
