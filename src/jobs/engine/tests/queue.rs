//! Admission: what is refused at submission, the queue bound, checks deferred while a transaction runs (see `engine/queue.rs`).

use super::*;

#[test]
fn every_precheck_refuses_before_anything_is_queued() {
    let r = rig();
    let e = &r.engine;
    let err = |req| e.submit(req).unwrap_err();
    assert!(
        matches!(err(install(&[])), EngineError::Pkg(PkgError::Invalid { field, .. }) if field == "packages")
    );
    assert!(
        matches!(err(install(&[("Bad!", None)])), EngineError::Pkg(PkgError::Invalid { field, .. }) if field == "name")
    );
    assert!(
        matches!(err(install(&[("c", Some("1 2"))])), EngineError::Pkg(PkgError::Invalid { field, .. }) if field == "version")
    );
    assert!(
        matches!(err(install(&[("ghost", None)])), EngineError::Pkg(PkgError::NotFound(n)) if n == "ghost")
    );
    match err(install(&[("a", Some("9"))])) {
        EngineError::Pkg(PkgError::VersionConflict(m)) => {
            assert_eq!(m, "a: version 9 is not available; available: 1, 2")
        }
        other => panic!("{other:?}"),
    }
    r.fake
        .installed
        .lock()
        .unwrap()
        .insert("a".into(), "2".into());
    r.fake.write_db();
    match err(install(&[("a", Some("1"))])) {
        EngineError::Pkg(PkgError::VersionConflict(m)) => {
            assert_eq!(
                m,
                "a: version 1 would downgrade from 2 to 1; set allow_downgrade"
            )
        }
        other => panic!("{other:?}"),
    }
    let allowed = JobRequest::Install {
        packages: vec![spec("a", Some("1"))],
        options: InstallOptions {
            allow_downgrade: true,
            ..InstallOptions::default()
        },
    };
    let allowed = e.submit(allowed).unwrap();
    // Ended before the next submissions: while it holds the transaction their database
    // checks are deferred to the job (`checks_that_need_the_tool_wait_for_the_job_…`).
    r.wait_done(&allowed.id);
    let update_missing = JobRequest::Update {
        package: spec("c", None),
        options: InstallOptions::default(),
    };
    assert!(matches!(err(update_missing), EngineError::Pkg(PkgError::NotFound(n)) if n == "c"));
    assert!(matches!(err(remove("c")), EngineError::Pkg(PkgError::NotFound(n)) if n == "c"));
    assert!(matches!(
        err(remove("NO")),
        EngineError::Pkg(PkgError::Invalid { .. })
    ));
    assert_eq!(e.list().len(), 1, "only the allowed downgrade was queued");
}

#[test]
fn the_index_settles_only_what_it_offers_and_the_tool_answers_the_rest() {
    let r = rig();
    let e = &r.engine;
    // A stale index: it lacks a's version 2 and knows nothing of ghost.
    let index = [("a", vec!["1"]), ("c", vec!["1"])]
        .into_iter()
        .map(|(n, v)| (n.to_string(), v.into_iter().map(String::from).collect()))
        .collect();
    *r.fake.indexed.lock().unwrap() = Some(index);
    // Not in the index: the tool is asked and its answer stands.
    let err = e.submit(install(&[("ghost", None)])).unwrap_err();
    assert!(matches!(err, EngineError::Pkg(PkgError::NotFound(n)) if n == "ghost"));
    match e.submit(install(&[("c", Some("9"))])).unwrap_err() {
        EngineError::Pkg(PkgError::VersionConflict(m)) => {
            assert_eq!(m, "c: version 9 is not available; available: 1")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(r.fake.called("available"), 2);
    // A downgrade is refused from the index's answer too, with no tool run.
    r.fake
        .installed
        .lock()
        .unwrap()
        .insert("c".into(), "2".into());
    r.fake.write_db();
    match e.submit(install(&[("c", Some("1"))])).unwrap_err() {
        EngineError::Pkg(PkgError::VersionConflict(m)) => {
            assert_eq!(
                m,
                "c: version 1 would downgrade from 2 to 1; set allow_downgrade"
            )
        }
        other => panic!("{other:?}"),
    }
    // Offered: accepted with no tool run.
    let job = e.submit(install(&[("c", None)])).unwrap();
    assert_eq!(r.fake.called("available"), 2, "offered: no tool run");
    r.wait_for(&job.id, "final", |j| j.status.is_terminal());
    // A version the stale index lacks: the tool says it is offered.
    e.submit(install(&[("a", Some("2"))])).unwrap();
    assert_eq!(r.fake.called("available a"), 1);
}

#[test]
fn a_full_queue_refuses_with_its_bound() {
    let r = rig_with(|s| {
        s.max_concurrent = 1;
        s.max_queued = 1;
    });
    r.fake.hang.store(true, Ordering::SeqCst);
    let first = r.engine.submit(install(&[("c", None)])).unwrap();
    r.wait_for(&first.id, "running", |j| j.status == JobStatus::Running);
    let second = r.engine.submit(install(&[("c", None)])).unwrap();
    let third = r.engine.submit(install(&[("c", None)]));
    assert!(
        matches!(third, Err(EngineError::QueueFull { max: 1 })),
        "{third:?}"
    );
    assert_eq!(r.engine.list().len(), 2);
    r.fake.hang.store(false, Ordering::SeqCst);
    assert_eq!(r.wait_done(&second.id).status, JobStatus::Completed);
    assert!(EngineError::QueueFull { max: 1 }
        .to_string()
        .contains("retry"));
}

#[test]
fn checks_that_need_the_tool_wait_for_the_job_while_a_transaction_runs() {
    let r = rig();
    // Long enough that the transaction is surely still held when the next jobs arrive.
    *r.fake.delay.lock().unwrap() = Duration::from_secs(2);
    let busy = r.engine.submit(install(&[("c", None)])).unwrap().id;
    // In the tool, so surely holding the transaction ("running" comes a moment before).
    r.wait_in_tool("install");
    // The grammar is still checked at once...
    assert!(matches!(
        r.engine.submit(install(&[("Bad!", None)])),
        Err(EngineError::Pkg(PkgError::Invalid { .. }))
    ));
    // ...but an unknown name is accepted now and refused by the job itself.
    let ghost = r.engine.submit(install(&[("ghost", None)])).unwrap().id;
    let j = r.wait_done(&ghost);
    assert_eq!(j.status, JobStatus::Failed);
    assert_eq!(
        j.error.as_ref().map(|e| e.code.as_str()),
        Some("PKG_NOT_FOUND")
    );
    assert!(j.changes.is_empty());
    assert_eq!(r.wait_done(&busy).status, JobStatus::Completed);
}

#[test]
fn the_tool_is_asked_once_unless_the_database_changed_since_the_submission() {
    let r = rig();
    // Nothing changed between the submission and the transaction: one check in all.
    let id = r.engine.submit(install(&[("c", None)])).unwrap().id;
    assert_eq!(r.wait_done(&id).status, JobStatus::Completed);
    assert_eq!(r.fake.called("available c"), 1);

    // The database changes while the submission's checks run: the job checks again.
    r.fake.touch_on_check.store(true, Ordering::SeqCst);
    let id = r.engine.submit(install(&[("b", None)])).unwrap().id;
    assert_eq!(r.wait_done(&id).status, JobStatus::Completed);
    assert_eq!(r.fake.called("available b"), 2);
}

#[test]
fn a_job_that_starts_at_once_is_first_written_running_one_in_line_pending() {
    let r = rig();
    let on_disk = |id: &Uuid| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(r.engine.store.path_of(id)).unwrap()).unwrap()
    };
    *r.fake.delay.lock().unwrap() = Duration::from_millis(500);
    let first = r.engine.submit(install(&[("c", None)])).unwrap();
    // Answered as submitted; on disk already running (a crash now makes the next start
    // repair the database), never pending.
    assert_eq!(first.status, JobStatus::Pending);
    let stored = on_disk(&first.id);
    assert_eq!(stored["status"], "running", "{stored}");
    assert!(stored["started_at"].is_string(), "{stored}");
    r.wait_in_tool("install");
    // Behind it, a job waits in line: its first record is the pending one.
    let second = r.engine.submit(install(&[("b", None)])).unwrap();
    assert_eq!(on_disk(&second.id)["status"], "pending");
    for id in [first.id, second.id] {
        let done = r.wait_done(&id);
        assert_eq!(done.status, JobStatus::Completed);
        assert_eq!(
            messages(&done)[..2],
            ["install job submitted", "job started"]
        );
        assert_eq!(on_disk(&id)["status"], "completed");
    }
}
