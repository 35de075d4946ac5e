//! apk (Alpine Linux) backend.
//!
//! **Verified only on recorded output**: apk-tools cannot be installed on the machines this
//! project is built on, so every parser here is tested on the real output of apk-tools
//! 2.14.10 and 3.0.6 recorded for one scenario (`tests/data/apk/`, see its README), and the
//! command lines are tested for their exact shape. Nothing here has been run against a live
//! apk.
//!
//! The installed set is read from `<root>/lib/apk/db/installed` (records of `X:value` lines
//! separated by blank lines; the same format in apk 2 and 3). Upgrades come from
//! `apk version -l '<'`, which lists the newest candidate only (`apk list --upgradable`
//! lists every newer version). apk waits for its own lock with `--wait N`.
//!
//! Changes (again verified only on recorded output): `apk add -u -- name` for the newest
//! version (`-u` also lifts a `name=version` pin), `apk add -- name=version` for an exact one,
//! which PINS it in `/etc/apk/world` as apk always does (a later install without a version
//! unpins). Unknown versions and downgrades without `allow_downgrade` are refused before apk
//! runs, because `apk add name=older` downgrades silently. `force` and `no_recommends` have
//! no apk meaning here (no recommends; a reinstall would be `apk fix`, not recorded). A failed
//! install script leaves the package installed with exit 1: reported as a failure. Nothing
//! is saved for a rollback (no package cache recorded): versions are restored from the
//! repositories while they offer them. `repair` does nothing (no `apk fix` recorded).
//!
//! Advisories: one patch per upgrade, security with CVE ids when the secdb feed lists fixes for
//! the package's origin (`advisories::alpine_secdb`). Reboot: the running kernel's
//! `lib/modules` directory and the installed `linux-FLAVOR` version.

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::advisories::alpine_secdb::{self, SecdbIndex};
use super::advisories::cache::FeedCache;
use super::advisories::{reboot, Advisory, FeedSettings, RebootRequired};
use super::runner::{self, Command, Finished};
use super::{
    validate, version, BackendKind, BackendSettings, Dependency, Exec, InstallOptions,
    InstalledPackage, PackageDetails, PackageManager, PackageSpec, PkgError, RemoveOptions,
    RestoreStep, SavedPackage, Upgrade,
};

/// How many trailing output lines an error keeps.
const TAIL_LINES: usize = 10;

/// Prefixes of the warnings apk prints for a repository it could not read. For a local
/// (path) repository this is the only sign: `apk update` still exits 0.
const REPO_WARNINGS: [&str; 7] = [
    "WARNING: opening ",
    "WARNING: fetching ",
    "WARNING: updating ",
    "WARNING: opening from cache ",
    "WARNING: updating and opening ",
    // apk-tools before 2.12.
    "WARNING: Ignoring ",
    "WARNING: failed to ",
];

/// The apk backend.
#[derive(Clone, Debug)]
pub struct Apk {
    settings: BackendSettings,
    allow_untrusted: bool,
    /// The parsed secdb feed, kept while its file is unchanged.
    secdb: FeedCache<SecdbIndex>,
}

impl Apk {
    /// A backend for `settings.root`, with signature checks on.
    pub fn new(settings: BackendSettings) -> Self {
        Apk {
            settings,
            allow_untrusted: false,
            secdb: FeedCache::default(),
        }
    }

    /// The same backend passing `--allow-untrusted` (unsigned local repositories).
    pub fn allow_untrusted(mut self, allow: bool) -> Self {
        self.allow_untrusted = allow;
        self
    }

    /// The installed database, `<root>/lib/apk/db/installed`.
    pub fn installed_db(&self) -> PathBuf {
        self.settings.root.join("lib/apk/db/installed")
    }

    /// `apk` with the root and trust options every command needs.
    fn base_command(&self) -> Command {
        let mut cmd = Command::new("apk")
            .env("LC_ALL", "C")
            .timeout(self.settings.command_timeout);
        if self.settings.root != Path::new("/") {
            cmd = cmd.arg("--root").arg(self.settings.root.as_os_str());
        }
        if self.allow_untrusted {
            cmd = cmd.arg("--allow-untrusted");
        }
        cmd
    }

    /// `apk [--root R] [--allow-untrusted] [--wait N] update`; N is the lock wait in whole
    /// seconds, rounded up (apk takes seconds; no `--wait` means fail at once).
    pub fn refresh_command(&self) -> Command {
        let mut cmd = self.base_command();
        let wait = wait_secs(self.settings.lock_wait);
        if wait > 0 {
            cmd = cmd.arg("--wait").arg(wait.to_string());
        }
        cmd.arg("update")
    }

    /// `apk [--root R] [--allow-untrusted] version -l '<'`.
    pub fn upgradable_command(&self) -> Command {
        self.base_command().args(["version", "-l", "<"])
    }

    /// `apk` with the root/trust options and `--wait N` (the lock wait), for changing
    /// commands.
    fn change_base(&self) -> Command {
        let cmd = self.base_command();
        let wait = wait_secs(self.settings.lock_wait);
        if wait > 0 {
            cmd.arg("--wait").arg(wait.to_string())
        } else {
            cmd
        }
    }

    /// `apk [--root R] [--allow-untrusted] info -a -- NAME`: every version of NAME that is
    /// installed or in a repository (recorded; apk 3 exits 1 with the full output).
    pub fn versions_command(&self, name: &str) -> Command {
        self.base_command().args(["info", "-a", "--", name])
    }

    /// `apk ... [--wait N] add [-u] -- ARGS`. `-u` for names without a version: it also
    /// replaces a `name=version` pin in `/etc/apk/world` by the bare name (recorded: after a
    /// pin, `apk upgrade name` silently does nothing). `name=version` pins, as apk does.
    pub fn add_command(&self, args: &[String], upgrade: bool) -> Command {
        let cmd = self.change_base().arg("add");
        let cmd = if upgrade { cmd.arg("-u") } else { cmd };
        cmd.arg("--").args(args)
    }

    /// `apk ... [--wait N] [--purge] del [-r] -- NAMES`. `--purge` (a global option) also
    /// deletes modified configuration files; `force` = `-r` (`--rdepends`): the installed
    /// packages depending on them go too, the only way apk removes a needed package.
    pub fn del_command(&self, names: &[String], options: &RemoveOptions) -> Command {
        let mut cmd = self.change_base();
        if options.purge {
            cmd = cmd.arg("--purge");
        }
        cmd = cmd.arg("del");
        if options.force {
            cmd = cmd.arg("-r");
        }
        cmd.arg("--").args(names)
    }

    fn run_change(&self, cmd: &Command, exec: &mut Exec<'_>) -> Result<(), PkgError> {
        let cmd = cmd.clone().timeout(exec.timeout).grace(exec.grace);
        let done =
            runner::run_cancellable(&cmd, exec.on_line, exec.cancel).map_err(PkgError::from)?;
        interpret_change(&cmd, &done, self.settings.lock_wait)
    }

    fn installed_version(db: &[DbRecord], name: &str) -> Option<String> {
        db.iter()
            .find(|r| r.name == name)
            .map(|r| r.version.clone())
    }

    fn read_db(&self) -> Result<Vec<DbRecord>, PkgError> {
        let path = self.installed_db();
        match fs::read_to_string(&path) {
            Ok(text) => parse_installed_db(&text).map_err(|message| PkgError::Parse {
                what: path.display().to_string(),
                message,
            }),
            // A root where apk never ran has no database: nothing is installed.
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(error) => Err(PkgError::Io {
                what: path.display().to_string(),
                error,
            }),
        }
    }
}

impl PackageManager for Apk {
    fn kind(&self) -> BackendKind {
        BackendKind::Apk
    }

    fn installed(&self) -> Result<Vec<InstalledPackage>, PkgError> {
        let db = self.read_db()?;
        Ok(db.iter().map(|r| r.to_installed(&db)).collect())
    }

    fn database_paths(&self) -> Vec<PathBuf> {
        // apk rewrites this file (temp + rename) on every change of the installed set.
        vec![self.installed_db()]
    }

    fn details(&self, name: &str) -> Result<Option<PackageDetails>, PkgError> {
        let db = self.read_db()?;
        Ok(db.iter().find(|r| r.name == name).map(|r| r.details(&db)))
    }

    fn refresh(&self) -> Result<(), PkgError> {
        let cmd = self.refresh_command();
        let done = runner::capture(&cmd).map_err(PkgError::from)?;
        interpret_refresh(&cmd, &done, self.settings.lock_wait)
    }

    fn upgradable(&self) -> Result<Vec<Upgrade>, PkgError> {
        let cmd = self.upgradable_command();
        let done = runner::capture(&cmd).map_err(PkgError::from)?;
        if done.code != Some(0) {
            return Err(command_failed(&cmd, &done));
        }
        parse_version_list(&done.stdout)
    }

    /// One patch per upgrade (the secdb has no advisory ids): security with the CVE ids the
    /// secdb lists for the package's origin between the installed and candidate versions;
    /// severity always unknown (the secdb has none).
    fn advisories(
        &self,
        upgrades: &[Upgrade],
        feed: &FeedSettings,
    ) -> Result<Vec<Advisory>, PkgError> {
        let index = match feed.path.as_deref() {
            Some(path) => self.secdb.get_or_load(path, "", alpine_secdb::load)?,
            None => None,
        };
        let db = self.read_db()?;
        Ok(upgrades
            .iter()
            .map(|u| {
                let record = db.iter().find(|r| r.name == u.name);
                let origin = record.and_then(|r| r.origin.as_deref()).unwrap_or(&u.name);
                let cves = index
                    .as_deref()
                    .map(|i| i.cves_between(origin, &u.current_version, &u.available_version))
                    .unwrap_or_default();
                let kernel = record.is_some_and(|r| reboot::has_kernel_image(&r.files));
                alpine_secdb::patch_for(u, cves, kernel)
            })
            .collect())
    }

    /// The running kernel's modules directory against the installed `linux-FLAVOR`.
    fn reboot_required(&self) -> Result<RebootRequired, PkgError> {
        let Some(running) = reboot::running_kernel() else {
            return Ok(reboot::unknown_kernel());
        };
        let db = self.read_db()?;
        Ok(reboot::alpine(&self.settings.root, &running, &|pkg| {
            Self::installed_version(&db, pkg)
        }))
    }

    fn compare_versions(&self, a: &str, b: &str) -> Ordering {
        version::apk(a, b)
    }

    fn validate_name(&self, name: &str) -> Result<(), PkgError> {
        validate::name(BackendKind::Apk, name)
    }

    fn validate_version(&self, version: &str) -> Result<(), PkgError> {
        validate::version(BackendKind::Apk, version)
    }

    fn available_versions(&self, name: &str) -> Result<Vec<String>, PkgError> {
        let cmd = self.versions_command(name);
        let done = runner::capture(&cmd).map_err(PkgError::from)?;
        let versions = parse_info_versions(&done.stdout, name);
        // apk 3 exits 1 when the name also matches versions that are not installed; an
        // unknown name is exit 1 with no output (both recorded).
        match done.code {
            Some(0) | Some(1) => Ok(versions),
            _ => Err(command_failed(&cmd, &done)),
        }
    }

    /// `force` and `no_recommends` change nothing: apk has no recommends, and `apk add` of
    /// an installed version does nothing (a reinstall is `apk fix`, not recorded).
    fn install(
        &self,
        packages: &[PackageSpec],
        options: &InstallOptions,
        exec: &mut Exec<'_>,
    ) -> Result<(), PkgError> {
        let db = self.read_db()?;
        let mut latest = Vec::new();
        let mut exact = Vec::new();
        for spec in packages {
            match &spec.version {
                None => latest.push(spec.name.clone()),
                Some(v) => {
                    let have = Apk::installed_version(&db, &spec.name);
                    let offered = self.available_versions(&spec.name)?;
                    check_exact(&spec.name, v, have.as_deref(), &offered, options)?;
                    exact.push(format!("{}={v}", spec.name));
                }
            }
        }
        if !exact.is_empty() {
            self.run_change(&self.add_command(&exact, false), exec)?;
        }
        if !latest.is_empty() {
            self.run_change(&self.add_command(&latest, true), exec)?;
        }
        Ok(())
    }

    fn remove(
        &self,
        names: &[String],
        options: &RemoveOptions,
        exec: &mut Exec<'_>,
    ) -> Result<(), PkgError> {
        if names.is_empty() {
            return Ok(());
        }
        self.run_change(&self.del_command(names, options), exec)
    }

    /// No package files are saved: the recordings show no package cache (`/var/cache/apk`),
    /// so a version is restorable only while a repository offers it (`file: None`).
    fn save_for_rollback(
        &self,
        installed: &[(String, String)],
        _dir: &Path,
        _exec: &mut Exec<'_>,
    ) -> Result<Vec<SavedPackage>, PkgError> {
        let mut out = Vec::new();
        for (name, version) in installed {
            if self.available_versions(name)?.contains(version) {
                out.push(SavedPackage {
                    name: name.clone(),
                    version: version.clone(),
                    file: None,
                });
            }
        }
        Ok(out)
    }

    /// `apk add -- name=version ...` (this pins them in `/etc/apk/world`, as any exact
    /// install does), then `apk del -- names`.
    fn restore(&self, steps: &[RestoreStep], exec: &mut Exec<'_>) -> Result<(), PkgError> {
        let (add, del) = restore_args(steps);
        if !add.is_empty() {
            self.run_change(&self.add_command(&add, false), exec)?;
        }
        if !del.is_empty() {
            self.run_change(&self.del_command(&del, &RemoveOptions::default()), exec)?;
        }
        Ok(())
    }

    /// Nothing: no repair of an interrupted apk (`apk fix`) was recorded, so none is run.
    fn repair(&self, _exec: &mut Exec<'_>) -> Result<Vec<String>, PkgError> {
        Ok(Vec::new())
    }
}

fn wait_secs(d: std::time::Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// One package record of the installed database.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DbRecord {
    /// `P:` name.
    pub name: String,
    /// `V:` version.
    pub version: String,
    /// `A:` architecture.
    pub arch: Option<String>,
    /// `T:` one-line description.
    pub description: Option<String>,
    /// `I:` installed size in bytes.
    pub installed_size: Option<u64>,
    /// `S:` package file size in bytes.
    pub size: Option<u64>,
    /// `m:` maintainer.
    pub maintainer: Option<String>,
    /// `U:` homepage.
    pub url: Option<String>,
    /// `L:` license.
    pub license: Option<String>,
    /// `t:` build time (Unix seconds); apk records no install time.
    pub build_time: Option<i64>,
    /// `o:` origin: the aport the package was built from (Alpine's secdb is keyed by it).
    pub origin: Option<String>,
    /// `D:` dependency tokens as written (`lpa-lib<2.0`, `so:libc.musl-x86_64.so.1`, `!foo`).
    pub depends: Vec<String>,
    /// `p:` provides as written (`cmd:lpa-hello=1.1-r0`).
    pub provides: Vec<String>,
    /// Installed files, absolute (from `F:` directories and `R:` files).
    pub files: Vec<String>,
}

/// Parses the whole installed database; the error names the offending line.
pub fn parse_installed_db(text: &str) -> Result<Vec<DbRecord>, String> {
    let mut out = Vec::new();
    let mut cur = DbRecord::default();
    let mut dir = String::new();
    for (i, line) in text.lines().enumerate() {
        if line.is_empty() {
            finish_record(&mut out, std::mem::take(&mut cur), i)?;
            dir.clear();
            continue;
        }
        let (key, value) =
            split_db_line(line).ok_or_else(|| format!("line {}: {line:?}", i + 1))?;
        apply_field(&mut cur, &mut dir, key, value).map_err(|m| format!("line {}: {m}", i + 1))?;
    }
    finish_record(&mut out, cur, text.lines().count())?;
    Ok(out)
}

fn split_db_line(line: &str) -> Option<(char, &str)> {
    let mut chars = line.chars();
    let key = chars.next()?;
    let rest = chars.as_str().strip_prefix(':')?;
    key.is_ascii_alphabetic().then_some((key, rest))
}

fn finish_record(out: &mut Vec<DbRecord>, rec: DbRecord, line: usize) -> Result<(), String> {
    if rec == DbRecord::default() {
        return Ok(());
    }
    if rec.name.is_empty() || rec.version.is_empty() {
        return Err(format!("record ending at line {line} has no P: or V:"));
    }
    out.push(rec);
    Ok(())
}

fn apply_field(rec: &mut DbRecord, dir: &mut String, key: char, v: &str) -> Result<(), String> {
    let num = |v: &str| {
        v.parse::<u64>()
            .map_err(|_| format!("{key}: not a number: {v}"))
    };
    match key {
        'P' => rec.name = v.to_string(),
        'V' => rec.version = v.to_string(),
        'A' => rec.arch = Some(v.to_string()),
        'T' => rec.description = Some(v.to_string()),
        'I' => rec.installed_size = Some(num(v)?),
        'S' => rec.size = Some(num(v)?),
        'm' => rec.maintainer = Some(v.to_string()),
        'U' => rec.url = Some(v.to_string()),
        'o' => rec.origin = Some(v.to_string()),
        'L' => rec.license = Some(v.to_string()),
        't' => {
            let secs = v.parse().map_err(|_| format!("t: not a number: {v}"))?;
            rec.build_time = Some(secs);
        }
        'D' => rec.depends.extend(v.split_whitespace().map(str::to_string)),
        'p' => rec
            .provides
            .extend(v.split_whitespace().map(str::to_string)),
        'F' => *dir = v.to_string(),
        'R' if dir.is_empty() => rec.files.push(format!("/{v}")),
        'R' => rec.files.push(format!("/{dir}/{v}")),
        // Checksums, ACLs, commit, replaces, install_if, ...: not needed here.
        _ => {}
    }
    Ok(())
}

/// Splits one apk dependency token (`name`, `name<2.0`, `so:libc.so.1`, `cmd:x=1-r0`).
/// Conflicts (`!name`) are not dependencies: `None`.
pub fn parse_dependency(token: &str) -> Option<Dependency> {
    if token.starts_with('!') {
        return None;
    }
    let (name, constraint) = split_constraint(token);
    Some(Dependency {
        name: name.to_string(),
        constraint: constraint.map(str::to_string),
        required: true,
    })
}

/// `name<op>version` into name and `<op>version`; apk's operators are built of `<>=~`.
fn split_constraint(token: &str) -> (&str, Option<&str>) {
    match token.find(['<', '>', '=', '~']) {
        Some(i) => (&token[..i], Some(&token[i..])),
        None => (token, None),
    }
}

impl DbRecord {
    /// The names this record satisfies: its own and every `p:` provide.
    fn provided_names(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.name.as_str())
            .chain(self.provides.iter().map(|p| split_constraint(p).0))
    }

    /// Dependency names, virtuals (`so:`, `cmd:`, `pc:`) resolved to the installed package
    /// that provides them; an unresolved name is kept as written.
    fn dependency_names(&self, db: &[DbRecord]) -> Vec<String> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for dep in self.depends.iter().filter_map(|d| parse_dependency(d)) {
            let resolved = db
                .iter()
                .find(|r| r.provided_names().any(|n| n == dep.name))
                .map_or(dep.name.clone(), |r| r.name.clone());
            if resolved != self.name && seen.insert(resolved.clone()) {
                out.push(resolved);
            }
        }
        out
    }

    fn to_installed(&self, db: &[DbRecord]) -> InstalledPackage {
        InstalledPackage {
            name: self.name.clone(),
            version: self.version.clone(),
            arch: self.arch.clone(),
            description: self.description.clone().unwrap_or_default(),
            size_bytes: self.installed_size,
            // The database has only the build time (`t:`), which is not when it was installed.
            installed_at: None,
            maintainer: self.maintainer.clone(),
            depends: self.dependency_names(db),
        }
    }

    fn details(&self, db: &[DbRecord]) -> PackageDetails {
        let mut reverse: Vec<String> = db
            .iter()
            .filter(|r| r.name != self.name && r.dependency_names(db).contains(&self.name))
            .map(|r| r.name.clone())
            .collect();
        reverse.sort();
        PackageDetails {
            package: self.to_installed(db),
            dependencies: self
                .depends
                .iter()
                .filter_map(|d| parse_dependency(d))
                .collect(),
            reverse_dependencies: reverse,
            files: self.files.clone(),
            homepage: self.url.clone(),
            license: self.license.clone(),
        }
    }
}

/// Splits `name-version` the way apk does: the version starts at the last `-` followed by a
/// digit, skipping at most one other `-` (the `-rN` release).
pub fn split_name_version(s: &str) -> Option<(&str, &str)> {
    let bytes = s.as_bytes();
    let mut other_dashes = 0;
    for i in (0..bytes.len()).rev() {
        if bytes[i] != b'-' {
            continue;
        }
        if bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
            return (i > 0).then(|| (&s[..i], &s[i + 1..]));
        }
        other_dashes += 1;
        if other_dashes >= 2 {
            return None;
        }
    }
    None
}

/// Parses `apk version -l '<'` (apk 2 and 3 print the same): a header, then
/// `name-version   < newversion [tag]` per line.
pub fn parse_version_list(stdout: &str) -> Result<Vec<Upgrade>, PkgError> {
    let mut out = Vec::new();
    for line in stdout.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [] | ["Installed:", ..] => {}
            [pkg, "<", new, rest @ ..] if rest.len() <= 1 => {
                let (name, current) = split_name_version(pkg).ok_or_else(|| bad_line(line))?;
                out.push(Upgrade {
                    name: name.to_string(),
                    current_version: current.to_string(),
                    available_version: new.to_string(),
                    arch: None,
                    origins: rest.iter().map(|t| t.to_string()).collect(),
                });
            }
            _ => return Err(bad_line(line)),
        }
    }
    Ok(out)
}

fn bad_line(line: &str) -> PkgError {
    PkgError::Parse {
        what: "apk version -l '<' output".to_string(),
        message: format!("unexpected line: {line}"),
    }
}

/// The first repository warning in apk's output, if any.
pub fn repository_warning(output: &str) -> Option<&str> {
    output
        .lines()
        .map(str::trim_end)
        .find(|l| REPO_WARNINGS.iter().any(|w| l.starts_with(w)))
}

/// Whether apk failed because another process held its database lock (the error apk gives
/// without `--wait`, or when `--wait` ran out), not for lack of permission.
pub fn is_lock_error(stderr: &str) -> bool {
    stderr.lines().any(|l| {
        l.contains("Unable to lock database")
            && (l.contains("Resource temporarily unavailable")
                || l.contains("Interrupted system call"))
    })
}

/// Reads how `apk update` ended: exit 0 with a repository warning is a failure too.
pub fn interpret_refresh(
    cmd: &Command,
    done: &Finished,
    waited: std::time::Duration,
) -> Result<(), PkgError> {
    if is_lock_error(&done.stderr) {
        return Err(PkgError::Locked {
            tool: "apk".to_string(),
            waited,
        });
    }
    if done.code != Some(0) {
        return Err(command_failed(cmd, done));
    }
    let warning = repository_warning(&done.stderr).or_else(|| repository_warning(&done.stdout));
    match warning {
        None => Ok(()),
        Some(w) => Err(PkgError::Command {
            command: cmd.display(),
            code: done.code,
            stderr_tail: w.to_string(),
        }),
    }
}

fn command_failed(cmd: &Command, done: &Finished) -> PkgError {
    let lines: Vec<&str> = done.stderr.lines().collect();
    PkgError::Command {
        command: cmd.display(),
        code: done.code,
        stderr_tail: lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n"),
    }
}

/// The versions of `name` in `apk info -a` output: each block starts with
/// `NAME-VERSION description:` (recorded, apk 2 and 3).
pub fn parse_info_versions(stdout: &str, name: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in stdout.lines() {
        let Some(pkg) = line.strip_suffix(" description:") else {
            continue;
        };
        if let Some((n, v)) = split_name_version(pkg) {
            if n == name && !out.iter().any(|o| o == v) {
                out.push(v.to_string());
            }
        }
    }
    out
}

/// Refuses an exact version before apk runs: one no repository offers (`NotFound` when the
/// name is unknown altogether), or a downgrade without `allow_downgrade` — `apk add
/// name=older` downgrades without a word (recorded).
pub fn check_exact(
    name: &str,
    version: &str,
    installed: Option<&str>,
    offered: &[String],
    options: &InstallOptions,
) -> Result<(), PkgError> {
    if offered.is_empty() && installed.is_none() {
        return Err(PkgError::NotFound(name.to_string()));
    }
    if !offered.iter().any(|v| v == version) && installed != Some(version) {
        return Err(PkgError::VersionConflict(format!(
            "{name} {version} is not in any repository (on offer: {})",
            offered.join(", ")
        )));
    }
    match installed {
        Some(have) if !options.allow_downgrade && version::apk(version, have) == Ordering::Less => {
            Err(PkgError::VersionConflict(format!(
                "{name} {version} is older than the installed {have}; allow_downgrade is not set"
            )))
        }
        _ => Ok(()),
    }
}

/// The `name=version` arguments and the names to remove of a rollback.
pub fn restore_args(steps: &[RestoreStep]) -> (Vec<String>, Vec<String>) {
    let mut add = Vec::new();
    let mut del = Vec::new();
    for step in steps {
        match step {
            RestoreStep::Install { name, version, .. } => add.push(format!("{name}={version}")),
            RestoreStep::Remove { name } => del.push(name.clone()),
        }
    }
    (add, del)
}

/// What apk printed when `del` kept a package others need: it exits 0 after taking the
/// name out of `/etc/apk/world` (apk-tools `app_del.c`; not recorded).
const NOT_REMOVED: &str = "World updated, but the following packages are not removed due to:";

/// Reads how `apk add`/`apk del` ended. Classified from the recordings: `unable to select
/// packages` + `(no such package)` and `No such package: NAME` are `NotFound`; from
/// apk-tools' source (not recorded): any other `unable to select packages` (conflicts,
/// `breaks:`) and `del`'s "not removed due to" (exit 0!) are `DependencyConflict`, a busy
/// lock is `Locked`. A failed install script makes apk exit 1 with the package installed
/// (recorded behaviour): that is a failure (`Command`), like any other non-zero exit.
pub fn interpret_change(
    cmd: &Command,
    done: &Finished,
    waited: std::time::Duration,
) -> Result<(), PkgError> {
    if is_lock_error(&done.stderr) {
        return Err(PkgError::Locked {
            tool: "apk".to_string(),
            waited,
        });
    }
    let both = format!("{}\n{}", done.stdout, done.stderr);
    if let Some(at) = both.find(NOT_REMOVED) {
        // The reasons follow the header line, indented, up to a blank line.
        let why: Vec<&str> = both[at + NOT_REMOVED.len()..]
            .lines()
            .skip(1)
            .map(str::trim)
            .take_while(|l| !l.is_empty())
            .collect();
        return Err(PkgError::DependencyConflict(format!(
            "not removed, still needed: {}",
            why.join("; ")
        )));
    }
    if done.code == Some(0) {
        return Ok(());
    }
    let missing = unknown_names(&done.stderr);
    if !missing.is_empty() {
        return Err(PkgError::NotFound(missing.join(", ")));
    }
    if done.stderr.contains("unable to select packages") {
        let why: Vec<&str> = done.stderr.lines().skip(1).map(str::trim).collect();
        return Err(PkgError::DependencyConflict(why.join("; ")));
    }
    Err(command_failed(cmd, done))
}

/// Names apk reported as unknown: `NAME (no such package):` under `unable to select
/// packages`, or `ERROR: No such package: NAME` from `del` (both recorded).
pub fn unknown_names(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            l.strip_suffix(" (no such package):")
                .or_else(|| l.strip_prefix("ERROR: No such package: "))
        })
        .map(str::to_string)
        .collect()
}

/// Maps a runner error of a changing command: cancel and deadline keep their meaning.
#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const INSTALLED: &str = include_str!("../../tests/data/apk/lib-apk-db-installed");
    const VERSION_APK2: &str = include_str!("../../tests/data/apk/version-l-apk2.stdout");
    const VERSION_APK3: &str = include_str!("../../tests/data/apk/version-l-apk3.stdout");
    const UPDATE_APK2: &str = include_str!("../../tests/data/apk/update-apk2.stdout");
    const UPDATE_APK3: &str = include_str!("../../tests/data/apk/update-apk3.stdout");
    const INFO_A_APK2: &str = include_str!("../../tests/data/apk/info-a-lpa-hello-apk2.stdout");

    fn settings(root: &str, lock_wait: Duration) -> BackendSettings {
        BackendSettings {
            root: PathBuf::from(root),
            command_timeout: Duration::from_secs(60),
            lock_wait,
        }
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

    /// A root holding the recorded installed database, removed on drop.
    struct TempRoot(PathBuf);

    impl TempRoot {
        fn new(tag: &str, db: Option<&str>) -> TempRoot {
            let p = std::env::temp_dir().join(format!("lpa-apk-test-{tag}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&p);
            fs::create_dir_all(p.join("lib/apk/db")).unwrap();
            if let Some(db) = db {
                fs::write(p.join("lib/apk/db/installed"), db).unwrap();
            }
            TempRoot(p)
        }

        fn apk(&self) -> Apk {
            Apk::new(settings(self.0.to_str().unwrap(), Duration::from_secs(5)))
        }
    }

    impl Drop for TempRoot {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn recorded_installed_database_parses() {
        let db = parse_installed_db(INSTALLED).unwrap();
        assert_eq!(db.len(), 2);
        let hello = &db[0];
        assert_eq!(hello.name, "lpa-hello");
        assert_eq!(hello.version, "1.1-r0");
        assert_eq!(hello.arch.as_deref(), Some("x86_64"));
        assert_eq!(hello.size, Some(729));
        assert_eq!(hello.installed_size, Some(66));
        assert_eq!(hello.description.as_deref(), Some("lpa-hello test package"));
        assert_eq!(
            hello.url.as_deref(),
            Some("https://example.invalid/lpa-hello")
        );
        assert_eq!(hello.license.as_deref(), Some("MIT"));
        assert_eq!(
            hello.maintainer.as_deref(),
            Some("apklab <apklab@example.invalid>")
        );
        assert_eq!(hello.build_time, Some(1_700_000_000));
        assert_eq!(hello.depends, ["lpa-lib<2.0"]);
        assert_eq!(hello.provides, ["cmd:lpa-hello=1.1-r0"]);
        assert_eq!(db[1].name, "lpa-lib");
        assert!(db[1].depends.is_empty());
    }

    #[test]
    fn files_match_what_apk_info_lists() {
        let db = parse_installed_db(INSTALLED).unwrap();
        // `apk info -a` prints the same paths, relative, under "contains:".
        let contains: Vec<String> = INFO_A_APK2
            .lines()
            .skip_while(|l| *l != "lpa-hello-1.0-r0 contains:")
            .skip(1)
            .take_while(|l| !l.is_empty())
            .map(|l| format!("/{l}"))
            .collect();
        assert_eq!(contains, ["/etc/lpa-hello.conf", "/usr/bin/lpa-hello"]);
        assert_eq!(db[0].files, contains);
        assert_eq!(db[1].files, ["/etc/lpa-lib.conf", "/usr/bin/lpa-lib"]);
    }

    #[test]
    fn malformed_database_lines_are_errors() {
        let err = parse_installed_db("P:a\nV:1-r0\nnot a field\n\n").unwrap_err();
        assert!(err.contains("line 3"), "{err}");
        let err = parse_installed_db("P:a\nI:many\n\n").unwrap_err();
        assert!(err.contains("I: not a number"), "{err}");
        let err = parse_installed_db("P:a\nA:x86_64\n\n").unwrap_err();
        assert!(err.contains("no P: or V:"), "{err}");
        // No final blank line: the last record still counts.
        assert_eq!(parse_installed_db("P:a\nV:1-r0").unwrap().len(), 1);
    }

    #[test]
    fn dependency_tokens() {
        let d = parse_dependency("lpa-lib<2.0").unwrap();
        assert_eq!(
            (d.name.as_str(), d.constraint.as_deref()),
            ("lpa-lib", Some("<2.0"))
        );
        assert!(d.required);
        let d = parse_dependency("so:libc.musl-x86_64.so.1").unwrap();
        assert_eq!(
            (d.name.as_str(), d.constraint),
            ("so:libc.musl-x86_64.so.1", None)
        );
        let d = parse_dependency("busybox>=1.36.1-r2").unwrap();
        assert_eq!(d.constraint.as_deref(), Some(">=1.36.1-r2"));
        let d = parse_dependency("foo~1.2").unwrap();
        assert_eq!(
            (d.name.as_str(), d.constraint.as_deref()),
            ("foo", Some("~1.2"))
        );
        assert!(parse_dependency("!conflicting").is_none());
    }

    #[test]
    fn installed_from_the_recorded_root() {
        let t = TempRoot::new("installed", Some(INSTALLED));
        let list = t.apk().installed().unwrap();
        assert_eq!(list.len(), 2);
        let hello = &list[0];
        assert_eq!(
            (hello.name.as_str(), hello.version.as_str()),
            ("lpa-hello", "1.1-r0")
        );
        assert_eq!(hello.description, "lpa-hello test package");
        assert_eq!(hello.size_bytes, Some(66));
        assert_eq!(hello.installed_at, None);
        assert_eq!(hello.depends, ["lpa-lib"]);
        assert_eq!(list[1].depends, Vec::<String>::new());
    }

    #[test]
    fn no_database_means_nothing_installed() {
        let t = TempRoot::new("nodb", None);
        assert!(t.apk().installed().unwrap().is_empty());
        assert!(t.apk().details("lpa-hello").unwrap().is_none());
    }

    #[test]
    fn details_from_the_recorded_root() {
        let t = TempRoot::new("details", Some(INSTALLED));
        let apk = t.apk();
        let d = apk.details("lpa-hello").unwrap().unwrap();
        assert_eq!(
            d.dependencies,
            [Dependency {
                name: "lpa-lib".into(),
                constraint: Some("<2.0".into()),
                required: true
            }]
        );
        assert!(d.reverse_dependencies.is_empty());
        assert_eq!(
            d.homepage.as_deref(),
            Some("https://example.invalid/lpa-hello")
        );
        assert_eq!(d.license.as_deref(), Some("MIT"));
        let lib = apk.details("lpa-lib").unwrap().unwrap();
        assert_eq!(lib.reverse_dependencies, ["lpa-hello"]);
        assert!(apk.details("nope").unwrap().is_none());
    }

    #[test]
    fn virtual_dependencies_resolve_to_their_provider() {
        let db = parse_installed_db(
            "P:musl\nV:1.2.5-r0\np:so:libc.musl-x86_64.so.1=1\n\n\
             P:app\nV:1-r0\nD:so:libc.musl-x86_64.so.1 cmd:nothing !old\n\n",
        )
        .unwrap();
        let app = db[1].to_installed(&db);
        assert_eq!(app.depends, ["musl", "cmd:nothing"]);
        let musl = db[0].details(&db);
        assert_eq!(musl.reverse_dependencies, ["app"]);
        let d = db[1].details(&db);
        assert_eq!(
            d.dependencies.len(),
            2,
            "the conflict !old is not a dependency"
        );
        assert_eq!(d.dependencies[0].name, "so:libc.musl-x86_64.so.1");
    }

    #[test]
    fn name_version_split_as_apk_does() {
        assert_eq!(
            split_name_version("lpa-hello-1.0-r0"),
            Some(("lpa-hello", "1.0-r0"))
        );
        assert_eq!(
            split_name_version("py3-foo-2-1.2_rc1-r3"),
            Some(("py3-foo-2", "1.2_rc1-r3"))
        );
        assert_eq!(
            split_name_version("musl-1.2.5-r0"),
            Some(("musl", "1.2.5-r0"))
        );
        assert_eq!(split_name_version("nodigits"), None);
        assert_eq!(split_name_version("a-b-c-d"), None);
    }

    #[test]
    fn version_list_of_apk2_and_apk3() {
        for out in [VERSION_APK2, VERSION_APK3] {
            let u = parse_version_list(out).unwrap();
            assert_eq!(u.len(), 2);
            assert_eq!(u[0].name, "lpa-hello");
            assert_eq!(u[0].current_version, "1.0-r0");
            assert_eq!(u[0].available_version, "2.0-r0");
            assert!(u[0].origins.is_empty());
            assert_eq!(
                (u[1].name.as_str(), u[1].available_version.as_str()),
                ("lpa-lib", "2.0-r0")
            );
        }
    }

    #[test]
    fn version_list_edge_cases() {
        let header_only = "Installed:                                Available:\n";
        assert!(parse_version_list(header_only).unwrap().is_empty());
        let tagged = "curl-8.0-r0                             < 8.1-r0 @edge\n";
        assert_eq!(parse_version_list(tagged).unwrap()[0].origins, ["@edge"]);
        assert!(matches!(
            parse_version_list("lpa-hello-1.0-r0 = 1.0-r0\n"),
            Err(PkgError::Parse { .. })
        ));
    }

    #[test]
    fn recorded_update_output_is_success() {
        let cmd = Command::new("apk").arg("update");
        for out in [UPDATE_APK2, UPDATE_APK3] {
            interpret_refresh(&cmd, &finished(0, out, ""), Duration::ZERO).unwrap();
        }
    }

    #[test]
    fn missing_local_repository_warning_fails_despite_exit_zero() {
        let cmd = Command::new("apk").arg("update");
        // apk 2.12+/3 wording for a local repository it cannot open (source: database.c).
        let stderr = "WARNING: opening /srv/apkrepo: No such file or directory\n";
        let stdout = "OK: 0 distinct packages available\n";
        match interpret_refresh(&cmd, &finished(0, stdout, stderr), Duration::ZERO) {
            Err(PkgError::Command {
                code, stderr_tail, ..
            }) => {
                assert_eq!(code, Some(0));
                assert!(stderr_tail.contains("/srv/apkrepo"), "{stderr_tail}");
            }
            other => panic!("{other:?}"),
        }
        let old = "WARNING: Ignoring /srv/apkrepo: No such file or directory\n";
        assert!(interpret_refresh(&cmd, &finished(0, "", old), Duration::ZERO).is_err());
        // Other warnings are not fetch failures.
        let other = "WARNING: This apk-tools is OLD! Some packages might not function properly.\n";
        assert!(interpret_refresh(&cmd, &finished(0, UPDATE_APK2, other), Duration::ZERO).is_ok());
    }

    #[test]
    fn remote_failure_exit_code_fails() {
        let cmd = Command::new("apk").arg("update");
        let out = "1 unavailable, 0 stale; 5 distinct packages available\n";
        let err = "WARNING: fetching https://x.invalid/main: DNS lookup error\n";
        assert!(matches!(
            interpret_refresh(&cmd, &finished(1, out, err), Duration::ZERO),
            Err(PkgError::Command { code: Some(1), .. })
        ));
    }

    #[test]
    fn lock_contention_is_locked_but_permission_is_not() {
        let cmd = Command::new("apk").arg("update");
        let busy = "ERROR: Unable to lock database: Resource temporarily unavailable\n\
                    ERROR: Failed to open apk database: Resource temporarily unavailable\n";
        match interpret_refresh(&cmd, &finished(99, "", busy), Duration::from_secs(7)) {
            Err(PkgError::Locked { tool, waited }) => {
                assert_eq!((tool.as_str(), waited), ("apk", Duration::from_secs(7)));
            }
            other => panic!("{other:?}"),
        }
        let timed_out = "ERROR: Unable to lock database: Interrupted system call\n";
        assert!(is_lock_error(timed_out));
        let denied = "ERROR: Unable to lock database: Permission denied\n";
        assert!(!is_lock_error(denied));
        assert!(matches!(
            interpret_refresh(&cmd, &finished(99, "", denied), Duration::ZERO),
            Err(PkgError::Command { .. })
        ));
    }

    #[test]
    fn command_lines_on_the_host() {
        let apk = Apk::new(settings("/", Duration::from_secs(30)));
        assert_eq!(args(&apk.refresh_command()), ["--wait", "30", "update"]);
        assert_eq!(args(&apk.upgradable_command()), ["version", "-l", "<"]);
        let cmd = apk.refresh_command();
        assert_eq!(cmd.program, PathBuf::from("apk"));
        assert_eq!(cmd.timeout, Duration::from_secs(60));
    }

    #[test]
    fn command_lines_on_another_root_untrusted() {
        let apk =
            Apk::new(settings("/srv/apkroot", Duration::from_millis(1500))).allow_untrusted(true);
        assert_eq!(
            args(&apk.refresh_command()),
            [
                "--root",
                "/srv/apkroot",
                "--allow-untrusted",
                "--wait",
                "2",
                "update"
            ]
        );
        assert_eq!(
            args(&apk.upgradable_command()),
            [
                "--root",
                "/srv/apkroot",
                "--allow-untrusted",
                "version",
                "-l",
                "<"
            ]
        );
        assert_eq!(
            apk.database_paths(),
            [PathBuf::from("/srv/apkroot/lib/apk/db/installed")]
        );
    }

    #[test]
    fn zero_lock_wait_passes_no_wait() {
        let apk = Apk::new(settings("/", Duration::ZERO));
        assert_eq!(args(&apk.refresh_command()), ["update"]);
    }

    // --- package changes (verified on recorded output only) -------------------------------

    const INFO_A_APK3: &str = include_str!("../../tests/data/apk/info-a-lpa-hello-apk3.stdout");
    const ADD_NOPE_ERR: &str = include_str!("../../tests/data/apk/add-nope.stderr");
    const DEL_NOPE_ERR: &str = include_str!("../../tests/data/apk/del-nope.stderr");
    const ADD_EXACT_APK2: &str = include_str!("../../tests/data/apk/add-exact-apk2.stdout");
    const ADD_U_APK2: &str = include_str!("../../tests/data/apk/add-u-apk2.stdout");
    const ADD_DOWN_APK3: &str = include_str!("../../tests/data/apk/add-downgrade-apk3.stdout");
    const DEL_APK3: &str = include_str!("../../tests/data/apk/del-apk3.stdout");

    fn vs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn info_a_lists_every_version_in_apk2_and_apk3() {
        for out in [INFO_A_APK2, INFO_A_APK3] {
            assert_eq!(
                parse_info_versions(out, "lpa-hello"),
                ["1.0-r0", "1.1-r0", "2.0-r0"]
            );
            assert!(parse_info_versions(out, "lpa-lib").is_empty());
            assert!(parse_info_versions(out, "lpa").is_empty());
        }
        assert!(parse_info_versions("", "nope").is_empty());
    }

    #[test]
    fn exact_versions_are_checked_before_apk_runs() {
        let offered = vs(&["1.0-r0", "1.1-r0", "2.0-r0"]);
        let refuse = InstallOptions::default();
        let allow = InstallOptions {
            allow_downgrade: true,
            ..refuse
        };
        assert!(check_exact("lpa-hello", "2.0-r0", Some("1.1-r0"), &offered, &refuse).is_ok());
        match check_exact("lpa-hello", "1.1-r0", Some("2.0-r0"), &offered, &refuse) {
            Err(PkgError::VersionConflict(m)) => assert!(m.contains("allow_downgrade"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert!(check_exact("lpa-hello", "1.1-r0", Some("2.0-r0"), &offered, &allow).is_ok());
        match check_exact("lpa-hello", "3.0-r0", None, &offered, &allow) {
            Err(PkgError::VersionConflict(m)) => assert!(m.contains("1.0-r0, 1.1-r0, 2.0-r0")),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            check_exact("nope", "1-r0", None, &[], &allow),
            Err(PkgError::NotFound(n)) if n == "nope"
        ));
        // Installed but gone from the repositories: asking for that version is fine.
        assert!(check_exact("old", "1-r0", Some("1-r0"), &[], &refuse).is_ok());
    }

    #[test]
    fn change_command_lines() {
        let apk = Apk::new(settings("/", Duration::from_secs(30)));
        assert_eq!(
            args(&apk.add_command(&vs(&["lpa-hello=1.1-r0"]), false)),
            ["--wait", "30", "add", "--", "lpa-hello=1.1-r0"]
        );
        assert_eq!(
            args(&apk.add_command(&vs(&["lpa-hello", "lpa-lib"]), true)),
            ["--wait", "30", "add", "-u", "--", "lpa-hello", "lpa-lib"]
        );
        let del = |purge, force| {
            args(&apk.del_command(&vs(&["lpa-hello"]), &RemoveOptions { purge, force }))
        };
        assert_eq!(
            del(false, false),
            ["--wait", "30", "del", "--", "lpa-hello"]
        );
        assert_eq!(
            del(true, true),
            ["--wait", "30", "--purge", "del", "-r", "--", "lpa-hello"]
        );
        assert_eq!(
            args(&apk.versions_command("lpa-hello")),
            ["info", "-a", "--", "lpa-hello"]
        );
        let other = Apk::new(settings("/srv/apkroot", Duration::ZERO)).allow_untrusted(true);
        assert_eq!(
            args(&other.add_command(&vs(&["a"]), true)),
            [
                "--root",
                "/srv/apkroot",
                "--allow-untrusted",
                "add",
                "-u",
                "--",
                "a"
            ]
        );
    }

    #[test]
    fn restore_pins_old_versions_and_removes_new_packages() {
        let steps = [
            RestoreStep::Install {
                name: "lpa-hello".into(),
                version: "1.0-r0".into(),
                file: None,
            },
            RestoreStep::Remove {
                name: "lpa-tool".into(),
            },
        ];
        let (add, del) = restore_args(&steps);
        assert_eq!(add, ["lpa-hello=1.0-r0"]);
        assert_eq!(del, ["lpa-tool"]);
    }

    #[test]
    fn recorded_changes_are_classified() {
        let cmd = Command::new("apk");
        let w = Duration::from_secs(3);
        for ok in [ADD_EXACT_APK2, ADD_U_APK2, ADD_DOWN_APK3, DEL_APK3] {
            assert!(interpret_change(&cmd, &finished(0, ok, ""), w).is_ok());
        }
        assert!(matches!(
            interpret_change(&cmd, &finished(1, "", ADD_NOPE_ERR), w),
            Err(PkgError::NotFound(n)) if n == "nope"
        ));
        assert!(matches!(
            interpret_change(&cmd, &finished(1, "", DEL_NOPE_ERR), w),
            Err(PkgError::NotFound(n)) if n == "nope"
        ));
        let busy = "ERROR: Unable to lock database: Resource temporarily unavailable\n";
        assert!(matches!(
            interpret_change(&cmd, &finished(1, "", busy), w),
            Err(PkgError::Locked { waited, .. }) if waited == w
        ));
    }

    #[test]
    fn source_only_messages_are_classified() {
        let cmd = Command::new("apk");
        let w = Duration::ZERO;
        // app_del.c: exit 0, the package stays.
        let kept = "World updated, but the following packages are not removed due to:\n  lpa-lib: lpa-hello\n\nOK: 0 MiB in 2 packages\n";
        match interpret_change(&cmd, &finished(0, kept, ""), w) {
            Err(PkgError::DependencyConflict(m)) => {
                assert_eq!(m, "not removed, still needed: lpa-lib: lpa-hello")
            }
            other => panic!("{other:?}"),
        }
        let breaks = "ERROR: unable to select packages:\n  lpa-hello-2.0-r0:\n    breaks: world[lpa-lib<2.0]\n";
        assert!(matches!(
            interpret_change(&cmd, &finished(1, "", breaks), w),
            Err(PkgError::DependencyConflict(m)) if m.contains("breaks: world[lpa-lib<2.0]")
        ));
        // A failed install script: exit 1, package installed; a plain failure.
        let script = "ERROR: lpa-slow-1.0-r0.post-install: script exited with error 1\n";
        assert!(matches!(
            interpret_change(&cmd, &finished(1, "", script), w),
            Err(PkgError::Command { code: Some(1), .. })
        ));
    }

    #[test]
    fn unknown_names_from_both_recorded_forms() {
        assert_eq!(unknown_names(ADD_NOPE_ERR), ["nope"]);
        assert_eq!(unknown_names(DEL_NOPE_ERR), ["nope"]);
        assert!(unknown_names("ERROR: unable to select packages:\n  x-1-r0:\n").is_empty());
    }

    #[test]
    fn apk_changes_keep_cancel_and_timeout() {
        let c = runner::RunError::Cancelled {
            command: "apk add".into(),
        };
        assert!(matches!(PkgError::from(c), PkgError::Cancelled(m) if m == "apk add"));
        let t = runner::RunError::Timeout {
            command: "apk add".into(),
            after: Duration::from_secs(2),
        };
        assert!(matches!(PkgError::from(t), PkgError::Timeout { .. }));
    }

    const SECDB: &str = include_str!("../../tests/data/feeds/alpine-secdb-lpa.json");

    fn upgrade(name: &str, cur: &str, new: &str) -> Upgrade {
        Upgrade {
            name: name.into(),
            current_version: cur.into(),
            available_version: new.into(),
            arch: Some("x86_64".into()),
            origins: vec![],
        }
    }

    fn secdb_feed(root: &TempRoot, text: &str) -> FeedSettings {
        let path = root.0.join("secdb.json");
        fs::write(&path, text).unwrap();
        FeedSettings {
            path: Some(path),
            release: None,
        }
    }

    #[test]
    fn advisories_from_the_secdb() {
        let root = TempRoot::new("secdb", Some(INSTALLED));
        let feed = secdb_feed(&root, SECDB);
        let ups = [
            upgrade("lpa-hello", "1.1-r0", "2.0-r0"),
            upgrade("lpa-lib", "1.0-r0", "1.1-r0"),
        ];
        let all = root.apk().advisories(&ups, &feed).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].id, "lpa-hello-2.0-r0");
        assert_eq!(all[0].cve_ids, ["CVE-2026-0001"]);
        assert!(all[0].is_security() && all[1].is_security());
        assert_eq!(all[0].severity_source, "alpine-secdb");
        assert_eq!(all[0].severity, crate::pkg::advisories::Severity::Unknown);
        assert_eq!(all[1].cve_ids, ["CVE-2026-0005"]);

        let none = root
            .apk()
            .advisories(&ups, &FeedSettings::default())
            .unwrap();
        assert!(none
            .iter()
            .all(|a| !a.is_security() && a.severity_source == "none"));

        let bad = secdb_feed(&root, "{\"packages\": 1}");
        let err = root.apk().advisories(&ups, &bad).unwrap_err();
        assert!(err.to_string().contains("secdb.json"), "{err}");
    }

    #[test]
    fn subpackages_match_through_their_origin_and_kernels_need_a_reboot() {
        let db = "P:libcrypto3\nV:3.3.1-r0\nA:x86_64\no:openssl\nF:usr/lib\nR:libcrypto.so.3\n\n\
                  P:linux-lts\nV:6.6.1-r0\nA:x86_64\no:linux-lts\nF:boot\nR:vmlinuz-lts\n\n";
        let root = TempRoot::new("origin", Some(db));
        let feed = secdb_feed(
            &root,
            r#"{"packages": [{"pkg": {"name": "openssl", "secfixes": {"3.3.2-r0": ["CVE-2024-6119"]}}}]}"#,
        );
        let ups = [
            upgrade("libcrypto3", "3.3.1-r0", "3.3.2-r0"),
            upgrade("linux-lts", "6.6.1-r0", "6.6.2-r0"),
        ];
        let all = root.apk().advisories(&ups, &feed).unwrap();
        assert_eq!(all[0].cve_ids, ["CVE-2024-6119"]);
        assert!(!all[0].requires_reboot);
        assert!(all[1].requires_reboot);
        assert!(!all[1].is_security());
    }

    #[test]
    fn reboot_needs_no_kernel_in_the_recorded_root() {
        let root = TempRoot::new("reboot", Some(INSTALLED));
        let r = root.apk().reboot_required().unwrap();
        assert!(!r.required, "{r:?}");
        assert!(r.reason.contains("no kernel"), "{}", r.reason);
    }
}
