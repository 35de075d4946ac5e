//! Enrollment end to end: the real binary (`--enroll`) against a mock Patch Manager over
//! HTTPS, and the mock's own self-tests (`mock_*`).
//!
//! Durations are test-sized (`--poll-interval 1`); waits assert that something ends, never
//! how fast, and poll spacing is checked from below only.

mod common;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::enroll_site::*;
use common::mock_manager::{BundleOptions, MockManager, RegisterAnswer, StatusAnswer};
use common::*;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

// ---------------------------------------------------------------------------------------
// a, b: enrolling
// ---------------------------------------------------------------------------------------

#[test]
fn enrolls_after_pending_polls_then_serves_mutual_tls() {
    let mock = MockManager::start();
    mock.script_status(&[
        StatusAnswer::Pending,
        StatusAnswer::Pending,
        StatusAnswer::Approved,
    ]);
    let site = Site::new("enroll-happy");
    let mut run = site.spawn(&site.enroll_args(&mock, &[]));
    assert!(
        serves(&site, &mock, &mut run),
        "agent serves mTLS with the provisioned files: {}",
        run.output()
    );
    assert_provisioned(&site, &mock, &run);

    let regs = mock.registrations();
    assert_eq!(regs.len(), 1, "exactly one registration: {regs:?}");
    let body = regs[0].body.clone().expect("registration body is JSON");
    assert_eq!(body["fqdn"], FQDN, "{body}");
    for key in ["machine_id", "ip_address"] {
        assert!(
            body[key].as_str().is_some_and(|s| !s.is_empty()),
            "{key}: {body}"
        );
    }
    assert!(body["os_details"].is_object(), "{body}");

    let token = mock.tokens()[0].clone();
    let polls = mock.polls();
    assert_eq!(
        polls.iter().map(|p| p.answer.as_str()).collect::<Vec<_>>(),
        ["pending", "pending", "approved"],
        "polled until approved, then stopped"
    );
    assert!(polls
        .iter()
        .all(|p| p.polled_token() == Some(token.as_str())));
    for pair in polls.windows(2) {
        let gap = pair[1].at - pair[0].at;
        assert!(
            gap >= Duration::from_millis(800),
            "polls {gap:?} apart with --poll-interval 1"
        );
    }
    assert_token_secret(&site, &token, &[&run]);

    run.signal(libc::SIGTERM);
    assert_eq!(run.wait_code(END_LIMIT), 0, "{}", run.output());
    assert_token_secret(&site, &token, &[&run]);
}

#[test]
fn enroll_only_provisions_and_exits_then_a_rerun_contacts_nobody() {
    let mock = MockManager::start();
    mock.script_status(&[StatusAnswer::Approved]);
    mock.set_bundle(BundleOptions {
        ca_chain: true,
        crl_pem: String::new(),
    });
    let site = Site::new("enroll-only");
    let args = site.enroll_args(&mock, &["--enroll-only"]);
    let (code, run) = site.run(&args);
    assert_eq!(code, 0, "{}", run.output());
    assert_provisioned(&site, &mock, &run);
    assert!(
        TcpStream::connect(site.addr()).is_err(),
        "--enroll-only does not serve"
    );

    // Already provisioned: succeeds without a single request to the manager.
    let before = mock.records().len();
    let (code, again) = site.run(&args);
    assert_eq!(code, 0, "{}", again.output());
    assert_eq!(mock.records().len(), before, "no request when provisioned");
    assert_token_secret(&site, &mock.tokens()[0], &[&run, &again]);
}

// ---------------------------------------------------------------------------------------
// c: the bundle survives a failure after receipt
// ---------------------------------------------------------------------------------------

#[test]
fn failure_after_receipt_completes_later_from_the_saved_bundle() {
    let mock = MockManager::start();
    mock.script_status(&[StatusAnswer::Approved]);
    let site = Site::with_key_at("enroll-crash", "keys/server.key");
    // The key's directory is a regular file: writing the key must fail.
    let blocker = site.root().join("keys");
    std::fs::write(&blocker, "in the way").unwrap();
    let args = site.enroll_args(&mock, &["--enroll-only"]);
    let (code, run) = site.run(&args);
    assert_ne!(code, 0, "provisioning failed: {}", run.output());
    assert!(mock.served("approved"), "the manager handed the bundle out");
    assert!(
        site.state("bundle.json").exists(),
        "bundle saved on receipt: {}",
        run.output()
    );
    assert_eq!(mode(&site.state("bundle.json")), 0o600);
    assert!(!site.server_key.exists());

    // The manager has deleted the bundle: only the saved copy can finish the job.
    let before = mock.records().len();
    std::fs::remove_file(&blocker).unwrap();
    std::fs::create_dir(&blocker).unwrap();
    let (code, again) = site.run(&args);
    assert_eq!(code, 0, "{}", again.output());
    assert_eq!(
        mock.records().len(),
        before,
        "no registration or poll: {:?}",
        mock.records()
    );
    assert_provisioned(&site, &mock, &again);
    assert_token_secret(&site, &mock.tokens()[0], &[&run, &again]);
}

#[test]
fn sigkill_right_after_the_bundle_is_saved_still_ends_provisioned() {
    let mock = MockManager::start();
    mock.script_status(&[StatusAnswer::Pending, StatusAnswer::Approved]);
    let site = Site::new("enroll-kill");
    let mut run = site.spawn(&site.enroll_args(&mock, &[]));
    // Kill as soon as the bundle is durable (before, the manager's copy would be lost too:
    // that window is inherent). Whatever provisioning step it interrupts must recover.
    let start = Instant::now();
    let saved = loop {
        if site.state("bundle.json").exists() || site.state("enrolled.json").exists() {
            break true;
        }
        if run.ended() || start.elapsed() > END_LIMIT {
            break false;
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    assert!(saved, "bundle never saved: {}", run.output());
    run.signal(libc::SIGKILL);
    let _ = run.child.wait();

    let mut again = site.spawn(&site.enroll_args(&mock, &[]));
    assert!(serves(&site, &mock, &mut again), "{}", again.output());
    assert_provisioned(&site, &mock, &again);
    assert_eq!(mock.registrations().len(), 1);
    assert_token_secret(&site, &mock.tokens()[0], &[&run, &again]);
}

// ---------------------------------------------------------------------------------------
// d: decisions and failures, each with its exit code
// ---------------------------------------------------------------------------------------

/// Runs one `--enroll-only` against a mock scripted with `script`.
fn decide(tag: &str, script: &[StatusAnswer]) -> (MockManager, Site, i32, Run) {
    let mock = MockManager::start();
    mock.script_status(script);
    let site = Site::new(tag);
    let (code, run) = site.run(&site.enroll_args(&mock, &["--enroll-only"]));
    (mock, site, code, run)
}

#[test]
fn denied_exits_4_and_forgets_the_token() {
    let (mock, site, code, run) = decide(
        "enroll-denied",
        &[StatusAnswer::Pending, StatusAnswer::Denied],
    );
    assert_eq!(code, 4, "{}", run.output());
    assert!(mock.served("denied"));
    site.assert_nothing_written(&run);
    assert!(!site.state("token").exists(), "token removed");
    assert!(!site.state("bundle.json").exists());
    assert_token_secret(&site, &mock.tokens()[0], &[&run]);
}

#[test]
fn notfound_in_both_spellings_exits_5() {
    for (tag, answer) in [
        ("enroll-notfound", StatusAnswer::NotFound),
        ("enroll-not-found", StatusAnswer::NotFoundSpec),
    ] {
        let (mock, site, code, run) = decide(tag, std::slice::from_ref(&answer));
        assert_eq!(code, 5, "{answer:?}: {}", run.output());
        site.assert_nothing_written(&run);
        assert!(!site.state("token").exists(), "{answer:?}: token removed");
        assert_eq!(mock.registrations().len(), 1);
    }
}

#[test]
fn conflict_at_registration_exits_7_with_the_message() {
    let mock = MockManager::start();
    let message = "FQDN host-01.enroll.test already registered to another host";
    mock.script_register(&[RegisterAnswer::Conflict(message.into())]);
    let site = Site::new("enroll-409");
    let (code, run) = site.run(&site.enroll_args(&mock, &["--enroll-only"]));
    assert_eq!(code, 7, "{}", run.output());
    assert!(run.output().contains(message), "{}", run.output());
    assert!(mock.polls().is_empty(), "nothing to poll");
    site.assert_nothing_written(&run);
}

#[test]
fn bundle_with_a_foreign_key_exits_8_writes_nothing_and_keeps_it_aside() {
    let (mock, site, code, run) = decide("enroll-badkey", &[StatusAnswer::ApprovedKeyMismatch]);
    assert_eq!(code, 8, "{}", run.output());
    site.assert_nothing_written(&run);
    assert!(
        site.state("bundle.rejected.json").exists(),
        "rejected bundle kept"
    );
    assert!(!site.state("bundle.json").exists());
    assert!(!site.state("token").exists(), "token removed");

    // A new --enroll starts afresh: a second registration, then it works.
    mock.set_rate_window(Duration::ZERO);
    mock.script_status(&[StatusAnswer::Approved]);
    let (code, again) = site.run(&site.enroll_args(&mock, &["--enroll-only"]));
    assert_eq!(code, 0, "{}", again.output());
    assert_eq!(mock.registrations().len(), 2);
    assert_provisioned(&site, &mock, &again);
}

#[test]
fn no_decision_within_the_timeout_exits_6() {
    let mock = MockManager::start();
    mock.script_status(&[StatusAnswer::Pending]);
    let site = Site::new("enroll-timeout");
    let mut args = site.enroll_args(&mock, &["--enroll-only"]);
    let at = args.iter().position(|a| a == "--enroll-timeout").unwrap();
    args[at + 1] = "3s".into();
    let (code, run) = site.run(&args);
    assert_eq!(code, 6, "{}", run.output());
    assert!(!mock.polls().is_empty(), "it polled before giving up");
    site.assert_nothing_written(&run);
}

#[test]
fn rate_limited_registration_is_retried() {
    let mock = MockManager::start();
    mock.script_register(&[RegisterAnswer::RateLimited, RegisterAnswer::Accept]);
    mock.script_status(&[StatusAnswer::Approved]);
    let site = Site::new("enroll-429");
    let mut run = site.spawn(&site.enroll_args(&mock, &["--enroll-only"]));
    // The real manager's window is a minute: allow for an agent that waits that long.
    let code = run.wait_code(END_LIMIT + Duration::from_secs(60));
    assert_eq!(code, 0, "{}", run.output());
    let answers: Vec<u16> = mock.registrations().iter().map(|r| r.status).collect();
    assert_eq!(answers, [429, 202]);
    assert_provisioned(&site, &mock, &run);
}

// ---------------------------------------------------------------------------------------
// e: trusting the manager
// ---------------------------------------------------------------------------------------

#[test]
fn right_fingerprint_is_trusted() {
    let mock = MockManager::start();
    mock.script_status(&[StatusAnswer::Approved]);
    let site = Site::new("enroll-fp");
    let trust = [
        "--manager-fingerprint".to_string(),
        mock.fingerprint_colons(),
    ];
    let (code, run) = site.run(&site.args(&mock, &trust, &["--enroll-only"]));
    assert_eq!(code, 0, "{}", run.output());
    assert_provisioned(&site, &mock, &run);
}

#[test]
fn wrong_fingerprint_fails_before_registering() {
    let mock = MockManager::start();
    let site = Site::new("enroll-fp-wrong");
    let mut wrong = mock.fingerprint();
    let flipped = if wrong.starts_with('0') { "1" } else { "0" };
    wrong.replace_range(0..1, flipped);
    let trust = ["--manager-fingerprint".to_string(), wrong];
    let (code, run) = site.run(&site.args(&mock, &trust, &["--enroll-only"]));
    assert_eq!(code, 1, "{}", run.output());
    assert!(mock.records().is_empty(), "{:?}", mock.records());
    site.assert_nothing_written(&run);
}

#[test]
fn manager_ca_of_another_authority_fails_before_registering() {
    let mock = MockManager::start();
    let site = Site::new("enroll-ca-wrong");
    let other = Ca::new("not-the-manager");
    let path = site.root().join("other-ca.pem");
    std::fs::write(&path, &other.cert_pem).unwrap();
    let trust = ["--manager-ca".to_string(), path.display().to_string()];
    let (code, run) = site.run(&site.args(&mock, &trust, &["--enroll-only"]));
    assert_eq!(code, 1, "{}", run.output());
    assert!(mock.records().is_empty(), "{:?}", mock.records());
    site.assert_nothing_written(&run);
}

#[test]
fn without_trust_flags_it_enrolls_and_warns() {
    let mock = MockManager::start();
    mock.script_status(&[StatusAnswer::Approved]);
    let site = Site::new("enroll-insecure");
    let (code, run) = site.run(&site.args(&mock, &[], &["--enroll-only"]));
    assert_eq!(code, 0, "{}", run.output());
    assert_provisioned(&site, &mock, &run);
    let warned = run.stderr().lines().any(|l| {
        let l = l.to_lowercase();
        l.contains("warn")
            && [
                "relaxed",
                "not verified",
                "unverified",
                "not checked",
                "insecure",
            ]
            .iter()
            .any(|w| l.contains(w))
    });
    assert!(
        warned,
        "warning about the unchecked manager: {}",
        run.output()
    );
}

// ---------------------------------------------------------------------------------------
// f: restart while pending
// ---------------------------------------------------------------------------------------

#[test]
fn restart_while_pending_resumes_with_the_saved_token() {
    let mock = MockManager::start();
    mock.script_status(&[StatusAnswer::Pending]);
    let site = Site::new("enroll-resume");
    let args = site.enroll_args(&mock, &[]);
    let mut first = site.spawn(&args);
    assert!(
        eventually(END_LIMIT, || mock.polls().len() >= 2 || first.ended()),
        "no polls"
    );
    assert!(mock.polls().len() >= 2, "{}", first.output());
    first.signal(libc::SIGTERM);
    assert_eq!(first.wait_code(END_LIMIT), 9, "{}", first.output());
    let token = mock.tokens()[0].clone();
    assert_eq!(
        mode(&site.state("token")),
        0o600,
        "token kept for the resume"
    );
    assert_eq!(mode(&site.state_dir), 0o700);
    assert!(!site.server_key.exists());

    let before = mock.polls().len();
    let mut second = site.spawn(&args);
    assert!(
        eventually(END_LIMIT, || mock.polls().len() >= before + 2
            || second.ended()),
        "polling did not resume: {}",
        second.output()
    );
    assert_eq!(mock.registrations().len(), 1, "no second registration");
    assert!(
        mock.polls()
            .iter()
            .all(|p| p.polled_token() == Some(token.as_str())),
        "polls use the saved token"
    );

    // The administrator approves now: the resumed run provisions and serves.
    mock.script_token(&token, &[StatusAnswer::Approved]);
    assert!(serves(&site, &mock, &mut second), "{}", second.output());
    assert_provisioned(&site, &mock, &second);
    assert_token_secret(&site, &token, &[&first, &second]);
}

// ---------------------------------------------------------------------------------------
// The mock itself, with a plain rustls client (runs whatever state the agent is in).
// ---------------------------------------------------------------------------------------

fn manager_client(mock: &MockManager, tls12: bool) -> Arc<rustls::ClientConfig> {
    let version: &'static rustls::SupportedProtocolVersion = if tls12 {
        &rustls::version::TLS12
    } else {
        &rustls::version::TLS13
    };
    client_config(mock.ca_pem(), None, &[version])
}

fn register(mock: &MockManager, tls12: bool) -> HttpResponse {
    let body = format!(
        r#"{{"machine_id":"0123456789abcdef0123456789abcdef","fqdn":"{FQDN}","ip_address":"192.0.2.50","os_details":{{"name":"Debian"}}}}"#
    );
    request(
        mock.addr(),
        manager_client(mock, tls12),
        "POST",
        "/api/v1/enroll",
        Some(&body),
    )
}

fn poll(mock: &MockManager, token: &str) -> serde_json::Value {
    let path = format!("/api/v1/enroll/status/{token}");
    let r = request(mock.addr(), manager_client(mock, false), "GET", &path, None);
    assert_eq!(r.status, 200);
    r.json()
}

/// Serves one mTLS handshake with the bundle's cert and key, requiring a host-CA client.
fn serve_bundle_once(bundle: &serde_json::Value, host_ca_pem: &str) -> SocketAddr {
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(bundle["server_crt"].as_str().unwrap().as_bytes())
            .map(|c| c.unwrap())
            .collect();
    let key = PrivateKeyDer::from_pem_slice(bundle["server_key"].as_str().unwrap().as_bytes())
        .expect("server_key is PKCS#8 PEM");
    assert!(matches!(key, PrivateKeyDer::Pkcs8(_)), "PKCS#8 key");
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(host_ca_pem.as_bytes()).unwrap())
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider.clone())
            .build()
            .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for _ in 0..2 {
            let (mut tcp, _) = listener.accept().unwrap();
            tcp.set_read_timeout(Some(IO_WAIT)).unwrap();
            let mut conn = rustls::ServerConnection::new(config.clone()).unwrap();
            while conn.is_handshaking() {
                if conn.complete_io(&mut tcp).is_err() {
                    break;
                }
            }
            let _ = conn.complete_io(&mut tcp);
        }
    });
    addr
}

fn handshake(addr: SocketAddr, config: Arc<rustls::ClientConfig>, name: ServerName<'static>) {
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(IO_WAIT)).unwrap();
    let mut conn = rustls::ClientConnection::new(config, name).unwrap();
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp).unwrap();
    }
}

#[test]
fn mock_issues_a_token_then_a_usable_bundle_once() {
    let mock = MockManager::start();
    mock.script_status(&[StatusAnswer::Pending, StatusAnswer::Approved]);
    let r = register(&mock, false);
    assert_eq!(r.status, 202);
    let token = r.json()["polling_token"].as_str().unwrap().to_string();
    assert_eq!(token.len(), 64);
    assert!(token.chars().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(mock.tokens(), std::slice::from_ref(&token));

    assert_eq!(poll(&mock, &token)["status"], "pending");
    let bundle = poll(&mock, &token);
    assert_eq!(bundle["status"], "approved");
    assert_eq!(bundle["crl_pem"], "");
    assert!(bundle.get("ca_chain").is_none());
    assert_eq!(bundle["ca_crt"], mock.host_ca().cert_pem.as_str());
    assert_eq!(poll(&mock, &token)["status"], "notfound", "deleted on read");

    // Shape of the leaf: CN, a year from now, no back-dating.
    let der =
        CertificateDer::from_pem_slice(bundle["server_crt"].as_str().unwrap().as_bytes()).unwrap();
    let summary = linux_patch_api::x509::summarize_cert(&der).unwrap();
    assert_eq!(summary.subject, format!("CN={FQDN}-server"));
    let now = time::OffsetDateTime::now_utc();
    assert!((now - summary.not_before).whole_seconds().abs() < 120);
    assert_eq!((summary.not_after - summary.not_before).whole_days(), 365);

    // Usable as the agent will use it: a host-CA client accepts it by IP and by name.
    let addr = serve_bundle_once(&bundle, &mock.host_ca().cert_pem);
    let client = agent_client(&mock);
    handshake(
        addr,
        client.clone(),
        ServerName::IpAddress(addr.ip().into()),
    );
    handshake(addr, client, ServerName::try_from(FQDN).unwrap());

    let records = mock.records();
    assert_eq!(records.len(), 4);
    assert!(records[0].is_registration());
    assert_eq!(records[0].body.as_ref().unwrap()["fqdn"], FQDN);
    let answers: Vec<_> = records[1..].iter().map(|r| r.answer.as_str()).collect();
    assert_eq!(answers, ["pending", "approved", "notfound"]);
}

#[test]
fn mock_scripts_registration_answers_and_rate_limits() {
    let mock = MockManager::start();
    assert_eq!(register(&mock, false).status, 202);
    let limited = register(&mock, true);
    assert_eq!(limited.status, 429, "second registration within the window");
    assert!(limited.json()["error"]
        .as_str()
        .unwrap()
        .contains("Rate limit"));
    mock.script_register(&[
        RegisterAnswer::Conflict("taken".into()),
        RegisterAnswer::ServerError,
        RegisterAnswer::Accept,
    ]);
    let conflict = register(&mock, false);
    assert_eq!(
        (conflict.status, conflict.json()["error"].clone()),
        (409, "taken".into())
    );
    assert_eq!(register(&mock, false).status, 500);
    assert_eq!(
        register(&mock, false).status,
        202,
        "scripted accept ignores the window"
    );
    assert_eq!(mock.tokens().len(), 2);
    let statuses: Vec<u16> = mock.registrations().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [202, 429, 409, 500, 202]);

    // Unknown tokens and the scripted outcomes.
    assert_eq!(poll(&mock, "nosuchtoken")["status"], "notfound");
    let token = mock.tokens()[1].clone();
    for (answer, tag) in [
        (StatusAnswer::Denied, "denied"),
        (StatusAnswer::NotFoundSpec, "not_found"),
        (StatusAnswer::NotFound, "notfound"),
    ] {
        mock.script_token(&token, &[answer]);
        assert_eq!(poll(&mock, &token)["status"], tag);
    }
    assert!(mock.served("denied"));
}

#[test]
fn mock_key_mismatch_bundle_does_not_pair() {
    let mock = MockManager::start();
    mock.script_status(&[StatusAnswer::ApprovedKeyMismatch]);
    mock.set_bundle(BundleOptions {
        ca_chain: true,
        crl_pem: String::new(),
    });
    let token = register(&mock, false).json()["polling_token"]
        .as_str()
        .unwrap()
        .to_string();
    let bundle = poll(&mock, &token);
    assert_eq!(bundle["status"], "approved");
    assert_eq!(bundle["ca_chain"], mock.host_ca().cert_pem.as_str());
    let cert =
        CertificateDer::from_pem_slice(bundle["server_crt"].as_str().unwrap().as_bytes()).unwrap();
    let key = bundle["server_key"].as_str().unwrap();
    let pair = rcgen::KeyPair::from_pem(key).unwrap();
    let public = pair.public_key_raw();
    assert!(
        !cert.windows(public.len()).any(|w| w == public),
        "the key's public half is not in the certificate"
    );
}

#[test]
fn mock_leaf_fingerprint_matches_what_clients_see_and_strangers_are_refused() {
    let mock = MockManager::start();
    let mut tls = connect(mock.addr(), manager_client(&mock, true));
    let seen = tls.conn.peer_certificates().unwrap()[0].clone();
    assert_eq!(
        linux_patch_api::x509::sha256_fingerprint(&seen),
        mock.fingerprint()
    );
    assert_eq!(
        mock.fingerprint_colons().replace(':', "").to_lowercase(),
        mock.fingerprint()
    );
    let r = get_on(&mut tls, "/api/v1/nothing");
    assert_eq!(r.status, 404);
    assert_eq!(mock.handshakes(), 1);

    // A client trusting another CA completes no handshake and reaches no endpoint.
    let stranger = Ca::new("stranger");
    let config = client_config(&stranger.cert_pem, None, &[&rustls::version::TLS13]);
    let mut tcp = TcpStream::connect(mock.addr()).unwrap();
    tcp.set_read_timeout(Some(IO_WAIT)).unwrap();
    let mut conn =
        rustls::ClientConnection::new(config, ServerName::IpAddress(mock.addr().ip().into()))
            .unwrap();
    let mut failed = false;
    while conn.is_handshaking() {
        if conn.complete_io(&mut tcp).is_err() {
            failed = true;
            break;
        }
    }
    assert!(failed, "handshake with an unknown CA fails");
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(mock.handshakes(), 1);
    assert_eq!(mock.records().len(), 1);
}

#[test]
fn mock_serves_a_keep_alive_ureq_client() {
    use ureq::tls::{PemItem, RootCerts, TlsConfig, TlsProvider};
    let mock = MockManager::start();
    mock.script_status(&[StatusAnswer::Pending, StatusAnswer::Approved]);
    let roots: Vec<_> = ureq::tls::parse_pem(mock.ca_pem().as_bytes())
        .filter_map(|item| match item.unwrap() {
            PemItem::Certificate(c) => Some(c),
            _ => None,
        })
        .collect();
    let tls = TlsConfig::builder()
        .provider(TlsProvider::Rustls)
        .root_certs(RootCerts::Specific(Arc::new(roots)))
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .build();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .tls_config(tls)
        .https_only(true)
        .http_status_as_error(false)
        .timeout_global(Some(IO_WAIT))
        .proxy(None)
        .build()
        .into();
    let body = format!(
        r#"{{"machine_id":"m","fqdn":"{FQDN}","ip_address":"192.0.2.9","os_details":{{}}}}"#
    );
    let mut r = agent
        .post(format!("{}/api/v1/enroll", mock.url()))
        .header("Content-Type", "application/json")
        .send(body.as_str())
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    let v: serde_json::Value =
        serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    let token = v["polling_token"].as_str().unwrap().to_string();
    let mut tags = Vec::new();
    for _ in 0..3 {
        let url = format!("{}/api/v1/enroll/status/{token}", mock.url());
        let mut r = agent.get(url).call().unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
        tags.push(v["status"].as_str().unwrap().to_string());
    }
    assert_eq!(tags, ["pending", "approved", "notfound"]);
    assert_eq!(mock.handshakes(), 1, "one kept-alive connection");
}
