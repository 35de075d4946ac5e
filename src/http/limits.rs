//! The per-connection deadlines and size limits: read by the server that is configured with
//! them and by the connection, request and framing code that applies them, so it sits below
//! all of them rather than in `server` (which would make `conn` and `server` import each other).

use std::time::Duration;

/// Deadlines and size limits applied to every connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Whole TLS handshake.
    pub handshake: Duration,
    /// Request line + headers, from the first byte of a request.
    pub head: Duration,
    /// The whole body.
    pub body: Duration,
    /// Waiting for the next request on a kept-alive connection.
    pub keep_alive_idle: Duration,
    /// Writing one response.
    pub write: Duration,
    /// Request line + headers in bytes.
    pub max_header_bytes: usize,
    /// Number of headers.
    pub max_headers: usize,
    /// Body bytes.
    pub max_body_bytes: usize,
}
