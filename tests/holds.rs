//! Package holds against the REAL apt, dnf, zypper and pacman inside a sandbox root: a hold
//! set by hand with the tool's own mechanism is listed and flagged `held`, a hold set
//! through the API is seen by the tool's own query, a release clears it, an explicit update
//! of a held package is refused, update-all leaves a held upgradable package at its version
//! and lists it in `skipped_held`, and read-only mode refuses hold changes. dnf without its
//! versionlock plugin (the sandbox's case): locks written by hand are read and honoured by
//! the agent's patch runs, a new hold is refused naming the plugin. Needs root (CI is root).

mod common;

use common::jobs::*;
use common::sandbox::{Sandbox, SandboxAgent};
use common::*;
use serde_json::{json, Value};

/// A backend's native hold mechanism, driven by hand as an operator would.
struct Native {
    tool: &'static Tool,
    /// Holds a package with the tool itself (not through the agent).
    hold: fn(&Sandbox, &str),
    /// What the tool itself says is held.
    held: fn(&Sandbox) -> Vec<String>,
}

fn lines(out: &str) -> Vec<String> {
    let mut v: Vec<String> = out
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

const APT_NATIVE: Native = Native {
    tool: &APT,
    hold: |sb, name| {
        sb.run("apt-mark", &["hold", name]);
    },
    held: |sb| lines(&stdout(sb, "apt-mark", &["showhold"]).1),
};

const ZYPPER_NATIVE: Native = Native {
    tool: &ZYPPER,
    hold: |sb, name| {
        sb.run("zypper", &["--non-interactive", "addlock", name]);
    },
    held: |sb| {
        let (_, xml) = stdout(sb, "zypper", &["--non-interactive", "--xmlout", "locks"]);
        let mut names: Vec<String> = xml
            .split("<name>")
            .skip(1)
            .filter_map(|s| s.split_once("</name>"))
            .map(|(n, _)| n.to_string())
            .collect();
        names.sort();
        names
    },
};

const PACMAN_NATIVE: Native = Native {
    tool: &PACMAN,
    hold: |sb, name| {
        // As an operator edits it: an IgnorePkg line under [options].
        let path = sb.root().join("etc/pacman.conf");
        let conf = std::fs::read_to_string(&path).unwrap();
        let edited = conf.replacen(
            "[options]\n",
            &format!("[options]\nIgnorePkg = {name}\n"),
            1,
        );
        assert_ne!(conf, edited, "no [options] in {conf}");
        std::fs::write(&path, edited).unwrap();
    },
    held: |sb| lines(&stdout(sb, "pacman-conf", &["IgnorePkg"]).1),
};

/// The plugin's list, written by hand (dnf has no query of its own without the plugin).
const DNF_LOCKS: &str = "etc/dnf/plugins/versionlock.list";

const DNF_NATIVE: Native = Native {
    tool: &DNF,
    hold: |sb, name| {
        let path = sb.root().join(DNF_LOCKS);
        let mut text = std::fs::read_to_string(&path).unwrap_or_default();
        text.push_str(&format!(
            "\n# Added lock on Sat Dec  5 16:00:00 2026\n{name}-0:1.0-1.*\n"
        ));
        std::fs::write(&path, text).unwrap();
    },
    held: |sb| {
        let text = std::fs::read_to_string(sb.root().join(DNF_LOCKS)).unwrap_or_default();
        let mut names: Vec<String> = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(|l| l.split_once("-0:").map_or(l, |(n, _)| n).to_string())
            .collect();
        names.sort();
        names
    },
};

fn get(agent: &SandboxAgent, env: &Env, path: &str) -> Value {
    let r = call(agent, env, "GET", path, None);
    assert_eq!(
        r.status,
        200,
        "{path}: {}",
        String::from_utf8_lossy(&r.body)
    );
    assert_envelope(&r)["data"].clone()
}

/// `data.holds` as `name version` strings.
fn holds(agent: &SandboxAgent, env: &Env) -> Vec<String> {
    get(agent, env, "/api/v1/packages/holds")["holds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| format!("{} {}", h["name"].as_str().unwrap(), h["version"]))
        .collect()
}

/// The `held` flag of each listed lpa package, as `name held`.
fn listed_held(agent: &SandboxAgent, env: &Env) -> Vec<String> {
    get(agent, env, "/api/v1/packages?name=lpa-*")["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| format!("{} {}", p["name"].as_str().unwrap(), p["held"]))
        .collect()
}

fn detail_held(agent: &SandboxAgent, env: &Env, name: &str) -> Value {
    get(agent, env, &format!("/api/v1/packages/{name}"))["held"].clone()
}

fn hold_call(agent: &SandboxAgent, env: &Env, method: &str, name: &str) -> HttpResponse {
    call(
        agent,
        env,
        method,
        &format!("/api/v1/packages/{name}/hold"),
        None,
    )
}

/// A `200` hold answer's data.
fn hold_ok(agent: &SandboxAgent, env: &Env, method: &str, name: &str) -> Value {
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
fn start(native: &Native, tag: &str) -> (Env, Sandbox, SandboxAgent) {
    let tool = native.tool;
    let env = Env::new(&format!("holds-{tag}-{}", tool.backend));
    let mut sb = (tool.sandbox)(&format!("holds-{tag}-{}", tool.backend));
    (tool.setup)(&mut sb);
    let agent = sb.start_agent(&env, &agent_config(tool, ""));
    install_old(tool, &agent, &env);
    (env, sb, agent)
}

/// Update-all with lpa-hello held: lpa-lib moves, lpa-hello stays and is `skipped_held`.
fn update_all_skips(native: &Native, agent: &SandboxAgent, env: &Env, sb: &Sandbox) {
    let v = |name| (native.tool.version)(sb, name);
    let id = submit(agent, env, "POST", "/api/v1/patches/apply", Some(json!({})));
    let job = completed(agent, env, &id);
    assert_eq!(job["result"]["skipped_held"], json!(["lpa-hello"]), "{job}");
    assert_eq!(v("lpa-hello"), Some("1.0-1".into()), "{job}");
    assert_eq!(v("lpa-lib"), Some("1.1-1".into()));
    assert_eq!(
        changes(&job),
        [change("lpa-lib", Some("1.0-1"), Some("1.1-1"))]
    );
    let logs = job["logs"].to_string();
    assert!(logs.contains("skipping held packages: lpa-hello"), "{logs}");
}

/// The whole scenario for a backend whose holds the agent can set.
fn scenario(native: &Native) {
    let (env, mut sb, agent) = start(native, "rw");
    assert!(holds(&agent, &env).is_empty());
    assert_eq!(
        listed_held(&agent, &env),
        ["lpa-hello false", "lpa-lib false"]
    );

    // A hold set by hand with the tool shows up, with the installed version.
    (native.hold)(&sb, "lpa-lib");
    assert_eq!(holds(&agent, &env), ["lpa-lib \"1.0-1\""]);
    assert_eq!(
        listed_held(&agent, &env),
        ["lpa-hello false", "lpa-lib true"]
    );
    assert_eq!(detail_held(&agent, &env, "lpa-lib"), true);
    assert_eq!(detail_held(&agent, &env, "lpa-hello"), false);

    // Released through the API: the tool no longer holds it, the list says so at once.
    let d = hold_ok(&agent, &env, "DELETE", "lpa-lib");
    assert_eq!(
        d,
        json!({"held": false, "name": "lpa-lib", "version": "1.0-1"})
    );
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
        json!({"held": true, "name": "lpa-hello", "version": "1.0-1"})
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
    assert_eq!(holds(&ro, &env), ["lpa-hello \"1.0-1\""]);
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

macro_rules! backend_tests {
    ($($name:ident: $native:expr),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                require_sandbox!();
                let _one = serial();
                scenario(&$native);
            }
        )*
    };
}

backend_tests!(apt: APT_NATIVE, zypper: ZYPPER_NATIVE, pacman: PACMAN_NATIVE);

/// dnf in the sandbox has no versionlock plugin: locks written by hand are listed and
/// released, skipped by patch runs, and a new hold is refused naming the plugin.
#[test]
fn dnf_without_the_versionlock_plugin() {
    require_sandbox!();
    let _one = serial();
    let native = &DNF_NATIVE;
    let (env, sb, agent) = start(native, "rw");
    (native.hold)(&sb, "lpa-hello");
    assert_eq!(holds(&agent, &env), ["lpa-hello \"1.0-1\""]);
    assert_eq!(
        listed_held(&agent, &env),
        ["lpa-hello true", "lpa-lib false"]
    );

    let r = hold_call(&agent, &env, "PUT", "lpa-lib");
    let e = assert_error(&r, 500, "PKG_MANAGER_ERROR");
    let message = e["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("python3-dnf-plugin-versionlock"),
        "{message}"
    );
    assert_eq!((native.held)(&sb), ["lpa-hello"]);

    let r = call(
        &agent,
        &env,
        "PUT",
        "/api/v1/packages/lpa-hello",
        Some(json!({})),
    );
    assert_error(&r, 409, "PKG_HELD");
    update_all_skips(native, &agent, &env, &sb);

    let d = hold_ok(&agent, &env, "DELETE", "lpa-hello");
    assert_eq!(d["held"], false);
    assert!((native.held)(&sb).is_empty());
    let text = std::fs::read_to_string(sb.root().join(DNF_LOCKS)).unwrap();
    assert!(text.contains("# Added lock on"), "comments stay: {text}");
    assert_eq!(
        listed_held(&agent, &env),
        ["lpa-hello false", "lpa-lib false"]
    );
}

/// A hold change never runs beside a package transaction: while a job holds it past the
/// wait, the change is refused (retryable) and the tool's list is untouched; once the job
/// has stopped, the same change goes through.
#[test]
fn apt_hold_waits_for_a_running_job_and_gives_up() {
    require_sandbox!();
    let _one = serial();
    let env = Env::new("holds-busy-apt");
    let mut sb = (APT.sandbox)("holds-busy-apt");
    (APT.setup)(&mut sb);
    let agent = sb.start_agent(&env, &agent_config(&APT, ""));
    let job_id = slow_install_running(&agent, &env);
    let r = hold_call(&agent, &env, "PUT", "lpa-hello");
    let e = assert_error(&r, 409, "PKG_TRANSACTION_BUSY");
    assert_eq!(e["error"]["retryable"], true);
    assert!((APT_NATIVE.held)(&sb).is_empty());
    assert_eq!(job(&agent, &env, &job_id)["status"], "running");
    let r = call(
        &agent,
        &env,
        "DELETE",
        &format!("/api/v1/jobs/{job_id}"),
        None,
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let d = hold_ok(&agent, &env, "PUT", "lpa-hello");
    assert_eq!(d["held"], true);
    // Not installed, but offered: apt holds it anyway (a known name).
    assert!(d["version"].is_null(), "{d}");
    assert_eq!((APT_NATIVE.held)(&sb), ["lpa-hello"]);
}
