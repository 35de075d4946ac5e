//! One connection's life: TLS handshake with a deadline, then the HTTP/1.1 keep-alive loop.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::{ServerConnection, StreamOwned};

use super::request::{is_timeout, Deadlines, ReadError, ReadOutcome, RequestReader};
use super::response::write_response;
use super::server::Limits;
use super::{ClientIdentity, Peer, Request, Service};

/// After a final response, how long the peer may keep sending before the socket is closed.
///
/// Closing a socket with unread input makes the kernel send a reset, which can destroy the
/// response in flight (e.g. a 413 while the client is still uploading); draining briefly lets
/// the client read it first.
const LINGER: Duration = Duration::from_secs(1);

/// Most bytes discarded while lingering.
const LINGER_BYTES: usize = 256 * 1024;

/// Longest wait for sending TLS close_notify.
const CLOSE_NOTIFY_TIMEOUT: Duration = Duration::from_secs(2);

/// A TCP stream whose every read and write system call is bounded by the current deadline.
///
/// The socket timeout is set to the time remaining before the deadline ahead of each call,
/// so a peer that trickles bytes cannot push the deadline out.
#[derive(Debug)]
pub struct DeadlineStream {
    tcp: TcpStream,
    read_deadline: Instant,
    write_deadline: Instant,
}

impl DeadlineStream {
    /// Wraps a socket; both deadlines start at `deadline`.
    pub fn new(tcp: TcpStream, deadline: Instant) -> DeadlineStream {
        DeadlineStream {
            tcp,
            read_deadline: deadline,
            write_deadline: deadline,
        }
    }

    /// The underlying socket.
    pub fn tcp(&self) -> &TcpStream {
        &self.tcp
    }
}

/// Time left before `deadline`, or a `TimedOut` error once it has passed.
fn remaining(deadline: Instant) -> io::Result<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    // A zero socket timeout would mean "block forever" (std refuses it anyway).
    if left < Duration::from_millis(1) {
        return Err(io::Error::new(io::ErrorKind::TimedOut, "deadline passed"));
    }
    Ok(left)
}

impl Read for DeadlineStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.tcp
            .set_read_timeout(Some(remaining(self.read_deadline)?))?;
        self.tcp.read(buf)
    }
}

impl Write for DeadlineStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tcp
            .set_write_timeout(Some(remaining(self.write_deadline)?))?;
        self.tcp.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}

impl Deadlines for DeadlineStream {
    fn set_read_deadline(&mut self, deadline: Instant) {
        self.read_deadline = deadline;
    }
    fn set_write_deadline(&mut self, deadline: Instant) {
        self.write_deadline = deadline;
    }
}

/// The TLS stream the keep-alive loop reads requests from and writes responses to.
pub type TlsStream = StreamOwned<ServerConnection, DeadlineStream>;

impl Deadlines for TlsStream {
    fn set_read_deadline(&mut self, deadline: Instant) {
        self.sock.set_read_deadline(deadline);
    }
    fn set_write_deadline(&mut self, deadline: Instant) {
        self.sock.set_write_deadline(deadline);
    }
}

/// Why a TLS handshake did not complete.
#[derive(Debug)]
pub enum HandshakeError {
    /// rustls refused the configuration or the peer's messages (certificate, version, ...).
    Tls(rustls::Error),
    /// The socket failed.
    Io(io::Error),
    /// The peer closed the connection mid-handshake.
    Eof,
    /// The handshake did not finish within its deadline.
    Timeout,
}

impl std::fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HandshakeError::Tls(e) => write!(f, "TLS error: {e}"),
            HandshakeError::Io(e) => write!(f, "I/O error: {e}"),
            HandshakeError::Eof => f.write_str("peer closed the connection"),
            HandshakeError::Timeout => f.write_str("handshake deadline passed"),
        }
    }
}

impl std::error::Error for HandshakeError {}

fn io_failure(e: io::Error) -> HandshakeError {
    if is_timeout(&e) {
        HandshakeError::Timeout
    } else {
        HandshakeError::Io(e)
    }
}

/// Runs the server side of the handshake to completion, client certificate included.
///
/// Unlike `complete_io`, this never writes after an error: a refused client gets no alert,
/// just a closed socket.
pub fn handshake(
    conn: &mut ServerConnection,
    sock: &mut DeadlineStream,
    timeout: Duration,
) -> Result<(), HandshakeError> {
    let deadline = Instant::now() + timeout;
    sock.set_read_deadline(deadline);
    sock.set_write_deadline(deadline);
    loop {
        while conn.wants_write() {
            conn.write_tls(sock).map_err(io_failure)?;
        }
        // In TLS 1.3 the server only leaves this state after the client's Finished flight,
        // i.e. after the client certificate was verified.
        if !conn.is_handshaking() {
            return Ok(());
        }
        match conn.read_tls(sock) {
            Ok(0) => return Err(HandshakeError::Eof),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_failure(e)),
        }
        conn.process_new_packets().map_err(HandshakeError::Tls)?;
    }
}

/// The verified client certificate's identity, if the client sent one.
pub fn client_identity(conn: &ServerConnection) -> Option<ClientIdentity> {
    let der = conn.peer_certificates()?.first()?;
    let subject = crate::x509::summarize_cert(der)
        .map(|s| s.subject)
        .unwrap_or_default();
    Some(ClientIdentity {
        subject,
        fingerprint_sha256: crate::x509::sha256_fingerprint(der),
    })
}

/// How a connection ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ending {
    /// Nothing more to say: send close_notify and close.
    Quiet,
    /// A final response was written: close_notify, then drain briefly before closing.
    AfterResponse,
    /// The transport failed: just drop the socket.
    Abort,
}

/// What the keep-alive loop needs besides the stream.
struct Context<'a> {
    peer: &'a Peer,
    limits: &'a Limits,
    unauthenticated_path: &'a str,
    service: &'a dyn Service,
    stop: &'a AtomicBool,
}

/// Serves one accepted connection to its end: handshake, then requests until close.
///
/// Never panics on I/O errors; failures are logged at debug level. A failed handshake closes
/// the socket without writing anything further.
pub fn serve_connection(
    tcp: TcpStream,
    peer: SocketAddr,
    tls: Arc<rustls::ServerConfig>,
    limits: &Limits,
    unauthenticated_path: &str,
    service: &dyn Service,
    stop: &AtomicBool,
) {
    let _ = tcp.set_nodelay(true);
    let mut sock = DeadlineStream::new(tcp, Instant::now() + limits.handshake);
    let mut conn = match ServerConnection::new(tls) {
        Ok(conn) => conn,
        Err(e) => {
            log::warn!("{peer}: cannot start TLS session: {e}");
            return;
        }
    };
    if let Err(e) = handshake(&mut conn, &mut sock, limits.handshake) {
        // Dropping `conn` discards any queued alert: silent drop.
        log::debug!("{peer}: TLS handshake failed: {e}");
        return;
    }
    let client = client_identity(&conn);
    let peer_info = Peer { addr: peer, client };
    let mut stream = StreamOwned::new(conn, sock);
    let ctx = Context {
        peer: &peer_info,
        limits,
        unauthenticated_path,
        service,
        stop,
    };
    let ending = keep_alive_loop(&mut stream, &ctx);
    finish(stream, ending, peer);
}

/// Reads and answers requests until one side wants to close.
fn keep_alive_loop<S: Read + Write + Deadlines>(stream: &mut S, ctx: &Context<'_>) -> Ending {
    let peer = ctx.peer.addr;
    let mut reader = RequestReader::new();
    // The first request must start within the head deadline of the handshake's end; later
    // ones may take the keep-alive idle time.
    let mut idle = ctx.limits.head;
    loop {
        let outcome = reader.read_request(stream, ctx.limits, idle, ctx.stop);
        idle = ctx.limits.keep_alive_idle;
        match outcome {
            Ok(ReadOutcome::Idle(why)) => {
                log::debug!("{peer}: closing idle connection ({why:?})");
                return Ending::Quiet;
            }
            Err(ReadError::Io(e)) => {
                log::debug!("{peer}: read failed: {e}");
                return Ending::Abort;
            }
            Err(ReadError::Protocol(e)) => return answer_protocol_error(stream, ctx, &e),
            Ok(ReadOutcome::Request {
                request,
                keep_alive,
            }) => {
                if let Some(ending) = answer(stream, ctx, &request, keep_alive) {
                    return ending;
                }
            }
        }
    }
}

/// Answers a broken request with the service's rendering, then ends the connection.
fn answer_protocol_error<S: Write + Deadlines>(
    stream: &mut S,
    ctx: &Context<'_>,
    err: &super::ProtocolError,
) -> Ending {
    let peer = ctx.peer.addr;
    log::debug!("{peer}: {err}");
    if ctx.peer.client.is_none() {
        // Unauthenticated peers get nothing but the health answer.
        return Ending::Quiet;
    }
    let resp = ctx.service.protocol_error(err);
    match write_response(stream, &resp, false, false, ctx.limits.write) {
        Ok(()) => Ending::AfterResponse,
        Err(e) => {
            log::debug!("{peer}: writing error response failed: {e}");
            Ending::Abort
        }
    }
}

/// Serves one request; `Some` when the connection must end afterwards.
fn answer<S: Write + Deadlines>(
    stream: &mut S,
    ctx: &Context<'_>,
    request: &Request,
    keep_alive: bool,
) -> Option<Ending> {
    let peer = ctx.peer.addr;
    if !permitted(ctx, request) {
        log::debug!(
            "{peer}: unauthenticated {} {} refused",
            request.method,
            request.path
        );
        return Some(Ending::Quiet);
    }
    let resp = ctx.service.handle(request, ctx.peer);
    let keep = keep_alive && !resp.close && !ctx.stop.load(Ordering::SeqCst);
    let head_only = request.method == "HEAD";
    if let Err(e) = write_response(stream, &resp, keep, head_only, ctx.limits.write) {
        log::debug!("{peer}: writing response failed: {e}");
        return Some(Ending::Abort);
    }
    (!keep).then_some(Ending::AfterResponse)
}

/// Whether this connection may have `request` served.
fn permitted(ctx: &Context<'_>, request: &Request) -> bool {
    ctx.peer.client.is_some()
        || (request.method == "GET" && request.path == ctx.unauthenticated_path)
}

/// Closes the connection the way `ending` says.
fn finish(mut stream: TlsStream, ending: Ending, peer: SocketAddr) {
    if ending == Ending::Abort {
        return;
    }
    stream.conn.send_close_notify();
    let deadline = Instant::now() + CLOSE_NOTIFY_TIMEOUT;
    stream.sock.set_write_deadline(deadline);
    while stream.conn.wants_write() {
        if let Err(e) = stream.conn.write_tls(&mut stream.sock) {
            log::debug!("{peer}: sending close_notify failed: {e}");
            return;
        }
    }
    if ending == Ending::AfterResponse {
        linger(&mut stream.sock);
    }
}

/// Half-closes and discards what the peer still sends, briefly, so it can read our answer.
fn linger(sock: &mut DeadlineStream) {
    if sock.tcp().shutdown(Shutdown::Write).is_err() {
        return;
    }
    sock.set_read_deadline(Instant::now() + LINGER);
    let mut scratch = [0u8; 8192];
    let mut drained = 0;
    while drained < LINGER_BYTES {
        match sock.read(&mut scratch) {
            Ok(0) | Err(_) => return,
            Ok(n) => drained += n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{ProtocolError, Response};
    use std::net::TcpListener;
    use std::sync::Mutex;

    fn limits() -> Limits {
        Limits {
            handshake: Duration::from_secs(5),
            head: Duration::from_secs(5),
            body: Duration::from_secs(5),
            keep_alive_idle: Duration::from_secs(5),
            write: Duration::from_secs(5),
            max_header_bytes: 1024,
            max_headers: 16,
            max_body_bytes: 64,
        }
    }

    /// Echoes the path and remembers who asked.
    struct Echo {
        seen: Mutex<Vec<Option<ClientIdentity>>>,
    }

    impl Service for Echo {
        fn handle(&self, req: &Request, peer: &Peer) -> Response {
            if let Ok(mut seen) = self.seen.lock() {
                seen.push(peer.client.clone());
            }
            let mut resp = Response::json(200, req.path.clone().into_bytes());
            resp.close = req.path == "/bye";
            resp
        }
        fn protocol_error(&self, err: &ProtocolError) -> Response {
            Response::json(err.status(), b"err".to_vec())
        }
    }

    fn echo() -> Echo {
        Echo {
            seen: Mutex::new(Vec::new()),
        }
    }

    /// An in-memory duplex: reads from a fixed input, collects output.
    struct Duplex {
        input: io::Cursor<Vec<u8>>,
        output: Vec<u8>,
    }

    impl Read for Duplex {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.input.read(buf)
        }
    }
    impl Write for Duplex {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.output.write(buf)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    impl Deadlines for Duplex {
        fn set_read_deadline(&mut self, _deadline: Instant) {}
        fn set_write_deadline(&mut self, _deadline: Instant) {}
    }

    fn run_loop(input: &[u8], client: Option<ClientIdentity>, service: &Echo) -> (Ending, String) {
        let peer = Peer {
            addr: "127.0.0.1:1".parse().unwrap(),
            client,
        };
        let limits = limits();
        let stop = AtomicBool::new(false);
        let ctx = Context {
            peer: &peer,
            limits: &limits,
            unauthenticated_path: "/health",
            service,
            stop: &stop,
        };
        let mut duplex = Duplex {
            input: io::Cursor::new(input.to_vec()),
            output: Vec::new(),
        };
        let ending = keep_alive_loop(&mut duplex, &ctx);
        (ending, String::from_utf8(duplex.output).unwrap())
    }

    fn someone() -> Option<ClientIdentity> {
        Some(ClientIdentity {
            subject: "CN=x".into(),
            fingerprint_sha256: "00".into(),
        })
    }

    #[test]
    fn serves_pipelined_requests_until_close() {
        let svc = echo();
        let (ending, out) = run_loop(
            b"GET /a HTTP/1.1\r\n\r\nGET /bye HTTP/1.1\r\n\r\nGET /never HTTP/1.1\r\n\r\n",
            someone(),
            &svc,
        );
        assert_eq!(ending, Ending::AfterResponse);
        assert_eq!(out.matches("HTTP/1.1 200 OK").count(), 2, "{out}");
        assert!(out.contains("Connection: keep-alive"), "{out}");
        assert!(out.ends_with("Connection: close\r\n\r\n/bye"), "{out}");
        assert!(!out.contains("/never"), "{out}");
        assert_eq!(svc.seen.lock().unwrap().len(), 2);
    }

    #[test]
    fn protocol_errors_are_answered_then_closed() {
        let svc = echo();
        let (ending, out) = run_loop(
            b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            someone(),
            &svc,
        );
        assert_eq!(ending, Ending::AfterResponse);
        assert!(out.starts_with("HTTP/1.1 411 "), "{out}");
        assert!(out.contains("Connection: close"), "{out}");
    }

    #[test]
    fn unauthenticated_peers_reach_only_health() {
        let svc = echo();
        let (ending, out) = run_loop(
            b"GET /health HTTP/1.1\r\n\r\nGET /health?x=1 HTTP/1.1\r\n\r\nGET /api/v1/jobs HTTP/1.1\r\n\r\n",
            None,
            &svc,
        );
        assert_eq!(ending, Ending::Quiet);
        assert_eq!(out.matches("HTTP/1.1 200 OK").count(), 2, "{out}");
        assert!(!out.contains("/api/v1/jobs"), "{out}");
        assert_eq!(*svc.seen.lock().unwrap(), vec![None, None]);
    }

    #[test]
    fn unauthenticated_post_to_health_gets_nothing() {
        let svc = echo();
        let (ending, out) = run_loop(b"POST /health HTTP/1.1\r\n\r\n", None, &svc);
        assert_eq!(ending, Ending::Quiet);
        assert!(out.is_empty(), "{out}");
        let (_, out) = run_loop(b"GARBAGE\r\n\r\n", None, &svc);
        assert!(out.is_empty(), "{out}");
    }

    #[test]
    fn head_request_gets_no_body() {
        let svc = echo();
        let (_, out) = run_loop(b"HEAD /abc HTTP/1.0\r\n\r\n", someone(), &svc);
        assert!(out.contains("Content-Length: 4\r\n"), "{out}");
        assert!(out.ends_with("\r\n\r\n"), "{out}");
    }

    #[test]
    fn deadline_stream_times_out_on_a_silent_peer() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let _client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (tcp, _) = listener.accept().unwrap();
        let started = Instant::now();
        let mut s = DeadlineStream::new(tcp, started + Duration::from_millis(100));
        let err = s.read(&mut [0u8; 4]).unwrap_err();
        assert!(is_timeout(&err), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(2));
        // Once the deadline has passed, reads fail at once.
        let err = s.read(&mut [0u8; 4]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    }
}
