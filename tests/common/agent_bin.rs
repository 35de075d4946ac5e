//! The agent binary started with an [`Env`]'s config, its process inspected and killed on
//! drop: for tests that must measure the real process (memory) or restart it.

use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{eventually, free_port, Env};

/// A running agent binary.
pub struct AgentBin {
    /// The process.
    pub child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl AgentBin {
    /// Starts the binary with `env`'s config plus `extra` top-level YAML; waits until it
    /// listens.
    pub fn start(env: &Env, extra: &str) -> AgentBin {
        AgentBin::start_edited(env, extra, |yaml| yaml)
    }

    /// [`AgentBin::start`] with the config's YAML passed through `edit` (to add keys to a
    /// section [`Env::config_yaml`] writes).
    pub fn start_edited(env: &Env, extra: &str, edit: impl Fn(String) -> String) -> AgentBin {
        let port = free_port();
        let path = env.dir.path().join("config.yaml");
        std::fs::write(&path, edit(env.config_yaml(port, extra))).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_linux-patch-api"))
            .args(["--config", path.to_str().unwrap()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let agent = AgentBin { child, addr };
        assert!(
            eventually(Duration::from_secs(30), || TcpStream::connect(addr).is_ok()),
            "binary did not start listening"
        );
        agent
    }

    /// A `kB` field of `/proc/<pid>/status` (`VmRSS`, `VmHWM`), in bytes.
    pub fn status_bytes(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status
            .lines()
            .find(|l| l.starts_with(&format!("{field}:")))
            .unwrap_or_else(|| panic!("no {field} in /proc status"));
        let kib: u64 = line
            .split_whitespace()
            .nth(1)
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("bad line {line}"));
        kib * 1024
    }
}

impl Drop for AgentBin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
