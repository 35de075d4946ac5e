//! pacman (Arch Linux) backend.
//!
//! The installed set is read from libalpm's local database directly
//! (`<root>/var/lib/pacman/local/<name>-<version>/{desc,files}`): a stable, line-oriented
//! format of `%SECTION%` headers followed by value lines and a blank line. Refresh (`-Sy`) and
//! the upgrade list (`-Qu`) are computed by pacman itself. pacman has no lock wait of its own:
//! it fails at once with "unable to lock database" while `db.lck` exists, so this backend
//! polls for the lock file with the configured bound first.
//!
//! Parsers are tested on the real output of pacman 6.0.2 recorded in `tests/data/pacman/`.

use std::cmp::Ordering;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use time::OffsetDateTime;

use super::runner::{self, Command, Finished};
use super::{
    validate, version, BackendKind, BackendSettings, Dependency, InstalledPackage, PackageDetails,
    PackageManager, PkgError, Upgrade,
};

/// How often the lock file is looked at while another process holds it.
const LOCK_POLL: Duration = Duration::from_millis(200);

/// How many trailing stderr lines an error keeps.
const STDERR_TAIL_LINES: usize = 10;

/// The pacman backend.
#[derive(Clone, Debug)]
pub struct Pacman {
    settings: BackendSettings,
    config: Option<PathBuf>,
}

impl Pacman {
    /// A backend for `settings.root`, using that root's own `/etc/pacman.conf`.
    pub fn new(settings: BackendSettings) -> Self {
        Pacman {
            settings,
            config: None,
        }
    }

    /// The same backend with an explicit `pacman.conf` (a path as seen by this process).
    pub fn with_config(mut self, config: impl Into<PathBuf>) -> Self {
        self.config = Some(config.into());
        self
    }

    fn foreign_root(&self) -> bool {
        self.settings.root != Path::new("/")
    }

    /// The database directory, `<root>/var/lib/pacman`.
    pub fn dbpath(&self) -> PathBuf {
        self.settings.root.join("var/lib/pacman")
    }

    fn local_dir(&self) -> PathBuf {
        self.dbpath().join("local")
    }

    /// The lock file pacman creates while it changes the database.
    pub fn lock_path(&self) -> PathBuf {
        self.dbpath().join("db.lck")
    }

    /// Options that point pacman at the managed root and nothing of the host's when the
    /// root is not `/` (log, cache and keyring included, so nothing is written outside).
    fn base_command(&self) -> Command {
        let mut cmd = Command::new("pacman")
            .env("LC_ALL", "C")
            .timeout(self.settings.command_timeout);
        if self.foreign_root() {
            let r = &self.settings.root;
            let config = self
                .config
                .clone()
                .unwrap_or_else(|| r.join("etc/pacman.conf"));
            cmd = cmd
                .arg("--root")
                .arg(r.as_os_str())
                .arg("--dbpath")
                .arg(self.dbpath().into_os_string())
                .arg("--config")
                .arg(config.into_os_string())
                .arg("--logfile")
                .arg(r.join("var/log/pacman.log").into_os_string())
                .arg("--cachedir")
                .arg(r.join("var/cache/pacman/pkg").into_os_string())
                .arg("--gpgdir")
                .arg(r.join("etc/pacman.d/gnupg").into_os_string());
        } else if let Some(config) = &self.config {
            cmd = cmd.arg("--config").arg(config.as_os_str());
        }
        cmd
    }

    /// `pacman --noconfirm [root options] -Sy`.
    pub fn refresh_command(&self) -> Command {
        self.base_command().arg("--noconfirm").arg("-Sy")
    }

    /// `pacman [root options] -Qu`.
    pub fn upgradable_command(&self) -> Command {
        self.base_command().arg("-Qu")
    }

    fn read_entries(&self) -> Result<Vec<LocalEntry>, PkgError> {
        read_local_db(&self.local_dir())
    }
}

impl PackageManager for Pacman {
    fn kind(&self) -> BackendKind {
        BackendKind::Pacman
    }

    fn installed(&self) -> Result<Vec<InstalledPackage>, PkgError> {
        let mut out = Vec::new();
        for entry in self.read_entries()? {
            out.push(entry.to_installed()?);
        }
        Ok(out)
    }

    fn database_paths(&self) -> Vec<PathBuf> {
        // Each install, upgrade, downgrade and removal adds or removes a directory in
        // `local/` (recorded); `ALPM_DB_VERSION` is only written when the database is made.
        vec![self.local_dir()]
    }

    fn details(&self, name: &str) -> Result<Option<PackageDetails>, PkgError> {
        let entries = self.read_entries()?;
        let Some(entry) = entries.iter().find(|e| e.name() == Some(name)) else {
            return Ok(None);
        };
        let files = read_files(&entry.dir)?;
        Ok(Some(details_of(entry, &entries, files)?))
    }

    fn refresh(&self) -> Result<(), PkgError> {
        let cmd = self.refresh_command();
        let started = Instant::now();
        let deadline = started + self.settings.lock_wait;
        loop {
            if !wait_for_lock(&self.lock_path(), deadline, LOCK_POLL) {
                return Err(locked(started));
            }
            let done = capture(&cmd)?;
            match done.code {
                Some(0) => return Ok(()),
                // Another pacman took the lock between our look and its start.
                _ if is_lock_error(&done.stderr) && Instant::now() < deadline => {
                    thread::sleep(LOCK_POLL);
                }
                _ if is_lock_error(&done.stderr) => return Err(locked(started)),
                _ => return Err(command_failed(&cmd, &done)),
            }
        }
    }

    fn upgradable(&self) -> Result<Vec<Upgrade>, PkgError> {
        let cmd = self.upgradable_command();
        let done = capture(&cmd)?;
        interpret_upgradable(&cmd, &done)
    }

    fn compare_versions(&self, a: &str, b: &str) -> Ordering {
        version::alpm(a, b)
    }

    fn validate_name(&self, name: &str) -> Result<(), PkgError> {
        validate::name(BackendKind::Pacman, name)
    }

    fn validate_version(&self, version: &str) -> Result<(), PkgError> {
        validate::version(BackendKind::Pacman, version)
    }
}

/// One `local/<name>-<version>/` directory with its parsed `desc`.
#[derive(Clone, Debug)]
struct LocalEntry {
    dir: PathBuf,
    desc: Sections,
}

impl LocalEntry {
    fn name(&self) -> Option<&str> {
        self.desc.first("NAME")
    }

    fn to_installed(&self) -> Result<InstalledPackage, PkgError> {
        installed_from_desc(&self.desc).map_err(|message| PkgError::Parse {
            what: self.dir.join("desc").display().to_string(),
            message,
        })
    }
}

/// The sections of an alpm database file (`desc`, `files`): `%NAME%` then value lines up to
/// a blank line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sections(Vec<(String, Vec<String>)>);

impl Sections {
    /// The values of one section (without the `%`s), empty when absent.
    pub fn get(&self, key: &str) -> &[String] {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_slice())
            .unwrap_or(&[])
    }

    /// The first value of one section.
    pub fn first(&self, key: &str) -> Option<&str> {
        self.get(key).first().map(String::as_str)
    }
}

/// Parses an alpm database file into its sections.
pub fn parse_sections(text: &str) -> Sections {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    let mut open = false;
    for line in text.lines() {
        if line.is_empty() {
            open = false;
        } else if let Some(key) = section_header(line) {
            out.push((key.to_string(), Vec::new()));
            open = true;
        } else if open {
            if let Some((_, values)) = out.last_mut() {
                values.push(line.to_string());
            }
        }
    }
    Sections(out)
}

fn section_header(line: &str) -> Option<&str> {
    let key = line.strip_prefix('%')?.strip_suffix('%')?;
    let valid = !key.is_empty() && key.bytes().all(|b| b.is_ascii_uppercase() || b == b'_');
    valid.then_some(key)
}

/// Builds the inventory record from a parsed `desc`; the error says what is missing.
pub fn installed_from_desc(desc: &Sections) -> Result<InstalledPackage, String> {
    let name = desc.first("NAME").ok_or("no %NAME%")?;
    let version = desc.first("VERSION").ok_or("no %VERSION%")?;
    Ok(InstalledPackage {
        name: name.to_string(),
        version: version.to_string(),
        arch: desc.first("ARCH").map(str::to_string),
        description: desc.first("DESC").unwrap_or("").to_string(),
        size_bytes: desc.first("SIZE").and_then(|s| s.parse().ok()),
        installed_at: desc.first("INSTALLDATE").and_then(parse_epoch),
        maintainer: desc.first("PACKAGER").map(str::to_string),
        depends: desc
            .get("DEPENDS")
            .iter()
            .map(|d| parse_depend(d, true).name)
            .collect(),
    })
}

fn parse_epoch(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(s.parse().ok()?).ok()
}

/// Parses one alpm dependency string (`lpa-lib>=1.0`, `foo: why` for optional ones).
pub fn parse_depend(s: &str, required: bool) -> Dependency {
    // Optional dependencies carry a description after ": ".
    let spec = s.split_once(": ").map_or(s, |(d, _)| d).trim();
    match spec.find(['<', '>', '=']) {
        Some(i) => Dependency {
            name: spec[..i].to_string(),
            constraint: Some(spec[i..].to_string()),
            required,
        },
        None => Dependency {
            name: spec.to_string(),
            constraint: None,
            required,
        },
    }
}

/// The paths of a `files` database file, absolute (directories keep pacman's trailing `/`).
pub fn parse_files(text: &str) -> Vec<String> {
    parse_sections(text)
        .get("FILES")
        .iter()
        .map(|f| format!("/{f}"))
        .collect()
}

fn details_of(
    entry: &LocalEntry,
    all: &[LocalEntry],
    files: Vec<String>,
) -> Result<PackageDetails, PkgError> {
    let package = entry.to_installed()?;
    let desc = &entry.desc;
    let mut dependencies: Vec<Dependency> = desc
        .get("DEPENDS")
        .iter()
        .map(|d| parse_depend(d, true))
        .collect();
    dependencies.extend(
        desc.get("OPTDEPENDS")
            .iter()
            .map(|d| parse_depend(d, false)),
    );
    let license = desc.get("LICENSE");
    Ok(PackageDetails {
        reverse_dependencies: reverse_dependencies(desc, all),
        dependencies,
        files,
        homepage: desc.first("URL").map(str::to_string),
        license: (!license.is_empty()).then(|| license.join(", ")),
        package,
    })
}

/// Installed packages whose hard dependencies name this package or one of its provides.
pub fn reverse_dependencies_of(target: &Sections, all: &[Sections]) -> Vec<String> {
    let Some(name) = target.first("NAME") else {
        return Vec::new();
    };
    let mut provided: Vec<String> = vec![name.to_string()];
    provided.extend(
        target
            .get("PROVIDES")
            .iter()
            .map(|p| parse_depend(p, true).name),
    );
    let mut out: Vec<String> = all
        .iter()
        .filter(|d| d.first("NAME") != Some(name))
        .filter(|d| {
            d.get("DEPENDS")
                .iter()
                .any(|dep| provided.contains(&parse_depend(dep, true).name))
        })
        .filter_map(|d| d.first("NAME").map(str::to_string))
        .collect();
    out.sort();
    out.dedup();
    out
}

fn reverse_dependencies(target: &Sections, all: &[LocalEntry]) -> Vec<String> {
    let descs: Vec<Sections> = all.iter().map(|e| e.desc.clone()).collect();
    reverse_dependencies_of(target, &descs)
}

/// Reads every `local/*/desc`, sorted by directory name; a missing `local/` is an empty set.
fn read_local_db(local: &Path) -> Result<Vec<LocalEntry>, PkgError> {
    let io_err = |error| PkgError::Io {
        what: local.display().to_string(),
        error,
    };
    let dir = match fs::read_dir(local) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(e)),
    };
    let mut dirs = Vec::new();
    for item in dir {
        let item = item.map_err(io_err)?;
        if item.file_type().map_err(io_err)?.is_dir() {
            dirs.push(item.path());
        }
    }
    dirs.sort();
    let mut out = Vec::new();
    for d in dirs {
        match fs::read_to_string(d.join("desc")) {
            Ok(text) => out.push(LocalEntry {
                dir: d,
                desc: parse_sections(&text),
            }),
            // pacman itself skips a directory without desc (an interrupted transaction).
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                log::warn!("pacman: {} has no desc; skipped", d.display());
            }
            Err(error) => {
                return Err(PkgError::Io {
                    what: d.join("desc").display().to_string(),
                    error,
                })
            }
        }
    }
    Ok(out)
}

fn read_files(dir: &Path) -> Result<Vec<String>, PkgError> {
    match fs::read_to_string(dir.join("files")) {
        Ok(text) => Ok(parse_files(&text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(error) => Err(PkgError::Io {
            what: dir.join("files").display().to_string(),
            error,
        }),
    }
}

/// Parses `pacman -Qu` output (`name old -> new`, maybe ` [ignored]`). Ignored packages
/// are left out: `-Su` would not upgrade them.
pub fn parse_upgradable(stdout: &str) -> Result<Vec<Upgrade>, PkgError> {
    let mut out = Vec::new();
    for line in stdout.lines().filter(|l| !l.trim().is_empty()) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [name, old, "->", new] => out.push(Upgrade {
                name: name.to_string(),
                current_version: old.to_string(),
                available_version: new.to_string(),
                arch: None,
                origins: Vec::new(),
            }),
            [_, _, "->", _, "[ignored]"] => {}
            _ => {
                return Err(PkgError::Parse {
                    what: "pacman -Qu output".to_string(),
                    message: format!("unexpected line: {line}"),
                })
            }
        }
    }
    Ok(out)
}

/// Whether pacman's error output says the database lock was busy.
pub fn is_lock_error(stderr: &str) -> bool {
    stderr.contains("unable to lock database") || stderr.contains("could not lock database")
}

/// Whether `-Qu` warned that a sync database was never downloaded (`-Sy` needed).
pub fn is_missing_sync_db(stderr: &str) -> bool {
    stderr.contains("does not exist (use '-Sy' to download)")
}

/// Reads what `pacman -Qu` ended with: exit 1 with no output means nothing to upgrade,
/// unless a sync database is missing (then nothing was compared: an error, not "none").
pub fn interpret_upgradable(cmd: &Command, done: &Finished) -> Result<Vec<Upgrade>, PkgError> {
    match done.code {
        Some(0) => parse_upgradable(&done.stdout),
        Some(1) if done.stdout.trim().is_empty() && !is_missing_sync_db(&done.stderr) => {
            Ok(Vec::new())
        }
        _ => Err(command_failed(cmd, done)),
    }
}

/// Waits until `lock` does not exist, looking every `poll`; false when `deadline` passed
/// first.
pub fn wait_for_lock(lock: &Path, deadline: Instant, poll: Duration) -> bool {
    loop {
        if !lock.exists() {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        thread::sleep(poll.min(deadline - now));
    }
}

fn locked(started: Instant) -> PkgError {
    PkgError::Locked {
        tool: "pacman".to_string(),
        waited: started.elapsed(),
    }
}

fn capture(cmd: &Command) -> Result<Finished, PkgError> {
    runner::capture(cmd).map_err(PkgError::from)
}

fn command_failed(cmd: &Command, done: &Finished) -> PkgError {
    PkgError::Command {
        command: cmd.display(),
        code: done.code,
        stderr_tail: tail(&done.stderr, STDERR_TAIL_LINES),
    }
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    const HELLO_DESC: &str = include_str!("../../tests/data/pacman/local-lpa-hello-1.0-1-desc");
    const HELLO_FILES: &str = include_str!("../../tests/data/pacman/local-lpa-hello-1.0-1-files");
    const LIB_DESC: &str = include_str!("../../tests/data/pacman/local-lpa-lib-1.0-1-desc");
    const LIB_FILES: &str = include_str!("../../tests/data/pacman/local-lpa-lib-1.0-1-files");
    const TOOL_DESC: &str = include_str!("../../tests/data/pacman/local-lpa-tool-1.0-1-desc");
    const TOOL_FILES: &str = include_str!("../../tests/data/pacman/local-lpa-tool-1.0-1-files");
    const HELLO_11_DESC: &str = include_str!("../../tests/data/pacman/local-lpa-hello-1.1-1-desc");
    const QU: &str = include_str!("../../tests/data/pacman/qu.stdout");
    const QU_IGNORED: &str = include_str!("../../tests/data/pacman/qu-ignored.stdout");
    const QU_NONE_OUT: &str = include_str!("../../tests/data/pacman/qu-none.stdout");
    const QU_NONE_ERR: &str = include_str!("../../tests/data/pacman/qu-none.stderr");
    const QU_NOSYNC_OUT: &str = include_str!("../../tests/data/pacman/qu-before-sync.stdout");
    const QU_NOSYNC_ERR: &str = include_str!("../../tests/data/pacman/qu-before-sync.stderr");
    const QU_ROOT: &str = include_str!("../../tests/data/pacman/root-qu.stdout");
    const SY_LOCKED_ERR: &str = include_str!("../../tests/data/pacman/sy-locked.stderr");
    const U_LOCKED_ERR: &str = include_str!("../../tests/data/pacman/u-locked.stderr");
    const ROOT_SY_LOCKED_ERR: &str = include_str!("../../tests/data/pacman/root-sy-locked.stderr");
    const SY_BAD_ERR: &str = include_str!("../../tests/data/pacman/sy-badserver.stderr");

    fn settings(root: &Path) -> BackendSettings {
        BackendSettings {
            root: root.to_path_buf(),
            command_timeout: Duration::from_secs(30),
            lock_wait: Duration::from_millis(300),
        }
    }

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempRoot(PathBuf);

    impl TempRoot {
        fn new(tag: &str) -> TempRoot {
            let p = std::env::temp_dir().join(format!(
                "lpa-pacman-test-{tag}-{}-{:?}",
                std::process::id(),
                thread::current().id()
            ));
            let _ = fs::remove_dir_all(&p);
            fs::create_dir_all(&p).unwrap();
            TempRoot(p)
        }
    }

    impl Drop for TempRoot {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    /// A root whose local db holds the three recorded 1.0-1 entries.
    fn recorded_root(tag: &str) -> TempRoot {
        let t = TempRoot::new(tag);
        let local = t.0.join("var/lib/pacman/local");
        for (dir, desc, files) in [
            ("lpa-hello-1.0-1", HELLO_DESC, HELLO_FILES),
            ("lpa-lib-1.0-1", LIB_DESC, LIB_FILES),
            ("lpa-tool-1.0-1", TOOL_DESC, TOOL_FILES),
        ] {
            fs::create_dir_all(local.join(dir)).unwrap();
            fs::write(local.join(dir).join("desc"), desc).unwrap();
            fs::write(local.join(dir).join("files"), files).unwrap();
        }
        fs::write(local.join("ALPM_DB_VERSION"), "9\n").unwrap();
        t
    }

    fn args(cmd: &Command) -> Vec<String> {
        cmd.args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    fn finished(code: i32, stdout: &str, stderr: &str) -> Finished {
        Finished {
            code: Some(code),
            stdout: stdout.to_string(),
            stderr: stderr.to_string(),
        }
    }

    #[test]
    fn desc_sections_parse() {
        let s = parse_sections(HELLO_DESC);
        assert_eq!(s.first("NAME"), Some("lpa-hello"));
        assert_eq!(s.first("VERSION"), Some("1.0-1"));
        assert_eq!(s.get("DEPENDS"), ["lpa-lib>=1.0".to_string()]);
        assert!(s.get("OPTDEPENDS").is_empty());
        // pacman keeps the backup list in `files`, after %FILES%.
        assert_eq!(
            parse_sections(HELLO_FILES).get("BACKUP"),
            ["etc/lpa-hello.conf\t801ef2bfa1ce9046be4eb650dabcc017".to_string()]
        );
    }

    #[test]
    fn installed_record_from_recorded_desc() {
        let p = installed_from_desc(&parse_sections(HELLO_DESC)).unwrap();
        assert_eq!(p.name, "lpa-hello");
        assert_eq!(p.version, "1.0-1");
        assert_eq!(p.arch.as_deref(), Some("any"));
        assert_eq!(p.description, "LPA fixture hello");
        assert_eq!(p.size_bytes, Some(48));
        assert_eq!(
            p.installed_at,
            Some(OffsetDateTime::from_unix_timestamp(1795866135).unwrap())
        );
        assert_eq!(
            p.maintainer.as_deref(),
            Some("LPA Tests <tests@lpa.invalid>")
        );
        assert_eq!(p.depends, ["lpa-lib"]);
    }

    #[test]
    fn desc_without_version_is_rejected() {
        let err = installed_from_desc(&parse_sections("%NAME%\nfoo\n\n")).unwrap_err();
        assert!(err.contains("VERSION"), "{err}");
    }

    #[test]
    fn missing_description_is_empty_not_absent() {
        let p = installed_from_desc(&parse_sections("%NAME%\na\n\n%VERSION%\n1-1\n\n")).unwrap();
        assert_eq!(p.description, "");
        assert!(p.depends.is_empty());
    }

    #[test]
    fn depend_strings_split_into_name_and_constraint() {
        let d = parse_depend("lpa-lib>=1.0", true);
        assert_eq!(d.name, "lpa-lib");
        assert_eq!(d.constraint.as_deref(), Some(">=1.0"));
        assert!(d.required);
        let d = parse_depend("glibc", true);
        assert_eq!((d.name.as_str(), d.constraint), ("glibc", None));
        // Optional dependencies as pacman stores them: "name: reason".
        let d = parse_depend("python-foo<2: for the foo plugin", false);
        assert_eq!(d.name, "python-foo");
        assert_eq!(d.constraint.as_deref(), Some("<2"));
        assert!(!d.required);
    }

    #[test]
    fn files_are_absolute() {
        assert_eq!(
            parse_files(HELLO_FILES),
            [
                "/etc/",
                "/etc/lpa-hello.conf",
                "/usr/",
                "/usr/bin/",
                "/usr/bin/lpa-hello"
            ]
        );
        // The BACKUP section that follows must not leak into the list.
        assert!(!parse_files(HELLO_FILES).iter().any(|f| f.contains('\t')));
    }

    #[test]
    fn installed_reads_the_local_database() {
        let t = recorded_root("installed");
        let pm = Pacman::new(settings(&t.0));
        let list = pm.installed().unwrap();
        let names: Vec<&str> = list.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["lpa-hello", "lpa-lib", "lpa-tool"]);
        assert_eq!(list[1].description, "LPA fixture library");
        assert_eq!(list[2].version, "1.0-1");
    }

    #[test]
    fn installed_on_a_root_without_database_is_empty() {
        let t = TempRoot::new("empty");
        assert!(Pacman::new(settings(&t.0)).installed().unwrap().is_empty());
    }

    #[test]
    fn broken_desc_is_a_parse_error_naming_the_file() {
        let t = recorded_root("broken");
        let bad = t.0.join("var/lib/pacman/local/zzz-1-1");
        fs::create_dir_all(&bad).unwrap();
        fs::write(bad.join("desc"), "%NAME%\nzzz\n\n").unwrap();
        match Pacman::new(settings(&t.0)).installed() {
            Err(PkgError::Parse { what, .. }) => assert!(what.ends_with("zzz-1-1/desc"), "{what}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn details_of_recorded_hello() {
        let t = recorded_root("details");
        let pm = Pacman::new(settings(&t.0));
        let d = pm.details("lpa-hello").unwrap().unwrap();
        assert_eq!(d.package.version, "1.0-1");
        assert_eq!(
            d.dependencies,
            [Dependency {
                name: "lpa-lib".into(),
                constraint: Some(">=1.0".into()),
                required: true
            }]
        );
        assert!(d.reverse_dependencies.is_empty());
        assert!(d.files.contains(&"/usr/bin/lpa-hello".to_string()));
        assert_eq!(d.homepage.as_deref(), Some("https://lpa.invalid/hello"));
        assert_eq!(d.license.as_deref(), Some("MIT"));
    }

    #[test]
    fn details_computes_reverse_dependencies() {
        let t = recorded_root("rdeps");
        let pm = Pacman::new(settings(&t.0));
        let d = pm.details("lpa-lib").unwrap().unwrap();
        assert_eq!(d.reverse_dependencies, ["lpa-hello"]);
        assert_eq!(
            d.files,
            [
                "/usr/",
                "/usr/lib/",
                "/usr/lib/lpa/",
                "/usr/lib/lpa/liblpa.txt"
            ]
        );
        assert!(pm.details("lpa-nope").unwrap().is_none());
    }

    #[test]
    fn reverse_dependencies_follow_provides_and_optdepends_are_optional() {
        let lib = parse_sections("%NAME%\nlibfoo\n\n%VERSION%\n1-1\n\n%PROVIDES%\nfoo.so=1-64\n\n");
        let user = parse_sections(
            "%NAME%\napp\n\n%VERSION%\n1-1\n\n%DEPENDS%\nfoo.so=1-64\n\n%OPTDEPENDS%\nlibfoo: extras\n\n",
        );
        let other = parse_sections("%NAME%\nx\n\n%VERSION%\n1-1\n\n%OPTDEPENDS%\nlibfoo\n\n");
        let all = [lib.clone(), user.clone(), other];
        assert_eq!(reverse_dependencies_of(&lib, &all), ["app"]);
        let entry = LocalEntry {
            dir: PathBuf::from("/nonexistent/app-1-1"),
            desc: user,
        };
        let d = details_of(&entry, &[], Vec::new()).unwrap();
        assert_eq!(d.dependencies.len(), 2);
        assert!(d.dependencies[0].required);
        assert_eq!(d.dependencies[1].name, "libfoo");
        assert!(!d.dependencies[1].required);
    }

    #[test]
    fn upgradable_parses_recorded_qu() {
        let u = parse_upgradable(QU).unwrap();
        assert_eq!(u.len(), 2);
        assert_eq!(u[0].name, "lpa-hello");
        assert_eq!(u[0].current_version, "1.0-1");
        assert_eq!(u[0].available_version, "2.0-1");
        assert_eq!(
            (u[1].name.as_str(), u[1].available_version.as_str()),
            ("lpa-lib", "1.1-1")
        );
        let r = parse_upgradable(QU_ROOT).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].current_version, "1.1-1");
    }

    #[test]
    fn ignored_packages_are_not_upgrades() {
        let u = parse_upgradable(QU_IGNORED).unwrap();
        let names: Vec<&str> = u.iter().map(|x| x.name.as_str()).collect();
        assert_eq!(names, ["lpa-hello"]);
    }

    #[test]
    fn unknown_qu_line_is_a_parse_error() {
        assert!(matches!(
            parse_upgradable("lpa-hello 1.0-1 2.0-1\n"),
            Err(PkgError::Parse { .. })
        ));
    }

    #[test]
    fn qu_exit_one_without_output_means_none() {
        let cmd = Command::new("pacman").arg("-Qu");
        let r = interpret_upgradable(&cmd, &finished(1, QU_NONE_OUT, QU_NONE_ERR)).unwrap();
        assert!(r.is_empty());
        assert_eq!(
            interpret_upgradable(&cmd, &finished(0, QU, ""))
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn qu_without_sync_database_is_an_error() {
        let cmd = Command::new("pacman").arg("-Qu");
        match interpret_upgradable(&cmd, &finished(1, QU_NOSYNC_OUT, QU_NOSYNC_ERR)) {
            Err(PkgError::Command {
                code, stderr_tail, ..
            }) => {
                assert_eq!(code, Some(1));
                assert!(stderr_tail.contains("-Sy"), "{stderr_tail}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn lock_errors_are_recognised_in_recorded_output() {
        assert!(is_lock_error(SY_LOCKED_ERR));
        assert!(is_lock_error(U_LOCKED_ERR));
        assert!(is_lock_error(ROOT_SY_LOCKED_ERR));
        assert!(!is_lock_error(SY_BAD_ERR));
        assert!(!is_lock_error(QU_NOSYNC_ERR));
    }

    #[test]
    fn bad_server_stderr_tail_keeps_the_reason() {
        let cmd = Command::new("pacman").arg("-Sy");
        let e = command_failed(&cmd, &finished(1, "", SY_BAD_ERR));
        let text = e.to_string();
        assert!(text.contains("failed retrieving file 'lpa.db'"), "{text}");
        assert!(text.contains("exit code 1"), "{text}");
    }

    #[test]
    fn commands_on_the_host_root() {
        let pm = Pacman::new(settings(Path::new("/")));
        assert_eq!(args(&pm.refresh_command()), ["--noconfirm", "-Sy"]);
        assert_eq!(args(&pm.upgradable_command()), ["-Qu"]);
        let pm = pm.with_config("/srv/lpa-pacman/pacman.conf");
        assert_eq!(
            args(&pm.refresh_command()),
            [
                "--config",
                "/srv/lpa-pacman/pacman.conf",
                "--noconfirm",
                "-Sy"
            ]
        );
        let cmd = pm.upgradable_command();
        assert_eq!(cmd.program, PathBuf::from("pacman"));
        assert!(cmd
            .env
            .contains(&(OsString::from("LC_ALL"), OsString::from("C"))));
        assert_eq!(cmd.timeout, Duration::from_secs(30));
    }

    #[test]
    fn commands_on_another_root_keep_everything_inside_it() {
        let pm = Pacman::new(settings(Path::new("/mnt/img")));
        assert_eq!(
            args(&pm.refresh_command()),
            [
                "--root",
                "/mnt/img",
                "--dbpath",
                "/mnt/img/var/lib/pacman",
                "--config",
                "/mnt/img/etc/pacman.conf",
                "--logfile",
                "/mnt/img/var/log/pacman.log",
                "--cachedir",
                "/mnt/img/var/cache/pacman/pkg",
                "--gpgdir",
                "/mnt/img/etc/pacman.d/gnupg",
                "--noconfirm",
                "-Sy"
            ]
        );
        assert_eq!(
            pm.lock_path(),
            PathBuf::from("/mnt/img/var/lib/pacman/db.lck")
        );
        assert_eq!(
            pm.database_paths(),
            [PathBuf::from("/mnt/img/var/lib/pacman/local")]
        );
        let with = pm.with_config("/etc/x.conf");
        assert_eq!(args(&with.upgradable_command())[5], "/etc/x.conf");
        assert_eq!(args(&with.upgradable_command()).last().unwrap(), "-Qu");
    }

    #[test]
    fn lock_wait_gives_up_at_the_deadline() {
        let t = TempRoot::new("lock");
        let lock = t.0.join("db.lck");
        fs::write(&lock, "").unwrap();
        let start = Instant::now();
        let r = wait_for_lock(&lock, start + Duration::from_millis(250), LOCK_POLL);
        assert!(!r);
        assert!(start.elapsed() >= Duration::from_millis(250));
        assert!(start.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn lock_wait_returns_once_the_lock_goes() {
        let t = TempRoot::new("unlock");
        let lock = t.0.join("db.lck");
        fs::write(&lock, "").unwrap();
        let l2 = lock.clone();
        let h = thread::spawn(move || {
            thread::sleep(Duration::from_millis(150));
            fs::remove_file(l2).unwrap();
        });
        let r = wait_for_lock(
            &lock,
            Instant::now() + Duration::from_secs(5),
            Duration::from_millis(20),
        );
        h.join().unwrap();
        assert!(r);
    }

    #[test]
    fn refresh_with_a_held_lock_fails_as_locked_without_running_pacman() {
        let t = recorded_root("refresh-locked");
        fs::write(t.0.join("var/lib/pacman/db.lck"), "").unwrap();
        match Pacman::new(settings(&t.0)).refresh() {
            Err(PkgError::Locked { tool, waited }) => {
                assert_eq!(tool, "pacman");
                assert!(waited >= Duration::from_millis(300));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn recorded_upgrade_changes_the_desc() {
        let p = installed_from_desc(&parse_sections(HELLO_11_DESC)).unwrap();
        assert_eq!(
            (p.name.as_str(), p.version.as_str()),
            ("lpa-hello", "1.1-1")
        );
    }
}
