//! dnf (Fedora, RHEL 8+) and yum (RHEL/CentOS 7) over the rpm database: one backend, two
//! kinds, because yum 3's command line and `check-update` output are dnf's ancestors.
//!
//! The installed set and details come from rpm ([`super::rpm::rpmdb`]); the tool computes the
//! upgrades (`check-update`, exit 100 when there are some) and refreshes metadata.
//!
//! Verified against the real dnf 4.14.0 / rpm 4.18.0 (outputs in `tests/data/dnf/`). yum
//! could not be run here: its parser is tested on samples of CentOS 7 output written from
//! knowledge of yum 3.4.3, NOT recorded (`tests/data/yum/README.md`).
//!
//! Changes (install, remove, rollback) run dnf itself with the job's output sink, cancel
//! token and deadline; rpm (`rpm -e --test`) vets removals first and the rpm database is
//! checked after each change, because dnf exits 0 in cases that did not do what was asked
//! (see `tests/data/dnf/README.md`). yum's change commands follow yum 3's documented
//! verbs (`update`, `downgrade`) but were NOT run here.
//!
//! Roots: when the root is `/` (the agent on the host, or inside a sandbox root) the tool
//! reads its own /etc. For another root, `--installroot R` plus `--config R/etc/...` and
//! (dnf) `--setopt=reposdir=R/etc/yum.repos.d`, because dnf resolves both of those on the
//! HOST when they are given on the command line and may fall back to the host's otherwise.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::advisories::{Advisory, FeedSettings, RebootRequired};
use super::offers::OfferIndex;
use super::plan::{Change, Plan};
use super::rpm::memo::InstalledMemo;
use super::rpm::{self, primary, repos, rpmdb, updateinfo};
use super::runner::{self, Command, Finished};
use super::{
    validate, version, BackendKind, BackendSettings, Exec, InstallOptions, InstalledPackage,
    MetadataCache, PackageDetails, PackageManager, PackageSpec, PkgError, RemoveOptions,
    RestoreStep, SavedPackage, Upgrade,
};

mod advisories;
pub mod dry_run;
pub mod holds;
mod mutate;
mod outcome;
mod query;
mod rollback;

pub use self::advisories::{parse_updateinfo_list, UpdateinfoEntry};
pub use self::mutate::{exact, plan_install, spec_arg, split_steps, ExactInstall, InstallPlan};
pub use self::outcome::{classify_failure, is_locked, with_lock_retry, DnfFailure};
pub use self::query::{parse_check_update, parse_list_versions, upgrades_from, CheckUpdate};
use self::rollback::{copy_from_cache, find_rpm};

/// dnf's and yum's exit status when another instance holds their lock and
/// `exit_on_lock` is set.
pub(super) const EXIT_LOCKED: i32 = 200;
/// `check-update`: updates are available.
const EXIT_UPDATES: i32 = 100;
/// How often a locked command is retried within [`BackendSettings::lock_wait`].
const LOCK_POLL: Duration = Duration::from_secs(1);

/// The dnf or yum backend.
#[derive(Clone, Debug)]
pub struct Dnf {
    settings: BackendSettings,
    kind: BackendKind,
    /// A job reads the installed set several times while nothing changes it.
    memo: InstalledMemo,
    /// What the enabled repositories offer, from dnf's metadata cache.
    offers: OfferIndex,
}

impl Dnf {
    /// A dnf backend.
    pub fn new(settings: BackendSettings) -> Self {
        Dnf {
            settings,
            kind: BackendKind::Dnf,
            memo: InstalledMemo::default(),
            offers: OfferIndex::default(),
        }
    }

    /// A yum backend (same rpm database, yum's command line).
    pub fn yum(settings: BackendSettings) -> Self {
        Dnf {
            settings,
            kind: BackendKind::Yum,
            memo: InstalledMemo::default(),
            offers: OfferIndex::default(),
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
        self.tool_command(true)
    }

    /// Like [`Dnf::base_command`] without `--quiet`: changes log their transaction table
    /// and progress lines, which the job log shows.
    pub fn mutation_command(&self) -> Command {
        self.tool_command(false)
    }

    fn tool_command(&self, quiet: bool) -> Command {
        let mut cmd = Command::new(self.program())
            .timeout(self.settings.command_timeout)
            .arg("--assumeyes");
        if quiet {
            cmd = cmd.arg("--quiet");
        }
        cmd = cmd.args([
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

    /// `updateinfo list --updates` (dnf) / `updateinfo list updates` (yum): each advisory
    /// with the upgradable package it fixes (`ID TYPE NEVRA`).
    pub fn updateinfo_list_command(&self) -> Command {
        self.updateinfo_command("list")
    }

    /// `updateinfo info --updates` / `updateinfo info updates`: title, type, severity,
    /// CVE ids and description of those advisories.
    pub fn updateinfo_info_command(&self) -> Command {
        self.updateinfo_command("info")
    }

    fn updateinfo_command(&self, what: &str) -> Command {
        let cmd = self.base_command().args(["updateinfo", what]);
        match self.kind {
            BackendKind::Yum => cmd.arg("updates"),
            _ => cmd.arg("--updates"),
        }
    }

    /// `upgrade [--exclude=NAME...] --advisory=ID...` (yum: `update`): the tool's own
    /// advisory path. `--exclude` was checked to hold with `--advisory` (dnf 4.14: "Nothing
    /// to do." when the only package is excluded).
    pub fn advisory_upgrade_command(&self, ids: &[&str], exclude: &[String]) -> Command {
        self.advisory_upgrade_with(ids, exclude, &[])
    }

    /// [`Dnf::advisory_upgrade_command`] with `mode` options before the verb (a dry run's
    /// `--assumeno`), so that both are built here.
    pub(crate) fn advisory_upgrade_with(
        &self,
        ids: &[&str],
        exclude: &[String],
        mode: &[&str],
    ) -> Command {
        let mut cmd = self.mutation_command().args(mode.iter().copied());
        for name in exclude {
            cmd = cmd.arg(format!("--exclude={name}"));
        }
        cmd = cmd.arg(self.upgrade_verb());
        for id in ids {
            cmd = cmd.arg(format!("--advisory={id}"));
        }
        cmd
    }

    /// Runs a read-only command and fails on any exit but 0.
    fn run_ok(&self, cmd: &Command) -> Result<Finished, PkgError> {
        let finished = self.run(cmd)?;
        if finished.code != Some(0) {
            return Err(rpmdb::command_failed(cmd, &finished));
        }
        Ok(finished)
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

    /// `--showduplicates list -- NAME`: the installed and every available version.
    pub fn list_versions_command(&self, name: &str) -> Command {
        self.base_command()
            .args(["--showduplicates", "list", "--", name])
    }

    /// A change command: `VERB [weak-deps switch] -- ARGS`. `no_recommends` maps to
    /// `--setopt=install_weak_deps=False` (dnf only: yum 3 has no weak dependencies).
    pub fn change_command(&self, verb: &str, args: &[String], no_recommends: bool) -> Command {
        self.change_with(verb, args, no_recommends, &[])
    }

    /// [`Dnf::change_command`] with `mode` options before the verb (a dry run's
    /// `--assumeno`).
    pub(crate) fn change_with(
        &self,
        verb: &str,
        args: &[String],
        no_recommends: bool,
        mode: &[&str],
    ) -> Command {
        let mut cmd = self.mutation_command().args(mode.iter().copied());
        if no_recommends && self.kind != BackendKind::Yum {
            cmd = cmd.arg("--setopt=install_weak_deps=False");
        }
        cmd.arg(verb)
            .arg("--")
            .args(args.iter().map(String::as_str))
    }

    /// Updating installed packages: dnf `upgrade`, yum `update`.
    fn upgrade_verb(&self) -> &'static str {
        match self.kind {
            BackendKind::Yum => "update",
            _ => "upgrade",
        }
    }

    /// `reinstall --downloadonly --destdir DIR -- name-version...`: fetches the installed
    /// versions' packages from the repositories without changing anything (core dnf 4; no
    /// plugin needed).
    pub fn download_command(&self, args: &[String], dir: &Path) -> Command {
        self.mutation_command()
            .args(["reinstall", "--downloadonly", "--destdir"])
            .arg(dir.as_os_str())
            .arg("--")
            .args(args.iter().map(String::as_str))
    }

    /// Runs a change with the job's output sink, cancel token and deadline, retrying while
    /// the lock is busy (up to the lock bound).
    fn run_exec(&self, cmd: &Command, exec: &mut Exec<'_>) -> Result<Finished, PkgError> {
        let cmd = cmd.clone().timeout(exec.timeout).grace(exec.grace);
        let (on_line, cancel) = (&mut *exec.on_line, exec.cancel);
        let mut attempt =
            || runner::run_cancellable(&cmd, &mut *on_line, cancel).map_err(PkgError::from);
        with_lock_retry(
            &mut attempt,
            self.settings.lock_wait,
            LOCK_POLL,
            self.program(),
        )
    }

    /// Runs a change and turns a failure into the matching error.
    fn change(
        &self,
        cmd: &Command,
        specs: &[PackageSpec],
        exec: &mut Exec<'_>,
    ) -> Result<(), PkgError> {
        let finished = self.run_exec(cmd, exec)?;
        if finished.code == Some(0) {
            return Ok(());
        }
        Err(self.failure(cmd, &finished, specs))
    }

    fn failure(&self, cmd: &Command, finished: &Finished, specs: &[PackageSpec]) -> PkgError {
        match classify_failure(finished) {
            DnfFailure::Unmatched(args) => rpmdb::unmatched(self, &args, specs, spec_arg),
            DnfFailure::Dependency(problem) => PkgError::DependencyConflict(problem),
            DnfFailure::Other => rpmdb::command_failed(cmd, finished),
        }
    }

    /// Installs (files or `name-version`) as a rollback needs: dnf installs, upgrades or
    /// downgrades to exactly what is named; yum's `install` refuses lower versions, so
    /// those go through `downgrade`.
    fn install_exact(&self, items: &[ExactInstall], exec: &mut Exec<'_>) -> Result<(), PkgError> {
        let current = rpmdb::installed_versions(&self.installed()?);
        let (mut install, mut downgrade) = (Vec::new(), Vec::new());
        for (name, version, file) in items {
            let arg = match file {
                Some(f) => f.display().to_string(),
                None => format!("{name}-{version}"),
            };
            let lower = current
                .get(name)
                .is_some_and(|c| version::rpm(version, c).is_lt());
            if self.kind == BackendKind::Yum && lower {
                downgrade.push(arg);
            } else {
                install.push(arg);
            }
        }
        let specs: Vec<PackageSpec> = items
            .iter()
            .map(|(n, v, _)| PackageSpec {
                name: n.clone(),
                version: Some(v.clone()),
            })
            .collect();
        for (verb, args) in [("install", install), ("downgrade", downgrade)] {
            if !args.is_empty() {
                self.change(&self.change_command(verb, &args, false), &specs, exec)?;
            }
        }
        Ok(())
    }

    /// Saves the installed versions' packages into `dir` (dnf: downloaded from the
    /// repositories, else copied from dnf's package cache); yum 3 could not be run here, so
    /// it only reports versions its repositories still offer (`file: None`).
    fn save(
        &self,
        installed: &[(String, String)],
        dir: &Path,
        exec: &mut Exec<'_>,
    ) -> Result<Vec<SavedPackage>, PkgError> {
        if self.kind == BackendKind::Yum {
            return self.still_published(installed);
        }
        std::fs::create_dir_all(dir).map_err(|error| PkgError::Io {
            what: format!("creating {}", dir.display()),
            error,
        })?;
        let args: Vec<String> = installed.iter().map(|(n, v)| format!("{n}-{v}")).collect();
        let batch = self.run_exec(&self.download_command(&args, dir), exec)?;
        let mut saved = Vec::new();
        for (name, version) in installed {
            let mut file = find_rpm(dir, name, version);
            if file.is_none() && batch.code != Some(0) {
                // One unpublished version fails the whole batch: fetch the others alone.
                let one = [format!("{name}-{version}")];
                self.run_exec(&self.download_command(&one, dir), exec)?;
                file = find_rpm(dir, name, version);
            }
            if file.is_none() {
                file = copy_from_cache(&self.settings.root, name, version, dir)?;
            }
            if let Some(file) = file {
                saved.push(SavedPackage {
                    name: name.clone(),
                    version: version.clone(),
                    file: Some(file),
                });
            }
        }
        Ok(saved)
    }

    fn still_published(
        &self,
        installed: &[(String, String)],
    ) -> Result<Vec<SavedPackage>, PkgError> {
        let mut saved = Vec::new();
        for (name, version) in installed {
            let offered = self.available_versions(name)?;
            if offered.iter().any(|v| rpmdb::version_matches(v, version)) {
                saved.push(SavedPackage {
                    name: name.clone(),
                    version: version.clone(),
                    file: None,
                });
            }
        }
        Ok(saved)
    }

    fn validate_specs(&self, specs: &[PackageSpec]) -> Result<(), PkgError> {
        for spec in specs {
            validate::name(self.kind, &spec.name)?;
            if let Some(v) = &spec.version {
                validate::version(self.kind, v)?;
            }
        }
        Ok(())
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

/// A patch run's selection as dnf takes it, checked: advisories of updateinfo (by id, one
/// `upgrade --advisory` transaction) and plain updates (exact-version installs). The real
/// run and its dry run both start from it.
struct AdvisorySplit<'a> {
    ids: Vec<&'a str>,
    with_id: Vec<&'a Advisory>,
    plain: Vec<&'a Advisory>,
    /// Whether an advisory package is left after the exclusions (else dnf has nothing to do).
    pending: bool,
}

impl Dnf {
    /// Validates `exclude` and the advisory ids, and splits `selected`.
    fn split_advisories<'a>(
        &self,
        selected: &'a [Advisory],
        exclude: &[String],
    ) -> Result<AdvisorySplit<'a>, PkgError> {
        for name in exclude {
            validate::name(self.kind, name)?;
        }
        let (with_id, plain): (Vec<&Advisory>, Vec<&Advisory>) = selected
            .iter()
            .partition(|a| a.severity_source == updateinfo::SOURCE);
        let ids: Vec<&str> = with_id.iter().map(|a| a.id.as_str()).collect();
        for id in &ids {
            updateinfo::validate_id(id)?;
        }
        let pending = with_id
            .iter()
            .flat_map(|a| a.packages.iter())
            .any(|p| !exclude.contains(&p.name));
        Ok(AdvisorySplit {
            ids,
            with_id,
            plain,
            pending,
        })
    }
}

impl PackageManager for Dnf {
    fn kind(&self) -> BackendKind {
        self.kind
    }

    fn installed(&self) -> Result<Vec<InstalledPackage>, PkgError> {
        self.memo
            .get(&self.settings.root, || rpmdb::installed(&self.settings))
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

    fn metadata_cache(&self) -> MetadataCache {
        let dir = match self.kind {
            BackendKind::Yum => "var/cache/yum",
            _ => "var/cache/dnf",
        };
        super::refresh::cache_in(&self.settings.root.join(dir))
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

    fn available_versions(&self, name: &str) -> Result<Vec<String>, PkgError> {
        validate::name(self.kind, name)?;
        let cmd = self.list_versions_command(name);
        let finished = self.run(&cmd)?;
        match finished.code {
            Some(0) => Ok(parse_list_versions(&finished.stdout, name)),
            Some(1) if finished.stderr.contains("No matching Packages to list") => Ok(Vec::new()),
            _ => Err(rpmdb::command_failed(&cmd, &finished)),
        }
    }

    /// From the primary lists in dnf's cache of the repositories it has enabled (yum's
    /// cache is laid out differently: yum is asked).
    fn indexed_versions(&self, name: &str) -> Option<Vec<String>> {
        if self.kind == BackendKind::Yum {
            return None;
        }
        let dirs = repos::dnf_metadata_dirs(&self.settings.root)?;
        self.offers
            .versions(repos::stamped(&dirs), || primary::offers_of(&dirs), name)
    }

    /// dnf `install` does not update an installed package named without a version
    /// ("already installed"), so those go through `upgrade`; `force` reinstalls what is
    /// already at the requested version (for a bare name: what the update left unchanged).
    fn install(
        &self,
        packages: &[PackageSpec],
        options: &InstallOptions,
        exec: &mut Exec<'_>,
    ) -> Result<(), PkgError> {
        self.validate_specs(packages)?;
        if packages.is_empty() {
            return Ok(());
        }
        let before = rpmdb::installed_versions(&self.installed()?);
        rpmdb::check_downgrades(&before, packages, options.allow_downgrade)?;
        let plan = plan_install(&before, packages, options.force);
        let nr = options.no_recommends;
        if !plan.install.is_empty() {
            self.change(
                &self.change_command("install", &plan.install, nr),
                packages,
                exec,
            )?;
        }
        if !plan.upgrade.is_empty() {
            let verb = self.upgrade_verb();
            self.change(
                &self.change_command(verb, &plan.upgrade, nr),
                packages,
                exec,
            )?;
        }
        let mut reinstall = plan.reinstall;
        if !plan.reinstall_if_unchanged.is_empty() {
            let now = rpmdb::installed_versions(&self.installed()?);
            reinstall.extend(
                plan.reinstall_if_unchanged
                    .into_iter()
                    .filter(|n| now.get(n) == before.get(n)),
            );
        }
        if !reinstall.is_empty() {
            self.change(
                &self.change_command("reinstall", &reinstall, nr),
                packages,
                exec,
            )?;
        }
        let after = rpmdb::installed_versions(&self.installed()?);
        rpmdb::verify_versions(&after, &exact(packages))
    }

    /// `remove` takes the dependents with it, so without `force` rpm's own test refuses
    /// first. rpm deletes unmodified `%config` files and keeps modified ones as
    /// `.rpmsave`: `purge` has nothing more to do.
    fn remove(
        &self,
        names: &[String],
        options: &RemoveOptions,
        exec: &mut Exec<'_>,
    ) -> Result<(), PkgError> {
        for n in names {
            validate::name(self.kind, n)?;
        }
        if names.is_empty() {
            return Ok(());
        }
        rpmdb::check_removal(&self.settings, names, options.force)?;
        self.change(&self.change_command("remove", names, false), &[], exec)
    }

    fn save_for_rollback(
        &self,
        installed: &[(String, String)],
        dir: &Path,
        exec: &mut Exec<'_>,
    ) -> Result<Vec<SavedPackage>, PkgError> {
        if installed.is_empty() {
            return Ok(Vec::new());
        }
        self.save(installed, dir, exec)
    }

    /// Two transactions (dnf has no remove-and-install verb outside `dnf shell`): removals
    /// first, so that what they made room for can come back, then the exact versions.
    fn restore(&self, steps: &[RestoreStep], exec: &mut Exec<'_>) -> Result<(), PkgError> {
        let (removes, installs) = split_steps(steps);
        if !removes.is_empty() {
            rpmdb::check_removal(&self.settings, &removes, false)?;
            self.change(&self.change_command("remove", &removes, false), &[], exec)?;
        }
        if installs.is_empty() {
            return Ok(());
        }
        self.install_exact(&installs, exec)?;
        let after = rpmdb::installed_versions(&self.installed()?);
        let wanted: Vec<(String, String)> = installs.into_iter().map(|(n, v, _)| (n, v)).collect();
        rpmdb::verify_versions(&after, &wanted)
    }

    /// dnf's own `updateinfo list`/`info` output, plus `reboot_suggested` and the issue
    /// date from the cached `updateinfo.xml` (see [`updateinfo`]); each cached file's
    /// parse (records kept and skipped) goes on the feed board as `updateinfo <repo id>`.
    fn advisories(
        &self,
        upgrades: &[Upgrade],
        feed: &FeedSettings,
    ) -> Result<Vec<Advisory>, PkgError> {
        if upgrades.is_empty() {
            return Ok(Vec::new());
        }
        let list = self.run_ok(&self.updateinfo_list_command())?;
        let entries = updateinfo::parse_list(&list.stdout)?;
        if entries.is_empty() {
            return Ok(updateinfo::build(&[], &[], &Default::default(), upgrades));
        }
        let info = self.run_ok(&self.updateinfo_info_command())?;
        let blocks = updateinfo::parse_info(&info.stdout);
        let listed: std::collections::HashSet<&str> =
            entries.iter().map(|e| e.id.as_str()).collect();
        let cached =
            updateinfo::cached_notices(&self.settings, self.kind == BackendKind::Yum, |id| {
                listed.contains(id)
            });
        updateinfo::feeds::record(&cached, &feed.board);
        Ok(updateinfo::build(
            &entries,
            &blocks,
            &cached.notices,
            upgrades,
        ))
    }

    fn simulate(&self, change: &Change, exec: &mut Exec<'_>) -> Result<Plan, PkgError> {
        self.dry_run(change, exec)
    }

    /// Advisories through `upgrade --advisory=ID... --exclude=NAME...` in one transaction;
    /// plain package updates of the same selection afterwards as exact-version installs.
    /// dnf exits 0 with "Nothing to do." for an advisory it does not know (recorded), so
    /// every affected package is checked in the rpm database afterwards. dnf installs the
    /// NEWEST version of an advisory's packages, which may be newer than its fixed one.
    fn apply_advisories(
        &self,
        selected: &[Advisory],
        exclude: &[String],
        exec: &mut Exec<'_>,
    ) -> Result<(), PkgError> {
        let split = self.split_advisories(selected, exclude)?;
        if split.pending {
            self.change(
                &self.advisory_upgrade_command(&split.ids, exclude),
                &[],
                exec,
            )?;
        }
        rpm::finish_apply(self, &split.plain, &split.with_id, exclude, exec)
    }

    fn holds(&self) -> Result<Vec<String>, PkgError> {
        self.read_holds()
    }

    fn hold_paths(&self) -> Vec<PathBuf> {
        vec![self.lock_list()]
    }

    fn hold(&self, name: &str) -> Result<(), PkgError> {
        self.add_hold(name)
    }

    fn unhold(&self, name: &str) -> Result<(), PkgError> {
        self.remove_hold(name)
    }

    /// `needs-restarting -r` when the root has it (and is `/`, where the tool's answer is
    /// about this system); otherwise, or when it is inconclusive, the running kernel
    /// against the newest installed kernel package.
    fn reboot_required(&self) -> Result<RebootRequired, PkgError> {
        let root = &self.settings.root;
        let tool = Path::new("/usr/bin/needs-restarting");
        let mut note = "needs-restarting not installed";
        if root == Path::new("/") && tool.exists() {
            let cmd = Command::new(tool)
                .arg("-r")
                .timeout(self.settings.command_timeout);
            let finished = runner::capture(&cmd).map_err(PkgError::from)?;
            if let Some(verdict) = updateinfo::needs_restarting_verdict(&finished) {
                return Ok(verdict);
            }
            note = "needs-restarting -r inconclusive";
        } else if root != Path::new("/") {
            note = "needs-restarting is not run for another root";
        }
        let mut verdict = updateinfo::kernel_reboot(&self.settings)?;
        verdict.reason = format!("{} ({note})", verdict.reason);
        Ok(verdict)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(root: &str) -> BackendSettings {
        BackendSettings {
            root: PathBuf::from(root),
            command_timeout: Duration::from_secs(60),
            lock_wait: Duration::from_millis(30),
        }
    }

    fn args(cmd: &Command) -> Vec<String> {
        cmd.args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
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

    pub(super) fn spec(name: &str, version: Option<&str>) -> PackageSpec {
        PackageSpec {
            name: name.into(),
            version: version.map(str::to_string),
        }
    }

    #[test]
    fn recorded_silent_downgrade_is_why_downgrades_are_checked_first() {
        let out = include_str!("../../../tests/data/dnf/dnf-install-older.stdout");
        assert!(out.contains("Downgrading:"));
        let installed = HashMap::from([("lpa-hello".to_string(), "1.1-1".to_string())]);
        let older = [spec("lpa-hello", Some("1.0-1"))];
        assert!(matches!(
            rpmdb::check_downgrades(&installed, &older, false),
            Err(PkgError::VersionConflict(_))
        ));
        assert!(rpmdb::check_downgrades(&installed, &older, true).is_ok());
    }

    #[test]
    fn change_command_lines() {
        let dnf = Dnf::new(settings("/"));
        let base = [
            "--assumeyes",
            "--color=never",
            "--setopt=exit_on_lock=1",
            "--setopt=*.skip_if_unavailable=0",
        ];
        let a = args(&dnf.change_command(
            "install",
            &["lpa-hello-1.1-1".into(), "lpa-tool".into()],
            true,
        ));
        assert_eq!(a[..4], base);
        assert_eq!(
            a[4..],
            [
                "--setopt=install_weak_deps=False",
                "install",
                "--",
                "lpa-hello-1.1-1",
                "lpa-tool"
            ]
        );
        assert_eq!(
            args(&dnf.change_command("remove", &["lpa-lib".into()], false))[4..],
            ["remove", "--", "lpa-lib"]
        );
        assert_eq!(dnf.upgrade_verb(), "upgrade");
        assert_eq!(
            args(&dnf.download_command(&["lpa-lib-1.0-1".into()], Path::new("/var/tmp/rb")))[4..],
            [
                "reinstall",
                "--downloadonly",
                "--destdir",
                "/var/tmp/rb",
                "--",
                "lpa-lib-1.0-1"
            ]
        );
        assert_eq!(
            args(&dnf.list_versions_command("lpa-hello"))[5..],
            ["--showduplicates", "list", "--", "lpa-hello"]
        );
        let yum = Dnf::yum(settings("/"));
        assert_eq!(yum.upgrade_verb(), "update");
        assert_eq!(
            args(&yum.change_command("install", &["x".into()], true))[4..],
            ["install", "--", "x"]
        );
        let other = Dnf::new(settings("/srv/img"));
        let a = args(&other.change_command("install", &["x".into()], false));
        assert_eq!(a[4..6], ["--installroot", "/srv/img"]);
        assert_eq!(a[a.len() - 3..], ["install", "--", "x"]);
    }

    #[test]
    fn repair_has_nothing_to_do_and_runs_nothing() {
        let dnf = Dnf::new(settings("/nonexistent-root"));
        let cancel = runner::Cancel::new();
        let mut sink = |_: runner::Stream, _: &str| {};
        let mut exec = Exec {
            on_line: &mut sink,
            cancel: &cancel,
            timeout: Duration::from_secs(1),
            grace: runner::KILL_GRACE,
            start: None,
        };
        assert!(dnf.repair(&mut exec).unwrap().is_empty());
        assert!(matches!(
            dnf.install(
                &[spec("bad name", None)],
                &InstallOptions::default(),
                &mut exec
            ),
            Err(PkgError::Invalid { .. })
        ));
        assert!(dnf
            .install(&[], &InstallOptions::default(), &mut exec)
            .is_ok());
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
