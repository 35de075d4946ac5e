//! The job scenarios every backend runs against its REAL package manager inside a sandbox
//! root (tests/jobs_sandbox.rs: apt, dnf, zypper, pacman; tests/apk_sandbox.rs: apk-tools 2
//! and 3): exact versions, updates, downgrades, remove and purge, rollback of each, cancel,
//! timeout, a crash mid-job, 20 concurrent jobs, WebSocket events and a graceful stop.
//! Versions are written as the deb/rpm/pacman fixtures spell them and mapped by `Tool::ver`.
// Shared by several test binaries, each of which uses a part.
#![allow(dead_code)]

use std::time::Duration;

use crate::common::jobs::*;
use crate::common::*;
use serde_json::{json, Value};

/// Install, update, downgrade, remove, purge, each rolled back; refusals; cancel.
pub fn lifecycle(tool: &Tool) {
    let env = Env::new(&format!("jobs-{}", tool.backend));
    let mut sb = (tool.sandbox)(&format!("jobs-{}", tool.backend));
    (tool.setup)(&mut sb);
    let agent = sb.start_agent(&env, &agent_config(tool, ""));
    let v = |name| (tool.version)(&sb, name);
    let fv = tool.ver;
    let ch = |n: &str, b: Option<&str>, a: Option<&str>| {
        change(n, b.map(fv).as_deref(), a.map(fv).as_deref())
    };

    // Install exact versions.
    let j = install_old(tool, &agent, &env);
    assert_eq!(
        changes(&j),
        [
            ch("lpa-hello", None, Some("1.0-1")),
            ch("lpa-lib", None, Some("1.0-1"))
        ]
    );
    assert_eq!(
        (v("lpa-hello"), v("lpa-lib")),
        (Some(fv("1.0-1")), Some(fv("1.0-1")))
    );

    // Unknown package and unknown version are refused before any job exists.
    let r = call(
        &agent,
        &env,
        "POST",
        "/api/v1/packages",
        Some(json!({"packages": [{"name": "lpa-nope"}]})),
    );
    assert_error(&r, 404, "PKG_NOT_FOUND");
    let r = call(
        &agent,
        &env,
        "PUT",
        "/api/v1/packages/lpa-hello",
        Some(json!({"version": fv("9.9-1")})),
    );
    assert_error(&r, 400, "PKG_VERSION_CONFLICT");

    // Update with no body at all (the manager's PUT): the newest candidate.
    let r = request(
        agent.addr,
        env.client_config(),
        "PUT",
        "/api/v1/packages/lpa-hello",
        None,
    );
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    let id = assert_envelope(&r)["data"]["job_id"]
        .as_str()
        .unwrap()
        .to_string();
    let j = completed(&agent, &env, &id);
    assert!(
        changes(&j).contains(&ch("lpa-hello", Some("1.0-1"), Some("2.0-1"))),
        "{j}"
    );
    assert_eq!(v("lpa-hello"), Some(fv("2.0-1")));

    // Downgrade: refused without allow_downgrade, done with it, and rolled back.
    let r = call(
        &agent,
        &env,
        "PUT",
        "/api/v1/packages/lpa-hello",
        Some(json!({"version": fv("1.1-1")})),
    );
    assert_error(&r, 400, "PKG_VERSION_CONFLICT");
    assert_eq!(
        v("lpa-hello"),
        Some(fv("2.0-1")),
        "a refused downgrade changes nothing"
    );
    // What the administrator asked for (apk's world), to compare after each rollback.
    let world = || tool.world.map(|w| w(&sb));
    let before_down = world();
    let down = submit(
        &agent,
        &env,
        "PUT",
        "/api/v1/packages/lpa-hello",
        Some(json!({"version": fv("1.1-1"), "options": {"allow_downgrade": true}})),
    );
    let j = completed(&agent, &env, &down);
    assert!(
        changes(&j).contains(&ch("lpa-hello", Some("2.0-1"), Some("1.1-1"))),
        "{j}"
    );
    assert_eq!(v("lpa-hello"), Some(fv("1.1-1")));
    rollback(&agent, &env, &down);
    assert_eq!(
        v("lpa-hello"),
        Some(fv("2.0-1")),
        "rollback of the downgrade"
    );
    assert_eq!(
        world(),
        before_down,
        "rollback of the downgrade restores world"
    );

    // Remove, then roll it back; the rollback of the rollback removes again.
    let before_rm = world();
    let rm = submit(&agent, &env, "DELETE", "/api/v1/packages/lpa-hello", None);
    let j = completed(&agent, &env, &rm);
    assert_eq!(changes(&j), [ch("lpa-hello", Some("2.0-1"), None)]);
    assert_eq!(v("lpa-hello"), None);
    let conf = sb.root().join("etc/lpa-hello.conf");
    assert_eq!(
        conf.exists(),
        tool.remove_keeps_conffile,
        "conffile after a plain remove"
    );
    let back = rollback(&agent, &env, &rm);
    assert_eq!(v("lpa-hello"), Some(fv("2.0-1")), "rollback of the remove");
    assert_eq!(world(), before_rm, "rollback of the remove restores world");
    let back_id = back["job_id"].as_str().unwrap().to_string();
    rollback(&agent, &env, &back_id);
    assert_eq!(v("lpa-hello"), None, "rollback of the rollback");
    rollback(&agent, &env, &rm);
    assert_eq!(v("lpa-hello"), Some(fv("2.0-1")));

    // Purge removes the configuration file; its rollback reinstalls.
    let purge = submit(
        &agent,
        &env,
        "DELETE",
        "/api/v1/packages/lpa-hello?purge=true",
        None,
    );
    completed(&agent, &env, &purge);
    assert!(!conf.exists(), "purge removes the conffile");
    rollback(&agent, &env, &purge);
    assert_eq!(v("lpa-hello"), Some(fv("2.0-1")));
    assert!(conf.exists());
    (tool.consistent)(&sb);

    // Cancel a running job (lpa-slow's install script sleeps 30 s).
    let slow = submit(
        &agent,
        &env,
        "POST",
        "/api/v1/packages",
        Some(json!({"packages": ["lpa-slow"]})),
    );
    assert!(eventually(Duration::from_secs(60), || job(
        &agent, &env, &slow
    )["status"]
        == "running"));
    std::thread::sleep(Duration::from_secs(2));
    let r = call(
        &agent,
        &env,
        "DELETE",
        &format!("/api/v1/jobs/{slow}"),
        None,
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let d = assert_envelope(&r)["data"].clone();
    assert_eq!(d["previous_status"], "running", "{d}");
    // The answer waits a bounded time; a repair that re-runs the slow script may outlast it.
    match d["action"].as_str() {
        Some("cancelled") => assert_eq!(d["current_status"], "cancelled", "{d}"),
        Some("cancelling") => assert_eq!(d["current_status"], "running", "{d}"),
        other => panic!("unexpected action {other:?}: {d}"),
    }
    let j = wait(&agent, &env, &slow, Duration::from_secs(120));
    assert_eq!(j["status"], "cancelled", "{j}");
    assert_eq!(j["error_code"], "JOB_CANCELLED", "{j}");
    (tool.consistent)(&sb);

    // A finished job is deleted by DELETE.
    let r = call(
        &agent,
        &env,
        "DELETE",
        &format!("/api/v1/jobs/{purge}"),
        None,
    );
    assert_eq!(assert_envelope(&r)["data"]["action"], "deleted");
    assert_error(
        &call(&agent, &env, "GET", &format!("/api/v1/jobs/{purge}"), None),
        404,
        "JOB_NOT_FOUND",
    );

    // The job list knows the rest.
    let r = call(
        &agent,
        &env,
        "GET",
        "/api/v1/jobs?operation=rollback&sort=created_at&order=asc",
        None,
    );
    let list = assert_envelope(&r)["data"].clone();
    assert!(list["total"].as_u64().unwrap() >= 4, "{list}");
    assert!(list["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .all(|j| j["operation"] == "rollback"));

    // No job ran its tool with the sandbox dropped: apt warns when user `_apt` cannot reach
    // the directory it downloads into (the rollback cache), and so would every other job.
    let r = call(&agent, &env, "GET", "/api/v1/jobs?limit=100", None);
    let all = assert_envelope(&r)["data"]["jobs"].clone();
    for entry in all.as_array().unwrap() {
        let j = job(&agent, &env, entry["job_id"].as_str().unwrap());
        let text = format!("{}\n{}", j["output"], j["logs"]);
        assert!(
            !text.contains("unsandboxed"),
            "job {} ran unsandboxed: {text}",
            j["job_id"]
        );
    }
}

/// Installs lpa-slow afresh and returns once the job runs its 30 s script: whatever an
/// earlier step left installed is removed first, since pacman runs post_install only on an
/// install, not on a reinstall.
pub fn timeout_and_crash(tool: &Tool) {
    let env = Env::new(&format!("jobs-crash-{}", tool.backend));
    let mut sb = (tool.sandbox)(&format!("jobs-crash-{}", tool.backend));
    (tool.setup)(&mut sb);
    let extra = agent_config(
        tool,
        "jobs:\n  timeout_seconds: 5\n  cancel_grace_seconds: 2\n",
    );
    let mut agent = sb.start_agent(&env, &extra);

    let tool_job = submit(
        &agent,
        &env,
        "POST",
        "/api/v1/packages",
        Some(json!({"packages": ["lpa-tool"]})),
    );
    completed(&agent, &env, &tool_job);
    let slow = submit(
        &agent,
        &env,
        "POST",
        "/api/v1/packages",
        Some(json!({"packages": ["lpa-slow"]})),
    );
    let j = wait(&agent, &env, &slow, Duration::from_secs(120));
    assert_eq!(j["status"], "timeout", "{j}");
    assert_eq!(j["error_code"], "JOB_TIMEOUT", "{j}");
    (tool.consistent)(&sb);

    // A crash of the agent mid-job: the job is failed on restart, with the reason; others intact.
    let crash = slow_install_running(&agent, &env);
    agent.kill_agent_process();
    drop(agent);
    let agent = sb.start_agent(&env, &extra);
    let j = job(&agent, &env, &crash);
    assert_eq!(j["status"], "failed", "{j}");
    assert!(
        j["error"]
            .as_str()
            .unwrap_or_default()
            .contains("restarted"),
        "{j}"
    );
    assert_eq!(job(&agent, &env, &tool_job)["status"], "completed");
    assert_eq!(job(&agent, &env, &slow)["status"], "timeout");
}

pub fn twenty_at_once(tool: &Tool) {
    let env = Env::new(&format!("jobs-many-{}", tool.backend));
    let mut sb = (tool.sandbox)(&format!("jobs-many-{}", tool.backend));
    (tool.setup)(&mut sb);
    let extra = agent_config(tool, "");
    let agent = sb.start_agent(&env, &extra);
    let (addr, cfg) = (agent.addr, env.client_config());
    let ids: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..20)
            .map(|i| {
                let cfg = cfg.clone();
                s.spawn(move || {
                    // Two packages, reinstalled alternately: every job is a real transaction.
                    let name = if i % 2 == 0 { "lpa-tool" } else { "lpa-lib" };
                    let body = json!({"packages": [name], "options": {"force": true}}).to_string();
                    let r = request(addr, cfg, "POST", "/api/v1/packages", Some(&body));
                    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
                    r.json()["data"]["job_id"].as_str().unwrap().to_string()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for id in &ids {
        completed(&agent, &env, id);
    }
    // The tool's own log: every transaction closes before the next one opens.
    if let Some((log, open, close)) = tool.transaction_log {
        let text = std::fs::read_to_string(sb.root().join(log)).unwrap();
        let marks: Vec<bool> = text
            .lines()
            .filter_map(|l| {
                if l.contains(open) {
                    Some(true)
                } else if l.contains(close) {
                    Some(false)
                } else {
                    None
                }
            })
            .collect();
        assert!(marks.len() >= 40, "20 transactions logged: {marks:?}");
        for pair in marks.chunks(2) {
            assert_eq!(
                pair,
                [true, false],
                "transactions interleaved in {log}:\n{text}"
            );
        }
    }
    (tool.consistent)(&sb);
}

/// Job events over the WebSocket stream for real jobs, with and without a subscription;
/// then SIGTERM while a package transaction runs: the agent waits for it to finish.
pub fn websocket_and_graceful_stop(tool: &Tool) {
    let env = Env::new(&format!("jobs-ws-{}", tool.backend));
    let mut sb = (tool.sandbox)(&format!("jobs-ws-{}", tool.backend));
    (tool.setup)(&mut sb);
    let extra = agent_config(tool, "");
    let mut agent = sb.start_agent(&env, &extra);

    let (mut everything, _) = ws_connect(agent.addr, env.client_config()).unwrap();
    let (mut narrowed, _) = ws_connect(agent.addr, env.client_config()).unwrap();
    // A job may wait out lpa-slow's 30 s script between two frames.
    for ws in [&everything, &narrowed] {
        ws.get_ref()
            .sock
            .set_read_timeout(Some(Duration::from_secs(120)))
            .unwrap();
    }
    // A ping answered means every earlier message of this session was handled.
    let barrier = |ws: &mut Ws| {
        ws_send(ws, r#"{"type":"ping"}"#);
        while ws_next_json(ws)["type"] != "pong" {}
    };
    // Narrow to a job that does not exist yet: from now on, only subscribed jobs arrive.
    let nobody = json!({"type": "subscribe", "job_id": uuid::Uuid::new_v4().to_string()});
    ws_send(&mut narrowed, &nobody.to_string());
    barrier(&mut narrowed);
    // The slow install holds the package lock, so the second job waits while we subscribe.
    let slow = submit(
        &agent,
        &env,
        "POST",
        "/api/v1/packages",
        Some(json!({"packages": ["lpa-slow"]})),
    );
    let quick = submit(
        &agent,
        &env,
        "POST",
        "/api/v1/packages",
        Some(json!({"packages": ["lpa-tool"]})),
    );
    ws_send(
        &mut narrowed,
        &json!({"type": "subscribe", "job_id": quick}).to_string(),
    );

    let frames_until_complete = |ws: &mut Ws, id: &str| -> Vec<Value> {
        let mut seen = Vec::new();
        loop {
            let f = ws_next_json(ws);
            let done = f["type"] == "job_complete" && f["job_id"] == id;
            seen.push(f);
            if done {
                return seen;
            }
        }
    };
    let narrow_frames = frames_until_complete(&mut narrowed, &quick);
    assert!(
        narrow_frames.iter().all(|f| f["job_id"] == quick.as_str()),
        "only the subscribed job: {narrow_frames:?}"
    );
    let all_frames = frames_until_complete(&mut everything, &quick);
    for (id, frames) in [
        (&quick, &narrow_frames),
        (&quick, &all_frames),
        (&slow, &all_frames),
    ] {
        let mine: Vec<&Value> = frames
            .iter()
            .filter(|f| f["job_id"] == id.as_str())
            .collect();
        let completes = mine.iter().filter(|f| f["type"] == "job_complete").count();
        assert_eq!(completes, 1, "one job_complete for {id}: {mine:?}");
        let last = mine.last().unwrap();
        assert_eq!(
            (last["type"].as_str(), last["status"].as_str()),
            (Some("job_complete"), Some("completed"))
        );
        let progress: Vec<u64> = mine
            .iter()
            .map(|f| f["progress_percent"].as_u64().unwrap())
            .collect();
        assert!(
            progress.windows(2).all(|w| w[0] <= w[1]),
            "progress in order: {progress:?}"
        );
        assert!(
            mine.iter().all(|f| f["payload"]["job_id"] == id.as_str()),
            "payload carries the job too"
        );
        assert!(
            mine.iter()
                .any(|f| f["type"] == "job_status" && f["status"] == "running"),
            "{mine:?}"
        );
    }

    // SIGTERM during a transaction: the agent finishes it before exiting, and says so.
    let during = slow_install_running(&agent, &env);
    agent.signal_agent(libc::SIGTERM);
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        agent.try_exit().is_none(),
        "the agent must not exit while the package transaction runs"
    );
    let mut status = None;
    assert!(eventually(Duration::from_secs(120), || {
        status = agent.try_exit();
        status.is_some()
    }));
    assert!(
        status.unwrap().success(),
        "graceful stop exits 0: {status:?}\n{}",
        agent.log_text()
    );
    let first_log = agent.log_text();
    drop(agent);
    let agent = sb.start_agent(&env, &extra);
    let j = job(&agent, &env, &during);
    assert_eq!(
        j["status"], "completed",
        "the transaction was allowed to finish: {j}\nagent log before the stop:\n{first_log}"
    );
    (tool.consistent)(&sb);
}
