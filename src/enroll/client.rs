//! The Patch Manager client: `POST /api/v1/enroll` and `GET /api/v1/enroll/status/{token}`.
//!
//! HTTPS only, one deadline per request (DNS to last body byte), no redirects, no proxy (the
//! whitelist entry must be the address the connection really goes to). The manager's
//! certificate is checked as [`ManagerTrust`] says: chained to a CA file, pinned by the
//! SHA-256 of its leaf, or not at all (the specification's relaxed default, logged as a
//! warning). ureq's own TLS settings cannot pin a leaf, so the client plugs its own rustls
//! configuration into ureq's connector chain.
//!
//! The polling token is a bearer secret: it appears in no error message and no log line.
//! (ureq writes request paths only at trace level; the agent's log level stays above it.)

use std::fmt;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::sync::{Arc, Once};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use serde_json::Value;
use ureq::unversioned::resolver::DefaultResolver;

use super::transport::{ManagerTls, PeerRecord};

use super::identity::Identity;
use super::provision::Bundle;
use super::ManagerTrust;

/// Largest answer body read from the manager (a bundle is a few kilobytes).
pub const MAX_BODY_BYTES: u64 = 1024 * 1024;
/// Longest polling token accepted (the specification says 64 characters).
pub const MAX_TOKEN_LEN: usize = 256;
/// Longest `Retry-After` honoured; a larger value is clamped.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Why a request to the manager failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientError {
    /// The manager URL is unusable (not https, no host, ...).
    InvalidUrl(String),
    /// The trust settings are unusable, or the manager's certificate was refused.
    Trust(String),
    /// The connection failed (DNS, refused, reset, TLS alert): worth retrying.
    Network(String),
    /// No complete answer within the request deadline: worth retrying.
    Timeout(Duration),
    /// HTTP 429; `retry_after` from the `Retry-After` header when given in seconds.
    RateLimited {
        /// How long the manager asked us to wait.
        retry_after: Option<Duration>,
    },
    /// HTTP 409: the manager refused the registration as a collision.
    Conflict(String),
    /// HTTP 5xx: worth retrying.
    Server {
        /// The HTTP status.
        status: u16,
        /// The body's `error` message, if any.
        message: String,
    },
    /// Any other unexpected HTTP status.
    Http {
        /// The HTTP status.
        status: u16,
        /// The body's `error` message, if any.
        message: String,
    },
    /// The manager answered something that is not the documented protocol.
    Protocol(String),
}

impl ClientError {
    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ClientError::Network(_)
                | ClientError::Timeout(_)
                | ClientError::RateLimited { .. }
                | ClientError::Server { .. }
        )
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::InvalidUrl(m) => write!(f, "manager URL {m}"),
            ClientError::Trust(m) => write!(f, "manager TLS: {m}"),
            ClientError::Network(m) => write!(f, "cannot reach the manager: {m}"),
            ClientError::Timeout(d) => {
                write!(f, "the manager gave no answer within {} s", d.as_secs())
            }
            ClientError::RateLimited { retry_after } => match retry_after {
                Some(d) => write!(
                    f,
                    "rate limited by the manager (retry after {} s)",
                    d.as_secs()
                ),
                None => write!(f, "rate limited by the manager"),
            },
            ClientError::Conflict(m) => write!(f, "conflict: {m}"),
            ClientError::Server { status, message } => {
                write!(f, "manager error HTTP {status}: {message}")
            }
            ClientError::Http { status, message } => {
                write!(f, "unexpected answer HTTP {status}: {message}")
            }
            ClientError::Protocol(m) => write!(f, "unexpected answer from the manager: {m}"),
        }
    }
}

impl std::error::Error for ClientError {}

/// The pieces of the manager URL the client needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManagerUrl {
    /// `https://host[:port][/prefix]` without a trailing slash.
    pub base: String,
    /// Host name or IP literal (IPv6 without brackets).
    pub host: String,
    /// Port (443 when not given).
    pub port: u16,
}

/// Parses and checks the manager URL: https, a host, an optional port and path prefix.
pub fn parse_manager_url(url: &str) -> Result<ManagerUrl, ClientError> {
    let bad = |m: &str| ClientError::InvalidUrl(format!("{url:?}: {m}"));
    let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("has no scheme"))?;
    if !scheme.eq_ignore_ascii_case("https") {
        return Err(bad(&format!(
            "only https:// is allowed, not {scheme}:// (the manager sends a private key)"
        )));
    }
    if rest.contains(['?', '#']) {
        return Err(bad("must not have a query or fragment"));
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    if authority.contains('@') {
        return Err(bad("must not contain user information"));
    }
    let (host, port) = split_host_port(authority).ok_or_else(|| bad("has no valid host[:port]"))?;
    let base = format!("https://{authority}{}", path.trim_end_matches('/'));
    Ok(ManagerUrl { base, host, port })
}

fn split_host_port(authority: &str) -> Option<(String, u16)> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        host.parse::<std::net::Ipv6Addr>().ok()?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?),
        };
        (host, port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let valid_host = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'));
    if !valid_host {
        return None;
    }
    let port = match port {
        Some(p) => p.parse::<u16>().ok().filter(|&p| p != 0)?,
        None => 443,
    };
    Some((host.to_string(), port))
}

/// The address connections to the manager go to: an IP literal as is, else the first address
/// the resolver returns (ureq connects to that one first too).
pub fn resolve_manager(url: &ManagerUrl) -> Result<SocketAddr, ClientError> {
    if let Ok(ip) = url.host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip.to_canonical(), url.port));
    }
    let mut addrs = (url.host.as_str(), url.port)
        .to_socket_addrs()
        .map_err(|e| ClientError::Network(format!("cannot resolve {}: {e}", url.host)))?;
    addrs
        .next()
        .map(|a| SocketAddr::new(a.ip().to_canonical(), a.port()))
        .ok_or_else(|| ClientError::Network(format!("{} has no address", url.host)))
}

/// Whether a polling token is usable: 1 to 256 ASCII letters and digits.
pub fn is_valid_token(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= MAX_TOKEN_LEN
        && token.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// A successful registration.
#[derive(Clone, PartialEq, Eq)]
pub struct Registered {
    /// The polling token (secret: never logged).
    pub token: String,
}

impl fmt::Debug for Registered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Registered {{ token: <{} characters> }}",
            self.token.len()
        )
    }
}

/// The manager's answer to a status poll.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// Awaiting the administrator.
    Pending,
    /// Approved: the body exactly as received (to be saved before anything else) and the
    /// bundle read from it, or why it could not be read.
    Approved {
        /// The raw response body.
        raw: Vec<u8>,
        /// The certificates and key, or what is wrong with them.
        bundle: Result<Bundle, String>,
    },
    /// Denied by the administrator.
    Denied,
    /// The manager does not know the token (expired, consumed, never issued).
    NotFound,
}

/// A client for one manager.
pub struct ManagerClient {
    agent: ureq::Agent,
    url: ManagerUrl,
    timeout: Duration,
    peer: PeerRecord,
}

/// The warning for enrollment without `--manager-ca` or `--manager-fingerprint`.
pub const INSECURE_WARNING_TEXT: &str = "the manager's TLS certificate is NOT verified (no \
    --manager-ca FILE or --manager-fingerprint SHA256, enrollment.manager_ca / \
    manager_fingerprint): anyone who can intercept or redirect the connection to the manager \
    (DNS, routing, ARP) can approve this host with a CA and whitelist entry of their own and \
    then run package operations and reboots on it as root; recorded as \
    \"manager_trust\": \"unverified\" in enrolled.json";

/// Ensures the relaxed-TLS warning is written once per process.
static INSECURE_WARNING: Once = Once::new();

impl ManagerClient {
    /// Builds the client; fails when the URL or the trust settings are unusable.
    pub fn new(
        manager_url: &str,
        trust: &ManagerTrust,
        timeout: Duration,
    ) -> Result<ManagerClient, ClientError> {
        let url = parse_manager_url(manager_url)?;
        let tls = Arc::new(tls_config(trust)?);
        if *trust == ManagerTrust::Insecure {
            INSECURE_WARNING.call_once(|| {
                log::warn!("{INSECURE_WARNING_TEXT}");
                // The operator must see it even when logging.level hides warnings.
                if log::max_level() < log::Level::Warn {
                    eprintln!("linux-patch-api: warning: {INSECURE_WARNING_TEXT}");
                }
            });
        }
        let config = ureq::Agent::config_builder()
            .https_only(true)
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .max_redirects(0)
            .proxy(None)
            .user_agent(concat!("linux-patch-api/", env!("CARGO_PKG_VERSION")))
            .build();
        let peer = PeerRecord::default();
        let connector = ManagerTls {
            config: tls,
            peer: peer.clone(),
        };
        let agent = ureq::Agent::with_parts(config, connector, DefaultResolver::default());
        Ok(ManagerClient {
            agent,
            url,
            timeout,
            peer,
        })
    }

    /// The address of the last connection made to the manager (what the whitelist names).
    pub fn peer(&self) -> Option<SocketAddr> {
        self.peer.get()
    }

    /// The parsed manager URL.
    pub fn url(&self) -> &ManagerUrl {
        &self.url
    }

    /// `POST {base}/api/v1/enroll` with the host's identity.
    pub fn register(&self, identity: &Identity) -> Result<Registered, ClientError> {
        let body = serde_json::json!({
            "machine_id": identity.machine_id,
            "fqdn": identity.fqdn,
            "ip_address": identity.ip_address.to_string(),
            "os_details": identity.os_details,
        });
        let body = serde_json::to_vec(&body).map_err(|e| ClientError::Protocol(e.to_string()))?;
        let url = format!("{}/api/v1/enroll", self.url.base);
        let mut response = self
            .agent
            .post(&url)
            .header("Content-Type", "application/json")
            .header("Accept", "application/json")
            .send(&body[..])
            .map_err(|e| self.transport_error(e))?;
        let status = response.status().as_u16();
        let retry_after = header(&response, "retry-after");
        let body = read_body(&mut response).map_err(|e| self.transport_error(e))?;
        interpret_register(status, retry_after.as_deref(), &body)
    }

    /// `GET {base}/api/v1/enroll/status/{token}`.
    pub fn status(&self, token: &str) -> Result<Status, ClientError> {
        if !is_valid_token(token) {
            return Err(ClientError::Protocol(
                "the polling token is malformed".into(),
            ));
        }
        let url = format!("{}/api/v1/enroll/status/{token}", self.url.base);
        let mut response = self
            .agent
            .get(&url)
            .header("Accept", "application/json")
            .call()
            .map_err(|e| self.transport_error(e))?;
        let status = response.status().as_u16();
        let retry_after = header(&response, "retry-after");
        let body = read_body(&mut response).map_err(|e| self.transport_error(e))?;
        interpret_status(status, retry_after.as_deref(), body)
    }

    fn transport_error(&self, e: ureq::Error) -> ClientError {
        transport_error(e, self.timeout)
    }
}

fn header(response: &ureq::http::Response<ureq::Body>, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn read_body(response: &mut ureq::http::Response<ureq::Body>) -> Result<Vec<u8>, ureq::Error> {
    response
        .body_mut()
        .with_config()
        .limit(MAX_BODY_BYTES)
        .read_to_vec()
}

/// Maps a ureq failure; certificate refusals are [`ClientError::Trust`] (retrying cannot
/// help), everything else on the way is a network problem.
fn transport_error(e: ureq::Error, timeout: Duration) -> ClientError {
    match e {
        ureq::Error::Timeout(_) => ClientError::Timeout(timeout),
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => {
            ClientError::Timeout(timeout)
        }
        ureq::Error::Rustls(rustls::Error::InvalidCertificate(c)) => {
            let why = match c {
                rustls::CertificateError::Other(other) => other.0.to_string(),
                c => c.to_string(),
            };
            ClientError::Trust(format!("the manager's certificate was refused: {why}"))
        }
        ureq::Error::BodyExceedsLimit(n) => {
            ClientError::Protocol(format!("answer larger than {n} bytes"))
        }
        ureq::Error::RequireHttpsOnly(_) => ClientError::InvalidUrl("must be https".into()),
        other => ClientError::Network(other.to_string()),
    }
}

/// Interprets the answer to `POST /api/v1/enroll`.
pub fn interpret_register(
    status: u16,
    retry_after: Option<&str>,
    body: &[u8],
) -> Result<Registered, ClientError> {
    match status {
        200..=299 => {
            let json: Value = serde_json::from_slice(body).map_err(|e| {
                ClientError::Protocol(format!("registration answer is not JSON: {e}"))
            })?;
            let token = json
                .get("polling_token")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    ClientError::Protocol("registration answer has no polling_token".into())
                })?;
            if !is_valid_token(token) {
                return Err(ClientError::Protocol(format!(
                    "the polling token is not 1-{MAX_TOKEN_LEN} letters and digits ({} characters)",
                    token.chars().count()
                )));
            }
            Ok(Registered {
                token: token.to_string(),
            })
        }
        409 => Err(ClientError::Conflict(error_message(body))),
        _ => Err(other_status(status, retry_after, body)),
    }
}

/// Interprets the answer to `GET /api/v1/enroll/status/{token}`.
pub fn interpret_status(
    status: u16,
    retry_after: Option<&str>,
    body: Vec<u8>,
) -> Result<Status, ClientError> {
    let json: Option<Value> = serde_json::from_slice(&body).ok();
    let tag = json
        .as_ref()
        .and_then(|j| j.get("status"))
        .and_then(Value::as_str)
        .map(|s| s.to_ascii_lowercase());
    match (status, tag.as_deref()) {
        // A manager that puts "not found" behind a 404 still means the same thing.
        (200..=299 | 404 | 410, Some("not_found" | "notfound" | "not-found")) => {
            Ok(Status::NotFound)
        }
        (200..=299, Some("pending")) => Ok(Status::Pending),
        (200..=299, Some("denied" | "rejected")) => Ok(Status::Denied),
        (200..=299, Some("approved")) => {
            let bundle = Bundle::from_status_body(&body);
            Ok(Status::Approved { raw: body, bundle })
        }
        (200..=299, Some(other)) => Err(ClientError::Protocol(format!(
            "unknown enrollment status {:?}",
            clip(other)
        ))),
        (200..=299, None) => Err(ClientError::Protocol(
            "status answer has no \"status\" field".into(),
        )),
        _ => Err(other_status(status, retry_after, &body)),
    }
}

fn other_status(status: u16, retry_after: Option<&str>, body: &[u8]) -> ClientError {
    match status {
        429 => ClientError::RateLimited {
            retry_after: retry_after.and_then(parse_retry_after),
        },
        500..=599 => ClientError::Server {
            status,
            message: error_message(body),
        },
        _ => ClientError::Http {
            status,
            message: error_message(body),
        },
    }
}

/// `Retry-After` in seconds (the HTTP-date form is not used by the manager), clamped to
/// [`MAX_RETRY_AFTER`].
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let secs: u64 = value.trim().parse().ok()?;
    Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER))
}

/// The body's `error` message (a string, or an envelope's `error.message`), made safe to log.
pub fn error_message(body: &[u8]) -> String {
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let error = json.as_ref().and_then(|j| j.get("error"));
    let text = match error {
        Some(Value::String(s)) => s.clone(),
        Some(e) => e
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| e.to_string()),
        None if body.is_empty() => "(no body)".to_string(),
        None => String::from_utf8_lossy(body).into_owned(),
    };
    clip(&text)
}

/// At most 200 characters with control characters replaced: a log line stays one line.
fn clip(text: &str) -> String {
    let mut out: String = text
        .chars()
        .take(200)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().count() > 200 {
        out.push('…');
    }
    out.trim().to_string()
}

/// The rustls configuration for the manager connection, per the trust setting.
pub fn tls_config(trust: &ManagerTrust) -> Result<ClientConfig, ClientError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let algs = provider.signature_verification_algorithms;
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(rustls::ALL_VERSIONS)
        .map_err(|e| ClientError::Trust(e.to_string()))?;
    let mut config = match trust {
        ManagerTrust::CaFile(path) => builder
            .with_root_certificates(read_roots(path)?)
            .with_no_client_auth(),
        ManagerTrust::Fingerprint(sha256) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinnedLeaf {
                sha256: Some(*sha256),
                algs,
            }))
            .with_no_client_auth(),
        ManagerTrust::Insecure => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinnedLeaf { sha256: None, algs }))
            .with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

fn read_roots(path: &Path) -> Result<rustls::RootCertStore, ClientError> {
    let fail = |m: String| ClientError::Trust(format!("{}: {m}", path.display()));
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| fail(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(e.to_string()))?;
    if certs.is_empty() {
        return Err(fail("no certificate in the file".into()));
    }
    let mut roots = rustls::RootCertStore::empty();
    for (i, cert) in certs.into_iter().enumerate() {
        roots.add(cert).map_err(|e| {
            fail(format!(
                "certificate {i} is not a usable CA certificate: {e}"
            ))
        })?;
    }
    Ok(roots)
}

/// Accepts exactly the leaf whose SHA-256 is pinned (or, with no pin, any leaf) while still
/// checking that the server holds the leaf's key (handshake signatures).
#[derive(Debug)]
struct PinnedLeaf {
    sha256: Option<[u8; 32]>,
    algs: WebPkiSupportedAlgorithms,
}

/// The presented leaf is not the pinned one.
#[derive(Debug)]
struct PinMismatch {
    presented: String,
}

impl fmt::Display for PinMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "its SHA-256 fingerprint {} is not the one given with --manager-fingerprint",
            self.presented
        )
    }
}

impl std::error::Error for PinMismatch {}

impl ServerCertVerifier for PinnedLeaf {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(pin) = self.sha256 else {
            return Ok(ServerCertVerified::assertion());
        };
        let digest = ring::digest::digest(&ring::digest::SHA256, end_entity.as_ref());
        if digest.as_ref() == pin {
            return Ok(ServerCertVerified::assertion());
        }
        let presented = crate::x509::sha256_fingerprint(end_entity.as_ref());
        Err(rustls::Error::InvalidCertificate(
            rustls::CertificateError::Other(rustls::OtherError(Arc::new(PinMismatch {
                presented,
            }))),
        ))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enroll::testutil::{MockManager, Pki, Reply};

    fn identity() -> Identity {
        let mut os = serde_json::Map::new();
        os.insert("name".into(), "Debian GNU/Linux".into());
        Identity {
            machine_id: "a".repeat(32),
            fqdn: "host.example.com".into(),
            ip_address: "192.0.2.10".parse().unwrap(),
            os_details: os,
        }
    }

    const TOKEN: &str = "aB3dE6gH9jK2mN5pQ8rS1tU4vW7xY0zAaB3dE6gH9jK2mN5pQ8rS1tU4vW7xY0zA";

    #[test]
    fn urls_must_be_https_with_a_host() {
        let u = parse_manager_url("https://m.example.com:8443/").unwrap();
        assert_eq!(u.base, "https://m.example.com:8443");
        assert_eq!((u.host.as_str(), u.port), ("m.example.com", 8443));
        let u = parse_manager_url("HTTPS://10.0.0.1/pm").unwrap();
        assert_eq!((u.base.as_str(), u.port), ("https://10.0.0.1/pm", 443));
        let u = parse_manager_url("https://[::1]:9443").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 9443));
        for bad in [
            "http://m.example.com",
            "m.example.com",
            "https://",
            "https:///x",
            "https://user@m",
            "https://m:0",
            "https://m:99999",
            "https://m?x=1",
            "https://[zz]:1",
        ] {
            assert!(
                matches!(parse_manager_url(bad), Err(ClientError::InvalidUrl(_))),
                "{bad}"
            );
        }
        let e = parse_manager_url("http://m").unwrap_err().to_string();
        assert!(e.contains("only https://"), "{e}");
    }

    #[test]
    fn ip_literals_resolve_to_themselves() {
        let u = parse_manager_url("https://192.0.2.1:8443").unwrap();
        assert_eq!(
            resolve_manager(&u).unwrap(),
            "192.0.2.1:8443".parse().unwrap()
        );
        let u = parse_manager_url("https://localhost:8443").unwrap();
        assert!(resolve_manager(&u).unwrap().ip().is_loopback());
    }

    #[test]
    fn tokens_are_letters_and_digits() {
        assert!(is_valid_token(TOKEN));
        assert!(is_valid_token("a"));
        assert!(!is_valid_token(""));
        assert!(!is_valid_token("abc/../x"));
        assert!(!is_valid_token(&"a".repeat(257)));
        assert!(!format!(
            "{:?}",
            Registered {
                token: TOKEN.into()
            }
        )
        .contains(TOKEN));
    }

    #[test]
    fn registration_answers_are_interpreted() {
        let body = format!("{{\"polling_token\":\"{TOKEN}\"}}");
        assert_eq!(
            interpret_register(202, None, body.as_bytes())
                .unwrap()
                .token,
            TOKEN
        );
        assert_eq!(
            interpret_register(429, Some("30"), b"{\"error\":\"slow\"}"),
            Err(ClientError::RateLimited {
                retry_after: Some(Duration::from_secs(30))
            })
        );
        assert_eq!(
            interpret_register(429, None, b""),
            Err(ClientError::RateLimited { retry_after: None })
        );
        assert_eq!(
            interpret_register(409, None, b"{\"error\":\"FQDN already registered\"}"),
            Err(ClientError::Conflict("FQDN already registered".into()))
        );
        let e = interpret_register(500, None, b"{\"error\":\"Database error\"}").unwrap_err();
        assert!(e.is_retryable());
        assert!(e.to_string().contains("Database error"));
        let e = interpret_register(400, None, b"{\"error\":\"bad\"}").unwrap_err();
        assert!(!e.is_retryable());
        let bad = interpret_register(202, None, b"{\"polling_token\":\"a/b\"}").unwrap_err();
        assert!(matches!(bad, ClientError::Protocol(_)));
        assert!(!bad.to_string().contains("a/b"));
        assert!(interpret_register(202, None, b"not json").is_err());
    }

    #[test]
    fn status_answers_are_interpreted() {
        let s = |code, body: &str| interpret_status(code, None, body.as_bytes().to_vec());
        assert_eq!(s(200, "{\"status\":\"pending\"}"), Ok(Status::Pending));
        assert_eq!(s(200, "{\"status\":\"denied\"}"), Ok(Status::Denied));
        assert_eq!(s(200, "{\"status\":\"not_found\"}"), Ok(Status::NotFound));
        assert_eq!(s(200, "{\"status\":\"notfound\"}"), Ok(Status::NotFound));
        assert_eq!(s(404, "{\"status\":\"notfound\"}"), Ok(Status::NotFound));
        assert!(matches!(
            s(404, "{}"),
            Err(ClientError::Http { status: 404, .. })
        ));
        assert!(matches!(
            s(200, "{\"status\":\"odd\"}"),
            Err(ClientError::Protocol(_))
        ));
        assert!(matches!(s(200, "[]"), Err(ClientError::Protocol(_))));
        assert!(s(503, "").unwrap_err().is_retryable());
        let approved = "{\"status\":\"approved\",\"ca_crt\":\"A\",\"server_crt\":\"B\",\"server_key\":\"C\",\"crl_pem\":\"\"}";
        match s(200, approved).unwrap() {
            Status::Approved { raw, bundle } => {
                assert_eq!(raw, approved.as_bytes());
                let b = bundle.unwrap();
                assert_eq!((b.ca_crt.as_str(), b.server_crt.as_str()), ("A", "B"));
                assert_eq!(b.crl_pem.as_deref(), Some(""));
            }
            other => panic!("{other:?}"),
        }
        match s(200, "{\"status\":\"approved\"}").unwrap() {
            Status::Approved { bundle, .. } => assert!(bundle.is_err()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn retry_after_and_messages_are_bounded() {
        assert_eq!(parse_retry_after(" 60 "), Some(Duration::from_secs(60)));
        assert_eq!(parse_retry_after("99999999"), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(
            error_message(b"{\"error\":{\"code\":\"X\",\"message\":\"m\"}}"),
            "m"
        );
        assert_eq!(error_message(b""), "(no body)");
        assert_eq!(error_message(b"line1\nline2"), "line1 line2");
        assert_eq!(
            error_message("x".repeat(500).as_bytes()).chars().count(),
            201
        );
    }

    fn insecure_client(m: &MockManager) -> ManagerClient {
        ManagerClient::new(&m.url(), &ManagerTrust::Insecure, Duration::from_secs(5)).unwrap()
    }

    #[test]
    fn register_and_poll_against_a_tls_manager() {
        let pki = Pki::manager();
        let mock = MockManager::start(
            &pki,
            vec![
                Reply::json(202, &format!("{{\"polling_token\":\"{TOKEN}\"}}")),
                Reply::json(200, "{\"status\":\"pending\"}"),
                Reply::json(200, "{\"status\":\"denied\"}"),
                Reply::json(200, "{\"status\":\"notfound\"}"),
            ],
        );
        let client = insecure_client(&mock);
        assert_eq!(client.peer(), None, "no connection yet");
        assert_eq!(client.register(&identity()).unwrap().token, TOKEN);
        let peer = client.peer().expect("the connection's peer is recorded");
        assert_eq!(peer.ip(), IpAddr::from([127, 0, 0, 1]));
        assert_eq!(client.status(TOKEN).unwrap(), Status::Pending);
        assert_eq!(client.status(TOKEN).unwrap(), Status::Denied);
        assert_eq!(client.status(TOKEN).unwrap(), Status::NotFound);
        let requests = mock.requests();
        assert_eq!(requests[0].method, "POST");
        assert_eq!(requests[0].path, "/api/v1/enroll");
        let body: Value = serde_json::from_slice(&requests[0].body).unwrap();
        assert_eq!(body["machine_id"], "a".repeat(32));
        assert_eq!(body["fqdn"], "host.example.com");
        assert_eq!(body["ip_address"], "192.0.2.10");
        assert_eq!(body["os_details"]["name"], "Debian GNU/Linux");
        assert_eq!(requests[1].method, "GET");
        assert_eq!(requests[1].path, format!("/api/v1/enroll/status/{TOKEN}"));
    }

    #[test]
    fn register_errors_from_a_tls_manager() {
        let pki = Pki::manager();
        let mock = MockManager::start(
            &pki,
            vec![
                Reply::json(429, "{\"error\":\"Rate limit exceeded\"}")
                    .with_header("Retry-After", "7"),
                Reply::json(409, "{\"error\":\"IP 192.0.2.10 already registered\"}"),
                Reply::json(500, "{\"error\":\"Database error\"}"),
            ],
        );
        let client = insecure_client(&mock);
        assert_eq!(
            client.register(&identity()),
            Err(ClientError::RateLimited {
                retry_after: Some(Duration::from_secs(7))
            })
        );
        assert_eq!(
            client.register(&identity()),
            Err(ClientError::Conflict(
                "IP 192.0.2.10 already registered".into()
            ))
        );
        assert!(matches!(
            client.register(&identity()),
            Err(ClientError::Server { status: 500, .. })
        ));
    }

    #[test]
    fn the_fingerprint_pin_accepts_only_the_pinned_leaf() {
        let pki = Pki::manager();
        let mock = MockManager::start(&pki, vec![Reply::json(200, "{\"status\":\"pending\"}")]);
        let good = ManagerTrust::Fingerprint(pki.leaf_sha256());
        let client = ManagerClient::new(&mock.url(), &good, Duration::from_secs(5)).unwrap();
        assert_eq!(client.status(TOKEN).unwrap(), Status::Pending);

        let mut wrong = pki.leaf_sha256();
        wrong[0] ^= 1;
        let client = ManagerClient::new(
            &mock.url(),
            &ManagerTrust::Fingerprint(wrong),
            Duration::from_secs(5),
        )
        .unwrap();
        let e = client.status(TOKEN).unwrap_err();
        assert!(matches!(e, ClientError::Trust(_)), "{e:?}");
        assert!(!e.is_retryable());
        assert!(
            e.to_string()
                .contains(&crate::x509::sha256_fingerprint(&pki.leaf_der())),
            "{e}"
        );
    }

    #[test]
    fn a_ca_file_accepts_its_manager_and_refuses_another() {
        let pki = Pki::manager();
        let mock = MockManager::start(&pki, vec![Reply::json(200, "{\"status\":\"pending\"}")]);
        let dir = std::env::temp_dir().join(format!("lpa-client-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca = dir.join("ca.pem");
        std::fs::write(&ca, &pki.ca_pem).unwrap();
        let trust = ManagerTrust::CaFile(ca.clone());
        let client = ManagerClient::new(&mock.url(), &trust, Duration::from_secs(5)).unwrap();
        assert_eq!(client.status(TOKEN).unwrap(), Status::Pending);

        let other = Pki::manager();
        std::fs::write(&ca, &other.ca_pem).unwrap();
        let client = ManagerClient::new(&mock.url(), &trust, Duration::from_secs(5)).unwrap();
        let e = client.status(TOKEN).unwrap_err();
        assert!(matches!(e, ClientError::Trust(_)), "{e:?}");

        std::fs::write(&ca, "no pem here").unwrap();
        assert!(matches!(
            ManagerClient::new(&mock.url(), &trust, Duration::from_secs(5)),
            Err(ClientError::Trust(_))
        ));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_unreachable_manager_is_a_retryable_network_error() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let client = ManagerClient::new(
            &format!("https://127.0.0.1:{port}"),
            &ManagerTrust::Insecure,
            Duration::from_secs(2),
        )
        .unwrap();
        let e = client.status(TOKEN).unwrap_err();
        assert!(e.is_retryable(), "{e:?}");
        assert!(!e.to_string().contains(TOKEN));
    }
}
