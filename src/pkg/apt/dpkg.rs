//! dpkg's database, read directly: the `status` file (RFC 822-like stanzas), dependency
//! relation fields, `info/<pkg>.list` file lists and machine-readable copyright files.
//!
//! Everything here is pure text handling so that it can be tested on recorded files.

/// One stanza: its fields in file order, multi-line values joined with `\n`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stanza {
    /// `(field name, value)`, the value without the leading space of continuation lines.
    pub fields: Vec<(String, String)>,
}

impl Stanza {
    /// The value of a field (field names compare case-insensitively, as in dpkg).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Why a control file could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControlError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong there.
    pub message: String,
}

impl std::fmt::Display for ControlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// Splits a control file (dpkg `status`, `available`, `Packages`) into stanzas.
///
/// Stanzas are separated by blank lines; a line starting with a space or tab continues the
/// previous field. A line that is neither a `Field: value` nor a continuation is an error,
/// because dpkg itself would refuse the file and guessing could misattribute packages.
pub fn parse_stanzas(text: &str) -> Result<Vec<Stanza>, ControlError> {
    let mut out = Vec::new();
    let mut cur = Stanza::default();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.trim().is_empty() {
            if !cur.fields.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            continue_field(&mut cur, line, i + 1)?;
            continue;
        }
        let (name, value) = line.split_once(':').ok_or_else(|| ControlError {
            line: i + 1,
            message: format!("expected `Field: value`, found {:?}", truncate(line, 60)),
        })?;
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(ControlError {
                line: i + 1,
                message: format!("bad field name {:?}", truncate(name, 60)),
            });
        }
        cur.fields
            .push((name.to_string(), value.trim().to_string()));
    }
    if !cur.fields.is_empty() {
        out.push(cur);
    }
    Ok(out)
}

fn continue_field(cur: &mut Stanza, line: &str, lineno: usize) -> Result<(), ControlError> {
    let Some((_, value)) = cur.fields.last_mut() else {
        return Err(ControlError {
            line: lineno,
            message: "continuation line before any field".to_string(),
        });
    };
    value.push('\n');
    // Only the first space is syntax; the rest is content (dpkg keeps it).
    value.push_str(line[1..].trim_end());
    Ok(())
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// The third word of `Status:` (dpkg's package state).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DpkgState {
    /// Not installed (no files, no conffiles).
    NotInstalled,
    /// Removed, conffiles left (`rc`).
    ConfigFiles,
    /// Installation started and did not finish.
    HalfInstalled,
    /// Unpacked, not configured.
    Unpacked,
    /// Configuration started and did not finish.
    HalfConfigured,
    /// Configured, waiting for another package's trigger processing.
    TriggersAwaited,
    /// Configured, its own triggers pending.
    TriggersPending,
    /// Fully installed.
    Installed,
}

impl DpkgState {
    /// Parses dpkg's spelling of the state.
    pub fn from_word(w: &str) -> Option<DpkgState> {
        Some(match w {
            "not-installed" => DpkgState::NotInstalled,
            "config-files" => DpkgState::ConfigFiles,
            "half-installed" => DpkgState::HalfInstalled,
            "unpacked" => DpkgState::Unpacked,
            "half-configured" => DpkgState::HalfConfigured,
            "triggers-awaited" => DpkgState::TriggersAwaited,
            "triggers-pending" => DpkgState::TriggersPending,
            "installed" => DpkgState::Installed,
            _ => return None,
        })
    }

    /// Whether the package counts as installed in the inventory: its files are in place and
    /// it has been configured (trigger states included: only trigger processing is pending,
    /// as `dpkg-query` shows them with `i`).
    pub fn counts_as_installed(self) -> bool {
        matches!(
            self,
            DpkgState::Installed | DpkgState::TriggersAwaited | DpkgState::TriggersPending
        )
    }

    /// Whether dpkg was interrupted in the middle of working on the package (needs
    /// `dpkg --configure -a` or a reinstall).
    pub fn is_unfinished(self) -> bool {
        matches!(
            self,
            DpkgState::HalfInstalled | DpkgState::Unpacked | DpkgState::HalfConfigured
        )
    }
}

/// One package entry of dpkg's status file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusEntry {
    /// `Package:`.
    pub name: String,
    /// `Architecture:`, when recorded.
    pub arch: Option<String>,
    /// `Version:`; `None` only for entries that are not installed.
    pub version: Option<String>,
    /// First word of `Status:` (`install`, `hold`, `deinstall`, `purge`, `unknown`).
    pub want: String,
    /// Second word of `Status:`: `ok` or `reinstreq` (must be reinstalled).
    pub flag: String,
    /// Third word of `Status:`.
    pub state: DpkgState,
    /// The whole stanza, for the other fields.
    pub stanza: Stanza,
}

impl StatusEntry {
    /// The package name qualified the way dpkg-query and apt print it: `name:arch` when the
    /// architecture is foreign (neither the native one nor `all`), else `name`.
    pub fn display_name(&self, native_arch: Option<&str>) -> String {
        match (self.arch.as_deref(), native_arch) {
            (Some(a), Some(n)) if a != "all" && a != n => format!("{}:{}", self.name, a),
            _ => self.name.clone(),
        }
    }

    /// The synopsis: the first line of `Description:`, "" when absent.
    pub fn summary(&self) -> String {
        self.stanza
            .get("Description")
            .and_then(|d| d.lines().next())
            .unwrap_or("")
            .trim()
            .to_string()
    }

    /// `Installed-Size:` (KiB) in bytes.
    pub fn size_bytes(&self) -> Option<u64> {
        self.stanza
            .get("Installed-Size")
            .and_then(|s| s.trim().parse::<u64>().ok())
            .and_then(|kib| kib.checked_mul(1024))
    }

    /// Relation groups of one field (`Depends`, `Pre-Depends`, ...), empty when absent.
    pub fn relations(&self, field: &str) -> Vec<Vec<Relation>> {
        self.stanza
            .get(field)
            .map(parse_relations)
            .unwrap_or_default()
    }

    /// Names in `Provides:` (virtual packages this one satisfies), versions dropped.
    pub fn provides(&self) -> Vec<String> {
        self.relations("Provides")
            .into_iter()
            .flatten()
            .map(|r| r.name)
            .collect()
    }
}

/// Parses dpkg's status file into entries, in file order.
pub fn parse_status(text: &str) -> Result<Vec<StatusEntry>, ControlError> {
    parse_stanzas(text)?.into_iter().map(status_entry).collect()
}

fn status_entry(stanza: Stanza) -> Result<StatusEntry, ControlError> {
    let fail = |message: String| ControlError { line: 0, message };
    let name = stanza
        .get("Package")
        .filter(|n| !n.is_empty())
        .ok_or_else(|| fail("stanza without Package".to_string()))?
        .to_string();
    let status = stanza
        .get("Status")
        .ok_or_else(|| fail(format!("{name}: no Status field")))?;
    let words: Vec<&str> = status.split_whitespace().collect();
    let [want, flag, state] = words[..] else {
        return Err(fail(format!(
            "{name}: Status is not three words: {status:?}"
        )));
    };
    let state = DpkgState::from_word(state)
        .ok_or_else(|| fail(format!("{name}: unknown package state {state:?}")))?;
    let version = stanza.get("Version").map(str::to_string);
    if version.is_none() && state != DpkgState::NotInstalled {
        return Err(fail(format!("{name}: no Version")));
    }
    Ok(StatusEntry {
        arch: stanza.get("Architecture").map(str::to_string),
        version,
        want: want.to_string(),
        flag: flag.to_string(),
        state,
        name,
        stanza,
    })
}

/// The native architecture, as recorded for the `dpkg` package itself (dpkg is always
/// built for the native architecture), so no process has to be asked.
pub fn native_arch(entries: &[StatusEntry]) -> Option<String> {
    entries
        .iter()
        .find(|e| e.name == "dpkg" && e.state.counts_as_installed())
        .and_then(|e| e.arch.clone())
}

/// One alternative of a relation: `name[:archqual] [(op version)]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Relation {
    /// Package name, without the architecture qualifier.
    pub name: String,
    /// Architecture qualifier after `:` (`any`, `native`, an arch), when written.
    pub arch_qualifier: Option<String>,
    /// Version constraint normalised to `OP VERSION` (e.g. `>= 1.0`), when written.
    pub constraint: Option<String>,
}

/// Parses a relation field (`a (>= 1), b | c:any`) into groups of alternatives.
///
/// Lenient on purpose: this is dpkg's own, already validated, database; an unparseable
/// alternative is kept as a bare name rather than failing the whole inventory.
pub fn parse_relations(field: &str) -> Vec<Vec<Relation>> {
    field
        .split(',')
        .map(|group| {
            group
                .split('|')
                .filter_map(parse_relation)
                .collect::<Vec<_>>()
        })
        .filter(|g| !g.is_empty())
        .collect()
}

fn parse_relation(text: &str) -> Option<Relation> {
    let text = text.trim();
    // Source-package syntax (`[arch]`, `<profile>`) never appears in binary fields, but
    // Packages files of some repositories carry it; ignore it rather than misname.
    let (head, constraint) = match text.split_once('(') {
        Some((h, rest)) => {
            let inner = rest.split(')').next().unwrap_or("");
            (h, normalise_constraint(inner))
        }
        None => (text, None),
    };
    let head = head.split(['[', '<']).next().unwrap_or("").trim();
    if head.is_empty() {
        return None;
    }
    let (name, arch_qualifier) = match head.split_once(':') {
        Some((n, a)) => (n.trim(), Some(a.trim().to_string())),
        None => (head, None),
    };
    Some(Relation {
        name: name.to_string(),
        arch_qualifier,
        constraint,
    })
}

fn normalise_constraint(inner: &str) -> Option<String> {
    let inner = inner.trim();
    let op_len = inner
        .find(|c: char| !matches!(c, '<' | '>' | '='))
        .unwrap_or(inner.len());
    let (op, version) = inner.split_at(op_len);
    let version = version.trim();
    match (op, version.is_empty()) {
        (_, true) => None,
        ("", false) => Some(format!("= {version}")),
        _ => Some(format!("{op} {version}")),
    }
}

/// The paths in an `info/<pkg>.list` file, without dpkg's `/.` root entry.
pub fn parse_file_list(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.is_empty() && *l != "/.")
        .map(str::to_string)
        .collect()
}

/// The first `License:` of a machine-readable `debian/copyright` (DEP-5); `None` for the
/// free-form copyright files most older packages still ship.
pub fn copyright_license(text: &str) -> Option<String> {
    let first = text.lines().next()?;
    if !first.starts_with("Format:") {
        return None;
    }
    text.lines()
        .filter_map(|l| l.strip_prefix("License:"))
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = include_str!("../../../tests/data/apt/status");
    const AFTER_REMOVE: &str = include_str!("../../../tests/data/apt/status-after-remove-lpa");
    const HELLO_LIST: &str = include_str!("../../../tests/data/apt/lpa-hello.list");

    fn entry<'a>(all: &'a [StatusEntry], name: &str) -> &'a StatusEntry {
        all.iter().find(|e| e.name == name).unwrap()
    }

    #[test]
    fn recorded_status_parses_every_stanza() {
        let all = parse_status(STATUS).unwrap();
        assert_eq!(all.len(), 204);
        assert_eq!(STATUS.matches("\nPackage: ").count() + 1, all.len());
        assert!(all.iter().all(|e| e.state == DpkgState::Installed));
        assert_eq!(native_arch(&all).as_deref(), Some("amd64"));
    }

    #[test]
    fn recorded_fixture_entry_has_every_field() {
        let all = parse_status(STATUS).unwrap();
        let hello = entry(&all, "lpa-hello");
        assert_eq!(hello.version.as_deref(), Some("1.0-1"));
        assert_eq!(hello.arch.as_deref(), Some("all"));
        assert_eq!(hello.want, "install");
        assert_eq!(hello.flag, "ok");
        assert_eq!(hello.summary(), "LPA fixture hello");
        assert_eq!(hello.size_bytes(), Some(9 * 1024));
        assert_eq!(
            hello.stanza.get("maintainer"),
            Some("LPA Tests <tests@lpa.invalid>")
        );
        assert_eq!(
            hello.stanza.get("Homepage"),
            Some("https://lpa.invalid/hello")
        );
        assert_eq!(
            hello.stanza.get("Description"),
            Some(
                "LPA fixture hello\nFixture package for the linux-patch-api test suite.\n.\n\
                 Version 1.0-1."
            )
        );
        assert_eq!(
            hello.stanza.get("Conffiles"),
            Some("\n/etc/lpa-hello.conf b82204a9bf9db4d79207bae65a1169c7")
        );
        assert_eq!(
            hello.relations("Depends"),
            vec![vec![Relation {
                name: "lpa-lib".into(),
                arch_qualifier: None,
                constraint: Some(">= 1.0".into()),
            }]]
        );
    }

    #[test]
    fn recorded_multiarch_and_foreign_names() {
        let all = parse_status(STATUS).unwrap();
        let libc = entry(&all, "libc6");
        assert_eq!(libc.stanza.get("Multi-Arch"), Some("same"));
        assert_eq!(libc.display_name(Some("amd64")), "libc6");
        assert_eq!(libc.display_name(Some("i386")), "libc6:amd64");
        assert_eq!(
            entry(&all, "lpa-tool").display_name(Some("i386")),
            "lpa-tool"
        );
    }

    #[test]
    fn recorded_relations_with_alternatives_and_qualifiers() {
        let all = parse_status(STATUS).unwrap();
        let apt = entry(&all, "apt");
        let groups = apt.relations("Depends");
        let gpgv: Vec<&str> = groups[1].iter().map(|r| r.name.as_str()).collect();
        assert_eq!(gpgv, ["gpgv", "gpgv2", "gpgv1"]);
        assert_eq!(groups[2][0].name, "libapt-pkg6.0");
        assert_eq!(groups[2][0].constraint.as_deref(), Some(">= 2.6.2"));
        assert_eq!(apt.provides(), ["apt-transport-https"]);
        let dnf = entry(&all, "dnf");
        let first = &dnf.relations("Depends")[0][0];
        assert_eq!(first.name, "python3");
        assert_eq!(first.arch_qualifier.as_deref(), Some("any"));
        assert_eq!(first.constraint, None);
    }

    #[test]
    fn recorded_config_files_state_is_not_installed() {
        let all = parse_status(AFTER_REMOVE).unwrap();
        let states: Vec<(&str, DpkgState)> =
            all.iter().map(|e| (e.name.as_str(), e.state)).collect();
        assert_eq!(
            states,
            [
                ("lpa-hello", DpkgState::ConfigFiles),
                ("lpa-lib", DpkgState::Installed),
                ("lpa-tool", DpkgState::Installed),
            ]
        );
        assert_eq!(all[0].want, "deinstall");
        assert!(!all[0].state.counts_as_installed());
        assert_eq!(all[0].stanza.get("Config-Version"), Some("1.0-1"));
    }

    #[test]
    fn recorded_file_list_drops_root_marker() {
        assert_eq!(
            parse_file_list(HELLO_LIST),
            [
                "/etc",
                "/etc/lpa-hello.conf",
                "/usr",
                "/usr/bin",
                "/usr/bin/lpa-hello",
                "/usr/share",
                "/usr/share/doc",
                "/usr/share/doc/lpa-hello",
                "/usr/share/doc/lpa-hello/copyright",
            ]
        );
    }

    #[test]
    fn states_and_their_classes() {
        for (w, inst, unfinished) in [
            ("installed", true, false),
            ("triggers-pending", true, false),
            ("triggers-awaited", true, false),
            ("half-configured", false, true),
            ("unpacked", false, true),
            ("half-installed", false, true),
            ("config-files", false, false),
            ("not-installed", false, false),
        ] {
            let s = DpkgState::from_word(w).unwrap();
            assert_eq!(s.counts_as_installed(), inst, "{w}");
            assert_eq!(s.is_unfinished(), unfinished, "{w}");
        }
        assert_eq!(DpkgState::from_word("bogus"), None);
    }

    #[test]
    fn malformed_status_is_an_error_with_a_line() {
        let e = parse_stanzas("Package: a\nthis is junk\n").unwrap_err();
        assert_eq!(e.line, 2);
        let e = parse_stanzas(" leading continuation\n").unwrap_err();
        assert_eq!(e.line, 1);
        let e = parse_status("Package: a\nStatus: install ok\nVersion: 1\n").unwrap_err();
        assert!(e.message.contains("three words"), "{e}");
        let e = parse_status("Package: a\nStatus: install ok installed\n").unwrap_err();
        assert!(e.message.contains("no Version"), "{e}");
        let e = parse_status("Status: install ok installed\nVersion: 1\n").unwrap_err();
        assert!(e.message.contains("without Package"), "{e}");
    }

    #[test]
    fn not_installed_entries_may_lack_a_version_and_crlf_is_tolerated() {
        let all = parse_status("Package: gone\r\nStatus: purge ok not-installed\r\n\r\n").unwrap();
        assert_eq!(all[0].state, DpkgState::NotInstalled);
        assert_eq!(all[0].version, None);
        assert_eq!(all[0].want, "purge");
    }

    #[test]
    fn foreign_arch_is_qualified() {
        let all = parse_status(
            "Package: libfoo\nStatus: install ok installed\nArchitecture: i386\nVersion: 1\n\n\
             Package: libfoo\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1\n",
        )
        .unwrap();
        let names: Vec<String> = all.iter().map(|e| e.display_name(Some("amd64"))).collect();
        assert_eq!(names, ["libfoo:i386", "libfoo"]);
        assert_eq!(all[0].display_name(None), "libfoo");
    }

    #[test]
    fn relation_syntax_variants() {
        let r = parse_relations(
            "a(>=1.0), b (<< 2:3~rc1) | c:i386 (= 4), d [amd64], , e (1.2) <!nocheck>",
        );
        let flat: Vec<(&str, Option<&str>, Option<&str>)> = r
            .iter()
            .flatten()
            .map(|x| {
                (
                    x.name.as_str(),
                    x.arch_qualifier.as_deref(),
                    x.constraint.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            flat,
            [
                ("a", None, Some(">= 1.0")),
                ("b", None, Some("<< 2:3~rc1")),
                ("c", Some("i386"), Some("= 4")),
                ("d", None, None),
                ("e", None, Some("= 1.2")),
            ]
        );
        assert_eq!(r.len(), 4);
        assert_eq!(r[1].len(), 2);
        assert!(parse_relations("").is_empty());
    }

    #[test]
    fn sizes_and_summaries_when_absent_or_bad() {
        let all = parse_status(
            "Package: x\nStatus: install ok installed\nVersion: 1\nInstalled-Size: lots\n",
        )
        .unwrap();
        assert_eq!(all[0].size_bytes(), None);
        assert_eq!(all[0].summary(), "");
        assert!(all[0].provides().is_empty());
    }

    #[test]
    fn license_only_from_machine_readable_copyright() {
        let dep5 = "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\
                    Upstream-Name: x\n\nFiles: *\nCopyright: 2026 X\nLicense: MIT\n\n\
                    Files: debian/*\nLicense: GPL-2+\n";
        assert_eq!(copyright_license(dep5).as_deref(), Some("MIT"));
        assert_eq!(
            copyright_license("This is free software.\nLicense: GPL\n"),
            None
        );
        assert_eq!(copyright_license(""), None);
    }
}
