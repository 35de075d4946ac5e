//! Reboot jobs: when they run, cancel, refusal during package jobs, a failing command, reboots after patches (see `engine/reboot.rs`).

use super::*;

#[test]
fn a_reboot_waits_for_its_time_then_runs_the_command() {
    let r = rig();
    let job = r
        .engine
        .submit(reboot_in(Duration::from_millis(1500), false))
        .unwrap();
    let JobRequest::Reboot { scheduled_at, .. } = job.request else {
        panic!("{:?}", job.request)
    };
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(r.engine.get(&job.id).unwrap().status, JobStatus::Pending);
    assert!(reboots(&r).is_empty());
    let done = r.wait_for(&job.id, "the reboot", |j| j.status.is_terminal());
    assert_eq!(done.status, JobStatus::Completed, "{:?}", messages(&done));
    assert_eq!(reboots(&r), ["--now"]);
    // Never before the scheduled time: the job started at or after it.
    assert!(done.started_at.unwrap() >= scheduled_at);
    assert!(messages(&done)
        .iter()
        .any(|m| m.starts_with("running the reboot command: ")));
    assert!(
        matches!(&done.request, JobRequest::Reboot { reason, .. } if reason.as_deref() == Some("maintenance")),
        "{:?}",
        done.request
    );
}

#[test]
fn a_cancelled_reboot_never_runs() {
    let r = rig();
    let job = r
        .engine
        .submit(reboot_in(Duration::from_millis(700), false))
        .unwrap();
    let out = r.engine.cancel(&job.id).unwrap();
    assert_eq!(out.current_status, Some(JobStatus::Cancelled));
    std::thread::sleep(Duration::from_millis(1200));
    assert!(reboots(&r).is_empty());
    assert_eq!(r.engine.get(&job.id).unwrap().status, JobStatus::Cancelled);
}

#[test]
fn a_reboot_is_refused_during_package_jobs_unless_forced() {
    let r = rig();
    r.fake.hang.store(true, Ordering::SeqCst);
    let busy = r.engine.submit(install(&[("c", None)])).unwrap();
    r.wait_in_tool("install");
    match r.engine.submit(reboot_in(Duration::ZERO, false)) {
        Err(EngineError::Busy(ids)) => assert_eq!(ids, vec![busy.id]),
        other => panic!("{other:?}"),
    }
    let forced = r.engine.submit(reboot_in(Duration::ZERO, true)).unwrap();
    let done = r.wait_done(&forced.id);
    assert_eq!(done.status, JobStatus::Completed);
    assert_eq!(reboots(&r), ["--now"]);
    assert!(messages(&done).iter().any(|m| m.contains(&format!(
        "forced: rebooting while package job(s) {}",
        busy.id
    ))));
    assert_eq!(r.engine.get(&busy.id).unwrap().status, JobStatus::Running);
    r.fake.hang.store(false, Ordering::SeqCst);
    r.wait_done(&busy.id);
}

#[test]
fn a_failing_reboot_command_is_a_reboot_error() {
    let r = rig();
    std::fs::write(r.dir.join("reboot-fails"), b"").unwrap();
    let job = r.run(reboot_in(Duration::ZERO, false));
    assert_eq!(job.status, JobStatus::Failed);
    let e = job.error.unwrap();
    assert_eq!(e.code, "SYSTEM_REBOOT_ERROR");
    assert!(
        e.message
            .contains("failed with exit code 3: reboot: refused"),
        "{}",
        e.message
    );
}

#[test]
fn a_patch_that_needs_a_reboot_schedules_one_when_allowed() {
    let r = rig();
    let job = r.run(apply(vec![patch("ADV-1", "a", "1", "2", true)], &[], true));
    assert_eq!(job.status, JobStatus::Completed);
    let follow = r
        .wait_for(&job.id, "the follow-up", |j| j.follow_up.is_some())
        .follow_up
        .unwrap();
    let reboot = r.wait_done(&follow);
    assert_eq!(reboot.operation, Operation::Reboot);
    assert_eq!(reboot.status, JobStatus::Completed);
    assert_eq!(reboots(&r), ["--now"]);
    let JobRequest::Reboot { reason, .. } = &reboot.request else {
        panic!("a reboot request expected: {:?}", reboot.request);
    };
    assert_eq!(
        reason.as_deref(),
        Some(format!("requested by patch job {}", job.id).as_str())
    );
    // Not asked to reboot, or nothing needs it: no reboot job.
    let quiet = r.run(apply(vec![patch("ADV-2", "b", "1", "1", true)], &[], false));
    assert!(quiet.follow_up.is_none());
    let unneeded = r.run(apply(vec![patch("ADV-3", "a", "2", "2", false)], &[], true));
    assert!(unneeded.follow_up.is_none());
    assert!(messages(&unneeded)
        .iter()
        .any(|m| m.starts_with("no reboot needed (apt has no reboot signal)")));
    assert_eq!(reboots(&r).len(), 1);
}

#[test]
fn reboot_always_follows_a_run_that_needed_none_and_never_blocks_a_needed_one() {
    let r = rig();
    // Nothing asks for a reboot (no patch flag; the fake backend reports none) ...
    let job = r.run(apply_with(
        vec![patch("ADV-1", "a", "1", "2", false)],
        &[],
        RebootSetting::Always,
    ));
    assert_eq!(job.status, JobStatus::Completed);
    let follow = r
        .wait_for(&job.id, "the follow-up", |j| j.follow_up.is_some())
        .follow_up
        .unwrap();
    assert_eq!(r.wait_done(&follow).status, JobStatus::Completed);
    assert_eq!(reboots(&r), ["--now"]);
    assert!(messages(&job).iter().any(|m| m.contains("reboot: always")));
    // ... and a patch that asks for one is not followed by a reboot under never.
    let never = r.run(apply_with(
        vec![patch("ADV-2", "b", "1", "2", true)],
        &[],
        RebootSetting::Never,
    ));
    assert_eq!(never.status, JobStatus::Completed);
    assert!(never.follow_up.is_none());
    // A failed run is not followed by a reboot, always or not.
    *r.fake.fail.lock().unwrap() = Some(Fail::Tool);
    let failed = r.run(apply_with(
        vec![patch("ADV-3", "a", "2", "3", false)],
        &[],
        RebootSetting::Always,
    ));
    assert_eq!(failed.status, JobStatus::Failed);
    assert!(failed.follow_up.is_none());
    assert_eq!(reboots(&r).len(), 1);
}
