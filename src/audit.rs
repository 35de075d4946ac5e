//! The append-only audit log: one JSON line per state-changing request.
//!
//! Each line is written with a single `write` on a file opened with `O_APPEND`, so lines from
//! concurrent requests never interleave and nothing already written is ever rewritten.
//! SIGHUP reopens the file ([`AuditLog::reopen`]), so rotation by rename (logrotate, then
//! `systemctl reload`) moves writing to the new file. One client adds at most
//! `audit.max_lines_per_client_per_minute` lines ([`limit`]); what it sends past that is
//! counted and reported in one `suppressed` line when it is audited again.

mod limit;

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use limit::{Limiter, Verdict};

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
    /// A patch apply's policy, as its `202` echoes it.
    pub policy: Option<serde_json::Value>,
}

/// The audit log file (or a disabled sink when none is configured).
pub struct AuditLog {
    path: Option<PathBuf>,
    state: Mutex<State>,
}

/// The open file and the per-client budget, changed together under one lock.
struct State {
    file: Option<File>,
    limiter: Limiter,
}

impl AuditLog {
    /// Opens (creating, mode 0600) the audit file for appending, creating its directory.
    pub fn open(path: &Path) -> std::io::Result<AuditLog> {
        let file = open_file(path)?;
        Ok(AuditLog {
            path: Some(path.to_path_buf()),
            state: Mutex::new(State {
                file: Some(file),
                limiter: Limiter::new(crate::config::DEFAULT_MAX_LINES_PER_CLIENT_PER_MINUTE),
            }),
        })
    }

    /// A sink that records nothing (tests, or when the log cannot be opened and that was logged).
    pub fn disabled() -> AuditLog {
        AuditLog {
            path: None,
            state: Mutex::new(State {
                file: None,
                limiter: Limiter::new(crate::config::DEFAULT_MAX_LINES_PER_CLIENT_PER_MINUTE),
            }),
        }
    }

    /// The file being written, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Sets `audit.max_lines_per_client_per_minute` (at start and on every reload).
    pub fn set_max_lines_per_client_per_minute(&self, per_minute: u64) {
        self.lock().limiter.set_per_minute(per_minute);
    }

    /// Reopens the file by its path (SIGHUP, after rotation by rename): the lines that
    /// follow go to the file now at the path. On failure the old file is kept.
    pub fn reopen(&self) -> std::io::Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let file = open_file(path)?;
        self.lock().file = Some(file);
        Ok(())
    }

    /// Appends one entry, unless its client is over its budget; a write failure is
    /// logged, never fatal to the request.
    pub fn record(&self, entry: &AuditEntry<'_>) {
        self.record_at(entry, Instant::now());
    }

    fn record_at(&self, entry: &AuditEntry<'_>, now: Instant) {
        let client = client_key(entry);
        let mut state = self.lock();
        let per_minute = state.limiter.per_minute();
        let mut text = String::new();
        match state.limiter.check(&client, now) {
            Verdict::Suppress { first } => {
                if first {
                    log::warn!(
                        "audit: client {} is over {per_minute} lines per minute; its next lines \
                         are counted, not written",
                        client.escape_debug()
                    );
                }
                return;
            }
            Verdict::Write { suppressed } => {
                if suppressed > 0 {
                    text = render_suppressed(entry, suppressed, per_minute);
                    text.push('\n');
                }
            }
        }
        text.push_str(&render(entry));
        text.push('\n');
        if let Some(file) = state.file.as_mut() {
            if let Err(e) = file.write_all(text.as_bytes()) {
                log::error!("audit log write failed for {}: {e}", entry.request_id);
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere cannot leave the state half-changed: every change is one
        // assignment or a whole write.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Opens `path` for appending (creating it mode 0600, and its directory).
fn open_file(path: &Path) -> std::io::Result<File> {
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir)?;
        }
    }
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
}

/// Whose budget a line counts against: the client certificate, else the address.
fn client_key(entry: &AuditEntry<'_>) -> String {
    match entry.client_fingerprint {
        Some(fp) => format!("sha256:{fp}"),
        None => format!("ip:{}", entry.peer_ip),
    }
}

/// The summary written before a client's first line after a run of left-out ones.
fn render_suppressed(entry: &AuditEntry<'_>, suppressed: u64, per_minute: u64) -> String {
    let json = serde_json::json!({
        "time": crate::timefmt::now_rfc3339(),
        "event": "suppressed",
        "suppressed_lines": suppressed,
        "max_lines_per_client_per_minute": per_minute,
        "client_subject": entry.client_subject,
        "client_fingerprint_sha256": entry.client_fingerprint,
        "peer_ip": entry.peer_ip.to_string(),
    })
    .to_string();
    escape_display_controls(json)
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
        "policy": entry.policy,
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
            policy: None,
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
    fn reopen_follows_a_rename_and_a_flood_is_capped_with_one_summary() {
        let dir = std::env::temp_dir().join(format!("lpa-audit-{}", uuid::Uuid::new_v4()));
        let path = dir.join("audit.log");
        let log = AuditLog::open(&path).unwrap();
        log.set_max_lines_per_client_per_minute(3);
        let t0 = Instant::now();
        log.record_at(&entry("before"), t0);
        std::fs::rename(&path, dir.join("audit.log.1")).unwrap();
        log.reopen().unwrap();
        for i in 0..50 {
            log.record_at(&entry(&format!("flood-{i}")), t0);
        }
        let mut other = entry("other-client");
        other.client_fingerprint = Some("cd");
        log.record_at(&other, t0);
        let old = std::fs::read_to_string(dir.join("audit.log.1")).unwrap();
        assert_eq!(old.lines().count(), 1, "{old}");
        let new = std::fs::read_to_string(&path).unwrap();
        let ids: Vec<String> = new
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .map(|v| v["request_id"].as_str().unwrap_or("").to_string())
            .collect();
        // 2 tokens were left after "before"; the other client has its own budget.
        assert_eq!(ids, ["flood-0", "flood-1", "other-client"], "{new}");
        // The count comes in one line before the client's next written one.
        log.record_at(&entry("resumed"), t0 + std::time::Duration::from_secs(60));
        let new = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = new
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 5, "{new}");
        assert_eq!(lines[3]["event"], "suppressed");
        assert_eq!(lines[3]["suppressed_lines"], 48);
        assert_eq!(lines[3]["max_lines_per_client_per_minute"], 3);
        assert_eq!(lines[3]["client_fingerprint_sha256"], "ab");
        assert_eq!(lines[4]["request_id"], "resumed");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn disabled_sink_writes_nothing() {
        let log = AuditLog::disabled();
        log.record(&entry("x"));
        assert!(log.path().is_none());
    }
}
