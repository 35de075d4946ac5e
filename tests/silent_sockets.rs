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

/// The agent's handshake deadline in these tests: long enough that no silent socket is
/// closed by it on a slow machine while a test counts them.
const SILENT_DEADLINE: u64 = 120;

/// A connect that takes longer found the agent's accept queue full (the kernel drops SYNs).
const CONNECT_WAIT: Duration = Duration::from_secs(5);

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

/// Opens `n` TCP connections that never send a byte, and waits until the agent has accepted
/// every one of them (its accept queue is empty). `None`: the agent had already reset that
/// connection when `connect` returned.
fn open_silent(addr: SocketAddr, n: usize) -> Vec<Option<TcpStream>> {
    let socks = (0..n)
        .map(|i| silent(TcpStream::connect_timeout(&addr, CONNECT_WAIT), i))
        .collect();
    wait_accepted(addr);
    socks
}

/// [`open_silent`] from each of `froms` in turn, `per` connections each.
fn open_silent_from(froms: &[IpAddr], addr: SocketAddr, per: usize) -> Vec<Option<TcpStream>> {
    let socks = froms
        .iter()
        .flat_map(|from| std::iter::repeat_n(*from, per))
        .enumerate()
        .map(|(i, from)| silent(tcp_from(from, addr), i))
        .collect();
    wait_accepted(addr);
    socks
}

/// A silent connection, or `None` when the agent reset it before `connect` returned.
fn silent(connected: std::io::Result<TcpStream>, i: usize) -> Option<TcpStream> {
    match connected {
        Ok(s) => Some(s),
        Err(e) if e.kind() == ErrorKind::ConnectionReset => None,
        Err(e) => panic!("silent connection {i}: {e} (the agent stopped accepting)"),
    }
}

/// Waits until the agent has accepted every connection queued for it.
fn wait_accepted(addr: SocketAddr) {
    assert!(
        eventually(Duration::from_secs(10), || accept_backlog(addr) == 0),
        "the agent did not accept the silent sockets"
    );
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
    config.server.timeouts.tls_handshake_seconds = SILENT_DEADLINE;
    let agent = env.start(config);
    // Warm-up: the first request builds what the health check reads.
    assert_eq!(timed_health(agent.addr(), &env).0, 200);

    let silent = open_silent(agent.addr(), SILENT);
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
    let mut config = env.config();
    config.server.timeouts.tls_handshake_seconds = SILENT_DEADLINE;
    let cap = config.server.max_handshakes_per_address;
    assert!(cap < SILENT);
    let agent = env.start(config);
    assert_eq!(timed_health(agent.addr(), &env).0, 200);

    let silent = open_silent(agent.addr(), SILENT);
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

/// The agent binary, killed on drop.
struct Binary(std::process::Child);

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the agent binary with its descriptor limit lowered to `limit` and `server_keys`
/// (indented YAML lines) added to its `server` section.
fn spawn_with_fd_limit(env: &Env, limit: u64, server_keys: &str) -> (Binary, SocketAddr) {
    use std::os::unix::process::CommandExt;
    let port = free_port();
    let yaml = env.config_yaml(port, "").replacen(
        "  shutdown_grace_seconds: 5\n",
        &format!("  shutdown_grace_seconds: 5\n{server_keys}"),
        1,
    );
    let path = env.dir.path().join("config.yaml");
    std::fs::write(&path, yaml).unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_linux-patch-api"));
    cmd.args(["--config", path.to_str().unwrap()])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    // SAFETY: only async-signal-safe setrlimit runs between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let lim = libc::rlimit {
                rlim_cur: limit,
                rlim_max: limit,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = Binary(cmd.spawn().unwrap());
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    assert!(
        eventually(Duration::from_secs(10), || TcpStream::connect(addr).is_ok()),
        "binary did not start listening"
    );
    (child, addr)
}

#[test]
fn at_its_descriptor_limit_the_agent_gives_silent_peers_up_for_new_clients() {
    raise_fd_limit();
    let env = Env::new("silent-fds");
    // Only the descriptor limit bounds the silent sockets here, not the caps or a deadline.
    let keys = "  max_connections: 1024\n  max_handshakes_per_address: 1024\n  \
                timeouts:\n    tls_handshake_seconds: 600\n";
    let (_agent, addr) = spawn_with_fd_limit(&env, 128, keys);
    assert_eq!(timed_health(addr, &env).0, 200);

    let silent = open_silent(addr, SILENT);
    let open = still_open(&silent);
    // The agent could not hold them all with 128 descriptors: it dropped the oldest.
    assert!(open < 128, "{open} silent sockets still open");
    let (status, took) = timed_health(addr, &env);
    eprintln!("valid request at the descriptor limit ({open} silent sockets held): {took:?}");
    assert_eq!(status, 200);
    assert!(
        took < ANSWER_WITHIN,
        "valid request took {took:?} at the descriptor limit"
    );
}

#[test]
fn silent_sockets_from_many_addresses_are_bounded_in_total() {
    raise_fd_limit();
    let env = Env::new("silent-total");
    std::fs::write(&env.whitelist, "allowed:\n  - 127.0.0.0/8\n").unwrap();
    let mut config = env.config();
    config.server.timeouts.tls_handshake_seconds = SILENT_DEADLINE;
    let total = config.server.max_connections;
    let per = config.server.max_handshakes_per_address - 2;
    let agent = env.start(config);
    assert_eq!(timed_health(agent.addr(), &env).0, 200);

    // 10 addresses, each under its own cap, together past the total (300 > 256).
    let froms: Vec<IpAddr> = (2..12)
        .map(|i| format!("127.0.0.{i}").parse().unwrap())
        .collect();
    let silent = open_silent_from(&froms, agent.addr(), per);
    let n = silent.len();
    assert!(n > total);
    assert!(
        eventually(Duration::from_secs(10), || still_open(&silent) == total),
        "expected {total} silent sockets left open, got {}",
        still_open(&silent)
    );
    // The oldest went first.
    assert_eq!(still_open(&silent[..n - total]), 0);

    let (status, took) = timed_health(agent.addr(), &env);
    eprintln!("valid request after {n} silent sockets from 10 addresses: {took:?}");
    assert_eq!(status, 200);
    assert!(took < ANSWER_WITHIN, "valid request took {took:?}");
    assert_eq!(still_open(&silent), total - 1);
}
