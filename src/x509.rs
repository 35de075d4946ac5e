//! Minimal DER reading of X.509 certificates and CRLs: the few facts the agent reports.
//!
//! Verification is rustls/webpki's job; this only extracts subject, issuer, validity,
//! serial and fingerprints for logs, health and `--check-config`.

use time::OffsetDateTime;

/// Facts read from one certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertSummary {
    /// Subject DN rendered like `CN=name,O=org`.
    pub subject: String,
    /// Issuer DN rendered the same way.
    pub issuer: String,
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity.
    pub not_after: OffsetDateTime,
    /// Serial number, lowercase hex.
    pub serial_hex: String,
}

/// Facts read from one CRL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrlSummary {
    /// Issuer DN.
    pub issuer: String,
    /// When the CRL was issued.
    pub this_update: OffsetDateTime,
    /// When the next CRL is due, if stated.
    pub next_update: Option<OffsetDateTime>,
}

/// Why a DER structure could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct X509Error(pub String);

impl std::fmt::Display for X509Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "malformed DER: {}", self.0)
    }
}

impl std::error::Error for X509Error {}

/// Reads subject, issuer, validity and serial from a DER certificate.
pub fn summarize_cert(der: &[u8]) -> Result<CertSummary, X509Error> {
    let _ = der;
    Err(X509Error("not implemented".into()))
}

/// Reads issuer and update times from a DER CRL.
pub fn summarize_crl(der: &[u8]) -> Result<CrlSummary, X509Error> {
    let _ = der;
    Err(X509Error("not implemented".into()))
}

/// SHA-256 of the DER bytes, lowercase hex without separators.
pub fn sha256_fingerprint(der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}
