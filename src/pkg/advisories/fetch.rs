//! Downloading an advisory feed from its configured URL.
//!
//! HTTPS only, also for loopback (no plain-HTTP exception: a feed decides what counts as a
//! security fix, and the tests run a real TLS server anyway). The server is verified
//! against the configured CA file, else the system's CA bundle (the distribution keeps it
//! current; no root store is compiled in). One deadline covers the whole request, DNS to
//! last body byte; the body is capped; it is checked by the family's parser
//! (`debian_tracker::validate`, `alpine_secdb::validate`, `arch_asa::validate`) and only
//! then replaces the feed file atomically (0644): a failed or bad download leaves the
//! previous feed in use. Proxies from the environment (`HTTPS_PROXY`, `ALL_PROXY`,
//! `NO_PROXY`) are honoured.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use time::OffsetDateTime;
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig, TlsProvider};

/// Mode of a downloaded feed file: public data.
pub const FEED_MODE: u32 = 0o644;

/// System CA bundles, in the order distributions place them (Debian/Ubuntu/Arch/Alpine,
/// Fedora/RHEL, SUSE, others).
pub const SYSTEM_CA_BUNDLES: [&str; 5] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// A successful refresh.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedRefresh {
    /// Size of the new feed file.
    pub bytes: u64,
    /// When it was written.
    pub fetched_at: OffsetDateTime,
}

/// Why a feed could not be refreshed (the old file, if any, is unchanged).
#[derive(Debug)]
pub enum FetchError {
    /// The URL is not an `https://` URL.
    Url(String),
    /// The CA certificates could not be loaded.
    Ca {
        /// The file tried (or the list searched).
        path: String,
        /// What went wrong.
        message: String,
    },
    /// No complete answer within the deadline.
    Timeout(Duration),
    /// The server answered with a status other than 200.
    Status(u16),
    /// The body exceeded the size cap.
    TooLarge(u64),
    /// Connecting, TLS (including an untrusted certificate) or reading failed.
    Transport(String),
    /// The body is not a feed of the expected format.
    Invalid(String),
    /// The feed file could not be written.
    Write {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        error: std::io::Error,
    },
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Url(m) => write!(f, "bad feed URL: {m}"),
            FetchError::Ca { path, message } => {
                write!(f, "cannot load CA certificates from {path}: {message}")
            }
            FetchError::Timeout(d) => write!(f, "no complete answer within {} s", d.as_secs()),
            FetchError::Status(s) => write!(f, "server answered HTTP {s}"),
            FetchError::TooLarge(max) => write!(f, "feed larger than {max} bytes"),
            FetchError::Transport(m) => write!(f, "download failed: {m}"),
            FetchError::Invalid(m) => write!(f, "downloaded feed is not valid: {m}"),
            FetchError::Write { path, error } => write!(f, "{}: {error}", path.display()),
        }
    }
}

impl std::error::Error for FetchError {}

/// Downloads `url` and, when `validate` accepts the body, replaces `dest` with it.
pub fn refresh_feed(
    url: &str,
    dest: &Path,
    timeout: Duration,
    max_bytes: u64,
    ca_file: Option<&Path>,
    validate: &dyn Fn(&[u8]) -> Result<(), String>,
) -> Result<FeedRefresh, FetchError> {
    let body = download(url, timeout, max_bytes, ca_file, true)?;
    validate(&body).map_err(FetchError::Invalid)?;
    store(dest, &body)
}

/// How long ago the feed file was last written; `None` when it does not exist.
pub fn feed_age(path: &Path) -> Option<Duration> {
    let modified = std::fs::metadata(path).ok()?.modified().ok()?;
    // A file dated in the future (clock step) counts as fresh.
    Some(
        SystemTime::now()
            .duration_since(modified)
            .unwrap_or_default(),
    )
}

fn store(dest: &Path, body: &[u8]) -> Result<FeedRefresh, FetchError> {
    let fail = |error| FetchError::Write {
        path: dest.to_path_buf(),
        error,
    };
    if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    crate::fsutil::write_atomic(dest, body, FEED_MODE).map_err(fail)?;
    Ok(FeedRefresh {
        bytes: body.len() as u64,
        fetched_at: OffsetDateTime::now_utc(),
    })
}

fn download(
    url: &str,
    timeout: Duration,
    max_bytes: u64,
    ca_file: Option<&Path>,
    env_proxy: bool,
) -> Result<Vec<u8>, FetchError> {
    check_url(url)?;
    let roots = load_roots(ca_file)?;
    let tls = TlsConfig::builder()
        .provider(TlsProvider::Rustls)
        .root_certs(RootCerts::Specific(Arc::new(roots)))
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .build();
    let mut config = ureq::Agent::config_builder()
        .tls_config(tls)
        .https_only(true)
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .max_redirects(5)
        .user_agent(concat!("linux-patch-api/", env!("CARGO_PKG_VERSION")));
    if !env_proxy {
        config = config.proxy(None);
    }
    let agent: ureq::Agent = config.build().into();
    let mut response = agent
        .get(url)
        .call()
        .map_err(|e| transport(e, timeout, max_bytes))?;
    let status = response.status().as_u16();
    if status != 200 {
        return Err(FetchError::Status(status));
    }
    response
        .body_mut()
        .with_config()
        .limit(max_bytes)
        .read_to_vec()
        .map_err(|e| transport(e, timeout, max_bytes))
}

fn check_url(url: &str) -> Result<(), FetchError> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(FetchError::Url(format!("{url:?} has no scheme")));
    };
    if !scheme.eq_ignore_ascii_case("https") {
        return Err(FetchError::Url(format!(
            "{url:?}: only https:// is allowed, not {scheme}://"
        )));
    }
    if rest.is_empty() || rest.starts_with('/') {
        return Err(FetchError::Url(format!("{url:?} has no host")));
    }
    Ok(())
}

fn transport(e: ureq::Error, timeout: Duration, max_bytes: u64) -> FetchError {
    match e {
        ureq::Error::Timeout(_) => FetchError::Timeout(timeout),
        ureq::Error::BodyExceedsLimit(_) => FetchError::TooLarge(max_bytes),
        ureq::Error::StatusCode(s) => FetchError::Status(s),
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => {
            FetchError::Timeout(timeout)
        }
        other => FetchError::Transport(other.to_string()),
    }
}

/// The configured CA file's certificates, else the first system bundle found.
fn load_roots(ca_file: Option<&Path>) -> Result<Vec<Certificate<'static>>, FetchError> {
    if let Some(path) = ca_file {
        return read_certs(path);
    }
    let found = SYSTEM_CA_BUNDLES
        .iter()
        .map(Path::new)
        .find(|p| p.is_file());
    match found {
        Some(path) => read_certs(path),
        None => Err(FetchError::Ca {
            path: SYSTEM_CA_BUNDLES.join(", "),
            message: "no system CA bundle; configure a CA file".to_string(),
        }),
    }
}

fn read_certs(path: &Path) -> Result<Vec<Certificate<'static>>, FetchError> {
    let fail = |message: String| FetchError::Ca {
        path: path.display().to_string(),
        message,
    };
    let pem = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item.map_err(|e| fail(e.to_string()))? {
            PemItem::Certificate(c) => certs.push(c),
            _ => continue,
        }
    }
    if certs.is_empty() {
        return Err(fail("no certificate in the file".to_string()));
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose,
        IsCa, KeyPair, KeyUsagePurpose, SanType,
    };
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::thread::JoinHandle;
    use std::time::Instant;

    /// A CA (its PEM) and a server certificate for 127.0.0.1 signed by it.
    struct Pki {
        ca_pem: String,
        chain: Vec<CertificateDer<'static>>,
        key: Vec<u8>,
    }

    fn pki() -> Pki {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "feed test ca");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        params
            .subject_alt_names
            .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &ca).unwrap();
        Pki {
            ca_pem: ca.pem(),
            chain: vec![cert.der().clone()],
            key: key.serialize_der(),
        }
    }

    struct Dir(PathBuf);

    impl Dir {
        fn new(tag: &str) -> Dir {
            let d = std::env::temp_dir().join(format!("lpa-fetch-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&d);
            std::fs::create_dir_all(&d).unwrap();
            Dir(d)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// What the one-shot server does with its one connection.
    enum Reply {
        /// Status line code and body.
        Send(u16, Vec<u8>),
        /// Accept TLS, read the request, then say nothing until the client gives up.
        Stall,
    }

    /// Serves one HTTPS request on 127.0.0.1; returns the URL and the thread.
    fn serve(pki: &Pki, reply: Reply) -> (String, JoinHandle<()>) {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                pki.chain.clone(),
                PrivateKeyDer::Pkcs8(pki.key.clone().into()),
            )
            .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "https://127.0.0.1:{}/feed.json",
            listener.local_addr().unwrap().port()
        );
        let handle = std::thread::spawn(move || {
            let Ok((tcp, _)) = listener.accept() else {
                return;
            };
            tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            tcp.set_write_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let conn = rustls::ServerConnection::new(Arc::new(config)).unwrap();
            let mut tls = rustls::StreamOwned::new(conn, tcp);
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match tls.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            match reply {
                Reply::Send(code, body) => {
                    let head = format!(
                        "HTTP/1.1 {code} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = tls.write_all(head.as_bytes());
                    let _ = tls.write_all(&body);
                    let _ = tls.flush();
                    tls.conn.send_close_notify();
                    let _ = tls.flush();
                }
                // The client closes on its deadline; this read then ends (or times out).
                Reply::Stall => {
                    let _ = tls.read(&mut buf);
                }
            }
        });
        (url, handle)
    }

    fn is_json(b: &[u8]) -> Result<(), String> {
        serde_json::from_slice::<serde_json::Value>(b)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn fetch(
        url: &str,
        dest: &Path,
        ca: &Path,
        max: u64,
        t: Duration,
    ) -> Result<FeedRefresh, FetchError> {
        let body = download(url, t, max, Some(ca), false)?;
        is_json(&body).map_err(FetchError::Invalid)?;
        store(dest, &body)
    }

    #[test]
    fn success_replaces_and_bad_body_keeps_the_old_feed() {
        let pki = pki();
        let dir = Dir::new("ok");
        let ca = dir.0.join("ca.pem");
        std::fs::write(&ca, &pki.ca_pem).unwrap();
        let dest = dir.0.join("feeds/tracker.json");
        let t = Duration::from_secs(10);

        let (url, h) = serve(&pki, Reply::Send(200, b"{\"a\": 1}".to_vec()));
        let done = fetch(&url, &dest, &ca, 1000, t).unwrap();
        h.join().unwrap();
        assert_eq!(done.bytes, 8);
        assert_eq!(std::fs::read(&dest).unwrap(), b"{\"a\": 1}");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&dest).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
        assert!(feed_age(&dest).unwrap() < Duration::from_secs(60));

        let (url, h) = serve(&pki, Reply::Send(200, b"<html>maintenance</html>".to_vec()));
        let err = fetch(&url, &dest, &ca, 1000, t).unwrap_err();
        h.join().unwrap();
        assert!(matches!(err, FetchError::Invalid(_)), "{err}");
        assert_eq!(std::fs::read(&dest).unwrap(), b"{\"a\": 1}");

        let (url, h) = serve(&pki, Reply::Send(404, b"{}".to_vec()));
        let err = fetch(&url, &dest, &ca, 1000, t).unwrap_err();
        h.join().unwrap();
        assert!(matches!(err, FetchError::Status(404)), "{err}");
        assert_eq!(std::fs::read(&dest).unwrap(), b"{\"a\": 1}");
    }

    #[test]
    fn oversized_body_is_refused() {
        let pki = pki();
        let dir = Dir::new("big");
        let ca = dir.0.join("ca.pem");
        std::fs::write(&ca, &pki.ca_pem).unwrap();
        let dest = dir.0.join("feed.json");
        let body = format!("[{}0]", "0,".repeat(5000)).into_bytes();
        let (url, h) = serve(&pki, Reply::Send(200, body));
        let err = fetch(&url, &dest, &ca, 1000, Duration::from_secs(10)).unwrap_err();
        h.join().unwrap();
        assert!(matches!(err, FetchError::TooLarge(1000)), "{err}");
        assert!(!dest.exists());
    }

    #[test]
    fn silent_server_times_out_within_the_deadline() {
        let pki = pki();
        let dir = Dir::new("slow");
        let ca = dir.0.join("ca.pem");
        std::fs::write(&ca, &pki.ca_pem).unwrap();
        let (url, h) = serve(&pki, Reply::Stall);
        let started = Instant::now();
        let err = fetch(
            &url,
            &dir.0.join("f"),
            &ca,
            1000,
            Duration::from_millis(800),
        )
        .unwrap_err();
        let took = started.elapsed();
        h.join().unwrap();
        assert!(matches!(err, FetchError::Timeout(_)), "{err}");
        assert!(took < Duration::from_secs(3), "{took:?}");
    }

    #[test]
    fn untrusted_server_is_refused() {
        let pki = pki();
        let other = pki_ca_only();
        let dir = Dir::new("ca");
        let ca = dir.0.join("other.pem");
        std::fs::write(&ca, other).unwrap();
        let (url, h) = serve(&pki, Reply::Send(200, b"{}".to_vec()));
        let err = fetch(&url, &dir.0.join("f"), &ca, 1000, Duration::from_secs(10)).unwrap_err();
        h.join().unwrap();
        assert!(matches!(err, FetchError::Transport(_)), "{err}");
        assert!(!dir.0.join("f").exists());
    }

    fn pki_ca_only() -> String {
        pki().ca_pem
    }

    #[test]
    fn only_https_urls_and_real_ca_files() {
        let dir = Dir::new("url");
        let dest = dir.0.join("f");
        let t = Duration::from_secs(1);
        for url in [
            "http://127.0.0.1/x",
            "ftp://h/x",
            "file:///etc/passwd",
            "nourl",
            "https:///x",
        ] {
            let err = refresh_feed(url, &dest, t, 10, None, &is_json).unwrap_err();
            assert!(matches!(err, FetchError::Url(_)), "{url}: {err}");
        }
        let empty = dir.0.join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let err = refresh_feed(
            "https://127.0.0.1:1/x",
            &dest,
            t,
            10,
            Some(&empty),
            &is_json,
        )
        .unwrap_err();
        assert!(matches!(err, FetchError::Ca { .. }), "{err}");
        assert!(err.to_string().contains("empty.pem"));
        assert!(feed_age(&dest).is_none());
    }
}
