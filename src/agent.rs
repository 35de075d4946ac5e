//! Wiring: builds TLS, whitelist, application and server from a config and runs them.
//!
//! `main` and the integration tests both start the agent through [`start`], so the tests
//! exercise exactly the assembly the binary runs.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};

use crate::api::shape::ClientShape;
use crate::api::App;
use crate::audit::AuditLog;
use crate::config::{BackendChoice, Config};
use crate::feed_refresh::FeedRefresher;
use crate::feed_setup;
use crate::http::server::{Server, ServerOptions, ShutdownHandle};
use crate::http::tls::{TlsError, TlsState};
use crate::http::whitelist::Whitelist;
use crate::jobs::events::Events;
use crate::jobs::{Engine, EngineSettings};
use crate::pkg::inventory::Inventory;
use crate::pkg::refresh::{self, RefreshSettings, TransactionGate};
use crate::pkg::{detect, BackendKind, BackendSettings};

/// How often watched files (whitelist, certificates) are checked for changes.
pub const WATCH_INTERVAL: Duration = Duration::from_secs(1);

/// How long stopping waits for a metadata refresh in progress; past it the thread is left
/// to end with the process (the tool only ever leaves the old metadata behind).
const REFRESH_STOP_WAIT: Duration = Duration::from_secs(5);

/// Why the agent could not start.
#[derive(Debug)]
pub enum StartError {
    /// Certificates, key, CA or CRL could not be loaded.
    Tls(TlsError),
    /// The listener could not be bound.
    Bind(io::Error),
    /// A thread could not be started.
    Spawn(io::Error),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Tls(e) => write!(f, "cannot load TLS material: {e}"),
            StartError::Bind(e) => write!(f, "cannot listen: {e}"),
            StartError::Spawn(e) => write!(f, "cannot start a thread: {e}"),
        }
    }
}

impl std::error::Error for StartError {}

/// The parts that SIGHUP reloads.
struct Live {
    config_path: Option<PathBuf>,
    tls: Arc<TlsState>,
    whitelist: Arc<Whitelist>,
    app: Arc<App>,
    audit: Arc<AuditLog>,
}

/// A started agent: serving on its own thread, watching its files on another.
pub struct RunningAgent {
    addr: SocketAddr,
    shutdown: ShutdownHandle,
    server: JoinHandle<io::Result<()>>,
    watcher: JoinHandle<()>,
    stop_watcher: Sender<()>,
    feed_threads: Vec<JoinHandle<()>>,
    stop_feed: Sender<()>,
    refresher: Option<JoinHandle<()>>,
    stop_refresh: Sender<()>,
    live: Arc<Live>,
    engine: Option<Arc<Engine>>,
    job_timeout: Duration,
}

/// Builds everything from `config` and starts serving. `config_path` is re-read on reload.
pub fn start(config: Config, config_path: Option<PathBuf>) -> Result<RunningAgent, StartError> {
    let tls = Arc::new(TlsState::load(config.tls_paths()).map_err(StartError::Tls)?);
    let whitelist = Arc::new(Whitelist::load(config.whitelist.path.clone()));
    let audit = Arc::new(open_audit(&config));
    let options = server_options(&config);
    let config = Arc::new(config);
    let (inventory, feeds): (_, Vec<Arc<FeedRefresher>>) = match build_inventory(&config) {
        Some((inv, feeds)) => (Some(inv), feeds),
        None => (None, Vec::new()),
    };
    let events = Events::new();
    let engine = inventory
        .as_ref()
        .and_then(|inv| start_engine(&config, Arc::clone(inv), events.clone()));
    if let (Some(inv), Some(engine)) = (&inventory, &engine) {
        let gate: Arc<dyn TransactionGate> = engine.clone();
        inv.set_gate(Arc::downgrade(&gate));
    }
    let background = inventory
        .clone()
        .map(|inv| (inv, refresh_settings(&config)));

    let job_timeout = config.jobs.timeout();
    let shape = decide_shape(&config);
    let app = Arc::new(
        App::new(config, Some(Arc::clone(&tls)), Arc::clone(&audit))
            .with_shape(shape)
            .with_inventory(inventory)
            .with_engine(engine.clone())
            .with_events(events)
            .with_feeds(feeds.clone()),
    );
    let service: Arc<dyn crate::http::Service> = app.clone();
    let server = Server::bind(options, Arc::clone(&tls), Arc::clone(&whitelist), service)
        .map_err(StartError::Bind)?;
    let addr = server.local_addr();
    let shutdown = server.shutdown_handle();
    let live = Arc::new(Live {
        config_path,
        tls,
        whitelist,
        app,
        audit,
    });
    let server = std::thread::Builder::new()
        .name("acceptor".into())
        .spawn(move || server.run())
        .map_err(StartError::Spawn)?;
    let (stop_watcher, stopped) = crossbeam_channel::bounded(1);
    let watched = Arc::clone(&live);
    let watcher = std::thread::Builder::new()
        .name("file-watch".into())
        .spawn(move || watch_files(&watched, &stopped))
        .map_err(StartError::Spawn)?;
    // Dropping the sender (at join) stops every feed thread.
    let (stop_feed, feed_stopped) = crossbeam_channel::bounded(1);
    let mut feed_threads = Vec::new();
    for f in &feeds {
        if let Some(spawned) = f.spawn(feed_stopped.clone()) {
            feed_threads.push(spawned.map_err(StartError::Spawn)?);
        }
    }
    let (stop_refresh, refresh_stopped) = crossbeam_channel::bounded(1);
    let refresher = match background {
        Some((inv, settings)) => {
            Some(refresh::spawn(inv, settings, refresh_stopped).map_err(StartError::Spawn)?)
        }
        None => None,
    };
    log::info!("serving on {addr}");
    Ok(RunningAgent {
        addr,
        shutdown,
        server,
        watcher,
        stop_watcher,
        feed_threads,
        stop_feed,
        refresher,
        stop_refresh,
        live,
        engine,
        job_timeout,
    })
}

impl RunningAgent {
    /// The address the listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// A handle that stops the server (signal handlers hold one).
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.shutdown.clone()
    }

    /// SIGHUP: re-reads the config file's live keys, the whitelist and the TLS material.
    pub fn reload(&self) {
        reload(&self.live);
    }

    /// The job event hub the WebSocket sessions stream from (publish into it to reach them).
    pub fn events(&self) -> crate::jobs::events::Events {
        self.live.app.events().clone()
    }

    /// A handle that reloads from another thread (the SIGHUP handler holds one).
    pub fn reloader(&self) -> Reloader {
        Reloader(Arc::clone(&self.live))
    }

    /// Stops accepting and lets in-flight requests finish within the grace period.
    pub fn shutdown(&self) {
        self.shutdown.shutdown();
    }

    /// Waits until the server has stopped, then for running package transactions to end
    /// (they are never killed half-way; at most the job timeout).
    pub fn join(self) -> io::Result<()> {
        let result = self
            .server
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("server thread panicked")));
        // Before the engine: a refresh holds the package transaction the engine waits for.
        let _ = self.stop_refresh.send(());
        if let Some(refresher) = self.refresher {
            join_within(refresher, REFRESH_STOP_WAIT, "metadata refresh");
        }
        if let Some(engine) = &self.engine {
            engine.shutdown(self.job_timeout);
        }
        let _ = self.stop_watcher.send(());
        let _ = self.watcher.join();
        // A download in progress ends by its own deadline.
        // A dropped sender wakes every waiting feed thread at once. They are not joined: a
        // download in progress may take up to its deadline (minutes), and stopping must not
        // wait for it; an unfinished download only leaves a temp file, never a half feed.
        drop(self.stop_feed);
        drop(self.feed_threads);
        result
    }
}

/// Joins `thread` if it ends within `wait`; otherwise leaves it to end with the process.
fn join_within(thread: JoinHandle<()>, wait: Duration, what: &str) {
    let deadline = std::time::Instant::now() + wait;
    while !thread.is_finished() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    if thread.is_finished() {
        let _ = thread.join();
    } else {
        log::warn!("{what} still running at shutdown; not waiting for it");
    }
}

/// Reloads live settings; cheap to clone and safe to use from any thread.
#[derive(Clone)]
pub struct Reloader(Arc<Live>);

impl Reloader {
    /// Same as [`RunningAgent::reload`].
    pub fn reload(&self) {
        reload(&self.0);
    }
}

fn reload(live: &Live) {
    if let Some(path) = &live.config_path {
        match Config::load(path) {
            Ok(config) => {
                log::set_max_level(config.logging.level);
                live.tls
                    .set_allow_unauthenticated(config.health.allow_unauthenticated);
                live.audit.set_max_lines_per_client_per_minute(
                    config.audit.max_lines_per_client_per_minute,
                );
                if live.tls.set_client_policy(config.tls_paths().client_policy) {
                    if let Err(e) = live.tls.reload() {
                        log::error!("TLS client policy not applied, keeping the previous one: {e}");
                    }
                }
                log::info!("configuration reloaded from {}", path.display());
                let shape = decide_shape(&config);
                live.app.set_config(Arc::new(config), shape);
            }
            Err(errors) => {
                for e in errors {
                    log::error!("config reload refused, keeping the running one: {e}");
                }
            }
        }
    }
    // After rotation by rename (logrotate's postrotate sends SIGHUP).
    if let Err(e) = live.audit.reopen() {
        log::error!("cannot reopen the audit log, still writing the old file: {e}");
    }
    live.whitelist.reload();
    match live.tls.reload() {
        Ok(()) => log::info!("TLS material reloaded"),
        Err(e) => log::error!("TLS reload refused, keeping the loaded set: {e}"),
    }
}

/// Decides which client's shape to serve from `compat.patch_manager` and the enrollment
/// state, and logs the decision with its reason (at start and on every reload).
fn decide_shape(config: &Config) -> ClientShape {
    let decision = crate::compat::decide(config.compat.patch_manager, &config.enrollment.state_dir);
    log::info!("{}", decision.describe());
    ClientShape::from_patch_manager(decision.patch_manager)
}

fn watch_files(live: &Live, stop: &Receiver<()>) {
    // A channel wait rather than a sleep loop: shutdown interrupts it at once.
    while let Err(crossbeam_channel::RecvTimeoutError::Timeout) = stop.recv_timeout(WATCH_INTERVAL)
    {
        live.whitelist.reload_if_changed();
        live.tls.reload_if_changed();
    }
}

fn open_audit(config: &Config) -> AuditLog {
    let audit = AuditLog::open(&config.logging.audit_log).unwrap_or_else(|e| {
        log::error!(
            "cannot open audit log {}: {e}; state-changing requests will not be audited",
            config.logging.audit_log.display()
        );
        AuditLog::disabled()
    });
    audit.set_max_lines_per_client_per_minute(config.audit.max_lines_per_client_per_minute);
    audit
}

/// Starts the job engine; a job store that cannot be used is logged and leaves the
/// mutating endpoints answering 503 rather than stopping the agent.
fn start_engine(config: &Config, inventory: Arc<Inventory>, events: Events) -> Option<Arc<Engine>> {
    let settings = EngineSettings::from_config(&config.jobs, &config.system);
    match Engine::start(settings, inventory, events) {
        Ok(engine) => Some(engine),
        Err(e) => {
            log::error!(
                "job engine not started: {e}; package changes will answer SERVICE_UNHEALTHY"
            );
            None
        }
    }
}

/// The package backend the config selects (or detection finds), behind its cache. None when
/// nothing usable is found: the agent still serves, and package endpoints answer 503.
fn build_inventory(config: &Config) -> Option<(Arc<Inventory>, Vec<Arc<FeedRefresher>>)> {
    let pm = &config.package_manager;
    let kind = match pm.backend {
        BackendChoice::Auto => match detect::detect(&pm.root) {
            Ok(kind) => kind,
            Err(e) => {
                log::error!("{e}; package endpoints will answer SERVICE_UNHEALTHY");
                return None;
            }
        },
        // Config validation admits only known names.
        BackendChoice::Named(name) => BackendKind::from_name(name)?,
    };
    log::info!(
        "package backend: {} (root {})",
        kind.name(),
        pm.root.display()
    );
    let settings = BackendSettings {
        root: pm.root.clone(),
        command_timeout: Duration::from_secs(pm.command_timeout_seconds),
        lock_wait: Duration::from_secs(pm.lock_wait_seconds),
    };
    let options = detect::BackendOptions {
        apk_allow_untrusted: config.apk.allow_untrusted,
    };
    if kind == BackendKind::Apk && options.apk_allow_untrusted {
        log::warn!("apk.allow_untrusted is set: apk installs unsigned packages");
    }
    let backend = detect::build(kind, settings, options);
    let max_age = Duration::from_secs(pm.metadata_max_age_seconds);
    let feeds = feed_setup::build(&config.advisories, kind, &pm.root);
    let inventory = Inventory::new(backend, max_age)
        .with_lock_wait(settings_lock_wait(pm))
        .with_feed(feeds.settings)
        .with_store(crate::pkg::snapshot_store::path_for_jobs_dir(
            &config.jobs.storage_path,
        ));
    Some((Arc::new(inventory), feeds.refreshers))
}

fn settings_lock_wait(pm: &crate::config::PackageManagerConfig) -> Duration {
    Duration::from_secs(pm.lock_wait_seconds)
}

/// The background refresher's settings: off with a max age of 0, and in read-only mode
/// unless `refresh_in_read_only`; the jitter never more than a tenth of the max age.
fn refresh_settings(config: &Config) -> RefreshSettings {
    let pm = &config.package_manager;
    let max_age = Duration::from_secs(pm.metadata_max_age_seconds);
    RefreshSettings {
        max_age,
        jitter: Duration::from_secs(pm.metadata_refresh_jitter_seconds).min(max_age / 10),
        enabled: !max_age.is_zero() && (!config.api.read_only || pm.refresh_in_read_only),
    }
}

fn server_options(config: &Config) -> ServerOptions {
    ServerOptions {
        bind: SocketAddr::new(config.server.bind, config.server.port),
        workers: config.server.workers,
        max_connections: config.server.max_connections,
        max_handshakes_per_address: config.server.max_handshakes_per_address,
        limits: config.server_limits(),
        bounds: config.server.limits.connection.bounds(),
        shutdown_grace: Duration::from_secs(config.server.shutdown_grace_seconds),
        unauthenticated_path: "/health".into(),
    }
}
