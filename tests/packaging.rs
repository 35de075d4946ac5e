//! The distribution packages (`make packages`), installed with the real tools inside a
//! sandbox root (never the host): the .deb with dpkg, the .rpm with rpm; every installed
//! path, owner and mode, the conffiles, an upgrade over an older build that keeps a
//! modified configuration, remove and purge. The .apk is checked structurally (gzip
//! streams, .PKGINFO, datahash, per-file checksums): apk-tools cannot run on this machine.
//! `make test` passes the packages' paths in LPA_DEB, LPA_DEB_OLD, LPA_RPM, LPA_RPM_OLD and
//! LPA_APK; without them these tests fail.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::sandbox::{run_ok, Sandbox};
use common::*;

const VERSION: &str = env!("CARGO_PKG_VERSION");
const CONFIG: &str = "/etc/linux_patch_api/config.yaml";
const WHITELIST: &str = "/etc/linux_patch_api/whitelist.yaml";
const CERTS: &str = "/etc/linux_patch_api/certs";
const STATE: &str = "/var/lib/linux_patch_api";
const LOGS: &str = "/var/log/linux_patch_api";
const ENABLED_LINK: &str = "/etc/systemd/system/multi-user.target.wants/linux-patch-api.service";

/// A package built by `make packages`; a missing one is a failure, not a skip.
fn package(var: &str) -> PathBuf {
    let Some(path) = std::env::var_os(var) else {
        panic!(
            "{var} is not set: run `make packages` and the tests through `make test`, which \
             passes the packages' paths (LPA_DEB, LPA_DEB_OLD, LPA_RPM, LPA_RPM_OLD, LPA_APK)"
        );
    };
    let path = PathBuf::from(path);
    assert!(
        path.is_file(),
        "{var}={} does not exist: run `make packages`",
        path.display()
    );
    path
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn repo_text(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn all_output(out: &Output) -> String {
    format!("{}{}", stdout(out), String::from_utf8_lossy(&out.stderr))
}

/// Makes both packages' directories visible in the sandbox; returns their paths inside.
fn bind_packages(sb: &mut Sandbox, new: &Path, old: &Path) -> (String, String) {
    sb.bind(new.parent().unwrap(), "/srv/new");
    sb.bind(old.parent().unwrap(), "/srv/old");
    let name = |p: &Path| p.file_name().unwrap().to_string_lossy().into_owned();
    (
        format!("/srv/new/{}", name(new)),
        format!("/srv/old/{}", name(old)),
    )
}

fn host_path(sb: &Sandbox, inside: &str) -> PathBuf {
    sb.root().join(inside.trim_start_matches('/'))
}

fn exists(sb: &Sandbox, inside: &str) -> bool {
    host_path(sb, inside).symlink_metadata().is_ok()
}

fn read(sb: &Sandbox, inside: &str) -> String {
    std::fs::read_to_string(host_path(sb, inside)).unwrap_or_else(|e| panic!("{inside}: {e}"))
}

/// Expected entry: path, mode, directory or file.
type Expected = (&'static str, u32, bool);

/// Every path exists with its mode, root-owned, of the expected kind.
fn assert_paths(sb: &Sandbox, expected: &[Expected]) {
    for (path, mode, dir) in expected {
        let meta = host_path(sb, path)
            .symlink_metadata()
            .unwrap_or_else(|e| panic!("{path} is not installed: {e}"));
        assert_eq!(meta.is_dir(), *dir, "{path}: directory? {dir}");
        assert_eq!(
            meta.permissions().mode() & 0o7777,
            *mode,
            "{path}: mode {:o}, want {mode:o}",
            meta.permissions().mode() & 0o7777
        );
        assert_eq!((meta.uid(), meta.gid()), (0, 0), "{path}: owner root:root");
    }
}

fn gunzip(path: &Path) -> Vec<u8> {
    run_ok(Command::new("gzip").arg("-dc").arg(path)).stdout
}

/// The installed payload matches the sources it was built from.
fn assert_contents(sb: &Sandbox, unit: &str) {
    assert_eq!(read(sb, CONFIG), repo_text("etc/config.yaml"));
    assert_eq!(read(sb, WHITELIST), repo_text("etc/whitelist.yaml"));
    assert_eq!(read(sb, unit), repo_text("etc/linux-patch-api.service"));
    let man8 = gunzip(&host_path(sb, "/usr/share/man/man8/linux-patch-api.8.gz"));
    assert_eq!(man8, std::fs::read(repo("man/linux-patch-api.8")).unwrap());
    let man5 = gunzip(&host_path(
        sb,
        "/usr/share/man/man5/linux-patch-api.yaml.5.gz",
    ));
    assert_eq!(
        man5,
        std::fs::read(repo("man/linux-patch-api.yaml.5")).unwrap()
    );
    let out = sb.run("/usr/sbin/linux-patch-api", &["--version"]);
    assert_eq!(stdout(&out).trim(), format!("linux-patch-api {VERSION}"));
}

fn md5(data: &[u8]) -> String {
    let mut child = Command::new("md5sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), data).unwrap();
    let out = child.wait_with_output().unwrap();
    stdout(&out).split_whitespace().next().unwrap().to_string()
}

/// Writes what a running agent leaves behind: state, a log, an operator's key.
fn write_runtime_files(sb: &Sandbox) {
    sb.write(&format!("{STATE}/jobs/job-1.json"), "{}\n");
    sb.write(&format!("{LOGS}/audit.log"), "{\"action\":\"x\"}\n");
    sb.write(&format!("{CERTS}/server.key.pem"), "operator's key\n");
}

// ---------------------------------------------------------------------------------------
// .deb

const DEB_PATHS: &[Expected] = &[
    ("/usr/sbin/linux-patch-api", 0o755, false),
    ("/etc/linux_patch_api", 0o755, true),
    (CONFIG, 0o640, false),
    (WHITELIST, 0o640, false),
    (CERTS, 0o700, true),
    (STATE, 0o700, true),
    (LOGS, 0o750, true),
    ("/lib/systemd/system/linux-patch-api.service", 0o644, false),
    ("/usr/share/man/man8/linux-patch-api.8.gz", 0o644, false),
    (
        "/usr/share/man/man5/linux-patch-api.yaml.5.gz",
        0o644,
        false,
    ),
    ("/usr/share/doc/linux-patch-api/copyright", 0o644, false),
    (
        "/usr/share/doc/linux-patch-api/changelog.Debian.gz",
        0o644,
        false,
    ),
    ("/usr/share/lintian/overrides/linux-patch-api", 0o644, false),
];

fn deb_version(sb: &Sandbox) -> String {
    let out = sb.run(
        "dpkg-query",
        &["-W", "-f=${Version} ${db:Status-Abbrev}", "linux-patch-api"],
    );
    stdout(&out).trim().to_string()
}

/// dpkg's conffile list: path → recorded md5.
fn deb_conffiles(sb: &Sandbox) -> BTreeMap<String, String> {
    let out = sb.run(
        "dpkg-query",
        &["-W", "-f=${Conffiles}\n", "linux-patch-api"],
    );
    stdout(&out)
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            Some((f.next()?.to_string(), f.next()?.to_string()))
        })
        .collect()
}

/// Every file dpkg says it installed is one this test expects (nothing unplanned ships).
fn assert_deb_file_list(sb: &Sandbox) {
    let out = sb.run("dpkg", &["-L", "linux-patch-api"]);
    for path in stdout(&out).lines() {
        let is_dir = host_path(sb, path).is_dir();
        let known = DEB_PATHS.iter().any(|(p, _, _)| *p == path)
            || path == "/usr/share/doc/linux-patch-api/changelog.gz";
        assert!(is_dir || known, "unexpected file in the .deb: {path}");
    }
}

#[test]
fn deb_installs_every_path_and_purges_to_nothing() {
    let deb = package("LPA_DEB");
    let old = package("LPA_DEB_OLD");
    require_sandbox!();
    let mut sb = Sandbox::new("deb-fresh");
    let (deb, _) = bind_packages(&mut sb, &deb, &old);
    sb.run("dpkg", &["-i", &deb]);

    assert_eq!(deb_version(&sb), format!("{VERSION}-1 ii"));
    assert_paths(&sb, DEB_PATHS);
    assert_deb_file_list(&sb);
    assert_contents(&sb, "/lib/systemd/system/linux-patch-api.service");
    let conffiles = deb_conffiles(&sb);
    assert_eq!(
        conffiles.keys().collect::<Vec<_>>(),
        [CONFIG, WHITELIST],
        "{conffiles:?}"
    );
    assert_eq!(
        conffiles[CONFIG],
        md5(repo_text("etc/config.yaml").as_bytes())
    );
    // Enabled (deb-systemd-helper works without a running systemd), not started.
    let link = std::fs::read_link(host_path(&sb, ENABLED_LINK)).expect("service enabled");
    assert_eq!(
        link,
        Path::new("/lib/systemd/system/linux-patch-api.service")
    );

    sb.run("dpkg", &["--purge", "linux-patch-api"]);
    let status = sb
        .command("dpkg", &["-s", "linux-patch-api"])
        .output()
        .unwrap();
    assert!(!status.status.success(), "purged: {}", all_output(&status));
    for (path, _, _) in DEB_PATHS {
        assert!(!exists(&sb, path), "{path} is left after purge");
    }
    assert!(!exists(&sb, ENABLED_LINK), "enablement is left after purge");
}

#[test]
fn deb_upgrade_keeps_a_modified_config_and_remove_then_purge_clean_up() {
    let deb = package("LPA_DEB");
    let old = package("LPA_DEB_OLD");
    require_sandbox!();
    let mut sb = Sandbox::new("deb-upgrade");
    let (deb, old) = bind_packages(&mut sb, &deb, &old);
    sb.run("dpkg", &["-i", &old]);
    let old_version = deb_version(&sb);
    assert!(
        old_version.ends_with(" ii") && !old_version.starts_with(VERSION),
        "{old_version}"
    );
    let old_whitelist = read(&sb, WHITELIST);
    assert_ne!(
        old_whitelist,
        repo_text("etc/whitelist.yaml"),
        "the older build ships a different whitelist"
    );
    let modified = format!("{}# changed by the operator\n", read(&sb, CONFIG));
    sb.write(CONFIG, &modified);
    write_runtime_files(&sb);

    // The shipped config.yaml changed too, so dpkg must decide: the agent itself runs dpkg
    // with --force-confold, which keeps the operator's file and sets the new one aside.
    sb.run("dpkg", &["--force-confold", "-i", &deb]);
    assert_eq!(deb_version(&sb), format!("{VERSION}-1 ii"));
    assert_eq!(read(&sb, CONFIG), modified, "modified config kept");
    assert_eq!(
        read(&sb, &format!("{CONFIG}.dpkg-dist")),
        repo_text("etc/config.yaml")
    );
    assert_eq!(
        read(&sb, WHITELIST),
        repo_text("etc/whitelist.yaml"),
        "an unmodified conffile follows the package"
    );
    assert_paths(&sb, DEB_PATHS);
    assert_eq!(
        deb_conffiles(&sb)[WHITELIST],
        md5(repo_text("etc/whitelist.yaml").as_bytes())
    );

    // remove: program gone; configuration, state, logs and certificates stay.
    sb.run("dpkg", &["--remove", "linux-patch-api"]);
    assert!(deb_version(&sb).ends_with(" rc"), "{}", deb_version(&sb));
    for gone in [
        "/usr/sbin/linux-patch-api",
        "/lib/systemd/system/linux-patch-api.service",
        "/usr/share/man/man8/linux-patch-api.8.gz",
    ] {
        assert!(!exists(&sb, gone), "{gone} is left after remove");
    }
    assert_eq!(read(&sb, CONFIG), modified);
    assert!(exists(&sb, WHITELIST));
    for kept in [
        format!("{STATE}/jobs/job-1.json"),
        format!("{LOGS}/audit.log"),
        format!("{CERTS}/server.key.pem"),
    ] {
        assert!(exists(&sb, &kept), "{kept} must survive remove");
    }

    // purge: configuration, state and logs go; the operator's certificates stay, and dpkg
    // says so.
    let out = sb.run("dpkg", &["--purge", "linux-patch-api"]);
    for gone in [
        CONFIG,
        WHITELIST,
        &format!("{CONFIG}.dpkg-dist"),
        STATE,
        LOGS,
    ] {
        assert!(!exists(&sb, gone), "{gone} is left after purge");
    }
    assert_eq!(
        read(&sb, &format!("{CERTS}/server.key.pem")),
        "operator's key\n"
    );
    assert!(
        all_output(&out).contains("kept /etc/linux_patch_api/certs"),
        "{}",
        all_output(&out)
    );
}

/// A stand-in for systemctl that records its calls, so the maintainer scripts' decisions
/// show without a running systemd (which bubblewrap cannot host).
const SYSTEMCTL_STUB: &str = "#!/bin/sh\n\
    echo \"$*\" >> /run/systemctl.log\n\
    case \"$*\" in *is-enabled*) echo enabled ;; *is-active*) exit 3 ;; esac\n\
    exit 0\n";

fn dpkg_under_systemd(sb: &Sandbox, args: &[&str]) -> Output {
    let mut cmd = sb.command("dpkg", args);
    cmd.env("PATH", "/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    run_ok(&mut cmd)
}

#[test]
fn deb_starts_only_with_certificates_and_restarts_only_without_blocking() {
    let deb = package("LPA_DEB");
    let old = package("LPA_DEB_OLD");
    require_sandbox!();
    let mut sb = Sandbox::new("deb-systemd");
    let (deb, _) = bind_packages(&mut sb, &deb, &old);
    let run = sb.share_run();
    std::fs::create_dir_all(run.join("systemd/system")).unwrap();
    sb.write("/usr/local/bin/systemctl", SYSTEMCTL_STUB);
    std::fs::set_permissions(
        host_path(&sb, "/usr/local/bin/systemctl"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let calls = || std::fs::read_to_string(run.join("systemctl.log")).unwrap_or_default();

    // No certificates: enabled, daemon reloaded, not started, and the operator is told why.
    let out = dpkg_under_systemd(&sb, &["-i", &deb]);
    assert!(calls().contains("daemon-reload"), "{}", calls());
    assert!(
        !calls().contains(" start "),
        "started without certificates: {}",
        calls()
    );
    assert!(
        all_output(&out).contains("enabled but not started"),
        "{}",
        all_output(&out)
    );

    // With certificates the configuration checks out: a first installation starts it.
    dpkg_under_systemd(&sb, &["--purge", "linux-patch-api"]);
    let env = Env::new("deb-systemd-pki");
    sb.write(&format!("{CERTS}/ca.pem"), &env.ca.cert_pem);
    sb.write(&format!("{CERTS}/server.pem"), &env.server.cert_pem);
    sb.write(&format!("{CERTS}/server.key.pem"), &env.server.key_pem);
    std::fs::write(run.join("systemctl.log"), "").unwrap();
    dpkg_under_systemd(&sb, &["-i", &deb]);
    assert!(
        calls().contains("start linux-patch-api.service"),
        "{}",
        calls()
    );

    // An upgrade (here a reinstall) restarts only a running service, without waiting.
    std::fs::write(run.join("systemctl.log"), "").unwrap();
    dpkg_under_systemd(&sb, &["-i", &deb]);
    assert!(
        calls().contains("--no-block try-restart linux-patch-api.service"),
        "{}",
        calls()
    );
    assert!(
        !calls().contains(" stop "),
        "upgrade stopped it: {}",
        calls()
    );

    // Removal stops it, without waiting either.
    std::fs::write(run.join("systemctl.log"), "").unwrap();
    dpkg_under_systemd(&sb, &["--remove", "linux-patch-api"]);
    assert!(
        calls().contains("--no-block stop linux-patch-api.service"),
        "{}",
        calls()
    );
}

// ---------------------------------------------------------------------------------------
// .rpm

const RPM_PATHS: &[Expected] = &[
    ("/usr/sbin/linux-patch-api", 0o755, false),
    ("/etc/linux_patch_api", 0o755, true),
    (CONFIG, 0o640, false),
    (WHITELIST, 0o640, false),
    (CERTS, 0o700, true),
    (STATE, 0o700, true),
    (LOGS, 0o750, true),
    (
        "/usr/lib/systemd/system/linux-patch-api.service",
        0o644,
        false,
    ),
    ("/usr/share/man/man8/linux-patch-api.8.gz", 0o644, false),
    (
        "/usr/share/man/man5/linux-patch-api.yaml.5.gz",
        0o644,
        false,
    ),
    ("/usr/share/licenses/linux-patch-api/COPYING", 0o644, false),
];

/// rpm inside the sandbox. Installs pass --nodeps: the Debian root's rpm database knows no
/// provider of /bin/sh, the scriptlets' interpreter (dpkg owns the shell there).
fn rpm(sb: &Sandbox, args: &[&str]) -> Output {
    sb.run("rpm", args)
}

fn rpm_version(sb: &Sandbox) -> String {
    stdout(&rpm(
        sb,
        &["-q", "--qf", "%{VERSION}-%{RELEASE}", "linux-patch-api"],
    ))
}

#[test]
fn rpm_installs_every_path_and_erases_to_nothing() {
    let new = package("LPA_RPM");
    let old = package("LPA_RPM_OLD");
    require_sandbox!();
    let mut sb = Sandbox::new("rpm-fresh");
    let (new, _) = bind_packages(&mut sb, &new, &old);
    rpm(&sb, &["-i", "--nodeps", &new]);
    assert_eq!(rpm_version(&sb), format!("{VERSION}-1"));
    assert_paths(&sb, RPM_PATHS);
    assert_contents(&sb, "/usr/lib/systemd/system/linux-patch-api.service");
    let configs = stdout(&rpm(&sb, &["-q", "-c", "linux-patch-api"]));
    assert_eq!(configs.lines().collect::<Vec<_>>(), [CONFIG, WHITELIST]);
    let listed = stdout(&rpm(&sb, &["-q", "-l", "linux-patch-api"]));
    for path in listed.lines() {
        assert!(
            RPM_PATHS.iter().any(|(p, _, _)| *p == path),
            "unexpected path in the .rpm: {path}"
        );
    }
    // Nothing differs from what rpm recorded.
    let verify = sb
        .command("rpm", &["-V", "--nodeps", "linux-patch-api"])
        .output()
        .unwrap();
    assert!(verify.status.success(), "{}", all_output(&verify));

    rpm(&sb, &["-e", "--nodeps", "linux-patch-api"]);
    for (path, _, _) in RPM_PATHS {
        assert!(!exists(&sb, path), "{path} is left after erase");
    }
}

#[test]
fn rpm_upgrade_keeps_a_modified_config_and_erase_keeps_state() {
    let new = package("LPA_RPM");
    let old = package("LPA_RPM_OLD");
    require_sandbox!();
    let mut sb = Sandbox::new("rpm-upgrade");
    let (new, old) = bind_packages(&mut sb, &new, &old);
    rpm(&sb, &["-i", "--nodeps", &old]);
    assert!(!rpm_version(&sb).starts_with(VERSION));
    let modified = format!("{}# changed by the operator\n", read(&sb, CONFIG));
    sb.write(CONFIG, &modified);
    write_runtime_files(&sb);

    rpm(&sb, &["-U", "--nodeps", &new]);
    assert_eq!(rpm_version(&sb), format!("{VERSION}-1"));
    assert_eq!(
        read(&sb, CONFIG),
        modified,
        "modified %config(noreplace) kept"
    );
    assert_eq!(
        read(&sb, &format!("{CONFIG}.rpmnew")),
        repo_text("etc/config.yaml")
    );
    assert_eq!(read(&sb, WHITELIST), repo_text("etc/whitelist.yaml"));
    assert_paths(&sb, RPM_PATHS);
    let verify = sb
        .command("rpm", &["-V", "--nodeps", "linux-patch-api"])
        .output()
        .unwrap();
    let verify = stdout(&verify);
    let changed: Vec<&str> = verify.lines().collect();
    assert_eq!(changed.len(), 1, "{verify}");
    assert!(
        changed[0].contains(" c ") && changed[0].ends_with(CONFIG),
        "{verify}"
    );

    // erase: rpm has no purge. The modified config is saved, state, logs and
    // certificates stay (the directories are not empty, so rpm leaves them).
    rpm(&sb, &["-e", "--nodeps", "linux-patch-api"]);
    assert!(!exists(&sb, "/usr/sbin/linux-patch-api"));
    assert!(!exists(&sb, CONFIG));
    assert_eq!(read(&sb, &format!("{CONFIG}.rpmsave")), modified);
    for kept in [
        format!("{STATE}/jobs/job-1.json"),
        format!("{LOGS}/audit.log"),
        format!("{CERTS}/server.key.pem"),
    ] {
        assert!(exists(&sb, &kept), "{kept} must survive erase");
    }
}

// ---------------------------------------------------------------------------------------
// .apk (structure only: no apk-tools here)

/// One tar entry: name, mode, uid, gid, type flag, PAX records that preceded it, contents.
#[derive(Debug)]
struct TarEntry {
    name: String,
    mode: u32,
    uid: u32,
    gid: u32,
    kind: u8,
    pax: BTreeMap<String, String>,
    data: Vec<u8>,
}

fn octal(field: &[u8]) -> u64 {
    let text = String::from_utf8_lossy(field);
    let text = text.trim_matches(|c: char| c == '\0' || c == ' ');
    u64::from_str_radix(text, 8).unwrap_or_else(|e| panic!("octal field {text:?}: {e}"))
}

fn cstr(field: &[u8]) -> String {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

fn pax_records(data: &[u8]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = data;
    while !rest.is_empty() {
        let space = rest.iter().position(|&b| b == b' ').unwrap();
        let len: usize = std::str::from_utf8(&rest[..space])
            .unwrap()
            .parse()
            .unwrap();
        let record = std::str::from_utf8(&rest[space + 1..len - 1]).unwrap();
        let (k, v) = record.split_once('=').unwrap();
        out.insert(k.to_string(), v.to_string());
        rest = &rest[len..];
    }
    out
}

/// Parses tar records; returns the entries and whether the end-of-archive blocks came.
fn parse_tar(bytes: &[u8]) -> (Vec<TarEntry>, bool) {
    assert_eq!(bytes.len() % 512, 0, "tar data is whole 512-byte blocks");
    let mut entries = Vec::new();
    let mut pax = BTreeMap::new();
    let mut at = 0;
    while at < bytes.len() {
        let h = &bytes[at..at + 512];
        if h.iter().all(|&b| b == 0) {
            return (entries, true);
        }
        assert_eq!(&h[257..262], b"ustar", "ustar header at {at}");
        let size = octal(&h[124..136]) as usize;
        let data = bytes[at + 512..at + 512 + size].to_vec();
        at += 512 + size.div_ceil(512) * 512;
        let kind = h[156];
        if kind == b'x' {
            pax = pax_records(&data);
            continue;
        }
        let prefix = cstr(&h[345..500]);
        let name = cstr(&h[0..100]);
        entries.push(TarEntry {
            name: if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            },
            mode: octal(&h[100..108]) as u32,
            uid: octal(&h[108..116]) as u32,
            gid: octal(&h[116..124]) as u32,
            kind,
            pax: std::mem::take(&mut pax),
            data,
        });
    }
    (entries, false)
}

/// Splits concatenated gzip streams: each boundary is the shortest prefix that is a whole,
/// valid gzip stream (a prefix cut inside a stream fails its CRC and length check).
fn gzip_streams(bytes: &[u8], dir: &Path) -> Vec<Vec<u8>> {
    let mut streams = Vec::new();
    let mut start = 0;
    let candidate = dir.join("stream.gz");
    while start < bytes.len() {
        let ends = (start + 18..bytes.len())
            .filter(|&i| bytes[i..].starts_with(&[0x1f, 0x8b, 0x08]))
            .chain([bytes.len()]);
        let mut found = None;
        for end in ends {
            std::fs::write(&candidate, &bytes[start..end]).unwrap();
            let ok = Command::new("gzip")
                .arg("-t")
                .arg(&candidate)
                .stderr(Stdio::null())
                .status()
                .unwrap()
                .success();
            if ok {
                found = Some(end);
                break;
            }
        }
        let end = found.unwrap_or_else(|| panic!("no valid gzip stream at offset {start}"));
        streams.push(bytes[start..end].to_vec());
        start = end;
    }
    streams
}

fn gunzip_bytes(stream: &[u8], dir: &Path) -> Vec<u8> {
    let path = dir.join("one.gz");
    std::fs::write(&path, stream).unwrap();
    gunzip(&path)
}

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn apk_is_an_unsigned_apk_v2_package() {
    let apk = package("LPA_APK");
    let tmp = TempDir::new("apk-check");
    let bytes = std::fs::read(&apk).unwrap();
    let streams = gzip_streams(&bytes, tmp.path());
    assert_eq!(
        streams.len(),
        2,
        "control and data streams (unsigned: no signature stream)"
    );

    // Control: a tar SEGMENT (no end-of-archive blocks) with .PKGINFO and the scripts.
    let control = gunzip_bytes(&streams[0], tmp.path());
    let (entries, ended) = parse_tar(&control);
    assert!(!ended, "the control segment must not end the archive");
    let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        [
            ".PKGINFO",
            ".pre-install",
            ".post-install",
            ".post-upgrade",
            ".pre-deinstall",
            ".post-deinstall"
        ]
    );
    for script in &entries[1..] {
        assert_eq!(script.mode, 0o755, "{}", script.name);
        assert!(script.data.starts_with(b"#!/bin/sh\n"), "{}", script.name);
        let path = tmp.path().join("script");
        std::fs::write(&path, &script.data).unwrap();
        run_ok(Command::new("sh").arg("-n").arg(&path));
    }
    let pkginfo = String::from_utf8(entries[0].data.clone()).unwrap();
    let mut fields: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for line in pkginfo.lines().filter(|l| !l.starts_with('#')) {
        let (k, v) = line.split_once(" = ").unwrap_or_else(|| panic!("{line}"));
        fields.entry(k).or_default().push(v);
    }
    let one = |k: &str| -> &str {
        let v = fields
            .get(k)
            .unwrap_or_else(|| panic!("no {k} in {pkginfo}"));
        assert_eq!(v.len(), 1, "{k} once");
        v[0]
    };
    assert_eq!(one("pkgname"), "linux-patch-api");
    assert_eq!(one("pkgver"), format!("{VERSION}-r0"));
    assert_eq!(one("arch"), "x86_64");
    assert!(!one("pkgdesc").is_empty() && !one("url").is_empty());
    assert!(!one("license").is_empty());
    assert_eq!(fields["depend"], ["/bin/sh"]);
    let datahash = ring::digest::digest(&ring::digest::SHA256, &streams[1]);
    assert_eq!(
        one("datahash"),
        hex(datahash.as_ref()),
        "sha256 of stream 2"
    );

    // Data: a whole tarball; every regular file carries its SHA-1 in a PAX header.
    let data = gunzip_bytes(&streams[1], tmp.path());
    let (entries, ended) = parse_tar(&data);
    assert!(
        ended,
        "the data tarball ends with the end-of-archive blocks"
    );
    let mut size = 0;
    for e in &entries {
        assert_eq!((e.uid, e.gid), (0, 0), "{} owned by root", e.name);
        if e.kind == b'0' {
            size += e.data.len();
            let sha1 = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &e.data);
            assert_eq!(
                e.pax.get("APK-TOOLS.checksum.SHA1"),
                Some(&hex(sha1.as_ref())),
                "{}",
                e.name
            );
        }
    }
    assert_eq!(one("size"), size.to_string(), "installed size");
    let find = |name: &str| {
        entries
            .iter()
            .find(|e| e.name.trim_end_matches('/') == name)
            .unwrap_or_else(|| panic!("{name} is not in the apk"))
    };
    let static_bin = std::fs::read(package("LPA_STATIC_BIN")).unwrap();
    for (name, mode, content) in [
        ("usr/sbin/linux-patch-api", 0o755, Some(static_bin)),
        (
            "etc/init.d/linux-patch-api",
            0o755,
            Some(std::fs::read(repo("etc/openrc/linux-patch-api")).unwrap()),
        ),
        (
            "etc/linux_patch_api/config.yaml",
            0o640,
            Some(std::fs::read(repo("etc/config.yaml")).unwrap()),
        ),
        (
            "etc/linux_patch_api/whitelist.yaml",
            0o640,
            Some(std::fs::read(repo("etc/whitelist.yaml")).unwrap()),
        ),
        ("usr/share/man/man8/linux-patch-api.8.gz", 0o644, None),
        ("usr/share/man/man5/linux-patch-api.yaml.5.gz", 0o644, None),
        ("etc/linux_patch_api/certs", 0o700, None),
        ("var/lib/linux_patch_api", 0o700, None),
        ("var/log/linux_patch_api", 0o750, None),
    ] {
        let e = find(name);
        assert_eq!(e.mode, mode, "{name}: mode {:o}", e.mode);
        if let Some(content) = content {
            assert!(e.data == content, "{name}: contents differ from the source");
        }
    }
    let man8 = gunzip_bytes(
        &find("usr/share/man/man8/linux-patch-api.8.gz").data,
        tmp.path(),
    );
    assert_eq!(man8, std::fs::read(repo("man/linux-patch-api.8")).unwrap());
}

// ---------------------------------------------------------------------------------------
// Service definitions

#[test]
fn openrc_script_is_valid_shell_with_the_stop_guarantees() {
    let script = repo_text("etc/openrc/linux-patch-api");
    run_ok(
        Command::new("sh")
            .arg("-n")
            .arg(repo("etc/openrc/linux-patch-api")),
    );
    assert!(script.starts_with("#!/sbin/openrc-run\n"));
    for needle in [
        "supervisor=supervise-daemon",
        "retry=\"TERM/2100/KILL/5\"",
        "supervise-daemon \"${RC_SVCNAME}\" --signal HUP",
        "need net",
        "extra_started_commands=\"reload\"",
    ] {
        assert!(script.contains(needle), "the OpenRC script lacks {needle}");
    }
}

#[test]
fn systemd_unit_verifies_and_keeps_its_stop_guarantees() {
    let unit = repo_text("etc/linux-patch-api.service");
    for needle in [
        "KillMode=mixed",
        "TimeoutStopSec=35min",
        "ExecReload=kill -HUP $MAINPID",
    ] {
        assert!(unit.contains(needle), "the unit lacks {needle}");
    }
    for off in [
        "ProtectSystem=",
        "NoNewPrivileges=",
        "MemoryDenyWriteExecute=",
    ] {
        assert!(
            !unit.lines().any(|l| l.starts_with(off)),
            "{off} would break package management"
        );
    }
    let analyze = Path::new("/usr/bin/systemd-analyze");
    if !analyze.exists() {
        eprintln!("SKIPPED systemd-analyze verify: systemd-analyze is not installed");
        return;
    }
    // The unit as installed, pointing at a binary that exists here.
    let tmp = TempDir::new("unit-verify");
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_linux-patch-api"));
    let path = tmp.path().join("linux-patch-api.service");
    std::fs::write(
        &path,
        unit.replace(
            "ExecStart=/usr/sbin/linux-patch-api",
            &format!("ExecStart={}", bin.display()),
        ),
    )
    .unwrap();
    let out = Command::new(analyze)
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", all_output(&out));
    assert_eq!(
        all_output(&out).trim(),
        "",
        "systemd-analyze verify is silent"
    );
}

#[test]
fn deb_passes_lintian_without_errors_or_warnings() {
    let deb = package("LPA_DEB");
    if !Path::new("/usr/bin/lintian").exists() {
        eprintln!("SKIPPED: lintian is missing (Debian package: lintian, installed by .ci/run)");
        return;
    }
    // Overrides ship in the package, each with its reason (packaging/deb/lintian-overrides).
    let out = Command::new("lintian")
        .args(["--fail-on", "error,warning", "--no-tag-display-limit"])
        .arg(&deb)
        .output()
        .unwrap();
    let report = stdout(&out);
    assert!(
        out.status.success()
            && !report
                .lines()
                .any(|l| l.starts_with("E:") || l.starts_with("W:")),
        "lintian:\n{}",
        all_output(&out)
    );
}
