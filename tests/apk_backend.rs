//! Regression tests of the apk backend's defects found with the REAL apk-tools (issue 14,
//! section 3), each run with apk-tools 2.14.10 and 3.0.6 in the Alpine-like root of
//! `tests/sandbox/alpine-root.sh` with the fixture repositories of `fixtures-apk.sh`:
//! a failed removal leaves `/etc/apk/world` and the installed database as they were; applying
//! patches keeps world's constraints; an unsigned repository is its own error unless
//! `apk.allow_untrusted`; a cancelled install says what it leaves; a rollback restores world
//! byte for byte; a missing package is named once; a `name=version` pin in world is a hold
//! (the shared holds scenario), and a hold of a dependency adds a pin apk honours.
//!
//! The agent here is the test build (glibc, dynamic), given the host's glibc read-only inside
//! the root, so a fix is tested without a static release build; `tests/apk_sandbox.rs` runs
//! the shipped static binary. Run by `make test-apk`, which passes LPA_APK2 and LPA_APK3;
//! without them these tests fail. Needs root (CI is root).

mod common;
#[path = "scenarios/holds.rs"]
mod hold_scenario;

use std::path::Path;
use std::time::Duration;

use common::apk::*;
use common::jobs::{call, completed, job, rollback, serial, submit, wait, Tool};
use common::sandbox::{Sandbox, SandboxAgent};
use common::*;
use serde_json::{json, Value};

/// The Alpine-like root of `apk` running the test build of the agent.
fn sandbox_for(apk: &ApkTools, tag: &str) -> Sandbox {
    let mut sb = Sandbox::on(alpine_root(apk), &format!("apkb{}-{tag}", apk.major));
    for dir in ["/lib/x86_64-linux-gnu", "/lib64"] {
        sb.bind(Path::new(dir), dir);
    }
    let (ok, version) = common::jobs::stdout(&sb, "/sbin/apk", &["--version"]);
    assert!(
        ok && version.starts_with(&format!("apk-tools {},", apk.version)),
        "/sbin/apk is not apk-tools {}: {version}",
        apk.version
    );
    println!("running with {version}");
    sb
}

fn start(sb: &mut Sandbox, env: &Env, extra: &str) -> SandboxAgent {
    sb.start_agent(
        env,
        &format!("package_manager:\n  backend: apk\nrate_limits:\n  enabled: false\n{extra}"),
    )
}

fn read(sb: &Sandbox, inside: &str) -> Vec<u8> {
    std::fs::read(sb.root().join(inside)).unwrap_or_default()
}

fn db(sb: &Sandbox) -> Vec<u8> {
    read(sb, "lib/apk/db/installed")
}

/// Replaces world's lpa-hello and lpa-lib entries by `entries` (the rest stays, as the
/// administrator's other packages would), and lets apk apply it.
fn set_world(sb: &Sandbox, entries: &str) {
    let keep: String = world(sb)
        .lines()
        .filter(|l| !l.starts_with("lpa-hello") && !l.starts_with("lpa-lib"))
        .map(|l| format!("{l}\n"))
        .collect();
    sb.write("/etc/apk/world", &format!("{keep}{entries}"));
    sb.run("apk", &["add"]);
}

fn logs(j: &Value) -> String {
    j["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["message"].as_str().unwrap_or_default().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// a. `apk del` of a package another one needs rewrites world, then exits 0 with "World
/// updated, but the following packages are not removed": the failed job must put world back.
fn failed_delete_leaves_world_and_database(apk: &ApkTools) {
    let env = Env::new("apkb-del");
    let mut sb = sandbox_for(apk, "del");
    with_apk_repo(&mut sb, true);
    sb.run("apk", &["add", "lpa-hello", "lpa-lib"]);
    let (world_before, db_before) = (world(&sb), db(&sb));
    assert!(world_before.contains("lpa-lib"), "{world_before}");
    let agent = start(&mut sb, &env, "");
    let id = submit(&agent, &env, "DELETE", "/api/v1/packages/lpa-lib", None);
    let j = wait(&agent, &env, &id, Duration::from_secs(120));
    assert_eq!(j["status"], "failed", "{j}");
    assert_eq!(j["error_code"], "PKG_DEPENDENCY_ERROR", "{j}");
    assert_eq!(world(&sb), world_before, "world after the failed delete");
    assert!(db(&sb) == db_before, "the installed database changed");
    assert_eq!(apk_version(&sb, "lpa-lib"), Some("1.1-r0".into()));
}

/// b. Applying patches upgrades without writing `name=version` pins into world.
fn patches_keep_world_constraints(apk: &ApkTools) {
    let env = Env::new("apkb-patch");
    let mut sb = sandbox_for(apk, "patch");
    with_apk_repo(&mut sb, true);
    sb.run("apk", &["add", "lpa-hello=1.0-r0", "lpa-lib=1.0-r0"]);
    // As the administrator wrote it: the application, not its library, not pinned.
    set_world(&sb, "lpa-hello\n");
    let world_before = world(&sb);
    let agent = start(&mut sb, &env, "");
    let r = call(&agent, &env, "GET", "/api/v1/patches", None);
    let data = assert_envelope(&r)["data"].clone();
    let ids: Vec<Value> = data["patches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].clone())
        .collect();
    assert_eq!(ids.len(), 2, "{data}");
    let id = submit(
        &agent,
        &env,
        "POST",
        "/api/v1/patches/apply",
        Some(json!({ "patches": ids })),
    );
    completed(&agent, &env, &id);
    assert_eq!(apk_version(&sb, "lpa-hello"), Some("2.0-r0".into()));
    assert_eq!(apk_version(&sb, "lpa-lib"), Some("1.1-r0".into()));
    assert_eq!(world(&sb), world_before, "world after applying patches");

    // A range the administrator wrote keeps the package back: a clear failure, world kept.
    sb.run("apk", &["add", "lpa-lib=1.0-r0"]);
    set_world(&sb, "lpa-hello\nlpa-lib<1.1\n");
    let ranged = world(&sb);
    let r = call(&agent, &env, "GET", "/api/v1/patches", None);
    let data = assert_envelope(&r)["data"].clone();
    let patch = json!({ "patches": [data["patches"][0]["id"]] });
    let id = submit(
        &agent,
        &env,
        "POST",
        "/api/v1/patches/apply",
        Some(patch.clone()),
    );
    let j = wait(&agent, &env, &id, Duration::from_secs(120));
    assert_eq!(j["status"], "failed", "{j}");
    assert_eq!(j["error_code"], "PATCH_APPLY_ERROR", "{j}");
    assert!(
        j["error"].as_str().unwrap().contains("lpa-lib<1.1"),
        "names the constraint: {j}"
    );
    assert_eq!(world(&sb), ranged);
    assert_eq!(apk_version(&sb, "lpa-lib"), Some("1.0-r0".into()));

    // A pin is apk's hold: the patch run skips the package and says so, world kept.
    sb.run("apk", &["add", "lpa-lib=1.0-r0"]);
    let pinned = world(&sb);
    assert!(pinned.contains("lpa-lib=1.0-r0"), "{pinned}");
    let id = submit(&agent, &env, "POST", "/api/v1/patches/apply", Some(patch));
    let j = completed(&agent, &env, &id);
    assert_eq!(j["result"]["skipped_held"], json!(["lpa-lib"]), "{j}");
    assert_eq!(world(&sb), pinned);
    assert_eq!(apk_version(&sb, "lpa-lib"), Some("1.0-r0".into()));
}

/// g. Holds through the shared scenario (a `name=version` pin in world is apk's hold, set
/// by hand with `apk add name=version`), and the agent's own exact install leaves no pin.
fn holds(tool: &'static Tool) {
    let native = hold_scenario::Native {
        tool,
        hold: |sb, name| {
            let version = apk_version(sb, name).expect("installed");
            sb.run("apk", &["add", &format!("{name}={version}")]);
        },
        held: |sb| {
            let mut pinned: Vec<String> = world(sb)
                .split_whitespace()
                .filter_map(|t| t.split_once('=').map(|(n, _)| n.to_string()))
                .collect();
            pinned.sort();
            pinned
        },
    };
    hold_scenario::scenario(&native);
}

/// h. A hold of a package world does not name (a dependency) adds its pin, which apk's own
/// upgrade then honours; a release leaves the bare name; a package that is not installed has
/// no version to pin: refused, world untouched.
fn hold_of_a_dependency(apk: &ApkTools) {
    let env = Env::new("apkb-hold-dep");
    let mut sb = sandbox_for(apk, "hold-dep");
    with_apk_repo(&mut sb, true);
    sb.run("apk", &["add", "lpa-hello=1.0-r0", "lpa-lib=1.0-r0"]);
    set_world(&sb, "lpa-hello=1.0-r0\n");
    let before = world(&sb);
    assert!(!before.contains("lpa-lib"), "{before}");
    let agent = start(&mut sb, &env, "");
    let path = |name: &str| format!("/api/v1/packages/{name}/hold");

    let r = call(&agent, &env, "PUT", &path("lpa-tool"), None);
    let e = assert_error(&r, 500, "PKG_MANAGER_ERROR");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not installed"),
        "{e}"
    );
    assert_eq!(world(&sb), before);

    let r = call(&agent, &env, "PUT", &path("lpa-lib"), None);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        assert_envelope(&r)["data"],
        json!({"held": true, "name": "lpa-lib", "version": "1.0-r0"})
    );
    assert_eq!(world(&sb), format!("{before}lpa-lib=1.0-r0\n"));
    // apk itself keeps the pinned package: `apk upgrade` leaves it at 1.0-r0.
    sb.run("apk", &["upgrade", "--", "lpa-lib"]);
    assert_eq!(apk_version(&sb, "lpa-lib"), Some("1.0-r0".into()));

    let r = call(&agent, &env, "DELETE", &path("lpa-lib"), None);
    assert_eq!(assert_envelope(&r)["data"]["held"], false);
    assert_eq!(world(&sb), format!("{before}lpa-lib\n"));
    // Released: apk upgrades it.
    sb.run("apk", &["upgrade", "--", "lpa-lib"]);
    assert_eq!(apk_version(&sb, "lpa-lib"), Some("1.1-r0".into()));
}

fn apk2_test_build(tag: &str) -> Sandbox {
    sandbox_for(&APK_2, tag)
}

fn apk3_test_build(tag: &str) -> Sandbox {
    sandbox_for(&APK_3, tag)
}

/// apk-tools 2 with the test build of the agent (the shared scenarios start it).
const APK2_TEST_BUILD: Tool = Tool {
    sandbox: apk2_test_build,
    ..APK2
};

/// apk-tools 3 with the test build of the agent.
const APK3_TEST_BUILD: Tool = Tool {
    sandbox: apk3_test_build,
    ..APK3
};

/// c. An unsigned repository: its own error code and one message, unless allowed.
fn untrusted_repository(apk: &ApkTools) {
    let env = Env::new("apkb-untrusted");
    let mut sb = sandbox_for(apk, "untrusted");
    with_apk_repo(&mut sb, false);
    let agent = start(&mut sb, &env, "");
    let r = call(
        &agent,
        &env,
        "POST",
        "/api/v1/packages",
        Some(json!({"packages": ["lpa-hello"]})),
    );
    let v = assert_error(&r, 502, "PKG_UNTRUSTED_SOURCE");
    let message = v["error"]["message"].as_str().unwrap();
    assert_eq!(message.matches("UNTRUSTED").count(), 1, "{message}");
    assert!(message.contains("/srv/lpa-apk/unsigned"), "{message}");
    assert!(message.contains("apk.allow_untrusted"), "{message}");
    drop(agent);

    let agent = start(&mut sb, &env, "apk:\n  allow_untrusted: true\n");
    let id = submit(
        &agent,
        &env,
        "POST",
        "/api/v1/packages",
        Some(json!({"packages": ["lpa-hello"]})),
    );
    completed(&agent, &env, &id);
    assert_eq!(apk_version(&sb, "lpa-hello"), Some("2.0-r0".into()));
}

/// d. A cancelled install: no unchecked claim of consistency; what is left and how to
/// clean it up is said.
fn cancel_says_what_is_left(apk: &ApkTools) {
    let env = Env::new("apkb-cancel");
    let mut sb = sandbox_for(apk, "cancel");
    with_apk_repo(&mut sb, true);
    let agent = start(&mut sb, &env, "jobs:\n  cancel_grace_seconds: 1\n");
    let id = submit(
        &agent,
        &env,
        "POST",
        "/api/v1/packages",
        Some(json!({"packages": ["lpa-slow"]})),
    );
    // lpa-slow's post-install script sleeps 30 s: cancel once it runs.
    let running = eventually(Duration::from_secs(60), || {
        sb.root()
            .join("lib/apk/exec")
            .read_dir()
            .is_ok_and(|mut d| d.next().is_some())
            || job(&agent, &env, &id)["output"]
                .as_str()
                .is_some_and(|o| o.contains("Installing lpa-slow"))
    });
    assert!(running, "{}", job(&agent, &env, &id));
    std::thread::sleep(Duration::from_secs(1));
    let r = call(&agent, &env, "DELETE", &format!("/api/v1/jobs/{id}"), None);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let j = wait(&agent, &env, &id, Duration::from_secs(120));
    assert_eq!(j["status"], "cancelled", "{j}");
    let text = logs(&j);
    assert!(!text.contains("consistent"), "unchecked claim: {text}");
    assert!(text.contains("lpa-slow"), "names the package: {text}");
    assert!(
        text.contains("apk del lpa-slow"),
        "says how to clean up: {text}"
    );
    apk_consistent(&sb);
}

/// e. A rollback puts world back byte for byte, not `name=version` pins.
fn rollback_restores_world(apk: &ApkTools) {
    let env = Env::new("apkb-rollback");
    let mut sb = sandbox_for(apk, "rollback");
    with_apk_repo(&mut sb, true);
    sb.run("apk", &["add", "lpa-hello"]);
    let world_before = world(&sb);
    let agent = start(&mut sb, &env, "");
    let rm = submit(&agent, &env, "DELETE", "/api/v1/packages/lpa-hello", None);
    completed(&agent, &env, &rm);
    assert_eq!(apk_version(&sb, "lpa-hello"), None);
    rollback(&agent, &env, &rm);
    assert_eq!(apk_version(&sb, "lpa-hello"), Some("2.0-r0".into()));
    assert_eq!(apk_version(&sb, "lpa-lib"), Some("1.1-r0".into()));
    assert_eq!(
        world(&sb),
        world_before,
        "world after rolling back the remove"
    );

    // An update's rollback too: back to the old version, world as it was.
    sb.run("apk", &["add", "lpa-hello=1.1-r0"]);
    set_world(&sb, "lpa-hello<2.0\n");
    let world_before = world(&sb);
    let up = submit(
        &agent,
        &env,
        "PUT",
        "/api/v1/packages/lpa-hello",
        Some(json!({"version": "2.0-r0"})),
    );
    completed(&agent, &env, &up);
    assert_eq!(apk_version(&sb, "lpa-hello"), Some("2.0-r0".into()));
    // An exact install does not hold: world names the package bare, not pinned.
    assert!(
        world(&sb).lines().any(|l| l == "lpa-hello"),
        "{}",
        world(&sb)
    );
    rollback(&agent, &env, &up);
    assert_eq!(apk_version(&sb, "lpa-hello"), Some("1.1-r0".into()));
    assert_eq!(
        world(&sb),
        world_before,
        "world after rolling back the update"
    );
}

/// f. A missing package is named once.
fn missing_package_named_once(apk: &ApkTools) {
    let env = Env::new("apkb-missing");
    let mut sb = sandbox_for(apk, "missing");
    with_apk_repo(&mut sb, true);
    let agent = start(&mut sb, &env, "");
    for (method, path) in [
        ("GET", "/api/v1/packages/lpa-nope"),
        ("DELETE", "/api/v1/packages/lpa-nope"),
    ] {
        let r = call(&agent, &env, method, path, None);
        let v = assert_error(&r, 404, "PKG_NOT_FOUND");
        assert_eq!(
            v["error"]["message"], "package not found: lpa-nope",
            "{method} {path}"
        );
        assert_eq!(v["error"]["details"]["package"], "lpa-nope");
    }
    let r = call(
        &agent,
        &env,
        "POST",
        "/api/v1/packages",
        Some(json!({"packages": ["lpa-nope"]})),
    );
    let v = assert_error(&r, 404, "PKG_NOT_FOUND");
    assert_eq!(v["error"]["message"], "package not found: lpa-nope");
}

macro_rules! apk_backend_tests {
    ($($name:ident: $apk:expr, $tool:expr),* $(,)?) => {
        $(
            mod $name {
                use super::*;
                #[test]
                fn a_failed_delete_leaves_world_and_database_as_before() {
                    let _one = serial();
                    failed_delete_leaves_world_and_database(&$apk);
                }
                #[test]
                fn b_patches_keep_world_constraints() {
                    let _one = serial();
                    patches_keep_world_constraints(&$apk);
                }
                #[test]
                fn c_an_untrusted_repository_is_its_own_error_unless_allowed() {
                    let _one = serial();
                    untrusted_repository(&$apk);
                }
                #[test]
                fn d_a_cancelled_install_says_what_is_left() {
                    let _one = serial();
                    cancel_says_what_is_left(&$apk);
                }
                #[test]
                fn e_a_rollback_restores_world_exactly() {
                    let _one = serial();
                    rollback_restores_world(&$apk);
                }
                #[test]
                fn f_a_missing_package_is_named_once() {
                    let _one = serial();
                    missing_package_named_once(&$apk);
                }
                #[test]
                fn h_a_hold_of_a_dependency_adds_its_pin_and_apk_honours_it() {
                    let _one = serial();
                    hold_of_a_dependency(&$apk);
                }
                #[test]
                fn g_a_world_pin_is_a_hold_every_change_honours() {
                    let _one = serial();
                    holds(&$tool);
                }
            }
        )*
    };
}

apk_backend_tests!(
    apk_2_14_10: APK_2, APK2_TEST_BUILD,
    apk_3_0_6: APK_3, APK3_TEST_BUILD,
);
