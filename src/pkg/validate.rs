//! Package names and versions checked against each ecosystem's grammar before any process
//! starts, so that nothing a client sends can become an option or a path.

use super::{BackendKind, PkgError};

/// Checks a package name for `kind`; the error names the field `name`.
pub fn name(kind: BackendKind, name: &str) -> Result<(), PkgError> {
    let _ = (kind, name);
    todo!()
}

/// Checks a version string for `kind`; the error names the field `version`.
pub fn version(kind: BackendKind, version: &str) -> Result<(), PkgError> {
    let _ = (kind, version);
    todo!()
}
