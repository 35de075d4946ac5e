//! The freshness record of a downloaded feed: the validators the server gave (ETag,
//! Last-Modified) for the next conditional request, and when the feed was last checked.
//!
//! Kept beside the feed as `<feed>.fetch.json`. A 304 answer only updates `checked_at`: the
//! feed file itself is not touched, so its parsed copy stays cached.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

/// What is remembered of the last download of one feed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Freshness {
    /// The `ETag` of the stored body, sent back as `If-None-Match`.
    pub etag: Option<String>,
    /// The `Last-Modified` of the stored body, sent back as `If-Modified-Since`.
    pub last_modified: Option<String>,
    /// When the server was last asked with success (200 or 304), seconds since the epoch.
    pub checked_at: u64,
}

/// Where the record of the feed at `feed` is kept.
pub fn record_path(feed: &Path) -> PathBuf {
    let mut name = feed.file_name().unwrap_or_default().to_os_string();
    name.push(".fetch.json");
    feed.with_file_name(name)
}

/// The largest fetch record read (it holds two short headers and a time).
const RECORD_CAP: u64 = 64 * 1024;

/// The saved record; `None` when there is none or it is unreadable (the next request is
/// then unconditional, which is only slower).
pub fn load(feed: &Path) -> Option<Freshness> {
    let path = record_path(feed);
    // A few hundred bytes when the agent wrote it; a FIFO or symlink here must not block
    // or exhaust the refresh, it only makes the next request unconditional.
    let bytes = match crate::fsutil::read_state_file(&path, RECORD_CAP) {
        Ok(b) => b,
        Err(e) if e.is_not_found() => return None,
        Err(e) => {
            log::warn!("{}: ignored: {e}", path.display());
            return None;
        }
    };
    serde_json::from_slice(crate::fsutil::strip_bom(&bytes)).ok()
}

/// Saves the record atomically (0644, like the feed).
pub fn save(feed: &Path, record: &Freshness) -> std::io::Result<()> {
    let bytes = serde_json::to_vec(record).map_err(std::io::Error::other)?;
    crate::fsutil::write_atomic(&record_path(feed), &bytes, FEED_MODE)
}

/// Seconds since the epoch now.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// How long ago the feed was last known current: the later of its last successful check and
/// its file's modification; `None` when the file does not exist.
pub fn age(feed: &Path) -> Option<Duration> {
    let file_age = feed_age(feed)?;
    let checked = load(feed).map(|r| Duration::from_secs(now_secs().saturating_sub(r.checked_at)));
    Some(match checked {
        Some(c) => c.min(file_age),
        None => file_age,
    })
}

/// Mode of a downloaded feed file: public data.
pub const FEED_MODE: u32 = 0o644;

/// How long ago the feed file was last written; `None` when it does not exist.
pub fn feed_age(path: &Path) -> Option<Duration> {
    let modified = std::fs::metadata(path).ok()?.modified().ok()?;
    // A file dated in the future (clock step) counts as fresh.
    Some(
        SystemTime::now()
            .duration_since(modified)
            .unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recent_check_makes_an_old_file_fresh() {
        let dir = std::env::temp_dir().join(format!("lpa-fresh-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let feed = dir.join("debian-tracker");
        assert_eq!(record_path(&feed), dir.join("debian-tracker.fetch.json"));
        assert!(age(&feed).is_none() && load(&feed).is_none());
        std::fs::write(&feed, b"{}").unwrap();
        let old = SystemTime::now() - Duration::from_secs(7200);
        std::fs::File::options()
            .write(true)
            .open(&feed)
            .unwrap()
            .set_modified(old)
            .unwrap();
        assert!(age(&feed).unwrap() >= Duration::from_secs(7199));
        let rec = Freshness {
            etag: Some("\"v1\"".into()),
            last_modified: None,
            checked_at: now_secs() - 60,
        };
        save(&feed, &rec).unwrap();
        assert_eq!(load(&feed), Some(rec));
        let a = age(&feed).unwrap();
        assert!(
            a >= Duration::from_secs(59) && a < Duration::from_secs(600),
            "{a:?}"
        );
        std::fs::write(record_path(&feed), b"not json").unwrap();
        assert!(load(&feed).is_none());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
