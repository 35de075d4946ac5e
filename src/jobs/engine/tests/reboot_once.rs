//! One pending reboot at a time, on one timer thread (see `engine/reboot_slot.rs`).

use super::*;

fn reboot_threads() -> usize {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .flatten()
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim() == "reboot-job")
        })
        .count()
}

#[test]
fn a_repeated_reboot_gets_the_pending_job_and_another_is_refused() {
    let r = rig();
    let hour = Duration::from_secs(3600);
    let first = r.engine.submit(reboot_in(hour, false)).unwrap();
    let again = r.engine.submit(reboot_in(hour, false)).unwrap();
    assert_eq!(again.id, first.id, "the same request is the same job");
    for other in [
        reboot_in(hour, true),
        reboot_in(hour * 2, false),
        JobRequest::Reboot {
            scheduled_at: now() + hour,
            force: false,
            reason: None,
        },
    ] {
        match r.engine.submit(other) {
            Err(EngineError::RebootPending(job)) => assert_eq!(job.id, first.id),
            got => panic!("expected RebootPending, got {got:?}"),
        }
    }
    assert_eq!(r.engine.list_of(Operation::Reboot).len(), 1);
    assert_eq!(reboot_threads(), 0, "no thread per pending reboot");

    // Cancelled, it frees the slot; the new one runs when due, on the timer.
    r.engine.cancel(&first.id).unwrap();
    let now_job = r.engine.submit(reboot_in(Duration::ZERO, false)).unwrap();
    assert_ne!(now_job.id, first.id);
    assert_eq!(r.wait_done(&now_job.id).status, JobStatus::Completed);
    assert_eq!(reboots(&r), ["--now"]);
}

#[test]
fn a_patch_jobs_reboot_joins_the_pending_one() {
    let r = rig();
    let pending = r
        .engine
        .submit(reboot_in(Duration::from_secs(3600), false))
        .unwrap();
    let job = r.run(apply(vec![patch("ADV-1", "a", "1", "2", true)], &[], true));
    let job = r.wait_for(&job.id, "the follow-up", |j| j.follow_up.is_some());
    assert_eq!(job.follow_up, Some(pending.id));
    assert!(messages(&job)
        .iter()
        .any(|m| m.starts_with(&format!("reboot job {} already pending at", pending.id))));
    assert_eq!(r.engine.list_of(Operation::Reboot).len(), 1);
    assert!(reboots(&r).is_empty());
}

#[test]
fn retention_deletes_finished_reboot_jobs() {
    let r = rig_with(|s| s.retention_max_jobs = 1);
    let first = r.run(reboot_in(Duration::ZERO, false));
    assert_eq!(first.status, JobStatus::Completed);
    let second = r.run(reboot_in(Duration::ZERO, false));
    assert_eq!(second.status, JobStatus::Completed);
    let give_up = Instant::now() + Duration::from_secs(5);
    while r.engine.get(&first.id).is_some() && Instant::now() < give_up {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(r.engine.get(&first.id).is_none(), "retention deleted it");
    assert!(!r.engine.store.path_of(&first.id).exists());
    assert_eq!(reboots(&r).len(), 2);
}
