//! A job that starts at once is handed to its worker before its first record is durable:
//! the worker reads what its transaction needs (the installed set, the plan, the saved
//! selection) while the record's `fdatasync` runs, and waits for the record here before
//! anything that changes the host or the job. Kept apart so that this one ordering, the
//! record on disk before the tool, reads in one place.
//!
//! Measured on the bench's VM (docs/BENCHMARKS.md): the worker's reading took 0.25-0.85 ms
//! after the record's 0.4-2.0 ms, on the way from the `POST` to the tool.

use super::*;

/// Whether a job's first record was written; the worker waits on it.
pub(super) struct Admission {
    written: Mutex<Option<bool>>,
    settled: Condvar,
}

impl Admission {
    /// A record not yet written.
    pub(super) fn new() -> Arc<Admission> {
        Arc::new(Admission {
            written: Mutex::new(None),
            settled: Condvar::new(),
        })
    }

    /// The record is durable (`true`) or could not be written (`false`, the job is gone).
    pub(super) fn settle(&self, written: bool) {
        *relock(&self.written) = Some(written);
        self.settled.notify_all();
    }

    /// Waits at most `limit` for [`Admission::settle`]; `None` past it.
    fn wait(&self, limit: Duration) -> Option<bool> {
        let deadline = Instant::now() + limit;
        let mut written = relock(&self.written);
        loop {
            if let Some(w) = *written {
                return Some(w);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            written = self
                .settled
                .wait_timeout(written, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// Why a job's worker went no further than its reading.
pub(super) enum NotAdmitted {
    /// The record could not be written: the submission failed and the job is gone.
    Refused,
    /// The record was not written within the job's timeout (a disk that hangs).
    TimedOut,
}

impl Engine {
    /// Waits until `id`'s first record is durable (at once for a job not started at
    /// admission, or whose record is already written).
    pub(super) fn admitted(&self, id: &Uuid) -> Result<(), NotAdmitted> {
        let gate = match self.table().get(id) {
            None => return Err(NotAdmitted::Refused),
            Some(entry) => entry.admission.clone(),
        };
        let Some(gate) = gate else {
            return Ok(());
        };
        let answer = gate.wait(self.settings.timeout);
        if answer != Some(false) {
            // Written, or given up on: later calls answer at once.
            if let Some(entry) = self.table().get_mut(id) {
                entry.admission = None;
            }
        }
        match answer {
            Some(true) => Ok(()),
            Some(false) => Err(NotAdmitted::Refused),
            None => Err(NotAdmitted::TimedOut),
        }
    }
}

impl NotAdmitted {
    /// How the job ends (only seen when it is still in the table: a timed-out record).
    pub(super) fn outcome(&self) -> transaction::Outcome {
        let message = match self {
            NotAdmitted::Refused => "not started: the job's first record could not be written",
            NotAdmitted::TimedOut => {
                "not started: the job's first record was not written within the job's timeout"
            }
        };
        transaction::Outcome::failed(
            JobStatus::Failed,
            JobError::new(
                crate::error_code::ErrorCode::InternalError.as_str(),
                message,
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_waiter_sees_the_settled_answer_or_gives_up_at_its_limit() {
        let gate = Admission::new();
        assert_eq!(gate.wait(Duration::from_millis(1)), None);
        let waiter = {
            let gate = Arc::clone(&gate);
            std::thread::spawn(move || gate.wait(Duration::from_secs(30)))
        };
        gate.settle(true);
        assert_eq!(waiter.join().unwrap(), Some(true));
        // Settled stays settled: a second wait answers at once.
        assert_eq!(gate.wait(Duration::ZERO), Some(true));
        let refused = Admission::new();
        refused.settle(false);
        assert_eq!(refused.wait(Duration::from_secs(30)), Some(false));
    }
}
