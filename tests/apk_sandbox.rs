//! The apk backend against the REAL apk-tools, 2.14.10 and 3.0.6, each in an Alpine-like
//! sandbox root with fixture repositories built by the suite: the same inventory, job,
//! WebSocket, patch and metrics scenarios as apt, dnf, zypper and pacman run, and the
//! project's own .apk installed and removed by each apk version, signed and unsigned.
//!
//! Run by `make test-apk` (part of `make test`), which builds apk-tools and the packages and
//! passes LPA_APK2, LPA_APK3, LPA_STATIC_BIN, LPA_APK, LPA_APK_SIGNED (the same .apk built
//! with `make apk APK_KEY=` and a throw-away key), LPA_APK_KEY_PUB (that key's public half)
//! and LPA_VERSION; without them these tests fail.
//! Not in `cargo test`'s default set (Cargo.toml: `test = false`), so they run exactly once.
//! Each test's module names the apk-tools version it ran with. Needs root (CI is root).

#[path = "scenarios/budget.rs"]
mod budget;
mod common;
#[path = "scenarios/dry_run.rs"]
mod dry_run;
#[path = "scenarios/inventory.rs"]
mod inventory;
#[path = "scenarios/jobs.rs"]
mod jobs;
#[path = "scenarios/metrics.rs"]
mod metrics;
#[path = "scenarios/offers.rs"]
mod offers;
#[path = "scenarios/patches.rs"]
mod patches;
#[path = "scenarios/policy.rs"]
mod policy;

use common::apk::*;
use common::jobs::{
    agent_config, call, change, changes, rollback, serial, slow_install_running, wait, Tool,
};
use common::*;
use serde_json::json;

/// The inventory: the fixture set installed at 1.0-r0 by apk itself, read through the
/// agent; every installed package apk lists is in the answer.
fn apk_inventory(tool: &Tool) {
    let env = Env::new("apk-inventory");
    let mut sb = (tool.sandbox)("inventory");
    (tool.setup)(&mut sb);
    sb.run(
        "apk",
        &[
            "add",
            "lpa-hello=1.0-r0",
            "lpa-lib=1.0-r0",
            "lpa-tool=1.0-r0",
        ],
    );
    let agent = sb.start_agent(&env, "package_manager:\n  backend: apk\n");
    let everything = inventory::data(&agent, &env, "/api/v1/packages?limit=1000");
    let listed = sb.run("apk", &["list", "--installed"]);
    let count = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .filter(|l| l.contains("[installed]"))
        .count();
    assert_eq!(
        everything["total"].as_u64().unwrap() as usize,
        count,
        "every package apk lists as installed: {everything}"
    );
    inventory::check_inventory(&agent, &env, &sb, tool.ver, &|| {
        sb.run("apk", &["del", "lpa-tool"]);
    });
}

macro_rules! apk_tests {
    ($($name:ident: $tool:expr),* $(,)?) => {
        $(
            mod $name {
                use super::*;
                #[test]
                fn inventory_and_details() {
                    require_sandbox!();
                    let _one = serial();
                    apk_inventory(&$tool);
                }
                #[test]
                fn install_update_downgrade_remove_purge_rollback_cancel() {
                    require_sandbox!();
                    let _one = serial();
                    jobs::lifecycle(&$tool);
                }
                #[test]
                fn timeout_and_crash_recovery() {
                    require_sandbox!();
                    let _one = serial();
                    jobs::timeout_and_crash(&$tool);
                }
                #[test]
                fn websocket_streams_real_jobs_and_sigterm_waits_for_them() {
                    require_sandbox!();
                    let _one = serial();
                    jobs::websocket_and_graceful_stop(&$tool);
                }
                #[test]
                fn own_apk_signed_and_unsigned_installs_and_removes_cleanly() {
                    require_sandbox!();
                    let _one = serial();
                    own_package(&$tool);
                }
                #[test]
                fn patches_by_policy() {
                    require_sandbox!();
                    let _one = serial();
                    apk_policy(&$tool);
                }
                #[test]
                fn patches_from_the_alpine_secdb_keep_world() {
                    require_sandbox!();
                    let _one = serial();
                    apk_patches(&$tool);
                }
                #[test]
                fn a_time_budget_stops_after_the_first_batch() {
                    require_sandbox!();
                    let _one = serial();
                    apk_budget(&$tool);
                }
                #[test]
                fn cancel_leaves_nothing_unsaid() {
                    require_sandbox!();
                    let _one = serial();
                    apk_cancel(&$tool);
                }
                #[test]
                fn metrics_agree_and_a_patch_job_claims_no_restart() {
                    require_sandbox!();
                    let _one = serial();
                    // The static agent maps only itself, bound from the host: nothing in
                    // the root it runs could be replaced under it.
                    metrics::metrics_and_restart_needed(&$tool, "alpine-secdb.json", None);
                }
                #[test]
                fn dry_run_plans_match_jobs_and_change_nothing() {
                    require_sandbox!();
                    let _one = serial();
                    // The installed database and world; apk keeps no log of its own here.
                    dry_run::plans_match_jobs(&$tool, &["lib/apk/db", "etc/apk"], |_| {});
                }
                #[test]
                fn twenty_jobs_at_once_never_interleave() {
                    require_sandbox!();
                    let _one = serial();
                    jobs::twenty_at_once(&$tool);
                }
                #[test]
                fn a_job_starts_apk_held_at_its_lock_and_says_nothing_of_it() {
                    require_sandbox!();
                    let _one = serial();
                    held_start(&$tool);
                }
                #[test]
                fn checks_offers_in_the_apkindex() {
                    require_sandbox!();
                    let _one = serial();
                    offers::offers_from_metadata(&offers::OfferCase {
                        tool: &$tool,
                        listing: " info -a ",
                        hide_full: hide_repositories,
                        show_full: show_repositories,
                        hidden_answer: (404, "PKG_NOT_FOUND"),
                    });
                }
            }
        )*
    };
}

apk_tests!(apk_2_14_10: APK2, apk_3_0_6: APK3);

/// A job that starts at once runs its apk held at apk's own lock while its first record is
/// written (`pkg/apk/held.rs`): the agent's log says so, and the job's log does not carry
/// apk's "Waiting for repository lock", which is the agent's doing.
fn held_start(tool: &Tool) {
    let env = Env::new("apk-held");
    let mut sb = (tool.sandbox)("held");
    (tool.setup)(&mut sb);
    let agent = sb.start_agent(&env, &agent_config(tool, ""));
    let id = common::jobs::submit(
        &agent,
        &env,
        "POST",
        "/api/v1/packages",
        Some(json!({"packages": ["lpa-hello"]})),
    );
    let job = common::jobs::completed(&agent, &env, &id);
    assert!((tool.version)(&sb, "lpa-hello").is_some(), "{job}");
    let log = agent.log_text();
    assert!(
        log.lines()
            .any(|l| l.contains("apk --wait") && l.contains(": held at its lock for ")),
        "no held start in the agent's log:\n{log}"
    );
    assert!(
        !job.to_string().contains("Waiting for repository lock"),
        "{job}"
    );
}

/// No repository listed, while the fixture repository's index stays on disk (and a copy
/// of it in apk's cache under the name of a remote repository that is not listed).
fn hide_repositories(sb: &mut common::sandbox::Sandbox) {
    sb.write("/etc/apk/repositories", "# none\n");
    let index = common::sandbox::fixtures("apk").join("signed/x86_64/APKINDEX.tar.gz");
    // apk 2's cache name of https://dl.invalid/main/x86_64/APKINDEX.tar.gz.
    let cached = sb.root().join("var/cache/apk/APKINDEX.cf8d071e.tar.gz");
    std::fs::create_dir_all(cached.parent().unwrap()).unwrap();
    std::fs::copy(index, cached).unwrap();
}

/// The fixture repository listed again, behind the agent's back.
fn show_repositories(sb: &common::sandbox::Sandbox) {
    let list =
        std::fs::read_to_string(common::sandbox::fixtures("apk").join("repositories")).unwrap();
    sb.write("/etc/apk/repositories", &list);
}

#[test]
fn fixture_versions_in_apk_spelling() {
    assert_eq!(apk_release("1.0-1"), "1.0-r0");
    assert_eq!(apk_release("9.9-1"), "9.9-r0");
    assert_eq!(apk_release("2.0-3"), "2.0-r2");
    assert_eq!(apk_release("1.0"), "1.0");
}

/// Every path under the root (but the apk database, world and the package copies), for a
/// before/after comparison of an install and its removal.
fn tree(sb: &common::sandbox::Sandbox) -> std::collections::BTreeSet<String> {
    fn walk(
        dir: &std::path::Path,
        root: &std::path::Path,
        out: &mut std::collections::BTreeSet<String>,
    ) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().to_string();
            let skip = [
                "proc",
                "dev",
                "sys",
                "tmp",
                "run",
                "lib/apk",
                "etc/apk/world",
                "var/cache/apk",
                "var/tmp/lpa-pkg",
            ];
            if skip
                .iter()
                .any(|s| rel == *s || rel.starts_with(&format!("{s}/")))
            {
                continue;
            }
            out.insert(rel);
            if e.file_type().unwrap().is_dir() {
                walk(&p, root, out);
            }
        }
    }
    let mut out = std::collections::BTreeSet::new();
    walk(sb.root(), sb.root(), &mut out);
    out
}

fn mode(sb: &common::sandbox::Sandbox, path: &str) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    let p = sb.root().join(path.trim_start_matches('/'));
    std::fs::symlink_metadata(&p)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .permissions()
        .mode()
        & 0o7777
}

/// `apk ARGS` inside the sandbox: (success, stdout and stderr together).
fn apk(sb: &common::sandbox::Sandbox, args: &[&str]) -> (bool, String) {
    let out = sb.command("apk", args).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The installed package's files, their modes, and the binary's `--version`.
fn check_installed_files(sb: &common::sandbox::Sandbox) {
    for (path, want) in [
        ("/usr/sbin/linux-patch-api", 0o755),
        ("/etc/init.d/linux-patch-api", 0o755),
        ("/etc/linux_patch_api/config.yaml", 0o640),
        ("/etc/linux_patch_api/whitelist.yaml", 0o640),
        ("/etc/linux_patch_api/certs", 0o700),
        ("/var/lib/linux_patch_api", 0o700),
        ("/var/log/linux_patch_api", 0o750),
        ("/usr/share/man/man8/linux-patch-api.8.gz", 0o644),
        ("/usr/share/man/man5/linux-patch-api.yaml.5.gz", 0o644),
    ] {
        assert_eq!(mode(sb, path), want, "mode of {path}");
    }
    let version = required_version();
    let out = sb.run("/usr/sbin/linux-patch-api", &["--version"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&version),
        "--version of the installed binary: {text}"
    );
    assert_eq!(
        apk_version(sb, "linux-patch-api"),
        Some(format!("{version}-r0"))
    );
}

fn required_version() -> String {
    std::env::var("LPA_VERSION")
        .unwrap_or_else(|_| panic!("LPA_VERSION is not set: run `make test-apk`"))
}

/// Removes the package and requires the root to hold exactly what it held before the
/// install (packaging/README.md: apk has no purge; an untouched install leaves nothing).
fn remove_cleanly(
    sb: &common::sandbox::Sandbox,
    before: &std::collections::BTreeSet<String>,
    untrusted: bool,
) {
    let mut args = vec!["del", "linux-patch-api"];
    if untrusted {
        args.insert(0, "--allow-untrusted");
    }
    let (ok, out) = apk(sb, &args);
    assert!(ok, "apk del linux-patch-api: {out}");
    assert_eq!(apk_version(sb, "linux-patch-api"), None);
    let after = tree(sb);
    let left: Vec<_> = after.difference(before).collect();
    let gone: Vec<_> = before.difference(&after).collect();
    assert!(
        left.is_empty() && gone.is_empty(),
        "left behind: {left:?}; removed: {gone:?}"
    );
}

/// The project's own .apk with `apk`: the unsigned build is refused without
/// --allow-untrusted (UNTRUSTED) and installs with it; the build signed by
/// `make apk APK_KEY=` is refused while its key is unknown and installs without
/// --allow-untrusted once ROOT/etc/apk/keys holds the public key. Each install's files and
/// binary are checked, and each removal leaves the root as it was.
fn own_package(tool: &Tool) {
    let mut sb = (tool.sandbox)("own-package");
    (tool.setup)(&mut sb);
    let unsigned = required_path("LPA_APK");
    let signed = required_path("LPA_APK_SIGNED");
    let key = required_path("LPA_APK_KEY_PUB");
    let dir = sb.root().join("var/tmp/lpa-pkg");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(&unsigned, dir.join("unsigned.apk")).unwrap();
    std::fs::copy(&signed, dir.join("signed.apk")).unwrap();
    let before = tree(&sb);

    let (ok, out) = apk(&sb, &["add", "/var/tmp/lpa-pkg/unsigned.apk"]);
    assert!(
        !ok && out.contains("UNTRUSTED"),
        "unsigned without --allow-untrusted: {out}"
    );
    assert_eq!(apk_version(&sb, "linux-patch-api"), None);
    let (ok, out) = apk(
        &sb,
        &["--allow-untrusted", "add", "/var/tmp/lpa-pkg/unsigned.apk"],
    );
    assert!(ok, "unsigned with --allow-untrusted: {out}");
    check_installed_files(&sb);
    remove_cleanly(&sb, &before, true);

    let (ok, out) = apk(&sb, &["add", "/var/tmp/lpa-pkg/signed.apk"]);
    assert!(
        !ok && out.contains("UNTRUSTED"),
        "signed, key not trusted: {out}"
    );
    assert_eq!(apk_version(&sb, "linux-patch-api"), None);
    let name = key.file_name().unwrap().to_string_lossy().to_string();
    sb.write(
        &format!("/etc/apk/keys/{name}"),
        &std::fs::read_to_string(&key).unwrap(),
    );
    let before = tree(&sb);
    let (ok, out) = apk(&sb, &["add", "/var/tmp/lpa-pkg/signed.apk"]);
    assert!(
        ok,
        "signed, key in /etc/apk/keys, no --allow-untrusted: {out}"
    );
    check_installed_files(&sb);
    remove_cleanly(&sb, &before, false);
}

/// Patches from the Alpine secdb fixture feed: the list, one patch applied, then the rest,
/// then a rollback. Upgrades leave /etc/apk/world's constraints as the administrator wrote
/// them (issue 14 3b) and an exact rollback restores world as it was (3e).
fn apk_patches(tool: &Tool) {
    let env = Env::new("apk-patches");
    let mut sb = (tool.sandbox)("patches");
    (tool.setup)(&mut sb);
    sb.run("apk", &["add", "lpa-hello=1.0-r0", "lpa-lib=1.0-r0"]);
    // The administrator's world: plain names, as `apk add NAME` writes them.
    sb.write("/etc/apk/world", "busybox-binsh\nlpa-hello\nlpa-lib\n");
    let admin_world = world(&sb);
    let feed = patches::install_feed(&sb, "alpine-secdb.json");
    let config = format!("package_manager:\n  backend: apk\nrate_limits:\n  enabled: false\nadvisories:\n  download: false\n  feed_file: {feed}\n");
    let agent = sb.start_agent(&env, &config);

    let all = patches::patches(&agent, &env, "");
    let mut listed = patches::ids(&all);
    listed.sort();
    assert_eq!(listed, ["lpa-hello-2.0-r0", "lpa-lib-1.1-r0"], "{all}");
    patches::expect_patch(
        &all,
        "lpa-hello-2.0-r0",
        "unknown",
        &["CVE-2026-0001", "CVE-2026-0004"],
        false,
        ("lpa-hello", "1.0-r0", "2.0-r0"),
    );
    patches::expect_patch(
        &all,
        "lpa-lib-1.1-r0",
        "unknown",
        &["CVE-2026-0005"],
        false,
        ("lpa-lib", "1.0-r0", "1.1-r0"),
    );
    let hello = patches::patch(&all, "lpa-hello-2.0-r0");
    assert_eq!(
        (&hello["security"], &hello["severity_source"]),
        (&json!(true), &json!("alpine-secdb"))
    );
    assert_eq!(all["security_updates"], 2);

    // One patch: only its package changes; world keeps the administrator's constraints.
    let (_, job) = patches::apply(&agent, &env, json!({"patches": ["lpa-lib-1.1-r0"]}));
    assert_eq!(
        changes(&job),
        [change("lpa-lib", Some("1.0-r0"), Some("1.1-r0"))]
    );
    assert_eq!(apk_version(&sb, "lpa-hello"), Some("1.0-r0".into()));
    assert_eq!(world(&sb), admin_world, "world after applying one patch");
    let left = patches::patches(&agent, &env, "");
    assert_eq!(patches::ids(&left), ["lpa-hello-2.0-r0"], "{left}");

    // The rest, then its rollback: versions and world exactly as before the job.
    let (_, job) = patches::apply(&agent, &env, json!({"patches": []}));
    assert_eq!(
        changes(&job),
        [change("lpa-hello", Some("1.0-r0"), Some("2.0-r0"))]
    );
    assert_eq!(world(&sb), admin_world, "world after applying every patch");
    rollback(&agent, &env, job["job_id"].as_str().unwrap());
    assert_eq!(apk_version(&sb, "lpa-hello"), Some("1.0-r0".into()));
    assert_eq!(
        world(&sb),
        admin_world,
        "world after rolling the patch job back"
    );
    apk_consistent(&sb);
}

/// The patch policy scenario (tests/scenarios/policy.rs) on apk: the secdb gives no
/// severity, so both patches are of unknown severity and the run's floor is `low`.
fn apk_policy(tool: &Tool) {
    let env = Env::new("apk-policy");
    let mut sb = (tool.sandbox)("policy");
    (tool.setup)(&mut sb);
    sb.run("apk", &["add", "lpa-hello=1.0-r0", "lpa-lib=1.0-r0"]);
    // Plain names in world, as `apk add NAME` writes them: no pin holds the patches back.
    sb.write("/etc/apk/world", "busybox-binsh\nlpa-hello\nlpa-lib\n");
    patches::install_fake_reboot(&sb);
    let feed = patches::install_feed(&sb, "alpine-secdb.json");
    let config = format!(
        "package_manager:\n  backend: apk\nrate_limits:\n  enabled: false\n{}advisories:\n  download: false\n  feed_file: {feed}\n",
        patches::REBOOT_CONFIG
    );
    let agent = sb.start_agent(&env, &config);
    let both: &[&str] = &["lpa-hello-2.0-r0", "lpa-lib-1.1-r0"];
    let fixture = policy::Fixture {
        hello: "lpa-hello-2.0-r0",
        lib: &["lpa-lib-1.1-r0"],
        security: both,
        high: &[],
        unknown: both,
        floor: "low",
        lib_left_out: &[("lpa-lib-1.1-r0", "mask")],
    };
    policy::policy_runs(tool, &sb, &agent, &env, &fixture);
}

/// A time budget that stops after the first batch (tests/scenarios/budget.rs): both
/// patches are of unknown severity in the secdb, so they go by id, lpa-hello's first.
fn apk_budget(tool: &Tool) {
    let env = Env::new("apk-budget");
    let mut sb = (tool.sandbox)("budget");
    (tool.setup)(&mut sb);
    sb.run("apk", &["add", "lpa-hello=1.0-r0", "lpa-lib=1.0-r0"]);
    sb.write("/etc/apk/world", "busybox-binsh\nlpa-hello\nlpa-lib\n");
    let feed = patches::install_feed(&sb, "alpine-secdb.json");
    let config = format!("package_manager:\n  backend: apk\nrate_limits:\n  enabled: false\nadvisories:\n  download: false\n  feed_file: {feed}\n");
    let agent = sb.start_agent(&env, &config);
    let pair = budget::Pair {
        first: ("lpa-hello-2.0-r0", "lpa-hello", "2.0-r0"),
        second: ("lpa-lib-1.1-r0", "lpa-lib"),
    };
    budget::budget_stops_after_the_first_batch(tool, &mut sb, &agent, &env, &pair);
}

/// A cancelled install: apk has no repair command, so either the agent removes what the
/// killed install left, or the job says plainly what is left and never claims a consistency
/// it did not check (issue 14 3d).
fn apk_cancel(tool: &Tool) {
    let env = Env::new("apk-cancel");
    let mut sb = (tool.sandbox)("cancel");
    (tool.setup)(&mut sb);
    let agent = sb.start_agent(&env, &agent_config(tool, ""));
    let slow = slow_install_running(&agent, &env);
    // Past unpacking: the files are on disk while the install script sleeps.
    let unpacked = eventually(std::time::Duration::from_secs(30), || {
        sb.root().join("usr/share/lpa/slow.txt").exists()
    });
    assert!(unpacked, "lpa-slow's files never appeared");
    let r = call(
        &agent,
        &env,
        "DELETE",
        &format!("/api/v1/jobs/{slow}"),
        None,
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let j = wait(&agent, &env, &slow, std::time::Duration::from_secs(120));
    assert_eq!(j["status"], "cancelled", "{j}");
    let left = sb.root().join("usr/share/lpa/slow.txt").exists();
    let installed = apk_version(&sb, "lpa-slow");
    // What the job says in words: its messages and error (not its package list).
    let mut said: Vec<String> = j["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["message"].as_str().unwrap_or_default().to_string())
        .collect();
    said.push(j["error"].as_str().unwrap_or_default().to_string());
    let said = said.join("\n");
    if left && installed.is_none() {
        let names_what = said.contains("/usr/share/lpa/slow.txt")
            || said
                .lines()
                .any(|l| l.contains("lpa-slow") && (l.contains("left") || l.contains("remain")));
        assert!(
            names_what,
            "files of the cancelled install are left and the job does not say so: {j}"
        );
        assert!(
            !said.contains("database consistent") && !said.contains("no repair needed"),
            "the job claims a consistency that was not checked, with files left: {j}"
        );
    }
    apk_consistent(&sb);
}
