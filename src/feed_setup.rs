//! Turns `advisories.*` and the host's root into the feeds its backend reads (the
//! registry's official feeds, mirrored, replaced or added to by configuration) and one
//! refresher per feed that is downloaded.

use std::path::Path;
use std::sync::Arc;

use crate::config::AdvisoriesConfig;
use crate::feed_refresh::{FeedRefresher, RefreshSettings};
use crate::pkg::advisories::board::FeedBoard;
use crate::pkg::advisories::feeds::{
    self, FeedFormat, FeedOptions, FeedOverride, FeedSource, HostRelease,
};
use crate::pkg::advisories::FeedSettings;
use crate::pkg::BackendKind;

/// Every feed of the host, with its refreshers.
pub struct AdvisoryFeeds {
    /// What the backend reads.
    pub settings: FeedSettings,
    /// One per feed (those without a URL only watch their file).
    pub refreshers: Vec<Arc<FeedRefresher>>,
}

/// The feeds for a backend of `kind` over `root`.
pub fn build(config: &AdvisoriesConfig, kind: BackendKind, root: &Path) -> AdvisoryFeeds {
    let board = FeedBoard::default();
    let sources = sources(config, kind, root);
    for f in &sources {
        match &f.url {
            Some(url) => log::info!(
                "advisory feed {} ({}): {url} -> {}",
                f.name,
                f.format.as_str(),
                f.path.display()
            ),
            None => log::info!(
                "advisory feed {} ({}): local {} (not downloaded)",
                f.name,
                f.format.as_str(),
                f.path.display()
            ),
        }
        board.register(&f.name);
    }
    let settings = RefreshSettings::from_config(config);
    // Every feed gets one, for health; only those with a URL download.
    let refreshers = sources
        .iter()
        .map(|f| FeedRefresher::new(f.clone(), settings.clone(), board.clone()))
        .collect();
    AdvisoryFeeds {
        settings: FeedSettings {
            feeds: sources,
            board,
        },
        refreshers,
    }
}

/// The feeds for a backend of `kind` over `root`.
pub fn sources(config: &AdvisoriesConfig, kind: BackendKind, root: &Path) -> Vec<FeedSource> {
    let host = HostRelease::read(root);
    let repositories = match kind {
        BackendKind::Apk => {
            std::fs::read_to_string(root.join("etc/apk/repositories")).unwrap_or_default()
        }
        _ => String::new(),
    };
    let official = feeds::official(kind, &host, &repositories);
    if official.is_empty() && config.feeds.is_empty() && config.feed_file.is_none() {
        log::info!(
            "no advisory feed applies to this host ({}, {}): {}",
            host.id,
            kind.name(),
            "its repositories' own metadata, if any, is read"
        );
    }
    let options = FeedOptions {
        dir: config.feeds_dir.clone(),
        mirror: config.mirror.clone(),
        overrides: overrides(config, kind),
        download: config.download,
        release: config.release.clone(),
    };
    feeds::resolve(official, kind, &options)
}

/// `advisories.feeds`, then the older `feed_file`/`feed_url` as a replacement of the
/// family's primary feed.
fn overrides(config: &AdvisoriesConfig, kind: BackendKind) -> Vec<FeedOverride> {
    let mut out: Vec<FeedOverride> = config
        .feeds
        .iter()
        .map(|e| FeedOverride {
            name: e.name.clone(),
            // Validation admitted only known format names.
            format: e.format.as_deref().and_then(FeedFormat::from_name),
            url: e.url.clone(),
            file: e.file.clone(),
            release: e.release.clone(),
            enabled: e.enabled,
        })
        .collect();
    let legacy = config.feed_file.is_some() || config.feed_url.is_some();
    if let (true, Some((name, format))) = (legacy, primary(kind)) {
        if !out.iter().any(|o| o.name == name) {
            out.push(FeedOverride {
                name: name.to_string(),
                format: Some(format),
                url: config.feed_url.clone(),
                file: config.feed_file.clone(),
                release: None,
                enabled: true,
            });
        }
    }
    out
}

/// The feed the single-feed keys stood for.
fn primary(kind: BackendKind) -> Option<(&'static str, FeedFormat)> {
    match kind {
        BackendKind::Apt => Some(("debian-tracker", FeedFormat::DebianTracker)),
        BackendKind::Apk => Some(("alpine-main", FeedFormat::AlpineSecdb)),
        BackendKind::Pacman => Some(("arch-asa", FeedFormat::ArchAsa)),
        BackendKind::Dnf | BackendKind::Yum | BackendKind::Zypper => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn root(files: &[(&str, &str)]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("lpa-feedsetup-{}", uuid::Uuid::new_v4()));
        for (rel, text) in files {
            let p = dir.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        dir
    }

    #[test]
    fn a_default_config_reads_the_official_feeds() {
        let r = root(&[
            ("etc/os-release", "ID=alpine\nVERSION_ID=3.20.3\n"),
            (
                "etc/apk/repositories",
                "https://dl-cdn.alpinelinux.org/alpine/v3.20/main\nhttps://dl-cdn.alpinelinux.org/alpine/v3.20/community\n",
            ),
        ]);
        let feeds = build(&AdvisoriesConfig::default(), BackendKind::Apk, &r);
        let names: Vec<_> = feeds
            .settings
            .feeds
            .iter()
            .map(|f| f.name.as_str())
            .collect();
        assert_eq!(names, ["alpine-main", "alpine-community"]);
        assert_eq!(feeds.refreshers.len(), 2);
        assert_eq!(
            feeds.settings.feeds[1].path,
            PathBuf::from("/var/lib/linux_patch_api/feeds/alpine-community")
        );
        assert_eq!(feeds.settings.board.snapshot().len(), 2);
        let off = AdvisoriesConfig {
            download: false,
            ..AdvisoriesConfig::default()
        };
        let feeds = build(&off, BackendKind::Apk, &r);
        assert!(
            feeds.settings.feeds.is_empty() && feeds.refreshers.is_empty(),
            "off and nothing on disk: nothing to read or download"
        );
        std::fs::remove_dir_all(r).unwrap();
    }

    #[test]
    fn the_older_single_feed_keys_replace_the_primary_feed() {
        let r = root(&[(
            "etc/os-release",
            "ID=debian\nVERSION_ID=12\nVERSION_CODENAME=bookworm\n",
        )]);
        let c = AdvisoriesConfig {
            feed_file: Some("/srv/tracker.json".into()),
            ..AdvisoriesConfig::default()
        };
        let feeds = sources(&c, BackendKind::Apt, &r);
        assert_eq!(feeds.len(), 2);
        assert_eq!(feeds[0].name, "debian-tracker");
        assert_eq!(feeds[0].path, PathBuf::from("/srv/tracker.json"));
        assert_eq!(feeds[0].url, None);
        assert!(sources(&c, BackendKind::Dnf, &r).is_empty());
        std::fs::remove_dir_all(r).unwrap();
    }
}
