//! The enrollment harness: one temp dir per test with a config whose TLS files do not exist
//! yet, the real binary spawned against it, and the checks of a completed enrollment.

use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use super::mock_manager::MockManager;
use super::*;

pub const BIN: &str = env!("CARGO_BIN_EXE_linux-patch-api");
/// Runs the enrollment tests against another build (e.g. one from before a fix) instead of BIN.
pub const BIN_OVERRIDE: &str = "LPA_ENROLL_TEST_BIN";
/// The name the agent reports (`enrollment.report_fqdn`).
pub const FQDN: &str = "host-01.enroll.test";
/// How long a run may take before the test calls it hung (a bound, not a speed claim).
pub const END_LIMIT: Duration = Duration::from_secs(90);
/// Whitelist entries that exist before enrollment and must survive it.
pub const PRE_EXISTING: [&str; 2] = ["198.51.100.7", "::1"];
/// The host's `/etc` files an isolated run keeps (loader cache, name service).
const ISOLATED_ETC: [&str; 7] = [
    "ld.so.cache",
    "ld.so.conf",
    "hosts",
    "nsswitch.conf",
    "passwd",
    "group",
    "resolv.conf",
];

// ---------------------------------------------------------------------------------------
// Harness: one temp dir per test with a config whose TLS files do not exist yet.
// ---------------------------------------------------------------------------------------

pub struct Site {
    pub dir: TempDir,
    pub port: u16,
    pub config: PathBuf,
    pub ca_cert: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub whitelist: PathBuf,
    pub state_dir: PathBuf,
    pub runs: std::cell::Cell<u32>,
}

impl Site {
    pub fn new(tag: &str) -> Site {
        Site::with_key_at(tag, "tls/server.key")
    }

    /// `key` is relative to the temp dir (the tests put its parent in the way).
    pub fn with_key_at(tag: &str, key: &str) -> Site {
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

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn write_config(&self) {
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
    pub fn args(&self, mock: &MockManager, trust: &[String], extra: &[&str]) -> Vec<String> {
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
    pub fn enroll_args(&self, mock: &MockManager, extra: &[&str]) -> Vec<String> {
        self.args(mock, &ca_trust(mock), extra)
    }

    pub fn spawn(&self, args: &[String]) -> Run {
        let mut cmd = Command::new(bin());
        cmd.args(args);
        self.spawn_command(cmd)
    }

    /// Runs the binary under bubblewrap with an `/etc` of its own (the host's files the
    /// process needs, and `/etc/machine-id` only when `machine_id` is given) and no
    /// `/var/lib/dbus`: a host without a machine id, whatever this machine has.
    pub fn spawn_isolated(&self, args: &[String], machine_id: Option<&str>) -> Run {
        self.spawn_isolated_with(args, machine_id, &[])
    }

    /// [`Site::spawn_isolated`] with `etc`'s files (name in `/etc`, file to bind there)
    /// added to, or replacing the host's in, the isolated `/etc`.
    pub fn spawn_isolated_with(
        &self,
        args: &[String],
        machine_id: Option<&str>,
        etc: &[(&str, &Path)],
    ) -> Run {
        let mut cmd = self.isolated_command(&bin(), machine_id, etc);
        cmd.args(args);
        self.spawn_command(cmd)
    }

    /// `program` under bubblewrap with the isolated `/etc` of [`Site::spawn_isolated_with`]
    /// (arguments still to add): lets a test ask that `/etc` what the agent will see.
    pub fn isolated_command(
        &self,
        program: &str,
        machine_id: Option<&str>,
        etc: &[(&str, &Path)],
    ) -> Command {
        let mut cmd = Command::new("bwrap");
        cmd.args(["--dev-bind", "/", "/", "--tmpfs", "/etc"]);
        for name in ISOLATED_ETC {
            let host = Path::new("/etc").join(name);
            if host.exists() && !etc.iter().any(|(n, _)| *n == name) {
                cmd.arg("--ro-bind").arg(&host).arg(&host);
            }
        }
        for (name, file) in etc {
            cmd.arg("--ro-bind")
                .arg(file)
                .arg(Path::new("/etc").join(name));
        }
        if Path::new("/var/lib/dbus").is_dir() {
            cmd.args(["--tmpfs", "/var/lib/dbus"]);
        }
        if let Some(id) = machine_id {
            let file = self.root().join("system-machine-id");
            std::fs::write(&file, format!("{id}\n")).unwrap();
            cmd.arg("--ro-bind").arg(&file).arg("/etc/machine-id");
        }
        cmd.args(["--die-with-parent", "--", program]);
        cmd
    }

    /// Writes the configuration exactly as packaged (`etc/config.yaml`) with only the
    /// locations moved into the temp dir and the listener on loopback; `compat` uncomments
    /// the packaged `# patch_manager: auto` example with that value, as an administrator would.
    pub fn write_packaged_config(&self, compat: Option<&str>) {
        let packaged =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("etc/config.yaml"))
                .unwrap();
        let root = self.root();
        let moves = [
            ("bind: 0.0.0.0", "bind: 127.0.0.1".to_string()),
            ("port: 12443", format!("port: {}", self.port)),
            (
                "/etc/linux_patch_api/certs/ca.pem",
                self.ca_cert.display().to_string(),
            ),
            (
                "/etc/linux_patch_api/certs/server.pem",
                self.server_cert.display().to_string(),
            ),
            (
                "/etc/linux_patch_api/certs/server.key.pem",
                self.server_key.display().to_string(),
            ),
            (
                "/etc/linux_patch_api/whitelist.yaml",
                self.whitelist.display().to_string(),
            ),
            (
                "/var/lib/linux_patch_api/enroll",
                self.state_dir.display().to_string(),
            ),
            (
                "/var/lib/linux_patch_api",
                root.join("lib").display().to_string(),
            ),
            (
                "/var/log/linux_patch_api",
                root.join("log").display().to_string(),
            ),
            // An empty root: the agent must not query this machine's own packages.
            ("root: /\n", format!("root: {}\n", root.display())),
        ];
        let mut text = packaged;
        for (from, to) in moves {
            assert!(
                text.contains(from),
                "etc/config.yaml no longer holds {from:?}"
            );
            text = text.replace(from, &to);
        }
        if let Some(value) = compat {
            let example = "  # patch_manager: auto\n";
            assert!(text.contains(example), "etc/config.yaml lacks {example:?}");
            text = text.replace(example, &format!("  patch_manager: {value}\n"));
        }
        std::fs::write(&self.config, text).unwrap();
    }

    fn spawn_command(&self, mut cmd: Command) -> Run {
        let n = self.runs.get() + 1;
        self.runs.set(n);
        let stdout = self.root().join(format!("run{n}.stdout"));
        let stderr = self.root().join(format!("run{n}.stderr"));
        let child = cmd
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
    pub fn run(&self, args: &[String]) -> (i32, Run) {
        let mut run = self.spawn(args);
        let code = run.wait_code(END_LIMIT);
        (code, run)
    }

    pub fn tls_files(&self) -> [&Path; 3] {
        [&self.ca_cert, &self.server_cert, &self.server_key]
    }

    pub fn state(&self, name: &str) -> PathBuf {
        self.state_dir.join(name)
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Nothing reached the TLS paths and the whitelist is as it was.
    pub fn assert_nothing_written(&self, run: &Run) {
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

/// Why the isolated runs cannot happen here (bubblewrap needs root in CI's setup).
pub fn isolation_unavailable() -> Option<&'static str> {
    if unsafe { libc::geteuid() } != 0 {
        return Some("needs root for bubblewrap's mounts (CI runs as root)");
    }
    if !Path::new("/usr/bin/bwrap").exists() {
        return Some("bwrap is missing (installed by .ci/run)");
    }
    None
}

/// The agent binary the tests run: BIN unless `LPA_ENROLL_TEST_BIN` names another.
pub fn bin() -> String {
    std::env::var(BIN_OVERRIDE)
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| BIN.to_string())
}

/// A spawned binary; killed on drop.
pub struct Run {
    pub child: Child,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
}

impl Run {
    pub fn ended(&mut self) -> bool {
        self.child.try_wait().unwrap().is_some()
    }

    /// Waits for the exit code; panics with the output when it does not end in `limit`.
    pub fn wait_code(&mut self, limit: Duration) -> i32 {
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

    pub fn signal(&self, sig: i32) {
        let rc = unsafe { libc::kill(self.child.id() as i32, sig) };
        assert_eq!(rc, 0);
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    pub fn output(&self) -> String {
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

pub fn whitelist_entries(path: &Path) -> Vec<String> {
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

pub fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// A client of the enrolled agent: certificate from the host CA the bundle came from.
pub fn agent_client(mock: &MockManager) -> Arc<rustls::ClientConfig> {
    let leaf = mock.host_ca().client("patch-manager-client");
    client_config(
        &mock.host_ca().cert_pem,
        Some(&leaf),
        &[&rustls::version::TLS13],
    )
}

/// `GET /api/v1/health` over mutual TLS; `None` while nothing answers.
pub fn health(addr: SocketAddr, config: Arc<rustls::ClientConfig>) -> Option<u16> {
    let tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    let mut tls = tls_over(tcp, config, addr);
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock).ok()?;
    }
    let raw = b"GET /api/v1/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    exchange(&mut tls, raw).ok().map(|r| r.status)
}

/// Waits until the agent answers health with 200 (or the run ends); true when it did.
pub fn serves(site: &Site, mock: &MockManager, run: &mut Run) -> bool {
    let client = agent_client(mock);
    eventually(END_LIMIT, || {
        health(site.addr(), client.clone()) == Some(200) || run.ended()
    });
    health(site.addr(), client) == Some(200)
}

/// Everything a completed enrollment leaves behind.
pub fn assert_provisioned(site: &Site, mock: &MockManager, run: &Run) {
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
pub fn assert_token_secret(site: &Site, token: &str, runs: &[&Run]) {
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
pub fn ca_trust(mock: &MockManager) -> Vec<String> {
    vec!["--manager-ca".into(), mock.ca_path().display().to_string()]
}
