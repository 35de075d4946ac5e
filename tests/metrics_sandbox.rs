//! `GET /metrics` and what needs a restart after patching, against the REAL apt, dnf,
//! zypper and pacman inside a sandbox root: the metrics agree with the answers the agent
//! gives for the same state (upgradable packages, security patches by severity, jobs by
//! status, the reboot signal), the request counters count exactly (the sandboxed agent is a
//! process of its own, answering only this test), and a patch job's result names the agent
//! itself once a library it maps (the sandbox's libc) was replaced the way a package upgrade
//! replaces files. Needs root (CI is root).

mod common;
#[path = "scenarios/patches.rs"]
mod scenarios;

use common::exposition::{self, Document};
use common::jobs::*;
use common::sandbox::{Sandbox, SandboxAgent};
use common::*;
use scenarios::*;
use serde_json::{json, Value};

/// The library every backend's agent maps in the Debian base root.
const LIBC: &str = "usr/lib/x86_64-linux-gnu/libc.so.6";

fn scrape(agent: &SandboxAgent, env: &Env) -> Document {
    let r = call(agent, env, "GET", "/metrics", None);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = String::from_utf8(r.body).unwrap();
    let doc = exposition::check(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    if let Some(verdict) = exposition::promtool(&text) {
        verdict.unwrap_or_else(|e| panic!("promtool check metrics: {e}\n{text}"));
    }
    doc
}

fn jobs_in(doc: &Document, status: &str) -> Option<f64> {
    doc.value("linux_patch_api_jobs", &[("status", status)])
}

fn requests(doc: &Document, class: &str) -> f64 {
    doc.value("linux_patch_api_http_requests_total", &[("code", class)])
        .unwrap()
}

/// `total` of `GET /api/v1/packages?status=upgradable`.
fn upgradable(agent: &SandboxAgent, env: &Env) -> f64 {
    let r = call(
        agent,
        env,
        "GET",
        "/api/v1/packages?status=upgradable",
        None,
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_envelope(&r)["data"]["total"].as_f64().unwrap()
}

/// The security patches of a patch list by severity, as the metric should count them.
fn security_by_severity(list: &Value) -> Vec<(String, f64)> {
    ["critical", "high", "low", "medium", "unknown"]
        .iter()
        .map(|sev| {
            let n = list["patches"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p["security"] == true && p["severity"] == *sev)
                .count();
            (sev.to_string(), n as f64)
        })
        .collect()
}

fn metric_by_severity(doc: &Document) -> Vec<(String, f64)> {
    let mut v: Vec<(String, f64)> = doc
        .family("linux_patch_api_security_updates_pending")
        .into_iter()
        .map(|(l, n)| (l[0].1.clone(), n))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// Replaces the sandbox's libc with a copy renamed over it, as dpkg, rpm and pacman
/// replace a file: same content, new inode. The running agent keeps the old one mapped.
fn replace_libc(sb: &Sandbox) {
    let path = sb.root().join(LIBC);
    let staged = sb.root().join(format!("{LIBC}.lpa-new"));
    std::fs::copy(&path, &staged).unwrap();
    std::fs::rename(&staged, &path).unwrap();
}

/// The entry of the agent itself in a restart-needed list, if there.
fn agent_entry(list: &Value) -> Option<&Value> {
    list["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["command"] == "linux-patch-api")
}

fn metrics_and_restart_needed(tool: &Tool, extra: &str) {
    let tag = format!("metrics-{}", tool.backend);
    let env = Env::new(&tag);
    let mut sb = (tool.sandbox)(&tag);
    (tool.setup)(&mut sb);
    let feed_config = match extra {
        "" => String::new(),
        feed => {
            let inside = install_feed(&sb, feed);
            let release = if tool.backend == "apt" {
                "  release: bookworm\n"
            } else {
                ""
            };
            format!("advisories:\n  download: false\n  feed_file: {inside}\n{release}")
        }
    };
    let agent = sb.start_agent(&env, &agent_config(tool, &feed_config));
    install_old(tool, &agent, &env);

    // Nothing the agent maps was replaced: it is not listed.
    let r = call(&agent, &env, "GET", "/api/v1/system/restart-needed", None);
    let fresh = assert_envelope(&r)["data"].clone();
    assert!(agent_entry(&fresh).is_none(), "{fresh}");
    assert_eq!(fresh["reboot_required"], false, "{fresh}");

    // The metrics say what the answers say.
    let list = patches(&agent, &env, "");
    let info = system_info(&agent, &env);
    let pending = upgradable(&agent, &env);
    let doc = scrape(&agent, &env);
    assert_eq!(
        doc.value("linux_patch_api_updates_pending", &[]),
        Some(pending)
    );
    assert_eq!(metric_by_severity(&doc), security_by_severity(&list));
    let security: f64 = metric_by_severity(&doc).iter().map(|(_, n)| n).sum();
    assert_eq!(Some(security), list["security_updates"].as_f64());
    let reboot = if info["pending_reboot"] == true {
        1.0
    } else {
        0.0
    };
    assert_eq!(
        doc.value("linux_patch_api_reboot_required", &[]),
        Some(reboot)
    );
    assert_eq!(jobs_in(&doc, "completed"), Some(1.0));
    assert_eq!(jobs_in(&doc, "failed"), Some(0.0));
    assert_eq!(
        doc.value(
            "linux_patch_api_build_info",
            &[
                ("version", env!("CARGO_PKG_VERSION")),
                ("backend", tool.backend)
            ]
        ),
        Some(1.0)
    );
    let age = doc.value("linux_patch_api_metadata_age_seconds", &[]);
    assert!(age.is_some_and(|a| a >= 0.0), "metadata age: {age:?}");

    // Exact counts: this agent answers nobody else.
    let missing = call(&agent, &env, "GET", "/api/v1/nowhere", None);
    assert_eq!(missing.status, 404);
    let next = scrape(&agent, &env);
    assert_eq!(requests(&next, "2xx"), requests(&doc, "2xx") + 1.0);
    assert_eq!(requests(&next, "4xx"), requests(&doc, "4xx") + 1.0);
    assert_eq!(requests(&next, "5xx"), requests(&doc, "5xx"));

    // An upgrade replaces a library the agent runs; the patch job's result names the agent.
    replace_libc(&sb);
    let every: Vec<Value> = ids(&list).into_iter().map(Value::from).collect();
    assert!(!every.is_empty(), "{list}");
    let (_, job) = apply(&agent, &env, json!({ "patches": every }));
    let restart = &job["result"]["restart_needed"];
    let me = agent_entry(restart).unwrap_or_else(|| panic!("agent not listed: {job}"));
    assert_eq!(me["deleted_files"], json!([format!("/{LIBC}")]), "{me}");
    assert!(me["pid"].as_u64().is_some_and(|p| p > 0));
    assert_eq!(restart["truncated"], false);
    assert!(restart["units"].is_array());
    // The endpoint finds the same, and the metric counts the units of its scan.
    let r = call(&agent, &env, "GET", "/api/v1/system/restart-needed", None);
    let now = assert_envelope(&r)["data"].clone();
    assert_eq!(agent_entry(&now), Some(me), "{now}");
    // The job forgot the upgradable set; the list computes it again, the metric follows.
    let pending = upgradable(&agent, &env);
    let after = scrape(&agent, &env);
    assert_eq!(
        after.value("linux_patch_api_services_restart_needed", &[]),
        now["units"].as_array().map(|u| u.len() as f64)
    );
    assert_eq!(jobs_in(&after, "completed"), Some(2.0));
    assert_eq!(
        after.value("linux_patch_api_updates_pending", &[]),
        Some(pending)
    );
    assert!(pending < doc.value("linux_patch_api_updates_pending", &[]).unwrap());
    // Install jobs do not scan: only patch jobs carry the list.
    let installs = call(&agent, &env, "GET", "/api/v1/jobs?operation=install", None);
    let installs = assert_envelope(&installs)["data"]["jobs"].clone();
    let first = installs[0]["job_id"].as_str().unwrap().to_string();
    assert!(job_detail(&agent, &env, &first)["result"]
        .get("restart_needed")
        .is_none());
}

#[test]
fn apt_metrics_and_restart_needed() {
    require_sandbox!();
    let _one = serial();
    metrics_and_restart_needed(&APT, "debian-tracker.json");
}

#[test]
fn dnf_metrics_and_restart_needed() {
    require_sandbox!();
    let _one = serial();
    metrics_and_restart_needed(&DNF, "");
}

#[test]
fn zypper_metrics_and_restart_needed() {
    require_sandbox!();
    let _one = serial();
    metrics_and_restart_needed(&ZYPPER, "");
}

#[test]
fn pacman_metrics_and_restart_needed() {
    require_sandbox!();
    let _one = serial();
    metrics_and_restart_needed(&PACMAN, "arch-security.json");
}
