//! Live reload without restart: the whitelist file and the certificate set.

mod common;

use std::io::Read;
use std::net::SocketAddr;
use std::time::Duration;

use common::*;

/// The whitelist promise is "within 2 s"; allow scheduling slack on a loaded 2-core machine.
const RELOAD_WAIT: Duration = Duration::from_millis(2500);

fn allowed_from(ip: &str, addr: SocketAddr, env: &Env) -> bool {
    let Ok(tcp) = tcp_from(ip.parse().unwrap(), addr) else {
        return false;
    };
    let mut tls = tls_over(tcp, env.client_config(), addr);
    match exchange(&mut tls, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n") {
        Ok(resp) => resp.status == 200,
        Err(_) => false,
    }
}

fn denied_from(ip: &str, addr: SocketAddr) -> bool {
    let mut tcp = tcp_from(ip.parse().unwrap(), addr).unwrap();
    tcp.set_read_timeout(Some(IO_WAIT)).unwrap();
    let mut buf = [0u8; 8];
    matches!(tcp.read(&mut buf), Ok(0) | Err(_))
}

#[test]
fn whitelist_edits_take_effect_without_restart() {
    let env = Env::new("wl-reload");
    let agent = env.start(env.config());
    let addr = agent.addr();
    assert!(denied_from("127.0.0.3", addr));

    // Add: rewritten in place.
    std::fs::write(&env.whitelist, "allowed:\n  - 127.0.0.1\n  - 127.0.0.3\n").unwrap();
    assert!(
        eventually(RELOAD_WAIT, || allowed_from("127.0.0.3", addr, &env)),
        "added address served within 2 s"
    );

    // Remove.
    std::fs::write(&env.whitelist, "allowed:\n  - 127.0.0.1\n").unwrap();
    assert!(
        eventually(RELOAD_WAIT, || denied_from("127.0.0.3", addr)),
        "removed address dropped within 2 s"
    );

    // Replace by rename (how editors and config management write files), with a CIDR.
    let tmp = env.dir.path().join("whitelist.yaml.new");
    std::fs::write(&tmp, "allowed:\n  - 127.0.0.1\n  - 127.0.0.0/29\n").unwrap();
    std::fs::rename(&tmp, &env.whitelist).unwrap();
    assert!(
        eventually(RELOAD_WAIT, || allowed_from("127.0.0.5", addr, &env)),
        "renamed-in file applied"
    );

    // An invalid new file keeps the last valid list.
    std::fs::write(&env.whitelist, "allowed:\n  - not-an-address\n").unwrap();
    std::thread::sleep(RELOAD_WAIT);
    assert!(
        allowed_from("127.0.0.5", addr, &env),
        "invalid file must keep the old list"
    );
    assert!(allowed_from("127.0.0.1", addr, &env));
}

#[test]
fn sighup_style_reload_applies_whitelist_at_once() {
    let env = Env::new("wl-hup");
    let agent = env.start(env.config());
    std::fs::write(&env.whitelist, "allowed: [127.0.0.1, 127.0.0.4]\n").unwrap();
    agent.running().reload();
    assert!(allowed_from("127.0.0.4", agent.addr(), &env));
}

fn served_leaf(addr: SocketAddr, env: &Env) -> Vec<u8> {
    let tls = connect(addr, env.client_config());
    tls.conn.peer_certificates().unwrap()[0].to_vec()
}

#[test]
fn certificate_change_is_picked_up_and_established_connections_survive() {
    let env = Env::new("cert-reload");
    let agent = env.start(env.config());
    let addr = agent.addr();
    let first = served_leaf(addr, &env);
    let mut established = connect(addr, env.client_config());
    assert_eq!(get_on(&mut established, "/health").status, 200);

    // Write a new server certificate and key (renamed into place, key first).
    let renewed = env.ca.server();
    let dir = env.dir.path();
    let (cert_tmp, key_tmp) = renewed.write(dir, "renewed");
    std::fs::rename(&key_tmp, &env.server_key).unwrap();
    std::fs::rename(&cert_tmp, &env.server_cert).unwrap();
    assert!(
        eventually(RELOAD_WAIT, || served_leaf(addr, &env) != first),
        "new connections get the new certificate"
    );
    assert_eq!(
        get_on(&mut established, "/health").status,
        200,
        "old connection still served"
    );
}

#[test]
fn broken_certificate_set_keeps_the_old_one() {
    let env = Env::new("cert-broken");
    let agent = env.start(env.config());
    let addr = agent.addr();
    let first = served_leaf(addr, &env);
    // A key that does not match the certificate.
    let other = env.ca.server();
    std::fs::write(&env.server_key, &other.key_pem).unwrap();
    std::thread::sleep(RELOAD_WAIT);
    agent.running().reload();
    assert_eq!(
        served_leaf(addr, &env),
        first,
        "mismatched key must not replace the working set"
    );
    let resp = request(addr, env.client_config(), "GET", "/health", None);
    assert_eq!(resp.status, 200);
}
