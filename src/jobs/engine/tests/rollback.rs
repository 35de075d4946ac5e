//! Rollback jobs: what they restore, what they cannot, what is refused (see `engine/rollback.rs`).

use super::*;

#[test]
fn rollback_restores_every_change_and_can_itself_be_rolled_back() {
    let r = rig();
    let original = r.run(install(&[("a", Some("2")), ("c", None)]));
    assert_eq!(original.changes.len(), 2);
    let rb = r.engine.rollback(&original.id).unwrap();
    assert_eq!(rb.operation, crate::jobs::model::Operation::Rollback);
    assert_eq!(rb.original_job_id, Some(original.id));
    assert_eq!(rb.packages, ["a", "c"]);
    let rb = r.wait_done(&rb.id);
    assert_eq!(rb.status, JobStatus::Completed, "{:?}", messages(&rb));
    assert_eq!(
        rb.changes,
        [
            change("a", Some("2"), Some("1")),
            change("c", Some("1"), None)
        ]
    );
    assert_eq!(
        r.fake.called("restore 2 steps, 1 from files"),
        1,
        "a came from its saved file"
    );
    let res = rb.result.clone().unwrap();
    assert!(res.success && res.not_restorable.is_empty());
    assert_eq!(res.packages_updated, ["a"]);
    assert_eq!(res.packages_removed, ["c"]);
    assert_eq!(rb.original_job_id, Some(original.id));
    assert_eq!(
        rb.request,
        JobRequest::Rollback {
            original: original.id
        }
    );
    assert_eq!(rb.saved.len(), 2, "the rollback saved what it changed");

    let rb2 = r.engine.rollback(&rb.id).unwrap();
    let rb2 = r.wait_done(&rb2.id);
    assert_eq!(rb2.status, JobStatus::Completed, "{:?}", messages(&rb2));
    assert_eq!(
        rb2.changes,
        [
            change("a", Some("1"), Some("2")),
            change("c", None, Some("1"))
        ]
    );
    assert_eq!(
        r.fake.called("restore 2 steps, 2 from files"),
        1,
        "both came from the files the first rollback saved"
    );
    assert_eq!(r.fake.version("a").as_deref(), Some("2"));
}

#[test]
fn what_cannot_be_restored_is_reported_never_skipped_silently() {
    let r = rig();
    r.fake.unsaveable.lock().unwrap().push("a".into());
    let original = r.run(install(&[("a", Some("2")), ("c", None)]));
    assert!(messages(&original)
        .iter()
        .any(|m| m.starts_with("could not save a 1 for a rollback")));
    // The repositories drop version 1 of a.
    r.fake
        .available
        .lock()
        .unwrap()
        .insert("a".into(), vec!["2".into()]);
    let rb = r.wait_done(&r.engine.rollback(&original.id).unwrap().id);
    assert_eq!(rb.status, JobStatus::Completed);
    assert_eq!(rb.changes, [change("c", Some("1"), None)]);
    let res = rb.result.clone().unwrap();
    assert_eq!(res.not_restorable.len(), 1);
    assert_eq!(
        (
            res.not_restorable[0].name.as_str(),
            res.not_restorable[0].version.as_str()
        ),
        ("a", "1")
    );
    assert!(res.not_restorable[0].reason.contains("no longer offer"));
    assert!(messages(&rb)
        .iter()
        .any(|m| m.starts_with("cannot restore a 1: ")));

    r.fake.unsaveable.lock().unwrap().push("b".into());
    r.fake
        .available
        .lock()
        .unwrap()
        .insert("b".into(), Vec::new());
    let removal = r.run(remove("b"));
    let rb = r.wait_done(&r.engine.rollback(&removal.id).unwrap().id);
    assert_eq!(rb.status, JobStatus::Failed);
    let e = rb.error.clone().unwrap();
    assert!(
        e.message.starts_with("nothing can be restored: b 1: "),
        "{}",
        e.message
    );
    assert_eq!(rb.result.unwrap().not_restorable.len(), 1);
    assert_eq!(
        r.fake.called("restore"),
        1,
        "nothing was run for the hopeless rollback"
    );
}

#[test]
fn rollback_refuses_unfinished_unchanged_and_unknown_jobs() {
    let r = rig_with(|s| s.max_concurrent = 1);
    assert!(matches!(
        r.engine.rollback(&Uuid::new_v4()),
        Err(EngineError::NotFound(_))
    ));
    // Reinstalling the installed version changes nothing.
    let nothing = r.run(install(&[("a", Some("1"))]));
    assert!(nothing.changes.is_empty());
    assert!(
        matches!(r.engine.rollback(&nothing.id), Err(EngineError::NotRollbackable(m)) if m.contains("changed no package"))
    );
    r.fake.hang.store(true, Ordering::SeqCst);
    let busy = r.engine.submit(install(&[("c", None)])).unwrap();
    r.wait_for(&busy.id, "running", |j| j.status == JobStatus::Running);
    assert!(
        matches!(r.engine.rollback(&busy.id), Err(EngineError::NotRollbackable(m)) if m.contains("still running"))
    );
}
