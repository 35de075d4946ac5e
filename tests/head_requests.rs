//! HEAD over real mutual TLS: served wherever GET is (RFC 9110 9.3.2) with GET's status and
//! headers, Content-Length included, and no body, without desynchronising a kept-alive or
//! pipelined connection.

mod common;

use std::io::Write;

use common::pipeline::Responses;
use common::*;

/// Every GET route of the API, some with parameters that make them fail (HEAD must mirror
/// errors too). The service name fails validation, so no process is started for it.
const GET_ROUTES: [&str; 12] = [
    "/health",
    "/api/v1/health",
    "/api/v1/packages",
    "/api/v1/packages?limit=abc",
    "/api/v1/packages/nginx",
    "/api/v1/patches",
    "/api/v1/system/info",
    "/api/v1/system/services/%20bad",
    "/api/v1/jobs",
    "/api/v1/jobs/0b5e4d4e-8a4f-4c55-9a33-2d2a8f0e7d11",
    "/api/v1/ws/jobs",
    "/api/v1/nothing-here",
];

/// Header names whose values legitimately differ between two answers.
const VOLATILE: [&str; 2] = ["date", "x-request-id"];

fn agent(env: &Env) -> Agent {
    let mut config = env.config();
    config.rate_limits.enabled = false;
    env.start(config)
}

fn send(reader: &mut Responses<Tls>, method: &str, path: &str) {
    let raw = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\n\r\n");
    reader.stream.write_all(raw.as_bytes()).unwrap();
    reader.stream.flush().unwrap();
}

fn content_length(resp: &HttpResponse) -> usize {
    resp.header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no Content-Length: {resp:?}"))
}

/// Headers other than the volatile ones, sorted, for comparison.
fn stable_headers(resp: &HttpResponse) -> Vec<(String, String)> {
    let mut h: Vec<(String, String)> = resp
        .headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .filter(|(k, _)| !VOLATILE.contains(&k.as_str()) && k != "content-length")
        .collect();
    h.sort();
    h
}

/// Asserts that `head` answers like `get` did, without a body.
fn assert_mirrors(path: &str, get: &HttpResponse, head: &HttpResponse) {
    assert_eq!(head.status, get.status, "HEAD {path}");
    assert!(head.body.is_empty(), "HEAD {path} has a body");
    assert_eq!(stable_headers(head), stable_headers(get), "HEAD {path}");
    assert!(head.header("x-request-id").is_some(), "HEAD {path}");
    let (announced, sent) = (content_length(head), get.body.len());
    // Health and system info carry uptimes and clock readings whose digits may change
    // between the two requests; every other answer is the same length byte for byte.
    let volatile = path.ends_with("health") || path.ends_with("info");
    let slack = if volatile { 16 } else { 0 };
    assert!(
        announced.abs_diff(sent) <= slack,
        "HEAD {path} announces {announced} bytes, GET sent {sent}"
    );
}

#[test]
fn head_mirrors_get_on_every_get_route_on_one_connection() {
    let env = Env::new("head-routes");
    let agent = agent(&env);
    let mut reader = Responses::new(connect(agent.addr(), env.client_config()));
    for path in GET_ROUTES {
        send(&mut reader, "GET", path);
        let get = reader.next(false).unwrap();
        send(&mut reader, "HEAD", path);
        let head = reader.next(true).unwrap();
        assert_mirrors(path, &get, &head);
        assert_eq!(head.header("connection"), Some("keep-alive"), "{path}");
    }
    // The connection is still in step: a GET after all those HEADs is answered in full.
    send(&mut reader, "GET", "/api/v1/health");
    let last = reader.next(false).unwrap();
    assert_eq!(last.status, 200);
    assert_eq!(last.body.len(), content_length(&last));
    assert!(last.json()["success"].as_bool().unwrap());
}

#[test]
fn pipelined_heads_do_not_desynchronise_the_connection() {
    let env = Env::new("head-pipeline");
    let agent = agent(&env);
    let mut tls = connect(agent.addr(), env.client_config());
    let mut raw = String::new();
    let plan = [
        ("HEAD", "/api/v1/health"),
        ("GET", "/api/v1/jobs"),
        ("HEAD", "/api/v1/nothing-here"),
        ("HEAD", "/api/v1/patches/apply"),
        ("GET", "/api/v1/health"),
        ("HEAD", "/api/v1/jobs"),
    ];
    for (method, path) in plan {
        raw.push_str(&format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\n\r\n"
        ));
    }
    tls.write_all(raw.as_bytes()).unwrap();
    tls.flush().unwrap();
    let mut reader = Responses::new(tls);
    let mut statuses = Vec::new();
    for (method, path) in plan {
        let resp = reader.next(method == "HEAD").unwrap();
        if method == "GET" {
            assert!(resp.json().is_object(), "{path}: {resp:?}");
        }
        statuses.push(resp.status);
    }
    assert_eq!(statuses[0], 200);
    assert_eq!(statuses[2..5], [404, 405, 200]);
    assert_eq!(statuses[1], statuses[5], "GET and HEAD of /api/v1/jobs");
    // Nothing was sent beyond the announced bodies of the GETs.
    assert!(reader.leftover().is_empty(), "{:?}", reader.leftover());
}

#[test]
fn head_errors_carry_the_envelope_headers_and_405_lists_head() {
    let env = Env::new("head-errors");
    let agent = agent(&env);
    let mut reader = Responses::new(connect(agent.addr(), env.client_config()));
    // A route that only takes POST refuses HEAD, naming what it allows.
    send(&mut reader, "HEAD", "/api/v1/patches/apply");
    let r = reader.next(true).unwrap();
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("POST"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert!(content_length(&r) > 50, "the envelope it would have sent");
    send(&mut reader, "GET", "/api/v1/patches/apply");
    let get = reader.next(false).unwrap();
    assert_error(&get, 405, "METHOD_NOT_ALLOWED");
    // The same envelope but for the method it names.
    assert_eq!(
        content_length(&r),
        get.body.len() + "HEAD".len() - "GET".len()
    );
    // A GET route lists HEAD next to GET.
    send(&mut reader, "DELETE", "/api/v1/health");
    let r = reader.next(false).unwrap();
    assert_error(&r, 405, "METHOD_NOT_ALLOWED");
    assert_eq!(r.header("allow"), Some("GET, HEAD"));
    // Methods are case-sensitive: `head` is not HEAD.
    send(&mut reader, "head", "/api/v1/health");
    let r = reader.next(false).unwrap();
    assert_error(&r, 405, "METHOD_NOT_ALLOWED");
    send(&mut reader, "HEAD", "/api/v1/nothing");
    let r = reader.next(true).unwrap();
    assert_eq!(r.status, 404);
    assert!(content_length(&r) > 50);
    send(&mut reader, "GET", "/api/v1/health");
    assert_eq!(reader.next(false).unwrap().status, 200, "still in step");
}

#[test]
fn head_of_health_without_a_certificate_when_allowed() {
    let env = Env::new("head-unauth");
    let mut config = env.config();
    config.health.allow_unauthenticated = true;
    let agent = env.start(config);
    let anonymous = client_config(&env.ca.cert_pem, None, &[&rustls::version::TLS13]);
    let mut reader = Responses::new(connect(agent.addr(), anonymous));
    send(&mut reader, "HEAD", "/health");
    let r = reader.next(true).unwrap();
    assert_eq!(r.status, 200);
    assert!(content_length(&r) > 50);
    send(&mut reader, "GET", "/health");
    let get = reader.next(false).unwrap();
    assert_eq!(get.status, 200);
    assert!(get.json()["success"].as_bool().unwrap());
}
