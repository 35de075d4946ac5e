//! The enrollment state directory: what lets a restarted `--enroll` resume instead of
//! registering again, and what it must never lose (the bundle is handed out once).
//!
//! Files (all written atomically, 0600, in a 0700 directory):
//! - `token`: the polling token, written right after the 202.
//! - `bundle.json`: the approved status body, written and fsynced on receipt.
//! - `bundle.rejected.json`: a bundle that failed validation (kept for the administrator).
//! - `enrolled.json`: the record of a completed enrollment.

use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::fsutil::{read_state_file, write_atomic, PRIVATE_MODE};

/// Mode of the state directory: only the agent may list it.
pub const DIR_MODE: u32 = 0o700;
/// The polling token.
pub const TOKEN_FILE: &str = "token";
/// The approved bundle awaiting provisioning.
pub const BUNDLE_FILE: &str = "bundle.json";
/// A bundle that failed validation.
pub const REJECTED_FILE: &str = "bundle.rejected.json";
/// The record of a completed enrollment.
pub const ENROLLED_FILE: &str = "enrolled.json";
/// The address the approved bundle came from, kept with the bundle for offline provisioning.
pub const MANAGER_ADDR_FILE: &str = "manager_addr";

/// The largest state file read: a bundle (certificates and a key) is a few KiB; anything
/// near this was not written by the agent. Such a file is refused, never moved: the bundle
/// is handed out once and stays for the administrator to look at.
const STATE_FILE_CAP: u64 = 1024 * 1024;

/// What `enrolled.json` records about a completed enrollment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolledRecord {
    /// The manager's base URL.
    pub manager_url: String,
    /// The manager's address added to the whitelist.
    pub manager_ip: String,
    /// When provisioning completed (RFC 3339).
    pub time: String,
    /// SHA-256 of the provisioned server certificate (lowercase hex).
    pub server_cert_sha256: String,
    /// How the manager's certificate was checked: `ca`, `fingerprint` or `unverified`
    /// (absent in records written before it was kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manager_trust: Option<String>,
}

/// An I/O failure on one state file.
#[derive(Debug)]
pub struct StateError {
    /// The file or directory concerned.
    pub path: PathBuf,
    /// What went wrong.
    pub message: String,
}

impl std::fmt::Display for StateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

impl std::error::Error for StateError {}

fn err(path: &Path, e: impl std::fmt::Display) -> StateError {
    StateError {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// The state directory, created 0700 on open.
#[derive(Clone, Debug)]
pub struct StateDir {
    dir: PathBuf,
}

impl StateDir {
    /// Creates the directory (and parents) if needed and makes it 0700: it holds a secret.
    pub fn open(dir: &Path) -> Result<StateDir, StateError> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(dir)
            .map_err(|e| err(dir, e))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(DIR_MODE))
            .map_err(|e| err(dir, e))?;
        Ok(StateDir {
            dir: dir.to_path_buf(),
        })
    }

    /// The path of one state file.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Saves the polling token.
    pub fn save_token(&self, token: &str) -> Result<(), StateError> {
        self.write(TOKEN_FILE, token.as_bytes())
    }

    /// The saved token; `Ok(None)` when none is saved. A file that does not hold a valid
    /// token is an error (the message never repeats the content).
    pub fn load_token(&self) -> Result<Option<String>, StateError> {
        let path = self.path(TOKEN_FILE);
        let Some(bytes) = read_optional(&path)? else {
            return Ok(None);
        };
        let text = String::from_utf8_lossy(&bytes);
        let token = text.trim();
        if !super::client::is_valid_token(token) {
            return Err(err(&path, "does not hold a valid polling token"));
        }
        Ok(Some(token.to_string()))
    }

    /// Removes the token (the enrollment ended or must start afresh).
    pub fn remove_token(&self) -> Result<(), StateError> {
        self.remove(TOKEN_FILE)
    }

    /// Saves the approved status body exactly as received, durably.
    pub fn save_bundle(&self, raw: &[u8]) -> Result<(), StateError> {
        self.write(BUNDLE_FILE, raw)
    }

    /// The saved bundle body, if any.
    pub fn load_bundle(&self) -> Result<Option<Vec<u8>>, StateError> {
        read_optional(&self.path(BUNDLE_FILE))
    }

    /// Removes the bundle (provisioned: the key now lives only in `tls.server_key`) and the
    /// address it came from.
    pub fn remove_bundle(&self) -> Result<(), StateError> {
        self.remove(BUNDLE_FILE)?;
        self.remove(MANAGER_ADDR_FILE)
    }

    /// Records the address the approved bundle came from (saved before the bundle).
    pub fn save_manager_addr(&self, ip: std::net::IpAddr) -> Result<(), StateError> {
        self.write(MANAGER_ADDR_FILE, ip.to_string().as_bytes())
    }

    /// The recorded address, if any and readable (anything else counts as none).
    pub fn load_manager_addr(&self) -> Option<std::net::IpAddr> {
        let bytes = read_optional(&self.path(MANAGER_ADDR_FILE)).ok()??;
        std::str::from_utf8(&bytes).ok()?.trim().parse().ok()
    }

    /// Moves the bundle aside as `bundle.rejected.json` (replacing an older one).
    pub fn reject_bundle(&self) -> Result<(), StateError> {
        let from = self.path(BUNDLE_FILE);
        let to = self.path(REJECTED_FILE);
        match std::fs::rename(&from, &to) {
            Ok(()) => sync_dir(&self.dir),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(err(&from, e)),
        }
    }

    /// Records a completed enrollment.
    pub fn save_enrolled(&self, record: &EnrolledRecord) -> Result<(), StateError> {
        let path = self.path(ENROLLED_FILE);
        let mut json = serde_json::to_vec_pretty(record).map_err(|e| err(&path, e))?;
        json.push(b'\n');
        self.write(ENROLLED_FILE, &json)
    }

    /// The record of a completed enrollment; an unreadable record counts as none (logged).
    pub fn load_enrolled(&self) -> Result<Option<EnrolledRecord>, StateError> {
        let path = self.path(ENROLLED_FILE);
        let Some(bytes) = read_optional(&path)? else {
            return Ok(None);
        };
        match serde_json::from_slice(crate::fsutil::strip_bom(&bytes)) {
            Ok(record) => Ok(Some(record)),
            Err(e) => {
                log::warn!("{}: ignored, not a valid record: {e}", path.display());
                Ok(None)
            }
        }
    }

    fn write(&self, name: &str, bytes: &[u8]) -> Result<(), StateError> {
        let path = self.path(name);
        write_atomic(&path, bytes, PRIVATE_MODE).map_err(|e| err(&path, e))
    }

    fn remove(&self, name: &str) -> Result<(), StateError> {
        let path = self.path(name);
        match std::fs::remove_file(&path) {
            Ok(()) => sync_dir(&self.dir),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(err(&path, e)),
        }
    }
}

/// A state file's bytes; `None` when absent. A symlink, FIFO, device or oversized file is
/// an error naming the file (a plain read would follow it, block, or fill memory).
fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, StateError> {
    match read_state_file(path, STATE_FILE_CAP) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(err(path, e)),
    }
}

/// Makes a rename or removal durable.
fn sync_dir(dir: &Path) -> Result<(), StateError> {
    std::fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| err(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir() -> PathBuf {
        std::env::temp_dir().join(format!("lpa-state-{}", uuid::Uuid::new_v4()))
    }

    fn mode_of(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn open_creates_a_private_directory_and_tightens_an_existing_one() {
        let root = temp_dir();
        let dir = root.join("a/enroll");
        StateDir::open(&dir).unwrap();
        assert_eq!(mode_of(&dir), 0o700);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        StateDir::open(&dir).unwrap();
        assert_eq!(mode_of(&dir), 0o700);
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn the_token_round_trips_privately_and_is_removed() {
        let dir = temp_dir();
        let state = StateDir::open(&dir).unwrap();
        assert_eq!(state.load_token().unwrap(), None);
        let token = "aB3dE6gH9jK2mN5pQ8rS1tU4vW7xY0zA".repeat(2);
        state.save_token(&token).unwrap();
        assert_eq!(mode_of(&state.path(TOKEN_FILE)), 0o600);
        assert_eq!(state.load_token().unwrap().as_deref(), Some(token.as_str()));
        state.remove_token().unwrap();
        assert_eq!(state.load_token().unwrap(), None);
        state.remove_token().unwrap();
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_corrupt_token_is_an_error_that_does_not_repeat_it() {
        let dir = temp_dir();
        let state = StateDir::open(&dir).unwrap();
        std::fs::write(state.path(TOKEN_FILE), "secret/with/slashes").unwrap();
        let e = state.load_token().unwrap_err().to_string();
        assert!(!e.contains("secret"), "{e}");
        assert!(e.contains("valid polling token"), "{e}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_bundle_is_saved_privately_and_can_be_rejected() {
        let dir = temp_dir();
        let state = StateDir::open(&dir).unwrap();
        assert_eq!(state.load_bundle().unwrap(), None);
        state.save_bundle(b"{\"status\":\"approved\"}").unwrap();
        assert_eq!(mode_of(&state.path(BUNDLE_FILE)), 0o600);
        assert_eq!(
            state.load_bundle().unwrap().unwrap(),
            b"{\"status\":\"approved\"}"
        );
        state.reject_bundle().unwrap();
        assert_eq!(state.load_bundle().unwrap(), None);
        assert_eq!(mode_of(&state.path(REJECTED_FILE)), 0o600);
        state.reject_bundle().unwrap();
        state.save_bundle(b"x").unwrap();
        state.remove_bundle().unwrap();
        assert!(!state.path(BUNDLE_FILE).exists());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_enrolled_record_round_trips_and_garbage_counts_as_none() {
        let dir = temp_dir();
        let state = StateDir::open(&dir).unwrap();
        assert_eq!(state.load_enrolled().unwrap(), None);
        let record = EnrolledRecord {
            manager_url: "https://m.example:8443".into(),
            manager_ip: "192.0.2.1".into(),
            time: "2025-01-01T00:00:00Z".into(),
            server_cert_sha256: "ab".repeat(32),
            manager_trust: Some("unverified".into()),
        };
        state.save_enrolled(&record).unwrap();
        let text = std::fs::read_to_string(state.path(ENROLLED_FILE)).unwrap();
        assert!(text.contains(r#""manager_trust": "unverified""#), "{text}");
        assert_eq!(mode_of(&state.path(ENROLLED_FILE)), 0o600);
        assert_eq!(state.load_enrolled().unwrap(), Some(record));
        assert_eq!(state.load_manager_addr(), None);
        state
            .save_manager_addr("192.0.2.7".parse().unwrap())
            .unwrap();
        assert_eq!(
            state.load_manager_addr(),
            Some("192.0.2.7".parse().unwrap())
        );
        state.remove_bundle().unwrap();
        assert_eq!(state.load_manager_addr(), None, "removed with the bundle");
        // A record written before `manager_trust` existed still loads.
        let old =
            r#"{"manager_url":"u","manager_ip":"192.0.2.1","time":"t","server_cert_sha256":"x"}"#;
        std::fs::write(state.path(ENROLLED_FILE), old).unwrap();
        assert_eq!(state.load_enrolled().unwrap().unwrap().manager_trust, None);
        std::fs::write(state.path(ENROLLED_FILE), "not json").unwrap();
        assert_eq!(state.load_enrolled().unwrap(), None);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_fifo_or_symlink_in_place_of_state_is_an_error_naming_it_not_a_hang() {
        let dir = temp_dir();
        let state = StateDir::open(&dir).unwrap();
        let bundle = state.path(BUNDLE_FILE);
        let c = std::ffi::CString::new(bundle.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = state.load_bundle().unwrap_err().to_string();
        assert!(e.contains("bundle.json") && e.contains("FIFO"), "{e}");
        std::os::unix::fs::symlink("/dev/zero", state.path(TOKEN_FILE)).unwrap();
        let e = state.load_token().unwrap_err().to_string();
        assert!(e.contains("token") && e.contains("symlink"), "{e}");
        let mut bom = b"\xEF\xBB\xBF".to_vec();
        bom.extend(br#"{"manager_url":"u","manager_ip":"i","time":"t","server_cert_sha256":"s"}"#);
        std::fs::write(state.path(ENROLLED_FILE), bom).unwrap();
        assert!(state.load_enrolled().unwrap().is_some());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
