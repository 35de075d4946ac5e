//! dnf (Fedora, RHEL 8+) and yum (RHEL/CentOS 7) over the rpm database: one backend, two
//! kinds, because yum 3's command line and `check-update` output are dnf's ancestors.
//!
//! The installed set and details come from rpm ([`super::rpmdb`]); the tool computes the
//! upgrades (`check-update`, exit 100 when there are some) and refreshes metadata.
//!
//! Verified against the real dnf 4.14.0 / rpm 4.18.0 (outputs in `tests/data/dnf/`). yum
//! could not be run here: its parser is tested on samples of CentOS 7 output written from
//! knowledge of yum 3.4.3, NOT recorded (`tests/data/yum/README.md`).
//!
//! Roots: when the root is `/` (the agent on the host, or inside a sandbox root) the tool
//! reads its own /etc. For another root, `--installroot R` plus `--config R/etc/...` and
//! (dnf) `--setopt=reposdir=R/etc/yum.repos.d`, because dnf resolves both of those on the
//! HOST when they are given on the command line and may fall back to the host's otherwise.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use super::rpmdb;
use super::runner::{self, Command, Finished};
use super::{
    validate, version, BackendKind, BackendSettings, InstalledPackage, PackageDetails,
    PackageManager, PkgError, Upgrade,
};

/// dnf's and yum's exit status when another instance holds their lock and
/// `exit_on_lock` is set.
const EXIT_LOCKED: i32 = 200;
/// `check-update`: updates are available.
const EXIT_UPDATES: i32 = 100;
/// How often a locked command is retried within [`BackendSettings::lock_wait`].
const LOCK_POLL: Duration = Duration::from_secs(1);

/// The dnf or yum backend.
#[derive(Clone, Debug)]
pub struct Dnf {
    settings: BackendSettings,
    kind: BackendKind,
}

impl Dnf {
    /// A dnf backend.
    pub fn new(settings: BackendSettings) -> Self {
        Dnf {
            settings,
            kind: BackendKind::Dnf,
        }
    }

    /// A yum backend (same rpm database, yum's command line).
    pub fn yum(settings: BackendSettings) -> Self {
        Dnf {
            settings,
            kind: BackendKind::Yum,
        }
    }

    fn program(&self) -> &'static str {
        match self.kind {
            BackendKind::Yum => "yum",
            _ => "dnf",
        }
    }

    /// The tool with the options every call needs: no prompts, no colour, no progress, fail
    /// at once on a busy lock (we poll with our own bound instead of dnf's endless wait) and
    /// never skip an unreachable repository silently.
    pub fn base_command(&self) -> Command {
        let mut cmd = Command::new(self.program())
            .timeout(self.settings.command_timeout)
            .args([
                "--assumeyes",
                "--quiet",
                "--color=never",
                "--setopt=exit_on_lock=1",
                "--setopt=*.skip_if_unavailable=0",
            ]);
        let root = &self.settings.root;
        if root != Path::new("/") {
            cmd = cmd.arg("--installroot").arg(root.as_os_str());
            match self.kind {
                BackendKind::Yum => {
                    cmd = cmd.arg("-c").arg(root.join("etc/yum.conf").as_os_str());
                }
                _ => {
                    cmd = cmd
                        .arg("--config")
                        .arg(root.join("etc/dnf/dnf.conf").as_os_str())
                        .arg(setopt_path("reposdir", &root.join("etc/yum.repos.d")));
                }
            }
        }
        cmd
    }

    /// The metadata refresh: dnf `--refresh makecache` (expire, then fetch); yum `makecache`
    /// (which expires every repository itself).
    pub fn refresh_command(&self) -> Command {
        let cmd = self.base_command();
        match self.kind {
            BackendKind::Yum => cmd.arg("makecache"),
            _ => cmd.arg("--refresh").arg("makecache"),
        }
    }

    /// `check-update`.
    pub fn check_update_command(&self) -> Command {
        self.base_command().arg("check-update")
    }

    /// `updateinfo list --security` (advisory id, severity, NEVRA).
    pub fn updateinfo_security_command(&self) -> Command {
        self.base_command()
            .args(["updateinfo", "list", "--security"])
    }

    /// Runs a dnf/yum command, retrying while its lock is busy, up to the lock bound.
    fn run(&self, cmd: &Command) -> Result<Finished, PkgError> {
        let mut attempt = || runner::capture(cmd).map_err(PkgError::from);
        with_lock_retry(
            &mut attempt,
            self.settings.lock_wait,
            LOCK_POLL,
            self.program(),
        )
    }

    /// Security advisories that apply to installed packages, per `updateinfo list --security`.
    pub fn security_advisories(&self) -> Result<Vec<UpdateinfoEntry>, PkgError> {
        let cmd = self.updateinfo_security_command();
        let finished = self.run(&cmd)?;
        if finished.code != Some(0) {
            return Err(rpmdb::command_failed(&cmd, &finished));
        }
        parse_updateinfo_list(&finished.stdout)
    }
}

fn setopt_path(option: &str, path: &Path) -> String {
    format!("--setopt={option}={}", path.display())
}

/// Runs `attempt` until it is not refused for a busy lock (exit 200, or dnf's "already
/// locked by" message), sleeping `poll` between tries; after `wait` it gives up with
/// [`PkgError::Locked`].
pub fn with_lock_retry(
    attempt: &mut dyn FnMut() -> Result<Finished, PkgError>,
    wait: Duration,
    poll: Duration,
    tool: &str,
) -> Result<Finished, PkgError> {
    let start = Instant::now();
    loop {
        let finished = attempt()?;
        if !is_locked(&finished) {
            return Ok(finished);
        }
        let waited = start.elapsed();
        if waited >= wait {
            return Err(PkgError::Locked {
                tool: tool.to_string(),
                waited,
            });
        }
        thread::sleep(poll.min(wait - waited));
    }
}

/// Whether dnf/yum gave up because another process holds its lock.
pub fn is_locked(finished: &Finished) -> bool {
    finished.code == Some(EXIT_LOCKED)
        || (finished.code != Some(0) && finished.stderr.contains("already locked by"))
}

/// One line of `check-update`: a newer package available from a repository.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckUpdate {
    /// Package name.
    pub name: String,
    /// Architecture.
    pub arch: String,
    /// Candidate version `[E:]V-R`.
    pub version: String,
    /// Repository id.
    pub repo: String,
}

/// Parses `dnf check-update` / `yum check-update` output.
///
/// Each entry is `name.arch version repo`. yum wraps an entry whose name or version is
/// wider than its column onto the next line, so an entry may span two or three lines;
/// tokens are gathered until three are present. Lines that cannot be an entry (yum's
/// "Loaded plugins: ..." and mirror lines, "Security: ..." notes, metadata-age messages)
/// are skipped. Parsing stops at "Obsoleting Packages": those entries name a package that
/// replaces another (with the replaced one indented below), not a newer version of an
/// installed one.
pub fn parse_check_update(out: &str) -> Vec<CheckUpdate> {
    let mut entries = Vec::new();
    let mut pending: Vec<&str> = Vec::new();
    for line in out.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("Obsoleting Packages") {
            break;
        }
        let tokens: Vec<&str> = trimmed.split_whitespace().collect();
        if tokens.is_empty() || is_note(trimmed) {
            pending.clear();
            continue;
        }
        // A continuation line starts with blanks; anything else starts a new entry.
        if !line.starts_with([' ', '\t']) {
            pending.clear();
        }
        if pending.len() + tokens.len() > 3 {
            pending.clear();
            if tokens.len() > 3 || line.starts_with([' ', '\t']) {
                continue;
            }
        }
        pending.extend(tokens);
        if pending.len() == 3 {
            if let Some(entry) = entry_from(&pending) {
                entries.push(entry);
            }
            pending.clear();
        } else if !looks_like_name_arch(pending[0]) {
            pending.clear();
        }
    }
    entries
}

fn is_note(line: &str) -> bool {
    const NOTES: [&str; 5] = [
        "Loaded plugins:",
        "Loading mirror speeds",
        "Last metadata expiration check",
        "Security:",
        "* ",
    ];
    NOTES.iter().any(|n| line.starts_with(n))
}

fn looks_like_name_arch(token: &str) -> bool {
    matches!(token.rsplit_once('.'), Some((n, a)) if !n.is_empty() && !a.is_empty())
}

fn entry_from(tokens: &[&str]) -> Option<CheckUpdate> {
    let (name, arch) = tokens[0].rsplit_once('.')?;
    let version = tokens[1];
    let repo = tokens[2];
    let version_ok = version.contains('-') && version.starts_with(|c: char| c.is_ascii_digit());
    if name.is_empty() || arch.is_empty() || !version_ok || repo.starts_with('@') {
        return None;
    }
    Some(CheckUpdate {
        name: name.to_string(),
        arch: arch.to_string(),
        version: version.to_string(),
        repo: repo.to_string(),
    })
}

/// Joins `check-update` entries with the installed set: the current version is the most
/// recently installed instance of the same name and architecture (several exist for
/// installonly packages such as kernels). Entries for packages not installed under that
/// architecture are left out.
pub fn upgrades_from(entries: &[CheckUpdate], installed: &[InstalledPackage]) -> Vec<Upgrade> {
    let mut current: HashMap<(&str, &str), &InstalledPackage> = HashMap::new();
    for p in installed {
        let key = (p.name.as_str(), p.arch.as_deref().unwrap_or(""));
        let newer = current
            .get(&key)
            .is_none_or(|old| p.installed_at >= old.installed_at);
        if newer {
            current.insert(key, p);
        }
    }
    entries
        .iter()
        .filter_map(|e| {
            let p = current.get(&(e.name.as_str(), e.arch.as_str()))?;
            Some(Upgrade {
                name: e.name.clone(),
                current_version: p.version.clone(),
                available_version: e.version.clone(),
                arch: Some(e.arch.clone()),
                origins: vec![e.repo.clone()],
            })
        })
        .collect()
}

/// One line of `dnf updateinfo list`: an advisory that applies to an installed package.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpdateinfoEntry {
    /// Advisory id, e.g. `RHSA-2024:1234` or `LPA-2026-0001`.
    pub id: String,
    /// `security`, `bugfix`, `enhancement`, `newpackage` or `unknown`.
    pub kind: String,
    /// Severity of a security advisory (`Critical`, `Important`, `Moderate`, `Low`,
    /// `Unknown`); `None` for other kinds.
    pub severity: Option<String>,
    /// The fixed package as printed: `name-[E:]V-R.arch`.
    pub nevra: String,
    /// Its name.
    pub name: String,
    /// Its version `[E:]V-R`.
    pub version: String,
    /// Its architecture.
    pub arch: String,
}

/// Parses `dnf updateinfo list [--security]`: `ID TYPE NEVRA` per line, where TYPE is
/// `Severity/Sec.` for security advisories and the advisory type otherwise.
pub fn parse_updateinfo_list(out: &str) -> Result<Vec<UpdateinfoEntry>, PkgError> {
    let mut entries = Vec::new();
    for line in out.lines() {
        let tokens: Vec<&str> = line.split_whitespace().collect();
        if tokens.is_empty() || is_note(line.trim()) {
            continue;
        }
        let [id, label, nevra] = tokens[..] else {
            return Err(updateinfo_error(line));
        };
        let (kind, severity) = match label.strip_suffix("/Sec.") {
            Some(sev) => ("security".to_string(), Some(sev.to_string())),
            None => (label.to_ascii_lowercase(), None),
        };
        let (name, version, arch) = split_nevra(nevra).ok_or_else(|| updateinfo_error(line))?;
        entries.push(UpdateinfoEntry {
            id: id.to_string(),
            kind,
            severity,
            nevra: nevra.to_string(),
            name,
            version,
            arch,
        });
    }
    Ok(entries)
}

fn updateinfo_error(line: &str) -> PkgError {
    PkgError::Parse {
        what: "dnf updateinfo list output".to_string(),
        message: format!("unexpected line {line:?}"),
    }
}

/// Splits `name-[E:]V-R.arch` into its name, `[E:]V-R` and arch.
pub fn split_nevra(nevra: &str) -> Option<(String, String, String)> {
    let (nevr, arch) = nevra.rsplit_once('.')?;
    let (nev, release) = nevr.rsplit_once('-')?;
    let (name, ver) = nev.rsplit_once('-')?;
    if name.is_empty() || ver.is_empty() || release.is_empty() || arch.is_empty() {
        return None;
    }
    Some((
        name.to_string(),
        format!("{ver}-{release}"),
        arch.to_string(),
    ))
}

impl PackageManager for Dnf {
    fn kind(&self) -> BackendKind {
        self.kind
    }

    fn installed(&self) -> Result<Vec<InstalledPackage>, PkgError> {
        rpmdb::installed(&self.settings)
    }

    fn database_paths(&self) -> Vec<PathBuf> {
        rpmdb::database_paths(&self.settings.root)
    }

    fn details(&self, name: &str) -> Result<Option<PackageDetails>, PkgError> {
        validate::name(self.kind, name)?;
        // rpm before 4.12 (yum's RHEL 7) rejects the weak-dependency tags.
        let weak_deps = self.kind != BackendKind::Yum;
        rpmdb::details(&self.settings, weak_deps, name)
    }

    fn refresh(&self) -> Result<(), PkgError> {
        let cmd = self.refresh_command();
        let finished = self.run(&cmd)?;
        if finished.code != Some(0) {
            return Err(rpmdb::command_failed(&cmd, &finished));
        }
        Ok(())
    }

    fn upgradable(&self) -> Result<Vec<Upgrade>, PkgError> {
        let cmd = self.check_update_command();
        let finished = self.run(&cmd)?;
        match finished.code {
            Some(0) => Ok(Vec::new()),
            Some(EXIT_UPDATES) => {
                let entries = parse_check_update(&finished.stdout);
                if entries.is_empty() {
                    return Err(PkgError::Parse {
                        what: format!("{} check-update output", self.program()),
                        message: "exit code 100 (updates available) but no entry found".to_string(),
                    });
                }
                Ok(upgrades_from(&entries, &self.installed()?))
            }
            _ => Err(rpmdb::command_failed(&cmd, &finished)),
        }
    }

    fn compare_versions(&self, a: &str, b: &str) -> std::cmp::Ordering {
        version::rpm(a, b)
    }

    fn validate_name(&self, name: &str) -> Result<(), PkgError> {
        validate::name(self.kind, name)
    }

    fn validate_version(&self, version: &str) -> Result<(), PkgError> {
        validate::version(self.kind, version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::OffsetDateTime;

    const CHECK_UPDATE: &str = include_str!("../../tests/data/dnf/dnf-check-update.stdout");
    const CHECK_UPDATE_EXTRA: &str =
        include_str!("../../tests/data/dnf/dnf-check-update-extra.stdout");
    const LOCKED_STDERR: &str = include_str!("../../tests/data/dnf/dnf-check-update-locked.stderr");
    const BROKEN_STDERR: &str = include_str!("../../tests/data/dnf/dnf-makecache-broken.stderr");
    const UPDATEINFO_SEC: &str =
        include_str!("../../tests/data/dnf/dnf-updateinfo-list-security.stdout");
    const UPDATEINFO_ALL: &str = include_str!("../../tests/data/dnf/dnf-updateinfo-list.stdout");
    const INSTALLED: &str = include_str!("../../tests/data/dnf/rpm-qa-installed.txt");
    // Not recorded: written from knowledge of yum 3.4.3 (see tests/data/yum/README.md).
    const YUM_CHECK_UPDATE: &str = include_str!("../../tests/data/yum/check-update-centos7.stdout");
    const YUM_WRAPPED: &str = include_str!("../../tests/data/yum/check-update-wrapped.stdout");

    fn settings(root: &str) -> BackendSettings {
        BackendSettings {
            root: PathBuf::from(root),
            command_timeout: Duration::from_secs(60),
            lock_wait: Duration::from_millis(30),
        }
    }

    fn cu(name: &str, arch: &str, version: &str, repo: &str) -> CheckUpdate {
        CheckUpdate {
            name: name.into(),
            arch: arch.into(),
            version: version.into(),
            repo: repo.into(),
        }
    }

    fn args(cmd: &Command) -> Vec<String> {
        cmd.args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn check_update_recorded() {
        assert_eq!(
            parse_check_update(CHECK_UPDATE),
            [
                cu("lpa-hello", "noarch", "2.0-1", "lpa"),
                cu("lpa-lib", "noarch", "1.1-1", "lpa"),
            ]
        );
    }

    #[test]
    fn check_update_recorded_epoch_long_fields_and_obsoletes() {
        assert_eq!(
            parse_check_update(CHECK_UPDATE_EXTRA),
            [
                cu(
                    "lpa-a-very-long-package-name-for-line-wrapping-tests",
                    "noarch",
                    "2.0-1.lpa.extra.long.release.string",
                    "lpa-extra"
                ),
                cu("lpa-hello", "noarch", "2.0-1", "lpa"),
                cu("lpa-lib", "noarch", "1.1-1", "lpa"),
                cu("lpa-x", "noarch", "2:5.1-1", "lpa-extra"),
            ]
        );
    }

    #[test]
    fn yum_check_update_with_wrapping_and_obsoletes() {
        let entries = parse_check_update(YUM_CHECK_UPDATE);
        assert_eq!(entries.len(), 8, "{entries:#?}");
        assert_eq!(
            entries[0],
            cu("NetworkManager", "x86_64", "1:1.18.8-2.el7_9", "updates")
        );
        assert_eq!(
            entries[2],
            cu(
                "device-mapper-persistent-data",
                "x86_64",
                "0.8.5-3.el7_9.2",
                "updates"
            )
        );
        assert_eq!(
            entries[3],
            cu(
                "java-1.8.0-openjdk-headless",
                "x86_64",
                "1:1.8.0.402.b06-1.el7_9",
                "updates"
            )
        );
        assert_eq!(entries[7], cu("tzdata", "noarch", "2024a-1.el7", "updates"));
        assert!(entries.iter().all(|e| e.name != "grub2"));
    }

    #[test]
    fn yum_check_update_with_notes_and_three_line_entry() {
        let entries = parse_check_update(YUM_WRAPPED);
        assert_eq!(
            entries,
            [
                cu("kernel", "x86_64", "3.10.0-1160.119.1.el7", "updates"),
                cu(
                    "python-libguestfs-with-a-very-long-name-for-tests",
                    "x86_64",
                    "1:1.40.2-10.el7_9.extended.release",
                    "centos-extras-long-repository-id"
                ),
                cu("zlib", "x86_64", "1.2.7-21.el7_9", "updates"),
            ]
        );
    }

    #[test]
    fn empty_and_garbage_check_update() {
        assert!(parse_check_update("").is_empty());
        assert!(parse_check_update("\nLoaded plugins: fastestmirror\n").is_empty());
        assert!(parse_check_update("one two three four\n").is_empty());
    }

    #[test]
    fn upgrades_join_current_version() {
        let installed = rpmdb::parse_installed(INSTALLED).unwrap();
        let ups = upgrades_from(&parse_check_update(CHECK_UPDATE), &installed);
        assert_eq!(
            ups,
            [
                Upgrade {
                    name: "lpa-hello".into(),
                    current_version: "1.0-1".into(),
                    available_version: "2.0-1".into(),
                    arch: Some("noarch".into()),
                    origins: vec!["lpa".into()],
                },
                Upgrade {
                    name: "lpa-lib".into(),
                    current_version: "1.0-1".into(),
                    available_version: "1.1-1".into(),
                    arch: Some("noarch".into()),
                    origins: vec!["lpa".into()],
                },
            ]
        );
    }

    #[test]
    fn upgrades_pick_latest_installed_instance() {
        let k = |v: &str, t: i64| InstalledPackage {
            name: "kernel".into(),
            version: v.into(),
            arch: Some("x86_64".into()),
            description: String::new(),
            size_bytes: None,
            installed_at: Some(OffsetDateTime::from_unix_timestamp(t).unwrap()),
            maintainer: None,
            depends: vec![],
        };
        let installed = [k("6.2-1", 200), k("6.1-1", 100)];
        let ups = upgrades_from(&[cu("kernel", "x86_64", "6.3-1", "updates")], &installed);
        assert_eq!(ups[0].current_version, "6.2-1");
        assert!(upgrades_from(&[cu("kernel", "aarch64", "6.3-1", "u")], &installed).is_empty());
    }

    #[test]
    fn updateinfo_security_recorded() {
        let e = parse_updateinfo_list(UPDATEINFO_SEC).unwrap();
        assert_eq!(
            e,
            [UpdateinfoEntry {
                id: "LPA-2026-0001".into(),
                kind: "security".into(),
                severity: Some("Important".into()),
                nevra: "lpa-hello-2.0-1.noarch".into(),
                name: "lpa-hello".into(),
                version: "2.0-1".into(),
                arch: "noarch".into(),
            }]
        );
    }

    #[test]
    fn updateinfo_all_recorded() {
        let e = parse_updateinfo_list(UPDATEINFO_ALL).unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(e[1].id, "LPA-2026-0002");
        assert_eq!(e[1].kind, "bugfix");
        assert_eq!(e[1].severity, None);
        assert_eq!(e[1].name, "lpa-lib");
        assert_eq!(e[1].version, "1.1-1");
        assert!(parse_updateinfo_list("only two\n").is_err());
    }

    #[test]
    fn nevra_with_epoch() {
        assert_eq!(
            split_nevra("bind-libs-32:9.11.4-26.P2.el7_9.16.x86_64"),
            Some((
                "bind-libs".into(),
                "32:9.11.4-26.P2.el7_9.16".into(),
                "x86_64".into()
            ))
        );
        assert_eq!(split_nevra("noversion.x86_64"), None);
    }

    #[test]
    fn locked_recorded_and_retry_is_bounded() {
        let locked = Finished {
            code: Some(200),
            stdout: String::new(),
            stderr: LOCKED_STDERR.to_string(),
        };
        assert!(is_locked(&locked));
        let broken = Finished {
            code: Some(1),
            stdout: String::new(),
            stderr: BROKEN_STDERR.to_string(),
        };
        assert!(!is_locked(&broken));
        let mut tries = 0;
        let mut attempt = || {
            tries += 1;
            Ok(locked.clone())
        };
        let err = with_lock_retry(
            &mut attempt,
            Duration::from_millis(30),
            Duration::from_millis(10),
            "dnf",
        )
        .unwrap_err();
        assert!(
            matches!(err, PkgError::Locked { ref tool, .. } if tool == "dnf"),
            "{err}"
        );
        assert!((2..=5).contains(&tries), "{tries}");
    }

    #[test]
    fn retry_returns_once_lock_is_free() {
        let mut tries = 0;
        let mut attempt = || {
            tries += 1;
            Ok(Finished {
                code: Some(if tries < 3 { 200 } else { 100 }),
                stdout: String::new(),
                stderr: String::new(),
            })
        };
        let f = with_lock_retry(
            &mut attempt,
            Duration::from_secs(5),
            Duration::from_millis(1),
            "dnf",
        )
        .unwrap();
        assert_eq!(f.code, Some(100));
    }

    #[test]
    fn command_lines_for_host_root() {
        let dnf = Dnf::new(settings("/"));
        assert_eq!(dnf.kind(), BackendKind::Dnf);
        let cmd = dnf.check_update_command();
        assert_eq!(cmd.program, PathBuf::from("dnf"));
        assert_eq!(
            args(&cmd),
            [
                "--assumeyes",
                "--quiet",
                "--color=never",
                "--setopt=exit_on_lock=1",
                "--setopt=*.skip_if_unavailable=0",
                "check-update"
            ]
        );
        assert_eq!(
            args(&dnf.refresh_command())[5..],
            ["--refresh", "makecache"]
        );
        assert_eq!(cmd.timeout, Duration::from_secs(60));
    }

    #[test]
    fn command_lines_for_other_root() {
        let dnf = Dnf::new(settings("/srv/img"));
        let a = args(&dnf.base_command());
        assert_eq!(
            a[5..],
            [
                "--installroot",
                "/srv/img",
                "--config",
                "/srv/img/etc/dnf/dnf.conf",
                "--setopt=reposdir=/srv/img/etc/yum.repos.d"
            ]
        );
        let yum = Dnf::yum(settings("/srv/img"));
        assert_eq!(yum.kind(), BackendKind::Yum);
        let cmd = yum.refresh_command();
        assert_eq!(cmd.program, PathBuf::from("yum"));
        assert_eq!(
            args(&cmd)[5..],
            [
                "--installroot",
                "/srv/img",
                "-c",
                "/srv/img/etc/yum.conf",
                "makecache"
            ]
        );
    }
}
