//! The accept loop (whitelist check before any TLS byte, TLS handshakes driven by the
//! handshake stage on the same thread) and the connection thread pool.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use super::handshake::{self, Handshakes, StageLimits};
use super::tls::TlsState;
use super::trust::{ConnBounds, Trust};
use super::whitelist::Whitelist;
use super::ws::Sessions;
use super::Service;

pub use super::limits::Limits;
pub use super::sources::{ConfigSource, PeerFilter};
pub(crate) use super::stream::reset_close;

mod pool;

use pool::{Job, Pool, PoolState, WORKER_IDLE_EXIT};

/// How the server listens and serves.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// Address to bind (port 0 picks a free one).
    pub bind: SocketAddr,
    /// Most connection-serving threads at once (started lazily, idle ones exit).
    pub workers: usize,
    /// Most established connections, serving plus waiting for a thread; beyond it new ones
    /// are closed. Also the most connections in their TLS handshake at once.
    pub max_connections: usize,
    /// Most connections from one source address still in their TLS handshake; a new one
    /// beyond it drops that address's oldest.
    pub max_handshakes_per_address: usize,
    /// Per-connection deadlines and limits.
    pub limits: Limits,
    /// Most requests and longest life of one connection or WebSocket session.
    pub bounds: ConnBounds,
    /// On shutdown, how long in-flight requests may take before the server returns anyway.
    pub shutdown_grace: Duration,
    /// The one method + path an unauthenticated connection may request (`GET /health`).
    pub unauthenticated_path: String,
}

/// Back-off after a failed `accept` (e.g. out of file descriptors) so errors do not spin;
/// pending handshakes keep being served meanwhile.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// Longest single wait of the accept loop, so a missed wake-up cannot delay shutdown.
const MAX_POLL_WAIT: Duration = Duration::from_secs(1);

/// Most connections accepted per loop turn, so a connect flood cannot starve pending handshakes.
const ACCEPT_BATCH: usize = 64;

/// What the acceptor and the shutdown handle share.
struct Shared {
    listener: TcpListener,
    pool: Arc<Pool>,
}

/// A bound, not yet running server.
pub struct Server {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
    filter: Arc<dyn PeerFilter>,
    jobs: Sender<Job>,
    grace: Duration,
    stage: StageLimits,
}

/// Stops a running server from another thread (signal handler, test).
#[derive(Clone)]
pub struct ShutdownHandle {
    shared: Arc<Shared>,
}

impl ShutdownHandle {
    /// Stops accepting; in-flight requests finish within the grace period.
    pub fn shutdown(&self) {
        self.shared.pool.stop.store(true, Ordering::SeqCst);
        // WebSocket sessions close themselves with 1001 on seeing this.
        self.shared.pool.sessions.shutdown();
        // On Linux, shutting down a listening socket wakes a blocked accept() with an error.
        // SAFETY: the descriptor belongs to `listener`, which `shared` keeps open.
        let rc = unsafe { libc::shutdown(self.shared.listener.as_raw_fd(), libc::SHUT_RD) };
        if rc != 0 {
            log::debug!(
                "shutdown of the listening socket: {}",
                std::io::Error::last_os_error()
            );
        }
    }
}

impl Server {
    /// Binds the listener.
    pub fn bind(
        opts: ServerOptions,
        tls: Arc<TlsState>,
        whitelist: Arc<Whitelist>,
        service: Arc<dyn Service>,
    ) -> std::io::Result<Server> {
        Server::bind_with(opts, tls, whitelist, service)
    }

    /// Binds the listener with any configuration source and peer filter (tests, embedding).
    pub fn bind_with(
        opts: ServerOptions,
        config: Arc<dyn ConfigSource>,
        filter: Arc<dyn PeerFilter>,
        service: Arc<dyn Service>,
    ) -> std::io::Result<Server> {
        // std offers no way to clear IPV6_V6ONLY before bind; Linux defaults to dual-stack
        // (net.ipv6.bindv6only = 0), so `::` also accepts IPv4 there.
        let listener = TcpListener::bind(opts.bind)?;
        let local_addr = listener.local_addr()?;
        let max_connections = opts.max_connections.max(1);
        let (tx, rx) = crossbeam_channel::bounded(max_connections);
        let stage = StageLimits {
            timeout: opts.limits.handshake,
            per_address: opts.max_handshakes_per_address,
            total: max_connections,
        };
        let pool = Arc::new(Pool {
            jobs: rx,
            state: Mutex::new(PoolState::default()),
            in_flight: Mutex::new(0),
            drained: Condvar::new(),
            stop: AtomicBool::new(false),
            trust: Trust::new(Arc::clone(&filter), Arc::clone(&config)),
            config,
            service,
            limits: opts.limits,
            bounds: opts.bounds,
            unauthenticated_path: opts.unauthenticated_path,
            max_threads: opts.workers.max(1),
            max_connections,
            idle_exit: WORKER_IDLE_EXIT,
            sessions: Sessions::new(),
        });
        Ok(Server {
            shared: Arc::new(Shared { listener, pool }),
            local_addr,
            filter,
            jobs: tx,
            grace: opts.shutdown_grace,
            stage,
        })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A handle that stops this server.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Serves until shut down, then waits for in-flight requests up to the grace period.
    pub fn run(self) -> std::io::Result<()> {
        log::info!("listening on {}", self.local_addr);
        let pool = &self.shared.pool;
        self.shared.listener.set_nonblocking(true)?;
        let mut stage = Handshakes::new(self.stage);
        let mut paused_until: Option<Instant> = None;
        let mut fds = Vec::new();
        while !pool.stop.load(Ordering::SeqCst) {
            let now = Instant::now();
            let listening = paused_until.is_none_or(|t| now >= t);
            if listening {
                paused_until = None;
            }
            fds.clear();
            fds.push(libc::pollfd {
                fd: self.shared.listener.as_raw_fd(),
                events: if listening { libc::POLLIN } else { 0 },
                revents: 0,
            });
            stage.poll_fds(&mut fds);
            let until = [stage.next_deadline(), paused_until]
                .into_iter()
                .flatten()
                .fold(now + MAX_POLL_WAIT, Instant::min);
            if let Err(e) = handshake::wait(&mut fds, until) {
                log::warn!("poll failed: {e}");
                thread::sleep(ACCEPT_ERROR_PAUSE);
                continue;
            }
            // Pending handshakes first: `fds[1..]` lines up with them only before new ones join.
            for done in stage.advance(&fds[1..], Instant::now()) {
                self.hand_over(done);
            }
            if listening && fds[0].revents != 0 && !self.accept_batch(&mut stage) {
                paused_until = Some(Instant::now() + ACCEPT_ERROR_PAUSE);
            }
        }
        stage.clear();
        // Closing the queue lets idle threads exit; queued connections are closed unserved.
        drop(self.jobs);
        let started = Instant::now();
        let drained = pool.wait_drained(self.grace);
        let left = self.grace.saturating_sub(started.elapsed());
        if drained && pool.sessions.wait_closed(left) {
            log::info!("stopped; all connections finished");
        } else {
            log::warn!(
                "stopped with connections still open after {:?}",
                started.elapsed()
            );
        }
        Ok(())
    }

    /// Accepts what the listener has queued, up to a batch; false when `accept` failed
    /// (e.g. out of descriptors) and accepting should pause.
    fn accept_batch(&self, stage: &mut Handshakes) -> bool {
        for _ in 0..ACCEPT_BATCH {
            match self.shared.listener.accept() {
                Ok((tcp, peer)) => self.admit(tcp, peer, stage),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) if self.shared.pool.stop.load(Ordering::SeqCst) => return true,
                // Out of descriptors: an unauthenticated peer gives its one up, so that a
                // client able to finish its handshake is never locked out by silent ones.
                Err(e) if out_of_descriptors(&e) && stage.drop_oldest_pending() => {
                    log::debug!("accept failed ({e}): dropped the oldest pending handshake");
                }
                Err(e) => {
                    log::warn!("accept failed: {e}");
                    return false;
                }
            }
        }
        true
    }

    /// Applies the whitelist to a fresh connection, then starts its handshake.
    fn admit(&self, tcp: TcpStream, peer: SocketAddr, stage: &mut Handshakes) {
        let peer = normalize(peer);
        // Read before the whitelist and the configuration: a reload in between then only
        // costs the connection one re-check, it can never be missed.
        let generation = self.shared.pool.trust.generation();
        if !self.filter.allows(peer.ip()) {
            self.filter.note_denied(peer.ip());
            reset_close(tcp);
            return;
        }
        let config = self.shared.pool.config.current();
        stage.add_checked(tcp, peer, config, Some(generation));
    }

    /// Gives a handshaken connection to a worker, within the connection limit.
    fn hand_over(&self, job: Job) {
        let pool = &self.shared.pool;
        if !pool.admit() {
            log::warn!("{}: too many connections, closing", job.peer);
            reset_close(job.tcp);
            return;
        }
        pool.dispatch(&self.jobs, job);
    }
}

/// Whether `accept` failed for want of a file descriptor (process or system limit).
fn out_of_descriptors(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

/// Maps an IPv4-mapped IPv6 peer (`::ffff:a.b.c.d`) to plain IPv4.
pub fn normalize(peer: SocketAddr) -> SocketAddr {
    SocketAddr::new(peer.ip().to_canonical(), peer.port())
}

#[cfg(test)]
mod tests {
    use super::pool::lock;
    use super::*;
    use crate::http::{ClientIdentity, Peer, ProtocolError, Request, Response};
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose,
        IsCa, KeyPair, KeyUsagePurpose, SanType,
    };
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
    use std::io::{Read, Write};
    use std::net::IpAddr;

    /// A CA, a server certificate for 127.0.0.1 and a client certificate.
    struct Pki {
        ca: CertificateDer<'static>,
        server: (CertificateDer<'static>, Vec<u8>),
        client: (CertificateDer<'static>, Vec<u8>),
    }

    fn pki() -> Pki {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "test ca");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();

        let mut server_params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        server_params
            .subject_alt_names
            .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
        server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_key = KeyPair::generate().unwrap();
        let server = server_params.signed_by(&server_key, &ca).unwrap();

        let mut client_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        client_params
            .distinguished_name
            .push(DnType::CommonName, "patch-manager-client");
        client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let client_key = KeyPair::generate().unwrap();
        let client = client_params.signed_by(&client_key, &ca).unwrap();

        Pki {
            ca: ca.der().clone(),
            server: (server.der().clone(), server_key.serialize_der()),
            client: (client.der().clone(), client_key.serialize_der()),
        }
    }

    fn provider() -> Arc<rustls::crypto::CryptoProvider> {
        Arc::new(rustls::crypto::ring::default_provider())
    }

    fn roots(pki: &Pki) -> Arc<RootCertStore> {
        let mut roots = RootCertStore::empty();
        roots.add(pki.ca.clone()).unwrap();
        Arc::new(roots)
    }

    fn server_config(pki: &Pki, allow_unauthenticated: bool) -> Arc<rustls::ServerConfig> {
        let mut verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(roots(pki), provider());
        if allow_unauthenticated {
            verifier = verifier.allow_unauthenticated();
        }
        let key = PrivateKeyDer::Pkcs8(pki.server.1.clone().into());
        let config = rustls::ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_client_cert_verifier(verifier.build().unwrap())
            .with_single_cert(vec![pki.server.0.clone()], key)
            .unwrap();
        Arc::new(config)
    }

    fn client_config(pki: &Pki, with_cert: bool) -> Arc<ClientConfig> {
        let builder = ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_root_certificates(roots(pki));
        let config = if with_cert {
            let key = PrivateKeyDer::Pkcs8(pki.client.1.clone().into());
            builder
                .with_client_auth_cert(vec![pki.client.0.clone()], key)
                .unwrap()
        } else {
            builder.with_no_client_auth()
        };
        Arc::new(config)
    }

    struct Fixed(Arc<rustls::ServerConfig>);

    impl ConfigSource for Fixed {
        fn current(&self) -> Arc<rustls::ServerConfig> {
            Arc::clone(&self.0)
        }
    }

    /// Allows or denies everyone, recording denials.
    struct Gate {
        allow: bool,
        denied: Mutex<Vec<IpAddr>>,
    }

    impl PeerFilter for Gate {
        fn allows(&self, _ip: IpAddr) -> bool {
            self.allow
        }
        fn note_denied(&self, ip: IpAddr) {
            lock(&self.denied).push(ip);
        }
    }

    /// Answers with the path and records each peer's identity.
    #[derive(Default)]
    struct Echo {
        seen: Mutex<Vec<Option<ClientIdentity>>>,
    }

    impl Service for Echo {
        fn handle(&self, req: &Request, peer: &Peer) -> Response {
            lock(&self.seen).push(peer.client.clone());
            // A bug in a handler, on demand (issue 17): the server must survive it.
            assert_ne!(req.path, "/panic", "a handler bug");
            Response::json(200, req.path.clone().into_bytes())
        }
        fn protocol_error(&self, err: &ProtocolError) -> Response {
            Response::json(err.status(), Vec::new())
        }
    }

    fn options() -> ServerOptions {
        ServerOptions {
            bind: "127.0.0.1:0".parse().unwrap(),
            workers: 4,
            max_connections: 8,
            max_handshakes_per_address: 8,
            limits: Limits {
                handshake: Duration::from_secs(5),
                head: Duration::from_secs(5),
                body: Duration::from_secs(5),
                keep_alive_idle: Duration::from_secs(30),
                write: Duration::from_secs(5),
                max_header_bytes: 8192,
                max_headers: 32,
                max_body_bytes: 1024,
            },
            bounds: ConnBounds::default(),
            shutdown_grace: Duration::from_secs(5),
            unauthenticated_path: "/health".into(),
        }
    }

    struct Running {
        addr: SocketAddr,
        handle: ShutdownHandle,
        thread: thread::JoinHandle<std::io::Result<()>>,
        pool: Arc<Pool>,
    }

    impl Running {
        fn stop(self) -> Duration {
            let started = Instant::now();
            self.handle.shutdown();
            self.thread.join().unwrap().unwrap();
            started.elapsed()
        }
    }

    fn start(
        opts: ServerOptions,
        config: Arc<rustls::ServerConfig>,
        filter: Arc<Gate>,
        service: Arc<Echo>,
    ) -> Running {
        start_with_idle_exit(opts, config, filter, service, WORKER_IDLE_EXIT)
    }

    fn start_with_idle_exit(
        opts: ServerOptions,
        config: Arc<rustls::ServerConfig>,
        filter: Arc<Gate>,
        service: Arc<Echo>,
        idle_exit: Duration,
    ) -> Running {
        let mut server = Server::bind_with(opts, Arc::new(Fixed(config)), filter, service).unwrap();
        // Nothing shares the pool yet, so it can still be adjusted.
        let shared = Arc::get_mut(&mut server.shared).unwrap();
        Arc::get_mut(&mut shared.pool).unwrap().idle_exit = idle_exit;
        let addr = server.local_addr();
        let handle = server.shutdown_handle();
        let pool = Arc::clone(&server.shared.pool);
        let thread = thread::spawn(move || server.run());
        Running {
            addr,
            handle,
            thread,
            pool,
        }
    }

    fn open_gate() -> Arc<Gate> {
        Arc::new(Gate {
            allow: true,
            denied: Mutex::new(Vec::new()),
        })
    }

    type Client = StreamOwned<ClientConnection, TcpStream>;

    fn connect(addr: SocketAddr, config: Arc<ClientConfig>) -> Client {
        let tcp = TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let name = ServerName::try_from("127.0.0.1").unwrap();
        StreamOwned::new(ClientConnection::new(config, name).unwrap(), tcp)
    }

    /// Sends a request and reads whatever comes back until close (or error).
    fn exchange(client: &mut Client, request: &str) -> Vec<u8> {
        let mut out = Vec::new();
        if client.write_all(request.as_bytes()).is_err() {
            return out;
        }
        let mut buf = [0u8; 4096];
        loop {
            match client.read(&mut buf) {
                Ok(0) | Err(_) => return out,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    }

    /// Reads one response of a kept-alive connection (head plus Content-Length body).
    fn read_response(client: &mut Client) -> String {
        let mut out = Vec::new();
        let mut byte = [0u8; 1];
        while !out.ends_with(b"\r\n\r\n") {
            assert_eq!(client.read(&mut byte).unwrap(), 1, "closed mid-response");
            out.push(byte[0]);
        }
        let head = String::from_utf8(out).unwrap();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .unwrap()
            .parse()
            .unwrap();
        let mut body = vec![0u8; len];
        client.read_exact(&mut body).unwrap();
        head + &String::from_utf8(body).unwrap()
    }

    #[test]
    fn serves_a_client_certificate_holder_and_reports_its_identity() {
        let pki = pki();
        let service = Arc::new(Echo::default());
        let server = start(
            options(),
            server_config(&pki, false),
            open_gate(),
            Arc::clone(&service),
        );
        assert_ne!(server.addr.port(), 0);
        let mut client = connect(server.addr, client_config(&pki, true));
        let out = exchange(
            &mut client,
            "GET /api/v1/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        );
        let out = String::from_utf8(out).unwrap();
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
        assert!(out.ends_with("/api/v1/x"), "{out}");
        let seen = lock(&service.seen).clone();
        let expected = crate::x509::sha256_fingerprint(&pki.client.0);
        assert_eq!(seen.len(), 1);
        assert_eq!(
            seen[0].as_ref().map(|c| c.fingerprint_sha256.clone()),
            Some(expected)
        );
        server.stop();
    }

    #[test]
    fn client_without_certificate_is_dropped_silently() {
        let pki = pki();
        let service = Arc::new(Echo::default());
        let server = start(
            options(),
            server_config(&pki, false),
            open_gate(),
            Arc::clone(&service),
        );
        let mut client = connect(server.addr, client_config(&pki, false));
        let out = exchange(&mut client, "GET /health HTTP/1.1\r\n\r\n");
        assert!(out.is_empty(), "{:?}", String::from_utf8_lossy(&out));
        assert!(lock(&service.seen).is_empty());
        server.stop();
    }

    #[test]
    fn unauthenticated_client_reaches_health_only() {
        let pki = pki();
        let service = Arc::new(Echo::default());
        let server = start(
            options(),
            server_config(&pki, true),
            open_gate(),
            Arc::clone(&service),
        );
        let mut client = connect(server.addr, client_config(&pki, false));
        let out = exchange(
            &mut client,
            "GET /health HTTP/1.1\r\nConnection: close\r\n\r\n",
        );
        let out = String::from_utf8(out).unwrap();
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
        let mut client = connect(server.addr, client_config(&pki, false));
        let out = exchange(&mut client, "GET /api/v1/jobs HTTP/1.1\r\n\r\n");
        assert!(out.is_empty(), "{:?}", String::from_utf8_lossy(&out));
        assert_eq!(*lock(&service.seen), vec![None]);
        server.stop();
    }

    #[test]
    fn denied_peer_is_closed_before_any_tls_byte() {
        let pki = pki();
        let gate = Arc::new(Gate {
            allow: false,
            denied: Mutex::new(Vec::new()),
        });
        let server = start(
            options(),
            server_config(&pki, false),
            Arc::clone(&gate),
            Arc::new(Echo::default()),
        );
        let mut tcp = TcpStream::connect(server.addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 16];
        // EOF or reset, but never a byte (a ServerHello would need our ClientHello anyway,
        // so also send one to be sure nothing answers).
        let _ = tcp.write_all(&[0x16, 0x03, 0x01, 0x00, 0x01, 0x01]);
        match tcp.read(&mut buf) {
            Ok(n) => assert_eq!(n, 0),
            Err(e) => assert!(!crate::http::request::is_timeout(&e), "{e:?}"),
        }
        assert_eq!(
            *lock(&gate.denied),
            vec!["127.0.0.1".parse::<IpAddr>().unwrap()]
        );
        server.stop();
    }

    #[test]
    fn keeps_alive_then_shutdown_closes_idle_connections_promptly() {
        let pki = pki();
        let server = start(
            options(),
            server_config(&pki, false),
            open_gate(),
            Arc::new(Echo::default()),
        );
        let mut client = connect(server.addr, client_config(&pki, true));
        for path in ["/one", "/two"] {
            client
                .write_all(format!("GET {path} HTTP/1.1\r\n\r\n").as_bytes())
                .unwrap();
            let resp = read_response(&mut client);
            assert!(resp.contains("Connection: keep-alive"), "{resp}");
            assert!(resp.ends_with(path), "{resp}");
        }
        assert_eq!(lock(&server.pool.state).threads, 1);
        // The connection sits idle (30 s keep-alive); stopping must not wait for it.
        let took = server.stop();
        assert!(took < Duration::from_secs(3), "took {took:?}");
        let mut buf = [0u8; 1];
        assert!(matches!(client.read(&mut buf), Ok(0) | Err(_)));
    }

    #[test]
    fn idle_server_has_no_threads_and_grows_lazily() {
        let pki = pki();
        let server = start(
            options(),
            server_config(&pki, false),
            open_gate(),
            Arc::new(Echo::default()),
        );
        assert_eq!(lock(&server.pool.state).threads, 0);
        let mut clients: Vec<Client> = (0..3)
            .map(|_| connect(server.addr, client_config(&pki, true)))
            .collect();
        for c in &mut clients {
            c.write_all(b"GET /x HTTP/1.1\r\n\r\n").unwrap();
            read_response(c);
        }
        // Three kept-alive connections are served at once by three threads.
        assert_eq!(lock(&server.pool.state).threads, 3);
        assert_eq!(*lock(&server.pool.in_flight), 3);
        drop(clients);
        server.stop();
    }

    #[test]
    fn connections_beyond_the_limit_are_closed_at_once() {
        let pki = pki();
        let mut opts = options();
        opts.max_connections = 1;
        let server = start(
            opts,
            server_config(&pki, false),
            open_gate(),
            Arc::new(Echo::default()),
        );
        let mut first = connect(server.addr, client_config(&pki, true));
        first.write_all(b"GET /x HTTP/1.1\r\n\r\n").unwrap();
        read_response(&mut first);
        let started = Instant::now();
        let mut second = connect(server.addr, client_config(&pki, true));
        let out = exchange(&mut second, "GET /x HTTP/1.1\r\n\r\n");
        assert!(out.is_empty());
        assert!(started.elapsed() < Duration::from_secs(3));
        drop(first);
        server.stop();
    }

    #[test]
    fn idle_workers_exit_and_busy_ones_stay() {
        let pki = pki();
        let server = start_with_idle_exit(
            options(),
            server_config(&pki, false),
            open_gate(),
            Arc::new(Echo::default()),
            Duration::from_millis(200),
        );
        let mut kept = connect(server.addr, client_config(&pki, true));
        kept.write_all(b"GET /x HTTP/1.1\r\n\r\n").unwrap();
        read_response(&mut kept);
        let mut once = connect(server.addr, client_config(&pki, true));
        let out = exchange(&mut once, "GET /x HTTP/1.1\r\nConnection: close\r\n\r\n");
        assert!(!out.is_empty());
        assert_eq!(lock(&server.pool.state).threads, 2);
        let deadline = Instant::now() + Duration::from_secs(3);
        while lock(&server.pool.state).threads > 1 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
        // The idle thread left; the one holding the kept-alive connection did not.
        assert_eq!(lock(&server.pool.state).threads, 1);
        kept.write_all(b"GET /y HTTP/1.1\r\n\r\n").unwrap();
        assert!(read_response(&mut kept).ends_with("/y"));
        // A new connection after the exit is served by a fresh thread.
        let mut again = connect(server.addr, client_config(&pki, true));
        let out = exchange(&mut again, "GET /z HTTP/1.1\r\nConnection: close\r\n\r\n");
        assert!(String::from_utf8(out).unwrap().ends_with("/z"));
        drop(kept);
        server.stop();
    }

    /// Runs the client side of a TLS 1.3 handshake until the client is done (its Finished
    /// sent), then returns every raw byte the server sends afterwards.
    fn raw_bytes_after_client_finished(addr: SocketAddr, config: Arc<ClientConfig>) -> Vec<u8> {
        let mut tcp = TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let name = ServerName::try_from("127.0.0.1").unwrap();
        let mut conn = ClientConnection::new(config, name).unwrap();
        while conn.is_handshaking() {
            conn.complete_io(&mut tcp).unwrap();
        }
        read_raw(&mut tcp)
    }

    fn read_raw(tcp: &mut TcpStream) -> Vec<u8> {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match tcp.read(&mut buf) {
                Ok(0) | Err(_) => return out,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    }

    #[test]
    fn refused_client_certificate_gets_no_alert() {
        let pki = pki();
        let server = start(
            options(),
            server_config(&pki, false),
            open_gate(),
            Arc::new(Echo::default()),
        );
        let raw = raw_bytes_after_client_finished(server.addr, client_config(&pki, false));
        assert!(raw.is_empty(), "server sent {} bytes", raw.len());
        // Control: an accepted client does receive bytes (session tickets) at this point,
        // so the check above can see an alert if one were sent.
        let raw = raw_bytes_after_client_finished(server.addr, client_config(&pki, true));
        assert!(!raw.is_empty());
        server.stop();
    }

    #[test]
    fn tls12_client_gets_no_alert() {
        let pki = pki();
        let server = start(
            options(),
            server_config(&pki, false),
            open_gate(),
            Arc::new(Echo::default()),
        );
        let config = ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS12])
            .unwrap()
            .with_root_certificates(roots(&pki))
            .with_no_client_auth();
        let mut tcp = TcpStream::connect(server.addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let name = ServerName::try_from("127.0.0.1").unwrap();
        let mut conn = ClientConnection::new(Arc::new(config), name).unwrap();
        while conn.wants_write() {
            conn.write_tls(&mut tcp).unwrap();
        }
        assert!(read_raw(&mut tcp).is_empty());
        server.stop();
    }

    #[test]
    fn silent_handshake_times_out_without_a_byte() {
        let pki = pki();
        let mut opts = options();
        opts.limits.handshake = Duration::from_millis(300);
        let server = start(
            opts,
            server_config(&pki, false),
            open_gate(),
            Arc::new(Echo::default()),
        );
        let mut tcp = TcpStream::connect(server.addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let started = Instant::now();
        assert!(read_raw(&mut tcp).is_empty());
        let took = started.elapsed();
        assert!(took < Duration::from_secs(3), "took {took:?}");
        server.stop();
    }

    #[test]
    fn ipv4_mapped_peers_are_normalised() {
        let mapped: SocketAddr = "[::ffff:10.1.2.3]:443".parse().unwrap();
        assert_eq!(normalize(mapped), "10.1.2.3:443".parse().unwrap());
        let v6: SocketAddr = "[2001:db8::1]:443".parse().unwrap();
        assert_eq!(normalize(v6), v6);
    }

    #[test]
    fn a_panicking_handler_answers_500_and_the_server_keeps_serving() {
        let pki = pki();
        let service = Arc::new(Echo::default());
        let server = start(options(), server_config(&pki, false), open_gate(), service);
        let mut client = connect(server.addr, client_config(&pki, true));
        client
            .write_all(b"GET /panic HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap();
        let out = read_response(&mut client);
        assert!(out.starts_with("HTTP/1.1 500 "), "{out}");
        // The same connection goes on, and so does a new one.
        client
            .write_all(b"GET /after HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap();
        let out = read_response(&mut client);
        assert!(
            out.starts_with("HTTP/1.1 200 OK\r\n") && out.ends_with("/after"),
            "{out}"
        );
        let mut other = connect(server.addr, client_config(&pki, true));
        let out = exchange(
            &mut other,
            "GET /new HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        );
        let out = String::from_utf8(out).unwrap();
        assert!(
            out.starts_with("HTTP/1.1 200 OK\r\n") && out.ends_with("/new"),
            "{out}"
        );
        server.stop();
    }
}
