//! A job started at admission: its worker has it while its first record is written, and
//! its tool waits for that record (see `engine/admission.rs`).

use super::*;

#[test]
fn the_tool_of_a_job_started_at_once_runs_after_its_running_record_is_on_disk() {
    let r = rig();
    *r.fake.watch_records.lock().unwrap() = Some(r.settings.storage_path.clone());
    // Spares ready or not, the order is the same; run one job of each kind of first write.
    for name in ["c", "b"] {
        let job = r.engine.submit(install(&[(name, None)])).unwrap();
        let done = r.wait_done(&job.id);
        assert_eq!(done.status, JobStatus::Completed, "{done:?}");
        let seen = r.fake.records_at_tool.lock().unwrap().last().cloned();
        let record = format!("{}.json", job.id);
        assert!(
            seen.as_ref()
                .is_some_and(|v| v.contains(&(record.clone(), "running".to_string()))),
            "the tool of {record} ran before its record said running: {seen:?}"
        );
    }
}

#[test]
fn a_job_whose_first_record_cannot_be_written_is_refused_and_never_runs() {
    let r = rig();
    let jobs = r.settings.storage_path.clone();
    // Writes fail even for root: the job directory is a file now.
    std::fs::remove_dir_all(&jobs).unwrap();
    std::fs::write(&jobs, b"not a directory").unwrap();
    let refused = r.engine.submit(install(&[("c", None)]));
    assert!(
        matches!(refused, Err(EngineError::Storage(_))),
        "{refused:?}"
    );
    assert!(r.engine.list().is_empty(), "{:?}", r.engine.list());

    // Room again: a later job runs, and the refused one never did.
    std::fs::remove_file(&jobs).unwrap();
    std::fs::create_dir_all(&jobs).unwrap();
    let later = r.engine.submit(install(&[("b", None)])).unwrap();
    assert_eq!(r.wait_done(&later.id).status, JobStatus::Completed);
    assert_eq!(r.fake.called("install c"), 0);
    assert_eq!(r.fake.version("c"), None);
    assert_eq!(r.engine.list().len(), 1);
}
