//! The accept loop (whitelist check before any TLS byte) and the connection thread pool.

use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};

use super::conn::serve_connection;

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


/// Where each new connection gets its TLS configuration (reloads affect new connections only).
pub trait ConfigSource: Send + Sync {
    /// The configuration for the next connection.
    fn current(&self) -> Arc<rustls::ServerConfig>;
}

impl ConfigSource for TlsState {
    fn current(&self) -> Arc<rustls::ServerConfig> {
        TlsState::current(self)
    }
}

/// Decides, before any TLS byte, whether a peer address may connect.
pub trait PeerFilter: Send + Sync {
    /// Whether `ip` (IPv4-mapped addresses already normalised to IPv4) may connect.
    fn allows(&self, ip: IpAddr) -> bool;
    /// Records a refused peer.
    fn note_denied(&self, ip: IpAddr);
}

impl PeerFilter for Whitelist {
    fn allows(&self, ip: IpAddr) -> bool {
        Whitelist::allows(self, ip)
    }
    fn note_denied(&self, ip: IpAddr) {
        Whitelist::note_denied(self, ip)
    }
}

/// Idle connection threads exit after this long without work.
const WORKER_IDLE_EXIT: Duration = Duration::from_secs(30);

/// Stack size of connection threads: request handling is shallow, and idle pools stay small.
const WORKER_STACK: usize = 512 * 1024;

/// Back-off after a failed `accept` (e.g. out of file descriptors) so errors do not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// An accepted connection waiting for a thread.
struct Job {
    tcp: TcpStream,
    peer: SocketAddr,
}

/// Thread accounting; `idle` is threads waiting for work minus jobs queued (negative =
/// jobs waiting for a busy thread to come free).
#[derive(Debug, Default)]
struct PoolState {
    threads: usize,
    idle: isize,
}

/// The connection threads and what they share.
struct Pool {
    jobs: Receiver<Job>,
    state: Mutex<PoolState>,
    /// Accepted connections not yet finished (queued + serving).
    in_flight: Mutex<usize>,
    drained: Condvar,
    stop: AtomicBool,
    config: Arc<dyn ConfigSource>,
    service: Arc<dyn Service>,
    limits: Limits,
    unauthenticated_path: String,
    max_threads: usize,
    max_connections: usize,
    idle_exit: Duration,
}

/// Locks a mutex, recovering from poisoning: the counters stay meaningful after a panic.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Releases one in-flight slot when a job is done, even if serving it panicked.
struct InFlight<'a>(&'a Pool);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut n = lock(&self.0.in_flight);
        *n = n.saturating_sub(1);
        self.0.drained.notify_all();
    }
}

impl Pool {
    /// Takes an in-flight slot unless the server is full.
    fn admit(&self) -> bool {
        let mut n = lock(&self.in_flight);
        if *n >= self.max_connections {
            return false;
        }
        *n += 1;
        true
    }

    /// Queues an admitted connection, starting a thread when none is free.
    fn dispatch(self: &Arc<Self>, tx: &Sender<Job>, job: Job) {
        let mut state = lock(&self.state);
        if let Err(e) = tx.try_send(job) {
            let job = match e {
                TrySendError::Full(job) | TrySendError::Disconnected(job) => job,
            };
            log::debug!("{}: queue full, closing", job.peer);
            drop(state);
            drop(InFlight(self));
            return;
        }
        state.idle -= 1;
        if state.idle < 0 && state.threads < self.max_threads {
            state.threads += 1;
            state.idle += 1;
            if let Err(e) = self.spawn_worker() {
                log::warn!("cannot start a connection thread: {e}");
                state.threads -= 1;
                state.idle -= 1;
                if state.threads == 0 {
                    // Nobody would ever take it: close it rather than leave it queued.
                    drop(state);
                    self.drop_one_queued();
                }
            }
        }
    }

    fn drop_one_queued(&self) {
        if let Ok(job) = self.jobs.try_recv() {
            log::debug!("{}: no thread available, closing", job.peer);
            let mut state = lock(&self.state);
            state.idle += 1;
            drop(state);
            drop(InFlight(self));
        }
    }

    fn spawn_worker(self: &Arc<Self>) -> std::io::Result<()> {
        let pool = Arc::clone(self);
        thread::Builder::new()
            .name("http-conn".into())
            .stack_size(WORKER_STACK)
            .spawn(move || pool.work())
            .map(|_| ())
    }

    /// A connection thread: serves jobs until idle for too long or the queue closes.
    fn work(&self) {
        loop {
            match self.jobs.recv_timeout(self.idle_exit) {
                Ok(job) => {
                    self.serve(job);
                    lock(&self.state).idle += 1;
                }
                Err(RecvTimeoutError::Timeout) => {
                    let mut state = lock(&self.state);
                    // idle == 0 means a job was queued for this very thread: stay.
                    if state.idle > 0 {
                        state.idle -= 1;
                        state.threads -= 1;
                        return;
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let mut state = lock(&self.state);
                    state.idle -= 1;
                    state.threads -= 1;
                    return;
                }
            }
        }
    }

    fn serve(&self, job: Job) {
        let _slot = InFlight(self);
        if self.stop.load(Ordering::SeqCst) {
            log::debug!("{}: server stopping, closing queued connection", job.peer);
            return;
        }
        serve_connection(
            job.tcp,
            job.peer,
            self.config.current(),
            &self.limits,
            &self.unauthenticated_path,
            &*self.service,
            &self.stop,
        );
    }

    /// Waits until no connection is in flight, or `grace` passes; true when drained.
    fn wait_drained(&self, grace: Duration) -> bool {
        let n = lock(&self.in_flight);
        match self.drained.wait_timeout_while(n, grace, |n| *n > 0) {
            Ok((n, _)) => *n == 0,
            Err(poisoned) => *poisoned.into_inner().0 == 0,
        }
    }
}

/// What the acceptor and the shutdown handle share.
struct Shared {
    listener: TcpListener,
    pool: Arc<Pool>,
}

/// A bound, not yet running server.
pub struct Server {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
    filter: Arc<dyn PeerFilter>,
    jobs: Sender<Job>,
    grace: Duration,
}

/// Stops a running server from another thread (signal handler, test).
#[derive(Clone)]
pub struct ShutdownHandle {
    shared: Arc<Shared>,
}

impl ShutdownHandle {
    /// Stops accepting; in-flight requests finish within the grace period.
    pub fn shutdown(&self) {
        self.shared.pool.stop.store(true, Ordering::SeqCst);
        // On Linux, shutting down a listening socket wakes a blocked accept() with an error.
        // SAFETY: the descriptor belongs to `listener`, which `shared` keeps open.
        let rc = unsafe { libc::shutdown(self.shared.listener.as_raw_fd(), libc::SHUT_RD) };
        if rc != 0 {
            log::debug!(
                "shutdown of the listening socket: {}",
                std::io::Error::last_os_error()
            );
        }
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
        Server::bind_with(opts, tls, whitelist, service)
    }

    /// Binds the listener with any configuration source and peer filter (tests, embedding).
    pub fn bind_with(
        opts: ServerOptions,
        config: Arc<dyn ConfigSource>,
        filter: Arc<dyn PeerFilter>,
        service: Arc<dyn Service>,
    ) -> std::io::Result<Server> {
        // std offers no way to clear IPV6_V6ONLY before bind; Linux defaults to dual-stack
        // (net.ipv6.bindv6only = 0), so `::` also accepts IPv4 there.
        let listener = TcpListener::bind(opts.bind)?;
        let local_addr = listener.local_addr()?;
        let max_connections = opts.max_connections.max(1);
        let (tx, rx) = crossbeam_channel::bounded(max_connections);
        let pool = Arc::new(Pool {
            jobs: rx,
            state: Mutex::new(PoolState::default()),
            in_flight: Mutex::new(0),
            drained: Condvar::new(),
            stop: AtomicBool::new(false),
            config,
            service,
            limits: opts.limits,
            unauthenticated_path: opts.unauthenticated_path,
            max_threads: opts.workers.max(1),
            max_connections,
            idle_exit: WORKER_IDLE_EXIT,
        });
        Ok(Server {
            shared: Arc::new(Shared { listener, pool }),
            local_addr,
            filter,
            jobs: tx,
            grace: opts.shutdown_grace,
        })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A handle that stops this server.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Serves until shut down, then waits for in-flight requests up to the grace period.
    pub fn run(self) -> std::io::Result<()> {
        log::info!("listening on {}", self.local_addr);
        let pool = &self.shared.pool;
        while !pool.stop.load(Ordering::SeqCst) {
            match self.shared.listener.accept() {
                Ok((tcp, peer)) => self.admit(tcp, peer),
                Err(_) if pool.stop.load(Ordering::SeqCst) => break,
                Err(e) => {
                    log::warn!("accept failed: {e}");
                    thread::sleep(ACCEPT_ERROR_PAUSE);
                }
            }
        }
        // Closing the queue lets idle threads exit; queued connections are closed unserved.
        drop(self.jobs);
        let started = Instant::now();
        if pool.wait_drained(self.grace) {
            log::info!("stopped; all connections finished");
        } else {
            log::warn!(
                "stopped with connections still open after {:?}",
                started.elapsed()
            );
        }
        Ok(())
    }

    /// Applies the whitelist and the connection limit to a fresh connection.
    fn admit(&self, tcp: TcpStream, peer: SocketAddr) {
        let peer = normalize(peer);
        if !self.filter.allows(peer.ip()) {
            self.filter.note_denied(peer.ip());
            reset_close(tcp);
            return;
        }
        let pool = &self.shared.pool;
        if !pool.admit() {
            log::warn!("{peer}: too many connections, closing");
            reset_close(tcp);
            return;
        }
        pool.dispatch(&self.jobs, Job { tcp, peer });
    }
}

/// Maps an IPv4-mapped IPv6 peer (`::ffff:a.b.c.d`) to plain IPv4.
pub fn normalize(peer: SocketAddr) -> SocketAddr {
    SocketAddr::new(peer.ip().to_canonical(), peer.port())
}

/// Closes a socket with a reset: nothing is written and no FIN handshake lingers.
fn reset_close(tcp: TcpStream) {
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
