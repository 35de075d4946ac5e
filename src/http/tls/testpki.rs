//! The throw-away PKI and the in-memory handshake the TLS unit tests share.

use super::*;
pub(super) use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    RevokedCertParams, SerialNumber,
};
use std::os::unix::fs::PermissionsExt;
pub(super) use time::Duration as TimeDuration;

/// A CA and a directory to write material into.
pub(super) struct Pki {
    pub dir: PathBuf,
    pub ca_pem: String,
    pub issuer: Issuer<'static, KeyPair>,
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub(super) fn ca(name: &str, not_after: OffsetDateTime) -> (String, Issuer<'static, KeyPair>) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = OffsetDateTime::now_utc() - TimeDuration::days(1);
    params.not_after = not_after;
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), Issuer::new(params, key))
}

pub(super) struct Leaf {
    pub pem: String,
    pub key: KeyPair,
    pub serial: u64,
}

pub(super) fn leaf(
    issuer: &Issuer<'_, KeyPair>,
    cn: &str,
    serial: u64,
    eku: ExtendedKeyUsagePurpose,
    not_after: OffsetDateTime,
) -> Leaf {
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.extended_key_usages = vec![eku];
    params.serial_number = Some(SerialNumber::from(serial));
    params.not_before = OffsetDateTime::now_utc() - TimeDuration::hours(1);
    params.not_after = not_after;
    params.use_authority_key_identifier_extension = true;
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, issuer).unwrap();
    Leaf {
        pem: cert.pem(),
        key,
        serial,
    }
}

pub(super) fn in_days(d: i64) -> OffsetDateTime {
    OffsetDateTime::now_utc() + TimeDuration::days(d)
}

impl Pki {
    pub(super) fn new() -> Pki {
        let dir = std::env::temp_dir().join(uuid::Uuid::new_v4().to_string());
        std::fs::create_dir_all(&dir).unwrap();
        let (ca_pem, issuer) = ca("Test CA", in_days(3650));
        Pki {
            dir,
            ca_pem,
            issuer,
        }
    }

    pub(super) fn server(&self, not_after: OffsetDateTime) -> Leaf {
        leaf(
            &self.issuer,
            "host-server",
            1,
            ExtendedKeyUsagePurpose::ServerAuth,
            not_after,
        )
    }

    pub(super) fn client(&self, serial: u64) -> Leaf {
        leaf(
            &self.issuer,
            "patch-manager-client",
            serial,
            ExtendedKeyUsagePurpose::ClientAuth,
            in_days(365),
        )
    }

    pub(super) fn crl(&self, revoked: &[u64], next_update: OffsetDateTime) -> String {
        let params = CertificateRevocationListParams {
            this_update: next_update - TimeDuration::days(1),
            next_update,
            crl_number: SerialNumber::from(1u64),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .iter()
                .map(|&s| RevokedCertParams {
                    serial_number: SerialNumber::from(s),
                    revocation_time: OffsetDateTime::now_utc() - TimeDuration::hours(2),
                    reason_code: None,
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        };
        params.signed_by(&self.issuer).unwrap().pem().unwrap()
    }

    /// Writes by rename, as atomic writers do, with private-key permissions.
    pub(super) fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.join(name);
        let tmp = self.dir.join(format!("{name}.tmp"));
        std::fs::write(&tmp, text).unwrap();
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        path
    }

    /// A complete valid set with a CRL revoking serial 666.
    pub(super) fn paths(&self) -> TlsPaths {
        let server = self.server(in_days(365));
        self.write_server(&server);
        TlsPaths {
            ca_cert: self.write("ca.pem", &self.ca_pem),
            server_cert: self.dir.join("server.pem"),
            server_key: self.dir.join("server.key"),
            crl: Some(self.write("crl.pem", &self.crl(&[666], in_days(1)))),
            allow_unauthenticated: false,
            client_policy: ClientPolicy::default(),
        }
    }

    pub(super) fn write_server(&self, server: &Leaf) {
        self.write("server.pem", &server.pem);
        self.write("server.key", &server.key.serialize_pem());
    }
}

/// Runs a handshake in memory; `Err` carries the first side's failure.
pub(super) fn handshake(
    server: Arc<ServerConfig>,
    pki: &Pki,
    client: Option<&Leaf>,
) -> Result<Option<Vec<u8>>, rustls::Error> {
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(pki.ca_pem.as_bytes()).unwrap())
        .unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots);
    let mut config = match client {
        Some(c) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_slice(c.pem.as_bytes()).unwrap()],
                PrivateKeyDer::from_pem_slice(c.key.serialize_pem().as_bytes()).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let mut c = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let mut s = rustls::ServerConnection::new(server).unwrap();
    for _ in 0..10 {
        let mut buf = Vec::new();
        c.write_tls(&mut buf).unwrap();
        s.read_tls(&mut &buf[..]).unwrap();
        s.process_new_packets()?;
        let mut buf = Vec::new();
        s.write_tls(&mut buf).unwrap();
        c.read_tls(&mut &buf[..]).unwrap();
        c.process_new_packets()?;
        if !c.is_handshaking() && !s.is_handshaking() {
            return Ok(s.alpn_protocol().map(<[u8]>::to_vec));
        }
    }
    panic!("handshake did not finish");
}
