//! HTTP/1.1 responses and their serialization.

use std::io::{self, Write};
use std::time::{Duration, Instant};

use time::macros::format_description;
use time::OffsetDateTime;

use super::request::Deadlines;
use crate::timefmt::SecondCache;

/// One HTTP response to be written by the connection loop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// Status code, e.g. 200.
    pub status: u16,
    /// Extra headers; `Content-Length` and `Connection` are added by the writer.
    pub headers: Vec<(String, String)>,
    /// The body bytes.
    pub body: Vec<u8>,
    /// Close the connection after this response.
    pub close: bool,
}

impl Response {
    /// A JSON response with the given status.
    pub fn json(status: u16, body: Vec<u8>) -> Response {
        Response {
            status,
            headers: json_headers(),
            body,
            close: false,
        }
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

/// A JSON answer's headers, with room for the request id beside them without growing.
fn json_headers() -> Vec<(String, String)> {
    let mut headers = Vec::with_capacity(2);
    headers.push(("Content-Type".into(), "application/json".into()));
    headers
}

/// Headers the writer owns; copies set by the application are dropped.
const FRAMING_HEADERS: [&str; 3] = ["content-length", "connection", "transfer-encoding"];

/// The standard reason phrase for a status code (empty when unknown, which HTTP allows).
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        417 => "Expectation Failed",
        422 => "Unprocessable Content",
        423 => "Locked",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        507 => "Insufficient Storage",
        _ => "",
    }
}

/// Whether a status forbids a body (and with it Content-Length).
fn bodyless(status: u16) -> bool {
    (100..200).contains(&status) || status == 204 || status == 304
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the `Date` header format.
pub fn http_date(t: OffsetDateTime) -> String {
    let fmt = format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    t.to_offset(time::UtcOffset::UTC)
        .format(fmt)
        .unwrap_or_default()
}

/// A header the application set that can be written safely.
fn writable_header(name: &str, value: &str) -> bool {
    let name_ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    // CR or LF in a value would let it forge headers or a second response.
    let value_ok = !value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0);
    name_ok
        && value_ok
        && !FRAMING_HEADERS
            .iter()
            .any(|framing| name.eq_ignore_ascii_case(framing))
}

/// Appends the `Date` header for now, its value formatted at most once a second per thread.
fn push_date(out: &mut Vec<u8>) {
    thread_local! {
        static DATE: SecondCache = const { SecondCache::new() };
    }
    DATE.with(|cache| cache.with(http_date, |date| push_header(out, "Date", date)));
}

/// Serializes the status line and headers (with the blank line) for `resp`.
///
/// `keep_alive` is the final decision for the connection; `Content-Length` always states the
/// body length, even when the body itself is omitted (a HEAD request).
pub fn serialize_head(resp: &Response, keep_alive: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    head_into(&mut out, resp, keep_alive);
    out
}

/// Appends the head of `resp` to `out`.
fn head_into(out: &mut Vec<u8>, resp: &Response, keep_alive: bool) {
    let reason = reason_phrase(resp.status);
    out.extend_from_slice(b"HTTP/1.1 ");
    push_decimal(out, resp.status.into());
    out.push(b' ');
    out.extend_from_slice(reason.as_bytes());
    out.extend_from_slice(b"\r\n");
    let mut has_date = false;
    let mut has_cache_control = false;
    for (name, value) in &resp.headers {
        if !writable_header(name, value) {
            log::debug!("dropping response header {name:?}");
            continue;
        }
        has_date |= name.eq_ignore_ascii_case("date");
        has_cache_control |= name.eq_ignore_ascii_case("cache-control");
        push_header(out, name, value);
    }
    if !has_date {
        push_date(out);
    }
    if !has_cache_control {
        push_header(out, "Cache-Control", "no-store");
    }
    if !bodyless(resp.status) {
        out.extend_from_slice(b"Content-Length: ");
        push_decimal(out, resp.body.len());
        out.extend_from_slice(b"\r\n");
    }
    let connection = if keep_alive { "keep-alive" } else { "close" };
    push_header(out, "Connection", connection);
    out.extend_from_slice(b"\r\n");
}

/// Appends `n` in decimal without a temporary string.
fn push_decimal(out: &mut Vec<u8>, mut n: usize) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        // `n % 10` is below 10, so the cast cannot truncate.
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

fn push_header(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Appends the full response bytes to `out`; the body is left out for HEAD requests and
/// bodyless statuses.
pub fn serialize_into(out: &mut Vec<u8>, resp: &Response, keep_alive: bool, head_request: bool) {
    head_into(out, resp, keep_alive);
    if !head_request && !bodyless(resp.status) {
        out.extend_from_slice(&resp.body);
    }
}

/// The full response bytes; the body is left out for HEAD requests and bodyless statuses.
pub fn serialize(resp: &Response, keep_alive: bool, head_request: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + resp.body.len());
    serialize_into(&mut out, resp, keep_alive, head_request);
    out
}

/// A connection's output buffer, reused from one response to the next.
#[derive(Debug, Default)]
pub struct OutBuf {
    bytes: Vec<u8>,
}

/// An output buffer grown beyond this by a large answer is given back after it.
const OUT_BUF_KEEP: usize = 64 * 1024;

impl OutBuf {
    /// An empty buffer (allocated on first use).
    pub fn new() -> OutBuf {
        OutBuf::default()
    }
}

/// Writes and flushes a response, head and body built into one buffer and handed to the
/// stream in one write (one TLS flight, one system call when it fits the socket buffer),
/// all of it within `timeout`; counted by status class (`counters.rs`) as it is written.
pub fn write_response<S: Write + Deadlines>(
    stream: &mut S,
    out: &mut OutBuf,
    resp: &Response,
    keep_alive: bool,
    head_request: bool,
    timeout: Duration,
) -> io::Result<()> {
    super::counters::count(resp.status);
    let deadline = Instant::now() + timeout;
    // Writing through TLS may also read (e.g. to finish pending I/O): bound that too.
    stream.set_read_deadline(deadline);
    stream.set_write_deadline(deadline);
    out.bytes.clear();
    serialize_into(&mut out.bytes, resp, keep_alive, head_request);
    let result = stream.write_all(&out.bytes).and_then(|()| stream.flush());
    if out.bytes.capacity() > OUT_BUF_KEEP {
        out.bytes = Vec::new();
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(bytes: &[u8]) -> String {
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[test]
    fn serializes_status_headers_and_body() {
        let resp = Response::json(200, b"{\"a\":1}".to_vec()).with_header("X-Request-Id", "abc");
        let out = text(&serialize(&resp, true, false));
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
        assert!(
            out.contains("\r\nContent-Type: application/json\r\n"),
            "{out}"
        );
        assert!(out.contains("\r\nX-Request-Id: abc\r\n"), "{out}");
        assert!(out.contains("\r\nCache-Control: no-store\r\n"), "{out}");
        assert!(out.contains("\r\nContent-Length: 7\r\n"), "{out}");
        assert!(out.contains("\r\nConnection: keep-alive\r\n"), "{out}");
        assert!(out.contains("\r\nDate: "), "{out}");
        assert!(out.ends_with("\r\n\r\n{\"a\":1}"), "{out}");
    }

    #[test]
    fn close_and_reason_phrases() {
        let resp = Response::json(413, Vec::new());
        let out = text(&serialize(&resp, false, false));
        assert!(
            out.starts_with("HTTP/1.1 413 Content Too Large\r\n"),
            "{out}"
        );
        assert!(out.contains("\r\nConnection: close\r\n"), "{out}");
        assert!(out.contains("\r\nContent-Length: 0\r\n"), "{out}");
        assert_eq!(reason_phrase(429), "Too Many Requests");
        let odd = text(&serialize(&Response::json(299, Vec::new()), true, false));
        assert!(odd.starts_with("HTTP/1.1 299 \r\n"), "{odd}");
    }

    #[test]
    fn framing_and_unsafe_headers_are_dropped() {
        let resp = Response::json(200, b"xy".to_vec())
            .with_header("Content-Length", "999")
            .with_header("connection", "upgrade")
            .with_header("TRANSFER-Encoding", "chunked")
            .with_header("X-Evil", "a\r\nSet-Cookie: b")
            .with_header("Bad Name", "v");
        let out = text(&serialize(&resp, true, false));
        assert!(!out.contains("999"), "{out}");
        assert!(!out.contains("upgrade"), "{out}");
        assert!(!out.contains("chunked"), "{out}");
        assert!(!out.contains("Evil"), "{out}");
        assert!(!out.contains("Bad Name"), "{out}");
        assert_eq!(out.matches("Content-Length").count(), 1, "{out}");
    }

    #[test]
    fn app_cache_control_wins() {
        let resp = Response::json(200, Vec::new()).with_header("Cache-Control", "max-age=5");
        let out = text(&serialize(&resp, true, false));
        assert!(out.contains("Cache-Control: max-age=5"), "{out}");
        assert!(!out.contains("no-store"), "{out}");
    }

    #[test]
    fn head_requests_and_204_carry_no_body() {
        let resp = Response::json(200, b"body".to_vec());
        let out = text(&serialize(&resp, true, true));
        assert!(out.contains("Content-Length: 4\r\n"), "{out}");
        assert!(out.ends_with("\r\n\r\n"), "{out}");
        let empty = Response::json(204, b"ignored".to_vec());
        let out = text(&serialize(&empty, true, false));
        assert!(!out.contains("Content-Length"), "{out}");
        assert!(out.ends_with("\r\n\r\n"), "{out}");
    }

    #[test]
    fn http_date_format() {
        let t = OffsetDateTime::from_unix_timestamp(784111777).unwrap();
        assert_eq!(http_date(t), "Sun, 06 Nov 1994 08:49:37 GMT");
    }

    struct Sink {
        out: Vec<u8>,
        write_deadline: Option<Instant>,
        read_deadline: Option<Instant>,
    }

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            // Accept a few bytes at a time to exercise write_all's loop.
            let n = buf.len().min(5);
            self.out.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Deadlines for Sink {
        fn set_read_deadline(&mut self, deadline: Instant) {
            self.read_deadline = Some(deadline);
        }
        fn set_write_deadline(&mut self, deadline: Instant) {
            self.write_deadline = Some(deadline);
        }
    }

    #[test]
    fn write_response_sets_deadlines_and_writes_everything() {
        let mut sink = Sink {
            out: Vec::new(),
            write_deadline: None,
            read_deadline: None,
        };
        let resp = Response::json(200, b"hello".to_vec());
        let before = Instant::now();
        let mut out = OutBuf::new();
        write_response(
            &mut sink,
            &mut out,
            &resp,
            false,
            false,
            Duration::from_secs(3),
        )
        .unwrap();
        let deadline = sink.write_deadline.unwrap();
        assert!(deadline >= before + Duration::from_secs(3));
        assert!(deadline <= Instant::now() + Duration::from_secs(3));
        assert_eq!(sink.read_deadline, Some(deadline));
        assert!(text(&sink.out).ends_with("\r\n\r\nhello"));
    }
}
