//! The worker side: the host's one package transaction (granted in submission order), a
//! job's way from pending through running to its end, and cancelling. Kept apart from the
//! package work itself (`transaction.rs`), which runs while the transaction is held.

use super::*;
use crate::error_code::ErrorCode;

/// How much longer than the kill grace a cancel waits for the job to wind down (repair).
const CANCEL_SLACK: Duration = Duration::from_secs(15);

/// How often a job waiting for the package transaction checks its cancel flag.
pub(super) const TXN_POLL: Duration = Duration::from_millis(50);

/// The one package transaction of the host: who holds it, and a condvar for waiters.
#[derive(Default)]
pub(super) struct TxnLock {
    pub(super) holder: Mutex<Option<Uuid>>,
    pub(super) freed: Condvar,
}

/// Holding the package transaction; dropping it lets the next job in.
pub(super) struct TxnGuard<'a> {
    pub(super) lock: &'a TxnLock,
}

impl Drop for TxnGuard<'_> {
    fn drop(&mut self) {
        *relock(&self.lock.holder) = None;
        self.lock.freed.notify_all();
    }
}

/// Why a job never got the package transaction.
pub(super) enum NotStarted {
    Cancelled,
    ShuttingDown,
}

impl TxnLock {
    /// Waits for the transaction and for `my_turn` (jobs submitted earlier go first),
    /// calling `on_wait` with the holder once if it must wait; gives up on cancel or
    /// shutdown.
    pub(super) fn acquire(
        &self,
        id: Uuid,
        cancel: &Cancel,
        accepting: &AtomicBool,
        on_wait: &dyn Fn(Uuid),
        my_turn: &dyn Fn() -> bool,
    ) -> Result<TxnGuard<'_>, NotStarted> {
        let mut told = false;
        let mut holder = relock(&self.holder);
        loop {
            if cancel.is_cancelled() {
                return Err(NotStarted::Cancelled);
            }
            if !accepting.load(Ordering::SeqCst) {
                return Err(NotStarted::ShuttingDown);
            }
            match *holder {
                None if my_turn() => {
                    *holder = Some(id);
                    return Ok(TxnGuard { lock: self });
                }
                None => {
                    holder = self
                        .freed
                        .wait_timeout(holder, TXN_POLL)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
                Some(other) if !told => {
                    told = true;
                    drop(holder);
                    on_wait(other);
                    holder = relock(&self.holder);
                }
                Some(_) => {
                    holder = self
                        .freed
                        .wait_timeout(holder, TXN_POLL)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            }
        }
    }
}

/// The holder a metadata refresh takes the transaction as (no job has the nil id).
pub(super) const REFRESH_HOLDER: Uuid = Uuid::nil();

/// What a job waiting for the transaction is told about its holder.
pub(super) fn waiting_note(holder: Uuid) -> String {
    if holder == REFRESH_HOLDER {
        "waiting for a repository metadata refresh to finish".to_string()
    } else {
        format!("waiting for job {holder} to finish its package transaction")
    }
}

impl TxnLock {
    /// Takes the transaction for a metadata refresh once it is free, waiting at most
    /// `wait`; `None` past it or while shutting down.
    fn acquire_for_refresh(&self, wait: Duration, accepting: &AtomicBool) -> Option<TxnGuard<'_>> {
        let deadline = Instant::now() + wait;
        let mut holder = relock(&self.holder);
        loop {
            if !accepting.load(Ordering::SeqCst) {
                return None;
            }
            if holder.is_none() {
                *holder = Some(REFRESH_HOLDER);
                return Some(TxnGuard { lock: self });
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            holder = self
                .freed
                .wait_timeout(holder, left.min(TXN_POLL))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// Metadata refreshes take the same transaction as jobs: never beside one.
impl crate::pkg::refresh::TransactionGate for Engine {
    fn exclusive(&self, wait: Duration, f: &mut dyn FnMut()) -> bool {
        match self.txn.acquire_for_refresh(wait, &self.accepting) {
            Some(_guard) => {
                f();
                true
            }
            None => false,
        }
    }
}

impl TxnLock {
    /// Whether a job holds the transaction now.
    pub(super) fn busy(&self) -> bool {
        relock(&self.holder).is_some()
    }

    /// Whether a job or the repair holds the transaction now (not a metadata refresh, which
    /// stopping need not wait for: it only ever leaves the old metadata behind).
    pub(super) fn held_by_a_change(&self) -> bool {
        relock(&self.holder).is_some_and(|h| h != REFRESH_HOLDER)
    }
}

impl Engine {
    /// Cancels a pending job, stops a running one (waiting for it to wind down, at most the
    /// kill grace plus 15 s), or deletes a finished one.
    pub fn cancel(&self, id: &Uuid) -> Result<CancelOutcome, EngineError> {
        let mut table = self.table();
        let entry = table.get_mut(id).ok_or(EngineError::NotFound(*id))?;
        let previous = entry.job.status;
        match previous {
            JobStatus::Pending => {
                let snap = self.change_locked(entry, |j| {
                    let msg = "cancelled before it started";
                    j.note("info", msg);
                    end(
                        j,
                        JobStatus::Cancelled,
                        Some(JobError::new(ErrorCode::JobCancelled.as_str(), msg)),
                    );
                });
                self.persist_and_settle(entry, snap);
                drop(table);
                Ok(outcome(
                    *id,
                    previous,
                    Some(JobStatus::Cancelled),
                    "cancelled",
                ))
            }
            JobStatus::Running => {
                entry.cancel.cancel();
                let snap = self.change_locked(entry, |j| j.note("info", "cancel requested"));
                drop(table);
                self.persist(snap);
                Ok(self.await_stop(id, previous))
            }
            _ => {
                table.remove(id);
                drop(table);
                self.store.delete(id);
                self.cache.remove(id);
                Ok(outcome(*id, previous, None, "deleted"))
            }
        }
    }

    fn await_stop(&self, id: &Uuid, previous: JobStatus) -> CancelOutcome {
        let deadline = Instant::now() + self.settings.cancel_grace + CANCEL_SLACK;
        let mut table = self.table();
        loop {
            let Some(status) = table.get(id).map(|e| e.job.status) else {
                return outcome(*id, previous, None, "deleted");
            };
            if status.is_terminal() {
                return outcome(*id, previous, Some(status), "cancelled");
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return outcome(*id, previous, Some(status), "cancelling");
            }
            table = self
                .changed
                .wait_timeout(table, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Whether no job submitted before `id` is still to take the package transaction (a
    /// reboot waits for every package job in line); marks `id` as having had its turn.
    pub(super) fn my_turn(&self, id: &Uuid) -> bool {
        let mut table = self.table();
        let Some(me) = table.get(id) else {
            return true;
        };
        let (seq, reboot) = (me.seq, me.job.operation == Operation::Reboot);
        let ahead = table
            .values()
            .any(|e| e.job.id != *id && e.in_line() && (reboot || e.seq < seq));
        if ahead {
            return false;
        }
        if let Some(me) = table.get_mut(id) {
            me.had_turn = true;
        }
        true
    }

    pub(super) fn run_job(&self, id: &Uuid) {
        let Some((request, cancel)) = self.begin(id) else {
            return;
        };
        let mut outcome = self.execute_guarded(id, &request, &cancel);
        // A job that ended before its tool (a check failed) ends after its first record.
        if let Err(not) = self.admitted(id) {
            outcome = not.outcome();
        }
        let mut reboot_after = None;
        if let JobRequest::PatchApply { .. } = &request {
            patch_error_code(&mut outcome);
            reboot_after = self.reboot_after_patches(id, &request, &outcome);
            reboot_after = self.reboot_within_budget(id, &mut outcome, reboot_after);
        }
        self.conclude(id, outcome);
        if let Some(delay) = reboot_after {
            self.schedule_follow_up_reboot(id, delay);
        }
        self.apply_retention();
    }

    /// Pending -> running; `None` when the job was cancelled (or the engine stops) first.
    pub(super) fn begin(&self, id: &Uuid) -> Option<(JobRequest, Cancel)> {
        let (snap, started) = {
            let mut table = self.table();
            let entry = table.get_mut(id)?;
            if entry.begun {
                // Started at admission, its running record written: it runs (or, when the
                // engine stops, fails as not started) like any job that got this far.
                entry.begun = false;
                return Some((entry.job.request.clone(), entry.cancel.clone()));
            }
            if entry.job.status != JobStatus::Pending || !self.accepting.load(Ordering::SeqCst) {
                return None;
            }
            let boot_id = self.boot_id.clone();
            let snap = self.change_locked(entry, |j| mark_started(j, boot_id));
            (snap, (entry.job.request.clone(), entry.cancel.clone()))
        };
        self.persist(snap);
        Some(started)
    }

    pub(super) fn execute(&self, id: &Uuid, request: &JobRequest, cancel: &Cancel) -> Outcome {
        let on_wait = |holder: Uuid| self.note(id, "info", waiting_note(holder));
        let my_turn = || self.my_turn(id);
        let guard = match self
            .txn
            .acquire(*id, cancel, &self.accepting, &on_wait, &my_turn)
        {
            Ok(g) => g,
            Err(NotStarted::Cancelled) => {
                return Outcome::failed(
                    JobStatus::Cancelled,
                    JobError::new(
                        ErrorCode::JobCancelled.as_str(),
                        "cancelled while waiting for the package transaction",
                    ),
                )
            }
            Err(NotStarted::ShuttingDown) => {
                return Outcome::failed(
                    JobStatus::Failed,
                    JobError::new(AGENT_RESTARTED, "not started: the agent is shutting down"),
                )
            }
        };
        let deadline = Instant::now() + self.settings.timeout;
        let outcome = self.transact(id, request, cancel, deadline);
        drop(guard);
        outcome
    }

    pub(super) fn conclude(&self, id: &Uuid, o: Outcome) {
        self.change(id, |j| {
            match &o.error {
                None => j.note(
                    "info",
                    format!("job completed; {} package(s) changed", o.changes.len()),
                ),
                Some(e) => j.note("error", format!("job {}: {}", o.status.as_str(), e.message)),
            }
            j.changes = o.changes;
            j.result = Some(o.result);
            end(j, o.status, o.error);
        });
    }
}

/// A failed patch job reports `PATCH_APPLY_ERROR` with the tool's reason (cancel and
/// timeout keep their own codes).
fn patch_error_code(o: &mut Outcome) {
    if o.status == JobStatus::Failed {
        if let Some(e) = &mut o.error {
            e.code = ErrorCode::PatchApplyError.as_str().to_string();
        }
    }
}

pub(super) fn outcome(
    id: Uuid,
    previous: JobStatus,
    current: Option<JobStatus>,
    action: &'static str,
) -> CancelOutcome {
    CancelOutcome {
        job_id: id,
        previous_status: previous,
        current_status: current,
        action,
    }
}
