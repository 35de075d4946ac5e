//! The glue to `updateinfo list` output: security entries by NEVRA (split by
//! [`crate::pkg::rpm::nevra`]). Separate because it is the advisory concern only.

use super::query::is_note;
use crate::pkg::rpm::nevra::split_nevra;
use crate::pkg::PkgError;

/// One line of `dnf updateinfo list`: an advisory that applies to an installed package.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpdateinfoEntry {
    /// Advisory id, e.g. `RHSA-2024:1234` or `LPA-2026-0001`.
    pub id: String,
    /// `security`, `bugfix`, `enhancement`, `newpackage` or `unknown`.
    pub kind: String,
    /// Severity of a security advisory (`Critical`, `Important`, `Moderate`, `Low`,
    /// `Unknown`); `None` for other kinds.
    pub severity: Option<String>,
    /// The fixed package as printed: `name-[E:]V-R.arch`.
    pub nevra: String,
    /// Its name.
    pub name: String,
    /// Its version `[E:]V-R`.
    pub version: String,
    /// Its architecture.
    pub arch: String,
}

/// Parses `dnf updateinfo list [--security]`: `ID TYPE NEVRA` per line, where TYPE is
/// `Severity/Sec.` for security advisories and the advisory type otherwise.
pub fn parse_updateinfo_list(out: &str) -> Result<Vec<UpdateinfoEntry>, PkgError> {
    let mut entries = Vec::new();
    for line in out.lines() {
        let tokens: Vec<&str> = line.split_whitespace().collect();
        if tokens.is_empty() || is_note(line.trim()) {
            continue;
        }
        let [id, label, nevra] = tokens[..] else {
            return Err(updateinfo_error(line));
        };
        let (kind, severity) = match label.strip_suffix("/Sec.") {
            Some(sev) => ("security".to_string(), Some(sev.to_string())),
            None => (label.to_ascii_lowercase(), None),
        };
        let (name, version, arch) = split_nevra(nevra).ok_or_else(|| updateinfo_error(line))?;
        entries.push(UpdateinfoEntry {
            id: id.to_string(),
            kind,
            severity,
            nevra: nevra.to_string(),
            name,
            version,
            arch,
        });
    }
    Ok(entries)
}

pub(super) fn updateinfo_error(line: &str) -> PkgError {
    PkgError::Parse {
        what: "dnf updateinfo list output".to_string(),
        message: format!("unexpected line {line:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UPDATEINFO_SEC: &str =
        include_str!("../../../tests/data/dnf/dnf-updateinfo-list-security.stdout");
    const UPDATEINFO_ALL: &str = include_str!("../../../tests/data/dnf/dnf-updateinfo-list.stdout");

    #[test]
    fn updateinfo_security_recorded() {
        let e = parse_updateinfo_list(UPDATEINFO_SEC).unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(e[1].id, "LPA-2026-0003");
        assert_eq!(
            e[..1],
            [UpdateinfoEntry {
                id: "LPA-2026-0001".into(),
                kind: "security".into(),
                severity: Some("Important".into()),
                nevra: "lpa-hello-2.0-1.noarch".into(),
                name: "lpa-hello".into(),
                version: "2.0-1".into(),
                arch: "noarch".into(),
            }]
        );
    }

    #[test]
    fn updateinfo_all_recorded() {
        let e = parse_updateinfo_list(UPDATEINFO_ALL).unwrap();
        assert_eq!(e.len(), 3);
        assert_eq!(e[2].id, "LPA-2026-0003");
        assert_eq!(e[2].severity.as_deref(), Some("Critical"));
        assert_eq!(e[1].id, "LPA-2026-0002");
        assert_eq!(e[1].kind, "bugfix");
        assert_eq!(e[1].severity, None);
        assert_eq!(e[1].name, "lpa-lib");
        assert_eq!(e[1].version, "1.1-1");
        assert!(parse_updateinfo_list("only two\n").is_err());
    }
}
