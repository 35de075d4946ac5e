//! `GET /api/v1/openapi.yaml` and `/api/v1/openapi.json`: the API's OpenAPI document, built
//! into the binary, so operators and generators can fetch the contract of the very agent
//! they talk to. Behind the same whitelist, mTLS and rate limit (`health` category) as the
//! rest of the API; the only answers not wrapped in the envelope, since the document itself
//! is the payload clients feed to their tools.

use std::sync::OnceLock;

use uuid::Uuid;

use super::envelope::{self, ApiError};
use crate::http::Response;

/// docs/openapi.yaml as committed; `make contract` checks the live agent against it.
pub const YAML: &str = include_str!("../../docs/openapi.yaml");

/// Which rendering of the document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// The document as written (`application/yaml`).
    Yaml,
    /// The same document as JSON (`application/json`).
    Json,
}

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
}
