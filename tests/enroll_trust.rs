//! Enrollment and trust (issue 17): a manager issuing through an intermediate CA, the
//! record of how the manager was checked, the warning when it was not, and the whitelisted
//! address being the peer the bundle came from. The real binary against the mock manager.

mod common;

use common::enroll_site::*;
use common::mock_manager::{MockManager, StatusAnswer};
use common::*;

fn enrolled(site: &Site) -> serde_json::Value {
    let text = std::fs::read_to_string(site.state("enrolled.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn a_chain_through_an_intermediate_serves_its_clients_after_enrollment() {
    let mock = MockManager::start_with_intermediate();
    mock.script_status(&[StatusAnswer::Approved]);
    let site = Site::new("enroll-chain");
    let mut run = site.spawn(&site.enroll_args(&mock, &[]));
    // The manager's client presents only its leaf: the agent holds the intermediate.
    assert!(serves(&site, &mock, &mut run), "{}", run.output());
    assert_provisioned(&site, &mock, &run);
    let ca = std::fs::read_to_string(&site.ca_cert).unwrap();
    let chain = mock.host_ca().chain_pem.clone().unwrap();
    assert!(ca.contains(chain.trim()), "the intermediate is kept: {ca}");
    let record = enrolled(&site);
    assert_eq!(record["manager_trust"], "ca", "{record}");
    assert_eq!(record["manager_ip"], "127.0.0.1", "the connection's peer");

    // A certificate of the same CA without clientAuth cannot act as the manager.
    let host_cert = mock.host_ca().server_for("other-host.example", None);
    let cfg = client_config(
        &mock.host_ca().cert_pem,
        Some(&host_cert),
        &[&rustls::version::TLS13],
    );
    assert_eq!(
        health(site.addr(), cfg),
        None,
        "another host's server certificate"
    );
    run.signal(libc::SIGTERM);
    assert_eq!(run.wait_code(END_LIMIT), 0, "{}", run.output());
}

#[test]
fn enrolling_without_manager_trust_warns_and_records_it() {
    let mock = MockManager::start();
    mock.script_status(&[StatusAnswer::Approved]);
    let site = Site::new("enroll-unverified");
    let (code, run) = site.run(&site.args(&mock, &[], &["--enroll-only"]));
    assert_eq!(code, 0, "{}", run.output());
    let stderr = run.stderr();
    assert!(
        stderr.contains("NOT verified") && stderr.contains("intercept"),
        "the warning names the risk: {stderr}"
    );
    assert_eq!(enrolled(&site)["manager_trust"], "unverified");

    let site = Site::new("enroll-pinned");
    let mock = MockManager::start();
    mock.script_status(&[StatusAnswer::Approved]);
    let (code, run) = site.run(&site.enroll_args(&mock, &["--enroll-only"]));
    assert_eq!(code, 0, "{}", run.output());
    assert!(!run.stderr().contains("NOT verified"), "{}", run.stderr());
    assert_eq!(enrolled(&site)["manager_trust"], "ca");
}
