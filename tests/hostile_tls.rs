//! Hostile input at the TCP/TLS level (issue 16, section 4), against the live agent: garbage
//! before and inside the handshake, a truncated ClientHello, plain HTTP on the TLS port,
//! foreign and missing client certificates, and client certificate subjects built to forge
//! audit lines.
//!
//! The agent runs with a single connection worker: a hostile connection that held it would
//! stall the valid request that follows each case until the handshake deadline.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::*;
use rustls::pki_types::ServerName;
use rustls::ClientConnection;

/// The agent's handshake deadline in these tests.
const HANDSHAKE_SECONDS: u64 = 4;

/// A valid request must be answered well before a held worker would have come free.
const SERVED_WITHIN: Duration = Duration::from_secs(HANDSHAKE_SECONDS / 2);

/// The agent with one worker and a short handshake deadline.
fn start(env: &Env) -> Agent {
    let mut config = env.config();
    config.server.workers = 1;
    config.server.max_connections = 4;
    config.server.timeouts.tls_handshake_seconds = HANDSHAKE_SECONDS;
    env.start(config)
}

/// `n` bytes from the kernel's random source.
fn random_bytes(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .unwrap();
    buf
}

/// The bytes of a real ClientHello (one TLS record) from a client holding a valid certificate.
fn client_hello(env: &Env, addr: SocketAddr) -> Vec<u8> {
    let name = ServerName::IpAddress(addr.ip().into());
    let mut conn = ClientConnection::new(env.client_config(), name).unwrap();
    let mut out = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut out).unwrap();
    }
    assert_eq!(out[0], 0x16, "a handshake record");
    out
}

/// Opens a connection, sends `bytes` and keeps it open. A failed write is no failure: the
/// agent may already have reset the connection over the first bytes.
fn send_raw(addr: SocketAddr, bytes: &[u8]) -> TcpStream {
    let mut tcp = TcpStream::connect(addr).unwrap();
    let _ = tcp.write_all(bytes);
    tcp
}

/// Waits until the agent ends the connection (EOF or reset); returns what it sent before and
/// how long the wait took.
fn ending(mut tcp: TcpStream) -> (Vec<u8>, Duration) {
    tcp.set_read_timeout(Some(IO_WAIT)).unwrap();
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tcp.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock) => {
                panic!("the agent kept the connection open for {IO_WAIT:?}")
            }
            Err(_) => break,
        }
    }
    (got, started.elapsed())
}

/// A valid mTLS request on a new connection is answered, promptly.
fn assert_serving(agent: &Agent, env: &Env, case: &str) {
    let started = Instant::now();
    let resp = request(
        agent.addr(),
        env.client_config(),
        "GET",
        "/api/v1/health",
        None,
    );
    let took = started.elapsed();
    assert_eq!(resp.status, 200, "{case}");
    assert!(took < SERVED_WITHIN, "{case}: valid request took {took:?}");
}

/// Sends `bytes`, checks a valid client is served meanwhile, then that the agent dropped the
/// connection without a byte and well before the handshake deadline.
fn assert_dropped_at_once(agent: &Agent, env: &Env, case: &str, bytes: &[u8]) {
    let tcp = send_raw(agent.addr(), bytes);
    assert_serving(agent, env, case);
    let (got, took) = ending(tcp);
    assert!(got.is_empty(), "{case}: agent sent {got:02x?}");
    assert!(took < SERVED_WITHIN, "{case}: dropped only after {took:?}");
}

#[test]
fn random_bytes_before_the_handshake_are_dropped_without_a_byte() {
    let env = Env::new("hostile-pre");
    let agent = start(&env);
    for n in [1usize, 5, 64, 4096, 70_000] {
        let mut bytes = random_bytes(n);
        // Never a TLS content type (0x14-0x18): otherwise a random record header could, once
        // in a few thousand runs, announce a record and wait for the rest of it.
        bytes[0] |= 0x80;
        assert_dropped_at_once(&agent, &env, &format!("{n} random bytes"), &bytes);
    }
    // A record header announcing more than a TLS record may hold.
    assert_dropped_at_once(
        &agent,
        &env,
        "oversized record",
        &[0x16, 0x03, 0x01, 0xff, 0xff, 0x01],
    );
}

#[test]
fn random_bytes_inside_a_client_hello_are_dropped_without_a_byte() {
    let env = Env::new("hostile-mid");
    let agent = start(&env);
    let hello = client_hello(&env, agent.addr());
    // Cuts inside the fixed start of the hello (after the message type, in its random, in
    // its session id), so the random rest cannot complete a hello the agent would answer.
    for cut in [6, 20, 60] {
        let mut bytes = hello[..cut].to_vec();
        bytes.extend(random_bytes(4096));
        assert_dropped_at_once(&agent, &env, &format!("garbage after {cut} bytes"), &bytes);
    }
}

#[test]
fn truncated_client_hello_then_silence_holds_no_worker() {
    let env = Env::new("hostile-trunc");
    let agent = start(&env);
    let hello = client_hello(&env, agent.addr());
    let tcp = send_raw(agent.addr(), &hello[..hello.len() / 2]);
    // The agent waits for the rest until the deadline, but not on the only worker.
    assert_serving(&agent, &env, "truncated ClientHello pending");
    assert_serving(&agent, &env, "truncated ClientHello pending, again");
    let (got, _) = ending(tcp);
    assert!(got.is_empty(), "agent sent {got:02x?}");
    assert_serving(&agent, &env, "after the truncated ClientHello");
}

#[test]
fn plain_http_on_the_tls_port_gets_no_http_byte() {
    let env = Env::new("hostile-http");
    let agent = start(&env);
    for raw in [
        "GET /api/v1/health HTTP/1.1\r\nHost: localhost\r\n\r\n",
        "POST /api/v1/packages HTTP/1.0\r\nContent-Length: 2\r\n\r\n{}",
        "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    ] {
        assert_dropped_at_once(&agent, &env, raw, raw.as_bytes());
    }
}

#[test]
fn foreign_and_missing_client_certificates_are_dropped_silently() {
    let env = Env::new("hostile-certs");
    let agent = start(&env);
    let other = Ca::new("other-ca");
    let foreign = other.client("patch-manager-client");
    let v13 = &[&rustls::version::TLS13];
    let cases = [
        ("certificate from another CA", Some(&foreign)),
        ("no client certificate", None),
    ];
    for (case, leaf) in cases {
        let config = client_config(&env.ca.cert_pem, leaf, v13);
        let tcp = TcpStream::connect(agent.addr()).unwrap();
        let out = attempt(tcp, config, agent.addr());
        assert!(out.plaintext.is_empty(), "{case}: {:?}", out.plaintext);
        assert!(out.closed, "{case}: connection left open");
        assert_serving(&agent, &env, case);
    }
}

#[test]
fn hostile_certificate_subjects_cannot_forge_audit_lines() {
    let env = Env::new("hostile-subject");
    let forged = r#"{"time":"2026-01-01T00:00:00Z","request_id":"forged","method":"POST"}"#;
    let cn = "evil\nCN=admin\r\x1b[31mred\x1b[0m\u{2028}";
    let org = format!("x\n{forged}\n");
    let leaf = env.ca.client_with_org(cn, &org);
    let config = client_config(&env.ca.cert_pem, Some(&leaf), &[&rustls::version::TLS13]);
    let mut c = env.config();
    // Audited, and refused before anything could reach a package tool.
    c.api.read_only = true;
    let agent = env.start(c);
    for _ in 0..2 {
        let r = request(
            agent.addr(),
            config.clone(),
            "POST",
            "/api/v1/packages",
            Some(r#"{"packages":[{"name":"nginx"}]}"#),
        );
        assert_error(&r, 403, "API_READ_ONLY");
    }
    let raw = std::fs::read(&env.audit_log).unwrap();
    for byte in [b'\r', 0x1b] {
        assert!(!raw.contains(&byte), "raw {byte:#x} in the audit log");
    }
    let text = String::from_utf8(raw).unwrap();
    assert!(!text.contains('\u{2028}'), "raw U+2028 in the audit log");
    let lines: Vec<&str> = text.split_terminator('\n').collect();
    assert_eq!(lines.len(), 2, "one line per request: {text}");
    for line in lines {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_ne!(v["request_id"], "forged");
        let subject = v["client_subject"].as_str().unwrap();
        assert!(!subject.chars().any(char::is_control), "{subject:?}");
        // The control characters are there, escaped (RFC 4514 hex pairs).
        for escaped in ["evil\\0ACN\\=admin\\0D\\1B[31mred", "\\0A{\\\"time\\\""] {
            assert!(subject.contains(escaped), "{escaped} not in {subject:?}");
        }
    }
}
