//! Who may be a client: trust anchors versus chain material, the clientAuth usage, pins.
//!
//! Decisions:
//! - Anchors are the self-issued (root) certificates of `tls.ca_cert`; every other
//!   certificate there (an enrollment bundle's `ca_chain`, an operator's intermediate) is
//!   chain material the agent supplies when building a client's path, never an anchor. So a
//!   CRL revoking an intermediate applies and the root's name constraints bind what the
//!   intermediate issued. A file holding no self-issued certificate keeps every certificate
//!   as an anchor: the operator deliberately trusts an intermediate alone, and no root is
//!   there to build through. No migration of enrolled hosts is needed: their `ca.crt`
//!   (root followed by intermediates) is split the same way at every load.
//! - The path is built from the intermediates the client sends plus the held ones; rustls'
//!   webpki verifier then checks signatures, validity, and revocation of every element but
//!   the anchor.
//! - The clientAuth extended key usage is required (`tls.require_client_auth_eku`, default
//!   true). Relaxed, a certificate with no EKU extension at all is accepted (CAs that issue
//!   without EKU); one whose EKU lacks clientAuth (serverAuth only) is always refused.
//! - A root's pathLenConstraint binds the path through held intermediates: webpki keeps
//!   only a trust anchor's name and name constraints, so the agent checks the root's limit
//!   itself, refusing only when every path by names is longer than the root allows.
//! - `tls.allowed_clients` pins subjects and/or SPKI SHA-256 fingerprints; empty = any
//!   client of the CA. An entry matches when every field it names matches.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme};
use rustls_pki_types::{CertificateDer, UnixTime};

use crate::x509;

/// One `tls.allowed_clients` entry: the fields it names must all match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedClient {
    /// Subject as the agent renders it (`CN=patch-manager,O=Example`), exact match.
    pub subject: Option<String>,
    /// SHA-256 of the DER SubjectPublicKeyInfo, lowercase hex without colons.
    pub spki_sha256: Option<String>,
}

/// What a client certificate must be beyond chaining to the CA.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientPolicy {
    /// Refuse certificates without an EKU extension (one without clientAuth is always refused).
    pub require_client_auth_eku: bool,
    /// Allowed clients; empty means any certificate of the CA.
    pub allowed_clients: Vec<AllowedClient>,
}

impl Default for ClientPolicy {
    fn default() -> Self {
        ClientPolicy {
            require_client_auth_eku: true,
            allowed_clients: Vec::new(),
        }
    }
}

/// The CA file split into trust anchors and chain material.
pub(super) struct TrustSplit {
    /// Self-issued certificates: the only trust anchors.
    pub anchors: Vec<CertificateDer<'static>>,
    /// Every other certificate: offered when building a path, never trusted by itself.
    pub intermediates: Vec<CertificateDer<'static>>,
}

/// Splits the CA bundle by self-issuance (see the module comment).
pub(super) fn split_trust(ca: &[CertificateDer<'static>]) -> TrustSplit {
    // An unreadable certificate stays an anchor so that the root store reports it.
    let is_root = |c: &CertificateDer<'_>| x509::cert_usage(c).map_or(true, |u| u.self_issued);
    let (anchors, intermediates): (Vec<_>, Vec<_>) = ca.iter().cloned().partition(is_root);
    if anchors.is_empty() {
        return TrustSplit {
            anchors: intermediates,
            intermediates: Vec::new(),
        };
    }
    TrustSplit {
        anchors,
        intermediates,
    }
}

/// Why a client certificate is refused by the policy (not by the chain).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PolicyRefusal {
    /// The certificate cannot be read.
    Unreadable(String),
    /// The EKU extension is present without clientAuth.
    NotForClients,
    /// No EKU extension while `require_client_auth_eku` is on.
    NoExtendedKeyUsage,
    /// Not one of `tls.allowed_clients`.
    NotAllowed(String),
    /// More intermediates than the root's pathLenConstraint allows.
    PathTooLong(u64),
}

impl std::fmt::Display for PolicyRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PolicyRefusal::Unreadable(m) => write!(f, "client certificate unreadable: {m}"),
            PolicyRefusal::NotForClients => {
                write!(
                    f,
                    "client certificate's extended key usage lacks clientAuth"
                )
            }
            PolicyRefusal::NoExtendedKeyUsage => write!(
                f,
                "client certificate has no extended key usage (tls.require_client_auth_eku)"
            ),
            PolicyRefusal::NotAllowed(subject) => {
                write!(f, "client {subject} is not in tls.allowed_clients")
            }
            PolicyRefusal::PathTooLong(limit) => write!(
                f,
                "client chain has more intermediates than its root's pathLenConstraint {limit}"
            ),
        }
    }
}

impl std::error::Error for PolicyRefusal {}

/// Checks a client leaf against the policy: EKU, then the allowed list.
pub fn check_policy(policy: &ClientPolicy, leaf: &[u8]) -> Result<(), PolicyRefusal> {
    let usage = x509::cert_usage(leaf).map_err(|e| PolicyRefusal::Unreadable(e.to_string()))?;
    match &usage.extended_key_usage {
        Some(ekus) if ekus.iter().any(|o| o == x509::EKU_CLIENT_AUTH) => {}
        Some(_) => return Err(PolicyRefusal::NotForClients),
        None if policy.require_client_auth_eku => return Err(PolicyRefusal::NoExtendedKeyUsage),
        None => {}
    }
    if policy.allowed_clients.is_empty() {
        return Ok(());
    }
    let subject = x509::summarize_cert(leaf)
        .map_err(|e| PolicyRefusal::Unreadable(e.to_string()))?
        .subject;
    let matches = |a: &AllowedClient| {
        a.subject.as_ref().is_none_or(|s| *s == subject)
            && a.spki_sha256
                .as_ref()
                .is_none_or(|p| *p == usage.spki_sha256)
    };
    if policy.allowed_clients.iter().any(matches) {
        Ok(())
    } else {
        Err(PolicyRefusal::NotAllowed(subject))
    }
}

/// Longest chain of intermediates followed when checking a root's path length (webpki's
/// own limit on path depth is of the same order).
const MAX_INTERMEDIATES: usize = 6;

/// Checks the roots' pathLenConstraint on the paths (by issuer and subject names) from the
/// leaf to a root: passes when one path fits, or when no path is found by names (webpki has
/// already accepted the chain; only a provable violation refuses).
pub fn check_root_path_len(
    leaf: &[u8],
    intermediates: &[&[u8]],
    anchors: &[&[u8]],
) -> Result<(), PolicyRefusal> {
    let usage = |der: &[u8]| x509::cert_usage(der).ok();
    let Some(leaf) = usage(leaf) else {
        return Ok(());
    };
    let anchors: Vec<x509::CertUsage> = anchors.iter().filter_map(|d| usage(d)).collect();
    let cas: Vec<x509::CertUsage> = intermediates
        .iter()
        .filter_map(|d| usage(d))
        .filter(|u| !u.self_issued)
        .collect();
    // Breadth first: the first depth at which a root fits decides.
    let mut frontier = vec![leaf.issuer_der];
    let mut violated = None;
    for count in 0..=MAX_INTERMEDIATES {
        for issuer in &frontier {
            for root in anchors.iter().filter(|a| a.subject_der == *issuer) {
                match root.path_len {
                    Some(limit) if (count as u64) > limit => violated = Some(limit),
                    _ => return Ok(()),
                }
            }
        }
        frontier = cas
            .iter()
            .filter(|c| frontier.contains(&c.subject_der))
            .map(|c| c.issuer_der.clone())
            .collect();
        if frontier.is_empty() {
            break;
        }
    }
    violated.map_or(Ok(()), |limit| Err(PolicyRefusal::PathTooLong(limit)))
}

/// rustls' webpki client verifier with held intermediates and the client policy.
#[derive(Debug)]
pub(super) struct ClientVerifier {
    /// Verifies chain, validity and revocation against the anchors.
    pub inner: Arc<dyn ClientCertVerifier>,
    /// Chain material the agent holds (added to what the client sends).
    pub intermediates: Vec<CertificateDer<'static>>,
    /// EKU requirement and pins.
    pub policy: ClientPolicy,
    /// The trust anchors' certificates (for their pathLenConstraint).
    pub anchors: Vec<CertificateDer<'static>>,
}

impl ClientCertVerifier for ClientVerifier {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let mut path: Vec<CertificateDer<'_>> = intermediates.to_vec();
        path.extend(self.intermediates.iter().cloned());
        let verified = self.inner.verify_client_cert(end_entity, &path, now)?;
        let cas: Vec<&[u8]> = path.iter().map(|c| c.as_ref()).collect();
        let anchors: Vec<&[u8]> = self.anchors.iter().map(|c| c.as_ref()).collect();
        check_root_path_len(end_entity, &cas, &anchors)
            .and_then(|()| check_policy(&self.policy, end_entity))
            .map_err(|refusal| {
                let error = match refusal {
                    PolicyRefusal::NotForClients | PolicyRefusal::NoExtendedKeyUsage => {
                        CertificateError::InvalidPurpose
                    }
                    other => CertificateError::Other(rustls::OtherError(Arc::new(other))),
                };
                rustls::Error::InvalidCertificate(error)
            })?;
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose as Eku, IsCa, Issuer,
        KeyPair,
    };

    fn ca(name: &str) -> (CertificateDer<'static>, Issuer<'static, KeyPair>) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.self_signed(&key).unwrap();
        (cert.der().clone(), Issuer::new(params, key))
    }

    fn issued(issuer: &Issuer<'_, KeyPair>, cn: &str, ca: bool, ekus: Vec<Eku>) -> Vec<u8> {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        if ca {
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        }
        params.extended_key_usages = ekus;
        params.signed_by(&key, issuer).unwrap().der().to_vec()
    }

    #[test]
    fn roots_are_anchors_and_intermediates_chain_material() {
        let (root, issuer) = ca("root");
        let inter = CertificateDer::from(issued(&issuer, "inter", true, Vec::new()));
        let split = split_trust(&[root.clone(), inter.clone()]);
        assert_eq!(split.anchors, vec![root]);
        assert_eq!(split.intermediates, vec![inter.clone()]);
        // Only an intermediate: the operator trusts it alone.
        let split = split_trust(std::slice::from_ref(&inter));
        assert_eq!(split.anchors, vec![inter]);
        assert!(split.intermediates.is_empty());
    }

    #[test]
    fn policy_requires_client_auth_and_honours_pins() {
        let (_, issuer) = ca("root");
        let client = issued(&issuer, "pm", false, vec![Eku::ClientAuth]);
        let server = issued(&issuer, "host", false, vec![Eku::ServerAuth]);
        let bare = issued(&issuer, "bare", false, Vec::new());
        let strict = ClientPolicy::default();
        assert_eq!(check_policy(&strict, &client), Ok(()));
        assert_eq!(
            check_policy(&strict, &server),
            Err(PolicyRefusal::NotForClients)
        );
        assert_eq!(
            check_policy(&strict, &bare),
            Err(PolicyRefusal::NoExtendedKeyUsage)
        );
        let relaxed = ClientPolicy {
            require_client_auth_eku: false,
            allowed_clients: Vec::new(),
        };
        assert_eq!(check_policy(&relaxed, &bare), Ok(()));
        assert_eq!(
            check_policy(&relaxed, &server),
            Err(PolicyRefusal::NotForClients)
        );

        let spki = x509::cert_usage(&client).unwrap().spki_sha256;
        let pinned = ClientPolicy {
            require_client_auth_eku: true,
            allowed_clients: vec![AllowedClient {
                subject: Some("CN=pm".into()),
                spki_sha256: Some(spki),
            }],
        };
        assert_eq!(check_policy(&pinned, &client), Ok(()));
        let same_name = issued(&issuer, "pm", false, vec![Eku::ClientAuth]);
        assert_eq!(
            check_policy(&pinned, &same_name),
            Err(PolicyRefusal::NotAllowed("CN=pm".into()))
        );
    }
}
