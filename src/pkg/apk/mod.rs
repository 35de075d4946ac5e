//! apk (Alpine Linux) backend.
//!
//! Run for real with apk-tools 2.14.10 and 3.0.6 (`make test-apk`: `tests/apk_sandbox.rs`
//! and `tests/apk_backend.rs`); the parsers are also tested on output recorded from both
//! (`tests/data/apk/`, see its README).
//!
//! The installed set is read from `<root>/lib/apk/db/installed` (records of `X:value` lines
//! separated by blank lines; the same format in apk 2 and 3). Upgrades come from
//! `apk version -l '<'`, which lists the newest candidate only (`apk list --upgradable`
//! lists every newer version). apk waits for its own lock with `--wait N`.
//!
//! Changes: `apk add -u -- name` for the newest version (`-u` also lifts a `name=version`
//! pin), `apk add -- name=version` for an exact one, which pins it in `/etc/apk/world` as apk
//! always does; the agent then writes the bare name back, since a pin is apk's hold
//! ([`holds`]) and installing a version does not hold it. Patches are applied with `apk upgrade -- names`, which leaves world as the
//! administrator wrote it. Unknown versions and downgrades without `allow_downgrade` are
//! refused before apk runs, because `apk add name=older` downgrades silently. `force` and
//! `no_recommends` have no apk meaning here. A failed install script leaves the package
//! installed with exit 1: reported as a failure. apk rewrites world even when a change fails,
//! so world's bytes are put back after a failure that changed no package ([`world`]), and
//! every job saves world so that its rollback restores it exactly. Versions are restored
//! from the repositories while they offer them (no package file is saved). apk has no
//! repair for an interrupted change: `repair` reports what is left instead.
//!
//! Signatures: an index or package without a trusted signature is `PkgError::Untrusted`
//! (one message naming each source), unless `allow_untrusted` passes `--allow-untrusted`.
//!
//! Advisories: one patch per upgrade, security with CVE ids when the secdb feed lists fixes for
//! the package's origin (`advisories::alpine_secdb`). Reboot: the running kernel's
//! `lib/modules` directory and the installed `linux-FLAVOR` version.

mod db;
pub mod dry_run;
mod held;
pub mod holds;
pub mod index;
mod mutate;
mod parse;
mod repair;
pub mod world;

pub use db::{parse_dependency, parse_installed_db, DbRecord};
pub use mutate::{check_exact, held_back, restore_args};
pub use parse::{
    check_untrusted, command_failed, interpret_change, interpret_refresh, is_lock_error,
    parse_info_versions, parse_version_list, repository_warning, split_name_version, unknown_names,
    untrusted_sources,
};

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::advisories::alpine_secdb::{self, SecdbIndex};
use super::advisories::cache::FeedCache;
use super::advisories::feeds::FeedFormat;
use super::advisories::{reboot, Advisory, FeedSettings, Parsed, RebootRequired};
use super::offers::{self, OfferIndex};
use super::plan::{Change, Plan};
use super::runner::{self, Command};
use super::{
    BackendKind, BackendSettings, Exec, InstallOptions, InstalledPackage, MetadataCache,
    PackageDetails, PackageManager, PackageSpec, PkgError, RemoveOptions, RestoreStep,
    SavedPackage, Upgrade,
};

/// The apk backend.
#[derive(Clone, Debug)]
pub struct Apk {
    settings: BackendSettings,
    allow_untrusted: bool,
    /// The parsed secdb feed, kept while its file is unchanged.
    secdb: FeedCache<Parsed<SecdbIndex>>,
    /// Packages of apk commands stopped before they ended, for the next repair report.
    interrupted: repair::Interrupted,
    /// What the repositories offer, from their `APKINDEX.tar.gz`.
    offers: OfferIndex,
}

impl Apk {
    /// A backend for `settings.root`, with signature checks on.
    pub fn new(settings: BackendSettings) -> Self {
        Apk {
            settings,
            allow_untrusted: false,
            secdb: FeedCache::default(),
            interrupted: repair::Interrupted::default(),
            offers: OfferIndex::default(),
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
        self.add_with(args, upgrade, &[])
    }

    /// [`Apk::add_command`] with `mode` global options before the verb (a dry run's
    /// `--simulate`), so that both are built here.
    pub(crate) fn add_with(&self, args: &[String], upgrade: bool, mode: &[&str]) -> Command {
        let cmd = self.change_base().args(mode.iter().copied()).arg("add");
        let cmd = if upgrade { cmd.arg("-u") } else { cmd };
        cmd.arg("--").args(args)
    }

    /// `apk ... [--wait N] [--purge] del [-r] -- NAMES`. `--purge` (a global option) also
    /// deletes modified configuration files; `force` = `-r` (`--rdepends`): the installed
    /// packages depending on them go too, the only way apk removes a needed package.
    pub fn del_command(&self, names: &[String], options: &RemoveOptions) -> Command {
        self.del_with(names, options, &[])
    }

    /// [`Apk::del_command`] with `mode` global options before the verb.
    pub(crate) fn del_with(
        &self,
        names: &[String],
        options: &RemoveOptions,
        mode: &[&str],
    ) -> Command {
        let mut cmd = self.change_base().args(mode.iter().copied());
        if options.purge {
            cmd = cmd.arg("--purge");
        }
        cmd = cmd.arg("del");
        if options.force {
            cmd = cmd.arg("-r");
        }
        cmd.arg("--").args(names)
    }

    /// `apk ... upgrade -- NAMES`: newer versions of exactly these packages, as far as
    /// `/etc/apk/world` allows, without touching world (patch application: `add name=version`
    /// would pin them there, `add -u` would add dependencies to world).
    pub fn upgrade_command(&self, names: &[String]) -> Command {
        self.upgrade_with(names, &[])
    }

    /// [`Apk::upgrade_command`] with `mode` global options before the verb.
    pub(crate) fn upgrade_with(&self, names: &[String], mode: &[&str]) -> Command {
        self.change_base()
            .args(mode.iter().copied())
            .arg("upgrade")
            .arg("--")
            .args(names)
    }

    /// Runs one changing command about the packages `args`. apk rewrites world even when the
    /// change fails: when it fails and the installed database did not change, world's bytes
    /// are put back. A stopped command's packages are noted for the repair report.
    fn run_change(
        &self,
        cmd: &Command,
        args: &[String],
        exec: &mut Exec<'_>,
    ) -> Result<(), PkgError> {
        let snapshot = world::Snapshot::take(&self.settings.root)?;
        let cmd = cmd.clone().timeout(exec.timeout).grace(exec.grace);
        let ran = self.run_changing(&cmd, exec);
        // Stopped at its lock: it never began on these packages.
        let began = !matches!(ran, Err(runner::RunError::Withheld { .. }));
        let result = ran
            .map_err(PkgError::from)
            .and_then(|done| interpret_change(&cmd, &done, self.settings.lock_wait));
        if let Err(e) = &result {
            if began && matches!(e, PkgError::Cancelled(_) | PkgError::Timeout { .. }) {
                self.interrupted.record(args);
            }
            if snapshot.undo_world_if_nothing_changed()? {
                (exec.on_line)(
                    runner::Stream::Stderr,
                    "apk changed no package: /etc/apk/world put back as it was",
                );
            }
        }
        result
    }

    fn installed_version(db: &[DbRecord], name: &str) -> Option<String> {
        db.iter()
            .find(|r| r.name == name)
            .map(|r| r.version.clone())
    }

    /// The versions of `name` on offer: the repositories' indexes when they list
    /// `version`, else apk's own answer (which the refusals then quote).
    fn offered(&self, name: &str, version: &str) -> Result<Vec<String>, PkgError> {
        match self.indexed_versions(name) {
            Some(v) if offers::settles(&v, Some(version)) => Ok(v),
            _ => self.available_versions(name),
        }
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

    fn metadata_cache(&self) -> MetadataCache {
        // apk keeps the APKINDEX of every remote repository here (local ones are read in place).
        super::refresh::cache_in(&self.settings.root.join("var/cache/apk"))
    }

    fn refresh(&self) -> Result<(), PkgError> {
        let cmd = self.refresh_command();
        let done = runner::capture(&cmd).map_err(PkgError::from)?;
        interpret_refresh(&cmd, &done, self.settings.lock_wait)
    }

    fn upgradable(&self) -> Result<Vec<Upgrade>, PkgError> {
        let cmd = self.upgradable_command();
        let done = runner::capture(&cmd).map_err(PkgError::from)?;
        // An untrusted repository is skipped with a warning and exit 0: its updates would
        // silently be missing.
        check_untrusted(&done)?;
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
        // One secdb per enabled repository: a fix is found in whichever lists it.
        let indexes: Vec<_> = feed
            .of(FeedFormat::AlpineSecdb)
            .filter_map(|src| {
                feed.load(src, |src| {
                    self.secdb.get_or_load(&src.path, "", |p| {
                        let (index, report) = alpine_secdb::load(p, &src.name)?;
                        Ok(Parsed { index, report })
                    })
                })
            })
            .collect();
        let db = self.read_db()?;
        Ok(upgrades
            .iter()
            .map(|u| {
                let record = db.iter().find(|r| r.name == u.name);
                let origin = record.and_then(|r| r.origin.as_deref()).unwrap_or(&u.name);
                // Ids from several repositories' feeds: each once.
                let mut found = super::advisories::ids::Ids::default();
                for i in &indexes {
                    let ids = i
                        .index
                        .ids_between(origin, &u.current_version, &u.available_version);
                    found.cves.extend(ids.cves);
                    found.others.extend(ids.others);
                }
                for list in [&mut found.cves, &mut found.others] {
                    list.sort();
                    list.dedup();
                }
                let kernel = record.is_some_and(|r| reboot::has_kernel_image(&r.files));
                alpine_secdb::patch_for(u, found, kernel)
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

    fn available_versions(&self, name: &str) -> Result<Vec<String>, PkgError> {
        let cmd = self.versions_command(name);
        let done = runner::capture(&cmd).map_err(PkgError::from)?;
        // Without this, a package of an untrusted repository is only "not found".
        check_untrusted(&done)?;
        let versions = parse_info_versions(&done.stdout, name);
        // apk 3 exits 1 when the name also matches versions that are not installed; an
        // unknown name is exit 1 with no output (both recorded).
        match done.code {
            Some(0) | Some(1) => Ok(versions),
            _ => Err(command_failed(&cmd, &done)),
        }
    }

    /// From the repositories' `APKINDEX.tar.gz`, those signed by a key in `/etc/apk/keys`
    /// unless untrusted repositories are allowed.
    fn indexed_versions(&self, name: &str) -> Option<Vec<String>> {
        let files = index::index_files(&self.settings.root)?;
        let keys = self.settings.root.join("etc/apk/keys");
        let trust = (!self.allow_untrusted).then_some(keys.as_path());
        let mut stamped = files.clone();
        // A key added or removed changes which indexes count.
        stamped.push(keys.clone());
        self.offers
            .versions(stamped, || Some(index::offers_of(&files, trust)), name)
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
                    let offered = self.offered(&spec.name, v)?;
                    check_exact(&spec.name, v, have.as_deref(), &offered, options)?;
                    exact.push(format!("{}={v}", spec.name));
                }
            }
        }
        if !exact.is_empty() {
            let before = world::read_world(&self.settings.root)?;
            let ran = self.run_change(&self.add_command(&exact, false), &exact, exec);
            let names: Vec<String> = packages
                .iter()
                .filter(|p| p.version.is_some())
                .map(|p| p.name.clone())
                .collect();
            // Also after a failure that installed some of them (a failed script).
            let unpinned = self.unpin_installed(before.as_deref(), &names);
            ran?;
            unpinned?;
        }
        if !latest.is_empty() {
            self.run_change(&self.add_command(&latest, true), &latest, exec)?;
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
        self.run_change(&self.del_command(names, options), names, exec)
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
            if self.offered(name, version)?.contains(version) {
                out.push(SavedPackage {
                    name: name.clone(),
                    version: version.clone(),
                    file: None,
                });
            }
        }
        Ok(out)
    }

    /// Every changing command goes through [`Apk::run_change`], which opens the gate.
    fn starts_held(&self) -> bool {
        true
    }

    /// `apk add -- name=version ...` (this pins them in `/etc/apk/world`; the rollback then
    /// writes world back as it was before the job), then `apk del -- names`.
    fn restore(&self, steps: &[RestoreStep], exec: &mut Exec<'_>) -> Result<(), PkgError> {
        let (add, del) = restore_args(steps);
        if !add.is_empty() {
            self.run_change(&self.add_command(&add, false), &add, exec)?;
        }
        if !del.is_empty() {
            self.run_change(
                &self.del_command(&del, &RemoveOptions::default()),
                &del,
                exec,
            )?;
        }
        Ok(())
    }

    /// Repairs nothing (apk has none for an interrupted change, see [`repair`]): reports
    /// what was checked, the packages a stopped command was changing, the scripts it left,
    /// and how to clean up. Never empty, so the job never reads "consistent".
    fn repair(&self, _exec: &mut Exec<'_>) -> Result<Vec<String>, PkgError> {
        let packages = self.read_db()?.len();
        let interrupted = self.interrupted.take();
        let scripts = repair::leftover_scripts(&self.settings.root);
        Ok(repair::report(packages, &interrupted, &scripts))
    }

    /// `apk upgrade -- NAMES` (see [`Apk::upgrade_command`]): world's constraints stay as
    /// written. A package world holds back (apk says nothing and exits 0) fails the job,
    /// naming the constraint.
    fn apply_advisories(
        &self,
        selected: &[Advisory],
        exclude: &[String],
        exec: &mut Exec<'_>,
    ) -> Result<(), PkgError> {
        let specs = super::advisory_targets(selected, exclude);
        if specs.is_empty() {
            return Ok(());
        }
        let names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
        self.run_change(&self.upgrade_command(&names), &names, exec)?;
        let targets: Vec<(String, String)> = specs
            .into_iter()
            .filter_map(|s| s.version.map(|v| (s.name, v)))
            .collect();
        let db = self.read_db()?;
        let world = world::read_world(&self.settings.root)?.unwrap_or_default();
        let held = held_back(
            &targets,
            &|n| Apk::installed_version(&db, n),
            &String::from_utf8_lossy(&world),
        );
        if held.is_empty() {
            return Ok(());
        }
        Err(PkgError::VersionConflict(format!(
            "not upgraded: {}",
            held.join("; ")
        )))
    }

    /// The names `/etc/apk/world` pins (`name=version`): see [`holds`].
    fn holds(&self) -> Result<Vec<String>, PkgError> {
        self.read_holds()
    }

    fn hold_paths(&self) -> Vec<PathBuf> {
        vec![self.world_path()]
    }

    fn hold(&self, name: &str) -> Result<(), PkgError> {
        self.add_hold(name)
    }

    fn unhold(&self, name: &str) -> Result<(), PkgError> {
        self.remove_hold(name)
    }

    fn simulate(&self, change: &Change, exec: &mut Exec<'_>) -> Result<Plan, PkgError> {
        self.dry_run(change, exec)
    }

    /// `/etc/apk/world`'s bytes: what the administrator asked for, saved with every job.
    fn selection_state(&self) -> Result<Option<Vec<u8>>, PkgError> {
        world::read_world(&self.settings.root)
    }

    /// Writes world back as it was before the rolled-back job: the rollback's own
    /// `name=version` installs pinned the packages there.
    fn restore_selection_state(&self, saved: &[u8]) -> Result<Vec<String>, PkgError> {
        if world::read_world(&self.settings.root)?.as_deref() == Some(saved) {
            return Ok(Vec::new());
        }
        world::write_world(&self.settings.root, Some(saved))?;
        Ok(vec![
            "/etc/apk/world restored as it was before the job".to_string()
        ])
    }
}

fn wait_secs(d: std::time::Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pkg::Dependency;
    use std::time::Duration;

    const INSTALLED: &str = include_str!("../../../tests/data/apk/lib-apk-db-installed");

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

    fn vs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
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

    const SECDB: &str = include_str!("../../../tests/data/feeds/alpine-secdb-lpa.json");

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
        FeedSettings::single("alpine-main", FeedFormat::AlpineSecdb, path, None)
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

        // Community's feed adds its fixes to main's; a CVE in both counts once.
        let mut two = feed.clone();
        let community = root.0.join("community.json");
        fs::write(
            &community,
            r#"{"packages": [{"pkg": {"name": "lpa-lib", "secfixes": {"1.1-r0": ["CVE-2026-0005 CVE-2026-0077"]}}}]}"#,
        )
        .unwrap();
        let mut second = two.feeds[0].clone();
        second.name = "alpine-community".into();
        second.path = community;
        two.feeds.push(second);
        let both = root.apk().advisories(&ups, &two).unwrap();
        assert_eq!(both[1].cve_ids, ["CVE-2026-0005", "CVE-2026-0077"]);
        assert_eq!(both[0].cve_ids, ["CVE-2026-0001"]);

        // An unreadable feed is named on the board and costs only its own data.
        let bad = secdb_feed(&root, "{\"packages\": 1}");
        let plain = root.apk().advisories(&ups, &bad).unwrap();
        assert!(plain.iter().all(|a| a.cve_ids.is_empty()));
        let why = bad.board.snapshot()[0].error.clone().unwrap();
        assert!(why.contains("secdb.json"), "{why}");
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
