//! HTTP/1.1 behaviour over real TLS: every error is an envelope, limits, rate limits,
//! the read-only gate with its audit trail, and slow clients that cannot starve others.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;

fn raw(env: &Env, agent: &Agent, bytes: &[u8]) -> HttpResponse {
    let mut tls = connect(agent.addr(), env.client_config());
    exchange(&mut tls, bytes).unwrap()
}

#[test]
fn every_error_status_is_an_envelope() {
    let env = Env::new("errors");
    let mut config = env.config();
    config.server.limits.max_header_bytes = 2048;
    config.server.limits.max_body_bytes = 1024;
    let agent = env.start(config);

    let r = raw(
        &env,
        &agent,
        b"GET /api/v1/nothing-here HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert_error(&r, 404, "NOT_FOUND");

    let r = raw(
        &env,
        &agent,
        b"DELETE /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert_error(&r, 405, "METHOD_NOT_ALLOWED");
    assert_eq!(r.header("allow"), Some("GET, HEAD"));
    let r = raw(
        &env,
        &agent,
        b"PATCH /api/v1/packages/nginx HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    let allow = r.header("allow").unwrap_or_default().to_string();
    assert_error(&r, 405, "METHOD_NOT_ALLOWED");
    for m in ["GET", "PUT", "DELETE"] {
        assert!(allow.contains(m), "Allow lists {m}: {allow}");
    }

    let big = format!(
        "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(4096)
    );
    let r = raw(&env, &agent, big.as_bytes());
    assert_eq!(r.status, 431);
    assert_envelope(&r);

    let body = "x".repeat(2048);
    let req = format!(
        "POST /api/v1/packages HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let r = raw(&env, &agent, req.as_bytes());
    assert_eq!(r.status, 413);
    assert_envelope(&r);

    let r = raw(&env, &agent, b"BLAH\r\n\r\n");
    assert_error(&r, 400, "INVALID_REQUEST");

    let r = raw(
        &env,
        &agent,
        b"GET /api/v1/packages/ngi%zznx HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert_error(&r, 400, "INVALID_REQUEST");

    let r = raw(
        &env,
        &agent,
        b"GET /api/v1/packages/%2e%2e HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert_error(&r, 400, "INVALID_REQUEST");
    let r = raw(
        &env,
        &agent,
        b"GET /api/v1/../v1/health HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert_error(&r, 400, "INVALID_REQUEST");

    let r = raw(
        &env,
        &agent,
        b"GET /api/v1/packages?limit=abc HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    let v = assert_error(&r, 400, "INVALID_REQUEST");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("limit"),
        "names the value: {v}"
    );
    let r = raw(
        &env,
        &agent,
        b"GET /api/v1/packages?limit=5000 HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert_error(&r, 400, "INVALID_REQUEST");
    let r = raw(
        &env,
        &agent,
        b"GET /api/v1/jobs/not-a-uuid HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    let v = assert_error(&r, 400, "INVALID_REQUEST");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("UUID"),
        "{v}"
    );

    let r = raw(&env, &agent, b"POST /api/v1/packages HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
    assert_eq!(r.status, 411);
    assert_envelope(&r);
}

#[test]
fn patch_and_reboot_requests_are_validated_before_anything_runs() {
    let env = Env::new("surface");
    let agent = env.start(env.config());
    let cases = [
        ("GET", "/api/v1/patches?severity=urgent", None, "severity"),
        ("GET", "/api/v1/patches?status=done", None, "status"),
        (
            "POST",
            "/api/v1/patches/apply",
            Some(r#"{"patches":["A"],"packages":["b"]}"#),
            "give one",
        ),
        (
            "POST",
            "/api/v1/patches/apply",
            Some(r#"{"options":{"reboot_delay_minutes":"soon"}}"#),
            "options.reboot_delay_minutes",
        ),
        (
            "POST",
            "/api/v1/system/reboot",
            Some(r#"{"delay_seconds":-5}"#),
            "delay_seconds",
        ),
        (
            "POST",
            "/api/v1/system/reboot",
            Some(r#"{"force":true,"now":true}"#),
            "unknown field \"now\"",
        ),
    ];
    for (method, path, body, names) in cases {
        let r = request(agent.addr(), env.client_config(), method, path, body);
        let v = assert_error(&r, 400, "INVALID_REQUEST");
        let message = v["error"]["message"].as_str().unwrap();
        assert!(message.contains(names), "{method} {path}: {message}");
    }
}

#[test]
fn rate_limit_answers_429_envelope_with_retry_after() {
    let env = Env::new("ratelimit");
    let mut config = env.config();
    config.rate_limits.health.requests = 3;
    config.rate_limits.health.window_seconds = 60;
    let agent = env.start(config);
    let mut tls = connect(agent.addr(), env.client_config());
    for _ in 0..3 {
        assert_eq!(get_on(&mut tls, "/api/v1/health").status, 200);
    }
    let r = get_on(&mut tls, "/api/v1/health");
    let v = assert_error(&r, 429, "RATE_LIMIT_EXCEEDED");
    assert_eq!(v["error"]["retryable"], true);
    let retry = v["error"]["details"]["retry_after_seconds"]
        .as_u64()
        .expect("retry_after_seconds");
    assert!(
        (1..=20).contains(&retry),
        "one token refills in 60/3 = 20 s: {retry}"
    );
    assert_eq!(r.header("retry-after"), Some(retry.to_string().as_str()));
    // Another category (job operations) is not affected.
    assert_eq!(get_on(&mut tls, "/api/v1/jobs").status, 200);
}

#[test]
fn read_only_mode_refuses_mutations_and_audits_them() {
    let env = Env::new("readonly");
    let mut config = env.config();
    config.api.read_only = true;
    let agent = env.start(config);
    let r = request(
        agent.addr(),
        env.client_config(),
        "POST",
        "/api/v1/packages",
        Some(r#"{"packages":[{"name":"nginx"}]}"#),
    );
    let v = assert_error(&r, 403, "API_READ_ONLY");
    let id = v["request_id"].as_str().unwrap().to_string();
    let r = request(
        agent.addr(),
        env.client_config(),
        "POST",
        "/api/v1/system/reboot",
        Some("{}"),
    );
    assert_error(&r, 403, "API_READ_ONLY");
    // Reads are not audited; writes are, with the client's identity.
    let _ = request(
        agent.addr(),
        env.client_config(),
        "GET",
        "/api/v1/health",
        None,
    );

    let text = std::fs::read_to_string(&env.audit_log).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    let first = &lines[0];
    assert_eq!(first["request_id"], id.as_str());
    assert_eq!(first["method"], "POST");
    assert_eq!(first["path"], "/api/v1/packages");
    assert_eq!(first["outcome"], "API_READ_ONLY");
    assert_eq!(first["peer_ip"], "127.0.0.1");
    assert!(first["client_subject"]
        .as_str()
        .unwrap()
        .contains("CN=patch-manager-client"));
    assert_eq!(
        first["client_fingerprint_sha256"].as_str().unwrap().len(),
        64
    );
}

#[test]
fn put_without_body_or_content_length_is_accepted_by_the_parser() {
    // INTEROP: the manager sends PUT with no body, no Content-Type, no Content-Length.
    let env = Env::new("putnobody");
    let agent = env.start(env.config());
    let r = raw(
        &env,
        &agent,
        b"PUT /api/v1/packages/nginx HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert_ne!(r.status, 411);
    assert_ne!(r.status, 400);
    assert_envelope(&r);
}

#[test]
fn slow_clients_do_not_delay_a_normal_client_beyond_the_deadline() {
    let env = Env::new("slowloris");
    let mut config = env.config();
    config.server.timeouts.tls_handshake_seconds = 2;
    config.server.timeouts.request_head_seconds = 2;
    // 50 slow peers from one address: room for all of them in the handshake stage, so that
    // this test is about deadlines (the per-address cap is tests/silent_sockets.rs's).
    config.server.max_handshakes_per_address = 64;
    let agent = env.start(config);
    let addr = agent.addr();

    let mut trickles = Vec::new();
    for i in 0..50 {
        let cfg = env.client_config();
        trickles.push(std::thread::spawn(move || {
            // Half trickle raw bytes before any TLS, half trickle an HTTP head after it.
            let mut sink: Box<dyn Write> = if i % 2 == 0 {
                Box::new(TcpStream::connect(addr).unwrap())
            } else {
                Box::new(connect(addr, cfg))
            };
            let mut sent = 0;
            while sent < 15 {
                if sink.write_all(b"G").and_then(|_| sink.flush()).is_err() {
                    return sent;
                }
                sent += 1;
                std::thread::sleep(Duration::from_secs(1));
            }
            sent
        }));
    }
    std::thread::sleep(Duration::from_millis(1500));
    let started = Instant::now();
    let resp = request(addr, env.client_config(), "GET", "/api/v1/health", None);
    let took = started.elapsed();
    assert_eq!(resp.status, 200);
    assert!(
        took < Duration::from_secs(2),
        "normal client waited {took:?}, longer than the 2 s deadline"
    );
    let sent: Vec<usize> = trickles.into_iter().map(|t| t.join().unwrap()).collect();
    // Every trickler was cut off by its deadline rather than allowed to go on for 15 s.
    assert!(
        sent.iter().all(|&n| n < 15),
        "a slow client outlived its deadline: {sent:?}"
    );
}
