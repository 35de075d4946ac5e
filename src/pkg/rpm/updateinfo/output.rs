//! What dnf 4 and yum 3 print: `updateinfo list` (advisory, type, fixed NEVRA per line)
//! and `updateinfo info` (one block per advisory).

use crate::pkg::rpm::nevra::split_nevra;
use crate::pkg::PkgError;

/// One line of `updateinfo list`: an advisory that fixes one package.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListEntry {
    /// Advisory id, e.g. `RHSA-2024:1234` or `LPA-2026-0001`.
    pub id: String,
    /// `security`, `bugfix`, `enhancement`, `newpackage` or `unknown`.
    pub kind: String,
    /// Severity of a security advisory; `None` for other kinds.
    pub severity: Option<String>,
    /// Package name.
    pub name: String,
    /// The fixed version `[E:]V-R`.
    pub version: String,
    /// Its architecture.
    pub arch: String,
}

/// One advisory block of `updateinfo info` (dnf 4 `Key: value`, yum 3 `Key : value`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InfoBlock {
    /// Advisory id ("Update ID").
    pub id: String,
    /// The title between the `=====` rules.
    pub title: String,
    /// "Type", lower-cased.
    pub kind: String,
    /// "Severity" as printed (`None` when absent).
    pub severity: Option<String>,
    /// "Issued" (yum only).
    pub issued: Option<String>,
    /// "Updated".
    pub updated: Option<String>,
    /// "CVEs", one per line.
    pub cves: Vec<String>,
    /// "Description", its lines joined with `\n`.
    pub description: String,
}

/// Parses `updateinfo info` output of dnf 4 or yum 3.
pub fn parse_info(out: &str) -> Vec<InfoBlock> {
    let mut blocks = Vec::new();
    let mut current: Option<InfoBlock> = None;
    let mut in_header = false;
    let mut last_key = String::new();
    for line in out.lines() {
        let t = line.trim();
        if t.len() >= 10 && t.chars().all(|c| c == '=') {
            if !in_header {
                blocks.extend(current.take().filter(|b| !b.id.is_empty()));
                current = Some(InfoBlock::default());
                last_key.clear();
            }
            in_header = !in_header;
            continue;
        }
        let Some(block) = current.as_mut() else {
            continue;
        };
        if in_header {
            if !t.is_empty() {
                block.title = t.to_string();
            }
            continue;
        }
        info_line(block, t, &mut last_key);
    }
    blocks.extend(current.filter(|b| !b.id.is_empty()));
    blocks
}

/// One `Key: value` (or `: continuation`) line of an info block.
fn info_line(block: &mut InfoBlock, line: &str, last_key: &mut String) {
    let Some((key, value)) = line.split_once(':') else {
        return;
    };
    let (key, value) = (key.trim(), value.trim());
    if !key.is_empty() {
        *last_key = key.to_string();
    }
    match last_key.as_str() {
        "Update ID" => block.id = value.to_string(),
        "Type" => block.kind = value.to_ascii_lowercase(),
        "Severity" => block.severity = Some(value.to_string()),
        "Issued" => block.issued = Some(value.to_string()),
        "Updated" => {
            // yum 3 prints "Updated" without a line end, so the next field may follow
            // on the same line after a run of blanks.
            let (date, rest) = value.split_once("   ").unwrap_or((value, ""));
            block.updated = Some(date.trim().to_string());
            if !rest.trim().is_empty() {
                info_line(block, rest.trim(), last_key);
            }
        }
        "CVEs" if !value.is_empty() => block.cves.push(value.to_string()),
        "Description" => {
            if !block.description.is_empty() || key.is_empty() {
                block.description.push('\n');
            }
            block.description.push_str(value);
            block.description = block.description.trim_start().to_string();
        }
        _ => {}
    }
}

/// Parses `updateinfo list` output (`ID TYPE NEVRA` per line, TYPE being `Severity/Sec.`
/// for security advisories); notes and yum's "updateinfo list done" trailer are skipped.
pub fn parse_list(out: &str) -> Result<Vec<ListEntry>, PkgError> {
    let mut entries = Vec::new();
    for line in out.lines() {
        let t = line.trim();
        let tokens: Vec<&str> = t.split_whitespace().collect();
        if tokens.is_empty() || is_list_note(t) {
            continue;
        }
        // dnf's `--all` marks installed ones with a leading `i`.
        let tokens = match tokens[..] {
            ["i", _, _, _] => &tokens[1..],
            _ => &tokens[..],
        };
        let [id, label, nevra] = tokens[..] else {
            return Err(list_error(line));
        };
        let (kind, severity) = match label.strip_suffix("/Sec.") {
            Some(sev) => ("security".to_string(), Some(sev.to_string())),
            None => (label.to_ascii_lowercase(), None),
        };
        let (name, version, arch) = split_nevra(nevra).ok_or_else(|| list_error(line))?;
        entries.push(ListEntry {
            id: id.to_string(),
            kind,
            severity,
            name,
            version,
            arch,
        });
    }
    Ok(entries)
}

fn is_list_note(line: &str) -> bool {
    const NOTES: [&str; 6] = [
        "Loaded plugins:",
        "Loading mirror speeds",
        "Last metadata expiration check",
        "updateinfo ",
        "This system is not registered",
        "* ",
    ];
    NOTES.iter().any(|n| line.starts_with(n))
}

fn list_error(line: &str) -> PkgError {
    PkgError::Parse {
        what: "updateinfo list output".to_string(),
        message: format!("unexpected line {line:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST: &str =
        include_str!("../../../../tests/data/dnf/dnf-updateinfo-list-updates.stdout");
    const INFO: &str =
        include_str!("../../../../tests/data/dnf/dnf-updateinfo-info-updates.stdout");
    // Typed from yum 3.4.3's source, NOT recorded (tests/data/yum/README.md).
    const YUM_LIST: &str =
        include_str!("../../../../tests/data/yum/updateinfo-list-updates.stdout");
    const YUM_INFO: &str =
        include_str!("../../../../tests/data/yum/updateinfo-info-updates.stdout");

    #[test]
    fn list_recorded() {
        let l = parse_list(LIST).unwrap();
        assert_eq!(l.len(), 3);
        assert_eq!(
            l[2],
            ListEntry {
                id: "LPA-2026-0003".into(),
                kind: "security".into(),
                severity: Some("Critical".into()),
                name: "lpa-lib".into(),
                version: "1.1-1".into(),
                arch: "noarch".into(),
            }
        );
        assert_eq!(l[1].kind, "bugfix");
        assert_eq!(l[1].severity, None);
        assert!(parse_list("only two\n").is_err());
        let all = parse_list("i LPA-1 bugfix a-1-1.noarch\n  LPA-2 bugfix b-1-1.noarch\n").unwrap();
        assert_eq!((all[0].id.as_str(), all[1].name.as_str()), ("LPA-1", "b"));
    }

    #[test]
    fn info_recorded() {
        let b = parse_info(INFO);
        assert_eq!(b.len(), 3, "{b:#?}");
        let crit = b.iter().find(|b| b.id == "LPA-2026-0003").unwrap();
        assert_eq!(crit.title, "Critical: lpa-lib security update");
        assert_eq!(crit.kind, "security");
        assert_eq!(crit.severity.as_deref(), Some("Critical"));
        assert_eq!(crit.cves, ["CVE-2026-0002", "CVE-2026-0003"]);
        assert_eq!(crit.updated.as_deref(), Some("2026-01-20 00:00:00"));
        assert!(crit.description.starts_with("lpa-lib 1.1-1 fixes two"));
        assert!(crit.description.ends_with("a reboot is suggested."));
        let bugfix = b.iter().find(|b| b.id == "LPA-2026-0002").unwrap();
        assert_eq!(bugfix.severity.as_deref(), Some("None"));
        assert!(bugfix.cves.is_empty());
    }

    #[test]
    fn yum_typed_output() {
        let l = parse_list(YUM_LIST).unwrap();
        assert_eq!(l.len(), 3, "{l:#?}");
        assert_eq!(l[0].id, "RHSA-2024:1234");
        assert_eq!(l[0].severity.as_deref(), Some("Important"));
        assert_eq!(l[0].version, "3.10.0-1160.119.1.el7");
        let b = parse_info(YUM_INFO);
        assert_eq!(b.len(), 2, "{b:#?}");
        assert_eq!(b[0].id, "RHSA-2024:1234");
        assert_eq!(b[0].issued.as_deref(), Some("2024-04-24 00:00:00"));
        assert_eq!(b[0].updated.as_deref(), Some("2024-04-25 00:00:00"));
        assert_eq!(b[0].cves, ["CVE-2023-52434", "CVE-2024-26602"]);
        assert_eq!(b[0].severity.as_deref(), Some("Important"));
        assert!(b[0].description.contains("The kernel packages contain"));
        assert!(b[0].description.contains("\n"));
        assert_eq!(b[1].kind, "bugfix");
        assert_eq!(b[1].updated, None);
    }
}
