//! The metrics and restart-needed scenario every backend runs (tests/metrics_sandbox.rs,
//! tests/apk_sandbox.rs): the metrics agree with the answers the agent gives for the same
//! state, the request counters count exactly (the sandboxed agent is a process of its own,
//! answering only the test), and a patch job's result names the agent itself when a
//! library it maps was replaced the way a package upgrade replaces files.
// Shared by several test binaries, each of which uses a part.
#![allow(dead_code)]

use crate::common::exposition::{self, Document};
use crate::common::jobs::*;
use crate::common::sandbox::{Sandbox, SandboxAgent};
use crate::common::*;
use crate::patches::*;
use serde_json::{json, Value};

/// The library every backend's agent maps in the Debian base root.
pub const LIBC: &str = "usr/lib/x86_64-linux-gnu/libc.so.6";

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

/// `total` and `metadata_age_seconds` of `GET /api/v1/packages?status=upgradable`.
fn upgradable(agent: &SandboxAgent, env: &Env) -> (f64, Option<f64>) {
    let r = call(
        agent,
        env,
        "GET",
        "/api/v1/packages?status=upgradable",
        None,
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let data = assert_envelope(&r)["data"].clone();
    (
        data["total"].as_f64().unwrap(),
        data["metadata_age_seconds"].as_f64(),
    )
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

/// Replaces a file of the sandbox (`inside`, relative) with a copy renamed over it, as dpkg,
/// rpm, pacman and apk replace a file: same content, new inode. A running process keeps
/// the old one mapped.
fn replace(sb: &Sandbox, inside: &str) {
    let path = sb.root().join(inside);
    let staged = sb.root().join(format!("{inside}.lpa-new"));
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

/// The scenario for `tool`, with the fixture advisory `feed` (none: "") and `mapped`, a
/// library the agent maps in this root (none for a static agent, which maps only itself, a
/// file bound from the host that the sandbox cannot replace).
pub fn metrics_and_restart_needed(tool: &Tool, feed: &str, mapped: Option<&str>) {
    let tag = format!("metrics-{}", tool.backend);
    let env = Env::new(&tag);
    let mut sb = (tool.sandbox)(&tag);
    (tool.setup)(&mut sb);
    let feed_config = match feed {
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
    // apk: the agent's exact installs leave no pin in /etc/apk/world, so the patches apply.
    install_old(tool, &agent, &env);

    // Nothing the agent maps was replaced: it is not listed.
    let r = call(&agent, &env, "GET", "/api/v1/system/restart-needed", None);
    let fresh = assert_envelope(&r)["data"].clone();
    assert!(agent_entry(&fresh).is_none(), "{fresh}");
    assert_eq!(fresh["reboot_required"], false, "{fresh}");

    // The metrics say what the answers say.
    let list = patches(&agent, &env, "");
    let info = system_info(&agent, &env);
    let (pending, listed_age) = upgradable(&agent, &env);
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
    // The same cache's age, read a moment later: present exactly when the list has one.
    let age = doc.value("linux_patch_api_metadata_age_seconds", &[]);
    assert_eq!(
        age.is_some(),
        listed_age.is_some(),
        "{age:?} {listed_age:?}"
    );
    if let (Some(age), Some(listed)) = (age, listed_age) {
        assert!(age >= listed, "{age} < {listed}");
    }

    // Exact counts: this agent answers nobody else.
    let missing = call(&agent, &env, "GET", "/api/v1/nowhere", None);
    assert_eq!(missing.status, 404);
    let next = scrape(&agent, &env);
    assert_eq!(requests(&next, "2xx"), requests(&doc, "2xx") + 1.0);
    assert_eq!(requests(&next, "4xx"), requests(&doc, "4xx") + 1.0);
    assert_eq!(requests(&next, "5xx"), requests(&doc, "5xx"));

    // An upgrade replaces a library the agent runs; the patch job's result names the agent.
    if let Some(lib) = mapped {
        replace(&sb, lib);
    }
    let every: Vec<Value> = ids(&list).into_iter().map(Value::from).collect();
    assert!(!every.is_empty(), "{list}");
    let (_, job) = apply(&agent, &env, json!({ "patches": every }));
    let restart = &job["result"]["restart_needed"];
    assert_eq!(restart["truncated"], false, "{job}");
    assert!(restart["units"].is_array());
    let r = call(&agent, &env, "GET", "/api/v1/system/restart-needed", None);
    let now = assert_envelope(&r)["data"].clone();
    match mapped {
        Some(lib) => {
            let me = agent_entry(restart).unwrap_or_else(|| panic!("agent not listed: {job}"));
            assert_eq!(me["deleted_files"], json!([format!("/{lib}")]), "{me}");
            assert!(me["pid"].as_u64().is_some_and(|p| p > 0));
            // The endpoint finds the same.
            assert_eq!(agent_entry(&now), Some(me), "{now}");
        }
        // Nothing the agent maps was replaced: the upgrade itself makes no false claim.
        None => {
            assert!(agent_entry(restart).is_none(), "{job}");
            assert!(agent_entry(&now).is_none(), "{now}");
        }
    }
    // The metric counts the units of the last scan; the job forgot the upgradable set, the
    // list computes it again, the metric follows.
    let (pending, _) = upgradable(&agent, &env);
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
