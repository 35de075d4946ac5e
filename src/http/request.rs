//! HTTP/1.1 request head and body parsing with limits (httparse).
//!
//! [`RequestReader`] reads one request at a time from any `Read + Write + Deadlines` stream:
//! the rustls stream in production, an in-memory script in the tests below. Deadlines are
//! absolute instants handed to the stream, which turns them into the socket timeout for the
//! remaining time before every system call, so a client trickling one byte at a time cannot
//! stretch them.

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::framing::{body_length, oversized_head, single_host};
use super::limits::Limits;
use super::message::{ProtocolError, Request};

/// A stream whose reads and writes are bounded by absolute deadlines.
///
/// Implementors must apply the deadline to every underlying system call (remaining time),
/// and fail with `WouldBlock` or `TimedOut` once it has passed.
pub trait Deadlines {
    /// Reads from now on must complete by `deadline`.
    fn set_read_deadline(&mut self, deadline: Instant);
    /// Writes from now on must complete by `deadline`.
    fn set_write_deadline(&mut self, deadline: Instant);
}

/// Why no request was read although nothing went wrong: the connection just ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Idle {
    /// The peer closed the connection between requests.
    Eof,
    /// No byte of a next request arrived within the idle deadline.
    Timeout,
    /// The server is stopping.
    Stopping,
}

/// The result of waiting for one request.
#[derive(Debug)]
pub enum ReadOutcome {
    /// A complete request, and whether the connection may stay open after its response.
    Request { request: Request, keep_alive: bool },
    /// No request will come; close without a response.
    Idle(Idle),
}

/// Why reading a request failed.
#[derive(Debug)]
pub enum ReadError {
    /// The client broke the protocol or a limit: answer with its status, then close.
    Protocol(ProtocolError),
    /// The transport failed (reset, TLS error, EOF mid-request): close without a response.
    Io(io::Error),
}

impl From<ProtocolError> for ReadError {
    fn from(e: ProtocolError) -> ReadError {
        ReadError::Protocol(e)
    }
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Protocol(e) => e.fmt(f),
            ReadError::Io(e) => write!(f, "I/O error: {e}"),
        }
    }
}

/// The idle wait wakes at least this often to notice that the server is stopping.
pub const IDLE_SLICE: Duration = Duration::from_secs(1);

/// How much is asked of the stream per read.
const READ_CHUNK: usize = 8192;

/// Header tables up to this many entries are parsed into a stack array.
const STACK_HEADERS: usize = 128;

/// The interim response sent for `Expect: 100-continue`.
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Reads successive requests from one connection, keeping pipelined bytes between them.
#[derive(Debug, Default)]
pub struct RequestReader {
    /// Bytes received but not yet consumed (the start of the next request, if pipelined).
    buf: Vec<u8>,
}

/// The parsed head of a request, before its body is read.
struct Head {
    /// Bytes the head occupies at the start of the buffer.
    len: usize,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    minor_version: u8,
    /// Method, path, query and headers; the body is still empty.
    request: Request,
}

impl RequestReader {
    /// A reader with nothing buffered.
    pub fn new() -> RequestReader {
        RequestReader::default()
    }

    /// Bytes received beyond the last request (pipelined data).
    pub fn buffered(&self) -> &[u8] {
        &self.buf
    }

    /// Reads the next request.
    ///
    /// Waits up to `idle` for its first byte (observing `stop` at least every [`IDLE_SLICE`]);
    /// from that byte on, the head must arrive within `limits.head`, then the body within
    /// `limits.body`.
    pub fn read_request<S: Read + Write + Deadlines>(
        &mut self,
        stream: &mut S,
        limits: &Limits,
        idle: Duration,
        stop: &AtomicBool,
    ) -> Result<ReadOutcome, ReadError> {
        if self.buf.is_empty() {
            if let Some(why) = self.wait_first_byte(stream, idle, stop)? {
                return Ok(ReadOutcome::Idle(why));
            }
        }
        let head = self.read_head(stream, limits, Instant::now() + limits.head)?;
        let body_len = body_length(&head.request, limits)?;
        let keep_alive = keep_alive(&head.request, head.minor_version);
        let buffered_body = self.buf.len() - head.len;
        if body_len > buffered_body && expects_continue(&head) {
            send_continue(stream, limits.write).map_err(ReadError::Io)?;
        }
        let mut request = head.request;
        request.body = self.read_body(stream, head.len, body_len, limits.body)?;
        Ok(ReadOutcome::Request {
            request,
            keep_alive,
        })
    }

    /// Waits for the first byte of a request; `Some` when the connection should just close.
    fn wait_first_byte<S: Read + Deadlines>(
        &mut self,
        stream: &mut S,
        idle: Duration,
        stop: &AtomicBool,
    ) -> Result<Option<Idle>, ReadError> {
        let deadline = Instant::now() + idle;
        loop {
            if stop.load(Ordering::SeqCst) {
                return Ok(Some(Idle::Stopping));
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(Some(Idle::Timeout));
            }
            arm(stream, deadline.min(now + IDLE_SLICE));
            match self.fill(stream) {
                Ok(0) => return Ok(Some(Idle::Eof)),
                Ok(_) => return Ok(None),
                Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(Some(Idle::Eof)),
                Err(e) => return Err(ReadError::Io(e)),
            }
        }
    }

    /// Reads until a complete head is buffered, within the limits and `deadline`.
    fn read_head<S: Read + Deadlines>(
        &mut self,
        stream: &mut S,
        limits: &Limits,
        deadline: Instant,
    ) -> Result<Head, ReadError> {
        let mut scanned = 0;
        loop {
            if let Some(head) = self.try_parse_head(limits, &mut scanned)? {
                return Ok(head);
            }
            if self.buf.len() > limits.max_header_bytes {
                return Err(oversized_head(&self.buf, limits).into());
            }
            self.fill_by(stream, deadline, "request head")?;
        }
    }

    /// Parses the head if its end is buffered; `scanned` avoids rescanning old bytes.
    fn try_parse_head(
        &self,
        limits: &Limits,
        scanned: &mut usize,
    ) -> Result<Option<Head>, ProtocolError> {
        while let Some(end) = find_head_end(&self.buf, *scanned) {
            *scanned = end;
            if end > limits.max_header_bytes {
                return Err(oversized_head(&self.buf, limits));
            }
            // `Partial` despite a blank line only happens for leading empty lines
            // (which httparse skips); keep looking for the real end.
            if let Some(head) = parse_head(&self.buf[..end], limits)? {
                return Ok(Some(head));
            }
        }
        *scanned = (*scanned).max(self.buf.len().saturating_sub(3));
        Ok(None)
    }

    /// Takes `len` body bytes after the head, reading what is missing by the body deadline.
    fn read_body<S: Read + Deadlines>(
        &mut self,
        stream: &mut S,
        head_len: usize,
        len: usize,
        timeout: Duration,
    ) -> Result<Vec<u8>, ReadError> {
        self.buf.drain(..head_len);
        if len == 0 {
            // The common case (GET): the buffer keeps its allocation for the next request.
            return Ok(Vec::new());
        }
        let deadline = Instant::now() + timeout;
        while self.buf.len() < len {
            self.fill_by(stream, deadline, "request body")?;
        }
        let body = self.buf[..len].to_vec();
        self.buf.drain(..len);
        Ok(body)
    }

    /// One read before `deadline`; EOF and expiry become errors.
    fn fill_by<S: Read + Deadlines>(
        &mut self,
        stream: &mut S,
        deadline: Instant,
        what: &str,
    ) -> Result<(), ReadError> {
        loop {
            if Instant::now() >= deadline {
                return Err(ProtocolError::Timeout(format!("{what} not received in time")).into());
            }
            arm(stream, deadline);
            match self.fill(stream) {
                Ok(0) => {
                    let msg = format!("connection closed during the {what}");
                    return Err(ReadError::Io(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        msg,
                    )));
                }
                Ok(_) => return Ok(()),
                Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(ReadError::Io(e)),
            }
        }
    }

    /// Appends one read's worth of bytes to the buffer.
    fn fill<S: Read>(&mut self, stream: &mut S) -> io::Result<usize> {
        let mut chunk = [0u8; READ_CHUNK];
        let n = stream.read(&mut chunk)?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }
}

/// Bounds the next read by `deadline`, and any write it triggers too: a TLS stream may have
/// to send pending records (e.g. a key update reply) before it can read, and a stale write
/// deadline would fail that at once.
fn arm<S: Deadlines>(stream: &mut S, deadline: Instant) {
    stream.set_read_deadline(deadline);
    stream.set_write_deadline(deadline);
}

/// Whether an I/O error is a read/write timeout (Linux reports `WouldBlock` for SO_RCVTIMEO).
pub fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// The end of the head (just past the blank line) at or after `from`, if buffered.
fn find_head_end(buf: &[u8], from: usize) -> Option<usize> {
    // httparse accepts bare LF line ends, so `\n\n` ends a head as well as `\r\n\r\n`.
    let tail = buf.get(from..)?;
    tail.windows(2).enumerate().find_map(|(i, w)| match w {
        b"\n\n" => Some(from + i + 2),
        b"\n\r" if tail.get(i + 2) == Some(&b'\n') => Some(from + i + 3),
        _ => None,
    })
}

/// Parses a buffered head; `None` when httparse wants more.
fn parse_head(bytes: &[u8], limits: &Limits) -> Result<Option<Head>, ProtocolError> {
    // The usual limit fits on the stack: no allocation per request for the header table.
    let mut on_stack = [httparse::EMPTY_HEADER; STACK_HEADERS];
    let mut on_heap = Vec::new();
    let headers: &mut [httparse::Header<'_>] = if limits.max_headers <= STACK_HEADERS {
        &mut on_stack[..limits.max_headers]
    } else {
        on_heap.resize(limits.max_headers, httparse::EMPTY_HEADER);
        &mut on_heap
    };
    let mut parsed = httparse::Request::new(headers);
    let len = match parsed.parse(bytes) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(ProtocolError::HeaderTooLarge(format!(
                "more than {} headers",
                limits.max_headers
            )))
        }
        Err(e) => return Err(ProtocolError::BadRequest(e.to_string())),
    };
    let minor_version = match parsed.version {
        Some(v @ (0 | 1)) => v,
        _ => return Err(ProtocolError::BadRequest("unsupported HTTP version".into())),
    };
    let method = parsed.method.unwrap_or_default().to_string();
    let target = parsed.path.unwrap_or_default();
    let (path, query) = split_target(target)?;
    let request = Request {
        method,
        path,
        query,
        headers: convert_headers(parsed.headers)?,
        body: Vec::new(),
    };
    single_host(&request)?;
    Ok(Some(Head {
        len,
        minor_version,
        request,
    }))
}

/// Splits an origin-form (or absolute-form) request-target into raw path and query.
fn split_target(target: &str) -> Result<(String, Option<String>), ProtocolError> {
    if !target.starts_with('/') {
        return match super::uri::origin_form(target) {
            Some(origin) => split_target(&origin),
            None => Err(ProtocolError::BadRequest(format!(
                "request target must be a path starting with '/': {target:?}"
            ))),
        };
    }
    // A fragment is never sent by conforming clients; drop it rather than route on it.
    let target = target.split('#').next().unwrap_or(target);
    Ok(match target.split_once('?') {
        Some((path, query)) => (path.to_string(), Some(query.to_string())),
        None => (target.to_string(), None),
    })
}

/// Lowercases names and requires UTF-8 values.
fn convert_headers(
    headers: &[httparse::Header<'_>],
) -> Result<Vec<(String, String)>, ProtocolError> {
    headers
        .iter()
        .map(|h| {
            let value = std::str::from_utf8(h.value).map_err(|_| {
                ProtocolError::BadRequest(format!("header {:?} is not valid UTF-8", h.name))
            })?;
            Ok((h.name.to_ascii_lowercase(), value.trim().to_string()))
        })
        .collect()
}

/// HTTP/1.1 stays open unless `close`; HTTP/1.0 closes unless `keep-alive`.
fn keep_alive(req: &Request, minor_version: u8) -> bool {
    if req.has_token("connection", "close") {
        return false;
    }
    minor_version >= 1 || req.has_token("connection", "keep-alive")
}

/// `Expect: 100-continue` is only meaningful from HTTP/1.1 clients.
fn expects_continue(head: &Head) -> bool {
    head.minor_version >= 1 && head.request.has_token("expect", "100-continue")
}

/// Tells the client to go ahead with its body.
fn send_continue<S: Write + Deadlines>(stream: &mut S, timeout: Duration) -> io::Result<()> {
    stream.set_write_deadline(Instant::now() + timeout);
    stream.write_all(CONTINUE)?;
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// What the scripted stream does on the next read.
    enum Step {
        Data(&'static [u8]),
        WouldBlock,
        TimedOut,
        Eof,
    }

    /// An in-memory stream that replays a script and records what was written.
    struct Script {
        steps: VecDeque<Step>,
        written: Vec<u8>,
        read_deadlines: Vec<Instant>,
    }

    impl Script {
        fn new(steps: Vec<Step>) -> Script {
            Script {
                steps: steps.into(),
                written: Vec::new(),
                read_deadlines: Vec::new(),
            }
        }

        fn bytes(data: &'static [u8]) -> Script {
            Script::new(vec![Step::Data(data)])
        }
    }

    impl Read for Script {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self.steps.pop_front() {
                None | Some(Step::Eof) => Ok(0),
                Some(Step::WouldBlock) => Err(io::ErrorKind::WouldBlock.into()),
                Some(Step::TimedOut) => Err(io::ErrorKind::TimedOut.into()),
                Some(Step::Data(d)) => {
                    let n = d.len().min(buf.len());
                    buf[..n].copy_from_slice(&d[..n]);
                    if n < d.len() {
                        self.steps.push_front(Step::Data(&d[n..]));
                    }
                    Ok(n)
                }
            }
        }
    }

    impl Write for Script {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.written.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Deadlines for Script {
        fn set_read_deadline(&mut self, deadline: Instant) {
            self.read_deadlines.push(deadline);
        }
        fn set_write_deadline(&mut self, _deadline: Instant) {}
    }

    /// Sends one byte every `interval`, honouring the read deadline like a socket would.
    struct Trickle {
        interval: Duration,
        deadline: Option<Instant>,
        data: &'static [u8],
        pos: usize,
    }

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let ready = Instant::now() + self.interval;
            let deadline = self.deadline.unwrap_or(ready);
            if deadline < ready {
                std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
                return Err(io::ErrorKind::WouldBlock.into());
            }
            std::thread::sleep(self.interval);
            buf[0] = self.data[self.pos % self.data.len()];
            self.pos += 1;
            Ok(1)
        }
    }

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Deadlines for Trickle {
        fn set_read_deadline(&mut self, deadline: Instant) {
            self.deadline = Some(deadline);
        }
        fn set_write_deadline(&mut self, _deadline: Instant) {}
    }

    fn limits() -> Limits {
        Limits {
            handshake: Duration::from_secs(5),
            head: Duration::from_secs(5),
            body: Duration::from_secs(5),
            keep_alive_idle: Duration::from_secs(5),
            write: Duration::from_secs(5),
            max_header_bytes: 1024,
            max_headers: 8,
            max_body_bytes: 64,
        }
    }

    fn read_one<S: Read + Write + Deadlines>(
        reader: &mut RequestReader,
        stream: &mut S,
        limits: &Limits,
    ) -> Result<ReadOutcome, ReadError> {
        let stop = AtomicBool::new(false);
        reader.read_request(stream, limits, Duration::from_secs(5), &stop)
    }

    fn expect_request(outcome: Result<ReadOutcome, ReadError>) -> (Request, bool) {
        match outcome {
            Ok(ReadOutcome::Request {
                request,
                keep_alive,
            }) => (request, keep_alive),
            other => panic!("expected a request, got {other:?}"),
        }
    }

    fn expect_protocol(outcome: Result<ReadOutcome, ReadError>) -> ProtocolError {
        match outcome {
            Err(ReadError::Protocol(e)) => e,
            other => panic!("expected a protocol error, got {other:?}"),
        }
    }

    fn parse(bytes: &'static [u8]) -> Result<ReadOutcome, ReadError> {
        read_one(
            &mut RequestReader::new(),
            &mut Script::bytes(bytes),
            &limits(),
        )
    }

    #[test]
    fn parses_a_simple_get() {
        let (req, keep_alive) = expect_request(parse(
            b"GET /api/v1/packages?status=upgradable HTTP/1.1\r\nHost: x\r\nX-Thing:  v  \r\n\r\n",
        ));
        assert_eq!(req.method, "GET");
        assert_eq!(req.path, "/api/v1/packages");
        assert_eq!(req.query.as_deref(), Some("status=upgradable"));
        assert_eq!(req.header("x-thing"), Some("v"));
        assert_eq!(req.headers[0].0, "host");
        assert!(req.body.is_empty());
        assert!(keep_alive);
    }

    #[test]
    fn accepts_the_absolute_form_and_refuses_two_hosts() {
        let (req, _) = expect_request(parse(
            b"GET https://10.0.0.5:12443/api/v1/packages?status=all HTTP/1.1\r\nHost: x\r\n\r\n",
        ));
        assert_eq!(req.path, "/api/v1/packages");
        assert_eq!(req.query.as_deref(), Some("status=all"));
        let err = expect_protocol(parse(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"));
        assert_eq!(err.status(), 400);
    }

    #[test]
    fn accepts_bare_lf_and_leading_blank_lines() {
        let (req, _) = expect_request(parse(b"\r\n\r\nGET /a HTTP/1.1\nHost: x\n\n"));
        assert_eq!(req.path, "/a");
    }

    #[test]
    fn reads_a_content_length_body_split_across_reads() {
        let mut s = Script::new(vec![
            Step::Data(b"POST /x HTTP/1.1\r\nContent-Length: 11\r\n\r\nhello"),
            Step::WouldBlock,
            Step::Data(b" world"),
        ]);
        let (req, _) = expect_request(read_one(&mut RequestReader::new(), &mut s, &limits()));
        assert_eq!(req.body, b"hello world");
    }

    #[test]
    fn keeps_pipelined_requests_for_the_next_read() {
        let mut s = Script::bytes(
            b"POST /one HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /two HTTP/1.1\r\n\r\nGET /three HTTP/1.1\r\nConnection: close\r\n\r\n",
        );
        let mut reader = RequestReader::new();
        let (one, _) = expect_request(read_one(&mut reader, &mut s, &limits()));
        assert_eq!(
            (one.path.as_str(), one.body.as_slice()),
            ("/one", &b"abc"[..])
        );
        let (two, ka2) = expect_request(read_one(&mut reader, &mut s, &limits()));
        assert_eq!(two.path, "/two");
        assert!(ka2);
        let (three, ka3) = expect_request(read_one(&mut reader, &mut s, &limits()));
        assert_eq!(three.path, "/three");
        assert!(!ka3);
        assert!(reader.buffered().is_empty());
        assert!(matches!(
            read_one(&mut reader, &mut s, &limits()),
            Ok(ReadOutcome::Idle(Idle::Eof))
        ));
    }

    #[test]
    fn keep_alive_defaults_by_version() {
        let (_, ka) = expect_request(parse(b"GET / HTTP/1.0\r\n\r\n"));
        assert!(!ka);
        let (_, ka) = expect_request(parse(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
        assert!(ka);
        let (_, ka) = expect_request(parse(b"GET / HTTP/1.1\r\nConnection: foo, close\r\n\r\n"));
        assert!(!ka);
    }

    #[test]
    fn rejects_bad_request_lines_and_versions() {
        for bytes in [
            &b"GET / HTTP/2.0\r\n\r\n"[..],
            b"GET /\r\n\r\n",
            b"GET  HTTP/1.1\r\n\r\n",
            b"G@T / HTTP/1.1\r\n\r\n",
            b"GET http://user@host/ HTTP/1.1\r\n\r\n",
            b"GET * HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n",
            b"GET / HTTP/1.1\r\nNoColon\r\n\r\n",
            b"GET / HTTP/1.1\r\nX: \xff\r\n\r\n",
        ] {
            let mut s = Script::new(vec![Step::Data(bytes)]);
            let err = expect_protocol(read_one(&mut RequestReader::new(), &mut s, &limits()));
            assert_eq!(err.status(), 400, "{:?}", String::from_utf8_lossy(bytes));
        }
    }

    #[test]
    fn enforces_header_byte_limit_with_and_without_end() {
        let mut small = limits();
        small.max_header_bytes = 40;
        let mut s =
            Script::bytes(b"GET / HTTP/1.1\r\nX-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n");
        let err = expect_protocol(read_one(&mut RequestReader::new(), &mut s, &small));
        assert!(matches!(err, ProtocolError::HeaderTooLarge(_)), "{err:?}");
        // A head that never ends is cut off once it passes the limit.
        let mut s =
            Script::bytes(b"GET / HTTP/1.1\r\nX-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
        let err = expect_protocol(read_one(&mut RequestReader::new(), &mut s, &small));
        assert!(matches!(err, ProtocolError::HeaderTooLarge(_)), "{err:?}");
    }

    #[test]
    fn enforces_header_count_limit() {
        let mut few = limits();
        few.max_headers = 2;
        let mut s = Script::bytes(b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n");
        let err = expect_protocol(read_one(&mut RequestReader::new(), &mut s, &few));
        assert_eq!(err.status(), 431);
        let mut s = Script::bytes(b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\n\r\n");
        expect_request(read_one(&mut RequestReader::new(), &mut s, &few));
    }

    #[test]
    fn rejects_oversized_body_before_reading_it() {
        // The script holds no body at all: reading it would end in EOF, not 413.
        let err = expect_protocol(parse(b"POST / HTTP/1.1\r\nContent-Length: 65\r\n\r\n"));
        assert_eq!(err, ProtocolError::BodyTooLarge { limit: 64 });
        let err = expect_protocol(parse(
            b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        ));
        assert_eq!(err.status(), 413);
    }

    #[test]
    fn content_length_must_be_valid_and_consistent() {
        for bytes in [
            &b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"[..],
            b"POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length:\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc",
            b"POST / HTTP/1.1\r\nContent-Length: 2, 3\r\n\r\nabc",
        ] {
            let mut s = Script::new(vec![Step::Data(bytes)]);
            let err = expect_protocol(read_one(&mut RequestReader::new(), &mut s, &limits()));
            assert_eq!(err.status(), 400, "{:?}", String::from_utf8_lossy(bytes));
        }
        let (req, _) = expect_request(parse(
            b"POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab",
        ));
        assert_eq!(req.body, b"ab");
    }

    #[test]
    fn chunked_bodies_need_a_length() {
        let err = expect_protocol(parse(
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        ));
        assert_eq!(err.status(), 411);
        assert!(err.to_string().contains("send Content-Length"), "{err}");
        let err = expect_protocol(parse(
            b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: gzip\r\n\r\nabc",
        ));
        assert_eq!(err.status(), 400, "both framings: refused as smuggling");
    }

    #[test]
    fn sends_100_continue_before_an_acceptable_body() {
        let mut s = Script::new(vec![
            Step::Data(b"PUT /x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"),
            Step::Data(b"data"),
        ]);
        let (req, _) = expect_request(read_one(&mut RequestReader::new(), &mut s, &limits()));
        assert_eq!(req.body, b"data");
        assert_eq!(s.written, CONTINUE);
    }

    #[test]
    fn no_100_continue_for_a_refused_body() {
        let mut s = Script::bytes(
            b"PUT /x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 1000\r\n\r\n",
        );
        let err = expect_protocol(read_one(&mut RequestReader::new(), &mut s, &limits()));
        assert_eq!(err.status(), 413);
        assert!(s.written.is_empty());
    }

    #[test]
    fn retries_after_would_block_and_timed_out_within_the_deadline() {
        let mut s = Script::new(vec![
            Step::WouldBlock,
            Step::Data(b"GET / HT"),
            Step::TimedOut,
            Step::WouldBlock,
            Step::Data(b"TP/1.1\r\n\r\n"),
        ]);
        let (req, _) = expect_request(read_one(&mut RequestReader::new(), &mut s, &limits()));
        assert_eq!(req.path, "/");
        // Every read was preceded by a deadline.
        assert_eq!(s.read_deadlines.len(), 5);
    }

    #[test]
    fn eof_mid_head_is_an_io_error() {
        let mut s = Script::new(vec![Step::Data(b"GET / HTTP/1.1\r\n"), Step::Eof]);
        let outcome = read_one(&mut RequestReader::new(), &mut s, &limits());
        assert!(
            matches!(outcome, Err(ReadError::Io(ref e)) if e.kind() == io::ErrorKind::UnexpectedEof),
            "{outcome:?}"
        );
    }

    #[test]
    fn trickling_client_cannot_extend_the_head_deadline() {
        let mut short = limits();
        short.head = Duration::from_millis(150);
        let mut t = Trickle {
            interval: Duration::from_millis(20),
            deadline: None,
            data: b"GET / HTTP/1.1\r\nX: ",
            pos: 0,
        };
        let started = Instant::now();
        let err = expect_protocol(read_one(&mut RequestReader::new(), &mut t, &short));
        assert_eq!(err.status(), 408);
        let took = started.elapsed();
        assert!(took < Duration::from_millis(600), "took {took:?}");
    }

    #[test]
    fn trickling_body_times_out() {
        let mut short = limits();
        short.body = Duration::from_millis(100);
        let mut reader = RequestReader::new();
        reader.buf = b"POST / HTTP/1.1\r\nContent-Length: 60\r\n\r\n".to_vec();
        let mut t = Trickle {
            interval: Duration::from_millis(20),
            deadline: None,
            data: b"x",
            pos: 0,
        };
        let err = expect_protocol(read_one(&mut reader, &mut t, &short));
        assert_eq!(err.status(), 408);
    }

    #[test]
    fn idle_timeout_closes_without_error() {
        let mut t = Trickle {
            interval: Duration::from_secs(10),
            deadline: None,
            data: b"G",
            pos: 0,
        };
        let stop = AtomicBool::new(false);
        let started = Instant::now();
        let outcome =
            RequestReader::new().read_request(&mut t, &limits(), Duration::from_millis(100), &stop);
        assert!(
            matches!(outcome, Ok(ReadOutcome::Idle(Idle::Timeout))),
            "{outcome:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn idle_wait_observes_stop() {
        let stop = AtomicBool::new(true);
        let mut s = Script::bytes(b"GET / HTTP/1.1\r\n\r\n");
        let outcome =
            RequestReader::new().read_request(&mut s, &limits(), Duration::from_secs(5), &stop);
        assert!(
            matches!(outcome, Ok(ReadOutcome::Idle(Idle::Stopping))),
            "{outcome:?}"
        );
    }

    #[test]
    fn idle_slices_are_bounded() {
        let stop = AtomicBool::new(false);
        let mut s = Script::new(vec![
            Step::WouldBlock,
            Step::Data(b"GET / HTTP/1.1\r\n\r\n"),
        ]);
        let before = Instant::now();
        expect_request(RequestReader::new().read_request(
            &mut s,
            &limits(),
            Duration::from_secs(60),
            &stop,
        ));
        assert!(s.read_deadlines[0] <= before + IDLE_SLICE + Duration::from_millis(100));
    }
}
