//! What a request is and how reading one fails: the parsed message and [`ProtocolError`].
//!
//! Separate from the reader (request.rs) so that framing rules (framing.rs), which the reader
//! applies, can name both without importing the reader back.

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

    /// All values of a header, by case-insensitive name, in the order sent.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether a comma-separated header (e.g. `Connection`) carries a token, case-insensitively.
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.header_values(name)
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }
}

/// A failure to read a well-formed request within the limits and deadlines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProtocolError {
    /// Malformed request line, header or framing (400).
    BadRequest(String),
    /// The head exceeded `limits.max_header_bytes` or `limits.max_headers` (431).
    HeaderTooLarge(String),
    /// The request line alone exceeded `limits.max_header_bytes` (414).
    UriTooLong(String),
    /// The body exceeded `limits.max_body_bytes` (413).
    BodyTooLarge { limit: usize },
    /// A body was sent without Content-Length, e.g. chunked (411).
    LengthRequired(String),
    /// The head or body did not arrive within its deadline (408).
    Timeout(String),
    /// The service failed on a request (it panicked): answered 500.
    Internal(String),
}

impl ProtocolError {
    /// The HTTP status this failure is answered with.
    pub fn status(&self) -> u16 {
        match self {
            ProtocolError::BadRequest(_) => 400,
            ProtocolError::HeaderTooLarge(_) => 431,
            ProtocolError::UriTooLong(_) => 414,
            ProtocolError::BodyTooLarge { .. } => 413,
            ProtocolError::LengthRequired(_) => 411,
            ProtocolError::Timeout(_) => 408,
            ProtocolError::Internal(_) => 500,
        }
    }
}

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProtocolError::BadRequest(m) => write!(f, "bad request: {m}"),
            ProtocolError::HeaderTooLarge(m) => write!(f, "request head too large: {m}"),
            ProtocolError::UriTooLong(m) => write!(f, "request-target too long: {m}"),
            ProtocolError::BodyTooLarge { limit } => {
                write!(f, "request body larger than {limit} bytes")
            }
            ProtocolError::LengthRequired(m) => write!(f, "length required: {m}"),
            ProtocolError::Timeout(m) => write!(f, "request timeout: {m}"),
            ProtocolError::Internal(m) => write!(f, "internal error: {m}"),
        }
    }
}

impl std::error::Error for ProtocolError {}
