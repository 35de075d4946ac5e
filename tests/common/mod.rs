//! Shared harness for the integration tests: throw-away PKI, config, the real server on
//! loopback, and a real rustls client that speaks raw HTTP/1.1.
#![allow(dead_code)]

pub mod agent_bin;
pub mod apk;
pub mod enroll_site;
pub mod exposition;
pub mod jobs;
pub mod mock_manager;
pub mod pipeline;
pub mod pki;
pub mod sandbox;

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::os::fd::FromRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use linux_patch_api::agent::{self, RunningAgent};
use linux_patch_api::config::Config;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, StreamOwned, SupportedProtocolVersion};

pub use pki::{Ca, Leaf};

/// How long a test waits on any socket before calling it a hang (the manager's own
/// request timeout).
pub const IO_WAIT: Duration = Duration::from_secs(30);

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("lpa-{tag}-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Everything one test needs: a CA, server and client certificates on disk, a whitelist.
pub struct Env {
    pub dir: TempDir,
    pub ca: Ca,
    pub server: Leaf,
    pub client: Leaf,
    pub ca_path: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub whitelist: PathBuf,
    pub audit_log: PathBuf,
}

impl Env {
    /// A fresh PKI and a whitelist allowing 127.0.0.1 and ::1.
    pub fn new(tag: &str) -> Env {
        let dir = TempDir::new(tag);
        let ca = Ca::new("test-ca");
        let server = ca.server();
        let client = ca.client("patch-manager-client");
        let ca_path = dir.path().join("ca.pem");
        std::fs::write(&ca_path, &ca.cert_pem).unwrap();
        let (server_cert, server_key) = server.write(dir.path(), "server");
        let whitelist = dir.path().join("whitelist.yaml");
        std::fs::write(&whitelist, "allowed:\n  - 127.0.0.1\n  - ::1\n").unwrap();
        let audit_log = dir.path().join("audit.log");
        Env {
            dir,
            ca,
            server,
            client,
            ca_path,
            server_cert,
            server_key,
            whitelist,
            audit_log,
        }
    }

    /// The default config pointed at this environment, listening on 127.0.0.1:0.
    pub fn config(&self) -> Config {
        let mut c = Config::default();
        c.server.bind = "127.0.0.1".parse().unwrap();
        c.server.port = 0;
        c.tls.ca_cert = self.ca_path.clone();
        c.tls.server_cert = self.server_cert.clone();
        c.tls.server_key = self.server_key.clone();
        c.whitelist.path = self.whitelist.clone();
        c.logging.audit_log = self.audit_log.clone();
        c.jobs.storage_path = self.dir.path().join("jobs");
        // An empty root: nothing these tests do may reach the host's package database.
        c.package_manager.root = self.dir.path().to_path_buf();
        // Not enrolled, whatever the host holds: compat.patch_manager auto stays off.
        c.enrollment.state_dir = self.dir.path().join("enroll");
        c
    }

    /// YAML for [`Env::config`] with a fixed port plus `extra` top-level YAML appended.
    pub fn config_yaml(&self, port: u16, extra: &str) -> String {
        format!(
            "server:\n  bind: 127.0.0.1\n  port: {port}\n  shutdown_grace_seconds: 5\n\
             tls:\n  ca_cert: {}\n  server_cert: {}\n  server_key: {}\n\
             whitelist:\n  path: {}\n\
             logging:\n  level: debug\n  audit_log: {}\n\
             jobs:\n  storage_path: {}\n\
             package_manager:\n  root: {}\n\
             enrollment:\n  state_dir: {}\n{extra}",
            self.ca_path.display(),
            self.server_cert.display(),
            self.server_key.display(),
            self.whitelist.display(),
            self.audit_log.display(),
            self.dir.path().join("jobs").display(),
            self.dir.path().display(),
            self.dir.path().join("enroll").display(),
        )
    }

    /// Starts the real server in-process with `config`.
    pub fn start(&self, config: Config) -> Agent {
        let running = agent::start(config, None).unwrap();
        Agent(Some(running))
    }

    /// A client config trusting this CA and presenting the default client certificate.
    pub fn client_config(&self) -> Arc<ClientConfig> {
        client_config(
            &self.ca.cert_pem,
            Some(&self.client),
            &[&rustls::version::TLS13],
        )
    }
}

/// A running agent, shut down and joined on drop.
pub struct Agent(pub Option<RunningAgent>);

impl Agent {
    pub fn addr(&self) -> SocketAddr {
        self.0.as_ref().unwrap().local_addr()
    }
    pub fn running(&self) -> &RunningAgent {
        self.0.as_ref().unwrap()
    }
    /// Stops and waits, returning the server's result.
    pub fn stop(mut self) -> std::io::Result<()> {
        let running = self.0.take().unwrap();
        running.shutdown();
        running.join()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(running) = self.0.take() {
            running.shutdown();
            let _ = running.join();
        }
    }
}

/// A rustls client config trusting `ca_pem`, optionally presenting `client`.
pub fn client_config(
    ca_pem: &str,
    client: Option<&Leaf>,
    versions: &[&'static SupportedProtocolVersion],
) -> Arc<ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots);
    let mut config = match client {
        Some(leaf) => {
            let chain: Vec<CertificateDer<'static>> =
                CertificateDer::pem_slice_iter(leaf.cert_pem.as_bytes())
                    .map(|c| c.unwrap())
                    .collect();
            let key = PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(config)
}

/// A TCP connection to `addr` from the local address `from` (e.g. 127.0.0.2).
pub fn tcp_from(from: IpAddr, addr: SocketAddr) -> std::io::Result<TcpStream> {
    let (IpAddr::V4(from), IpAddr::V4(to)) = (from, addr.ip()) else {
        panic!("tcp_from supports IPv4 only");
    };
    // std cannot bind a client socket before connecting; libc can.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0);
        let stream = TcpStream::from_raw_fd(fd);
        let mut local: libc::sockaddr_in = std::mem::zeroed();
        local.sin_family = libc::AF_INET as libc::sa_family_t;
        local.sin_addr.s_addr = u32::from_ne_bytes(from.octets());
        let rc = libc::bind(
            fd,
            &local as *const _ as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_in>() as u32,
        );
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut remote: libc::sockaddr_in = std::mem::zeroed();
        remote.sin_family = libc::AF_INET as libc::sa_family_t;
        remote.sin_port = addr.port().to_be();
        remote.sin_addr.s_addr = u32::from_ne_bytes(to.octets());
        let rc = libc::connect(
            fd,
            &remote as *const _ as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_in>() as u32,
        );
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(stream)
    }
}

/// A TLS client stream over `tcp`, not yet handshaken.
pub type Tls = StreamOwned<ClientConnection, TcpStream>;

/// Wraps a TCP stream in TLS for `localhost`-style verification by IP.
pub fn tls_over(tcp: TcpStream, config: Arc<ClientConfig>, addr: SocketAddr) -> Tls {
    tcp.set_read_timeout(Some(IO_WAIT)).unwrap();
    tcp.set_write_timeout(Some(IO_WAIT)).unwrap();
    let name = ServerName::IpAddress(addr.ip().into());
    let conn = ClientConnection::new(config, name).unwrap();
    StreamOwned::new(conn, tcp)
}

/// Connects and completes the TLS handshake.
pub fn connect(addr: SocketAddr, config: Arc<ClientConfig>) -> Tls {
    let tcp = TcpStream::connect(addr).unwrap();
    let mut tls = tls_over(tcp, config, addr);
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock).unwrap();
    }
    tls
}

/// A parsed HTTP response.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// Reads one response (Content-Length framed) from a stream.
pub fn read_response(stream: &mut impl Read) -> std::io::Result<HttpResponse> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut parsed = httparse::Response::new(&mut headers);
        if let httparse::Status::Complete(head_len) = parsed
            .parse(&buf)
            .map_err(|e| std::io::Error::other(format!("bad response: {e}")))?
        {
            let status = parsed.code.unwrap_or(0);
            let headers: Vec<(String, String)> = parsed
                .headers
                .iter()
                .map(|h| {
                    (
                        h.name.to_string(),
                        String::from_utf8_lossy(h.value).to_string(),
                    )
                })
                .collect();
            let len: usize = headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                .map(|(_, v)| v.trim().parse().unwrap())
                .unwrap_or(0);
            let mut body = buf[head_len..].to_vec();
            while body.len() < len {
                let n = stream.read(&mut chunk)?;
                if n == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                body.extend_from_slice(&chunk[..n]);
            }
            body.truncate(len);
            return Ok(HttpResponse {
                status,
                headers,
                body,
            });
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Sends raw request bytes and reads one response.
pub fn exchange(tls: &mut Tls, raw: &[u8]) -> std::io::Result<HttpResponse> {
    tls.write_all(raw)?;
    tls.flush()?;
    read_response(tls)
}

/// `GET path` on an existing connection (keep-alive).
pub fn get_on(tls: &mut Tls, path: &str) -> HttpResponse {
    let raw = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n");
    exchange(tls, raw.as_bytes()).unwrap()
}

/// One request with a method and optional JSON body on a new connection.
pub fn request(
    addr: SocketAddr,
    config: Arc<ClientConfig>,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> HttpResponse {
    let mut tls = connect(addr, config);
    let raw = match body {
        Some(b) => format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{b}",
            b.len()
        ),
        None => format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\n\r\n"),
    };
    exchange(&mut tls, raw.as_bytes()).unwrap()
}

/// What a TLS attempt that should be silently dropped produced.
#[derive(Debug)]
pub struct DropOutcome {
    /// Application bytes the client received (must be zero).
    pub plaintext: Vec<u8>,
    /// Whether the connection ended (EOF or error) rather than timing out.
    pub closed: bool,
}

/// Tries a handshake and a request over `tcp`, collecting any application bytes received.
pub fn attempt(tcp: TcpStream, config: Arc<ClientConfig>, addr: SocketAddr) -> DropOutcome {
    let mut tls = tls_over(tcp, config, addr);
    let mut plaintext = Vec::new();
    let _ = tls.write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let _ = tls.flush();
    let started = Instant::now();
    let mut chunk = [0u8; 4096];
    let closed = loop {
        match tls.read(&mut chunk) {
            Ok(0) => break true,
            Ok(n) => plaintext.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break false
            }
            Err(_) => break true,
        }
        if started.elapsed() > IO_WAIT {
            break false;
        }
    };
    DropOutcome { plaintext, closed }
}

/// Asserts a response body is the specification's envelope and returns it.
pub fn assert_envelope(resp: &HttpResponse) -> serde_json::Value {
    let v = resp.json();
    let obj = v.as_object().expect("envelope is an object");
    for key in ["success", "request_id", "timestamp", "data", "error"] {
        assert!(obj.contains_key(key), "envelope lacks {key}: {v}");
    }
    let id = v["request_id"].as_str().expect("request_id string");
    assert!(
        uuid::Uuid::parse_str(id).is_ok(),
        "request_id not a UUID: {id}"
    );
    assert_eq!(
        resp.header("x-request-id"),
        Some(id),
        "X-Request-Id header matches"
    );
    let ts = v["timestamp"].as_str().expect("timestamp string");
    assert!(
        time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339).is_ok()
            && ts.ends_with('Z'),
        "timestamp not RFC 3339 UTC: {ts}"
    );
    let success = v["success"].as_bool().expect("success bool");
    if success {
        assert!(!v["data"].is_null(), "success with null data: {v}");
        assert!(v["error"].is_null(), "success with an error: {v}");
    } else {
        assert!(v["data"].is_null(), "error with data: {v}");
        let e = &v["error"];
        assert!(
            e["code"].is_string() && e["message"].is_string(),
            "error shape: {v}"
        );
        assert!(
            e["retryable"].is_boolean() && e["details"].is_object(),
            "error shape: {v}"
        );
    }
    v
}

/// Asserts an error envelope with the given status and code.
pub fn assert_error(resp: &HttpResponse, status: u16, code: &str) -> serde_json::Value {
    assert_eq!(
        resp.status,
        status,
        "status; body: {}",
        String::from_utf8_lossy(&resp.body)
    );
    let v = assert_envelope(resp);
    assert_eq!(v["success"], false);
    assert_eq!(v["error"]["code"], code, "{v}");
    v
}

/// Polls `f` every 100 ms until it returns true or `limit` passes; returns whether it did.
pub fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if f() {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A free TCP port on 127.0.0.1 (for tests that start the binary with a fixed port).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A WebSocket client over a mutual-TLS stream.
pub type Ws = tungstenite::WebSocket<Tls>;

/// Opens `WS /api/v1/ws/jobs` with a real tungstenite client over rustls; the error is
/// tungstenite's (an `Http` error carries a non-101 answer).
pub fn ws_connect(
    addr: SocketAddr,
    config: Arc<ClientConfig>,
) -> Result<(Ws, tungstenite::handshake::client::Response), tungstenite::Error> {
    let tls = connect(addr, config);
    let url = format!("wss://localhost:{}/api/v1/ws/jobs", addr.port());
    tungstenite::client::client(url, tls).map_err(|e| match e {
        tungstenite::HandshakeError::Failure(e) => e,
        tungstenite::HandshakeError::Interrupted(_) => {
            tungstenite::Error::Io(std::io::ErrorKind::TimedOut.into())
        }
    })
}

/// The next text frame as JSON, skipping pings and pongs.
pub fn ws_next_json(ws: &mut Ws) -> serde_json::Value {
    loop {
        match ws.read().unwrap() {
            tungstenite::Message::Text(t) => return serde_json::from_str(t.as_str()).unwrap(),
            tungstenite::Message::Ping(_) | tungstenite::Message::Pong(_) => {}
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

/// Sends one text frame.
pub fn ws_send(ws: &mut Ws, text: &str) {
    ws.send(tungstenite::Message::text(text)).unwrap();
}

/// Replays recorded plaintext; what a client would answer is discarded.
struct Replay(std::io::Cursor<Vec<u8>>);

impl Read for Replay {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for Replay {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every frame the server sends until it ends the connection, read WITHOUT answering any
/// (a client that answers pings is not silent). Assumes nothing was read since the 101.
pub fn ws_frames_until_end(ws: Ws) -> Vec<tungstenite::Message> {
    let mut tls = ws.into_inner();
    let mut raw = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match tls.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => raw.extend_from_slice(&chunk[..n]),
        }
    }
    let replay = Replay(std::io::Cursor::new(raw));
    let mut ws =
        tungstenite::WebSocket::from_raw_socket(replay, tungstenite::protocol::Role::Client, None);
    let mut frames = Vec::new();
    while let Ok(m) = ws.read() {
        frames.push(m);
    }
    frames
}
