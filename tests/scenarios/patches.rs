//! The patch scenarios' helpers every backend's patch tests share (tests/patches_sandbox.rs,
//! tests/apk_sandbox.rs): fixture feeds, the patch list, applying, a stand-in reboot command.
// Shared by several test binaries, each of which uses a part.
#![allow(dead_code)]

use std::path::Path;

use crate::common::jobs::*;
use crate::common::sandbox::{Sandbox, SandboxAgent};
use crate::common::*;
use serde_json::{json, Value};

/// The stand-in reboot command: appends `UNIX-SECONDS ARGS` to /var/tmp/reboots.
pub const FAKE_REBOOT: &str =
    "#!/bin/sh\necho \"$(date +%s) $*\" >> /var/tmp/reboots\necho 'reboot scheduled'\n";

/// Config lines pointing the agent at the stand-in reboot command.
pub const REBOOT_CONFIG: &str = "system:\n  reboot_command: [/usr/local/sbin/fake-reboot, --now]\n";

pub fn install_fake_reboot(sb: &Sandbox) {
    sb.write_executable("/usr/local/sbin/fake-reboot", FAKE_REBOOT);
}

/// The recorded reboots: (unix seconds, arguments).
pub fn reboots(sb: &Sandbox) -> Vec<(i64, String)> {
    std::fs::read_to_string(sb.root().join("var/tmp/reboots"))
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let (t, args) = l.split_once(' ').unwrap();
            (t.parse().unwrap(), args.to_string())
        })
        .collect()
}

/// Copies a fixture feed into the sandbox; returns its path inside.
pub fn install_feed(sb: &Sandbox, name: &str) -> String {
    let host = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sandbox/feeds")
        .join(name);
    let inside = format!("/var/lib/linux-patch-api/feeds/{name}");
    sb.write(&inside, &std::fs::read_to_string(host).unwrap());
    inside
}

/// `GET /api/v1/patches?query`: the envelope's data.
pub fn patches(agent: &SandboxAgent, env: &Env, query: &str) -> Value {
    let path = if query.is_empty() {
        "/api/v1/patches".to_string()
    } else {
        format!("/api/v1/patches?{query}")
    };
    get_data(agent, env, &path)
}

pub fn ids(data: &Value) -> Vec<String> {
    data["patches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect()
}

pub fn patch<'a>(data: &'a Value, id: &str) -> &'a Value {
    data["patches"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == id)
        .unwrap_or_else(|| panic!("no patch {id} in {data}"))
}

/// Applies with `body`; returns the 202 data and the finished job.
pub fn apply(agent: &SandboxAgent, env: &Env, body: Value) -> (Value, Value) {
    let r = call(
        agent,
        env,
        "POST",
        "/api/v1/patches/apply",
        Some(body.clone()),
    );
    assert_eq!(
        r.status,
        202,
        "{body}: {}",
        String::from_utf8_lossy(&r.body)
    );
    let accepted = assert_envelope(&r)["data"].clone();
    assert_eq!(accepted["operation"], "patch_apply");
    let id = accepted["job_id"].as_str().unwrap().to_string();
    (accepted, completed(agent, env, &id))
}

pub fn system_info(agent: &SandboxAgent, env: &Env) -> Value {
    let r = call(agent, env, "GET", "/api/v1/system/info", None);
    assert_eq!(r.status, 200);
    assert_envelope(&r)["data"].clone()
}

/// Checks one listed patch: severity, CVE ids, reboot flag and its one package update.
pub fn expect_patch(
    data: &Value,
    id: &str,
    severity: &str,
    cves: &[&str],
    reboot: bool,
    package: (&str, &str, &str),
) {
    let p = patch(data, id);
    assert_eq!(p["severity"], severity, "{p}");
    assert_eq!(p["cve_ids"], json!(cves), "{p}");
    assert_eq!(p["requires_reboot"], reboot, "{p}");
    assert_eq!(p["status"], "available", "{p}");
    assert_eq!(p["affected_packages"], json!([package.0]), "{p}");
    assert_eq!(p["current_version"], package.1, "{p}");
    assert_eq!(p["available_version"], package.2, "{p}");
    assert!(p["name"].is_string() && p["description"].is_string(), "{p}");
}

pub fn job_detail(agent: &SandboxAgent, env: &Env, id: &str) -> Value {
    let r = call(agent, env, "GET", &format!("/api/v1/jobs/{id}"), None);
    assert_envelope(&r)["data"].clone()
}
