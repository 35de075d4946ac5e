//! The time budget of a patch job (`options.max_duration_minutes`) against the REAL apt,
//! dnf, zypper and pacman inside a sandbox root: two patches of different severity, the
//! host's batch statistics file saying that the less severe one's package takes an hour,
//! so the budget stops after the first batch, never by sleeping. The job completes partial,
//! the database is consistent, and a rollback restores exactly the applied part. Needs
//! root (CI is root).

mod common;
#[path = "scenarios/patches.rs"]
mod scenarios;

use common::jobs::*;
use common::sandbox::{Sandbox, SandboxAgent};
use common::*;
use scenarios::*;
use serde_json::{json, Value};

/// Where the agent keeps its batch statistics with the default `jobs.storage_path`.
const BATCH_TIMES: &str = "/var/lib/linux_patch_api/batch_times.json";

/// The two patches: the more severe one applied first, the other cut by the budget.
struct Pair {
    first: (&'static str, &'static str, &'static str),
    second: (&'static str, &'static str),
}

fn budget_stops_after_the_first_batch(
    tool: &Tool,
    sb: &mut Sandbox,
    agent: &SandboxAgent,
    env: &Env,
    pair: &Pair,
) {
    let (first_id, first_pkg, first_to) = pair.first;
    let (second_id, second_pkg) = pair.second;
    install_old(tool, agent, env);
    // This host's record: a batch changing the second package takes an hour per package.
    let stats = json!({"version": 1, "backends": {tool.backend: {"packages": {
        second_pkg: {"seconds": 3600.0, "samples": 3}
    }}}});
    sb.write(BATCH_TIMES, &stats.to_string());

    // Out of range: refused before any job, naming the field and its range.
    for bad in [json!(0), json!(1441), json!("10")] {
        let r = call(
            agent,
            env,
            "POST",
            "/api/v1/patches/apply",
            Some(json!({"patches": [first_id], "options": {"max_duration_minutes": bad}})),
        );
        let e = assert_error(&r, 400, "INVALID_REQUEST");
        assert!(
            e["error"]["message"]
                .as_str()
                .unwrap()
                .contains("options.max_duration_minutes: expected an integer 1-1440"),
            "{e}"
        );
    }

    // The dry run shows the batches in order and the cut, from the tool's own simulation.
    let r = call(
        agent,
        env,
        "POST",
        "/api/v1/patches/apply?dry_run=true",
        Some(json!({"patches": [second_id, first_id], "options": {"max_duration_minutes": 10}})),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let batches = assert_envelope(&r)["data"]["batches"].clone();
    assert_eq!(
        batches,
        json!([
            {"patches": [first_id], "packages": [first_pkg], "expected_seconds": 70, "within_budget": true},
            {"patches": [second_id], "packages": [second_pkg], "expected_seconds": 3660, "within_budget": false},
        ]),
        "{batches}"
    );

    let (accepted, job) = apply(
        agent,
        env,
        json!({"patches": [second_id, first_id], "options": {"max_duration_minutes": 10}}),
    );
    assert_eq!(accepted["max_duration_minutes"], 10, "{accepted}");
    assert_eq!(job["status"], "completed", "{job}");
    let result = &job["result"];
    assert_eq!(result["applied"], json!([first_id]), "{job}");
    assert_eq!(result["failed"], json!([]), "{job}");
    assert_eq!(
        result["not_attempted"],
        json!([{"id": second_id, "reason": "time_budget"}]),
        "{job}"
    );
    assert_eq!(result["partial"], true, "{job}");
    assert_eq!(result["reboot_skipped"], Value::Null, "{job}");
    assert_eq!(
        changes(&job),
        [change(first_pkg, Some("1.0-1"), Some(first_to))]
    );
    assert_eq!((tool.version)(sb, second_pkg), Some("1.0-1".into()));
    (tool.consistent)(sb);
    let id = job["job_id"].as_str().unwrap();
    let detail = job_detail(agent, env, id);
    assert_eq!(detail["max_duration_minutes"], 10, "{detail}");
    let log = detail["output"].as_str().unwrap_or_default();
    assert!(log.contains("time budget: batch 2 of 2"), "{detail}");

    // The applied batch was measured and written back beside the second one's hour.
    let written: Value = serde_json::from_str(
        &std::fs::read_to_string(sb.root().join(BATCH_TIMES.trim_start_matches('/'))).unwrap(),
    )
    .unwrap();
    let packages = &written["backends"][tool.backend]["packages"];
    assert_eq!(packages[first_pkg]["samples"], 1, "{written}");
    assert_eq!(packages[second_pkg]["seconds"], 3600.0, "{written}");

    // The rollback undoes exactly the applied part.
    let back = rollback(agent, env, id);
    assert_eq!(
        changes(&back),
        [change(first_pkg, Some(first_to), Some("1.0-1"))]
    );
    assert_eq!((tool.version)(sb, first_pkg), Some("1.0-1".into()));
    assert_eq!((tool.version)(sb, second_pkg), Some("1.0-1".into()));
    (tool.consistent)(sb);
}

/// dnf and zypper: the critical lpa-lib advisory first, the high lpa-hello one cut.
fn rpm(tool: &Tool) {
    let env = Env::new(&format!("budget-{}", tool.backend));
    let mut sb = Sandbox::new(&format!("budget-{}", tool.backend));
    (tool.setup)(&mut sb);
    let agent = sb.start_agent(&env, &agent_config(tool, ""));
    let pair = Pair {
        first: ("LPA-2026-0003", "lpa-lib", "1.1-1"),
        second: ("LPA-2026-0001", "lpa-hello"),
    };
    budget_stops_after_the_first_batch(tool, &mut sb, &agent, &env, &pair);
}

#[test]
fn apt_budget_stops_after_the_first_batch() {
    require_sandbox!();
    let _one = serial();
    let env = Env::new("budget-apt");
    let mut sb = Sandbox::new("budget-apt");
    (APT.setup)(&mut sb);
    let feed = install_feed(&sb, "debian-tracker.json");
    let config =
        format!("advisories:\n  download: false\n  feed_file: {feed}\n  release: bookworm\n");
    let agent = sb.start_agent(&env, &agent_config(&APT, &config));
    // The tracker rates lpa-hello's update high and lpa-lib's low.
    let pair = Pair {
        first: ("lpa-hello-2.0-1", "lpa-hello", "2.0-1"),
        second: ("lpa-lib-1.1-1", "lpa-lib"),
    };
    budget_stops_after_the_first_batch(&APT, &mut sb, &agent, &env, &pair);
}

#[test]
fn dnf_budget_stops_after_the_first_batch() {
    require_sandbox!();
    let _one = serial();
    rpm(&DNF);
}

#[test]
fn zypper_budget_stops_after_the_first_batch() {
    require_sandbox!();
    let _one = serial();
    rpm(&ZYPPER);
}

#[test]
fn pacman_budget_stops_after_the_first_batch() {
    require_sandbox!();
    let _one = serial();
    let env = Env::new("budget-pacman");
    let mut sb = Sandbox::new("budget-pacman");
    (PACMAN.setup)(&mut sb);
    let feed = install_feed(&sb, "arch-security.json");
    let config = format!("advisories:\n  download: false\n  feed_file: {feed}\n");
    let agent = sb.start_agent(&env, &agent_config(&PACMAN, &config));
    // Arch's feed: AVG-9001 (lpa-hello) high, AVG-9002 (lpa-lib) low.
    let pair = Pair {
        first: ("AVG-9001", "lpa-hello", "2.0-1"),
        second: ("AVG-9002", "lpa-lib"),
    };
    budget_stops_after_the_first_batch(&PACMAN, &mut sb, &agent, &env, &pair);
}
