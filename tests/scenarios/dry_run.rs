//! The dry-run scenario every backend runs against its REAL package manager inside a
//! sandbox root (tests/dry_run_sandbox.rs): each dry run's plan is what the real job then
//! did (its `changes`), and the package database and the tool's state are byte-identical
//! after the dry run, with no job created.
// Shared by several test binaries, each of which uses a part.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

use crate::common::jobs::*;
use crate::common::sandbox::Sandbox;
use crate::common::*;
use serde_json::{json, Value};

/// (name, from, to) as a plan and a job's changes both say it.
type Step = (String, Option<String>, Option<String>);

/// Every file under the tool's database and state directories of `sb`, with its bytes
/// (SQLite `-shm` files left out).
pub fn state(sb: &Sandbox, dirs: &[&str]) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    for d in dirs {
        collect(&sb.root().join(d), &mut files);
    }
    assert!(!files.is_empty(), "no state files under {dirs:?}");
    files
}

fn collect(path: &Path, files: &mut BTreeMap<String, Vec<u8>>) {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return;
    };
    if meta.is_dir() {
        for e in std::fs::read_dir(path).unwrap().flatten() {
            collect(&e.path(), files);
        }
    } else if meta.is_file() && !path.to_string_lossy().ends_with("-shm") {
        // An SQLite shared-memory index (rpmdb.sqlite-shm) is rewritten by every reader,
        // read-only queries included; the data is in the database file and its WAL.
        files.insert(path.display().to_string(), std::fs::read(path).unwrap());
    }
}

/// Asks `method path?dry_run=true` and returns the answer's data, requiring 200.
pub fn dry_run(
    agent: &crate::common::sandbox::SandboxAgent,
    env: &Env,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Value {
    let sep = if path.contains('?') { '&' } else { '?' };
    let r = call(
        agent,
        env,
        method,
        &format!("{path}{sep}dry_run=true"),
        body,
    );
    assert_eq!(
        r.status,
        200,
        "{method} {path} dry run: {}",
        String::from_utf8_lossy(&r.body)
    );
    let data = assert_envelope(&r)["data"].clone();
    assert_eq!(data["dry_run"], true);
    assert!(
        data["warnings"].is_array() && data["skipped"].is_array(),
        "{data}"
    );
    assert!(
        data["download_bytes"].is_null() || data["download_bytes"].is_u64(),
        "{data}"
    );
    data
}

/// The plan as (name, from, to), each action checked against its versions.
pub fn plan_steps(data: &Value) -> Vec<Step> {
    let mut steps: Vec<Step> = data["plan"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let s = |k: &str| e[k].as_str().map(str::to_string);
            let action = e["action"].as_str().unwrap();
            let (from, to) = (s("from_version"), s("to_version"));
            match action {
                "install" => assert!(from.is_none() && to.is_some(), "{e}"),
                "upgrade" | "downgrade" => assert!(from.is_some() && to.is_some(), "{e}"),
                "remove" | "purge" => assert!(from.is_some() && to.is_none(), "{e}"),
                other => panic!("unknown action {other}: {e}"),
            }
            (s("name").unwrap(), from, to)
        })
        .collect();
    steps.sort();
    steps
}

fn job_count(agent: &crate::common::sandbox::SandboxAgent, env: &Env) -> u64 {
    let r = call(agent, env, "GET", "/api/v1/jobs", None);
    assert_eq!(r.status, 200);
    assert_envelope(&r)["data"]["total"].as_u64().unwrap()
}

/// Dry-runs `method path`, checks that nothing changed and no job was made, then runs the
/// real request and checks that its job changed exactly what the plan said.
fn dry_then_real(
    ctx: &Ctx<'_>,
    method: &str,
    path: &str,
    body: Option<Value>,
    actions: &[&str],
) -> Value {
    let before = state(ctx.sb, ctx.dirs);
    let jobs = job_count(ctx.agent, ctx.env);
    let data = dry_run(ctx.agent, ctx.env, method, path, body.clone());
    assert_eq!(job_count(ctx.agent, ctx.env), jobs, "a dry run made a job");
    let after = state(ctx.sb, ctx.dirs);
    assert!(
        before == after,
        "the dry run of {method} {path} changed {:?}",
        after
            .iter()
            .filter(|(k, v)| before.get(*k) != Some(*v))
            .map(|(k, _)| k)
            .chain(before.keys().filter(|k| !after.contains_key(*k)))
            .collect::<Vec<_>>()
    );
    let mut seen: Vec<&str> = data["plan"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen, actions, "{method} {path}: {data}");
    let id = submit(ctx.agent, ctx.env, method, path, body);
    let j = completed(ctx.agent, ctx.env, &id);
    assert_eq!(
        plan_steps(&data),
        changes(&j),
        "plan vs job of {method} {path}"
    );
    data
}

struct Ctx<'a> {
    sb: &'a Sandbox,
    agent: &'a crate::common::sandbox::SandboxAgent,
    env: &'a Env,
    dirs: &'a [&'a str],
}

/// Install with a dependency, update, downgrade, removal with dependants, purge and patch
/// apply: each dry run against the job that follows; refusals as the real request's.
/// `dirs`: the tool's database and state, relative to the root.
/// `prepare` runs after the tool's setup, before the agent starts.
pub fn plans_match_jobs(tool: &Tool, dirs: &[&str], prepare: fn(&Sandbox)) {
    let env = Env::new(&format!("dry-run-{}", tool.backend));
    let mut sb = (tool.sandbox)(&format!("dry-run-{}", tool.backend));
    (tool.setup)(&mut sb);
    prepare(&sb);
    let agent = sb.start_agent(&env, &agent_config(tool, ""));
    let fv = tool.ver;
    let ctx = Ctx {
        sb: &sb,
        agent: &agent,
        env: &env,
        dirs,
    };

    // Refusals are the real request's, before any tool runs a transaction.
    let r = call(&agent, &env, "POST", "/api/v1/packages?dry_run=maybe", None);
    let e = assert_error(&r, 400, "INVALID_REQUEST");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("dry_run"),
        "{e}"
    );
    let r = call(
        &agent,
        &env,
        "POST",
        "/api/v1/packages?dry_run=true",
        Some(json!({"packages": ["lpa-nope"]})),
    );
    assert_error(&r, 404, "PKG_NOT_FOUND");
    let r = call(
        &agent,
        &env,
        "DELETE",
        "/api/v1/packages/lpa-hello?dry_run=true",
        None,
    );
    assert_error(&r, 404, "PKG_NOT_FOUND");

    // Install the newest lpa-hello: it pulls in lpa-lib.
    dry_then_real(
        &ctx,
        "POST",
        "/api/v1/packages",
        Some(json!({"packages": ["lpa-hello"]})),
        &["install"],
    );
    // Downgrade both to 1.0-1 (one request each: the update takes one package).
    let old = json!({"version": fv("1.0-1"), "options": {"allow_downgrade": true}});
    dry_then_real(
        &ctx,
        "PUT",
        "/api/v1/packages/lpa-hello",
        Some(old.clone()),
        &["downgrade"],
    );
    dry_then_real(
        &ctx,
        "PUT",
        "/api/v1/packages/lpa-lib",
        Some(old),
        &["downgrade"],
    );
    // Patch apply: every patch listed now.
    let r = call(&agent, &env, "GET", "/api/v1/patches", None);
    let ids: Vec<Value> = assert_envelope(&r)["data"]["patches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].clone())
        .collect();
    assert!(!ids.is_empty(), "no patch to apply");
    dry_then_real(
        &ctx,
        "POST",
        "/api/v1/patches/apply",
        Some(json!({ "patches": ids })),
        &["upgrade"],
    );
    // Install lpa-tool, then purge it; remove lpa-lib with its dependant lpa-hello (where
    // the tool takes dependants along; pacman's force removes lpa-lib alone).
    dry_then_real(
        &ctx,
        "POST",
        "/api/v1/packages",
        Some(json!({"packages": ["lpa-tool"]})),
        &["install"],
    );
    // A removal asked with purge says so on every backend, whatever the tool keeps.
    dry_then_real(
        &ctx,
        "DELETE",
        "/api/v1/packages/lpa-tool?purge=true",
        None,
        &["purge"],
    );
    // lpa-tool again, so that the database never empties (zypper's rpmdb2solv fails on an
    // empty rpm database, whatever the request).
    dry_then_real(
        &ctx,
        "POST",
        "/api/v1/packages",
        Some(json!({"packages": ["lpa-tool"]})),
        &["install"],
    );
    dry_then_real(
        &ctx,
        "DELETE",
        "/api/v1/packages/lpa-lib?force=true",
        None,
        &["remove"],
    );
}

/// A read-only agent (`api.read_only`) answers a dry run with its plan and refuses the
/// change itself; nothing changes either way.
pub fn read_only_allows_dry_runs(tool: &Tool, dirs: &[&str]) {
    let env = Env::new(&format!("dry-run-ro-{}", tool.backend));
    let mut sb = (tool.sandbox)(&format!("dry-run-ro-{}", tool.backend));
    (tool.setup)(&mut sb);
    let agent = sb.start_agent(&env, &agent_config(tool, "api:\n  read_only: true\n"));
    let before = state(&sb, dirs);
    let body = json!({"packages": ["lpa-hello"]});
    let data = dry_run(&agent, &env, "POST", "/api/v1/packages", Some(body.clone()));
    let names: Vec<String> = plan_steps(&data).into_iter().map(|s| s.0).collect();
    assert_eq!(names, ["lpa-hello", "lpa-lib"], "{data}");
    let r = call(&agent, &env, "POST", "/api/v1/packages", Some(body));
    assert_error(&r, 403, "API_READ_ONLY");
    assert!(
        before == state(&sb, dirs),
        "a read-only agent changed a file"
    );
}
