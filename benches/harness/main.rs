//! `make bench`: the agent's footprint, throughput, handshake rate, latency under pressure,
//! inventory speed and job overhead, measured side by side with nginx and the package
//! tools in one run. Prints a Markdown table and writes it as JSON under target/bench/.
//!
//! Run by `cargo bench --bench harness -- [options]` (cargo passes `--bench`); run without
//! `--bench` (as `cargo test --all-targets` does) it only checks its own arithmetic, so no
//! timing ever becomes a test assertion. See docs/BENCHMARKS.md.

#[path = "../../tests/common/mod.rs"]
mod common;

mod job_runs;
mod load;
mod procfs;
mod records;
mod report;
mod sandboxed;
mod servers;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use common::Env;
use load::{Mode, Run};
use report::{Row, Target};
use servers::Process;

const MIB: &str = "MiB";
/// Connection-serving threads the agent may start: one per connection, and the pressure
/// scenario holds 121 connections at once (the shipped default is 64).
const AGENT_WORKERS: usize = 256;
/// nginx worker processes: one per core of this machine's two.
const NGINX_WORKERS: usize = 2;
const CLIENT_LEVELS: [usize; 3] = [1, 8, 32];
const HANDSHAKE_CLIENTS: usize = 8;
const IDLE_CONNECTIONS: usize = 100;
const SLOW_SENDERS: usize = 20;
const FOOTPRINT_REQUESTS: usize = 10_000;
const HEALTH_PATH: &str = "/api/v1/health";
const JOBS_PATH: &str = "/api/v1/jobs";

/// Command-line options.
#[derive(Debug)]
struct Args {
    /// Set by `cargo bench`; without it only the self-check runs.
    bench: bool,
    idle_seconds: u64,
    duration: Duration,
    warmup: Duration,
    pressure_samples: usize,
    static_bin: Option<PathBuf>,
    release_bin: PathBuf,
    sandbox: bool,
    /// Only the sandbox sections (inventory, jobs): for working on them.
    sandbox_only: bool,
    /// Only the jobs section.
    jobs_only: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        bench: false,
        idle_seconds: 60,
        duration: Duration::from_secs(5),
        warmup: Duration::from_secs(1),
        pressure_samples: 300,
        static_bin: None,
        release_bin: PathBuf::from(env!("CARGO_BIN_EXE_linux-patch-api")),
        sandbox: true,
        sandbox_only: false,
        jobs_only: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--bench" => args.bench = true,
            "--idle-seconds" => args.idle_seconds = parse(&value()?)?,
            "--seconds" => args.duration = Duration::from_secs_f64(parse(&value()?)?),
            "--warmup" => args.warmup = Duration::from_secs_f64(parse(&value()?)?),
            "--pressure-samples" => args.pressure_samples = parse(&value()?)?,
            "--static-bin" => args.static_bin = Some(PathBuf::from(value()?)),
            "--release-bin" => args.release_bin = PathBuf::from(value()?),
            "--no-sandbox" => args.sandbox = false,
            "--sandbox-only" => args.sandbox_only = true,
            "--jobs-only" => args.jobs_only = true,
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(args)
}

fn parse<T: std::str::FromStr>(s: &str) -> Result<T, String> {
    s.parse().map_err(|_| format!("bad number {s}"))
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bench harness: {e}");
            std::process::exit(2);
        }
    };
    if !args.bench {
        report::self_check();
        load::self_check();
        println!("bench harness: self-check passed (measure with `make bench`)");
        return;
    }
    // Only the sections against nginx need it.
    let nginx_needed = !args.sandbox_only && !args.jobs_only;
    if let (true, Err(e)) = (nginx_needed, servers::nginx_binary()) {
        eprintln!("make bench: {e}");
        std::process::exit(1);
    }
    match measure(&args) {
        Ok(()) => {}
        Err(e) => {
            eprintln!("make bench: {e}");
            std::process::exit(1);
        }
    }
}

/// Progress on stderr, so that stdout is the table.
fn say(msg: &str) {
    eprintln!("bench: {msg}");
}

fn measure(args: &Args) -> Result<(), String> {
    let load_at_start = procfs::loadavg();
    say(&format!(
        "load average at start: {load_at_start:?}; {} cores",
        cores()
    ));
    let env = Env::new("bench");
    let mut rows = Vec::new();
    let mut detail = serde_json::Map::new();
    if args.jobs_only {
        if let Some(why) = sandboxed::unavailable() {
            return Err(format!("the jobs section needs the sandbox: {why}"));
        }
        job_runs::job_section(&mut rows, &mut detail);
        println!("{}", report::table(&rows));
        return write_json(args, load_at_start, &rows, detail, "", &args.release_bin);
    }
    if args.sandbox_only {
        sandbox_sections(&mut rows, &mut detail);
        println!("{}", report::table(&rows));
        return write_json(args, load_at_start, &rows, detail, "", &args.release_bin);
    }

    let server_bin = footprint_sizes(args, &mut rows)?;
    let agent = servers::start_agent(&server_bin, &env, AGENT_WORKERS)?;
    let configs = load::client_configs(&env.ca, 32);
    footprint(args, &agent, &configs, &mut rows, &mut detail)?;
    release_idle_rss(args, &env, &mut rows)?;

    let body = agent_body(&agent, &configs[0], HEALTH_PATH)?;
    let jobs_body = agent_body(&agent, &configs[0], JOBS_PATH)?;
    let answers = [
        (HEALTH_PATH, body.as_str()),
        (JOBS_PATH, jobs_body.as_str()),
    ];
    let nginx = servers::start_nginx(&env, NGINX_WORKERS, &answers)?;
    for (path, answer) in answers {
        check_nginx(&nginx, &configs[0], path, answer.len())?;
    }
    throughput(args, &agent, &nginx, &configs, &mut rows, &mut detail);
    handshakes(args, &agent, &nginx, &configs, &mut rows);
    pressure(args, &agent, &nginx, &configs, &mut rows, &mut detail)?;
    rows.push(
        Row::new(
            "footprint",
            "agent peak RSS over the whole run (VmHWM)",
            MIB,
            procfs::peak_rss_mib(agent.pid).unwrap_or(f64::NAN),
        )
        .against("nginx master + workers, summed", nginx_rss(&nginx)),
    );
    drop(nginx);
    drop(agent);

    if args.sandbox {
        sandbox_sections(&mut rows, &mut detail);
    } else {
        detail.insert("sandbox".into(), json!("skipped (--no-sandbox)"));
    }

    let table = report::table(&rows);
    println!("{table}");
    write_json(args, load_at_start, &rows, detail, &body, &server_bin)
}

/// Sizes of both binaries; returns the one the agent is measured with (static if built).
fn footprint_sizes(args: &Args, rows: &mut Vec<Row>) -> Result<PathBuf, String> {
    let (release, stripped) = procfs::binary_size(&args.release_bin)
        .ok_or(format!("{}: not found", args.release_bin.display()))?;
    let label = |s: bool| if s { "" } else { " (NOT stripped)" };
    rows.push(Row::new(
        "footprint",
        format!("release binary size{}", label(!stripped)),
        MIB,
        release,
    ));
    let Some(static_bin) = &args.static_bin else {
        say("no --static-bin: measuring the release binary");
        return Ok(args.release_bin.clone());
    };
    let (size, stripped) = procfs::binary_size(static_bin)
        .ok_or(format!("{}: not found (make static)", static_bin.display()))?;
    rows.push(
        Row::new(
            "footprint",
            format!("static binary size{}", label(!stripped)),
            MIB,
            size,
        )
        .target(Target::AtMost(6.0)),
    );
    Ok(static_bin.clone())
}

/// RSS idle, after 10,000 requests and with 100 idle connections; threads; idle CPU.
fn footprint(
    args: &Args,
    agent: &Process,
    configs: &[Arc<rustls::ClientConfig>],
    rows: &mut Vec<Row>,
    detail: &mut serde_json::Map<String, Value>,
) -> Result<(), String> {
    std::thread::sleep(Duration::from_secs(1));
    let pid = agent.pid;
    let rss = |what: &str| procfs::rss_mib(pid).ok_or(format!("agent gone ({what})"));
    rows.push(
        Row::new(
            "footprint",
            "RSS idle after start (static)",
            MIB,
            rss("idle")?,
        )
        .target(Target::AtMost(8.0)),
    );
    let threads_idle = procfs::threads(pid).unwrap_or(0) as f64;
    rows.push(Row::new("footprint", "threads idle", "", threads_idle));

    say(&format!("idle CPU over {} s", args.idle_seconds));
    let t0 = procfs::cpu_ticks(pid).ok_or("agent gone (cpu)")?;
    std::thread::sleep(Duration::from_secs(args.idle_seconds));
    let t1 = procfs::cpu_ticks(pid).ok_or("agent gone (cpu)")?;
    let cpu_ms = (t1 - t0) as f64 * 1000.0 / procfs::ticks_per_second() as f64;
    // "≈ 0": under 0.1 % of one core, i.e. 1 ms of CPU per idle second.
    rows.push(
        Row::new(
            "footprint",
            format!("CPU used while idle {} s", args.idle_seconds),
            "ms",
            cpu_ms,
        )
        .target(Target::AtMost(args.idle_seconds as f64)),
    );

    say("10,000 requests");
    let run = load::fixed_count(agent.addr, &configs[..8], FOOTPRINT_REQUESTS);
    detail.insert("footprint_requests_errors".into(), json!(run.errors));
    rows.push(Row::new(
        "footprint",
        format!("RSS after {} requests (8 clients)", run.ok),
        MIB,
        rss("10k")?,
    ));
    std::thread::sleep(Duration::from_millis(500));

    let idle = load::idle_connections(agent.addr, configs, IDLE_CONNECTIONS)
        .map_err(|e| format!("idle connections: {e}"))?;
    std::thread::sleep(Duration::from_millis(500));
    rows.push(Row::new(
        "footprint",
        format!("RSS with {IDLE_CONNECTIONS} idle keep-alive connections"),
        MIB,
        rss("idle conns")?,
    ));
    rows.push(Row::new(
        "footprint",
        format!("threads with {IDLE_CONNECTIONS} idle keep-alive connections"),
        "",
        procfs::threads(pid).unwrap_or(0) as f64,
    ));
    drop(idle);
    std::thread::sleep(Duration::from_millis(500));
    Ok(())
}

/// Idle RSS of the dynamically linked release binary, for comparison with the static one.
fn release_idle_rss(args: &Args, env: &Env, rows: &mut Vec<Row>) -> Result<(), String> {
    if args.static_bin.is_none() {
        return Ok(());
    }
    let p = servers::start_agent(&args.release_bin, env, AGENT_WORKERS)?;
    std::thread::sleep(Duration::from_secs(1));
    rows.push(Row::new(
        "footprint",
        "RSS idle after start (release, glibc dynamic)",
        MIB,
        procfs::rss_mib(p.pid).unwrap_or(f64::NAN),
    ));
    Ok(())
}

/// The agent's answer at `path`, which nginx then serves byte for byte.
fn agent_body(
    agent: &Process,
    config: &Arc<rustls::ClientConfig>,
    path: &str,
) -> Result<String, String> {
    let mut tls = load::connect(agent.addr, config).map_err(|e| e.to_string())?;
    let resp = load::get_body(&mut tls, path).map_err(|e| e.to_string())?;
    if resp.status != 200 || resp.header("content-type") != Some("application/json") {
        return Err(format!(
            "agent {path}: {} {:?} {}",
            resp.status,
            resp.header("content-type"),
            String::from_utf8_lossy(&resp.body)
        ));
    }
    String::from_utf8(resp.body).map_err(|e| e.to_string())
}

/// nginx answers the same body size and type, and refuses clients without certificates.
fn check_nginx(
    nginx: &Process,
    config: &Arc<rustls::ClientConfig>,
    path: &str,
    len: usize,
) -> Result<(), String> {
    let mut tls = load::connect(nginx.addr, config).map_err(|e| format!("nginx: {e}"))?;
    let resp = load::get_body(&mut tls, path).map_err(|e| format!("nginx: {e}"))?;
    if resp.status != 200
        || resp.body.len() != len
        || resp.header("content-type") != Some("application/json")
    {
        return Err(format!(
            "nginx answers {path} with {} {:?} and {} bytes, not {len}",
            resp.status,
            resp.header("content-type"),
            resp.body.len()
        ));
    }
    Ok(())
}

fn nginx_rss(nginx: &Process) -> f64 {
    nginx
        .pids()
        .iter()
        .filter_map(|&p| procfs::rss_mib(p))
        .sum()
}

fn run_json(r: &Run) -> Value {
    json!({
        "ok": r.ok,
        "errors": r.errors,
        "reconnects": r.reconnects,
        "seconds": r.elapsed.as_secs_f64(),
        "requests_per_second": r.rate(),
        "p50_ms": r.quantile_ms(0.5),
        "p99_ms": r.quantile_ms(0.99),
        "max_ms": r.quantile_ms(1.0),
    })
}

/// What the keep-alive runs request: the row label prefix, the JSON key, the raw request.
const KEEP_ALIVE_REQUESTS: [(&str, &str, &[u8]); 2] = [
    ("", "keepalive", load::HEALTH),
    ("GET /api/v1/jobs, ", "keepalive_jobs", load::JOBS),
];

/// Each keep-alive level is measured in this many alternating rounds (ours, nginx, ours,
/// nginx, ...), so that load from elsewhere on the machine falls on both alike.
const ROUNDS: u32 = 2;

/// Keep-alive requests at 1, 8 and 32 clients: the health check and a typical API read,
/// ours and nginx alternating at each level.
fn throughput(
    args: &Args,
    agent: &Process,
    nginx: &Process,
    configs: &[Arc<rustls::ClientConfig>],
    rows: &mut Vec<Row>,
    detail: &mut serde_json::Map<String, Value>,
) {
    for (label, key, raw) in KEEP_ALIVE_REQUESTS {
        for clients in CLIENT_LEVELS {
            say(&format!("keep-alive, {label}{clients} clients"));
            let (ours, theirs) = alternating(args, agent, nginx, configs, clients, raw);
            say(&format!(
                "  ours {:.0} req/s, nginx {:.0} req/s: {:.3}x on {} cores; \
                 CPU per request {:.1} vs {:.1} us; reconnects {} vs {}",
                ours.run.rate(),
                theirs.run.rate(),
                ours.run.rate() / theirs.run.rate(),
                cores(),
                ours.cpu_us_per_request(),
                theirs.cpu_us_per_request(),
                ours.run.reconnects,
                theirs.run.reconnects,
            ));
            keep_alive_rows(label, clients, &ours, &theirs, rows);
            let json_of = |side: &Side| {
                let mut v = run_json(&side.run);
                v["served_with_warmup"] = json!(side.run.served);
                v["cpu_ticks"] = json!(side.ticks);
                v["cpu_us_per_request"] = json!(side.cpu_us_per_request());
                v
            };
            detail.insert(
                format!("{key}_{clients}"),
                json!({"ours": json_of(&ours), "nginx": json_of(&theirs)}),
            );
        }
    }
}

/// The machine's core count, as the runs see it.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(0, |n| n.get())
}

/// One server's side of an alternating measurement.
#[derive(Default)]
struct Side {
    run: Run,
    /// CPU clock ticks the server's processes used over the runs, warm-up included.
    ticks: u64,
}

impl Side {
    /// CPU time per request served (warm-up and wind-down included), in microseconds.
    fn cpu_us_per_request(&self) -> f64 {
        let seconds = self.ticks as f64 / procfs::ticks_per_second() as f64;
        seconds * 1e6 / self.run.served.max(1) as f64
    }
}

/// CPU clock ticks used so far by every process of `server`.
fn server_ticks(server: &Process) -> u64 {
    server
        .pids()
        .iter()
        .filter_map(|&p| procfs::cpu_ticks(p))
        .sum()
}

/// Measures ours and nginx in [`ROUNDS`] alternating rounds of an equal share of the run.
fn alternating(
    args: &Args,
    agent: &Process,
    nginx: &Process,
    configs: &[Arc<rustls::ClientConfig>],
    clients: usize,
    raw: &'static [u8],
) -> (Side, Side) {
    let share = args.duration / ROUNDS;
    let mut ours = Side::default();
    let mut theirs = Side::default();
    for _ in 0..ROUNDS {
        for (server, side) in [(agent, &mut ours), (nginx, &mut theirs)] {
            let mode = Mode::KeepAlive(raw);
            let before = server_ticks(server);
            let run = load::run(server.addr, configs, clients, mode, args.warmup, share);
            side.ticks += server_ticks(server).saturating_sub(before);
            side.run = std::mem::take(&mut side.run).combine(run);
        }
    }
    (ours, theirs)
}

/// The table rows of one keep-alive level: rate (with the target at 8 and 32 clients), p50,
/// p99 and the CPU time per request (the figure least moved by other load on the machine).
fn keep_alive_rows(label: &str, clients: usize, ours: &Side, theirs: &Side, rows: &mut Vec<Row>) {
    let (ours_cpu, theirs_cpu) = (ours.cpu_us_per_request(), theirs.cpu_us_per_request());
    let (ours, theirs) = (&ours.run, &theirs.run);
    let mut rate = Row::new(
        "keep-alive",
        format!("{label}{clients} clients: requests/s"),
        "req/s",
        ours.rate(),
    )
    .against("nginx", theirs.rate());
    if clients >= 8 {
        rate = rate.target(Target::AtLeast(1.0));
    }
    rows.push(rate);
    for (q, name) in [(0.5, "p50"), (0.99, "p99")] {
        rows.push(
            Row::new(
                "keep-alive",
                format!("{label}{clients} clients: {name}"),
                "ms",
                ours.quantile_ms(q),
            )
            .against("nginx", theirs.quantile_ms(q)),
        );
    }
    rows.push(
        Row::new(
            "keep-alive",
            format!("{label}{clients} clients: CPU per request"),
            "µs",
            ours_cpu,
        )
        .against("nginx", theirs_cpu),
    );
}

/// Full mutual-TLS handshakes (one request each, no resumption) at 8 clients.
fn handshakes(
    args: &Args,
    agent: &Process,
    nginx: &Process,
    configs: &[Arc<rustls::ClientConfig>],
    rows: &mut Vec<Row>,
) {
    say("handshakes");
    let c = HANDSHAKE_CLIENTS;
    let ours = load::run(
        agent.addr,
        configs,
        c,
        Mode::Handshake,
        args.warmup,
        args.duration,
    );
    let theirs = load::run(
        nginx.addr,
        configs,
        c,
        Mode::Handshake,
        args.warmup,
        args.duration,
    );
    rows.push(
        Row::new(
            "handshakes",
            format!("{c} clients: new connections/s"),
            "conn/s",
            ours.rate(),
        )
        .against("nginx", theirs.rate())
        .target(Target::AtLeast(0.8)),
    );
    rows.push(
        Row::new(
            "handshakes",
            format!("{c} clients: p99 connect+request"),
            "ms",
            ours.quantile_ms(0.99),
        )
        .against("nginx", theirs.quantile_ms(0.99)),
    );
}

/// p99 of health requests while 100 connections idle and 20 trickle one byte a second.
fn pressure(
    args: &Args,
    agent: &Process,
    nginx: &Process,
    configs: &[Arc<rustls::ClientConfig>],
    rows: &mut Vec<Row>,
    detail: &mut serde_json::Map<String, Value>,
) -> Result<(), String> {
    let mut results = Vec::new();
    for (name, server) in [("ours", agent), ("nginx", nginx)] {
        say(&format!("under pressure: {name}"));
        let idle = load::idle_connections(server.addr, configs, IDLE_CONNECTIONS)
            .map_err(|e| format!("{name}: idle connections: {e}"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let slow = load::slow_senders(server.addr, configs, SLOW_SENDERS, &stop);
        std::thread::sleep(Duration::from_secs(3));
        let threads = procfs::threads(server.pid).unwrap_or(0);
        let gap = Duration::from_millis(20);
        let keep = load::probe(
            server.addr,
            &configs[0],
            Mode::KeepAlive(load::HEALTH),
            args.pressure_samples,
            gap,
        );
        let fresh = load::probe(
            server.addr,
            &configs[1],
            Mode::Handshake,
            args.pressure_samples,
            gap,
        );
        stop.store(true, Ordering::SeqCst);
        let cuts: u64 = slow.into_iter().map(|h| h.join().unwrap_or(0)).sum();
        drop(idle);
        detail.insert(
            format!("pressure_{name}"),
            json!({
                "keepalive": run_json(&keep),
                "new_connection": run_json(&fresh),
                "slow_sender_disconnects": cuts,
                "threads": threads,
            }),
        );
        results.push((keep, fresh));
    }
    let what = format!("{IDLE_CONNECTIONS} idle + {SLOW_SENDERS} slow");
    let (ours, theirs) = (&results[0], &results[1]);
    rows.push(
        Row::new(
            "pressure",
            format!("{what}: p99 health, kept-alive connection"),
            "ms",
            ours.0.quantile_ms(0.99),
        )
        .against("nginx", theirs.0.quantile_ms(0.99)),
    );
    rows.push(
        Row::new(
            "pressure",
            format!("{what}: p99 health, new connection"),
            "ms",
            ours.1.quantile_ms(0.99),
        )
        .against("nginx", theirs.1.quantile_ms(0.99)),
    );
    // The target is on the agent's own figures; nginx is shown for scale only.
    let worst = ours.0.quantile_ms(0.99).max(ours.1.quantile_ms(0.99));
    rows.push(
        Row::new(
            "pressure",
            format!("{what}: worst p99 of the two"),
            "ms",
            worst,
        )
        .target(Target::AtMost(10.0)),
    );
    Ok(())
}

/// One sandbox measurement: its figures as JSON, or why it could not be taken.
type Measurement = fn() -> Result<Value, String>;

/// Runs one sandbox measurement, turning a panic of the shared test helpers into an error.
fn guarded(what: &str, f: impl FnOnce() -> Result<Value, String>) -> Result<Value, String> {
    say(what);
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => Err(p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "panicked".into())),
    }
}

fn num_of(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or(f64::NAN)
}

/// Inventory (apt over the host's database copy, dnf, pacman) and job overhead.
fn sandbox_sections(rows: &mut Vec<Row>, detail: &mut serde_json::Map<String, Value>) {
    if let Some(why) = sandboxed::unavailable() {
        say(&format!("sandbox sections skipped: {why}"));
        detail.insert("sandbox".into(), json!(format!("skipped: {why}")));
        return;
    }
    say(&format!(
        "sandbox base root {}",
        sandboxed::base_root().display()
    ));
    let inventories: [(&str, Measurement); 3] = [
        ("apt", sandboxed::inventory_apt),
        ("dnf", sandboxed::inventory_rpm),
        ("pacman", sandboxed::inventory_pacman),
    ];
    for (backend, f) in inventories {
        match guarded(&format!("inventory {backend}"), f) {
            Ok(v) => {
                inventory_rows(backend, &v, rows);
                detail.insert(format!("inventory_{backend}"), v);
            }
            Err(e) => {
                say(&format!("inventory {backend} failed: {e}"));
                detail.insert(format!("inventory_{backend}"), json!({"error": e}));
            }
        }
    }
    job_runs::job_section(rows, detail);
}

fn inventory_rows(backend: &str, v: &Value, rows: &mut Vec<Row>) {
    let tool = v["tool"].as_str().unwrap_or("tool").to_string();
    let n = v["packages"].as_u64().unwrap_or(0);
    let head = format!("{backend} ({n} packages)");
    rows.push(
        Row::new(
            "inventory",
            format!("{head}: cold, first request"),
            "ms",
            num_of(v, "cold_ms"),
        )
        .against(format!("{tool}, first run"), num_of(v, "tool_cold_ms")),
    );
    // What a manager's first poll after a restart waits for (issue 19: at most twice the
    // tool's own query).
    let mut restart = Row::new(
        "inventory",
        format!("{head}: first request after a restart"),
        "ms",
        num_of(v, "restart_cold_ms"),
    )
    .against(tool.clone(), num_of(v, "tool_warm_ms"));
    if backend == "apt" {
        restart = restart.target(Target::AtMost(2.0));
    }
    rows.push(restart);
    let mut warm = Row::new(
        "inventory",
        format!("{head}: warm, kept-alive connection"),
        "ms",
        num_of(v, "warm_keepalive_ms"),
    )
    .against(tool.clone(), num_of(v, "tool_warm_ms"));
    if backend == "apt" {
        warm = warm.target(Target::AtMost(0.5));
    }
    rows.push(warm);
    if let Some(same) = v["tool_same_fields_warm_ms"].as_f64() {
        rows.push(
            Row::new(
                "inventory",
                format!("{head}: warm, kept-alive, vs the same fields"),
                "ms",
                num_of(v, "warm_keepalive_ms"),
            )
            .against("dpkg-query -W --showformat (7 fields)", same),
        );
    }
    rows.push(
        Row::new(
            "inventory",
            format!("{head}: warm, new connection"),
            "ms",
            num_of(v, "warm_new_connection_ms"),
        )
        .against(tool, num_of(v, "tool_warm_ms")),
    );
    // What a query the agent has not kept a rendered page for costs (api/page_cache.rs).
    rows.push(
        Row::new(
            "inventory",
            format!("{head}: warm, kept-alive, a query not asked before"),
            "ms",
            num_of(v, "warm_rendered_ms"),
        )
        .against(
            v["tool"].as_str().unwrap_or("tool"),
            num_of(v, "tool_warm_ms"),
        ),
    );
}

fn write_json(
    args: &Args,
    load_at_start: [f64; 3],
    rows: &[Row],
    detail: serde_json::Map<String, Value>,
    body: &str,
    server_bin: &std::path::Path,
) -> Result<(), String> {
    let now = time::OffsetDateTime::now_utc();
    let stamp = now
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let doc = json!({
        "started": stamp,
        "machine": procfs::machine(),
        "load_average_at_start": load_at_start,
        "load_average_at_end": procfs::loadavg(),
        "parameters": {
            "idle_seconds": args.idle_seconds,
            "seconds_per_run": args.duration.as_secs_f64(),
            "warmup_seconds": args.warmup.as_secs_f64(),
            "pressure_samples": args.pressure_samples,
            "agent_workers": AGENT_WORKERS,
            "nginx_worker_processes": NGINX_WORKERS,
            "agent_binary": server_bin.display().to_string(),
            "health_body_bytes": body.len(),
        },
        "nginx_version": servers::nginx_version(),
        "rows": rows.iter().map(Row::to_json).collect::<Vec<_>>(),
        "detail": detail,
    });
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let text = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
    let file = dir.join(format!("bench-{}.json", now.unix_timestamp()));
    std::fs::write(&file, &text).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("latest.json"), &text).map_err(|e| e.to_string())?;
    say(&format!("wrote {} (and latest.json)", file.display()));
    Ok(())
}
