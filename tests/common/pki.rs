//! Throw-away certificate authorities and certificates for the integration tests (rcgen).

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DnType,
    ExtendedKeyUsagePurpose, GeneralSubtree, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    NameConstraints, RevokedCertParams, SanType, SerialNumber,
};
use time::{Duration, OffsetDateTime};

/// A certificate with its private key, as PEM.
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
    pub serial: u64,
}

impl Leaf {
    /// Writes `<stem>.pem` and `<stem>.key.pem` into `dir`, returning both paths.
    pub fn write(&self, dir: &Path, stem: &str) -> (PathBuf, PathBuf) {
        let cert = dir.join(format!("{stem}.pem"));
        let key = dir.join(format!("{stem}.key.pem"));
        std::fs::write(&cert, &self.cert_pem).unwrap();
        std::fs::write(&key, &self.key_pem).unwrap();
        (cert, key)
    }
}

/// A certificate authority able to issue leaves and CRLs.
pub struct Ca {
    pub cert_pem: String,
    /// Serial of the CA certificate (what a parent's CRL names to revoke it).
    pub serial: u64,
    issuer: Issuer<'static, KeyPair>,
    next_serial: std::cell::Cell<u64>,
}

fn ca_params(name: &str) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params
        .distinguished_name
        .push(DnType::OrganizationName, "linux-patch-api tests");
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
    ];
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::days(1);
    params.not_after = now + Duration::days(365);
    params
}

impl Ca {
    /// A new self-signed CA with the given common name.
    pub fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let params = ca_params(name);
        let cert = params.self_signed(&key).unwrap();
        Ca {
            cert_pem: cert.pem(),
            serial: 0,
            issuer: Issuer::new(params, key),
            next_serial: std::cell::Cell::new(1000),
        }
    }

    /// A self-signed CA whose name constraints permit only DNS names under `dns`.
    pub fn constrained(name: &str, dns: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = ca_params(name);
        params.name_constraints = Some(NameConstraints {
            permitted_subtrees: vec![GeneralSubtree::DnsName(dns.to_string())],
            excluded_subtrees: Vec::new(),
        });
        let cert = params.self_signed(&key).unwrap();
        Ca {
            cert_pem: cert.pem(),
            serial: 0,
            issuer: Issuer::new(params, key),
            next_serial: std::cell::Cell::new(1000),
        }
    }

    /// A self-signed CA whose pathLenConstraint allows `max` intermediates below it.
    pub fn path_limited(name: &str, max: u8) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = ca_params(name);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(max));
        let cert = params.self_signed(&key).unwrap();
        Ca {
            cert_pem: cert.pem(),
            serial: 0,
            issuer: Issuer::new(params, key),
            next_serial: std::cell::Cell::new(1000),
        }
    }

    /// An intermediate CA issued by this one (its own serials start at 5000).
    pub fn intermediate(&self, name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = ca_params(name);
        params.use_authority_key_identifier_extension = true;
        let serial = self.take_serial();
        params.serial_number = Some(SerialNumber::from(serial));
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Ca {
            cert_pem: cert.pem(),
            serial,
            issuer: Issuer::new(params, key),
            next_serial: std::cell::Cell::new(5000),
        }
    }

    fn take_serial(&self) -> u64 {
        let serial = self.next_serial.get();
        self.next_serial.set(serial + 1);
        serial
    }

    /// A client certificate with exactly these EKUs (empty: no EKU extension at all).
    pub fn client_with_ekus(&self, cn: &str, ekus: Vec<ExtendedKeyUsagePurpose>) -> Leaf {
        self.leaf_with(
            &[(DnType::CommonName, cn)],
            Vec::new(),
            ekus,
            Self::valid_now(),
        )
    }

    /// A clientAuth certificate carrying a DNS subjectAltName (for name constraints).
    pub fn client_with_dns(&self, cn: &str, dns: &str) -> Leaf {
        let sans = vec![SanType::DnsName(dns.try_into().unwrap())];
        self.leaf(
            &[(DnType::CommonName, cn)],
            sans,
            ExtendedKeyUsagePurpose::ClientAuth,
            Self::valid_now(),
        )
    }

    fn leaf(
        &self,
        subject: &[(DnType, &str)],
        sans: Vec<SanType>,
        eku: ExtendedKeyUsagePurpose,
        valid: (OffsetDateTime, OffsetDateTime),
    ) -> Leaf {
        self.leaf_with(subject, sans, vec![eku], valid)
    }

    fn leaf_with(
        &self,
        subject: &[(DnType, &str)],
        sans: Vec<SanType>,
        ekus: Vec<ExtendedKeyUsagePurpose>,
        valid: (OffsetDateTime, OffsetDateTime),
    ) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        for (kind, value) in subject {
            params.distinguished_name.push(kind.clone(), *value);
        }
        params.subject_alt_names = sans;
        params.extended_key_usages = ekus;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.use_authority_key_identifier_extension = true;
        let serial = self.take_serial();
        params.serial_number = Some(SerialNumber::from(serial));
        params.not_before = valid.0;
        params.not_after = valid.1;
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            serial,
        }
    }

    fn valid_now() -> (OffsetDateTime, OffsetDateTime) {
        let now = OffsetDateTime::now_utc();
        (now - Duration::hours(1), now + Duration::days(90))
    }

    /// A server certificate for 127.0.0.1, ::1 and localhost.
    pub fn server(&self) -> Leaf {
        let sans = vec![
            SanType::DnsName("localhost".try_into().unwrap()),
            SanType::IpAddress("127.0.0.1".parse().unwrap()),
            SanType::IpAddress("::1".parse().unwrap()),
        ];
        self.leaf(
            &[(DnType::CommonName, "localhost-server")],
            sans,
            ExtendedKeyUsagePurpose::ServerAuth,
            Self::valid_now(),
        )
    }

    /// A client certificate (EKU clientAuth only, no SAN), valid now.
    pub fn client(&self, cn: &str) -> Leaf {
        self.leaf(
            &[(DnType::CommonName, cn)],
            Vec::new(),
            ExtendedKeyUsagePurpose::ClientAuth,
            Self::valid_now(),
        )
    }

    /// A client certificate with this common name and organisation (any characters, for
    /// hostile subjects), valid now.
    pub fn client_with_org(&self, cn: &str, org: &str) -> Leaf {
        self.leaf(
            &[(DnType::CommonName, cn), (DnType::OrganizationName, org)],
            Vec::new(),
            ExtendedKeyUsagePurpose::ClientAuth,
            Self::valid_now(),
        )
    }

    /// A client certificate whose validity ended yesterday.
    pub fn expired_client(&self, cn: &str) -> Leaf {
        let now = OffsetDateTime::now_utc();
        self.leaf(
            &[(DnType::CommonName, cn)],
            Vec::new(),
            ExtendedKeyUsagePurpose::ClientAuth,
            (now - Duration::days(30), now - Duration::days(1)),
        )
    }

    /// A PEM CRL revoking the given serials.
    pub fn crl(&self, revoked: &[u64]) -> String {
        let now = OffsetDateTime::now_utc();
        let params = CertificateRevocationListParams {
            this_update: now - Duration::minutes(5),
            next_update: now + Duration::days(1),
            crl_number: SerialNumber::from(1u64),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .iter()
                .map(|s| RevokedCertParams {
                    serial_number: SerialNumber::from(*s),
                    revocation_time: now - Duration::minutes(1),
                    reason_code: None,
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        };
        params.signed_by(&self.issuer).unwrap().pem().unwrap()
    }
}
