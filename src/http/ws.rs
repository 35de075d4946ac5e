//! WebSocket sessions: handshake validation, the 101 answer, and the session thread.
//!
//! The protocol layer knows nothing of jobs: the application plugs in a [`WsHandler`] through
//! [`super::Service::upgrade`]. Once the 101 is written, the connection's TLS stream is handed
//! to a session thread of its own, so a WebSocket session never occupies a request worker.
//! The session interleaves, in short slices: sending the handler's queued frames, reading
//! client frames, pinging every third of the idle timeout, and closing after the idle timeout
//! without any client frame.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::frame::CloseFrame;
use tungstenite::protocol::{Role, WebSocketConfig};
use tungstenite::{Message, WebSocket};

use super::request::Deadlines;
use super::response::http_date;
use super::trust::{SessionVerdict, Standing};
use super::Request;

/// Longest incoming message (and frame) a client may send; the API's messages are tiny.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// How long one read or write attempt may block before the session loop moves on.
const SLICE: Duration = Duration::from_millis(50);

/// After sending a Close frame, how long to wait for the client's Close reply.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// Frames taken from the handler (or read from the client) per turn of the loop, so that
/// neither direction can starve the other.
const FRAMES_PER_TURN: usize = 64;

/// Bytes tungstenite may hold unsent; beyond it the client is not reading and is dropped.
const MAX_WRITE_BUFFER: usize = 1024 * 1024;

/// Stack of a session thread: the loop is shallow and buffers live on the heap.
const SESSION_STACK: usize = 256 * 1024;

/// What the application does with one session.
pub trait WsHandler: Send {
    /// Answers one text message from the client; every returned string is sent as a text frame.
    fn on_text(&mut self, text: &str) -> Vec<String>;
    /// The next frame to send unprompted, if any is ready (never blocks).
    fn poll_outgoing(&mut self) -> Outgoing;
    /// Called once when the session ends, whatever the reason.
    fn on_close(&mut self) {}
}

/// What a handler has to send right now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outgoing {
    /// One text frame.
    Frame(String),
    /// Nothing at the moment.
    Idle,
    /// The handler's source dropped it (it fell behind): close the session with this reason.
    Dropped(String),
}

/// Per-session timing and size settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionSettings {
    /// A session with no client frame (not even a pong) for this long is closed.
    pub idle_timeout: Duration,
    /// Longest incoming message in bytes.
    pub max_message_bytes: usize,
}

impl SessionSettings {
    /// Settings with `idle_timeout` and the default message limit.
    pub fn new(idle_timeout: Duration) -> SessionSettings {
        SessionSettings {
            idle_timeout,
            max_message_bytes: MAX_MESSAGE_BYTES,
        }
    }

    /// How often the server pings: a third of the idle timeout, so two may be lost.
    pub fn ping_interval(&self) -> Duration {
        self.idle_timeout / 3
    }
}

/// The application's acceptance of an upgrade: everything the session needs.
pub struct Upgrade {
    /// Serves the session's messages.
    pub handler: Box<dyn WsHandler>,
    /// The reserved place in the bounded session count, released when the session ends.
    pub slot: SessionSlot,
    /// Extra headers for the 101 answer (e.g. `X-Request-Id`).
    pub headers: Vec<(String, String)>,
    /// Timing and size limits.
    pub settings: SessionSettings,
}

/// The bounded set of live sessions, and the switch that closes them all on shutdown.
#[derive(Debug, Default)]
pub struct Sessions {
    active: Mutex<usize>,
    changed: Condvar,
    stopping: AtomicBool,
}

/// A reserved session place; dropping it frees the place.
#[derive(Debug)]
pub struct SessionSlot {
    sessions: Arc<Sessions>,
}

impl Drop for SessionSlot {
    fn drop(&mut self) {
        let mut n = self.sessions.lock();
        *n = n.saturating_sub(1);
        self.sessions.changed.notify_all();
    }
}

impl Sessions {
    /// An empty registry.
    pub fn new() -> Arc<Sessions> {
        Arc::new(Sessions::default())
    }

    /// Reserves a place unless `max` sessions are live or the server is stopping.
    pub fn try_reserve(self: &Arc<Self>, max: usize) -> Option<SessionSlot> {
        if self.is_stopping() {
            return None;
        }
        let mut n = self.lock();
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(SessionSlot {
            sessions: Arc::clone(self),
        })
    }

    /// Sessions live (or reserved and about to start).
    pub fn active(&self) -> usize {
        *self.lock()
    }

    /// Asks every session to close (Close 1001) and refuses new ones.
    pub fn shutdown(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    /// Whether [`Sessions::shutdown`] was called.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Waits until no session is live, or `grace` passes; true when all are gone.
    pub fn wait_closed(&self, grace: Duration) -> bool {
        let n = self.lock();
        match self.changed.wait_timeout_while(n, grace, |n| *n > 0) {
            Ok((n, _)) => *n == 0,
            Err(poisoned) => *poisoned.into_inner().0 == 0,
        }
    }

    fn lock(&self) -> MutexGuard<'_, usize> {
        // A counter stays meaningful whatever a panicking holder did.
        self.active.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Why an upgrade request is not a valid WebSocket opening handshake (RFC 6455 4.2.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HandshakeError {
    /// Only GET may upgrade.
    NotGet,
    /// `Upgrade` does not name `websocket`.
    NoUpgradeToken,
    /// `Connection` does not carry `upgrade`.
    NoConnectionUpgrade,
    /// No `Sec-WebSocket-Key`, or more than one.
    MissingKey,
    /// `Sec-WebSocket-Key` is not the base64 of 16 bytes.
    BadKey,
    /// `Sec-WebSocket-Version` is missing or not 13.
    UnsupportedVersion,
}

impl HandshakeError {
    /// Whether the answer must name the supported version (`Sec-WebSocket-Version: 13`).
    pub fn wants_version_header(&self) -> bool {
        *self == HandshakeError::UnsupportedVersion
    }
}

impl std::fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            HandshakeError::NotGet => "a WebSocket upgrade must use GET",
            HandshakeError::NoUpgradeToken => "the Upgrade header must name websocket",
            HandshakeError::NoConnectionUpgrade => "the Connection header must carry upgrade",
            HandshakeError::MissingKey => "exactly one Sec-WebSocket-Key header is required",
            HandshakeError::BadKey => "Sec-WebSocket-Key must be the base64 of 16 bytes",
            HandshakeError::UnsupportedVersion => "Sec-WebSocket-Version must be 13",
        })
    }
}

impl std::error::Error for HandshakeError {}

/// Whether a request asks to switch to WebSocket (whether or not it does so correctly).
pub fn wants_upgrade(req: &Request) -> bool {
    req.has_token("upgrade", "websocket")
}

/// Checks the opening handshake; on success returns the `Sec-WebSocket-Accept` value.
pub fn validate_handshake(req: &Request) -> Result<String, HandshakeError> {
    if req.method != "GET" {
        return Err(HandshakeError::NotGet);
    }
    if !wants_upgrade(req) {
        return Err(HandshakeError::NoUpgradeToken);
    }
    if !req.has_token("connection", "upgrade") {
        return Err(HandshakeError::NoConnectionUpgrade);
    }
    let mut keys = req.header_values("sec-websocket-key");
    let key = match (keys.next(), keys.next()) {
        (Some(key), None) => key.trim(),
        _ => return Err(HandshakeError::MissingKey),
    };
    if !is_key(key) {
        return Err(HandshakeError::BadKey);
    }
    let mut versions = req.header_values("sec-websocket-version");
    match (versions.next().map(str::trim), versions.next()) {
        (Some("13"), None) => {}
        _ => return Err(HandshakeError::UnsupportedVersion),
    }
    Ok(tungstenite::handshake::derive_accept_key(key.as_bytes()))
}

/// Whether `key` is the canonical base64 of exactly 16 bytes (22 symbols, then `==`).
fn is_key(key: &str) -> bool {
    let b = key.as_bytes();
    let symbol = |c: &u8| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/';
    // The last symbol carries 2 data bits and 4 zero padding bits: A, Q, g or w.
    b.len() == 24
        && b[..22].iter().all(symbol)
        && matches!(b[21], b'A' | b'Q' | b'g' | b'w')
        && &b[22..] == b"=="
}

/// Headers the 101 answer writes itself; the application's copies are dropped.
const OWN_HEADERS: [&str; 6] = [
    "upgrade",
    "connection",
    "sec-websocket-accept",
    "content-length",
    "transfer-encoding",
    "date",
];

/// Whether an application header can go into the 101 safely (no CR/LF injection).
fn safe_header(name: &str, value: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        && !value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0)
        && !OWN_HEADERS.contains(&name.to_ascii_lowercase().as_str())
}

/// The `101 Switching Protocols` answer for `accept`, with the application's `headers`.
pub fn switching_protocols(accept: &str, headers: &[(String, String)]) -> Vec<u8> {
    let mut out = String::from("HTTP/1.1 101 Switching Protocols\r\n");
    out.push_str("Upgrade: websocket\r\nConnection: Upgrade\r\n");
    out.push_str(&format!("Sec-WebSocket-Accept: {accept}\r\n"));
    for (name, value) in headers.iter().filter(|(n, v)| safe_header(n, v)) {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str(&format!(
        "Date: {}\r\n\r\n",
        http_date(time::OffsetDateTime::now_utc())
    ));
    out.into_bytes()
}

/// A byte stream a session can run over and shut down at its end.
pub trait Transport: Read + Write + Deadlines + Send + 'static {
    /// Ends the transport politely (TLS close_notify), within a short deadline.
    fn close(&mut self);
}

impl Transport for super::stream::TlsStream {
    fn close(&mut self) {
        self.conn.send_close_notify();
        let deadline = Instant::now() + CLOSE_WAIT;
        self.sock.set_write_deadline(deadline);
        while self.conn.wants_write() {
            if self.conn.write_tls(&mut self.sock).is_err() {
                return;
            }
        }
        super::stream::linger(&mut self.sock);
    }
}

impl Transport for super::stream::DeadlineStream {
    fn close(&mut self) {
        super::stream::linger(self);
    }
}

/// Starts the session thread for an upgraded connection; `prelude` holds bytes the client
/// sent after its handshake that were already read. On failure to start, the connection is
/// just closed.
pub fn spawn_session<T: Transport>(
    stream: T,
    prelude: Vec<u8>,
    upgrade: Upgrade,
    sessions: Arc<Sessions>,
    standing: Standing,
) {
    let peer = standing.peer();
    let spawned = thread::Builder::new()
        .name("ws-session".into())
        .stack_size(SESSION_STACK)
        .spawn(move || run_session(stream, prelude, upgrade, &sessions, standing));
    if let Err(e) = spawned {
        log::warn!("{peer}: cannot start a WebSocket session thread: {e}");
    }
}

/// Runs one session to its end on the current thread; `standing` is re-checked every
/// slice, so a reload that revokes the peer or the session's age ends it within one.
pub fn run_session<T: Transport>(
    stream: T,
    prelude: Vec<u8>,
    upgrade: Upgrade,
    sessions: &Sessions,
    standing: Standing,
) {
    let peer = standing.peer();
    let Upgrade {
        handler,
        slot,
        settings,
        ..
    } = upgrade;
    let config = ws_config(&settings);
    let sliced = Sliced { inner: stream };
    let ws = WebSocket::from_partially_read(sliced, prelude, Role::Server, Some(config));
    let now = Instant::now();
    let mut session = Session {
        ws,
        handler,
        settings,
        last_heard: now,
        last_ping: now,
        backlog: false,
        standing,
    };
    log::debug!("{peer}: WebSocket session started");
    let end = run_guarded(&mut session, sessions, peer);
    log::debug!("{peer}: WebSocket session ending: {end:?}");
    session.handler.on_close();
    session.finish(end);
    drop(slot);
}

/// Runs the session, ending it with 1011 (internal error) if its handler panics: the
/// session's thread closes it properly and frees its slot; nothing else is affected.
fn run_guarded<T: Transport>(
    session: &mut Session<T>,
    sessions: &Sessions,
    peer: SocketAddr,
) -> End {
    let run = std::panic::AssertUnwindSafe(|| session.run(sessions));
    std::panic::catch_unwind(run).unwrap_or_else(|payload| {
        let message = crate::panic_guard::message(&*payload);
        log::error!(
            "{peer}: WebSocket session failed: the handler panicked: {}",
            message.escape_debug()
        );
        End::Fail(CLOSE_INTERNAL_ERROR, "internal error".into())
    })
}

/// The frame reader's configuration for a session: buffer sizes and the message and frame
/// limits (public for the fuzz target, which must read frames exactly as a session does).
pub fn ws_config(settings: &SessionSettings) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(16 * 1024)
        .write_buffer_size(16 * 1024)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .max_message_size(Some(settings.max_message_bytes))
        .max_frame_size(Some(settings.max_message_bytes))
}

/// A transport whose every read and write blocks at most [`SLICE`], reporting `WouldBlock`
/// when it runs out, which tungstenite treats as "try again later" without losing state.
struct Sliced<T> {
    inner: T,
}

impl<T: Deadlines> Sliced<T> {
    fn arm(&mut self) {
        let deadline = Instant::now() + SLICE;
        // A TLS read may need to write and a write may need to read: bound both.
        self.inner.set_read_deadline(deadline);
        self.inner.set_write_deadline(deadline);
    }
}

fn would_block(e: io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::TimedOut {
        io::Error::new(io::ErrorKind::WouldBlock, e)
    } else {
        e
    }
}

impl<T: Read + Deadlines> Read for Sliced<T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.arm();
        self.inner.read(buf).map_err(would_block)
    }
}

impl<T: Write + Deadlines> Write for Sliced<T> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.arm();
        self.inner.write(buf).map_err(would_block)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.arm();
        self.inner.flush().map_err(would_block)
    }
}

/// How a session ends.
#[derive(Clone, Debug, PartialEq, Eq)]
enum End {
    /// We close: send a Close frame with this code and reason, wait briefly for the reply.
    Close(u16, String),
    /// The client broke the protocol: send a Close frame, but read nothing more (the input
    /// is unusable, and tungstenite must not be asked to parse past a failed frame).
    Fail(u16, String),
    /// The client closed (its Close was answered) or the connection is gone.
    Gone,
}

/// Close codes (RFC 6455 7.4.1).
const CLOSE_NORMAL: u16 = 1000;
const CLOSE_GOING_AWAY: u16 = 1001;
const CLOSE_PROTOCOL: u16 = 1002;
const CLOSE_UNSUPPORTED: u16 = 1003;
const CLOSE_INVALID_DATA: u16 = 1007;
const CLOSE_POLICY: u16 = 1008;
const CLOSE_TOO_BIG: u16 = 1009;
const CLOSE_INTERNAL_ERROR: u16 = 1011;
const CLOSE_TRY_AGAIN_LATER: u16 = 1013;

/// Whether a tungstenite error only means "the socket is not ready".
fn is_would_block(e: &tungstenite::Error) -> bool {
    matches!(e, tungstenite::Error::Io(io) if super::request::is_timeout(io))
}

/// Maps a fatal tungstenite error to how the session ends.
fn end_for(e: tungstenite::Error) -> End {
    use tungstenite::Error as E;
    match e {
        E::Capacity(c) => End::Fail(CLOSE_TOO_BIG, c.to_string()),
        E::Utf8(_) => End::Fail(CLOSE_INVALID_DATA, "text frame is not UTF-8".into()),
        E::Protocol(tungstenite::error::ProtocolError::ResetWithoutClosingHandshake) => End::Gone,
        E::Protocol(p) => End::Fail(CLOSE_PROTOCOL, p.to_string()),
        _ => End::Gone,
    }
}

struct Session<T: Transport> {
    ws: WebSocket<Sliced<T>>,
    handler: Box<dyn WsHandler>,
    settings: SessionSettings,
    /// When the client last sent any frame.
    last_heard: Instant,
    last_ping: Instant,
    /// Written frames are waiting for the socket: take no new ones from the handler.
    backlog: bool,
    /// The connection's standing (whitelist, client certificate) and age.
    standing: Standing,
}

impl<T: Transport> Session<T> {
    fn run(&mut self, sessions: &Sessions) -> End {
        loop {
            if sessions.is_stopping() {
                return End::Close(CLOSE_GOING_AWAY, "server shutting down".into());
            }
            match self.standing.session_verdict() {
                SessionVerdict::Keep => {}
                // Sent before dropping the peer, so a client that lost its standing learns why.
                SessionVerdict::Revoked(why) => {
                    return End::Close(CLOSE_POLICY, why.to_string());
                }
                SessionVerdict::TooOld => {
                    return End::Close(CLOSE_GOING_AWAY, "session age limit reached".into());
                }
            }
            let step = self
                .pump_outgoing()
                .or_else(|| self.flush())
                .or_else(|| self.read_turn())
                .or_else(|| self.keep_alive());
            if let Some(end) = step {
                return end;
            }
        }
    }

    /// Moves the handler's ready frames into the socket unless earlier ones are still queued.
    fn pump_outgoing(&mut self) -> Option<End> {
        for _ in 0..FRAMES_PER_TURN {
            if self.backlog {
                return None;
            }
            match self.handler.poll_outgoing() {
                Outgoing::Frame(text) => {
                    if let Some(end) = self.send(Message::text(text)) {
                        return Some(end);
                    }
                }
                Outgoing::Idle => return None,
                Outgoing::Dropped(reason) => {
                    return Some(End::Close(CLOSE_TRY_AGAIN_LATER, reason));
                }
            }
        }
        None
    }

    /// Queues one message; `Some` when the session must end.
    fn send(&mut self, message: Message) -> Option<End> {
        match self.ws.write(message) {
            Ok(()) => None,
            Err(e) if is_would_block(&e) => {
                self.backlog = true;
                None
            }
            Err(tungstenite::Error::WriteBufferFull(_)) => Some(End::Close(
                CLOSE_TRY_AGAIN_LATER,
                "the client does not read its frames".into(),
            )),
            Err(e) => Some(end_for(e)),
        }
    }

    fn flush(&mut self) -> Option<End> {
        match self.ws.flush() {
            Ok(()) => {
                self.backlog = false;
                None
            }
            Err(e) if is_would_block(&e) => {
                self.backlog = true;
                None
            }
            Err(e) => Some(end_for(e)),
        }
    }

    /// Reads what the client sent within one slice and answers it.
    fn read_turn(&mut self) -> Option<End> {
        for _ in 0..FRAMES_PER_TURN {
            let message = match self.ws.read() {
                Ok(m) => m,
                Err(e) if is_would_block(&e) => return None,
                Err(e) => return Some(end_for(e)),
            };
            self.last_heard = Instant::now();
            match message {
                Message::Text(text) => {
                    for reply in self.handler.on_text(text.as_str()) {
                        if let Some(end) = self.send(Message::text(reply)) {
                            return Some(end);
                        }
                    }
                }
                Message::Binary(_) => {
                    return Some(End::Close(
                        CLOSE_UNSUPPORTED,
                        "only text frames are accepted".into(),
                    ))
                }
                // tungstenite queued the reply to a Close; flushing it ends the session.
                Message::Close(_) => return Some(self.flush().unwrap_or(End::Gone)),
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
            }
        }
        None
    }

    /// Pings on schedule; ends a session whose client has been silent too long.
    fn keep_alive(&mut self) -> Option<End> {
        let now = Instant::now();
        if now.duration_since(self.last_heard) >= self.settings.idle_timeout {
            return Some(End::Close(CLOSE_NORMAL, "idle timeout".into()));
        }
        if now.duration_since(self.last_ping) >= self.settings.ping_interval() {
            self.last_ping = now;
            return self.send(Message::Ping(Default::default()));
        }
        None
    }

    /// Sends our Close (if we close), waits briefly for the reply, then ends the transport.
    fn finish(mut self, end: End) {
        match end {
            End::Close(code, reason) => {
                self.send_close(code, reason);
                self.await_close_reply();
            }
            End::Fail(code, reason) => {
                self.send_close(code, reason);
                self.flush_within(CLOSE_WAIT);
            }
            End::Gone => {}
        }
        self.ws.get_mut().inner.close();
    }

    fn send_close(&mut self, code: u16, reason: String) {
        // A close reason must fit a control frame (125 bytes, 2 of them for the code).
        let mut reason = reason;
        while reason.len() > 123 {
            reason.pop();
        }
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: reason.into(),
        };
        let _ = self.ws.close(Some(frame));
    }

    /// Retries flushing until everything is written, the socket fails, or `limit` passes.
    fn flush_within(&mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            match self.ws.flush() {
                Err(e) if is_would_block(&e) => {}
                _ => return,
            }
        }
    }

    fn await_close_reply(&mut self) {
        let deadline = Instant::now() + CLOSE_WAIT;
        while Instant::now() < deadline {
            match self.ws.read() {
                Ok(_) => {}
                Err(e) if is_would_block(&e) => {
                    let _ = self.ws.flush();
                }
                Err(_) => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::stream::DeadlineStream;
    use crate::http::trust::ConnBounds;
    use crossbeam_channel::{Receiver, Sender};
    use std::net::{TcpListener, TcpStream};
    use tungstenite::protocol::frame::coding::CloseCode;

    fn handshake_request(headers: &[(&str, &str)]) -> Request {
        Request {
            method: "GET".into(),
            path: "/ws".into(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
                .collect(),
            ..Request::default()
        }
    }

    const SAMPLE_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    fn good() -> Vec<(&'static str, &'static str)> {
        vec![
            ("Upgrade", "WebSocket"),
            ("Connection", "keep-alive, Upgrade"),
            ("Sec-WebSocket-Key", SAMPLE_KEY),
            ("Sec-WebSocket-Version", "13"),
        ]
    }

    #[test]
    fn accepts_the_rfc_example() {
        let accept = validate_handshake(&handshake_request(&good())).unwrap();
        assert_eq!(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn refuses_each_broken_part() {
        let without = |name: &str| -> Vec<(&'static str, &'static str)> {
            good().into_iter().filter(|(k, _)| *k != name).collect()
        };
        let with = |name: &'static str, value: &'static str| {
            let mut h = without(name);
            h.push((name, value));
            h
        };
        let cases: Vec<(Vec<(&str, &str)>, HandshakeError)> = vec![
            (without("Upgrade"), HandshakeError::NoUpgradeToken),
            (with("Upgrade", "h2c"), HandshakeError::NoUpgradeToken),
            (without("Connection"), HandshakeError::NoConnectionUpgrade),
            (
                with("Connection", "keep-alive"),
                HandshakeError::NoConnectionUpgrade,
            ),
            (without("Sec-WebSocket-Key"), HandshakeError::MissingKey),
            (with("Sec-WebSocket-Key", "short"), HandshakeError::BadKey),
            // 24 characters but 17 bytes' worth of bits in the last symbol.
            (
                with("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZB=="),
                HandshakeError::BadKey,
            ),
            (
                with("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25j*Q=="),
                HandshakeError::BadKey,
            ),
            (
                without("Sec-WebSocket-Version"),
                HandshakeError::UnsupportedVersion,
            ),
            (
                with("Sec-WebSocket-Version", "8"),
                HandshakeError::UnsupportedVersion,
            ),
        ];
        for (headers, expected) in cases {
            let got = validate_handshake(&handshake_request(&headers));
            assert_eq!(got, Err(expected.clone()), "{headers:?}");
        }
        let mut twice = good();
        twice.push(("Sec-WebSocket-Key", SAMPLE_KEY));
        assert_eq!(
            validate_handshake(&handshake_request(&twice)),
            Err(HandshakeError::MissingKey)
        );
        let mut post = handshake_request(&good());
        post.method = "POST".into();
        assert_eq!(validate_handshake(&post), Err(HandshakeError::NotGet));
        assert!(HandshakeError::UnsupportedVersion.wants_version_header());
        assert!(!HandshakeError::BadKey.wants_version_header());
    }

    #[test]
    fn switching_protocols_carries_accept_and_safe_extra_headers() {
        let head = switching_protocols(
            "abc=",
            &[
                ("X-Request-Id".into(), "r-1".into()),
                ("Connection".into(), "close".into()),
                ("X-Evil".into(), "a\r\nSet-Cookie: b".into()),
            ],
        );
        let head = String::from_utf8(head).unwrap();
        assert!(
            head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
            "{head}"
        );
        assert!(head.contains("\r\nUpgrade: websocket\r\n"), "{head}");
        assert!(head.contains("\r\nConnection: Upgrade\r\n"), "{head}");
        assert!(
            head.contains("\r\nSec-WebSocket-Accept: abc=\r\n"),
            "{head}"
        );
        assert!(head.contains("\r\nX-Request-Id: r-1\r\n"), "{head}");
        assert!(!head.contains("close") && !head.contains("Evil"), "{head}");
        assert!(!head.contains("Content-Length"), "{head}");
        assert!(head.ends_with("\r\n\r\n"), "{head}");
    }

    #[test]
    fn sessions_are_bounded_and_slots_free_on_drop() {
        let sessions = Sessions::new();
        let a = sessions.try_reserve(2).unwrap();
        let _b = sessions.try_reserve(2).unwrap();
        assert!(sessions.try_reserve(2).is_none());
        assert_eq!(sessions.active(), 2);
        drop(a);
        assert_eq!(sessions.active(), 1);
        assert!(!sessions.wait_closed(Duration::from_millis(10)));
        let _c = sessions.try_reserve(2).unwrap();
        sessions.shutdown();
        assert!(
            sessions.try_reserve(10).is_none(),
            "no new session once stopping"
        );
    }

    /// Echoes text in upper case and sends what the test pushes into its channel.
    struct Upper {
        outgoing: Receiver<String>,
        closed: Sender<()>,
    }

    impl WsHandler for Upper {
        fn on_text(&mut self, text: &str) -> Vec<String> {
            // A bug in a handler, on demand (issue 17).
            assert_ne!(text, "panic", "a handler bug");
            vec![text.to_uppercase()]
        }
        fn poll_outgoing(&mut self) -> Outgoing {
            match self.outgoing.try_recv() {
                Ok(s) => Outgoing::Frame(s),
                Err(crossbeam_channel::TryRecvError::Empty) => Outgoing::Idle,
                Err(crossbeam_channel::TryRecvError::Disconnected) => {
                    Outgoing::Dropped("source gone".into())
                }
            }
        }
        fn on_close(&mut self) {
            let _ = self.closed.send(());
        }
    }

    struct Harness {
        client: WebSocket<TcpStream>,
        push: Option<Sender<String>>,
        closed: Receiver<()>,
        sessions: Arc<Sessions>,
        thread: thread::JoinHandle<()>,
    }

    /// A session over plain TCP (the transport is generic) with a raw tungstenite client.
    fn harness(idle: Duration) -> Harness {
        harness_bounded(idle, ConnBounds::default())
    }

    /// Like [`harness`] with the connection's bounds (age limit) given.
    fn harness_bounded(idle: Duration, bounds: ConnBounds) -> Harness {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client_tcp = TcpStream::connect(addr).unwrap();
        client_tcp
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let (server_tcp, peer) = listener.accept().unwrap();
        let (push, outgoing) = crossbeam_channel::unbounded();
        let (closed_tx, closed) = crossbeam_channel::unbounded();
        let sessions = Sessions::new();
        let upgrade = Upgrade {
            handler: Box::new(Upper {
                outgoing,
                closed: closed_tx,
            }),
            slot: sessions.try_reserve(1).unwrap(),
            headers: Vec::new(),
            settings: SessionSettings::new(idle),
        };
        let stream = DeadlineStream::new(server_tcp, Instant::now());
        let s = Arc::clone(&sessions);
        let standing = Standing::new(None, peer, Vec::new(), bounds);
        let thread = thread::spawn(move || run_session(stream, Vec::new(), upgrade, &s, standing));
        let client = WebSocket::from_raw_socket(client_tcp, Role::Client, None);
        Harness {
            client,
            push: Some(push),
            closed,
            sessions,
            thread,
        }
    }

    fn next_text(ws: &mut WebSocket<TcpStream>) -> String {
        loop {
            match ws.read().unwrap() {
                Message::Text(t) => return t.to_string(),
                Message::Ping(_) | Message::Pong(_) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    fn next_close(ws: &mut WebSocket<TcpStream>) -> CloseFrame {
        loop {
            match ws.read().unwrap() {
                Message::Close(Some(frame)) => return frame,
                Message::Close(None) => panic!("close without a code"),
                _ => {}
            }
        }
    }

    #[test]
    fn a_panicking_handler_closes_its_session_with_1011() {
        let mut h = harness(Duration::from_secs(30));
        h.client.send(Message::text("panic")).unwrap();
        let frame = next_close(&mut h.client);
        assert_eq!(u16::from(frame.code), 1011);
        h.thread.join().expect("the session thread ended normally");
        assert_eq!(h.sessions.active(), 0, "the slot was released");
    }

    #[test]
    fn replies_and_pushed_frames_interleave_and_client_close_ends_it() {
        let mut h = harness(Duration::from_secs(30));
        h.client.send(Message::text("hello")).unwrap();
        assert_eq!(next_text(&mut h.client), "HELLO");
        h.push.as_ref().unwrap().send("pushed".into()).unwrap();
        assert_eq!(next_text(&mut h.client), "pushed");
        h.client.close(None).unwrap();
        // The server answers the close and ends; the client sees the end of the handshake.
        loop {
            match h.client.read() {
                Ok(_) => {}
                Err(tungstenite::Error::ConnectionClosed) => break,
                Err(e) => panic!("{e}"),
            }
        }
        h.thread.join().unwrap();
        assert!(h.closed.try_recv().is_ok(), "on_close ran");
        assert_eq!(h.sessions.active(), 0, "the slot was released");
    }

    #[test]
    fn a_dropped_handler_source_closes_with_1013() {
        let mut h = harness(Duration::from_secs(30));
        h.push.as_ref().unwrap().send("last".into()).unwrap();
        drop(h.push.take());
        assert_eq!(next_text(&mut h.client), "last");
        let frame = next_close(&mut h.client);
        assert_eq!(frame.code, CloseCode::from(1013));
        assert_eq!(frame.reason.as_str(), "source gone");
        h.thread.join().unwrap();
    }

    #[test]
    fn shutdown_closes_with_1001() {
        let mut h = harness(Duration::from_secs(30));
        h.client.send(Message::text("x")).unwrap();
        assert_eq!(next_text(&mut h.client), "X");
        h.sessions.shutdown();
        let frame = next_close(&mut h.client);
        assert_eq!(frame.code, CloseCode::Away);
        h.thread.join().unwrap();
    }

    #[test]
    fn a_session_past_its_age_closes_with_1001() {
        let bounds = ConnBounds {
            max_websocket_age: Duration::from_millis(300),
            ..ConnBounds::default()
        };
        let mut h = harness_bounded(Duration::from_secs(30), bounds);
        h.client.send(Message::text("hi")).unwrap();
        assert_eq!(next_text(&mut h.client), "HI");
        let frame = next_close(&mut h.client);
        assert_eq!(u16::from(frame.code), 1001);
        assert_eq!(frame.reason.as_str(), "session age limit reached");
        h.thread.join().unwrap();
    }

    #[test]
    fn pings_then_closes_a_silent_client_after_the_idle_timeout() {
        let h = harness(Duration::from_millis(600));
        let started = Instant::now();
        // Not reading means not answering pings: the client is silent.
        let frames = frames_until_end(h.client);
        h.thread.join().unwrap();
        let took = started.elapsed();
        let pings = frames
            .iter()
            .filter(|m| matches!(m, Message::Ping(_)))
            .count();
        assert!(pings >= 2, "pinged every third of the timeout: {frames:?}");
        let Some(Message::Close(Some(frame))) = frames.last() else {
            panic!("no close frame at the end: {frames:?}");
        };
        assert_eq!(frame.code, CloseCode::Normal);
        assert_eq!(frame.reason.as_str(), "idle timeout");
        assert!(took >= Duration::from_millis(600), "{took:?}");
    }

    /// Replays recorded server bytes; what the client would answer is discarded.
    struct Replay(io::Cursor<Vec<u8>>);

    impl Read for Replay {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.0.read(buf)
        }
    }

    impl Write for Replay {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Every frame the server sends until it ends the connection, without answering any
    /// (answering a ping would count as hearing from the client).
    fn frames_until_end(client: WebSocket<TcpStream>) -> Vec<Message> {
        let mut raw = Vec::new();
        let _ = client.into_inner().read_to_end(&mut raw);
        let mut ws = WebSocket::from_raw_socket(Replay(io::Cursor::new(raw)), Role::Client, None);
        let mut frames = Vec::new();
        while let Ok(m) = ws.read() {
            frames.push(m);
        }
        frames
    }

    #[test]
    fn oversized_and_binary_messages_close_the_session() {
        let mut h = harness(Duration::from_secs(30));
        let big = "x".repeat(MAX_MESSAGE_BYTES + 1);
        h.client.send(Message::text(big)).unwrap();
        assert_eq!(next_close(&mut h.client).code, CloseCode::Size);
        h.thread.join().unwrap();

        let mut h = harness(Duration::from_secs(30));
        h.client.send(Message::binary(vec![1u8, 2, 3])).unwrap();
        assert_eq!(next_close(&mut h.client).code, CloseCode::Unsupported);
        h.thread.join().unwrap();
    }
}
