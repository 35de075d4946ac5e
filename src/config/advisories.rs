//! `advisories.*`: which security feeds are read and downloaded.
//!
//! The official feeds of the detected distribution and release are on without any key;
//! `download: false` turns every download off (air-gapped hosts), `mirror` replaces the
//! host of every official URL, and `feeds: [...]` replaces, drops or adds single feeds.

use std::path::PathBuf;

use serde_yaml_ng::Value;

use super::{describe, Section, Walker};

/// Names of the official feeds (the registry in `pkg::advisories::feeds` decides which
/// apply to a host); a configured feed of another name must say its `format`.
pub const OFFICIAL_FEEDS: [&str; 6] = [
    "debian-tracker",
    "debian-osv",
    "ubuntu-osv",
    "alpine-main",
    "alpine-community",
    "arch-asa",
];

/// Feed formats a configured feed may name.
pub const FEED_FORMATS: [&str; 4] = ["debian-tracker", "alpine-secdb", "arch-asa", "osv"];

/// Default directory downloaded feeds are kept in.
pub const DEFAULT_FEEDS_DIR: &str = "/var/lib/linux_patch_api/feeds";

/// Keys allowed under `advisories`.
const KEYS: &[&str] = &[
    "download",
    "feeds_dir",
    "mirror",
    "feeds",
    "jitter_minutes",
    "feed_file",
    "feed_url",
    "ca_file",
    "refresh_interval_minutes",
    "download_timeout_seconds",
    "max_feed_mb",
    "release",
];

/// Keys allowed in one `advisories.feeds` item.
const FEED_KEYS: &[&str] = &["name", "format", "url", "file", "release", "enabled"];

/// `advisories.*`: the feeds of families whose repositories carry no security metadata
/// (apt: Debian tracker + OSV DSA, or Ubuntu OSV USN; apk: Alpine secdb per repository;
/// pacman: Arch ASA).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdvisoriesConfig {
    /// `advisories.download`: download feeds at all, default true; false for air-gapped
    /// hosts (feed files already present, or configured by `file`, are still read).
    pub download: bool,
    /// `advisories.feeds_dir`: where downloaded feeds are kept, one file per feed name,
    /// default `/var/lib/linux_patch_api/feeds`.
    pub feeds_dir: PathBuf,
    /// `advisories.mirror`: an `https://` base URL replacing scheme and host of every
    /// official feed URL (the path is kept).
    pub mirror: Option<String>,
    /// `advisories.feeds`: per-feed replacements, removals and additions.
    pub feeds: Vec<FeedEntry>,
    /// `advisories.jitter_minutes`: a random delay of up to this long before each download
    /// (at most one minute when the feed file is missing), default 15, 0-1440.
    pub jitter_minutes: u64,
    /// `advisories.feed_file` (older single-feed form): the family's primary feed is read
    /// from this file.
    pub feed_file: Option<PathBuf>,
    /// `advisories.feed_url` (older single-feed form): the family's primary feed is
    /// downloaded from this URL.
    pub feed_url: Option<String>,
    /// `advisories.ca_file`: a PEM CA bundle trusted for downloads instead of the system's.
    pub ca_file: Option<PathBuf>,
    /// `advisories.refresh_interval_minutes`: how often each feed is checked, default 360.
    pub refresh_interval_minutes: u64,
    /// `advisories.download_timeout_seconds`: deadline of one download, default 120.
    pub download_timeout_seconds: u64,
    /// `advisories.max_feed_mb`: a larger download is refused, default 512.
    pub max_feed_mb: u64,
    /// `advisories.release`: the release every feed is matched for (Debian codename);
    /// default the root's os-release.
    pub release: Option<String>,
}

/// One `advisories.feeds` item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedEntry {
    /// `name`: an official feed's name (replaced) or a new one (added).
    pub name: String,
    /// `format`: required for a new name, one of [`FEED_FORMATS`].
    pub format: Option<String>,
    /// `url`: an `https://` URL it is downloaded from.
    pub url: Option<String>,
    /// `file`: the local file it is read from (and, with `url`, downloaded to).
    pub file: Option<PathBuf>,
    /// `release`: the release it is matched for.
    pub release: Option<String>,
    /// `enabled`: false drops an official feed; default true.
    pub enabled: bool,
}

impl Default for AdvisoriesConfig {
    fn default() -> Self {
        AdvisoriesConfig {
            download: true,
            feeds_dir: PathBuf::from(DEFAULT_FEEDS_DIR),
            mirror: None,
            feeds: Vec::new(),
            jitter_minutes: 15,
            feed_file: None,
            feed_url: None,
            ca_file: None,
            refresh_interval_minutes: 360,
            download_timeout_seconds: 120,
            max_feed_mb: 512,
            release: None,
        }
    }
}

impl Walker<'_> {
    /// `advisories.*`
    pub(super) fn advisories(&mut self, top: &Section) -> AdvisoriesConfig {
        let d = AdvisoriesConfig::default();
        let s = self.child(top, "advisories", KEYS);
        AdvisoriesConfig {
            download: self.boolean(&s, "download", d.download),
            feeds_dir: self.path_value(&s, "feeds_dir").unwrap_or(d.feeds_dir),
            mirror: self.https_url(&s, "mirror"),
            feeds: self.feed_entries(&s),
            jitter_minutes: self.u64_or(&s, "jitter_minutes", (0, 1440), d.jitter_minutes),
            feed_file: self.path_value(&s, "feed_file"),
            feed_url: self.https_url(&s, "feed_url"),
            ca_file: self.path_value(&s, "ca_file"),
            refresh_interval_minutes: self.u64_or(
                &s,
                "refresh_interval_minutes",
                (5, 10_080),
                d.refresh_interval_minutes,
            ),
            download_timeout_seconds: self.u64_or(
                &s,
                "download_timeout_seconds",
                (1, 3600),
                d.download_timeout_seconds,
            ),
            max_feed_mb: self.u64_or(&s, "max_feed_mb", (1, 4096), d.max_feed_mb),
            release: self.release(&s),
        }
    }

    /// An `https://` URL with a host and without spaces.
    fn https_url(&mut self, s: &Section, name: &str) -> Option<String> {
        let text = self.string(s, name)?;
        let host = text.strip_prefix("https://").unwrap_or("");
        if host.is_empty() || host.starts_with('/') || text.chars().any(char::is_whitespace) {
            self.error(
                &s.key(name),
                format!("must be an https:// URL, got {text:?}"),
            );
            return None;
        }
        Some(text.to_string())
    }

    /// A release codename or number (`bookworm`, `22.04`).
    fn release(&mut self, s: &Section) -> Option<String> {
        let r = self.string(s, "release")?;
        let ok = !r.is_empty()
            && r.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        if !ok {
            self.error(
                &s.key("release"),
                format!("must be a release such as bookworm or 22.04, got {r:?}"),
            );
            return None;
        }
        Some(r.to_string())
    }

    /// `advisories.feeds`: a list of mappings, names unique.
    fn feed_entries(&mut self, s: &Section) -> Vec<FeedEntry> {
        let key = s.key("feeds");
        let items = match s.get("feeds") {
            None | Some(Value::Null) => return Vec::new(),
            Some(Value::Sequence(items)) => items,
            Some(other) => {
                self.error(&key, format!("expected a list, got {}", describe(other)));
                return Vec::new();
            }
        };
        let mut out: Vec<FeedEntry> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let Some(entry) = self.feed_entry(item, &format!("{key}[{i}]")) else {
                continue;
            };
            if out.iter().any(|e| e.name == entry.name) {
                let message = format!("{:?} is listed twice", entry.name);
                self.error(&format!("{key}[{i}].name"), message);
                continue;
            }
            out.push(entry);
        }
        out
    }

    /// One `advisories.feeds[i]`.
    fn feed_entry(&mut self, item: &Value, key: &str) -> Option<FeedEntry> {
        let s = self.section(Some(item), key, FEED_KEYS);
        s.map?;
        let Some(name) = self.string(&s, "name") else {
            if s.get("name").is_none() {
                self.error(&s.key("name"), "required");
            }
            return None;
        };
        let valid_name = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !valid_name {
            let message = format!("must be lower-case letters, digits and '-', got {name:?}");
            self.error(&s.key("name"), message);
            return None;
        }
        let format = self.string(&s, "format").map(str::to_string);
        if let Some(f) = &format {
            if !FEED_FORMATS.contains(&f.as_str()) {
                let message = format!("must be one of {}; got {f:?}", FEED_FORMATS.join(", "));
                self.error(&s.key("format"), message);
            }
        } else if !OFFICIAL_FEEDS.contains(&name) {
            let message = format!(
                "required for a feed that is not one of {}",
                OFFICIAL_FEEDS.join(", ")
            );
            self.error(&s.key("format"), message);
        }
        Some(FeedEntry {
            name: name.to_string(),
            format,
            url: self.https_url(&s, "url"),
            file: self.path_value(&s, "file"),
            release: self.release(&s),
            enabled: self.boolean(&s, "enabled", true),
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, ConfigError};
    use std::path::{Path, PathBuf};

    fn parse(text: &str) -> Result<Config, Vec<ConfigError>> {
        Config::from_yaml_str(text, Path::new("/base"))
    }

    fn messages(text: &str) -> Vec<String> {
        match parse(text) {
            Ok(c) => panic!("expected errors, got {c:?}"),
            Err(errors) => errors.iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn defaults_turn_the_official_feeds_on() {
        let a = parse("").unwrap().advisories;
        assert!(a.download);
        assert_eq!(a.feeds_dir, PathBuf::from("/var/lib/linux_patch_api/feeds"));
        assert_eq!(a.jitter_minutes, 15);
        assert_eq!(a.refresh_interval_minutes, 360);
        assert!(a.mirror.is_none() && a.feeds.is_empty());
    }

    #[test]
    fn feeds_mirror_and_switches_are_read() {
        let a = parse(
            "advisories:\n  download: false\n  feeds_dir: feeds\n  mirror: https://m.example/feeds/\n  jitter_minutes: 0\n  release: '22.04'\n  feeds:\n    - name: debian-osv\n      enabled: false\n    - name: alpine-testing\n      format: alpine-secdb\n      url: https://m.example/edge/testing.json\n    - name: debian-tracker\n      file: /srv/tracker.json\n",
        )
        .unwrap()
        .advisories;
        assert!(!a.download);
        assert_eq!(a.feeds_dir, PathBuf::from("/base/feeds"));
        assert_eq!(a.mirror.as_deref(), Some("https://m.example/feeds/"));
        assert_eq!(a.jitter_minutes, 0);
        assert_eq!(a.release.as_deref(), Some("22.04"));
        assert_eq!(a.feeds.len(), 3);
        assert!(!a.feeds[0].enabled);
        assert_eq!(a.feeds[1].format.as_deref(), Some("alpine-secdb"));
        assert_eq!(a.feeds[2].file, Some(PathBuf::from("/srv/tracker.json")));
        assert!(a.feeds[2].enabled && a.feeds[2].url.is_none());
        // The older single-feed keys still load.
        let a = parse("advisories:\n  feed_file: feeds/debian.json\n  feed_url: https://security-tracker.debian.org/tracker/data/json\n")
            .unwrap()
            .advisories;
        assert_eq!(a.feed_file, Some(PathBuf::from("/base/feeds/debian.json")));
        assert!(a.feed_url.is_some());
    }

    #[test]
    fn every_bad_key_is_named() {
        let errors = messages(
            "advisories:\n  download: maybe\n  mirror: http://m.example/\n  feed_url: https://\n  release: 'book worm'\n  max_feed_mb: 0\n  jitter_minutes: 2000\n  feeds:\n    - name: Debian\n    - name: mine\n      url: https://m.example/x.json\n    - name: arch-asa\n      format: yaml\n      colour: red\n    - url: https://m.example/y.json\n    - name: debian-osv\n    - name: debian-osv\n    - just-a-string\n",
        );
        assert_eq!(
            errors,
            vec![
                "advisories.download: expected a boolean (true or false), got a string",
                "advisories.mirror: must be an https:// URL, got \"http://m.example/\"",
                "advisories.feeds[0].name: must be lower-case letters, digits and '-', got \"Debian\"",
                "advisories.feeds[1].format: required for a feed that is not one of debian-tracker, debian-osv, ubuntu-osv, alpine-main, alpine-community, arch-asa",
                "advisories.feeds[2].colour: unknown key",
                "advisories.feeds[2].format: must be one of debian-tracker, alpine-secdb, arch-asa, osv; got \"yaml\"",
                "advisories.feeds[3].name: required",
                "advisories.feeds[5].name: \"debian-osv\" is listed twice",
                "advisories.feeds[6]: expected a mapping, got a string",
                "advisories.jitter_minutes: must be 0-1440, got 2000",
                "advisories.feed_url: must be an https:// URL, got \"https://\"",
                "advisories.max_feed_mb: must be 1-4096, got 0",
                "advisories.release: must be a release such as bookworm or 22.04, got \"book worm\"",
            ]
        );
        assert_eq!(
            messages("advisories:\n  feeds: {name: x}\n"),
            ["advisories.feeds: expected a list, got a mapping"]
        );
    }
}
