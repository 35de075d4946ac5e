//! The time budget of a patch job (`options.max_duration_minutes`) against the REAL apt,
//! dnf, zypper and pacman inside a sandbox root: two patches of different severity, the
//! host's batch statistics file saying that the less severe one's package takes an hour,
//! so the budget stops after the first batch, never by sleeping. The job completes partial,
//! the database is consistent, and a rollback restores exactly the applied part. Needs
//! root (CI is root).

#[path = "scenarios/budget.rs"]
mod budget;
mod common;
#[path = "scenarios/patches.rs"]
mod patches;

use budget::{budget_stops_after_the_first_batch, Pair};
use common::jobs::*;
use common::sandbox::Sandbox;
use common::*;
use patches::install_feed;

/// dnf and zypper: the critical lpa-lib advisory first, the high lpa-hello one cut.
fn rpm(tool: &Tool) {
    let env = Env::new(&format!("budget-{}", tool.backend));
    let mut sb = Sandbox::new(&format!("budget-{}", tool.backend));
    (tool.setup)(&mut sb);
    let agent = sb.start_agent(&env, &agent_config(tool, ""));
    install_old(tool, &agent, &env);
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
    install_old(&APT, &agent, &env);
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
    install_old(&PACMAN, &agent, &env);
    // Arch's feed: AVG-9001 (lpa-hello) high, AVG-9002 (lpa-lib) low.
    let pair = Pair {
        first: ("AVG-9001", "lpa-hello", "2.0-1"),
        second: ("AVG-9002", "lpa-lib"),
    };
    budget_stops_after_the_first_batch(&PACMAN, &mut sb, &agent, &env, &pair);
}
