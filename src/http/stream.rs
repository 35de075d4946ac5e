//! The connection's byte streams: a TCP stream bounded by deadlines, the TLS stream over it,
//! the lingering close and the reset close. Used by the keep-alive loop (`conn`), WebSocket
//! sessions (`ws`) and the handshake stage alike, so it sits below all of them rather than in
//! `conn` (which imports `ws`) or `server` (which imports `handshake`).

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use rustls::{ServerConnection, StreamOwned};

use super::request::{is_timeout, Deadlines};

/// After a final response, how long the peer may keep sending before the socket is closed.
///
/// Closing a socket with unread input makes the kernel send a reset, which can destroy the
/// response in flight (e.g. a 413 while the client is still uploading); draining briefly lets
/// the client read it first.
const LINGER: Duration = Duration::from_secs(1);

/// Most bytes discarded while lingering.
const LINGER_BYTES: usize = 256 * 1024;

/// Socket timeouts are set in steps of this much. A timeout already set is kept while it is
/// no longer than the time left and less than one step short of it, so a connection answering
/// requests back to back (each with a fresh deadline) makes no `setsockopt` call per request.
const TIMEOUT_STEP: Duration = Duration::from_millis(10);

/// A TCP stream whose every read and write system call is bounded by the current deadline.
///
/// The socket timeout never exceeds the time remaining before the deadline, so a peer that
/// trickles bytes cannot push the deadline out; it is only changed when it no longer fits
/// (see [`TIMEOUT_STEP`]). A call that timed out early by less than a step is retried, so
/// reads and writes fail with a timeout exactly when their deadline has passed.
#[derive(Debug)]
pub struct DeadlineStream {
    tcp: TcpStream,
    read_deadline: Instant,
    write_deadline: Instant,
    /// The receive timeout currently set on the socket, if any was.
    read_timeout: Option<Duration>,
    /// The send timeout currently set on the socket, if any was.
    write_timeout: Option<Duration>,
}

impl DeadlineStream {
    /// Wraps a socket; both deadlines start at `deadline`.
    pub fn new(tcp: TcpStream, deadline: Instant) -> DeadlineStream {
        DeadlineStream {
            tcp,
            read_deadline: deadline,
            write_deadline: deadline,
            read_timeout: None,
            write_timeout: None,
        }
    }

    /// The underlying socket.
    pub fn tcp(&self) -> &TcpStream {
        &self.tcp
    }
}

/// Time left before `deadline` as seen at `now`, or a `TimedOut` error once it has passed.
fn remaining(deadline: Instant, now: Instant) -> io::Result<Duration> {
    let left = deadline.saturating_duration_since(now);
    // A zero socket timeout would mean "block forever" (std refuses it anyway).
    if left < Duration::from_millis(1) {
        return Err(io::Error::new(io::ErrorKind::TimedOut, "deadline passed"));
    }
    Ok(left)
}

/// The socket timeout to set for `left` remaining, or `None` when the one `set` still fits:
/// not longer than `left` and less than a step shorter.
fn timeout_update(set: Option<Duration>, left: Duration) -> Option<Duration> {
    match set {
        Some(current) if current <= left && left - current < TIMEOUT_STEP => None,
        _ if left < TIMEOUT_STEP => Some(left),
        _ => {
            let steps = left.as_nanos() / TIMEOUT_STEP.as_nanos();
            let whole = steps.saturating_mul(TIMEOUT_STEP.as_nanos());
            Some(Duration::from_nanos(
                u64::try_from(whole).unwrap_or(u64::MAX),
            ))
        }
    }
}

/// Which direction a system call goes.
#[derive(Clone, Copy)]
enum Direction {
    Read,
    Write,
}

impl DeadlineStream {
    /// Runs `call` on the socket within the deadline of `dir`, retrying a call that timed out
    /// before the deadline (its timeout was up to a step short of the time left).
    fn bounded<T>(
        &mut self,
        dir: Direction,
        mut call: impl FnMut(&mut TcpStream) -> io::Result<T>,
    ) -> io::Result<T> {
        loop {
            let started = Instant::now();
            let (deadline, set) = match dir {
                Direction::Read => (self.read_deadline, &mut self.read_timeout),
                Direction::Write => (self.write_deadline, &mut self.write_timeout),
            };
            let left = remaining(deadline, started)?;
            if let Some(timeout) = timeout_update(*set, left) {
                // Forget the old value first: if setting fails, the next call sets it again.
                *set = None;
                match dir {
                    Direction::Read => self.tcp.set_read_timeout(Some(timeout))?,
                    Direction::Write => self.tcp.set_write_timeout(Some(timeout))?,
                }
                *set = Some(timeout);
            }
            let waited_for = (*set).unwrap_or_default();
            match call(&mut self.tcp) {
                // Only a call that really waited out its timeout is retried: a socket that
                // is not blocking reports `WouldBlock` at once and must see it.
                Err(e) if is_timeout(&e) && started.elapsed() >= waited_for => {}
                other => return other,
            }
        }
    }
}

impl Read for DeadlineStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.bounded(Direction::Read, |tcp| tcp.read(buf))
    }
}

impl Write for DeadlineStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.bounded(Direction::Write, |tcp| tcp.write(buf))
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        // rustls sends its queued records with one vectored write: keep it one system call.
        self.bounded(Direction::Write, |tcp| tcp.write_vectored(bufs))
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_fitting_timeout_is_kept_and_others_are_replaced() {
        // Nothing set yet: the time left, rounded down to a step.
        assert_eq!(timeout_update(None, ms(1_234)), Some(ms(1_230)));
        // Less than a step left: exactly that.
        assert_eq!(timeout_update(None, ms(7)), Some(ms(7)));
        // A fresh deadline a little later than the last: the set timeout still fits.
        assert_eq!(timeout_update(Some(ms(990)), ms(999)), None);
        // Longer than the time left (a trickling peer): replaced, never kept.
        assert_eq!(timeout_update(Some(ms(990)), ms(500)), Some(ms(500)));
        // Far shorter than the time left: replaced so the call may wait long enough.
        assert_eq!(timeout_update(Some(ms(500)), ms(990)), Some(ms(990)));
    }

    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        (client, server)
    }

    #[test]
    fn back_to_back_deadlines_reuse_the_socket_timeout() {
        let (mut client, server) = pair();
        let mut s = DeadlineStream::new(server, Instant::now() + Duration::from_secs(5));
        let mut buf = [0u8; 4];
        for round in 0..3u8 {
            s.set_read_deadline(Instant::now() + Duration::from_secs(5));
            client.write_all(&[round]).unwrap();
            assert_eq!(s.read(&mut buf).unwrap(), 1);
            assert_eq!(buf[0], round);
        }
        // What the stream believes is set is what the socket has (the kernel keeps it in
        // clock ticks, so it reads back rounded).
        let set = s.read_timeout.unwrap();
        let actual = s.tcp().read_timeout().unwrap().unwrap();
        assert!(actual.abs_diff(set) < ms(20), "{actual:?} vs {set:?}");
        assert!(
            set <= Duration::from_secs(5) && set > Duration::from_secs(4),
            "{set:?}"
        );
    }

    #[test]
    fn a_timeout_comes_only_once_the_deadline_has_passed() {
        let (_client, server) = pair();
        let deadline = Instant::now() + ms(40);
        let mut s = DeadlineStream::new(server, deadline);
        // A timeout set for a later, longer deadline would overshoot this one: replaced.
        s.read_timeout = Some(Duration::from_secs(30));
        s.tcp.set_read_timeout(s.read_timeout).unwrap();
        let err = s.read(&mut [0u8; 4]).unwrap_err();
        assert!(is_timeout(&err), "{err:?}");
        assert!(Instant::now() >= deadline - ms(1));
        assert!(s.read_timeout.unwrap() <= ms(40));
    }

    #[test]
    fn a_nonblocking_socket_reports_would_block_at_once() {
        let (_client, server) = pair();
        server.set_nonblocking(true).unwrap();
        let mut s = DeadlineStream::new(server, Instant::now() + Duration::from_secs(30));
        let err = s.read(&mut [0u8; 4]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    }

    #[test]
    fn vectored_writes_send_every_slice() {
        let (mut client, server) = pair();
        let mut s = DeadlineStream::new(server, Instant::now() + Duration::from_secs(5));
        let n = s
            .write_vectored(&[io::IoSlice::new(b"ab"), io::IoSlice::new(b"cd")])
            .unwrap();
        assert_eq!(n, 4);
        let mut got = [0u8; 4];
        client.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"abcd");
    }
}
