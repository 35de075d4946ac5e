//! The worker side: one transaction at a time in submission order, progress, cancel, deadline, panics (see `engine/worker.rs`).

use super::*;

#[test]
fn a_panicking_backend_fails_its_job_and_the_worker_lives_on() {
    let r = rig_with(|s| s.max_concurrent = 1);
    *r.fake.fail.lock().unwrap() = Some(Fail::Panic);
    let job = r.run(install(&[("c", None)]));
    assert_eq!(job.status, JobStatus::Failed);
    let e = job.error.unwrap();
    assert_eq!(e.code, "INTERNAL_ERROR");
    assert!(
        e.message.contains("the fake backend panicked"),
        "{}",
        e.message
    );
    // The only worker took the next job, and the package transaction was released.
    *r.fake.fail.lock().unwrap() = None;
    let job = r.run(install(&[("a", Some("2"))]));
    assert_eq!(job.status, JobStatus::Completed, "{:?}", job.error);
}

#[test]
fn progress_only_rises_to_100_and_events_end_with_one_terminal() {
    let r = rig();
    let sub = r.events.subscribe(10_000);
    r.fake.lines.store(40, Ordering::SeqCst);
    *r.fake.delay.lock().unwrap() = Duration::from_millis(250);
    let job = r.run(install(&[("c", None)]));
    let events: Vec<JobEvent> = sub
        .receiver
        .try_iter()
        .filter(|e| e.job_id() == job.id)
        .collect();
    let statuses: Vec<&str> = events.iter().map(|e| e.status().as_str()).collect();
    assert_eq!(statuses.first(), Some(&"pending"));
    assert_eq!(statuses.get(1), Some(&"running"));
    assert_eq!(statuses.last(), Some(&"completed"));
    let terminals: Vec<&JobEvent> = events.iter().filter(|e| e.is_terminal()).collect();
    assert_eq!(terminals.len(), 1);
    assert!(events.last().unwrap().is_terminal());
    let progress: Vec<u8> = events.iter().map(|e| e.job.progress_percent).collect();
    assert!(progress.windows(2).all(|w| w[0] <= w[1]), "{progress:?}");
    assert_eq!(progress.last(), Some(&100));
    assert!(
        progress.iter().any(|&p| p > 10 && p < 100),
        "no intermediate progress: {progress:?}"
    );
    let t = terminals[0];
    assert!(t.job.result.as_ref().is_some_and(|r| r.success));
    assert_eq!(t.job.changes[0].name, "c");
    assert!(t.job.logs.is_empty() && t.output.is_some());
    assert!(events[1].output.is_none());
    assert!(
        events.len() < 20,
        "progress events not throttled: {}",
        events.len()
    );
}

#[test]
fn cancel_pending_running_and_finished_jobs() {
    let r = rig_with(|s| s.max_concurrent = 1);
    r.fake.hang.store(true, Ordering::SeqCst);
    let running = r.engine.submit(install(&[("c", None)])).unwrap();
    r.wait_in_tool("install");
    let pending = r.engine.submit(remove("b")).unwrap();

    let o = r.engine.cancel(&pending.id).unwrap();
    assert_eq!(
        o,
        CancelOutcome {
            job_id: pending.id,
            previous_status: JobStatus::Pending,
            current_status: Some(JobStatus::Cancelled),
            action: "cancelled"
        }
    );
    let p = r.engine.get(&pending.id).unwrap();
    assert_eq!(p.error.unwrap().code, "JOB_CANCELLED");

    let o = r.engine.cancel(&running.id).unwrap();
    assert_eq!(o.previous_status, JobStatus::Running);
    assert_eq!(o.current_status, Some(JobStatus::Cancelled));
    assert_eq!(o.action, "cancelled");
    let job = r.engine.get(&running.id).unwrap();
    assert_eq!(job.error.clone().unwrap().code, "JOB_CANCELLED");
    assert_eq!(job.progress_percent, 100);
    assert_eq!(r.fake.called("repair"), 1);
    assert!(messages(&job).contains(&"cancel requested".to_string()));
    assert_eq!(
        r.fake.version("b").as_deref(),
        Some("1"),
        "the cancelled removal never ran"
    );

    let o = r.engine.cancel(&running.id).unwrap();
    assert_eq!(o.previous_status, JobStatus::Cancelled);
    assert_eq!((o.current_status, o.action), (None, "deleted"));
    assert!(r.engine.get(&running.id).is_none());
    assert!(!r.engine.store.path_of(&running.id).exists());
    assert!(matches!(
        r.engine.cancel(&running.id),
        Err(EngineError::NotFound(_))
    ));
}

#[test]
fn a_job_past_its_deadline_times_out_and_is_repaired() {
    let r = rig_with(|s| s.timeout = Duration::from_millis(150));
    r.fake.hang.store(true, Ordering::SeqCst);
    let job = r.run(install(&[("c", None)]));
    assert_eq!(job.status, JobStatus::Timeout);
    let e = job.error.clone().unwrap();
    assert_eq!(e.code, "JOB_TIMEOUT");
    assert_eq!(r.fake.called("repair"), 1);
    assert!(messages(&job).iter().any(|m| m.starts_with("repair: ")));
    assert_eq!(job.result.unwrap().packages_failed, ["c"]);
}

#[test]
fn one_package_transaction_at_a_time() {
    let r = rig_with(|s| s.max_concurrent = 3);
    *r.fake.delay.lock().unwrap() = Duration::from_millis(60);
    let ids: Vec<Uuid> = (0..3)
        .map(|_| r.engine.submit(install(&[("c", None)])).unwrap().id)
        .collect();
    let jobs: Vec<Job> = ids.iter().map(|id| r.wait_done(id)).collect();
    assert!(jobs.iter().all(|j| j.status == JobStatus::Completed));
    let mut iv = r.fake.intervals.lock().unwrap().clone();
    assert_eq!(iv.len(), 3);
    iv.sort();
    assert!(iv.windows(2).all(|w| w[0].1 <= w[1].0), "overlap: {iv:?}");
    let waited = jobs
        .iter()
        .flat_map(messages)
        .filter(|m| {
            m.starts_with("waiting for job ") && m.ends_with(" to finish its package transaction")
        })
        .count();
    assert!(waited >= 1, "nobody said it waited");
}

#[test]
fn the_transaction_goes_to_jobs_in_submission_order() {
    let r = rig_with(|s| s.max_concurrent = 5);
    r.fake.hang.store(true, Ordering::SeqCst);
    let first = r.engine.submit(install(&[("c", None)])).unwrap();
    r.wait_in_tool("install c");
    let later = [
        install(&[("a", Some("2"))]),
        JobRequest::Update {
            package: spec("b", None),
            options: InstallOptions::default(),
        },
        JobRequest::Install {
            packages: vec![spec("a", Some("1"))],
            options: InstallOptions {
                allow_downgrade: true,
                ..InstallOptions::default()
            },
        },
        remove("c"),
    ];
    let ids: Vec<Uuid> = later
        .into_iter()
        .map(|req| r.engine.submit(req).unwrap().id)
        .collect();
    // Every worker holds a job by now; they must still take turns in order.
    std::thread::sleep(Duration::from_millis(200));
    r.fake.hang.store(false, Ordering::SeqCst);
    for id in ids.iter().chain([&first.id]) {
        r.wait_done(id);
    }
    let calls: Vec<String> = r
        .fake
        .calls
        .lock()
        .unwrap()
        .iter()
        .filter(|c| c.starts_with("install") || c.starts_with("remove"))
        .cloned()
        .collect();
    assert_eq!(
        calls,
        [
            "install c",
            "install a",
            "install b",
            "install a",
            "remove c"
        ]
    );
}

#[test]
fn a_metadata_refresh_never_runs_beside_a_job() {
    use crate::pkg::refresh::TransactionGate;
    let r = rig();
    r.fake.hang.store(true, Ordering::SeqCst);
    let job = r.engine.submit(install(&[("c", None)])).unwrap();
    r.wait_in_tool("install");
    let mut ran = false;
    let got = r
        .engine
        .exclusive(Duration::from_millis(100), &mut || ran = true);
    assert!(
        !got && !ran,
        "a refresh ran while a job held the transaction"
    );
    r.fake.hang.store(false, Ordering::SeqCst);
    r.wait_done(&job.id);

    // While a refresh holds the transaction, a job waits for it and says why.
    let engine = Arc::clone(&r.engine);
    let (holding, held) = crossbeam_channel::bounded(1);
    let (release, released) = crossbeam_channel::bounded::<()>(1);
    let refresh = std::thread::spawn(move || {
        engine.exclusive(Duration::from_secs(5), &mut || {
            holding.send(()).unwrap();
            let _ = released.recv_timeout(Duration::from_secs(5));
        })
    });
    held.recv_timeout(Duration::from_secs(5)).unwrap();
    let installs = r.fake.called("install");
    let waiting = r.engine.submit(install(&[("a", Some("2"))])).unwrap();
    r.wait_for(&waiting.id, "the waiting note", |j| {
        j.logs
            .iter()
            .any(|l| l.message.contains("metadata refresh"))
    });
    assert_eq!(
        r.fake.called("install"),
        installs,
        "the job's tool did not run beside the refresh"
    );
    release.send(()).unwrap();
    assert!(refresh.join().unwrap());
    let done = r.wait_done(&waiting.id);
    assert_eq!(done.status, JobStatus::Completed, "{:?}", done.error);
}
