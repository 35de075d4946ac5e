//! The time budget scenario every backend runs (tests/budget.rs for apt, dnf, zypper and
//! pacman; tests/apk_sandbox.rs for apk): two patches of different severity (or, for apk,
//! of the same unknown severity, ordered by id), the host's batch statistics file saying
//! that the second one's package takes an hour, so the budget stops after the first batch,
//! never by sleeping.
// Shared by several test binaries, each of which uses a part.
#![allow(dead_code)]

use crate::common::jobs::*;
use crate::common::sandbox::{Sandbox, SandboxAgent};
use crate::common::*;
use crate::patches::{apply, job_detail};
use serde_json::{json, Value};

/// Where the agent keeps its batch statistics with the default `jobs.storage_path`.
const BATCH_TIMES: &str = "/var/lib/linux_patch_api/batch_times.json";

/// The two patches: the more severe one applied first, the other cut by the budget.
pub struct Pair {
    /// The patch applied: id, package, the version it updates to.
    pub first: (&'static str, &'static str, &'static str),
    /// The patch cut by the budget: id, package.
    pub second: (&'static str, &'static str),
}

/// Applies both patches of `pair` with a 10-minute budget on an agent whose packages are
/// at `1.0-1` (in the tool's spelling), and checks the cut, the database and the rollback.
pub fn budget_stops_after_the_first_batch(
    tool: &Tool,
    sb: &mut Sandbox,
    agent: &SandboxAgent,
    env: &Env,
    pair: &Pair,
) {
    let (first_id, first_pkg, first_to) = pair.first;
    let (second_id, second_pkg) = pair.second;
    let old = (tool.ver)("1.0-1");
    let old = old.as_str();
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
        [change(first_pkg, Some(old), Some(first_to))]
    );
    assert_eq!((tool.version)(sb, second_pkg), Some(old.to_string()));
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
        [change(first_pkg, Some(first_to), Some(old))]
    );
    assert_eq!((tool.version)(sb, first_pkg), Some(old.to_string()));
    assert_eq!((tool.version)(sb, second_pkg), Some(old.to_string()));
    (tool.consistent)(sb);
}
