//! Test doubles for the enrollment tests: certificates issued the way the real manager issues
//! them (rcgen, P-256, DNS + IP SANs, serverAuth) and a scripted TLS mock manager on loopback.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use time::OffsetDateTime;

/// A CA and a server certificate signed by it.
pub struct Pki {
    /// The CA certificate, PEM.
    pub ca_pem: String,
    /// The server certificate, PEM.
    pub cert_pem: String,
    /// The server key, PKCS#8 PEM.
    pub key_pem: String,
    chain: Vec<CertificateDer<'static>>,
    key_der: Vec<u8>,
}

/// How a host certificate is issued (for bundle tests).
#[derive(Clone, Copy)]
pub struct Issue {
    /// Validity start relative to now.
    pub not_before: time::Duration,
    /// Validity end relative to now.
    pub not_after: time::Duration,
    /// Extended key usage serverAuth present.
    pub server_auth: bool,
}

impl Default for Issue {
    fn default() -> Self {
        Issue {
            not_before: time::Duration::ZERO,
            not_after: time::Duration::days(365),
            server_auth: true,
        }
    }
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.distinguished_name.push(DnType::CommonName, name);
    params.not_before = OffsetDateTime::now_utc() - time::Duration::days(1);
    params.not_after = OffsetDateTime::now_utc() + time::Duration::days(3650);
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

impl Pki {
    /// A manager-like CA and server certificate for `localhost` / 127.0.0.1.
    pub fn manager() -> Pki {
        Pki::issue("localhost", Issue::default())
    }

    /// A CA and a server certificate for `fqdn` (+ IP 127.0.0.1) issued as `how` says.
    pub fn issue(fqdn: &str, how: Issue) -> Pki {
        let ca = ca("test manager ca");
        let mut params = CertificateParams::new(vec![fqdn.to_string()]).unwrap();
        params
            .subject_alt_names
            .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
        params
            .distinguished_name
            .push(DnType::CommonName, format!("{fqdn}-server"));
        if how.server_auth {
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        } else {
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        }
        let now = OffsetDateTime::now_utc();
        params.not_before = now + how.not_before;
        params.not_after = now + how.not_after;
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &ca).unwrap();
        Pki {
            ca_pem: ca.pem(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            chain: vec![cert.der().clone()],
            key_der: key.serialize_der(),
        }
    }

    /// The leaf certificate's DER.
    pub fn leaf_der(&self) -> Vec<u8> {
        self.chain[0].to_vec()
    }

    /// SHA-256 of the leaf certificate.
    pub fn leaf_sha256(&self) -> [u8; 32] {
        let d = ring::digest::digest(&ring::digest::SHA256, &self.chain[0]);
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        out
    }

    /// The approved status body carrying this PKI as the host's bundle.
    pub fn approved_body(&self, crl_pem: &str) -> String {
        serde_json::json!({
            "status": "approved",
            "ca_crt": self.ca_pem,
            "server_crt": self.cert_pem,
            "server_key": self.key_pem,
            "crl_pem": crl_pem,
        })
        .to_string()
    }

    fn server_config(&self) -> rustls::ServerConfig {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                self.chain.clone(),
                PrivateKeyDer::Pkcs8(self.key_der.clone().into()),
            )
            .unwrap()
    }
}

/// One scripted answer.
#[derive(Clone)]
pub struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    /// A JSON answer with this status.
    pub fn json(status: u16, body: &str) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: body.to_string(),
        }
    }

    /// Adds a response header.
    pub fn with_header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// A request the mock received.
#[derive(Clone, Debug)]
pub struct Request {
    /// `GET`, `POST`.
    pub method: String,
    /// The request target.
    pub path: String,
    /// The body.
    pub body: Vec<u8>,
}

/// A TLS manager on 127.0.0.1 answering from a script; the last reply repeats.
pub struct MockManager {
    port: u16,
    requests: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MockManager {
    /// Starts serving `script` with `pki`'s server certificate.
    pub fn start(pki: &Pki, script: Vec<Reply>) -> MockManager {
        let config = Arc::new(pki.server_config());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, s) = (Arc::clone(&requests), Arc::clone(&stop));
        let mut script: VecDeque<Reply> = script.into();
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((tcp, _)) => {
                        let reply = if script.len() > 1 {
                            script.pop_front().unwrap()
                        } else {
                            script.front().cloned().unwrap()
                        };
                        serve_one(tcp, Arc::clone(&config), &reply, &r);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        MockManager {
            port,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// The requests received so far.
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for MockManager {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve_one(
    tcp: std::net::TcpStream,
    config: Arc<rustls::ServerConfig>,
    reply: &Reply,
    log: &Mutex<Vec<Request>>,
) {
    tcp.set_nonblocking(false).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    tcp.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    let conn = rustls::ServerConnection::new(config).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let Some(request) = read_request(&mut tls) else {
        return;
    };
    log.lock().unwrap().push(request);
    let mut head = format!(
        "HTTP/1.1 {} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        reply.status,
        reply.body.len()
    );
    for (k, v) in &reply.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = tls.write_all(head.as_bytes());
    let _ = tls.write_all(reply.body.as_bytes());
    tls.conn.send_close_notify();
    let _ = tls.flush();
}

fn read_request(tls: &mut impl Read) -> Option<Request> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        if let Ok(httparse::Status::Complete(head_len)) = req.parse(&data) {
            let length = req
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse().ok())
                .unwrap_or(0usize);
            let method = req.method?.to_string();
            let path = req.path?.to_string();
            while data.len() < head_len + length {
                let n = tls.read(&mut buf).ok().filter(|&n| n > 0)?;
                data.extend_from_slice(&buf[..n]);
            }
            return Some(Request {
                method,
                path,
                body: data[head_len..head_len + length].to_vec(),
            });
        }
        let n = tls.read(&mut buf).ok().filter(|&n| n > 0)?;
        data.extend_from_slice(&buf[..n]);
    }
}
