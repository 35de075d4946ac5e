//! The check before a job's `202` reads what the repositories offer from the tool's
//! metadata files (dnf's cache, zypper's repositories, apk's APKINDEX) instead of starting
//! the tool: run against the REAL tools in a sandbox root (tests/offers_sandbox.rs: dnf,
//! zypper; tests/apk_sandbox.rs: apk-tools 2 and 3). The agent's debug log names every
//! command it ran (`ran COMMAND in N ms`), which is how these tests see whether the tool
//! was asked.
// Shared by several test binaries, each of which uses a part.
#![allow(dead_code)]

use crate::common::jobs::*;
use crate::common::sandbox::{Sandbox, SandboxAgent};
use crate::common::*;
use serde_json::{json, Value};

/// How one tool's repositories are arranged for the scenario.
pub struct OfferCase {
    /// The tool.
    pub tool: &'static Tool,
    /// What the listing command's `ran ...` log line contains (`--showduplicates list`).
    pub listing: &'static str,
    /// Leaves the full fixture repository's metadata on disk for a repository the tool
    /// does not have enabled (a stale cache), before the agent starts.
    pub hide_full: fn(&mut Sandbox),
    /// Enables the full fixture repository behind the agent's back, as an administrator
    /// would (the tool fetching its metadata where it needs to).
    pub show_full: fn(&Sandbox),
    /// The answer to `lpa-hello` 2.0-1 while the full repository is hidden (the tool's:
    /// 400 PKG_VERSION_CONFLICT with its list where an older repository offers 1.0-1,
    /// 404 PKG_NOT_FOUND where none offers lpa-hello).
    pub hidden_answer: (u16, &'static str),
}

/// The `ran ...` lines of the listing command in the agent's log after byte `from`.
fn listings(agent: &SandboxAgent, case: &OfferCase, from: usize) -> Vec<String> {
    let log = agent.log_text();
    log.get(from..)
        .unwrap_or("")
        .lines()
        .filter(|l| l.contains(" ran ") && l.contains(case.listing))
        .map(str::to_string)
        .collect()
}

fn post(agent: &SandboxAgent, env: &Env, packages: Value) -> HttpResponse {
    call(
        agent,
        env,
        "POST",
        "/api/v1/packages",
        Some(json!({ "packages": packages })),
    )
}

/// Stale metadata of a disabled repository does not count; unknown names and versions get
/// the tool's answer; a repository enabled behind the agent's back is seen at once, and a
/// name or exact version it offers is accepted and installed without the tool listing it.
pub fn offers_from_metadata(case: &OfferCase) {
    let tool = case.tool;
    let fv = tool.ver;
    let env = Env::new(&format!("offers-{}", tool.backend));
    let mut sb = (tool.sandbox)(&format!("offers-{}", tool.backend));
    (tool.setup)(&mut sb);
    (case.hide_full)(&mut sb);
    let agent = sb.start_agent(&env, &agent_config(tool, ""));

    // Only in the hidden repository: the tool is asked and answers.
    let mark = agent.log_text().len();
    let r = post(
        &agent,
        &env,
        json!([{"name": "lpa-hello", "version": fv("2.0-1")}]),
    );
    let (status, code) = case.hidden_answer;
    let v = assert_error(&r, status, code);
    assert!(
        !listings(&agent, case, mark).is_empty(),
        "the tool was not asked: {v}\n{}",
        agent.log_text()
    );
    if code == "PKG_VERSION_CONFLICT" {
        let message = v["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(&fv("1.0-1")) && !message.contains(&fv("1.1-1")),
            "the tool's list of what is on offer: {v}"
        );
    }

    // A name no repository has: the tool's 404.
    let mark = agent.log_text().len();
    let r = post(&agent, &env, json!(["lpa-ghost"]));
    assert_error(&r, 404, "PKG_NOT_FOUND");
    assert!(
        !listings(&agent, case, mark).is_empty(),
        "the tool decides a 404"
    );

    (case.show_full)(&sb);

    // A name and an exact version only the new repository offers: accepted from its
    // metadata, no listing command from the POST to the job's end.
    let mark = agent.log_text().len();
    let id = submit(
        &agent,
        &env,
        "POST",
        "/api/v1/packages",
        Some(json!({"packages": ["lpa-tool"]})),
    );
    completed(&agent, &env, &id);
    let id = submit(
        &agent,
        &env,
        "POST",
        "/api/v1/packages",
        Some(json!({"packages": [{"name": "lpa-hello", "version": fv("2.0-1")}]})),
    );
    completed(&agent, &env, &id);
    assert_eq!((tool.version)(&sb, "lpa-tool"), Some(fv("1.0-1")));
    assert_eq!((tool.version)(&sb, "lpa-hello"), Some(fv("2.0-1")));
    let ran = listings(&agent, case, mark);
    assert!(
        ran.is_empty(),
        "offered packages were listed by the tool: {ran:?}"
    );

    // A version no repository has, with the full one enabled: still the tool's list.
    let mark = agent.log_text().len();
    let r = post(
        &agent,
        &env,
        json!([{"name": "lpa-hello", "version": fv("9.9-1")}]),
    );
    let v = assert_error(&r, 400, "PKG_VERSION_CONFLICT");
    let message = v["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(&fv("1.1-1")), "{v}");
    assert!(!listings(&agent, case, mark).is_empty());
}
