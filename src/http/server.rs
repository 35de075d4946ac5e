//! The accept loop (whitelist check before any TLS byte) and the connection thread pool.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::tls::TlsState;
use super::whitelist::Whitelist;
use super::Service;

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

/// How the server listens and serves.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// Address to bind (port 0 picks a free one).
    pub bind: SocketAddr,
    /// Most connection-serving threads at once (started lazily, idle ones exit).
    pub workers: usize,
    /// Most accepted connections, serving plus waiting for a thread; beyond it new ones are closed.
    pub max_connections: usize,
    /// Per-connection deadlines and limits.
    pub limits: Limits,
    /// On shutdown, how long in-flight requests may take before the server returns anyway.
    pub shutdown_grace: Duration,
    /// The one method + path an unauthenticated connection may request (`GET /health`).
    pub unauthenticated_path: String,
}

/// A bound, not yet running server.
pub struct Server {
    _private: (),
}

/// Stops a running server from another thread (signal handler, test).
#[derive(Clone)]
pub struct ShutdownHandle {
    _private: (),
}

impl ShutdownHandle {
    /// Stops accepting; in-flight requests finish within the grace period.
    pub fn shutdown(&self) {
        todo!()
    }
}

impl Server {
    /// Binds the listener.
    pub fn bind(
        opts: ServerOptions,
        tls: Arc<TlsState>,
        whitelist: Arc<Whitelist>,
        service: Arc<dyn Service>,
    ) -> std::io::Result<Server> {
        let _ = (opts, tls, whitelist, service);
        todo!()
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        todo!()
    }

    /// A handle that stops this server.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        todo!()
    }

    /// Serves until shut down, then waits for in-flight requests up to the grace period.
    pub fn run(self) -> std::io::Result<()> {
        todo!()
    }
}
