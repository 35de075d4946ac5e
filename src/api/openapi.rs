//! `GET /api/v1/openapi.yaml` and `/api/v1/openapi.json`: the API's OpenAPI document, built
//! into the binary, so operators and generators can fetch the contract of the very agent
//! they talk to. Behind the same whitelist, mTLS and rate limit (`health` category) as the
//! rest of the API; with the WebSocket upgrade, the only answers not wrapped in the envelope,
//! since the document itself is what clients feed to their tools.

use std::sync::OnceLock;

use uuid::Uuid;

use super::envelope::{self, ApiError};
use crate::http::Response;

/// docs/openapi.yaml as committed; `make contract` checks the live agent against it.
pub const YAML: &str = include_str!("../../docs/openapi.yaml");

/// Which rendering of the document (the router decides it from the path).
pub use super::router::DocFormat as Format;

/// The document as JSON, converted once (the YAML is fixed at build time).
fn json() -> Result<&'static [u8], String> {
    static JSON: OnceLock<Result<Vec<u8>, String>> = OnceLock::new();
    JSON.get_or_init(|| {
        let doc: serde_json::Value =
            serde_yaml_ng::from_str(YAML).map_err(|e| format!("docs/openapi.yaml: {e}"))?;
        serde_json::to_vec(&doc).map_err(|e| format!("docs/openapi.yaml as JSON: {e}"))
    })
    .as_ref()
    .map(Vec::as_slice)
    .map_err(Clone::clone)
}

/// The 200 answer carrying the document, with the request id header every answer has.
pub fn response(format: Format, request_id: &Uuid) -> Response {
    let (content_type, body) = match format {
        Format::Yaml => ("application/yaml", YAML.as_bytes()),
        Format::Json => match json() {
            Ok(body) => ("application/json", body),
            Err(why) => {
                return envelope::render(request_id, &Err(ApiError::InternalError(why)));
            }
        },
    };
    Response {
        status: 200,
        headers: vec![
            ("Content-Type".into(), content_type.into()),
            ("X-Request-Id".into(), request_id.to_string()),
        ],
        body: body.to_vec(),
        close: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn header<'r>(r: &'r Response, name: &str) -> Option<&'r str> {
        r.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn yaml_is_served_as_committed() {
        let id = Uuid::new_v4();
        let r = response(Format::Yaml, &id);
        assert_eq!(r.status, 200);
        assert_eq!(header(&r, "content-type"), Some("application/yaml"));
        assert_eq!(header(&r, "x-request-id"), Some(id.to_string().as_str()));
        assert_eq!(r.body, std::fs::read("docs/openapi.yaml").unwrap());
    }

    #[test]
    fn json_is_the_same_document() {
        let r = response(Format::Json, &Uuid::new_v4());
        assert_eq!(header(&r, "content-type"), Some("application/json"));
        let doc: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        // The document's version is the API's, as system/info reports it.
        assert_eq!(doc["info"]["version"], super::super::system::API_VERSION);
        assert_eq!(
            doc["components"]["securitySchemes"]["mutualTLS"]["type"],
            "mutualTLS"
        );
    }

    /// Every route of the router is in the document, and the document names no path the
    /// router does not serve: the two cannot drift apart unnoticed.
    #[test]
    fn document_paths_match_the_router() {
        use super::super::router::{route, Endpoint};
        let doc: Value =
            serde_json::from_slice(&response(Format::Json, &Uuid::new_v4()).body).unwrap();
        let paths = doc["paths"].as_object().unwrap();
        let job = "6ba7b810-9dad-11d1-80b4-00c04fd430c8";
        let mut documented = Vec::new();
        for (template, ops) in paths {
            let concrete = template.replace("{name}", "lpa-hello").replace("{id}", job);
            let segs: Vec<String> = concrete
                .trim_start_matches('/')
                .split('/')
                .map(str::to_string)
                .collect();
            for method in ops.as_object().unwrap().keys() {
                if method == "parameters" {
                    continue;
                }
                let m = method.to_ascii_uppercase();
                let ep: Endpoint = route(&m, &concrete, &segs, &[])
                    .unwrap_or_else(|e| panic!("{m} {template} is documented, not routed: {e}"));
                assert_eq!(ep.template(), format!("{m} {template}"));
                documented.push(ep.template());
            }
        }
        documented.sort_unstable();
        let mut routed: Vec<&str> = Endpoint::ALL_TEMPLATES.to_vec();
        routed.sort_unstable();
        assert_eq!(documented, routed, "every route is documented");
    }

    fn doc() -> Value {
        serde_json::from_slice(&response(Format::Json, &Uuid::new_v4()).body).unwrap()
    }

    /// Follows a local `$ref` (`#/components/...`) until a concrete schema or parameter.
    fn resolve<'d>(doc: &'d Value, mut v: &'d Value) -> &'d Value {
        while let Some(r) = v.get("$ref").and_then(Value::as_str) {
            let pointer = r.trim_start_matches('#');
            v = doc
                .pointer(pointer)
                .unwrap_or_else(|| panic!("dangling {r}"));
        }
        v
    }

    fn strings(v: &Value) -> Vec<String> {
        let mut out: Vec<String> = v
            .as_array()
            .unwrap_or_else(|| panic!("not a list: {v}"))
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect();
        out.sort_unstable();
        out
    }

    /// The `enum` of a query parameter of `GET path`.
    fn query_enum(doc: &Value, path: &str, name: &str) -> Vec<String> {
        let params = doc["paths"][path]["get"]["parameters"].as_array().unwrap();
        let param = params
            .iter()
            .map(|p| resolve(doc, p))
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("GET {path}: no query parameter {name}"));
        strings(&resolve(doc, &param["schema"])["enum"])
    }

    fn spelled<T>(all: &[(&str, T)]) -> Vec<String> {
        let mut out: Vec<String> = all.iter().map(|(s, _)| s.to_string()).collect();
        out.sort_unstable();
        out
    }

    /// The closed query values the router accepts are exactly those the document lists (a
    /// value the router accepts but the document omits is not found by fuzzing).
    #[test]
    fn query_enums_match_the_router() {
        use super::super::router::*;
        let d = doc();
        let cases = [
            ("/api/v1/packages", "status", spelled(PackageStatus::ALL)),
            ("/api/v1/packages", "sort", spelled(PackageSort::ALL)),
            ("/api/v1/packages", "order", spelled(SortOrder::ALL)),
            ("/api/v1/patches", "severity", spelled(PatchSeverity::ALL)),
            ("/api/v1/patches", "status", spelled(PatchStatus::ALL)),
            ("/api/v1/patches", "sort", spelled(PatchSort::ALL)),
            ("/api/v1/patches", "order", spelled(SortOrder::ALL)),
            ("/api/v1/jobs", "status", spelled(JobStatus::ALL)),
            ("/api/v1/jobs", "operation", spelled(JobOperation::ALL)),
            ("/api/v1/jobs", "sort", spelled(JobSort::ALL)),
            ("/api/v1/jobs", "order", spelled(SortOrder::ALL)),
        ];
        for (path, name, routed) in cases {
            assert_eq!(query_enum(&d, path, name), routed, "GET {path} ?{name}");
        }
        let limit = resolve(&d, &d["components"]["parameters"]["Limit"]);
        assert_eq!(limit["schema"]["maximum"], MAX_LIMIT);
    }

    /// One of each error; the match without a wildcard makes a new variant a compile error
    /// here, so it cannot be added without being checked against the document.
    fn every_error() -> Vec<ApiError> {
        let all = vec![
            ApiError::AuthInvalidCert(String::new()),
            ApiError::AuthCertExpired(String::new()),
            ApiError::AuthzIpDenied(String::new()),
            ApiError::PkgNotFound(String::new()),
            ApiError::PkgManagerError(String::new()),
            ApiError::PkgDependencyError(String::new()),
            ApiError::PkgVersionConflict(String::new()),
            ApiError::PkgUntrustedSource(String::new()),
            ApiError::PatchNotFound(String::new()),
            ApiError::PatchApplyError(String::new()),
            ApiError::JobNotFound(String::new()),
            ApiError::JobTimeout(String::new()),
            ApiError::JobCancelled(String::new()),
            ApiError::ConfigInvalid(String::new()),
            ApiError::ConfigReloadError(String::new()),
            ApiError::ServiceUnhealthy {
                message: String::new(),
                details: serde_json::Map::new(),
            },
            ApiError::SystemRebootError(String::new()),
            ApiError::InvalidRequest(String::new()),
            ApiError::RateLimitExceeded {
                retry_after: std::time::Duration::from_secs(1),
            },
            ApiError::ServiceNotFound(String::new()),
            ApiError::NotFound(String::new()),
            ApiError::MethodNotAllowed {
                method: String::new(),
                path: String::new(),
                allow: Vec::new(),
            },
            ApiError::RequestTimeout(String::new()),
            ApiError::LengthRequired(String::new()),
            ApiError::PayloadTooLarge { limit: 0 },
            ApiError::HeadersTooLarge(String::new()),
            ApiError::UriTooLong(String::new()),
            ApiError::ApiReadOnly {
                endpoint: String::new(),
            },
            ApiError::InternalError(String::new()),
            ApiError::JobQueueFull(String::new()),
            ApiError::RebootBlocked {
                message: String::new(),
                jobs: Vec::new(),
            },
            ApiError::RebootPending {
                message: String::new(),
                job_id: String::new(),
                scheduled_at: String::new(),
            },
            ApiError::PkgHeld(String::new()),
            ApiError::PkgTransactionBusy(String::new()),
        ];
        for e in &all {
            match e {
                ApiError::AuthInvalidCert(_)
                | ApiError::AuthCertExpired(_)
                | ApiError::AuthzIpDenied(_)
                | ApiError::PkgNotFound(_)
                | ApiError::PkgManagerError(_)
                | ApiError::PkgDependencyError(_)
                | ApiError::PkgVersionConflict(_)
                | ApiError::PkgUntrustedSource(_)
                | ApiError::PatchNotFound(_)
                | ApiError::PatchApplyError(_)
                | ApiError::JobNotFound(_)
                | ApiError::JobTimeout(_)
                | ApiError::JobCancelled(_)
                | ApiError::ConfigInvalid(_)
                | ApiError::ConfigReloadError(_)
                | ApiError::ServiceUnhealthy { .. }
                | ApiError::SystemRebootError(_)
                | ApiError::InvalidRequest(_)
                | ApiError::RateLimitExceeded { .. }
                | ApiError::ServiceNotFound(_)
                | ApiError::NotFound(_)
                | ApiError::MethodNotAllowed { .. }
                | ApiError::RequestTimeout(_)
                | ApiError::LengthRequired(_)
                | ApiError::PayloadTooLarge { .. }
                | ApiError::HeadersTooLarge(_)
                | ApiError::UriTooLong(_)
                | ApiError::ApiReadOnly { .. }
                | ApiError::InternalError(_)
                | ApiError::JobQueueFull(_)
                | ApiError::RebootBlocked { .. }
                | ApiError::RebootPending { .. }
                | ApiError::PkgHeld(_)
                | ApiError::PkgTransactionBusy(_) => {}
            }
        }
        all
    }

    /// The document's error codes are exactly the agent's.
    #[test]
    fn error_codes_match_the_agent() {
        let d = doc();
        let documented = strings(&d["components"]["schemas"]["ErrorCode"]["enum"]);
        let mut codes: Vec<String> = every_error().iter().map(|e| e.code().into()).collect();
        codes.sort_unstable();
        assert_eq!(documented, codes);
    }
}
