//! Repository metadata against the REAL apt inside a sandbox root: reads are served from the
//! lists apt already has (no `apt-get update` on a request, the age taken from the lists'
//! mtimes, also after a restart), the background refresher fetches new metadata when it is
//! older than the max age and swaps in the new upgradable set, `?refresh=true` refreshes
//! and is rate-limited, and read-only mode never refreshes. Needs root (CI is root).

mod common;
#[path = "scenarios/inventory.rs"]
mod scenarios;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, SystemTime};

use common::sandbox::{run_ok, Sandbox, SandboxAgent};
use common::*;
use scenarios::*;
use serde_json::Value;

/// Debian's stamp of a successful update, which the agent rewrites after its refreshes.
const STAMP: &str = "var/lib/apt/periodic/update-success-stamp";
const LISTS: &str = "var/lib/apt/lists";
const TWO_HOURS: u64 = 7200;

/// Dates every entry of apt's lists `secs` in the past, as lists fetched that long ago are.
fn age_lists(sb: &Sandbox, secs: u64) -> SystemTime {
    let then = SystemTime::now() - Duration::from_secs(secs);
    let epoch = then
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // Whole seconds, as `touch -d @N` sets them.
    let then = SystemTime::UNIX_EPOCH + Duration::from_secs(epoch);
    for entry in std::fs::read_dir(sb.root().join(LISTS)).unwrap().flatten() {
        run_ok(
            Command::new("touch")
                .arg("-h")
                .arg("-d")
                .arg(format!("@{epoch}"))
                .arg(entry.path()),
        );
    }
    then
}

/// Every list entry with its mtime, to see whether apt rewrote any.
fn list_mtimes(sb: &Sandbox) -> Vec<(PathBuf, SystemTime)> {
    let mut all: Vec<(PathBuf, SystemTime)> = std::fs::read_dir(sb.root().join(LISTS))
        .unwrap()
        .flatten()
        .map(|e| (e.path(), e.metadata().unwrap().modified().unwrap()))
        .collect();
    all.sort();
    all
}

fn config(extra: &str) -> String {
    format!("package_manager:\n  backend: apt\n{extra}")
}

fn hello(d: &Value) -> Value {
    d["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "lpa-hello")
        .cloned()
        .unwrap_or_else(|| panic!("no lpa-hello: {d}"))
}

fn age_of(d: &Value) -> u64 {
    d["metadata_age_seconds"]
        .as_u64()
        .unwrap_or_else(|| panic!("no metadata_age_seconds: {d}"))
}

fn stamp_exists(sb: &Sandbox) -> bool {
    sb.root().join(STAMP).exists()
}

fn start(sb: &mut Sandbox, env: &Env, extra: &str) -> SandboxAgent {
    sb.start_agent(env, &config(extra))
}

/// The shared apt root, checked to start without apt's update stamp (the tests tell the
/// agent's refreshes by it).
fn apt_root(tag: &str) -> Sandbox {
    let sb = scenarios::apt_root(tag);
    assert!(
        !sb.root().join(STAMP).exists(),
        "the base root has no stamp"
    );
    sb
}

#[test]
fn apt_reads_are_served_from_the_lists_without_a_refresh_and_dated_by_them() {
    require_sandbox!();
    let env = Env::new("meta-cache");
    let mut sb = apt_root("meta-cache");
    let fetched = age_lists(&sb, TWO_HOURS);
    let before = list_mtimes(&sb);
    // Older than the default max age, but the refresher waits a week here: nothing but a
    // request could refresh during this test.
    let slow = "  metadata_max_age_seconds: 604800\n";
    let agent = start(&mut sb, &env, slow);

    let d = data(&agent, &env, "/api/v1/packages?name=lpa-*");
    assert_eq!(hello(&d)["available_version"], "1.1-1", "{d}");
    let age = age_of(&d);
    assert!(
        (TWO_HOURS..TWO_HOURS + 120).contains(&age),
        "the lists' age, not the agent's: {age} ({d})"
    );
    let at = time::OffsetDateTime::parse(
        d["metadata_refreshed_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(at, time::OffsetDateTime::from(fetched), "{d}");
    let p = data(&agent, &env, "/api/v1/patches");
    assert!(
        (TWO_HOURS..TWO_HOURS + 120).contains(&age_of(&p)),
        "patches say the same age: {p}"
    );
    assert_eq!(list_mtimes(&sb), before, "no apt-get update ran");
    assert!(!stamp_exists(&sb), "no refresh succeeded, none was run");

    // A new process knows the age from the lists alone.
    drop(agent);
    let agent = start(&mut sb, &env, slow);
    let d = data(&agent, &env, "/api/v1/packages/lpa-hello");
    assert!(
        age_of(&d) >= TWO_HOURS,
        "after a restart the lists are still old: {d}"
    );
    assert_eq!(d["available_version"], "1.1-1");
    assert_eq!(
        list_mtimes(&sb),
        before,
        "nor at the first request after a restart"
    );
}

#[test]
fn apt_background_refresh_fetches_old_metadata_and_swaps_in_the_new_set() {
    require_sandbox!();
    let env = Env::new("meta-background");
    let mut sb = apt_root("meta-background");
    age_lists(&sb, TWO_HOURS);
    let agent = start(
        &mut sb,
        &env,
        // Polled until the new set shows: the per-client request limit is not what is tested.
        "  metadata_max_age_seconds: 3\n  metadata_refresh_jitter_seconds: 0\n\
         rate_limits:\n  enabled: false\n",
    );
    let d = data(&agent, &env, "/api/v1/packages?name=lpa-*");
    assert_eq!(hello(&d)["available_version"], "1.1-1", "{d}");

    // Published behind the agent's back; only the agent's own refresh can fetch it.
    sb.write(
        "/etc/apt/sources.list.d/lpa-security.list",
        "deb [trusted=yes] file:/srv/lpa-deb/security ./\n",
    );
    let mut last = Value::Null;
    let seen = eventually(Duration::from_secs(60), || {
        last = data(&agent, &env, "/api/v1/packages?name=lpa-*");
        hello(&last)["available_version"] == "2.0-1"
    });
    assert!(
        seen,
        "the refreshed set was never served: {last}\n{}",
        agent.log_text()
    );
    assert!(stamp_exists(&sb), "the refresh wrote the stamp");
    assert!(age_of(&last) < 60, "fresh metadata reported: {last}");
    assert!(last["metadata_refresh_error"].is_null(), "{last}");
    let patches = data(&agent, &env, "/api/v1/patches");
    assert!(
        patches.to_string().contains("2.0-1"),
        "patches over the new set too: {patches}"
    );
}

#[test]
fn apt_refresh_true_refreshes_once_a_minute_and_is_validated() {
    require_sandbox!();
    let env = Env::new("meta-explicit");
    let mut sb = apt_root("meta-explicit");
    age_lists(&sb, TWO_HOURS);
    let agent = start(&mut sb, &env, "  metadata_max_age_seconds: 604800\n");
    sb.write(
        "/etc/apt/sources.list.d/lpa-security.list",
        "deb [trusted=yes] file:/srv/lpa-deb/security ./\n",
    );
    let cached = data(&agent, &env, "/api/v1/packages?name=lpa-*");
    assert_eq!(hello(&cached)["available_version"], "1.1-1");

    let fresh = data(&agent, &env, "/api/v1/packages?name=lpa-*&refresh=true");
    assert_eq!(hello(&fresh)["available_version"], "2.0-1", "{fresh}");
    assert!(age_of(&fresh) < 60, "{fresh}");
    assert!(stamp_exists(&sb));

    let again = get(&agent, &env, "/api/v1/patches?refresh=true");
    let e = assert_error(&again, 429, "RATE_LIMIT_EXCEEDED");
    let retry: u64 = again
        .header("Retry-After")
        .unwrap_or_else(|| panic!("no Retry-After: {e}"))
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_error(
        &get(&agent, &env, "/api/v1/packages/lpa-hello?refresh=true"),
        429,
        "RATE_LIMIT_EXCEEDED",
    );
    // Without refresh the same agent answers at once, from the refreshed cache.
    let d = data(&agent, &env, "/api/v1/packages/lpa-hello");
    assert_eq!(d["available_version"], "2.0-1");

    for bad in ["yes", "", "TRUE"] {
        let r = get(&agent, &env, &format!("/api/v1/packages?refresh={bad}"));
        let e = assert_error(&r, 400, "INVALID_REQUEST");
        assert!(
            e.to_string().contains("refresh"),
            "names the parameter: {e}"
        );
    }
}

#[test]
fn apt_read_only_never_refreshes() {
    require_sandbox!();
    let env = Env::new("meta-readonly");
    let mut sb = apt_root("meta-readonly");
    age_lists(&sb, TWO_HOURS);
    let before = list_mtimes(&sb);
    let agent = start(
        &mut sb,
        &env,
        "  metadata_max_age_seconds: 1\n  metadata_refresh_jitter_seconds: 0\napi:\n  read_only: true\n",
    );
    let d = data(&agent, &env, "/api/v1/packages?name=lpa-*");
    assert_eq!(hello(&d)["available_version"], "1.1-1");
    let e = assert_error(
        &get(&agent, &env, "/api/v1/packages?refresh=true"),
        403,
        "API_READ_ONLY",
    );
    assert!(e.to_string().contains("refresh=true"), "{e}");
    // Five times the max age: a refresher that ran would have refreshed by now (the
    // background test sees it within seconds with the same settings).
    let refreshed = eventually(Duration::from_secs(5), || {
        stamp_exists(&sb) || list_mtimes(&sb) != before
    });
    assert!(!refreshed, "read-only refreshed:\n{}", agent.log_text());
    assert!(age_of(&data(&agent, &env, "/api/v1/packages")) >= TWO_HOURS);
}

#[test]
fn apt_read_only_refreshes_when_configured_to() {
    require_sandbox!();
    let env = Env::new("meta-readonly-on");
    let mut sb = apt_root("meta-readonly-on");
    age_lists(&sb, TWO_HOURS);
    let agent = start(
        &mut sb,
        &env,
        "  metadata_max_age_seconds: 604800\n  refresh_in_read_only: true\napi:\n  read_only: true\n",
    );
    let d = data(&agent, &env, "/api/v1/packages?refresh=true");
    assert!(age_of(&d) < 60, "{d}");
    assert!(
        stamp_exists(&sb),
        "refreshed though read-only, as configured"
    );
}
