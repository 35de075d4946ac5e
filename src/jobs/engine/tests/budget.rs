//! Patch jobs with a time budget on the fake backend: batches most severe first, the stop
//! when the next batch's expected time (from the statistics file) does not fit, the partial
//! result, the reboot left out, a failed batch, and the measurements written back.

use super::*;
use crate::jobs::batch_times::{path_for, BatchTimes};
use crate::jobs::model::{NotAttempted, NotAttemptedReason};
use crate::pkg::advisories::Severity;

fn severe(id: &str, name: &str, severity: Severity, reboot: bool) -> Advisory {
    let mut a = patch(id, name, "1", "2", reboot);
    a.severity = severity;
    a
}

fn budgeted(patches: Vec<Advisory>, minutes: u32, reboot: bool) -> JobRequest {
    let mut request = apply(patches, &[], reboot);
    let JobRequest::PatchApply {
        max_duration_minutes,
        ..
    } = &mut request
    else {
        unreachable!("apply builds a patch request")
    };
    *max_duration_minutes = Some(minutes);
    request
}

/// A rig whose fake offers b 2 as well, with no fixed part in a batch's expected time and
/// this host's record saying that a batch changing `slow` takes an hour.
fn rig_where_slow_takes_an_hour(slow: &str) -> Rig {
    let r = rig_with(|s| {
        s.budget.batch = crate::jobs::batch_times::BatchDefaults {
            per_batch: 0,
            per_package: 1,
        };
        s.budget.reboot = Duration::from_secs(3600);
    });
    r.fake
        .available
        .lock()
        .unwrap()
        .insert("b".into(), vec!["1".into(), "2".into()]);
    let stats = format!(
        r#"{{"version":1,"backends":{{"apt":{{"packages":{{"{slow}":{{"seconds":3600,"samples":1}}}}}}}}}}"#
    );
    std::fs::write(path_for(&r.settings.storage_path), stats).unwrap();
    r
}

fn report(job: &Job) -> crate::jobs::BudgetReport {
    job.result
        .as_ref()
        .and_then(|r| r.budget.clone())
        .unwrap_or_else(|| panic!("no budget report: {:?}", job.result))
}

#[test]
fn the_budget_stops_before_a_batch_that_would_overrun_and_the_job_completes_partial() {
    let r = rig_where_slow_takes_an_hour("b");
    let job = r.run(budgeted(
        vec![
            severe("ADV-LOW", "b", Severity::Low, false),
            severe("ADV-CRIT", "a", Severity::Critical, true),
        ],
        1,
        true,
    ));
    assert_eq!(job.status, JobStatus::Completed, "{:?}", messages(&job));
    assert!(job.error.is_none());
    let rep = report(&job);
    assert_eq!(rep.applied, ["ADV-CRIT"]);
    assert!(rep.failed.is_empty());
    assert_eq!(
        rep.not_attempted,
        [NotAttempted {
            id: "ADV-LOW".into(),
            reason: NotAttemptedReason::TimeBudget
        }]
    );
    assert!(rep.partial);
    // The critical patch asks for a reboot, expected to take an hour: not started.
    assert_eq!(rep.reboot_skipped, Some(NotAttemptedReason::TimeBudget));
    assert!(job.follow_up.is_none());
    assert_eq!(job.changes, vec![change("a", Some("1"), Some("2"))]);
    assert_eq!(r.fake.version("b").as_deref(), Some("1"));
    assert!(messages(&job)
        .iter()
        .any(|m| m.starts_with("time budget: batch 2 of 2 (ADV-LOW) expected to take 3600 s")));
    // The applied batch was measured and written back; the hour for b stays.
    let times = BatchTimes::load(&path_for(&r.settings.storage_path)).unwrap();
    let apt = &times.backends["apt"];
    assert_eq!(apt.packages["a"].samples, 1);
    assert_eq!(apt.packages["b"].seconds, 3600.0);
    // The rollback undoes exactly the applied part.
    let back = r.engine.rollback(&job.id).unwrap();
    let back = r.wait_done(&back.id);
    assert_eq!(back.status, JobStatus::Completed);
    assert_eq!(back.changes, vec![change("a", Some("2"), Some("1"))]);
    assert_eq!(r.fake.version("b").as_deref(), Some("1"));
}

#[test]
fn batches_that_fit_all_run_and_the_job_is_not_partial() {
    let r = rig_where_slow_takes_an_hour("nothing-here");
    let job = r.run(budgeted(
        vec![
            severe("ADV-LOW", "b", Severity::Low, false),
            severe("ADV-HIGH", "a", Severity::High, false),
        ],
        1,
        false,
    ));
    assert_eq!(job.status, JobStatus::Completed, "{:?}", messages(&job));
    let rep = report(&job);
    assert_eq!(rep.applied, ["ADV-HIGH", "ADV-LOW"]);
    assert!(rep.not_attempted.is_empty() && !rep.partial);
    assert_eq!(rep.reboot_skipped, None);
    // Two transactions, the high one first.
    let installs: Vec<String> = r
        .fake
        .calls
        .lock()
        .unwrap()
        .iter()
        .filter(|c| c.starts_with("install"))
        .cloned()
        .collect();
    assert_eq!(installs, ["install a", "install b"]);
}

#[test]
fn a_failed_batch_fails_the_job_and_the_rest_is_not_attempted() {
    let r = rig_where_slow_takes_an_hour("nothing-here");
    *r.fake.fail.lock().unwrap() = Some(Fail::Tool);
    let job = r.run(budgeted(
        vec![
            severe("ADV-LOW", "b", Severity::Low, false),
            severe("ADV-HIGH", "a", Severity::High, false),
        ],
        1,
        false,
    ));
    assert_eq!(job.status, JobStatus::Failed);
    assert_eq!(job.error.as_ref().unwrap().code, "PATCH_APPLY_ERROR");
    let rep = report(&job);
    assert!(rep.applied.is_empty());
    assert_eq!(rep.failed, ["ADV-HIGH"]);
    assert_eq!(
        rep.not_attempted,
        [NotAttempted {
            id: "ADV-LOW".into(),
            reason: NotAttemptedReason::EarlierBatchFailed
        }]
    );
    assert!(!rep.partial);
    // Only the failed batch's packages count as failed.
    let failed = &job.result.as_ref().unwrap().packages_failed;
    assert!(!failed.contains(&"b".to_string()), "{failed:?}");
}

#[test]
fn a_damaged_statistics_file_is_ignored_for_the_defaults() {
    let r = rig_where_slow_takes_an_hour("b");
    std::fs::write(path_for(&r.settings.storage_path), "{not json").unwrap();
    let job = r.run(budgeted(
        vec![
            severe("ADV-LOW", "b", Severity::Low, false),
            severe("ADV-CRIT", "a", Severity::Critical, false),
        ],
        1,
        false,
    ));
    assert_eq!(job.status, JobStatus::Completed, "{:?}", messages(&job));
    assert_eq!(report(&job).applied, ["ADV-CRIT", "ADV-LOW"]);
    // Rewritten whole from this run's measurements.
    let times = BatchTimes::load(&path_for(&r.settings.storage_path)).unwrap();
    assert_eq!(times.backends["apt"].packages.len(), 2);
}

#[test]
fn when_not_even_the_first_batch_fits_nothing_runs_and_the_job_completes_partial() {
    let r = rig_where_slow_takes_an_hour("a");
    let job = r.run(budgeted(
        vec![severe("ADV-CRIT", "a", Severity::Critical, false)],
        1,
        false,
    ));
    assert_eq!(job.status, JobStatus::Completed, "{:?}", messages(&job));
    let rep = report(&job);
    assert!(rep.applied.is_empty() && rep.partial);
    assert_eq!(rep.not_attempted.len(), 1);
    assert!(job.changes.is_empty());
    assert_eq!(r.fake.called("install"), 0);
}

#[test]
fn a_cancel_during_a_batch_starts_no_further_batch() {
    let r = rig_where_slow_takes_an_hour("nothing-here");
    r.fake.hang.store(true, Ordering::SeqCst);
    let job = r
        .engine
        .submit(budgeted(
            vec![
                severe("ADV-LOW", "b", Severity::Low, false),
                severe("ADV-HIGH", "a", Severity::High, false),
            ],
            1,
            false,
        ))
        .unwrap();
    r.wait_in_tool("install a");
    r.engine.cancel(&job.id).unwrap();
    let job = r.wait_done(&job.id);
    assert_eq!(job.status, JobStatus::Cancelled, "{:?}", messages(&job));
    let rep = report(&job);
    assert!(rep.applied.is_empty());
    assert_eq!(rep.failed, ["ADV-HIGH"]);
    assert_eq!(
        rep.not_attempted,
        [NotAttempted {
            id: "ADV-LOW".into(),
            reason: NotAttemptedReason::Cancelled
        }]
    );
    assert!(!rep.partial);
    assert_eq!(r.fake.called("install b"), 0);
}
