//! Host facts: distribution (os-release), kernel (uname), uptime, boot time, hostname,
//! package manager and the reboot-required marker.
//!
//! Parsing is done by pure functions over text so it can be tested on real files from
//! several distributions; [`gather`] is the only part that touches the host.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use time::OffsetDateTime;

/// Where os-release lives, in the order os-release(5) says to look.
pub const OS_RELEASE_PATHS: [&str; 2] = ["/etc/os-release", "/usr/lib/os-release"];

/// Directories searched for package manager binaries besides `$PATH`; the agent may be
/// started by an init system with a minimal `PATH`.
pub const FIXED_BIN_DIRS: [&str; 4] = ["/usr/bin", "/usr/sbin", "/bin", "/sbin"];

/// Debian's marker file written by packages that need a reboot to take effect.
pub const REBOOT_REQUIRED_MARKER: &str = "/var/run/reboot-required";

/// The key/value pairs of an os-release file, values already unquoted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OsRelease {
    fields: BTreeMap<String, String>,
}

impl OsRelease {
    /// The value of one key, if present and not empty.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// The distribution facts the API reports, with os-release(5) defaults applied.
    pub fn os_info(&self) -> OsInfo {
        let owned = |k: &str| self.get(k).map(str::to_string);
        OsInfo {
            name: owned("NAME").unwrap_or_else(|| "Linux".to_string()),
            pretty_name: owned("PRETTY_NAME"),
            version: owned("VERSION")
                .or_else(|| owned("VERSION_ID"))
                .or_else(|| owned("BUILD_ID")),
            version_id: owned("VERSION_ID"),
            codename: owned("VERSION_CODENAME").or_else(|| owned("UBUNTU_CODENAME")),
            id: owned("ID").unwrap_or_else(|| "linux".to_string()),
            id_like: owned("ID_LIKE"),
            build_id: owned("BUILD_ID"),
        }
    }
}

/// Distribution facts derived from os-release.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OsInfo {
    /// `NAME`, e.g. `Debian GNU/Linux`; `Linux` when absent.
    pub name: String,
    /// `PRETTY_NAME`, e.g. `Debian GNU/Linux 12 (bookworm)`.
    pub pretty_name: Option<String>,
    /// `VERSION`, else `VERSION_ID`, else `BUILD_ID` (rolling releases have only that).
    pub version: Option<String>,
    /// `VERSION_ID`, e.g. `12` or `22.04`.
    pub version_id: Option<String>,
    /// `VERSION_CODENAME`, else `UBUNTU_CODENAME`.
    pub codename: Option<String>,
    /// `ID`, e.g. `debian`; `linux` when absent.
    pub id: String,
    /// `ID_LIKE` as written, space-separated, e.g. `rhel centos fedora`.
    pub id_like: Option<String>,
    /// `BUILD_ID`, e.g. `rolling` on Arch.
    pub build_id: Option<String>,
}

impl OsInfo {
    /// The short version string clients compare: `VERSION_ID`, else the longer forms.
    pub fn short_version(&self) -> String {
        self.version_id
            .clone()
            .or_else(|| self.build_id.clone())
            .or_else(|| self.version.clone())
            .unwrap_or_default()
    }

    /// True for Debian and its derivatives (Ubuntu, Mint, Kali, ...).
    pub fn is_debian_like(&self) -> bool {
        let like = self.id_like.as_deref().unwrap_or("");
        self.id == "debian"
            || self.id == "ubuntu"
            || like
                .split_whitespace()
                .any(|w| w == "debian" || w == "ubuntu")
    }
}

/// Parses os-release text: `KEY=value` lines, shell-style quoting, `#` comments.
/// Lines that are not assignments are skipped, as os-release(5) asks of readers.
pub fn parse_os_release(text: &str) -> OsRelease {
    let mut fields = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, raw)) = line.split_once('=') else {
            continue;
        };
        if !is_valid_key(key) {
            continue;
        }
        if let Some(value) = unquote(raw.trim()) {
            fields.insert(key.to_string(), value);
        }
    }
    OsRelease { fields }
}

fn is_valid_key(key: &str) -> bool {
    let mut chars = key.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Undoes shell quoting of one value; `None` when a quote is left open.
fn unquote(raw: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => loop {
                match chars.next()? {
                    '"' => break,
                    '\\' => {
                        let next = chars.next()?;
                        // Inside double quotes the shell only treats these as escapable.
                        if !matches!(next, '"' | '\\' | '$' | '`') {
                            out.push('\\');
                        }
                        out.push(next);
                    }
                    other => out.push(other),
                }
            },
            '\'' => loop {
                match chars.next()? {
                    '\'' => break,
                    other => out.push(other),
                }
            },
            '\\' => out.push(chars.next()?),
            // An unquoted blank ends the word; what follows would be a shell command.
            c if c.is_whitespace() => break,
            other => out.push(other),
        }
    }
    Some(out)
}

/// Reads the first os-release file that exists among `paths`.
pub fn read_os_release(paths: &[&Path]) -> Option<OsRelease> {
    paths
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .map(|text| parse_os_release(&text))
}

/// The kernel facts from `uname(2)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Uname {
    /// `nodename`: the host name.
    pub nodename: String,
    /// `release`, e.g. `6.1.0-18-amd64`.
    pub release: String,
    /// `version`, e.g. `#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)`.
    pub version: String,
    /// `machine`, e.g. `x86_64` or `aarch64`.
    pub machine: String,
}

/// Calls `uname(2)`; `None` if the kernel refuses (it never does on Linux).
pub fn uname() -> Option<Uname> {
    // SAFETY: utsname is plain old data; zeroed is a valid value and uname only writes into it.
    let mut buf: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: buf is a valid, exclusively borrowed utsname.
    let rc = unsafe { libc::uname(&mut buf) };
    if rc != 0 {
        return None;
    }
    Some(Uname {
        nodename: c_chars_to_string(&buf.nodename),
        release: c_chars_to_string(&buf.release),
        version: c_chars_to_string(&buf.version),
        machine: c_chars_to_string(&buf.machine),
    })
}

/// Converts a NUL-terminated `c_char` array without trusting the terminator to exist.
fn c_chars_to_string(chars: &[libc::c_char]) -> String {
    let bytes: Vec<u8> = chars
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Parses `/proc/uptime` (`12345.67 23456.78`) into whole seconds.
pub fn parse_uptime(text: &str) -> Option<u64> {
    let first = text.split_whitespace().next()?;
    let secs: f64 = first.parse().ok()?;
    if secs.is_finite() && secs >= 0.0 {
        Some(secs as u64)
    } else {
        None
    }
}

/// Finds the `btime` line of `/proc/stat`: boot time in seconds since the epoch.
pub fn parse_btime(text: &str) -> Option<i64> {
    text.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some("btime"), Some(v)) => v.parse().ok(),
            _ => None,
        }
    })
}

/// The directories to search for binaries: `$PATH` entries (absolute ones only), then
/// [`FIXED_BIN_DIRS`], without duplicates.
pub fn bin_search_dirs(path_env: Option<&std::ffi::OsStr>) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    let from_env = path_env
        .map(|p| std::env::split_paths(p).collect::<Vec<_>>())
        .unwrap_or_default();
    let fixed = FIXED_BIN_DIRS.iter().map(PathBuf::from);
    for dir in from_env.into_iter().chain(fixed) {
        // A relative PATH entry would depend on the agent's working directory.
        if dir.is_absolute() && !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    dirs
}

/// True when `path` is a regular file with an execute bit set.
pub fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Finds `program` in `dirs`.
pub fn find_binary(program: &str, dirs: &[PathBuf]) -> Option<PathBuf> {
    dirs.iter()
        .map(|d| d.join(program))
        .find(|p| is_executable(p))
}

/// Whether a Debian-like host asks for a reboot by its marker file: the answer when no
/// package backend was found (the backend's own signal is used otherwise).
pub fn pending_reboot(os: &OsInfo, marker: &Path) -> bool {
    os.is_debian_like() && marker.exists()
}

/// Everything `GET /api/v1/system/info` reports.
#[derive(Clone, Debug, PartialEq)]
pub struct SystemInfo {
    /// Host name (uname nodename).
    pub hostname: String,
    /// Distribution facts.
    pub os: OsInfo,
    /// Kernel release, e.g. `6.1.0-18-amd64`.
    pub kernel_release: String,
    /// Kernel build version string.
    pub kernel_version: String,
    /// Machine architecture, e.g. `x86_64`.
    pub architecture: String,
    /// Seconds since boot, when /proc/uptime is readable.
    pub uptime_seconds: Option<u64>,
    /// Boot time, when /proc/stat is readable.
    pub last_boot: Option<OffsetDateTime>,
    /// First detected package manager, by API name (`apt`, `dnf`, ...).
    pub package_manager: Option<&'static str>,
    /// Whether the host asks for a reboot.
    pub pending_reboot: bool,
    /// How that was decided.
    pub pending_reboot_reason: String,
    /// Packages that asked for it, when the signal lists them.
    pub pending_reboot_packages: Vec<String>,
}

/// Collects the host's facts; anything unreadable is reported as unknown, never an error.
pub fn gather() -> SystemInfo {
    let paths: Vec<&Path> = OS_RELEASE_PATHS.iter().map(Path::new).collect();
    let os = read_os_release(&paths).unwrap_or_default().os_info();
    let uts = uname();
    let field = |f: fn(&Uname) -> &String| uts.as_ref().map(f).cloned().unwrap_or_default();
    SystemInfo {
        hostname: field(|u| &u.nodename),
        kernel_release: field(|u| &u.release),
        kernel_version: field(|u| &u.version),
        architecture: field(|u| &u.machine),
        uptime_seconds: std::fs::read_to_string("/proc/uptime")
            .ok()
            .and_then(|t| parse_uptime(&t)),
        last_boot: std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|t| parse_btime(&t))
            .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok()),
        // The API layer fills this from the backend it chose.
        package_manager: None,
        pending_reboot: pending_reboot(&os, Path::new(REBOOT_REQUIRED_MARKER)),
        pending_reboot_reason: format!(
            "{REBOOT_REQUIRED_MARKER} on Debian-likes (no package backend)"
        ),
        pending_reboot_packages: Vec::new(),
        os,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEBIAN_12: &str = r#"PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
SUPPORT_URL="https://www.debian.org/support"
BUG_REPORT_URL="https://bugs.debian.org/"
"#;

    const UBUNTU_2204: &str = r#"PRETTY_NAME="Ubuntu 22.04.4 LTS"
NAME="Ubuntu"
VERSION_ID="22.04"
VERSION="22.04.4 LTS (Jammy Jellyfish)"
VERSION_CODENAME=jammy
ID=ubuntu
ID_LIKE=debian
HOME_URL="https://www.ubuntu.com/"
SUPPORT_URL="https://help.ubuntu.com/"
BUG_REPORT_URL="https://bugs.launchpad.net/ubuntu/"
PRIVACY_POLICY_URL="https://www.ubuntu.com/legal/terms-and-policies/privacy-policy"
UBUNTU_CODENAME=jammy
"#;

    const ALPINE: &str = r#"NAME="Alpine Linux"
ID=alpine
VERSION_ID=3.19.1
PRETTY_NAME="Alpine Linux v3.19"
HOME_URL="https://alpinelinux.org/"
BUG_REPORT_URL="https://gitlab.alpinelinux.org/alpine/aports/-/issues"
"#;

    const ARCH: &str = r#"NAME="Arch Linux"
PRETTY_NAME="Arch Linux"
ID=arch
BUILD_ID=rolling
ANSI_COLOR="38;2;23;147;209"
HOME_URL="https://archlinux.org/"
DOCUMENTATION_URL="https://wiki.archlinux.org/"
SUPPORT_URL="https://bbs.archlinux.org/"
BUG_REPORT_URL="https://gitlab.archlinux.org/groups/archlinux/-/issues"
PRIVACY_POLICY_URL="https://terms.archlinux.org/docs/privacy-policy/"
LOGO=archlinux-logo
"#;

    const ROCKY_9: &str = r#"NAME="Rocky Linux"
VERSION="9.3 (Blue Onyx)"
ID="rocky"
ID_LIKE="rhel centos fedora"
VERSION_ID="9.3"
PLATFORM_ID="platform:el9"
PRETTY_NAME="Rocky Linux 9.3 (Blue Onyx)"
ANSI_COLOR="0;32"
LOGO="fedora-logo-icon"
CPE_NAME="cpe:/o:rocky:rocky:9::baseos"
HOME_URL="https://rockylinux.org/"
BUG_REPORT_URL="https://bugs.rockylinux.org/"
SUPPORT_END="2032-05-31"
ROCKY_SUPPORT_PRODUCT="Rocky-Linux-9"
ROCKY_SUPPORT_PRODUCT_VERSION="9.3"
REDHAT_SUPPORT_PRODUCT="Rocky Linux"
REDHAT_SUPPORT_PRODUCT_VERSION="9.3"
"#;

    #[test]
    fn debian_12() {
        let os = parse_os_release(DEBIAN_12).os_info();
        assert_eq!(os.name, "Debian GNU/Linux");
        assert_eq!(os.version.as_deref(), Some("12 (bookworm)"));
        assert_eq!(os.short_version(), "12");
        assert_eq!(os.codename.as_deref(), Some("bookworm"));
        assert_eq!(os.id, "debian");
        assert_eq!(os.id_like, None);
        assert!(os.is_debian_like());
    }

    #[test]
    fn ubuntu_2204() {
        let os = parse_os_release(UBUNTU_2204).os_info();
        assert_eq!(os.name, "Ubuntu");
        assert_eq!(os.version.as_deref(), Some("22.04.4 LTS (Jammy Jellyfish)"));
        assert_eq!(os.short_version(), "22.04");
        assert_eq!(os.codename.as_deref(), Some("jammy"));
        assert_eq!(os.id_like.as_deref(), Some("debian"));
        assert!(os.is_debian_like());
    }

    #[test]
    fn alpine_unquoted_version() {
        let os = parse_os_release(ALPINE).os_info();
        assert_eq!(os.name, "Alpine Linux");
        assert_eq!(os.short_version(), "3.19.1");
        assert_eq!(os.version.as_deref(), Some("3.19.1"));
        assert_eq!(os.codename, None);
        assert!(!os.is_debian_like());
    }

    #[test]
    fn arch_rolling_has_only_build_id() {
        let os = parse_os_release(ARCH).os_info();
        assert_eq!(os.id, "arch");
        assert_eq!(os.version.as_deref(), Some("rolling"));
        assert_eq!(os.short_version(), "rolling");
        assert_eq!(os.version_id, None);
    }

    #[test]
    fn rocky_quoted_id_and_id_like() {
        let r = parse_os_release(ROCKY_9);
        let os = r.os_info();
        assert_eq!(os.id, "rocky");
        assert_eq!(os.id_like.as_deref(), Some("rhel centos fedora"));
        assert_eq!(os.short_version(), "9.3");
        assert_eq!(r.get("PLATFORM_ID"), Some("platform:el9"));
        assert!(!os.is_debian_like());
    }

    #[test]
    fn quoting_escapes_and_comments() {
        let text = "# a comment\n  \nNAME=\"My \\\"Quoted\\\" \\$Linux\\\\\"\n\
                    ID='single $quoted'\nVERSION=plain\\ word trailing\nBROKEN=\"open\n\
                    not an assignment\n9BAD=x\nLITERAL=\"a\\nb\"\nEMPTY=\n";
        let r = parse_os_release(text);
        assert_eq!(r.get("NAME"), Some("My \"Quoted\" $Linux\\"));
        assert_eq!(r.get("ID"), Some("single $quoted"));
        assert_eq!(r.get("VERSION"), Some("plain word"));
        assert_eq!(r.get("BROKEN"), None);
        assert_eq!(r.get("9BAD"), None);
        assert_eq!(r.get("LITERAL"), Some("a\\nb"));
        assert_eq!(r.get("EMPTY"), None);
    }

    #[test]
    fn empty_file_gets_spec_defaults() {
        let os = parse_os_release("").os_info();
        assert_eq!(os.name, "Linux");
        assert_eq!(os.id, "linux");
        assert_eq!(os.short_version(), "");
    }

    #[test]
    fn read_falls_back_to_second_path() {
        let dir = std::env::temp_dir().join(format!("lpa-osr-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let second = dir.join("os-release");
        std::fs::write(&second, ALPINE).unwrap();
        let missing = dir.join("missing");
        let r = read_os_release(&[&missing, &second]).unwrap();
        assert_eq!(r.get("ID"), Some("alpine"));
        assert!(read_os_release(&[&missing]).is_none());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn uptime_and_btime() {
        assert_eq!(parse_uptime("350735.47 234388.90\n"), Some(350735));
        assert_eq!(parse_uptime("garbage"), None);
        assert_eq!(parse_uptime("-1.0 2"), None);
        let stat = "cpu  2255 34 2290 22625563 6290 127 456 0 0 0\n\
                    cpu0 1132 34 1441 11311718 3675 127 438 0 0 0\n\
                    intr 114930548 113199788 3 0 5 263 0 4 [...]\n\
                    ctxt 1990473\nbtime 1712620800\nprocesses 2915\n\
                    procs_running 1\nprocs_blocked 0\n";
        assert_eq!(parse_btime(stat), Some(1_712_620_800));
        assert_eq!(parse_btime("cpu 1 2 3\n"), None);
    }

    #[test]
    fn uname_reports_this_kernel() {
        let u = uname().unwrap();
        assert!(!u.release.is_empty());
        assert!(!u.machine.is_empty());
        assert_eq!(u.machine, std::env::consts::ARCH);
    }

    #[test]
    fn c_chars_stop_at_nul_or_end() {
        let chars: [libc::c_char; 4] = [b'a' as _, b'b' as _, 0, b'c' as _];
        assert_eq!(c_chars_to_string(&chars), "ab");
        let unterminated: [libc::c_char; 2] = [b'x' as _, b'y' as _];
        assert_eq!(c_chars_to_string(&unterminated), "xy");
    }

    fn fake_bin_dir(names: &[&str]) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("lpa-bin-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        for name in names {
            let p = dir.join(name);
            std::fs::write(&p, "").unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        dir
    }

    #[test]
    fn find_binary_wants_an_executable_file() {
        let dir = fake_bin_dir(&["apk", "dnf"]);
        std::fs::write(dir.join("apt-get"), "").unwrap(); // not executable: ignored
        let dirs = std::slice::from_ref(&dir);
        assert_eq!(find_binary("dnf", dirs), Some(dir.join("dnf")));
        assert_eq!(find_binary("apt-get", dirs), None);
        let empty = fake_bin_dir(&[]);
        assert_eq!(find_binary("dnf", std::slice::from_ref(&empty)), None);
        std::fs::remove_dir_all(dir).unwrap();
        std::fs::remove_dir_all(empty).unwrap();
    }

    #[test]
    fn search_dirs_skip_relative_and_duplicates() {
        let path = std::ffi::OsString::from("/opt/x/bin:relative:/usr/bin");
        let dirs = bin_search_dirs(Some(&path));
        assert_eq!(dirs[0], PathBuf::from("/opt/x/bin"));
        assert_eq!(dirs[1], PathBuf::from("/usr/bin"));
        assert!(!dirs.contains(&PathBuf::from("relative")));
        assert_eq!(dirs.iter().filter(|d| d.ends_with("usr/bin")).count(), 1);
        assert!(dirs.contains(&PathBuf::from("/sbin")));
    }

    #[test]
    fn pending_reboot_only_on_debian_likes_with_marker() {
        let dir = fake_bin_dir(&[]);
        let marker = dir.join("reboot-required");
        let debian = parse_os_release(DEBIAN_12).os_info();
        let rocky = parse_os_release(ROCKY_9).os_info();
        assert!(!pending_reboot(&debian, &marker));
        std::fs::write(&marker, "*** System restart required ***\n").unwrap();
        assert!(pending_reboot(&debian, &marker));
        assert!(!pending_reboot(&rocky, &marker));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
