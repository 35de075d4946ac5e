//! Client certificates over real TLS: intermediates are chain material, never trust
//! anchors (a revoked intermediate and a root's name constraints apply), the clientAuth
//! EKU is required, and `tls.allowed_clients` pins who may call.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;

use common::*;
use linux_patch_api::config::Config;
use linux_patch_api::http::tls::AllowedClient;
use rcgen::ExtendedKeyUsagePurpose as Eku;

/// Whether `leaf` (its PEM may carry intermediates after the leaf) gets a 200 from `/health`;
/// a refused one must get no application byte.
fn served(agent: &Agent, env: &Env, leaf: &Leaf) -> bool {
    let cfg = client_config(&env.ca.cert_pem, Some(leaf), &[&rustls::version::TLS13]);
    let tcp = TcpStream::connect(agent.addr()).unwrap();
    let mut tls = tls_over(tcp, cfg, agent.addr());
    // `Connection: close` so that a served request ends at once instead of keeping alive.
    let _ = tls
        .write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    let mut plaintext = Vec::new();
    let mut chunk = [0u8; 4096];
    while let Ok(n) = tls.read(&mut chunk) {
        if n == 0 {
            break;
        }
        plaintext.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&plaintext);
    let ok = text.starts_with("HTTP/1.1 200");
    assert!(ok || plaintext.is_empty(), "refused with bytes: {text}");
    ok
}

/// Writes `pem` into the environment's directory, returning the path.
fn write(env: &Env, name: &str, pem: &str) -> PathBuf {
    let path = env.dir.path().join(name);
    std::fs::write(&path, pem).unwrap();
    path
}

/// The CA file as enrollment writes it: the root followed by the intermediate.
fn with_intermediate(env: &Env, root: &Ca, intermediate: &Ca) -> Config {
    let bundle = format!("{}{}", root.cert_pem, intermediate.cert_pem);
    let mut config = env.config();
    config.tls.ca_cert = write(env, "ca-bundle.pem", &bundle);
    config
}

#[test]
fn a_client_of_an_intermediate_is_served_and_refused_once_the_intermediate_is_revoked() {
    let env = Env::new("chain-revoked");
    let intermediate = env.ca.intermediate("issuing-ca");
    let client = intermediate.client("patch-manager-client");
    // The client sends only its leaf: the agent supplies the intermediate it holds.
    {
        let agent = env.start(with_intermediate(&env, &env.ca, &intermediate));
        assert!(
            served(&agent, &env, &client),
            "root → intermediate → client"
        );
    }
    let mut config = with_intermediate(&env, &env.ca, &intermediate);
    config.tls.crl = Some(write(&env, "crl.pem", &env.ca.crl(&[intermediate.serial])));
    let agent = env.start(config);
    assert!(
        !served(&agent, &env, &client),
        "the root's CRL revokes the intermediate: its clients are refused"
    );
    let sending_chain = Leaf {
        cert_pem: format!("{}{}", client.cert_pem, intermediate.cert_pem),
        key_pem: client.key_pem.clone(),
        serial: client.serial,
    };
    assert!(
        !served(&agent, &env, &sending_chain),
        "sending the intermediate does not help"
    );
    assert!(served(&agent, &env, &env.client), "the root's own client");
}

#[test]
fn the_roots_name_constraints_bind_what_the_intermediate_issues() {
    let env = Env::new("chain-constraints");
    let root = Ca::constrained("constrained-root", "good.example");
    let intermediate = root.intermediate("issuing-ca");
    let agent = env.start(with_intermediate(&env, &root, &intermediate));
    let inside = intermediate.client_with_dns("inside", "pm.good.example");
    let outside = intermediate.client_with_dns("outside", "pm.evil.example");
    assert!(served(&agent, &env, &inside), "a permitted name");
    assert!(
        !served(&agent, &env, &outside),
        "a name outside the root's constraints, issued by the intermediate"
    );
}

#[test]
fn the_roots_path_length_binds_the_held_intermediates() {
    let env = Env::new("chain-pathlen");
    let root = Ca::path_limited("root-without-intermediates", 0);
    let intermediate = root.intermediate("issuing-ca");
    let agent = env.start(with_intermediate(&env, &root, &intermediate));
    let direct = root.client("direct");
    let below = intermediate.client("below-the-intermediate");
    assert!(served(&agent, &env, &direct), "issued by the root itself");
    assert!(
        !served(&agent, &env, &below),
        "pathLenConstraint 0 allows no intermediate"
    );
    drop(agent);
    let root = Ca::path_limited("root-with-one", 1);
    let intermediate = root.intermediate("issuing-ca");
    let agent = env.start(with_intermediate(&env, &root, &intermediate));
    let below = intermediate.client("below-the-intermediate");
    assert!(served(&agent, &env, &below), "pathLenConstraint 1");
}

#[test]
fn a_client_certificate_must_carry_the_client_auth_eku() {
    let env = Env::new("eku");
    let agent = env.start(env.config());
    let server_only = env
        .ca
        .client_with_ekus("server-only", vec![Eku::ServerAuth]);
    let none = env.ca.client_with_ekus("no-eku", Vec::new());
    let both = env
        .ca
        .client_with_ekus("both", vec![Eku::ServerAuth, Eku::ClientAuth]);
    assert!(!served(&agent, &env, &server_only), "serverAuth only");
    assert!(!served(&agent, &env, &none), "no EKU, switch on (default)");
    assert!(served(&agent, &env, &both), "clientAuth among others");
    drop(agent);

    let mut config = env.config();
    config.tls.client_policy.require_client_auth_eku = false;
    let agent = env.start(config);
    assert!(served(&agent, &env, &none), "no EKU, switch relaxed");
    assert!(
        !served(&agent, &env, &server_only),
        "serverAuth only is refused whatever the switch"
    );
}

#[test]
fn allowed_clients_pin_the_key_or_the_subject() {
    let env = Env::new("pinned");
    let other = env.ca.client("patch-manager-client");
    let spki = spki_sha256(&env.client);
    let mut config = env.config();
    config.tls.client_policy.allowed_clients = vec![AllowedClient {
        subject: None,
        spki_sha256: Some(spki),
    }];
    {
        let agent = env.start(config);
        assert!(served(&agent, &env, &env.client), "the pinned key");
        assert!(
            !served(&agent, &env, &other),
            "another valid client with the same subject"
        );
    }
    let mut config = env.config();
    config.tls.client_policy.allowed_clients = vec![AllowedClient {
        subject: Some("CN=patch-manager-client".into()),
        spki_sha256: None,
    }];
    let agent = env.start(config);
    assert!(served(&agent, &env, &other), "the pinned subject");
    let stranger = env.ca.client("someone-else");
    assert!(!served(&agent, &env, &stranger), "another subject");
}

/// SHA-256 of the leaf's SubjectPublicKeyInfo, as `openssl pkey -pubin -outform der` gives.
fn spki_sha256(leaf: &Leaf) -> String {
    let der = rustls::pki_types::CertificateDer::from_pem_slice(leaf.cert_pem.as_bytes()).unwrap();
    linux_patch_api::x509::cert_usage(&der).unwrap().spki_sha256
}

use rustls::pki_types::pem::PemObject;
