//! Message framing of a request (RFC 9112 6): how long its body is, and which status a head
//! that outgrows its limit is refused with.
//!
//! Framing is where request smuggling lives: two parties that disagree on where a body ends
//! disagree on where the next request starts. Everything ambiguous is refused, and the
//! connection is closed after the answer (every [`ProtocolError`] closes it).

use super::limits::Limits;
use super::message::{ProtocolError, Request};

/// The body length the head declares, checked against the limits.
///
/// `Transfer-Encoding` together with `Content-Length` is refused as malformed (400): it is
/// the classic smuggling signature, and RFC 9112 6.1 lets a server reject it. Alone it is
/// 411: chunked bodies are not supported, the client should send `Content-Length`.
pub fn body_length(req: &Request, limits: &Limits) -> Result<usize, ProtocolError> {
    let has_length = req.header("content-length").is_some();
    if req.header("transfer-encoding").is_some() {
        if has_length {
            return Err(ProtocolError::BadRequest(
                "both Transfer-Encoding and Content-Length given; send only Content-Length".into(),
            ));
        }
        return Err(ProtocolError::LengthRequired(
            "chunked request bodies are not supported; send Content-Length".into(),
        ));
    }
    let Some(len) = content_length(req)? else {
        return Ok(0);
    };
    match usize::try_from(len) {
        Ok(len) if len <= limits.max_body_bytes => Ok(len),
        _ => Err(ProtocolError::BodyTooLarge {
            limit: limits.max_body_bytes,
        }),
    }
}

/// The Content-Length value; repeated values must agree.
fn content_length(req: &Request) -> Result<Option<u64>, ProtocolError> {
    let mut found: Option<u64> = None;
    for value in req
        .header_values("content-length")
        .flat_map(|v| v.split(','))
    {
        let len = parse_length(value.trim())?;
        if found.is_some_and(|f| f != len) {
            return Err(ProtocolError::BadRequest(
                "conflicting Content-Length values".into(),
            ));
        }
        found = Some(len);
    }
    Ok(found)
}

/// Parses a Content-Length value: digits only.
fn parse_length(value: &str) -> Result<u64, ProtocolError> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ProtocolError::BadRequest(format!(
            "invalid Content-Length {value:?}"
        )));
    }
    // All digits: the only possible failure is overflow, i.e. a body no limit allows.
    Ok(value.parse::<u64>().unwrap_or(u64::MAX))
}

/// Refuses a request with more than one `Host` (RFC 9112 3.2: 400): parties that pick
/// different ones disagree on where the request goes. A missing `Host` is tolerated: the
/// agent serves one origin whatever name it is reached by, and simple monitors omit it.
pub fn single_host(req: &Request) -> Result<(), ProtocolError> {
    if req.header_values("host").nth(1).is_some() {
        return Err(ProtocolError::BadRequest(
            "more than one Host header".into(),
        ));
    }
    Ok(())
}

/// The refusal for a head that passed `limits.max_header_bytes`, given its buffered start.
///
/// When the request line alone does not fit (no line end within the limit after a method
/// and a space), the request-target is what is too long: 414 (RFC 9110 15.5.15), so the
/// client learns to shorten its URI rather than its headers. Otherwise 431.
pub fn oversized_head(buf: &[u8], limits: &Limits) -> ProtocolError {
    let limit = limits.max_header_bytes;
    let start = buf.iter().position(|b| !matches!(b, b'\r' | b'\n'));
    let line = start.map_or(&buf[..0], |s| &buf[s..]);
    let line_fits = line.iter().take(limit).any(|b| *b == b'\n');
    let method_len = line
        .iter()
        .position(|b| *b == b' ')
        .filter(|&n| n > 0 && line[..n].iter().all(u8::is_ascii_alphabetic));
    match method_len {
        Some(_) if !line_fits => {
            ProtocolError::UriTooLong(format!("request line exceeds {limit} bytes"))
        }
        _ => {
            ProtocolError::HeaderTooLarge(format!("request line and headers exceed {limit} bytes"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn limits() -> Limits {
        Limits {
            handshake: Duration::from_secs(5),
            head: Duration::from_secs(5),
            body: Duration::from_secs(5),
            keep_alive_idle: Duration::from_secs(5),
            write: Duration::from_secs(5),
            max_header_bytes: 32,
            max_headers: 8,
            max_body_bytes: 64,
        }
    }

    fn with(headers: &[(&str, &str)]) -> Request {
        Request {
            method: "POST".into(),
            path: "/".into(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Request::default()
        }
    }

    #[test]
    fn both_lengths_are_a_bad_request_and_te_alone_needs_a_length() {
        for headers in [
            [("content-length", "5"), ("transfer-encoding", "chunked")],
            [("transfer-encoding", "identity"), ("content-length", "0")],
        ] {
            let err = body_length(&with(&headers), &limits()).unwrap_err();
            assert_eq!(err.status(), 400, "{err}");
            assert!(err.to_string().contains("both"), "{err}");
        }
        let err = body_length(
            &with(&[("transfer-encoding", "chunked, identity")]),
            &limits(),
        )
        .unwrap_err();
        assert_eq!(err.status(), 411);
    }

    #[test]
    fn lengths_are_digits_that_agree_and_fit() {
        assert_eq!(body_length(&with(&[]), &limits()), Ok(0));
        let same = with(&[("content-length", "7"), ("content-length", "7, 7")]);
        assert_eq!(body_length(&same, &limits()), Ok(7));
        for bad in ["+5", "0x5", "5 5", "-0", ""] {
            let err = body_length(&with(&[("content-length", bad)]), &limits()).unwrap_err();
            assert_eq!(err.status(), 400, "{bad:?}");
        }
        let err = body_length(&with(&[("content-length", "65")]), &limits()).unwrap_err();
        assert_eq!(err, ProtocolError::BodyTooLarge { limit: 64 });
        let huge = with(&[("content-length", "99999999999999999999999")]);
        assert_eq!(body_length(&huge, &limits()).unwrap_err().status(), 413);
    }

    #[test]
    fn an_overlong_request_line_is_414_and_long_headers_431() {
        let l = limits();
        let long_uri = format!("GET /{} HTTP/1.1\r\n", "a".repeat(40));
        assert_eq!(oversized_head(long_uri.as_bytes(), &l).status(), 414);
        assert_eq!(
            oversized_head(format!("\r\n{long_uri}").as_bytes(), &l).status(),
            414
        );
        let long_header = format!("GET / HTTP/1.1\r\nX: {}\r\n", "a".repeat(40));
        assert_eq!(oversized_head(long_header.as_bytes(), &l).status(), 431);
        // Junk without a request line is not blamed on a URI.
        assert_eq!(oversized_head(&[b'x'; 64], &l).status(), 431);
        assert_eq!(oversized_head(&[0u8; 64], &l).status(), 431);
    }
}
