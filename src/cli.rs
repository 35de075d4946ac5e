//! Command-line arguments (lexopt).
//! `--check-config`: config, certificates and whitelist checked, every problem listed.
//! `--enroll URL`: join the fleet, then serve (see [`crate::enroll`]).

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use crate::config::DEFAULT_CONFIG_PATH;
use crate::enroll::{EnrollSettings, ManagerTrust};

/// Exit code: success.
pub const EXIT_OK: i32 = 0;
/// Exit code: the agent failed while running (cannot bind, cannot load certificates, ...).
pub const EXIT_RUNTIME: i32 = 1;
/// Exit code: the command line was wrong.
pub const EXIT_USAGE: i32 = 2;
/// Exit code: the configuration is invalid.
pub const EXIT_CONFIG: i32 = 3;

/// The help text printed by `--help`.
pub const USAGE: &str = "\
Usage: linux-patch-api [--config PATH] [--check-config]
       linux-patch-api --enroll MANAGER_URL [--config PATH] [--poll-interval SECONDS]
                       [--enroll-timeout DURATION] [--manager-ca FILE | --manager-fingerprint SHA256]
                       [--enroll-only]
       linux-patch-api --version | --help

Per-host patch agent: serves the REST + WebSocket API over mutual TLS and drives the
host's package manager.

Options:
  --config PATH    configuration file (default /etc/linux_patch_api/config.yaml);
                   relative paths inside it are taken relative to its directory
  --check-config   check the configuration, the TLS files and the whitelist, list every
                   problem found, and exit without serving
  -V, --version    print the version and exit
  -h, --help       print this help and exit

Enrollment (join the fleet of the Patch Manager at MANAGER_URL, an https:// URL):
  --enroll MANAGER_URL         register this host, wait for an administrator's approval,
                               install the certificates it receives (tls.* paths of the
                               config) and the manager's address in the whitelist, then serve
  --poll-interval SECONDS      time between approval checks (default 60)
  --enroll-timeout DURATION    give up without a decision after this long: 90s, 15m, 24h, 2d
                               (default 24h)
  --manager-ca FILE            verify the manager's certificate against this CA (PEM)
  --manager-fingerprint SHA256 accept only the manager certificate with this SHA-256
                               fingerprint (64 hex digits, colons allowed)
                               Without either, the manager's certificate is NOT verified (the
                               specification's relaxed default; a warning is logged)
  --enroll-only                exit after provisioning instead of starting to serve
  Each has a key under enrollment.* in the config; the command line wins. The polling token
  and the received bundle are kept in enrollment.state_dir: running the same command again
  resumes polling, or finishes provisioning, instead of registering anew.

Signals:
  SIGHUP           reload: re-read config.yaml (settings that can change live), the TLS
                   files and the whitelist; an invalid new file keeps the running settings;
                   reopen the audit log (after logrotate renamed it)
  SIGTERM          graceful stop: refuse new connections, let requests in flight finish

Exit codes:
  0  success (for --check-config: no errors, warnings allowed)
  1  runtime error
  2  usage error (bad command line)
  3  invalid configuration
  4  enrollment denied by the administrator
  5  enrollment unknown to the manager (token expired or already used): enroll again
  6  no enrollment decision within --enroll-timeout
  7  the manager refused the registration (HTTP 409: name or address already registered)
  8  the approved certificate bundle is invalid (nothing was installed)
  9  enrollment stopped by a signal before a decision (run again to resume)

See linux-patch-api.yaml(5) for the configuration reference.
";

/// What the process was asked to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Run the agent with this config file.
    Serve {
        /// Path of config.yaml.
        config: PathBuf,
    },
    /// Check this config file (and what it points to), report, exit.
    CheckConfig {
        /// Path of config.yaml.
        config: PathBuf,
    },
    /// Enroll with the Patch Manager, then serve (unless `enroll_only`).
    Enroll {
        /// Path of config.yaml.
        config: PathBuf,
        /// The enrollment options given on the command line.
        options: EnrollArgs,
    },
    /// Print the version.
    Version,
    /// Print [`USAGE`].
    Help,
}

/// Enrollment options of the command line; `None` leaves the config's (or default) value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EnrollArgs {
    /// `--enroll MANAGER_URL`.
    pub manager_url: String,
    /// `--poll-interval SECONDS`.
    pub poll_interval: Option<Duration>,
    /// `--enroll-timeout DURATION`.
    pub timeout: Option<Duration>,
    /// `--manager-ca FILE`.
    pub manager_ca: Option<PathBuf>,
    /// `--manager-fingerprint SHA256`.
    pub manager_fingerprint: Option<[u8; 32]>,
    /// `--enroll-only`.
    pub enroll_only: bool,
}

/// The enrollment settings: the command line's options over `enrollment.*`, the TLS paths
/// and the whitelist of `config`.
pub fn enroll_settings(config: &crate::config::Config, args: &EnrollArgs) -> EnrollSettings {
    let e = &config.enrollment;
    let trust = match (&args.manager_ca, &args.manager_fingerprint) {
        (Some(ca), _) => ManagerTrust::CaFile(ca.clone()),
        (None, Some(fp)) => ManagerTrust::Fingerprint(*fp),
        // The command line's choice replaces the config's, whichever kind it is.
        (None, None) => match (&e.manager_ca, &e.manager_fingerprint) {
            (Some(ca), _) => ManagerTrust::CaFile(ca.clone()),
            (None, Some(fp)) => ManagerTrust::Fingerprint(*fp),
            (None, None) => ManagerTrust::Insecure,
        },
    };
    EnrollSettings {
        manager_url: args.manager_url.clone(),
        poll_interval: args
            .poll_interval
            .unwrap_or(Duration::from_secs(e.poll_interval_seconds)),
        timeout: args.timeout.unwrap_or(e.timeout),
        trust,
        request_timeout: Duration::from_secs(e.request_timeout_seconds),
        state_dir: e.state_dir.clone(),
        report_ip: e.report_ip,
        report_fqdn: e.report_fqdn.clone(),
        ca_cert: config.tls.ca_cert.clone(),
        server_cert: config.tls.server_cert.clone(),
        server_key: config.tls.server_key.clone(),
        crl: config.tls.crl.clone(),
        whitelist: config.whitelist.path.clone(),
    }
}

/// Why the command line was refused; Display is the message for the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CliError {
    /// An option that does not exist, e.g. `--confg`.
    UnknownOption(String),
    /// An option that needs a value was last on the line.
    MissingValue(String),
    /// An option given a value it does not take, e.g. `--check-config=yes`.
    UnexpectedValue {
        /// The option as written.
        option: String,
        /// The value given.
        value: String,
    },
    /// An option's value is unusable, e.g. an empty path.
    InvalidValue {
        /// The option as written.
        option: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A positional argument; the agent takes none.
    UnexpectedArgument(String),
    /// An option given twice, which would make one of them silently ignored.
    Repeated(String),
    /// Options that do not go together, e.g. `--manager-ca` with `--manager-fingerprint`.
    Conflict(String),
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CliError::UnknownOption(o) => write!(f, "unknown option {o}"),
            CliError::MissingValue(o) => write!(f, "option {o} needs a value"),
            CliError::UnexpectedValue { option, value } => {
                write!(f, "option {option} takes no value (got {value:?})")
            }
            CliError::InvalidValue { option, reason } => write!(f, "option {option}: {reason}"),
            CliError::UnexpectedArgument(a) => write!(f, "unexpected argument {a:?}"),
            CliError::Repeated(o) => write!(f, "option {o} given more than once"),
            CliError::Conflict(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for CliError {}

impl From<lexopt::Error> for CliError {
    fn from(error: lexopt::Error) -> CliError {
        match error {
            lexopt::Error::MissingValue { option } => {
                CliError::MissingValue(option.unwrap_or_default())
            }
            lexopt::Error::UnexpectedOption(o) => CliError::UnknownOption(o),
            lexopt::Error::UnexpectedArgument(a) => {
                CliError::UnexpectedArgument(a.to_string_lossy().into_owned())
            }
            lexopt::Error::UnexpectedValue { option, value } => CliError::UnexpectedValue {
                option,
                value: value.to_string_lossy().into_owned(),
            },
            other => CliError::InvalidValue {
                option: String::new(),
                reason: other.to_string(),
            },
        }
    }
}

/// Options seen so far; kept apart from [`Command`] so that new flags (enrollment) only
/// add a field, a match arm and a rule in [`Options::into_command`].
#[derive(Default)]
struct Options {
    /// `--config PATH`.
    config: Option<PathBuf>,
    /// `--check-config`.
    check_config: bool,
    /// `--enroll URL`.
    enroll: Option<String>,
    /// The other enrollment options, with the name of the first one seen.
    enroll_args: EnrollArgs,
    /// The first enrollment-only option seen (they need `--enroll`).
    enroll_option_seen: Option<&'static str>,
}

impl Options {
    /// Turns the collected options into the one thing to do.
    fn into_command(self) -> Result<Command, CliError> {
        let config = self
            .config
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_PATH));
        match (self.enroll, self.check_config) {
            (Some(_), true) => Err(CliError::Conflict(
                "--enroll and --check-config do not go together".into(),
            )),
            (Some(manager_url), false) => {
                let a = &self.enroll_args;
                if a.manager_ca.is_some() && a.manager_fingerprint.is_some() {
                    return Err(CliError::Conflict(
                        "give --manager-ca or --manager-fingerprint, not both".into(),
                    ));
                }
                Ok(Command::Enroll {
                    config,
                    options: EnrollArgs {
                        manager_url,
                        ..self.enroll_args
                    },
                })
            }
            (None, _) => match self.enroll_option_seen {
                Some(option) => Err(CliError::Conflict(format!(
                    "{option} is an enrollment option: it needs --enroll MANAGER_URL"
                ))),
                None if self.check_config => Ok(Command::CheckConfig { config }),
                None => Ok(Command::Serve { config }),
            },
        }
    }

    /// Notes that an enrollment option was given.
    fn enrollment(&mut self, option: &'static str) {
        self.enroll_option_seen.get_or_insert(option);
    }
}

/// Parses the command line; `args` is as from `std::env::args_os()`, program name first.
/// `--help` and `--version` win as soon as they are seen.
pub fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Command, CliError> {
    use lexopt::Arg::{Long, Short, Value};
    let mut parser = lexopt::Parser::from_iter(args);
    let mut options = Options::default();
    while let Some(arg) = parser.next()? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help),
            Short('V') | Long("version") => return Ok(Command::Version),
            Long("config") => {
                let path = path_value(&mut parser, "--config")?;
                set_once(&mut options.config, path, "--config")?;
            }
            Long("check-config") => {
                if options.check_config {
                    return Err(CliError::Repeated("--check-config".into()));
                }
                options.check_config = true;
            }
            Long("enroll") => {
                let url = manager_url(&mut parser)?;
                set_once(&mut options.enroll, url, "--enroll")?;
            }
            Long("poll-interval") => {
                options.enrollment("--poll-interval");
                let secs = text_value(&mut parser, "--poll-interval")?;
                let d = seconds(&secs).map_err(|reason| invalid("--poll-interval", reason))?;
                set_once(&mut options.enroll_args.poll_interval, d, "--poll-interval")?;
            }
            Long("enroll-timeout") => {
                options.enrollment("--enroll-timeout");
                let text = text_value(&mut parser, "--enroll-timeout")?;
                let d = crate::timefmt::parse_duration(&text)
                    .map_err(|reason| invalid("--enroll-timeout", reason))?;
                set_once(&mut options.enroll_args.timeout, d, "--enroll-timeout")?;
            }
            Long("manager-ca") => {
                options.enrollment("--manager-ca");
                let path = path_value(&mut parser, "--manager-ca")?;
                set_once(&mut options.enroll_args.manager_ca, path, "--manager-ca")?;
            }
            Long("manager-fingerprint") => {
                options.enrollment("--manager-fingerprint");
                let text = text_value(&mut parser, "--manager-fingerprint")?;
                let fp = crate::x509::parse_sha256_fingerprint(&text)
                    .map_err(|reason| invalid("--manager-fingerprint", reason))?;
                let slot = &mut options.enroll_args.manager_fingerprint;
                set_once(slot, fp, "--manager-fingerprint")?;
            }
            Long("enroll-only") => {
                options.enrollment("--enroll-only");
                if options.enroll_args.enroll_only {
                    return Err(CliError::Repeated("--enroll-only".into()));
                }
                options.enroll_args.enroll_only = true;
            }
            Value(v) => {
                return Err(CliError::UnexpectedArgument(
                    v.to_string_lossy().into_owned(),
                ))
            }
            other => return Err(other.unexpected().into()),
        }
    }
    options.into_command()
}

fn invalid(option: &str, reason: String) -> CliError {
    CliError::InvalidValue {
        option: option.to_string(),
        reason,
    }
}

/// The value of an option as UTF-8 text.
fn text_value(parser: &mut lexopt::Parser, option: &str) -> Result<String, CliError> {
    parser
        .value()?
        .into_string()
        .map_err(|_| invalid(option, "the value is not valid UTF-8".into()))
}

/// `--enroll`'s value: an `https://` URL with a host (the bundle carries a private key).
fn manager_url(parser: &mut lexopt::Parser) -> Result<String, CliError> {
    let url = text_value(parser, "--enroll")?;
    let host = url.strip_prefix("https://").unwrap_or("");
    if host.is_empty() || host.starts_with('/') || url.chars().any(char::is_whitespace) {
        return Err(invalid(
            "--enroll",
            format!("{url:?} is not an https:// URL of the Patch Manager"),
        ));
    }
    Ok(url.trim_end_matches('/').to_string())
}

/// A poll interval in whole seconds, 1-86400.
fn seconds(text: &str) -> Result<Duration, String> {
    match text.parse::<u64>() {
        Ok(n) if (1..=86_400).contains(&n) => Ok(Duration::from_secs(n)),
        _ => Err(format!("must be whole seconds 1-86400, got {text:?}")),
    }
}

/// The value of a path option, which must not be empty.
fn path_value(parser: &mut lexopt::Parser, option: &str) -> Result<PathBuf, CliError> {
    let value = parser.value()?;
    if value.is_empty() {
        return Err(CliError::InvalidValue {
            option: option.to_string(),
            reason: "the path must not be empty".into(),
        });
    }
    Ok(PathBuf::from(value))
}

/// Stores an option's value, refusing a second one.
fn set_once<T>(slot: &mut Option<T>, value: T, option: &str) -> Result<(), CliError> {
    if slot.is_some() {
        return Err(CliError::Repeated(option.to_string()));
    }
    *slot = Some(value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, CliError> {
        let all = std::iter::once("linux-patch-api")
            .chain(args.iter().copied())
            .map(OsString::from);
        parse_args(all)
    }

    #[test]
    fn no_arguments_serves_the_default_config() {
        assert_eq!(
            parse(&[]).unwrap(),
            Command::Serve {
                config: PathBuf::from("/etc/linux_patch_api/config.yaml")
            }
        );
    }

    #[test]
    fn config_path_in_both_spellings() {
        let expected = Command::Serve {
            config: PathBuf::from("/tmp/c.yaml"),
        };
        assert_eq!(parse(&["--config", "/tmp/c.yaml"]).unwrap(), expected);
        assert_eq!(parse(&["--config=/tmp/c.yaml"]).unwrap(), expected);
    }

    #[test]
    fn check_config_with_and_without_path() {
        assert_eq!(
            parse(&["--check-config"]).unwrap(),
            Command::CheckConfig {
                config: PathBuf::from(DEFAULT_CONFIG_PATH)
            }
        );
        assert_eq!(
            parse(&["--check-config", "--config", "x.yaml"]).unwrap(),
            Command::CheckConfig {
                config: PathBuf::from("x.yaml")
            }
        );
    }

    #[test]
    fn help_and_version_win() {
        assert_eq!(parse(&["-h"]).unwrap(), Command::Help);
        assert_eq!(parse(&["--help"]).unwrap(), Command::Help);
        assert_eq!(parse(&["-V"]).unwrap(), Command::Version);
        assert_eq!(
            parse(&["--check-config", "--version"]).unwrap(),
            Command::Version
        );
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let message = |args: &[&str]| parse(args).unwrap_err().to_string();
        assert_eq!(message(&["--confg", "x"]), "unknown option --confg");
        assert_eq!(message(&["-x"]), "unknown option -x");
        assert_eq!(message(&["--config"]), "option --config needs a value");
        assert_eq!(
            message(&["--config="]),
            "option --config: the path must not be empty"
        );
        assert_eq!(message(&["serve"]), "unexpected argument \"serve\"");
        assert_eq!(
            message(&["--check-config=yes"]),
            "option --check-config takes no value (got \"yes\")"
        );
        assert_eq!(
            message(&["--config", "a", "--config", "b"]),
            "option --config given more than once"
        );
        assert_eq!(
            message(&["--check-config", "--check-config"]),
            "option --check-config given more than once"
        );
    }

    #[test]
    fn usage_lists_every_option_and_exit_code() {
        for needle in [
            "--config PATH",
            "--check-config",
            "--version",
            "--help",
            "SIGHUP",
            "SIGTERM",
            DEFAULT_CONFIG_PATH,
            "3  invalid configuration",
            "--enroll MANAGER_URL",
            "--poll-interval SECONDS",
            "--enroll-timeout DURATION",
            "--manager-ca FILE",
            "--manager-fingerprint SHA256",
            "--enroll-only",
            "4  enrollment denied",
            "9  enrollment stopped",
        ] {
            assert!(USAGE.contains(needle), "{needle}");
        }
    }

    #[test]
    fn enroll_takes_its_options() {
        let fp = "AB:".repeat(31) + "AB";
        let cmd = parse(&[
            "--enroll",
            "https://manager.example.com:8443/",
            "--poll-interval",
            "5",
            "--enroll-timeout",
            "2h",
            "--manager-fingerprint",
            &fp,
            "--enroll-only",
            "--config",
            "c.yaml",
        ])
        .unwrap();
        assert_eq!(
            cmd,
            Command::Enroll {
                config: PathBuf::from("c.yaml"),
                options: EnrollArgs {
                    manager_url: "https://manager.example.com:8443".into(),
                    poll_interval: Some(Duration::from_secs(5)),
                    timeout: Some(Duration::from_secs(7200)),
                    manager_ca: None,
                    manager_fingerprint: Some([0xab; 32]),
                    enroll_only: true,
                },
            }
        );
    }

    #[test]
    fn enroll_refusals_name_the_option() {
        let message = |args: &[&str]| parse(args).unwrap_err().to_string();
        assert!(message(&["--enroll", "http://m"]).contains("is not an https:// URL"));
        assert!(message(&["--enroll", "https://"]).contains("is not an https:// URL"));
        assert_eq!(
            message(&["--poll-interval", "5"]),
            "--poll-interval is an enrollment option: it needs --enroll MANAGER_URL"
        );
        assert_eq!(
            message(&["--enroll", "https://m", "--check-config"]),
            "--enroll and --check-config do not go together"
        );
        assert_eq!(
            message(&[
                "--enroll",
                "https://m",
                "--manager-ca",
                "a.pem",
                "--manager-fingerprint",
                &"0".repeat(64)
            ]),
            "give --manager-ca or --manager-fingerprint, not both"
        );
        assert!(message(&["--enroll", "https://m", "--poll-interval", "0"])
            .starts_with("option --poll-interval: must be whole seconds 1-86400"));
        assert!(
            message(&["--enroll", "https://m", "--enroll-timeout", "soon"])
                .starts_with("option --enroll-timeout: \"soon\" is not a duration")
        );
        assert!(
            message(&["--enroll", "https://m", "--manager-fingerprint", "abc"])
                .starts_with("option --manager-fingerprint: \"abc\" is not a SHA-256")
        );
        assert_eq!(
            message(&["--enroll", "https://a", "--enroll", "https://b"]),
            "option --enroll given more than once"
        );
    }

    #[test]
    fn the_command_line_wins_over_the_config() {
        let mut config = crate::config::Config::default();
        config.enrollment.poll_interval_seconds = 30;
        config.enrollment.manager_fingerprint = Some([1; 32]);
        let args = EnrollArgs {
            manager_url: "https://m".into(),
            timeout: Some(Duration::from_secs(60)),
            ..EnrollArgs::default()
        };
        let s = enroll_settings(&config, &args);
        assert_eq!(s.poll_interval, Duration::from_secs(30));
        assert_eq!(s.timeout, Duration::from_secs(60));
        assert_eq!(s.trust, ManagerTrust::Fingerprint([1; 32]));
        assert_eq!(s.server_key, config.tls.server_key);
        let args = EnrollArgs {
            manager_ca: Some(PathBuf::from("/m.pem")),
            ..args
        };
        assert_eq!(
            enroll_settings(&config, &args).trust,
            ManagerTrust::CaFile(PathBuf::from("/m.pem"))
        );
        config.enrollment.manager_fingerprint = None;
        let args = EnrollArgs {
            manager_ca: None,
            ..args
        };
        assert_eq!(
            enroll_settings(&config, &args).trust,
            ManagerTrust::Insecure
        );
    }

    #[test]
    fn the_man_page_documents_every_option_and_exit_code() {
        let page = include_str!("../man/linux-patch-api.8").replace("\\-", "-");
        for needle in [
            "--config",
            "--check-config",
            "--version",
            "--help",
            "--enroll",
            "--poll-interval",
            "--enroll-timeout",
            "--manager-ca",
            "--manager-fingerprint",
            "--enroll-only",
            "SIGHUP",
            "SIGTERM",
        ] {
            assert!(page.contains(needle), "{needle}");
        }
        for code in 0..=9 {
            assert!(page.contains(&format!(".B {code}\n")), "exit code {code}");
        }
    }
}
