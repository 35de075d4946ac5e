//! HTTP/1.1 request head and body parsing with limits (httparse).

/// One parsed HTTP/1.1 request.
#[derive(Clone, Debug, Default)]
pub struct Request {
    /// Method as sent, e.g. `GET`.
    pub method: String,
    /// Raw path part of the request-target (before `?`), still percent-encoded.
    pub path: String,
    /// Raw query string (after `?`), if any, still percent-encoded.
    pub query: Option<String>,
    /// Header names lowercased, values as sent (trimmed).
    pub headers: Vec<(String, String)>,
    /// The body (Content-Length delimited); empty when none was sent.
    pub body: Vec<u8>,
}

impl Request {
    /// First value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A failure to read a well-formed request within the limits and deadlines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProtocolError {
    /// Malformed request line, header or framing (400).
    BadRequest(String),
    /// The head exceeded `limits.max_header_bytes` or `limits.max_headers` (431).
    HeaderTooLarge(String),
    /// The body exceeded `limits.max_body_bytes` (413).
    BodyTooLarge { limit: usize },
    /// A body was sent without Content-Length, e.g. chunked (411).
    LengthRequired(String),
    /// The head or body did not arrive within its deadline (408).
    Timeout(String),
}

impl ProtocolError {
    /// The HTTP status this failure is answered with.
    pub fn status(&self) -> u16 {
        match self {
            ProtocolError::BadRequest(_) => 400,
            ProtocolError::HeaderTooLarge(_) => 431,
            ProtocolError::BodyTooLarge { .. } => 413,
            ProtocolError::LengthRequired(_) => 411,
            ProtocolError::Timeout(_) => 408,
        }
    }
}
