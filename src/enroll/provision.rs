//! Provisioning an approved bundle: validate it, write the TLS files, whitelist the manager.
//!
//! Validation comes first and is complete (every PEM, key/certificate match, chain to
//! `ca_crt` for serverAuth, expiry) so an invalid bundle writes nothing. The whitelist edit is
//! also prepared before any TLS file is written: an unreadable or invalid whitelist stops
//! provisioning while the bundle is still safe in the state directory.
//!
//! Decisions:
//! - Clock skew: the manager never back-dates `not_before`, so a host whose clock lags sees
//!   a certificate "not yet valid". That is never rejected: the skew is logged and the chain
//!   is verified at `not_before` instead of now. An expired certificate is rejected.
//! - `ca_chain` (intermediates, a string or a list of strings) is appended to both
//!   `tls.ca_cert` (client certificates issued by an intermediate verify; the TLS layer
//!   keeps them as chain material, only the self-issued root is an anchor) and
//!   `tls.server_cert` (clients get the full chain).
//! - Each existing file is first copied to `<file>.bak` (same mode; the key's copy 0600).
//! - Whitelist: an address already allowed (also by a range) changes nothing; otherwise a
//!   `  - IP` line is appended to the `allowed:` block (or a bare list), keeping comments;
//!   flow style (`allowed: [a, b]`) is rewritten as a block list with the same entries. Every
//!   edit is re-parsed and checked to hold exactly the old entries plus the new one.

use std::io::ErrorKind;
use std::net::IpAddr;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer, UnixTime};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use serde_json::Value;
use time::OffsetDateTime;

use crate::fsutil::{copy_atomic, write_atomic, PRIVATE_MODE};
use crate::http::whitelist::{IpNet, Whitelist};
use crate::x509;

/// Mode of certificates, CRL and whitelist: public data.
pub const PUBLIC_MODE: u32 = 0o644;
/// Mode of directories created for the TLS files.
pub const DIR_MODE: u32 = 0o755;

/// The certificates and key of an approved status answer.
#[derive(Clone, PartialEq, Eq)]
pub struct Bundle {
    /// The CA certificate (PEM).
    pub ca_crt: String,
    /// This host's server certificate (PEM).
    pub server_crt: String,
    /// Its private key (PEM, PKCS#8; SEC1 accepted).
    pub server_key: String,
    /// Intermediate CA certificates (PEM), if sent.
    pub ca_chain: Option<String>,
    /// The manager's CRL (PEM), possibly empty.
    pub crl_pem: Option<String>,
}

impl std::fmt::Debug for Bundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key stays out of debug output.
        f.debug_struct("Bundle")
            .field("ca_crt", &self.ca_crt.len())
            .field("server_crt", &self.server_crt.len())
            .field("ca_chain", &self.ca_chain.as_ref().map(String::len))
            .field("crl_pem", &self.crl_pem.as_ref().map(String::len))
            .finish_non_exhaustive()
    }
}

impl Bundle {
    /// Reads the bundle fields of an `approved` status body.
    pub fn from_status_body(raw: &[u8]) -> Result<Bundle, String> {
        let json: Value =
            serde_json::from_slice(raw).map_err(|e| format!("the answer is not JSON: {e}"))?;
        let text = |key: &str| -> Result<String, String> {
            match json.get(key) {
                Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
                Some(Value::String(_)) => Err(format!("{key} is empty")),
                Some(_) => Err(format!("{key} is not a string")),
                None => Err(format!("{key} is missing")),
            }
        };
        let ca_chain = match json.get("ca_chain") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Array(items)) => {
                let parts: Option<Vec<&str>> = items.iter().map(Value::as_str).collect();
                let parts = parts.ok_or("ca_chain is not a list of strings")?;
                Some(parts.join("\n"))
            }
            Some(_) => return Err("ca_chain is not a string".into()),
        };
        let crl_pem = match json.get("crl_pem") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err("crl_pem is not a string".into()),
        };
        Ok(Bundle {
            ca_crt: text("ca_crt")?,
            server_crt: text("server_crt")?,
            server_key: text("server_key")?,
            ca_chain: ca_chain.filter(|s| !s.trim().is_empty()),
            crl_pem,
        })
    }

    fn crl(&self) -> Option<&str> {
        self.crl_pem.as_deref().filter(|s| !s.trim().is_empty())
    }
}

/// Facts about a bundle that passed validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Validated {
    /// SHA-256 of the server certificate (lowercase hex).
    pub server_cert_sha256: String,
    /// The server certificate's subject.
    pub subject: String,
    /// End of validity.
    pub not_after: OffsetDateTime,
    /// How far `not_before` lies ahead of this host's clock, if it does.
    pub skew: Option<Duration>,
}

fn certs(what: &str, pem: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{what} is not valid PEM: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{what} holds no certificate"));
    }
    Ok(certs)
}

/// Checks the bundle as of `now`: see the module documentation.
pub fn validate(bundle: &Bundle, now: OffsetDateTime) -> Result<Validated, String> {
    let ca = certs("ca_crt", &bundle.ca_crt)?;
    let chain = match &bundle.ca_chain {
        Some(pem) => certs("ca_chain", pem)?,
        None => Vec::new(),
    };
    let server = certs("server_crt", &bundle.server_crt)?;
    let key = PrivateKeyDer::from_pem_slice(bundle.server_key.as_bytes())
        .map_err(|e| format!("server_key is not a PEM private key: {e}"))?;
    if let Some(crl) = bundle.crl() {
        let crls = CertificateRevocationListDer::pem_slice_iter(crl.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("crl_pem is not valid PEM: {e}"))?;
        if crls.is_empty() {
            return Err("crl_pem holds no CRL".into());
        }
    }
    check_key_matches(&server, key)?;
    let leaf = x509::summarize_cert(&server[0]).map_err(|e| format!("server_crt: {e}"))?;
    if leaf.not_after <= now {
        return Err(format!(
            "the server certificate expired at {}",
            crate::timefmt::rfc3339(leaf.not_after)
        ));
    }
    let mut at = now;
    let mut skew = None;
    if leaf.not_before > now {
        let ahead = leaf.not_before - now;
        skew = Some(Duration::from_secs(ahead.whole_seconds().max(0) as u64));
        at = leaf.not_before;
    }
    let mut intermediates: Vec<CertificateDer<'static>> = server[1..].to_vec();
    intermediates.extend(chain);
    verify_chain(&server[0], &ca, &intermediates, at)?;
    Ok(Validated {
        server_cert_sha256: x509::sha256_fingerprint(&server[0]),
        subject: leaf.subject,
        not_after: leaf.not_after,
        skew,
    })
}

/// The key must belong to the leaf (as `http::tls` checks when loading).
fn check_key_matches(
    chain: &[CertificateDer<'static>],
    key: PrivateKeyDer<'_>,
) -> Result<(), String> {
    let signing = rustls::crypto::ring::sign::any_supported_type(&key)
        .map_err(|e| format!("server_key is not a usable private key: {e}"))?;
    let ck = CertifiedKey::new(chain.to_vec(), signing);
    match ck.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => Ok(()),
        Err(rustls::Error::InconsistentKeys(_)) => {
            Err("server_key does not belong to server_crt".into())
        }
        Err(e) => Err(format!(
            "server_key cannot be checked against server_crt: {e}"
        )),
    }
}

fn verify_chain(
    leaf: &CertificateDer<'static>,
    ca: &[CertificateDer<'static>],
    intermediates: &[CertificateDer<'static>],
    at: OffsetDateTime,
) -> Result<(), String> {
    let anchors = ca
        .iter()
        .enumerate()
        .map(|(i, c)| {
            webpki::anchor_from_trusted_cert(c)
                .map(|a| a.to_owned())
                .map_err(|e| format!("ca_crt certificate {i} is not a usable CA: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let end = webpki::EndEntityCert::try_from(leaf)
        .map_err(|e| format!("server_crt is not a usable certificate: {e}"))?;
    let secs = u64::try_from(at.unix_timestamp()).unwrap_or(0);
    let time = UnixTime::since_unix_epoch(Duration::from_secs(secs));
    let algs = rustls::crypto::ring::default_provider()
        .signature_verification_algorithms
        .all;
    end.verify_for_usage(
        algs,
        &anchors,
        intermediates,
        time,
        webpki::KeyUsage::server_auth(),
        None,
        None,
    )
    .map(|_| ())
    .map_err(|e| format!("server_crt does not chain to ca_crt for server authentication: {e:?}"))
}

/// Where the files go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Targets {
    /// `tls.ca_cert`.
    pub ca_cert: PathBuf,
    /// `tls.server_cert`.
    pub server_cert: PathBuf,
    /// `tls.server_key`.
    pub server_key: PathBuf,
    /// `tls.crl`, if configured.
    pub crl: Option<PathBuf>,
    /// `whitelist.path`.
    pub whitelist: PathBuf,
}

/// Why provisioning stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProvisionError {
    /// The bundle is unusable; nothing was written.
    Invalid(String),
    /// A file could not be read or written (the bundle may be retried).
    Io(String),
}

impl std::fmt::Display for ProvisionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProvisionError::Invalid(m) | ProvisionError::Io(m) => write!(f, "{m}"),
        }
    }
}

/// What provisioning did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The validated bundle's facts.
    pub validated: Validated,
    /// Every file written.
    pub written: Vec<PathBuf>,
}

/// Validates `bundle`, then writes the TLS files and whitelists `manager_ip`.
pub fn provision(
    bundle: &Bundle,
    targets: &Targets,
    manager_ip: IpAddr,
    now: OffsetDateTime,
) -> Result<Outcome, ProvisionError> {
    let validated = validate(bundle, now).map_err(ProvisionError::Invalid)?;
    if let Some(skew) = validated.skew {
        log::warn!(
            "the new server certificate becomes valid {} s from now by this host's clock; \
             accepted (the manager does not back-date certificates; check this host's clock)",
            skew.as_secs()
        );
    }
    let existing = read_optional(&targets.whitelist).map_err(ProvisionError::Io)?;
    let plan = plan_whitelist(existing.as_deref(), manager_ip)
        .map_err(|e| ProvisionError::Io(format!("{}: {e}", targets.whitelist.display())))?;
    let mut written = Vec::new();
    for (path, content, mode) in tls_files(bundle, targets) {
        install(&path, content.as_bytes(), mode).map_err(ProvisionError::Io)?;
        written.push(path);
    }
    if let Some(text) = plan {
        install(&targets.whitelist, text.as_bytes(), PUBLIC_MODE).map_err(ProvisionError::Io)?;
        written.push(targets.whitelist.clone());
    } else {
        log::info!(
            "{} already allows {manager_ip}",
            targets.whitelist.display()
        );
    }
    Ok(Outcome { validated, written })
}

/// The TLS files to write: path, content, mode.
fn tls_files(bundle: &Bundle, t: &Targets) -> Vec<(PathBuf, String, u32)> {
    let join = |first: &str| match &bundle.ca_chain {
        Some(chain) => format!("{}\n{}", with_newline(first), with_newline(chain)),
        None => with_newline(first),
    };
    let mut files = vec![
        (t.ca_cert.clone(), join(&bundle.ca_crt), PUBLIC_MODE),
        (t.server_cert.clone(), join(&bundle.server_crt), PUBLIC_MODE),
        (
            t.server_key.clone(),
            with_newline(&bundle.server_key),
            PRIVATE_MODE,
        ),
    ];
    match (bundle.crl(), &t.crl) {
        (Some(crl), Some(path)) => files.push((path.clone(), with_newline(crl), PUBLIC_MODE)),
        (Some(_), None) => log::info!("the bundle's CRL is not kept: tls.crl is not configured"),
        _ => {}
    }
    files
}

fn with_newline(pem: &str) -> String {
    format!("{}\n", pem.trim_end())
}

/// Writes one file atomically, keeping the previous version as `<file>.bak` and creating
/// missing parent directories.
fn install(path: &Path, bytes: &[u8], mode: u32) -> Result<(), String> {
    let fail = |e: std::io::Error| format!("{}: {e}", path.display());
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(parent)
            .map_err(fail)?;
    }
    backup(path, mode).map_err(fail)?;
    write_atomic(path, bytes, mode).map_err(fail)
}

/// Copies an existing file to `<file>.bak` with its mode (never looser than 0600 for a
/// private file).
fn backup(path: &Path, new_mode: u32) -> std::io::Result<()> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut mode = meta.permissions().mode() & 0o777;
    if new_mode == PRIVATE_MODE {
        mode &= PRIVATE_MODE;
    }
    let bak = bak_path(path);
    copy_atomic(path, &bak)?;
    std::fs::set_permissions(&bak, std::fs::Permissions::from_mode(mode))
}

/// `<file>.bak`.
pub fn bak_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".bak");
    path.with_file_name(name)
}

fn read_optional(path: &Path) -> Result<Option<String>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// The new whitelist text that also allows `ip`, or `None` when it already does.
pub fn plan_whitelist(existing: Option<&str>, ip: IpAddr) -> Result<Option<String>, String> {
    let ip = ip.to_canonical();
    let text = existing.unwrap_or("");
    if is_blank(text) {
        let mut out = text.to_string();
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&format!("allowed:\n  - {}\n", entry(ip)));
        if Whitelist::parse(&out).is_ok_and(|list| list == [single(ip)]) {
            return Ok(Some(out));
        }
        // "Blank" by `lines()` is not blank to YAML: a lone CR ends a comment there, and a
        // control character makes the file unloadable. Keep what loads, else start afresh
        // (the old file is kept as .bak).
        if Whitelist::parse(text).is_err() {
            return Ok(Some(rewrite(&[], ip)));
        }
    }
    let entries =
        Whitelist::parse(text).map_err(|e| format!("cannot add the manager's address: {e}"))?;
    if entries.iter().any(|net| net.contains(ip)) {
        return Ok(None);
    }
    let expected = {
        let mut v = entries.clone();
        v.push(single(ip));
        v
    };
    let appended =
        append_item(text, ip).filter(|new| Whitelist::parse(new).ok().as_ref() == Some(&expected));
    match appended {
        Some(new) => Ok(Some(new)),
        None => {
            let new = rewrite(&entries, ip);
            match Whitelist::parse(&new) {
                Ok(parsed) if parsed == expected => Ok(Some(new)),
                _ => Err("cannot add the manager's address without changing the entries".into()),
            }
        }
    }
}

/// The entry admitting exactly `ip`.
fn single(ip: IpAddr) -> IpNet {
    IpNet {
        addr: ip,
        prefix: if ip.is_ipv4() { 32 } else { 128 },
    }
}

fn is_blank(text: &str) -> bool {
    text.lines().all(|l| {
        let l = l.trim();
        l.is_empty() || l.starts_with('#') || l == "---"
    })
}

/// A whitelist entry for `ip` (IPv6 quoted: a plain scalar must not look like a mapping).
fn entry(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("\"{v6}\""),
    }
}

fn net_entry(net: &IpNet) -> String {
    let single = matches!(
        (net.addr, net.prefix),
        (IpAddr::V4(_), 32) | (IpAddr::V6(_), 128)
    );
    let text = if single {
        net.addr.to_string()
    } else {
        net.to_string()
    };
    format!("\"{text}\"")
}

/// Appends `- IP` to a block list (under `allowed:` or at the top level), after its last
/// item and with its indentation; `None` when the text has no such list.
fn append_item(text: &str, ip: IpAddr) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let (start, top_level) = match lines.iter().position(|l| is_allowed_key(l)) {
        Some(i) => (i + 1, false),
        None => (0, true),
    };
    let mut last_item: Option<(usize, String)> = None;
    for (i, line) in lines.iter().enumerate().skip(start) {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = &line[..line.len() - trimmed.len()];
        let is_item = trimmed.starts_with("- ") || trimmed == "-";
        if is_item {
            last_item = Some((i, indent.to_string()));
        } else if indent.is_empty() && !top_level {
            break;
        } else if top_level || indent.is_empty() {
            // A top-level key or a continuation we do not understand: leave it to a rewrite.
            return None;
        }
    }
    let (insert_after, indent) = match last_item {
        Some((i, indent)) => (i, indent),
        None if !top_level => (start - 1, "  ".to_string()),
        None => return None,
    };
    let mut out = String::new();
    for (i, line) in lines.iter().enumerate() {
        out.push_str(line);
        out.push('\n');
        if i == insert_after {
            out.push_str(&format!("{indent}- {}\n", entry(ip)));
        }
    }
    Some(out)
}

/// `allowed:` with no value on the line (a block list or nothing follows).
fn is_allowed_key(line: &str) -> bool {
    let Some(rest) = line.strip_prefix("allowed:") else {
        return false;
    };
    let rest = rest.trim();
    rest.is_empty() || rest.starts_with('#')
}

/// A fresh block list with the same entries plus `ip`, under a note saying why.
fn rewrite(entries: &[IpNet], ip: IpAddr) -> String {
    let mut out = String::from(
        "# Rewritten by linux-patch-api --enroll to add the manager's address;\n\
         # the previous file is kept as .bak.\nallowed:\n",
    );
    for net in entries {
        out.push_str(&format!("  - {}\n", net_entry(net)));
    }
    out.push_str(&format!("  - {}\n", entry(ip)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enroll::testutil::{Issue, Pki};

    fn now() -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    fn bundle_of(pki: &Pki) -> Bundle {
        Bundle::from_status_body(pki.approved_body("").as_bytes()).unwrap()
    }

    fn temp_dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("lpa-prov-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn mode_of(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    fn targets(dir: &Path) -> Targets {
        Targets {
            ca_cert: dir.join("certs/ca.crt"),
            server_cert: dir.join("certs/server.crt"),
            server_key: dir.join("private/server.key"),
            crl: Some(dir.join("certs/crl.pem")),
            whitelist: dir.join("whitelist.yaml"),
        }
    }

    #[test]
    fn bundle_fields_are_read_and_required() {
        let b = Bundle::from_status_body(
            br#"{"status":"approved","ca_crt":"A","server_crt":"B","server_key":"K","ca_chain":["X","Y"],"crl_pem":""}"#,
        )
        .unwrap();
        assert_eq!(b.ca_chain.as_deref(), Some("X\nY"));
        assert_eq!(b.crl_pem.as_deref(), Some(""));
        assert_eq!(b.crl(), None);
        assert!(!format!("{b:?}").contains('K'));
        let e = Bundle::from_status_body(br#"{"ca_crt":"A","server_crt":"B"}"#).unwrap_err();
        assert!(e.contains("server_key is missing"), "{e}");
        let e = Bundle::from_status_body(br#"{"ca_crt":"","server_crt":"B","server_key":"K"}"#)
            .unwrap_err();
        assert!(e.contains("ca_crt is empty"), "{e}");
        assert!(Bundle::from_status_body(b"nope").is_err());
    }

    #[test]
    fn a_good_bundle_validates() {
        let pki = Pki::issue("host.example.com", Issue::default());
        let v = validate(&bundle_of(&pki), now()).unwrap();
        assert_eq!(v.skew, None);
        assert_eq!(
            v.server_cert_sha256,
            x509::sha256_fingerprint(&pki.leaf_der())
        );
        assert!(
            v.subject.contains("host.example.com-server"),
            "{}",
            v.subject
        );
    }

    #[test]
    fn a_future_not_before_is_accepted_with_its_skew() {
        let pki = Pki::issue(
            "h.example.com",
            Issue {
                not_before: time::Duration::minutes(10),
                ..Issue::default()
            },
        );
        let v = validate(&bundle_of(&pki), now()).unwrap();
        let skew = v.skew.unwrap().as_secs();
        assert!((590..=600).contains(&skew), "{skew}");
    }

    #[test]
    fn expired_mismatched_foreign_and_client_only_bundles_are_refused() {
        let expired = Pki::issue(
            "h",
            Issue {
                not_before: time::Duration::days(-10),
                not_after: time::Duration::days(-1),
                ..Issue::default()
            },
        );
        let e = validate(&bundle_of(&expired), now()).unwrap_err();
        assert!(e.contains("expired"), "{e}");

        let a = Pki::issue("h", Issue::default());
        let b = Pki::issue("h", Issue::default());
        let mut mixed = bundle_of(&a);
        mixed.server_key = b.key_pem.clone();
        let e = validate(&mixed, now()).unwrap_err();
        assert!(e.contains("does not belong"), "{e}");

        let mut foreign = bundle_of(&a);
        foreign.ca_crt = b.ca_pem.clone();
        let e = validate(&foreign, now()).unwrap_err();
        assert!(e.contains("does not chain"), "{e}");

        let client_only = Pki::issue(
            "h",
            Issue {
                server_auth: false,
                ..Issue::default()
            },
        );
        let e = validate(&bundle_of(&client_only), now()).unwrap_err();
        assert!(e.contains("server authentication"), "{e}");

        let mut garbage = bundle_of(&a);
        garbage.server_crt = "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n".into();
        assert!(validate(&garbage, now()).is_err());
        let mut no_key = bundle_of(&a);
        no_key.server_key = "not a key".into();
        let e = validate(&no_key, now()).unwrap_err();
        assert!(e.contains("server_key"), "{e}");
        let mut bad_crl = bundle_of(&a);
        bad_crl.crl_pem = Some("garbage".into());
        let e = validate(&bad_crl, now()).unwrap_err();
        assert!(e.contains("crl_pem"), "{e}");
    }

    /// Reads one DER TLV at `at`: (tag, content start, content end).
    fn tlv(der: &[u8], at: usize) -> (u8, usize, usize) {
        let tag = der[at];
        let first = der[at + 1] as usize;
        if first < 0x80 {
            return (tag, at + 2, at + 2 + first);
        }
        let n = first & 0x7f;
        let len = der[at + 2..at + 2 + n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | b as usize);
        (tag, at + 2 + n, at + 2 + n + len)
    }

    fn base64(data: &[u8]) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in data.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    #[test]
    fn a_sec1_key_is_accepted() {
        let pki = Pki::issue("h", Issue::default());
        let PrivateKeyDer::Pkcs8(pkcs8) =
            PrivateKeyDer::from_pem_slice(pki.key_pem.as_bytes()).unwrap()
        else {
            panic!("rcgen writes PKCS#8")
        };
        // PrivateKeyInfo ::= SEQUENCE { version, algorithm, OCTET STRING { ECPrivateKey } }
        let der = pkcs8.secret_pkcs8_der();
        let (_, body, _) = tlv(der, 0);
        let (_, _, after_version) = tlv(der, body);
        let (_, _, after_alg) = tlv(der, after_version);
        let (tag, start, end) = tlv(der, after_alg);
        assert_eq!(tag, 0x04);
        let sec1 = format!(
            "-----BEGIN EC PRIVATE KEY-----\n{}\n-----END EC PRIVATE KEY-----\n",
            base64(&der[start..end])
        );
        let mut bundle = bundle_of(&pki);
        bundle.server_key = sec1;
        validate(&bundle, now()).unwrap();
    }

    #[test]
    fn provisioning_writes_files_with_modes_and_backups() {
        let dir = temp_dir();
        let t = targets(&dir);
        let pki = Pki::issue("h", Issue::default());
        std::fs::create_dir_all(dir.join("certs")).unwrap();
        std::fs::write(&t.ca_cert, "old ca").unwrap();
        std::fs::set_permissions(&t.ca_cert, std::fs::Permissions::from_mode(0o640)).unwrap();
        std::fs::create_dir_all(dir.join("private")).unwrap();
        std::fs::write(&t.server_key, "old key").unwrap();
        std::fs::set_permissions(&t.server_key, std::fs::Permissions::from_mode(0o640)).unwrap();
        let bundle = Bundle::from_status_body(pki.approved_body("").as_bytes()).unwrap();
        let ip: IpAddr = "192.0.2.9".parse().unwrap();
        let out = provision(&bundle, &t, ip, now()).unwrap();
        assert_eq!(
            out.written,
            vec![
                t.ca_cert.clone(),
                t.server_cert.clone(),
                t.server_key.clone(),
                t.whitelist.clone()
            ]
        );
        assert_eq!(
            std::fs::read_to_string(&t.server_key).unwrap().trim(),
            pki.key_pem.trim()
        );
        assert_eq!(mode_of(&t.server_key), 0o600);
        assert_eq!(mode_of(&t.ca_cert), 0o644);
        assert_eq!(mode_of(&t.server_cert), 0o644);
        assert_eq!(mode_of(&t.whitelist), 0o644);
        assert_eq!(
            std::fs::read_to_string(bak_path(&t.ca_cert)).unwrap(),
            "old ca"
        );
        assert_eq!(mode_of(&bak_path(&t.ca_cert)), 0o640);
        assert_eq!(
            std::fs::read_to_string(bak_path(&t.server_key)).unwrap(),
            "old key"
        );
        assert_eq!(mode_of(&bak_path(&t.server_key)), 0o600);
        assert!(!t.crl.as_ref().unwrap().exists());
        assert_eq!(
            std::fs::read_to_string(&t.whitelist).unwrap(),
            "allowed:\n  - 192.0.2.9\n"
        );
        // Idempotent: a second run leaves the whitelist alone.
        let again = provision(&bundle, &t, ip, now()).unwrap();
        assert!(!again.written.contains(&t.whitelist));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_invalid_bundle_or_whitelist_writes_nothing() {
        let dir = temp_dir();
        let t = targets(&dir);
        let a = Pki::issue("h", Issue::default());
        let b = Pki::issue("h", Issue::default());
        let mut bad = Bundle::from_status_body(a.approved_body("").as_bytes()).unwrap();
        bad.server_key = b.key_pem.clone();
        let ip: IpAddr = "192.0.2.9".parse().unwrap();
        let e = provision(&bad, &t, ip, now()).unwrap_err();
        assert!(matches!(e, ProvisionError::Invalid(_)), "{e:?}");
        assert!(std::fs::read_dir(&dir).unwrap().next().is_none());

        std::fs::write(&t.whitelist, "allowed:\n  - not-an-ip\n").unwrap();
        let good = Bundle::from_status_body(a.approved_body("").as_bytes()).unwrap();
        let e = provision(&good, &t, ip, now()).unwrap_err();
        assert!(matches!(e, ProvisionError::Io(_)), "{e:?}");
        assert!(!t.ca_cert.exists() && !t.server_key.exists());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn whitelist_plans() {
        let ip: IpAddr = "192.0.2.9".parse().unwrap();
        assert_eq!(
            plan_whitelist(None, ip).unwrap().unwrap(),
            "allowed:\n  - 192.0.2.9\n"
        );
        assert_eq!(
            plan_whitelist(Some("# managed by ops\n"), ip)
                .unwrap()
                .unwrap(),
            "# managed by ops\nallowed:\n  - 192.0.2.9\n"
        );
        assert_eq!(
            plan_whitelist(Some("allowed:\n  - 192.0.2.0/24\n"), ip).unwrap(),
            None
        );
        assert_eq!(plan_whitelist(Some("- 192.0.2.9\n"), ip).unwrap(), None);
        let mapped: IpAddr = "::ffff:192.0.2.9".parse().unwrap();
        assert_eq!(
            plan_whitelist(Some("allowed: [192.0.2.9]"), mapped).unwrap(),
            None
        );

        let block = "# ops\nallowed:\n  - 10.0.0.0/8   # lan\n\n  # office\n  - 172.16.0.1\nextra_comment: no\n";
        // An unknown key makes the whitelist invalid: refused, not rewritten.
        assert!(plan_whitelist(Some(block), ip).is_err());

        let block =
            "# ops\nallowed:\n  - 10.0.0.0/8   # lan\n\n  # office\n  - 172.16.0.1\n# end\n";
        assert_eq!(
            plan_whitelist(Some(block), ip).unwrap().unwrap(),
            "# ops\nallowed:\n  - 10.0.0.0/8   # lan\n\n  # office\n  - 172.16.0.1\n  - 192.0.2.9\n# end\n"
        );
        assert_eq!(
            plan_whitelist(Some("allowed:\n- 10.0.0.1\n"), ip)
                .unwrap()
                .unwrap(),
            "allowed:\n- 10.0.0.1\n- 192.0.2.9\n"
        );
        assert_eq!(
            plan_whitelist(Some("allowed:\n"), ip).unwrap().unwrap(),
            "allowed:\n  - 192.0.2.9\n"
        );
        assert_eq!(
            plan_whitelist(Some("- 10.0.0.1\n- 10.0.0.2"), ip)
                .unwrap()
                .unwrap(),
            "- 10.0.0.1\n- 10.0.0.2\n- 192.0.2.9\n"
        );
        let flow = plan_whitelist(Some("allowed: [10.0.0.1, 10.1.0.0/16]\n"), ip)
            .unwrap()
            .unwrap();
        assert!(
            flow.contains("  - \"10.0.0.1\"\n  - \"10.1.0.0/16\"\n  - 192.0.2.9\n"),
            "{flow}"
        );
        let v6: IpAddr = "2001:db8::5".parse().unwrap();
        let text = plan_whitelist(Some("allowed:\n  - 10.0.0.1\n"), v6)
            .unwrap()
            .unwrap();
        assert!(
            Whitelist::parse(&text)
                .unwrap()
                .iter()
                .any(|n| n.contains(v6)),
            "{text}"
        );
        assert!(plan_whitelist(Some("allowed: {a: 1}"), ip).is_err());
    }

    #[test]
    fn a_comment_only_whitelist_with_control_characters_is_rewritten_loadable() {
        // Found by `make fuzz` (target whitelist): the comment-only file was appended to
        // as is, and the result did not load.
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let text = plan_whitelist(Some("# peers\u{1} allowed\n#\n"), ip)
            .unwrap()
            .unwrap();
        let parsed = Whitelist::parse(&text).unwrap_or_else(|e| panic!("{e}:\n{text}"));
        assert!(parsed.iter().any(|n| n.contains(ip)), "{text}");
        // Also found by the fuzzer: a lone CR ends a YAML comment, so this "comment" holds
        // an entry, which was lost.
        let text = plan_whitelist(Some("# peers\r- 2001:db8::/32\n"), ip)
            .unwrap()
            .unwrap();
        let parsed = Whitelist::parse(&text).unwrap_or_else(|e| panic!("{e}:\n{text}"));
        let kept: IpAddr = "2001:db8::1".parse().unwrap();
        assert!(
            parsed.iter().any(|n| n.contains(kept)),
            "entry lost:\n{text}"
        );
        assert!(parsed.iter().any(|n| n.contains(ip)), "{text}");
    }

    #[test]
    fn a_crl_is_written_only_when_sent_and_configured() {
        let pki = Pki::issue("h", Issue::default());
        let crl = "-----BEGIN X509 CRL-----\nMAA=\n-----END X509 CRL-----\n";
        let mut bundle = bundle_of(&pki);
        bundle.crl_pem = Some(crl.into());
        let dir = temp_dir();
        let mut t = targets(&dir);
        let files = tls_files(&bundle, &t);
        assert_eq!(files.len(), 4);
        assert_eq!(files[3].0, dir.join("certs/crl.pem"));
        assert_eq!(files[3].2, PUBLIC_MODE);
        t.crl = None;
        assert_eq!(tls_files(&bundle, &t).len(), 3);
        bundle.crl_pem = Some(String::new());
        t.crl = Some(dir.join("crl.pem"));
        assert_eq!(tls_files(&bundle, &t).len(), 3);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
