//! Status of one init-system service: systemd (`systemctl show`) or OpenRC (`rc-service`).
//!
//! Commands run without a shell, with stdin null, a deadline, and the service name after
//! `--` (systemd) once it has passed [`validate_unit_name`].

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a status query may take before the child is killed.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(10);

/// Most output bytes kept per stream; status output is a few hundred bytes.
const MAX_OUTPUT_BYTES: u64 = 1 << 20;

/// The properties asked of `systemctl show`.
pub const SYSTEMCTL_PROPERTIES: &str =
    "--property=Id,Description,ActiveState,SubState,LoadState,UnitFileState,MainPID";

/// The status of one service, in systemd's vocabulary (OpenRC states are mapped onto it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceStatus {
    /// Canonical name, e.g. `ssh.service` (systemd resolves aliases like `sshd`).
    pub name: String,
    /// Human description.
    pub display_name: String,
    /// `active`, `inactive`, `failed`, `activating`, ...
    pub active_state: String,
    /// `running`, `dead`, `exited`, ...
    pub sub_state: String,
    /// `loaded`, `not-found`, `masked`, ...
    pub load_state: String,
    /// `enabled`, `disabled`, `static`, ...; empty when systemd does not say.
    pub enabled_state: String,
    /// True when the service is active and running (systemd `active`/`running`, OpenRC
    /// `started`); a oneshot that ran and exited is active but not healthy.
    pub healthy: bool,
    /// Main process id, when the service has one running.
    pub main_pid: Option<u32>,
}

/// Why a service status could not be given.
#[derive(Debug)]
pub enum ServiceError {
    /// The name is not a valid unit name; the message says why.
    InvalidName(String),
    /// The service manager does not know this service.
    NotFound(String),
    /// Neither systemd nor OpenRC is running on this host.
    NoManager,
    /// The status command did not finish within its deadline.
    Timeout(String),
    /// The status command could not run or failed; the message says how.
    Failed(String),
}

impl std::fmt::Display for ServiceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServiceError::InvalidName(m) => write!(f, "invalid service name: {m}"),
            ServiceError::NotFound(n) => write!(f, "service not found: {n}"),
            ServiceError::NoManager => write!(f, "no service manager found"),
            ServiceError::Timeout(m) => write!(f, "service status timed out: {m}"),
            ServiceError::Failed(m) => write!(f, "service status failed: {m}"),
        }
    }
}

impl std::error::Error for ServiceError {}

/// Checks a unit name: 1-255 of `[A-Za-z0-9:_.@-]`, not starting with `-` (no option
/// injection, no paths).
pub fn validate_unit_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 255 {
        return Err(format!("must be 1-255 characters, got {}", name.len()));
    }
    if name.starts_with('-') {
        return Err(format!("must not start with '-': {name:?}"));
    }
    match name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '.' | '@' | '-')))
    {
        Some(bad) => Err(format!("character {bad:?} not allowed in {name:?}")),
        None => Ok(()),
    }
}

/// Parses `KEY=value` lines of `systemctl show` (values may contain `=`).
pub fn parse_systemctl_show(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// Turns `systemctl show` output for `requested` into a status; `LoadState=not-found` is
/// [`ServiceError::NotFound`].
pub fn status_from_systemctl_show(
    requested: &str,
    text: &str,
) -> Result<ServiceStatus, ServiceError> {
    let props = parse_systemctl_show(text);
    let get = |k: &str| props.get(k).cloned().unwrap_or_default();
    let load_state = get("LoadState");
    if load_state.is_empty() {
        return Err(ServiceError::Failed(
            "systemctl show printed no LoadState".to_string(),
        ));
    }
    if load_state == "not-found" {
        return Err(ServiceError::NotFound(requested.to_string()));
    }
    let active_state = get("ActiveState");
    let name = props
        .get("Id")
        .filter(|v| !v.is_empty())
        .cloned()
        .unwrap_or_else(|| requested.to_string());
    let sub_state = get("SubState");
    Ok(ServiceStatus {
        display_name: props
            .get("Description")
            .filter(|v| !v.is_empty())
            .cloned()
            .unwrap_or_else(|| name.clone()),
        name,
        healthy: active_state == "active" && sub_state == "running",
        active_state,
        sub_state,
        load_state,
        enabled_state: get("UnitFileState"),
        main_pid: props
            .get("MainPID")
            .and_then(|v| v.parse::<u32>().ok())
            .filter(|&p| p != 0),
    })
}

/// Turns `rc-service NAME status` output plus `rc-update show` output into a status.
pub fn status_from_openrc(
    name: &str,
    status_text: &str,
    rc_update_text: &str,
) -> Result<ServiceStatus, ServiceError> {
    if status_text.contains("does not exist") {
        return Err(ServiceError::NotFound(name.to_string()));
    }
    let state = status_text
        .lines()
        .find_map(|l| l.split_once("status:").map(|(_, s)| s.trim().to_string()))
        .ok_or_else(|| {
            ServiceError::Failed(format!("rc-service printed no status: {status_text:?}"))
        })?;
    let active_state = match state.as_str() {
        "started" => "active",
        "starting" => "activating",
        "stopping" => "deactivating",
        "crashed" => "failed",
        "stopped" => "inactive",
        _ => "unknown",
    };
    let enabled = rc_update_text.lines().any(|l| {
        l.split_once('|')
            .is_some_and(|(svc, levels)| svc.trim() == name && !levels.trim().is_empty())
    });
    Ok(ServiceStatus {
        name: name.to_string(),
        display_name: name.to_string(),
        active_state: active_state.to_string(),
        healthy: active_state == "active",
        sub_state: state,
        load_state: "loaded".to_string(),
        enabled_state: if enabled { "enabled" } else { "disabled" }.to_string(),
        main_pid: None,
    })
}

/// Which init system answers status queries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServiceManager {
    /// systemd, with the path of `systemctl`.
    Systemd(PathBuf),
    /// OpenRC, with the paths of `rc-service` and `rc-update` (when present).
    OpenRc {
        /// `rc-service` binary.
        rc_service: PathBuf,
        /// `rc-update` binary, if installed.
        rc_update: Option<PathBuf>,
    },
}

/// Picks the service manager: systemd when `systemctl` exists and systemd is the running
/// init (`systemd_run_dir` is a directory, as sd_booted(3) checks), else OpenRC when
/// `rc-service` exists.
pub fn detect_manager(dirs: &[PathBuf], systemd_run_dir: &Path) -> Option<ServiceManager> {
    use crate::system::info::find_binary;
    if let Some(systemctl) = find_binary("systemctl", dirs) {
        if systemd_run_dir.is_dir() {
            return Some(ServiceManager::Systemd(systemctl));
        }
    }
    find_binary("rc-service", dirs).map(|rc_service| ServiceManager::OpenRc {
        rc_service,
        rc_update: find_binary("rc-update", dirs),
    })
}

/// Queries the status of `name` on this host.
pub fn query(name: &str) -> Result<ServiceStatus, ServiceError> {
    validate_unit_name(name).map_err(ServiceError::InvalidName)?;
    let dirs = crate::system::info::bin_search_dirs(std::env::var_os("PATH").as_deref());
    match detect_manager(&dirs, Path::new("/run/systemd/system")) {
        Some(ServiceManager::Systemd(systemctl)) => query_systemd(&systemctl, name),
        Some(ServiceManager::OpenRc {
            rc_service,
            rc_update,
        }) => query_openrc(&rc_service, rc_update.as_deref(), name),
        None => Err(ServiceError::NoManager),
    }
}

fn query_systemd(systemctl: &Path, name: &str) -> Result<ServiceStatus, ServiceError> {
    let args = ["show", "--no-pager", SYSTEMCTL_PROPERTIES, "--", name];
    let out = run_with_deadline(systemctl, &args, QUERY_TIMEOUT)?;
    if !out.status.success() {
        return Err(ServiceError::Failed(format!(
            "systemctl show exited with {}: {}",
            out.status,
            out.stderr.trim()
        )));
    }
    status_from_systemctl_show(name, &out.stdout)
}

fn query_openrc(
    rc_service: &Path,
    rc_update: Option<&Path>,
    name: &str,
) -> Result<ServiceStatus, ServiceError> {
    // rc-service takes no `--`; the name passed validation so it cannot look like an option.
    let status = run_with_deadline(rc_service, &[name, "status"], QUERY_TIMEOUT)?;
    let status_text = format!("{}\n{}", status.stdout, status.stderr);
    let levels = match rc_update {
        Some(bin) => run_with_deadline(bin, &["show"], QUERY_TIMEOUT)?.stdout,
        None => String::new(),
    };
    status_from_openrc(name, &status_text, &levels)
}

/// What a finished command printed.
#[derive(Debug)]
pub struct CommandOutput {
    /// Exit status.
    pub status: ExitStatus,
    /// Standard output (lossy UTF-8, capped).
    pub stdout: String,
    /// Standard error (lossy UTF-8, capped).
    pub stderr: String,
}

/// Runs `program args` with stdin null and `LC_ALL=C`, killing it when `timeout` passes.
pub fn run_with_deadline(
    program: &Path,
    args: &[&str],
    timeout: Duration,
) -> Result<CommandOutput, ServiceError> {
    let shown = program.display().to_string();
    let mut child = Command::new(program)
        .args(args)
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| ServiceError::Failed(format!("cannot run {shown}: {e}")))?;
    let stdout = spawn_reader(child.stdout.take());
    let stderr = spawn_reader(child.stderr.take());
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(ServiceError::Timeout(format!(
                    "{shown} did not finish within {}s",
                    timeout.as_secs()
                )));
            }
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(ServiceError::Failed(format!("waiting for {shown}: {e}")));
            }
        }
    };
    // A grandchild could keep the pipe open; never wait on it past a short grace period.
    let grace = Duration::from_secs(1);
    Ok(CommandOutput {
        status,
        stdout: stdout.recv_timeout(grace).unwrap_or_default(),
        stderr: stderr.recv_timeout(grace).unwrap_or_default(),
    })
}

fn spawn_reader<R: Read + Send + 'static>(pipe: Option<R>) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(pipe) = pipe {
            let _ = pipe.take(MAX_OUTPUT_BYTES).read_to_end(&mut buf);
        }
        let _ = tx.send(String::from_utf8_lossy(&buf).into_owned());
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    // Recorded from `systemctl show --no-pager --property=... -- ssh` on Debian 12
    // (systemd 252): properties come in systemd's own order, not the requested one.
    const SSH_ACTIVE: &str = "MainPID=689\nId=ssh.service\n\
        Description=OpenBSD Secure Shell server\nLoadState=loaded\nActiveState=active\n\
        SubState=running\nUnitFileState=enabled\n";

    const UNKNOWN: &str = "MainPID=0\nId=nosuch.service\nDescription=nosuch.service\n\
        LoadState=not-found\nActiveState=inactive\nSubState=dead\nUnitFileState=\n";

    const FAILED: &str = "MainPID=0\nId=nginx.service\n\
        Description=A high performance web server and a reverse proxy server\n\
        LoadState=loaded\nActiveState=failed\nSubState=failed\nUnitFileState=enabled\n";

    const STATIC_ONESHOT: &str = "MainPID=0\nId=systemd-tmpfiles-setup.service\n\
        Description=Create Volatile Files and Directories\nLoadState=loaded\n\
        ActiveState=active\nSubState=exited\nUnitFileState=static\n";

    #[test]
    fn parses_active_service() {
        let s = status_from_systemctl_show("ssh", SSH_ACTIVE).unwrap();
        assert_eq!(s.name, "ssh.service");
        assert_eq!(s.display_name, "OpenBSD Secure Shell server");
        assert_eq!(s.active_state, "active");
        assert_eq!(s.sub_state, "running");
        assert_eq!(s.load_state, "loaded");
        assert_eq!(s.enabled_state, "enabled");
        assert!(s.healthy);
        assert_eq!(s.main_pid, Some(689));
    }

    #[test]
    fn not_found_is_an_error() {
        match status_from_systemctl_show("nosuch", UNKNOWN) {
            Err(ServiceError::NotFound(n)) => assert_eq!(n, "nosuch"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn failed_service_is_unhealthy_without_pid() {
        let s = status_from_systemctl_show("nginx", FAILED).unwrap();
        assert!(!s.healthy);
        assert_eq!(s.active_state, "failed");
        assert_eq!(s.main_pid, None);
    }

    #[test]
    fn oneshot_exited_is_active_but_not_healthy() {
        let s = status_from_systemctl_show("systemd-tmpfiles-setup", STATIC_ONESHOT).unwrap();
        assert_eq!(s.active_state, "active");
        assert!(!s.healthy);
        assert_eq!(s.enabled_state, "static");
        assert_eq!(s.sub_state, "exited");
    }

    #[test]
    fn empty_output_is_a_failure() {
        assert!(matches!(
            status_from_systemctl_show("x", ""),
            Err(ServiceError::Failed(_))
        ));
    }

    #[test]
    fn values_may_contain_equals() {
        let p = parse_systemctl_show("Description=a=b\nId=x.service\n");
        assert_eq!(p["Description"], "a=b");
    }

    #[test]
    fn unit_name_validation() {
        for ok in [
            "ssh",
            "ssh.service",
            "getty@tty1.service",
            "dev-sda1.device",
            "a:b_c",
        ] {
            assert!(validate_unit_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-H", "--help", "a/b", "a b", "a;b", "$(x)", "a\nb", "ü"] {
            assert!(validate_unit_name(bad).is_err(), "{bad:?}");
        }
        assert!(validate_unit_name(&"a".repeat(255)).is_ok());
        assert!(validate_unit_name(&"a".repeat(256)).is_err());
    }

    #[test]
    fn openrc_started_and_enabled() {
        let status = " * status: started\n";
        let levels = "             sshd |      default\n            crond | default\n";
        let s = status_from_openrc("sshd", status, levels).unwrap();
        assert!(s.healthy);
        assert_eq!(s.active_state, "active");
        assert_eq!(s.sub_state, "started");
        assert_eq!(s.enabled_state, "enabled");
    }

    #[test]
    fn openrc_stopped_missing_and_garbage() {
        let s = status_from_openrc("nginx", " * status: stopped\n", "sshd | default\n").unwrap();
        assert!(!s.healthy);
        assert_eq!(s.active_state, "inactive");
        assert_eq!(s.enabled_state, "disabled");
        let missing = " * rc-service: service `nosuch' does not exist\n";
        assert!(matches!(
            status_from_openrc("nosuch", missing, ""),
            Err(ServiceError::NotFound(_))
        ));
        assert!(matches!(
            status_from_openrc("x", "huh\n", ""),
            Err(ServiceError::Failed(_))
        ));
    }

    fn temp_dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("lpa-svc-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn exe(dir: &Path, name: &str) {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.join(name);
        std::fs::write(&p, "").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn manager_detection() {
        let bins = temp_dir();
        let run = bins.join("run-systemd");
        exe(&bins, "systemctl");
        let dirs = vec![bins.clone()];
        // systemctl installed but systemd not running (a container): not systemd.
        assert_eq!(detect_manager(&dirs, &run), None);
        std::fs::create_dir_all(&run).unwrap();
        assert_eq!(
            detect_manager(&dirs, &run),
            Some(ServiceManager::Systemd(bins.join("systemctl")))
        );
        std::fs::remove_dir_all(&run).unwrap();
        exe(&bins, "rc-service");
        assert_eq!(
            detect_manager(&dirs, &run),
            Some(ServiceManager::OpenRc {
                rc_service: bins.join("rc-service"),
                rc_update: None
            })
        );
        std::fs::remove_dir_all(bins).unwrap();
    }

    #[test]
    fn query_refuses_bad_names_before_running_anything() {
        assert!(matches!(query("--help"), Err(ServiceError::InvalidName(_))));
    }

    #[test]
    fn run_captures_output_and_status() {
        let out =
            run_with_deadline(Path::new("/bin/echo"), &["hello", "--"], QUERY_TIMEOUT).unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout, "hello --\n");
    }

    #[test]
    fn run_kills_on_deadline() {
        let start = Instant::now();
        let r = run_with_deadline(Path::new("/bin/sleep"), &["5"], Duration::from_millis(200));
        assert!(matches!(r, Err(ServiceError::Timeout(_))), "{r:?}");
        assert!(start.elapsed() < Duration::from_secs(3));
    }

    #[test]
    fn run_reports_missing_program() {
        let r = run_with_deadline(Path::new("/nonexistent/prog"), &[], QUERY_TIMEOUT);
        assert!(matches!(r, Err(ServiceError::Failed(_))));
    }
}
