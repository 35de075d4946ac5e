//! The connection to the manager: TCP made here (so its peer address is known and is what
//! the whitelist names), then TLS with the client's own rustls configuration.
//!
//! ureq's own TCP connector hides the socket; connecting here lets the enrollment whitelist
//! the address the approved bundle actually came from rather than a second, separate name
//! lookup (a name with several addresses, or a changing one, could differ).

use std::fmt;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, LazyBuffers, NextTimeout, Transport,
};

/// The peer address of the last connection made, shared with the client.
#[derive(Clone, Debug, Default)]
pub struct PeerRecord(Arc<Mutex<Option<SocketAddr>>>);

impl PeerRecord {
    /// The last peer recorded.
    pub fn get(&self) -> Option<SocketAddr> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set(&self, addr: SocketAddr) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(addr);
    }
}

/// Connects TCP to the resolved addresses in turn and wraps the first that answers in TLS.
#[derive(Debug)]
pub struct ManagerTls {
    /// The client configuration (trust as `ManagerTrust` says).
    pub config: Arc<ClientConfig>,
    /// Where the connected peer's address is recorded.
    pub peer: PeerRecord,
}

impl<In: Transport> Connector<In> for ManagerTls {
    type Out = Box<dyn Transport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        if let Some(transport) = chained {
            return Ok(Some(Box::new(transport)));
        }
        if !details.needs_tls() {
            return Err(ureq::Error::RequireHttpsOnly("https only".into()));
        }
        let host = details
            .uri
            .host()
            .ok_or(ureq::Error::Tls("the URL has no host"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let name = ServerName::try_from(host.to_string())
            .map_err(|_| ureq::Error::Tls("the manager's host is not a valid TLS server name"))?;
        let budget = details.timeout.not_zero().map(|t| *t);
        let tcp = connect_first(&details.addrs, budget)?;
        let peer = tcp.peer_addr()?;
        tcp.set_read_timeout(budget)?;
        tcp.set_write_timeout(budget)?;
        let mut conn = ClientConnection::new(Arc::clone(&self.config), name)?;
        let mut sock = tcp;
        conn.complete_io(&mut sock).map_err(handshake_error)?;
        // Recorded only once the manager proved itself as far as the trust settings ask.
        self.peer
            .set(SocketAddr::new(peer.ip().to_canonical(), peer.port()));
        let buffers = LazyBuffers::new(
            details.config.input_buffer_size(),
            details.config.output_buffer_size(),
        );
        Ok(Some(Box::new(TlsTransport {
            buffers,
            stream: StreamOwned { conn, sock },
        })))
    }
}

/// The first address that accepts, each tried within an equal share of the budget.
fn connect_first(addrs: &[SocketAddr], budget: Option<Duration>) -> Result<TcpStream, ureq::Error> {
    let count = u32::try_from(addrs.len().max(1)).unwrap_or(u32::MAX);
    let share = budget.map(|b| (b / count).max(Duration::from_millis(100)));
    let mut last = None;
    for addr in addrs {
        let attempt = match share {
            Some(t) => TcpStream::connect_timeout(addr, t),
            None => TcpStream::connect(addr),
        };
        match attempt {
            Ok(tcp) => return Ok(tcp),
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(e) => ureq::Error::Io(e),
        None => ureq::Error::HostNotFound,
    })
}

/// Keeps rustls's own error (a refused certificate) visible to the client's error mapping.
fn handshake_error(e: std::io::Error) -> ureq::Error {
    if e.get_ref().is_some_and(|i| i.is::<rustls::Error>()) {
        if let Some(inner) = e.into_inner() {
            if let Ok(tls) = inner.downcast::<rustls::Error>() {
                return ureq::Error::Rustls(*tls);
            }
        }
        return ureq::Error::Tls("TLS handshake failed");
    }
    ureq::Error::from(e)
}

/// An established TLS connection to the manager.
struct TlsTransport {
    buffers: LazyBuffers,
    stream: StreamOwned<ClientConnection, TcpStream>,
}

impl fmt::Debug for TlsTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsTransport").finish()
    }
}

/// An I/O error, a timeout when the socket's deadline passed.
fn io_error(e: std::io::Error, timeout: &NextTimeout) -> ureq::Error {
    match e.kind() {
        ErrorKind::TimedOut | ErrorKind::WouldBlock => ureq::Error::Timeout(timeout.reason),
        _ => ureq::Error::Io(e),
    }
}

impl Transport for TlsTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        let timeout = timeout.for_write();
        self.stream
            .sock
            .set_write_timeout(timeout.not_zero().map(|t| *t))?;
        let output = &self.buffers.output()[..amount];
        self.stream
            .write_all(output)
            .map_err(|e| io_error(e, &timeout))
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        let timeout = timeout.for_read();
        self.stream
            .sock
            .set_read_timeout(timeout.not_zero().map(|t| *t))?;
        let input = self.buffers.input_append_buf();
        let amount = self.stream.read(input).map_err(|e| io_error(e, &timeout))?;
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    /// Open when nothing is waiting on the socket: a pooled connection the manager closed
    /// (or sent anything unasked on) is not reused.
    fn is_open(&mut self) -> bool {
        let sock = &self.stream.sock;
        if sock.set_nonblocking(true).is_err() {
            return false;
        }
        let mut byte = [0u8; 1];
        let open = matches!(sock.peek(&mut byte), Err(e) if e.kind() == ErrorKind::WouldBlock);
        sock.set_nonblocking(false).is_ok() && open
    }

    fn is_tls(&self) -> bool {
        true
    }
}
