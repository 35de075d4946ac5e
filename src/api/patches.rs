//! `/api/v1/patches`: security updates and applying them.
//!
//! Advisories and the job engine come in later issues; until then both endpoints validate
//! their input (in the router) and answer `NOT_IMPLEMENTED`.

use super::envelope::{ApiError, Reply};
use super::router::Endpoint;

/// Answers a patch endpoint.
pub fn handle(endpoint: &Endpoint) -> Result<Reply, ApiError> {
    let feature = match endpoint {
        Endpoint::ListPatches(_) => "the patch list comes with the security advisories",
        Endpoint::ApplyPatches => "applying patches comes with the job engine",
        other => {
            return Err(ApiError::InternalError(format!(
                "{} routed to the patch handler",
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
        let e = handle(&Endpoint::ApplyPatches).unwrap_err();
        assert_eq!(e.status(), 501);
        assert!(e
            .message()
            .starts_with("POST /api/v1/patches/apply is not implemented yet"));
        assert_eq!(
            handle(&Endpoint::Health).unwrap_err().code(),
            "INTERNAL_ERROR"
        );
    }
}
