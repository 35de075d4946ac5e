//! The handshake stage: the acceptor thread drives every pending TLS handshake itself, with
//! poll(2) over non-blocking sockets, so a peer that has not finished its handshake never
//! holds a connection worker.
//!
//! A peer that connects and stays silent (or stops half-way through its ClientHello, or after
//! the server's flight) costs one entry here until its handshake deadline, not a thread.
//! Entries are bounded per source address and in total; a new connection beyond either bound
//! drops the oldest pending one (of that address, or overall), so a flood of silent sockets
//! cannot lock out a client that completes its handshake in milliseconds.

use std::collections::{HashMap, VecDeque};
use std::io::{self, ErrorKind};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::ServerConnection;

use super::conn::HandshakeError;

/// A connection whose handshake completed: ready for a worker.
pub struct Established {
    /// The socket, still non-blocking (the worker makes it blocking again).
    pub tcp: TcpStream,
    /// The peer, IPv4-mapped addresses already normalised.
    pub peer: SocketAddr,
    /// The TLS session; may hold queued writes (session tickets) and early plaintext.
    pub conn: ServerConnection,
    /// The whitelist/TLS reload generation read before the peer was admitted (see
    /// `trust.rs`); `None` when unknown.
    pub checked_at: Option<u64>,
}

/// Bounds of the handshake stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StageLimits {
    /// The whole handshake, from accept.
    pub timeout: Duration,
    /// Most pending handshakes from one source address.
    pub per_address: usize,
    /// Most pending handshakes in total.
    pub total: usize,
}

/// One connection in its handshake.
struct Pending {
    tcp: TcpStream,
    peer: SocketAddr,
    conn: ServerConnection,
    deadline: Instant,
    checked_at: Option<u64>,
}

/// Where a handshake stands after its socket was serviced.
enum Progress {
    /// Finished: hand it to a worker.
    Done,
    /// Needs more bytes from the peer (or room to write).
    Waiting,
    /// Refused or broken: drop without writing anything.
    Failed(HandshakeError),
}

/// Every pending handshake, oldest first.
pub struct Handshakes {
    pending: VecDeque<Pending>,
    per_address: HashMap<IpAddr, usize>,
    limits: StageLimits,
}

impl Handshakes {
    /// An empty stage.
    pub fn new(limits: StageLimits) -> Handshakes {
        Handshakes {
            pending: VecDeque::new(),
            per_address: HashMap::new(),
            limits: StageLimits {
                per_address: limits.per_address.max(1),
                total: limits.total.max(1),
                ..limits
            },
        }
    }

    /// Number of pending handshakes.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether no handshake is pending.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Pending handshakes from `ip`.
    pub fn from_address(&self, ip: IpAddr) -> usize {
        self.per_address.get(&ip).copied().unwrap_or(0)
    }

    /// Starts the handshake of a freshly accepted (and whitelisted) connection, first making
    /// room by dropping the oldest pending one of its address, or overall, when full.
    pub fn add(&mut self, tcp: TcpStream, peer: SocketAddr, config: Arc<rustls::ServerConfig>) {
        self.add_checked(tcp, peer, config, None);
    }

    /// Like [`Handshakes::add`], remembering the reload generation `checked_at` that the
    /// whitelist check and `config` were taken at, so the connection need not re-check
    /// before its first request.
    pub fn add_checked(
        &mut self,
        tcp: TcpStream,
        peer: SocketAddr,
        config: Arc<rustls::ServerConfig>,
        checked_at: Option<u64>,
    ) {
        if let Err(e) = tcp.set_nonblocking(true) {
            log::debug!("{peer}: cannot make the socket non-blocking: {e}");
            return;
        }
        let _ = tcp.set_nodelay(true);
        let conn = match ServerConnection::new(config) {
            Ok(conn) => conn,
            Err(e) => {
                log::warn!("{peer}: cannot start TLS session: {e}");
                return;
            }
        };
        if self.from_address(peer.ip()) >= self.limits.per_address {
            self.drop_oldest(|p| p.peer.ip() == peer.ip(), "of its address");
        }
        if self.pending.len() >= self.limits.total {
            self.drop_oldest(|_| true, "overall");
        }
        *self.per_address.entry(peer.ip()).or_insert(0) += 1;
        self.pending.push_back(Pending {
            tcp,
            peer,
            conn,
            deadline: Instant::now() + self.limits.timeout,
            checked_at,
        });
    }

    /// Drops the oldest pending handshake (to free its descriptor); false when none is pending.
    pub fn drop_oldest_pending(&mut self) -> bool {
        let before = self.pending.len();
        self.drop_oldest(|_| true, "to free a descriptor");
        self.pending.len() < before
    }

    /// Drops (with a reset) the oldest pending handshake matching `which`.
    fn drop_oldest(&mut self, which: impl Fn(&Pending) -> bool, scope: &str) {
        if let Some(i) = self.pending.iter().position(which) {
            if let Some(p) = self.pending.remove(i) {
                log::debug!(
                    "{}: too many pending TLS handshakes, dropping the oldest {scope}",
                    p.peer
                );
                self.forget(&p);
                super::stream::reset_close(p.tcp);
            }
        }
    }

    /// Removes `p` from the per-address counts.
    fn forget(&mut self, p: &Pending) {
        let ip = p.peer.ip();
        if let Some(n) = self.per_address.get_mut(&ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_address.remove(&ip);
            }
        }
    }

    /// Appends one `pollfd` per pending handshake, in order, for [`Handshakes::advance`].
    pub fn poll_fds(&self, fds: &mut Vec<libc::pollfd>) {
        for p in &self.pending {
            let mut events = libc::POLLIN;
            if p.conn.wants_write() {
                events |= libc::POLLOUT;
            }
            fds.push(libc::pollfd {
                fd: p.tcp.as_raw_fd(),
                events,
                revents: 0,
            });
        }
    }

    /// Services every pending handshake whose socket `poll` reported ready (`fds` as built by
    /// [`Handshakes::poll_fds`]), then drops those past their deadline; returns the finished.
    pub fn advance(&mut self, fds: &[libc::pollfd], now: Instant) -> Vec<Established> {
        let mut done = Vec::new();
        let before = std::mem::take(&mut self.pending);
        for (i, mut p) in before.into_iter().enumerate() {
            let ready = fds.get(i).is_some_and(|f| f.revents != 0);
            let progress = if ready {
                drive(&mut p)
            } else {
                Progress::Waiting
            };
            match progress {
                Progress::Waiting if now < p.deadline => self.pending.push_back(p),
                Progress::Waiting => self.finish_failed(p, &HandshakeError::Timeout),
                Progress::Failed(e) => self.finish_failed(p, &e),
                Progress::Done => {
                    self.forget(&p);
                    done.push(Established {
                        tcp: p.tcp,
                        peer: p.peer,
                        conn: p.conn,
                        checked_at: p.checked_at,
                    });
                }
            }
        }
        done
    }

    /// Drops a failed handshake: nothing more is written (no alert), the socket just closes.
    fn finish_failed(&mut self, p: Pending, e: &HandshakeError) {
        log::debug!("{}: TLS handshake failed: {e}", p.peer);
        self.forget(&p);
    }

    /// The earliest handshake deadline, if any is pending.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.pending.iter().map(|p| p.deadline).min()
    }

    /// Drops every pending handshake (the server is stopping).
    pub fn clear(&mut self) {
        self.pending.clear();
        self.per_address.clear();
    }
}

/// Moves one handshake on as far as its socket allows without blocking.
///
/// Unlike `complete_io`, this never writes after an error: a refused client gets no alert.
fn drive(p: &mut Pending) -> Progress {
    loop {
        if let Err(e) = flush(&mut p.conn, &mut p.tcp) {
            return Progress::Failed(HandshakeError::Io(e));
        }
        // In TLS 1.3 the server only leaves this state after the client's Finished flight,
        // i.e. after the client certificate was verified. Writes still queued (session
        // tickets) are sent by the worker before anything else.
        if !p.conn.is_handshaking() {
            return Progress::Done;
        }
        match p.conn.read_tls(&mut p.tcp) {
            Ok(0) => return Progress::Failed(HandshakeError::Eof),
            Ok(_) => {
                if let Err(e) = p.conn.process_new_packets() {
                    return Progress::Failed(HandshakeError::Tls(e));
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Progress::Waiting,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Progress::Failed(HandshakeError::Io(e)),
        }
    }
}

/// Writes queued TLS records until done or the socket is full.
fn flush(conn: &mut ServerConnection, tcp: &mut TcpStream) -> io::Result<()> {
    while conn.wants_write() {
        match conn.write_tls(tcp) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Waits with poll(2) until a descriptor in `fds` is ready or `until` passes; returns the
/// number ready (0 on timeout or interruption).
pub fn wait(fds: &mut [libc::pollfd], until: Instant) -> io::Result<usize> {
    let left = until.saturating_duration_since(Instant::now());
    // Rounded up: waking a little early would only spin until the deadline.
    let ms = left.as_micros().div_ceil(1000).min(i32::MAX as u128) as libc::c_int;
    // SAFETY: `fds` is a valid, exclusively borrowed slice of pollfd for the whole call.
    let rc = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
    if rc < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == ErrorKind::Interrupted {
            return Ok(0);
        }
        return Err(e);
    }
    Ok(rc as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A throw-away server configuration (the tests here never complete a handshake).
    fn config() -> Arc<rustls::ServerConfig> {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .unwrap();
        Arc::new(config)
    }

    /// `n` connected pairs (client end, accepted server end with its peer address).
    fn pairs(n: usize) -> Vec<(TcpStream, TcpStream, SocketAddr)> {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        (0..n)
            .map(|_| {
                let client = TcpStream::connect(addr).unwrap();
                let (server, peer) = listener.accept().unwrap();
                (client, server, peer)
            })
            .collect()
    }

    fn limits(per_address: usize, total: usize) -> StageLimits {
        StageLimits {
            timeout: Duration::from_secs(10),
            per_address,
            total,
        }
    }

    /// Whether the server end of `client` was closed (EOF or reset) rather than still open.
    fn closed(client: &TcpStream) -> bool {
        client.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 1];
        !matches!(
            std::io::Read::read(&mut &*client, &mut buf),
            Err(e) if e.kind() == ErrorKind::WouldBlock
        )
    }

    #[test]
    fn per_address_cap_drops_the_oldest_of_that_address() {
        let mut stage = Handshakes::new(limits(2, 100));
        let socks = pairs(3);
        let config = config();
        let mut clients = Vec::new();
        for (client, server, peer) in socks {
            stage.add(server, peer, Arc::clone(&config));
            clients.push(client);
        }
        assert_eq!(stage.len(), 2);
        assert_eq!(stage.from_address("127.0.0.1".parse().unwrap()), 2);
        assert!(closed(&clients[0]));
        assert!(!closed(&clients[1]) && !closed(&clients[2]));
    }

    #[test]
    fn total_cap_drops_the_oldest_overall() {
        let mut stage = Handshakes::new(limits(10, 2));
        let config = config();
        let mut clients = Vec::new();
        for (client, server, peer) in pairs(3) {
            stage.add(server, peer, Arc::clone(&config));
            clients.push(client);
        }
        assert_eq!(stage.len(), 2);
        assert!(closed(&clients[0]) && !closed(&clients[1]));
    }

    #[test]
    fn garbage_and_eof_fail_and_the_deadline_expires_silent_peers() {
        use std::io::Write;
        let mut stage = Handshakes::new(limits(10, 10));
        let config = config();
        let mut clients = Vec::new();
        for (client, server, peer) in pairs(3) {
            stage.add(server, peer, Arc::clone(&config));
            clients.push(client);
        }
        (&clients[0]).write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
        clients[1].shutdown(std::net::Shutdown::Write).unwrap();
        let mut fds = Vec::new();
        stage.poll_fds(&mut fds);
        assert_eq!(fds.len(), 3);
        wait(&mut fds, Instant::now() + Duration::from_secs(5)).unwrap();
        // Both ready ones may not be reported by one poll on a loaded machine: retry briefly.
        let mut left = 3;
        for _ in 0..50 {
            let done = stage.advance(&fds, Instant::now());
            assert!(done.is_empty());
            left = stage.len();
            if left == 1 {
                break;
            }
            fds.clear();
            stage.poll_fds(&mut fds);
            wait(&mut fds, Instant::now() + Duration::from_millis(100)).unwrap();
        }
        assert_eq!(left, 1, "garbage and EOF end their handshakes");
        // The silent one goes at its deadline.
        let later = Instant::now() + Duration::from_secs(11);
        fds.clear();
        stage.poll_fds(&mut fds);
        assert!(stage.advance(&fds, later).is_empty());
        assert!(stage.is_empty());
        assert_eq!(stage.from_address("127.0.0.1".parse().unwrap()), 0);
    }
}
