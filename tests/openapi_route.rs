//! `GET /api/v1/openapi.yaml` and `.json` on the real server: the committed document, behind
//! the same mTLS, query check, method check and rate limit as every other endpoint.

mod common;

use std::net::TcpStream;

use common::*;

const DOC: &str = include_str!("../docs/openapi.yaml");

#[test]
fn the_document_is_served_as_committed_in_yaml_and_json() {
    let env = Env::new("openapi");
    let agent = env.start(env.config());
    let mut tls = connect(agent.addr(), env.client_config());

    let yaml = get_on(&mut tls, "/api/v1/openapi.yaml");
    assert_eq!(yaml.status, 200);
    assert_eq!(yaml.header("content-type"), Some("application/yaml"));
    let id = yaml.header("x-request-id").expect("X-Request-Id");
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    assert_eq!(String::from_utf8(yaml.body).unwrap(), DOC);

    // Same connection (keep-alive), the JSON rendering of the same document.
    let json = get_on(&mut tls, "/api/v1/openapi.json");
    assert_eq!(json.status, 200);
    assert_eq!(json.header("content-type"), Some("application/json"));
    let expected: serde_json::Value = serde_yaml_ng::from_str(DOC).unwrap();
    assert_eq!(json.json(), expected);
    assert_eq!(json.json()["info"]["title"], "linux-patch-api");
}

#[test]
fn the_document_route_checks_method_and_query_like_any_other() {
    let env = Env::new("openapi-errors");
    let agent = env.start(env.config());
    let post = request(
        agent.addr(),
        env.client_config(),
        "POST",
        "/api/v1/openapi.yaml",
        Some("{}"),
    );
    assert_error(&post, 405, "METHOD_NOT_ALLOWED");
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
    let query = request(
        agent.addr(),
        env.client_config(),
        "GET",
        "/api/v1/openapi.json?pretty=1",
        None,
    );
    assert_error(&query, 400, "INVALID_REQUEST");
}

#[test]
fn the_document_needs_a_certificate_and_counts_against_the_health_budget() {
    let env = Env::new("openapi-access");
    let mut config = env.config();
    config.health.allow_unauthenticated = true;
    config.rate_limits.health.requests = 1;
    config.rate_limits.health.window_seconds = 60;
    let agent = env.start(config);

    // Without a certificate: only GET /health is served; this connection is closed unanswered.
    let anonymous = client_config(&env.ca.cert_pem, None, &[&rustls::version::TLS13]);
    let mut tls = tls_over(
        TcpStream::connect(agent.addr()).unwrap(),
        anonymous,
        agent.addr(),
    );
    let result = exchange(
        &mut tls,
        b"GET /api/v1/openapi.yaml HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert!(result.is_err(), "expected a close, got {result:?}");

    let first = request(
        agent.addr(),
        env.client_config(),
        "GET",
        "/api/v1/openapi.yaml",
        None,
    );
    assert_eq!(first.status, 200);
    let second = request(
        agent.addr(),
        env.client_config(),
        "GET",
        "/api/v1/openapi.json",
        None,
    );
    let v = assert_error(&second, 429, "RATE_LIMIT_EXCEEDED");
    assert!(v["error"]["details"]["retry_after_seconds"].as_u64() >= Some(1));
}
