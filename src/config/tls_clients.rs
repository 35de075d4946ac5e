//! `tls.allowed_clients`: which certificates of the CA may act as the manager.

use serde::de::{Deserializer, Error};
use serde::Deserialize;

use super::fields::string;
use super::Report;
use crate::http::tls::AllowedClient;

/// Most entries `tls.allowed_clients` may hold (a handful of managers in practice).
const MAX_ALLOWED_CLIENTS: usize = 256;

/// One `tls.allowed_clients` item: `subject`, `spki_sha256`, at least one of them; every one
/// given must match.
#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct AllowedClientEntry {
    /// `subject`: the subject as the agent renders it (`CN=patch-manager,O=Example`),
    /// non-empty.
    #[serde(deserialize_with = "subject")]
    subject: Option<String>,
    /// `spki_sha256`: SHA-256 of the public key (64 hex digits, colons allowed), kept as
    /// lower-case hex.
    #[serde(deserialize_with = "spki")]
    spki_sha256: Option<String>,
}

impl From<AllowedClientEntry> for AllowedClient {
    fn from(e: AllowedClientEntry) -> Self {
        AllowedClient {
            subject: e.subject,
            spki_sha256: e.spki_sha256,
        }
    }
}

/// A non-empty subject.
fn subject<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let text = string(d)?;
    if text.is_empty() {
        return Err(D::Error::custom("must not be empty"));
    }
    Ok(Some(text))
}

/// A SHA-256 fingerprint, normalised to lower-case hex without colons.
fn spki<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let text = string(d)?;
    let bytes = crate::x509::parse_sha256_fingerprint(&text).map_err(D::Error::custom)?;
    Ok(Some(bytes.iter().map(|b| format!("{b:02x}")).collect()))
}

/// The list bound, and that each entry names something (an entry whose keys were all wrong
/// is already reported, and not again).
pub(super) fn validate(clients: &[AllowedClient], key: &str, report: &mut Report) {
    if clients.len() > MAX_ALLOWED_CLIENTS {
        report.push(key, format!("at most {MAX_ALLOWED_CLIENTS} entries"));
        return;
    }
    for (i, client) in clients.iter().enumerate() {
        let item = report.item_key(key, i);
        let named_wrong = report.failed(&format!("{item}.subject"))
            || report.failed(&format!("{item}.spki_sha256"));
        if client.subject.is_none() && client.spki_sha256.is_none() && !named_wrong {
            report.push(&item, "name a subject, an spki_sha256 or both");
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    fn parse(text: &str) -> Result<Config, Vec<String>> {
        Config::from_yaml_str(text, std::path::Path::new("/base"))
            .map_err(|errors| errors.iter().map(|e| e.to_string()).collect())
    }

    #[test]
    fn defaults_require_the_eku_and_allow_any_client() {
        let c = parse("tls: {}\n").unwrap();
        assert!(c.tls.client_policy.require_client_auth_eku);
        assert!(c.tls.client_policy.allowed_clients.is_empty());
    }

    #[test]
    fn entries_are_read_and_fingerprints_normalised() {
        let pin = "AB:".repeat(31) + "AB";
        let c = parse(&format!(
            "tls:\n  require_client_auth_eku: false\n  allowed_clients:\n    - subject: CN=pm\n    - spki_sha256: \"{pin}\"\n"
        ))
        .unwrap();
        let p = &c.tls.client_policy;
        assert!(!p.require_client_auth_eku);
        assert_eq!(p.allowed_clients[0].subject.as_deref(), Some("CN=pm"));
        assert_eq!(p.allowed_clients[0].spki_sha256, None);
        assert_eq!(
            p.allowed_clients[1].spki_sha256.as_deref(),
            Some("ab".repeat(32).as_str())
        );
    }

    #[test]
    fn bad_entries_are_named() {
        let errors =
            parse("tls:\n  allowed_clients:\n    - {}\n    - spki_sha256: nope\n    - other: x\n")
                .unwrap_err();
        let all = errors.join("\n");
        assert!(all.contains("tls.allowed_clients[0]"), "{all}");
        assert!(all.contains("tls.allowed_clients[1].spki_sha256"), "{all}");
        assert!(all.contains("tls.allowed_clients[2].other"), "{all}");
        let errors = parse("tls:\n  allowed_clients: yes\n").unwrap_err();
        assert!(errors[0].contains("expected a list"), "{errors:?}");
    }

    #[test]
    fn an_empty_subject_and_too_many_entries_are_refused() {
        let errors = parse("tls:\n  allowed_clients:\n    - subject: ''\n").unwrap_err();
        assert_eq!(
            errors,
            ["tls.allowed_clients[0].subject: must not be empty"]
        );
        let many = "    - subject: CN=x\n".repeat(257);
        let errors = parse(&format!("tls:\n  allowed_clients:\n{many}")).unwrap_err();
        assert_eq!(errors, ["tls.allowed_clients: at most 256 entries"]);
    }
}
