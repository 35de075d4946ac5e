//! `GET /metrics` and `GET /api/v1/system/restart-needed` on the real server over mTLS:
//! the whole metrics body held to the exposition grammar by the strict checker of
//! `common/exposition.rs` (and by `promtool check metrics` where it is installed), the
//! request counters moving with requests, and restart-needed finding, on the host's own
//! `/proc`, a process this test started whose program was then deleted or replaced.
//!
//! No package changes here: the agent's package root is an empty directory (whatever
//! backend the host's tools suggest finds nothing in it); the sandbox test
//! (tests/metrics_sandbox.rs) reads real values with a real backend.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::exposition::{self, Document};
use common::*;

const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// GETs /metrics on `tls` and checks the whole body; the promtool check too when present.
fn scrape(tls: &mut Tls) -> Document {
    let resp = get_on(tls, "/metrics");
    assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
    assert_eq!(resp.header("content-type"), Some(CONTENT_TYPE));
    assert!(resp.header("x-request-id").is_some());
    let text = String::from_utf8(resp.body).expect("UTF-8");
    let doc = exposition::check(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    if let Some(verdict) = exposition::promtool(&text) {
        verdict.unwrap_or_else(|e| panic!("promtool check metrics: {e}\n{text}"));
    }
    doc
}

fn requests(doc: &Document, class: &str) -> f64 {
    doc.value("linux_patch_api_http_requests_total", &[("code", class)])
        .unwrap_or_else(|| panic!("no {class} counter"))
}

#[test]
fn metrics_are_valid_exposition_text_and_count_requests() {
    let env = Env::new("metrics");
    let agent = env.start(env.config());
    let mut tls = connect(agent.addr(), env.client_config());

    let first = scrape(&mut tls);
    for (name, kind) in [
        ("linux_patch_api_build_info", "gauge"),
        ("linux_patch_api_services_restart_needed", "gauge"),
        ("linux_patch_api_http_requests_total", "counter"),
        ("linux_patch_api_jobs", "gauge"),
    ] {
        assert_eq!(
            first.types.get(name).map(String::as_str),
            Some(kind),
            "{name}"
        );
    }
    // The backend is whatever the host's tools make of the agent's empty package root.
    let info = request(
        agent.addr(),
        env.client_config(),
        "GET",
        "/api/v1/system/info",
        None,
    );
    let info = assert_envelope(&info)["data"].clone();
    let backend = info["package_manager"]
        .as_str()
        .unwrap_or("none")
        .to_string();
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        first.value(
            "linux_patch_api_build_info",
            &[("version", version), ("backend", &backend)]
        ),
        Some(1.0)
    );
    assert_eq!(first.family("linux_patch_api_build_info").len(), 1);
    // Every status is listed, 0 included; no job ran.
    let jobs = first.family("linux_patch_api_jobs");
    let mut statuses: Vec<&str> = jobs.iter().map(|(l, _)| l[0].1.as_str()).collect();
    statuses.sort_unstable();
    assert_eq!(
        statuses,
        [
            "cancelled",
            "completed",
            "failed",
            "pending",
            "running",
            "timeout"
        ]
    );
    assert!(jobs.iter().all(|(_, v)| *v == 0.0));
    // Patches are computed only when asked for (and cannot be in an empty root): nothing is
    // said about them.
    assert!(!first
        .types
        .contains_key("linux_patch_api_security_updates_pending"));
    let units = first
        .value("linux_patch_api_services_restart_needed", &[])
        .expect("services_restart_needed");
    assert!(units >= 0.0 && units.fract() == 0.0);

    // Counters move with the answers written since: the first scrape (200), a 404, a 405.
    let missing = get_on(&mut tls, "/api/v1/no-such-thing");
    assert_error(&missing, 404, "NOT_FOUND");
    let post = exchange(
        &mut tls,
        b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    )
    .unwrap();
    assert_error(&post, 405, "METHOD_NOT_ALLOWED");
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
    let second = scrape(&mut tls);
    assert!(requests(&second, "2xx") >= requests(&first, "2xx") + 1.0);
    assert!(requests(&second, "4xx") >= requests(&first, "4xx") + 2.0);
    assert!(requests(&second, "5xx") >= requests(&first, "5xx"));

    // A query is refused like on any route, in the envelope.
    let query = get_on(&mut tls, "/metrics?format=json");
    assert_error(&query, 400, "INVALID_REQUEST");
}

#[test]
fn metrics_need_a_certificate_and_count_against_the_health_budget() {
    let env = Env::new("metrics-access");
    let mut config = env.config();
    config.health.allow_unauthenticated = true;
    config.rate_limits.health.requests = 1;
    config.rate_limits.health.window_seconds = 60;
    let agent = env.start(config);
    let anonymous = client_config(&env.ca.cert_pem, None, &[&rustls::version::TLS13]);
    let mut tls = tls_over(
        std::net::TcpStream::connect(agent.addr()).unwrap(),
        anonymous,
        agent.addr(),
    );
    let result = exchange(&mut tls, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(result.is_err(), "expected a close, got {result:?}");
    let ok = request(agent.addr(), env.client_config(), "GET", "/metrics", None);
    assert_eq!(ok.status, 200);
    let limited = request(agent.addr(), env.client_config(), "GET", "/metrics", None);
    assert_error(&limited, 429, "RATE_LIMIT_EXCEEDED");
}

/// A copy of `/bin/sleep` at `path`, running (killed on drop).
struct Sleeper {
    child: Child,
    path: PathBuf,
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a copy of sleep and waits until the kernel has mapped it (the exec is done).
fn sleeper(dir: &Path, name: &str) -> Sleeper {
    let path = dir.join(name);
    std::fs::copy("/bin/sleep", &path).unwrap();
    let child = Command::new(&path)
        .arg("120")
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let maps = format!("/proc/{}/maps", child.id());
    let shown = path.to_string_lossy().into_owned();
    assert!(
        eventually(Duration::from_secs(10), || {
            std::fs::read_to_string(&maps).is_ok_and(|m| m.contains(&shown))
        }),
        "{name} never mapped its program"
    );
    Sleeper { child, path }
}

/// The entry of `pid` in a restart-needed answer.
fn entry_of(data: &serde_json::Value, pid: u32) -> Option<serde_json::Value> {
    data["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["pid"] == pid)
        .cloned()
}

#[test]
fn restart_needed_lists_a_process_whose_program_was_deleted_or_replaced() {
    let env = Env::new("restart-needed");
    let agent = env.start(env.config());
    let dir = TempDir::new("restart-needed-bin");
    let deleted = sleeper(dir.path(), "lpa-gone");
    let replaced = sleeper(dir.path(), "lpa-swapped");
    let untouched = sleeper(dir.path(), "lpa-kept");

    let ask = || {
        let resp = request(
            agent.addr(),
            env.client_config(),
            "GET",
            "/api/v1/system/restart-needed",
            None,
        );
        assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
        assert_envelope(&resp)["data"].clone()
    };
    // Nothing of ours is stale yet.
    let before = ask();
    for s in [&deleted, &replaced, &untouched] {
        assert!(entry_of(&before, s.child.id()).is_none(), "{before}");
    }

    std::fs::remove_file(&deleted.path).unwrap();
    // Replaced the way a package upgrade does it: a new file renamed over the old one.
    let staged = dir.path().join("lpa-swapped.dpkg-new");
    std::fs::copy("/bin/sleep", &staged).unwrap();
    std::fs::rename(&staged, &replaced.path).unwrap();

    let data = ask();
    let gone = entry_of(&data, deleted.child.id()).unwrap_or_else(|| panic!("{data}"));
    assert_eq!(gone["command"], "lpa-gone");
    assert_eq!(
        gone["deleted_files"],
        serde_json::json!([deleted.path.to_string_lossy()])
    );
    let swapped = entry_of(&data, replaced.child.id()).unwrap_or_else(|| panic!("{data}"));
    assert_eq!(swapped["command"], "lpa-swapped");
    assert_eq!(
        swapped["deleted_files"],
        serde_json::json!([replaced.path.to_string_lossy()])
    );
    assert!(entry_of(&data, untouched.child.id()).is_none(), "{data}");
    // The unit is whatever this test runs under (none on a host without systemd).
    assert!(gone["unit"].is_null() || gone["unit"].is_string());
    let units: Vec<&str> = data["units"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap())
        .collect();
    let mut sorted = units.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(units, sorted, "units are distinct and sorted");
    if let Some(unit) = gone["unit"].as_str() {
        assert!(units.contains(&unit));
    }
    assert_eq!(data["truncated"], false);
    // The kernel's reboot signal as system/info tells it (none without a backend).
    let info = request(
        agent.addr(),
        env.client_config(),
        "GET",
        "/api/v1/system/info",
        None,
    );
    let info = assert_envelope(&info)["data"].clone();
    if info["package_manager"].is_null() {
        assert!(data["reboot_required"].is_null());
    } else {
        assert_eq!(data["reboot_required"], info["pending_reboot"]);
    }
    let pids: Vec<u64> = data["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["pid"].as_u64().unwrap())
        .collect();
    assert!(pids.windows(2).all(|w| w[0] < w[1]), "pid order: {pids:?}");

    let query = request(
        agent.addr(),
        env.client_config(),
        "GET",
        "/api/v1/system/restart-needed?all=1",
        None,
    );
    assert_error(&query, 400, "INVALID_REQUEST");
}

#[test]
fn the_strict_checker_refuses_what_the_format_refuses() {
    let good = "# HELP a_total x\\ny\n# TYPE a_total counter\na_total{code=\"2\\\"xx\"} 1\n\
                # HELP b b\n# TYPE b gauge\nb 0.5\nb{l=\"v\"} +Inf\n";
    let doc = exposition::check(good).unwrap();
    assert_eq!(doc.value("a_total", &[("code", "2\"xx")]), Some(1.0));
    assert_eq!(doc.family("b").len(), 2);
    for bad in [
        "a 1\n",
        "# HELP a x\na 1\n",
        "# TYPE a gauge\na 1\n",
        "# HELP a x\n# TYPE a gauge\na 1",
        "# HELP a x\n# TYPE a gauge\na 1\na 2\n",
        "# HELP a x\n# TYPE a gauge\na{l=\"1\",l=\"2\"} 1\n",
        "# HELP a x\n# TYPE a gauge\na{l=\"\\t\"} 1\n",
        "# HELP a x\n# TYPE a gauge\na{l=v} 1\n",
        "# HELP a x\n# TYPE a gauge\na 1 1700000000\n",
        "# HELP a x\n# TYPE a gauge\na one\n",
        "# HELP a x\n# TYPE a gauge\na inf\n",
        "# HELP a x\n# TYPE a gauge\nb 1\n",
        "# HELP a x\n# TYPE a gauge\na 1\n# HELP a x\n# TYPE a gauge\na 2\n",
        "# HELP a x\n# TYPE a gauge\n\na 1\n",
        "# HELP 1a x\n# TYPE 1a gauge\n1a 1\n",
        "# HELP a x\n# TYPE a gauge\na{__l=\"1\"} 1\n",
        "# HELP a x\n# TYPE a gauge\n",
        "# HELP a x\n# TYPE a gauge\na{l=\"1\",} 1\n",
    ] {
        assert!(exposition::check(bad).is_err(), "accepted {bad:?}");
    }
}
