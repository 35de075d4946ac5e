//! pacman (Arch Linux) backend.
//!
//! The installed set is read from libalpm's local database directly
//! (`<root>/var/lib/pacman/local/<name>-<version>/{desc,files}`): a stable, line-oriented
//! format of `%SECTION%` headers followed by value lines and a blank line. Refresh (`-Sy`) and
//! the upgrade list (`-Qu`) are computed by pacman itself. pacman has no lock wait of its own:
//! it fails at once with "unable to lock database" while `db.lck` exists, so this backend
//! polls for the lock file with the configured bound first.
//!
//! Changes: `-S` installs a repository's version, `-U` a package file; there is no
//! `-S name=version`, so an exact version comes from a repository or from the package cache,
//! where pacman keeps every file it fetched (see "Package changes" below). Downgrades and
//! unknown versions are refused before pacman runs (pacman only warns "downgrading").
//! `no_recommends` changes nothing: pacman never installs optional dependencies. A failed
//! install script makes pacman print an error yet exit 0; that is reported as a failure.
//! A killed transaction leaves `db.lck`, which `repair` removes when no pacman runs.
//!
//! Parsers are tested on the real output of pacman 6.0.2 recorded in `tests/data/pacman/`.
//!
//! Advisories: one patch per Arch advisory group (AVG) from the security tracker feed when
//! configured (`advisories::arch_asa`), else one per upgrade. Reboot: the running kernel's
//! `usr/lib/modules` directory and the version of the package its `pkgbase` names.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use super::advisories::arch_asa::{self, AvgGroup};
use super::advisories::cache::FeedCache;
use super::advisories::feeds::FeedFormat;
use super::advisories::{reboot, with_uncovered, Advisory, FeedSettings, Parsed, RebootRequired};
use super::plan::{Change, Plan};
use super::runner::{self, Command};
use super::{
    BackendKind, BackendSettings, Exec, InstallOptions, InstalledPackage, MetadataCache,
    PackageDetails, PackageManager, PackageSpec, PkgError, RemoveOptions, RestoreStep,
    SavedPackage, Upgrade,
};

pub mod dry_run;
pub mod holds;
mod mutate;
mod outcome;
mod query;
mod rollback;
pub mod syncdb;

pub use self::mutate::{
    cache_file_version, cached_files, parse_sync_info, plan_install, InstallPlan, Offers, SyncEntry,
};
use self::outcome::{capture, command_failed, locked, tail, wait_for_lock_or_cancel};
pub use self::outcome::{
    interpret_change, is_dependency_error, running_pacman_pids, scriptlet_failed,
    stat_is_live_pacman, targets_not_found, wait_for_lock,
};
use self::query::{details_of, read_files, read_local_db, LocalEntry};
pub use self::query::{
    installed_from_desc, interpret_upgradable, is_lock_error, is_missing_sync_db, local_version,
    parse_depend, parse_files, parse_sections, parse_upgradable, reverse_dependencies_of, Sections,
};
use self::rollback::{lookup, save_one};

/// How often the lock file is looked at while another process holds it.
pub(super) const LOCK_POLL: Duration = Duration::from_millis(200);

/// How many trailing stderr lines an error keeps.
pub(super) const STDERR_TAIL_LINES: usize = 10;

/// The pacman backend.
#[derive(Clone, Debug)]
pub struct Pacman {
    settings: BackendSettings,
    config: Option<PathBuf>,
    /// The parsed Arch security feed, kept while its file is unchanged.
    asa: FeedCache<Parsed<Vec<AvgGroup>>>,
    /// What the sync databases offer, kept while they are unchanged.
    sync_index: syncdb::SyncIndex,
}

impl Pacman {
    /// A backend for `settings.root`, using that root's own `/etc/pacman.conf`.
    pub fn new(settings: BackendSettings) -> Self {
        Pacman {
            settings,
            config: None,
            asa: FeedCache::default(),
            sync_index: syncdb::SyncIndex::default(),
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

    /// The package cache, `<root>/var/cache/pacman/pkg` (pacman's default `CacheDir`; a
    /// `CacheDir` set in pacman.conf is not followed).
    pub fn cache_dir(&self) -> PathBuf {
        self.settings.root.join("var/cache/pacman/pkg")
    }

    /// `pacman [root options] -Si -- NAMES` (the sync databases' entries for the names).
    pub fn sync_info_command(&self, names: &[String]) -> Command {
        self.base_command().arg("-Si").arg("--").args(names)
    }

    /// `pacman --noconfirm -U [--needed] -- FILES`; `--needed` is left out when forcing a
    /// reinstall.
    pub fn install_files_command(&self, files: &[PathBuf], force: bool) -> Command {
        self.install_files_with(files, force, &[])
    }

    /// [`Pacman::install_files_command`] with `mode` options before the files (a dry
    /// run's `--print`), so that both are built here.
    pub(crate) fn install_files_with(
        &self,
        files: &[PathBuf],
        force: bool,
        mode: &[&str],
    ) -> Command {
        let cmd = self.base_command().arg("--noconfirm").arg("-U");
        let cmd = if force { cmd } else { cmd.arg("--needed") };
        cmd.args(mode.iter().copied()).arg("--").args(files)
    }

    /// `pacman --noconfirm -S [--needed] -- TARGETS`; `--needed` is left out when forcing a
    /// reinstall.
    pub fn install_targets_command(&self, targets: &[String], force: bool) -> Command {
        self.install_targets_with(targets, force, &[])
    }

    /// [`Pacman::install_targets_command`] with `mode` options before the targets.
    pub(crate) fn install_targets_with(
        &self,
        targets: &[String],
        force: bool,
        mode: &[&str],
    ) -> Command {
        let cmd = self.base_command().arg("--noconfirm").arg("-S");
        let cmd = if force { cmd } else { cmd.arg("--needed") };
        cmd.args(mode.iter().copied()).arg("--").args(targets)
    }

    /// `pacman --noconfirm -R [--nosave] [--nodeps --nodeps] -- NAMES`. `purge` = `--nosave`
    /// (`-n`: modified backup files are deleted instead of kept as `.pacsave`); `force` =
    /// `-dd` (skip every dependency check: the package goes even though others depend on
    /// it, and they stay installed with a missing dependency). Cascading (`-c`) would remove
    /// the dependents too, which the caller did not name.
    pub fn remove_command(&self, names: &[String], options: &RemoveOptions) -> Command {
        self.remove_with(names, options, &[])
    }

    /// [`Pacman::remove_command`] with `mode` options before the names.
    pub(crate) fn remove_with(
        &self,
        names: &[String],
        options: &RemoveOptions,
        mode: &[&str],
    ) -> Command {
        let mut cmd = self.base_command().arg("--noconfirm").arg("-R");
        if options.purge {
            cmd = cmd.arg("--nosave");
        }
        if options.force {
            cmd = cmd.arg("--nodeps").arg("--nodeps");
        }
        cmd.args(mode.iter().copied()).arg("--").args(names)
    }

    /// `pacman [root options] -Dk`: checks the local database's consistency.
    pub fn check_command(&self) -> Command {
        self.base_command().arg("-Dk")
    }

    /// What pacman offers for each name: one `-Si` for all of them plus the cache directory.
    fn offers(&self, names: &[String]) -> Result<Vec<(String, Offers)>, PkgError> {
        let sync = if names.is_empty() {
            Vec::new()
        } else {
            let cmd = self.sync_info_command(names);
            let done = capture(&cmd)?;
            // Exit 1 when some name is in no repository (stderr says which); the rest is
            // still printed.
            if !matches!(done.code, Some(0) | Some(1)) {
                return Err(command_failed(&cmd, &done));
            }
            parse_sync_info(&done.stdout)
        };
        let cache = self.cache_dir();
        names
            .iter()
            .map(|n| {
                let offer = Offers {
                    sync: sync.iter().filter(|e| &e.name == n).cloned().collect(),
                    cached: cached_files(&cache, n)?,
                };
                Ok((n.clone(), offer))
            })
            .collect()
    }

    fn installed_versions(&self) -> Result<Vec<(String, String)>, PkgError> {
        Ok(self
            .installed()?
            .into_iter()
            .map(|p| (p.name, p.version))
            .collect())
    }

    /// What the repositories enabled in pacman.conf offer of `name`, read from their sync
    /// databases; `None` when the configuration or a database cannot be read here.
    fn indexed_versions(&self, name: &str) -> Option<Vec<String>> {
        let conf = self
            .config
            .clone()
            .unwrap_or_else(|| self.settings.root.join("etc/pacman.conf"));
        let repos = syncdb::repositories(&std::fs::read_to_string(conf).ok()?)?;
        if repos.is_empty() {
            return None;
        }
        // A name on offer nowhere is confirmed by pacman (the refusal path only).
        self.sync_index
            .versions(&self.dbpath().join("sync"), &repos, name)
            .filter(|v| !v.is_empty())
    }

    /// How an install is carried out (`-U` of cache files, `-S` of repository targets),
    /// decided from the installed set and what pacman offers; shared by the install and
    /// its dry run.
    fn install_plan(
        &self,
        packages: &[PackageSpec],
        options: &InstallOptions,
    ) -> Result<InstallPlan, PkgError> {
        let installed = self.installed_versions()?;
        // What pacman offers decides an exact version's source and refuses a downgrade; a
        // name without a version that is not installed needs neither (`-S` resolves it and
        // fails with "target not found" itself), so it costs no `-Si` run.
        let names: Vec<String> = packages
            .iter()
            .filter(|p| p.version.is_some() || lookup(&installed, &p.name).is_some())
            .map(|p| p.name.clone())
            .collect();
        let offers = self.offers(&names)?;
        plan_install(
            packages,
            options,
            &|n| lookup(&installed, n).cloned(),
            &|n| lookup(&offers, n).cloned().unwrap_or_default(),
        )
    }

    /// Runs the transactions of a plan: `-U` of the files, then `-S` of the targets.
    fn apply_plan(
        &self,
        plan: &InstallPlan,
        force: bool,
        exec: &mut Exec<'_>,
    ) -> Result<(), PkgError> {
        if !plan.files.is_empty() {
            self.run_change(&self.install_files_command(&plan.files, force), exec)?;
        }
        if !plan.targets.is_empty() {
            self.run_change(&self.install_targets_command(&plan.targets, force), exec)?;
        }
        Ok(())
    }

    /// Runs one changing command with the job's deadline, output and cancel, after waiting
    /// (bounded by `lock_wait`) for another pacman's lock; pacman itself does not wait.
    fn run_change(&self, cmd: &Command, exec: &mut Exec<'_>) -> Result<(), PkgError> {
        let cmd = cmd.clone().timeout(exec.timeout).grace(exec.grace);
        let started = Instant::now();
        let deadline = started + self.settings.lock_wait;
        loop {
            match wait_for_lock_or_cancel(&self.lock_path(), deadline, exec.cancel) {
                Err(()) => return Err(PkgError::Cancelled(cmd.display())),
                Ok(false) => return Err(locked(started)),
                Ok(true) => {}
            }
            let done =
                runner::run_cancellable(&cmd, exec.on_line, exec.cancel).map_err(PkgError::from)?;
            if done.code != Some(0) && is_lock_error(&done.stderr) {
                // Another pacman took the lock between our look and its start.
                if Instant::now() >= deadline {
                    return Err(locked(started));
                }
                thread::sleep(LOCK_POLL);
                continue;
            }
            return interpret_change(&cmd, &done);
        }
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

    fn metadata_cache(&self) -> MetadataCache {
        super::refresh::cache_in(&self.dbpath().join("sync"))
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

    /// One patch per Arch advisory group (AVG) whose fix an upgrade brings, plus one plain
    /// patch per upgrade no group covers.
    fn advisories(
        &self,
        upgrades: &[Upgrade],
        feed: &FeedSettings,
    ) -> Result<Vec<Advisory>, PkgError> {
        let feeds: Vec<_> = feed
            .of(FeedFormat::ArchAsa)
            .filter_map(|src| {
                feed.load(src, |src| {
                    self.asa.get_or_load(&src.path, "", |p| {
                        let (index, report) = arch_asa::load(p, &src.name)?;
                        Ok(Parsed { index, report })
                    })
                })
            })
            .collect();
        // A group published by several feeds is one patch.
        let mut seen = std::collections::HashSet::new();
        let groups: Vec<arch_asa::AvgGroup> = feeds
            .iter()
            .flat_map(|f| f.index.iter())
            .filter(|g| seen.insert(g.name.clone()))
            .cloned()
            .collect();
        let mut kernels = std::collections::HashSet::new();
        for u in upgrades {
            let dir = self
                .local_dir()
                .join(format!("{}-{}", u.name, u.current_version));
            if reboot::has_kernel_image(&read_files(&dir)?) {
                kernels.insert(u.name.clone());
            }
        }
        let found = arch_asa::patches(&groups, upgrades, &|n| kernels.contains(n));
        let mut all = with_uncovered(found, upgrades);
        for p in &mut all {
            p.requires_reboot |= p.packages.iter().any(|a| kernels.contains(&a.name));
        }
        Ok(all)
    }

    fn holds(&self) -> Result<Vec<String>, PkgError> {
        self.read_holds()
    }

    fn hold_paths(&self) -> Vec<PathBuf> {
        self.hold_files()
    }

    fn hold(&self, name: &str) -> Result<(), PkgError> {
        self.add_hold(name)
    }

    fn unhold(&self, name: &str) -> Result<(), PkgError> {
        self.remove_hold(name)
    }

    /// The running kernel's `usr/lib/modules` directory and its `pkgbase` package.
    fn reboot_required(&self) -> Result<RebootRequired, PkgError> {
        let Some(running) = reboot::running_kernel() else {
            return Ok(reboot::unknown_kernel());
        };
        let local = self.local_dir();
        Ok(reboot::arch(&self.settings.root, &running, &|pkg| {
            local_version(&local, pkg)
        }))
    }

    /// From the sync databases' files where they can be read here (no process), else
    /// `pacman -Si`; plus the package cache.
    fn available_versions(&self, name: &str) -> Result<Vec<String>, PkgError> {
        let Some(sync) = self.indexed_versions(name) else {
            let offers = self.offers(&[name.to_string()])?;
            return Ok(offers.into_iter().flat_map(|(_, o)| o.versions()).collect());
        };
        let cached = cached_files(&self.cache_dir(), name)?;
        let mut out = sync;
        for (v, _) in cached {
            if !out.contains(&v) {
                out.push(v);
            }
        }
        Ok(out)
    }

    /// No `no_recommends` switch: pacman never installs optional dependencies.
    fn install(
        &self,
        packages: &[PackageSpec],
        options: &InstallOptions,
        exec: &mut Exec<'_>,
    ) -> Result<(), PkgError> {
        let plan = self.install_plan(packages, options)?;
        self.apply_plan(&plan, options.force, exec)
    }

    fn simulate(&self, change: &Change, exec: &mut Exec<'_>) -> Result<Plan, PkgError> {
        self.dry_run(change, exec)
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
        self.run_change(&self.remove_command(names, options), exec)
    }

    /// Copies the installed version's package file from the cache into `dir`; without one,
    /// a version still in a repository is returned with `file: None`, anything else is left
    /// out.
    fn save_for_rollback(
        &self,
        installed: &[(String, String)],
        dir: &Path,
        _exec: &mut Exec<'_>,
    ) -> Result<Vec<SavedPackage>, PkgError> {
        let names: Vec<String> = installed.iter().map(|(n, _)| n.clone()).collect();
        let offers = self.offers(&names)?;
        let mut out = Vec::new();
        for (name, version) in installed {
            let offer = lookup(&offers, name).cloned().unwrap_or_default();
            if let Some(saved) = save_one(name, version, &offer, dir)? {
                out.push(saved);
            }
        }
        Ok(out)
    }

    /// Reinstalls (`-U` of saved files, else from the cache or a repository, downgrades
    /// allowed) first, then removes (`-R`): returning an upgraded package to its old version
    /// first frees dependencies the job added, so removing those then breaks nothing.
    fn restore(&self, steps: &[RestoreStep], exec: &mut Exec<'_>) -> Result<(), PkgError> {
        let mut plan = InstallPlan::default();
        let mut specs = Vec::new();
        let mut removals = Vec::new();
        for step in steps {
            match step {
                RestoreStep::Install { file: Some(f), .. } if f.exists() => {
                    plan.files.push(f.clone())
                }
                RestoreStep::Install { name, version, .. } => specs.push(PackageSpec {
                    name: name.clone(),
                    version: Some(version.clone()),
                }),
                RestoreStep::Remove { name } => removals.push(name.clone()),
            }
        }
        if !specs.is_empty() {
            let names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
            let offers = self.offers(&names)?;
            let options = InstallOptions {
                allow_downgrade: true,
                ..InstallOptions::default()
            };
            let more = plan_install(&specs, &options, &|_| None, &|n| {
                lookup(&offers, n).cloned().unwrap_or_default()
            })?;
            plan.files.extend(more.files);
            plan.targets.extend(more.targets);
        }
        if !plan.is_empty() {
            self.apply_plan(&plan, false, exec)?;
        }
        if !removals.is_empty() {
            self.run_change(
                &self.remove_command(&removals, &RemoveOptions::default()),
                exec,
            )?;
        }
        Ok(())
    }

    /// A transaction killed by a timeout or cancel leaves `db.lck` behind (pacman removes it
    /// only on a normal exit or SIGINT/SIGHUP), and every later command fails on it. When no
    /// pacman process runs, the lock is stale: it is removed and the database checked with
    /// `pacman -Dk`. A lock with a live pacman anywhere on the host is left alone.
    fn repair(&self, exec: &mut Exec<'_>) -> Result<Vec<String>, PkgError> {
        let lock = self.lock_path();
        if !lock.exists() {
            return Ok(Vec::new());
        }
        let pids = running_pacman_pids(Path::new("/proc"));
        if !pids.is_empty() {
            log::info!(
                "pacman: {} kept: pacman is running ({pids:?})",
                lock.display()
            );
            return Ok(Vec::new());
        }
        match fs::remove_file(&lock) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => {
                return Err(PkgError::Io {
                    what: lock.display().to_string(),
                    error,
                })
            }
        }
        let mut done = vec![format!(
            "removed the stale pacman lock {} left by an interrupted transaction",
            lock.display()
        )];
        let cmd = self.check_command().timeout(exec.timeout).grace(exec.grace);
        let check =
            runner::run_cancellable(&cmd, exec.on_line, exec.cancel).map_err(PkgError::from)?;
        done.push(match check.code {
            Some(0) => format!("{}: no database errors", cmd.display()),
            code => format!(
                "{} found problems (exit {code:?}): {}",
                cmd.display(),
                tail(
                    &format!("{}{}", check.stdout, check.stderr),
                    STDERR_TAIL_LINES
                )
            ),
        });
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pkg::runner::Finished;
    use crate::pkg::Dependency;
    use std::ffi::OsString;

    pub(super) const HELLO_DESC: &str =
        include_str!("../../../tests/data/pacman/local-lpa-hello-1.0-1-desc");
    pub(super) const HELLO_FILES: &str =
        include_str!("../../../tests/data/pacman/local-lpa-hello-1.0-1-files");
    const LIB_DESC: &str = include_str!("../../../tests/data/pacman/local-lpa-lib-1.0-1-desc");
    const LIB_FILES: &str = include_str!("../../../tests/data/pacman/local-lpa-lib-1.0-1-files");
    const TOOL_DESC: &str = include_str!("../../../tests/data/pacman/local-lpa-tool-1.0-1-desc");
    const TOOL_FILES: &str = include_str!("../../../tests/data/pacman/local-lpa-tool-1.0-1-files");
    const HELLO_11_DESC: &str =
        include_str!("../../../tests/data/pacman/local-lpa-hello-1.1-1-desc");
    pub(super) const U_LOCKED_ERR: &str =
        include_str!("../../../tests/data/pacman/u-locked.stderr");
    pub(super) const SY_BAD_ERR: &str =
        include_str!("../../../tests/data/pacman/sy-badserver.stderr");

    fn settings(root: &Path) -> BackendSettings {
        BackendSettings {
            root: root.to_path_buf(),
            command_timeout: Duration::from_secs(30),
            lock_wait: Duration::from_millis(300),
        }
    }

    /// A fresh directory under the system temp dir, removed on drop.
    pub(super) struct TempRoot(pub(super) PathBuf);

    impl TempRoot {
        pub(super) fn new(tag: &str) -> TempRoot {
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

    pub(super) fn finished(code: i32, stdout: &str, stderr: &str) -> Finished {
        Finished {
            code: Some(code),
            stdout: stdout.to_string(),
            stderr: stderr.to_string(),
        }
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

    pub(super) fn entry(repo: &str, name: &str, version: &str) -> SyncEntry {
        SyncEntry {
            repo: repo.into(),
            name: name.into(),
            version: version.into(),
        }
    }

    #[test]
    fn install_and_remove_command_lines() {
        let pm = Pacman::new(settings(Path::new("/")));
        let files = [PathBuf::from("/var/cache/pacman/pkg/a-1-1-any.pkg.tar.zst")];
        assert_eq!(
            args(&pm.install_files_command(&files, false)),
            [
                "--noconfirm",
                "-U",
                "--needed",
                "--",
                "/var/cache/pacman/pkg/a-1-1-any.pkg.tar.zst"
            ]
        );
        assert_eq!(
            args(&pm.install_files_command(&files, true)),
            [
                "--noconfirm",
                "-U",
                "--",
                "/var/cache/pacman/pkg/a-1-1-any.pkg.tar.zst"
            ]
        );
        let targets = ["a".to_string(), "lpa/b".to_string()];
        assert_eq!(
            args(&pm.install_targets_command(&targets, false)),
            ["--noconfirm", "-S", "--needed", "--", "a", "lpa/b"]
        );
        assert_eq!(
            args(&pm.install_targets_command(&targets, true)),
            ["--noconfirm", "-S", "--", "a", "lpa/b"]
        );
        let names = ["a".to_string()];
        let rm = |purge, force| args(&pm.remove_command(&names, &RemoveOptions { purge, force }));
        assert_eq!(rm(false, false), ["--noconfirm", "-R", "--", "a"]);
        assert_eq!(
            rm(true, false),
            ["--noconfirm", "-R", "--nosave", "--", "a"]
        );
        assert_eq!(
            rm(true, true),
            [
                "--noconfirm",
                "-R",
                "--nosave",
                "--nodeps",
                "--nodeps",
                "--",
                "a"
            ]
        );
        assert_eq!(args(&pm.sync_info_command(&names)), ["-Si", "--", "a"]);
        assert_eq!(args(&pm.check_command()), ["-Dk"]);
        assert_eq!(pm.cache_dir(), PathBuf::from("/var/cache/pacman/pkg"));
    }

    #[test]
    fn change_commands_on_another_root() {
        let pm = Pacman::new(settings(Path::new("/mnt/img")));
        let a = args(&pm.remove_command(&["a".into()], &RemoveOptions::default()));
        assert_eq!(a[..2], ["--root", "/mnt/img"]);
        assert_eq!(a[a.len() - 4..], ["--noconfirm", "-R", "--", "a"]);
        assert_eq!(
            pm.cache_dir(),
            PathBuf::from("/mnt/img/var/cache/pacman/pkg")
        );
    }

    fn quiet_exec<'a>(
        on_line: &'a mut dyn FnMut(runner::Stream, &str),
        cancel: &'a runner::Cancel,
    ) -> Exec<'a> {
        Exec {
            on_line,
            cancel,
            timeout: Duration::from_secs(5),
            grace: runner::KILL_GRACE,
            start: None,
        }
    }

    #[test]
    fn repair_without_a_lock_does_nothing() {
        let t = recorded_root("repair-none");
        let cancel = runner::Cancel::new();
        let mut sink = |_: runner::Stream, _: &str| {};
        let mut exec = quiet_exec(&mut sink, &cancel);
        assert!(Pacman::new(settings(&t.0))
            .repair(&mut exec)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn a_held_lock_refuses_a_change_without_running_pacman() {
        let t = recorded_root("change-locked");
        fs::write(t.0.join("var/lib/pacman/db.lck"), "").unwrap();
        let cancel = runner::Cancel::new();
        let mut sink = |_: runner::Stream, _: &str| {};
        let mut exec = quiet_exec(&mut sink, &cancel);
        let pm = Pacman::new(settings(&t.0));
        match pm.remove(&["lpa-tool".into()], &RemoveOptions::default(), &mut exec) {
            Err(PkgError::Locked { waited, .. }) => assert!(waited >= Duration::from_millis(300)),
            other => panic!("{other:?}"),
        }
        // A cancel while waiting for the lock ends the wait at once.
        cancel.cancel();
        let start = Instant::now();
        assert!(matches!(
            pm.remove(&["lpa-tool".into()], &RemoveOptions::default(), &mut exec),
            Err(PkgError::Cancelled(_))
        ));
        assert!(start.elapsed() < Duration::from_millis(300));
    }

    const ARCH_FEED: &str = include_str!("../../../tests/sandbox/feeds/arch-security.json");

    fn pacman_for(root: &Path) -> Pacman {
        Pacman::new(BackendSettings {
            root: root.to_path_buf(),
            command_timeout: Duration::from_secs(30),
            lock_wait: Duration::from_millis(300),
        })
    }

    fn up(name: &str, cur: &str, new: &str) -> Upgrade {
        Upgrade {
            name: name.into(),
            current_version: cur.into(),
            available_version: new.into(),
            arch: None,
            origins: vec![],
        }
    }

    fn local_entry(root: &Path, name: &str, version: &str, files: &str) {
        let dir = root.join(format!("var/lib/pacman/local/{name}-{version}"));
        fs::create_dir_all(&dir).unwrap();
        fs::write(
            dir.join("desc"),
            format!("%NAME%\n{name}\n\n%VERSION%\n{version}\n\n"),
        )
        .unwrap();
        fs::write(dir.join("files"), format!("%FILES%\n{files}\n")).unwrap();
    }

    fn feed_root(tag: &str) -> (PathBuf, FeedSettings) {
        let root =
            std::env::temp_dir().join(format!("lpa-pacman-adv-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&root).unwrap();
        let path = root.join("all.json");
        fs::write(&path, ARCH_FEED).unwrap();
        let feed = FeedSettings::single("arch-asa", FeedFormat::ArchAsa, path, None);
        (root, feed)
    }

    #[test]
    fn advisories_from_the_arch_feed() {
        let (root, feed) = feed_root("feed");
        local_entry(
            &root,
            "lpa-hello",
            "1.0-1",
            "usr/\nusr/bin/\nusr/bin/lpa-hello",
        );
        local_entry(
            &root,
            "lpa-lib",
            "1.0-1",
            "usr/\nusr/lib/modules/6.6.1-arch1-1/vmlinuz",
        );
        local_entry(&root, "lpa-tool", "1.0-1", "usr/bin/lpa-tool");
        let ups = [
            up("lpa-hello", "1.0-1", "2.0-1"),
            up("lpa-lib", "1.0-1", "1.1-1"),
            up("lpa-tool", "1.0-1", "1.0-2"),
        ];
        let p = pacman_for(&root);
        let all = p.advisories(&ups, &feed).unwrap();
        let ids: Vec<&str> = all.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, ["AVG-9001", "AVG-9002", "lpa-tool-1.0-2"]);
        assert_eq!(all[0].cve_ids, ["CVE-2026-0001", "CVE-2026-0004"]);
        assert_eq!(all[0].severity_source, "arch-asa");
        assert!(!all[0].requires_reboot);
        assert!(all[1].requires_reboot, "lpa-lib installs a kernel image");
        assert!(!all[2].is_security());
        assert_eq!(p.advisories(&ups, &feed).unwrap(), all);

        let plain = p.advisories(&ups, &FeedSettings::default()).unwrap();
        assert_eq!(plain.len(), 3);
        assert!(plain[1].requires_reboot && !plain[0].is_security());

        // A second feed listing the same groups adds nothing.
        let mut twice = feed.clone();
        let copy = root.join("copy.json");
        fs::copy(&feed.feeds[0].path, &copy).unwrap();
        let mut second = twice.feeds[0].clone();
        second.name = "arch-mirror".into();
        second.path = copy;
        twice.feeds.push(second);
        assert_eq!(p.advisories(&ups, &twice).unwrap(), all);

        // An unreadable feed is named on the board; its patches fall back to plain ones.
        fs::write(&feed.feeds[0].path, "[{\"name\": 1}]").unwrap();
        assert_eq!(p.advisories(&ups, &feed).unwrap(), plain);
        let why = feed.board.snapshot()[0].error.clone().unwrap();
        assert!(why.contains("all.json"), "{why}");
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn installed_kernel_version_from_the_local_db() {
        let (root, _) = feed_root("kernel");
        local_entry(
            &root,
            "linux",
            "6.6.1.arch1-1",
            "usr/lib/modules/6.6.1-arch1-1/vmlinuz",
        );
        local_entry(
            &root,
            "linux-lts",
            "6.6.30-1",
            "usr/lib/modules/6.6.30-1-lts/vmlinuz",
        );
        local_entry(&root, "linux-api-headers", "6.4-1", "usr/include/");
        let local = root.join("var/lib/pacman/local");
        assert_eq!(
            local_version(&local, "linux").as_deref(),
            Some("6.6.1.arch1-1")
        );
        assert_eq!(
            local_version(&local, "linux-lts").as_deref(),
            Some("6.6.30-1")
        );
        assert_eq!(local_version(&local, "linux-zen"), None);
        // Without a kernel under usr/lib/modules (this root has only the db): not required.
        let r = pacman_for(&root).reboot_required().unwrap();
        assert!(!r.required, "{r:?}");
        fs::remove_dir_all(&root).unwrap();
    }
}
