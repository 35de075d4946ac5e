//! The files a rollback needs: the private staging directories the tool installs from,
//! the archives saved before a change (from apt's cache or by `apt-get download`), and how
//! each restore step is handed to apt-get. Separate from the trait implementation in
//! apt.rs, which only calls these.

use std::path::{Path, PathBuf};

use super::dpkg::{self, StatusEntry};
use super::mutate::{self, RestoreArg};
use super::{find_installed, io_error, is_host_root, sandbox, single_deb, Apt};
use crate::pkg::staging::{self, StagingDir};
use crate::pkg::{Exec, PkgError, RestoreStep};

impl Apt {
    /// Where the tool sees a host path: itself for `/`, else the part under the root.
    pub(super) fn inner_path(&self, host: &Path) -> Option<PathBuf> {
        if is_host_root(&self.settings.root) {
            return Some(host.to_path_buf());
        }
        let rest = host.strip_prefix(&self.settings.root).ok()?;
        Some(Path::new("/").join(rest))
    }

    /// A fresh private directory the tool can see, for files it installs by path: made
    /// exclusively, mode 0700, with a random name in a parent only root can write
    /// ([`staging`](crate::pkg::staging)), never at a predictable path in `var/tmp`.
    pub(super) fn staging(&self, tag: &str) -> Result<StagingDir, PkgError> {
        let root = &self.settings.root;
        let parent = staging::secure_parent(root).map_err(|e| io_error(root, e))?;
        StagingDir::create(&parent, tag).map_err(|e| io_error(&parent, e))
    }

    /// A fresh directory for `apt-get download`, handed to apt's sandbox user (see
    /// [`sandbox`]): never the rollback cache itself, which that user cannot reach, so apt
    /// would download unsandboxed as root.
    pub(super) fn download_stage(&self) -> Result<StagingDir, PkgError> {
        let stage = self.staging("download")?;
        let owner = sandbox::sandbox_owner(&self.under_root("etc/passwd"));
        sandbox::hand_over(stage.path(), owner).map_err(|e| io_error(stage.path(), e))?;
        Ok(stage)
    }

    /// The version's file in apt's archive cache, when it is still there.
    pub(super) fn cached_archive(
        &self,
        entries: &[StatusEntry],
        name: &str,
        version: &str,
    ) -> Option<PathBuf> {
        let native = dpkg::native_arch(entries);
        let e = find_installed(entries, name, native.as_deref())?;
        let arch = e.arch.as_deref().or(native.as_deref())?;
        let file = mutate::archive_file_name(&e.name, version, arch);
        let path = self.under_root("var/cache/apt/archives").join(file);
        path.is_file().then_some(path)
    }

    /// Saves one version into `dir`: from the archive cache, else `apt-get download`.
    /// `Ok(None)` when neither has it.
    pub(super) fn save_one(
        &self,
        entries: &[StatusEntry],
        name: &str,
        version: &str,
        dir: &Path,
        exec: &mut Exec<'_>,
    ) -> Result<Option<PathBuf>, PkgError> {
        if let Some(cached) = self.cached_archive(entries, name, version) {
            if let Some(file_name) = cached.file_name() {
                let to = dir.join(file_name);
                crate::fsutil::copy_atomic(&cached, &to).map_err(|e| io_error(&to, e))?;
                return Ok(Some(to));
            }
        }
        let stage = self.download_stage()?;
        let Some(inner) = self.inner_path(stage.path()) else {
            return Ok(None);
        };
        let args = mutate::download_args(name, version);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let cmd = self.apt_get_in(Some(&inner), &refs)?;
        match self.run_mutation(&cmd, exec, mutate::classify) {
            Ok(_) => {}
            Err(e @ (PkgError::Cancelled(_) | PkgError::Timeout { .. })) => return Err(e),
            Err(_) => return Ok(None),
        }
        let Some(file) = single_deb(stage.path())? else {
            return Ok(None);
        };
        let Some(file_name) = file.file_name() else {
            return Ok(None);
        };
        let to = dir.join(file_name);
        sandbox::adopt(&file, &to).map_err(|e| io_error(&to, e))?;
        Ok(Some(to))
    }

    /// One rollback argument; a saved file outside a chroot's reach is copied into `stage`.
    pub(super) fn restore_arg(
        &self,
        step: &RestoreStep,
        stage: &Path,
    ) -> Result<RestoreArg, PkgError> {
        match step {
            RestoreStep::Remove { name } => Ok(RestoreArg::Remove(name.clone())),
            RestoreStep::Install {
                name,
                version,
                file: Some(file),
            } if file.is_file() => {
                if let Some(inner) = self.inner_path(file) {
                    return Ok(RestoreArg::File(inner));
                }
                let to = stage.join(file.file_name().unwrap_or(std::ffi::OsStr::new(name)));
                crate::fsutil::copy_atomic(file, &to).map_err(|e| io_error(&to, e))?;
                match self.inner_path(&to) {
                    Some(inner) => Ok(RestoreArg::File(inner)),
                    None => Ok(RestoreArg::Version(name.clone(), version.clone())),
                }
            }
            RestoreStep::Install { name, version, .. } => {
                Ok(RestoreArg::Version(name.clone(), version.clone()))
            }
        }
    }
}
