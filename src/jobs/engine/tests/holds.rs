//! Holds in jobs: patch runs leave held packages alone and list them in
//! `result.skipped_held`; an explicit change of a held package is refused before a job
//! exists, and fails a job that got the transaction after a hold was set.

use super::*;

fn hold(r: &Rig, name: &str) {
    r.fake.holds.lock().unwrap().push(name.to_string());
}

/// A rig where `b` can go from 1 to 2 and `a` is held.
fn rig_a_held_b_upgradable() -> Rig {
    let r = rig();
    r.fake
        .available
        .lock()
        .unwrap()
        .insert("b".into(), vec!["1".into(), "2".into()]);
    hold(&r, "a");
    r
}

#[test]
fn a_patch_job_skips_held_packages_and_says_so() {
    let r = rig_a_held_b_upgradable();
    let job = r.run(apply(
        vec![
            patch("ADV-1", "a", "1", "2", false),
            patch("ADV-2", "b", "1", "2", false),
        ],
        &[],
        false,
    ));
    assert_eq!(job.status, JobStatus::Completed, "{:?}", messages(&job));
    assert_eq!(job.result.as_ref().unwrap().skipped_held, ["a"]);
    assert_eq!(job.changes, vec![change("b", Some("1"), Some("2"))]);
    assert_eq!(r.fake.version("a").as_deref(), Some("1"));
    assert!(messages(&job)
        .iter()
        .any(|m| m == "skipping held packages: a"));
    // Every package of the selection held: nothing reaches the tool.
    let installs = r.fake.called("install");
    let job = r.run(apply(
        vec![patch("ADV-1", "a", "1", "2", false)],
        &[],
        false,
    ));
    assert_eq!(job.status, JobStatus::Completed);
    assert_eq!(job.result.as_ref().unwrap().skipped_held, ["a"]);
    assert_eq!(r.fake.called("install"), installs);
}

#[test]
fn explicit_changes_of_a_held_package_are_refused_before_a_job_exists() {
    let r = rig();
    hold(&r, "a");
    let update = JobRequest::Update {
        package: spec("a", None),
        options: InstallOptions::default(),
    };
    for request in [install(&[("a", Some("2"))]), update, remove("a")] {
        match r.engine.submit(request) {
            Err(EngineError::Pkg(PkgError::Held(name))) => assert_eq!(name, "a"),
            other => panic!("expected Held, got {other:?}"),
        }
    }
    assert_eq!(r.fake.called("install"), 0);
    assert_eq!(r.fake.called("remove"), 0);
    // Other packages are not affected.
    let job = r.run(remove("b"));
    assert_eq!(job.status, JobStatus::Completed);
}

#[test]
fn a_hold_set_while_the_job_waited_fails_it_with_pkg_held() {
    let r = rig_with(|s| s.max_concurrent = 1);
    *r.fake.delay.lock().unwrap() = Duration::from_millis(150);
    let running = r.engine.submit(install(&[("c", None)])).unwrap();
    r.wait_in_tool("install");
    let waiting = r.engine.submit(remove("b")).unwrap();
    hold(&r, "b");
    assert_eq!(r.wait_done(&running.id).status, JobStatus::Completed);
    let job = r.wait_done(&waiting.id);
    assert_eq!(job.status, JobStatus::Failed);
    assert_eq!(job.error.unwrap().code, "PKG_HELD");
    assert_eq!(r.fake.version("b").as_deref(), Some("1"));
}

#[test]
fn a_reboot_flag_of_a_patch_skipped_as_held_does_not_reboot() {
    let r = rig_a_held_b_upgradable();
    // ADV-1 asks for a reboot but its only package is held: it was not applied.
    let job = r.run(apply(
        vec![
            patch("ADV-1", "a", "1", "2", true),
            patch("ADV-2", "b", "1", "2", false),
        ],
        &[],
        true,
    ));
    assert_eq!(job.status, JobStatus::Completed, "{:?}", messages(&job));
    assert_eq!(job.result.as_ref().unwrap().skipped_held, ["a"]);
    assert!(job.follow_up.is_none(), "{:?}", messages(&job));
    assert!(
        messages(&job)
            .iter()
            .any(|m| m.starts_with("no reboot needed")),
        "{:?}",
        messages(&job)
    );
    assert!(reboots(&r).is_empty());
    // Excluded by the request instead: not applied either.
    r.fake.holds.lock().unwrap().clear();
    let job = r.run(apply(
        vec![
            patch("ADV-1", "a", "1", "2", true),
            patch("ADV-2", "b", "2", "2", false),
        ],
        &["a"],
        true,
    ));
    assert!(job.follow_up.is_none(), "{:?}", messages(&job));
    assert!(reboots(&r).is_empty());
    // Neither held nor excluded, the same patch's flag counts again.
    let job = r.run(apply(vec![patch("ADV-1", "a", "1", "2", true)], &[], true));
    assert!(messages(&job)
        .iter()
        .any(|m| m == "reboot needed: patches ADV-1 ask for a reboot"));
    r.wait_for(&job.id, "the follow-up", |j| j.follow_up.is_some());
}

#[test]
fn a_patch_dry_run_lists_held_packages_as_skipped_and_leaves_them_out() {
    let r = rig();
    hold(&r, "a");
    let request = apply(
        vec![
            patch("ADV-1", "a", "1", "2", false),
            patch("ADV-2", "b", "1", "2", false),
        ],
        &[],
        false,
    );
    let plan = r.engine.dry_run(&request).unwrap();
    let planned: Vec<&str> = plan.entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(planned, ["b"]);
    let skipped: Vec<(&str, &str)> = plan
        .skipped
        .iter()
        .map(|s| (s.name.as_str(), s.reason.as_str()))
        .collect();
    assert_eq!(skipped, [("a", "held")]);
    // Every package held: the tool is not asked, the held one is still listed.
    let sims = r.fake.called("simulate");
    let plan = r
        .engine
        .dry_run(&apply(
            vec![patch("ADV-1", "a", "1", "2", false)],
            &[],
            false,
        ))
        .unwrap();
    assert!(plan.entries.is_empty());
    assert_eq!(plan.skipped.len(), 1);
    assert_eq!(r.fake.called("simulate"), sims);
    // An explicit change of the held package is refused like its submission.
    match r.engine.dry_run(&install(&[("a", Some("2"))])) {
        Err(EngineError::Pkg(PkgError::Held(name))) => assert_eq!(name, "a"),
        other => panic!("expected Held, got {other:?}"),
    }
    // The real run skips the same packages.
    let job = r.run(request);
    assert_eq!(job.result.as_ref().unwrap().skipped_held, ["a"]);
}
