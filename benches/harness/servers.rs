//! The servers under test, started as real processes on loopback: the agent binary with a
//! benchmark configuration, and nginx with the same certificates.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{free_port, Env};

/// A server process of ours, stopped (SIGTERM, then SIGKILL) on drop.
pub struct Process {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// The process whose memory and CPU are read (nginx: the master; see [`Process::pids`]).
    pub pid: u32,
}

impl Process {
    /// Every process of this server: the main one and its children (nginx's workers).
    pub fn pids(&self) -> Vec<u32> {
        let mut pids = vec![self.pid];
        pids.extend(crate::procfs::children(self.pid));
        pids
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // SAFETY: signalling our own child by its pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `addr` accepts TCP connections.
fn wait_listening(addr: SocketAddr, child: &mut Child, what: &str) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if TcpStream::connect(addr).is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("{what} exited at start: {status}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(format!("{what} did not listen on {addr} within 20 s"))
}

/// The agent's benchmark configuration: the test PKI, the host's apt backend (read only
/// here: nothing in the throughput runs lists packages), no rate limits, quiet logging,
/// and enough workers for one thread per connection at the highest concurrency measured.
///
/// Requests per connection are raised to the most the agent allows, as nginx's
/// `keepalive_requests` is in [`nginx_config`]: with the default 1000 the agent alone closed
/// each connection every 1000 requests, so its clients paid a full mutual-TLS handshake (and
/// a cold connection thread) about 300 times per keep-alive run while nginx's paid none.
pub fn agent_config(env: &Env, port: u16, workers: usize) -> String {
    format!(
        "server:\n  bind: 127.0.0.1\n  port: {port}\n  workers: {workers}\n  \
         max_connections: {max}\n  shutdown_grace_seconds: 2\n  timeouts:\n    \
         keep_alive_idle_seconds: 300\n  limits:\n    max_requests_per_connection: 1000000\n\
         tls:\n  ca_cert: {ca}\n  server_cert: {cert}\n  server_key: {key}\n\
         whitelist:\n  path: {wl}\n\
         rate_limits:\n  enabled: false\n\
         logging:\n  level: warn\n  audit_log: {audit}\n\
         jobs:\n  storage_path: {jobs}\n  rollback_cache_path: {rb}\n\
         package_manager:\n  backend: apt\n  root: /\n",
        max = workers * 4,
        ca = env.ca_path.display(),
        cert = env.server_cert.display(),
        key = env.server_key.display(),
        wl = env.whitelist.display(),
        audit = env.audit_log.display(),
        jobs = env.dir.path().join("jobs").display(),
        rb = env.dir.path().join("rollback").display(),
    )
}

/// Starts the agent binary `bin` with [`agent_config`].
pub fn start_agent(bin: &Path, env: &Env, workers: usize) -> Result<Process, String> {
    let port = free_port();
    let config = env.dir.path().join(format!("bench-{port}.yaml"));
    std::fs::write(&config, agent_config(env, port, workers)).map_err(|e| e.to_string())?;
    let log = std::fs::File::create(env.dir.path().join(format!("agent-{port}.log")))
        .map_err(|e| e.to_string())?;
    let mut child = Command::new(bin)
        .arg("--config")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("{}: {e}", bin.display()))?;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    wait_listening(addr, &mut child, "the agent")?;
    let pid = child.id();
    Ok(Process { child, addr, pid })
}

/// The nginx binary, or an error naming the Debian package that provides it.
pub fn nginx_binary() -> Result<PathBuf, String> {
    ["/usr/sbin/nginx", "/usr/bin/nginx", "/usr/local/sbin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .ok_or_else(|| {
            "nginx is missing: install Debian's package `nginx` (apt-get install -y nginx), \
             then stop and disable the service it starts"
                .to_string()
        })
}

/// nginx's configuration: TLS 1.3 only, client certificates required and verified against
/// the same CA, each `(path, body)` served with the agent's Content-Type from memory.
pub fn nginx_config(
    env: &Env,
    dir: &Path,
    port: u16,
    workers: usize,
    answers: &[(&str, &str)],
) -> String {
    let locations: String = answers
        .iter()
        .map(|(path, body)| {
            let body = body.replace('\\', "\\\\").replace('\'', "\\'");
            format!(
                "\x20   location = {path} {{\n\
                 \x20     default_type application/json;\n\
                 \x20     return 200 '{body}';\n\
                 \x20   }}\n"
            )
        })
        .collect();
    format!(
        "worker_processes {workers};\n\
         daemon off;\n\
         master_process on;\n\
         pid {dir}/nginx.pid;\n\
         error_log {dir}/error.log warn;\n\
         events {{ worker_connections 4096; }}\n\
         http {{\n\
         \x20 access_log off;\n\
         \x20 client_body_temp_path {dir}/body;\n\
         \x20 proxy_temp_path {dir}/proxy;\n\
         \x20 fastcgi_temp_path {dir}/fastcgi;\n\
         \x20 uwsgi_temp_path {dir}/uwsgi;\n\
         \x20 scgi_temp_path {dir}/scgi;\n\
         \x20 keepalive_timeout 300s;\n\
         \x20 keepalive_requests 100000000;\n\
         \x20 server {{\n\
         \x20   listen 127.0.0.1:{port} ssl;\n\
         \x20   ssl_protocols TLSv1.3;\n\
         \x20   ssl_certificate {cert};\n\
         \x20   ssl_certificate_key {key};\n\
         \x20   ssl_client_certificate {ca};\n\
         \x20   ssl_verify_client on;\n\
         \x20   ssl_session_cache off;\n\
         \x20   ssl_session_tickets off;\n\
         {locations}\
         \x20 }}\n\
         }}\n",
        dir = dir.display(),
        cert = env.server_cert.display(),
        key = env.server_key.display(),
        ca = env.ca_path.display(),
    )
}

/// Starts nginx on a free loopback port with [`nginx_config`] in its own directory.
pub fn start_nginx(env: &Env, workers: usize, answers: &[(&str, &str)]) -> Result<Process, String> {
    let bin = nginx_binary()?;
    let port = free_port();
    let dir = env.dir.path().join("nginx");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let conf = dir.join("nginx.conf");
    std::fs::write(&conf, nginx_config(env, &dir, port, workers, answers))
        .map_err(|e| e.to_string())?;
    let mut child = Command::new(&bin)
        .arg("-p")
        .arg(&dir)
        .arg("-e")
        .arg(dir.join("error.log"))
        .arg("-c")
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("{}: {e}", bin.display()))?;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    if let Err(e) = wait_listening(addr, &mut child, "nginx") {
        let log = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!("{e}\n{log}"));
    }
    let pid = child.id();
    Ok(Process { child, addr, pid })
}

/// nginx's version line (`nginx -v` prints it on stderr).
pub fn nginx_version() -> String {
    nginx_binary()
        .ok()
        .and_then(|bin| Command::new(bin).arg("-v").output().ok())
        .map(|o| String::from_utf8_lossy(&o.stderr).trim().to_string())
        .unwrap_or_default()
}
