//! Hostile HTTP/1.1 input against the live agent over real mutual TLS: request smuggling,
//! broken framing and header syntax, oversized heads and bodies, hostile JSON, bytes that are
//! not UTF-8 in paths and queries, other protocol versions and pipelining.
//!
//! Every case must get the answer RFC 9112 and SPEC.md name (the JSON envelope with the right
//! status and code, then a closed connection for a framing error), nothing may reach a
//! package tool (the agent's root is empty, so it has no backend and no job engine), and the
//! agent must keep serving: a valid request on a new connection succeeds after each case.

mod common;

use std::io::{Read, Write};

use common::pipeline::Responses;
use common::*;

/// An agent with rate limits off (the cases below are many requests from one client).
fn hostile_agent(env: &Env) -> Agent {
    let mut config = env.config();
    config.rate_limits.enabled = false;
    env.start(config)
}

/// Sends `bytes` on a new connection and reads every response until the agent closes it.
fn responses(env: &Env, agent: &Agent, bytes: &[u8]) -> Vec<HttpResponse> {
    let mut tls = connect(agent.addr(), env.client_config());
    tls.write_all(bytes).unwrap();
    // Nothing more will come: the agent answers what it got, then sees the end and closes
    // (rather than waiting out the keep-alive idle time).
    tls.conn.send_close_notify();
    tls.flush().unwrap();
    let _ = tls.sock.shutdown(std::net::Shutdown::Write);
    let mut reader = Responses::new(tls);
    let mut out = Vec::new();
    while let Ok(resp) = reader.next(false) {
        let closing = resp.header("connection") == Some("close");
        out.push(resp);
        if closing {
            // Whatever the client sent after a framing error must never be answered.
            assert!(
                reader.leftover().is_empty(),
                "bytes after the final response"
            );
            assert_closed(&mut reader.stream);
            break;
        }
    }
    out
}

/// The connection ends (EOF or an error) without any further byte.
fn assert_closed(tls: &mut Tls) {
    let mut rest = Vec::new();
    let _ = tls.read_to_end(&mut rest);
    assert!(
        rest.is_empty(),
        "bytes after the final response: {:?}",
        String::from_utf8_lossy(&rest)
    );
}

/// Exactly one response: an error envelope with `status` and `code`, and the connection
/// closed after it when `closes`.
fn refused(env: &Env, agent: &Agent, bytes: &[u8], status: u16, code: &str, closes: bool) {
    let what = String::from_utf8_lossy(&bytes[..bytes.len().min(120)]).to_string();
    let all = responses(env, agent, bytes);
    assert_eq!(all.len(), 1, "one answer to {what:?}: {all:?}");
    let resp = &all[0];
    assert_eq!(resp.status, status, "{what:?}: {resp:?}");
    let v = assert_error(resp, status, code);
    assert!(
        v["error"]["message"].as_str().unwrap_or_default().len() > 5,
        "a message that says what is wrong: {v}"
    );
    if closes {
        assert_eq!(resp.header("connection"), Some("close"), "{what:?}");
    }
    still_serving(env, agent);
}

/// A valid request on a new connection succeeds.
fn still_serving(env: &Env, agent: &Agent) {
    let r = request(
        agent.addr(),
        env.client_config(),
        "GET",
        "/api/v1/health",
        None,
    );
    assert_eq!(r.status, 200, "the agent stopped serving: {r:?}");
}

/// No job exists: nothing hostile reached the job engine (and through it a package tool).
fn no_job_created(env: &Env, agent: &Agent) {
    let r = request(
        agent.addr(),
        env.client_config(),
        "GET",
        "/api/v1/jobs",
        None,
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["data"]["total"], 0, "a job was created");
}

/// A request carrying `body` with a correct Content-Length.
fn post(path: &str, body: &[u8]) -> Vec<u8> {
    let mut raw = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(body);
    raw
}

#[test]
fn smuggling_attempts_get_one_error_and_a_closed_connection() {
    let env = Env::new("hostile-smuggle");
    let agent = hostile_agent(&env);
    let smuggled = "GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n";
    // Both lengths: a front end going by one and the agent by the other would disagree
    // on where the next request starts. Refused outright, whatever the order.
    for head in [
        "POST /api/v1/packages HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST /api/v1/packages HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
        "POST /api/v1/packages HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: identity\r\n\r\n",
    ] {
        let raw = format!("{head}0\r\n\r\n{smuggled}");
        refused(&env, &agent, raw.as_bytes(), 400, "INVALID_REQUEST", true);
    }
    // Duplicate, conflicting or malformed lengths.
    for lengths in [
        "Content-Length: 5\r\nContent-Length: 0",
        "Content-Length: 0\r\nContent-Length: 5",
        "Content-Length: 0, 5",
        "Content-Length: +5",
        "Content-Length: 0x5",
        "Content-Length: -0",
        "Content-Length: 5 5",
    ] {
        let raw =
            format!("POST /api/v1/packages HTTP/1.1\r\nHost: x\r\n{lengths}\r\n\r\n{smuggled}");
        refused(&env, &agent, raw.as_bytes(), 400, "INVALID_REQUEST", true);
    }
    // Chunked (in any spelling) is not supported: 411, never a body parsed as chunks.
    for te in [
        "chunked",
        "chunked, identity",
        "identity, chunked",
        "gzip, chunked",
        "CHUNKED",
    ] {
        let raw = format!(
            "POST /api/v1/packages HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: {te}\r\n\r\n5\r\nhello\r\n0\r\n\r\n{smuggled}"
        );
        refused(&env, &agent, raw.as_bytes(), 411, "LENGTH_REQUIRED", true);
    }
    // A chunk size that overflows any integer never gets parsed either.
    let raw = format!(
        "POST /api/v1/packages HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{}\r\nx\r\n0\r\n\r\n",
        "f".repeat(40)
    );
    refused(&env, &agent, raw.as_bytes(), 411, "LENGTH_REQUIRED", true);
    no_job_created(&env, &agent);
}

#[test]
fn broken_header_syntax_is_a_400_and_closes() {
    let env = Env::new("hostile-syntax");
    let agent = hostile_agent(&env);
    let cases: [&[u8]; 12] = [
        // obs-fold (RFC 9112 5.2: reject or unfold; a hidden Transfer-Encoding must not pass).
        b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\n\r\n",
        b"POST /api/v1/packages HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n chunked\r\nContent-Length: 2\r\n\r\n{}",
        // Bare CR inside a header line and as a line end.
        b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n",
        b"GET /api/v1/health HTTP/1.1\rHost: x\r\n\r\n",
        // Whitespace between a field name and its colon (RFC 9112 5.1: MUST be 400).
        b"POST /api/v1/packages HTTP/1.1\r\nHost: x\r\nContent-Length : 2\r\n\r\n{}",
        b"GET /api/v1/health HTTP/1.1\r\n Host: x\r\n\r\n",
        // NUL bytes in the request line, a name and a value.
        b"GET /api/v1/he\0alth HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /api/v1/health HTTP/1.1\r\nX-\0: 1\r\n\r\n",
        b"GET /api/v1/health HTTP/1.1\r\nX-A: a\0b\r\n\r\n",
        // Control characters and a header value that is not UTF-8.
        b"GET /api/v1/health HTTP/1.1\r\nX-A: \x01\x02\r\n\r\n",
        b"GET /api/v1/health HTTP/1.1\r\nX-A: \xc3\x28\r\n\r\n",
        // Garbage request line.
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
    ];
    for raw in cases {
        refused(&env, &agent, raw, 400, "INVALID_REQUEST", true);
    }
    // A bare LF as line end is allowed by RFC 9112 2.2 and served.
    let all = responses(&env, &agent, b"GET /api/v1/health HTTP/1.1\nHost: x\n\n");
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].status, 200);
}

#[test]
fn oversized_heads_uris_and_bodies_are_refused_with_their_status() {
    let env = Env::new("hostile-size");
    let mut config = env.config();
    config.rate_limits.enabled = false;
    config.server.limits.max_header_bytes = 8192;
    config.server.limits.max_headers = 32;
    config.server.limits.max_body_bytes = 64 * 1024;
    let agent = env.start(config);

    let long_line = format!(
        "GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Long: {}\r\n\r\n",
        "a".repeat(20_000)
    );
    refused(
        &env,
        &agent,
        long_line.as_bytes(),
        431,
        "HEADERS_TOO_LARGE",
        true,
    );
    let many: String = (0..40).map(|i| format!("X-H{i}: {i}\r\n")).collect();
    let many = format!("GET /api/v1/health HTTP/1.1\r\nHost: x\r\n{many}\r\n");
    refused(
        &env,
        &agent,
        many.as_bytes(),
        431,
        "HEADERS_TOO_LARGE",
        true,
    );
    // A head that never ends is cut off at the limit, not buffered forever.
    let endless = format!(
        "GET /api/v1/health HTTP/1.1\r\nX-A: {}",
        "b".repeat(100_000)
    );
    refused(
        &env,
        &agent,
        endless.as_bytes(),
        431,
        "HEADERS_TOO_LARGE",
        true,
    );

    // A URI longer than the head limit: 414, the status RFC 9110 names for it.
    let long_uri = format!(
        "GET /api/v1/packages/{} HTTP/1.1\r\nHost: x\r\n\r\n",
        "n".repeat(20_000)
    );
    refused(&env, &agent, long_uri.as_bytes(), 414, "URI_TOO_LONG", true);
    let long_query = format!(
        "GET /api/v1/packages?name={} HTTP/1.1\r\nHost: x\r\n\r\n",
        "q".repeat(9_000)
    );
    refused(
        &env,
        &agent,
        long_query.as_bytes(),
        414,
        "URI_TOO_LONG",
        true,
    );

    // Declared too large: refused before a byte of it is read.
    for length in ["65537", "1000000000000", "99999999999999999999999999"] {
        let raw = format!(
            "POST /api/v1/packages HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n"
        );
        refused(&env, &agent, raw.as_bytes(), 413, "PAYLOAD_TOO_LARGE", true);
    }
    // Actually sent too large: the answer still reaches the client (no reset mid-upload).
    let big = post("/api/v1/packages", &vec![b'x'; 200 * 1024]);
    refused(&env, &agent, &big, 413, "PAYLOAD_TOO_LARGE", true);
    // More bytes than declared: the excess is the next request, which is garbage.
    let mut excess = post("/api/v1/packages", br#"{"packages":[]}"#);
    excess.extend_from_slice(b"TRAILING GARBAGE\r\n\r\n");
    let all = responses(&env, &agent, &excess);
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(all[0].status, 400, "empty packages list: {all:?}");
    assert_error(&all[1], 400, "INVALID_REQUEST");
    still_serving(&env, &agent);
    no_job_created(&env, &agent);
}

#[test]
fn hostile_json_bodies_are_400_before_anything_runs() {
    let env = Env::new("hostile-json");
    let agent = hostile_agent(&env);
    let deep_arrays = "[".repeat(100_000);
    let deep_objects = r#"{"a":"#.repeat(50_000);
    let deep_inside = format!(
        r#"{{"packages":[{{"name":"nginx","version":{}}}]}}"#,
        "[".repeat(100_000)
    );
    let huge_number = format!(
        r#"{{"packages":[{{"name":"nginx","version":1{}}}]}}"#,
        "0".repeat(5000)
    );
    let huge_exponent =
        r#"{"packages":["nginx"],"options":{"timeout_seconds":1e999999}}"#.to_string();
    let long_name = format!(r#"{{"packages":["{}"]}}"#, "a".repeat(900_000));
    let long_version = format!(
        r#"{{"packages":[{{"name":"nginx","version":"{}"}}]}}"#,
        "1".repeat(500_000)
    );
    let escapes = format!(r#"{{"packages":["{}"]}}"#, r"\u0000".repeat(100_000));
    let bodies: Vec<&[u8]> = vec![
        deep_arrays.as_bytes(),
        deep_objects.as_bytes(),
        deep_inside.as_bytes(),
        huge_number.as_bytes(),
        huge_exponent.as_bytes(),
        long_name.as_bytes(),
        long_version.as_bytes(),
        escapes.as_bytes(),
        b"{\"packages\":[\"ngi\xffnx\"]}",
        b"{\"packages\":[\"nginx\"]}\0",
        b"{\"packages\":[\"nginx\"]} {\"packages\":[\"curl\"]}",
    ];
    for body in bodies {
        let all = responses(&env, &agent, &post("/api/v1/packages", body));
        assert_eq!(all.len(), 1, "{all:?}");
        let head = String::from_utf8_lossy(&body[..body.len().min(60)]).to_string();
        let v = assert_error(&all[0], 400, "INVALID_REQUEST");
        assert!(
            v["error"]["message"].as_str().unwrap_or_default().len() > 5,
            "{head:?}: {v}"
        );
        // The same body on PUT, which takes an optional body.
        let mut put = post("/api/v1/packages/nginx", body);
        put.splice(0..4, b"PUT".iter().copied());
        let all = responses(&env, &agent, &put);
        assert_error(&all[0], 400, "INVALID_REQUEST");
    }
    still_serving(&env, &agent);
    no_job_created(&env, &agent);
}

#[test]
fn paths_and_queries_that_are_not_utf8_or_hold_nul_are_400() {
    let env = Env::new("hostile-uri");
    let agent = hostile_agent(&env);
    let targets: [&[u8]; 14] = [
        // Raw bytes that are not UTF-8 (refused by the parser).
        b"/api/v1/packages/ngi\xffnx",
        b"/api/v1/packages?name=\xc0\xaf",
        b"/api/v1/packages/\xed\xa0\x80",
        // Percent-encoded bytes that are not UTF-8, an overlong '/', a surrogate.
        b"/api/v1/packages/ngi%FFnx",
        b"/api/v1/packages/%C0%AF",
        b"/api/v1/packages/%ED%A0%80",
        b"/api/v1/packages?name=%FF",
        b"/api/v1/packages?na%FFme=x",
        // NUL and other control characters, encoded.
        b"/api/v1/packages/nginx%00",
        b"/api/v1/packages?name=a%00b",
        b"/api/v1/packages/a%0d%0aX-Injected:%201",
        b"/api/v1/jobs?status=%1b[31m",
        // Broken escapes.
        b"/api/v1/packages/%",
        b"/api/v1/packages?name=%e",
    ];
    for target in targets {
        let mut raw = b"GET ".to_vec();
        raw.extend_from_slice(target);
        raw.extend_from_slice(b" HTTP/1.1\r\nHost: x\r\n\r\n");
        let all = responses(&env, &agent, &raw);
        let what = String::from_utf8_lossy(target).to_string();
        assert_eq!(all.len(), 1, "{what}: {all:?}");
        assert_error(&all[0], 400, "INVALID_REQUEST");
        still_serving(&env, &agent);
    }
}

#[test]
fn other_protocol_versions_and_pipelines() {
    let env = Env::new("hostile-versions");
    let agent = hostile_agent(&env);
    // HTTP/1.0: served, then closed (no keep-alive asked for).
    let all = responses(&env, &agent, b"GET /api/v1/health HTTP/1.0\r\n\r\n");
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].status, 200);
    assert_eq!(all[0].header("connection"), Some("close"));
    // HTTP/1.0 asking for keep-alive gets it.
    let all = responses(
        &env,
        &agent,
        b"GET /api/v1/health HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /health HTTP/1.0\r\n\r\n",
    );
    assert_eq!(all.iter().map(|r| r.status).collect::<Vec<_>>(), [200, 200]);
    // The absolute-form must be accepted (RFC 9112 3.2.2); userinfo in it is refused.
    let all = responses(
        &env,
        &agent,
        b"GET https://127.0.0.1:12443/api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert_eq!(all.iter().map(|r| r.status).collect::<Vec<_>>(), [200]);
    refused(
        &env,
        &agent,
        b"GET https://user@127.0.0.1/api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n",
        400,
        "INVALID_REQUEST",
        true,
    );
    // Two Host headers (RFC 9112 3.2: 400).
    refused(
        &env,
        &agent,
        b"GET /api/v1/health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        400,
        "INVALID_REQUEST",
        true,
    );
    // The HTTP/2 connection preface on the TLS socket (ALPN offered only http/1.1).
    refused(
        &env,
        &agent,
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04\x00\x00\x00\x00\x00",
        400,
        "INVALID_REQUEST",
        true,
    );
    for line in [
        "GET /api/v1/health HTTP/2.0",
        "GET /api/v1/health HTTP/1.2",
        "GET /api/v1/health HTTP/0.9",
        "GET /api/v1/health",
        "GET /api/v1/health HTTPS/1.1",
    ] {
        let raw = format!("{line}\r\nHost: x\r\n\r\n");
        refused(&env, &agent, raw.as_bytes(), 400, "INVALID_REQUEST", true);
    }
    // Pipelined requests, one write, answered in order; a broken one ends the pipeline.
    let mut pipeline = Vec::new();
    pipeline.extend_from_slice(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n");
    pipeline.extend_from_slice(b"GET /api/v1/nothing HTTP/1.1\r\nHost: x\r\n\r\n");
    pipeline.extend_from_slice(&post("/api/v1/packages", b"[[["));
    pipeline.extend_from_slice(b"DELETE /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n");
    pipeline.extend_from_slice(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    pipeline
        .extend_from_slice(b"GET /x HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n");
    pipeline.extend_from_slice(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n");
    let all = responses(&env, &agent, &pipeline);
    let statuses: Vec<u16> = all.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 404, 400, 405, 200, 400], "{all:?}");
    assert_eq!(all[5].header("connection"), Some("close"));
    still_serving(&env, &agent);
    no_job_created(&env, &agent);
}
