//! One pending reboot at a time, waited out by one timer thread.
//!
//! A reboot request while a reboot job is pending or running gets that job back when it asks
//! the same (same `force` and `reason`, due within [`SAME_TIME`] of it: a retried request),
//! and [`EngineError::RebootPending`] otherwise; a patch job's follow-up reboot joins the
//! pending one. The single `reboot-timer` thread waits on the table's condvar until the
//! pending reboot is due (or cancelled, or the engine stops), so no thread is held per
//! request. Finished reboot jobs are deleted by retention like any other job.

use std::sync::Weak;

use super::*;

/// How far apart two requests' due times may be and still be the same request (a client
/// retrying after a lost answer asks again a little later).
pub const SAME_TIME: Duration = Duration::from_secs(60);
/// Longest single wait before the due time is checked again (the wall clock may jump).
const DUE_POLL: Duration = Duration::from_secs(1);

/// What the timer does next.
enum Next {
    /// Run this reboot job now.
    Run(Uuid),
    /// Look again (waited, or woken by a change).
    Again,
    /// The engine stops.
    Stop,
}

impl Engine {
    /// Queues a reboot job unless one is pending or running: then answers with it when the
    /// request asks the same, or refuses with [`EngineError::RebootPending`].
    pub(super) fn submit_reboot(&self, request: JobRequest) -> Result<Job, EngineError> {
        let _slot = relock(&self.reboot_slot);
        if let Some(existing) = self.unfinished_reboot() {
            return if same_reboot(&existing.request, &request) {
                Ok(existing)
            } else {
                Err(EngineError::RebootPending(Box::new(existing)))
            };
        }
        if let JobRequest::Reboot { force: false, .. } = request {
            let active = self.active_package_jobs();
            if !active.is_empty() {
                return Err(EngineError::Busy(active));
            }
        }
        self.admit(Job::new(Uuid::new_v4(), request, now()), None)
    }

    /// The reboot job a patch job's follow-up reboot is: the pending or running one, else a
    /// new one due at `at`.
    pub(super) fn follow_up_reboot(
        &self,
        at: OffsetDateTime,
        reason: String,
    ) -> Result<(Job, bool), EngineError> {
        let _slot = relock(&self.reboot_slot);
        if let Some(existing) = self.unfinished_reboot() {
            return Ok((existing, false));
        }
        let request = JobRequest::Reboot {
            scheduled_at: at,
            force: false,
            reason: Some(reason),
        };
        Ok((
            self.admit(Job::new(Uuid::new_v4(), request, now()), None)?,
            true,
        ))
    }

    /// The reboot job pending or running, if any (there is at most one).
    fn unfinished_reboot(&self) -> Option<Job> {
        self.table()
            .values()
            .find(|e| e.job.operation == Operation::Reboot && !e.job.status.is_terminal())
            .map(|e| e.job.without_logs())
    }

    /// Under the table lock: the pending reboot when due, else a wait (at most
    /// [`DUE_POLL`]) for it or for a change.
    fn next_reboot(&self) -> Next {
        let table = self.table();
        if !self.accepting.load(Ordering::SeqCst) {
            return Next::Stop;
        }
        let due = table
            .values()
            .filter(|e| e.job.status == JobStatus::Pending)
            .filter_map(|e| match e.job.request {
                JobRequest::Reboot { scheduled_at, .. } => Some((scheduled_at, e.job.id)),
                _ => None,
            })
            .min();
        let wait = match due {
            Some((at, id)) if at <= now() => return Next::Run(id),
            Some((at, _)) => Duration::try_from(at - now()).map_or(DUE_POLL, |d| d.min(DUE_POLL)),
            None => DUE_POLL,
        };
        drop(
            self.changed
                .wait_timeout(table, wait)
                .unwrap_or_else(|e| e.into_inner()),
        );
        Next::Again
    }
}

/// Starts the one thread that runs reboot jobs when due. It holds the engine only while it
/// looks or runs one, so a dropped engine ends it.
pub(super) fn start_reboot_timer(engine: &Arc<Engine>) -> Result<(), EngineError> {
    let weak = Arc::downgrade(engine);
    std::thread::Builder::new()
        .name("reboot-timer".into())
        .spawn(move || reboot_timer(&weak))
        .map(drop)
        .map_err(|e| EngineError::Storage(format!("cannot start the reboot timer: {e}")))
}

fn reboot_timer(weak: &Weak<Engine>) {
    loop {
        let Some(engine) = weak.upgrade() else {
            return;
        };
        match engine.next_reboot() {
            Next::Run(id) => engine.run_reboot(&id),
            Next::Again => {}
            Next::Stop => return,
        }
    }
}

/// Whether `b` asks what the reboot request `a` asks: same `force` and `reason`, due within
/// [`SAME_TIME`].
fn same_reboot(a: &JobRequest, b: &JobRequest) -> bool {
    match (a, b) {
        (
            JobRequest::Reboot {
                scheduled_at: at_a,
                force: force_a,
                reason: reason_a,
            },
            JobRequest::Reboot {
                scheduled_at: at_b,
                force: force_b,
                reason: reason_b,
            },
        ) => force_a == force_b && reason_a == reason_b && (*at_a - *at_b).abs() <= SAME_TIME,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reboot(at: OffsetDateTime, force: bool, reason: Option<&str>) -> JobRequest {
        JobRequest::Reboot {
            scheduled_at: at,
            force,
            reason: reason.map(Into::into),
        }
    }

    #[test]
    fn the_same_reboot_is_the_same_force_and_reason_due_within_a_minute() {
        let at = now();
        let a = reboot(at, false, Some("k"));
        assert!(same_reboot(
            &a,
            &reboot(at + Duration::from_secs(60), false, Some("k"))
        ));
        assert!(same_reboot(
            &a,
            &reboot(at - Duration::from_secs(30), false, Some("k"))
        ));
        assert!(!same_reboot(
            &a,
            &reboot(at + Duration::from_secs(61), false, Some("k"))
        ));
        assert!(!same_reboot(&a, &reboot(at, true, Some("k"))));
        assert!(!same_reboot(&a, &reboot(at, false, None)));
        let other = JobRequest::Rollback {
            original: Uuid::nil(),
        };
        assert!(!same_reboot(&a, &other));
    }
}
