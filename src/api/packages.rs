//! `/api/v1/packages`: inventory and install/update/remove jobs.
//!
//! The package backends come in a later issue; until then every endpoint validates its
//! path and query (in the router) and answers `NOT_IMPLEMENTED`.

use super::envelope::{ApiError, Reply};
use super::router::Endpoint;

/// Answers a package endpoint.
pub fn handle(endpoint: &Endpoint) -> Result<Reply, ApiError> {
    let feature = match endpoint {
        Endpoint::ListPackages(_) | Endpoint::GetPackage { .. } => {
            "the package inventory comes with the package backends"
        }
        Endpoint::InstallPackages => "package installation comes with the package backends",
        Endpoint::UpdatePackage { .. } => "package updates come with the package backends",
        Endpoint::RemovePackage { .. } => "package removal comes with the package backends",
        other => {
            return Err(ApiError::InternalError(format!(
                "{} routed to the package handler",
                other.template()
            )))
        }
    };
    Err(ApiError::NotImplemented {
        endpoint: endpoint.template().to_string(),
        feature: feature.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_not_implemented_naming_the_endpoint() {
        let e = handle(&Endpoint::InstallPackages).unwrap_err();
        assert_eq!(e.status(), 501);
        assert!(e
            .message()
            .starts_with("POST /api/v1/packages is not implemented yet"));
        let e = handle(&Endpoint::RemovePackage {
            name: "nginx".into(),
            purge: true,
            force: false,
        })
        .unwrap_err();
        assert!(e.message().starts_with("DELETE /api/v1/packages/{name}"));
    }

    #[test]
    fn foreign_endpoint_is_an_internal_error() {
        let e = handle(&Endpoint::SystemInfo).unwrap_err();
        assert_eq!(e.code(), "INTERNAL_ERROR");
    }
}
