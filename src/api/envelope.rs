//! The JSON envelope every response is wrapped in, and the error codes it can carry.
//!
//! `{"success", "request_id", "timestamp", "data", "error"}`; `error` is
//! `{"code", "message", "details", "retryable"}`. Every answer goes through here, errors
//! included, because the Patch Manager parses the envelope whatever the HTTP status.

use std::time::Duration;

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::wire::envelope::{Envelope, ErrorBody};
use crate::error_code::ErrorCode;
use crate::http::{ProtocolError, Response};

/// Every error the API answers with: the specification's table plus protocol failures.
#[derive(Clone, Debug, PartialEq)]
pub enum ApiError {
    /// `AUTH_INVALID_CERT` 401: no or unusable client certificate.
    AuthInvalidCert(String),
    /// `AUTH_CERT_EXPIRED` 401.
    AuthCertExpired(String),
    /// `AUTHZ_IP_DENIED` 403.
    AuthzIpDenied(String),
    /// `PKG_NOT_FOUND` 404, with the package name.
    PkgNotFound(String),
    /// `PKG_MANAGER_ERROR` 500 (retryable).
    PkgManagerError(String),
    /// `PKG_DEPENDENCY_ERROR` 400.
    PkgDependencyError(String),
    /// `PKG_VERSION_CONFLICT` 400.
    PkgVersionConflict(String),
    /// `PKG_UNTRUSTED_SOURCE` 502: a repository or package failed signature verification
    /// (no trusted key for it; apk: `apk.allow_untrusted`). Not retryable: the host's
    /// configuration must change.
    PkgUntrustedSource(String),
    /// `PATCH_NOT_FOUND` 404, with the patch id.
    PatchNotFound(String),
    /// `PATCH_APPLY_ERROR` 500 (retryable).
    PatchApplyError(String),
    /// `JOB_NOT_FOUND` 404, with the job id.
    JobNotFound(String),
    /// `JOB_TIMEOUT` 408 (retryable).
    JobTimeout(String),
    /// `JOB_CANCELLED` 400.
    JobCancelled(String),
    /// `CONFIG_INVALID` 400.
    ConfigInvalid(String),
    /// `CONFIG_RELOAD_ERROR` 500 (retryable).
    ConfigReloadError(String),
    /// `SERVICE_UNHEALTHY` 503 (retryable), with facts in `details`.
    ServiceUnhealthy {
        /// What is unhealthy.
        message: String,
        /// Facts for the client (e.g. the health report).
        details: Map<String, Value>,
    },
    /// `SYSTEM_REBOOT_ERROR` 500 (retryable).
    SystemRebootError(String),
    /// `INVALID_REQUEST` 400: the message names the bad value.
    InvalidRequest(String),
    /// `RATE_LIMIT_EXCEEDED` 429 (retryable), with the wait before the next token.
    RateLimitExceeded {
        /// Time until the bucket refills one token.
        retry_after: Duration,
    },
    /// `SERVICE_NOT_FOUND` 404: the init system does not know the service (INTEROP).
    ServiceNotFound(String),
    /// `NOT_FOUND` 404: no such route; holds the path.
    NotFound(String),
    /// `METHOD_NOT_ALLOWED` 405: the path exists; `allow` lists its methods.
    MethodNotAllowed {
        /// Method that was sent.
        method: String,
        /// Path that was requested.
        path: String,
        /// Methods the path answers.
        allow: Vec<&'static str>,
    },
    /// `REQUEST_TIMEOUT` 408 (retryable): the request did not arrive in time.
    RequestTimeout(String),
    /// `LENGTH_REQUIRED` 411: a body without Content-Length.
    LengthRequired(String),
    /// `PAYLOAD_TOO_LARGE` 413, with the limit in bytes.
    PayloadTooLarge {
        /// `server.limits.max_body_bytes`.
        limit: usize,
    },
    /// `HEADERS_TOO_LARGE` 431.
    HeadersTooLarge(String),
    /// `URI_TOO_LONG` 414: the request line alone is over the head limit.
    UriTooLong(String),
    /// `API_READ_ONLY` 403: `api.read_only` refuses every mutating endpoint.
    ApiReadOnly {
        /// `METHOD /path` refused.
        endpoint: String,
    },
    /// `INTERNAL_ERROR` 500 (retryable).
    InternalError(String),
    /// `JOB_QUEUE_FULL` 503 (retryable): `jobs.max_queued` jobs are already waiting.
    JobQueueFull(String),
    /// `REBOOT_BLOCKED` 409 (retryable): a reboot without `force` while package jobs are
    /// pending or running.
    RebootBlocked {
        /// What blocks it.
        message: String,
        /// The blocking jobs' ids.
        jobs: Vec<String>,
    },
    /// `PKG_HELD` 409, with the package name: a change naming a held package explicitly
    /// (release the hold first; patch runs skip held packages instead).
    PkgHeld(String),
    /// `PKG_TRANSACTION_BUSY` 409 (retryable): a hold change found a package transaction
    /// (a job) running past the short wait.
    PkgTransactionBusy(String),
    /// `REBOOT_PENDING` 409: a reboot asking something else while a reboot job is pending or
    /// running (one at a time; cancel it first).
    RebootPending {
        /// What is pending, and how to replace it.
        message: String,
        /// The pending reboot job's id.
        job_id: String,
        /// When it is due (RFC 3339).
        scheduled_at: String,
    },
}

impl ApiError {
    /// This error's row in the [error table](ErrorCode).
    pub fn error_code(&self) -> ErrorCode {
        match self {
            ApiError::AuthInvalidCert(_) => ErrorCode::AuthInvalidCert,
            ApiError::AuthCertExpired(_) => ErrorCode::AuthCertExpired,
            ApiError::AuthzIpDenied(_) => ErrorCode::AuthzIpDenied,
            ApiError::PkgNotFound(_) => ErrorCode::PkgNotFound,
            ApiError::PkgManagerError(_) => ErrorCode::PkgManagerError,
            ApiError::PkgDependencyError(_) => ErrorCode::PkgDependencyError,
            ApiError::PkgVersionConflict(_) => ErrorCode::PkgVersionConflict,
            ApiError::PkgUntrustedSource(_) => ErrorCode::PkgUntrustedSource,
            ApiError::PatchNotFound(_) => ErrorCode::PatchNotFound,
            ApiError::PatchApplyError(_) => ErrorCode::PatchApplyError,
            ApiError::JobNotFound(_) => ErrorCode::JobNotFound,
            ApiError::JobTimeout(_) => ErrorCode::JobTimeout,
            ApiError::JobCancelled(_) => ErrorCode::JobCancelled,
            ApiError::ConfigInvalid(_) => ErrorCode::ConfigInvalid,
            ApiError::ConfigReloadError(_) => ErrorCode::ConfigReloadError,
            ApiError::ServiceUnhealthy { .. } => ErrorCode::ServiceUnhealthy,
            ApiError::SystemRebootError(_) => ErrorCode::SystemRebootError,
            ApiError::InvalidRequest(_) => ErrorCode::InvalidRequest,
            ApiError::RateLimitExceeded { .. } => ErrorCode::RateLimitExceeded,
            ApiError::ServiceNotFound(_) => ErrorCode::ServiceNotFound,
            ApiError::NotFound(_) => ErrorCode::NotFound,
            ApiError::MethodNotAllowed { .. } => ErrorCode::MethodNotAllowed,
            ApiError::RequestTimeout(_) => ErrorCode::RequestTimeout,
            ApiError::LengthRequired(_) => ErrorCode::LengthRequired,
            ApiError::PayloadTooLarge { .. } => ErrorCode::PayloadTooLarge,
            ApiError::HeadersTooLarge(_) => ErrorCode::HeadersTooLarge,
            ApiError::UriTooLong(_) => ErrorCode::UriTooLong,
            ApiError::ApiReadOnly { .. } => ErrorCode::ApiReadOnly,
            ApiError::InternalError(_) => ErrorCode::InternalError,
            ApiError::JobQueueFull(_) => ErrorCode::JobQueueFull,
            ApiError::RebootBlocked { .. } => ErrorCode::RebootBlocked,
            ApiError::RebootPending { .. } => ErrorCode::RebootPending,
            ApiError::PkgHeld(_) => ErrorCode::PkgHeld,
            ApiError::PkgTransactionBusy(_) => ErrorCode::PkgTransactionBusy,
        }
    }

    /// The machine-readable code, e.g. `INVALID_REQUEST`.
    pub fn code(&self) -> &'static str {
        self.error_code().as_str()
    }

    /// The HTTP status answered.
    pub fn status(&self) -> u16 {
        self.error_code().http_status()
    }

    /// Whether retrying the same request later may succeed (the specification's column).
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            ApiError::PkgManagerError(_)
                | ApiError::PatchApplyError(_)
                | ApiError::JobTimeout(_)
                | ApiError::ConfigReloadError(_)
                | ApiError::ServiceUnhealthy { .. }
                | ApiError::SystemRebootError(_)
                | ApiError::RateLimitExceeded { .. }
                | ApiError::RequestTimeout(_)
                | ApiError::InternalError(_)
                | ApiError::JobQueueFull(_)
                | ApiError::RebootBlocked { .. }
                | ApiError::PkgTransactionBusy(_)
        )
    }

    /// The human-readable message.
    pub fn message(&self) -> String {
        match self {
            ApiError::PkgNotFound(name) => format!("package not found: {name}"),
            ApiError::PkgHeld(name) => format!(
                "{name} is held; release the hold (DELETE /api/v1/packages/{name}/hold) to change it"
            ),
            ApiError::PatchNotFound(id) => format!("patch not found: {id}"),
            ApiError::JobNotFound(id) => format!("job not found: {id}"),
            ApiError::ServiceNotFound(name) => format!("service not found: {name}"),
            ApiError::NotFound(path) => format!("no such endpoint: {path}"),
            ApiError::RateLimitExceeded { .. } => "Too many requests".to_string(),
            ApiError::MethodNotAllowed {
                method,
                path,
                allow,
            } => format!(
                "method {method} is not allowed on {path}; allowed: {}",
                allow.join(", ")
            ),
            ApiError::PayloadTooLarge { limit } => {
                format!("request body exceeds the limit of {limit} bytes")
            }
            ApiError::ApiReadOnly { endpoint } => {
                format!("{endpoint} refused: this agent is read-only (api.read_only)")
            }
            ApiError::ServiceUnhealthy { message, .. }
            | ApiError::RebootBlocked { message, .. }
            | ApiError::RebootPending { message, .. } => message.clone(),
            ApiError::AuthInvalidCert(m)
            | ApiError::AuthCertExpired(m)
            | ApiError::AuthzIpDenied(m)
            | ApiError::PkgManagerError(m)
            | ApiError::PkgDependencyError(m)
            | ApiError::PkgVersionConflict(m)
            | ApiError::PkgUntrustedSource(m)
            | ApiError::PatchApplyError(m)
            | ApiError::JobTimeout(m)
            | ApiError::JobCancelled(m)
            | ApiError::ConfigInvalid(m)
            | ApiError::ConfigReloadError(m)
            | ApiError::SystemRebootError(m)
            | ApiError::InvalidRequest(m)
            | ApiError::RequestTimeout(m)
            | ApiError::LengthRequired(m)
            | ApiError::HeadersTooLarge(m)
            | ApiError::UriTooLong(m)
            | ApiError::InternalError(m)
            | ApiError::PkgTransactionBusy(m)
            | ApiError::JobQueueFull(m) => m.clone(),
        }
    }

    /// Structured facts about the error (always a JSON object, possibly empty).
    pub fn details(&self) -> Map<String, Value> {
        let one = |key: &str, value: Value| Map::from_iter([(key.to_string(), value)]);
        match self {
            ApiError::PkgNotFound(name) | ApiError::PkgHeld(name) => {
                one("package", name.as_str().into())
            }
            ApiError::PatchNotFound(id) => one("patch_id", id.as_str().into()),
            ApiError::JobNotFound(id) => one("job_id", id.as_str().into()),
            ApiError::ServiceNotFound(name) => one("service", name.as_str().into()),
            ApiError::NotFound(path) => one("path", path.as_str().into()),
            ApiError::RateLimitExceeded { retry_after } => one(
                "retry_after_seconds",
                retry_after_seconds(*retry_after).into(),
            ),
            ApiError::MethodNotAllowed { allow, .. } => {
                one("allowed_methods", allow.as_slice().into())
            }
            ApiError::PayloadTooLarge { limit } => one("limit_bytes", (*limit).into()),
            ApiError::ApiReadOnly { endpoint } => one("endpoint", endpoint.as_str().into()),
            ApiError::ServiceUnhealthy { details, .. } => details.clone(),
            ApiError::RebootBlocked { jobs, .. } => one("active_jobs", jobs.as_slice().into()),
            ApiError::RebootPending {
                job_id,
                scheduled_at,
                ..
            } => Map::from_iter([
                ("job_id".to_string(), job_id.as_str().into()),
                ("scheduled_at".to_string(), scheduled_at.as_str().into()),
            ]),
            _ => Map::new(),
        }
    }

    /// Headers this error adds: `Allow` on 405, `Retry-After` on 429.
    pub fn headers(&self) -> Vec<(String, String)> {
        match self {
            ApiError::MethodNotAllowed { allow, .. } => {
                vec![("Allow".to_string(), allow.join(", "))]
            }
            ApiError::RateLimitExceeded { retry_after } => vec![(
                "Retry-After".to_string(),
                retry_after_seconds(*retry_after).to_string(),
            )],
            _ => Vec::new(),
        }
    }

    /// The error object of the envelope.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            code: self.code(),
            details: self.details(),
            message: self.message(),
            retryable: self.retryable(),
        }
    }

    /// The error object of the envelope as a JSON value (for bodies that embed it).
    pub fn to_json(&self) -> Value {
        let b = self.body();
        Value::Object(Map::from_iter([
            ("code".to_string(), Value::from(b.code)),
            ("details".to_string(), Value::Object(b.details)),
            ("message".to_string(), Value::from(b.message)),
            ("retryable".to_string(), Value::from(b.retryable)),
        ]))
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.code(), self.status(), self.message())
    }
}

impl std::error::Error for ApiError {}

impl From<&ProtocolError> for ApiError {
    fn from(err: &ProtocolError) -> ApiError {
        match err {
            ProtocolError::BadRequest(m) => ApiError::InvalidRequest(m.clone()),
            ProtocolError::HeaderTooLarge(m) => ApiError::HeadersTooLarge(m.clone()),
            ProtocolError::UriTooLong(m) => ApiError::UriTooLong(m.clone()),
            ProtocolError::BodyTooLarge { limit } => ApiError::PayloadTooLarge { limit: *limit },
            ProtocolError::LengthRequired(m) => ApiError::LengthRequired(m.clone()),
            ProtocolError::Timeout(m) => ApiError::RequestTimeout(m.clone()),
            ProtocolError::Internal(m) => ApiError::InternalError(m.clone()),
        }
    }
}

/// Whole seconds to wait, rounded up and at least 1 (a 0 would invite an instant retry).
pub fn retry_after_seconds(d: Duration) -> u64 {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    secs.max(1)
}

/// A successful handler result: HTTP status (200, 202, ...) and the `data` payload, already
/// serialised from the handler's wire struct (no `Value` tree in between).
#[derive(Clone, Debug)]
pub struct Reply {
    /// HTTP status, a 2xx.
    pub status: u16,
    /// The envelope's `data`, or why it could not be serialised (answered as a 500).
    data: Result<Box<RawValue>, String>,
}

impl Reply {
    /// `status` with `data` (any wire struct, or a `Value` where the body is dynamic).
    pub fn new(status: u16, data: &impl Serialize) -> Reply {
        Reply {
            status,
            data: serde_json::value::to_raw_value(data).map_err(|e| e.to_string()),
        }
    }

    /// 200 OK with `data`.
    pub fn ok(data: impl Serialize) -> Reply {
        Reply::new(200, &data)
    }

    /// 202 Accepted with `data` (async job started).
    pub fn accepted(data: impl Serialize) -> Reply {
        Reply::new(202, &data)
    }

    /// The serialised `data`, or why serialising failed.
    pub fn data(&self) -> Result<&RawValue, &str> {
        self.data.as_deref().map_err(String::as_str)
    }

    /// The `data` parsed back into a tree (tests, and callers that inspect an answer).
    pub fn to_value(&self) -> Value {
        self.data()
            .ok()
            .and_then(|raw| serde_json::from_str(raw.get()).ok())
            .unwrap_or(Value::Null)
    }
}

impl PartialEq for Reply {
    fn eq(&self, other: &Reply) -> bool {
        self.status == other.status
            && match (self.data(), other.data()) {
                (Ok(a), Ok(b)) => a.get() == b.get(),
                (Err(a), Err(b)) => a == b,
                _ => false,
            }
    }
}

/// How many request ids' worth of kernel randomness a thread fetches at once.
const IDS_PER_FETCH: usize = 64;

/// A fresh request id (UUID v4).
///
/// Each thread draws its random bytes from the kernel in batches (one `getrandom` call per
/// [`IDS_PER_FETCH`] ids rather than one per request); each id still uses 122 bits of the
/// kernel's randomness, never reused.
pub fn new_request_id() -> Uuid {
    thread_local! {
        static POOL: std::cell::RefCell<([u8; 16 * IDS_PER_FETCH], usize)> =
            const { std::cell::RefCell::new(([0; 16 * IDS_PER_FETCH], 16 * IDS_PER_FETCH)) };
    }
    POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        let (bytes, used) = &mut *pool;
        if *used == bytes.len() {
            if !fill_random(bytes) {
                return Uuid::new_v4();
            }
            *used = 0;
        }
        let mut id = [0u8; 16];
        id.copy_from_slice(&bytes[*used..*used + 16]);
        // Spent bytes are wiped so that nothing can hand them out twice.
        bytes[*used..*used + 16].fill(0);
        *used += 16;
        uuid::Builder::from_random_bytes(id).into_uuid()
    })
}

/// Fills `buf` from the kernel's random source; false if it cannot (the caller falls back).
fn fill_random(buf: &mut [u8]) -> bool {
    let mut filled = 0;
    while filled < buf.len() {
        let rest = &mut buf[filled..];
        // SAFETY: the pointer and length describe `rest`, writable for the whole call.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        match usize::try_from(n) {
            Ok(0) => return false,
            Ok(n) => filled += n,
            Err(_) if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted => {
            }
            _ => return false,
        }
    }
    true
}

/// The envelope's bytes: the data is written as serialised by the handler. A payload that
/// could not be serialised is answered as `INTERNAL_ERROR`.
fn envelope_bytes(id: &str, result: &Result<Reply, ApiError>) -> Vec<u8> {
    let failed;
    let (data, error) = match result {
        Ok(reply) => match reply.data() {
            Ok(raw) => (Some(raw), None),
            Err(why) => {
                failed = ApiError::InternalError(format!("response serialization failed: {why}"));
                (None, Some(failed.body()))
            }
        },
        Err(e) => (None, Some(e.body())),
    };
    // The envelope's own fields take about 150 bytes: one allocation, no regrowth.
    let mut body = Vec::with_capacity(ENVELOPE_ROOM + data.map_or(0, |raw| raw.get().len()));
    let written = crate::timefmt::with_now_rfc3339(|timestamp| {
        let envelope = Envelope {
            data,
            success: error.is_none(),
            error,
            request_id: id,
            timestamp,
        };
        serde_json::to_writer(&mut body, &envelope)
    });
    match written {
        Ok(()) => body,
        // Only a map with non-string keys could fail; keep a valid envelope anyway.
        Err(_) => fallback_body(id),
    }
}

/// Room for the envelope around its `data` (ids, timestamp, keys; an error object grows it).
const ENVELOPE_ROOM: usize = 192;

/// Renders a handler result as an HTTP response carrying the envelope and `X-Request-Id`.
pub fn render(request_id: &Uuid, result: &Result<Reply, ApiError>) -> Response {
    let status = match result {
        Ok(reply) if reply.data().is_ok() => reply.status,
        Ok(_) => ErrorCode::InternalError.http_status(),
        Err(e) => e.status(),
    };
    let mut id = Uuid::encode_buffer();
    let id = request_id.hyphenated().encode_lower(&mut id);
    let body = envelope_bytes(id, result);
    let mut response = Response::json(status, body).with_header("X-Request-Id", id);
    if let Err(e) = result {
        response.headers.extend(e.headers());
    }
    response
}

fn fallback_body(request_id: &str) -> Vec<u8> {
    format!(
        "{{\"data\":null,\"error\":{{\"code\":\"INTERNAL_ERROR\",\"details\":{{}},\
         \"message\":\"response serialization failed\",\"retryable\":true}},\
         \"request_id\":\"{request_id}\",\"success\":false,\"timestamp\":\"{}\"}}",
        crate::timefmt::now_rfc3339()
    )
    .into_bytes()
}

/// Renders an error with a fresh request id.
pub fn error_response(err: &ApiError) -> Response {
    render(&new_request_id(), &Err(err.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(resp: &Response) -> Value {
        serde_json::from_slice(&resp.body).unwrap()
    }

    fn header<'a>(resp: &'a Response, name: &str) -> Option<&'a str> {
        resp.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn assert_envelope_shape(v: &Value, resp: &Response) {
        let obj = v.as_object().unwrap();
        let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            ["data", "error", "request_id", "success", "timestamp"]
        );
        assert!(v["success"].is_boolean());
        let id = v["request_id"].as_str().unwrap();
        let parsed = Uuid::parse_str(id).unwrap();
        assert_eq!(parsed.get_version_num(), 4);
        assert_eq!(header(resp, "X-Request-Id"), Some(id));
        let ts = v["timestamp"].as_str().unwrap();
        assert!(ts.ends_with('Z'), "{ts}");
        time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339).unwrap();
        assert_eq!(header(resp, "Content-Type"), Some("application/json"));
    }

    #[test]
    fn success_shape() {
        let id = new_request_id();
        let resp = render(&id, &Ok(Reply::accepted(json!({"job_id": "x"}))));
        assert_eq!(resp.status, 202);
        let v = parse(&resp);
        assert_envelope_shape(&v, &resp);
        assert_eq!(v["success"], true);
        assert_eq!(v["data"]["job_id"], "x");
        assert!(v["error"].is_null());
        assert_eq!(v["request_id"], id.to_string());
    }

    #[test]
    fn error_shape() {
        let resp = error_response(&ApiError::InvalidRequest("id: not a UUID: \"abc\"".into()));
        assert_eq!(resp.status, 400);
        let v = parse(&resp);
        assert_envelope_shape(&v, &resp);
        assert_eq!(v["success"], false);
        assert!(v["data"].is_null());
        let e = v["error"].as_object().unwrap();
        assert_eq!(e.len(), 4);
        assert_eq!(e["code"], "INVALID_REQUEST");
        assert_eq!(e["message"], "id: not a UUID: \"abc\"");
        assert!(e["details"].is_object());
        assert_eq!(e["retryable"], false);
    }

    #[test]
    fn rate_limit_shape_and_headers() {
        let err = ApiError::RateLimitExceeded {
            retry_after: Duration::from_millis(29_001),
        };
        let resp = error_response(&err);
        assert_eq!(resp.status, 429);
        assert_eq!(header(&resp, "Retry-After"), Some("30"));
        let v = parse(&resp);
        assert_envelope_shape(&v, &resp);
        assert_eq!(v["error"]["code"], "RATE_LIMIT_EXCEEDED");
        assert_eq!(v["error"]["retryable"], true);
        assert_eq!(v["error"]["details"]["retry_after_seconds"], 30);
    }

    #[test]
    fn retry_after_rounds_up_and_is_at_least_one() {
        assert_eq!(retry_after_seconds(Duration::ZERO), 1);
        assert_eq!(retry_after_seconds(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_seconds(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_seconds(Duration::from_millis(2001)), 3);
    }

    #[test]
    fn method_not_allowed_has_allow_header() {
        let err = ApiError::MethodNotAllowed {
            method: "PATCH".into(),
            path: "/api/v1/packages".into(),
            allow: vec!["GET", "POST"],
        };
        let resp = error_response(&err);
        assert_eq!(resp.status, 405);
        assert_eq!(header(&resp, "Allow"), Some("GET, POST"));
        let v = parse(&resp);
        assert_eq!(
            v["error"]["details"]["allowed_methods"],
            json!(["GET", "POST"])
        );
    }

    #[test]
    fn spec_table_codes_statuses_and_retryable() {
        let m = || "m".to_string();
        let table: Vec<(ApiError, &str, u16, bool)> = vec![
            (
                ApiError::AuthInvalidCert(m()),
                "AUTH_INVALID_CERT",
                401,
                false,
            ),
            (
                ApiError::AuthCertExpired(m()),
                "AUTH_CERT_EXPIRED",
                401,
                false,
            ),
            (ApiError::AuthzIpDenied(m()), "AUTHZ_IP_DENIED", 403, false),
            (ApiError::PkgNotFound(m()), "PKG_NOT_FOUND", 404, false),
            (
                ApiError::PkgManagerError(m()),
                "PKG_MANAGER_ERROR",
                500,
                true,
            ),
            (
                ApiError::PkgDependencyError(m()),
                "PKG_DEPENDENCY_ERROR",
                400,
                false,
            ),
            (
                ApiError::PkgVersionConflict(m()),
                "PKG_VERSION_CONFLICT",
                400,
                false,
            ),
            (
                ApiError::PkgUntrustedSource(m()),
                "PKG_UNTRUSTED_SOURCE",
                502,
                false,
            ),
            (ApiError::PatchNotFound(m()), "PATCH_NOT_FOUND", 404, false),
            (
                ApiError::PatchApplyError(m()),
                "PATCH_APPLY_ERROR",
                500,
                true,
            ),
            (ApiError::JobNotFound(m()), "JOB_NOT_FOUND", 404, false),
            (ApiError::JobTimeout(m()), "JOB_TIMEOUT", 408, true),
            (ApiError::JobCancelled(m()), "JOB_CANCELLED", 400, false),
            (ApiError::ConfigInvalid(m()), "CONFIG_INVALID", 400, false),
            (
                ApiError::ConfigReloadError(m()),
                "CONFIG_RELOAD_ERROR",
                500,
                true,
            ),
            (
                ApiError::ServiceUnhealthy {
                    message: m(),
                    details: Map::new(),
                },
                "SERVICE_UNHEALTHY",
                503,
                true,
            ),
            (
                ApiError::SystemRebootError(m()),
                "SYSTEM_REBOOT_ERROR",
                500,
                true,
            ),
            (ApiError::InvalidRequest(m()), "INVALID_REQUEST", 400, false),
            (
                ApiError::RateLimitExceeded {
                    retry_after: Duration::from_secs(1),
                },
                "RATE_LIMIT_EXCEEDED",
                429,
                true,
            ),
            (ApiError::NotFound(m()), "NOT_FOUND", 404, false),
            (ApiError::RequestTimeout(m()), "REQUEST_TIMEOUT", 408, true),
            (ApiError::LengthRequired(m()), "LENGTH_REQUIRED", 411, false),
            (ApiError::UriTooLong(m()), "URI_TOO_LONG", 414, false),
            (
                ApiError::PayloadTooLarge { limit: 1 },
                "PAYLOAD_TOO_LARGE",
                413,
                false,
            ),
            (
                ApiError::HeadersTooLarge(m()),
                "HEADERS_TOO_LARGE",
                431,
                false,
            ),
            (ApiError::InternalError(m()), "INTERNAL_ERROR", 500, true),
            (ApiError::JobQueueFull(m()), "JOB_QUEUE_FULL", 503, true),
            (
                ApiError::RebootPending {
                    message: m(),
                    job_id: m(),
                    scheduled_at: m(),
                },
                "REBOOT_PENDING",
                409,
                false,
            ),
            (
                ApiError::ServiceNotFound(m()),
                "SERVICE_NOT_FOUND",
                404,
                false,
            ),
            (ApiError::PkgHeld(m()), "PKG_HELD", 409, false),
            (
                ApiError::PkgTransactionBusy(m()),
                "PKG_TRANSACTION_BUSY",
                409,
                true,
            ),
        ];
        for (err, code, status, retryable) in table {
            assert_eq!(err.code(), code);
            assert_eq!(err.status(), status, "{code}");
            assert_eq!(err.retryable(), retryable, "{code}");
        }
    }

    #[test]
    fn protocol_errors_map_to_statuses() {
        let cases = [
            (ProtocolError::BadRequest("x".into()), "INVALID_REQUEST"),
            (
                ProtocolError::HeaderTooLarge("x".into()),
                "HEADERS_TOO_LARGE",
            ),
            (
                ProtocolError::BodyTooLarge { limit: 10 },
                "PAYLOAD_TOO_LARGE",
            ),
            (ProtocolError::LengthRequired("x".into()), "LENGTH_REQUIRED"),
            (ProtocolError::UriTooLong("x".into()), "URI_TOO_LONG"),
            (ProtocolError::Timeout("x".into()), "REQUEST_TIMEOUT"),
            (ProtocolError::Internal("x".into()), "INTERNAL_ERROR"),
        ];
        for (pe, code) in cases {
            let e = ApiError::from(&pe);
            assert_eq!(e.code(), code);
            assert_eq!(e.status(), pe.status());
        }
    }

    #[test]
    fn unhealthy_carries_its_details() {
        let mut details = Map::new();
        details.insert("status".into(), json!("unhealthy"));
        let err = ApiError::ServiceUnhealthy {
            message: "certificate expired".into(),
            details,
        };
        let v = parse(&error_response(&err));
        assert_eq!(v["error"]["details"]["status"], "unhealthy");
        assert_eq!(v["error"]["message"], "certificate expired");
    }

    #[test]
    fn envelope_bytes_keep_the_sorted_key_order() {
        let id = new_request_id();
        let resp = render(&id, &Ok(Reply::ok(json!({"b": 1, "a": [true]}))));
        let text = String::from_utf8(resp.body).unwrap();
        assert!(
            text.starts_with(r#"{"data":{"a":[true],"b":1},"error":null,"request_id":""#),
            "{text}"
        );
        assert!(text.contains(r#"","success":true,"timestamp":""#), "{text}");
        let err =
            String::from_utf8(error_response(&ApiError::PkgNotFound("x".into())).body).unwrap();
        assert!(
            err.starts_with(
                r#"{"data":null,"error":{"code":"PKG_NOT_FOUND","details":{"package":"x"},"message":"package not found: x","retryable":false},"request_id":""#
            ),
            "{err}"
        );
    }

    #[test]
    fn a_payload_that_cannot_be_serialised_is_an_internal_error() {
        // serde_json refuses map keys that are not strings.
        let bad: std::collections::BTreeMap<Vec<u8>, u8> = [(vec![1], 1)].into();
        let reply = Reply::ok(bad);
        assert!(reply.data().is_err());
        let resp = render(&new_request_id(), &Ok(reply));
        assert_eq!(resp.status, 500);
        let v = parse(&resp);
        assert_envelope_shape(&v, &resp);
        assert_eq!(v["success"], false);
        assert_eq!(v["error"]["code"], "INTERNAL_ERROR");
        assert!(v["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("response serialization failed: "));
    }

    #[test]
    fn fallback_body_is_a_valid_envelope() {
        let id = new_request_id();
        let v: Value = serde_json::from_slice(&fallback_body(&id.to_string())).unwrap();
        assert_eq!(v["request_id"], id.to_string());
        assert_eq!(v["error"]["code"], "INTERNAL_ERROR");
    }

    #[test]
    fn request_ids_are_random_v4_and_distinct_across_batches() {
        let ids: Vec<Uuid> = (0..3 * IDS_PER_FETCH).map(|_| new_request_id()).collect();
        let distinct: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len());
        for id in &ids {
            assert_eq!(id.get_version(), Some(uuid::Version::Random), "{id}");
            assert_eq!(id.get_variant(), uuid::Variant::RFC4122, "{id}");
        }
    }
}
