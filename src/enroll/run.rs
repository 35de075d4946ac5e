//! The enrollment run: resume, register, poll, provision.
//!
//! Decisions:
//! - Resume order: `enrolled.json` with the TLS files present → done, no request; a saved
//!   `bundle.json` → provision it without contacting the manager; a saved `token` → poll
//!   (no new registration); otherwise register.
//! - The enrollment timeout runs from the start of this process (an [`Instant`], immune to
//!   clock changes). A resumed token's age does not count: the file's mtime is not a reliable
//!   clock, and the manager's own token expiry (24 h) ends a stale enrollment with
//!   `not_found` anyway.
//! - Retries (network errors, timeouts, 5xx): 2 s, doubling, capped at the poll interval
//!   (and 5 min): a failing manager is never asked more often than a healthy one once the
//!   delay has grown. A 429 waits `Retry-After` (clamped to 1 s .. 1 h) or, without it,
//!   60 s (at most the poll interval) doubling to 5 min: the manager allows one
//!   registration per minute. A refused certificate, a 4xx or a nonsense answer ends the run.
//! - The first status poll is immediate (a bad token shows at once), then every
//!   `poll_interval`.
//! - Every wait sleeps in slices of at most 200 ms and checks the stop flag and the deadline
//!   in between; a request in flight is bounded by `request_timeout` instead.
//! - Progress: the first `pending`, then at most one line per 10 minutes; every change of
//!   state; the first failure of a streak (later ones once per 10 minutes).

use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use time::OffsetDateTime;

use super::client::{self, ClientError, ManagerClient, Status};
use super::identity;
use super::provision::{self, Bundle, ProvisionError, Targets};
use super::state::{EnrolledRecord, StateDir};
use super::{EnrollError, EnrollSettings, Provisioned};

/// First delay after a failed request.
pub const RETRY_START: Duration = Duration::from_secs(2);
/// Longest delay between retries.
pub const RETRY_MAX: Duration = Duration::from_secs(300);
/// First wait after a 429 without `Retry-After` (one registration per minute is allowed).
pub const RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);
/// At most one "still pending" (or "still failing") line per this interval.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(600);
/// Longest sleep between two looks at the stop flag.
const SLICE: Duration = Duration::from_millis(200);
/// Smallest delay ever used (guards against a zero interval).
const MIN_DELAY: Duration = Duration::from_millis(100);

/// Registers (or resumes a saved registration), polls until decided, provisions.
/// `stop` is polled at least once a second; when set the run ends with `Interrupted`.
pub fn run(settings: &EnrollSettings, stop: &AtomicBool) -> Result<Provisioned, EnrollError> {
    let state = StateDir::open(&settings.state_dir).map_err(failed)?;
    if let Some(done) = already_enrolled(settings, &state) {
        return Ok(done);
    }
    let url = client::parse_manager_url(&settings.manager_url).map_err(failed)?;
    if let Some(raw) = state.load_bundle().map_err(failed)? {
        log::info!(
            "provisioning from the saved approved bundle {} (no request to the manager)",
            state.path(super::state::BUNDLE_FILE).display()
        );
        // The address the bundle came from; resolving is the fallback for a bundle saved by
        // an older version.
        let ip = match state.load_manager_addr() {
            Some(ip) => ip,
            None => client::resolve_manager(&url)
                .map_err(|e| {
                    EnrollError::Failed(format!("{e}; the approved bundle is kept, run again"))
                })?
                .ip(),
        };
        return finish(settings, &state, &raw, ip);
    }
    let client = ManagerClient::new(
        &settings.manager_url,
        &settings.trust,
        settings.request_timeout,
    )
    .map_err(failed)?;
    let clock = Clock::new(settings.timeout, stop);
    let manager = resolve(&url, settings, &clock)?;
    let token = match state.load_token() {
        Ok(Some(token)) => {
            log::info!(
                "resuming the enrollment with {} using the saved polling token",
                url.base
            );
            token
        }
        Ok(None) => register(&client, settings, &state, &clock, manager)?,
        Err(e) => {
            log::warn!("{e}; registering again");
            state.remove_token().map_err(failed)?;
            register(&client, settings, &state, &clock, manager)?
        }
    };
    poll(&client, settings, &state, &clock, &token, manager.ip())
}

fn failed(e: impl std::fmt::Display) -> EnrollError {
    EnrollError::Failed(e.to_string())
}

/// The deadline and the stop flag, checked by every wait.
struct Clock<'a> {
    deadline: Option<Instant>,
    timeout: Duration,
    stop: &'a AtomicBool,
}

impl<'a> Clock<'a> {
    fn new(timeout: Duration, stop: &'a AtomicBool) -> Clock<'a> {
        Clock {
            deadline: Instant::now().checked_add(timeout),
            timeout,
            stop,
        }
    }

    /// Fails when stopped or past the deadline.
    fn check(&self) -> Result<(), EnrollError> {
        if self.stop.load(Ordering::Relaxed) {
            return Err(EnrollError::Interrupted);
        }
        match self.deadline {
            Some(d) if Instant::now() >= d => Err(EnrollError::Timeout(self.timeout)),
            _ => Ok(()),
        }
    }

    /// Sleeps `d`, looking at the stop flag and the deadline every [`SLICE`].
    fn wait(&self, d: Duration) -> Result<(), EnrollError> {
        let end = Instant::now() + d;
        loop {
            self.check()?;
            let now = Instant::now();
            if now >= end {
                return Ok(());
            }
            let mut nap = (end - now).min(SLICE);
            if let Some(deadline) = self.deadline {
                nap = nap.min(deadline.saturating_duration_since(now));
            }
            std::thread::sleep(nap.max(Duration::from_millis(1)));
        }
    }
}

/// Growing delays: doubling from `start`, never above `cap`.
#[derive(Clone, Debug)]
struct Backoff {
    start: Duration,
    next: Duration,
    cap: Duration,
}

impl Backoff {
    fn new(start: Duration, cap: Duration) -> Backoff {
        let cap = cap.max(MIN_DELAY);
        let start = start.clamp(MIN_DELAY, cap);
        Backoff {
            start,
            next: start,
            cap,
        }
    }

    /// For network errors and 5xx: 2 s doubling up to the poll interval (at most 5 min).
    fn for_errors(poll_interval: Duration) -> Backoff {
        Backoff::new(RETRY_START, poll_interval.min(RETRY_MAX))
    }

    /// For a 429 without `Retry-After`: 60 s (at most the poll interval) doubling to 5 min.
    fn for_rate_limit(poll_interval: Duration) -> Backoff {
        Backoff::new(RATE_LIMIT_WAIT.min(poll_interval), RETRY_MAX)
    }

    fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(self.cap);
        d
    }

    fn reset(&mut self) {
        self.next = self.start;
    }
}

/// The wait a 429 asks for.
fn rate_limit_delay(retry_after: Option<Duration>, backoff: &mut Backoff) -> Duration {
    match retry_after {
        Some(d) => d.clamp(Duration::from_secs(1), client::MAX_RETRY_AFTER),
        None => backoff.next_delay(),
    }
}

/// Logs a failure streak: the first at warn, then at most one line per [`PROGRESS_EVERY`].
#[derive(Default)]
struct Failures {
    count: u32,
    last_logged: Option<Instant>,
}

impl Failures {
    fn note(&mut self, what: &str, e: &ClientError, delay: Duration) {
        self.count += 1;
        let due = self
            .last_logged
            .is_none_or(|t| t.elapsed() >= PROGRESS_EVERY);
        if due {
            log::warn!(
                "{what} failed ({} in a row): {e}; retrying in {} s",
                self.count,
                delay.as_secs_f32().ceil()
            );
            self.last_logged = Some(Instant::now());
        } else {
            log::debug!("{what} failed: {e}; retrying in {} ms", delay.as_millis());
        }
    }

    fn recovered(&mut self) {
        if self.count > 0 {
            log::info!("the manager answers again after {} failures", self.count);
        }
        *self = Failures::default();
    }
}

/// The manager's address, retrying a failing resolver like any network error.
fn resolve(
    url: &client::ManagerUrl,
    settings: &EnrollSettings,
    clock: &Clock,
) -> Result<std::net::SocketAddr, EnrollError> {
    let mut backoff = Backoff::for_errors(settings.poll_interval);
    let mut failures = Failures::default();
    loop {
        clock.check()?;
        match client::resolve_manager(url) {
            Ok(addr) => return Ok(addr),
            Err(e) => {
                let d = backoff.next_delay();
                failures.note("resolving the manager", &e, d);
                clock.wait(d)?;
            }
        }
    }
}

fn register(
    client: &ManagerClient,
    settings: &EnrollSettings,
    state: &StateDir,
    clock: &Clock,
    manager: std::net::SocketAddr,
) -> Result<String, EnrollError> {
    let id = identity::gather(
        manager,
        settings.report_ip,
        settings.report_fqdn.as_deref(),
        &settings.state_dir,
    )
    .map_err(failed)?;
    log::info!(
        "registering with {} as {} ({}), machine id {}",
        client.url().base,
        id.fqdn,
        id.ip_address,
        id.machine_id
    );
    let mut errors = Backoff::for_errors(settings.poll_interval);
    let mut limited = Backoff::for_rate_limit(settings.poll_interval);
    let mut failures = Failures::default();
    loop {
        clock.check()?;
        match client.register(&id) {
            Ok(registered) => {
                state.save_token(&registered.token).map_err(failed)?;
                log::info!(
                    "registration accepted; token received ({} characters), saved in {}",
                    registered.token.len(),
                    state.path(super::state::TOKEN_FILE).display()
                );
                return Ok(registered.token);
            }
            Err(ClientError::Conflict(m)) => return Err(EnrollError::Conflict(m)),
            Err(e @ ClientError::RateLimited { retry_after }) => {
                let d = rate_limit_delay(retry_after, &mut limited);
                failures.note("registration", &e, d);
                clock.wait(d)?;
            }
            Err(e) if e.is_retryable() => {
                let d = errors.next_delay();
                failures.note("registration", &e, d);
                clock.wait(d)?;
            }
            Err(e) => return Err(failed(format!("registration failed: {e}"))),
        }
    }
}

/// The address the approved bundle came from: the peer of the client's last connection,
/// which is what the whitelist must name (the separately resolved address only when no
/// connection is known, which a successful answer rules out).
fn answered_from(client: &ManagerClient, resolved: IpAddr) -> IpAddr {
    match client.peer() {
        Some(peer) => {
            if peer.ip() != resolved {
                log::info!(
                    "the manager answered from {}, not the first address resolved ({resolved}); whitelisting {}",
                    peer.ip(),
                    peer.ip()
                );
            }
            peer.ip()
        }
        None => resolved,
    }
}

fn poll(
    client: &ManagerClient,
    settings: &EnrollSettings,
    state: &StateDir,
    clock: &Clock,
    token: &str,
    manager_ip: IpAddr,
) -> Result<Provisioned, EnrollError> {
    let started = Instant::now();
    let mut last_progress: Option<Instant> = None;
    let mut errors = Backoff::for_errors(settings.poll_interval);
    let mut failures = Failures::default();
    loop {
        clock.check()?;
        match client.status(token) {
            Ok(Status::Pending) => {
                errors.reset();
                failures.recovered();
                log_pending(&mut last_progress, started, settings);
                clock.wait(settings.poll_interval)?;
            }
            Ok(Status::Approved { raw, .. }) => {
                // The manager deleted the bundle when it sent it: keep it before anything
                // else can fail, with the address it came from (for an offline finish).
                let from = answered_from(client, manager_ip);
                if let Err(e) = state.save_manager_addr(from) {
                    log::warn!("{e}");
                }
                state.save_bundle(&raw).map_err(|e| {
                    failed(format!("approved, but the bundle could not be saved: {e}"))
                })?;
                log::info!("enrollment approved; bundle saved, provisioning");
                return finish(settings, state, &raw, from);
            }
            Ok(Status::Denied) => {
                forget_token(state);
                log::error!("the administrator denied this enrollment");
                return Err(EnrollError::Denied);
            }
            Ok(Status::NotFound) => {
                forget_token(state);
                log::error!("the manager does not know this enrollment (expired or consumed)");
                return Err(EnrollError::NotFound);
            }
            Err(e @ ClientError::RateLimited { retry_after }) => {
                let d = retry_after
                    .map(|d| d.clamp(Duration::from_secs(1), client::MAX_RETRY_AFTER))
                    .unwrap_or(settings.poll_interval);
                failures.note("status poll", &e, d);
                clock.wait(d)?;
            }
            Err(e) if e.is_retryable() => {
                let d = errors.next_delay();
                failures.note("status poll", &e, d);
                clock.wait(d)?;
            }
            Err(e) => return Err(failed(format!("status poll failed: {e}"))),
        }
    }
}

fn log_pending(last: &mut Option<Instant>, started: Instant, settings: &EnrollSettings) {
    match last {
        None => log::info!(
            "waiting for an administrator to approve this host (polling every {} s, giving up after {} s)",
            settings.poll_interval.as_secs(),
            settings.timeout.as_secs()
        ),
        Some(t) if t.elapsed() >= PROGRESS_EVERY => log::info!(
            "still waiting for approval ({} min so far)",
            started.elapsed().as_secs() / 60
        ),
        Some(_) => return,
    }
    *last = Some(Instant::now());
}

fn forget_token(state: &StateDir) {
    if let Err(e) = state.remove_token() {
        log::warn!("{e}");
    }
}

fn targets(settings: &EnrollSettings) -> Targets {
    Targets {
        ca_cert: settings.ca_cert.clone(),
        server_cert: settings.server_cert.clone(),
        server_key: settings.server_key.clone(),
        crl: settings.crl.clone(),
        whitelist: settings.whitelist.clone(),
    }
}

/// Provisions a saved bundle and records the outcome in the state directory.
fn finish(
    settings: &EnrollSettings,
    state: &StateDir,
    raw: &[u8],
    manager_ip: IpAddr,
) -> Result<Provisioned, EnrollError> {
    let manager_ip = manager_ip.to_canonical();
    let outcome = Bundle::from_status_body(raw)
        .map_err(ProvisionError::Invalid)
        .and_then(|b| {
            provision::provision(
                &b,
                &targets(settings),
                manager_ip,
                OffsetDateTime::now_utc(),
            )
        });
    let outcome = match outcome {
        Ok(o) => o,
        Err(ProvisionError::Invalid(m)) => {
            if let Err(e) = state.reject_bundle() {
                log::warn!("{e}");
            }
            forget_token(state);
            log::error!(
                "the approved bundle is invalid: {m}; nothing was written; it is kept as {}",
                state.path(super::state::REJECTED_FILE).display()
            );
            return Err(EnrollError::InvalidBundle(m));
        }
        Err(ProvisionError::Io(m)) => {
            return Err(EnrollError::Failed(format!(
                "{m}; the approved bundle is kept in {} and used when run again",
                state.path(super::state::BUNDLE_FILE).display()
            )))
        }
    };
    let record = EnrolledRecord {
        manager_url: settings.manager_url.clone(),
        manager_ip: manager_ip.to_string(),
        time: crate::timefmt::now_rfc3339(),
        server_cert_sha256: outcome.validated.server_cert_sha256.clone(),
        manager_trust: Some(settings.trust.label().to_string()),
    };
    state.save_enrolled(&record).map_err(failed)?;
    forget_token(state);
    // The key now lives only in tls.server_key.
    state.remove_bundle().map_err(failed)?;
    log::info!(
        "enrolled: server certificate {} (SHA-256 {}, valid until {}); wrote {}; manager {manager_ip} whitelisted",
        outcome.validated.subject,
        outcome.validated.server_cert_sha256,
        crate::timefmt::rfc3339(outcome.validated.not_after),
        describe(&outcome.written)
    );
    Ok(Provisioned {
        manager_ip,
        written: outcome.written,
    })
}

fn describe(paths: &[std::path::PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A completed enrollment whose files are still in place.
fn already_enrolled(settings: &EnrollSettings, state: &StateDir) -> Option<Provisioned> {
    let record = match state.load_enrolled() {
        Ok(r) => r?,
        Err(e) => {
            log::warn!("{e}");
            return None;
        }
    };
    let files: [&Path; 3] = [
        &settings.ca_cert,
        &settings.server_cert,
        &settings.server_key,
    ];
    if let Some(missing) = files.iter().find(|p| !p.is_file()) {
        log::info!(
            "an earlier enrollment is recorded but {} is missing; enrolling again",
            missing.display()
        );
        return None;
    }
    let Ok(manager_ip) = record.manager_ip.parse::<IpAddr>() else {
        log::warn!("the enrollment record has no valid manager address; enrolling again");
        return None;
    };
    if record.manager_url != settings.manager_url {
        log::warn!(
            "this host is enrolled with {}, not {}; remove {} to enroll again",
            record.manager_url,
            settings.manager_url,
            state.path(super::state::ENROLLED_FILE).display()
        );
    }
    log::info!(
        "already enrolled with {} on {}; the TLS files are in place, not contacting the manager",
        record.manager_url,
        record.time
    );
    Some(Provisioned {
        manager_ip,
        written: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enroll::state::{BUNDLE_FILE, ENROLLED_FILE, REJECTED_FILE, TOKEN_FILE};
    use crate::enroll::testutil::{Issue, MockManager, Pki, Reply};
    use crate::enroll::ManagerTrust;
    use std::os::unix::fs::PermissionsExt;
    use std::path::PathBuf;
    use std::sync::Arc;

    const TOKEN: &str = "aB3dE6gH9jK2mN5pQ8rS1tU4vW7xY0zAaB3dE6gH9jK2mN5pQ8rS1tU4vW7xY0zA";

    struct Env {
        dir: PathBuf,
        settings: EnrollSettings,
    }

    impl Env {
        fn new(url: &str) -> Env {
            let dir = std::env::temp_dir().join(format!("lpa-run-{}", uuid::Uuid::new_v4()));
            std::fs::create_dir_all(&dir).unwrap();
            let settings = EnrollSettings {
                manager_url: url.to_string(),
                poll_interval: Duration::from_millis(100),
                timeout: Duration::from_secs(20),
                trust: ManagerTrust::Insecure,
                request_timeout: Duration::from_secs(5),
                state_dir: dir.join("state"),
                report_ip: Some("192.0.2.44".parse().unwrap()),
                report_fqdn: Some("host.example.com".into()),
                ca_cert: dir.join("tls/ca.crt"),
                server_cert: dir.join("tls/server.crt"),
                server_key: dir.join("tls/server.key"),
                crl: Some(dir.join("tls/crl.pem")),
                whitelist: dir.join("whitelist.yaml"),
            };
            Env { dir, settings }
        }

        fn state(&self, name: &str) -> PathBuf {
            self.settings.state_dir.join(name)
        }

        fn no_tls_files(&self) -> bool {
            !self.settings.ca_cert.exists()
                && !self.settings.server_cert.exists()
                && !self.settings.server_key.exists()
                && !self.settings.whitelist.exists()
        }
    }

    impl Drop for Env {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn token_reply() -> Reply {
        Reply::json(202, &format!("{{\"polling_token\":\"{TOKEN}\"}}"))
    }

    fn pending() -> Reply {
        Reply::json(200, "{\"status\":\"pending\"}")
    }

    fn unused_port_url() -> String {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("https://127.0.0.1:{}", l.local_addr().unwrap().port())
    }

    fn mode_of(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn register_poll_approve_provision() {
        let manager = Pki::manager();
        let host = Pki::issue("host.example.com", Issue::default());
        let mock = MockManager::start(
            &manager,
            vec![
                token_reply(),
                pending(),
                pending(),
                Reply::json(200, &host.approved_body("")),
                Reply::json(200, "{\"status\":\"notfound\"}"),
            ],
        );
        let env = Env::new(&mock.url());
        let stop = AtomicBool::new(false);
        let done = run(&env.settings, &stop).unwrap();
        assert_eq!(done.manager_ip, "127.0.0.1".parse::<IpAddr>().unwrap());
        let s = &env.settings;
        assert_eq!(
            done.written,
            vec![
                s.ca_cert.clone(),
                s.server_cert.clone(),
                s.server_key.clone(),
                s.whitelist.clone()
            ]
        );
        assert_eq!(mode_of(&s.server_key), 0o600);
        assert_eq!(
            std::fs::read_to_string(&s.whitelist).unwrap(),
            "allowed:\n  - 127.0.0.1\n"
        );
        assert!(!env.state(TOKEN_FILE).exists());
        assert!(!env.state(BUNDLE_FILE).exists());
        let record: serde_json::Value =
            serde_json::from_slice(&std::fs::read(env.state(ENROLLED_FILE)).unwrap()).unwrap();
        assert_eq!(record["manager_ip"], "127.0.0.1");
        assert_eq!(
            record["server_cert_sha256"],
            crate::x509::sha256_fingerprint(&host.leaf_der())
        );
        let requests = mock.requests();
        assert_eq!(requests.len(), 4);
        let body: serde_json::Value = serde_json::from_slice(&requests[0].body).unwrap();
        assert_eq!(body["ip_address"], "192.0.2.44");
        assert_eq!(body["fqdn"], "host.example.com");

        // Run again: already enrolled, no request.
        let again = run(&env.settings, &stop).unwrap();
        assert!(again.written.is_empty());
        assert_eq!(mock.requests().len(), 4);
    }

    #[test]
    fn a_saved_token_resumes_polling_without_registering() {
        let manager = Pki::manager();
        let host = Pki::issue("host.example.com", Issue::default());
        let mock = MockManager::start(
            &manager,
            vec![pending(), Reply::json(200, &host.approved_body(""))],
        );
        let env = Env::new(&mock.url());
        StateDir::open(&env.settings.state_dir)
            .unwrap()
            .save_token(TOKEN)
            .unwrap();
        run(&env.settings, &AtomicBool::new(false)).unwrap();
        let requests = mock.requests();
        assert!(requests.iter().all(|r| r.method == "GET"), "{requests:?}");
        assert_eq!(requests.len(), 2);
    }

    #[test]
    fn a_saved_bundle_is_provisioned_without_the_manager() {
        let host = Pki::issue("host.example.com", Issue::default());
        let env = Env::new(&unused_port_url());
        let state = StateDir::open(&env.settings.state_dir).unwrap();
        state.save_token(TOKEN).unwrap();
        state
            .save_bundle(host.approved_body("").as_bytes())
            .unwrap();
        let done = run(&env.settings, &AtomicBool::new(false)).unwrap();
        assert_eq!(done.written.len(), 4);
        assert!(!env.state(BUNDLE_FILE).exists());
        assert!(!env.state(TOKEN_FILE).exists());
        assert!(env.state(ENROLLED_FILE).exists());
    }

    #[test]
    fn denied_and_not_found_remove_the_token_and_write_nothing() {
        let manager = Pki::manager();
        for (answer, code) in [("denied", 4), ("not_found", 5), ("notfound", 5)] {
            let mock = MockManager::start(
                &manager,
                vec![
                    token_reply(),
                    Reply::json(200, &format!("{{\"status\":\"{answer}\"}}")),
                ],
            );
            let env = Env::new(&mock.url());
            let e = run(&env.settings, &AtomicBool::new(false)).unwrap_err();
            assert_eq!(e.exit_code(), code, "{answer}: {e}");
            assert!(!env.state(TOKEN_FILE).exists());
            assert!(env.no_tls_files());
        }
    }

    #[test]
    fn an_invalid_bundle_is_rejected_and_writes_nothing() {
        let manager = Pki::manager();
        let a = Pki::issue("host.example.com", Issue::default());
        let b = Pki::issue("host.example.com", Issue::default());
        let mut body: serde_json::Value = serde_json::from_str(&a.approved_body("")).unwrap();
        body["server_key"] = b.key_pem.clone().into();
        let mock = MockManager::start(
            &manager,
            vec![token_reply(), Reply::json(200, &body.to_string())],
        );
        let env = Env::new(&mock.url());
        let e = run(&env.settings, &AtomicBool::new(false)).unwrap_err();
        assert!(matches!(e, EnrollError::InvalidBundle(_)), "{e:?}");
        assert_eq!(e.exit_code(), 8);
        assert!(env.no_tls_files());
        assert!(env.state(REJECTED_FILE).exists());
        assert!(!env.state(BUNDLE_FILE).exists());
        assert!(!env.state(TOKEN_FILE).exists());
    }

    #[test]
    fn registration_retries_429_and_500_then_stops_at_409() {
        let manager = Pki::manager();
        let mock = MockManager::start(
            &manager,
            vec![
                Reply::json(429, "{\"error\":\"Rate limit exceeded\"}")
                    .with_header("Retry-After", "1"),
                Reply::json(500, "{\"error\":\"Database error\"}"),
                Reply::json(
                    409,
                    "{\"error\":\"FQDN host.example.com already registered\"}",
                ),
            ],
        );
        let env = Env::new(&mock.url());
        let started = Instant::now();
        let e = run(&env.settings, &AtomicBool::new(false)).unwrap_err();
        assert!(
            matches!(&e, EnrollError::Conflict(m) if m.contains("already registered")),
            "{e:?}"
        );
        assert_eq!(e.exit_code(), 7);
        assert_eq!(mock.requests().len(), 3);
        // Retry-After 1 s, then the error delay capped at the 100 ms poll interval.
        assert!(started.elapsed() >= Duration::from_secs(1));
        assert!(!env.state(TOKEN_FILE).exists());
    }

    #[test]
    fn the_timeout_ends_a_pending_enrollment_and_keeps_the_token() {
        let manager = Pki::manager();
        let mock = MockManager::start(&manager, vec![token_reply(), pending()]);
        let mut env = Env::new(&mock.url());
        env.settings.timeout = Duration::from_millis(800);
        env.settings.poll_interval = Duration::from_millis(300);
        let started = Instant::now();
        let e = run(&env.settings, &AtomicBool::new(false)).unwrap_err();
        assert!(matches!(e, EnrollError::Timeout(_)), "{e:?}");
        assert_eq!(e.exit_code(), 6);
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(800) && took < Duration::from_secs(3),
            "{took:?}"
        );
        // Poll interval honoured: registration + about 3 polls in 0.8 s.
        let polls = mock.requests().len() - 1;
        assert!((2..=4).contains(&polls), "{polls}");
        assert!(env.state(TOKEN_FILE).exists());
    }

    #[test]
    fn the_stop_flag_interrupts_a_long_wait() {
        let manager = Pki::manager();
        let mock = MockManager::start(&manager, vec![token_reply(), pending()]);
        let mut env = Env::new(&mock.url());
        env.settings.poll_interval = Duration::from_secs(60);
        let stop = Arc::new(AtomicBool::new(false));
        let setter = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(500));
                stop.store(true, Ordering::Relaxed);
            })
        };
        let started = Instant::now();
        let e = run(&env.settings, &stop).unwrap_err();
        setter.join().unwrap();
        assert!(matches!(e, EnrollError::Interrupted), "{e:?}");
        assert_eq!(e.exit_code(), 9);
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(env.state(TOKEN_FILE).exists());
    }

    #[test]
    fn network_errors_are_retried_until_the_timeout() {
        let mut env = Env::new(&unused_port_url());
        env.settings.timeout = Duration::from_millis(700);
        let e = run(&env.settings, &AtomicBool::new(false)).unwrap_err();
        assert!(matches!(e, EnrollError::Timeout(_)), "{e:?}");
    }

    #[test]
    fn a_refused_certificate_ends_the_run() {
        let manager = Pki::manager();
        let mock = MockManager::start(&manager, vec![token_reply()]);
        let mut env = Env::new(&mock.url());
        env.settings.trust = ManagerTrust::Fingerprint([0; 32]);
        let e = run(&env.settings, &AtomicBool::new(false)).unwrap_err();
        assert!(
            matches!(&e, EnrollError::Failed(m) if m.contains("fingerprint")),
            "{e:?}"
        );
    }

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let mut b = Backoff::for_errors(Duration::from_secs(60));
        let delays: Vec<u64> = (0..7).map(|_| b.next_delay().as_secs()).collect();
        assert_eq!(delays, [2, 4, 8, 16, 32, 60, 60]);
        b.reset();
        assert_eq!(b.next_delay(), RETRY_START);
        let mut small = Backoff::for_errors(Duration::from_millis(100));
        assert_eq!(small.next_delay(), Duration::from_millis(100));
        let mut hour = Backoff::for_errors(Duration::from_secs(3600));
        let last = (0..20).map(|_| hour.next_delay()).last().unwrap();
        assert_eq!(last, RETRY_MAX);
        let mut limited = Backoff::for_rate_limit(Duration::from_secs(60));
        let delays: Vec<u64> = (0..5).map(|_| limited.next_delay().as_secs()).collect();
        assert_eq!(delays, [60, 120, 240, 300, 300]);
        assert_eq!(
            rate_limit_delay(Some(Duration::ZERO), &mut limited),
            Duration::from_secs(1)
        );
    }
}
