//! The error table: every machine-readable error code with its HTTP status, in one place.
//!
//! Separate from `api/` because the job engine (`jobs/`, which must not import `api/`) stamps
//! the same codes on failed jobs' `error_code`; both layers name codes through [`ErrorCode`]
//! so a code string is written once, here.

/// Every error code the agent answers with or records on a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// `AUTH_INVALID_CERT` 401.
    AuthInvalidCert,
    /// `AUTH_CERT_EXPIRED` 401.
    AuthCertExpired,
    /// `AUTHZ_IP_DENIED` 403.
    AuthzIpDenied,
    /// `PKG_NOT_FOUND` 404.
    PkgNotFound,
    /// `PKG_MANAGER_ERROR` 500.
    PkgManagerError,
    /// `PKG_DEPENDENCY_ERROR` 400.
    PkgDependencyError,
    /// `PKG_VERSION_CONFLICT` 400.
    PkgVersionConflict,
    /// `PKG_UNTRUSTED_SOURCE` 502.
    PkgUntrustedSource,
    /// `PATCH_NOT_FOUND` 404.
    PatchNotFound,
    /// `PATCH_APPLY_ERROR` 500.
    PatchApplyError,
    /// `JOB_NOT_FOUND` 404.
    JobNotFound,
    /// `JOB_TIMEOUT` 408.
    JobTimeout,
    /// `JOB_CANCELLED` 400.
    JobCancelled,
    /// `CONFIG_INVALID` 400.
    ConfigInvalid,
    /// `CONFIG_RELOAD_ERROR` 500.
    ConfigReloadError,
    /// `SERVICE_UNHEALTHY` 503.
    ServiceUnhealthy,
    /// `SYSTEM_REBOOT_ERROR` 500.
    SystemRebootError,
    /// `INVALID_REQUEST` 400.
    InvalidRequest,
    /// `RATE_LIMIT_EXCEEDED` 429.
    RateLimitExceeded,
    /// `SERVICE_NOT_FOUND` 404.
    ServiceNotFound,
    /// `NOT_FOUND` 404.
    NotFound,
    /// `METHOD_NOT_ALLOWED` 405.
    MethodNotAllowed,
    /// `REQUEST_TIMEOUT` 408.
    RequestTimeout,
    /// `LENGTH_REQUIRED` 411.
    LengthRequired,
    /// `PAYLOAD_TOO_LARGE` 413.
    PayloadTooLarge,
    /// `HEADERS_TOO_LARGE` 431.
    HeadersTooLarge,
    /// `URI_TOO_LONG` 414.
    UriTooLong,
    /// `API_READ_ONLY` 403.
    ApiReadOnly,
    /// `INTERNAL_ERROR` 500.
    InternalError,
    /// `JOB_QUEUE_FULL` 503.
    JobQueueFull,
    /// `REBOOT_BLOCKED` 409.
    RebootBlocked,
    /// `REBOOT_PENDING` 409.
    RebootPending,
    /// `PKG_HELD` 409.
    PkgHeld,
    /// `PKG_TRANSACTION_BUSY` 409.
    PkgTransactionBusy,
}

impl ErrorCode {
    /// The machine-readable code, e.g. `INVALID_REQUEST`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::AuthInvalidCert => "AUTH_INVALID_CERT",
            ErrorCode::AuthCertExpired => "AUTH_CERT_EXPIRED",
            ErrorCode::AuthzIpDenied => "AUTHZ_IP_DENIED",
            ErrorCode::PkgNotFound => "PKG_NOT_FOUND",
            ErrorCode::PkgManagerError => "PKG_MANAGER_ERROR",
            ErrorCode::PkgDependencyError => "PKG_DEPENDENCY_ERROR",
            ErrorCode::PkgVersionConflict => "PKG_VERSION_CONFLICT",
            ErrorCode::PkgUntrustedSource => "PKG_UNTRUSTED_SOURCE",
            ErrorCode::PatchNotFound => "PATCH_NOT_FOUND",
            ErrorCode::PatchApplyError => "PATCH_APPLY_ERROR",
            ErrorCode::JobNotFound => "JOB_NOT_FOUND",
            ErrorCode::JobTimeout => "JOB_TIMEOUT",
            ErrorCode::JobCancelled => "JOB_CANCELLED",
            ErrorCode::ConfigInvalid => "CONFIG_INVALID",
            ErrorCode::ConfigReloadError => "CONFIG_RELOAD_ERROR",
            ErrorCode::ServiceUnhealthy => "SERVICE_UNHEALTHY",
            ErrorCode::SystemRebootError => "SYSTEM_REBOOT_ERROR",
            ErrorCode::InvalidRequest => "INVALID_REQUEST",
            ErrorCode::RateLimitExceeded => "RATE_LIMIT_EXCEEDED",
            ErrorCode::ServiceNotFound => "SERVICE_NOT_FOUND",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            ErrorCode::RequestTimeout => "REQUEST_TIMEOUT",
            ErrorCode::LengthRequired => "LENGTH_REQUIRED",
            ErrorCode::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            ErrorCode::HeadersTooLarge => "HEADERS_TOO_LARGE",
            ErrorCode::UriTooLong => "URI_TOO_LONG",
            ErrorCode::ApiReadOnly => "API_READ_ONLY",
            ErrorCode::InternalError => "INTERNAL_ERROR",
            ErrorCode::JobQueueFull => "JOB_QUEUE_FULL",
            ErrorCode::RebootBlocked => "REBOOT_BLOCKED",
            ErrorCode::RebootPending => "REBOOT_PENDING",
            ErrorCode::PkgHeld => "PKG_HELD",
            ErrorCode::PkgTransactionBusy => "PKG_TRANSACTION_BUSY",
        }
    }

    /// The HTTP status answered with this code.
    pub const fn http_status(self) -> u16 {
        match self {
            ErrorCode::AuthInvalidCert | ErrorCode::AuthCertExpired => 401,
            ErrorCode::AuthzIpDenied | ErrorCode::ApiReadOnly => 403,
            ErrorCode::PkgNotFound
            | ErrorCode::PatchNotFound
            | ErrorCode::JobNotFound
            | ErrorCode::ServiceNotFound
            | ErrorCode::NotFound => 404,
            ErrorCode::PkgDependencyError
            | ErrorCode::PkgVersionConflict
            | ErrorCode::JobCancelled
            | ErrorCode::ConfigInvalid
            | ErrorCode::InvalidRequest => 400,
            ErrorCode::PkgManagerError
            | ErrorCode::PatchApplyError
            | ErrorCode::ConfigReloadError
            | ErrorCode::SystemRebootError
            | ErrorCode::InternalError => 500,
            ErrorCode::JobQueueFull => 503,
            ErrorCode::PkgUntrustedSource => 502,
            ErrorCode::RebootBlocked
            | ErrorCode::RebootPending
            | ErrorCode::PkgHeld
            | ErrorCode::PkgTransactionBusy => 409,
            ErrorCode::JobTimeout | ErrorCode::RequestTimeout => 408,
            ErrorCode::ServiceUnhealthy => 503,
            ErrorCode::RateLimitExceeded => 429,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::LengthRequired => 411,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::HeadersTooLarge => 431,
            ErrorCode::UriTooLong => 414,
        }
    }
}
