//! The REST surface: routing, envelope, handlers. Handlers translate; they hold no logic.
//!
//! Every request goes: route (404/405/400) → client certificate required except for
//! `GET /health` (401) → rate limit (429) → read-only gate (403) → handler; every
//! POST/PUT/DELETE is written to the audit log whatever its outcome.

pub mod body;
pub mod common;
pub mod dry_run;
pub mod envelope;
pub mod exposition;
pub mod health;
pub mod holds;
pub mod jobs;
pub mod metrics;
pub mod openapi;
pub mod packages;
pub mod page_cache;
pub mod patch_policy;
pub mod patches;
pub mod router;
pub mod shape;
pub mod system;
pub mod wire;
pub mod ws;

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::audit::{AuditEntry, AuditLog};
use crate::config::Config;
use crate::error_code::ErrorCode;
use crate::feed_refresh::FeedRefresher;
use crate::http::ratelimit::{RateLimiter, Rule};
use crate::http::tls::TlsState;
use crate::http::ws::{Sessions, Upgrade};
use crate::http::{Peer, ProtocolError, Request, Response, Service};
use crate::jobs::events::Events;
use crate::jobs::Engine;
use crate::pkg::inventory::Inventory;
use crate::pkg::RemoveOptions;
use crate::system::restart_cache::{self, RestartCache};

use envelope::{ApiError, Reply};
use router::Endpoint;
use shape::ClientShape;

/// Rate categories, as indices into the rule list given to the limiter (the order of
/// `rate_limits.*` in the configuration).
const CAT_HEALTH: usize = 0;
const CAT_PACKAGE_LIST: usize = 1;
const CAT_PACKAGE_OPERATIONS: usize = 2;
const CAT_PATCH_OPERATIONS: usize = 3;
const CAT_JOB_OPERATIONS: usize = 4;
const CAT_SYSTEM_OPERATIONS: usize = 5;

/// The budget an endpoint draws from. Listing patches counts as a read of the inventory
/// (package_list), not as a patch operation; system info, service status, restart-needed
/// and metrics are monitoring reads (health); only the reboot is a system operation.
fn rate_category(endpoint: &Endpoint) -> usize {
    match endpoint {
        Endpoint::Health
        | Endpoint::HealthV1
        | Endpoint::SystemInfo
        | Endpoint::ServiceStatus { .. }
        | Endpoint::OpenApi(_)
        | Endpoint::RestartNeeded
        | Endpoint::Metrics => CAT_HEALTH,
        Endpoint::ListPackages(_)
        | Endpoint::GetPackage { .. }
        | Endpoint::ListHolds
        | Endpoint::ListPatches(_) => CAT_PACKAGE_LIST,
        Endpoint::InstallPackages { .. }
        | Endpoint::UpdatePackage { .. }
        | Endpoint::RemovePackage { .. }
        | Endpoint::HoldPackage { .. }
        | Endpoint::UnholdPackage { .. } => CAT_PACKAGE_OPERATIONS,
        Endpoint::ApplyPatches { .. } => CAT_PATCH_OPERATIONS,
        Endpoint::ListJobs(_)
        | Endpoint::GetJob { .. }
        | Endpoint::CancelJob { .. }
        | Endpoint::RollbackJob { .. }
        | Endpoint::JobStream => CAT_JOB_OPERATIONS,
        Endpoint::Reboot => CAT_SYSTEM_OPERATIONS,
    }
}

/// The limiter rules in category order.
fn rate_rules(config: &Config) -> Vec<Rule> {
    let r = &config.rate_limits;
    [
        &r.health,
        &r.package_list,
        &r.package_operations,
        &r.patch_operations,
        &r.job_operations,
        &r.system_operations,
    ]
    .iter()
    .map(|rule| Rule {
        requests: rule.requests,
        window: Duration::from_secs(rule.window_seconds),
    })
    .collect()
}

/// What the application needs of a rate limiter (a seam so tests can refuse on demand).
trait RateGate: Send + Sync {
    fn check(&self, key: &str, category: usize, now: Instant) -> Result<(), Duration>;
    fn set_rules(&self, rules: Vec<Rule>, max_clients: usize);
}

impl RateGate for RateLimiter {
    fn check(&self, key: &str, category: usize, now: Instant) -> Result<(), Duration> {
        RateLimiter::check(self, key, category, now)
    }

    fn set_rules(&self, rules: Vec<Rule>, max_clients: usize) {
        RateLimiter::set_rules(self, rules, max_clients)
    }
}

/// The configuration requests are served with, and the client shape decided from it; swapped
/// together so that no request sees one without the other.
#[derive(Clone)]
struct Served {
    config: Arc<Config>,
    shape: ClientShape,
}

/// The application: live configuration, TLS facts for health, audit log, rate limiter.
pub struct App {
    served: RwLock<Served>,
    tls: Option<Arc<TlsState>>,
    audit: Arc<AuditLog>,
    limiter: Box<dyn RateGate>,
    started: Instant,
    inventory: Option<Arc<Inventory>>,
    engine: Option<Arc<Engine>>,
    events: Events,
    feeds: Vec<Arc<FeedRefresher>>,
    /// The last health answer, reused for up to a second.
    health: health::HealthCache,
    /// Rendered package pages, reused while the inventory's sets are unchanged.
    pages: packages::ListCache,
    /// The last restart-needed scan, reused by metrics scrapes for a short while.
    restart: RestartCache,
}

impl App {
    /// Builds the application; `tls` is `None` only where no TLS state exists (tests).
    pub fn new(config: Arc<Config>, tls: Option<Arc<TlsState>>, audit: Arc<AuditLog>) -> App {
        let limiter = RateLimiter::new(rate_rules(&config), config.rate_limits.max_clients);
        App::with_gate(config, tls, audit, Box::new(limiter))
    }

    fn with_gate(
        config: Arc<Config>,
        tls: Option<Arc<TlsState>>,
        audit: Arc<AuditLog>,
        limiter: Box<dyn RateGate>,
    ) -> App {
        App {
            served: RwLock::new(Served {
                config,
                shape: ClientShape::default(),
            }),
            tls,
            audit,
            limiter,
            started: Instant::now(),
            inventory: None,
            engine: None,
            events: Events::new(),
            feeds: Vec::new(),
            health: health::HealthCache::new(),
            pages: packages::list_cache(),
            restart: RestartCache::new(restart_cache::DEFAULT_MAX_AGE),
        }
    }

    /// Runs package changes as jobs on `engine` (none: those endpoints answer 503).
    pub fn with_engine(mut self, engine: Option<Arc<Engine>>) -> App {
        self.engine = engine;
        self
    }

    /// Serves the package endpoints from `inventory` (none: they answer 503).
    pub fn with_inventory(mut self, inventory: Option<Arc<Inventory>>) -> App {
        self.inventory = inventory;
        self
    }

    /// Reports these advisory feeds in the health check.
    pub fn with_feeds(mut self, feeds: Vec<Arc<FeedRefresher>>) -> App {
        self.feeds = feeds;
        self
    }

    /// Streams job events from `events` to WebSocket sessions (default: a hub of its own).
    pub fn with_events(mut self, events: Events) -> App {
        self.events = events;
        self
    }

    /// The job event hub WebSocket sessions subscribe to.
    pub fn events(&self) -> &Events {
        &self.events
    }

    /// Serves answers in `shape` (default: the specification's), as decided from
    /// `compat.patch_manager` by the caller (see `crate::compat`).
    pub fn with_shape(self, shape: ClientShape) -> App {
        self.swap(|served| served.shape = shape);
        self
    }

    /// Swaps in a reloaded configuration and the shape decided from it; rate rules follow,
    /// buckets keep their fill.
    pub fn set_config(&self, config: Arc<Config>, shape: ClientShape) {
        self.limiter
            .set_rules(rate_rules(&config), config.rate_limits.max_clients);
        self.swap(|served| *served = Served { config, shape });
    }

    fn swap(&self, change: impl FnOnce(&mut Served)) {
        // A poisoned lock only means a panic elsewhere mid-swap; the value inside is whole.
        let mut guard = self.served.write().unwrap_or_else(|e| e.into_inner());
        change(&mut guard);
    }

    fn served(&self) -> Served {
        self.served
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The configuration requests are currently served with.
    pub fn config(&self) -> Arc<Config> {
        self.served().config
    }

    /// The client shape answers are currently rendered in.
    pub fn shape(&self) -> ClientShape {
        self.served().shape
    }

    /// Serves one request whose route has already been decided (the seam for tests, which
    /// must not depend on the URI decoder).
    fn handle_routed(
        &self,
        req: &Request,
        peer: &Peer,
        routed: Result<Endpoint, ApiError>,
    ) -> Response {
        let request_id = envelope::new_request_id();
        let served = self.served();
        // Authentication comes before routing errors: a peer without a certificate learns
        // nothing about the route table.
        let endpoint = authorize(&routed, peer, &served.config).and(routed);
        let result = endpoint
            .clone()
            .and_then(|endpoint| self.dispatch(&endpoint, req, peer, &served));
        let mut response = match (&endpoint, &result) {
            // The answers that are not the envelope: the document, and the metrics' text,
            // are the payload (errors on these paths still are envelopes).
            (Ok(Endpoint::OpenApi(format)), Ok(_)) => openapi::response(*format, &request_id),
            (Ok(Endpoint::Metrics), Ok(_)) => {
                metrics::response(&self.metric_sources(), &request_id)
            }
            _ => envelope::render(&request_id, &result),
        };
        if matches!(result, Err(ApiError::AuthInvalidCert(_))) {
            response.close = true;
        }
        if router::is_mutating_method(&req.method) {
            let dry_run = endpoint.as_ref().is_ok_and(Endpoint::is_dry_run);
            let call = Call { req, peer, dry_run };
            self.record(&request_id.to_string(), &call, &result, response.status);
        }
        response
    }

    fn dispatch(
        &self,
        endpoint: &Endpoint,
        req: &Request,
        peer: &Peer,
        served: &Served,
    ) -> Result<Reply, ApiError> {
        let config = &served.config;
        if config.rate_limits.enabled {
            let key = rate_key(peer);
            self.limiter
                .check(&key, rate_category(endpoint), Instant::now())
                .map_err(|retry_after| ApiError::RateLimitExceeded { retry_after })?;
        }
        if config.api.read_only && endpoint.is_mutating() {
            return Err(ApiError::ApiReadOnly {
                endpoint: endpoint.template().to_string(),
            });
        }
        if endpoint.asks_refresh() {
            self.refresh_first(endpoint, config)?;
        }
        self.call(endpoint, &req.body, served)
    }

    fn call(&self, endpoint: &Endpoint, body: &[u8], served: &Served) -> Result<Reply, ApiError> {
        let shape = served.shape;
        match endpoint {
            Endpoint::Health | Endpoint::HealthV1 => self.health.get_or(
                Instant::now(),
                self.started.elapsed().as_secs(),
                Arc::as_ptr(&served.config) as usize,
                || health::reply(health::report(&self.health_inputs(&served.config))),
            ),
            Endpoint::SystemInfo => {
                system::info(shape.is_patch_manager(), self.inventory.as_deref())
            }
            Endpoint::Reboot => system::reboot(body, self.engine.as_deref()),
            Endpoint::ServiceStatus { name } => system::service(name),
            Endpoint::ListPackages(query) => {
                packages::list_packages(self.inventory.as_deref(), query, shape, &self.pages)
            }
            Endpoint::InstallPackages { dry_run } => {
                packages::install_packages(body, self.engine.as_deref(), *dry_run)
            }
            Endpoint::GetPackage { name, .. } => {
                packages::get_package(self.inventory.as_deref(), name)
            }
            Endpoint::UpdatePackage { name, dry_run } => {
                packages::update_package(name, body, self.engine.as_deref(), *dry_run)
            }
            Endpoint::RemovePackage {
                name,
                purge,
                force,
                dry_run,
            } => packages::remove_package(
                name,
                RemoveOptions {
                    purge: *purge,
                    force: *force,
                },
                self.engine.as_deref(),
                *dry_run,
            ),
            Endpoint::ListHolds => holds::list_holds(self.inventory.as_deref()),
            Endpoint::HoldPackage { name } => holds::set_hold(
                self.inventory.as_deref(),
                self.engine.as_deref(),
                name,
                true,
            ),
            Endpoint::UnholdPackage { name } => holds::set_hold(
                self.inventory.as_deref(),
                self.engine.as_deref(),
                name,
                false,
            ),
            Endpoint::ListPatches(query) => patches::list_patches(
                self.inventory.as_deref(),
                self.engine.as_deref(),
                query,
                shape,
            ),
            Endpoint::ApplyPatches { dry_run } => patches::apply_patches(
                self.inventory.as_deref(),
                self.engine.as_deref(),
                body,
                *dry_run,
            ),
            Endpoint::ListJobs(query) => jobs::list_jobs(self.engine.as_deref(), query, shape),
            Endpoint::GetJob { id } => jobs::get_job(self.engine.as_deref(), id, shape),
            Endpoint::CancelJob { id } => jobs::cancel_job(self.engine.as_deref(), id, shape),
            Endpoint::RollbackJob { id } => jobs::rollback_job(self.engine.as_deref(), id, body),
            Endpoint::JobStream => ws::plain_request(),
            Endpoint::RestartNeeded => {
                system::restart_needed(self.inventory.as_deref(), &self.restart)
            }
            // Rendered by `handle_routed` (not an envelope); passing here means allowed.
            Endpoint::OpenApi(_) | Endpoint::Metrics => Ok(Reply::ok(serde_json::Value::Null)),
        }
    }

    /// `?refresh=true`: refreshes metadata before the read is answered; refused in
    /// read-only mode unless `package_manager.refresh_in_read_only`, and at most once per
    /// minute (`429 RATE_LIMIT_EXCEEDED` with `Retry-After` within it). A refresh that fails
    /// is reported in the answer (`metadata_refresh_error`), which comes from the cache.
    fn refresh_first(&self, endpoint: &Endpoint, config: &Config) -> Result<(), ApiError> {
        if config.api.read_only && !config.package_manager.refresh_in_read_only {
            return Err(ApiError::ApiReadOnly {
                endpoint: format!("{}?refresh=true", endpoint.template()),
            });
        }
        match &self.inventory {
            Some(inventory) => inventory
                .refresh_explicit()
                .map_err(|retry_after| ApiError::RateLimitExceeded { retry_after }),
            // The handler answers that there is no package manager.
            None => Ok(()),
        }
    }

    /// What a metrics scrape reads.
    fn metric_sources(&self) -> metrics::Sources<'_> {
        metrics::Sources {
            inventory: self.inventory.as_deref(),
            engine: self.engine.as_deref(),
            restart: &self.restart,
            requests: crate::http::counters::snapshot(),
        }
    }

    /// The name of the backend serving the inventory, if one was found.
    fn backend_name(&self) -> Option<&'static str> {
        self.inventory.as_ref().map(|i| i.backend().kind().name())
    }

    fn health_inputs(&self, config: &Config) -> health::HealthInputs {
        let storage = &config.jobs.storage_path;
        health::HealthInputs {
            now: time::OffsetDateTime::now_utc(),
            uptime_seconds: self.started.elapsed().as_secs(),
            tls: self.tls.as_ref().map(|t| t.status()),
            package_manager: self.backend_name(),
            job_storage_path: storage.clone(),
            advisory_feeds: self.feeds.iter().map(|f| f.health()).collect(),
            job_storage: match &self.engine {
                Some(_) => health::job_storage_state(storage),
                None => Err("the job engine is not running".to_string()),
            },
        }
    }

    fn record(
        &self,
        request_id: &str,
        call: &Call<'_>,
        result: &Result<Reply, ApiError>,
        status: u16,
    ) {
        let Call { req, peer, .. } = *call;
        let outcome = match result {
            // A payload that could not be serialised was answered as a 500 (envelope.rs).
            Ok(reply) if reply.data().is_err() => ErrorCode::InternalError.as_str(),
            // Kept apart from "ok": nothing was changed, and a reader counting changes
            // must not count it.
            Ok(_) if call.dry_run => DRY_RUN_OUTCOME,
            Ok(_) => "ok",
            Err(e) => e.code(),
        };
        self.audit.record(&AuditEntry {
            request_id,
            client_subject: peer.client.as_ref().map(|c| c.subject.as_str()),
            client_fingerprint: peer.client.as_ref().map(|c| c.fingerprint_sha256.as_str()),
            peer_ip: peer.addr.ip(),
            method: &req.method,
            path: &req.path,
            status,
            outcome,
            reason: audit_reason(req).as_deref(),
            policy: audit_policy(req),
        });
    }
}

/// The audit `outcome` of a dry run answered with its plan.
pub const DRY_RUN_OUTCOME: &str = "dry_run";

/// The request an audit line is written for.
struct Call<'a> {
    req: &'a Request,
    peer: &'a Peer,
    /// `?dry_run=true`: audited with outcome [`DRY_RUN_OUTCOME`] when answered.
    dry_run: bool,
}

/// The `reason` a reboot request gives, for the audit log (whatever the request's fate).
fn audit_reason(req: &Request) -> Option<String> {
    if req.path != "/api/v1/system/reboot" {
        return None;
    }
    let body: serde_json::Value = serde_json::from_slice(&req.body).ok()?;
    let reason = body.get("reason")?.as_str()?;
    Some(reason.chars().take(512).collect())
}

/// The policy of a patch apply request, as its audit line records it (`None` for other
/// requests and for bodies that do not parse: their error is the outcome).
fn audit_policy(req: &Request) -> Option<serde_json::Value> {
    if req.method != "POST" || req.path != "/api/v1/patches/apply" {
        return None;
    }
    let asked = body::patch_apply(&req.body).ok()?;
    let echo =
        wire::policy::PolicyEcho::new(&asked.policy, asked.reboot, asked.reboot_delay_seconds);
    let mut value = serde_json::to_value(echo).ok()?;
    // The time budget is echoed beside the policy in the 202; the audit keeps both together.
    if let (Some(minutes), Some(map)) = (asked.max_duration_minutes, value.as_object_mut()) {
        map.insert("max_duration_minutes".into(), minutes.into());
    }
    Some(value)
}

/// Connections without a client certificate may only reach `GET /health`, and only when
/// `health.allow_unauthenticated` let them in.
fn authorize(
    routed: &Result<Endpoint, ApiError>,
    peer: &Peer,
    config: &Config,
) -> Result<(), ApiError> {
    if peer.client.is_some() {
        return Ok(());
    }
    if matches!(routed, Ok(Endpoint::Health)) && config.health.allow_unauthenticated {
        return Ok(());
    }
    Err(ApiError::AuthInvalidCert(
        "a client certificate is required; only GET /health may be reached without one".into(),
    ))
}

/// Buckets are per client certificate; unauthenticated health checks share one per IP.
fn rate_key(peer: &Peer) -> std::borrow::Cow<'_, str> {
    match &peer.client {
        Some(c) => std::borrow::Cow::Borrowed(&c.fingerprint_sha256),
        None => std::borrow::Cow::Owned(format!("ip:{}", peer.addr.ip())),
    }
}

impl Service for App {
    fn handle(&self, req: &Request, peer: &Peer) -> Response {
        self.handle_routed(req, peer, router::route_request(req))
    }

    fn protocol_error(&self, err: &ProtocolError) -> Response {
        let mut response = envelope::error_response(&ApiError::from(err));
        response.close = true;
        response
    }

    fn upgrade(
        &self,
        req: &Request,
        peer: &Peer,
        sessions: &Arc<Sessions>,
    ) -> Option<Result<Upgrade, Response>> {
        ws::upgrade(self, req, peer, sessions)
    }

    fn refused_live(&self, req: &Request, peer: &Peer, why: &str) {
        // Audited like every refused state-changing request; status 0: nothing was answered.
        if router::is_mutating_method(&req.method) {
            self.audit.record(&AuditEntry {
                request_id: &uuid::Uuid::new_v4().to_string(),
                client_subject: peer.client.as_ref().map(|c| c.subject.as_str()),
                client_fingerprint: peer.client.as_ref().map(|c| c.fingerprint_sha256.as_str()),
                peer_ip: peer.addr.ip(),
                method: &req.method,
                path: &req.path,
                status: 0,
                outcome: "CONNECTION_REVOKED",
                reason: Some(why),
                policy: None,
            });
        }
    }
}

/// The default configuration pointed away from the host's real files, for unit tests.
#[cfg(test)]
pub(crate) fn test_config() -> Config {
    use std::path::PathBuf;
    let mut config = Config::default();
    config.server.bind = std::net::Ipv4Addr::LOCALHOST.into();
    config.server.workers = 4;
    config.server.max_connections = 16;
    config.tls.ca_cert = PathBuf::from("/nonexistent/ca.pem");
    config.tls.server_cert = PathBuf::from("/nonexistent/server.pem");
    config.tls.server_key = PathBuf::from("/nonexistent/server.key");
    config.whitelist.path = PathBuf::from("/nonexistent/whitelist.yaml");
    config.jobs.storage_path = std::env::temp_dir().join("lpa-test-jobs");
    config.logging.audit_log = PathBuf::from("/nonexistent/audit.log");
    config
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::ClientIdentity;
    use serde_json::Value;
    use std::path::PathBuf;
    use std::sync::Mutex;

    /// A limiter that records calls and refuses when told to.
    #[derive(Default)]
    struct FakeGate {
        refuse: Mutex<Option<Duration>>,
        calls: Mutex<Vec<(String, usize)>>,
        rules: Mutex<Vec<(Vec<Rule>, usize)>>,
    }

    impl RateGate for Arc<FakeGate> {
        fn check(&self, key: &str, category: usize, _now: Instant) -> Result<(), Duration> {
            self.calls.lock().unwrap().push((key.to_string(), category));
            match *self.refuse.lock().unwrap() {
                Some(d) => Err(d),
                None => Ok(()),
            }
        }

        fn set_rules(&self, rules: Vec<Rule>, max_clients: usize) {
            self.rules.lock().unwrap().push((rules, max_clients));
        }
    }

    struct Fixture {
        app: App,
        gate: Arc<FakeGate>,
        audit_path: PathBuf,
        dir: PathBuf,
    }

    impl Drop for Fixture {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn fixture(config: Config) -> Fixture {
        let dir = std::env::temp_dir().join(format!("lpa-app-{}", uuid::Uuid::new_v4()));
        let audit_path = dir.join("audit.log");
        let audit = Arc::new(AuditLog::open(&audit_path).unwrap());
        let gate = Arc::new(FakeGate::default());
        let app = App::with_gate(Arc::new(config), None, audit, Box::new(gate.clone()));
        Fixture {
            app,
            gate,
            audit_path,
            dir,
        }
    }

    fn peer(authenticated: bool) -> Peer {
        Peer {
            addr: "192.0.2.7:40000".parse().unwrap(),
            client: authenticated.then(|| ClientIdentity {
                subject: "CN=patch-manager-client".into(),
                fingerprint_sha256: "ab".repeat(32),
            }),
        }
    }

    fn request(method: &str, path: &str) -> Request {
        Request {
            method: method.into(),
            path: path.into(),
            ..Request::default()
        }
    }

    /// Routes with segments split by hand so tests do not need the URI decoder.
    fn send(f: &Fixture, method: &str, path: &str, authenticated: bool) -> (Response, Value) {
        send_body(f, method, path, authenticated, b"")
    }

    fn send_body(
        f: &Fixture,
        method: &str,
        path: &str,
        authenticated: bool,
        body: &[u8],
    ) -> (Response, Value) {
        let segments: Vec<String> = path
            .trim_start_matches('/')
            .split('/')
            .map(str::to_string)
            .collect();
        let routed = router::route(method, path, &segments, &[]);
        let mut req = request(method, path);
        req.body = body.to_vec();
        let resp = f.app.handle_routed(&req, &peer(authenticated), routed);
        let v: Value = serde_json::from_slice(&resp.body).unwrap();
        (resp, v)
    }

    fn audit_lines(f: &Fixture) -> Vec<Value> {
        std::fs::read_to_string(&f.audit_path)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn header<'a>(resp: &'a Response, name: &str) -> Option<&'a str> {
        resp.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn reads_are_served_and_not_audited() {
        let f = fixture(test_config());
        let (resp, v) = send(&f, "GET", "/api/v1/system/info", true);
        assert_eq!(resp.status, 200);
        assert_eq!(v["success"], true);
        assert!(v["data"]["os"].is_object());
        assert_eq!(header(&resp, "X-Request-Id"), v["request_id"].as_str());
        let (resp, v) = send(&f, "GET", "/api/v1/health", true);
        assert_eq!(resp.status, 200, "{v}");
        assert!(v["data"]["checks"].is_object());
        assert!(audit_lines(&f).is_empty());
        let calls = f.gate.calls.lock().unwrap().clone();
        assert_eq!(
            calls,
            vec![("ab".repeat(32), CAT_HEALTH), ("ab".repeat(32), CAT_HEALTH)]
        );
    }

    #[test]
    fn an_unserialisable_answer_is_audited_as_the_500_it_became() {
        let f = fixture(test_config());
        // serde_json refuses map keys that are not strings.
        let bad: std::collections::BTreeMap<Vec<u8>, u8> = [(vec![1], 1)].into();
        let result = Ok(Reply::accepted(bad));
        let req = request("POST", "/api/v1/packages");
        let call = Call {
            req: &req,
            peer: &peer(true),
            dry_run: false,
        };
        f.app.record("r", &call, &result, 500);
        let lines = audit_lines(&f);
        assert_eq!(lines[0]["outcome"], "INTERNAL_ERROR");
        assert_eq!(lines[0]["status"], 500);
    }

    #[test]
    fn mutations_are_audited_whatever_the_outcome() {
        let f = fixture(test_config());
        let body = br#"{"delay_seconds":60,"reason":"kernel update"}"#;
        let (resp, v) = send_body(&f, "POST", "/api/v1/system/reboot", true, body);
        assert_eq!(resp.status, 503, "no job engine in this fixture");
        assert_eq!(v["error"]["code"], "SERVICE_UNHEALTHY");
        let (resp, _) = send(&f, "DELETE", "/api/v1/jobs/abc", true);
        assert_eq!(resp.status, 400);
        let (resp, _) = send(&f, "POST", "/api/v1/nowhere", true);
        assert_eq!(resp.status, 404);
        let (resp, _) = send(&f, "GET", "/api/v1/nowhere", true);
        assert_eq!(resp.status, 404);
        let lines = audit_lines(&f);
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["outcome"], "SERVICE_UNHEALTHY");
        assert_eq!(lines[0]["status"], 503);
        assert_eq!(lines[0]["reason"], "kernel update");
        assert!(lines[1]["reason"].is_null());
        assert_eq!(lines[0]["method"], "POST");
        assert_eq!(lines[0]["path"], "/api/v1/system/reboot");
        assert_eq!(lines[0]["client_subject"], "CN=patch-manager-client");
        assert_eq!(lines[0]["peer_ip"], "192.0.2.7");
        assert_eq!(lines[1]["outcome"], "INVALID_REQUEST");
        assert_eq!(lines[2]["outcome"], "NOT_FOUND");
    }

    #[test]
    fn read_only_refuses_every_mutation() {
        let mut config = test_config();
        config.api.read_only = true;
        let f = fixture(config);
        let id = uuid::Uuid::new_v4();
        let mutations = [
            ("POST", "/api/v1/packages".to_string()),
            ("PUT", "/api/v1/packages/nginx".to_string()),
            ("DELETE", "/api/v1/packages/nginx".to_string()),
            ("PUT", "/api/v1/packages/nginx/hold".to_string()),
            ("DELETE", "/api/v1/packages/nginx/hold".to_string()),
            ("POST", "/api/v1/patches/apply".to_string()),
            ("POST", "/api/v1/system/reboot".to_string()),
            ("DELETE", format!("/api/v1/jobs/{id}")),
            ("POST", format!("/api/v1/jobs/{id}/rollback")),
        ];
        for (method, path) in &mutations {
            let (resp, v) = send(&f, method, path, true);
            assert_eq!(resp.status, 403, "{method} {path}");
            assert_eq!(v["error"]["code"], "API_READ_ONLY");
            assert_eq!(v["error"]["retryable"], false);
        }
        let (resp, _) = send(&f, "GET", "/api/v1/system/info", true);
        assert_eq!(resp.status, 200);
        let lines = audit_lines(&f);
        assert_eq!(lines.len(), mutations.len());
        assert!(lines
            .iter()
            .all(|l| l["outcome"] == "API_READ_ONLY" && l["status"] == 403));
    }

    #[test]
    fn read_only_lets_dry_runs_through_to_their_handler() {
        let mut config = test_config();
        config.api.read_only = true;
        let f = fixture(config);
        let query = [("dry_run".to_string(), "true".to_string())];
        for (method, path, body) in [
            ("POST", "/api/v1/packages", r#"{"packages":["nginx"]}"#),
            ("PUT", "/api/v1/packages/nginx", "{}"),
            ("DELETE", "/api/v1/packages/nginx", ""),
            ("POST", "/api/v1/patches/apply", r#"{"patches":["x"]}"#),
        ] {
            let segments: Vec<String> = path[1..].split('/').map(str::to_string).collect();
            let routed = router::route(method, path, &segments, &query);
            let mut req = request(method, path);
            req.body = body.as_bytes().to_vec();
            let resp = f.app.handle_routed(&req, &peer(true), routed);
            let v: Value = serde_json::from_slice(&resp.body).unwrap();
            // Past the read-only gate: this fixture has no package manager.
            assert_eq!(resp.status, 503, "{method} {path}: {v}");
            assert_eq!(v["error"]["code"], "SERVICE_UNHEALTHY");
        }
        let lines = audit_lines(&f);
        assert_eq!(lines.len(), 4);
        assert!(lines.iter().all(|l| l["outcome"] == "SERVICE_UNHEALTHY"));
    }

    #[test]
    fn a_dry_run_answered_is_audited_as_one() {
        let f = fixture(test_config());
        let req = request("DELETE", "/api/v1/packages/nginx");
        let call = Call {
            req: &req,
            peer: &peer(true),
            dry_run: true,
        };
        f.app.record("r", &call, &Ok(Reply::ok(1)), 200);
        let call = Call {
            dry_run: false,
            ..call
        };
        f.app.record("s", &call, &Ok(Reply::accepted(1)), 202);
        let lines = audit_lines(&f);
        assert_eq!(lines[0]["outcome"], DRY_RUN_OUTCOME);
        assert_eq!(lines[1]["outcome"], "ok");
    }

    #[test]
    fn rate_limited_answers_429_and_is_audited() {
        let f = fixture(test_config());
        *f.gate.refuse.lock().unwrap() = Some(Duration::from_millis(1500));
        let (resp, v) = send(&f, "GET", "/api/v1/jobs", true);
        assert_eq!(resp.status, 429);
        assert_eq!(header(&resp, "Retry-After"), Some("2"));
        assert_eq!(v["error"]["code"], "RATE_LIMIT_EXCEEDED");
        assert_eq!(v["error"]["retryable"], true);
        assert_eq!(v["error"]["details"]["retry_after_seconds"], 2);
        assert!(v["data"].is_null());
        let (resp, _) = send(&f, "PUT", "/api/v1/packages/nginx", true);
        assert_eq!(resp.status, 429);
        let lines = audit_lines(&f);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0]["outcome"], "RATE_LIMIT_EXCEEDED");
        let calls = f.gate.calls.lock().unwrap().clone();
        assert_eq!(calls[0].1, CAT_JOB_OPERATIONS);
        assert_eq!(calls[1].1, CAT_PACKAGE_OPERATIONS);
    }

    #[test]
    fn rate_limits_disabled_skip_the_limiter() {
        let mut config = test_config();
        config.rate_limits.enabled = false;
        let f = fixture(config);
        *f.gate.refuse.lock().unwrap() = Some(Duration::from_secs(5));
        let (resp, _) = send(&f, "GET", "/api/v1/system/info", true);
        assert_eq!(resp.status, 200);
        assert!(f.gate.calls.lock().unwrap().is_empty());
    }

    #[test]
    fn unauthenticated_peers_reach_only_health() {
        let mut config = test_config();
        config.health.allow_unauthenticated = true;
        let f = fixture(config);
        let (resp, _) = send(&f, "GET", "/health", false);
        assert_ne!(resp.status, 401);
        assert_eq!(f.gate.calls.lock().unwrap()[0].0, "ip:192.0.2.7");
        for path in [
            "/api/v1/health",
            "/api/v1/system/info",
            "/nowhere",
            "/api/v1/jobs/abc",
        ] {
            let (resp, v) = send(&f, "GET", path, false);
            assert_eq!(resp.status, 401, "{path}");
            assert_eq!(v["error"]["code"], "AUTH_INVALID_CERT");
            assert!(resp.close);
        }
        let (resp, _) = send(&f, "POST", "/api/v1/system/reboot", false);
        assert_eq!(resp.status, 401);
        assert_eq!(audit_lines(&f)[0]["client_subject"], Value::Null);
    }

    #[test]
    fn unauthenticated_health_needs_the_switch() {
        let f = fixture(test_config());
        let (resp, _) = send(&f, "GET", "/health", false);
        assert_eq!(resp.status, 401);
    }

    #[test]
    fn compat_switch_follows_set_config() {
        let f = fixture(test_config());
        let (_, v) = send(&f, "GET", "/api/v1/system/info", true);
        assert!(v["data"]["os"].is_object());
        let mut config = test_config();
        config.compat.patch_manager = crate::compat::PatchManagerCompat::On;
        config.rate_limits.package_list.requests = 7;
        f.app
            .set_config(Arc::new(config), ClientShape::PatchManager);
        let (_, v) = send(&f, "GET", "/api/v1/system/info", true);
        assert!(v["data"]["os"].is_string());
        assert!(v["data"]["kernel"].is_string());
        let rules = f.gate.rules.lock().unwrap().clone();
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0].1, 4096);
        assert_eq!(rules[0].0[CAT_PACKAGE_LIST].requests, 7);
        assert_eq!(rules[0].0.len(), 6);
        assert_eq!(
            f.app.config().compat.patch_manager,
            crate::compat::PatchManagerCompat::On
        );
        assert_eq!(f.app.shape(), ClientShape::PatchManager);
    }

    #[test]
    fn protocol_errors_are_envelopes_that_close() {
        let f = fixture(test_config());
        let cases = [
            (
                ProtocolError::BadRequest("bad request line".into()),
                400,
                "INVALID_REQUEST",
            ),
            (
                ProtocolError::Timeout("head".into()),
                408,
                "REQUEST_TIMEOUT",
            ),
            (
                ProtocolError::LengthRequired("chunked".into()),
                411,
                "LENGTH_REQUIRED",
            ),
            (
                ProtocolError::BodyTooLarge { limit: 1024 },
                413,
                "PAYLOAD_TOO_LARGE",
            ),
            (
                ProtocolError::HeaderTooLarge("16384".into()),
                431,
                "HEADERS_TOO_LARGE",
            ),
        ];
        for (err, status, code) in cases {
            let resp = f.app.protocol_error(&err);
            assert_eq!(resp.status, status);
            assert!(resp.close);
            let v: Value = serde_json::from_slice(&resp.body).unwrap();
            assert_eq!(v["error"]["code"], code);
            assert_eq!(v["success"], false);
        }
    }

    #[test]
    fn rate_categories_cover_the_table() {
        assert_eq!(rate_category(&Endpoint::Reboot), CAT_SYSTEM_OPERATIONS);
        assert_eq!(
            rate_category(&Endpoint::ApplyPatches { dry_run: true }),
            CAT_PATCH_OPERATIONS
        );
        assert_eq!(
            rate_category(&Endpoint::InstallPackages { dry_run: false }),
            CAT_PACKAGE_OPERATIONS
        );
        let rules = rate_rules(&test_config());
        assert_eq!(rules[CAT_HEALTH].requests, 60);
        assert_eq!(rules[CAT_PATCH_OPERATIONS].requests, 5);
        assert_eq!(rules[CAT_SYSTEM_OPERATIONS].window, Duration::from_secs(60));
    }

    #[test]
    fn a_patch_applys_audit_line_records_its_policy_and_budget() {
        let mut req = request("POST", "/api/v1/patches/apply");
        req.body = br#"{"patches":[],"options":{"min_severity":"high","max_duration_minutes":90}}"#
            .to_vec();
        let policy = audit_policy(&req).unwrap();
        assert_eq!(policy["min_severity"], "high");
        assert_eq!(policy["max_duration_minutes"], 90);
        req.body = br#"{"patches":[]}"#.to_vec();
        let policy = audit_policy(&req).unwrap();
        assert!(policy.get("max_duration_minutes").is_none(), "{policy}");
        assert!(audit_policy(&request("GET", "/api/v1/patches")).is_none());
    }
}
