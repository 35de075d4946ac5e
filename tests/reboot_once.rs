//! One pending reboot at a time (issue 17, point 8), against the real binary over mutual
//! TLS with a harmless reboot command: a repeated request gets the pending job back, a
//! different one is refused with `REBOOT_PENDING`, a cancelled one frees the slot, and
//! retention deletes finished reboot jobs like any other.

mod common;

use std::path::Path;
use std::time::Duration;

use common::agent_bin::AgentBin;
use common::*;
use serde_json::Value;

/// A stand-in reboot command appending a line to `reboots` beside itself.
fn reboot_script(dir: &Path) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("reboot.sh");
    let script = "#!/bin/sh\necho rebooted >> \"$(dirname \"$0\")/reboots\"\n";
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.display().to_string()
}

fn post(agent: &AgentBin, env: &Env, body: &str) -> HttpResponse {
    request(
        agent.addr,
        env.client_config(),
        "POST",
        "/api/v1/system/reboot",
        Some(body),
    )
}

fn job(agent: &AgentBin, env: &Env, id: &str) -> HttpResponse {
    request(
        agent.addr,
        env.client_config(),
        "GET",
        &format!("/api/v1/jobs/{id}"),
        None,
    )
}

fn reboot_jobs(agent: &AgentBin, env: &Env) -> Value {
    let r = request(
        agent.addr,
        env.client_config(),
        "GET",
        "/api/v1/jobs?operation=reboot",
        None,
    );
    assert_eq!(r.status, 200);
    assert_envelope(&r)["data"]["total"].clone()
}

#[test]
fn one_pending_reboot_answers_repeats_refuses_others_and_is_retained_like_any_job() {
    let env = Env::new("reboot-once");
    let script = reboot_script(env.dir.path());
    let extra = format!("rate_limits:\n  enabled: false\nsystem:\n  reboot_command: [{script}]\n");
    // Retention keeps one finished job: the older finished reboot job must go.
    let agent = AgentBin::start_edited(&env, &extra, |yaml| {
        yaml.replacen("jobs:\n", "jobs:\n  retention_max_jobs: 1\n", 1)
    });

    let body = r#"{"delay_seconds": 3600, "reason": "kernel update"}"#;
    let first = post(&agent, &env, body);
    assert_eq!(first.status, 202);
    let first = assert_envelope(&first)["data"].clone();
    let id = first["job_id"].as_str().unwrap().to_string();
    assert_eq!(first["delay_seconds"], 3600);

    // The same request again (a client retrying) is answered with the same job.
    for _ in 0..10 {
        let again = post(&agent, &env, body);
        assert_eq!(again.status, 202);
        let again = assert_envelope(&again)["data"].clone();
        assert_eq!(again["job_id"], first["job_id"]);
        assert_eq!(again["scheduled_at"], first["scheduled_at"]);
    }
    assert_eq!(reboot_jobs(&agent, &env), 1, "one reboot job, not eleven");

    // Asking something else is a conflict naming the pending job.
    for other in [
        r#"{"delay_seconds": 3600, "reason": "kernel update", "force": true}"#,
        r#"{"delay_seconds": 60, "reason": "kernel update"}"#,
        r#"{"delay_seconds": 3600}"#,
    ] {
        let refused = post(&agent, &env, other);
        let e = assert_error(&refused, 409, "REBOOT_PENDING")["error"].clone();
        assert_eq!(e["details"]["job_id"], first["job_id"], "{other}");
        assert_eq!(e["details"]["scheduled_at"], first["scheduled_at"]);
        assert!(e["message"].as_str().unwrap().contains(&id));
    }
    assert_eq!(reboot_jobs(&agent, &env), 1);

    // Cancelled, it frees the slot: the next request is a new job, which runs when due.
    let r = request(
        agent.addr,
        env.client_config(),
        "DELETE",
        &format!("/api/v1/jobs/{id}"),
        None,
    );
    assert_eq!(r.status, 200);
    let now = post(&agent, &env, r#"{"delay_seconds": 0}"#);
    assert_eq!(now.status, 202);
    let second = assert_envelope(&now)["data"]["job_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(second, id);
    assert!(
        eventually(Duration::from_secs(20), || {
            let r = job(&agent, &env, &second);
            r.status == 200 && assert_envelope(&r)["data"]["status"] == "completed"
        }),
        "the due reboot ran"
    );
    let reboots = std::fs::read_to_string(env.dir.path().join("reboots")).unwrap();
    assert_eq!(reboots.lines().count(), 1, "only the due reboot ran");

    // Retention (one finished job kept) deleted the cancelled reboot job and its record.
    assert_eq!(job(&agent, &env, &id).status, 404);
    assert!(!env.dir.path().join(format!("jobs/{id}.json")).exists());
    assert_eq!(reboot_jobs(&agent, &env), 1);
}
