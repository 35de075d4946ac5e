//! The append-only audit log: one JSON line per state-changing request.
//!
//! Each line is written with a single `write` on a file opened with `O_APPEND`, so lines from
//! concurrent requests never interleave and nothing already written is ever rewritten.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// One audited request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry<'a> {
    /// The request's `request_id` (also in the response envelope).
    pub request_id: &'a str,
    /// Client certificate subject, when the connection presented one.
    pub client_subject: Option<&'a str>,
    /// Client certificate SHA-256 fingerprint, lowercase hex.
    pub client_fingerprint: Option<&'a str>,
    /// TCP peer address.
    pub peer_ip: IpAddr,
    /// HTTP method.
    pub method: &'a str,
    /// Request path as sent (without query).
    pub path: &'a str,
    /// HTTP status answered.
    pub status: u16,
    /// `ok`, or the envelope error code.
    pub outcome: &'a str,
    /// The requester's stated reason (a reboot's `reason`), when given.
    pub reason: Option<&'a str>,
}

/// The audit log file (or a disabled sink when none is configured).
pub struct AuditLog {
    path: Option<PathBuf>,
    file: Mutex<Option<File>>,
}

impl AuditLog {
    /// Opens (creating, mode 0600) the audit file for appending, creating its directory.
    pub fn open(path: &Path) -> std::io::Result<AuditLog> {
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir)?;
            }
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)?;
        Ok(AuditLog {
            path: Some(path.to_path_buf()),
            file: Mutex::new(Some(file)),
        })
    }

    /// A sink that records nothing (tests, or when the log cannot be opened and that was logged).
    pub fn disabled() -> AuditLog {
        AuditLog {
            path: None,
            file: Mutex::new(None),
        }
    }

    /// The file being written, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Appends one entry; a write failure is logged, never fatal to the request.
    pub fn record(&self, entry: &AuditEntry<'_>) {
        let mut line = render(entry);
        line.push('\n');
        let Ok(mut guard) = self.file.lock() else {
            log::error!("audit log lock poisoned; entry {} lost", entry.request_id);
            return;
        };
        if let Some(file) = guard.as_mut() {
            if let Err(e) = file.write_all(line.as_bytes()) {
                log::error!("audit log write failed for {}: {e}", entry.request_id);
            }
        }
    }
}

/// Renders one entry as a JSON object (without the trailing newline).
///
/// Control characters in any field (a client certificate subject, a path, a reason) come out
/// as JSON escapes, so one entry is always exactly one line.
pub fn render(entry: &AuditEntry<'_>) -> String {
    let json = serde_json::json!({
        "time": crate::timefmt::now_rfc3339(),
        "request_id": entry.request_id,
        "client_subject": entry.client_subject,
        "client_fingerprint_sha256": entry.client_fingerprint,
        "peer_ip": entry.peer_ip.to_string(),
        "method": entry.method,
        "path": entry.path,
        "status": entry.status,
        "outcome": entry.outcome,
        "reason": entry.reason,
    })
    .to_string();
    escape_display_controls(json)
}

/// Escapes what JSON allows raw but terminals and viewers act on: DEL and the C1 controls
/// (0x9B starts an escape sequence on some terminals, U+0085 is a line break) and U+2028 /
/// U+2029 (shown as line breaks by editors and some log viewers). serde_json already escapes
/// the C0 controls. Outside strings JSON text is plain ASCII, so every replacement is inside
/// a string and the line stays valid JSON.
fn escape_display_controls(json: String) -> String {
    if !json.chars().any(needs_escape) {
        return json;
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if needs_escape(c) {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// Whether `c` is written as a `\uXXXX` escape by [`escape_display_controls`].
fn needs_escape(c: char) -> bool {
    matches!(c, '\u{7f}'..='\u{9f}' | '\u{2028}' | '\u{2029}')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str) -> AuditEntry<'_> {
        AuditEntry {
            request_id: id,
            client_subject: Some("CN=admin"),
            client_fingerprint: Some("ab"),
            peer_ip: "127.0.0.1".parse().unwrap(),
            method: "POST",
            path: "/api/v1/packages",
            status: 403,
            outcome: "API_READ_ONLY",
            reason: Some("maintenance \"window\""),
        }
    }

    #[test]
    fn appends_json_lines_with_mode_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("lpa-audit-{}", uuid::Uuid::new_v4()));
        let path = dir.join("sub/audit.log");
        let log = AuditLog::open(&path).unwrap();
        log.record(&entry("one"));
        log.record(&entry("two"));
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["request_id"], "one");
        assert_eq!(lines[1]["outcome"], "API_READ_ONLY");
        assert_eq!(lines[1]["peer_ip"], "127.0.0.1");
        assert_eq!(lines[1]["reason"], "maintenance \"window\"");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn control_characters_and_line_separators_stay_on_one_line() {
        let mut e = entry("one");
        let subject = "CN=a\nb\r\u{1b}[31m\u{2028}c\u{2029}\u{85}";
        e.client_subject = Some(subject);
        let line = render(&e);
        assert!(!line.contains(['\n', '\r', '\u{1b}', '\u{2028}', '\u{2029}', '\u{85}']));
        assert!(
            line.contains(r"a\nb\r\u001b[31m\u2028c\u2029\u0085"),
            "{line}"
        );
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["client_subject"], subject);
    }

    #[test]
    fn disabled_sink_writes_nothing() {
        let log = AuditLog::disabled();
        log.record(&entry("x"));
        assert!(log.path().is_none());
    }
}
