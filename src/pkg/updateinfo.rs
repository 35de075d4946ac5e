//! rpm-md advisories (`updateinfo`) for dnf and yum, and the rpm family's kernel-based
//! reboot check.
//!
//! What dnf prints is the primary source: `updateinfo list --updates` maps each advisory
//! to the upgradable packages it fixes, and `updateinfo info --updates` gives its title,
//! type, severity, CVE ids and description. Neither prints `reboot_suggested` nor the
//! issued date (dnf 4.14 shows only "Updated"; verified in its source and output,
//! `tests/data/dnf/`), so those two come from the repository's `updateinfo.xml` in the
//! tool's metadata cache under the managed root. An uncompressed file is read directly;
//! a compressed one (createrepo_c/modifyrepo_c compress with gzip by default, Fedora uses
//! xz/zstd) is piped through the system's `gzip`/`xz`/`bzip2`/`zstd -dc`, because the
//! crate has no decompression library. When the tool is missing or the file is gone, the
//! advisory still lists with everything dnf printed, `requires_reboot` false and the
//! "Updated" date as `published`, and a warning is logged.
//!
//! yum 3 (RHEL 7) could not be run here: its `updateinfo` text and cache layout
//! (`/var/cache/yum/.../gen/updateinfo.xml`, decompressed by yum itself) follow yum
//! 3.4.3's source and are tested on typed samples only (`tests/data/yum/README.md`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use time::OffsetDateTime;

use super::advisories::{self, Advisory, AdvisoryKind, AffectedPackage, RebootRequired, Severity};
use super::dnf::split_nevra;
use super::rpmdb;
use super::runner::{self, Command, Finished};
use super::zypper::xml;
use super::{version, BackendSettings, PkgError, Upgrade};

/// The `severity_source` of advisories read from updateinfo.
pub const SOURCE: &str = "updateinfo";

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

/// One `<update>` of an `updateinfo.xml`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Notice {
    /// `<id>`.
    pub id: String,
    /// The `type` attribute.
    pub kind: String,
    /// `<title>`.
    pub title: String,
    /// `<severity>`, when present.
    pub severity: Option<String>,
    /// `<description>`.
    pub description: String,
    /// `<issued date>`.
    pub issued: Option<String>,
    /// CVE references.
    pub cves: Vec<String>,
    /// Packages as `(name, [E:]V-R, arch)`.
    pub packages: Vec<(String, String, String)>,
    /// Whether any `<reboot_suggested>` says `True`/`true`/`1` (libsolv's reading).
    pub reboot_suggested: bool,
}

/// Parses an rpm-md `updateinfo.xml`.
pub fn parse_xml(text: &str) -> Result<Vec<Notice>, PkgError> {
    let doc = xml::parse(text).map_err(|message| PkgError::Parse {
        what: "updateinfo.xml".to_string(),
        message,
    })?;
    let mut notices = Vec::new();
    for u in doc.descendants("update") {
        let text = |name: &str| u.child(name).map(|c| c.text()).unwrap_or_default();
        let id = text("id");
        if id.is_empty() {
            continue;
        }
        let severity = Some(text("severity")).filter(|s| !s.is_empty());
        let cves = u
            .descendants("reference")
            .filter(|r| r.attr("type") == Some("cve"))
            .filter_map(|r| r.attr("id").map(str::to_string))
            .collect();
        let packages = u
            .descendants("package")
            .filter_map(|p| {
                let v = rpmdb::render_version(
                    p.attr("epoch").unwrap_or(""),
                    p.attr("version")?,
                    p.attr("release").unwrap_or(""),
                );
                Some((p.attr("name")?.to_string(), v, p.attr("arch")?.to_string()))
            })
            .collect();
        let reboot_suggested = u
            .descendants("reboot_suggested")
            .any(|r| matches!(r.text().as_str(), "True" | "true" | "1"));
        notices.push(Notice {
            id,
            kind: u.attr("type").unwrap_or("").to_string(),
            title: text("title"),
            severity,
            description: text("description"),
            issued: u
                .child("issued")
                .and_then(|i| i.attr("date"))
                .map(str::to_string),
            cves,
            packages,
            reboot_suggested,
        });
    }
    Ok(notices)
}

/// The `updateinfo` location (`repodata/...`) named by a `repomd.xml`.
pub fn repomd_updateinfo(text: &str) -> Option<String> {
    let doc = xml::parse(text).ok()?;
    let data = doc
        .descendants("data")
        .find(|d| d.attr("type") == Some("updateinfo"))?;
    data.child("location")?.attr("href").map(str::to_string)
}

/// Parses an advisory date: `YYYY-MM-DD[ HH:MM:SS]` (UTC, as createrepo and Red Hat
/// write it) or seconds since the epoch (as SUSE and some tools write it).
pub fn parse_date(s: &str) -> Option<OffsetDateTime> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return OffsetDateTime::from_unix_timestamp(s.parse().ok()?).ok();
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<u32>().ok();
    let date = time::Date::from_calendar_date(
        num(0..4)? as i32,
        time::Month::try_from(num(5..7)? as u8).ok()?,
        num(8..10)? as u8,
    )
    .ok()?;
    let clock = if s.len() >= 19 {
        time::Time::from_hms(num(11..13)? as u8, num(14..16)? as u8, num(17..19)? as u8).ok()?
    } else {
        time::Time::MIDNIGHT
    };
    Some(date.with_time(clock).assume_utc())
}

/// The updateinfo files of dnf's (or yum's) metadata cache under `root`, oldest first so
/// that a newer copy of the same advisory wins.
pub fn cached_files(root: &Path, yum: bool) -> Vec<PathBuf> {
    let mut found: Vec<(Option<std::time::SystemTime>, PathBuf)> = Vec::new();
    if yum {
        find_yum_gen(&root.join("var/cache/yum"), 0, &mut found);
    } else if let Ok(dirs) = std::fs::read_dir(root.join("var/cache/dnf")) {
        for dir in dirs.filter_map(Result::ok).map(|d| d.path()) {
            let repomd = dir.join("repodata/repomd.xml");
            let Ok(text) = std::fs::read_to_string(&repomd) else {
                continue;
            };
            if let Some(href) = repomd_updateinfo(&text) {
                found.push((mtime(&repomd), dir.join(href)));
            }
        }
    }
    found.sort();
    found.into_iter().map(|(_, p)| p).collect()
}

fn mtime(p: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// yum 3 keeps `<cachedir>/<basearch>/<releasever>/<repo>/gen/updateinfo.xml`.
fn find_yum_gen(
    dir: &Path,
    depth: usize,
    found: &mut Vec<(Option<std::time::SystemTime>, PathBuf)>,
) {
    let candidate = dir.join("gen/updateinfo.xml");
    if candidate.is_file() {
        found.push((mtime(&candidate), candidate));
    }
    if depth >= 4 {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.filter_map(Result::ok) {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            find_yum_gen(&e.path(), depth + 1, found);
        }
    }
}

/// The system tool that decompresses `path`, by its suffix; `None` for plain XML.
pub fn decompressor(path: &Path) -> Option<&'static str> {
    let name = path.file_name()?.to_str()?;
    [
        (".gz", "gzip"),
        (".xz", "xz"),
        (".bz2", "bzip2"),
        (".zst", "zstd"),
    ]
    .into_iter()
    .find(|(suffix, _)| name.ends_with(suffix))
    .map(|(_, tool)| tool)
}

/// Reads one updateinfo file, decompressing with the system tool where needed.
fn read_file(path: &Path, timeout: Duration) -> Result<String, String> {
    let Some(tool) = decompressor(path) else {
        return std::fs::read_to_string(path).map_err(|e| e.to_string());
    };
    let cmd = Command::new(tool)
        .args(["-dc", "--"])
        .arg(path.as_os_str())
        .timeout(timeout);
    match runner::capture(&cmd) {
        Ok(f) if f.code == Some(0) => Ok(f.stdout),
        Ok(f) => Err(format!(
            "{} exited with {:?}: {}",
            cmd.display(),
            f.code,
            f.stderr.trim()
        )),
        Err(e) => Err(format!("{}: {e:?}", cmd.display())),
    }
}

/// Every cached notice by id (later files win); unreadable files are logged and skipped.
pub fn cached_notices(settings: &BackendSettings, yum: bool) -> HashMap<String, Notice> {
    let mut notices = HashMap::new();
    for path in cached_files(&settings.root, yum) {
        let parsed = read_file(&path, settings.command_timeout)
            .and_then(|t| parse_xml(&t).map_err(|e| e.to_string()));
        match parsed {
            Ok(list) => notices.extend(list.into_iter().map(|n| (n.id.clone(), n))),
            Err(e) => log::warn!(
                "updateinfo {}: {e}; reboot_suggested and issued dates of its advisories are unknown",
                path.display()
            ),
        }
    }
    notices
}

/// The advisory kind of an updateinfo type.
pub fn kind_of(kind: &str) -> AdvisoryKind {
    match kind {
        "security" => AdvisoryKind::Security,
        "bugfix" => AdvisoryKind::Bugfix,
        "enhancement" => AdvisoryKind::Enhancement,
        _ => AdvisoryKind::Other,
    }
}

/// Joins what dnf listed and printed with the cached notices into patches over
/// `upgrades`: one per advisory fixing a package upgradable here (the fixed version newer
/// than the installed one), then one plain patch per upgrade no advisory covers.
pub fn build(
    list: &[ListEntry],
    info: &[InfoBlock],
    notices: &HashMap<String, Notice>,
    upgrades: &[Upgrade],
) -> Vec<Advisory> {
    let mut out: Vec<Advisory> = Vec::new();
    for e in list {
        let Some(u) = upgrades
            .iter()
            .find(|u| u.name == e.name && u.arch.as_deref().is_none_or(|a| a == e.arch))
        else {
            continue;
        };
        if version::rpm(&e.version, &u.current_version).is_le() {
            continue;
        }
        let package = AffectedPackage {
            name: u.name.clone(),
            current_version: u.current_version.clone(),
            available_version: e.version.clone(),
            arch: Some(e.arch.clone()),
        };
        match out.iter_mut().find(|a| a.id == e.id) {
            Some(a) => add_package(a, package),
            None => out.push(advisory(e, info, notices.get(&e.id), package)),
        }
    }
    advisories::with_uncovered(out, upgrades)
}

fn add_package(a: &mut Advisory, package: AffectedPackage) {
    match a.packages.iter_mut().find(|p| p.name == package.name) {
        Some(p) if version::rpm(&package.available_version, &p.available_version).is_gt() => {
            *p = package
        }
        Some(_) => {}
        None => a.packages.push(package),
    }
}

fn advisory(
    e: &ListEntry,
    info: &[InfoBlock],
    notice: Option<&Notice>,
    package: AffectedPackage,
) -> Advisory {
    let block = info.iter().find(|b| b.id == e.id);
    let severity = e
        .severity
        .clone()
        .or_else(|| block.and_then(|b| b.severity.clone()))
        .or_else(|| notice.and_then(|n| n.severity.clone()));
    let mut cves: Vec<String> = block.map(|b| b.cves.clone()).unwrap_or_default();
    cves.extend(notice.map(|n| n.cves.clone()).unwrap_or_default());
    cves.sort();
    cves.dedup();
    let title = block
        .map(|b| b.title.clone())
        .filter(|t| !t.is_empty())
        .or_else(|| notice.map(|n| n.title.clone()).filter(|t| !t.is_empty()))
        .unwrap_or_else(|| e.id.clone());
    let description = block
        .map(|b| b.description.clone())
        .filter(|d| !d.is_empty())
        .or_else(|| notice.map(|n| n.description.clone()))
        .unwrap_or_default();
    let published = notice
        .and_then(|n| n.issued.as_deref())
        .or_else(|| block.and_then(|b| b.issued.as_deref()))
        .or_else(|| block.and_then(|b| b.updated.as_deref()))
        .and_then(parse_date);
    Advisory {
        id: e.id.clone(),
        name: title,
        kind: kind_of(&e.kind),
        severity: severity
            .as_deref()
            .map_or(Severity::Unknown, Severity::from_source),
        severity_source: SOURCE.to_string(),
        published,
        description,
        cve_ids: cves,
        packages: vec![package],
        requires_reboot: notice.is_some_and(|n| n.reboot_suggested),
    }
}

/// Checks an advisory id before it goes on a command line (`--advisory=ID`).
pub fn validate_id(id: &str) -> Result<(), PkgError> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && !id.starts_with('-')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':' | '.' | '+'));
    if ok {
        return Ok(());
    }
    Err(PkgError::Invalid {
        field: "patch".to_string(),
        message: format!("{id:?} is not an advisory id"),
    })
}

/// After applying advisories, checks that each affected package (but the excluded ones) is
/// at least at the version the advisory fixes: dnf exits 0 with "Nothing to do." for an
/// advisory it does not know, and zypper for a patch that does not apply.
pub fn verify_applied(
    installed: &HashMap<String, String>,
    selected: &[&Advisory],
    exclude: &[String],
) -> Result<(), PkgError> {
    for a in selected {
        for p in &a.packages {
            if exclude.contains(&p.name) {
                continue;
            }
            let now = installed.get(&p.name);
            if now.is_some_and(|v| version::rpm(v, &p.available_version).is_ge()) {
                continue;
            }
            return Err(PkgError::VersionConflict(format!(
                "{}: {} is {} after applying it, not {} or newer",
                a.id,
                p.name,
                now.map_or("not installed", String::as_str),
                p.available_version
            )));
        }
    }
    Ok(())
}

/// Kernel packages whose newest installed version is compared with the running kernel.
pub const KERNEL_PACKAGES: [&str; 9] = [
    "kernel",
    "kernel-core",
    "kernel-uek",
    "kernel-uek-core",
    "kernel-rt-core",
    "kernel-debug-core",
    "kernel-lt",
    "kernel-ml",
    "kernel-default",
];

/// One installed kernel package.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelPackage {
    /// Package name.
    pub name: String,
    /// `V-R` (kernels carry no epoch).
    pub version: String,
    /// Architecture.
    pub arch: String,
}

/// `rpm -q --qf NAME␟VERSION␟RELEASE␟ARCH␞ -- kernel...` under the root.
pub fn kernel_query_command(settings: &BackendSettings) -> Command {
    let f = rpmdb::FIELD;
    let r = rpmdb::RECORD;
    rpmdb::rpm_command(settings)
        .arg("-q")
        .arg("--queryformat")
        .arg(format!(
            "%{{NAME}}{f}%{{VERSION}}{f}%{{RELEASE}}{f}%{{ARCH}}{r}"
        ))
        .arg("--")
        .args(KERNEL_PACKAGES)
}

/// Parses [`kernel_query_command`] output; rpm's "package X is not installed" lines
/// (on standard output, mixed with the records) are skipped.
pub fn parse_kernel_query(out: &str) -> Vec<KernelPackage> {
    out.split([rpmdb::RECORD, '\n'])
        .filter_map(|rec| {
            let fields: Vec<&str> = rec.split(rpmdb::FIELD).collect();
            let [name, v, r, arch] = fields[..] else {
                return None;
            };
            Some(KernelPackage {
                name: name.to_string(),
                version: format!("{v}-{r}"),
                arch: arch.to_string(),
            })
        })
        .collect()
}

/// Whether the running kernel (`uname -r`) is the newest installed kernel package.
pub fn kernel_verdict(running: &str, installed: &[KernelPackage]) -> RebootRequired {
    let Some(newest) = installed
        .iter()
        .max_by(|a, b| version::rpm(&a.version, &b.version))
    else {
        return RebootRequired {
            required: false,
            reason: format!("no kernel package installed (running kernel {running})"),
            packages: Vec::new(),
        };
    };
    // A variant kernel reports itself as `V-R.ARCH+debug`.
    let base = running.split_once('+').map_or(running, |(b, _)| b);
    let newest_release = format!("{}.{}", newest.version, newest.arch);
    if base == newest_release || base == newest.version {
        return RebootRequired {
            required: false,
            reason: format!(
                "running kernel {running} is the newest installed ({})",
                newest.name
            ),
            packages: Vec::new(),
        };
    }
    RebootRequired {
        required: true,
        reason: format!(
            "running kernel {running} differs from the newest installed {} {newest_release}",
            newest.name
        ),
        packages: vec![newest.name.clone()],
    }
}

/// `needs-restarting -r`'s verdict (dnf-utils, yum-utils, or zypper's script of the same
/// name): exit 0 = no reboot, exit 1 with "Reboot is required" = reboot; anything else
/// (e.g. dnf's "No such command", exit 1) is inconclusive (`None`).
pub fn needs_restarting_verdict(finished: &Finished) -> Option<RebootRequired> {
    let first = finished
        .stdout
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty());
    match finished.code {
        Some(0) => Some(RebootRequired {
            required: false,
            reason: format!(
                "needs-restarting -r exit 0{}",
                first.map(|l| format!(": {l}")).unwrap_or_default()
            ),
            packages: Vec::new(),
        }),
        Some(1)
            if finished
                .stdout
                .to_ascii_lowercase()
                .contains("reboot is required") =>
        {
            let packages = finished
                .stdout
                .lines()
                .filter_map(|l| l.trim().strip_prefix("* "))
                .map(|p| p.trim().to_string())
                .collect();
            Some(RebootRequired {
                required: true,
                reason: "needs-restarting -r exit 1: reboot is required".to_string(),
                packages,
            })
        }
        _ => None,
    }
}

/// The running kernel's release (`uname -r`).
pub fn running_kernel() -> Result<String, PkgError> {
    // SAFETY: uname fills the zeroed struct it is given; no pointer outlives the call.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut u) } != 0 {
        return Err(PkgError::Io {
            what: "uname".to_string(),
            error: std::io::Error::last_os_error(),
        });
    }
    let bytes: Vec<u8> = u
        .release
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The kernel comparison of the rpm database under the settings' root.
pub fn kernel_reboot(settings: &BackendSettings) -> Result<RebootRequired, PkgError> {
    let running = running_kernel()?;
    let cmd = kernel_query_command(settings);
    let finished = runner::capture(&cmd).map_err(PkgError::from)?;
    // rpm exits with the number of names that are not installed.
    if finished.code.is_none() || finished.stderr.contains("error:") {
        return Err(rpmdb::command_failed(&cmd, &finished));
    }
    Ok(kernel_verdict(
        &running,
        &parse_kernel_query(&finished.stdout),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST: &str = include_str!("../../tests/data/dnf/dnf-updateinfo-list-updates.stdout");
    const INFO: &str = include_str!("../../tests/data/dnf/dnf-updateinfo-info-updates.stdout");
    const XML: &str = include_str!("../../tests/data/dnf/dnf-cache-updateinfo.xml");
    const REPOMD: &str = include_str!("../../tests/data/dnf/dnf-cache-repomd.xml");
    const KERNELS: &str = include_str!("../../tests/data/dnf/rpm-q-kernels.stdout");
    const NEEDS_RESTARTING: &str = include_str!("../../tests/data/dnf/needs-restarting-r.stdout");
    // Typed from yum 3.4.3's source, NOT recorded (tests/data/yum/README.md).
    const YUM_LIST: &str = include_str!("../../tests/data/yum/updateinfo-list-updates.stdout");
    const YUM_INFO: &str = include_str!("../../tests/data/yum/updateinfo-info-updates.stdout");

    fn up(name: &str, cur: &str, new: &str) -> Upgrade {
        Upgrade {
            name: name.into(),
            current_version: cur.into(),
            available_version: new.into(),
            arch: Some("noarch".into()),
            origins: vec!["lpa".into()],
        }
    }

    fn fixture_upgrades() -> Vec<Upgrade> {
        vec![
            up("lpa-hello", "1.0-1", "2.0-1"),
            up("lpa-lib", "1.0-1", "1.1-1"),
        ]
    }

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
    fn xml_recorded() {
        assert_eq!(
            repomd_updateinfo(REPOMD).unwrap(),
            "repodata/7a903adb79f1e36715811b14cc705c27d24bce18597a093515b6bf64886704a8-updateinfo.xml"
        );
        let n = parse_xml(XML).unwrap();
        assert_eq!(n.len(), 3);
        assert!(!n[0].reboot_suggested && !n[1].reboot_suggested && n[2].reboot_suggested);
        assert_eq!(n[2].id, "LPA-2026-0003");
        assert_eq!(n[2].kind, "security");
        assert_eq!(n[2].issued.as_deref(), Some("2026-01-20 00:00:00"));
        assert_eq!(n[2].cves, ["CVE-2026-0002", "CVE-2026-0003"]);
        assert_eq!(
            n[2].packages,
            [("lpa-lib".into(), "1.1-1".into(), "noarch".into())]
        );
        assert_eq!(n[1].severity.as_deref(), Some("None"));
    }

    #[test]
    fn patches_from_recorded_output() {
        let notices: HashMap<String, Notice> = parse_xml(XML)
            .unwrap()
            .into_iter()
            .map(|n| (n.id.clone(), n))
            .collect();
        let ups = fixture_upgrades();
        let a = build(
            &parse_list(LIST).unwrap(),
            &parse_info(INFO),
            &notices,
            &ups,
        );
        let ids: Vec<&str> = a.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, ["LPA-2026-0001", "LPA-2026-0002", "LPA-2026-0003"]);
        let crit = &a[2];
        assert_eq!(crit.kind, AdvisoryKind::Security);
        assert_eq!(crit.severity, Severity::Critical);
        assert_eq!(crit.severity_source, "updateinfo");
        assert_eq!(crit.cve_ids, ["CVE-2026-0002", "CVE-2026-0003"]);
        assert!(crit.requires_reboot);
        assert_eq!(crit.name, "Critical: lpa-lib security update");
        assert_eq!(
            crit.published,
            Some(time::macros::datetime!(2026-01-20 00:00 UTC))
        );
        assert_eq!(
            crit.packages,
            [AffectedPackage {
                name: "lpa-lib".into(),
                current_version: "1.0-1".into(),
                available_version: "1.1-1".into(),
                arch: Some("noarch".into()),
            }]
        );
        assert_eq!(a[0].severity, Severity::High);
        assert!(!a[0].requires_reboot);
        assert_eq!(a[1].kind, AdvisoryKind::Bugfix);
        assert_eq!(a[1].severity, Severity::Unknown);

        // Without the cache: dnf's own output still gives everything but the reboot flag,
        // and "Updated" stands in for the issue date.
        let bare = build(
            &parse_list(LIST).unwrap(),
            &parse_info(INFO),
            &HashMap::new(),
            &ups,
        );
        assert!(!bare[2].requires_reboot);
        assert_eq!(bare[2].cve_ids, crit.cve_ids);
        assert_eq!(bare[2].published, crit.published);

        // Only what is upgradable here counts; the rest stays a plain patch.
        let only_hello = [
            up("lpa-hello", "1.0-1", "2.0-1"),
            up("lpa-tool", "1.0-1", "1.1-1"),
        ];
        let a = build(&parse_list(LIST).unwrap(), &[], &notices, &only_hello);
        let ids: Vec<&str> = a.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, ["LPA-2026-0001", "lpa-tool-1.1-1"]);
        assert_eq!(a[1].severity_source, "none");
        // An advisory fixing the installed version (or older) no longer applies.
        let at_fix = [up("lpa-lib", "1.1-1", "1.2-1")];
        let a = build(&parse_list(LIST).unwrap(), &[], &notices, &at_fix);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].id, "lpa-lib-1.2-1");
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

    #[test]
    fn dates() {
        assert_eq!(
            parse_date("2026-01-15 00:00:00"),
            Some(time::macros::datetime!(2026-01-15 00:00 UTC))
        );
        assert_eq!(
            parse_date("2024-04-24"),
            Some(time::macros::datetime!(2024-04-24 00:00 UTC))
        );
        assert_eq!(
            parse_date("1768435200"),
            Some(time::macros::datetime!(2026-01-15 00:00 UTC))
        );
        assert_eq!(parse_date("soon"), None);
        assert_eq!(parse_date("2024-13-01"), None);
    }

    #[test]
    fn decompressors_by_suffix() {
        assert_eq!(
            decompressor(Path::new("/c/x-updateinfo.xml.gz")),
            Some("gzip")
        );
        assert_eq!(
            decompressor(Path::new("/c/x-updateinfo.xml.zst")),
            Some("zstd")
        );
        assert_eq!(
            decompressor(Path::new("/c/x-updateinfo.xml.bz2")),
            Some("bzip2")
        );
        assert_eq!(
            decompressor(Path::new("/c/x-updateinfo.xml.xz")),
            Some("xz")
        );
        assert_eq!(decompressor(Path::new("/c/x-updateinfo.xml")), None);
    }

    #[test]
    fn cache_is_found_under_the_root() {
        let root = std::env::temp_dir().join(format!("lpa-ui-cache-{}", std::process::id()));
        let repo = root.join("var/cache/dnf/lpa-99815d6036fb1038/repodata");
        std::fs::create_dir_all(&repo).unwrap();
        std::fs::write(repo.join("repomd.xml"), REPOMD).unwrap();
        let files = cached_files(&root, false);
        let yum_gen = root.join("var/cache/yum/x86_64/7/updates/gen");
        std::fs::create_dir_all(&yum_gen).unwrap();
        std::fs::write(yum_gen.join("updateinfo.xml"), XML).unwrap();
        let yum_files = cached_files(&root, true);
        std::fs::remove_dir_all(&root).unwrap();
        assert_eq!(
            files,
            [root.join("var/cache/dnf/lpa-99815d6036fb1038/repodata/7a903adb79f1e36715811b14cc705c27d24bce18597a093515b6bf64886704a8-updateinfo.xml")]
        );
        assert_eq!(yum_files, [yum_gen.join("updateinfo.xml")]);
    }

    #[test]
    fn ids_are_checked() {
        assert!(validate_id("RHSA-2024:1234").is_ok());
        assert!(validate_id("FEDORA-2024-1a2b3c").is_ok());
        assert!(validate_id("openSUSE-SLE-15.5-2024-1234").is_ok());
        assert!(validate_id("--exclude=x").is_err());
        assert!(validate_id("a b").is_err());
        assert!(validate_id("").is_err());
    }

    #[test]
    fn applied_is_verified() {
        let ups = fixture_upgrades();
        let mut a = advisories::plain_update(&ups[0]);
        a.id = "LPA-2026-0001".into();
        let installed = HashMap::from([("lpa-hello".to_string(), "1.0-1".to_string())]);
        let err = verify_applied(&installed, &[&a], &[]).unwrap_err();
        assert!(
            matches!(err, PkgError::VersionConflict(ref m) if m.contains("LPA-2026-0001")),
            "{err}"
        );
        assert!(verify_applied(&installed, &[&a], &["lpa-hello".into()]).is_ok());
        let newer = HashMap::from([("lpa-hello".to_string(), "2.1-1".to_string())]);
        assert!(verify_applied(&newer, &[&a], &[]).is_ok());
    }

    fn k(name: &str, v: &str) -> KernelPackage {
        KernelPackage {
            name: name.into(),
            version: v.into(),
            arch: "x86_64".into(),
        }
    }

    #[test]
    fn kernel_decisions() {
        assert!(parse_kernel_query(KERNELS)
            .iter()
            .all(|p| !KERNEL_PACKAGES.contains(&p.name.as_str())));
        assert_eq!(
            parse_kernel_query(KERNELS).len(),
            1,
            "the recorded lpa-lib record"
        );
        let none = kernel_verdict("6.1.0-18-amd64", &[]);
        assert!(!none.required);
        assert!(
            none.reason.contains("no kernel package installed"),
            "{}",
            none.reason
        );
        let installed = [
            k("kernel-core", "5.14.0-362.8.1.el9_3"),
            k("kernel-core", "5.14.0-427.13.1.el9_4"),
            k("kernel", "5.14.0-427.13.1.el9_4"),
        ];
        let same = kernel_verdict("5.14.0-427.13.1.el9_4.x86_64", &installed);
        assert!(!same.required, "{}", same.reason);
        let debug = kernel_verdict("5.14.0-427.13.1.el9_4.x86_64+debug", &installed);
        assert!(!debug.required, "{}", debug.reason);
        let old = kernel_verdict("5.14.0-362.8.1.el9_3.x86_64", &installed);
        assert!(old.required);
        assert!(
            old.reason.contains("5.14.0-362.8.1.el9_3.x86_64"),
            "{}",
            old.reason
        );
        assert!(
            old.reason.contains("5.14.0-427.13.1.el9_4.x86_64"),
            "{}",
            old.reason
        );
        let rec =
            "kernel\x1f3.10.0\x1f1160.el7\x1fx86_64\x1epackage kernel-core is not installed\n";
        assert_eq!(parse_kernel_query(rec), [k("kernel", "3.10.0-1160.el7")]);
    }

    #[test]
    fn needs_restarting_decisions() {
        let f = |code: i32, out: &str| Finished {
            code: Some(code),
            stdout: out.into(),
            stderr: String::new(),
        };
        let no = needs_restarting_verdict(&f(0, NEEDS_RESTARTING)).unwrap();
        assert!(!no.required);
        assert!(no.reason.contains("No core libraries"), "{}", no.reason);
        let dnf_yes = "Core libraries or services have been updated since boot-up:\n  * kernel\n  * systemd\n\nReboot is required to fully utilize these updates.\nMore information: https://access.redhat.com/solutions/27943\n";
        let yes = needs_restarting_verdict(&f(1, dnf_yes)).unwrap();
        assert!(yes.required);
        assert_eq!(yes.packages, ["kernel", "systemd"]);
        assert!(needs_restarting_verdict(&f(1, "")).is_none());
        assert!(needs_restarting_verdict(&f(2, "")).is_none());
        assert!(!running_kernel().unwrap().is_empty());
    }
}
