//! The `linux-patch-api` binary: parses arguments, then serves, checks the configuration,
//! or enrolls with the Patch Manager and serves.

use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use linux_patch_api::cli::{self, Command, EnrollArgs};
use linux_patch_api::config::Config;
use linux_patch_api::{agent, check, enroll};

/// Exit code for a runtime failure (cannot listen, cannot load certificates).
const EXIT_RUNTIME: u8 = cli::EXIT_RUNTIME as u8;
/// Exit code for bad command-line usage.
const EXIT_USAGE: u8 = cli::EXIT_USAGE as u8;
/// Exit code for an invalid configuration.
const EXIT_CONFIG: u8 = cli::EXIT_CONFIG as u8;

fn main() -> ExitCode {
    match cli::parse_args(std::env::args_os()) {
        Err(e) => {
            eprintln!("linux-patch-api: {e}\n\n{}", cli::USAGE);
            ExitCode::from(EXIT_USAGE)
        }
        Ok(Command::Version) => {
            println!("linux-patch-api {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Ok(Command::Help) => {
            println!("{}", cli::USAGE);
            ExitCode::SUCCESS
        }
        Ok(Command::CheckConfig { config }) => {
            let code = check::print_report(&check::check_config(&config));
            ExitCode::from(u8::try_from(code).unwrap_or(EXIT_CONFIG))
        }
        Ok(Command::Serve { config }) => serve(&config),
        Ok(Command::Enroll { config, options }) => enroll_then_serve(&config, &options),
    }
}

fn load(path: &Path) -> Result<Config, ExitCode> {
    Config::load(path).map_err(|errors| {
        for e in errors {
            eprintln!("linux-patch-api: {}: {e}", path.display());
        }
        ExitCode::from(EXIT_CONFIG)
    })
}

fn serve(path: &Path) -> ExitCode {
    let config = match load(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    init_logging(config.logging.level);
    run_agent(config, path)
}

/// `--enroll`: join the fleet, then serve with what was provisioned (or stop there).
fn enroll_then_serve(path: &Path, args: &EnrollArgs) -> ExitCode {
    let config = match load(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    init_logging(config.logging.level);
    let settings = cli::enroll_settings(&config, args);
    let stop = Arc::new(AtomicBool::new(false));
    let registered = stop_on_signals(&stop);
    let outcome = enroll::run(&settings, &stop);
    for id in registered {
        signal_hook::low_level::unregister(id);
    }
    match outcome {
        Err(e) => {
            log::error!("enrollment: {e}");
            ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(EXIT_RUNTIME))
        }
        Ok(done) => {
            log::info!(
                "enrolled: {} file(s) written; the manager ({}) is whitelisted",
                done.written.len(),
                done.manager_ip
            );
            if args.enroll_only || config.enrollment.enroll_only {
                return ExitCode::SUCCESS;
            }
            run_agent(config, path)
        }
    }
}

/// SIGINT and SIGTERM set `stop` while enrolling (the loop checks it every second).
fn stop_on_signals(stop: &Arc<AtomicBool>) -> Vec<signal_hook::SigId> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut ids = Vec::new();
    for signal in [SIGINT, SIGTERM] {
        match signal_hook::flag::register(signal, Arc::clone(stop)) {
            Ok(id) => ids.push(id),
            Err(e) => log::warn!("cannot watch signal {signal}: {e}"),
        }
    }
    ids
}

fn run_agent(config: Config, path: &Path) -> ExitCode {
    fit_open_files(config.server.max_connections);
    let running = match agent::start(config, Some(path.to_path_buf())) {
        Ok(r) => r,
        Err(e) => {
            log::error!("{e}");
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    if let Err(e) = handle_signals(&running) {
        log::error!("cannot install signal handlers: {e}");
        running.shutdown();
    }
    match running.join() {
        Ok(()) => {
            log::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            log::error!("server failed: {e}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

/// Fits the process's open-files limit to its connections before any thread starts, so
/// that package tools inherit the tools' default and start without a fork of the agent.
fn fit_open_files(max_connections: usize) {
    use linux_patch_api::system::open_files;
    match open_files::fit(max_connections) {
        Ok(fitted) => {
            if let Some(line) = fitted.describe() {
                if fitted.short() {
                    log::warn!("{line}");
                } else {
                    log::info!("{line}");
                }
            }
        }
        Err(e) => log::warn!("open files: cannot fit the limit, keeping it: {e}"),
    }
}

/// SIGHUP reloads; SIGTERM and SIGINT stop gracefully. Runs on its own thread.
fn handle_signals(running: &agent::RunningAgent) -> std::io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGHUP, SIGINT, SIGTERM])?;
    let shutdown = running.shutdown_handle();
    let reloader = running.reloader();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                if signal == SIGHUP {
                    log::info!("SIGHUP: reloading");
                    reloader.reload();
                } else {
                    log::info!("signal {signal}: stopping (in-flight requests may finish)");
                    shutdown.shutdown();
                    break;
                }
            }
        })?;
    Ok(())
}

fn init_logging(level: log::LevelFilter) {
    // The logger accepts everything; the max level (changeable on reload) does the filtering.
    // ureq logs request paths, and an enrollment status path carries the polling token:
    // its records are dropped whatever the level.
    let config = simplelog::ConfigBuilder::new()
        .set_time_format_rfc3339()
        .add_filter_ignore_str("ureq")
        .build();
    // The logger writes a record in pieces (time, level, target, message): through a line
    // buffer each record reaches stderr (the journal) in one write instead of about twenty.
    let stderr = std::io::LineWriter::new(std::io::stderr());
    let _ = simplelog::WriteLogger::init(log::LevelFilter::Trace, config, stderr);
    log::set_max_level(level);
}
