//! The patch policy (classifications, severity floor, name masks, reboot setting) against
//! the REAL dnf, zypper, apt and pacman inside a sandbox root, with the fixture advisories
//! of each family. Needs root (CI is root).

mod common;
#[path = "scenarios/patches.rs"]
mod patches;
#[path = "scenarios/policy.rs"]
mod policy;

use common::jobs::*;
use common::sandbox::Sandbox;
use common::*;
use patches::*;
use policy::{policy_runs, Fixture};

/// Starts `tool`'s agent with the stand-in reboot command and `extra` configuration,
/// installs the old fixture versions and runs the scenario.
fn run(tool: &Tool, feed: Option<&str>, extra: &str, fixture: &Fixture) {
    let env = Env::new(&format!("policy-{}", tool.backend));
    let mut sb = Sandbox::new(&format!("policy-{}", tool.backend));
    (tool.setup)(&mut sb);
    install_fake_reboot(&sb);
    let feed = feed
        .map(|name| {
            let inside = install_feed(&sb, name);
            format!("advisories:\n  download: false\n  feed_file: {inside}\n{extra}")
        })
        .unwrap_or_default();
    let agent = sb.start_agent(&env, &agent_config(tool, &format!("{REBOOT_CONFIG}{feed}")));
    install_old(tool, &agent, &env);
    policy_runs(tool, &sb, &agent, &env, fixture);
}

/// tests/sandbox/fixtures-rpm.sh: LPA-2026-0001 security high (lpa-hello), LPA-2026-0002
/// bugfix of no severity and LPA-2026-0003 security critical asking for a reboot (both
/// lpa-lib).
const RPM: Fixture = Fixture {
    hello: "LPA-2026-0001",
    lib: &["LPA-2026-0002", "LPA-2026-0003"],
    security: &["LPA-2026-0001", "LPA-2026-0003"],
    high: &["LPA-2026-0001", "LPA-2026-0003"],
    unknown: &["LPA-2026-0002"],
    floor: "high",
    lib_left_out: &[
        ("LPA-2026-0002", "classification"),
        ("LPA-2026-0003", "mask"),
    ],
};

#[test]
fn dnf_selects_by_policy() {
    require_sandbox!();
    let _one = serial();
    run(&DNF, None, "", &RPM);
}

#[test]
fn zypper_selects_by_policy() {
    require_sandbox!();
    let _one = serial();
    run(&ZYPPER, None, "", &RPM);
}

/// The Debian tracker feed: lpa-hello 2.0-1 from the security suite (high); lpa-lib 1.1-1
/// from the main suite, so not a security update, low.
#[test]
fn apt_selects_by_policy() {
    require_sandbox!();
    let _one = serial();
    let fixture = Fixture {
        hello: "lpa-hello-2.0-1",
        lib: &["lpa-lib-1.1-1"],
        security: &["lpa-hello-2.0-1"],
        high: &["lpa-hello-2.0-1"],
        unknown: &[],
        floor: "high",
        lib_left_out: &[("lpa-lib-1.1-1", "classification")],
    };
    run(
        &APT,
        Some("debian-tracker.json"),
        "  release: bookworm\n",
        &fixture,
    );
}

/// The Arch security feed: AVG-9001 high (lpa-hello), AVG-9002 low (lpa-lib), both
/// security.
#[test]
fn pacman_selects_by_policy() {
    require_sandbox!();
    let _one = serial();
    let fixture = Fixture {
        hello: "AVG-9001",
        lib: &["AVG-9002"],
        security: &["AVG-9001", "AVG-9002"],
        high: &["AVG-9001"],
        unknown: &[],
        floor: "high",
        lib_left_out: &[("AVG-9002", "severity")],
    };
    run(&PACMAN, Some("arch-security.json"), "", &fixture);
}
