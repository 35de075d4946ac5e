//! Mutual TLS and the whitelist: the happy path, and every case that must be silently dropped.

mod common;

use std::io::Read;
use std::net::TcpStream;
use std::time::Duration;

use common::*;

#[test]
fn valid_client_certificate_gets_health_and_system_info_on_one_connection() {
    let env = Env::new("happy");
    let agent = env.start(env.config());
    let mut tls = connect(agent.addr(), env.client_config());
    assert_eq!(
        tls.conn.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
    assert_eq!(
        tls.conn.alpn_protocol(),
        Some(&b"http/1.1"[..]),
        "h2 is never chosen"
    );

    let health = get_on(&mut tls, "/api/v1/health");
    assert_eq!(health.status, 200);
    let v = assert_envelope(&health);
    assert_eq!(v["success"], true);
    assert!(v["data"]["status"].is_string());
    assert_eq!(v["data"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(v["data"]["uptime_seconds"].is_u64());
    for check in ["config", "certificates", "package_manager", "job_queue"] {
        assert!(
            v["data"]["checks"][check].is_string(),
            "checks.{check}: {v}"
        );
    }

    // Same connection: keep-alive.
    let info = get_on(&mut tls, "/api/v1/system/info");
    assert_eq!(info.status, 200);
    let v = assert_envelope(&info);
    let d = &v["data"];
    assert!(d["hostname"].is_string());
    assert!(d["os"].is_object(), "spec shape nests os: {d}");
    assert!(d["kernel"].is_object(), "spec shape nests kernel: {d}");
    assert!(d["os_version"].is_string() && d["architecture"].is_string());
    assert!(d["pending_reboot"].is_boolean());

    let plain = get_on(&mut tls, "/health");
    assert_eq!(plain.status, 200);
    assert_ne!(
        assert_envelope(&plain)["request_id"],
        v["request_id"],
        "every response has a fresh request_id"
    );
}

#[test]
fn compat_switch_renders_os_and_kernel_as_strings() {
    let env = Env::new("compat");
    let mut config = env.config();
    config.compat.patch_manager = linux_patch_api::compat::PatchManagerCompat::On;
    let agent = env.start(config);
    let resp = request(
        agent.addr(),
        env.client_config(),
        "GET",
        "/api/v1/system/info",
        None,
    );
    let v = assert_envelope(&resp);
    let d = &v["data"];
    for key in ["hostname", "os", "os_version", "kernel", "architecture"] {
        assert!(
            d[key].is_string(),
            "{key} must be a string for the manager: {d}"
        );
    }
    assert!(d["pending_reboot"].is_boolean());
}

fn assert_dropped(outcome: DropOutcome, what: &str) {
    assert!(
        outcome.plaintext.is_empty(),
        "{what}: received application bytes {:?}",
        String::from_utf8_lossy(&outcome.plaintext)
    );
    assert!(outcome.closed, "{what}: the connection was not closed");
}

#[test]
fn client_without_certificate_is_dropped_silently() {
    let env = Env::new("nocert");
    let agent = env.start(env.config());
    let cfg = client_config(&env.ca.cert_pem, None, &[&rustls::version::TLS13]);
    let tcp = TcpStream::connect(agent.addr()).unwrap();
    assert_dropped(attempt(tcp, cfg, agent.addr()), "no certificate");
}

#[test]
fn certificate_from_another_ca_is_dropped_silently() {
    let env = Env::new("otherca");
    let agent = env.start(env.config());
    let other = Ca::new("other-ca");
    let stranger = other.client("patch-manager-client");
    let cfg = client_config(
        &env.ca.cert_pem,
        Some(&stranger),
        &[&rustls::version::TLS13],
    );
    let tcp = TcpStream::connect(agent.addr()).unwrap();
    assert_dropped(attempt(tcp, cfg, agent.addr()), "another CA");
}

#[test]
fn expired_certificate_is_dropped_silently() {
    let env = Env::new("expired");
    let agent = env.start(env.config());
    let old = env.ca.expired_client("patch-manager-client");
    let cfg = client_config(&env.ca.cert_pem, Some(&old), &[&rustls::version::TLS13]);
    let tcp = TcpStream::connect(agent.addr()).unwrap();
    assert_dropped(attempt(tcp, cfg, agent.addr()), "expired certificate");
}

#[test]
fn revoked_certificate_is_dropped_and_others_still_served() {
    let env = Env::new("revoked");
    let revoked = env.ca.client("revoked-client");
    let crl_path = env.dir.path().join("crl.pem");
    std::fs::write(&crl_path, env.ca.crl(&[revoked.serial])).unwrap();
    let mut config = env.config();
    config.tls.crl = Some(crl_path);
    let agent = env.start(config);

    let cfg = client_config(&env.ca.cert_pem, Some(&revoked), &[&rustls::version::TLS13]);
    let tcp = TcpStream::connect(agent.addr()).unwrap();
    assert_dropped(attempt(tcp, cfg, agent.addr()), "revoked certificate");

    let ok = request(
        agent.addr(),
        env.client_config(),
        "GET",
        "/api/v1/health",
        None,
    );
    assert_eq!(ok.status, 200, "a certificate not on the CRL is served");
}

#[test]
fn tls12_only_client_is_dropped_silently() {
    let env = Env::new("tls12");
    let agent = env.start(env.config());
    let cfg = client_config(
        &env.ca.cert_pem,
        Some(&env.client),
        &[&rustls::version::TLS12],
    );
    let tcp = TcpStream::connect(agent.addr()).unwrap();
    assert_dropped(attempt(tcp, cfg, agent.addr()), "TLS 1.2 client");
}

#[test]
fn peer_not_in_whitelist_is_closed_before_any_byte() {
    let env = Env::new("denied");
    let agent = env.start(env.config());
    // 127.0.0.2 is loopback but not listed.
    let mut tcp = tcp_from("127.0.0.2".parse().unwrap(), agent.addr()).unwrap();
    tcp.set_read_timeout(Some(IO_WAIT)).unwrap();
    let mut buf = [0u8; 64];
    let n = tcp.read(&mut buf).map_err(|e| e.kind());
    assert!(
        matches!(n, Ok(0)) || matches!(n, Err(std::io::ErrorKind::ConnectionReset)),
        "expected EOF or reset with zero bytes, got {n:?}"
    );

    // And a full TLS attempt from there gets nothing either.
    let tcp = tcp_from("127.0.0.2".parse().unwrap(), agent.addr()).unwrap();
    assert_dropped(
        attempt(tcp, env.client_config(), agent.addr()),
        "not whitelisted",
    );

    // While 127.0.0.1 is served.
    let ok = request(agent.addr(), env.client_config(), "GET", "/health", None);
    assert_eq!(ok.status, 200);
}

#[test]
fn unauthenticated_health_is_allowed_only_for_get_health_when_enabled() {
    let env = Env::new("unauth");
    let mut config = env.config();
    config.health.allow_unauthenticated = true;
    let agent = env.start(config);
    let anonymous = client_config(&env.ca.cert_pem, None, &[&rustls::version::TLS13]);

    let resp = request(agent.addr(), anonymous.clone(), "GET", "/health", None);
    assert_eq!(resp.status, 200);
    assert_envelope(&resp);

    // Any other request on an anonymous connection: closed without a response.
    let tcp = TcpStream::connect(agent.addr()).unwrap();
    let mut tls = tls_over(tcp, anonymous, agent.addr());
    let result = exchange(
        &mut tls,
        b"GET /api/v1/system/info HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert!(
        result.is_err(),
        "expected a close without response, got {result:?}"
    );

    // A certificate holder still reaches everything.
    let resp = request(
        agent.addr(),
        env.client_config(),
        "GET",
        "/api/v1/system/info",
        None,
    );
    assert_eq!(resp.status, 200);
}

#[test]
fn idle_keep_alive_connection_is_closed_after_its_deadline() {
    let env = Env::new("idle");
    let mut config = env.config();
    config.server.timeouts.keep_alive_idle_seconds = 1;
    let agent = env.start(config);
    let mut tls = connect(agent.addr(), env.client_config());
    assert_eq!(get_on(&mut tls, "/health").status, 200);
    std::thread::sleep(Duration::from_millis(1500));
    let mut buf = [0u8; 16];
    let r = tls.read(&mut buf);
    assert!(
        matches!(r, Ok(0)) || r.is_err(),
        "connection should be closed, got {r:?}"
    );
}

#[test]
fn ipv6_listener_serves_ipv6_clients() {
    let env = Env::new("ipv6");
    let mut config = env.config();
    config.server.bind = "::1".parse().unwrap();
    let agent = match std::net::TcpListener::bind("[::1]:0") {
        Ok(_) => env.start(config),
        Err(e) => panic!("this machine has no IPv6 loopback ({e}); the IPv6 bind cannot be tested"),
    };
    assert!(agent.addr().is_ipv6());
    let resp = request(
        agent.addr(),
        env.client_config(),
        "GET",
        "/api/v1/health",
        None,
    );
    assert_eq!(resp.status, 200);
}

#[test]
fn in_flight_request_finishes_after_shutdown_is_requested() {
    use std::io::Write;
    let env = Env::new("graceful");
    let agent = env.start(env.config());
    let addr = agent.addr();
    let mut tls = connect(addr, env.client_config());
    // Head sent, body still on its way when the stop comes.
    let body = br#"{"delay_seconds":0}"#;
    let head = format!(
        "POST /api/v1/system/reboot HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    tls.write_all(head.as_bytes()).unwrap();
    tls.write_all(&body[..5]).unwrap();
    tls.flush().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let stopper = std::thread::spawn(move || agent.stop());
    std::thread::sleep(Duration::from_millis(300));
    tls.write_all(&body[5..]).unwrap();
    tls.flush().unwrap();
    let resp = read_response(&mut tls).expect("the in-flight request is answered");
    assert_envelope(&resp);
    assert_eq!(
        resp.header("connection"),
        Some("close"),
        "stopping server closes after it"
    );
    assert!(stopper.join().unwrap().is_ok());
    // And nothing new is accepted.
    assert!(
        TcpStream::connect(addr).is_err(),
        "listener closed after stop"
    );
}
