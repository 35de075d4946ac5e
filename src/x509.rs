//! Minimal DER reading of X.509 certificates and CRLs: the few facts the agent reports.
//!
//! Verification is rustls/webpki's job; this only extracts subject, issuer, validity,
//! serial and fingerprints for logs, health and `--check-config`.
//!
//! The reader is hand-written and bounds-checked: every length is checked against what is
//! left, so garbage input yields an [`X509Error`], never a panic. Only definite-length DER
//! with single-byte tags is accepted (X.509 uses nothing else).
//!
//! Names are rendered in the order the RDNs are encoded (`CN=..,O=..`), attributes of a
//! multi-valued RDN joined by `+`. Values are escaped as RFC 4514 asks (`\,`, `\+`, ...) so a
//! crafted name cannot impersonate another in logs; control characters become `\XX`.

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
    let mut outer = Reader::new(der);
    let cert = outer.read_tagged(TAG_SEQUENCE, "Certificate")?;
    let mut cert = Reader::new(cert);
    let mut tbs = Reader::new(cert.read_tagged(TAG_SEQUENCE, "tbsCertificate")?);
    tbs.skip_optional(TAG_VERSION)?;
    let serial = tbs.read_tagged(TAG_INTEGER, "serialNumber")?;
    tbs.read_tagged(TAG_SEQUENCE, "signature")?;
    let issuer = render_name(tbs.read_tagged(TAG_SEQUENCE, "issuer")?)?;
    let mut validity = Reader::new(tbs.read_tagged(TAG_SEQUENCE, "validity")?);
    let not_before = read_time(&mut validity, "notBefore")?;
    let not_after = read_time(&mut validity, "notAfter")?;
    let subject = render_name(tbs.read_tagged(TAG_SEQUENCE, "subject")?)?;
    Ok(CertSummary {
        subject,
        issuer,
        not_before,
        not_after,
        serial_hex: serial_hex(serial),
    })
}

/// Reads issuer and update times from a DER CRL.
pub fn summarize_crl(der: &[u8]) -> Result<CrlSummary, X509Error> {
    let mut outer = Reader::new(der);
    let list = outer.read_tagged(TAG_SEQUENCE, "CertificateList")?;
    let mut list = Reader::new(list);
    let mut tbs = Reader::new(list.read_tagged(TAG_SEQUENCE, "tbsCertList")?);
    tbs.skip_optional(TAG_INTEGER)?;
    tbs.read_tagged(TAG_SEQUENCE, "signature")?;
    let issuer = render_name(tbs.read_tagged(TAG_SEQUENCE, "issuer")?)?;
    let this_update = read_time(&mut tbs, "thisUpdate")?;
    let next_update = match tbs.peek_tag() {
        Some(TAG_UTC_TIME) | Some(TAG_GENERALIZED_TIME) => Some(read_time(&mut tbs, "nextUpdate")?),
        _ => None,
    };
    Ok(CrlSummary {
        issuer,
        this_update,
        next_update,
    })
}

/// Parses a SHA-256 fingerprint as operators copy it: 64 hex digits, any case, colons
/// between bytes allowed (`AB:CD:...`).
pub fn parse_sha256_fingerprint(text: &str) -> Result<[u8; 32], String> {
    let hex: String = text.trim().chars().filter(|c| *c != ':').collect();
    let bad = || format!("{text:?} is not a SHA-256 fingerprint (64 hex digits, colons allowed)");
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    Ok(out)
}

/// SHA-256 of the DER bytes, lowercase hex without separators.
pub fn sha256_fingerprint(der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Facts about a certificate that decide how it may be used (trust anchor or chain
/// material, client certificate or not, pinning).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertUsage {
    /// Subject and issuer names are the same bytes: a root (self-issued) certificate.
    pub self_issued: bool,
    /// SHA-256 of the DER SubjectPublicKeyInfo, lowercase hex (what `openssl pkey -pubin
    /// -outform der | sha256sum` prints).
    pub spki_sha256: String,
    /// The extended key usage OIDs (dotted), or `None` when the extension is absent.
    pub extended_key_usage: Option<Vec<String>>,
    /// The basicConstraints pathLenConstraint, when the certificate states one.
    pub path_len: Option<u64>,
    /// The DER content of the subject name (for matching issuers to subjects).
    pub subject_der: Vec<u8>,
    /// The DER content of the issuer name.
    pub issuer_der: Vec<u8>,
}

/// OID of the clientAuth extended key usage.
pub const EKU_CLIENT_AUTH: &str = "1.3.6.1.5.5.7.3.2";
/// OID of the serverAuth extended key usage.
pub const EKU_SERVER_AUTH: &str = "1.3.6.1.5.5.7.3.1";
/// OID of the extendedKeyUsage extension.
const OID_EXTENDED_KEY_USAGE: &str = "2.5.29.37";
/// OID of the basicConstraints extension.
const OID_BASIC_CONSTRAINTS: &str = "2.5.29.19";
/// `[3] EXPLICIT Extensions` in a TBSCertificate.
const TAG_EXTENSIONS: u8 = 0xa3;
const TAG_BOOLEAN: u8 = 0x01;
const TAG_OCTET_STRING: u8 = 0x04;

/// Reads whether the certificate is self-issued, its key's fingerprint and its EKU.
pub fn cert_usage(der: &[u8]) -> Result<CertUsage, X509Error> {
    let mut outer = Reader::new(der);
    let mut cert = Reader::new(outer.read_tagged(TAG_SEQUENCE, "Certificate")?);
    let mut tbs = Reader::new(cert.read_tagged(TAG_SEQUENCE, "tbsCertificate")?);
    tbs.skip_optional(TAG_VERSION)?;
    tbs.read_tagged(TAG_INTEGER, "serialNumber")?;
    tbs.read_tagged(TAG_SEQUENCE, "signature")?;
    let issuer = tbs.read_tagged(TAG_SEQUENCE, "issuer")?;
    tbs.read_tagged(TAG_SEQUENCE, "validity")?;
    let subject = tbs.read_tagged(TAG_SEQUENCE, "subject")?;
    let before = tbs.rest;
    tbs.read_tagged(TAG_SEQUENCE, "subjectPublicKeyInfo")?;
    let spki = &before[..before.len() - tbs.rest.len()];
    // issuerUniqueID [1] and subjectUniqueID [2] (implicit, primitive or constructed).
    for tag in [0x81, 0xa1, 0x82, 0xa2] {
        tbs.skip_optional(tag)?;
    }
    let (extended_key_usage, path_len) = match tbs.peek_tag() {
        Some(TAG_EXTENSIONS) => read_extensions(tbs.read_tagged(TAG_EXTENSIONS, "extensions")?)?,
        _ => (None, None),
    };
    Ok(CertUsage {
        self_issued: issuer == subject,
        spki_sha256: sha256_fingerprint(spki),
        extended_key_usage,
        path_len,
        subject_der: subject.to_vec(),
        issuer_der: issuer.to_vec(),
    })
}

/// The EKU OIDs and the pathLenConstraint from `[3] { SEQUENCE OF Extension }`.
type Extensions = (Option<Vec<String>>, Option<u64>);

fn read_extensions(explicit: &[u8]) -> Result<Extensions, X509Error> {
    let mut wrapper = Reader::new(explicit);
    let mut list = Reader::new(wrapper.read_tagged(TAG_SEQUENCE, "Extensions")?);
    let (mut eku, mut path_len) = (None, None);
    while !list.is_empty() {
        let mut ext = Reader::new(list.read_tagged(TAG_SEQUENCE, "Extension")?);
        let oid = decode_oid(ext.read_tagged(TAG_OID, "extnID")?)?;
        ext.skip_optional(TAG_BOOLEAN)?;
        let value = ext.read_tagged(TAG_OCTET_STRING, "extnValue")?;
        if oid == OID_EXTENDED_KEY_USAGE {
            eku = Some(read_eku(value)?);
        } else if oid == OID_BASIC_CONSTRAINTS {
            path_len = read_path_len(value)?;
        }
    }
    Ok((eku, path_len))
}

/// ExtKeyUsageSyntax: SEQUENCE OF KeyPurposeId.
fn read_eku(value: &[u8]) -> Result<Vec<String>, X509Error> {
    let mut outer = Reader::new(value);
    let mut purposes = Reader::new(outer.read_tagged(TAG_SEQUENCE, "ExtKeyUsageSyntax")?);
    let mut oids = Vec::new();
    while !purposes.is_empty() {
        oids.push(decode_oid(purposes.read_tagged(TAG_OID, "KeyPurposeId")?)?);
    }
    Ok(oids)
}

/// BasicConstraints: SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLenConstraint INTEGER OPTIONAL }.
fn read_path_len(value: &[u8]) -> Result<Option<u64>, X509Error> {
    let mut outer = Reader::new(value);
    let mut bc = Reader::new(outer.read_tagged(TAG_SEQUENCE, "BasicConstraints")?);
    bc.skip_optional(TAG_BOOLEAN)?;
    if bc.peek_tag() != Some(TAG_INTEGER) {
        return Ok(None);
    }
    let digits = bc.read_tagged(TAG_INTEGER, "pathLenConstraint")?;
    // Anything longer than 8 bytes (or negative) is no usable limit: treat it as none.
    if digits.len() > 8 || digits.first().is_some_and(|b| b & 0x80 != 0) {
        return Ok(None);
    }
    Ok(Some(
        digits
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)),
    ))
}

const TAG_INTEGER: u8 = 0x02;
const TAG_OID: u8 = 0x06;
const TAG_UTF8_STRING: u8 = 0x0c;
const TAG_PRINTABLE_STRING: u8 = 0x13;
const TAG_TELETEX_STRING: u8 = 0x14;
const TAG_IA5_STRING: u8 = 0x16;
const TAG_UTC_TIME: u8 = 0x17;
const TAG_GENERALIZED_TIME: u8 = 0x18;
const TAG_UNIVERSAL_STRING: u8 = 0x1c;
const TAG_BMP_STRING: u8 = 0x1e;
const TAG_SEQUENCE: u8 = 0x30;
const TAG_SET: u8 = 0x31;
/// `[0] EXPLICIT Version` in a TBSCertificate.
const TAG_VERSION: u8 = 0xa0;

/// A cursor over DER bytes; every read is checked against the remaining input.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(data: &'a [u8]) -> Reader<'a> {
        Reader { rest: data }
    }

    fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// Reads one tag-length-value, returning the tag and the content.
    fn read_tlv(&mut self) -> Result<(u8, &'a [u8]), X509Error> {
        let (&tag, after_tag) = self
            .rest
            .split_first()
            .ok_or_else(|| err("unexpected end of data"))?;
        if tag & 0x1f == 0x1f {
            return Err(err("multi-byte tags are not supported"));
        }
        let (len, after_len) = read_length(after_tag)?;
        if len > after_len.len() {
            return Err(err("length exceeds available data"));
        }
        let (content, rest) = after_len.split_at(len);
        self.rest = rest;
        Ok((tag, content))
    }

    /// Reads one element that must carry `tag`; `what` names it in the error.
    fn read_tagged(&mut self, tag: u8, what: &str) -> Result<&'a [u8], X509Error> {
        let (got, content) = self
            .read_tlv()
            .map_err(|e| err(&format!("{what}: {}", e.0)))?;
        if got != tag {
            return Err(err(&format!(
                "{what}: expected tag 0x{tag:02x}, found 0x{got:02x}"
            )));
        }
        Ok(content)
    }

    /// Skips the next element when it carries `tag`.
    fn skip_optional(&mut self, tag: u8) -> Result<(), X509Error> {
        if self.peek_tag() == Some(tag) {
            self.read_tlv()?;
        }
        Ok(())
    }
}

fn err(message: &str) -> X509Error {
    X509Error(message.to_string())
}

/// Decodes a definite DER length; returns it and the bytes after it.
fn read_length(data: &[u8]) -> Result<(usize, &[u8]), X509Error> {
    let (&first, rest) = data.split_first().ok_or_else(|| err("missing length"))?;
    if first < 0x80 {
        return Ok((usize::from(first), rest));
    }
    let count = usize::from(first & 0x7f);
    if count == 0 {
        return Err(err("indefinite length is not DER"));
    }
    // Four length bytes already describe 4 GiB, far beyond any certificate.
    if count > 4 {
        return Err(err("length too large"));
    }
    if count > rest.len() {
        return Err(err("truncated length"));
    }
    let (bytes, rest) = rest.split_at(count);
    let len = bytes
        .iter()
        .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
    Ok((len, rest))
}

/// Serial number bytes as lowercase hex without the DER sign-padding zero.
fn serial_hex(content: &[u8]) -> String {
    let trimmed = match content {
        [0, rest @ ..] if !rest.is_empty() => rest,
        other => other,
    };
    trimmed.iter().map(|b| format!("{b:02x}")).collect()
}

/// Renders a Name (SEQUENCE OF RelativeDistinguishedName) as `CN=..,O=..`.
fn render_name(content: &[u8]) -> Result<String, X509Error> {
    let mut rdns = Reader::new(content);
    let mut parts = Vec::new();
    while !rdns.is_empty() {
        let set = rdns.read_tagged(TAG_SET, "RelativeDistinguishedName")?;
        parts.push(render_rdn(set)?);
    }
    Ok(parts.join(","))
}

/// Renders one RDN; a multi-valued RDN joins its attributes with `+`.
fn render_rdn(content: &[u8]) -> Result<String, X509Error> {
    let mut attrs = Reader::new(content);
    let mut parts = Vec::new();
    while !attrs.is_empty() {
        let atv = attrs.read_tagged(TAG_SEQUENCE, "AttributeTypeAndValue")?;
        let mut atv = Reader::new(atv);
        let oid = decode_oid(atv.read_tagged(TAG_OID, "attribute type")?)?;
        let (tag, value) = atv.read_tlv()?;
        parts.push(format!(
            "{}={}",
            attribute_name(&oid),
            render_value(tag, value)
        ));
    }
    Ok(parts.join("+"))
}

/// The short name of a well-known attribute type, else its dotted OID.
fn attribute_name(oid: &str) -> String {
    let short = match oid {
        "2.5.4.3" => "CN",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.6" => "C",
        "2.5.4.8" => "ST",
        "2.5.4.7" => "L",
        "1.2.840.113549.1.9.1" => "emailAddress",
        "0.9.2342.19200300.100.1.25" => "DC",
        other => return other.to_string(),
    };
    short.to_string()
}

/// Decodes an OBJECT IDENTIFIER to dotted form.
fn decode_oid(content: &[u8]) -> Result<String, X509Error> {
    if content.is_empty() {
        return Err(err("empty OID"));
    }
    let mut arcs: Vec<u64> = Vec::new();
    let mut value: u64 = 0;
    let mut in_arc = false;
    for &b in content {
        if !in_arc && b == 0x80 {
            return Err(err("non-minimal OID arc"));
        }
        if value > (u64::MAX >> 7) {
            return Err(err("OID arc too large"));
        }
        value = (value << 7) | u64::from(b & 0x7f);
        in_arc = b & 0x80 != 0;
        if !in_arc {
            arcs.push(value);
            value = 0;
        }
    }
    if in_arc {
        return Err(err("truncated OID"));
    }
    Ok(oid_to_dotted(&arcs))
}

/// Splits the first encoded arc into the first two OID components.
fn oid_to_dotted(arcs: &[u64]) -> String {
    let mut out = Vec::with_capacity(arcs.len() + 1);
    if let Some((&first, rest)) = arcs.split_first() {
        let (a, b) = match first {
            0..=39 => (0, first),
            40..=79 => (1, first - 40),
            _ => (2, first - 80),
        };
        out.push(a.to_string());
        out.push(b.to_string());
        out.extend(rest.iter().map(u64::to_string));
    }
    out.join(".")
}

/// Decodes a directory string; unknown types are shown as `#` + hex of the DER, as RFC 4514 does.
fn render_value(tag: u8, value: &[u8]) -> String {
    let text = match tag {
        TAG_UTF8_STRING | TAG_PRINTABLE_STRING | TAG_IA5_STRING => {
            String::from_utf8_lossy(value).into_owned()
        }
        // T.61 is in practice used for Latin-1 text.
        TAG_TELETEX_STRING => value.iter().map(|&b| char::from(b)).collect(),
        TAG_BMP_STRING => decode_bmp(value),
        TAG_UNIVERSAL_STRING => decode_universal(value),
        _ => return hex_value(tag, value),
    };
    escape_value(&text)
}

fn decode_bmp(value: &[u8]) -> String {
    let units = value
        .chunks(2)
        .map(|c| match c {
            [hi, lo] => u16::from_be_bytes([*hi, *lo]),
            _ => 0xfffd,
        })
        .collect::<Vec<u16>>();
    char::decode_utf16(units)
        .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect()
}

fn decode_universal(value: &[u8]) -> String {
    value
        .chunks(4)
        .map(|c| match c {
            [a, b, c, d] => char::from_u32(u32::from_be_bytes([*a, *b, *c, *d]))
                .unwrap_or(char::REPLACEMENT_CHARACTER),
            _ => char::REPLACEMENT_CHARACTER,
        })
        .collect()
}

/// `#` followed by the hex of the whole element (tag, length, content).
fn hex_value(tag: u8, value: &[u8]) -> String {
    let mut out = format!("#{tag:02x}");
    let len = value.len();
    if len < 0x80 {
        out.push_str(&format!("{len:02x}"));
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        let significant = &bytes[skip..];
        out.push_str(&format!("{:02x}", 0x80 | significant.len()));
        significant
            .iter()
            .for_each(|b| out.push_str(&format!("{b:02x}")));
    }
    value.iter().for_each(|b| out.push_str(&format!("{b:02x}")));
    out
}

/// Escapes a value per RFC 4514 so names stay unambiguous.
fn escape_value(text: &str) -> String {
    let count = text.chars().count();
    let mut out = String::with_capacity(text.len());
    for (i, c) in text.chars().enumerate() {
        let leading = i == 0 && (c == ' ' || c == '#');
        let trailing = i + 1 == count && c == ' ';
        if matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=') || leading || trailing {
            out.push('\\');
            out.push(c);
        } else if c.is_control() {
            let mut buf = [0u8; 4];
            c.encode_utf8(&mut buf)
                .bytes()
                .for_each(|b| out.push_str(&format!("\\{b:02X}")));
        } else {
            out.push(c);
        }
    }
    out
}

/// Reads a UTCTime or GeneralizedTime element.
fn read_time(reader: &mut Reader<'_>, what: &str) -> Result<OffsetDateTime, X509Error> {
    let (tag, content) = reader
        .read_tlv()
        .map_err(|e| err(&format!("{what}: {}", e.0)))?;
    let parsed = match tag {
        TAG_UTC_TIME => parse_utc_time(content),
        TAG_GENERALIZED_TIME => parse_generalized_time(content),
        other => Err(err(&format!("expected a time, found tag 0x{other:02x}"))),
    };
    parsed.map_err(|e| err(&format!("{what}: {}", e.0)))
}

/// `YYMMDDHHMMSSZ`; RFC 5280: YY < 50 means 20YY, else 19YY.
fn parse_utc_time(content: &[u8]) -> Result<OffsetDateTime, X509Error> {
    let digits = time_digits(content, 12)?;
    let yy = two(&digits[0..2]);
    let year = if yy < 50 { 2000 + yy } else { 1900 + yy };
    build_time(year, &digits[2..])
}

/// `YYYYMMDDHHMMSSZ` (DER forbids fractions and offsets).
fn parse_generalized_time(content: &[u8]) -> Result<OffsetDateTime, X509Error> {
    let digits = time_digits(content, 14)?;
    let year = two(&digits[0..2]) * 100 + two(&digits[2..4]);
    build_time(year, &digits[4..])
}

/// Checks `count` ASCII digits followed by `Z`, returning the digit values.
fn time_digits(content: &[u8], count: usize) -> Result<Vec<u8>, X509Error> {
    let valid = content.len() == count + 1
        && content.last() == Some(&b'Z')
        && content[..count].iter().all(u8::is_ascii_digit);
    if !valid {
        return Err(err("time is not in DER form (digits then Z)"));
    }
    Ok(content[..count].iter().map(|b| b - b'0').collect())
}

fn two(d: &[u8]) -> i32 {
    d.iter().fold(0i32, |acc, &x| acc * 10 + i32::from(x))
}

/// Builds a UTC time from year and the `MMDDHHMMSS` digits.
fn build_time(year: i32, d: &[u8]) -> Result<OffsetDateTime, X509Error> {
    let field = |i: usize| u8::try_from(two(&d[i..i + 2])).unwrap_or(u8::MAX);
    let month = time::Month::try_from(field(0)).map_err(|_| err("invalid month"))?;
    let date = time::Date::from_calendar_date(year, month, field(2))
        .map_err(|e| err(&format!("invalid date: {e}")))?;
    let clock = time::Time::from_hms(field(4), field(6), field(8))
        .map_err(|e| err(&format!("invalid time of day: {e}")))?;
    Ok(time::PrimitiveDateTime::new(date, clock).assume_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls_pki_types::pem::PemObject;

    /// Made by `openssl req -x509 -newkey ec ... -addext
    /// "extendedKeyUsage=serverAuth,clientAuth"`; the fingerprint is what `openssl x509
    /// -pubkey -noout | openssl pkey -pubin -outform der | sha256sum` prints for it.
    const OPENSSL_CERT: &str = "-----BEGIN CERTIFICATE-----\n\
MIIBszCCAVigAwIBAgIUan76yKiOkAeU+kGl9eMc6ePWQT0wCgYIKoZIzj0EAwIw\n\
HzELMAkGA1UEAwwCcG0xEDAOBgNVBAoMB0V4YW1wbGUwHhcNMjYxMjA1MTE1OTU0\n\
WhcNMzYxMjAyMTE1OTU0WjAfMQswCQYDVQQDDAJwbTEQMA4GA1UECgwHRXhhbXBs\n\
ZTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABGxNPr7OiOBhO3p28aHVxIbQG+gL\n\
lM4GXMXHJUCrSN7q2uu7J6uLvvtEh5/B21t8Y1P+1VwnIk1BynpJxuQoGa6jcjBw\n\
MB0GA1UdDgQWBBSz5xBMc1S1YSnUracMKifVfhgmizAfBgNVHSMEGDAWgBSz5xBM\n\
c1S1YSnUracMKifVfhgmizAPBgNVHRMBAf8EBTADAQH/MB0GA1UdJQQWMBQGCCsG\n\
AQUFBwMBBggrBgEFBQcDAjAKBggqhkjOPQQDAgNJADBGAiEA0kW3zYeTa0wKXBkM\n\
qnSg3jsyQIloOknTyd5xRh8nfi8CIQD2ZrknoqENI3605TgjJtcEkpPVS+qJYCfv\n\
0MFWvQ6oHQ==\n\
-----END CERTIFICATE-----";

    #[test]
    fn usage_matches_what_openssl_reports() {
        let der = rustls_pki_types::CertificateDer::from_pem_slice(OPENSSL_CERT.as_bytes());
        let usage = cert_usage(&der.unwrap()).unwrap();
        assert_eq!(
            usage.spki_sha256,
            "34fc31c520c8c1c157f53e65cca6cbcc27c7aff5599ecf6cac1ed4e597d16114"
        );
        assert!(usage.self_issued);
        assert_eq!(usage.path_len, None, "CA:TRUE without a limit");
        assert_eq!(usage.subject_der, usage.issuer_der);
        assert_eq!(
            usage.extended_key_usage,
            Some(vec![
                EKU_SERVER_AUTH.to_string(),
                EKU_CLIENT_AUTH.to_string()
            ])
        );
        assert!(cert_usage(b"\x30\x03\x02\x01\x01").is_err());
    }

    #[test]
    fn fingerprints_parse_with_or_without_colons() {
        let hex = sha256_fingerprint(b"certificate");
        let bytes = parse_sha256_fingerprint(&hex).unwrap();
        let colons: Vec<String> = bytes.iter().map(|b| format!("{b:02X}")).collect();
        assert_eq!(parse_sha256_fingerprint(&colons.join(":")), Ok(bytes));
        assert_eq!(
            ring::digest::digest(&ring::digest::SHA256, b"certificate").as_ref(),
            bytes
        );
        assert!(parse_sha256_fingerprint(&hex[..62]).is_err());
        assert!(parse_sha256_fingerprint(&format!("{}zz", &hex[..62])).is_err());
        assert!(parse_sha256_fingerprint("").is_err());
    }
    use rcgen::{
        CertificateParams, CertificateRevocationListParams, DnType, DnValue, IsCa, Issuer,
        KeyIdMethod, KeyPair, SerialNumber,
    };
    use time::macros::datetime;

    fn ca() -> (CertificateParams, KeyPair) {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, "Test CA");
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Example");
        params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        (params, KeyPair::generate().unwrap())
    }

    #[test]
    fn reads_self_signed_certificate() {
        let (mut params, key) = ca();
        params.not_before = datetime!(2024-01-02 03:04:05 UTC);
        params.not_after = datetime!(2049-12-31 23:59:59 UTC);
        params.serial_number = Some(SerialNumber::from_slice(&[0x00, 0x8f, 0x01]));
        let cert = params.self_signed(&key).unwrap();
        let s = summarize_cert(cert.der()).unwrap();
        assert_eq!(s.subject, "CN=Test CA,O=Example");
        assert_eq!(s.issuer, "CN=Test CA,O=Example");
        assert_eq!(s.not_before, datetime!(2024-01-02 03:04:05 UTC));
        assert_eq!(s.not_after, datetime!(2049-12-31 23:59:59 UTC));
        assert_eq!(s.serial_hex, "8f01");
    }

    #[test]
    fn reads_generalized_time_and_issuer_of_signed_certificate() {
        let (ca_params, ca_key) = ca();
        let issuer = Issuer::new(ca_params, ca_key);
        let mut params = CertificateParams::new(vec!["host.example".to_string()]).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, "host-server");
        params.distinguished_name.push(DnType::CountryName, "DE");
        params
            .distinguished_name
            .push(DnType::StateOrProvinceName, "Bavaria");
        params
            .distinguished_name
            .push(DnType::LocalityName, "Munich");
        params
            .distinguished_name
            .push(DnType::OrganizationalUnitName, "Ops");
        params.distinguished_name.push(
            DnType::CustomDnType(vec![1, 2, 840, 113549, 1, 9, 1]),
            "a@b.c",
        );
        params.distinguished_name.push(
            DnType::CustomDnType(vec![0, 9, 2342, 19200300, 100, 1, 25]),
            "example",
        );
        params
            .distinguished_name
            .push(DnType::CustomDnType(vec![2, 5, 4, 5]), "12345");
        params.not_after = datetime!(2051-06-01 00:00:00 UTC);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &issuer).unwrap();
        let s = summarize_cert(cert.der()).unwrap();
        assert_eq!(
            s.subject,
            "CN=host-server,C=DE,ST=Bavaria,L=Munich,OU=Ops,emailAddress=a@b.c,DC=example,2.5.4.5=12345"
        );
        assert_eq!(s.issuer, "CN=Test CA,O=Example");
        assert_eq!(s.not_after, datetime!(2051-06-01 00:00:00 UTC));
    }

    #[test]
    fn decodes_string_types() {
        let (mut params, key) = ca();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(
            DnType::CommonName,
            DnValue::BmpString("Zoë".try_into().unwrap()),
        );
        params.distinguished_name.push(
            DnType::OrganizationName,
            DnValue::PrintableString("Acme Inc".try_into().unwrap()),
        );
        params.distinguished_name.push(
            DnType::OrganizationalUnitName,
            DnValue::TeletexString("Cafe".try_into().unwrap()),
        );
        params.distinguished_name.push(
            DnType::LocalityName,
            DnValue::Ia5String("x,y".try_into().unwrap()),
        );
        let cert = params.self_signed(&key).unwrap();
        let s = summarize_cert(cert.der()).unwrap();
        assert_eq!(s.subject, "CN=Zoë,O=Acme Inc,OU=Cafe,L=x\\,y");
        assert_eq!(render_value(TAG_TELETEX_STRING, b"Caf\xe9"), "Café");
        assert_eq!(render_value(TAG_UTF8_STRING, "Zoë".as_bytes()), "Zoë");
    }

    #[test]
    fn utc_time_century_pivot() {
        assert_eq!(
            parse_utc_time(b"491231235959Z").unwrap(),
            datetime!(2049-12-31 23:59:59 UTC)
        );
        assert_eq!(
            parse_utc_time(b"500101000000Z").unwrap(),
            datetime!(1950-01-01 00:00:00 UTC)
        );
        assert!(parse_utc_time(b"500101000000").is_err());
        assert!(parse_utc_time(b"501301000000Z").is_err());
        assert!(parse_utc_time(b"500230000000Z").is_err());
        assert!(parse_generalized_time(b"20500101246000Z").is_err());
        assert_eq!(
            parse_generalized_time(b"20500101000000Z").unwrap(),
            datetime!(2050-01-01 00:00:00 UTC)
        );
    }

    #[test]
    fn escapes_special_characters() {
        assert_eq!(escape_value("a+b=c"), "a\\+b\\=c");
        assert_eq!(escape_value(" #x "), "\\ #x\\ ");
        assert_eq!(escape_value("a\nb"), "a\\0Ab");
    }

    #[test]
    fn unknown_value_type_is_hex() {
        assert_eq!(render_value(0x04, &[0xab, 0xcd]), "#0402abcd");
    }

    #[test]
    fn reads_crl() {
        let (ca_params, ca_key) = ca();
        let issuer = Issuer::new(ca_params, ca_key);
        let crl = CertificateRevocationListParams {
            this_update: datetime!(2025-03-01 10:00:00 UTC),
            next_update: datetime!(2025-03-02 10:00:00 UTC),
            crl_number: SerialNumber::from(7u64),
            issuing_distribution_point: None,
            revoked_certs: vec![rcgen::RevokedCertParams {
                serial_number: SerialNumber::from(42u64),
                revocation_time: datetime!(2025-02-28 00:00:00 UTC),
                reason_code: None,
                invalidity_date: None,
            }],
            key_identifier_method: KeyIdMethod::Sha256,
        }
        .signed_by(&issuer)
        .unwrap();
        let s = summarize_crl(crl.der()).unwrap();
        assert_eq!(s.issuer, "CN=Test CA,O=Example");
        assert_eq!(s.this_update, datetime!(2025-03-01 10:00:00 UTC));
        assert_eq!(s.next_update, Some(datetime!(2025-03-02 10:00:00 UTC)));
    }

    #[test]
    fn crl_without_next_update() {
        // Hand-built v1 TBSCertList: no version, algorithm, issuer CN=A, thisUpdate only.
        let tbs = [
            0x30, 0x21, // tbsCertList
            0x30, 0x03, 0x06, 0x01, 0x2a, // algorithm
            0x30, 0x0b, 0x31, 0x09, 0x30, 0x07, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c,
            0x00, // CN=
            0x17, 0x0d, b'2', b'5', b'0', b'1', b'0', b'1', b'0', b'0', b'0', b'0', b'0', b'0',
            b'Z',
        ];
        let mut der = vec![0x30, tbs.len() as u8];
        der.extend_from_slice(&tbs);
        let s = summarize_crl(&der).unwrap();
        assert_eq!(s.issuer, "CN=");
        assert_eq!(s.this_update, datetime!(2025-01-01 00:00:00 UTC));
        assert_eq!(s.next_update, None);
    }

    #[test]
    fn truncated_and_garbage_input_is_an_error_not_a_panic() {
        let (params, key) = ca();
        let cert = params.self_signed(&key).unwrap();
        let der = cert.der().to_vec();
        for cut in 0..der.len() {
            assert!(summarize_cert(&der[..cut]).is_err(), "cut at {cut}");
            let _ = summarize_crl(&der[..cut]);
        }
        // Flip bytes one at a time: any result is fine as long as nothing panics.
        for i in 0..der.len() {
            let mut bad = der.clone();
            bad[i] ^= 0xff;
            let _ = summarize_cert(&bad);
            let _ = summarize_crl(&bad);
        }
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        for len in 0..600 {
            let data: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    (seed >> 24) as u8
                })
                .collect();
            let _ = summarize_cert(&data);
            let _ = summarize_crl(&data);
        }
        assert!(summarize_cert(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(summarize_cert(&[0x30, 0x80, 0x00, 0x00]).is_err());
        assert!(summarize_cert(&[0x30, 0x89, 1, 2, 3, 4, 5, 6, 7, 8, 9]).is_err());
    }

    #[test]
    fn oid_decoding() {
        assert_eq!(decode_oid(&[0x55, 0x04, 0x03]).unwrap(), "2.5.4.3");
        assert_eq!(
            decode_oid(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01]).unwrap(),
            "1.2.840.113549.1.9.1"
        );
        assert!(decode_oid(&[0x2a, 0x86]).is_err());
        assert!(decode_oid(&[]).is_err());
        assert!(decode_oid(&[0xff; 12]).is_err());
    }

    #[test]
    fn fingerprint_is_sha256_hex() {
        assert_eq!(
            sha256_fingerprint(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
