//! `--check-config` for the TLS files: every problem at once, each naming its file.

use std::path::Path;

use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, UnixTime};
use time::OffsetDateTime;

use super::verify::split_trust;
use super::{build_config, read_certs, read_crls, read_key, Material, TlsError, TlsPaths};
use crate::timefmt::rfc3339;
use crate::x509;

/// How close to expiry a certificate may be before `--check-config` warns.
const EXPIRY_WARNING_DAYS: i64 = 30;

/// Checks the TLS files as `--check-config` does, returning every problem found.
///
/// Each entry names the file; entries starting with `warning:` do not stop the agent
/// (expiry within 30 days, CRL overdue or issued by an unknown CA, loose key permissions).
pub fn check_files(paths: &TlsPaths, now: OffsetDateTime) -> Vec<String> {
    let mut problems = Vec::new();
    let ca = collect(read_certs(&paths.ca_cert), &mut problems);
    let chain = collect(read_certs(&paths.server_cert), &mut problems);
    let key = collect(read_key(&paths.server_key), &mut problems);
    check_key_permissions(&paths.server_key, &mut problems);
    let crls = match &paths.crl {
        Some(p) => collect(read_crls(p), &mut problems),
        None => Some(Vec::new()),
    };
    if let Some(ca) = &ca {
        check_validity(&paths.ca_cert, "CA certificate", ca, now, &mut problems);
    }
    if let Some(chain) = &chain {
        check_validity(
            &paths.server_cert,
            "server certificate",
            chain,
            now,
            &mut problems,
        );
    }
    if let (Some(ca), Some(chain)) = (&ca, &chain) {
        check_chain(paths, ca, chain, now, &mut problems);
    }
    if let (Some(crls), Some(path)) = (&crls, &paths.crl) {
        check_crls(path, crls, ca.as_deref().unwrap_or(&[]), now, &mut problems);
    }
    if let (Some(ca), Some(chain), Some(key), Some(crls)) = (ca, chain, key, crls) {
        let m = Material {
            ca,
            chain,
            key,
            crls,
        };
        if let Err(e) = build_config(paths, &m) {
            problems.push(e.to_string());
        }
    }
    problems
}

fn collect<T>(r: Result<T, TlsError>, problems: &mut Vec<String>) -> Option<T> {
    r.map_err(|e| problems.push(e.to_string())).ok()
}

fn check_key_permissions(path: &Path, problems: &mut Vec<String>) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            problems.push(format!(
                "warning: {}: private key is accessible by group or others (mode {mode:04o}); use 0600",
                path.display()
            ));
        }
    }
}

/// Reports expired, not yet valid and soon expiring certificates of one file.
fn check_validity(
    path: &Path,
    what: &str,
    certs: &[CertificateDer<'_>],
    now: OffsetDateTime,
    problems: &mut Vec<String>,
) {
    for (i, cert) in certs.iter().enumerate() {
        let label = if i == 0 {
            what.to_string()
        } else {
            format!("{what} {i}")
        };
        match x509::summarize_cert(cert) {
            Ok(s) => problems.extend(validity_problem(path, &label, &s, now)),
            Err(e) => problems.push(format!("{}: {label} cannot be read: {e}", path.display())),
        }
    }
}

fn validity_problem(
    path: &Path,
    label: &str,
    s: &x509::CertSummary,
    now: OffsetDateTime,
) -> Option<String> {
    let p = path.display();
    let subject = &s.subject;
    if now > s.not_after {
        return Some(format!(
            "{p}: {label} ({subject}) expired at {}",
            rfc3339(s.not_after)
        ));
    }
    if now < s.not_before {
        return Some(format!(
            "{p}: {label} ({subject}) is not valid before {}",
            rfc3339(s.not_before)
        ));
    }
    let left = s.not_after - now;
    (left.whole_days() < EXPIRY_WARNING_DAYS).then(|| {
        format!(
            "warning: {p}: {label} ({subject}) expires in {} days, at {}",
            left.whole_days(),
            rfc3339(s.not_after)
        )
    })
}

/// Whether the server chain leads to the CA bundle, with serverAuth usage.
///
/// Verified at a time within the leaf's validity so an expired leaf (reported on its own)
/// does not hide whether the chain itself is right.
fn check_chain(
    paths: &TlsPaths,
    ca: &[CertificateDer<'_>],
    chain: &[CertificateDer<'_>],
    now: OffsetDateTime,
    problems: &mut Vec<String>,
) {
    let Some((leaf, intermediates)) = chain.split_first() else {
        return;
    };
    let ca: Vec<CertificateDer<'static>> = ca.iter().map(|c| c.clone().into_owned()).collect();
    let trust = split_trust(&ca);
    let anchors: Vec<_> = trust
        .anchors
        .iter()
        .filter_map(|c| webpki::anchor_from_trusted_cert(c).ok())
        .collect();
    let mut intermediates = intermediates.to_vec();
    intermediates.extend(trust.intermediates.iter().cloned());
    let ee = match webpki::EndEntityCert::try_from(leaf) {
        Ok(ee) => ee,
        Err(e) => {
            problems.push(format!(
                "{}: server certificate is not usable: {e}",
                paths.server_cert.display()
            ));
            return;
        }
    };
    let at = verification_time(leaf, now);
    let result = ee.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &anchors,
        &intermediates,
        at,
        webpki::KeyUsage::server_auth(),
        None,
        None,
    );
    match result {
        Ok(_) => {}
        // Expiry of any certificate is reported by the validity checks.
        Err(webpki::Error::CertExpired { .. }) | Err(webpki::Error::CertNotValidYet { .. }) => {}
        Err(e) => problems.push(format!(
            "{}: server certificate does not chain to the CA in {}: {e}",
            paths.server_cert.display(),
            paths.ca_cert.display()
        )),
    }
}

/// `now`, moved inside the leaf's validity period when it lies outside.
fn verification_time(leaf: &CertificateDer<'_>, now: OffsetDateTime) -> UnixTime {
    let t = match x509::summarize_cert(leaf) {
        Ok(s) => now.clamp(s.not_before, s.not_after),
        Err(_) => now,
    };
    let secs = u64::try_from(t.unix_timestamp()).unwrap_or(0);
    UnixTime::since_unix_epoch(std::time::Duration::from_secs(secs))
}

/// CRL readability, freshness, and whether a CA of the bundle issued it.
fn check_crls(
    path: &Path,
    crls: &[CertificateRevocationListDer<'_>],
    ca: &[CertificateDer<'_>],
    now: OffsetDateTime,
    problems: &mut Vec<String>,
) {
    let p = path.display();
    let ca_subjects: Vec<String> = ca
        .iter()
        .filter_map(|c| x509::summarize_cert(c).ok())
        .map(|s| s.subject)
        .collect();
    for (i, crl) in crls.iter().enumerate() {
        if let Err(e) = webpki::OwnedCertRevocationList::from_der(crl) {
            problems.push(format!("{p}: CRL {i} is not a usable CRL: {e}"));
            continue;
        }
        let s = match x509::summarize_crl(crl) {
            Ok(s) => s,
            Err(e) => {
                problems.push(format!("{p}: CRL {i} cannot be read: {e}"));
                continue;
            }
        };
        if let Some(next) = s.next_update.filter(|&n| n < now) {
            problems.push(format!(
                "warning: {p}: CRL {i} ({}) is overdue: next update was due at {}",
                s.issuer,
                rfc3339(next)
            ));
        }
        if s.this_update > now {
            problems.push(format!(
                "warning: {p}: CRL {i} ({}) is issued in the future, at {}",
                s.issuer,
                rfc3339(s.this_update)
            ));
        }
        if !ca_subjects.is_empty() && !ca_subjects.contains(&s.issuer) {
            problems.push(format!(
                "warning: {p}: CRL {i} is issued by {}, which is not a CA of the bundle; it will never apply",
                s.issuer
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testpki::*;
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn check_files_accepts_a_good_set() {
        let pki = Pki::new();
        let problems = check_files(&pki.paths(), OffsetDateTime::now_utc());
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn check_files_reports_expiry() {
        let pki = Pki::new();
        let paths = pki.paths();
        pki.write_server(&pki.server(in_days(10)));
        let problems = check_files(&paths, OffsetDateTime::now_utc());
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with("warning:") && problems[0].contains("expires in"));

        let later = in_days(20);
        let problems = check_files(&paths, later);
        assert!(
            problems
                .iter()
                .any(|p| !p.starts_with("warning:") && p.contains("expired at")),
            "{problems:?}"
        );
        // The CRL is overdue by then too, which is only a warning.
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("warning:") && p.contains("overdue")),
            "{problems:?}"
        );
        let problems = check_files(&paths, OffsetDateTime::now_utc() - TimeDuration::days(2));
        assert!(
            problems.iter().any(|p| p.contains("not valid before")),
            "{problems:?}"
        );
    }

    #[test]
    fn check_files_reports_expired_ca() {
        let pki = Pki::new();
        let problems = check_files(&pki.paths(), in_days(4000));
        assert!(
            problems.iter().any(|p| p.contains("ca.pem")
                && p.contains("CA certificate")
                && p.contains("expired")),
            "{problems:?}"
        );
    }

    #[test]
    fn check_files_reports_wrong_ca_and_foreign_crl() {
        let pki = Pki::new();
        let paths = pki.paths();
        let (other_pem, other) = ca("Other CA", in_days(100));
        pki.write("ca.pem", &other_pem);
        let problems = check_files(&paths, OffsetDateTime::now_utc());
        assert!(
            problems
                .iter()
                .any(|p| p.contains("does not chain to the CA")),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("warning:") && p.contains("not a CA of the bundle")),
            "{problems:?}"
        );
        // Even an expired leaf is checked against the right CA.
        let expired = leaf(
            &other,
            "old",
            2,
            ExtendedKeyUsagePurpose::ServerAuth,
            OffsetDateTime::now_utc() - TimeDuration::hours(1),
        );
        pki.write_server(&expired);
        let problems = check_files(&paths, OffsetDateTime::now_utc());
        assert!(
            !problems.iter().any(|p| p.contains("does not chain")),
            "{problems:?}"
        );
        assert!(
            problems.iter().any(|p| p.contains("expired at")),
            "{problems:?}"
        );
    }

    #[test]
    fn check_files_reports_every_problem_at_once() {
        let pki = Pki::new();
        let mut paths = pki.paths();
        paths.ca_cert = pki.dir.join("missing-ca.pem");
        pki.write("server.key", "not a key");
        std::fs::set_permissions(&paths.server_key, std::fs::Permissions::from_mode(0o644))
            .unwrap();
        pki.write(
            "crl.pem",
            "-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n",
        );
        let problems = check_files(&paths, OffsetDateTime::now_utc());
        let has = |needle: &str| problems.iter().any(|p| p.contains(needle));
        assert!(has("missing-ca.pem"), "{problems:?}");
        assert!(has("server.key: no private key"), "{problems:?}");
        assert!(has("crl.pem: CRL 0"), "{problems:?}");
        assert!(has("warning: ") && has("mode 0644"), "{problems:?}");
        assert_eq!(problems.len(), 4, "{problems:?}");
    }

    #[test]
    fn check_files_warns_about_readable_key() {
        let pki = Pki::new();
        let paths = pki.paths();
        std::fs::set_permissions(&paths.server_key, std::fs::Permissions::from_mode(0o644))
            .unwrap();
        let problems = check_files(&paths, OffsetDateTime::now_utc());
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with("warning:") && problems[0].contains("0644"));
    }
}
