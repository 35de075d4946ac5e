//! Finished jobs' logs live in their records, not in memory (see `engine/logs.rs`).

use super::*;

fn in_memory(r: &Rig, id: &Uuid) -> (usize, bool) {
    let table = r.engine.table();
    let entry = table.get(id).unwrap();
    (entry.job.logs.len(), entry.logs_on_disk)
}

#[test]
fn a_finished_jobs_log_is_read_from_its_record_not_kept_in_memory() {
    let r = rig();
    let done = r.run(install(&[("a", Some("2"))]));
    assert!(
        messages(&done).iter().any(|m| m == "line 1"),
        "get reads the log"
    );
    assert_eq!(in_memory(&r, &done.id), (0, true));
    assert!(r.engine.list().iter().all(|j| j.logs.is_empty()));
    assert!(r.engine.meta(&done.id).unwrap().logs.is_empty());
    assert_eq!(r.engine.summaries().len(), 1);

    // A note on the finished job keeps the whole log in its record, and memory free.
    r.engine.note(&done.id, "info", "a late note");
    let again = r.engine.get(&done.id).unwrap();
    assert_eq!(again.logs.len(), done.logs.len() + 1);
    assert_eq!(again.logs[..done.logs.len()], done.logs[..]);
    assert_eq!(in_memory(&r, &done.id), (0, true));

    // A restarted engine loads it without its log, and still shows it.
    r.engine.shutdown(Duration::from_secs(1));
    let restarted = Engine::start_with_boot_id(
        r.settings.clone(),
        r.inventory.clone(),
        Events::new(),
        Some("boot-1".into()),
    )
    .unwrap();
    assert!(restarted.table().get(&done.id).unwrap().logs_on_disk);
    assert_eq!(record(&restarted.get(&done.id).unwrap()), record(&again));
}

#[test]
fn an_unreadable_record_shows_why_instead_of_its_log() {
    let r = rig();
    let done = r.run(install(&[("a", Some("2"))]));
    std::fs::write(r.engine.store.path_of(&done.id), b"{ not json").unwrap();
    let shown = r.engine.get(&done.id).unwrap();
    assert_eq!(shown.status, JobStatus::Completed);
    assert_eq!(shown.logs.len(), 1);
    assert!(shown.logs[0]
        .message
        .starts_with("the stored log cannot be read"));
}
