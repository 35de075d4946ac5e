//! The real binary: options, `--check-config`, serving, SIGHUP reload, SIGTERM stop, and a
//! real third-party client (curl).

mod common;

use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use common::*;

const BIN: &str = env!("CARGO_BIN_EXE_linux-patch-api");

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn version_and_help() {
    let out = run(&["--version"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("linux-patch-api {}", env!("CARGO_PKG_VERSION"))
    );
    let out = run(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in ["--config", "--check-config", "--version", "SIGHUP"] {
        assert!(help.contains(needle), "help mentions {needle}");
    }
    let out = run(&["--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

#[test]
fn check_config_names_each_bad_key_and_fails() {
    let env = Env::new("check-bad");
    let path = env.dir.path().join("config.yaml");
    let yaml = env
        .config_yaml(7000, "api:\n  read_only: maybe\n")
        .replace("port: 7000", "port: 70000\n  prot: 1");
    std::fs::write(&path, yaml).unwrap();
    let out = run(&["--check-config", "--config", path.to_str().unwrap()]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(3), "{all}");
    assert!(
        all.contains("server.port: must be 1-65535, got 70000"),
        "{all}"
    );
    assert!(all.contains("server.prot"), "{all}");
    assert!(all.contains("api.read_only"), "{all}");

    // Serving with the same file refuses to start, with the same message.
    let out = run(&["--config", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out).contains("server.port: must be 1-65535, got 70000"));
}

#[test]
fn check_config_reports_certificate_problems() {
    let env = Env::new("check-certs");
    let path = env.dir.path().join("config.yaml");
    std::fs::write(&path, env.config_yaml(12443, "")).unwrap();
    let out = run(&["--check-config", "--config", path.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "a good set passes: {}",
        text(&out)
    );

    // Key of another certificate: must be reported.
    let other = env.ca.server();
    std::fs::write(&env.server_key, &other.key_pem).unwrap();
    let out = run(&["--check-config", "--config", path.to_str().unwrap()]);
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("error"), "{}", text(&out));

    // A server certificate from another CA: chain problem reported too.
    let stranger = Ca::new("stranger").server();
    stranger.write(env.dir.path(), "server");
    let out = run(&["--check-config", "--config", path.to_str().unwrap()]);
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
}

struct Served {
    child: Child,
    port: u16,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(env: &Env, extra: &str) -> (Served, std::path::PathBuf) {
    let port = free_port();
    serve_yaml(env, port, env.config_yaml(port, extra))
}

/// Starts the binary on `port` with this config text.
fn serve_yaml(env: &Env, port: u16, yaml: String) -> (Served, std::path::PathBuf) {
    serve_yaml_with(env, port, yaml, |_| {})
}

/// [`serve_yaml`], with `prepare` applied to the command before it starts; returns once
/// the binary listens.
fn serve_yaml_with(
    env: &Env,
    port: u16,
    yaml: String,
    prepare: impl FnOnce(&mut Command),
) -> (Served, std::path::PathBuf) {
    let path = env.dir.path().join("config.yaml");
    std::fs::write(&path, yaml).unwrap();
    let mut cmd = Command::new(BIN);
    cmd.args(["--config", path.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    prepare(&mut cmd);
    let child = cmd.spawn().unwrap();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    assert!(
        eventually(Duration::from_secs(10), || std::net::TcpStream::connect(
            addr
        )
        .is_ok()),
        "binary did not start listening"
    );
    (Served { child, port }, path)
}

fn signal(child: &Child, sig: i32) {
    let rc = unsafe { libc::kill(child.id() as i32, sig) };
    assert_eq!(rc, 0);
}

#[test]
fn binary_serves_reloads_on_sighup_and_stops_on_sigterm() {
    let env = Env::new("bin-serve");
    let (mut served, path) = serve(&env, "");
    let addr: std::net::SocketAddr = format!("127.0.0.1:{}", served.port).parse().unwrap();
    let r = request(addr, env.client_config(), "GET", "/api/v1/health", None);
    assert_eq!(r.status, 200);
    let r = request(
        addr,
        env.client_config(),
        "POST",
        "/api/v1/system/reboot",
        Some("{}"),
    );
    assert_ne!(r.status, 403, "not read-only yet");

    // Flip api.read_only in the file and send SIGHUP.
    std::fs::write(
        &path,
        env.config_yaml(served.port, "api:\n  read_only: true\n"),
    )
    .unwrap();
    signal(&served.child, libc::SIGHUP);
    assert!(
        eventually(Duration::from_secs(5), || {
            request(
                addr,
                env.client_config(),
                "POST",
                "/api/v1/system/reboot",
                Some("{}"),
            )
            .status
                == 403
        }),
        "SIGHUP applied api.read_only"
    );

    signal(&served.child, libc::SIGTERM);
    let mut status = None;
    assert!(eventually(Duration::from_secs(10), || {
        status = served.child.try_wait().unwrap();
        status.is_some()
    }));
    assert_eq!(status.unwrap().code(), Some(0), "graceful stop exits 0");
}

#[test]
fn curl_with_client_certificate_gets_the_envelope() {
    let env = Env::new("curl");
    let (served, _) = serve(&env, "");
    let (cert, key) = env.client.write(env.dir.path(), "client");
    let url = format!("https://127.0.0.1:{}/api/v1/health", served.port);
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert"])
        .arg(&env.ca_path)
        .arg("--cert")
        .arg(&cert)
        .arg("--key")
        .arg(&key)
        .arg(&url)
        .output()
        .expect("curl is installed by .ci/run");
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["success"], true);
    assert!(v["data"]["status"].is_string());

    // Without a client certificate curl gets no HTTP response at all.
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert"])
        .arg(&env.ca_path)
        .arg(&url)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        out.stdout.is_empty(),
        "no HTTP bytes: {:?}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn sighup_can_open_health_to_clients_without_certificates() {
    let env = Env::new("bin-unauth");
    let (served, path) = serve(&env, "");
    let addr: std::net::SocketAddr = format!("127.0.0.1:{}", served.port).parse().unwrap();
    let anonymous = client_config(&env.ca.cert_pem, None, &[&rustls::version::TLS13]);
    let tcp = std::net::TcpStream::connect(addr).unwrap();
    assert!(attempt(tcp, anonymous.clone(), addr).plaintext.is_empty());

    std::fs::write(
        &path,
        env.config_yaml(served.port, "health:\n  allow_unauthenticated: true\n"),
    )
    .unwrap();
    signal(&served.child, libc::SIGHUP);
    assert!(
        eventually(Duration::from_secs(5), || {
            let tcp = std::net::TcpStream::connect(addr).unwrap();
            let mut tls = tls_over(tcp, anonymous.clone(), addr);
            matches!(exchange(&mut tls, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"), Ok(r) if r.status == 200)
        }),
        "after SIGHUP an anonymous GET /health is served"
    );
}

#[test]
fn sighup_with_a_new_crl_ends_the_revoked_clients_open_connection() {
    let env = Env::new("bin-crl");
    let crl = env.dir.path().join("crl.pem");
    std::fs::write(&crl, env.ca.crl(&[])).unwrap();
    let port = free_port();
    let yaml = env
        .config_yaml(port, "")
        .replace("tls:\n", &format!("tls:\n  crl: {}\n", crl.display()));
    let (served, _) = serve_yaml(&env, port, yaml);
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut open = connect(addr, env.client_config());
    assert_eq!(get_on(&mut open, "/api/v1/health").status, 200);

    std::fs::write(&crl, env.ca.crl(&[env.client.serial])).unwrap();
    signal(&served.child, libc::SIGHUP);
    let raw = b"GET /api/v1/health HTTP/1.1\r\nHost: localhost\r\n\r\n";
    assert!(
        eventually(Duration::from_secs(5), || exchange(&mut open, raw).is_err()),
        "the open connection of the revoked certificate is refused after SIGHUP"
    );
}

fn audit_lines(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn refused_post(env: &Env, addr: std::net::SocketAddr) -> u16 {
    let r = request(
        addr,
        env.client_config(),
        "POST",
        "/api/v1/system/reboot",
        Some("{}"),
    );
    r.status
}

#[test]
fn sighup_reopens_the_audit_log_after_rotation_by_rename() {
    let env = Env::new("bin-audit-rotate");
    let (served, _) = serve(&env, "api:\n  read_only: true\n");
    let addr: std::net::SocketAddr = format!("127.0.0.1:{}", served.port).parse().unwrap();
    assert_eq!(refused_post(&env, addr), 403);
    let rotated = env.audit_log.with_extension("log.1");
    std::fs::rename(&env.audit_log, &rotated).unwrap();
    signal(&served.child, libc::SIGHUP);
    assert!(
        eventually(Duration::from_secs(5), || {
            refused_post(&env, addr);
            !audit_lines(&env.audit_log).is_empty()
        }),
        "after SIGHUP the next request lands in a new audit.log"
    );
    let old = audit_lines(&rotated).len();
    assert_eq!(refused_post(&env, addr), 403);
    assert_eq!(
        audit_lines(&rotated).len(),
        old,
        "nothing more goes to the rotated file"
    );
    let new = audit_lines(&env.audit_log);
    assert!(new.len() >= 2, "{new:?}");
    assert!(
        new.iter().all(|l| l["outcome"] == "API_READ_ONLY"),
        "{new:?}"
    );
}

#[test]
fn one_client_flooding_refused_requests_adds_at_most_its_cap() {
    let env = Env::new("bin-audit-flood");
    let extra = "api:\n  read_only: true\naudit:\n  max_lines_per_client_per_minute: 5\n";
    let (served, _) = serve(&env, extra);
    let addr: std::net::SocketAddr = format!("127.0.0.1:{}", served.port).parse().unwrap();
    for _ in 0..40 {
        assert!(matches!(refused_post(&env, addr), 403 | 429));
    }
    let lines = audit_lines(&env.audit_log);
    let entries = lines.iter().filter(|l| l["request_id"].is_string()).count();
    let summaries = lines.iter().filter(|l| l["event"] == "suppressed").count();
    // A line may come back every 12 s: a slow machine could see one more and its summary.
    assert!((5..=6).contains(&entries), "{lines:?}");
    assert!(
        summaries <= 1 && entries + summaries == lines.len(),
        "{lines:?}"
    );
    drop(served);
}

/// The soft and hard "Max open files" of a running process, as /proc shows them.
fn open_files_of(pid: u32) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap()
        .to_string();
    let fields: Vec<&str> = line.split_whitespace().collect();
    (fields[3].to_string(), fields[4].to_string())
}

/// Starts the binary with its soft open-files limit raised to the hard one, as a
/// container's 1,048,576 or this machine's 20,000 give it; returns it once it listens,
/// and the hard limit.
fn serve_with_open_files_at_hard(env: &Env, port: u16, yaml: String) -> (Served, u64) {
    use std::os::unix::process::CommandExt;
    let (_, hard) = linux_patch_api::system::open_files::current().unwrap();
    let raised = libc::rlimit {
        rlim_cur: hard,
        rlim_max: hard,
    };
    let (served, _) = serve_yaml_with(env, port, yaml, |cmd| {
        // SAFETY: one async-signal-safe call on a value computed before the fork.
        unsafe {
            cmd.pre_exec(
                move || match libc::setrlimit(libc::RLIMIT_NOFILE, &raised) {
                    0 => Ok(()),
                    _ => Err(std::io::Error::last_os_error()),
                },
            );
        }
    });
    (served, hard)
}

#[test]
fn the_binary_fits_its_open_files_limit_to_its_connections() {
    let env = Env::new("bin-nofile");
    // The default 256 connections fit in the tools' default: a higher soft limit comes
    // down to 1024 (unless the hard limit is lower still), the hard one stays.
    let port = free_port();
    let (served, hard) = serve_with_open_files_at_hard(&env, port, env.config_yaml(port, ""));
    assert_eq!(
        open_files_of(served.child.id()).0,
        hard.min(1024).to_string()
    );
    let hard_text = if hard == libc::RLIM_INFINITY {
        "unlimited".to_string()
    } else {
        hard.to_string()
    };
    assert_eq!(open_files_of(served.child.id()).1, hard_text);
    drop(served);

    // 2000 connections need 2000 and the reserve of 256.
    let port = free_port();
    let yaml = env
        .config_yaml(port, "")
        .replace("server:\n", "server:\n  max_connections: 2000\n");
    let (served, hard) = serve_with_open_files_at_hard(&env, port, yaml);
    assert_eq!(
        open_files_of(served.child.id()).0,
        hard.min(2256).to_string()
    );
}
