//! A freshly started agent with the packaged config.yaml (no advisories keys of its own) on
//! a Debian root reads the official Debian feeds: through `advisories.mirror` it downloads
//! them for real from a loopback HTTPS server, and health names each feed, its URL and
//! its error while one is missing; without a mirror it asks the official URLs.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use linux_patch_api::config::{BackendChoice, Config};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

const TRACKER: &str = include_str!("sandbox/feeds/debian-tracker.json");

/// The packaged config, pointed at this environment and a Debian root.
fn packaged_config(env: &Env, root: &Path) -> Config {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("etc/config.yaml"))
            .unwrap();
    let mut c = Config::from_yaml_str(&text, Path::new("/etc/linux_patch_api")).unwrap();
    let test = env.config();
    c.server = test.server;
    c.tls = test.tls;
    c.whitelist = test.whitelist;
    c.logging.audit_log = test.logging.audit_log;
    c.jobs.storage_path = test.jobs.storage_path;
    c.enrollment.state_dir = test.enrollment.state_dir;
    c.package_manager.root = root.to_path_buf();
    c.package_manager.backend = BackendChoice::Named("apt");
    c.advisories.feeds_dir = env.dir.path().join("feeds");
    // A test cannot wait up to a minute for the first download.
    c.advisories.jitter_minutes = 0;
    c.advisories.download_timeout_seconds = 5;
    c
}

fn debian_root(env: &Env) -> PathBuf {
    let root = env.dir.path().join("root");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::create_dir_all(root.join("var/lib/dpkg")).unwrap();
    std::fs::write(root.join("var/lib/dpkg/status"), "").unwrap();
    std::fs::write(
        root.join("etc/os-release"),
        "ID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n",
    )
    .unwrap();
    root
}

/// An HTTPS server on loopback with the environment's server certificate: the tracker at
/// its official path with an ETag, 404 for everything else. Returns its base URL and the
/// request heads it saw.
fn feed_server(env: &Env) -> (String, Arc<Mutex<Vec<String>>>) {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&env.server_cert)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_file(&env.server_key).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!(
        "https://127.0.0.1:{}",
        listener.local_addr().unwrap().port()
    );
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(tcp) = tcp else { return };
            tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let conn = rustls::ServerConnection::new(Arc::clone(&config)).unwrap();
            let mut tls = rustls::StreamOwned::new(conn, tcp);
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match tls.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let head = String::from_utf8_lossy(&head).into_owned();
            let (code, body) = if head.starts_with("GET /tracker/data/json ") {
                (200, TRACKER.as_bytes())
            } else {
                (404, &b"not here"[..])
            };
            log.lock().unwrap().push(head);
            let reply = format!(
                "HTTP/1.1 {code} X\r\nETag: \"t1\"\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = tls.write_all(reply.as_bytes());
            let _ = tls.write_all(body);
            let _ = tls.flush();
            tls.conn.send_close_notify();
            let _ = tls.flush();
        }
    });
    (base, seen)
}

/// `details.advisory_feeds` of the agent's health.
fn feeds_health(env: &Env, agent: &Agent) -> serde_json::Value {
    let mut tls = connect(agent.addr(), env.client_config());
    let resp = get_on(&mut tls, "/health");
    resp.json()["data"]["details"]["advisory_feeds"].clone()
}

fn feed<'a>(list: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    list.as_array()
        .and_then(|l| l.iter().find(|f| f["name"] == name))
        .unwrap_or_else(|| panic!("no feed {name} in {list}"))
}

#[test]
fn the_packaged_config_downloads_the_official_feeds_through_a_mirror() {
    let env = Env::new("feeds-mirror");
    let root = debian_root(&env);
    let (base, seen) = feed_server(&env);
    let mut config = packaged_config(&env, &root);
    config.advisories.mirror = Some(format!("{base}/"));
    config.advisories.ca_file = Some(env.ca_path.clone());
    let agent = env.start(config);
    let done = eventually(Duration::from_secs(30), || {
        let list = feeds_health(&env, &agent);
        list.as_array().is_some_and(|l| {
            l.len() == 2
                && l.iter()
                    .all(|f| f["state"] == "ok" || f["error"].is_string())
        })
    });
    let list = feeds_health(&env, &agent);
    assert!(done, "{list}");
    let tracker = feed(&list, "debian-tracker");
    assert_eq!(tracker["state"], "ok", "{list}");
    assert_eq!(tracker["url"], format!("{base}/tracker/data/json"));
    let osv = feed(&list, "debian-osv");
    assert_eq!(osv["state"], "missing", "{list}");
    assert_eq!(osv["url"], format!("{base}/Debian/all.zip"));
    assert_eq!(osv["error"], "server answered HTTP 404");
    let mut tls = connect(agent.addr(), env.client_config());
    let health = get_on(&mut tls, "/health").json();
    assert_eq!(health["data"]["checks"]["advisory_feed"], "missing");
    assert_eq!(
        health["data"]["details"]["advisory_feed_error"],
        "debian-osv: server answered HTTP 404"
    );
    let stored = env.dir.path().join("feeds/debian-tracker");
    assert_eq!(std::fs::read_to_string(&stored).unwrap(), TRACKER);
    let record =
        std::fs::read_to_string(env.dir.path().join("feeds/debian-tracker.fetch.json")).unwrap();
    assert!(record.contains("\\\"t1\\\""), "{record}");
    assert!(!env.dir.path().join("feeds/debian-osv").exists());
    let heads = seen.lock().unwrap().clone();
    assert_eq!(heads.len(), 2, "{heads:?}");
    drop(agent);
}

#[test]
fn without_a_mirror_the_official_urls_are_asked() {
    let env = Env::new("feeds-official");
    let root = debian_root(&env);
    let agent = env.start(packaged_config(&env, &root));
    let list = feeds_health(&env, &agent);
    assert_eq!(
        feed(&list, "debian-tracker")["url"],
        "https://security-tracker.debian.org/tracker/data/json"
    );
    assert_eq!(
        feed(&list, "debian-osv")["url"],
        "https://osv-vulnerabilities.storage.googleapis.com/Debian/all.zip"
    );
    assert_eq!(
        feed(&list, "debian-tracker")["path"],
        env.dir
            .path()
            .join("feeds/debian-tracker")
            .display()
            .to_string()
    );
    // This machine has no route to them: the first download fails within its deadline
    // and health names the feed with the error.
    let failed = eventually(Duration::from_secs(30), || {
        feeds_health(&env, &agent)
            .as_array()
            .is_some_and(|l| l.iter().all(|f| f["error"].is_string()))
    });
    assert!(failed, "{}", feeds_health(&env, &agent));
}
