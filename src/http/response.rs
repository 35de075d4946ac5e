//! HTTP/1.1 responses and their serialization.

use std::io::{self, Write};
use std::time::{Duration, Instant};

use time::macros::format_description;
use time::OffsetDateTime;

use super::request::Deadlines;

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
            headers: vec![("Content-Type".into(), "application/json".into())],
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
    name_ok && value_ok && !FRAMING_HEADERS.contains(&name.to_ascii_lowercase().as_str())
}

/// Serializes the status line and headers (with the blank line) for `resp`.
///
/// `keep_alive` is the final decision for the connection; `Content-Length` always states the
/// body length, even when the body itself is omitted (a HEAD request).
pub fn serialize_head(resp: &Response, keep_alive: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    let reason = reason_phrase(resp.status);
    out.extend_from_slice(format!("HTTP/1.1 {} {reason}\r\n", resp.status).as_bytes());
    let mut has_date = false;
    let mut has_cache_control = false;
    for (name, value) in &resp.headers {
        if !writable_header(name, value) {
            log::debug!("dropping response header {name:?}");
            continue;
        }
        has_date |= name.eq_ignore_ascii_case("date");
        has_cache_control |= name.eq_ignore_ascii_case("cache-control");
        push_header(&mut out, name, value);
    }
    if !has_date {
        push_header(&mut out, "Date", &http_date(OffsetDateTime::now_utc()));
    }
    if !has_cache_control {
        push_header(&mut out, "Cache-Control", "no-store");
    }
    if !bodyless(resp.status) {
        push_header(&mut out, "Content-Length", &resp.body.len().to_string());
    }
    let connection = if keep_alive { "keep-alive" } else { "close" };
    push_header(&mut out, "Connection", connection);
    out.extend_from_slice(b"\r\n");
    out
}

fn push_header(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// The full response bytes; the body is left out for HEAD requests and bodyless statuses.
pub fn serialize(resp: &Response, keep_alive: bool, head_request: bool) -> Vec<u8> {
    let mut out = serialize_head(resp, keep_alive);
    if !head_request && !bodyless(resp.status) {
        out.extend_from_slice(&resp.body);
    }
    out
}

/// Writes and flushes a response, all of it within `timeout`.
pub fn write_response<S: Write + Deadlines>(
    stream: &mut S,
    resp: &Response,
    keep_alive: bool,
    head_request: bool,
    timeout: Duration,
) -> io::Result<()> {
    let deadline = Instant::now() + timeout;
    // Writing through TLS may also read (e.g. to finish pending I/O): bound that too.
    stream.set_read_deadline(deadline);
    stream.set_write_deadline(deadline);
    stream.write_all(&serialize(resp, keep_alive, head_request))?;
    stream.flush()
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
            .with_header("X-Evil", "a\r\nSet-Cookie: b")
            .with_header("Bad Name", "v");
        let out = text(&serialize(&resp, true, false));
        assert!(!out.contains("999"), "{out}");
        assert!(!out.contains("upgrade"), "{out}");
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
        write_response(&mut sink, &resp, false, false, Duration::from_secs(3)).unwrap();
        let deadline = sink.write_deadline.unwrap();
        assert!(deadline >= before + Duration::from_secs(3));
        assert!(deadline <= Instant::now() + Duration::from_secs(3));
        assert_eq!(sink.read_deadline, Some(deadline));
        assert!(text(&sink.out).ends_with("\r\n\r\nhello"));
    }
}
