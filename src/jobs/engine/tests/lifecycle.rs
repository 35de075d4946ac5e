//! The coordinator: settings from the config, a restart with stored jobs, shutdown (see `engine.rs`).

use super::*;

#[test]
fn settings_come_from_the_jobs_config() {
    let c = crate::config::JobsConfig {
        timeout_seconds: Some(7),
        rollback_cache_max_mb: 2,
        cancel_grace_seconds: 3,
        ..crate::config::JobsConfig::default()
    };
    let system = crate::config::SystemConfig {
        reboot_command: vec!["/sbin/reboot".into()],
    };
    let s = EngineSettings::from_config(&c, &system);
    assert_eq!(s.reboot_command, ["/sbin/reboot"]);
    assert_eq!(s.timeout, Duration::from_secs(7));
    assert_eq!(s.rollback_cache_max_bytes, 2 * 1024 * 1024);
    assert_eq!(s.cancel_grace, Duration::from_secs(3));
    assert_eq!(s.max_concurrent, c.max_concurrent);
    assert_eq!(s.storage_path, c.storage_path);
}

#[test]
fn jobs_survive_a_restart_and_unfinished_ones_fail_honestly() {
    let r = rig();
    let done = r.run(install(&[("c", None)]));
    let store = Store::open(&r.settings.storage_path).unwrap();
    let stored = |status: JobStatus, boot: &str| {
        let mut j = Job::new(Uuid::new_v4(), remove("a"), now());
        j.status = status;
        j.boot_id = Some(boot.into());
        j.revision = 1;
        store.save(&j).unwrap();
        j.id
    };
    let same_boot = stored(JobStatus::Running, "boot-1");
    let old_boot = stored(JobStatus::Running, "boot-0");
    let queued = stored(JobStatus::Pending, "boot-1");
    r.engine.shutdown(Duration::from_secs(1));
    let calls = r.fake.calls.lock().unwrap().len();

    let again = Engine::start_with_boot_id(
        r.settings.clone(),
        r.inventory.clone(),
        Events::new(),
        Some("boot-1".into()),
    )
    .unwrap();
    let back = again.get(&done.id).unwrap();
    assert_eq!(record(&back), record(&done));
    let msg = |id: &Uuid| {
        let j = again.get(id).unwrap();
        assert_eq!(j.status, JobStatus::Failed);
        let e = j.error.unwrap();
        assert_eq!(e.code, "AGENT_RESTARTED");
        e.message
    };
    assert_eq!(
        msg(&same_boot),
        "the agent restarted while this job was running"
    );
    assert_eq!(
        msg(&old_boot),
        "the host rebooted while this job was running (boot id changed)"
    );
    assert_eq!(msg(&queued), "not started: the agent restarted");
    // Jobs cut off inside a transaction: the database is repaired, no stale job is run.
    let until = Instant::now() + Duration::from_secs(10);
    while r.fake.calls.lock().unwrap().len() == calls && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(
        r.fake.calls.lock().unwrap()[calls..],
        ["repair".to_string()]
    );
    let reported = [same_boot, old_boot].iter().any(|id| {
        messages(&again.get(id).unwrap())
            .contains(&"repair: configured 1 half-installed package".to_string())
    });
    assert!(reported, "the repair is not in an interrupted job's log");
    assert_eq!(r.fake.version("a").as_deref(), Some("1"));
    // The recovery itself was persisted.
    let on_disk = store.load();
    let q = on_disk.iter().find(|j| j.id == queued).unwrap();
    assert_eq!(q.status, JobStatus::Failed);
    again.shutdown(Duration::from_secs(1));
}

#[test]
fn shutdown_lets_the_running_job_finish_and_fails_queued_ones() {
    let r = rig_with(|s| s.max_concurrent = 1);
    *r.fake.delay.lock().unwrap() = Duration::from_millis(150);
    let running = r.engine.submit(install(&[("c", None)])).unwrap();
    r.wait_in_tool("install");
    let queued = r.engine.submit(remove("b")).unwrap();
    r.engine.shutdown(Duration::from_secs(3));
    assert_eq!(
        r.engine.get(&running.id).unwrap().status,
        JobStatus::Completed
    );
    let q = r.engine.get(&queued.id).unwrap();
    assert_eq!(q.status, JobStatus::Failed);
    assert_eq!(
        q.error.unwrap().message,
        "not started: the agent is shutting down"
    );
    assert!(matches!(
        r.engine.submit(remove("b")),
        Err(EngineError::Storage(_))
    ));
    assert_eq!(r.fake.version("b").as_deref(), Some("1"));
}
