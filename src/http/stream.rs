//! The connection's byte streams: a TCP stream bounded by deadlines, the TLS stream over it,
//! the lingering close and the reset close. Used by the keep-alive loop (`conn`), WebSocket
//! sessions (`ws`) and the handshake stage alike, so it sits below all of them rather than in
//! `conn` (which imports `ws`) or `server` (which imports `handshake`).

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use rustls::{ServerConnection, StreamOwned};

use super::request::Deadlines;

/// After a final response, how long the peer may keep sending before the socket is closed.
///
/// Closing a socket with unread input makes the kernel send a reset, which can destroy the
/// response in flight (e.g. a 413 while the client is still uploading); draining briefly lets
/// the client read it first.
const LINGER: Duration = Duration::from_secs(1);

/// Most bytes discarded while lingering.
const LINGER_BYTES: usize = 256 * 1024;

/// A TCP stream whose every read and write system call is bounded by the current deadline.
///
/// The socket timeout is set to the time remaining before the deadline ahead of each call,
/// so a peer that trickles bytes cannot push the deadline out.
#[derive(Debug)]
pub struct DeadlineStream {
    tcp: TcpStream,
    read_deadline: Instant,
    write_deadline: Instant,
}

impl DeadlineStream {
    /// Wraps a socket; both deadlines start at `deadline`.
    pub fn new(tcp: TcpStream, deadline: Instant) -> DeadlineStream {
        DeadlineStream {
            tcp,
            read_deadline: deadline,
            write_deadline: deadline,
        }
    }

    /// The underlying socket.
    pub fn tcp(&self) -> &TcpStream {
        &self.tcp
    }
}

/// Time left before `deadline`, or a `TimedOut` error once it has passed.
fn remaining(deadline: Instant) -> io::Result<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    // A zero socket timeout would mean "block forever" (std refuses it anyway).
    if left < Duration::from_millis(1) {
        return Err(io::Error::new(io::ErrorKind::TimedOut, "deadline passed"));
    }
    Ok(left)
}

impl Read for DeadlineStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.tcp
            .set_read_timeout(Some(remaining(self.read_deadline)?))?;
        self.tcp.read(buf)
    }
}

impl Write for DeadlineStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tcp
            .set_write_timeout(Some(remaining(self.write_deadline)?))?;
        self.tcp.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}

impl Deadlines for DeadlineStream {
    fn set_read_deadline(&mut self, deadline: Instant) {
        self.read_deadline = deadline;
    }
    fn set_write_deadline(&mut self, deadline: Instant) {
        self.write_deadline = deadline;
    }
}

/// The TLS stream the keep-alive loop reads requests from and writes responses to.
pub type TlsStream = StreamOwned<ServerConnection, DeadlineStream>;

impl Deadlines for TlsStream {
    fn set_read_deadline(&mut self, deadline: Instant) {
        self.sock.set_read_deadline(deadline);
    }
    fn set_write_deadline(&mut self, deadline: Instant) {
        self.sock.set_write_deadline(deadline);
    }
}

/// Half-closes and discards what the peer still sends, briefly, so it can read our answer.
pub(crate) fn linger(sock: &mut DeadlineStream) {
    if sock.tcp().shutdown(Shutdown::Write).is_err() {
        return;
    }
    sock.set_read_deadline(Instant::now() + LINGER);
    let mut scratch = [0u8; 8192];
    let mut drained = 0;
    while drained < LINGER_BYTES {
        match sock.read(&mut scratch) {
            Ok(0) | Err(_) => return,
            Ok(n) => drained += n,
        }
    }
}

/// Closes a socket with a reset: nothing is written and no FIN handshake lingers.
pub(crate) fn reset_close(tcp: TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: valid descriptor owned by `tcp`; the option value is a properly sized linger.
    let rc = unsafe {
        libc::setsockopt(
            tcp.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        log::debug!("SO_LINGER: {}", std::io::Error::last_os_error());
    }
    drop(tcp);
}
