//! The job API as the sandbox tests drive it: the package tools set up inside a sandbox,
//! and requests that submit, poll and check jobs against a sandboxed agent.

use std::time::Duration;

use serde_json::{json, Value};

use super::sandbox::{Sandbox, SandboxAgent};
use super::*;

/// How one package manager is set up and asked about its state.
pub struct Tool {
    pub backend: &'static str,
    /// A fresh sandbox root for the tool (`Sandbox::new`: the Debian base root).
    pub sandbox: fn(&str) -> Sandbox,
    /// A fixture version (`1.0-1`, as the deb/rpm/pacman fixtures spell it) as this tool's
    /// fixtures spell it (apk: `1.0-r0`).
    pub ver: fn(&str) -> String,
    /// Configures the fixture repositories inside the sandbox.
    pub setup: fn(&mut Sandbox),
    /// The installed version of a package as the tool itself reports it.
    pub version: fn(&Sandbox, &str) -> Option<String>,
    /// Asserts the package database is consistent (nothing half-installed).
    pub consistent: fn(&Sandbox),
    /// Whether a plain remove keeps configuration files (dpkg's `rc` state).
    pub remove_keeps_conffile: bool,
    /// The tool's own transaction log, with the lines that open and close a transaction.
    pub transaction_log: Option<(&'static str, &'static str, &'static str)>,
    /// The list of what the administrator asked for, when the tool keeps one (apk's
    /// /etc/apk/world): an exact rollback restores it as it was before the job.
    pub world: Option<fn(&Sandbox) -> String>,
}

/// A version string unchanged (every fixture set but apk's).
pub fn same_version(v: &str) -> String {
    v.to_string()
}

pub fn stdout(sb: &Sandbox, program: &str, args: &[&str]) -> (bool, String) {
    let out = sb.command(program, args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
    )
}

pub const APT: Tool = Tool {
    sandbox: Sandbox::new,
    ver: same_version,
    backend: "apt",
    setup: Sandbox::with_deb_repos,
    version: |sb, name| {
        let (ok, out) = stdout(
            sb,
            "dpkg-query",
            &["-W", "-f", "${db:Status-Abbrev} ${Version}", name],
        );
        // `hi`: installed and held (apt-mark hold).
        (ok && (out.starts_with("ii ") || out.starts_with("hi ")))
            .then(|| out[3..].trim().to_string())
    },
    consistent: |sb| {
        let (_, audit) = stdout(sb, "dpkg", &["--audit"]);
        assert!(audit.is_empty(), "dpkg --audit reports: {audit}");
    },
    remove_keeps_conffile: true,
    transaction_log: Some(("var/log/apt/history.log", "Start-Date:", "End-Date:")),
    world: None,
};

pub fn rpm_version(sb: &Sandbox, name: &str) -> Option<String> {
    let (ok, out) = stdout(sb, "rpm", &["-q", "--qf", "%{VERSION}-%{RELEASE}", name]);
    ok.then_some(out)
}

pub fn rpm_consistent(sb: &Sandbox) {
    let (ok, out) = stdout(sb, "rpm", &["-qa"]);
    assert!(ok, "rpm -qa fails: {out}");
}

pub fn rpm_setup(sb: &mut Sandbox) {
    sb.with_rpm_repo();
}

pub const DNF: Tool = Tool {
    sandbox: Sandbox::new,
    ver: same_version,
    backend: "dnf",
    // dnf's metadata cache filled, as on a host (dnf-makecache.timer) and as zypper's
    // refresh and pacman's -Sy fill theirs.
    setup: |sb| {
        rpm_setup(sb);
        sb.run("dnf", &["-q", "makecache"]);
    },
    version: rpm_version,
    consistent: rpm_consistent,
    remove_keeps_conffile: false,
    transaction_log: None,
    world: None,
};

pub const ZYPPER: Tool = Tool {
    sandbox: Sandbox::new,
    ver: same_version,
    backend: "zypper",
    setup: |sb| {
        rpm_setup(sb);
        sb.run("zypper", &["--non-interactive", "refresh"]);
    },
    version: rpm_version,
    consistent: rpm_consistent,
    remove_keeps_conffile: false,
    transaction_log: None,
    world: None,
};

pub const PACMAN: Tool = Tool {
    sandbox: Sandbox::new,
    ver: same_version,
    backend: "pacman",
    setup: |sb| {
        let fix = sb.with_pacman_repo();
        // Older versions are installable only from package files in the cache.
        let cache = sb.root().join("var/cache/pacman/pkg");
        std::fs::create_dir_all(&cache).unwrap();
        for f in std::fs::read_dir(fix.join("pkgs")).unwrap().flatten() {
            std::fs::copy(f.path(), cache.join(f.file_name())).unwrap();
        }
        sb.run("pacman", &["--noconfirm", "-Sy"]);
    },
    version: |sb, name| {
        let (ok, out) = stdout(sb, "pacman", &["-Q", name]);
        ok.then(|| {
            out.split_whitespace()
                .nth(1)
                .unwrap_or_default()
                .to_string()
        })
    },
    consistent: |sb| {
        assert!(
            !sb.root().join("var/lib/pacman/db.lck").exists(),
            "stale pacman lock left"
        );
        let (ok, out) = stdout(sb, "pacman", &["-Dk"]);
        assert!(ok, "pacman -Dk: {out}");
    },
    remove_keeps_conffile: false,
    transaction_log: Some((
        "var/log/pacman.log",
        "[ALPM] transaction started",
        "[ALPM] transaction completed",
    )),
    world: None,
};

/// The agent's config for `tool`: its backend, no rate limits (the tests poll jobs ten
/// times a second), plus `extra`.
pub fn agent_config(tool: &Tool, extra: &str) -> String {
    format!(
        "package_manager:\n  backend: {}\nrate_limits:\n  enabled: false\n{extra}",
        tool.backend
    )
}

pub fn call(
    agent: &SandboxAgent,
    env: &Env,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> HttpResponse {
    let text = body.map(|b| b.to_string());
    request(
        agent.addr,
        env.client_config(),
        method,
        path,
        text.as_deref(),
    )
}

/// Submits a job and returns its id, requiring 202 with the specification's fields.
pub fn submit(
    agent: &SandboxAgent,
    env: &Env,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> String {
    let r = call(agent, env, method, path, body);
    assert_eq!(
        r.status,
        202,
        "{method} {path}: {}\n{}",
        String::from_utf8_lossy(&r.body),
        agent.log_text()
    );
    let v = assert_envelope(&r);
    assert_eq!(v["data"]["status"], "pending");
    assert!(v["data"]["operation"].is_string() && v["data"]["created_at"].is_string());
    v["data"]["job_id"].as_str().unwrap().to_string()
}

/// `GET path`, requiring 200 with the envelope: its data.
pub fn get_data(agent: &SandboxAgent, env: &Env, path: &str) -> Value {
    let r = call(agent, env, "GET", path, None);
    assert_eq!(
        r.status,
        200,
        "{path}: {}",
        String::from_utf8_lossy(&r.body)
    );
    assert_envelope(&r)["data"].clone()
}

pub fn job(agent: &SandboxAgent, env: &Env, id: &str) -> Value {
    get_data(agent, env, &format!("/api/v1/jobs/{id}"))
}

/// Polls a job until it is final; progress must never go down.
pub fn wait(agent: &SandboxAgent, env: &Env, id: &str, limit: Duration) -> Value {
    let mut last = 0;
    let mut result = Value::Null;
    let done = eventually(limit, || {
        let j = job(agent, env, id);
        let p = j["progress_percent"].as_u64().unwrap();
        assert!(p >= last, "progress went down from {last} to {p}");
        last = p;
        let terminal = ["completed", "failed", "cancelled", "timeout"]
            .contains(&j["status"].as_str().unwrap());
        result = j;
        terminal
    });
    assert!(
        done,
        "job {id} not finished in {limit:?}: {result}\n{}",
        agent.log_text()
    );
    result
}

pub fn completed(agent: &SandboxAgent, env: &Env, id: &str) -> Value {
    let j = wait(agent, env, id, Duration::from_secs(180));
    assert_eq!(j["status"], "completed", "{j}");
    assert_eq!(j["progress_percent"], 100);
    assert_eq!(j["result"]["success"], true, "{j}");
    assert!(j["started_at"].is_string() && j["completed_at"].is_string());
    assert!(j["logs"].as_array().is_some_and(|l| !l.is_empty()));
    assert!(j["output"].is_string());
    j
}

/// The job's `changes` as (name, before, after).
pub fn changes(j: &Value) -> Vec<(String, Option<String>, Option<String>)> {
    let mut v: Vec<_> = j["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let s = |k: &str| c[k].as_str().map(str::to_string);
            (s("name").unwrap(), s("before"), s("after"))
        })
        .collect();
    v.sort();
    v
}

pub fn change(
    name: &str,
    before: Option<&str>,
    after: Option<&str>,
) -> (String, Option<String>, Option<String>) {
    (
        name.to_string(),
        before.map(str::to_string),
        after.map(str::to_string),
    )
}

pub fn rollback(agent: &SandboxAgent, env: &Env, id: &str) -> Value {
    let rid = submit(
        agent,
        env,
        "POST",
        &format!("/api/v1/jobs/{id}/rollback"),
        Some(json!({})),
    );
    let j = completed(agent, env, &rid);
    assert_eq!(j["operation"], "rollback");
    assert_eq!(j["original_job_id"], id);
    j
}

/// Starts an install of `lpa-slow` (its script sleeps 30 s) and returns its job id once
/// the job runs.
pub fn slow_install_running(agent: &SandboxAgent, env: &Env) -> String {
    let r = call(agent, env, "DELETE", "/api/v1/packages/lpa-slow", None);
    if r.status == 202 {
        let id = assert_envelope(&r)["data"]["job_id"]
            .as_str()
            .unwrap()
            .to_string();
        completed(agent, env, &id);
    }
    let id = submit(
        agent,
        env,
        "POST",
        "/api/v1/packages",
        Some(json!({"packages": ["lpa-slow"]})),
    );
    let running = eventually(Duration::from_secs(60), || {
        job(agent, env, &id)["status"] == "running"
    });
    assert!(running, "the slow install never ran");
    id
}

/// One sandbox scenario at a time: they are whole package transactions each, and on two
/// cores a dozen at once would only measure the machine's load.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Installs the fixture packages lpa-lib and lpa-hello at 1.0-1 (in `tool`'s spelling)
/// through the agent (both then have updates: lpa-lib 1.1-1, lpa-hello up to 2.0-1).
pub fn install_old(tool: &Tool, agent: &SandboxAgent, env: &Env) -> Value {
    let old = (tool.ver)("1.0-1");
    let id = submit(
        agent,
        env,
        "POST",
        "/api/v1/packages",
        Some(
            json!({"packages": [{"name": "lpa-lib", "version": old}, {"name": "lpa-hello", "version": old}]}),
        ),
    );
    completed(agent, env, &id)
}
