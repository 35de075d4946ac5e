//! Downloading an advisory feed from its configured URL.
//!
//! HTTPS only, also for loopback (no plain-HTTP exception: a feed decides what counts as a
//! security fix, and the tests run a real TLS server anyway). The server is verified
//! against the configured CA file, else the system's CA bundle (the distribution keeps it
//! current; no root store is compiled in). One deadline covers the whole request, DNS to
//! last body byte; the body is capped; it is checked by the family's parser
//! (`debian_tracker::validate`, `alpine_secdb::validate`, `arch_asa::validate`) and only
//! then replaces the feed file atomically (0644): a failed or bad download leaves the
//! previous feed in use. Requests are conditional (If-None-Match / If-Modified-Since from
//! the [`Freshness`] record): 304 keeps the file and only touches the record. Proxies from the environment (`HTTPS_PROXY`, `ALL_PROXY`,
//! `NO_PROXY`) are honoured.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;

use super::freshness::{self, Freshness, FEED_MODE};
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig, TlsProvider};

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

/// What a refresh did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refreshed {
    /// A new body replaced the feed file.
    Updated(FeedRefresh),
    /// The server said the stored feed is current (304); only the record was touched.
    NotModified,
}

/// Checks a downloaded file before it replaces the feed.
pub type Validate = dyn Fn(&Path) -> Result<(), String>;

/// Downloads `url` and, when `validate` accepts the body, replaces `dest` with it. The
/// request is conditional on the stored feed's ETag and Last-Modified: an unchanged feed
/// costs one small request. The body is streamed to a temp file beside `dest` (never held
/// in memory), checked, then renamed over it.
pub fn refresh_feed(
    url: &str,
    dest: &Path,
    timeout: Duration,
    max_bytes: u64,
    ca_file: Option<&Path>,
    validate: &Validate,
) -> Result<Refreshed, FetchError> {
    let limits = Limits {
        timeout,
        max_bytes,
        env_proxy: true,
    };
    refresh_with(url, dest, limits, ca_file, validate)
}

/// Deadline, size cap and proxy use of one download.
#[derive(Clone, Copy, Debug)]
struct Limits {
    timeout: Duration,
    max_bytes: u64,
    env_proxy: bool,
}

fn refresh_with(
    url: &str,
    dest: &Path,
    limits: Limits,
    ca_file: Option<&Path>,
    validate: &Validate,
) -> Result<Refreshed, FetchError> {
    // Validators only count while the body they describe is still there.
    let saved = dest.is_file().then(|| freshness::load(dest)).flatten();
    let mut response = request(url, limits, ca_file, saved.as_ref())?;
    let status = response.status().as_u16();
    if status == 304 && saved.is_some() {
        let mut record = saved.unwrap_or_default();
        record.checked_at = freshness::now_secs();
        keep_record(dest, &record);
        return Ok(Refreshed::NotModified);
    }
    if status != 200 {
        return Err(FetchError::Status(status));
    }
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let record = Freshness {
        etag: header("etag"),
        last_modified: header("last-modified"),
        checked_at: freshness::now_secs(),
    };
    let reader = response
        .body_mut()
        .with_config()
        .limit(limits.max_bytes)
        .reader();
    let done = store(dest, reader, limits, validate)?;
    keep_record(dest, &record);
    Ok(Refreshed::Updated(done))
}

/// Saves the freshness record; a failure only costs the next request its condition.
fn keep_record(dest: &Path, record: &Freshness) {
    if let Err(e) = freshness::save(dest, record) {
        log::warn!(
            "cannot save the download record of {}: {e}; the next download is unconditional",
            dest.display()
        );
    }
}

/// Streams `body` into a temp file beside `dest`, checks it, and renames it over `dest`.
fn store(
    dest: &Path,
    mut body: impl Read,
    limits: Limits,
    validate: &Validate,
) -> Result<FeedRefresh, FetchError> {
    let fail = |error| FetchError::Write {
        path: dest.to_path_buf(),
        error,
    };
    if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    remove_stale_temps(dest);
    let tmp = crate::fsutil::temp_path(dest).map_err(fail)?;
    let result = fill_and_check(&tmp, &mut body, limits, validate).and_then(|bytes| {
        std::fs::rename(&tmp, dest)
            .and_then(|()| crate::fsutil::sync_dir(dest))
            .map_err(fail)?;
        Ok(bytes)
    });
    let bytes = match result {
        Ok(b) => b,
        Err(e) => {
            // Ours and useless now; a failed removal changes nothing.
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    Ok(FeedRefresh {
        bytes,
        fetched_at: OffsetDateTime::now_utc(),
    })
}

/// Removes temp files of earlier downloads of `dest` that a stop or crash left behind
/// (one refresher per feed: none of them is being written now).
fn remove_stale_temps(dest: &Path) {
    let (Some(dir), Some(name)) = (dest.parent(), dest.file_name()) else {
        return;
    };
    let prefix = format!(".{}.tmp.", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    }) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Writes the whole body to `tmp` (0644 once complete, fsynced) and validates it.
fn fill_and_check(
    tmp: &Path,
    body: &mut impl Read,
    limits: Limits,
    validate: &Validate,
) -> Result<u64, FetchError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let fail = |error| FetchError::Write {
        path: tmp.to_path_buf(),
        error,
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(crate::fsutil::PRIVATE_MODE)
        .open(tmp)
        .map_err(fail)?;
    let bytes = std::io::copy(body, &mut file).map_err(|e| read_error(e, limits))?;
    file.set_permissions(std::fs::Permissions::from_mode(FEED_MODE))
        .and_then(|()| file.sync_all())
        .map_err(fail)?;
    drop(file);
    validate(tmp).map_err(FetchError::Invalid)?;
    Ok(bytes)
}

/// Maps a failure while reading the body: ureq reports its cap and deadline as io errors.
fn read_error(e: std::io::Error, limits: Limits) -> FetchError {
    match e.into_inner() {
        Some(inner) => match inner.downcast::<ureq::Error>() {
            Ok(u) => transport(*u, limits.timeout, limits.max_bytes),
            Err(other) => FetchError::Transport(other.to_string()),
        },
        None => FetchError::Transport("reading the body failed".to_string()),
    }
}

/// Sends the GET, conditional on `saved`'s validators.
fn request(
    url: &str,
    limits: Limits,
    ca_file: Option<&Path>,
    saved: Option<&Freshness>,
) -> Result<ureq::http::Response<ureq::Body>, FetchError> {
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
        .timeout_global(Some(limits.timeout))
        .max_redirects(5)
        .user_agent(concat!("linux-patch-api/", env!("CARGO_PKG_VERSION")));
    if !limits.env_proxy {
        config = config.proxy(None);
    }
    let agent: ureq::Agent = config.build().into();
    let mut req = agent.get(url);
    if let Some(etag) = saved.and_then(|r| r.etag.as_deref()) {
        req = req.header("If-None-Match", etag);
    }
    if let Some(since) = saved.and_then(|r| r.last_modified.as_deref()) {
        req = req.header("If-Modified-Since", since);
    }
    req.call()
        .map_err(|e| transport(e, limits.timeout, limits.max_bytes))
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
    use crate::pkg::advisories::freshness::feed_age;
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
        /// Status line code, extra header lines and body.
        With(u16, Vec<String>, Vec<u8>),
        /// Accept TLS, read the request, then say nothing until the client gives up.
        Stall,
    }

    /// Serves one HTTPS request on 127.0.0.1; returns the URL and the thread, which ends
    /// with the request head it read.
    fn serve(pki: &Pki, reply: Reply) -> (String, JoinHandle<String>) {
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
                return String::new();
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
                    Ok(0) | Err(_) => return String::from_utf8_lossy(&request).into_owned(),
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let reply = match reply {
                Reply::Send(code, body) => Reply::With(code, Vec::new(), body),
                other => other,
            };
            match reply {
                Reply::Send(..) => unreachable!("mapped above"),
                Reply::With(code, headers, body) => {
                    let extra: String = headers.iter().map(|h| format!("{h}\r\n")).collect();
                    let head = format!(
                        "HTTP/1.1 {code} X\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n",
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
            String::from_utf8_lossy(&request).into_owned()
        });
        (url, handle)
    }

    fn is_json(p: &Path) -> Result<(), String> {
        let b = std::fs::read(p).map_err(|e| e.to_string())?;
        serde_json::from_slice::<serde_json::Value>(&b)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn fetch(
        url: &str,
        dest: &Path,
        ca: &Path,
        max: u64,
        t: Duration,
    ) -> Result<Refreshed, FetchError> {
        let limits = Limits {
            timeout: t,
            max_bytes: max,
            env_proxy: false,
        };
        refresh_with(url, dest, limits, Some(ca), &is_json)
    }

    /// Names in `dir` other than `keep`: temp files left behind.
    fn leftovers(dir: &Path, keep: &[&str]) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !keep.contains(&n.as_str()))
            .collect()
    }

    #[test]
    fn an_unchanged_feed_costs_one_conditional_request() {
        let pki = pki();
        let dir = Dir::new("etag");
        let ca = dir.0.join("ca.pem");
        std::fs::write(&ca, &pki.ca_pem).unwrap();
        let dest = dir.0.join("feeds/debian-tracker");
        let t = Duration::from_secs(10);
        let etag = "ETag: \"v1\"".to_string();
        let (url, h) = serve(&pki, Reply::With(200, vec![etag], b"{\"a\": 1}".to_vec()));
        assert!(matches!(
            fetch(&url, &dest, &ca, 1000, t).unwrap(),
            Refreshed::Updated(_)
        ));
        let first = h.join().unwrap().to_ascii_lowercase();
        assert!(!first.contains("if-none-match"), "{first}");
        let record = freshness::load(&dest).unwrap();
        assert_eq!(record.etag.as_deref(), Some("\"v1\""));
        // An old check: the next answer must move checked_at forward.
        let stale = Freshness {
            checked_at: 1000,
            ..record
        };
        freshness::save(&dest, &stale).unwrap();

        let (url, h) = serve(&pki, Reply::Send(304, Vec::new()));
        assert_eq!(
            fetch(&url, &dest, &ca, 1000, t).unwrap(),
            Refreshed::NotModified
        );
        let second = h.join().unwrap().to_ascii_lowercase();
        assert!(second.contains("if-none-match: \"v1\""), "{second}");
        assert_eq!(std::fs::read(&dest).unwrap(), b"{\"a\": 1}");
        let touched = freshness::load(&dest).unwrap();
        assert!(touched.checked_at > 1000);
        assert_eq!(touched.etag.as_deref(), Some("\"v1\""));
        assert_eq!(
            leftovers(
                &dir.0.join("feeds"),
                &["debian-tracker", "debian-tracker.fetch.json"]
            ),
            Vec::<String>::new()
        );

        // Without its feed file a record's validators are not sent, and 304 is an error.
        std::fs::remove_file(&dest).unwrap();
        let (url, h) = serve(&pki, Reply::Send(304, Vec::new()));
        let err = fetch(&url, &dest, &ca, 1000, t).unwrap_err();
        assert!(!h
            .join()
            .unwrap()
            .to_ascii_lowercase()
            .contains("if-none-match"));
        assert!(matches!(err, FetchError::Status(304)), "{err}");
    }

    #[test]
    fn last_modified_is_sent_back_as_if_modified_since() {
        let pki = pki();
        let dir = Dir::new("lm");
        let ca = dir.0.join("ca.pem");
        std::fs::write(&ca, &pki.ca_pem).unwrap();
        let dest = dir.0.join("arch-asa");
        let t = Duration::from_secs(10);
        let lm = "Last-Modified: Wed, 21 Oct 2026 07:28:00 GMT".to_string();
        let (url, h) = serve(&pki, Reply::With(200, vec![lm], b"[]".to_vec()));
        fetch(&url, &dest, &ca, 1000, t).unwrap();
        h.join().unwrap();
        let (url, h) = serve(&pki, Reply::With(200, Vec::new(), b"[1]".to_vec()));
        assert!(matches!(
            fetch(&url, &dest, &ca, 1000, t).unwrap(),
            Refreshed::Updated(_)
        ));
        let sent = h.join().unwrap().to_ascii_lowercase();
        assert!(
            sent.contains("if-modified-since: wed, 21 oct 2026 07:28:00 gmt"),
            "{sent}"
        );
        assert_eq!(std::fs::read(&dest).unwrap(), b"[1]");
        // The new body came without validators: none are kept for it.
        let record = freshness::load(&dest).unwrap();
        assert_eq!((record.etag, record.last_modified), (None, None));
    }

    #[test]
    fn success_replaces_and_bad_body_keeps_the_old_feed() {
        let pki = pki();
        let dir = Dir::new("ok");
        let ca = dir.0.join("ca.pem");
        std::fs::write(&ca, &pki.ca_pem).unwrap();
        let dest = dir.0.join("feeds/tracker.json");
        let t = Duration::from_secs(10);

        // A download cut short earlier left its temp file: the next one clears it.
        std::fs::create_dir_all(dir.0.join("feeds")).unwrap();
        std::fs::write(dir.0.join("feeds/.tracker.json.tmp.1.0"), b"partial").unwrap();
        let (url, h) = serve(&pki, Reply::Send(200, b"{\"a\": 1}".to_vec()));
        let Refreshed::Updated(done) = fetch(&url, &dest, &ca, 1000, t).unwrap() else {
            panic!("a first download is never 304");
        };
        h.join().unwrap();
        assert_eq!(done.bytes, 8);
        assert!(!dir.0.join("feeds/.tracker.json.tmp.1.0").exists());
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
        assert_eq!(leftovers(&dir.0, &["ca.pem"]), Vec::<String>::new());
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
