//! A mock central Patch Manager for the enrollment tests: `POST /api/v1/enroll` and
//! `GET /api/v1/enroll/status/{token}` served over HTTPS, with scripted answers and a record
//! of every request.
//!
//! HTTP is tiny_http on a plain loopback port (127.0.0.1); HTTPS is a small rustls terminator in front
//! (tiny_http's own TLS features pull an old rustls/ring with an advisory). Certificates are
//! shaped like the real manager's: a P-256 CA, a manager leaf for `localhost`/127.0.0.1, and
//! per approved host a leaf with CN `<fqdn>-server`, SAN DNS `<fqdn>` + IP 127.0.0.1,
//! serverAuth, 365 days from now (no back-dating), key PKCS#8 P-256.

use std::collections::{HashMap, VecDeque};
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType, SerialNumber,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConfig, ServerConnection};
use serde_json::{json, Value};

use super::pki::{Ca, Leaf};
use super::TempDir;

/// A connection that shows no progress for this long is dropped by the terminator.
const IDLE_LIMIT: Duration = Duration::from_secs(30);

/// What the status endpoint answers to one poll of a token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StatusAnswer {
    /// `{"status":"pending"}`.
    Pending,
    /// `approved` with a fresh bundle for the registered FQDN; the token is consumed.
    Approved,
    /// `approved` whose `server_key` belongs to another certificate; the token is consumed.
    ApprovedKeyMismatch,
    /// `{"status":"denied"}`.
    Denied,
    /// `{"status":"notfound"}`: the real manager's spelling.
    NotFound,
    /// `{"status":"not_found"}`: the specification's spelling.
    NotFoundSpec,
}

/// What `POST /api/v1/enroll` answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegisterAnswer {
    /// 202 with a new 64-character token (no rate-limit check when scripted).
    Accept,
    /// 429 with the real manager's message.
    RateLimited,
    /// 409 with this message.
    Conflict(String),
    /// 500 `{"error":"Database error"}`.
    ServerError,
}

/// Optional parts of an approved bundle.
#[derive(Clone, Debug, Default)]
pub struct BundleOptions {
    /// Add `ca_chain` (the host CA PEM).
    pub ca_chain: bool,
    /// The `crl_pem` field ("" like the real manager by default).
    pub crl_pem: String,
}

/// One request the mock received.
#[derive(Clone, Debug)]
pub struct Record {
    /// HTTP method.
    pub method: String,
    /// Path as requested.
    pub path: String,
    /// Body as JSON, when it was JSON.
    pub body: Option<Value>,
    /// When it arrived.
    pub at: Instant,
    /// HTTP status answered.
    pub status: u16,
    /// Short description of the answer: the status tag for polls, the code for registrations.
    pub answer: String,
}

impl Record {
    /// Whether this is a registration (`POST /api/v1/enroll`).
    pub fn is_registration(&self) -> bool {
        self.method == "POST" && self.path == "/api/v1/enroll"
    }
    /// The token of a status poll.
    pub fn polled_token(&self) -> Option<&str> {
        if self.method != "GET" {
            return None;
        }
        self.path.strip_prefix("/api/v1/enroll/status/")
    }
}

/// The CA that signs the hosts' certificates (and the test clients talking to them).
pub struct HostCa {
    /// The CA certificate, PEM (the root when issuing through an intermediate).
    pub cert_pem: String,
    /// The intermediate that signs, PEM, when there is one (the bundle's `ca_chain`).
    pub chain_pem: Option<String>,
    issuer: Issuer<'static, KeyPair>,
    next_serial: AtomicUsize,
}

impl HostCa {
    /// A new self-signed P-256 CA.
    pub fn new(name: &str) -> HostCa {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
        ];
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::days(1);
        params.not_after = now + time::Duration::days(3650);
        let cert = params.self_signed(&key).unwrap();
        HostCa {
            cert_pem: cert.pem(),
            chain_pem: None,
            issuer: Issuer::new(params, key),
            next_serial: AtomicUsize::new(5000),
        }
    }

    /// A root CA `root` whose intermediate `issuing` signs everything.
    pub fn with_intermediate(root: &str, issuing: &str) -> HostCa {
        let root = HostCa::new(root);
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, issuing);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
        ];
        params.use_authority_key_identifier_extension = true;
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::days(1);
        params.not_after = now + time::Duration::days(1825);
        let cert = params.signed_by(&key, &root.issuer).unwrap();
        HostCa {
            cert_pem: root.cert_pem,
            chain_pem: Some(cert.pem()),
            issuer: Issuer::new(params, key),
            next_serial: AtomicUsize::new(7000),
        }
    }

    fn sign(&self, cn: &str, sans: Vec<SanType>, eku: ExtendedKeyUsagePurpose) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.subject_alt_names = sans;
        params.extended_key_usages = vec![eku];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.use_authority_key_identifier_extension = true;
        let serial = self.next_serial.fetch_add(1, Ordering::SeqCst) as u64;
        params.serial_number = Some(SerialNumber::from(serial));
        // Like the real manager: valid from the moment of issue, for a year.
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now;
        params.not_after = now + time::Duration::days(365);
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            serial,
        }
    }

    /// The server certificate the manager issues for `fqdn`: SAN DNS `fqdn`, IP 127.0.0.1
    /// and `ip` when it is another address.
    pub fn server_for(&self, fqdn: &str, ip: Option<IpAddr>) -> Leaf {
        let mut sans = vec![
            SanType::DnsName(fqdn.to_string().try_into().unwrap()),
            SanType::IpAddress("127.0.0.1".parse().unwrap()),
        ];
        if let Some(ip) = ip.filter(|ip| !ip.is_loopback()) {
            sans.push(SanType::IpAddress(ip));
        }
        self.sign(
            &format!("{fqdn}-server"),
            sans,
            ExtendedKeyUsagePurpose::ServerAuth,
        )
    }

    /// A client certificate like the manager's own (clientAuth only, no SAN).
    pub fn client(&self, cn: &str) -> Leaf {
        self.sign(cn, Vec::new(), ExtendedKeyUsagePurpose::ClientAuth)
    }
}

/// What the mock knows about one issued token.
struct TokenState {
    answers: VecDeque<StatusAnswer>,
    fqdn: String,
    ip: Option<IpAddr>,
}

/// Everything the handler thread and the test share.
struct State {
    records: Vec<Record>,
    register_script: VecDeque<RegisterAnswer>,
    status_script: Vec<StatusAnswer>,
    tokens: HashMap<String, TokenState>,
    issued: Vec<String>,
    last_registration: Option<Instant>,
    rate_window: Duration,
    bundle: BundleOptions,
}

/// A running mock manager; stopped on drop.
pub struct MockManager {
    addr: SocketAddr,
    host: String,
    dir: TempDir,
    ca_path: PathBuf,
    manager_ca: Ca,
    fingerprint: [u8; 32],
    host_ca: Arc<HostCa>,
    state: Arc<Mutex<State>>,
    handshakes: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl MockManager {
    /// Starts the mock on 127.0.0.1 (TLS 1.2 and 1.3) with the default script: every
    /// registration accepted (1 per minute, like the real one), every poll `pending`.
    pub fn start() -> MockManager {
        Self::start_with(HostCa::new("mock-host-ca"), "127.0.0.1", "127.0.0.1")
    }

    /// Like [`MockManager::start`], its HTTPS port on the loopback address `ip` and its URL
    /// naming `host` (a name the test resolves to `ip` itself, or `ip`).
    pub fn start_on(ip: &str, host: &str) -> MockManager {
        Self::start_with(HostCa::new("mock-host-ca"), ip, host)
    }

    /// Like [`MockManager::start`], issuing host and client certificates through an
    /// intermediate CA (sent as the bundle's `ca_chain`).
    pub fn start_with_intermediate() -> MockManager {
        let host_ca = HostCa::with_intermediate("mock-host-root", "mock-host-issuing");
        Self::start_with(host_ca, "127.0.0.1", "127.0.0.1")
    }

    fn start_with(host_ca: HostCa, ip: &str, host: &str) -> MockManager {
        let dir = TempDir::new("mock-manager");
        let manager_ca = Ca::new("mock-patch-manager-ca");
        let leaf = manager_ca.server();
        let ca_path = dir.path().join("manager-ca.pem");
        std::fs::write(&ca_path, &manager_ca.cert_pem).unwrap();
        let leaf_der = CertificateDer::from_pem_slice(leaf.cert_pem.as_bytes()).unwrap();
        let digest = ring::digest::digest(&ring::digest::SHA256, leaf_der.as_ref());
        let fingerprint: [u8; 32] = digest.as_ref().try_into().unwrap();

        let state = Arc::new(Mutex::new(State {
            records: Vec::new(),
            register_script: VecDeque::new(),
            status_script: vec![StatusAnswer::Pending],
            tokens: HashMap::new(),
            issued: Vec::new(),
            last_registration: None,
            rate_window: Duration::from_secs(60),
            bundle: BundleOptions::default(),
        }));
        let host_ca = Arc::new(host_ca);
        let stop = Arc::new(AtomicBool::new(false));
        let handshakes = Arc::new(AtomicUsize::new(0));

        let http = tiny_http::Server::http("127.0.0.1:0").unwrap();
        let backend = http.server_addr().to_ip().unwrap();
        let http_thread = {
            let (state, host_ca, stop) = (state.clone(), host_ca.clone(), stop.clone());
            std::thread::spawn(move || serve_http(http, state, host_ca, stop))
        };

        let listener = TcpListener::bind((ip, 0)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let tls = tls_config(&leaf);
        let tls_thread = {
            let (stop, handshakes) = (stop.clone(), handshakes.clone());
            std::thread::spawn(move || accept_tls(listener, tls, backend, stop, handshakes))
        };

        MockManager {
            addr,
            host: host.to_string(),
            dir,
            ca_path,
            manager_ca,
            fingerprint,
            host_ca,
            state,
            handshakes,
            stop,
            threads: vec![http_thread, tls_thread],
        }
    }

    /// `https://HOST:PORT`: `https://127.0.0.1:PORT` unless started with [`MockManager::start_on`].
    pub fn url(&self) -> String {
        format!("https://{}:{}", self.host, self.addr.port())
    }

    /// The HTTPS address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A PEM file with the manager's CA (for `--manager-ca`).
    pub fn ca_path(&self) -> &Path {
        &self.ca_path
    }

    /// The manager's CA, PEM.
    pub fn ca_pem(&self) -> &str {
        &self.manager_ca.cert_pem
    }

    /// SHA-256 of the manager's leaf certificate, 64 lowercase hex digits.
    pub fn fingerprint(&self) -> String {
        self.fingerprint
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The same fingerprint as `AA:BB:...` (upper case, colons).
    pub fn fingerprint_colons(&self) -> String {
        self.fingerprint
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":")
    }

    /// A directory of the mock's own (removed with it).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The CA of the bundles it hands out: make the agent's test clients from it.
    pub fn host_ca(&self) -> &HostCa {
        &self.host_ca
    }

    /// The status answers every token issued from now on goes through, in order; the last
    /// one repeats. After an `Approved*` the token is consumed (`notfound` from then on).
    pub fn script_status(&self, answers: &[StatusAnswer]) {
        assert!(!answers.is_empty(), "a status script needs an answer");
        self.state.lock().unwrap().status_script = answers.to_vec();
    }

    /// Replaces the remaining answers of an already issued token.
    pub fn script_token(&self, token: &str, answers: &[StatusAnswer]) {
        let mut state = self.state.lock().unwrap();
        let t = state.tokens.get_mut(token).expect("token was issued");
        t.answers = answers.iter().cloned().collect();
    }

    /// The next registrations' answers, in order; afterwards the default (accept, rate-limited).
    pub fn script_register(&self, answers: &[RegisterAnswer]) {
        self.state.lock().unwrap().register_script = answers.iter().cloned().collect();
    }

    /// Window of the unscripted per-client registration limit (60 s by default).
    pub fn set_rate_window(&self, window: Duration) {
        self.state.lock().unwrap().rate_window = window;
    }

    /// Optional fields of the next approved bundles.
    pub fn set_bundle(&self, options: BundleOptions) {
        self.state.lock().unwrap().bundle = options;
    }

    /// Every request so far, in arrival order.
    pub fn records(&self) -> Vec<Record> {
        self.state.lock().unwrap().records.clone()
    }

    /// Registrations received (whatever was answered).
    pub fn registrations(&self) -> Vec<Record> {
        let records = self.records();
        records
            .into_iter()
            .filter(Record::is_registration)
            .collect()
    }

    /// Status polls received (any token).
    pub fn polls(&self) -> Vec<Record> {
        let records = self.records();
        records
            .into_iter()
            .filter(|r| r.polled_token().is_some())
            .collect()
    }

    /// Tokens issued, in order.
    pub fn tokens(&self) -> Vec<String> {
        self.state.lock().unwrap().issued.clone()
    }

    /// Whether some poll was answered with this status tag (e.g. "approved").
    pub fn served(&self, tag: &str) -> bool {
        self.polls().iter().any(|r| r.answer == tag)
    }

    /// TLS handshakes completed so far (a client that rejects the certificate completes none).
    pub fn handshakes(&self) -> usize {
        self.handshakes.load(Ordering::SeqCst)
    }
}

impl Drop for MockManager {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn tls_config(leaf: &Leaf) -> Arc<ServerConfig> {
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(leaf.cert_pem.as_bytes())
            .map(|c| c.unwrap())
            .collect();
    let key = PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS12, &rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

fn accept_tls(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    backend: SocketAddr,
    stop: Arc<AtomicBool>,
    handshakes: Arc<AtomicUsize>,
) {
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((tcp, _)) => {
                let (tls, stop, handshakes) = (tls.clone(), stop.clone(), handshakes.clone());
                // Detached: each connection ends on EOF, error, idle limit or stop.
                std::thread::spawn(move || {
                    let _ = terminate(tcp, tls, backend, &stop, &handshakes);
                });
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// One TLS connection: decrypts into a plain connection to tiny_http and back.
fn terminate(
    mut tcp: TcpStream,
    tls: Arc<ServerConfig>,
    backend_addr: SocketAddr,
    stop: &AtomicBool,
    handshakes: &AtomicUsize,
) -> std::io::Result<()> {
    tcp.set_nonblocking(true)?;
    let mut conn = ServerConnection::new(tls).map_err(std::io::Error::other)?;
    let mut backend: Option<TcpStream> = None;
    let (mut client_eof, mut backend_eof, mut counted) = (false, false, false);
    let mut last_progress = Instant::now();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let mut progress = false;
        if !client_eof {
            match conn.read_tls(&mut tcp) {
                Ok(0) => client_eof = true,
                Ok(_) => {
                    progress = true;
                    if let Err(e) = conn.process_new_packets() {
                        // Tell the client why (e.g. its alert), then give up.
                        let _ = conn.write_tls(&mut tcp);
                        return Err(std::io::Error::other(e));
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        if !counted && !conn.is_handshaking() {
            counted = true;
            handshakes.fetch_add(1, Ordering::SeqCst);
        }
        // Plaintext from the client to tiny_http.
        loop {
            match conn.reader().read(&mut buf) {
                Ok(0) => {
                    client_eof = true;
                    break;
                }
                Ok(n) => {
                    progress = true;
                    if backend.is_none() {
                        backend = Some(connect_backend(backend_addr)?);
                    }
                    if let Some(b) = backend.as_mut() {
                        b.write_all(&buf[..n])?;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        // tiny_http's answer back to the client; the short read timeout paces this loop.
        if let Some(b) = backend.as_mut().filter(|_| !backend_eof) {
            match b.read(&mut buf) {
                Ok(0) => {
                    backend_eof = true;
                    conn.send_close_notify();
                }
                Ok(n) => {
                    progress = true;
                    conn.writer().write_all(&buf[..n])?;
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => return Err(e),
            }
        } else {
            std::thread::sleep(Duration::from_millis(2));
        }
        while conn.wants_write() {
            match conn.write_tls(&mut tcp) {
                Ok(_) => progress = true,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        if client_eof {
            if let Some(b) = backend.as_ref() {
                let _ = b.shutdown(Shutdown::Write);
            }
        }
        let flushed = !conn.wants_write();
        if flushed && (backend_eof || (client_eof && backend.is_none())) {
            return Ok(());
        }
        if progress {
            last_progress = Instant::now();
        } else if last_progress.elapsed() > IDLE_LIMIT || stop.load(Ordering::SeqCst) {
            return Ok(());
        }
    }
}

fn connect_backend(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let b = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    b.set_read_timeout(Some(Duration::from_millis(2)))?;
    b.set_write_timeout(Some(Duration::from_secs(10)))?;
    Ok(b)
}

fn serve_http(
    server: tiny_http::Server,
    state: Arc<Mutex<State>>,
    host_ca: Arc<HostCa>,
    stop: Arc<AtomicBool>,
) {
    while !stop.load(Ordering::SeqCst) {
        let Ok(Some(mut request)) = server.recv_timeout(Duration::from_millis(50)) else {
            continue;
        };
        let at = Instant::now();
        let method = request.method().as_str().to_string();
        let path = request.url().to_string();
        let mut raw = String::new();
        let _ = request
            .as_reader()
            .take(1024 * 1024)
            .read_to_string(&mut raw);
        let body = serde_json::from_str::<Value>(&raw).ok();
        let (status, reply) = {
            let mut state = state.lock().unwrap();
            let (status, answer, reply) = route(&mut state, &host_ca, &method, &path, &body);
            state.records.push(Record {
                method,
                path,
                body,
                at,
                status,
                answer,
            });
            (status, reply)
        };
        let header: tiny_http::Header = "Content-Type: application/json".parse().unwrap();
        let response = tiny_http::Response::from_string(reply.to_string())
            .with_status_code(status)
            .with_header(header);
        let _ = request.respond(response);
    }
}

fn route(
    state: &mut State,
    host_ca: &HostCa,
    method: &str,
    path: &str,
    body: &Option<Value>,
) -> (u16, String, Value) {
    if method == "POST" && path == "/api/v1/enroll" {
        return register(state, body);
    }
    if let (Some(token), "GET") = (path.strip_prefix("/api/v1/enroll/status/"), method) {
        return status(state, host_ca, token);
    }
    (404, "404".into(), json!({"error": "Not found"}))
}

fn register(state: &mut State, body: &Option<Value>) -> (u16, String, Value) {
    let scripted = state.register_script.pop_front();
    let answer = match scripted {
        Some(a) => a,
        None => match state.last_registration {
            Some(t) if t.elapsed() < state.rate_window => RegisterAnswer::RateLimited,
            _ => RegisterAnswer::Accept,
        },
    };
    match answer {
        RegisterAnswer::Accept => {
            let Some(fqdn) = body.as_ref().and_then(|b| b["fqdn"].as_str()) else {
                return (422, "422".into(), json!({"error": "missing field `fqdn`"}));
            };
            let ip = body
                .as_ref()
                .and_then(|b| b["ip_address"].as_str())
                .and_then(|s| s.parse().ok());
            let token = new_token();
            state.tokens.insert(
                token.clone(),
                TokenState {
                    answers: state.status_script.iter().cloned().collect(),
                    fqdn: fqdn.to_string(),
                    ip,
                },
            );
            state.issued.push(token.clone());
            state.last_registration = Some(Instant::now());
            (202, "202".into(), json!({"polling_token": token}))
        }
        RegisterAnswer::RateLimited => (
            429,
            "429".into(),
            json!({"error": "Rate limit exceeded. Try again in a minute."}),
        ),
        RegisterAnswer::Conflict(m) => (409, "409".into(), json!({"error": m})),
        RegisterAnswer::ServerError => (500, "500".into(), json!({"error": "Database error"})),
    }
}

fn status(state: &mut State, host_ca: &HostCa, token: &str) -> (u16, String, Value) {
    let bundle = state.bundle.clone();
    let Some(t) = state.tokens.get_mut(token) else {
        return (200, "notfound".into(), json!({"status": "notfound"}));
    };
    let answer = if t.answers.len() > 1 {
        t.answers.pop_front()
    } else {
        t.answers.front().cloned()
    };
    let (fqdn, ip) = (t.fqdn.clone(), t.ip);
    let answer = answer.unwrap_or(StatusAnswer::NotFound);
    if matches!(
        answer,
        StatusAnswer::Approved | StatusAnswer::ApprovedKeyMismatch
    ) {
        // Deleted on read, like the real manager.
        state.tokens.remove(token);
    }
    match answer {
        StatusAnswer::Pending => (200, "pending".into(), json!({"status": "pending"})),
        StatusAnswer::Denied => (200, "denied".into(), json!({"status": "denied"})),
        StatusAnswer::NotFound => (200, "notfound".into(), json!({"status": "notfound"})),
        StatusAnswer::NotFoundSpec => (200, "not_found".into(), json!({"status": "not_found"})),
        StatusAnswer::Approved => {
            let leaf = host_ca.server_for(&fqdn, ip);
            let v = approved(host_ca, &leaf.cert_pem, &leaf.key_pem, &bundle);
            (200, "approved".into(), v)
        }
        StatusAnswer::ApprovedKeyMismatch => {
            let leaf = host_ca.server_for(&fqdn, ip);
            let other = KeyPair::generate().unwrap().serialize_pem();
            let v = approved(host_ca, &leaf.cert_pem, &other, &bundle);
            (200, "approved".into(), v)
        }
    }
}

fn approved(host_ca: &HostCa, cert: &str, key: &str, options: &BundleOptions) -> Value {
    let mut v = json!({
        "status": "approved",
        "ca_crt": host_ca.cert_pem,
        "server_crt": cert,
        "server_key": key,
        "crl_pem": options.crl_pem,
    });
    if let Some(chain) = &host_ca.chain_pem {
        v["ca_chain"] = json!(chain);
    } else if options.ca_chain {
        v["ca_chain"] = json!(host_ca.cert_pem);
    }
    v
}

/// 64 random alphanumerics, like the real manager's polling tokens.
fn new_token() -> String {
    use ring::rand::SecureRandom;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = [0u8; 64];
    ring::rand::SystemRandom::new().fill(&mut bytes).unwrap();
    bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}
