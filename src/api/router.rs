//! Hand-written router: method + decoded path segments + query pairs → a typed [`Endpoint`].
//!
//! Order of checks: path known (else 404), method allowed for it (else 405 with `Allow`),
//! then path parameters and query values typed (else 400 `INVALID_REQUEST` naming the value).
//! `HEAD` is allowed wherever `GET` is (RFC 9110 9.3.2) and routes to the same endpoint; the
//! connection layer leaves the body out.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::envelope::ApiError;
use crate::http::uri;
use crate::http::Request;

/// Every endpoint of the specification (plus the INTEROP service status), with its
/// parameters already typed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `GET /health`
    Health,
    /// `GET /api/v1/health`
    HealthV1,
    /// `GET /api/v1/packages`
    ListPackages(PackageQuery),
    /// `POST /api/v1/packages`
    InstallPackages {
        /// `dry_run`: answer the simulated plan instead of starting a job.
        dry_run: bool,
    },
    /// `GET /api/v1/packages/{name}`
    GetPackage {
        /// Package name, loosely validated.
        name: String,
        /// `?refresh=true`: refresh metadata first (rate-limited).
        refresh: bool,
    },
    /// `PUT /api/v1/packages/{name}`
    UpdatePackage {
        /// Package name, loosely validated.
        name: String,
        /// `dry_run`: answer the simulated plan instead of starting a job.
        dry_run: bool,
    },
    /// `DELETE /api/v1/packages/{name}`
    RemovePackage {
        /// Package name, loosely validated.
        name: String,
        /// `purge`: also remove configuration files.
        purge: bool,
        /// `force`: remove despite dependencies.
        force: bool,
        /// `dry_run`: answer the simulated plan instead of starting a job.
        dry_run: bool,
    },
    /// `GET /api/v1/packages/holds`: the held packages. `holds` is a reserved segment for
    /// GET only: a package literally named `holds` is still listed, updated and removed.
    ListHolds,
    /// `PUT /api/v1/packages/{name}/hold`
    HoldPackage {
        /// Package name, loosely validated.
        name: String,
    },
    /// `DELETE /api/v1/packages/{name}/hold`
    UnholdPackage {
        /// Package name, loosely validated.
        name: String,
    },
    /// `GET /api/v1/patches`
    ListPatches(PatchQuery),
    /// `POST /api/v1/patches/apply`
    ApplyPatches {
        /// `dry_run`: answer the simulated plan instead of starting a job.
        dry_run: bool,
    },
    /// `GET /api/v1/system/info`
    SystemInfo,
    /// `POST /api/v1/system/reboot`
    Reboot,
    /// `GET /api/v1/system/services/{name}` (INTEROP)
    ServiceStatus {
        /// Service name, loosely validated.
        name: String,
    },
    /// `GET /api/v1/jobs`
    ListJobs(JobQuery),
    /// `GET /api/v1/jobs/{id}`
    GetJob {
        /// Job id.
        id: Uuid,
    },
    /// `DELETE /api/v1/jobs/{id}`
    CancelJob {
        /// Job id.
        id: Uuid,
    },
    /// `POST /api/v1/jobs/{id}/rollback`
    RollbackJob {
        /// Job id.
        id: Uuid,
    },
    /// `GET /api/v1/ws/jobs` (WebSocket upgrade)
    JobStream,
    /// `GET /api/v1/openapi.yaml` or `GET /api/v1/openapi.json`: the API's own contract
    OpenApi(DocFormat),
    /// `GET /api/v1/system/restart-needed`: processes running deleted or replaced code
    RestartNeeded,
    /// `GET /metrics`: Prometheus text exposition
    Metrics,
}

impl Endpoint {
    /// `METHOD /path/template`, e.g. `DELETE /api/v1/packages/{name}`, for messages and logs.
    pub fn template(&self) -> &'static str {
        match self {
            Endpoint::Health => "GET /health",
            Endpoint::HealthV1 => "GET /api/v1/health",
            Endpoint::ListPackages(_) => "GET /api/v1/packages",
            Endpoint::InstallPackages { .. } => "POST /api/v1/packages",
            Endpoint::GetPackage { .. } => "GET /api/v1/packages/{name}",
            Endpoint::UpdatePackage { .. } => "PUT /api/v1/packages/{name}",
            Endpoint::RemovePackage { .. } => "DELETE /api/v1/packages/{name}",
            Endpoint::ListHolds => "GET /api/v1/packages/holds",
            Endpoint::HoldPackage { .. } => "PUT /api/v1/packages/{name}/hold",
            Endpoint::UnholdPackage { .. } => "DELETE /api/v1/packages/{name}/hold",
            Endpoint::ListPatches(_) => "GET /api/v1/patches",
            Endpoint::ApplyPatches { .. } => "POST /api/v1/patches/apply",
            Endpoint::SystemInfo => "GET /api/v1/system/info",
            Endpoint::Reboot => "POST /api/v1/system/reboot",
            Endpoint::ServiceStatus { .. } => "GET /api/v1/system/services/{name}",
            Endpoint::ListJobs(_) => "GET /api/v1/jobs",
            Endpoint::GetJob { .. } => "GET /api/v1/jobs/{id}",
            Endpoint::CancelJob { .. } => "DELETE /api/v1/jobs/{id}",
            Endpoint::RollbackJob { .. } => "POST /api/v1/jobs/{id}/rollback",
            Endpoint::JobStream => "GET /api/v1/ws/jobs",
            Endpoint::OpenApi(DocFormat::Yaml) => "GET /api/v1/openapi.yaml",
            Endpoint::OpenApi(DocFormat::Json) => "GET /api/v1/openapi.json",
            Endpoint::RestartNeeded => "GET /api/v1/system/restart-needed",
            Endpoint::Metrics => "GET /metrics",
        }
    }

    /// Every [`Endpoint::template`], one per route (docs/openapi.yaml documents each).
    pub const ALL_TEMPLATES: &'static [&'static str] = &[
        "GET /health",
        "GET /api/v1/health",
        "GET /api/v1/packages",
        "POST /api/v1/packages",
        "GET /api/v1/packages/{name}",
        "PUT /api/v1/packages/{name}",
        "DELETE /api/v1/packages/{name}",
        "GET /api/v1/packages/holds",
        "PUT /api/v1/packages/{name}/hold",
        "DELETE /api/v1/packages/{name}/hold",
        "GET /api/v1/patches",
        "POST /api/v1/patches/apply",
        "GET /api/v1/system/info",
        "POST /api/v1/system/reboot",
        "GET /api/v1/system/services/{name}",
        "GET /api/v1/jobs",
        "GET /api/v1/jobs/{id}",
        "DELETE /api/v1/jobs/{id}",
        "POST /api/v1/jobs/{id}/rollback",
        "GET /api/v1/ws/jobs",
        "GET /api/v1/openapi.yaml",
        "GET /api/v1/openapi.json",
        "GET /api/v1/system/restart-needed",
        "GET /metrics",
    ];

    /// Whether the request asks for a metadata refresh before its answer (`?refresh=true`).
    pub fn asks_refresh(&self) -> bool {
        match self {
            Endpoint::ListPackages(q) => q.refresh,
            Endpoint::ListPatches(q) => q.refresh,
            Endpoint::GetPackage { refresh, .. } => *refresh,
            _ => false,
        }
    }

    /// Whether the request asks only for the plan of its change (`?dry_run=true`).
    pub fn is_dry_run(&self) -> bool {
        match self {
            Endpoint::InstallPackages { dry_run }
            | Endpoint::UpdatePackage { dry_run, .. }
            | Endpoint::RemovePackage { dry_run, .. }
            | Endpoint::ApplyPatches { dry_run } => *dry_run,
            _ => false,
        }
    }

    /// True for endpoints that change state (POST, PUT, DELETE), a dry run excepted.
    pub fn is_mutating(&self) -> bool {
        !self.template().starts_with("GET ") && !self.is_dry_run()
    }
}

/// True for the methods that are meant to change state.
pub fn is_mutating_method(method: &str) -> bool {
    matches!(method, "POST" | "PUT" | "DELETE")
}

/// `limit` and `offset` of a list endpoint (default: no `limit`, offset 0).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Page {
    /// 1-1000 when given. Without it the page holds [`DEFAULT_LIMIT`] entries, or, where
    /// the Patch Manager's shape is served, every entry (see `api::shape`).
    pub limit: Option<u32>,
    /// Default 0.
    pub offset: u64,
}

/// Which rendering of the OpenAPI document a route asks for. Stated here, where the path
/// decides it, so that `openapi.rs` imports the router and never the other way round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DocFormat {
    /// The document as written (`application/yaml`).
    Yaml,
    /// The same document as JSON (`application/json`).
    Json,
}

/// Default `limit` of list endpoints.
pub const DEFAULT_LIMIT: u32 = 100;
/// Largest `limit` accepted.
pub const MAX_LIMIT: u32 = 1000;

/// Declares a closed set of query values with its wire spelling.
macro_rules! query_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// Every value with its wire spelling, in the specification's order.
            pub const ALL: &'static [(&'static str, $name)] = &[$(($text, $name::$variant)),+];

            /// The wire spelling.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }
    };
}

query_enum!(
    /// `status` of `GET /api/v1/packages`.
    PackageStatus {
        /// Installed packages.
        Installed = "installed",
        /// Installed packages with an update.
        Upgradable = "upgradable",
        /// Everything known.
        All = "all",
    }
);

query_enum!(
    /// `sort` of `GET /api/v1/packages`.
    PackageSort {
        /// By name.
        Name = "name",
        /// By version.
        Version = "version",
        /// By installed size.
        Size = "size",
    }
);

query_enum!(
    /// `severity` of `GET /api/v1/patches`.
    PatchSeverity {
        /// Critical only.
        Critical = "critical",
        /// High only.
        High = "high",
        /// Medium only.
        Medium = "medium",
        /// Low only.
        Low = "low",
        /// No source gave a severity.
        Unknown = "unknown",
        /// Any severity.
        All = "all",
    }
);

query_enum!(
    /// `status` of `GET /api/v1/patches`.
    PatchStatus {
        /// Not yet applied.
        Available = "available",
        /// Already applied.
        Applied = "applied",
        /// Being applied.
        Pending = "pending",
        /// Any status.
        All = "all",
    }
);

query_enum!(
    /// `sort` of `GET /api/v1/patches`.
    PatchSort {
        /// By severity.
        Severity = "severity",
        /// By publication date.
        PublishedDate = "published_date",
        /// By name.
        Name = "name",
    }
);

query_enum!(
    /// `status` of `GET /api/v1/jobs` (the specification's job status values).
    JobStatus {
        /// Queued.
        Pending = "pending",
        /// Executing.
        Running = "running",
        /// Finished successfully.
        Completed = "completed",
        /// Finished with errors.
        Failed = "failed",
        /// Cancelled by a user.
        Cancelled = "cancelled",
        /// Exceeded the job timeout.
        Timeout = "timeout",
    }
);

query_enum!(
    /// `operation` of `GET /api/v1/jobs`: the operations jobs are created for.
    JobOperation {
        /// Package install.
        Install = "install",
        /// Package update.
        Update = "update",
        /// Package removal.
        Remove = "remove",
        /// Patch application.
        PatchApply = "patch_apply",
        /// System reboot.
        Reboot = "reboot",
        /// Job rollback.
        Rollback = "rollback",
    }
);

query_enum!(
    /// `sort` of `GET /api/v1/jobs`.
    JobSort {
        /// By creation time.
        CreatedAt = "created_at",
        /// By last update.
        UpdatedAt = "updated_at",
        /// By status.
        Status = "status",
    }
);

query_enum!(
    /// `order` of list endpoints.
    SortOrder {
        /// Ascending (default).
        Asc = "asc",
        /// Descending.
        Desc = "desc",
    }
);

/// Query of `GET /api/v1/packages`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackageQuery {
    /// `name` filter (may contain `*`).
    pub name: Option<String>,
    /// `status` filter.
    pub status: Option<PackageStatus>,
    /// `limit`/`offset`.
    pub page: Page,
    /// `sort` field.
    pub sort: Option<PackageSort>,
    /// `order`, default ascending.
    pub order: SortOrder,
    /// `refresh`: refresh metadata first (rate-limited), default false.
    pub refresh: bool,
}

/// Query of `GET /api/v1/patches`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatchQuery {
    /// `severity` filter.
    pub severity: Option<PatchSeverity>,
    /// `status` filter.
    pub status: Option<PatchStatus>,
    /// `limit`/`offset`.
    pub page: Page,
    /// `sort` field.
    pub sort: Option<PatchSort>,
    /// `order`; when absent, the sort's natural order (most severe, newest, or A-Z first).
    pub order: Option<SortOrder>,
    /// `refresh`: refresh metadata first (rate-limited), default false.
    pub refresh: bool,
    /// `classification`, `min_severity`, `include`, `exclude`: what apply would select.
    pub policy: crate::pkg::policy::PatchPolicy,
}

/// Query of `GET /api/v1/jobs`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobQuery {
    /// `status` filter.
    pub status: Option<JobStatus>,
    /// `operation` filter.
    pub operation: Option<JobOperation>,
    /// `limit`/`offset`.
    pub page: Page,
    /// `sort` field.
    pub sort: Option<JobSort>,
    /// `order`, default ascending.
    pub order: SortOrder,
}

/// A path the API knows, before the method is considered.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Resource {
    Health,
    HealthV1,
    Packages,
    Package(String),
    PackageHold(String),
    Patches,
    PatchesApply,
    SystemInfo,
    SystemReboot,
    Service(String),
    Jobs,
    Job(String),
    JobRollback(String),
    WsJobs,
    OpenApi(DocFormat),
    SystemRestartNeeded,
    Metrics,
    PackageHolds,
}

impl Resource {
    fn allowed_methods(&self) -> &'static [&'static str] {
        match self {
            Resource::Packages => &["GET", "POST"],
            Resource::Package(_) => &["GET", "PUT", "DELETE"],
            Resource::Job(_) => &["GET", "DELETE"],
            Resource::PackageHold(_) => &["PUT", "DELETE"],
            Resource::PatchesApply | Resource::SystemReboot | Resource::JobRollback(_) => &["POST"],
            Resource::Health
            | Resource::HealthV1
            | Resource::Patches
            | Resource::SystemInfo
            | Resource::Service(_)
            | Resource::Jobs
            | Resource::WsJobs
            | Resource::OpenApi(_)
            | Resource::SystemRestartNeeded
            | Resource::Metrics
            | Resource::PackageHolds => &["GET"],
        }
    }
}

/// Most segments of any route (`/api/v1/packages/NAME/hold`); a longer path matches none.
const MAX_ROUTE_SEGMENTS: usize = 5;

fn match_resource<S: AsRef<str>>(segments: &[S]) -> Option<Resource> {
    if segments.len() > MAX_ROUTE_SEGMENTS {
        return None;
    }
    // On the stack: routing allocates nothing but the parameters it keeps.
    let mut held = [""; MAX_ROUTE_SEGMENTS];
    for (slot, segment) in held.iter_mut().zip(segments) {
        *slot = segment.as_ref();
    }
    let segs = &held[..segments.len()];
    // An empty segment (`//`, trailing `/`) is never a parameter value.
    if segs.iter().any(|s| s.is_empty()) {
        return None;
    }
    let resource = match segs {
        ["health"] => Resource::Health,
        ["metrics"] => Resource::Metrics,
        ["api", "v1", rest @ ..] => match rest {
            ["health"] => Resource::HealthV1,
            ["packages"] => Resource::Packages,
            ["packages", "holds"] => Resource::PackageHolds,
            ["packages", name] => Resource::Package(name.to_string()),
            ["packages", name, "hold"] => Resource::PackageHold(name.to_string()),
            ["patches"] => Resource::Patches,
            ["patches", "apply"] => Resource::PatchesApply,
            ["system", "info"] => Resource::SystemInfo,
            ["system", "reboot"] => Resource::SystemReboot,
            ["system", "restart-needed"] => Resource::SystemRestartNeeded,
            ["system", "services", name] => Resource::Service(name.to_string()),
            ["jobs"] => Resource::Jobs,
            ["jobs", id] => Resource::Job(id.to_string()),
            ["jobs", id, "rollback"] => Resource::JobRollback(id.to_string()),
            ["ws", "jobs"] => Resource::WsJobs,
            ["openapi.yaml"] => Resource::OpenApi(DocFormat::Yaml),
            ["openapi.json"] => Resource::OpenApi(DocFormat::Json),
            _ => return None,
        },
        _ => return None,
    };
    Some(resource)
}

/// Routes a request: decodes the path and query with the `uri` helpers, then [`route`].
pub fn route_request(req: &Request) -> Result<Endpoint, ApiError> {
    let segments = uri::path_segments(&req.path)
        .map_err(|e| ApiError::InvalidRequest(format!("path: {}", e.0)))?;
    let resource = resolve(&req.method, &req.path, &segments)?;
    let pairs = match req.query.as_deref() {
        Some(raw) => uri::query_pairs(raw)
            .map_err(|e| ApiError::InvalidRequest(format!("query: {}", e.0)))?,
        None => Vec::new(),
    };
    build(&req.method, &req.path, resource, &pairs)
}

/// Routes already-decoded input; `path` is only used in messages.
pub fn route<S: AsRef<str>>(
    method: &str,
    path: &str,
    segments: &[S],
    query: &[(String, String)],
) -> Result<Endpoint, ApiError> {
    let resource = resolve(method, path, segments)?;
    build(method, path, resource, query)
}

fn resolve<S: AsRef<str>>(method: &str, path: &str, segments: &[S]) -> Result<Resource, ApiError> {
    let resource = match_resource(segments).ok_or_else(|| ApiError::NotFound(path.to_string()))?;
    let allow = resource.allowed_methods();
    if !allow.contains(&as_get(method)) {
        return Err(method_not_allowed(method, path, &resource));
    }
    Ok(resource)
}

/// HEAD is served as GET (the body is dropped on the way out); other methods are themselves.
fn as_get(method: &str) -> &str {
    if method == "HEAD" {
        "GET"
    } else {
        method
    }
}

/// The 405 for `resource`; `Allow` names HEAD after GET, as HEAD is served wherever GET is.
fn method_not_allowed(method: &str, path: &str, resource: &Resource) -> ApiError {
    let mut allow = resource.allowed_methods().to_vec();
    if let Some(at) = allow.iter().position(|m| *m == "GET") {
        allow.insert(at + 1, "HEAD");
    }
    ApiError::MethodNotAllowed {
        method: method.to_string(),
        path: path.to_string(),
        allow,
    }
}

fn build(
    method: &str,
    path: &str,
    resource: Resource,
    query: &[(String, String)],
) -> Result<Endpoint, ApiError> {
    let endpoint = match (as_get(method), resource) {
        ("GET", Resource::Health) => no_query(query, Endpoint::Health)?,
        ("GET", Resource::HealthV1) => no_query(query, Endpoint::HealthV1)?,
        ("GET", Resource::Packages) => Endpoint::ListPackages(package_query(query)?),
        ("POST", Resource::Packages) => Endpoint::InstallPackages {
            dry_run: dry_run_only(query)?,
        },
        ("GET", Resource::PackageHolds) => no_query(query, Endpoint::ListHolds)?,
        ("PUT", Resource::PackageHold(name)) => no_query(
            query,
            Endpoint::HoldPackage {
                name: loose_name("name", name)?,
            },
        )?,
        ("DELETE", Resource::PackageHold(name)) => no_query(
            query,
            Endpoint::UnholdPackage {
                name: loose_name("name", name)?,
            },
        )?,
        ("GET", Resource::Package(name)) => Endpoint::GetPackage {
            name: loose_name("name", name)?,
            refresh: Params::new(query, &["refresh"])?
                .boolean("refresh")?
                .unwrap_or(false),
        },
        ("PUT", Resource::Package(name)) => Endpoint::UpdatePackage {
            name: loose_name("name", name)?,
            dry_run: dry_run_only(query)?,
        },
        ("DELETE", Resource::Package(name)) => {
            let name = loose_name("name", name)?;
            let q = Params::new(query, &["purge", "force", "dry_run"])?;
            Endpoint::RemovePackage {
                name,
                purge: q.boolean("purge")?.unwrap_or(false),
                force: q.boolean("force")?.unwrap_or(false),
                dry_run: q.boolean("dry_run")?.unwrap_or(false),
            }
        }
        ("GET", Resource::Patches) => Endpoint::ListPatches(patch_query(query)?),
        ("POST", Resource::PatchesApply) => Endpoint::ApplyPatches {
            dry_run: dry_run_only(query)?,
        },
        ("GET", Resource::SystemInfo) => no_query(query, Endpoint::SystemInfo)?,
        ("POST", Resource::SystemReboot) => no_query(query, Endpoint::Reboot)?,
        ("GET", Resource::Service(name)) => no_query(
            query,
            Endpoint::ServiceStatus {
                name: loose_name("name", name)?,
            },
        )?,
        ("GET", Resource::Jobs) => Endpoint::ListJobs(job_query(query)?),
        ("GET", Resource::Job(id)) => no_query(query, Endpoint::GetJob { id: job_id(&id)? })?,
        ("DELETE", Resource::Job(id)) => no_query(query, Endpoint::CancelJob { id: job_id(&id)? })?,
        ("POST", Resource::JobRollback(id)) => {
            no_query(query, Endpoint::RollbackJob { id: job_id(&id)? })?
        }
        ("GET", Resource::WsJobs) => no_query(query, Endpoint::JobStream)?,
        ("GET", Resource::OpenApi(format)) => no_query(query, Endpoint::OpenApi(format))?,
        ("GET", Resource::SystemRestartNeeded) => no_query(query, Endpoint::RestartNeeded)?,
        ("GET", Resource::Metrics) => no_query(query, Endpoint::Metrics)?,
        (_, r) => {
            // resolve() already refused methods outside allowed_methods(); kept total anyway.
            return Err(method_not_allowed(method, path, &r));
        }
    };
    Ok(endpoint)
}

fn no_query(query: &[(String, String)], endpoint: Endpoint) -> Result<Endpoint, ApiError> {
    Params::new(query, &[])?;
    Ok(endpoint)
}

/// The query of a change that takes `dry_run` only (default false).
fn dry_run_only(query: &[(String, String)]) -> Result<bool, ApiError> {
    Ok(Params::new(query, &["dry_run"])?
        .boolean("dry_run")?
        .unwrap_or(false))
}

fn package_query(query: &[(String, String)]) -> Result<PackageQuery, ApiError> {
    let q = Params::new(
        query,
        &[
            "name", "status", "limit", "offset", "sort", "order", "refresh",
        ],
    )?;
    Ok(PackageQuery {
        name: q
            .get("name")
            .map(|v| loose_value("query parameter name", v))
            .transpose()?,
        status: q.one_of("status", PackageStatus::ALL)?,
        page: q.page()?,
        sort: q.one_of("sort", PackageSort::ALL)?,
        order: q.one_of("order", SortOrder::ALL)?.unwrap_or(SortOrder::Asc),
        refresh: q.boolean("refresh")?.unwrap_or(false),
    })
}

fn patch_query(query: &[(String, String)]) -> Result<PatchQuery, ApiError> {
    let q = Params::new(
        query,
        &[
            "severity",
            "status",
            "limit",
            "offset",
            "sort",
            "order",
            "refresh",
            "classification",
            "min_severity",
            "include",
            "exclude",
        ],
    )?;
    Ok(PatchQuery {
        severity: q.one_of("severity", PatchSeverity::ALL)?,
        status: q.one_of("status", PatchStatus::ALL)?,
        page: q.page()?,
        sort: q.one_of("sort", PatchSort::ALL)?,
        order: q.one_of("order", SortOrder::ALL)?,
        refresh: q.boolean("refresh")?.unwrap_or(false),
        policy: super::patch_policy::from_query(
            q.get("classification"),
            q.get("min_severity"),
            q.get("include"),
            q.get("exclude"),
        )?,
    })
}

fn job_query(query: &[(String, String)]) -> Result<JobQuery, ApiError> {
    let q = Params::new(
        query,
        &["status", "operation", "limit", "offset", "sort", "order"],
    )?;
    Ok(JobQuery {
        status: q.one_of("status", JobStatus::ALL)?,
        operation: q.one_of("operation", JobOperation::ALL)?,
        page: q.page()?,
        sort: q.one_of("sort", JobSort::ALL)?,
        order: q.one_of("order", SortOrder::ALL)?.unwrap_or(SortOrder::Asc),
    })
}

/// Parses a job id: the hyphenated UUID form only, as the API itself writes them.
fn job_id(raw: &str) -> Result<Uuid, ApiError> {
    let bad = || ApiError::InvalidRequest(format!("id: not a UUID: {raw:?}"));
    if raw.len() != 36 {
        return Err(bad());
    }
    Uuid::parse_str(raw).map_err(|_| bad())
}

/// Loose name check for path parameters; per-ecosystem grammar comes with the backends.
fn loose_name(what: &str, value: String) -> Result<String, ApiError> {
    loose_value(what, &value)
}

fn loose_value(what: &str, value: &str) -> Result<String, ApiError> {
    let len = value.chars().count();
    if len == 0 || len > 255 {
        return Err(ApiError::InvalidRequest(format!(
            "{what}: must be 1-255 characters, got {len}"
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(ApiError::InvalidRequest(format!(
            "{what}: control characters are not allowed: {value:?}"
        )));
    }
    if value.contains('/') {
        return Err(ApiError::InvalidRequest(format!(
            "{what}: '/' is not allowed: {value:?}"
        )));
    }
    Ok(value.to_string())
}

/// Query parameters checked against the allowed names: no unknown, none repeated.
struct Params<'a> {
    values: BTreeMap<&'a str, &'a str>,
}

impl<'a> Params<'a> {
    fn new(query: &'a [(String, String)], allowed: &[&str]) -> Result<Params<'a>, ApiError> {
        let unknown: Vec<&str> = query
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(|k| !allowed.contains(k))
            .collect();
        if !unknown.is_empty() {
            let allowed = if allowed.is_empty() {
                "none".to_string()
            } else {
                allowed.join(", ")
            };
            let unknown: Vec<String> = unknown.iter().map(|k| format!("{k:?}")).collect();
            return Err(ApiError::InvalidRequest(format!(
                "unknown query parameter(s): {}; allowed: {allowed}",
                unknown.join(", ")
            )));
        }
        let mut values = BTreeMap::new();
        for (k, v) in query {
            if values.insert(k.as_str(), v.as_str()).is_some() {
                return Err(ApiError::InvalidRequest(format!(
                    "query parameter {k}: given more than once"
                )));
            }
        }
        Ok(Params { values })
    }

    fn get(&self, key: &str) -> Option<&'a str> {
        self.values.get(key).copied()
    }

    fn one_of<T: Copy>(&self, key: &str, all: &[(&str, T)]) -> Result<Option<T>, ApiError> {
        let Some(raw) = self.get(key) else {
            return Ok(None);
        };
        match all.iter().find(|(text, _)| *text == raw) {
            Some((_, v)) => Ok(Some(*v)),
            None => {
                let names: Vec<&str> = all.iter().map(|(t, _)| *t).collect();
                Err(ApiError::InvalidRequest(format!(
                    "query parameter {key}: must be one of {}, got {raw:?}",
                    names.join(", ")
                )))
            }
        }
    }

    fn boolean(&self, key: &str) -> Result<Option<bool>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some("true") | Some("1") => Ok(Some(true)),
            Some("false") | Some("0") => Ok(Some(false)),
            Some(raw) => Err(ApiError::InvalidRequest(format!(
                "query parameter {key}: must be true, false, 1 or 0, got {raw:?}"
            ))),
        }
    }

    fn page(&self) -> Result<Page, ApiError> {
        let limit = match self.get("limit") {
            None => None,
            Some(raw) => Some(
                digits::<u32>(raw)
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| {
                        ApiError::InvalidRequest(format!(
                            "query parameter limit: must be an integer 1-{MAX_LIMIT}, got {raw:?}"
                        ))
                    })?,
            ),
        };
        let offset = match self.get("offset") {
            None => 0,
            Some(raw) => digits::<u64>(raw).ok_or_else(|| {
                ApiError::InvalidRequest(format!(
                    "query parameter offset: must be an integer >= 0, got {raw:?}"
                ))
            })?,
        };
        Ok(Page { limit, offset })
    }
}

/// Parses plain ASCII digits (no sign, no blanks), refusing overflow.
fn digits<T: std::str::FromStr>(raw: &str) -> Option<T> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const JOB: &str = "6ba7b810-9dad-11d1-80b4-00c04fd430c8";

    fn segs(path: &str) -> Vec<String> {
        path.trim_start_matches('/')
            .split('/')
            .map(str::to_string)
            .collect()
    }

    fn pairs(q: &[(&str, &str)]) -> Vec<(String, String)> {
        q.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn r(method: &str, path: &str) -> Result<Endpoint, ApiError> {
        route(method, path, &segs(path), &[])
    }

    fn rq(method: &str, path: &str, q: &[(&str, &str)]) -> Result<Endpoint, ApiError> {
        route(method, path, &segs(path), &pairs(q))
    }

    fn invalid_message(res: Result<Endpoint, ApiError>) -> String {
        match res {
            Err(ApiError::InvalidRequest(m)) => m,
            other => panic!("expected INVALID_REQUEST, got {other:?}"),
        }
    }

    #[test]
    fn dry_run_on_each_change_and_nowhere_else() {
        let on = |method: &str, path: &str, raw: &str| rq(method, path, &[("dry_run", raw)]);
        for raw in ["true", "1"] {
            let e = on("POST", "/api/v1/packages", raw).unwrap();
            assert_eq!(e, Endpoint::InstallPackages { dry_run: true });
            assert!(e.is_dry_run() && !e.is_mutating());
            let e = on("PUT", "/api/v1/packages/nginx", raw).unwrap();
            assert!(e.is_dry_run() && !e.is_mutating());
            let e = on("POST", "/api/v1/patches/apply", raw).unwrap();
            assert_eq!(e, Endpoint::ApplyPatches { dry_run: true });
        }
        let e = rq(
            "DELETE",
            "/api/v1/packages/nginx",
            &[("purge", "true"), ("dry_run", "true")],
        )
        .unwrap();
        assert_eq!(
            e,
            Endpoint::RemovePackage {
                name: "nginx".into(),
                purge: true,
                force: false,
                dry_run: true,
            }
        );
        let e = on("PUT", "/api/v1/packages/nginx", "false").unwrap();
        assert!(!e.is_dry_run() && e.is_mutating());
        for (method, path) in [
            ("POST", "/api/v1/packages"),
            ("PUT", "/api/v1/packages/nginx"),
            ("DELETE", "/api/v1/packages/nginx"),
            ("POST", "/api/v1/patches/apply"),
        ] {
            let m = invalid_message(on(method, path, "yes"));
            assert!(m.starts_with("query parameter dry_run:"), "{m}");
        }
        let m = invalid_message(on("POST", "/api/v1/system/reboot", "true"));
        assert!(m.contains("unknown query parameter(s): \"dry_run\""), "{m}");
    }

    #[test]
    fn every_endpoint_routes() {
        let id = Uuid::parse_str(JOB).unwrap();
        let cases: Vec<(&str, String, Endpoint)> = vec![
            ("GET", "/health".into(), Endpoint::Health),
            ("GET", "/api/v1/health".into(), Endpoint::HealthV1),
            (
                "GET",
                "/api/v1/packages".into(),
                Endpoint::ListPackages(PackageQuery {
                    name: None,
                    status: None,
                    page: Page::default(),
                    sort: None,
                    order: SortOrder::Asc,
                    refresh: false,
                }),
            ),
            (
                "POST",
                "/api/v1/packages".into(),
                Endpoint::InstallPackages { dry_run: false },
            ),
            (
                "GET",
                "/api/v1/packages/nginx".into(),
                Endpoint::GetPackage {
                    name: "nginx".into(),
                    refresh: false,
                },
            ),
            (
                "PUT",
                "/api/v1/packages/libc6".into(),
                Endpoint::UpdatePackage {
                    name: "libc6".into(),
                    dry_run: false,
                },
            ),
            (
                "DELETE",
                "/api/v1/packages/nginx".into(),
                Endpoint::RemovePackage {
                    name: "nginx".into(),
                    purge: false,
                    force: false,
                    dry_run: false,
                },
            ),
            ("GET", "/api/v1/packages/holds".into(), Endpoint::ListHolds),
            (
                "PUT",
                "/api/v1/packages/nginx/hold".into(),
                Endpoint::HoldPackage {
                    name: "nginx".into(),
                },
            ),
            (
                "DELETE",
                "/api/v1/packages/nginx/hold".into(),
                Endpoint::UnholdPackage {
                    name: "nginx".into(),
                },
            ),
            (
                "GET",
                "/api/v1/patches".into(),
                Endpoint::ListPatches(PatchQuery {
                    severity: None,
                    status: None,
                    page: Page::default(),
                    sort: None,
                    order: None,
                    refresh: false,
                    policy: Default::default(),
                }),
            ),
            (
                "POST",
                "/api/v1/patches/apply".into(),
                Endpoint::ApplyPatches { dry_run: false },
            ),
            ("GET", "/api/v1/system/info".into(), Endpoint::SystemInfo),
            ("POST", "/api/v1/system/reboot".into(), Endpoint::Reboot),
            (
                "GET",
                "/api/v1/system/services/ssh.service".into(),
                Endpoint::ServiceStatus {
                    name: "ssh.service".into(),
                },
            ),
            (
                "GET",
                "/api/v1/jobs".into(),
                Endpoint::ListJobs(JobQuery {
                    status: None,
                    operation: None,
                    page: Page::default(),
                    sort: None,
                    order: SortOrder::Asc,
                }),
            ),
            (
                "GET",
                format!("/api/v1/jobs/{JOB}"),
                Endpoint::GetJob { id },
            ),
            (
                "DELETE",
                format!("/api/v1/jobs/{JOB}"),
                Endpoint::CancelJob { id },
            ),
            (
                "POST",
                format!("/api/v1/jobs/{JOB}/rollback"),
                Endpoint::RollbackJob { id },
            ),
            ("GET", "/api/v1/ws/jobs".into(), Endpoint::JobStream),
            (
                "GET",
                "/api/v1/openapi.yaml".into(),
                Endpoint::OpenApi(DocFormat::Yaml),
            ),
            (
                "GET",
                "/api/v1/openapi.json".into(),
                Endpoint::OpenApi(DocFormat::Json),
            ),
            (
                "GET",
                "/api/v1/system/restart-needed".into(),
                Endpoint::RestartNeeded,
            ),
            ("GET", "/metrics".into(), Endpoint::Metrics),
        ];
        let mut templates: Vec<&str> = cases.iter().map(|c| c.2.template()).collect();
        templates.sort_unstable();
        let mut all = Endpoint::ALL_TEMPLATES.to_vec();
        all.sort_unstable();
        assert_eq!(templates, all, "ALL_TEMPLATES lists every route once");
        for (method, path, expected) in cases {
            let got = r(method, &path).unwrap_or_else(|e| panic!("{method} {path}: {e}"));
            assert_eq!(got, expected, "{method} {path}");
            assert!(got.template().starts_with(method), "{method} {path}");
            assert_eq!(got.is_mutating(), method != "GET");
            if method == "GET" {
                // HEAD is served wherever GET is, by the same endpoint.
                assert_eq!(r("HEAD", &path).ok(), Some(expected), "HEAD {path}");
            }
        }
    }

    #[test]
    fn unknown_paths_are_404() {
        for path in [
            "/",
            "/api",
            "/api/v1",
            "/api/v2/health",
            "/api/v1/packages/nginx/extra",
            "/api/v1/packages/nginx/hold/extra",
            "/api/v1/jobs/a/rollback/b/c/d",
            "/api/v1/system",
            "/api/v1/system/services",
            "/api/v1/ws",
            "/api/v1/packages/",
            "/api/v1//packages",
            "/healthz",
        ] {
            match r("GET", path) {
                Err(ApiError::NotFound(p)) => assert_eq!(p, path),
                other => panic!("{path}: {other:?}"),
            }
        }
    }

    #[test]
    fn holds_routes_and_a_package_named_holds_stays_reachable() {
        assert_eq!(
            r("GET", "/api/v1/packages/holds").unwrap(),
            Endpoint::ListHolds
        );
        assert_eq!(
            r("HEAD", "/api/v1/packages/holds").unwrap(),
            Endpoint::ListHolds
        );
        let name = || "nginx".to_string();
        assert_eq!(
            r("PUT", "/api/v1/packages/nginx/hold").unwrap(),
            Endpoint::HoldPackage { name: name() }
        );
        assert_eq!(
            r("DELETE", "/api/v1/packages/nginx/hold").unwrap(),
            Endpoint::UnholdPackage { name: name() }
        );
        assert!(Endpoint::HoldPackage { name: name() }.is_mutating());
        assert!(!Endpoint::ListHolds.is_mutating());
        // `holds` is a reserved segment: the hold list's only, every other method a 405
        // (as the OpenAPI document says), never a package of that name.
        for method in ["PUT", "DELETE", "POST"] {
            match r(method, "/api/v1/packages/holds") {
                Err(ApiError::MethodNotAllowed { allow, .. }) => {
                    assert_eq!(allow, ["GET", "HEAD"], "{method}")
                }
                other => panic!("{method}: {other:?}"),
            }
        }
        let m = invalid_message(rq("GET", "/api/v1/packages/holds", &[("refresh", "true")]));
        assert!(m.contains("refresh"), "{m}");
        let long = format!("/api/v1/packages/{}/hold", "a".repeat(256));
        let m = invalid_message(r("PUT", &long));
        assert!(m.contains("name"), "{m}");
        match r("GET", "/api/v1/packages/nginx/hold") {
            Err(ApiError::MethodNotAllowed { allow, .. }) => assert_eq!(allow, ["PUT", "DELETE"]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn wrong_method_is_405_with_allow() {
        let cases = [
            ("PATCH", "/api/v1/packages", vec!["GET", "HEAD", "POST"]),
            (
                "POST",
                "/api/v1/packages/nginx",
                vec!["GET", "HEAD", "PUT", "DELETE"],
            ),
            ("POST", "/health", vec!["GET", "HEAD"]),
            ("GET", "/api/v1/patches/apply", vec!["POST"]),
            ("HEAD", "/api/v1/patches/apply", vec!["POST"]),
            (
                "PUT",
                &format!("/api/v1/jobs/{JOB}"),
                vec!["GET", "HEAD", "DELETE"],
            ),
            ("HEAD", "/api/v1/system/reboot", vec!["POST"]),
            ("OPTIONS", "/api/v1/ws/jobs", vec!["GET", "HEAD"]),
            ("head", "/health", vec!["GET", "HEAD"]),
        ];
        for (method, path, allow) in cases {
            match r(method, path) {
                Err(e @ ApiError::MethodNotAllowed { .. }) => {
                    assert_eq!(e.status(), 405);
                    assert_eq!(e.headers(), vec![("Allow".to_string(), allow.join(", "))]);
                }
                other => panic!("{method} {path}: {other:?}"),
            }
        }
    }

    #[test]
    fn method_is_checked_before_parameters() {
        assert!(matches!(
            r("PATCH", "/api/v1/jobs/abc"),
            Err(ApiError::MethodNotAllowed { .. })
        ));
    }

    #[test]
    fn bad_job_ids() {
        assert_eq!(
            invalid_message(r("GET", "/api/v1/jobs/abc")),
            "id: not a UUID: \"abc\""
        );
        let simple = JOB.replace('-', "");
        assert!(
            invalid_message(r("DELETE", &format!("/api/v1/jobs/{simple}"))).contains("not a UUID")
        );
        let braced = format!("/api/v1/jobs/{{{}}}/rollback", &JOB[..34]);
        assert!(invalid_message(r("POST", &braced)).starts_with("id: not a UUID"));
    }

    #[test]
    fn loose_names() {
        let long = "a".repeat(256);
        let cases = [
            ("a/b", "'/' is not allowed"),
            ("a\u{7}b", "control characters"),
            (long.as_str(), "must be 1-255 characters, got 256"),
        ];
        for (name, needle) in cases {
            let segments = vec![
                "api".to_string(),
                "v1".to_string(),
                "packages".to_string(),
                name.to_string(),
            ];
            let m = invalid_message(route("GET", "/x", &segments, &[]));
            assert!(m.starts_with("name: "), "{m}");
            assert!(m.contains(needle), "{m}");
        }
        assert!(r("GET", &format!("/api/v1/packages/{}", "a".repeat(255))).is_ok());
        assert!(r("GET", "/api/v1/packages/g++").is_ok());
        assert!(r("GET", "/api/v1/packages/python3.11:amd64").is_ok());
    }

    #[test]
    fn package_query_typed() {
        let e = rq(
            "GET",
            "/api/v1/packages",
            &[
                ("name", "nginx*"),
                ("status", "upgradable"),
                ("limit", "50"),
                ("offset", "100"),
                ("sort", "size"),
                ("order", "desc"),
            ],
        )
        .unwrap();
        assert_eq!(
            e,
            Endpoint::ListPackages(PackageQuery {
                name: Some("nginx*".into()),
                status: Some(PackageStatus::Upgradable),
                page: Page {
                    limit: Some(50),
                    offset: 100
                },
                sort: Some(PackageSort::Size),
                order: SortOrder::Desc,
                refresh: false,
            })
        );
    }

    #[test]
    fn bad_query_values() {
        let cases: Vec<(&str, &str, &str)> =
            vec![
            ("limit", "abc", "query parameter limit: must be an integer 1-1000, got \"abc\""),
            ("limit", "0", "query parameter limit: must be an integer 1-1000, got \"0\""),
            ("limit", "1001", "query parameter limit: must be an integer 1-1000, got \"1001\""),
            ("limit", "+5", "query parameter limit: must be an integer 1-1000, got \"+5\""),
            ("offset", "-1", "query parameter offset: must be an integer >= 0, got \"-1\""),
            (
                "offset",
                "99999999999999999999999",
                "query parameter offset: must be an integer >= 0",
            ),
            (
                "status",
                "broken",
                "query parameter status: must be one of installed, upgradable, all, got \"broken\"",
            ),
            ("sort", "date", "query parameter sort: must be one of name, version, size"),
            ("order", "ASC", "query parameter order: must be one of asc, desc, got \"ASC\""),
            ("name", "", "query parameter name: must be 1-255 characters, got 0"),
        ];
        for (k, v, expected) in cases {
            let m = invalid_message(rq("GET", "/api/v1/packages", &[(k, v)]));
            assert!(m.starts_with(expected), "{k}={v}: {m}");
        }
    }

    #[test]
    fn patch_and_job_queries() {
        let e = rq(
            "GET",
            "/api/v1/patches",
            &[
                ("severity", "critical"),
                ("status", "available"),
                ("sort", "published_date"),
            ],
        )
        .unwrap();
        let Endpoint::ListPatches(q) = e else {
            panic!("{e:?}")
        };
        assert_eq!(q.severity, Some(PatchSeverity::Critical));
        assert_eq!(q.status, Some(PatchStatus::Available));
        assert_eq!(q.sort, Some(PatchSort::PublishedDate));
        let m = invalid_message(rq("GET", "/api/v1/patches", &[("severity", "urgent")]));
        assert!(
            m.contains("critical, high, medium, low, unknown, all"),
            "{m}"
        );

        let e = rq(
            "GET",
            "/api/v1/jobs",
            &[
                ("status", "timeout"),
                ("operation", "patch_apply"),
                ("sort", "updated_at"),
            ],
        )
        .unwrap();
        let Endpoint::ListJobs(q) = e else {
            panic!("{e:?}")
        };
        assert_eq!(q.status, Some(JobStatus::Timeout));
        assert_eq!(q.operation, Some(JobOperation::PatchApply));
        assert_eq!(q.sort, Some(JobSort::UpdatedAt));
        assert_eq!(JobOperation::PatchApply.as_str(), "patch_apply");
        let m = invalid_message(rq("GET", "/api/v1/jobs", &[("status", "installed")]));
        assert!(
            m.starts_with("query parameter status: must be one of pending"),
            "{m}"
        );
    }

    #[test]
    fn delete_booleans() {
        for (raw, expected) in [("true", true), ("1", true), ("false", false), ("0", false)] {
            let e = rq(
                "DELETE",
                "/api/v1/packages/nginx",
                &[("purge", raw), ("force", raw)],
            )
            .unwrap();
            assert_eq!(
                e,
                Endpoint::RemovePackage {
                    name: "nginx".into(),
                    purge: expected,
                    force: expected,
                    dry_run: false,
                }
            );
        }
        let m = invalid_message(rq("DELETE", "/api/v1/packages/nginx", &[("purge", "yes")]));
        assert_eq!(
            m,
            "query parameter purge: must be true, false, 1 or 0, got \"yes\""
        );
    }

    #[test]
    fn unknown_and_repeated_parameters() {
        let m = invalid_message(rq(
            "GET",
            "/api/v1/packages",
            &[("foo", "1"), ("limit", "5"), ("bar", "")],
        ));
        assert!(m.contains("\"foo\", \"bar\""), "{m}");
        assert!(m.contains("allowed: name, status, limit"), "{m}");
        let m = invalid_message(rq("GET", "/api/v1/system/info", &[("x", "1")]));
        assert!(m.ends_with("allowed: none"), "{m}");
        let m = invalid_message(rq("GET", "/api/v1/jobs", &[("limit", "5"), ("limit", "6")]));
        assert_eq!(m, "query parameter limit: given more than once");
        let m = invalid_message(rq("POST", "/api/v1/packages", &[("dry_rum", "1")]));
        assert!(m.ends_with("allowed: dry_run"), "{m}");
    }

    #[test]
    fn mutating_methods() {
        for m in ["POST", "PUT", "DELETE"] {
            assert!(is_mutating_method(m));
        }
        for m in ["GET", "HEAD", "OPTIONS", "PATCH", "post"] {
            assert!(!is_mutating_method(m), "{m}");
        }
    }
}
