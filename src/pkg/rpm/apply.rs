//! The end of patch application shared by dnf, yum and zypper: install the plain updates,
//! then check in the rpm database that each advisory's packages arrived. Separate because it
//! joins [`super::rpmdb`] and [`super::updateinfo`], so neither of them imports the other.

use crate::pkg::advisories::Advisory;
use crate::pkg::{install_fixed, Exec, PackageManager, PkgError};

use super::rpmdb::installed_versions;
use super::updateinfo;

/// The end of an rpm family's patch application, once the advisories went through the tool's
/// own path: installs the plain updates among the selection, then checks in the database
/// that the advisories' packages reached their fixed versions (the tools answer "Nothing to
/// do" with success for an advisory they could not apply).
pub fn finish_apply<B: PackageManager + ?Sized>(
    backend: &B,
    plain: &[&Advisory],
    advisories: &[&Advisory],
    exclude: &[String],
    exec: &mut Exec<'_>,
) -> Result<(), PkgError> {
    install_fixed(backend, plain.iter().copied(), exclude, exec)?;
    let now = installed_versions(&backend.installed()?);
    updateinfo::verify_applied(&now, advisories, exclude)
}
