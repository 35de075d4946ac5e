//! The static binary (`make static`) on a host with nothing: it is statically linked, and in
//! an EMPTY root holding only itself, /etc/hosts and the files its configuration names, it
//! prints its version, checks its configuration and serves mutual TLS to a real rustls
//! client. `make test` passes the binary's path in LPA_STATIC_BIN.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use common::*;

/// The static binary built by `make static`; a missing one is a failure, not a skip.
fn static_bin() -> PathBuf {
    let Some(path) = std::env::var_os("LPA_STATIC_BIN") else {
        panic!(
            "LPA_STATIC_BIN is not set: run `make packages` (which builds the static binary) \
             and the tests through `make test`, which passes its path"
        );
    };
    let path = PathBuf::from(path);
    assert!(
        path.is_file(),
        "{} does not exist: run `make packages`",
        path.display()
    );
    path
}

/// Why these tests cannot run here (they need bubblewrap, and root to bind-mount).
fn unavailable() -> Option<&'static str> {
    if unsafe { libc::geteuid() } != 0 {
        return Some("the empty-root tests need root (bubblewrap bind mounts)");
    }
    if !Path::new("/usr/bin/bwrap").exists() {
        return Some("bwrap is missing (Debian package: bubblewrap, installed by .ci/run)");
    }
    None
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// An empty directory that becomes `/`: the binary and /etc/hosts, nothing else.
struct EmptyRoot {
    dir: TempDir,
}

impl EmptyRoot {
    fn new(tag: &str) -> EmptyRoot {
        let dir = TempDir::new(tag);
        std::fs::copy(static_bin(), dir.path().join("linux-patch-api")).unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        std::fs::write(
            dir.path().join("etc/hosts"),
            "127.0.0.1 localhost\n::1 localhost\n",
        )
        .unwrap();
        EmptyRoot { dir }
    }

    fn write(&self, inside: &str, content: &str) {
        let path = self.dir.path().join(inside.trim_start_matches('/'));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    /// Every file in the root, relative to it (to prove what "empty" means).
    fn listing(&self) -> Vec<String> {
        fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(base, &path, out);
                } else {
                    out.push(path.strip_prefix(base).unwrap().display().to_string());
                }
            }
        }
        let mut out = Vec::new();
        walk(self.dir.path(), self.dir.path(), &mut out);
        out.sort();
        out
    }

    /// The binary in the root, under bubblewrap: no /proc, /dev, /usr, /lib; the network
    /// namespace is shared so the test reaches it on loopback.
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("bwrap");
        cmd.arg("--bind").arg(self.dir.path()).arg("/");
        cmd.args(["--unshare-pid", "--unshare-ipc", "--die-with-parent"]);
        cmd.env_clear();
        cmd.arg("--").arg("/linux-patch-api").args(args);
        cmd.stdin(Stdio::null());
        cmd
    }

    /// Certificates, whitelist and a config naming them, all inside the root.
    fn configure(&self, env: &Env, port: u16) {
        self.write("/certs/ca.pem", &env.ca.cert_pem);
        self.write("/certs/server.pem", &env.server.cert_pem);
        self.write("/certs/server.key.pem", &env.server.key_pem);
        self.write("/whitelist.yaml", "allowed:\n  - 127.0.0.1\n");
        self.write(
            "/config.yaml",
            &format!(
                "server:\n  bind: 127.0.0.1\n  port: {port}\n  shutdown_grace_seconds: 1\n\
                 tls:\n  ca_cert: /certs/ca.pem\n  server_cert: /certs/server.pem\n  \
                 server_key: /certs/server.key.pem\n\
                 whitelist:\n  path: /whitelist.yaml\n\
                 logging:\n  audit_log: /log/audit.log\n\
                 jobs:\n  storage_path: /state/jobs\n"
            ),
        );
    }
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn static_binary_is_statically_linked() {
    let bin = static_bin();
    let out = Command::new("file").arg("-L").arg(&bin).output().unwrap();
    let file = String::from_utf8_lossy(&out.stdout);
    assert!(
        file.contains("static-pie linked") || file.contains("statically linked"),
        "file says: {file}"
    );
    assert!(!file.contains("interpreter"), "no dynamic loader: {file}");
    let out = Command::new("ldd").arg(&bin).output().unwrap();
    let ldd = text(&out);
    assert!(
        ldd.contains("statically linked") || ldd.contains("not a dynamic executable"),
        "ldd says: {ldd}"
    );
    assert!(!ldd.contains("=>"), "no shared libraries: {ldd}");
}

#[test]
fn static_binary_prints_its_version_and_checks_config_in_an_empty_root() {
    if let Some(why) = unavailable() {
        eprintln!("SKIPPED: {why}");
        return;
    }
    let root = EmptyRoot::new("static-check");
    assert_eq!(root.listing(), ["etc/hosts", "linux-patch-api"]);
    let out = root.command(&["--version"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("linux-patch-api {}", env!("CARGO_PKG_VERSION"))
    );

    // Without its certificates the check names each missing file and fails.
    root.write("/config.yaml", "tls:\n  ca_cert: /certs/ca.pem\n");
    let out = root
        .command(&["--check-config", "--config", "/config.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("/certs/ca.pem"), "{}", text(&out));

    let env = Env::new("static-check-pki");
    root.configure(&env, 12443);
    let out = root
        .command(&["--check-config", "--config", "/config.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn static_binary_serves_mutual_tls_in_an_empty_root() {
    if let Some(why) = unavailable() {
        eprintln!("SKIPPED: {why}");
        return;
    }
    let root = EmptyRoot::new("static-serve");
    let env = Env::new("static-serve-pki");
    let port = free_port();
    root.configure(&env, port);
    let log = env.dir.path().join("agent.log");
    let child = root
        .command(&["--config", "/config.yaml"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let running = Running(child);
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let up = eventually(Duration::from_secs(15), || {
        std::net::TcpStream::connect(addr).is_ok()
    });
    if !up {
        let status = running.0.id();
        panic!(
            "the static binary (bwrap pid {status}) did not listen:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }
    let tcp = std::net::TcpStream::connect(addr).unwrap();
    let mut tls = tls_over(tcp, env.client_config(), addr);
    let r = exchange(
        &mut tls,
        b"GET /api/v1/health HTTP/1.1\r\nHost: localhost\r\n\r\n",
    )
    .unwrap_or_else(|e| {
        panic!(
            "no answer from the static binary ({e}):\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        )
    });
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let body = assert_envelope(&r);
    assert_eq!(body["success"], true, "{body}");

    // A client without a certificate gets nothing.
    let no_cert = client_config(&env.ca.cert_pem, None, &[&rustls::version::TLS13]);
    let outcome = attempt(std::net::TcpStream::connect(addr).unwrap(), no_cert, addr);
    assert!(outcome.plaintext.is_empty(), "{outcome:?}");
}
