//! The inventory checks every backend runs against its REAL package manager inside a
//! sandbox root (tests/inventory_sandbox.rs, tests/apk_sandbox.rs): the fixture set read
//! through the agent's API over mTLS.
// Shared by several test binaries, each of which uses a part.
#![allow(dead_code)]

use std::collections::BTreeMap;

use crate::common::sandbox::{Sandbox, SandboxAgent};
use crate::common::*;
use serde_json::Value;

pub fn get(agent: &SandboxAgent, env: &Env, path: &str) -> HttpResponse {
    request(agent.addr, env.client_config(), "GET", path, None)
}

pub fn data(agent: &SandboxAgent, env: &Env, path: &str) -> Value {
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

pub fn versions(d: &Value) -> BTreeMap<String, String> {
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

pub fn names(d: &Value) -> Vec<String> {
    d["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect()
}

/// Every program a backend could start.
pub const PACKAGE_TOOLS: [&str; 10] = [
    "/usr/bin/apt-get",
    "/usr/bin/dpkg",
    "/usr/bin/dpkg-query",
    "/usr/bin/rpm",
    "/usr/bin/dnf",
    "/usr/bin/dnf-3",
    "/usr/bin/zypper",
    "/usr/bin/pacman",
    "/usr/bin/apk",
    "/sbin/apk",
];

/// The same checks for every backend: the fixture set installed at 1.0-1, lpa-hello and
/// lpa-lib upgradable to 2.0-1 and 1.1-1 (versions spelled as `ver` maps them);
/// `remove_tool` removes lpa-tool behind the agent's back.
pub fn check_inventory(
    agent: &SandboxAgent,
    env: &Env,
    sb: &Sandbox,
    ver: fn(&str) -> String,
    remove_tool: &dyn Fn(),
) {
    let all = data(agent, env, "/api/v1/packages?name=lpa-*");
    let expected: BTreeMap<String, String> = [
        ("lpa-hello", "1.0-1"),
        ("lpa-lib", "1.0-1"),
        ("lpa-tool", "1.0-1"),
    ]
    .iter()
    .map(|(n, v)| (n.to_string(), ver(v)))
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

    // Asked fresh: no request refreshes by itself, and a root whose setup fetched no
    // metadata (pacman installed from files) has none until the background refresh.
    let up = data(
        agent,
        env,
        "/api/v1/packages?name=lpa-*&status=upgradable&refresh=true",
    );
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
        .map(|(n, v)| (n.to_string(), ver(v)))
        .collect();
    assert_eq!(available, want, "{up}");
    assert!(
        up["metadata_refreshed_at"].is_string() && up["metadata_age_seconds"].as_u64() < Some(60),
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
    assert_eq!(hello["available_version"], ver("2.0-1").as_str());
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

    // Served from the caches: with every package tool gone, the same answers come back
    // (the list as it is after the refresh above).
    let all = data(agent, env, "/api/v1/packages?name=lpa-*");
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

/// An apt root with only the main fixture suite in its sources, its lists fetched by apt
/// itself, and lpa-hello + lpa-lib 1.0-1 installed: lpa-hello is upgradable to 1.1-1 there,
/// and to 2.0-1 once the security suite is added.
pub fn apt_root(tag: &str) -> Sandbox {
    // Every command below runs through `sb.run`: under bwrap with the sandbox's overlay
    // as `/`, so apt-get reads and changes the sandbox's package set, never the host's;
    // `fixtures` only builds .deb files into a temp directory, bound read-only here.
    let mut sb = Sandbox::new(tag);
    let fix = crate::common::sandbox::fixtures("deb");
    sb.bind(fix, "/srv/lpa-deb");
    sb.write(
        "/etc/apt/sources.list.d/lpa.list",
        "deb [trusted=yes] file:/srv/lpa-deb/main ./\n",
    );
    sb.run("apt-get", &["update", "-q"]);
    sb.run(
        "apt-get",
        &["install", "-y", "-q", "lpa-hello=1.0-1", "lpa-lib=1.0-1"],
    );
    sb
}
