//! The Patch Manager's shape against REAL apt in a sandbox (issue 14, 1b): with 133
//! upgradable packages, more than one page of the specification, and a job that times out.
//!
//! compat.patch_manager true: `GET /packages?status=upgradable` and `GET /patches` without
//! `limit` hold all 133, an explicit `limit=50` gives 50, and the timed-out job is `failed`
//! with `JOB_TIMEOUT` in REST and in the flat WebSocket fields (the frame's `payload` keeps
//! the specification's `timeout`). After a reload with `false`: pages of 100 and `timeout`.
//! Needs root (CI is root).

mod common;

use std::time::Duration;

use common::jobs::{call, job, submit, wait};
use common::sandbox::{fixtures, Sandbox, SandboxAgent};
use common::*;
use serde_json::{json, Value};

/// The upgradable packages the fixture builds (`tests/sandbox/fixtures-deb-many.sh`).
const MANY: usize = 133;
/// Where the sandbox agent reads its configuration.
const CONFIG: &str = "etc/linux_patch_api/config.yaml";

/// `GET path` answered 200; returns `data`.
fn data(agent: &SandboxAgent, env: &Env, path: &str) -> Value {
    let r = call(agent, env, "GET", path, None);
    assert_eq!(
        r.status,
        200,
        "{path}: {}\n{}",
        String::from_utf8_lossy(&r.body),
        agent.log_text()
    );
    assert_envelope(&r)["data"].clone()
}

/// The number of entries in `data[key]` and `data.total`.
fn counted(agent: &SandboxAgent, env: &Env, path: &str, key: &str) -> (usize, u64) {
    let d = data(agent, env, path);
    let list = d[key].as_array().unwrap_or_else(|| panic!("{path}: {d}"));
    (list.len(), d["total"].as_u64().unwrap_or_default())
}

/// The 133 `lpa-many-*` packages installed at 1.0-1 with 1.1-1 in a repository, plus the
/// usual fixture repositories (for `lpa-slow`, whose script outlasts the job timeout).
fn sandbox_with_many_updates() -> Sandbox {
    let many = fixtures("deb-many");
    let mut sb = Sandbox::new("manager-compat");
    sb.bind(many, "/srv/lpa-many");
    sb.write(
        "/etc/apt/sources.list.d/lpa-many.list",
        &std::fs::read_to_string(many.join("sources.list")).unwrap(),
    );
    sb.run("dpkg", &["--recursive", "--install", "/srv/lpa-many/old"]);
    sb.with_deb_repos();
    sb
}

/// Reads WebSocket frames until `id`'s `job_complete`, which it returns.
fn completion_frame(ws: &mut Ws, id: &str) -> Value {
    loop {
        let f = ws_next_json(ws);
        if f["type"] == "job_complete" && f["job_id"] == id {
            return f;
        }
    }
}

#[test]
fn the_manager_sees_every_update_and_a_timeout_as_failed() {
    require_sandbox!();
    let env = Env::new("manager-compat");
    let mut sb = sandbox_with_many_updates();
    let extra = "package_manager:\n  backend: apt\nrate_limits:\n  enabled: false\n\
                 jobs:\n  timeout_seconds: 5\n  cancel_grace_seconds: 2\n\
                 compat:\n  patch_manager: true\n";
    let agent = sb.start_agent(&env, extra);

    // No default page for the manager; an explicit limit keeps its meaning.
    let upgradable = "/api/v1/packages?status=upgradable";
    assert_eq!(
        counted(&agent, &env, upgradable, "packages"),
        (MANY, MANY as u64)
    );
    let d = data(&agent, &env, upgradable);
    assert!(
        d["packages"].as_array().unwrap().iter().all(
            |p| p["upgradable"] == true && p["name"].as_str().unwrap().starts_with("lpa-many-")
        ),
        "{d}"
    );
    assert_eq!(
        counted(&agent, &env, &format!("{upgradable}&limit=50"), "packages"),
        (50, MANY as u64)
    );
    assert_eq!(
        counted(&agent, &env, "/api/v1/patches", "patches"),
        (MANY, MANY as u64)
    );
    assert_eq!(
        counted(&agent, &env, "/api/v1/patches?limit=50", "patches"),
        (50, MANY as u64)
    );

    // A job that times out: failed with JOB_TIMEOUT, in REST and in the flat frame fields.
    let (mut ws, _) = ws_connect(agent.addr, env.client_config()).unwrap();
    ws.get_ref()
        .sock
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    let slow = submit(
        &agent,
        &env,
        "POST",
        "/api/v1/packages",
        Some(json!({"packages": ["lpa-slow"]})),
    );
    let j = wait(&agent, &env, &slow, Duration::from_secs(120));
    assert_eq!(j["status"], "failed", "{j}");
    assert_eq!(j["error_code"], "JOB_TIMEOUT", "{j}");
    let listed = data(&agent, &env, "/api/v1/jobs");
    let entry = listed["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["job_id"] == slow.as_str())
        .cloned()
        .unwrap_or_else(|| panic!("job listed: {listed}"));
    assert_eq!(entry["status"], "failed", "{entry}");
    assert_eq!(entry["error_code"], "JOB_TIMEOUT", "{entry}");
    let frame = completion_frame(&mut ws, &slow);
    assert_eq!(frame["status"], "failed", "{frame}");
    assert_eq!(frame["error_code"], "JOB_TIMEOUT", "{frame}");
    assert_eq!(
        frame["payload"]["status"], "timeout",
        "the payload keeps the specification's shape: {frame}"
    );

    // Reloaded with false: the specification's page of 100 and its `timeout` status.
    let path = sb.root().join(CONFIG);
    let config = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        config.replace("patch_manager: true", "patch_manager: false"),
    )
    .unwrap();
    agent.signal_agent(libc::SIGHUP);
    let reloaded = eventually(Duration::from_secs(30), || {
        data(&agent, &env, "/api/v1/system/info")["os"].is_object()
    });
    assert!(
        reloaded,
        "the reload switched shapes:\n{}",
        agent.log_text()
    );
    assert_eq!(
        counted(&agent, &env, upgradable, "packages"),
        (100, MANY as u64)
    );
    assert_eq!(
        counted(&agent, &env, "/api/v1/patches", "patches"),
        (100, MANY as u64)
    );
    let j = job(&agent, &env, &slow);
    assert_eq!(j["status"], "timeout", "{j}");
    assert_eq!(j["error_code"], "JOB_TIMEOUT", "{j}");
    assert!(
        agent
            .log_text()
            .contains("serving the specification's shape: compat.patch_manager is false"),
        "{}",
        agent.log_text()
    );
}
