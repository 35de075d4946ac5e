//! Enrollment end to end: the real binary (`--enroll`) against a mock Patch Manager over
//! HTTPS, and the mock's own self-tests (`mock_*`).
//!
//! Durations are test-sized (`--poll-interval 1`); waits assert that something ends, never
//! how fast, and poll spacing is checked from below only.

mod common;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::mock_manager::{BundleOptions, MockManager, RegisterAnswer, StatusAnswer};
use common::*;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

const BIN: &str = env!("CARGO_BIN_EXE_linux-patch-api");
/// The name the agent reports (`enrollment.report_fqdn`).
const FQDN: &str = "host-01.enroll.test";
/// How long a run may take before the test calls it hung (a bound, not a speed claim).
const END_LIMIT: Duration = Duration::from_secs(90);
/// Whitelist entries that exist before enrollment and must survive it.
const PRE_EXISTING: [&str; 2] = ["198.51.100.7", "::1"];

// ---------------------------------------------------------------------------------------
// Harness: one temp dir per test with a config whose TLS files do not exist yet.
// ---------------------------------------------------------------------------------------

struct Site {
    dir: TempDir,
    port: u16,
    config: PathBuf,
    ca_cert: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    whitelist: PathBuf,
    state_dir: PathBuf,
    runs: std::cell::Cell<u32>,
}

impl Site {
    fn new(tag: &str) -> Site {
        Site::with_key_at(tag, "tls/server.key")
    }

    /// `key` is relative to the temp dir (the tests put its parent in the way).
    fn with_key_at(tag: &str, key: &str) -> Site {
        let dir = TempDir::new(tag);
        let root = dir.path().to_path_buf();
        std::fs::create_dir_all(root.join("tls")).unwrap();
        let whitelist = root.join("whitelist.yaml");
        let entries: String = PRE_EXISTING
            .iter()
            .map(|e| format!("  - \"{e}\"\n"))
            .collect();
        std::fs::write(&whitelist, format!("allowed:\n{entries}")).unwrap();
        let site = Site {
            port: free_port(),
            config: root.join("config.yaml"),
            ca_cert: root.join("tls/ca.crt"),
            server_cert: root.join("tls/server.crt"),
            server_key: root.join(key),
            whitelist,
            state_dir: root.join("state"),
            runs: std::cell::Cell::new(0),
            dir,
        };
        site.write_config();
        site
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn write_config(&self) {
        let root = self.root();
        let yaml = format!(
            "server:\n  bind: 127.0.0.1\n  port: {port}\n  shutdown_grace_seconds: 5\n\
             tls:\n  ca_cert: {ca}\n  server_cert: {cert}\n  server_key: {key}\n\
             whitelist:\n  path: {wl}\n\
             rate_limits:\n  enabled: false\n\
             logging:\n  level: trace\n  audit_log: {audit}\n\
             jobs:\n  storage_path: {jobs}\n\
             package_manager:\n  root: {root}\n\
             enrollment:\n  state_dir: {state}\n  report_fqdn: {FQDN}\n  request_timeout_seconds: 10\n",
            port = self.port,
            ca = self.ca_cert.display(),
            cert = self.server_cert.display(),
            key = self.server_key.display(),
            wl = self.whitelist.display(),
            audit = root.join("audit.log").display(),
            jobs = root.join("jobs").display(),
            root = root.display(),
            state = self.state_dir.display(),
        );
        std::fs::write(&self.config, yaml).unwrap();
    }

    /// `--config C --enroll URL --poll-interval 1 --enroll-timeout 60s` + `trust` + `extra`.
    fn args(&self, mock: &MockManager, trust: &[String], extra: &[&str]) -> Vec<String> {
        let mut args: Vec<String> = vec![
            "--config".into(),
            self.config.display().to_string(),
            "--enroll".into(),
            mock.url(),
            "--poll-interval".into(),
            "1".into(),
            "--enroll-timeout".into(),
            "60s".into(),
        ];
        args.extend(trust.iter().cloned());
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    }

    /// The usual arguments trusting the mock's CA file.
    fn enroll_args(&self, mock: &MockManager, extra: &[&str]) -> Vec<String> {
        self.args(mock, &ca_trust(mock), extra)
    }

    fn spawn(&self, args: &[String]) -> Run {
        let n = self.runs.get() + 1;
        self.runs.set(n);
        let stdout = self.root().join(format!("run{n}.stdout"));
        let stderr = self.root().join(format!("run{n}.stderr"));
        let child = Command::new(BIN)
            .args(args)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        Run {
            child,
            stdout,
            stderr,
        }
    }

    /// Runs to the end and returns the exit code.
    fn run(&self, args: &[String]) -> (i32, Run) {
        let mut run = self.spawn(args);
        let code = run.wait_code(END_LIMIT);
        (code, run)
    }

    fn tls_files(&self) -> [&Path; 3] {
        [&self.ca_cert, &self.server_cert, &self.server_key]
    }

    fn state(&self, name: &str) -> PathBuf {
        self.state_dir.join(name)
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Nothing reached the TLS paths and the whitelist is as it was.
    fn assert_nothing_written(&self, run: &Run) {
        for f in self.tls_files() {
            assert!(!f.exists(), "{} written: {}", f.display(), run.output());
        }
        assert_eq!(
            whitelist_entries(&self.whitelist),
            PRE_EXISTING.map(String::from).to_vec(),
            "whitelist unchanged"
        );
    }
}

/// A spawned binary; killed on drop.
struct Run {
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Run {
    fn ended(&mut self) -> bool {
        self.child.try_wait().unwrap().is_some()
    }

    /// Waits for the exit code; panics with the output when it does not end in `limit`.
    fn wait_code(&mut self, limit: Duration) -> i32 {
        let mut status = None;
        let ended = eventually(limit, || {
            status = self.child.try_wait().unwrap();
            status.is_some()
        });
        assert!(ended, "the run did not end: {}", self.output());
        let status = status.unwrap();
        status
            .code()
            .unwrap_or_else(|| panic!("ended by a signal ({status:?}): {}", self.output()))
    }

    fn signal(&self, sig: i32) {
        let rc = unsafe { libc::kill(self.child.id() as i32, sig) };
        assert_eq!(rc, 0);
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn output(&self) -> String {
        let out = std::fs::read_to_string(&self.stdout).unwrap_or_default();
        format!("\n--- stdout ---\n{out}\n--- stderr ---\n{}", self.stderr())
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn whitelist_entries(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    let list = match &doc {
        serde_yaml_ng::Value::Mapping(m) => m.get("allowed").cloned().unwrap_or_default(),
        other => other.clone(),
    };
    list.as_sequence()
        .unwrap_or_else(|| panic!("whitelist is not a list: {text}"))
        .iter()
        .map(|v| v.as_str().expect("whitelist entry is a string").to_string())
        .collect()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// A client of the enrolled agent: certificate from the host CA the bundle came from.
fn agent_client(mock: &MockManager) -> Arc<rustls::ClientConfig> {
    let leaf = mock.host_ca().client("patch-manager-client");
    client_config(
        &mock.host_ca().cert_pem,
        Some(&leaf),
        &[&rustls::version::TLS13],
    )
}

/// `GET /api/v1/health` over mutual TLS; `None` while nothing answers.
fn health(addr: SocketAddr, config: Arc<rustls::ClientConfig>) -> Option<u16> {
    let tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    let mut tls = tls_over(tcp, config, addr);
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock).ok()?;
    }
    let raw = b"GET /api/v1/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    exchange(&mut tls, raw).ok().map(|r| r.status)
}

/// Waits until the agent answers health with 200 (or the run ends); true when it did.
fn serves(site: &Site, mock: &MockManager, run: &mut Run) -> bool {
    let client = agent_client(mock);
    eventually(END_LIMIT, || {
        health(site.addr(), client.clone()) == Some(200) || run.ended()
    });
    health(site.addr(), client) == Some(200)
}

/// Everything a completed enrollment leaves behind.
fn assert_provisioned(site: &Site, mock: &MockManager, run: &Run) {
    for f in site.tls_files() {
        assert!(f.exists(), "{} missing: {}", f.display(), run.output());
    }
    assert_eq!(mode(&site.server_key), 0o600, "server key mode");
    assert_eq!(mode(&site.server_cert), 0o644, "server cert mode");
    assert_eq!(mode(&site.ca_cert), 0o644, "CA cert mode");
    assert_eq!(mode(&site.state_dir), 0o700, "state dir mode");
    let ca = std::fs::read_to_string(&site.ca_cert).unwrap();
    assert!(
        ca.contains(mock.host_ca().cert_pem.trim()),
        "CA is the host CA"
    );
    assert!(!site.state("token").exists(), "token removed after success");
    assert!(
        !site.state("bundle.json").exists(),
        "bundle removed after success"
    );
    let enrolled = std::fs::read_to_string(site.state("enrolled.json"))
        .unwrap_or_else(|e| panic!("enrolled.json: {e}{}", run.output()));
    let enrolled: serde_json::Value = serde_json::from_str(&enrolled).unwrap();
    assert_eq!(enrolled["manager_ip"], "127.0.0.1", "{enrolled}");
    let url = enrolled["manager_url"].as_str().unwrap_or_default();
    assert!(url.starts_with(&mock.url()), "{enrolled}");

    let entries = whitelist_entries(&site.whitelist);
    for e in PRE_EXISTING {
        assert!(entries.iter().any(|x| x == e), "{e} kept: {entries:?}");
    }
    let manager: Vec<_> = entries
        .iter()
        .filter(|x| *x == "127.0.0.1" || *x == "127.0.0.1/32")
        .collect();
    assert_eq!(manager.len(), 1, "manager added once: {entries:?}");
}

/// The token is in no output and no file outside the state directory.
fn assert_token_secret(site: &Site, token: &str, runs: &[&Run]) {
    assert_eq!(token.len(), 64);
    for run in runs {
        assert!(
            !run.output().contains(token),
            "token logged: {}",
            run.output()
        );
    }
    let mut stack = vec![site.root().to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path == site.state_dir {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                let found = bytes.windows(token.len()).any(|w| w == token.as_bytes());
                assert!(!found, "token found in {}", path.display());
            }
        }
    }
}

/// `--manager-ca` for the mock.
fn ca_trust(mock: &MockManager) -> Vec<String> {
    vec!["--manager-ca".into(), mock.ca_path().display().to_string()]
}

// ---------------------------------------------------------------------------------------
// a, b: enrolling
// ---------------------------------------------------------------------------------------

#[test]
fn enrolls_after_pending_polls_then_serves_mutual_tls() {
    let mock = MockManager::start();
    mock.script_status(&[
        StatusAnswer::Pending,
        StatusAnswer::Pending,
        StatusAnswer::Approved,
    ]);
    let site = Site::new("enroll-happy");
    let mut run = site.spawn(&site.enroll_args(&mock, &[]));
    assert!(
        serves(&site, &mock, &mut run),
        "agent serves mTLS with the provisioned files: {}",
        run.output()
    );
    assert_provisioned(&site, &mock, &run);

    let regs = mock.registrations();
    assert_eq!(regs.len(), 1, "exactly one registration: {regs:?}");
    let body = regs[0].body.clone().expect("registration body is JSON");
    assert_eq!(body["fqdn"], FQDN, "{body}");
    for key in ["machine_id", "ip_address"] {
        assert!(
            body[key].as_str().is_some_and(|s| !s.is_empty()),
            "{key}: {body}"
        );
    }
    assert!(body["os_details"].is_object(), "{body}");

    let token = mock.tokens()[0].clone();
    let polls = mock.polls();
    assert_eq!(
        polls.iter().map(|p| p.answer.as_str()).collect::<Vec<_>>(),
        ["pending", "pending", "approved"],
        "polled until approved, then stopped"
    );
    assert!(polls
        .iter()
        .all(|p| p.polled_token() == Some(token.as_str())));
    for pair in polls.windows(2) {
        let gap = pair[1].at - pair[0].at;
        assert!(
            gap >= Duration::from_millis(800),
            "polls {gap:?} apart with --poll-interval 1"
        );
    }
    assert_token_secret(&site, &token, &[&run]);

    run.signal(libc::SIGTERM);
    assert_eq!(run.wait_code(END_LIMIT), 0, "{}", run.output());
    assert_token_secret(&site, &token, &[&run]);
}

#[test]
fn enroll_only_provisions_and_exits_then_a_rerun_contacts_nobody() {
    let mock = MockManager::start();
    mock.script_status(&[StatusAnswer::Approved]);
    mock.set_bundle(BundleOptions {
        ca_chain: true,
        crl_pem: String::new(),
    });
    let site = Site::new("enroll-only");
    let args = site.enroll_args(&mock, &["--enroll-only"]);
    let (code, run) = site.run(&args);
    assert_eq!(code, 0, "{}", run.output());
    assert_provisioned(&site, &mock, &run);
    assert!(
        TcpStream::connect(site.addr()).is_err(),
        "--enroll-only does not serve"
    );

    // Already provisioned: succeeds without a single request to the manager.
    let before = mock.records().len();
    let (code, again) = site.run(&args);
    assert_eq!(code, 0, "{}", again.output());
    assert_eq!(mock.records().len(), before, "no request when provisioned");
    assert_token_secret(&site, &mock.tokens()[0], &[&run, &again]);
}

// ---------------------------------------------------------------------------------------
// c: the bundle survives a failure after receipt
// ---------------------------------------------------------------------------------------

#[test]
fn failure_after_receipt_completes_later_from_the_saved_bundle() {
    let mock = MockManager::start();
    mock.script_status(&[StatusAnswer::Approved]);
    let site = Site::with_key_at("enroll-crash", "keys/server.key");
    // The key's directory is a regular file: writing the key must fail.
    let blocker = site.root().join("keys");
    std::fs::write(&blocker, "in the way").unwrap();
    let args = site.enroll_args(&mock, &["--enroll-only"]);
    let (code, run) = site.run(&args);
    assert_ne!(code, 0, "provisioning failed: {}", run.output());
    assert!(mock.served("approved"), "the manager handed the bundle out");
    assert!(
        site.state("bundle.json").exists(),
        "bundle saved on receipt: {}",
        run.output()
    );
    assert_eq!(mode(&site.state("bundle.json")), 0o600);
    assert!(!site.server_key.exists());

    // The manager has deleted the bundle: only the saved copy can finish the job.
    let before = mock.records().len();
    std::fs::remove_file(&blocker).unwrap();
    std::fs::create_dir(&blocker).unwrap();
    let (code, again) = site.run(&args);
    assert_eq!(code, 0, "{}", again.output());
    assert_eq!(
        mock.records().len(),
        before,
        "no registration or poll: {:?}",
        mock.records()
    );
    assert_provisioned(&site, &mock, &again);
    assert_token_secret(&site, &mock.tokens()[0], &[&run, &again]);
}

#[test]
fn sigkill_right_after_the_bundle_is_saved_still_ends_provisioned() {
    let mock = MockManager::start();
    mock.script_status(&[StatusAnswer::Pending, StatusAnswer::Approved]);
    let site = Site::new("enroll-kill");
    let mut run = site.spawn(&site.enroll_args(&mock, &[]));
    // Kill as soon as the bundle is durable (before, the manager's copy would be lost too:
    // that window is inherent). Whatever provisioning step it interrupts must recover.
    let start = Instant::now();
    let saved = loop {
        if site.state("bundle.json").exists() || site.state("enrolled.json").exists() {
            break true;
        }
        if run.ended() || start.elapsed() > END_LIMIT {
            break false;
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    assert!(saved, "bundle never saved: {}", run.output());
    run.signal(libc::SIGKILL);
    let _ = run.child.wait();

    let mut again = site.spawn(&site.enroll_args(&mock, &[]));
    assert!(serves(&site, &mock, &mut again), "{}", again.output());
    assert_provisioned(&site, &mock, &again);
    assert_eq!(mock.registrations().len(), 1);
    assert_token_secret(&site, &mock.tokens()[0], &[&run, &again]);
}

// ---------------------------------------------------------------------------------------
// d: decisions and failures, each with its exit code
// ---------------------------------------------------------------------------------------

/// Runs one `--enroll-only` against a mock scripted with `script`.
fn decide(tag: &str, script: &[StatusAnswer]) -> (MockManager, Site, i32, Run) {
    let mock = MockManager::start();
    mock.script_status(script);
    let site = Site::new(tag);
    let (code, run) = site.run(&site.enroll_args(&mock, &["--enroll-only"]));
    (mock, site, code, run)
}

#[test]
fn denied_exits_4_and_forgets_the_token() {
    let (mock, site, code, run) = decide(
        "enroll-denied",
        &[StatusAnswer::Pending, StatusAnswer::Denied],
    );
    assert_eq!(code, 4, "{}", run.output());
    assert!(mock.served("denied"));
    site.assert_nothing_written(&run);
    assert!(!site.state("token").exists(), "token removed");
    assert!(!site.state("bundle.json").exists());
    assert_token_secret(&site, &mock.tokens()[0], &[&run]);
}

#[test]
fn notfound_in_both_spellings_exits_5() {
    for (tag, answer) in [
        ("enroll-notfound", StatusAnswer::NotFound),
        ("enroll-not-found", StatusAnswer::NotFoundSpec),
    ] {
        let (mock, site, code, run) = decide(tag, std::slice::from_ref(&answer));
        assert_eq!(code, 5, "{answer:?}: {}", run.output());
        site.assert_nothing_written(&run);
        assert!(!site.state("token").exists(), "{answer:?}: token removed");
        assert_eq!(mock.registrations().len(), 1);
    }
}

#[test]
fn conflict_at_registration_exits_7_with_the_message() {
    let mock = MockManager::start();
    let message = "FQDN host-01.enroll.test already registered to another host";
    mock.script_register(&[RegisterAnswer::Conflict(message.into())]);
    let site = Site::new("enroll-409");
    let (code, run) = site.run(&site.enroll_args(&mock, &["--enroll-only"]));
    assert_eq!(code, 7, "{}", run.output());
    assert!(run.output().contains(message), "{}", run.output());
    assert!(mock.polls().is_empty(), "nothing to poll");
    site.assert_nothing_written(&run);
}

#[test]
fn bundle_with_a_foreign_key_exits_8_writes_nothing_and_keeps_it_aside() {
    let (mock, site, code, run) = decide("enroll-badkey", &[StatusAnswer::ApprovedKeyMismatch]);
    assert_eq!(code, 8, "{}", run.output());
    site.assert_nothing_written(&run);
    assert!(
        site.state("bundle.rejected.json").exists(),
        "rejected bundle kept"
    );
    assert!(!site.state("bundle.json").exists());
    assert!(!site.state("token").exists(), "token removed");

    // A new --enroll starts afresh: a second registration, then it works.
    mock.set_rate_window(Duration::ZERO);
    mock.script_status(&[StatusAnswer::Approved]);
    let (code, again) = site.run(&site.enroll_args(&mock, &["--enroll-only"]));
    assert_eq!(code, 0, "{}", again.output());
    assert_eq!(mock.registrations().len(), 2);
    assert_provisioned(&site, &mock, &again);
}

#[test]
fn no_decision_within_the_timeout_exits_6() {
    let mock = MockManager::start();
    mock.script_status(&[StatusAnswer::Pending]);
    let site = Site::new("enroll-timeout");
    let mut args = site.enroll_args(&mock, &["--enroll-only"]);
    let at = args.iter().position(|a| a == "--enroll-timeout").unwrap();
    args[at + 1] = "3s".into();
    let (code, run) = site.run(&args);
    assert_eq!(code, 6, "{}", run.output());
    assert!(!mock.polls().is_empty(), "it polled before giving up");
    site.assert_nothing_written(&run);
}

#[test]
fn rate_limited_registration_is_retried() {
    let mock = MockManager::start();
    mock.script_register(&[RegisterAnswer::RateLimited, RegisterAnswer::Accept]);
    mock.script_status(&[StatusAnswer::Approved]);
    let site = Site::new("enroll-429");
    let mut run = site.spawn(&site.enroll_args(&mock, &["--enroll-only"]));
    // The real manager's window is a minute: allow for an agent that waits that long.
    let code = run.wait_code(END_LIMIT + Duration::from_secs(60));
    assert_eq!(code, 0, "{}", run.output());
    let answers: Vec<u16> = mock.registrations().iter().map(|r| r.status).collect();
    assert_eq!(answers, [429, 202]);
    assert_provisioned(&site, &mock, &run);
}

// ---------------------------------------------------------------------------------------
// e: trusting the manager
// ---------------------------------------------------------------------------------------

#[test]
fn right_fingerprint_is_trusted() {
    let mock = MockManager::start();
    mock.script_status(&[StatusAnswer::Approved]);
    let site = Site::new("enroll-fp");
    let trust = [
        "--manager-fingerprint".to_string(),
        mock.fingerprint_colons(),
    ];
    let (code, run) = site.run(&site.args(&mock, &trust, &["--enroll-only"]));
    assert_eq!(code, 0, "{}", run.output());
    assert_provisioned(&site, &mock, &run);
}

#[test]
fn wrong_fingerprint_fails_before_registering() {
    let mock = MockManager::start();
    let site = Site::new("enroll-fp-wrong");
    let mut wrong = mock.fingerprint();
    let flipped = if wrong.starts_with('0') { "1" } else { "0" };
    wrong.replace_range(0..1, flipped);
    let trust = ["--manager-fingerprint".to_string(), wrong];
    let (code, run) = site.run(&site.args(&mock, &trust, &["--enroll-only"]));
    assert_eq!(code, 1, "{}", run.output());
    assert!(mock.records().is_empty(), "{:?}", mock.records());
    site.assert_nothing_written(&run);
}

#[test]
fn manager_ca_of_another_authority_fails_before_registering() {
    let mock = MockManager::start();
    let site = Site::new("enroll-ca-wrong");
    let other = Ca::new("not-the-manager");
    let path = site.root().join("other-ca.pem");
    std::fs::write(&path, &other.cert_pem).unwrap();
    let trust = ["--manager-ca".to_string(), path.display().to_string()];
    let (code, run) = site.run(&site.args(&mock, &trust, &["--enroll-only"]));
    assert_eq!(code, 1, "{}", run.output());
    assert!(mock.records().is_empty(), "{:?}", mock.records());
    site.assert_nothing_written(&run);
}

#[test]
fn without_trust_flags_it_enrolls_and_warns() {
    let mock = MockManager::start();
    mock.script_status(&[StatusAnswer::Approved]);
    let site = Site::new("enroll-insecure");
    let (code, run) = site.run(&site.args(&mock, &[], &["--enroll-only"]));
    assert_eq!(code, 0, "{}", run.output());
    assert_provisioned(&site, &mock, &run);
    let warned = run.stderr().lines().any(|l| {
        let l = l.to_lowercase();
        l.contains("warn")
            && [
                "relaxed",
                "not verified",
                "unverified",
                "not checked",
                "insecure",
            ]
            .iter()
            .any(|w| l.contains(w))
    });
    assert!(
        warned,
        "warning about the unchecked manager: {}",
        run.output()
    );
}

// ---------------------------------------------------------------------------------------
// f: restart while pending
// ---------------------------------------------------------------------------------------

#[test]
fn restart_while_pending_resumes_with_the_saved_token() {
    let mock = MockManager::start();
    mock.script_status(&[StatusAnswer::Pending]);
    let site = Site::new("enroll-resume");
    let args = site.enroll_args(&mock, &[]);
    let mut first = site.spawn(&args);
    assert!(
        eventually(END_LIMIT, || mock.polls().len() >= 2 || first.ended()),
        "no polls"
    );
    assert!(mock.polls().len() >= 2, "{}", first.output());
    first.signal(libc::SIGTERM);
    assert_eq!(first.wait_code(END_LIMIT), 9, "{}", first.output());
    let token = mock.tokens()[0].clone();
    assert_eq!(
        mode(&site.state("token")),
        0o600,
        "token kept for the resume"
    );
    assert_eq!(mode(&site.state_dir), 0o700);
    assert!(!site.server_key.exists());

    let before = mock.polls().len();
    let mut second = site.spawn(&args);
    assert!(
        eventually(END_LIMIT, || mock.polls().len() >= before + 2
            || second.ended()),
        "polling did not resume: {}",
        second.output()
    );
    assert_eq!(mock.registrations().len(), 1, "no second registration");
    assert!(
        mock.polls()
            .iter()
            .all(|p| p.polled_token() == Some(token.as_str())),
        "polls use the saved token"
    );

    // The administrator approves now: the resumed run provisions and serves.
    mock.script_token(&token, &[StatusAnswer::Approved]);
    assert!(serves(&site, &mock, &mut second), "{}", second.output());
    assert_provisioned(&site, &mock, &second);
    assert_token_secret(&site, &token, &[&first, &second]);
}

// ---------------------------------------------------------------------------------------
// The mock itself, with a plain rustls client (runs whatever state the agent is in).
// ---------------------------------------------------------------------------------------

fn manager_client(mock: &MockManager, tls12: bool) -> Arc<rustls::ClientConfig> {
    let version: &'static rustls::SupportedProtocolVersion = if tls12 {
        &rustls::version::TLS12
    } else {
        &rustls::version::TLS13
    };
    client_config(mock.ca_pem(), None, &[version])
}

fn register(mock: &MockManager, tls12: bool) -> HttpResponse {
    let body = format!(
        r#"{{"machine_id":"0123456789abcdef0123456789abcdef","fqdn":"{FQDN}","ip_address":"192.0.2.50","os_details":{{"name":"Debian"}}}}"#
    );
    request(
        mock.addr(),
        manager_client(mock, tls12),
        "POST",
        "/api/v1/enroll",
        Some(&body),
    )
}

fn poll(mock: &MockManager, token: &str) -> serde_json::Value {
    let path = format!("/api/v1/enroll/status/{token}");
    let r = request(mock.addr(), manager_client(mock, false), "GET", &path, None);
    assert_eq!(r.status, 200);
    r.json()
}

/// Serves one mTLS handshake with the bundle's cert and key, requiring a host-CA client.
fn serve_bundle_once(bundle: &serde_json::Value, host_ca_pem: &str) -> SocketAddr {
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(bundle["server_crt"].as_str().unwrap().as_bytes())
            .map(|c| c.unwrap())
            .collect();
    let key = PrivateKeyDer::from_pem_slice(bundle["server_key"].as_str().unwrap().as_bytes())
        .expect("server_key is PKCS#8 PEM");
    assert!(matches!(key, PrivateKeyDer::Pkcs8(_)), "PKCS#8 key");
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(host_ca_pem.as_bytes()).unwrap())
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider.clone())
            .build()
            .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for _ in 0..2 {
            let (mut tcp, _) = listener.accept().unwrap();
            tcp.set_read_timeout(Some(IO_WAIT)).unwrap();
            let mut conn = rustls::ServerConnection::new(config.clone()).unwrap();
            while conn.is_handshaking() {
                if conn.complete_io(&mut tcp).is_err() {
                    break;
                }
            }
            let _ = conn.complete_io(&mut tcp);
        }
    });
    addr
}

fn handshake(addr: SocketAddr, config: Arc<rustls::ClientConfig>, name: ServerName<'static>) {
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(IO_WAIT)).unwrap();
    let mut conn = rustls::ClientConnection::new(config, name).unwrap();
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp).unwrap();
    }
}

#[test]
fn mock_issues_a_token_then_a_usable_bundle_once() {
    let mock = MockManager::start();
    mock.script_status(&[StatusAnswer::Pending, StatusAnswer::Approved]);
    let r = register(&mock, false);
    assert_eq!(r.status, 202);
    let token = r.json()["polling_token"].as_str().unwrap().to_string();
    assert_eq!(token.len(), 64);
    assert!(token.chars().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(mock.tokens(), std::slice::from_ref(&token));

    assert_eq!(poll(&mock, &token)["status"], "pending");
    let bundle = poll(&mock, &token);
    assert_eq!(bundle["status"], "approved");
    assert_eq!(bundle["crl_pem"], "");
    assert!(bundle.get("ca_chain").is_none());
    assert_eq!(bundle["ca_crt"], mock.host_ca().cert_pem.as_str());
    assert_eq!(poll(&mock, &token)["status"], "notfound", "deleted on read");

    // Shape of the leaf: CN, a year from now, no back-dating.
    let der =
        CertificateDer::from_pem_slice(bundle["server_crt"].as_str().unwrap().as_bytes()).unwrap();
    let summary = linux_patch_api::x509::summarize_cert(&der).unwrap();
    assert_eq!(summary.subject, format!("CN={FQDN}-server"));
    let now = time::OffsetDateTime::now_utc();
    assert!((now - summary.not_before).whole_seconds().abs() < 120);
    assert_eq!((summary.not_after - summary.not_before).whole_days(), 365);

    // Usable as the agent will use it: a host-CA client accepts it by IP and by name.
    let addr = serve_bundle_once(&bundle, &mock.host_ca().cert_pem);
    let client = agent_client(&mock);
    handshake(
        addr,
        client.clone(),
        ServerName::IpAddress(addr.ip().into()),
    );
    handshake(addr, client, ServerName::try_from(FQDN).unwrap());

    let records = mock.records();
    assert_eq!(records.len(), 4);
    assert!(records[0].is_registration());
    assert_eq!(records[0].body.as_ref().unwrap()["fqdn"], FQDN);
    let answers: Vec<_> = records[1..].iter().map(|r| r.answer.as_str()).collect();
    assert_eq!(answers, ["pending", "approved", "notfound"]);
}

#[test]
fn mock_scripts_registration_answers_and_rate_limits() {
    let mock = MockManager::start();
    assert_eq!(register(&mock, false).status, 202);
    let limited = register(&mock, true);
    assert_eq!(limited.status, 429, "second registration within the window");
    assert!(limited.json()["error"]
        .as_str()
        .unwrap()
        .contains("Rate limit"));
    mock.script_register(&[
        RegisterAnswer::Conflict("taken".into()),
        RegisterAnswer::ServerError,
        RegisterAnswer::Accept,
    ]);
    let conflict = register(&mock, false);
    assert_eq!(
        (conflict.status, conflict.json()["error"].clone()),
        (409, "taken".into())
    );
    assert_eq!(register(&mock, false).status, 500);
    assert_eq!(
        register(&mock, false).status,
        202,
        "scripted accept ignores the window"
    );
    assert_eq!(mock.tokens().len(), 2);
    let statuses: Vec<u16> = mock.registrations().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [202, 429, 409, 500, 202]);

    // Unknown tokens and the scripted outcomes.
    assert_eq!(poll(&mock, "nosuchtoken")["status"], "notfound");
    let token = mock.tokens()[1].clone();
    for (answer, tag) in [
        (StatusAnswer::Denied, "denied"),
        (StatusAnswer::NotFoundSpec, "not_found"),
        (StatusAnswer::NotFound, "notfound"),
    ] {
        mock.script_token(&token, &[answer]);
        assert_eq!(poll(&mock, &token)["status"], tag);
    }
    assert!(mock.served("denied"));
}

#[test]
fn mock_key_mismatch_bundle_does_not_pair() {
    let mock = MockManager::start();
    mock.script_status(&[StatusAnswer::ApprovedKeyMismatch]);
    mock.set_bundle(BundleOptions {
        ca_chain: true,
        crl_pem: String::new(),
    });
    let token = register(&mock, false).json()["polling_token"]
        .as_str()
        .unwrap()
        .to_string();
    let bundle = poll(&mock, &token);
    assert_eq!(bundle["status"], "approved");
    assert_eq!(bundle["ca_chain"], mock.host_ca().cert_pem.as_str());
    let cert =
        CertificateDer::from_pem_slice(bundle["server_crt"].as_str().unwrap().as_bytes()).unwrap();
    let key = bundle["server_key"].as_str().unwrap();
    let pair = rcgen::KeyPair::from_pem(key).unwrap();
    let public = pair.public_key_raw();
    assert!(
        !cert.windows(public.len()).any(|w| w == public),
        "the key's public half is not in the certificate"
    );
}

#[test]
fn mock_leaf_fingerprint_matches_what_clients_see_and_strangers_are_refused() {
    let mock = MockManager::start();
    let mut tls = connect(mock.addr(), manager_client(&mock, true));
    let seen = tls.conn.peer_certificates().unwrap()[0].clone();
    assert_eq!(
        linux_patch_api::x509::sha256_fingerprint(&seen),
        mock.fingerprint()
    );
    assert_eq!(
        mock.fingerprint_colons().replace(':', "").to_lowercase(),
        mock.fingerprint()
    );
    let r = get_on(&mut tls, "/api/v1/nothing");
    assert_eq!(r.status, 404);
    assert_eq!(mock.handshakes(), 1);

    // A client trusting another CA completes no handshake and reaches no endpoint.
    let stranger = Ca::new("stranger");
    let config = client_config(&stranger.cert_pem, None, &[&rustls::version::TLS13]);
    let mut tcp = TcpStream::connect(mock.addr()).unwrap();
    tcp.set_read_timeout(Some(IO_WAIT)).unwrap();
    let mut conn =
        rustls::ClientConnection::new(config, ServerName::IpAddress(mock.addr().ip().into()))
            .unwrap();
    let mut failed = false;
    while conn.is_handshaking() {
        if conn.complete_io(&mut tcp).is_err() {
            failed = true;
            break;
        }
    }
    assert!(failed, "handshake with an unknown CA fails");
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(mock.handshakes(), 1);
    assert_eq!(mock.records().len(), 1);
}

#[test]
fn mock_serves_a_keep_alive_ureq_client() {
    use ureq::tls::{PemItem, RootCerts, TlsConfig, TlsProvider};
    let mock = MockManager::start();
    mock.script_status(&[StatusAnswer::Pending, StatusAnswer::Approved]);
    let roots: Vec<_> = ureq::tls::parse_pem(mock.ca_pem().as_bytes())
        .filter_map(|item| match item.unwrap() {
            PemItem::Certificate(c) => Some(c),
            _ => None,
        })
        .collect();
    let tls = TlsConfig::builder()
        .provider(TlsProvider::Rustls)
        .root_certs(RootCerts::Specific(Arc::new(roots)))
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .build();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .tls_config(tls)
        .https_only(true)
        .http_status_as_error(false)
        .timeout_global(Some(IO_WAIT))
        .proxy(None)
        .build()
        .into();
    let body = format!(
        r#"{{"machine_id":"m","fqdn":"{FQDN}","ip_address":"192.0.2.9","os_details":{{}}}}"#
    );
    let mut r = agent
        .post(format!("{}/api/v1/enroll", mock.url()))
        .header("Content-Type", "application/json")
        .send(body.as_str())
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    let v: serde_json::Value =
        serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    let token = v["polling_token"].as_str().unwrap().to_string();
    let mut tags = Vec::new();
    for _ in 0..3 {
        let url = format!("{}/api/v1/enroll/status/{token}", mock.url());
        let mut r = agent.get(url).call().unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
        tags.push(v["status"].as_str().unwrap().to_string());
    }
    assert_eq!(tags, ["pending", "approved", "notfound"]);
    assert_eq!(mock.handshakes(), 1, "one kept-alive connection");
}
