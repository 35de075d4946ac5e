//! Enrollment whitelists the peer the approved bundle came from (issue 17 point 6), not the
//! first address the manager's name resolves to. The real binary, under bubblewrap with an
//! `/etc/hosts` of its own, against the mock manager over HTTPS.
//!
//! The manager's name resolves to 127.0.0.3 first (nothing listens there: refused) and to
//! 127.0.0.2 second, where the mock listens. A client that whitelists a separate lookup's
//! first answer names 127.0.0.3, an address that never spoke to it.
//!
//! `LPA_ENROLL_TEST_BIN=PATH` runs it against another build (e.g. one from before the fix).

mod common;

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use common::enroll_site::*;
use common::mock_manager::{MockManager, StatusAnswer};

/// The manager's host name: only the test's `/etc/hosts` knows it.
const NAME: &str = "mgr.lpa.test";
/// Resolved first, refuses connections.
const REFUSING: &str = "127.0.0.3";
/// Resolved second, the mock manager.
const LISTENING: &str = "127.0.0.2";

/// `/etc/hosts` (NAME → REFUSING, then LISTENING) and `/etc/host.conf` (`multi on`: glibc
/// returns every line of the name, not only the first) in the site's directory.
fn resolver_files(site: &Site) -> [(&'static str, std::path::PathBuf); 2] {
    let hosts = site.root().join("etc-hosts");
    let text = format!("127.0.0.1 localhost\n{REFUSING} {NAME}\n{LISTENING} {NAME}\n");
    std::fs::write(&hosts, text).unwrap();
    let host_conf = site.root().join("etc-host.conf");
    std::fs::write(&host_conf, "multi on\n").unwrap();
    [("hosts", hosts), ("host.conf", host_conf)]
}

/// The IPv4 addresses `getent ahostsv4 NAME` lists inside the same isolated `/etc`, in order.
fn resolved_in_sandbox(site: &Site, etc: &[(&str, &Path)]) -> Vec<String> {
    let mut cmd = site.isolated_command("getent", None, etc);
    let out = cmd.args(["ahostsv4", NAME]).output().unwrap();
    assert!(out.status.success(), "getent: {out:?}");
    let mut addrs: Vec<String> = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let addr = line
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string();
        if !addrs.contains(&addr) {
            addrs.push(addr);
        }
    }
    addrs
}

/// How many whitelist entries name `ip` (alone or as a /32).
fn count(entries: &[String], ip: &str) -> usize {
    let net = format!("{ip}/32");
    entries.iter().filter(|e| **e == ip || **e == net).count()
}

#[test]
fn the_whitelisted_manager_is_the_peer_connected_to_not_the_first_address_resolved() {
    if let Some(why) = isolation_unavailable() {
        eprintln!("SKIPPED: {why}");
        return;
    }
    let mock = MockManager::start_on(LISTENING, NAME);
    mock.script_status(&[StatusAnswer::Approved]);
    let refusing = SocketAddr::new(REFUSING.parse().unwrap(), mock.addr().port());
    assert!(
        TcpStream::connect_timeout(&refusing, Duration::from_secs(2)).is_err(),
        "something listens on {refusing}"
    );
    let site = Site::new("enroll-peer");
    let files = resolver_files(&site);
    let etc: Vec<(&str, &Path)> = files.iter().map(|(n, p)| (*n, p.as_path())).collect();
    // The setup the test relies on: the name's first address is not the mock's.
    assert_eq!(
        resolved_in_sandbox(&site, &etc),
        [REFUSING, LISTENING],
        "the isolated resolver's order"
    );

    // Pinning the manager's leaf verifies it without a name check (its SANs are localhost's).
    let trust = vec!["--manager-fingerprint".to_string(), mock.fingerprint()];
    let args = site.args(&mock, &trust, &["--enroll-only"]);
    assert!(args.contains(&format!("https://{NAME}:{}", mock.addr().port())));
    let mut run = site.spawn_isolated_with(&args, None, &etc);
    assert_eq!(run.wait_code(END_LIMIT), 0, "{}", run.output());
    assert!(mock.served("approved"), "{}", run.output());

    let entries = whitelist_entries(&site.whitelist);
    assert_eq!(
        count(&entries, LISTENING),
        1,
        "the peer the bundle came from is whitelisted once: {entries:?}"
    );
    assert_eq!(
        count(&entries, REFUSING),
        0,
        "an address that never answered is whitelisted: {entries:?}"
    );
    for kept in PRE_EXISTING {
        assert!(
            entries.iter().any(|e| e == kept),
            "{kept} kept: {entries:?}"
        );
    }
    let text = std::fs::read_to_string(site.state("enrolled.json")).unwrap();
    let record: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(record["manager_ip"], LISTENING, "{record}");
    let url = record["manager_url"].as_str().unwrap_or_default();
    assert!(url.starts_with(&mock.url()), "{record}");
}
