//! The holds scenario every backend whose holds the agent can set runs against its REAL
//! package manager inside a sandbox root (tests/holds.rs: apt, zypper, pacman, dnf;
//! tests/apk_backend.rs: apk-tools 2 and 3): a hold set by hand with the tool's own
//! mechanism is listed and flagged `held`, a hold set through the API is seen by the tool's
//! own query, a release clears it, an explicit update of a held package is refused (its dry
//! run too), a patch dry run lists a held upgradable package as skipped and leaves it out of
//! the plan, update-all leaves it at its version and lists it in `skipped_held`, and
//! read-only mode refuses hold changes.
// Shared by several test binaries, each of which uses a part.
#![allow(dead_code)]

use crate::common::jobs::*;
use crate::common::sandbox::{Sandbox, SandboxAgent};
use crate::common::*;
use serde_json::{json, Value};

/// A backend's native hold mechanism, driven by hand as an operator would.
pub struct Native {
    pub tool: &'static Tool,
    /// Holds a package with the tool itself (not through the agent).
    pub hold: fn(&Sandbox, &str),
    /// What the tool itself says is held.
    pub held: fn(&Sandbox) -> Vec<String>,
}

pub fn lines(out: &str) -> Vec<String> {
    let mut v: Vec<String> = out
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

/// `data.holds` as `name version` strings.
pub fn holds(agent: &SandboxAgent, env: &Env) -> Vec<String> {
    get_data(agent, env, "/api/v1/packages/holds")["holds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| format!("{} {}", h["name"].as_str().unwrap(), h["version"]))
        .collect()
}

/// The `held` flag of each listed lpa package, as `name held`.
pub fn listed_held(agent: &SandboxAgent, env: &Env) -> Vec<String> {
    get_data(agent, env, "/api/v1/packages?name=lpa-*")["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| format!("{} {}", p["name"].as_str().unwrap(), p["held"]))
        .collect()
}

pub fn detail_held(agent: &SandboxAgent, env: &Env, name: &str) -> Value {
    get_data(agent, env, &format!("/api/v1/packages/{name}"))["held"].clone()
}

pub fn hold_call(agent: &SandboxAgent, env: &Env, method: &str, name: &str) -> HttpResponse {
    call(
        agent,
        env,
        method,
        &format!("/api/v1/packages/{name}/hold"),
        None,
    )
}

/// A `200` hold answer's data.
pub fn hold_ok(agent: &SandboxAgent, env: &Env, method: &str, name: &str) -> Value {
    let r = hold_call(agent, env, method, name);
    assert_eq!(
        r.status,
        200,
        "{method} {name}/hold: {}",
        String::from_utf8_lossy(&r.body)
    );
    assert_envelope(&r)["data"].clone()
}

/// Starts the agent on a fresh sandbox of `native`'s tool with lpa-lib and lpa-hello at
/// 1.0-1 (both upgradable).
pub fn start(native: &Native, tag: &str) -> (Env, Sandbox, SandboxAgent) {
    let tool = native.tool;
    let env = Env::new(&format!("holds-{tag}-{}", tool.backend));
    let mut sb = (tool.sandbox)(&format!("holds-{tag}-{}", tool.backend));
    (tool.setup)(&mut sb);
    let agent = sb.start_agent(&env, &agent_config(tool, ""));
    install_old(tool, &agent, &env);
    (env, sb, agent)
}

/// Update-all with lpa-hello held: lpa-lib moves, lpa-hello stays and is `skipped_held`.
pub fn update_all_skips(native: &Native, agent: &SandboxAgent, env: &Env, sb: &Sandbox) {
    let v = |name| (native.tool.version)(sb, name);
    let fv = native.tool.ver;
    dry_run_skips(agent, env);
    let id = submit(agent, env, "POST", "/api/v1/patches/apply", Some(json!({})));
    let job = completed(agent, env, &id);
    assert_eq!(job["result"]["skipped_held"], json!(["lpa-hello"]), "{job}");
    assert_eq!(v("lpa-hello"), Some(fv("1.0-1")), "{job}");
    assert_eq!(v("lpa-lib"), Some(fv("1.1-1")));
    assert_eq!(
        changes(&job),
        [change("lpa-lib", Some(&fv("1.0-1")), Some(&fv("1.1-1")))]
    );
    let logs = job["logs"].to_string();
    assert!(logs.contains("skipping held packages: lpa-hello"), "{logs}");
}

/// Update-all's dry run with lpa-hello held: lpa-hello is `skipped` with reason `held` and
/// not in the plan, lpa-lib is upgraded in the plan.
pub fn dry_run_skips(agent: &SandboxAgent, env: &Env) {
    let r = call(
        agent,
        env,
        "POST",
        "/api/v1/patches/apply?dry_run=true",
        Some(json!({})),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let data = assert_envelope(&r)["data"].clone();
    let planned: Vec<&str> = data["plan"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert!(planned.contains(&"lpa-lib"), "{data}");
    assert!(!planned.contains(&"lpa-hello"), "{data}");
    let held: Vec<&Value> = data["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["reason"] == "held")
        .collect();
    assert_eq!(
        held,
        [&json!({"name": "lpa-hello", "reason": "held"})],
        "{data}"
    );
}

/// The whole scenario for a backend whose holds the agent can set.
pub fn scenario(native: &Native) {
    let (env, mut sb, agent) = start(native, "rw");
    let old = (native.tool.ver)("1.0-1");
    assert!(holds(&agent, &env).is_empty());
    assert_eq!(
        listed_held(&agent, &env),
        ["lpa-hello false", "lpa-lib false"]
    );

    // A hold set by hand with the tool shows up, with the installed version.
    (native.hold)(&sb, "lpa-lib");
    assert_eq!(holds(&agent, &env), [format!("lpa-lib \"{old}\"")]);
    assert_eq!(
        listed_held(&agent, &env),
        ["lpa-hello false", "lpa-lib true"]
    );
    assert_eq!(detail_held(&agent, &env, "lpa-lib"), true);
    assert_eq!(detail_held(&agent, &env, "lpa-hello"), false);

    // Released through the API: the tool no longer holds it, the list says so at once.
    let d = hold_ok(&agent, &env, "DELETE", "lpa-lib");
    assert_eq!(d, json!({"held": false, "name": "lpa-lib", "version": old}));
    assert!((native.held)(&sb).is_empty(), "{:?}", (native.held)(&sb));
    assert_eq!(
        listed_held(&agent, &env),
        ["lpa-hello false", "lpa-lib false"]
    );
    // Releasing again is the same answer.
    assert_eq!(hold_ok(&agent, &env, "DELETE", "lpa-lib"), d);

    // Held through the API: the tool's own query shows it; holding again is 200.
    let d = hold_ok(&agent, &env, "PUT", "lpa-hello");
    assert_eq!(
        d,
        json!({"held": true, "name": "lpa-hello", "version": old})
    );
    assert_eq!((native.held)(&sb), ["lpa-hello"]);
    assert_eq!(
        listed_held(&agent, &env),
        ["lpa-hello true", "lpa-lib false"]
    );
    assert_eq!(hold_ok(&agent, &env, "PUT", "lpa-hello"), d);
    assert_eq!((native.held)(&sb), ["lpa-hello"]);

    // Names: unknown is 404, malformed is 400; neither reaches the tool's list.
    assert_error(
        &hold_call(&agent, &env, "PUT", "lpa-nope"),
        404,
        "PKG_NOT_FOUND",
    );
    assert_error(
        &hold_call(&agent, &env, "PUT", "-lpa"),
        400,
        "INVALID_REQUEST",
    );
    assert_eq!((native.held)(&sb), ["lpa-hello"]);

    // An explicit update or removal of the held package is refused before any job.
    let r = call(
        &agent,
        &env,
        "PUT",
        "/api/v1/packages/lpa-hello",
        Some(json!({})),
    );
    let e = assert_error(&r, 409, "PKG_HELD");
    assert_eq!(e["error"]["details"]["package"], "lpa-hello");
    let r = call(&agent, &env, "DELETE", "/api/v1/packages/lpa-hello", None);
    assert_error(&r, 409, "PKG_HELD");
    // Their dry runs too, exactly like the real requests.
    let r = call(
        &agent,
        &env,
        "PUT",
        "/api/v1/packages/lpa-hello?dry_run=true",
        Some(json!({})),
    );
    assert_error(&r, 409, "PKG_HELD");
    let r = call(
        &agent,
        &env,
        "DELETE",
        "/api/v1/packages/lpa-hello?dry_run=true",
        None,
    );
    assert_error(&r, 409, "PKG_HELD");

    update_all_skips(native, &agent, &env, &sb);
    (native.tool.consistent)(&sb);

    // Read-only: hold changes are refused like every change; the list is still served.
    drop(agent);
    let ro = sb.start_agent(
        &env,
        &agent_config(native.tool, "api:\n  read_only: true\n"),
    );
    for method in ["PUT", "DELETE"] {
        assert_error(
            &hold_call(&ro, &env, method, "lpa-lib"),
            403,
            "API_READ_ONLY",
        );
    }
    assert_eq!(holds(&ro, &env), [format!("lpa-hello \"{old}\"")]);
    assert_eq!((native.held)(&sb), ["lpa-hello"]);
    let audit =
        std::fs::read_to_string(sb.root().join("var/log/linux_patch_api/audit.log")).unwrap();
    let hold_lines: Vec<&str> = audit.lines().filter(|l| l.contains("/hold")).collect();
    assert!(
        hold_lines.iter().any(|l| l.contains("API_READ_ONLY")),
        "{audit}"
    );
    assert!(
        hold_lines
            .iter()
            .any(|l| l.contains("\"PUT\"") && l.contains("\"ok\"")),
        "{audit}"
    );
}
