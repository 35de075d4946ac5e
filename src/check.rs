//! `--check-config`: loads the configuration, then checks what it points to (TLS files,
//! whitelist, directories) and lists every problem, so an operator can fix them in one go.

use std::ffi::CString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use time::OffsetDateTime;

use crate::config::Config;
use crate::http::whitelist::{IpNet, Whitelist};

/// How bad a problem is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// The agent would not start, or would not work as configured.
    Error,
    /// The agent would start but something is likely not what was meant.
    Warning,
}

/// One problem found by [`check_config`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong, naming the key or file.
    pub message: String,
}

impl Problem {
    /// An error.
    fn error(message: impl Into<String>) -> Problem {
        Problem {
            severity: Severity::Error,
            message: message.into(),
        }
    }

    /// A warning.
    fn warning(message: impl Into<String>) -> Problem {
        Problem {
            severity: Severity::Warning,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.severity {
            Severity::Error => write!(f, "error: {}", self.message),
            Severity::Warning => write!(f, "warning: {}", self.message),
        }
    }
}

/// Checks the config file and everything it names; an invalid config stops there, since
/// the paths it would name are unknown.
pub fn check_config(path: &Path) -> Vec<Problem> {
    let config = match Config::load(path) {
        Ok(config) => config,
        Err(errors) => {
            return errors
                .iter()
                .map(|e| Problem::error(e.to_string()))
                .collect()
        }
    };
    let mut problems = check_tls(&config, OffsetDateTime::now_utc());
    problems.extend(check_whitelist(&config.whitelist.path, Whitelist::parse));
    problems.extend(check_audit_log(&config.logging.audit_log));
    problems.extend(check_directory(
        "jobs.storage_path",
        &config.jobs.storage_path,
    ));
    problems
}

/// Prints one line per problem and a summary to stdout; returns the exit code
/// (0 without errors, warnings allowed; 3 with errors).
pub fn print_report(problems: &[Problem]) -> i32 {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    // A closed stdout must not turn an invalid config into a success, so the code stands.
    let _ = write_report(&mut out, problems);
    exit_code(problems)
}

/// Writes the report lines and the summary.
fn write_report(out: &mut impl Write, problems: &[Problem]) -> std::io::Result<()> {
    for problem in problems {
        writeln!(out, "{problem}")?;
    }
    writeln!(out, "{}", summary(problems))
}

/// 0 when there is no error, 3 otherwise.
fn exit_code(problems: &[Problem]) -> i32 {
    if count(problems, Severity::Error) == 0 {
        crate::cli::EXIT_OK
    } else {
        crate::cli::EXIT_CONFIG
    }
}

/// How many problems have this severity.
fn count(problems: &[Problem], severity: Severity) -> usize {
    problems.iter().filter(|p| p.severity == severity).count()
}

/// The last line of the report.
fn summary(problems: &[Problem]) -> String {
    let errors = count(problems, Severity::Error);
    let warnings = count(problems, Severity::Warning);
    match (errors, warnings) {
        (0, 0) => "configuration OK".to_string(),
        (0, w) => format!("configuration OK, {}", plural(w, "warning")),
        (e, w) => format!(
            "configuration invalid: {}, {}",
            plural(e, "error"),
            plural(w, "warning")
        ),
    }
}

/// "1 error", "2 errors".
fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// The certificate checks of the TLS layer, as problems.
fn check_tls(config: &Config, now: OffsetDateTime) -> Vec<Problem> {
    crate::http::tls::check_files(&config.tls_paths(), now)
        .iter()
        .map(|line| tls_problem(line))
        .collect()
}

/// A TLS check line: `warning:` prefix = warning, anything else = error.
fn tls_problem(line: &str) -> Problem {
    if let Some(rest) = line.strip_prefix("warning:") {
        Problem::warning(rest.trim_start())
    } else {
        let rest = line.strip_prefix("error:").unwrap_or(line);
        Problem::error(rest.trim_start())
    }
}

/// The whitelist: missing or empty means nobody may connect (a warning, since that is a
/// safe state an operator may want before enrollment); unreadable or invalid is an error.
fn check_whitelist(
    path: &Path,
    parse: impl Fn(&str) -> Result<Vec<IpNet>, String>,
) -> Option<Problem> {
    let shown = path.display();
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Some(Problem::warning(format!(
                "whitelist {shown} does not exist: every connection will be refused (deny all)"
            )))
        }
        Err(e) => return Some(Problem::error(format!("whitelist {shown}: {e}"))),
    };
    if is_blank_yaml(&text) {
        return Some(Problem::warning(format!(
            "whitelist {shown} is empty: every connection will be refused (deny all)"
        )));
    }
    match parse(&text) {
        Err(message) => Some(Problem::error(format!("whitelist {shown}: {message}"))),
        Ok(nets) if nets.is_empty() => Some(Problem::warning(format!(
            "whitelist {shown} allows no address: every connection will be refused (deny all)"
        ))),
        Ok(_) => None,
    }
}

/// Whether YAML text holds nothing but whitespace and comments.
fn is_blank_yaml(text: &str) -> bool {
    matches!(
        serde_yaml_ng::from_str::<serde_yaml_ng::Value>(text),
        Ok(serde_yaml_ng::Value::Null)
    )
}

/// The audit log must not be a directory, and its directory must exist or be creatable.
fn check_audit_log(audit_log: &Path) -> Option<Problem> {
    if audit_log.is_dir() {
        return Some(Problem::warning(format!(
            "logging.audit_log: {} is a directory, not a file",
            audit_log.display()
        )));
    }
    let dir = audit_log.parent()?;
    check_directory("logging.audit_log", dir)
}

/// A directory the agent writes into: fine if it exists, or if its nearest existing
/// ancestor is a directory we may create entries in.
fn check_directory(key: &str, dir: &Path) -> Option<Problem> {
    let shown = dir.display();
    if dir.is_dir() {
        return None;
    }
    if dir.exists() {
        return Some(Problem::warning(format!(
            "{key}: {shown} exists but is not a directory"
        )));
    }
    let ancestor = dir.ancestors().skip(1).find(|a| a.exists())?;
    if !ancestor.is_dir() {
        return Some(Problem::warning(format!(
            "{key}: {shown} cannot be created: {} is not a directory",
            ancestor.display()
        )));
    }
    if !may_create_in(ancestor) {
        return Some(Problem::warning(format!(
            "{key}: {shown} does not exist and cannot be created: {} is not writable",
            ancestor.display()
        )));
    }
    None
}

/// Whether this process may create entries in `dir` (write and search permission; also
/// false on a read-only file system).
fn may_create_in(dir: &Path) -> bool {
    let Ok(c_path) = CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: c_path is a valid NUL-terminated string that outlives the call; access(2)
    // only reads it.
    unsafe { libc::access(c_path.as_ptr(), libc::W_OK | libc::X_OK) == 0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// A scratch directory removed at the end of the test.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            let dir = std::env::temp_dir().join(format!("lpa-check-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }

        fn write(&self, name: &str, text: &str) -> PathBuf {
            let path = self.0.join(name);
            std::fs::write(&path, text).unwrap();
            path
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn net() -> IpNet {
        IpNet {
            addr: "127.0.0.1".parse().unwrap(),
            prefix: 32,
        }
    }

    fn errors(problems: &[Problem]) -> Vec<&Problem> {
        problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
            .collect()
    }

    /// CA, server certificate and key as PEM, like the TLS layer expects.
    fn write_certs(dir: &TempDir) {
        use rcgen::{
            BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
        };
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params.signed_by(&key, &issuer).unwrap();
        dir.write("ca.pem", &ca_cert.pem());
        dir.write("server.pem", &cert.pem());
        dir.write("server.key.pem", &key.serialize_pem());
    }

    #[test]
    fn invalid_config_lists_every_key_error() {
        let dir = TempDir::new("invalid");
        let path = dir.write("config.yaml", "server:\n  port: 0\n  prot: 1\n");
        let problems = check_config(&path);
        let lines: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(
            lines,
            [
                "error: server.prot: unknown key",
                "error: server.port: must be 1-65535, got 0"
            ]
        );
        assert_eq!(exit_code(&problems), 3);
    }

    #[test]
    fn missing_config_file_is_an_error() {
        let dir = TempDir::new("missing");
        let problems = check_config(&dir.0.join("nope.yaml"));
        assert_eq!(errors(&problems).len(), 1);
        assert!(problems[0].message.contains("nope.yaml"));
    }

    #[test]
    fn valid_config_without_whitelist_only_warns() {
        let dir = TempDir::new("valid");
        write_certs(&dir);
        let config =
            "tls:\n  ca_cert: ca.pem\n  server_cert: server.pem\n  server_key: server.key.pem\n\
                      whitelist:\n  path: whitelist.yaml\n\
                      logging:\n  audit_log: log/audit.log\njobs:\n  storage_path: state/jobs\n";
        let path = dir.write("config.yaml", config);
        let problems = check_config(&path);
        assert!(errors(&problems).is_empty(), "{problems:?}");
        assert!(
            problems
                .iter()
                .any(|p| p.severity == Severity::Warning && p.message.contains("deny all")),
            "{problems:?}"
        );
        assert_eq!(exit_code(&problems), 0);
    }

    #[test]
    fn tls_lines_become_problems() {
        assert_eq!(
            tls_problem("warning: CRL is stale"),
            Problem::warning("CRL is stale")
        );
        assert_eq!(
            tls_problem("ca.pem: no such file"),
            Problem::error("ca.pem: no such file")
        );
        assert_eq!(tls_problem("error: bad key"), Problem::error("bad key"));
    }

    #[test]
    fn whitelist_missing_empty_invalid_and_valid() {
        let dir = TempDir::new("whitelist");
        let never = |_: &str| -> Result<Vec<IpNet>, String> { panic!("must not parse") };
        let missing = check_whitelist(&dir.0.join("none.yaml"), never).unwrap();
        assert_eq!(missing.severity, Severity::Warning);
        assert!(missing.message.contains("deny all"));

        let empty = dir.write("empty.yaml", "# nobody yet\n\n");
        let problem = check_whitelist(&empty, never).unwrap();
        assert_eq!(problem.severity, Severity::Warning);
        assert!(problem.message.contains("is empty"));

        let file = dir.write("wl.yaml", "allowed: [x]\n");
        let invalid = check_whitelist(&file, |_| Err("bad entry \"x\"".into())).unwrap();
        assert_eq!(invalid.severity, Severity::Error);
        assert!(invalid.message.ends_with("wl.yaml: bad entry \"x\""));

        let nothing = check_whitelist(&file, |_| Ok(Vec::new())).unwrap();
        assert_eq!(nothing.severity, Severity::Warning);

        assert_eq!(check_whitelist(&file, |_| Ok(vec![net()])), None);
    }

    #[test]
    fn directories_must_exist_or_be_creatable() {
        let dir = TempDir::new("dirs");
        assert_eq!(check_directory("k", &dir.0), None);
        assert_eq!(check_directory("k", &dir.0.join("a/b/c")), None);

        let file = dir.write("plain", "x");
        let under_file = check_directory("jobs.storage_path", &file.join("jobs")).unwrap();
        assert_eq!(under_file.severity, Severity::Warning);
        assert!(under_file.message.starts_with("jobs.storage_path: "));
        assert!(under_file.message.contains("is not a directory"));

        let is_file = check_directory("k", &file).unwrap();
        assert!(is_file.message.contains("exists but is not a directory"));

        let audit_is_dir = check_audit_log(&dir.0).unwrap();
        assert!(audit_is_dir.message.contains("is a directory"));
        assert_eq!(check_audit_log(&dir.0.join("logs/audit.log")), None);
    }

    #[test]
    fn report_lines_summary_and_exit_code() {
        let render = |problems: &[Problem]| {
            let mut out = Vec::new();
            write_report(&mut out, problems).unwrap();
            String::from_utf8(out).unwrap()
        };
        assert_eq!(render(&[]), "configuration OK\n");
        assert_eq!(exit_code(&[]), 0);

        let warned = [Problem::warning("w1")];
        assert_eq!(
            render(&warned),
            "warning: w1\nconfiguration OK, 1 warning\n"
        );
        assert_eq!(exit_code(&warned), 0);

        let failed = [
            Problem::error("e1"),
            Problem::error("e2"),
            Problem::warning("w"),
        ];
        assert_eq!(
            render(&failed),
            "error: e1\nerror: e2\nwarning: w\nconfiguration invalid: 2 errors, 1 warning\n"
        );
        assert_eq!(exit_code(&failed), 3);
    }
}
