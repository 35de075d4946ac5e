//! `tls.*`: the certificate and key files.

use std::path::PathBuf;

use serde_yaml_ng::Value;

use super::{Section, Walker};

/// `tls.*`
#[derive(Clone, Debug, PartialEq)]
pub struct TlsConfig {
    /// `tls.ca_cert`: CA bundle that client certificates must chain to.
    pub ca_cert: PathBuf,
    /// `tls.server_cert`: server certificate chain (leaf first).
    pub server_cert: PathBuf,
    /// `tls.server_key`: server private key (PKCS#8, SEC1 or PKCS#1 PEM).
    pub server_key: PathBuf,
    /// `tls.crl`: optional PEM CRL(s) checked for client certificates.
    pub crl: Option<PathBuf>,
    /// `tls.require_client_auth_eku` and `tls.allowed_clients`: what a client certificate
    /// must be beyond chaining to the CA.
    pub client_policy: crate::http::tls::ClientPolicy,
}

/// Default CA bundle path.
const DEFAULT_CA_CERT: &str = "/etc/linux_patch_api/certs/ca.pem";
/// Default server certificate chain path.
const DEFAULT_SERVER_CERT: &str = "/etc/linux_patch_api/certs/server.pem";
/// Default server key path.
const DEFAULT_SERVER_KEY: &str = "/etc/linux_patch_api/certs/server.key.pem";

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            ca_cert: PathBuf::from(DEFAULT_CA_CERT),
            server_cert: PathBuf::from(DEFAULT_SERVER_CERT),
            server_key: PathBuf::from(DEFAULT_SERVER_KEY),
            crl: None,
            client_policy: crate::http::tls::ClientPolicy::default(),
        }
    }
}

impl Walker<'_> {
    /// `tls.*`
    pub(super) fn tls(&mut self, top: &Section) -> TlsConfig {
        let s = self.child(top, "tls", TLS_KEYS);
        let crl = match s.get("crl") {
            None | Some(Value::Null) => None,
            Some(_) => self.path_value(&s, "crl"),
        };
        TlsConfig {
            ca_cert: self.path(&s, "ca_cert", DEFAULT_CA_CERT),
            server_cert: self.path(&s, "server_cert", DEFAULT_SERVER_CERT),
            server_key: self.path(&s, "server_key", DEFAULT_SERVER_KEY),
            crl,
            client_policy: self.client_policy(&s),
        }
    }
}

/// Keys allowed under `tls`.
const TLS_KEYS: &[&str] = &[
    "ca_cert",
    "server_cert",
    "server_key",
    "crl",
    "require_client_auth_eku",
    "allowed_clients",
];
