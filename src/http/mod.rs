//! The protocol layer: accept, IP whitelist, TLS, HTTP/1.1 keep-alive, rate limiting.
//!
//! It knows nothing of packages; the application plugs in through [`Service`].

pub mod conn;
pub mod counters;
pub mod framing;
pub mod handshake;
pub mod limits;
pub mod message;
pub mod ratelimit;
pub mod request;
pub mod response;
pub mod server;
pub mod sources;
pub mod stream;
pub mod tls;
pub mod trust;
pub mod uri;
pub mod whitelist;
pub mod ws;

use std::net::SocketAddr;
use std::sync::Arc;

pub use message::{ProtocolError, Request};
pub use response::Response;

/// The client certificate's identity, as verified by the TLS handshake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientIdentity {
    /// Subject distinguished name, rendered like `CN=patch-manager-client,O=Example`.
    pub subject: String,
    /// SHA-256 of the certificate's DER, lowercase hex without separators.
    pub fingerprint_sha256: String,
}

/// Who is on the other end of a connection.
#[derive(Clone, Debug)]
pub struct Peer {
    /// The TCP peer address.
    pub addr: SocketAddr,
    /// The verified client certificate; `None` on a health-only unauthenticated connection.
    pub client: Option<ClientIdentity>,
}

/// What the protocol layer asks of the application.
pub trait Service: Send + Sync + 'static {
    /// Answers one parsed request.
    fn handle(&self, req: &Request, peer: &Peer) -> Response;
    /// Renders a protocol-level failure (bad request line, oversized body, timeout, ...).
    fn protocol_error(&self, err: &ProtocolError) -> Response;
    /// Offers a WebSocket upgrade for a request carrying `Upgrade: websocket`.
    ///
    /// `None`: not an upgrade route, serve it with [`Service::handle`]. `Some(Err)`: refuse
    /// with that response (rate limit, too many sessions, ...). `Some(Ok)`: accept; the
    /// protocol layer then validates the handshake, answers 101 and runs the session on a
    /// thread of its own. A slot for the session must be reserved from `sessions`.
    fn upgrade(
        &self,
        _req: &Request,
        _peer: &Peer,
        _sessions: &Arc<ws::Sessions>,
    ) -> Option<Result<ws::Upgrade, Response>> {
        None
    }

    /// Told of a request left unanswered because a reload revoked its connection (address
    /// left the whitelist, certificate refused by the new CA/CRL); `why` says which.
    fn refused_live(&self, _req: &Request, _peer: &Peer, _why: &str) {}
}
