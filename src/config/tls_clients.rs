//! `tls.require_client_auth_eku` and `tls.allowed_clients`: which certificates of the CA may
//! act as the manager.

use serde_yaml_ng::Value;

use super::{describe, Section, Walker};
use crate::http::tls::{AllowedClient, ClientPolicy};

/// Keys allowed in one `tls.allowed_clients` item.
const CLIENT_KEYS: &[&str] = &["subject", "spki_sha256"];

/// Most entries `tls.allowed_clients` may hold (a handful of managers in practice).
const MAX_ALLOWED_CLIENTS: usize = 256;

impl Walker<'_> {
    /// `tls.require_client_auth_eku` (default true) and `tls.allowed_clients` (default any).
    pub(super) fn client_policy(&mut self, s: &Section) -> ClientPolicy {
        ClientPolicy {
            require_client_auth_eku: self.boolean(s, "require_client_auth_eku", true),
            allowed_clients: self.allowed_clients(s),
        }
    }

    fn allowed_clients(&mut self, s: &Section) -> Vec<AllowedClient> {
        let key = s.key("allowed_clients");
        let items = match s.get("allowed_clients") {
            None | Some(Value::Null) => return Vec::new(),
            Some(Value::Sequence(items)) => items,
            Some(other) => {
                self.error(&key, format!("expected a list, got {}", describe(other)));
                return Vec::new();
            }
        };
        if items.len() > MAX_ALLOWED_CLIENTS {
            self.error(&key, format!("at most {MAX_ALLOWED_CLIENTS} entries"));
            return Vec::new();
        }
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            if let Some(entry) = self.allowed_client(item, &format!("{key}[{i}]")) {
                out.push(entry);
            }
        }
        out
    }

    /// One `tls.allowed_clients[i]`: `subject`, `spki_sha256`, at least one of them.
    fn allowed_client(&mut self, item: &Value, key: &str) -> Option<AllowedClient> {
        let s = self.section(Some(item), key, CLIENT_KEYS);
        s.map?;
        let subject = self.string(&s, "subject").map(str::to_string);
        if subject.as_deref() == Some("") {
            self.error(&s.key("subject"), "must not be empty");
            return None;
        }
        let spki_sha256 = match self.string(&s, "spki_sha256") {
            Some(text) => match crate::x509::parse_sha256_fingerprint(text) {
                Ok(bytes) => Some(bytes.iter().map(|b| format!("{b:02x}")).collect()),
                Err(m) => {
                    self.error(&s.key("spki_sha256"), m);
                    return None;
                }
            },
            None => None,
        };
        if subject.is_none() && spki_sha256.is_none() {
            self.error(key, "name a subject, an spki_sha256 or both");
            return None;
        }
        Some(AllowedClient {
            subject,
            spki_sha256,
        })
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
}
