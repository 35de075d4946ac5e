//! A patch job with a time budget (`max_duration_minutes`): the patches are installed in
//! batches (`batches.rs`), most severe first, each one a complete tool transaction; before a
//! batch starts, its expected time (`jobs/batch_times.rs`) is checked against the time left,
//! and once one does not fit no further batch starts. A running transaction is never
//! interrupted; a failed batch stops the job (the operator reads what failed before more is
//! tried). The reboot the job asks for is not started when the budget has no room for it.

use std::collections::BTreeSet;

use super::batches::{batches, Batch};
use super::transaction::{Action, JobTurn};
use super::*;
use crate::jobs::batch_times::{self, BatchDefaults, BatchTimes};
use crate::jobs::model::{BudgetReport, NotAttempted, NotAttemptedReason};
use crate::pkg::plan::Change as PlanChange;

/// Deadline of the simulation that finds one patch's closure.
const CLOSURE_TIMEOUT: Duration = Duration::from_secs(120);

/// What the time budget asks of the engine (from `jobs.*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BudgetSettings {
    /// A batch's expected time while the host has not measured its own.
    pub batch: BatchDefaults,
    /// The expected time of the reboot after the job.
    pub reboot: Duration,
}

impl Default for BudgetSettings {
    fn default() -> Self {
        BudgetSettings {
            batch: BatchDefaults::default(),
            reboot: Duration::from_secs(300),
        }
    }
}

/// One batch as a dry run shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchForecast {
    /// Its patch ids, in order.
    pub patches: Vec<String>,
    /// The packages it is expected to change.
    pub packages: Vec<String>,
    /// Its expected time in whole seconds.
    pub expected_seconds: u64,
    /// Whether it would start within the budget.
    pub within_budget: bool,
}

/// Why the batches after one that ended with `e` are not attempted.
fn stopped_by(e: &PkgError, cancel: &Cancel) -> NotAttemptedReason {
    if cancel.is_cancelled() || matches!(e, PkgError::Cancelled(_)) {
        NotAttemptedReason::Cancelled
    } else if matches!(e, PkgError::Timeout { .. }) {
        NotAttemptedReason::JobTimeout
    } else {
        NotAttemptedReason::EarlierBatchFailed
    }
}

/// Whether a batch expected to take `expected` may start with `left` of the budget.
pub(super) fn fits(expected: Duration, left: Duration) -> bool {
    expected <= left
}

/// The end of a budgeted run: its report, the packages of the batches it started (a failure
/// is judged on those only), and the moment the budget runs out.
pub(super) struct BudgetRun {
    pub(super) report: BudgetReport,
    pub(super) attempted: BTreeSet<String>,
    pub(super) ends: Instant,
}

impl Engine {
    /// Applies `patches` batch by batch within `minutes` counted from `started`.
    pub(super) fn apply_in_batches(
        &self,
        turn: &JobTurn<'_>,
        patches: &[Advisory],
        exclude: &[String],
        minutes: u32,
        started: Instant,
    ) -> (Result<(), PkgError>, BudgetRun) {
        let JobTurn {
            id,
            backend,
            cancel,
            ..
        } = *turn;
        let ends = started + Duration::from_secs(u64::from(minutes) * 60);
        let warn = |m: String| self.note(id, "warn", m);
        let planned = batches(patches, &mut |p| {
            self.closure(p, exclude, backend, cancel, &warn)
        });
        let path = batch_times::path_for(&self.settings.storage_path);
        let mut times = BatchTimes::load(&path).unwrap_or_else(|e| {
            log::warn!("{}: {e}; using the default batch times", path.display());
            BatchTimes::empty()
        });
        let kind = backend.kind().name();
        let mut run = BudgetRun {
            report: BudgetReport::default(),
            attempted: BTreeSet::new(),
            ends,
        };
        let mut stop: Option<NotAttemptedReason> = None;
        let mut outcome = Ok(());
        let mut measured = false;
        for (n, batch) in planned.iter().enumerate() {
            let expected = times.expected(kind, &batch.packages, self.settings.budget.batch);
            let left = ends.saturating_duration_since(Instant::now());
            if stop.is_none() && !fits(expected, left) {
                self.note(
                    id,
                    "info",
                    format!(
                        "time budget: batch {} of {} ({}) expected to take {} s, {} s left: stopping here",
                        n + 1,
                        planned.len(),
                        batch.ids().join(", "),
                        expected.as_secs(),
                        left.as_secs()
                    ),
                );
                stop = Some(NotAttemptedReason::TimeBudget);
            }
            // A cancel between batches starts nothing more; the job ends cancelled.
            if stop.is_none() && cancel.is_cancelled() {
                stop = Some(NotAttemptedReason::Cancelled);
                outcome = Err(PkgError::Cancelled("the job".into()));
            }
            if let Some(reason) = stop {
                run.report.not_attempted.extend(
                    batch
                        .ids()
                        .into_iter()
                        .map(|id| NotAttempted { id, reason }),
                );
                continue;
            }
            match self.run_batch(turn, (n, planned.len()), batch, exclude) {
                Ok(took) => {
                    run.report.applied.extend(batch.ids());
                    times.record(kind, &batch.packages, took);
                    measured |= !batch.packages.is_empty();
                }
                Err(e) => {
                    run.report.failed = batch.ids();
                    stop = Some(stopped_by(&e, cancel));
                    outcome = Err(e);
                }
            }
            run.attempted.extend(batch.packages.iter().cloned());
            run.attempted.extend(
                advisory_targets(&batch.patches, exclude)
                    .into_iter()
                    .map(|p| p.name),
            );
        }
        if measured {
            if let Err(e) = times.save(&path) {
                self.note(id, "warn", format!("cannot save the batch times: {e}"));
            }
        }
        run.report.partial = outcome.is_ok() && !run.report.not_attempted.is_empty();
        (outcome, run)
    }

    /// One batch as one tool transaction; how long it took.
    fn run_batch(
        &self,
        turn: &JobTurn<'_>,
        (n, of): (usize, usize),
        batch: &Batch,
        exclude: &[String],
    ) -> Result<Duration, PkgError> {
        self.note(
            turn.id,
            "info",
            format!(
                "batch {} of {}: {} ({})",
                n + 1,
                of,
                batch.ids().join(", "),
                batch.packages.join(", ")
            ),
        );
        let began = Instant::now();
        let action = Action::Apply(batch.patches.clone(), exclude.to_vec());
        self.mutate(
            turn.id,
            &action,
            turn.backend,
            turn.cancel,
            turn.deadline,
            None,
        )?;
        Ok(began.elapsed())
    }

    /// The packages applying `patch` alone changes, from the tool's own simulation (its
    /// dependencies pulled in, autoremovals); its own packages when the tool has none.
    fn closure(
        &self,
        patch: &Advisory,
        exclude: &[String],
        backend: &dyn PackageManager,
        cancel: &Cancel,
        warn: &dyn Fn(String),
    ) -> BTreeSet<String> {
        let change = PlanChange::Apply(vec![patch.clone()], exclude.to_vec());
        let mut names: BTreeSet<String> =
            change.apply_targets().into_iter().map(|p| p.name).collect();
        if names.is_empty() {
            return names;
        }
        let mut quiet = |_: Stream, _: &str| {};
        let mut exec = Exec {
            on_line: &mut quiet,
            cancel,
            timeout: CLOSURE_TIMEOUT,
            grace: self.settings.cancel_grace,
            start: None,
        };
        match backend.simulate(&change, &mut exec) {
            Ok(plan) => names.extend(plan.entries.into_iter().map(|e| e.name)),
            Err(PkgError::Unsupported(_)) => {}
            Err(e) => warn(format!(
                "cannot simulate patch {} alone ({e}); its batch holds its own packages",
                patch.id
            )),
        }
        names
    }

    /// A dry run's view of a budgeted patch request: its batches in order, each with its
    /// expected time and whether it would start if every batch before it took exactly its
    /// expected time. `None` for any other request.
    pub fn forecast_batches(&self, request: &JobRequest) -> Option<Vec<BatchForecast>> {
        let JobRequest::PatchApply {
            patches,
            exclude,
            max_duration_minutes: Some(minutes),
            ..
        } = request
        else {
            return None;
        };
        let backend = self.inventory.backend();
        let cancel = Cancel::new();
        let path = batch_times::path_for(&self.settings.storage_path);
        let times = BatchTimes::load(&path).unwrap_or_else(|e| {
            log::warn!("{}: {e}; using the default batch times", path.display());
            BatchTimes::empty()
        });
        let warn = |m: String| log::warn!("dry run: {m}");
        let planned = batches(patches, &mut |p| {
            self.closure(p, exclude, backend.as_ref(), &cancel, &warn)
        });
        let budget = Duration::from_secs(u64::from(*minutes) * 60);
        let mut used = Duration::ZERO;
        let mut cut = false;
        let kind = backend.kind().name();
        let forecast = planned
            .iter()
            .map(|b| {
                let expected = times.expected(kind, &b.packages, self.settings.budget.batch);
                cut = cut || !fits(expected, budget.saturating_sub(used));
                used += expected;
                BatchForecast {
                    patches: b.ids(),
                    packages: b.packages.clone(),
                    expected_seconds: expected.as_secs(),
                    within_budget: !cut,
                }
            })
            .collect();
        Some(forecast)
    }

    /// Whether the reboot after a budgeted job, `delay` from now, fits in what is left of
    /// the budget; when not, the report says so and no reboot follows.
    pub(super) fn reboot_within_budget(
        &self,
        id: &Uuid,
        outcome: &mut Outcome,
        delay: Option<Duration>,
    ) -> Option<Duration> {
        let delay = delay?;
        let (Some(ends), Some(report)) = (outcome.budget_ends, outcome.result.budget.as_mut())
        else {
            return Some(delay);
        };
        let left = ends.saturating_duration_since(Instant::now());
        let expected = delay + self.settings.budget.reboot;
        if fits(expected, left) {
            return Some(delay);
        }
        self.note(
            id,
            "info",
            format!(
                "time budget: the reboot (delay {} s, expected {} s) does not fit in the {} s left; not started",
                delay.as_secs(),
                self.settings.budget.reboot.as_secs(),
                left.as_secs()
            ),
        );
        report.reboot_skipped = Some(NotAttemptedReason::TimeBudget);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_starts_only_when_its_expected_time_fits() {
        let s = Duration::from_secs;
        assert!(fits(s(60), s(60)));
        assert!(fits(s(0), s(0)));
        assert!(!fits(s(61), s(60)));
        assert!(!fits(s(1), Duration::ZERO));
    }
}
