//! The upgradable set persisted across restarts, against the REAL apt inside a sandbox root:
//! after a restart with nothing changed the first answer comes from the saved set (apt-get
//! is hidden, so the tool cannot have run), and a package installed behind the agent's back
//! between the runs makes it compute the set again. Needs root (CI is root).

mod common;
#[path = "scenarios/inventory.rs"]
mod scenarios;

use common::sandbox::{Sandbox, SandboxAgent};
use common::*;
use scenarios::*;
use serde_json::Value;

/// Where the agent keeps the set inside the root: beside the default job records.
const SAVED: &str = "var/lib/linux_patch_api/inventory/upgrades.json";
const COMPUTED: &str = "upgradable set computed by the tool";
const LOADED: &str = "stamps match, the tool is not run";

/// A read-only agent whose refresher waits a week: only start-up or a request computes.
fn start(sb: &mut Sandbox, env: &Env) -> SandboxAgent {
    sb.start_agent(
        env,
        "api:\n  read_only: true\npackage_manager:\n  backend: apt\n  metadata_max_age_seconds: 604800\n",
    )
}

fn hello(agent: &SandboxAgent, env: &Env) -> Value {
    let d = data(agent, env, "/api/v1/packages?name=lpa-*");
    d["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "lpa-hello")
        .cloned()
        .unwrap_or_else(|| panic!("no lpa-hello: {d}"))
}

#[test]
fn apt_first_answer_after_a_restart_comes_from_the_saved_set() {
    require_sandbox!();
    let env = Env::new("coldstart");
    let mut sb = apt_root("coldstart");
    let agent = start(&mut sb, &env);
    let h = hello(&agent, &env);
    assert_eq!(h["available_version"], "1.1-1", "{h}");
    let log = agent.log_text();
    assert!(log.contains(COMPUTED), "first start computes: {log}");
    assert!(sb.root().join(SAVED).is_file(), "the set was saved");
    drop(agent);

    // Nothing changed: served from the file, and apt-get could not have run.
    let hidden = sb.hide(&["/usr/bin/apt-get"]);
    let agent = start(&mut sb, &env);
    let h = hello(&agent, &env);
    assert_eq!(h["available_version"], "1.1-1", "{h}");
    assert_eq!(h["upgradable"], true, "{h}");
    let log = agent.log_text();
    assert!(log.contains(LOADED), "loaded at start: {log}");
    assert!(!log.contains(COMPUTED), "the tool was not run: {log}");
    drop(agent);
    drop(hidden);

    // A package upgraded behind the agent's back: the saved set is stale and not served.
    sb.run("apt-get", &["install", "-y", "-q", "lpa-hello=1.1-1"]);
    let agent = start(&mut sb, &env);
    let h = hello(&agent, &env);
    assert_eq!(h["version"], "1.1-1", "{h}");
    assert_ne!(h["upgradable"], true, "the stale set is never served: {h}");
    let log = agent.log_text();
    assert!(log.contains("not used"), "the mismatch is logged: {log}");
    assert!(log.contains(COMPUTED), "and the set computed again: {log}");
}
