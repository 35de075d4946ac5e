//! Security patches against the REAL dnf, zypper, apt and pacman inside a sandbox root, with
//! fixture advisory data: updateinfo in the rpm repository, a Debian security tracker feed,
//! an Arch security feed, Ubuntu's OSV records (USN) on an Ubuntu-like root (directory and
//! all.zip). Also the reboot signal and reboot jobs, with a stand-in reboot command that
//! records its arguments and time. Needs root (CI is root).

mod common;
#[path = "scenarios/patches.rs"]
mod scenarios;
#[path = "scenarios/ubuntu.rs"]
mod ubuntu;

use std::time::Duration;

use common::jobs::*;
use common::sandbox::{Sandbox, SandboxAgent};
use common::*;
use scenarios::*;
use serde_json::{json, Value};

fn rpm_patches(tool: &Tool, source: &str) {
    let env = Env::new(&format!("patches-{}", tool.backend));
    let mut sb = Sandbox::new(&format!("patches-{}", tool.backend));
    (tool.setup)(&mut sb);
    install_fake_reboot(&sb);
    let agent = sb.start_agent(&env, &agent_config(tool, REBOOT_CONFIG));
    let v = |name| (tool.version)(&sb, name);
    install_old(tool, &agent, &env);

    // The list, most severe first: the critical advisory, the important one, the bugfix.
    let all = patches(&agent, &env, "");
    assert_eq!(
        ids(&all),
        ["LPA-2026-0003", "LPA-2026-0001", "LPA-2026-0002"],
        "{all}"
    );
    expect_patch(
        &all,
        "LPA-2026-0003",
        "critical",
        &["CVE-2026-0002", "CVE-2026-0003"],
        true,
        ("lpa-lib", "1.0-1", "1.1-1"),
    );
    expect_patch(
        &all,
        "LPA-2026-0001",
        "high",
        &["CVE-2026-0001"],
        false,
        ("lpa-hello", "1.0-1", "2.0-1"),
    );
    let critical = patch(&all, "LPA-2026-0003");
    assert_eq!(critical["severity_source"], source);
    assert_eq!(critical["security"], true);
    assert!(critical["published_date"].is_string(), "{critical}");
    let bugfix = patch(&all, "LPA-2026-0002");
    assert_eq!(bugfix["security"], false, "{bugfix}");
    assert_eq!(bugfix["type"], "bugfix", "{bugfix}");
    assert_eq!(
        (
            &all["total"],
            &all["security_updates"],
            &all["requires_reboot"]
        ),
        (&json!(3), &json!(2), &json!(true))
    );
    // The fixture's updateinfo has one malformed <update> (LPA-2026-0099, a date that is
    // not one): dnf's cached file is a feed that kept 3 records and skipped that one;
    // zypper reads its own output, not the file, and has no feed.
    let feeds: Vec<Value> = all["feeds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| json!([f["name"], f["records"], f["skipped"], f["error"]]))
        .collect();
    let expected = match tool.backend {
        "dnf" => vec![json!(["updateinfo lpa", 3, 1, null])],
        _ => vec![],
    };
    assert_eq!(feeds, expected, "{all}");

    // Filters, sort and pages.
    let only = |q: &str| ids(&patches(&agent, &env, q));
    assert_eq!(only("severity=critical"), ["LPA-2026-0003"]);
    assert_eq!(only("severity=high&status=available"), ["LPA-2026-0001"]);
    assert!(only("severity=low").is_empty());
    assert!(only("status=applied").is_empty());
    let by_date = only("sort=published_date&order=asc");
    assert_eq!(by_date.len(), 3);
    let page = patches(&agent, &env, "limit=1&offset=1");
    assert_eq!(
        (ids(&page), &page["total"]),
        (vec!["LPA-2026-0001".to_string()], &json!(3))
    );
    let high = patches(&agent, &env, "severity=high");
    assert_eq!(
        (&high["security_updates"], &high["requires_reboot"]),
        (&json!(1), &json!(false))
    );

    // Unknown ids are refused before any job exists.
    let r = call(
        &agent,
        &env,
        "POST",
        "/api/v1/patches/apply",
        Some(json!({"patches": ["LPA-1999-0001"]})),
    );
    assert_error(&r, 404, "PATCH_NOT_FOUND");

    // One advisory by id: only its package changes; it is then listed as applied.
    let (accepted, job) = apply(&agent, &env, json!({"patches": ["LPA-2026-0001"]}));
    assert_eq!(
        (
            &accepted["patches_count"],
            &accepted["requires_reboot"],
            &accepted["auto_reboot"]
        ),
        (&json!(1), &json!(false), &json!(false))
    );
    assert_eq!(
        changes(&job),
        [change("lpa-hello", Some("1.0-1"), Some("2.0-1"))]
    );
    assert_eq!(v("lpa-lib"), Some("1.0-1".into()));
    let applied = patches(&agent, &env, "status=applied");
    assert_eq!(ids(&applied), ["LPA-2026-0001"]);
    assert_eq!(patch(&applied, "LPA-2026-0001")["job_id"], job["job_id"]);
    assert_eq!(only(""), ["LPA-2026-0003", "LPA-2026-0002"]);

    // Rolled back like any job.
    let back = rollback(&agent, &env, job["job_id"].as_str().unwrap());
    assert_eq!(
        changes(&back),
        [change("lpa-hello", Some("2.0-1"), Some("1.0-1"))]
    );

    // Everything but one package: the two patches that change only lpa-lib are left out.
    let (accepted, job) = apply(
        &agent,
        &env,
        json!({"patches": [], "options": {"exclude_packages": ["lpa-lib"]}}),
    );
    assert_eq!(accepted["patches"], json!(["LPA-2026-0001"]), "{accepted}");
    assert_eq!(accepted["exclude_packages"], json!(["lpa-lib"]));
    assert_eq!(
        changes(&job),
        [change("lpa-hello", Some("1.0-1"), Some("2.0-1"))]
    );
    assert_eq!(v("lpa-lib"), Some("1.0-1".into()));

    // The manager's body with every listed name, allowing a reboot: the critical advisory
    // asks for one, so a reboot job follows after its delay.
    let names: Vec<Value> = patches(&agent, &env, "")["patches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].clone())
        .collect();
    let (accepted, job) = apply(
        &agent,
        &env,
        json!({"packages": names, "allow_reboot": true, "reboot_delay_seconds": 1}),
    );
    assert_eq!(accepted["auto_reboot"], true);
    assert_eq!(
        changes(&job),
        [change("lpa-lib", Some("1.0-1"), Some("1.1-1"))]
    );
    let follow = eventually(Duration::from_secs(10), || {
        job_detail(&agent, &env, job["job_id"].as_str().unwrap())["reboot_job_id"].is_string()
    });
    assert!(follow, "no reboot job after a patch that needs one");
    let reboot_id = job_detail(&agent, &env, job["job_id"].as_str().unwrap())["reboot_job_id"]
        .as_str()
        .unwrap()
        .to_string();
    let reboot = completed(&agent, &env, &reboot_id);
    assert_eq!(reboot["operation"], "reboot");
    assert_eq!(reboots(&sb).len(), 1);
    assert_eq!(reboots(&sb)[0].1, "--now");

    // Nothing left.
    let none = patches(&agent, &env, "");
    assert_eq!(
        (&none["total"], &none["security_updates"]),
        (&json!(0), &json!(0)),
        "{none}"
    );
}

/// Issues (source package x CVE) in tests/sandbox/feeds/debian-tracker.json.
const TRACKER_ISSUES: u64 = 7;

/// apt: security by the candidate's suite, CVE ids and severity from the tracker feed;
/// Debian's reboot marker; reboot jobs (delay, cancel, force, audit reason).
fn apt_patches_and_reboots() {
    let env = Env::new("patches-apt");
    let mut sb = Sandbox::new("patches-apt");
    let run = sb.share_run();
    (APT.setup)(&mut sb);
    install_fake_reboot(&sb);
    let feed = install_feed(&sb, "debian-tracker.json");
    let config = format!(
        "{REBOOT_CONFIG}advisories:\n  download: false\n  feed_file: {feed}\n  release: bookworm\n"
    );
    let agent = sb.start_agent(&env, &agent_config(&APT, &config));
    install_old(&APT, &agent, &env);
    assert_eq!(system_info(&agent, &env)["pending_reboot"], false);

    let all = patches(&agent, &env, "");
    assert_eq!(ids(&all), ["lpa-hello-2.0-1", "lpa-lib-1.1-1"], "{all}");
    // The configured file stands for the official tracker; downloads are off, and the
    // official OSV feed, not on disk, is left out.
    let feeds = all["feeds"].as_array().unwrap();
    assert_eq!(feeds.len(), 1, "{all}");
    assert_eq!(feeds[0]["name"], "debian-tracker");
    assert_eq!(
        (
            &feeds[0]["records"],
            &feeds[0]["skipped"],
            &feeds[0]["error"]
        ),
        (&json!(TRACKER_ISSUES), &json!(0), &json!(null)),
        "{all}"
    );
    expect_patch(
        &all,
        "lpa-hello-2.0-1",
        "high",
        &["CVE-2026-0001", "CVE-2026-0004"],
        false,
        ("lpa-hello", "1.0-1", "2.0-1"),
    );
    expect_patch(
        &all,
        "lpa-lib-1.1-1",
        "low",
        &["CVE-2026-0005"],
        false,
        ("lpa-lib", "1.0-1", "1.1-1"),
    );
    let hello = patch(&all, "lpa-hello-2.0-1");
    assert_eq!(
        (&hello["security"], &hello["severity_source"]),
        (&json!(true), &json!("debian-tracker"))
    );
    // The feed names a CVE for lpa-lib too, but its update is not from a security suite.
    assert_eq!(patch(&all, "lpa-lib-1.1-1")["security"], false);
    assert_eq!(all["security_updates"], 1);

    // Apply the security update; a package's script asks for a reboot meanwhile.
    std::fs::write(
        run.join("reboot-required"),
        "*** System restart required ***\n",
    )
    .unwrap();
    std::fs::write(run.join("reboot-required.pkgs"), "lpa-hello\n").unwrap();
    let (_, job) = apply(&agent, &env, json!({"patches": ["lpa-hello-2.0-1"]}));
    assert_eq!(
        changes(&job),
        [change("lpa-hello", Some("1.0-1"), Some("2.0-1"))]
    );
    let info = system_info(&agent, &env);
    assert_eq!(info["pending_reboot"], true, "{info}");
    assert_eq!(info["pending_reboot_packages"], json!(["lpa-hello"]));
    let p = patches(&agent, &env, "");
    assert_eq!(ids(&p), ["lpa-lib-1.1-1"]);
    assert_eq!(p["security_updates"], 0);

    reboot_jobs(&sb, &agent, &env);
}

/// Reboot jobs: the delay is honoured, a cancel before it prevents the reboot, a running
/// package job blocks a reboot unless forced, and the reason reaches the audit log.
fn reboot_jobs(sb: &Sandbox, agent: &SandboxAgent, env: &Env) {
    let body = json!({"delay_seconds": 2, "force": false, "reason": "Scheduled maintenance"});
    let r = call(agent, env, "POST", "/api/v1/system/reboot", Some(body));
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    let data = assert_envelope(&r)["data"].clone();
    assert_eq!(
        (&data["operation"], &data["status"], &data["reason"]),
        (
            &json!("reboot"),
            &json!("pending"),
            &json!("Scheduled maintenance")
        )
    );
    let at = time::OffsetDateTime::parse(
        data["scheduled_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap()
    .unix_timestamp();
    assert!(reboots(sb).is_empty(), "rebooted before its delay");
    let id = data["job_id"].as_str().unwrap().to_string();
    let job = completed(agent, env, &id);
    let done = reboots(sb);
    assert_eq!(done.len(), 1, "{job}");
    assert!(done[0].0 >= at, "ran at {} before {at}", done[0].0);
    assert_eq!(done[0].1, "--now");
    let audit =
        std::fs::read_to_string(sb.root().join("var/log/linux_patch_api/audit.log")).unwrap();
    let line = audit
        .lines()
        .find(|l| l.contains("/api/v1/system/reboot"))
        .unwrap();
    let line: Value = serde_json::from_str(line).unwrap();
    assert_eq!(line["reason"], "Scheduled maintenance");

    // Cancelled while waiting: never runs.
    let id = submit(
        agent,
        env,
        "POST",
        "/api/v1/system/reboot",
        Some(json!({"delay_seconds": 3})),
    );
    let r = call(agent, env, "DELETE", &format!("/api/v1/jobs/{id}"), None);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(job_detail(agent, env, &id)["status"], "cancelled");
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(reboots(sb).len(), 1, "a cancelled reboot ran");

    // A running package job blocks a reboot unless forced (the manager's body).
    let slow = slow_install_running(agent, env);
    let r = call(
        agent,
        env,
        "POST",
        "/api/v1/system/reboot",
        Some(json!({"delay_seconds": 0, "force": false})),
    );
    let e = assert_error(&r, 409, "REBOOT_BLOCKED");
    assert_eq!(e["error"]["details"]["active_jobs"], json!([slow]));
    let id = submit(
        agent,
        env,
        "POST",
        "/api/v1/system/reboot",
        Some(json!({"delay_seconds": 0, "force": true})),
    );
    completed(agent, env, &id);
    assert_eq!(reboots(sb).len(), 2);
    assert_eq!(job_detail(agent, env, &slow)["status"], "running");
    let r = call(agent, env, "DELETE", &format!("/api/v1/jobs/{slow}"), None);
    assert_eq!(r.status, 200);
}

/// pacman: advisories grouped as in Arch's security feed.
fn pacman_patches() {
    let env = Env::new("patches-pacman");
    let mut sb = Sandbox::new("patches-pacman");
    (PACMAN.setup)(&mut sb);
    let feed = install_feed(&sb, "arch-security.json");
    let config = format!("advisories:\n  download: false\n  feed_file: {feed}\n");
    let agent = sb.start_agent(&env, &agent_config(&PACMAN, &config));
    install_old(&PACMAN, &agent, &env);
    let all = patches(&agent, &env, "");
    assert_eq!(ids(&all), [ARCH_HELLO, ARCH_LIB], "{all}");
    expect_patch(
        &all,
        ARCH_HELLO,
        "high",
        &ARCH_HELLO_CVES,
        false,
        ("lpa-hello", "1.0-1", "2.0-1"),
    );
    let lib = patch(&all, ARCH_LIB);
    assert_eq!(
        (&lib["severity"], &lib["security"]),
        (&json!("low"), &json!(true))
    );
    assert_eq!(lib["severity_source"], "arch-asa");
    assert_eq!(all["security_updates"], 2);
    let (_, job) = apply(&agent, &env, json!({"patches": [ARCH_LIB]}));
    assert_eq!(
        changes(&job),
        [change("lpa-lib", Some("1.0-1"), Some("1.1-1"))]
    );
    assert_eq!((PACMAN.version)(&sb, "lpa-hello"), Some("1.0-1".into()));
}

/// The Arch fixture feed's group for lpa-hello, its CVE ids, and its group for lpa-lib.
const ARCH_HELLO: &str = "AVG-9001";
const ARCH_HELLO_CVES: [&str; 2] = ["CVE-2026-0001", "CVE-2026-0004"];
const ARCH_LIB: &str = "AVG-9002";

#[test]
fn dnf_patches_from_updateinfo() {
    require_sandbox!();
    let _one = serial();
    rpm_patches(&DNF, "updateinfo");
}

#[test]
fn zypper_patches_from_updateinfo() {
    require_sandbox!();
    let _one = serial();
    rpm_patches(&ZYPPER, "zypper");
}

#[test]
fn apt_patches_from_the_tracker_feed_and_reboots() {
    require_sandbox!();
    let _one = serial();
    apt_patches_and_reboots();
}

#[test]
fn pacman_patches_from_the_arch_feed() {
    require_sandbox!();
    let _one = serial();
    pacman_patches();
}

#[test]
fn apt_on_ubuntu_patches_from_usn_records_in_a_directory() {
    require_sandbox!();
    let _one = serial();
    ubuntu::usn_patches_from_a_directory();
}

#[test]
fn apt_on_ubuntu_patches_from_usn_records_in_an_all_zip() {
    require_sandbox!();
    let _one = serial();
    ubuntu::usn_patches_from_an_archive();
}
