//! Inventory figures, measured in the test sandbox (overlay roots under bubblewrap,
//! fixture repositories), never against the host's own packages.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::ClientConfig;
use serde_json::{json, Value};

use crate::common::sandbox::{Sandbox, SandboxAgent};
use crate::common::{Env, Tls};
use crate::load;

/// Warm samples taken of each timed operation (the median is reported).
const WARM_SAMPLES: usize = 20;

/// Median of durations in milliseconds.
fn median_ms(v: Vec<Duration>) -> f64 {
    let ms: Vec<f64> = v.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    median(&ms)
}

/// The median (the upper one of an even count); NaN for none.
pub fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The wall time of a host command whose output is read and discarded; `None` if it fails.
fn time_command(program: &str, args: &[&str]) -> Option<(Duration, String)> {
    let t0 = Instant::now();
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .ok()?;
    let took = t0.elapsed();
    out.status
        .success()
        .then(|| (took, String::from_utf8_lossy(&out.stdout).into_owned()))
}

/// A tool's cold (first) and median warm wall time, and its output line count.
fn tool_times(program: &str, args: &[&str]) -> Result<(f64, f64, usize), String> {
    let Some((cold, out)) = time_command(program, args) else {
        return Err(format!("{program} {} failed", args.join(" ")));
    };
    let lines = out.lines().filter(|l| !l.trim().is_empty()).count();
    let warm: Vec<Duration> = (0..WARM_SAMPLES)
        .filter_map(|_| time_command(program, args).map(|(d, _)| d))
        .collect();
    Ok((cold.as_secs_f64() * 1000.0, median_ms(warm), lines))
}

/// GETs `path` on `tls`, returning the time taken and the parsed body.
pub fn timed_get(tls: &mut Tls, path: &str) -> Result<(Duration, Value), String> {
    timed_get_sized(tls, path).map(|(d, v, _)| (d, v))
}

/// [`timed_get`], also returning the body's size in bytes.
fn timed_get_sized(tls: &mut Tls, path: &str) -> Result<(Duration, Value, usize), String> {
    let t0 = Instant::now();
    let resp = load::get_body(tls, path).map_err(|e| format!("GET {path}: {e}"))?;
    let took = t0.elapsed();
    if resp.status != 200 {
        return Err(format!(
            "GET {path}: {} {}",
            resp.status,
            String::from_utf8_lossy(&resp.body)
        ));
    }
    let v: Value = serde_json::from_slice(&resp.body).map_err(|e| e.to_string())?;
    Ok((took, v, resp.body.len()))
}

/// GET on a new connection (handshake included in the time).
fn timed_get_new(
    agent: &SandboxAgent,
    config: &Arc<ClientConfig>,
    path: &str,
) -> Result<(Duration, Value), String> {
    let t0 = Instant::now();
    let mut tls = load::connect(agent.addr, config).map_err(|e| e.to_string())?;
    let (_, v) = timed_get(&mut tls, path)?;
    Ok((t0.elapsed(), v))
}

const LIST: &str = "/api/v1/packages?limit=1000";

/// The median time of a warm list whose page the agent has not rendered yet: the packages
/// of [`LIST`], but each request a query never asked before (a `limit` of its own, 999 down
/// to 980: the whole list for up to 980 packages), so the agent keeps no page for it and
/// renders one from its cached installed and upgradable sets.
fn rendered_list_ms(tls: &mut Tls) -> Result<f64, String> {
    let mut times = Vec::new();
    for i in 0..WARM_SAMPLES {
        let (took, _) = timed_get(tls, &format!("/api/v1/packages?limit={}", 999 - i))?;
        times.push(took);
    }
    Ok(median_ms(times))
}

/// The agent's cold (first request after start, new connection) and warm timings of the
/// package list, and the number of packages it reported.
fn agent_list_times(agent: &SandboxAgent, env: &Env) -> Result<Value, String> {
    let config = load::client_config(&env.ca, "bench-inventory");
    let (cold, first) = timed_get_new(agent, &config, LIST)?;
    let total = first["data"]["total"].as_u64().unwrap_or(0);
    let mut tls = load::connect(agent.addr, &config).map_err(|e| e.to_string())?;
    let mut keep = Vec::new();
    let mut bytes = 0;
    for _ in 0..WARM_SAMPLES {
        let (took, _, len) = timed_get_sized(&mut tls, LIST)?;
        keep.push(took);
        bytes = len;
    }
    let rendered = rendered_list_ms(&mut tls)?;
    let mut fresh = Vec::new();
    for _ in 0..WARM_SAMPLES {
        fresh.push(timed_get_new(agent, &config, LIST)?.0);
    }
    Ok(json!({
        "packages": total,
        "body_bytes": bytes,
        "warm_rendered_ms": rendered,
        "cold_ms": cold.as_secs_f64() * 1000.0,
        "warm_keepalive_ms": median_ms(keep),
        "warm_new_connection_ms": median_ms(fresh),
    }))
}

/// Stops `agent` and starts a new one on the same root (its caches on disk as the first left
/// them, as after a restart by its unit), and times that one's first package list.
fn restarted_cold(
    sb: &mut Sandbox,
    env: &Env,
    mut agent: SandboxAgent,
    backend: &str,
) -> Result<(f64, SandboxAgent), String> {
    agent.kill_agent_process();
    drop(agent);
    let agent = sb.start_agent(env, &agent_extra(backend));
    let config = load::client_config(&env.ca, "bench-inventory-restart");
    let (cold, _) = timed_get_new(&agent, &config, LIST)?;
    Ok((cold.as_secs_f64() * 1000.0, agent))
}

/// The agent's extra configuration in the sandbox.
fn agent_extra(backend: &str) -> String {
    format!("package_manager:\n  backend: {backend}\nrate_limits:\n  enabled: false\n")
}

/// apt: the host's real dpkg status file copied into a sandbox (the agent's background
/// refresh runs `apt-get update`, which must not touch the host), vs `dpkg-query -W` on it.
pub fn inventory_apt() -> Result<Value, String> {
    let env = Env::new("bench-inv-apt");
    let mut sb = Sandbox::new("bench-inv-apt");
    let status = sb.root().join("var/lib/dpkg/status");
    std::fs::copy("/var/lib/dpkg/status", &status).map_err(|e| format!("dpkg status: {e}"))?;
    let agent = sb.start_agent(&env, &agent_extra("apt"));
    let mut out = agent_list_times(&agent, &env)?;
    let (restart_cold, mut agent) = restarted_cold(&mut sb, &env, agent, "apt")?;
    out["restart_cold_ms"] = json!(restart_cold);
    let admindir = sb.root().join("var/lib/dpkg");
    let admin = format!("--admindir={}", admindir.display());
    let (cold, warm, lines) = tool_times("dpkg-query", &[&admin, "-W"])?;
    out["tool"] = json!("dpkg-query -W");
    out["tool_cold_ms"] = json!(cold);
    out["tool_warm_ms"] = json!(warm);
    out["tool_lines"] = json!(lines);
    // The fields the agent returns, for a like-for-like reference.
    let fields = "--showformat=${Package}\\t${Version}\\t${Architecture}\\t${Installed-Size}\\t\
                  ${Maintainer}\\t${Depends}\\t${Description}\\n";
    let (_, full_warm, _) = tool_times("dpkg-query", &[&admin, "-W", fields])?;
    out["tool_same_fields"] = json!(format!("dpkg-query -W {fields}"));
    out["tool_same_fields_warm_ms"] = json!(full_warm);
    let (_, host_warm, host_lines) = tool_times("dpkg-query", &["-W"])?;
    out["host_dpkg_query_warm_ms"] = json!(host_warm);
    out["host_dpkg_query_lines"] = json!(host_lines);
    out["note"] = json!(
        "host /var/lib/dpkg/status copied into a sandbox root (no repositories configured); \
         no request refreshes metadata: the first list after a start waits at most for the \
         apt-get -s dist-upgrade the agent starts in the background at start"
    );
    agent.kill_agent_process();
    Ok(out)
}

/// dnf over the sandbox's rpm database (the fixture packages installed), vs `rpm -qa`.
pub fn inventory_rpm() -> Result<Value, String> {
    let env = Env::new("bench-inv-rpm");
    let mut sb = Sandbox::new("bench-inv-rpm");
    sb.with_rpm_repo();
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
    let agent = sb.start_agent(&env, &agent_extra("dnf"));
    let mut out = agent_list_times(&agent, &env)?;
    let (restart_cold, mut agent) = restarted_cold(&mut sb, &env, agent, "dnf")?;
    out["restart_cold_ms"] = json!(restart_cold);
    let root = sb.root().display().to_string();
    let (cold, warm, lines) =
        tool_times("rpm", &["--root", &root, "--dbpath", "/var/lib/rpm", "-qa"])?;
    out["tool"] = json!("rpm -qa");
    out["tool_cold_ms"] = json!(cold);
    out["tool_warm_ms"] = json!(warm);
    out["tool_lines"] = json!(lines);
    agent.kill_agent_process();
    Ok(out)
}

/// pacman over the sandbox's local database (the fixture packages installed), vs `pacman -Q`.
pub fn inventory_pacman() -> Result<Value, String> {
    let env = Env::new("bench-inv-pacman");
    let mut sb = Sandbox::new("bench-inv-pacman");
    sb.with_pacman_fixtures_installed();
    let agent = sb.start_agent(&env, &agent_extra("pacman"));
    let mut out = agent_list_times(&agent, &env)?;
    let (restart_cold, mut agent) = restarted_cold(&mut sb, &env, agent, "pacman")?;
    out["restart_cold_ms"] = json!(restart_cold);
    let db = sb.root().join("var/lib/pacman").display().to_string();
    let (cold, warm, lines) = tool_times("pacman", &["--dbpath", &db, "-Q"])?;
    out["tool"] = json!("pacman -Q");
    out["tool_cold_ms"] = json!(cold);
    out["tool_warm_ms"] = json!(warm);
    out["tool_lines"] = json!(lines);
    agent.kill_agent_process();
    Ok(out)
}

/// Whether the sandbox can run here (root, bubblewrap, mmdebstrap), else why not.
pub fn unavailable() -> Option<String> {
    crate::common::sandbox::unavailable()
}

/// Where the harness keeps the sandbox's base root (built on first use).
pub fn base_root() -> &'static Path {
    crate::common::sandbox::base_root()
}
