//! A job's package work: exact changes, failures with what they changed, patch jobs (see `engine/transaction.rs`).

use super::*;

#[test]
fn a_completed_job_records_exact_changes_result_and_logs() {
    let r = rig();
    let job = r.run(install(&[("a", Some("2")), ("c", None)]));
    assert_eq!(job.status, JobStatus::Completed, "{:?}", messages(&job));
    assert_eq!(
        job.changes,
        [
            change("a", Some("1"), Some("2")),
            change("c", None, Some("1"))
        ]
    );
    let res = job.result.clone().unwrap();
    assert!(res.success);
    assert_eq!(res.packages_installed, ["c"]);
    assert_eq!(res.packages_updated, ["a"]);
    assert!(res.packages_removed.is_empty() && res.packages_failed.is_empty());
    assert_eq!(job.progress_percent, 100);
    assert!(job.started_at.is_some() && job.completed_at.is_some() && job.error.is_none());
    assert_eq!(job.boot_id.as_deref(), Some("boot-1"));
    let line = job.logs.iter().find(|l| l.message == "line 0").unwrap();
    assert_eq!(line.level, "info");
    let warn = job
        .logs
        .iter()
        .find(|l| l.message == "W: a warning")
        .unwrap();
    assert_eq!(warn.level, "warn");
    // Only what was installed before is saved: a at 1, into the job's cache dir.
    assert_eq!(job.saved.len(), 1);
    let file = job.saved[0].file.clone().unwrap();
    assert!(file.starts_with(r.settings.rollback_cache_path.join(job.id.to_string())));
    assert!(file.is_file());
    assert_eq!(r.fake.called("repair"), 0, "no repair after success");
    assert_eq!(job.status, JobStatus::Completed);
    assert!(job.error.is_none());
    assert!(job.output().contains("line 1"));
    assert!(
        r.inventory.cached_upgrades().is_none(),
        "upgrade cache invalidated"
    );
}

#[test]
fn a_failed_job_keeps_the_changes_it_made_and_is_repaired() {
    let r = rig();
    *r.fake.fail.lock().unwrap() = Some(Fail::Dependency);
    let job = r.run(install(&[("c", None), ("a", Some("2"))]));
    assert_eq!(job.status, JobStatus::Failed);
    assert_eq!(job.changes, [change("c", None, Some("1"))]);
    let res = job.result.clone().unwrap();
    assert!(!res.success);
    assert_eq!(res.packages_installed, ["c"]);
    assert_eq!(res.packages_failed, ["a"]);
    let e = job.error.clone().unwrap();
    assert_eq!(e.code, "PKG_DEPENDENCY_ERROR");
    assert!(e.message.contains("b conflicts"));
    assert_eq!(r.fake.called("repair"), 1);
    assert!(messages(&job)
        .iter()
        .any(|m| m == "repair: configured 1 half-installed package"));
    assert_eq!(job.progress_percent, 100);
    for (fail, code) in [
        (Fail::Version, "PKG_VERSION_CONFLICT"),
        (Fail::NotFound, "PKG_NOT_FOUND"),
        (Fail::Tool, "PKG_MANAGER_ERROR"),
    ] {
        *r.fake.fail.lock().unwrap() = Some(fail);
        let job = r.run(install(&[("c", None)]));
        assert_eq!(job.status, JobStatus::Failed);
        assert_eq!(job.error.unwrap().code, code, "{fail:?}");
    }
}

#[test]
fn a_patch_job_updates_its_packages_and_keeps_rollback_data() {
    let r = rig();
    let job = r.run(apply(
        vec![patch("ADV-1", "a", "1", "2", false)],
        &[],
        false,
    ));
    assert_eq!(job.status, JobStatus::Completed, "{:?}", messages(&job));
    assert_eq!(job.changes, vec![change("a", Some("1"), Some("2"))]);
    assert_eq!(job.packages, vec!["a"]);
    assert_eq!(job.saved.len(), 1);
    let JobRequest::PatchApply { patches, .. } = &job.request else {
        panic!("a patch request expected: {:?}", job.request);
    };
    let ids: Vec<&str> = patches.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["ADV-1"]);
    assert!(job.follow_up.is_none());
    let back = r.engine.rollback(&job.id).unwrap();
    assert_eq!(r.wait_done(&back.id).status, JobStatus::Completed);
    assert_eq!(r.fake.version("a").as_deref(), Some("1"));
}

#[test]
fn excluded_and_empty_selections_leave_the_tool_alone() {
    let r = rig();
    let job = r.run(apply(
        vec![patch("ADV-1", "a", "1", "2", false)],
        &["a"],
        false,
    ));
    assert_eq!(job.status, JobStatus::Completed);
    assert!(job.changes.is_empty());
    let job = r.run(apply(Vec::new(), &[], true));
    assert_eq!(job.status, JobStatus::Completed);
    assert_eq!(r.fake.called("install"), 0);
    assert!(messages(&job)
        .iter()
        .any(|m| m == "no package to update: nothing applied"));
    assert!(job.follow_up.is_none());
}

#[test]
fn a_failed_patch_job_is_a_patch_apply_error() {
    let r = rig();
    *r.fake.fail.lock().unwrap() = Some(Fail::Tool);
    let job = r.run(apply(vec![patch("ADV-1", "a", "1", "2", true)], &[], true));
    assert_eq!(job.status, JobStatus::Failed);
    assert_eq!(job.error.unwrap().code, "PATCH_APPLY_ERROR");
    assert!(
        job.follow_up.is_none(),
        "no reboot after a failed application"
    );
}

#[test]
fn packages_a_mask_leaves_out_are_reported_and_left_alone() {
    let r = rig();
    let mut both = patch("ADV-1", "a", "1", "2", false);
    let mut b = both.packages[0].clone();
    b.name = "b".into();
    both.packages.push(b);
    let policy = crate::pkg::policy::PatchPolicy {
        exclude_packages: vec!["[b-c]*".into()],
        ..Default::default()
    };
    let request = JobRequest::PatchApply {
        patches: vec![both],
        // What the handler derives from the policy for the tool.
        exclude: vec!["b".into()],
        reboot: RebootSetting::Never,
        reboot_delay_seconds: 0,
        policy,
        max_duration_minutes: None,
    };
    let job = r.run(request);
    assert_eq!(job.status, JobStatus::Completed);
    let result = job.result.unwrap();
    assert_eq!(result.excluded_packages, ["b"]);
    assert_eq!(result.packages_updated, ["a"]);
    assert_eq!(r.fake.version("b").as_deref(), Some("1"));
}
