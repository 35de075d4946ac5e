//! The load generator: blocking rustls clients, one thread each, each with its own client
//! certificate, speaking raw HTTP/1.1 (the same client for the agent and for nginx).

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use rustls::client::Resumption;
use rustls::ClientConfig;

use crate::common::{self, Ca, Tls};

/// The request every throughput client sends.
pub const HEALTH: &[u8] = b"GET /api/v1/health HTTP/1.1\r\nHost: localhost\r\n\r\n";
/// A typical API read: the first page of the job list (what a manager polls).
pub const JOBS: &[u8] = b"GET /api/v1/jobs?limit=20 HTTP/1.1\r\nHost: localhost\r\n\r\n";
/// The same, asking the server to close afterwards (one request per handshake).
pub const HEALTH_CLOSE: &[u8] =
    b"GET /api/v1/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";

/// A client config with its own fresh client certificate and no session resumption, so
/// every new connection is a full mutual-TLS handshake.
pub fn client_config(ca: &Ca, name: &str) -> Arc<ClientConfig> {
    let leaf = ca.client(name);
    let config = common::client_config(&ca.cert_pem, Some(&leaf), &[&rustls::version::TLS13]);
    let mut config = (*config).clone();
    config.resumption = Resumption::disabled();
    // Plain HTTP/1.1, as both servers speak it (nginx would pick h2 when offered).
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// `n` client configs, one certificate each.
pub fn client_configs(ca: &Ca, n: usize) -> Vec<Arc<ClientConfig>> {
    (0..n)
        .map(|i| client_config(ca, &format!("bench-client-{i}")))
        .collect()
}

/// A new connection with the handshake completed.
pub fn connect(addr: SocketAddr, config: &Arc<ClientConfig>) -> std::io::Result<Tls> {
    let tcp = TcpStream::connect(addr)?;
    tcp.set_nodelay(true)?;
    let mut tls = common::tls_over(tcp, Arc::clone(config), addr);
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock)?;
    }
    Ok(tls)
}

/// Sends one request and reads its response; returns the status and whether the server
/// will keep the connection open.
pub fn exchange(tls: &mut Tls, raw: &[u8]) -> std::io::Result<(u16, bool)> {
    tls.write_all(raw)?;
    tls.flush()?;
    let resp = common::read_response(tls)?;
    let close = resp
        .header("connection")
        .is_some_and(|v| v.eq_ignore_ascii_case("close"));
    Ok((resp.status, !close))
}

/// One GET on an existing connection, returning the body (for sizes and sanity checks).
pub fn get_body(tls: &mut Tls, path: &str) -> std::io::Result<common::HttpResponse> {
    let raw = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n");
    tls.write_all(raw.as_bytes())?;
    tls.flush()?;
    common::read_response(tls)
}

/// Latencies and counts of one measured run.
#[derive(Clone, Debug, Default)]
pub struct Run {
    /// Successful (2xx) requests.
    pub ok: u64,
    /// Failed requests (errors, non-2xx).
    pub errors: u64,
    /// Connections opened during the run (beyond the first per client).
    pub reconnects: u64,
    /// Every successful request, warm-up and wind-down included (for CPU per request).
    pub served: u64,
    /// Measured wall time.
    pub elapsed: Duration,
    /// Per-request latencies in microseconds, sorted.
    pub latencies_us: Vec<u64>,
}

impl Run {
    /// Successful requests per second.
    pub fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The `q` quantile (0..=1) of the latencies, in milliseconds.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        quantile_ms(&self.latencies_us, q)
    }

    /// Two runs of the same kind as one (counts and latencies summed, times added).
    pub fn combine(self, other: Run) -> Run {
        let elapsed = self.elapsed + other.elapsed;
        Run::merge(vec![self, other], elapsed)
    }

    fn merge(parts: Vec<Run>, elapsed: Duration) -> Run {
        let mut all = Run {
            elapsed,
            ..Run::default()
        };
        for p in parts {
            all.ok += p.ok;
            all.errors += p.errors;
            all.reconnects += p.reconnects;
            all.served += p.served;
            all.latencies_us.extend(p.latencies_us);
        }
        all.latencies_us.sort_unstable();
        all
    }
}

/// The `q` quantile of sorted microsecond samples, in milliseconds (nearest rank).
pub fn quantile_ms(sorted_us: &[u64], q: f64) -> f64 {
    if sorted_us.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted_us.len() as f64).ceil() as usize).clamp(1, sorted_us.len());
    sorted_us[rank - 1] as f64 / 1000.0
}

/// What each client thread does until told to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// This request (raw HTTP/1.1) one after another on one kept-alive connection.
    KeepAlive(&'static [u8]),
    /// A new connection (full handshake) for every request.
    Handshake,
}

/// Runs `clients` threads against `addr` for `warmup` (not counted) then `duration`.
pub fn run(
    addr: SocketAddr,
    configs: &[Arc<ClientConfig>],
    clients: usize,
    mode: Mode,
    warmup: Duration,
    duration: Duration,
) -> Run {
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Arc::new(Barrier::new(clients + 1));
    let handles: Vec<_> = (0..clients)
        .map(|i| {
            let config = Arc::clone(&configs[i % configs.len()]);
            let (measuring, stop, start) = (
                Arc::clone(&measuring),
                Arc::clone(&stop),
                Arc::clone(&start),
            );
            thread::spawn(move || {
                start.wait();
                client_loop(addr, &config, mode, &measuring, &stop)
            })
        })
        .collect();
    start.wait();
    thread::sleep(warmup);
    measuring.store(true, Ordering::SeqCst);
    let began = Instant::now();
    thread::sleep(duration);
    measuring.store(false, Ordering::SeqCst);
    let elapsed = began.elapsed();
    stop.store(true, Ordering::SeqCst);
    let parts = handles
        .into_iter()
        .map(|h| h.join().unwrap_or_default())
        .collect();
    Run::merge(parts, elapsed)
}

/// Sends exactly `total` keep-alive requests spread over `clients` threads.
pub fn fixed_count(addr: SocketAddr, configs: &[Arc<ClientConfig>], total: usize) -> Run {
    let clients = configs.len();
    let began = Instant::now();
    let handles: Vec<_> = configs
        .iter()
        .enumerate()
        .map(|(i, config)| {
            let config = Arc::clone(config);
            let n = total / clients + usize::from(i < total % clients);
            thread::spawn(move || {
                let mut run = Run::default();
                let mut conn: Option<Tls> = None;
                for _ in 0..n {
                    one(
                        addr,
                        &config,
                        Mode::KeepAlive(HEALTH),
                        &mut conn,
                        &mut run,
                        true,
                    );
                }
                run
            })
        })
        .collect();
    let parts = handles
        .into_iter()
        .map(|h| h.join().unwrap_or_default())
        .collect();
    Run::merge(parts, began.elapsed())
}

fn client_loop(
    addr: SocketAddr,
    config: &Arc<ClientConfig>,
    mode: Mode,
    measuring: &AtomicBool,
    stop: &AtomicBool,
) -> Run {
    let mut run = Run::default();
    let mut conn: Option<Tls> = None;
    while !stop.load(Ordering::Relaxed) {
        let counted = measuring.load(Ordering::Relaxed);
        one(addr, config, mode, &mut conn, &mut run, counted);
    }
    run
}

/// One request (connecting first when needed), recorded in `run` when `counted`.
fn one(
    addr: SocketAddr,
    config: &Arc<ClientConfig>,
    mode: Mode,
    conn: &mut Option<Tls>,
    run: &mut Run,
    counted: bool,
) {
    let t0 = Instant::now();
    let fresh = conn.is_none();
    let result = (|| {
        if conn.is_none() {
            *conn = Some(connect(addr, config)?);
        }
        let tls = conn.as_mut().ok_or(std::io::ErrorKind::NotConnected)?;
        let raw = match mode {
            Mode::KeepAlive(raw) => raw,
            Mode::Handshake => HEALTH_CLOSE,
        };
        exchange(tls, raw)
    })();
    let us = t0.elapsed().as_micros() as u64;
    let kept_alive = matches!(mode, Mode::KeepAlive(_));
    let keep = matches!(result, Ok((_, true))) && kept_alive;
    if !keep {
        *conn = None;
    }
    if matches!(result, Ok((status, _)) if (200..300).contains(&status)) {
        run.served += 1;
    }
    if !counted {
        return;
    }
    if fresh && kept_alive {
        run.reconnects += 1;
    }
    match result {
        Ok((status, _)) if (200..300).contains(&status) => {
            run.ok += 1;
            run.latencies_us.push(us);
        }
        Ok(_) | Err(_) => {
            run.errors += 1;
            // A refusing server must not turn the loop into a busy spin.
            thread::sleep(Duration::from_millis(1));
        }
    }
}

/// Connections that completed one request and now sit idle (kept alive), until dropped.
pub fn idle_connections(
    addr: SocketAddr,
    configs: &[Arc<ClientConfig>],
    n: usize,
) -> std::io::Result<Vec<Tls>> {
    let mut conns = Vec::with_capacity(n);
    for i in 0..n {
        let mut tls = connect(addr, &configs[i % configs.len()])?;
        let (status, keep) = exchange(&mut tls, HEALTH)?;
        if status != 200 || !keep {
            return Err(std::io::Error::other(format!(
                "idle connection {i}: status {status}, keep-alive {keep}"
            )));
        }
        conns.push(tls);
    }
    Ok(conns)
}

/// Clients that each send a request one byte a second (reconnecting when the server cuts
/// them off), until `stop`.
pub fn slow_senders(
    addr: SocketAddr,
    configs: &[Arc<ClientConfig>],
    n: usize,
    stop: &Arc<AtomicBool>,
) -> Vec<thread::JoinHandle<u64>> {
    (0..n)
        .map(|i| {
            let config = Arc::clone(&configs[i % configs.len()]);
            let stop = Arc::clone(stop);
            thread::spawn(move || trickle(addr, &config, &stop))
        })
        .collect()
}

/// Returns how many times the server cut the connection.
fn trickle(addr: SocketAddr, config: &Arc<ClientConfig>, stop: &AtomicBool) -> u64 {
    let mut cuts = 0;
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut tls) = connect(addr, config) else {
            cuts += 1;
            thread::sleep(Duration::from_secs(1));
            continue;
        };
        for byte in HEALTH.iter().cycle() {
            if stop.load(Ordering::Relaxed) {
                return cuts;
            }
            if tls.write_all(&[*byte]).and_then(|()| tls.flush()).is_err() {
                cuts += 1;
                break;
            }
            thread::sleep(Duration::from_secs(1));
        }
    }
    cuts
}

/// `samples` requests, one every `gap`, each on a new connection or all on one.
pub fn probe(
    addr: SocketAddr,
    config: &Arc<ClientConfig>,
    mode: Mode,
    samples: usize,
    gap: Duration,
) -> Run {
    let began = Instant::now();
    let mut run = Run::default();
    let mut conn: Option<Tls> = None;
    for _ in 0..samples {
        one(addr, config, mode, &mut conn, &mut run, true);
        thread::sleep(gap);
    }
    run.elapsed = began.elapsed();
    run.latencies_us.sort_unstable();
    run
}

/// Checks the percentile arithmetic (run by `cargo test`, which builds this harness).
pub fn self_check() {
    let v: Vec<u64> = (1..=100).map(|i| i * 1000).collect();
    assert_eq!(quantile_ms(&v, 0.5), 50.0);
    assert_eq!(quantile_ms(&v, 0.99), 99.0);
    assert_eq!(quantile_ms(&v, 1.0), 100.0);
    assert!(quantile_ms(&[], 0.5).is_nan());
    let run = Run {
        ok: 10,
        elapsed: Duration::from_secs(2),
        ..Run::default()
    };
    assert_eq!(run.rate(), 5.0);
}
