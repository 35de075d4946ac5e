//! Silent sockets (issue 16, section 5): TCP peers that never send a ClientHello must hold no
//! connection worker, are capped per source address, and never delay a valid mTLS client.

mod common;

use std::io::{ErrorKind, Read};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::*;

/// How many silent sockets the issue asks for.
const SILENT: usize = 300;

/// The bound the issue asks for: a valid request answered within it while the sockets are open.
const ANSWER_WITHIN: Duration = Duration::from_millis(100);

/// Raises this process's soft descriptor limit to its hard limit: each test holds 300 client
/// sockets and, in-process, the agent's 300 server ends as well.
fn raise_fd_limit() {
    // SAFETY: plain getrlimit/setrlimit on a properly initialised struct.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        lim.rlim_cur = lim.rlim_max;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
    }
}

/// Connections waiting in the kernel's accept queue of the listener on `addr` (from
/// /proc/net/tcp, where a listening socket's rx_queue is its accept backlog).
fn accept_backlog(addr: SocketAddr) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let local = format!("0100007F:{:04X}", addr.port());
    for line in table.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        // sl local_address rem_address st tx_queue:rx_queue ...
        if f.len() > 4 && f[1] == local && f[3] == "0A" {
            let rx = f[4].split(':').nth(1).unwrap();
            return usize::from_str_radix(rx, 16).unwrap();
        }
    }
    panic!("no listener for {addr} in /proc/net/tcp");
}

/// Opens `n` TCP connections from `from` that never send a byte, and waits until the agent
/// has accepted every one of them (its accept queue is empty). `None`: the agent had already
/// reset that connection when `connect` returned.
fn open_silent(from: IpAddr, addr: SocketAddr, n: usize) -> Vec<Option<TcpStream>> {
    let socks: Vec<Option<TcpStream>> = (0..n)
        .map(|_| match tcp_from(from, addr) {
            Ok(s) => Some(s),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => None,
            Err(e) => panic!("connect: {e}"),
        })
        .collect();
    assert!(
        eventually(Duration::from_secs(10), || accept_backlog(addr) == 0),
        "the agent did not accept the silent sockets"
    );
    socks
}

/// How many of `socks` the agent still holds open (neither reset nor closed).
fn still_open(socks: &[Option<TcpStream>]) -> usize {
    let mut open = 0;
    let mut buf = [0u8; 1];
    for s in socks.iter().flatten() {
        s.set_nonblocking(true).unwrap();
        match (&*s).read(&mut buf) {
            Err(e) if e.kind() == ErrorKind::WouldBlock => open += 1,
            Ok(0) | Err(_) => {}
            Ok(_) => panic!("the agent sent a byte to a silent socket"),
        }
    }
    open
}

/// One valid mTLS request on a new connection: its status and how long it took from connect.
fn timed_health(addr: SocketAddr, env: &Env) -> (u16, Duration) {
    let started = Instant::now();
    let mut tls = connect(addr, env.client_config());
    let resp = get_on(&mut tls, "/api/v1/health");
    (resp.status, started.elapsed())
}

#[test]
fn valid_client_is_answered_at_once_while_300_silent_sockets_are_held() {
    raise_fd_limit();
    let env = Env::new("silent-held");
    let mut config = env.config();
    // Room for all 300 silent sockets, so none is refused: they all wait in their handshake.
    config.server.max_connections = 1024;
    config.server.max_handshakes_per_address = 1024;
    let agent = env.start(config);
    // Warm-up: the first request builds what the health check reads.
    assert_eq!(timed_health(agent.addr(), &env).0, 200);

    let silent = open_silent("127.0.0.1".parse().unwrap(), agent.addr(), SILENT);
    let (status, took) = timed_health(agent.addr(), &env);
    eprintln!("valid request with {SILENT} silent sockets held: {took:?}");
    assert_eq!(status, 200);
    assert!(
        took < ANSWER_WITHIN,
        "valid request took {took:?} with {SILENT} silent sockets open"
    );
    // They were all still waiting in their handshake, none dropped to make room.
    assert_eq!(still_open(&silent), SILENT);
}

#[test]
fn silent_sockets_beyond_the_per_address_cap_are_dropped_oldest_first() {
    raise_fd_limit();
    let env = Env::new("silent-cap");
    let config = env.config();
    let cap = config.server.max_handshakes_per_address;
    assert!(cap < SILENT);
    let agent = env.start(config);
    assert_eq!(timed_health(agent.addr(), &env).0, 200);

    let silent = open_silent("127.0.0.1".parse().unwrap(), agent.addr(), SILENT);
    assert!(
        eventually(Duration::from_secs(10), || still_open(&silent) == cap),
        "expected exactly {cap} silent sockets left open, got {}",
        still_open(&silent)
    );
    // The newest ones are kept: a client connecting now is never the one dropped.
    assert_eq!(still_open(&silent[SILENT - cap..]), cap);

    // A valid client from the same address is not locked out by them.
    let (status, took) = timed_health(agent.addr(), &env);
    eprintln!("valid request after {SILENT} silent sockets (cap {cap}): {took:?}");
    assert_eq!(status, 200);
    assert!(
        took < ANSWER_WITHIN,
        "valid request took {took:?} with {SILENT} silent sockets attempted"
    );
    // Its connection pushed out the oldest of the silent ones.
    assert_eq!(still_open(&silent), cap - 1);
}
