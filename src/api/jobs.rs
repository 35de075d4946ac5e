//! `/api/v1/jobs` and the WebSocket job stream.
//!
//! The job engine comes in a later issue; until then every endpoint validates its input
//! (in the router) and answers `NOT_IMPLEMENTED`.

use super::envelope::{ApiError, Reply};
use super::router::Endpoint;

/// Answers a job endpoint.
pub fn handle(endpoint: &Endpoint) -> Result<Reply, ApiError> {
    let feature = match endpoint {
        Endpoint::ListJobs(_) | Endpoint::GetJob { .. } => "job tracking comes with the job engine",
        Endpoint::CancelJob { .. } => "job cancellation comes with the job engine",
        Endpoint::RollbackJob { .. } => "rollback comes with the job engine",
        Endpoint::JobStream => {
            // A stream is not a resource call: name the missing feature, not the path.
            return Err(ApiError::NotImplemented {
                endpoint: "WebSocket job streaming".to_string(),
                feature: "GET /api/v1/ws/jobs comes with the job engine".to_string(),
            });
        }
        other => {
            return Err(ApiError::InternalError(format!(
                "{} routed to the job handler",
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
        let id = uuid::Uuid::new_v4();
        let e = handle(&Endpoint::RollbackJob { id }).unwrap_err();
        assert_eq!(e.status(), 501);
        assert!(e
            .message()
            .starts_with("POST /api/v1/jobs/{id}/rollback is not implemented yet"));
        let e = handle(&Endpoint::JobStream).unwrap_err();
        assert!(e
            .message()
            .contains("WebSocket job streaming is not implemented yet"));
        assert_eq!(
            handle(&Endpoint::Reboot).unwrap_err().code(),
            "INTERNAL_ERROR"
        );
    }
}
