//! Which advisory feeds apply to a host: the official feeds of its distribution and
//! release, then the operator's mirror, per-feed replacements and additions.
//!
//! Debian reads the security tracker JSON and the DSA records of OSV.dev; Ubuntu the USN
//! records of OSV.dev; Alpine one secdb feed per enabled repository that has one (main,
//! community), keyed by the repository's branch; Arch its ASA JSON. dnf, yum and zypper
//! read their repositories' own updateinfo and get no feed.

use std::path::{Path, PathBuf};

use crate::pkg::BackendKind;
use crate::system::info::parse_os_release;

/// The shape of a feed document, i.e. which parser reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FeedFormat {
    /// The Debian security tracker's JSON.
    DebianTracker,
    /// An Alpine secdb JSON (one repository of one branch).
    AlpineSecdb,
    /// Arch's security JSON (AVG groups).
    ArchAsa,
    /// OSV records (an OSV.dev `all.zip` archive or a directory of JSON files).
    Osv,
}

impl FeedFormat {
    /// Every format.
    pub const ALL: [FeedFormat; 4] = [
        FeedFormat::DebianTracker,
        FeedFormat::AlpineSecdb,
        FeedFormat::ArchAsa,
        FeedFormat::Osv,
    ];

    /// The configuration name (`debian-tracker`, `alpine-secdb`, `arch-asa`, `osv`).
    pub fn as_str(self) -> &'static str {
        match self {
            FeedFormat::DebianTracker => "debian-tracker",
            FeedFormat::AlpineSecdb => "alpine-secdb",
            FeedFormat::ArchAsa => "arch-asa",
            FeedFormat::Osv => "osv",
        }
    }

    /// Parses a configuration name.
    pub fn from_name(name: &str) -> Option<FeedFormat> {
        FeedFormat::ALL.into_iter().find(|f| f.as_str() == name)
    }

    /// Whether a backend of `kind` reads feeds of this format.
    pub fn read_by(self, kind: BackendKind) -> bool {
        matches!(
            (self, kind),
            (
                FeedFormat::DebianTracker | FeedFormat::Osv,
                BackendKind::Apt
            ) | (FeedFormat::AlpineSecdb, BackendKind::Apk)
                | (FeedFormat::ArchAsa, BackendKind::Pacman)
        )
    }
}

/// One feed a backend reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedSource {
    /// Its name in configuration, health and the patch list (`debian-tracker`,
    /// `alpine-community`, ...).
    pub name: String,
    /// Which parser reads it.
    pub format: FeedFormat,
    /// Where it is downloaded from; `None` for a local file nobody downloads.
    pub url: Option<String>,
    /// The local file (or, for OSV, a file or directory) it is read from.
    pub path: PathBuf,
    /// The release the feed is matched for: Debian codename for the tracker, the OSV
    /// ecosystem's release (`12`, `22.04`) for OSV; `None` when the URL already names it.
    pub release: Option<String>,
}

/// Official tracker JSON of Debian.
pub const DEBIAN_TRACKER_URL: &str = "https://security-tracker.debian.org/tracker/data/json";
/// OSV.dev's archive of every record of an ecosystem: `{OSV_BASE}/<Ecosystem>/all.zip`.
pub const OSV_BASE: &str = "https://osv-vulnerabilities.storage.googleapis.com";
/// Alpine's secdb: `{ALPINE_SECDB_BASE}/<branch>/<repository>.json`.
pub const ALPINE_SECDB_BASE: &str = "https://secdb.alpinelinux.org";
/// Arch's security JSON.
pub const ARCH_ASA_URL: &str = "https://security.archlinux.org/all.json";
/// Alpine repositories that have a secdb feed.
pub const ALPINE_FEED_REPOSITORIES: [&str; 2] = ["main", "community"];

/// Names of every official feed (configuration validates names against them).
pub const OFFICIAL_NAMES: [&str; 6] = crate::config::OFFICIAL_FEEDS;

/// What the registry knows of the host (from its root).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostRelease {
    /// os-release `ID`.
    pub id: String,
    /// os-release `ID_LIKE` words.
    pub id_like: Vec<String>,
    /// os-release `VERSION_ID`.
    pub version_id: Option<String>,
    /// `VERSION_CODENAME`, else `UBUNTU_CODENAME`.
    pub codename: Option<String>,
    /// Alpine's branch from `etc/alpine-release` (`v3.20`), else from `VERSION_ID`.
    pub alpine_branch: Option<String>,
}

impl HostRelease {
    /// Reads `etc/os-release` (else `usr/lib/os-release`) and `etc/alpine-release` of `root`.
    pub fn read(root: &Path) -> HostRelease {
        let text = ["etc/os-release", "usr/lib/os-release"]
            .iter()
            .find_map(|rel| std::fs::read_to_string(root.join(rel)).ok())
            .unwrap_or_default();
        let os = parse_os_release(&text);
        let version_id = os.get("VERSION_ID").map(str::to_string);
        let alpine = std::fs::read_to_string(root.join("etc/alpine-release")).ok();
        let alpine_branch = alpine
            .as_deref()
            .or(version_id.as_deref())
            .and_then(alpine_branch);
        HostRelease {
            id: os.get("ID").unwrap_or("linux").to_string(),
            id_like: os
                .get("ID_LIKE")
                .unwrap_or("")
                .split_whitespace()
                .map(str::to_string)
                .collect(),
            version_id,
            codename: os
                .get("VERSION_CODENAME")
                .or_else(|| os.get("UBUNTU_CODENAME"))
                .map(str::to_string),
            alpine_branch,
        }
    }

    fn is(&self, id: &str) -> bool {
        self.id == id || self.id_like.iter().any(|l| l == id)
    }
}

/// `3.20.3` → `v3.20`; an Alpine edge snapshot (`3.21_alpha20240807`) → `edge`.
pub fn alpine_branch(release: &str) -> Option<String> {
    let release = release.trim();
    if release.contains("_alpha") || release == "edge" {
        return Some("edge".to_string());
    }
    let mut parts = release.split('.');
    let (major, minor) = (parts.next()?, parts.next()?);
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (numeric(major) && numeric(minor)).then(|| format!("v{major}.{minor}"))
}

/// An official feed before it is given its local file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OfficialFeed {
    /// Feed name.
    pub name: String,
    /// Format.
    pub format: FeedFormat,
    /// Official URL.
    pub url: String,
    /// Release it is matched for.
    pub release: Option<String>,
}

/// The official feeds of a host whose backend is `kind`; `repositories` is the text of
/// `etc/apk/repositories` (Alpine only).
pub fn official(kind: BackendKind, host: &HostRelease, repositories: &str) -> Vec<OfficialFeed> {
    let feed = |name: &str, format, url: String, release: Option<&String>| OfficialFeed {
        name: name.to_string(),
        format,
        url,
        release: release.cloned(),
    };
    match kind {
        BackendKind::Apt if host.id == "ubuntu" || (host.id != "debian" && host.is("ubuntu")) => {
            vec![feed(
                "ubuntu-osv",
                FeedFormat::Osv,
                format!("{OSV_BASE}/Ubuntu/all.zip"),
                host.version_id.as_ref(),
            )]
        }
        BackendKind::Apt if host.is("debian") => vec![
            feed(
                "debian-tracker",
                FeedFormat::DebianTracker,
                DEBIAN_TRACKER_URL.to_string(),
                host.codename.as_ref(),
            ),
            feed(
                "debian-osv",
                FeedFormat::Osv,
                format!("{OSV_BASE}/Debian/all.zip"),
                host.version_id.as_ref(),
            ),
        ],
        BackendKind::Apk => alpine_feeds(repositories, host.alpine_branch.as_deref()),
        BackendKind::Pacman if host.is("arch") => vec![feed(
            "arch-asa",
            FeedFormat::ArchAsa,
            ARCH_ASA_URL.to_string(),
            None,
        )],
        _ => Vec::new(),
    }
}

/// One secdb feed per enabled repository that has one (`main`, `community`), in the order
/// of `etc/apk/repositories`, each once. The branch is the repository URL's own
/// (`.../v3.20/main`, `.../edge/community`), else the host's release.
pub fn alpine_feeds(repositories: &str, host_branch: Option<&str>) -> Vec<OfficialFeed> {
    let mut out: Vec<OfficialFeed> = Vec::new();
    for line in repositories.lines() {
        let Some((branch, repo)) = alpine_repository(line, host_branch) else {
            continue;
        };
        let name = format!("alpine-{repo}");
        if out.iter().any(|f| f.name == name) {
            continue;
        }
        out.push(OfficialFeed {
            url: format!("{ALPINE_SECDB_BASE}/{branch}/{repo}.json"),
            name,
            format: FeedFormat::AlpineSecdb,
            release: None,
        });
    }
    out
}

/// `(branch, repository)` of one `etc/apk/repositories` line with a secdb feed.
fn alpine_repository(line: &str, host_branch: Option<&str>) -> Option<(String, &'static str)> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    // `@tag https://...`: a tagged repository is still enabled (for pinned packages).
    let url = match line.strip_prefix('@') {
        Some(tagged) => tagged.split_whitespace().nth(1)?,
        None => line.split_whitespace().next()?,
    };
    let mut segments = url.trim_end_matches('/').rsplit('/');
    let last = segments.next()?;
    let repo = ALPINE_FEED_REPOSITORIES.into_iter().find(|r| *r == last)?;
    let branch = segments
        .next()
        .filter(|b| *b == "edge" || (b.starts_with('v') && alpine_branch(&b[1..]).is_some()))
        .map(str::to_string)
        .or_else(|| host_branch.map(str::to_string))?;
    Some((branch, repo))
}

/// An operator's setting for one feed (`advisories.feeds[]`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FeedOverride {
    /// The feed it replaces (an official name) or adds.
    pub name: String,
    /// Format of an added feed; an official feed keeps its own when `None`.
    pub format: Option<FeedFormat>,
    /// Download URL replacing the official (or mirrored) one.
    pub url: Option<String>,
    /// Local file: read from there (downloaded there only when `url` is also set).
    pub file: Option<PathBuf>,
    /// Release replacing the detected one.
    pub release: Option<String>,
    /// `false` drops the feed.
    pub enabled: bool,
}

/// How official feeds become the host's feed list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FeedOptions {
    /// Directory downloaded feeds are stored in, one file per feed name.
    pub dir: PathBuf,
    /// Base URL replacing scheme and host of every official URL (its path is kept).
    pub mirror: Option<String>,
    /// Per-feed replacements and additions.
    pub overrides: Vec<FeedOverride>,
    /// `false`: nothing is downloaded (air-gapped); files already present are still read.
    pub download: bool,
    /// The release every feed is matched for, replacing the detected one.
    pub release: Option<String>,
}

/// `url` with its scheme and host replaced by `mirror` (`https://m.example/feeds`).
pub fn mirrored(url: &str, mirror: &str) -> String {
    let path = url
        .split_once("://")
        .map(|(_, rest)| rest.find('/').map_or("", |i| &rest[i..]))
        .unwrap_or(url);
    format!("{}{path}", mirror.trim_end_matches('/'))
}

/// The feeds a backend reads: the official ones, mirrored, replaced or dropped by the
/// overrides, plus added ones of a format the backend reads.
pub fn resolve(
    official: Vec<OfficialFeed>,
    kind: BackendKind,
    opts: &FeedOptions,
) -> Vec<FeedSource> {
    let mut out: Vec<FeedSource> = official
        .into_iter()
        .map(|f| FeedSource {
            url: Some(match &opts.mirror {
                Some(m) => mirrored(&f.url, m),
                None => f.url,
            }),
            path: opts.dir.join(&f.name),
            release: opts.release.clone().or(f.release),
            name: f.name,
            format: f.format,
        })
        .collect();
    for o in &opts.overrides {
        match out.iter().position(|f| f.name == o.name) {
            Some(i) if !o.enabled => {
                out.remove(i);
            }
            Some(i) => apply(&mut out[i], o),
            None if !o.enabled => {}
            None => match o.format {
                Some(format) if format.read_by(kind) => {
                    let mut f = FeedSource {
                        name: o.name.clone(),
                        format,
                        url: None,
                        path: opts.dir.join(&o.name),
                        release: opts.release.clone(),
                    };
                    apply(&mut f, o);
                    out.push(f);
                }
                _ => log::info!(
                    "advisories.feeds: {} does not apply to this host ({} reads no such feed)",
                    o.name,
                    kind.name()
                ),
            },
        }
    }
    if !opts.download {
        // Air-gapped: an official feed nobody put on disk is left out (nothing to read,
        // nothing to report); configured ones stay, so a missing file is reported.
        out.retain(|f| f.path.exists() || opts.overrides.iter().any(|o| o.name == f.name));
        for f in &mut out {
            f.url = None;
        }
    }
    out
}

/// Applies one override to a feed: a `file` alone means a local file nobody downloads.
fn apply(f: &mut FeedSource, o: &FeedOverride) {
    if let Some(format) = o.format {
        f.format = format;
    }
    if let Some(r) = &o.release {
        f.release = Some(r.clone());
    }
    match (&o.url, &o.file) {
        (Some(url), file) => {
            f.url = Some(url.clone());
            if let Some(file) = file {
                f.path = file.clone();
            }
        }
        (None, Some(file)) => {
            f.url = None;
            f.path = file.clone();
        }
        (None, None) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(os_release: &str) -> HostRelease {
        let dir = std::env::temp_dir().join(format!("lpa-feeds-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(dir.join("etc")).unwrap();
        std::fs::write(dir.join("etc/os-release"), os_release).unwrap();
        let h = HostRelease::read(&dir);
        std::fs::remove_dir_all(dir).unwrap();
        h
    }

    fn opts() -> FeedOptions {
        FeedOptions {
            dir: PathBuf::from("/var/lib/lpa/feeds"),
            download: true,
            ..FeedOptions::default()
        }
    }

    const REPOS: &str = "\
# comment
https://dl-cdn.alpinelinux.org/alpine/v3.20/main
https://dl-cdn.alpinelinux.org/alpine/v3.20/community/
@edge https://dl-cdn.alpinelinux.org/alpine/edge/testing
#https://dl-cdn.alpinelinux.org/alpine/edge/main
/media/cdrom/apks
https://mirror.example/alpine/latest-stable/main
";

    #[test]
    fn alpine_reads_one_feed_per_enabled_repository_with_one() {
        let feeds = alpine_feeds(REPOS, Some("v3.19"));
        let urls: Vec<(&str, &str)> = feeds
            .iter()
            .map(|f| (f.name.as_str(), f.url.as_str()))
            .collect();
        assert_eq!(
            urls,
            [
                (
                    "alpine-main",
                    "https://secdb.alpinelinux.org/v3.20/main.json"
                ),
                (
                    "alpine-community",
                    "https://secdb.alpinelinux.org/v3.20/community.json"
                ),
            ]
        );
        let edge = alpine_feeds("https://dl-cdn.alpinelinux.org/alpine/edge/main\n", None);
        assert_eq!(edge[0].url, "https://secdb.alpinelinux.org/edge/main.json");
        // A repository URL without a branch is keyed by the host's release.
        let latest = alpine_feeds(
            "https://m.example/alpine/latest-stable/community\n",
            Some("v3.21"),
        );
        assert_eq!(
            latest[0].url,
            "https://secdb.alpinelinux.org/v3.21/community.json"
        );
        assert!(alpine_feeds("https://m.example/alpine/latest-stable/main\n", None).is_empty());
        assert!(alpine_feeds(
            "https://dl-cdn.alpinelinux.org/alpine/v3.20/testing\n",
            None
        )
        .is_empty());
    }

    #[test]
    fn alpine_release_becomes_a_branch() {
        assert_eq!(alpine_branch("3.20.3\n").as_deref(), Some("v3.20"));
        assert_eq!(alpine_branch("3.21_alpha20240807").as_deref(), Some("edge"));
        assert_eq!(alpine_branch("rolling"), None);
        let dir = std::env::temp_dir().join(format!("lpa-feeds-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(dir.join("etc")).unwrap();
        std::fs::write(dir.join("etc/os-release"), "ID=alpine\nVERSION_ID=3.19.1\n").unwrap();
        assert_eq!(
            HostRelease::read(&dir).alpine_branch.as_deref(),
            Some("v3.19")
        );
        std::fs::write(dir.join("etc/alpine-release"), "3.20.3\n").unwrap();
        assert_eq!(
            HostRelease::read(&dir).alpine_branch.as_deref(),
            Some("v3.20")
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn debian_ubuntu_and_arch_get_their_official_feeds() {
        let debian = host("ID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n");
        let feeds = official(BackendKind::Apt, &debian, "");
        let got: Vec<_> = feeds
            .iter()
            .map(|f| (f.name.as_str(), f.url.as_str(), f.release.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "debian-tracker",
                    "https://security-tracker.debian.org/tracker/data/json",
                    Some("bookworm")
                ),
                (
                    "debian-osv",
                    "https://osv-vulnerabilities.storage.googleapis.com/Debian/all.zip",
                    Some("12")
                ),
            ]
        );
        let ubuntu =
            host("ID=ubuntu\nID_LIKE=debian\nVERSION_ID=\"22.04\"\nVERSION_CODENAME=jammy\n");
        let feeds = official(BackendKind::Apt, &ubuntu, "");
        assert_eq!(feeds.len(), 1);
        assert_eq!(feeds[0].name, "ubuntu-osv");
        assert_eq!(
            feeds[0].url,
            "https://osv-vulnerabilities.storage.googleapis.com/Ubuntu/all.zip"
        );
        assert_eq!(feeds[0].release.as_deref(), Some("22.04"));
        let arch = host("ID=arch\nBUILD_ID=rolling\n");
        assert_eq!(
            official(BackendKind::Pacman, &arch, "")[0].url,
            ARCH_ASA_URL
        );
        let fedora = host("ID=fedora\nVERSION_ID=40\n");
        assert!(official(BackendKind::Dnf, &fedora, "").is_empty());
        assert!(official(BackendKind::Zypper, &host("ID=opensuse-leap\n"), "").is_empty());
        let formats: Vec<&str> = FeedFormat::ALL.iter().map(|f| f.as_str()).collect();
        assert_eq!(formats, crate::config::FEED_FORMATS);
        for f in official(BackendKind::Apt, &debian, "") {
            assert!(OFFICIAL_NAMES.contains(&f.name.as_str()));
        }
    }

    #[test]
    fn mirror_keeps_each_feed_path_and_overrides_replace_or_drop() {
        assert_eq!(
            mirrored(DEBIAN_TRACKER_URL, "https://m.example/feeds/"),
            "https://m.example/feeds/tracker/data/json"
        );
        let debian = host("ID=debian\nVERSION_ID=12\nVERSION_CODENAME=bookworm\n");
        let mut o = opts();
        o.mirror = Some("https://m.example:8443/feeds".into());
        o.overrides = vec![
            FeedOverride {
                name: "debian-osv".into(),
                file: Some("/srv/osv/debian".into()),
                enabled: true,
                ..FeedOverride::default()
            },
            FeedOverride {
                name: "extra".into(),
                format: Some(FeedFormat::DebianTracker),
                url: Some("https://x.example/t.json".into()),
                enabled: true,
                ..FeedOverride::default()
            },
            FeedOverride {
                name: "secdb".into(),
                format: Some(FeedFormat::AlpineSecdb),
                url: Some("https://x.example/s.json".into()),
                enabled: true,
                ..FeedOverride::default()
            },
        ];
        let feeds = resolve(
            official(BackendKind::Apt, &debian, ""),
            BackendKind::Apt,
            &o,
        );
        assert_eq!(feeds.len(), 3, "{feeds:?}");
        assert_eq!(
            feeds[0].url.as_deref(),
            Some("https://m.example:8443/feeds/tracker/data/json")
        );
        assert_eq!(
            feeds[0].path,
            PathBuf::from("/var/lib/lpa/feeds/debian-tracker")
        );
        assert_eq!(feeds[1].url, None, "a local file is never downloaded");
        assert_eq!(feeds[1].path, PathBuf::from("/srv/osv/debian"));
        assert_eq!(feeds[2].name, "extra");
        assert_eq!(feeds[2].url.as_deref(), Some("https://x.example/t.json"));
        o.overrides = vec![FeedOverride {
            name: "debian-tracker".into(),
            enabled: false,
            ..FeedOverride::default()
        }];
        let feeds = resolve(
            official(BackendKind::Apt, &debian, ""),
            BackendKind::Apt,
            &o,
        );
        assert_eq!(
            feeds.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(),
            ["debian-osv"]
        );
    }

    #[test]
    fn the_off_switch_downloads_nothing_and_reads_what_is_on_disk() {
        let debian = host("ID=debian\nVERSION_ID=12\nVERSION_CODENAME=bookworm\n");
        let mut o = opts();
        o.download = false;
        o.release = Some("trixie".into());
        let dir = std::env::temp_dir().join(format!("lpa-feeds-off-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("debian-tracker"), "{}").unwrap();
        o.dir = dir.clone();
        o.overrides = vec![FeedOverride {
            name: "mine".into(),
            format: Some(FeedFormat::Osv),
            file: Some("/srv/osv".into()),
            enabled: true,
            ..FeedOverride::default()
        }];
        let feeds = resolve(
            official(BackendKind::Apt, &debian, ""),
            BackendKind::Apt,
            &o,
        );
        let names: Vec<&str> = feeds.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            ["debian-tracker", "mine"],
            "debian-osv is not on disk"
        );
        assert!(feeds.iter().all(|f| f.url.is_none()));
        assert_eq!(feeds[0].path, dir.join("debian-tracker"));
        assert_eq!(feeds[0].release.as_deref(), Some("trixie"));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
