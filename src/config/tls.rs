//! `tls.*`: the certificate and key files, and which client certificates are accepted.

use std::path::PathBuf;

use serde::Deserialize;

use super::fields::{boolean, nullable_path, path};
use super::tls_clients::AllowedClientEntry;
use super::Report;
use crate::http::tls::ClientPolicy;

/// `tls.*`
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(from = "TlsFile")]
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
    pub client_policy: ClientPolicy,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsFile::default().into()
    }
}

impl TlsConfig {
    /// Checks what spans entries of `tls.allowed_clients`.
    pub(super) fn validate(&self, key: &str, report: &mut Report) {
        super::tls_clients::validate(
            &self.client_policy.allowed_clients,
            &format!("{key}.allowed_clients"),
            report,
        );
    }
}

/// `tls.*` as written; [`TlsConfig`] gathers the client keys into a [`ClientPolicy`].
#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct TlsFile {
    /// `tls.ca_cert`: default `/etc/linux_patch_api/certs/ca.pem`.
    #[serde(deserialize_with = "path")]
    ca_cert: PathBuf,
    /// `tls.server_cert`: default `/etc/linux_patch_api/certs/server.pem`.
    #[serde(deserialize_with = "path")]
    server_cert: PathBuf,
    /// `tls.server_key`: default `/etc/linux_patch_api/certs/server.key.pem`.
    #[serde(deserialize_with = "path")]
    server_key: PathBuf,
    /// `tls.crl`: default none (`null` also means none).
    #[serde(deserialize_with = "nullable_path")]
    crl: Option<PathBuf>,
    /// `tls.require_client_auth_eku`: refuse client certificates without an EKU extension,
    /// default true.
    #[serde(deserialize_with = "boolean")]
    require_client_auth_eku: bool,
    /// `tls.allowed_clients`: the certificates that may act as the manager, default any of
    /// the CA; see [`AllowedClientEntry`].
    allowed_clients: Vec<AllowedClientEntry>,
}

impl Default for TlsFile {
    fn default() -> Self {
        TlsFile {
            ca_cert: PathBuf::from("/etc/linux_patch_api/certs/ca.pem"),
            server_cert: PathBuf::from("/etc/linux_patch_api/certs/server.pem"),
            server_key: PathBuf::from("/etc/linux_patch_api/certs/server.key.pem"),
            crl: None,
            require_client_auth_eku: ClientPolicy::default().require_client_auth_eku,
            allowed_clients: Vec::new(),
        }
    }
}

impl From<TlsFile> for TlsConfig {
    fn from(f: TlsFile) -> Self {
        TlsConfig {
            ca_cert: f.ca_cert,
            server_cert: f.server_cert,
            server_key: f.server_key,
            crl: f.crl,
            client_policy: ClientPolicy {
                require_client_auth_eku: f.require_client_auth_eku,
                allowed_clients: f.allowed_clients.into_iter().map(Into::into).collect(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::tests::{one_error, parse};
    use std::path::Path;

    #[test]
    fn files_resolve_against_the_base_and_crl_may_be_null() {
        let c = parse("tls:\n  server_key: k.pem\n  crl: null\n").unwrap();
        assert_eq!(c.tls.server_key, Path::new("/base/k.pem"));
        assert_eq!(c.tls.crl, None);
        assert_eq!(
            one_error("tls:\n  ca_cert: 5\n"),
            "tls.ca_cert: expected a string, got an integer"
        );
        assert_eq!(one_error("tls:\n  crl: ''\n"), "tls.crl: must not be empty");
    }
}
