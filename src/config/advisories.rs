//! `advisories.*`: which security feeds are read and downloaded.
//!
//! The official feeds of the detected distribution and release are on without any key;
//! `download: false` turns every download off (air-gapped hosts), `mirror` replaces the
//! host of every official URL, and `feeds: [...]` replaces, drops or adds single feeds.

use std::path::PathBuf;

use serde::de::{Deserializer, Error};
use serde::Deserialize;

use super::fields::{boolean, int, one_of, opt_path, path, string};
use super::Report;

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

/// `advisories.*`: the feeds of families whose repositories carry no security metadata
/// (apt: Debian tracker + OSV DSA, or Ubuntu OSV USN; apk: Alpine secdb per repository;
/// pacman: Arch ASA).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdvisoriesConfig {
    /// `advisories.download`: download feeds at all, default true; false for air-gapped
    /// hosts (feed files already present, or configured by `file`, are still read).
    #[serde(deserialize_with = "boolean")]
    pub download: bool,
    /// `advisories.feeds_dir`: where downloaded feeds are kept, one file per feed name,
    /// default `/var/lib/linux_patch_api/feeds`.
    #[serde(deserialize_with = "path")]
    pub feeds_dir: PathBuf,
    /// `advisories.mirror`: an `https://` base URL replacing scheme and host of every
    /// official feed URL (the path is kept).
    #[serde(deserialize_with = "opt_https_url")]
    pub mirror: Option<String>,
    /// `advisories.feeds`: per-feed replacements, removals and additions.
    pub feeds: Vec<FeedEntry>,
    /// `advisories.jitter_minutes`: a random delay of up to this long before each download
    /// (at most one minute when the feed file is missing), default 15, 0-1440.
    #[serde(deserialize_with = "int::<0, 1440, _, _>")]
    pub jitter_minutes: u64,
    /// `advisories.feed_file` (older single-feed form): the family's primary feed is read
    /// from this file.
    #[serde(deserialize_with = "opt_path")]
    pub feed_file: Option<PathBuf>,
    /// `advisories.feed_url` (older single-feed form): the family's primary feed is
    /// downloaded from this URL.
    #[serde(deserialize_with = "opt_https_url")]
    pub feed_url: Option<String>,
    /// `advisories.ca_file`: a PEM CA bundle trusted for downloads instead of the system's.
    #[serde(deserialize_with = "opt_path")]
    pub ca_file: Option<PathBuf>,
    /// `advisories.refresh_interval_minutes`: how often each feed is checked, 5-10080, default 360.
    #[serde(deserialize_with = "int::<5, 10_080, _, _>")]
    pub refresh_interval_minutes: u64,
    /// `advisories.download_timeout_seconds`: deadline of one download, 1-3600, default 120.
    #[serde(deserialize_with = "int::<1, 3600, _, _>")]
    pub download_timeout_seconds: u64,
    /// `advisories.max_feed_mb`: a larger download is refused, 1-4096, default 512.
    #[serde(deserialize_with = "int::<1, 4096, _, _>")]
    pub max_feed_mb: u64,
    /// `advisories.release`: the release every feed is matched for (Debian codename);
    /// default the root's os-release.
    #[serde(deserialize_with = "opt_release")]
    pub release: Option<String>,
}

/// One `advisories.feeds` item.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedEntry {
    /// `name`: an official feed's name (replaced) or a new one (added); required, lower-case
    /// letters, digits and `-`, at most 64.
    #[serde(deserialize_with = "feed_name")]
    pub name: String,
    /// `format`: required for a new name, one of [`FEED_FORMATS`].
    #[serde(default, deserialize_with = "feed_format")]
    pub format: Option<String>,
    /// `url`: an `https://` URL it is downloaded from.
    #[serde(default, deserialize_with = "opt_https_url")]
    pub url: Option<String>,
    /// `file`: the local file it is read from (and, with `url`, downloaded to).
    #[serde(default, deserialize_with = "opt_path")]
    pub file: Option<PathBuf>,
    /// `release`: the release it is matched for.
    #[serde(default, deserialize_with = "opt_release")]
    pub release: Option<String>,
    /// `enabled`: false drops an official feed; default true.
    #[serde(default = "enabled", deserialize_with = "boolean")]
    pub enabled: bool,
}

/// Default of a feed's `enabled`.
fn enabled() -> bool {
    true
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

impl AdvisoriesConfig {
    /// Feed names are unique, and a feed that is not official says its format.
    pub(super) fn validate(&self, key: &str, report: &mut Report) {
        let list = format!("{key}.feeds");
        for (i, feed) in self.feeds.iter().enumerate() {
            let item = report.item_key(&list, i);
            if self.feeds[..i].iter().any(|f| f.name == feed.name) {
                let message = format!("{:?} is listed twice", feed.name);
                report.push(&format!("{item}.name"), message);
                continue;
            }
            let format_key = format!("{item}.format");
            if feed.format.is_none()
                && !report.failed(&format_key)
                && !OFFICIAL_FEEDS.contains(&feed.name.as_str())
            {
                let message = format!(
                    "required for a feed that is not one of {}",
                    OFFICIAL_FEEDS.join(", ")
                );
                report.push(&format_key, message);
            }
        }
    }
}

/// An `https://` URL with a host and without spaces.
fn opt_https_url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let text = string(d)?;
    let host = text.strip_prefix("https://").unwrap_or("");
    if host.is_empty() || host.starts_with('/') || text.chars().any(char::is_whitespace) {
        return Err(D::Error::custom(format!(
            "must be an https:// URL, got {text:?}"
        )));
    }
    Ok(Some(text))
}

/// A release codename or number (`bookworm`, `22.04`).
fn opt_release<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let r = string(d)?;
    let ok = !r.is_empty()
        && r.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if !ok {
        return Err(D::Error::custom(format!(
            "must be a release such as bookworm or 22.04, got {r:?}"
        )));
    }
    Ok(Some(r))
}

/// A feed name: lower-case letters, digits and `-`, 1-64 of them.
fn feed_name<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let name = string(d)?;
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !valid {
        return Err(D::Error::custom(format!(
            "must be lower-case letters, digits and '-', got {name:?}"
        )));
    }
    Ok(name)
}

/// One of [`FEED_FORMATS`].
fn feed_format<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let format = string(d)?;
    one_of(&format, &FEED_FORMATS).map_err(D::Error::custom)?;
    Ok(Some(format))
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
