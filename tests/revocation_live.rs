//! Live connections follow reloads: a peer removed from the whitelist or whose client
//! certificate is revoked loses its open keep-alive connections and WebSocket sessions at
//! its next request or frame; others keep working. And every connection is bounded in
//! requests and age (`Connection: close`, WebSocket Close 1001).

mod common;

use std::time::Duration;

use common::*;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;
use tungstenite::Message;

/// The whitelist file is polled every second; allow scheduling slack on a loaded machine.
const RELOAD_WAIT: Duration = Duration::from_secs(5);

/// A keep-alive connection from `from` presenting `client`, after one answered request.
fn open_from(from: &str, agent: &Agent, env: &Env, client: &Leaf) -> Tls {
    let addr = agent.addr();
    let tcp = tcp_from(from.parse().unwrap(), addr).unwrap();
    let config = client_config(&env.ca.cert_pem, Some(client), &[&rustls::version::TLS13]);
    let mut tls = tls_over(tcp, config, addr);
    let resp = get_on(&mut tls, "/api/v1/system/info");
    assert_eq!(resp.status, 200, "served before the change");
    assert_eq!(resp.header("Connection"), Some("keep-alive"));
    tls
}

/// The next request on `tls` is answered (status), or the connection ends (None).
fn next_answer(tls: &mut Tls) -> Option<u16> {
    let raw = b"GET /api/v1/system/info HTTP/1.1\r\nHost: localhost\r\n\r\n";
    exchange(tls, raw).ok().map(|r| r.status)
}

/// The Close frame the server ends the session with, skipping other frames.
fn close_of(ws: &mut Ws) -> CloseFrame {
    loop {
        match ws.read() {
            Ok(Message::Close(Some(frame))) => return frame,
            Ok(Message::Close(None)) => panic!("close without a code"),
            Ok(_) => {}
            Err(e) => panic!("session ended without a Close frame: {e}"),
        }
    }
}

#[test]
fn removing_an_address_from_the_whitelist_ends_its_open_connections() {
    let env = Env::new("live-wl");
    std::fs::write(&env.whitelist, "allowed: [127.0.0.1, 127.0.0.2]\n").unwrap();
    let mut config = env.config();
    // The probes below would otherwise run into the health budget.
    config.rate_limits.enabled = false;
    let agent = env.start(config);
    let mut removed = open_from("127.0.0.1", &agent, &env, &env.client);
    let mut kept = open_from("127.0.0.2", &agent, &env, &env.client);
    let (mut ws, _) = ws_connect(agent.addr(), env.client_config()).unwrap();

    // Through the file watcher, the way an operator's edit arrives.
    std::fs::write(&env.whitelist, "allowed: [127.0.0.2]\n").unwrap();
    assert!(
        eventually(RELOAD_WAIT, || next_answer(&mut removed).is_none()),
        "the removed address's open connection must be refused its next request"
    );
    let frame = close_of(&mut ws);
    assert_eq!(frame.code, CloseCode::Policy, "{frame:?}");
    assert!(frame.reason.contains("whitelist"), "{frame:?}");
    assert_eq!(
        next_answer(&mut kept),
        Some(200),
        "unaffected address still served"
    );
    assert_eq!(next_answer(&mut kept), Some(200));
}

#[test]
fn revoking_a_client_certificate_ends_its_open_connections() {
    let env = Env::new("live-crl");
    let crl = env.dir.path().join("crl.pem");
    std::fs::write(&crl, env.ca.crl(&[])).unwrap();
    let mut config = env.config();
    config.tls.crl = Some(crl.clone());
    config.rate_limits.enabled = false;
    let agent = env.start(config);
    let other = env.ca.client("other-client");
    let mut revoked = open_from("127.0.0.1", &agent, &env, &env.client);
    let mut kept = open_from("127.0.0.1", &agent, &env, &other);
    let (mut ws, _) = ws_connect(agent.addr(), env.client_config()).unwrap();

    std::fs::write(&crl, env.ca.crl(&[env.client.serial])).unwrap();
    // What SIGHUP runs.
    agent.running().reload();
    // A state-changing request (harmless if it were served: the job does not exist).
    let cancel = b"DELETE /api/v1/jobs/3f2b1c4e-0000-4000-8000-000000000001 HTTP/1.1\r\nHost: localhost\r\n\r\n";
    assert!(
        exchange(&mut revoked, cancel).is_err(),
        "the revoked certificate's open connection must be refused its next request"
    );
    let audit = std::fs::read_to_string(&env.audit_log).unwrap();
    let line: serde_json::Value = serde_json::from_str(audit.lines().last().unwrap()).unwrap();
    assert_eq!(line["outcome"], "CONNECTION_REVOKED", "{audit}");
    assert_eq!(line["method"], "DELETE");
    assert_eq!(line["status"], 0);
    assert!(
        line["reason"].as_str().unwrap().contains("certificate"),
        "{audit}"
    );
    let frame = close_of(&mut ws);
    assert_eq!(frame.code, CloseCode::Policy, "{frame:?}");
    assert!(frame.reason.contains("certificate"), "{frame:?}");
    assert_eq!(
        next_answer(&mut kept),
        Some(200),
        "another certificate still served"
    );
    // And a new connection with the revoked certificate is refused at the handshake.
    let tcp = std::net::TcpStream::connect(agent.addr()).unwrap();
    let cfg = client_config(
        &env.ca.cert_pem,
        Some(&env.client),
        &[&rustls::version::TLS13],
    );
    let outcome = attempt(tcp, cfg, agent.addr());
    assert!(
        outcome.closed && outcome.plaintext.is_empty(),
        "{outcome:?}"
    );
}

#[test]
fn the_request_limit_ends_a_connection_with_connection_close() {
    let env = Env::new("live-count");
    let mut config = env.config();
    config.server.limits.connection.max_requests_per_connection = 3;
    let agent = env.start(config);
    let mut tls = connect(agent.addr(), env.client_config());
    for _ in 0..2 {
        let resp = get_on(&mut tls, "/health");
        assert_eq!(resp.header("Connection"), Some("keep-alive"));
    }
    let third = get_on(&mut tls, "/health");
    assert_eq!(third.status, 200);
    assert_eq!(
        third.header("Connection"),
        Some("close"),
        "{:?}",
        third.headers
    );
    assert_eq!(
        next_answer(&mut tls),
        None,
        "nothing served after the limit"
    );
}

#[test]
fn the_age_limit_ends_connections_and_sessions() {
    let env = Env::new("live-age");
    let mut config = env.config();
    config.server.limits.connection.max_connection_age_seconds = 1;
    config.server.limits.connection.max_websocket_age_seconds = 1;
    let agent = env.start(config);
    let mut tls = connect(agent.addr(), env.client_config());
    let (mut ws, _) = ws_connect(agent.addr(), env.client_config()).unwrap();
    let young = get_on(&mut tls, "/health");
    assert_eq!(young.header("Connection"), Some("keep-alive"));
    std::thread::sleep(Duration::from_millis(1200));
    let old = get_on(&mut tls, "/health");
    assert_eq!(
        old.status, 200,
        "the request after the age limit is still answered"
    );
    assert_eq!(old.header("Connection"), Some("close"), "{:?}", old.headers);
    assert_eq!(next_answer(&mut tls), None);
    let frame = close_of(&mut ws);
    assert_eq!(frame.code, CloseCode::Away, "{frame:?}");
}
