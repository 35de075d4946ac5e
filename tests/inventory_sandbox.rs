//! The package inventory against the REAL package managers, inside a sandbox root: fixture
//! packages installed at known versions by the tool itself, then read through the agent's
//! API over mTLS. Needs root (CI is root); skipped with a printed reason otherwise.

mod common;
#[path = "scenarios/inventory.rs"]
mod scenarios;

use common::jobs::same_version;
use common::sandbox::Sandbox;
use common::*;
use scenarios::*;

/// Every installed package the tool lists, by name, for a whole-inventory comparison.
fn tool_count(sb: &Sandbox, program: &str, args: &[&str], keep: fn(&str) -> bool) -> usize {
    let out = sb.run(program, args);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| keep(l))
        .count()
}

#[test]
fn apt_inventory_in_sandbox() {
    require_sandbox!();
    let env = Env::new("sb-apt");
    let mut sb = Sandbox::new("apt");
    sb.with_deb_repos();
    sb.run(
        "apt-get",
        &[
            "install",
            "-y",
            "-q",
            "lpa-hello=1.0-1",
            "lpa-lib=1.0-1",
            "lpa-tool=1.0-1",
        ],
    );
    let agent = sb.start_agent(&env, "package_manager:\n  backend: apt\n");

    let everything = data(&agent, &env, "/api/v1/packages?limit=1000");
    let dpkg = tool_count(
        &sb,
        "dpkg-query",
        &["-W", "-f", "${db:Status-Abbrev} ${Package}\n"],
        |l| l.starts_with("ii "),
    );
    assert_eq!(
        everything["total"].as_u64().unwrap() as usize,
        dpkg,
        "every installed package, as dpkg-query lists them"
    );
    check_inventory(&agent, &env, &sb, same_version, &|| {
        sb.run("apt-get", &["remove", "-y", "-q", "lpa-tool"]);
    });
}

#[test]
fn pacman_inventory_in_sandbox() {
    require_sandbox!();
    let env = Env::new("sb-pacman");
    let mut sb = Sandbox::new("pacman");
    sb.with_pacman_fixtures_installed();
    let agent = sb.start_agent(&env, "package_manager:\n  backend: pacman\n");

    let everything = data(&agent, &env, "/api/v1/packages?limit=1000");
    let pacman = tool_count(&sb, "pacman", &["-Q"], |l| !l.trim().is_empty());
    assert_eq!(
        everything["total"].as_u64().unwrap() as usize,
        pacman,
        "every package pacman -Q lists"
    );
    check_inventory(&agent, &env, &sb, same_version, &|| {
        sb.run("pacman", &["--noconfirm", "-R", "lpa-tool"]);
    });
}

/// A sandbox with the rpm fixture repository configured for dnf and zypper.
fn rpm_sandbox(tag: &str) -> Sandbox {
    let mut sb = Sandbox::new(tag);
    sb.with_rpm_repo();
    sb
}

fn rpm_count(sb: &Sandbox) -> usize {
    tool_count(sb, "rpm", &["-qa", "--qf", "%{NAME}\n"], |l| {
        !l.is_empty() && l != "gpg-pubkey"
    })
}

#[test]
fn dnf_inventory_in_sandbox() {
    require_sandbox!();
    let env = Env::new("sb-dnf");
    let mut sb = rpm_sandbox("dnf");
    sb.run(
        "dnf",
        &[
            "-y",
            "-q",
            "install",
            "lpa-lib-1.0-1",
            "lpa-hello-1.0-1",
            "lpa-tool-1.0-1",
        ],
    );
    let agent = sb.start_agent(&env, "package_manager:\n  backend: dnf\n");
    let everything = data(&agent, &env, "/api/v1/packages?limit=1000");
    assert_eq!(
        everything["total"].as_u64().unwrap() as usize,
        rpm_count(&sb),
        "every package rpm -qa lists"
    );
    check_inventory(&agent, &env, &sb, same_version, &|| {
        sb.run("dnf", &["-y", "-q", "remove", "lpa-tool"]);
    });
}

#[test]
fn zypper_inventory_in_sandbox() {
    require_sandbox!();
    let env = Env::new("sb-zypper");
    let mut sb = rpm_sandbox("zypper");
    sb.run("zypper", &["--non-interactive", "refresh"]);
    sb.run(
        "zypper",
        &[
            "--non-interactive",
            "install",
            "lpa-lib=1.0-1",
            "lpa-hello=1.0-1",
            "lpa-tool=1.0-1",
        ],
    );
    let agent = sb.start_agent(&env, "package_manager:\n  backend: zypper\n");
    let everything = data(&agent, &env, "/api/v1/packages?limit=1000");
    assert_eq!(
        everything["total"].as_u64().unwrap() as usize,
        rpm_count(&sb),
        "every package rpm -qa lists"
    );
    check_inventory(&agent, &env, &sb, same_version, &|| {
        sb.run("zypper", &["--non-interactive", "remove", "lpa-tool"]);
    });
}
