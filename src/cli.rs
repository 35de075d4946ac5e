//! Command-line arguments (lexopt).
//! `--check-config`: config, certificates and whitelist checked, every problem listed.

use std::ffi::OsString;
use std::path::PathBuf;

use crate::config::DEFAULT_CONFIG_PATH;

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

Signals:
  SIGHUP           reload: re-read config.yaml (settings that can change live), the TLS
                   files and the whitelist; an invalid new file keeps the running settings
  SIGTERM          graceful stop: refuse new connections, let requests in flight finish

Exit codes:
  0  success (for --check-config: no errors, warnings allowed)
  1  runtime error
  2  usage error (bad command line)
  3  invalid configuration

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
    /// Print the version.
    Version,
    /// Print [`USAGE`].
    Help,
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
}

impl Options {
    /// Turns the collected options into the one thing to do.
    fn into_command(self) -> Command {
        let config = self
            .config
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_PATH));
        if self.check_config {
            Command::CheckConfig { config }
        } else {
            Command::Serve { config }
        }
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
            Value(v) => {
                return Err(CliError::UnexpectedArgument(
                    v.to_string_lossy().into_owned(),
                ))
            }
            other => return Err(other.unexpected().into()),
        }
    }
    Ok(options.into_command())
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
        ] {
            assert!(USAGE.contains(needle), "{needle}");
        }
    }
}
