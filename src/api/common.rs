//! Helpers every handler module shares: kept here, below `jobs`, `packages` and `patches`,
//! so that those siblings never import each other for them.

use super::envelope::ApiError;
use crate::pkg::PkgError;

/// Maps a backend failure to the API's error codes.
pub fn pkg_error(e: PkgError) -> ApiError {
    match e {
        PkgError::Invalid { field, message } => {
            ApiError::InvalidRequest(format!("{field}: {message}"))
        }
        PkgError::NotFound(name) => ApiError::PkgNotFound(name),
        PkgError::VersionConflict(m) => ApiError::PkgVersionConflict(m),
        PkgError::DependencyConflict(m) => ApiError::PkgDependencyError(m),
        PkgError::Untrusted(m) => ApiError::PkgUntrustedSource(m),
        PkgError::Held(name) => ApiError::PkgHeld(name),
        other => ApiError::PkgManagerError(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_errors_map_to_the_error_table() {
        let e = pkg_error(PkgError::Invalid {
            field: "name".into(),
            message: "must not start with '-'".into(),
        });
        assert_eq!(e.code(), "INVALID_REQUEST");
        assert!(e.message().starts_with("name: "));
        let missing = pkg_error(PkgError::NotFound("x".into()));
        assert_eq!(missing.code(), "PKG_NOT_FOUND");
        // The envelope adds "package not found: " itself: the error carries the name only.
        assert_eq!(missing.message(), "package not found: x");
        assert_eq!(missing.details()["package"], "x");
        let locked = pkg_error(PkgError::Locked {
            tool: "apt-get".into(),
            waited: std::time::Duration::from_secs(5),
        });
        assert_eq!(locked.code(), "PKG_MANAGER_ERROR");
        assert!(locked.retryable());
    }
}
