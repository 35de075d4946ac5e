//! The patch policy scenario every backend runs (tests/policy.rs): the list's filters
//! (`classification`, `min_severity`, `include`, `exclude`), their errors, a dry run that
//! selects what the list shows, a security-only run with a severity floor and a mask on
//! lpa-lib (the fixtures' stand-in for a kernel package), and the reboot settings never,
//! if_required and always, with the stand-in reboot command.
// Shared by several test binaries, each of which uses a part.
#![allow(dead_code)]

use std::time::Duration;

use crate::common::jobs::*;
use crate::common::sandbox::{Sandbox, SandboxAgent};
use crate::common::*;
use crate::patches::*;
use serde_json::{json, Value};

/// What a backend's fixture advisories offer (see tests/sandbox/fixtures-*.sh, feeds/).
pub struct Fixture {
    /// The security patch on lpa-hello 2.0-1 (of high severity where the source has one).
    pub hello: &'static str,
    /// The patches on lpa-lib 1.1-1.
    pub lib: &'static [&'static str],
    /// The patches of type security.
    pub security: &'static [&'static str],
    /// The patches of severity high or critical.
    pub high: &'static [&'static str],
    /// The patches of unknown severity (listed under `min_severity=low`, not `medium`).
    pub unknown: &'static [&'static str],
    /// The severity floor of the scenario's policy run: `high`, or `low` where the source
    /// gives no severity (apk's secdb), so that the lpa-hello patch passes it.
    pub floor: &'static str,
    /// Why the policy {security, floor, exclude lpa-lib*} leaves out each lpa-lib patch.
    pub lib_left_out: &'static [(&'static str, &'static str)],
}

fn sorted(v: impl IntoIterator<Item = impl ToString>) -> Vec<String> {
    let mut v: Vec<String> = v.into_iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

/// The list's ids under `query`, sorted.
fn listed(agent: &SandboxAgent, env: &Env, query: &str) -> Vec<String> {
    sorted(ids(&patches(agent, env, query)))
}

fn refused(
    agent: &SandboxAgent,
    env: &Env,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> String {
    let r = call(agent, env, method, path, body);
    let e = assert_error(&r, 400, "INVALID_REQUEST");
    e["error"]["message"].as_str().unwrap().to_string()
}

fn log_has(job: &Value, text: &str) -> bool {
    job["logs"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["message"].as_str().is_some_and(|m| m.contains(text)))
}

/// The finished reboot job that follows patch job `job`.
fn follow_up(agent: &SandboxAgent, env: &Env, job: &Value) -> Value {
    let id = job["job_id"].as_str().unwrap();
    let found = eventually(Duration::from_secs(20), || {
        job_detail(agent, env, id)["reboot_job_id"].is_string()
    });
    assert!(found, "no reboot job after {job}");
    let reboot = job_detail(agent, env, id)["reboot_job_id"]
        .as_str()
        .unwrap()
        .to_string();
    let done = completed(agent, env, &reboot);
    assert_eq!(done["operation"], "reboot");
    done
}

/// The list's filters and their errors; then the runs. `sb` has the stand-in reboot
/// command and the agent runs with [`REBOOT_CONFIG`]; lpa-hello and lpa-lib 1.0-1 are
/// installed.
pub fn policy_runs(tool: &Tool, sb: &Sandbox, agent: &SandboxAgent, env: &Env, f: &Fixture) {
    let everything = listed(agent, env, "");
    assert_eq!(everything.len(), f.lib.len() + 1, "{everything:?}");
    assert_eq!(
        listed(agent, env, "classification=security"),
        sorted(f.security)
    );
    assert_eq!(
        listed(
            agent,
            env,
            "classification=bugfix,security,enhancement,other"
        ),
        everything
    );
    assert!(listed(agent, env, "classification=enhancement").is_empty());
    assert_eq!(listed(agent, env, "min_severity=high"), sorted(f.high));
    let mut known = everything.clone();
    known.retain(|id| !f.unknown.contains(&id.as_str()));
    assert_eq!(
        listed(agent, env, "min_severity=low"),
        everything,
        "unknown passes low"
    );
    assert!(
        listed(agent, env, "min_severity=medium")
            .iter()
            .all(|id| known.contains(id)),
        "unknown severity never passes medium"
    );
    assert_eq!(listed(agent, env, "exclude=lpa-lib*"), [f.hello]);
    assert_eq!(listed(agent, env, "include=lpa-h?llo"), [f.hello]);
    assert_eq!(
        listed(agent, env, "include=lpa-[a-l]ib,lpa-none"),
        sorted(f.lib)
    );
    assert!(listed(agent, env, "exclude=lpa-*").is_empty());

    // Bad values are named, with the allowed ones: (method, path, body, what the message
    // must contain).
    let apply_path = "/api/v1/patches/apply";
    let bad: [(&str, &str, Option<Value>, &[&str]); 6] = [
        (
            "GET",
            "/api/v1/patches?classification=securty",
            None,
            &["\"securty\"", "security, bugfix, enhancement, other"],
        ),
        (
            "GET",
            "/api/v1/patches?min_severity=unknown",
            None,
            &["\"unknown\"", "critical, high, medium, low"],
        ),
        (
            "GET",
            "/api/v1/patches?exclude=lpa-lib*,lpa$x",
            None,
            &["\"lpa$x\" is not a name mask"],
        ),
        (
            "POST",
            apply_path,
            Some(json!({"options": {"classifications": ["security", "fixes"]}})),
            &["options.classifications[1]", "\"fixes\""],
        ),
        (
            "POST",
            apply_path,
            Some(json!({"options": {"reboot": "sometimes"}})),
            &["if_required, never, always", "\"sometimes\""],
        ),
        (
            "POST",
            apply_path,
            Some(json!({"options": {"exclude_packages": ["lpa-[lib"]}})),
            &["options.exclude_packages[0]", "closing ]"],
        ),
    ];
    for (method, path, body, wanted) in bad {
        let m = refused(agent, env, method, path, body);
        assert!(wanted.iter().all(|w| m.contains(w)), "{method} {path}: {m}");
    }

    // Security only, the floor and above, nothing of lpa-lib: the dry run selects what
    // the list shows under the same filters, and says why the rest was left out.
    let policy = json!({
        "classifications": ["security"],
        "min_severity": f.floor,
        "exclude_packages": ["lpa-lib*"],
    });
    let query = format!(
        "classification=security&min_severity={}&exclude=lpa-lib*",
        f.floor
    );
    let shown = listed(agent, env, &query);
    assert_eq!(shown, [f.hello]);
    let r = call(
        agent,
        env,
        "POST",
        &format!("{apply_path}?dry_run=true"),
        Some(json!({"options": policy})),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let dry = assert_envelope(&r)["data"].clone();
    let selection = &dry["selection"];
    assert_eq!(
        sorted(
            selection["selected"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
        ),
        shown
    );
    let left_out: Vec<String> = selection["left_out"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            format!(
                "{} {}",
                l["id"].as_str().unwrap(),
                l["reason"].as_str().unwrap()
            )
        })
        .collect();
    let expected: Vec<String> = f
        .lib_left_out
        .iter()
        .map(|(id, why)| format!("{id} {why}"))
        .collect();
    assert_eq!(sorted(left_out), sorted(expected), "{dry}");
    let planned: Vec<&str> = dry["plan"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(planned, ["lpa-hello"], "{dry}");
    assert_eq!(dry["policy"]["min_severity"], f.floor);

    // The run itself, never rebooting: only lpa-hello changes.
    let mut asked = policy.clone();
    asked["reboot"] = json!("never");
    let (accepted, never) = apply(agent, env, json!({"options": asked}));
    let echo = json!({
        "classifications": ["security"],
        "exclude_packages": ["lpa-lib*"],
        "include_packages": [],
        "min_severity": f.floor,
        "reboot": "never",
        "reboot_delay_seconds": 0,
    });
    assert_eq!(accepted["policy"], echo);
    assert_eq!(accepted["patches"], json!([f.hello]));
    assert_eq!(accepted["auto_reboot"], false);
    let (old, new, lib_new) = (
        (tool.ver)("1.0-1"),
        (tool.ver)("2.0-1"),
        (tool.ver)("1.1-1"),
    );
    assert_eq!(
        changes(&never),
        [change("lpa-hello", Some(&old), Some(&new))]
    );
    assert_eq!((tool.version)(sb, "lpa-lib"), Some(old.clone()));
    assert_eq!(never["policy"], echo, "the job shows what was asked");
    assert_eq!(never["result"]["excluded_packages"], json!([]), "{never}");
    assert!(
        log_has(&never, "no reboot: the reboot setting is never"),
        "{never}"
    );
    let audit =
        std::fs::read_to_string(sb.root().join("var/log/linux_patch_api/audit.log")).unwrap();
    let line: Value = audit
        .lines()
        .rev()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|l| l["path"] == apply_path && l["outcome"] == "ok")
        .unwrap();
    assert_eq!(line["policy"], echo, "{line}");

    // lpa-lib's patches by an include mask, rebooting if required: a reboot follows when
    // a patch asks for one or the host's own signal says so, else the log says why not.
    let now = patches(agent, env, "");
    let flagged = f
        .lib
        .iter()
        .any(|id| patch(&now, id)["requires_reboot"] == true);
    let before = reboots(sb).len();
    let (accepted, lib) = apply(
        agent,
        env,
        json!({"options": {"include_packages": ["lpa-lib*"], "reboot": "if_required"}}),
    );
    assert_eq!(accepted["policy"]["reboot"], "if_required");
    assert_eq!(accepted["auto_reboot"], true);
    assert_eq!(
        changes(&lib),
        [change("lpa-lib", Some(&old), Some(&lib_new))]
    );
    let pending = system_info(agent, env)["pending_reboot"] == true;
    if flagged || pending {
        follow_up(agent, env, &lib);
        assert_eq!(reboots(sb).len(), before + 1);
    } else {
        assert!(log_has(&lib, "no reboot needed"), "{lib}");
    }

    // Always: a run that needs no reboot (nothing is left to apply) is followed by one.
    let before = reboots(sb).len();
    let (accepted, always) = apply(agent, env, json!({"options": {"reboot": "always"}}));
    assert_eq!(accepted["patches_count"], 0, "{accepted}");
    assert_eq!(always["policy"]["reboot"], "always");
    follow_up(agent, env, &always);
    assert_eq!(reboots(sb).len(), before + 1);
    assert_eq!(reboots(sb)[before].1, "--now");

    // The run under never still has no reboot job, with every later job done.
    let id = never["job_id"].as_str().unwrap();
    assert!(job_detail(agent, env, id)["reboot_job_id"].is_null());
}
