//! The package inventory against the REAL package managers, inside a sandbox root: fixture
//! packages installed at known versions by the tool itself, then read through the agent's
//! API over mTLS. Needs root (CI is root); skipped with a printed reason otherwise.

mod common;

use std::collections::BTreeMap;

use common::sandbox::{Sandbox, SandboxAgent};
use common::*;
use serde_json::Value;

fn get(agent: &SandboxAgent, env: &Env, path: &str) -> HttpResponse {
    request(agent.addr, env.client_config(), "GET", path, None)
}

fn data(agent: &SandboxAgent, env: &Env, path: &str) -> Value {
    let r = get(agent, env, path);
    assert_eq!(
        r.status,
        200,
        "{path}: {}\nagent log:\n{}",
        String::from_utf8_lossy(&r.body),
        agent.log_text()
    );
    assert_envelope(&r)["data"].clone()
}

fn versions(d: &Value) -> BTreeMap<String, String> {
    d["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_string(),
                p["version"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn names(d: &Value) -> Vec<String> {
    d["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect()
}

/// Every program a backend could start.
const PACKAGE_TOOLS: [&str; 9] = [
    "/usr/bin/apt-get",
    "/usr/bin/dpkg",
    "/usr/bin/dpkg-query",
    "/usr/bin/rpm",
    "/usr/bin/dnf",
    "/usr/bin/dnf-3",
    "/usr/bin/zypper",
    "/usr/bin/pacman",
    "/usr/bin/apk",
];

/// The same checks for every backend: the fixture set installed at 1.0-1, lpa-hello and
/// lpa-lib upgradable to 2.0-1 and 1.1-1; `remove_tool` removes lpa-tool behind the agent's back.
fn check_inventory(agent: &SandboxAgent, env: &Env, sb: &Sandbox, remove_tool: &dyn Fn()) {
    let all = data(agent, env, "/api/v1/packages?name=lpa-*");
    let expected: BTreeMap<String, String> = [
        ("lpa-hello", "1.0-1"),
        ("lpa-lib", "1.0-1"),
        ("lpa-tool", "1.0-1"),
    ]
    .iter()
    .map(|(n, v)| (n.to_string(), v.to_string()))
    .collect();
    assert_eq!(versions(&all), expected, "{all}");
    assert_eq!(all["total"], 3);
    for p in all["packages"].as_array().unwrap() {
        assert!(
            p["description"]
                .as_str()
                .is_some_and(|d| d.starts_with("LPA fixture")),
            "{p}"
        );
        assert_eq!(p["status"], "installed");
    }

    let up = data(agent, env, "/api/v1/packages?name=lpa-*&status=upgradable");
    let available: BTreeMap<String, String> = up["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            assert_eq!(p["upgradable"], true);
            assert_eq!(p["latest_version"], p["available_version"]);
            (
                p["name"].as_str().unwrap().to_string(),
                p["available_version"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want: BTreeMap<String, String> = [("lpa-hello", "2.0-1"), ("lpa-lib", "1.1-1")]
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    assert_eq!(available, want, "{up}");
    assert!(
        up["metadata_refreshed_at"].is_string(),
        "metadata refreshed and its age reported: {up}"
    );

    let page = data(
        agent,
        env,
        "/api/v1/packages?name=lpa-*&sort=name&order=desc&limit=2&offset=1",
    );
    assert_eq!(names(&page), ["lpa-lib", "lpa-hello"]);
    assert_eq!(
        (
            page["total"].as_u64(),
            page["limit"].as_u64(),
            page["offset"].as_u64()
        ),
        (Some(3), Some(2), Some(1))
    );
    let one = data(agent, env, "/api/v1/packages?name=lpa-h*");
    assert_eq!(names(&one), ["lpa-hello"]);
    let by_size = data(
        agent,
        env,
        "/api/v1/packages?name=lpa-*&sort=size&order=asc",
    );
    let sizes: Vec<u64> = by_size["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["size_bytes"].as_u64().unwrap_or(0))
        .collect();
    assert!(sizes.windows(2).all(|w| w[0] <= w[1]), "{sizes:?}");

    let hello = data(agent, env, "/api/v1/packages/lpa-hello");
    let deps = hello["dependencies"].as_array().unwrap();
    let lib = deps
        .iter()
        .find(|d| d["name"] == "lpa-lib")
        .unwrap_or_else(|| panic!("no lpa-lib dependency: {hello}"));
    assert_eq!(lib["required"], true);
    assert!(
        lib["version"]
            .as_str()
            .is_some_and(|c| c.contains(">=") && c.contains("1.0")),
        "{lib}"
    );
    let files: Vec<&str> = hello["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f.as_str())
        .collect();
    assert!(files.contains(&"/usr/bin/lpa-hello"), "{files:?}");
    assert!(files.contains(&"/etc/lpa-hello.conf"), "{files:?}");
    assert_eq!(hello["upgradable"], true);
    assert_eq!(hello["available_version"], "2.0-1");
    let libd = data(agent, env, "/api/v1/packages/lpa-lib");
    assert!(
        libd["reverse_dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "lpa-hello"),
        "{libd}"
    );

    assert_error(
        &get(agent, env, "/api/v1/packages/lpa-nope"),
        404,
        "PKG_NOT_FOUND",
    );
    assert_error(
        &get(agent, env, "/api/v1/packages/-oAPT::Foo=1"),
        400,
        "INVALID_REQUEST",
    );
    assert_error(
        &get(agent, env, "/api/v1/packages/a%3Bb"),
        400,
        "INVALID_REQUEST",
    );

    // Served from the caches: with every package tool gone, the same answers come back.
    {
        let _hidden = sb.hide(&PACKAGE_TOOLS);
        assert_eq!(
            data(agent, env, "/api/v1/packages?name=lpa-*")["packages"],
            all["packages"]
        );
        assert_eq!(
            data(agent, env, "/api/v1/packages?name=lpa-*&status=upgradable")["packages"],
            up["packages"]
        );
    }

    remove_tool();
    let after = data(agent, env, "/api/v1/packages?name=lpa-*");
    assert_eq!(
        names(&after),
        ["lpa-hello", "lpa-lib"],
        "a removal behind the agent's back shows at once"
    );
}

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
    check_inventory(&agent, &env, &sb, &|| {
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
    check_inventory(&agent, &env, &sb, &|| {
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
    check_inventory(&agent, &env, &sb, &|| {
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
    check_inventory(&agent, &env, &sb, &|| {
        sb.run("zypper", &["--non-interactive", "remove", "lpa-tool"]);
    });
}
