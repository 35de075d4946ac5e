//! Keeping jobs: the capped log and retention (see `engine/persistence.rs`).

use super::*;

#[test]
fn the_log_is_capped_and_says_so() {
    let r = rig_with(|s| s.log_max_bytes = 40);
    r.fake.lines.store(30, Ordering::SeqCst);
    let job = r.run(install(&[("c", None)]));
    let notes: Vec<String> = messages(&job)
        .into_iter()
        .filter(|m| m.starts_with("log truncated"))
        .collect();
    assert_eq!(notes, ["log truncated at 40 bytes; further output dropped"]);
    let tool_bytes: usize = messages(&job)
        .iter()
        .filter(|m| m.starts_with("line ") || m.starts_with("saving"))
        .map(|m| m.len())
        .sum();
    assert!(tool_bytes <= 40, "{tool_bytes}");
    assert!(!messages(&job).contains(&"line 29".to_string()));
    assert!(
        messages(&job)
            .iter()
            .any(|m| m.starts_with("job completed")),
        "engine notes kept"
    );
}

#[test]
fn retention_deletes_the_oldest_finished_jobs_with_their_cache() {
    let r = rig_with(|s| s.retention_max_jobs = 2);
    let first = r.run(remove("b"));
    let cache_dir = r.settings.rollback_cache_path.join(first.id.to_string());
    assert!(cache_dir.is_dir());
    let second = r.run(install(&[("c", None)]));
    let third = r.run(install(&[("b", None)]));
    // Retention runs just after the job's final status is recorded.
    let give_up = Instant::now() + Duration::from_secs(5);
    while (r.engine.list().len() > 2 || cache_dir.exists()) && Instant::now() < give_up {
        std::thread::sleep(Duration::from_millis(2));
    }
    let left: Vec<Uuid> = r.engine.list().iter().map(|j| j.id).collect();
    assert_eq!(left, [third.id, second.id]);
    assert!(!r.engine.store.path_of(&first.id).exists());
    assert!(!cache_dir.exists());
}
