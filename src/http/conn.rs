//! One connection's life: TLS handshake with a deadline, then the HTTP/1.1 keep-alive loop.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::{ServerConnection, StreamOwned};

use super::limits::Limits;
use super::request::{is_timeout, Deadlines, ReadError, ReadOutcome, RequestReader};
use super::response::{write_response, OutBuf};
use super::stream::{linger, DeadlineStream, TlsStream};
use super::trust::{ConnBounds, Standing, Trust};
use super::ws::{self, Sessions};
use super::{ClientIdentity, Peer, ProtocolError, Request, Response, Service};

/// Longest wait for sending TLS close_notify.
const CLOSE_NOTIFY_TIMEOUT: Duration = Duration::from_secs(2);

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
    /// Where WebSocket sessions are counted; `None` offers no upgrades.
    sessions: Option<&'a Arc<Sessions>>,
}

/// What a connection is served with, besides its socket and TLS configuration.
pub struct ConnSettings<'a> {
    /// Deadlines and size limits.
    pub limits: &'a Limits,
    /// The one path an unauthenticated connection may `GET`.
    pub unauthenticated_path: &'a str,
    /// The application.
    pub service: &'a dyn Service,
    /// Set when the server is stopping.
    pub stop: &'a AtomicBool,
    /// The WebSocket session registry; `None` refuses to hand connections over.
    pub sessions: Option<&'a Arc<Sessions>>,
    /// Most requests and longest life of the connection.
    pub bounds: ConnBounds,
    /// Where the connection is re-checked after reloads; `None` never re-checks.
    pub trust: Option<&'a Arc<Trust>>,
}

/// How the keep-alive loop ended.
enum LoopEnd {
    /// Close the connection.
    Close(Ending),
    /// The 101 was written: the stream belongs to a WebSocket session from now on.
    Upgrade {
        upgrade: ws::Upgrade,
        /// Bytes read past the handshake request (the client's first frames).
        prelude: Vec<u8>,
    },
}

/// What answering one request led to.
enum Step {
    /// Keep serving requests.
    Continue,
    /// Close the connection.
    End(Ending),
    /// Hand the stream over to a WebSocket session.
    Upgrade(ws::Upgrade),
}

/// Serves one accepted connection to its end: handshake, then requests until close; hands
/// it over to a WebSocket session thread when the service accepts an upgrade (the calling
/// thread is then free at once).
///
/// Never panics on I/O errors; failures are logged at debug level. A failed handshake closes
/// the socket without writing anything further.
pub fn serve(
    tcp: TcpStream,
    peer: SocketAddr,
    tls: Arc<rustls::ServerConfig>,
    settings: &ConnSettings<'_>,
) {
    let limits = settings.limits;
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
    serve_established(conn, sock, peer, None, settings);
}

/// Serves a connection whose TLS handshake the server's handshake stage already completed
/// (`tcp` may still be non-blocking), like [`serve`] from there on.
/// `checked_at` is the reload generation its admission was checked at, if known.
pub fn serve_handshaken(
    conn: ServerConnection,
    tcp: TcpStream,
    peer: SocketAddr,
    checked_at: Option<u64>,
    settings: &ConnSettings<'_>,
) {
    if let Err(e) = tcp.set_nonblocking(false) {
        log::debug!("{peer}: cannot make the socket blocking: {e}");
        return;
    }
    // Queued session tickets go out with the first read or write, within this deadline.
    let sock = DeadlineStream::new(tcp, Instant::now() + settings.limits.write);
    serve_established(conn, sock, peer, checked_at, settings);
}

/// The keep-alive loop of a handshaken connection, then its close or WebSocket hand-over.
fn serve_established(
    conn: ServerConnection,
    sock: DeadlineStream,
    peer: SocketAddr,
    checked_at: Option<u64>,
    settings: &ConnSettings<'_>,
) {
    let limits = settings.limits;
    let client = client_identity(&conn);
    let peer_info = Peer { addr: peer, client };
    let chain = conn
        .peer_certificates()
        .map(<[_]>::to_vec)
        .unwrap_or_default();
    let mut standing =
        Standing::new(settings.trust.cloned(), peer, chain, settings.bounds).checked_at(checked_at);
    let mut stream = StreamOwned::new(conn, sock);
    let ctx = Context {
        peer: &peer_info,
        limits,
        unauthenticated_path: settings.unauthenticated_path,
        service: settings.service,
        stop: settings.stop,
        sessions: settings.sessions,
    };
    match keep_alive_loop(&mut stream, &ctx, &mut standing) {
        LoopEnd::Close(ending) => finish(stream, ending, peer),
        LoopEnd::Upgrade { upgrade, prelude } => match settings.sessions {
            Some(sessions) => {
                let sessions = Arc::clone(sessions);
                ws::spawn_session(stream, prelude, upgrade, sessions, standing);
            }
            // Unreachable: upgrades are only accepted when a registry exists.
            None => finish(stream, Ending::Abort, peer),
        },
    }
}

/// Reads and answers requests until one side wants to close, the connection loses its
/// standing or reaches its bounds, or it is upgraded.
fn keep_alive_loop<S: Read + Write + Deadlines>(
    stream: &mut S,
    ctx: &Context<'_>,
    standing: &mut Standing,
) -> LoopEnd {
    let peer = ctx.peer.addr;
    let mut reader = RequestReader::new();
    let mut out = OutBuf::new();
    // The first request must start within the head deadline of the handshake's end; later
    // ones may take the keep-alive idle time.
    let mut idle = ctx.limits.head;
    loop {
        let outcome = reader.read_request(stream, ctx.limits, idle, ctx.stop);
        idle = ctx.limits.keep_alive_idle;
        match outcome {
            Ok(ReadOutcome::Idle(why)) => {
                log::debug!("{peer}: closing idle connection ({why:?})");
                return LoopEnd::Close(Ending::Quiet);
            }
            Err(ReadError::Io(e)) => {
                log::debug!("{peer}: read failed: {e}");
                return LoopEnd::Close(Ending::Abort);
            }
            Err(ReadError::Protocol(e)) => {
                return LoopEnd::Close(answer_protocol_error(stream, &mut out, ctx, &e))
            }
            Ok(ReadOutcome::Request {
                request,
                keep_alive,
            }) => {
                // A peer removed from the whitelist or revoked since the last check gets
                // no answer, like a refused new connection.
                if let Err(why) = standing.recheck() {
                    ctx.service
                        .refused_live(&request, ctx.peer, &why.to_string());
                    return LoopEnd::Close(Ending::Quiet);
                }
                let keep_alive = !standing.count_request() && keep_alive;
                match answer(stream, &mut out, ctx, &request, keep_alive) {
                    Step::Continue => {}
                    Step::End(ending) => return LoopEnd::Close(ending),
                    Step::Upgrade(upgrade) => {
                        return LoopEnd::Upgrade {
                            upgrade,
                            prelude: reader.buffered().to_vec(),
                        }
                    }
                }
            }
        }
    }
}

/// Answers a broken request with the service's rendering, then ends the connection.
fn answer_protocol_error<S: Write + Deadlines>(
    stream: &mut S,
    out: &mut OutBuf,
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
    match write_response(stream, out, &resp, false, false, ctx.limits.write) {
        Ok(()) => Ending::AfterResponse,
        Err(e) => {
            log::debug!("{peer}: writing error response failed: {e}");
            Ending::Abort
        }
    }
}

/// Serves one request: a response, or the switch to WebSocket.
fn answer<S: Write + Deadlines>(
    stream: &mut S,
    out: &mut OutBuf,
    ctx: &Context<'_>,
    request: &Request,
    keep_alive: bool,
) -> Step {
    let peer = ctx.peer.addr;
    if !permitted(ctx, request) {
        log::debug!(
            "{peer}: unauthenticated {} {} refused",
            request.method,
            request.path
        );
        return Step::End(Ending::Quiet);
    }
    let offer = match ctx.sessions {
        Some(sessions) if request.method == "GET" && ws::wants_upgrade(request) => {
            guarded(ctx, request, || {
                ctx.service.upgrade(request, ctx.peer, sessions)
            })
            .unwrap_or_else(|resp| Some(Err(resp)))
        }
        _ => None,
    };
    let resp = match offer {
        None => guarded(ctx, request, || ctx.service.handle(request, ctx.peer))
            .unwrap_or_else(|resp| resp),
        Some(Err(refusal)) => refusal,
        Some(Ok(upgrade)) => return switch_protocols(stream, out, ctx, request, upgrade),
    };
    respond(
        stream,
        out,
        ctx,
        &resp,
        keep_alive,
        request.method == "HEAD",
    )
}

/// Calls the service, catching a panic: `Err` holds the 500 (the service's rendering) to
/// answer instead. The connection stays usable (its framing is intact), and nothing else is
/// affected: one request's bug must not end other connections or the agent.
fn guarded<T>(
    ctx: &Context<'_>,
    request: &Request,
    call: impl FnOnce() -> T,
) -> Result<T, Response> {
    let payload = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(call)) {
        Ok(value) => return Ok(value),
        Err(payload) => payload,
    };
    let message = crate::panic_guard::message(&*payload);
    let mut resp = ctx.service.protocol_error(&ProtocolError::Internal(
        "the request failed inside the agent; it is logged".into(),
    ));
    resp.close = false;
    let id = resp
        .headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("x-request-id"))
        .map_or("-", |(_, value)| value.as_str());
    log::error!(
        "{}: {} {} (request {id}) failed: the handler panicked: {}",
        ctx.peer.addr,
        request.method.escape_debug(),
        request.path.escape_debug(),
        message.escape_debug()
    );
    Err(resp)
}

/// Writes a response; the connection continues unless it or the request says otherwise.
fn respond<S: Write + Deadlines>(
    stream: &mut S,
    out: &mut OutBuf,
    ctx: &Context<'_>,
    resp: &Response,
    keep_alive: bool,
    head_only: bool,
) -> Step {
    let keep = keep_alive && !resp.close && !ctx.stop.load(Ordering::SeqCst);
    if let Err(e) = write_response(stream, out, resp, keep, head_only, ctx.limits.write) {
        log::debug!("{}: writing response failed: {e}", ctx.peer.addr);
        return Step::End(Ending::Abort);
    }
    if keep {
        Step::Continue
    } else {
        Step::End(Ending::AfterResponse)
    }
}

/// Validates an accepted upgrade's handshake and writes the 101, or refuses with 400.
fn switch_protocols<S: Write + Deadlines>(
    stream: &mut S,
    out: &mut OutBuf,
    ctx: &Context<'_>,
    request: &Request,
    upgrade: ws::Upgrade,
) -> Step {
    let peer = ctx.peer.addr;
    let accept = match ws::validate_handshake(request) {
        Ok(accept) => accept,
        Err(e) => {
            log::debug!("{peer}: bad WebSocket handshake: {e}");
            let mut resp = ctx
                .service
                .protocol_error(&ProtocolError::BadRequest(e.to_string()));
            if e.wants_version_header() {
                resp = resp.with_header("Sec-WebSocket-Version", "13");
            }
            resp.close = true;
            return respond(stream, out, ctx, &resp, false, false);
        }
    };
    let deadline = Instant::now() + ctx.limits.write;
    stream.set_read_deadline(deadline);
    stream.set_write_deadline(deadline);
    let head = ws::switching_protocols(&accept, &upgrade.headers);
    if let Err(e) = stream.write_all(&head).and_then(|()| stream.flush()) {
        log::debug!("{peer}: writing 101 failed: {e}");
        return Step::End(Ending::Abort);
    }
    Step::Upgrade(upgrade)
}

/// Whether this connection may have `request` served (HEAD goes wherever GET does).
fn permitted(ctx: &Context<'_>, request: &Request) -> bool {
    ctx.peer.client.is_some()
        || (matches!(request.method.as_str(), "GET" | "HEAD")
            && request.path == ctx.unauthenticated_path)
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
        run_bounded_loop(input, client, service, ConnBounds::default())
    }

    fn standing(bounds: ConnBounds) -> Standing {
        Standing::new(None, "127.0.0.1:1".parse().unwrap(), Vec::new(), bounds)
    }

    fn run_bounded_loop(
        input: &[u8],
        client: Option<ClientIdentity>,
        service: &Echo,
        bounds: ConnBounds,
    ) -> (Ending, String) {
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
            sessions: None,
        };
        let mut duplex = Duplex {
            input: io::Cursor::new(input.to_vec()),
            output: Vec::new(),
        };
        let ending = match keep_alive_loop(&mut duplex, &ctx, &mut standing(bounds)) {
            LoopEnd::Close(ending) => ending,
            LoopEnd::Upgrade { .. } => panic!("upgraded without a session registry"),
        };
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
    fn the_request_limit_closes_after_the_nth_response() {
        let svc = echo();
        let bounds = ConnBounds {
            max_requests: 2,
            ..ConnBounds::default()
        };
        let (ending, out) = run_bounded_loop(
            b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\n\r\n",
            someone(),
            &svc,
            bounds,
        );
        assert_eq!(ending, Ending::AfterResponse);
        assert_eq!(out.matches("HTTP/1.1 200 OK").count(), 2, "{out}");
        assert!(out.ends_with("Connection: close\r\n\r\n/b"), "{out}");
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

    /// Accepts upgrades on `/ws` (refusing `/full` with 503), echoes everything else.
    struct Upgrader;

    impl Service for Upgrader {
        fn handle(&self, req: &Request, _peer: &Peer) -> Response {
            Response::json(200, req.path.clone().into_bytes())
        }
        fn protocol_error(&self, err: &ProtocolError) -> Response {
            Response::json(err.status(), b"err".to_vec())
        }
        fn upgrade(
            &self,
            req: &Request,
            _peer: &Peer,
            sessions: &Arc<Sessions>,
        ) -> Option<Result<ws::Upgrade, Response>> {
            match req.path.as_str() {
                "/ws" => Some(Ok(ws::Upgrade {
                    handler: Box::new(Silent),
                    slot: sessions.try_reserve(1)?,
                    headers: vec![("X-Request-Id".into(), "rid-7".into())],
                    settings: ws::SessionSettings::new(Duration::from_secs(30)),
                })),
                "/full" => Some(Err(Response::json(503, b"full".to_vec()))),
                _ => None,
            }
        }
    }

    struct Silent;

    impl ws::WsHandler for Silent {
        fn on_text(&mut self, _text: &str) -> Vec<String> {
            Vec::new()
        }
        fn poll_outgoing(&mut self) -> ws::Outgoing {
            ws::Outgoing::Idle
        }
    }

    fn upgrade_request(path: &str, version: &str) -> String {
        format!(
            "GET {path} HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: {version}\r\n\r\n"
        )
    }

    /// Runs the loop with a session registry; returns the end, the prelude of an upgrade,
    /// and the output.
    fn run_upgrade_loop(
        input: &str,
        client: Option<ClientIdentity>,
        sessions: Option<&Arc<Sessions>>,
    ) -> (Option<Ending>, Option<Vec<u8>>, String) {
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
            service: &Upgrader,
            stop: &stop,
            sessions,
        };
        let mut duplex = Duplex {
            input: io::Cursor::new(input.as_bytes().to_vec()),
            output: Vec::new(),
        };
        let mut standing = standing(ConnBounds::default());
        let (ending, prelude) = match keep_alive_loop(&mut duplex, &ctx, &mut standing) {
            LoopEnd::Close(ending) => (Some(ending), None),
            LoopEnd::Upgrade { prelude, .. } => (None, Some(prelude)),
        };
        (ending, prelude, String::from_utf8(duplex.output).unwrap())
    }

    #[test]
    fn an_accepted_upgrade_writes_101_and_hands_over_with_the_prelude() {
        let sessions = Sessions::new();
        let input = format!(
            "GET /a HTTP/1.1\r\n\r\n{}\u{81}\u{7f}",
            upgrade_request("/ws", "13")
        );
        let (ending, prelude, out) = run_upgrade_loop(&input, someone(), Some(&sessions));
        assert_eq!(ending, None, "{out}");
        assert_eq!(prelude.unwrap(), "\u{81}\u{7f}".as_bytes());
        let (first, upgrade) = out.split_once("HTTP/1.1 101").unwrap();
        assert!(first.starts_with("HTTP/1.1 200 OK"), "{out}");
        assert!(
            upgrade.contains("\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
            "{out}"
        );
        assert!(upgrade.contains("\r\nX-Request-Id: rid-7\r\n"), "{out}");
        assert!(upgrade.ends_with("\r\n\r\n"), "{out}");
        assert_eq!(sessions.active(), 0, "the dropped upgrade freed its slot");
    }

    #[test]
    fn a_bad_handshake_is_refused_with_400_and_the_version() {
        let sessions = Sessions::new();
        let (ending, _, out) =
            run_upgrade_loop(&upgrade_request("/ws", "8"), someone(), Some(&sessions));
        assert_eq!(ending, Some(Ending::AfterResponse));
        assert!(out.starts_with("HTTP/1.1 400 "), "{out}");
        assert!(out.contains("\r\nSec-WebSocket-Version: 13\r\n"), "{out}");
        assert!(out.contains("Connection: close"), "{out}");
        assert_eq!(sessions.active(), 0);
    }

    #[test]
    fn refusals_and_other_routes_are_plain_responses() {
        let sessions = Sessions::new();
        let input = format!(
            "{}{}",
            upgrade_request("/full", "13"),
            upgrade_request("/other", "13")
        );
        let (ending, _, out) = run_upgrade_loop(&input, someone(), Some(&sessions));
        assert_eq!(ending, Some(Ending::Quiet), "input ran out: {out}");
        assert!(out.starts_with("HTTP/1.1 503 "), "{out}");
        assert!(out.ends_with("/other"), "{out}");
        assert!(!out.contains(" 101 "), "{out}");
    }

    #[test]
    fn no_upgrade_without_a_registry_or_a_certificate() {
        let (ending, _, out) = run_upgrade_loop(&upgrade_request("/ws", "13"), someone(), None);
        assert_eq!(ending, Some(Ending::Quiet));
        assert!(
            out.starts_with("HTTP/1.1 200 OK") && out.ends_with("/ws"),
            "{out}"
        );
        let sessions = Sessions::new();
        let (ending, _, out) =
            run_upgrade_loop(&upgrade_request("/ws", "13"), None, Some(&sessions));
        assert_eq!(ending, Some(Ending::Quiet));
        assert!(out.is_empty(), "{out}");
    }
}
