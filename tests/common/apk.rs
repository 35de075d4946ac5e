//! apk-tools for real: the Alpine-like roots (`tests/sandbox/alpine-root.sh`), one per apk
//! major version, with the static apk-tools `make test-apk` builds; the apk fixture
//! repositories (`tests/sandbox/fixtures-apk.sh`, signed and unsigned); and a [`Tool`] per
//! apk-tools version so the shared sandbox scenarios run against both.
//!
//! These roots hold no glibc, so the agent that runs in them is the static build
//! (LPA_STATIC_BIN). `make test-apk` passes LPA_APK2, LPA_APK3 (the apk binaries),
//! LPA_STATIC_BIN, LPA_APK and LPA_APK_SIGNED (the project's own .apk, unsigned and
//! signed) and LPA_APK_KEY_PUB; without them these tests fail, naming the make target.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use super::jobs::{stdout, Tool};
use super::sandbox::{fixtures, run_ok, Sandbox};

/// One apk-tools version under test.
pub struct ApkTools {
    /// The major version: which Alpine-like root (`alpine-root.sh 2|3`).
    pub major: u8,
    /// The exact version `apk --version` must report.
    pub version: &'static str,
    /// The environment variable holding the static binary's path.
    pub env: &'static str,
}

/// apk-tools 2.14.10 (Alpine up to 3.22).
pub const APK_2: ApkTools = ApkTools {
    major: 2,
    version: "2.14.10",
    env: "LPA_APK2",
};

/// apk-tools 3.0.6 (Alpine 3.23 and later).
pub const APK_3: ApkTools = ApkTools {
    major: 3,
    version: "3.0.6",
    env: "LPA_APK3",
};

/// The path in environment variable `name`, or a loud failure naming `make test-apk`.
pub fn required_path(name: &str) -> PathBuf {
    match std::env::var_os(name) {
        Some(p) if Path::new(&p).exists() => PathBuf::from(p),
        Some(p) => panic!(
            "{name}={} does not exist: run `make test-apk`",
            p.to_string_lossy()
        ),
        None => panic!(
            "{name} is not set: the apk tests run through `make test-apk` (part of `make test`), \
             which builds apk-tools and the packages (`make packages`) and passes them"
        ),
    }
}

fn repo_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The cached Alpine-like root for `apk` (built on first use, seconds).
pub fn alpine_root(apk: &ApkTools) -> &'static Path {
    static ROOTS: OnceLock<Mutex<Vec<(u8, &'static Path)>>> = OnceLock::new();
    let mut roots = ROOTS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some((_, p)) = roots.iter().find(|(m, _)| *m == apk.major) {
        return p;
    }
    let bin = required_path(apk.env);
    let out = run_ok(
        Command::new(repo_dir().join("tests/sandbox/alpine-root.sh"))
            .arg(apk.major.to_string())
            .arg(&bin),
    );
    let root: &'static Path =
        Box::leak(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).into_boxed_path());
    roots.push((apk.major, root));
    root
}

/// A fresh overlay over the Alpine-like root of `apk`, running the static agent; checks
/// that /sbin/apk inside is the version under test.
pub fn sandbox(apk: &ApkTools, tag: &str) -> Sandbox {
    let mut sb = Sandbox::on(alpine_root(apk), &format!("apk{}-{tag}", apk.major));
    sb.set_agent_binary(&required_path("LPA_STATIC_BIN"));
    let (ok, version) = stdout(&sb, "/sbin/apk", &["--version"]);
    assert!(
        ok && version.starts_with(&format!("apk-tools {},", apk.version)),
        "/sbin/apk in the root is not apk-tools {}: {version}",
        apk.version
    );
    println!("running with {version}");
    sb
}

/// Binds the apk fixture repositories at /srv/lpa-apk and configures the signed one (its
/// public key in /etc/apk/keys) or the unsigned one (`signed` false: every apk command then
/// needs `--allow-untrusted`); refreshes the index and installs busybox-binsh, the /bin/sh
/// provider, as an Alpine root has busybox-binsh. Returns the fixture directory.
pub fn with_apk_repo(sb: &mut Sandbox, signed: bool) -> &'static Path {
    // fixtures() only writes package files into a temp directory (python3 + openssl, no
    // apk); every apk command below runs through sb.run, under bwrap with the overlay as /,
    // and sb.write writes inside that overlay: the host's packages are never touched.
    let fix = fixtures("apk");
    sb.bind(fix, "/srv/lpa-apk");
    let list = if signed {
        "repositories"
    } else {
        "repositories-unsigned"
    };
    sb.write(
        "/etc/apk/repositories",
        &std::fs::read_to_string(fix.join(list)).unwrap(),
    );
    if signed {
        trust_fixture_key(sb);
        sb.run("apk", &["update"]);
        sb.run("apk", &["add", "busybox-binsh"]);
    } else {
        sb.run("apk", &["--allow-untrusted", "update"]);
        sb.run("apk", &["--allow-untrusted", "add", "busybox-binsh"]);
    }
    fix
}

/// Installs the fixtures' public key as /etc/apk/keys/lpa-fixtures.rsa.pub.
pub fn trust_fixture_key(sb: &Sandbox) {
    // Read from the fixtures' temp directory, written by sb.write inside the sandbox's
    // overlay root: the host's /etc/apk is never touched.
    let key = fixtures("apk").join("keys/lpa-fixtures.rsa.pub");
    sb.write(
        "/etc/apk/keys/lpa-fixtures.rsa.pub",
        &std::fs::read_to_string(key).unwrap(),
    );
}

/// The installed version of `name` as apk itself lists it.
pub fn apk_version(sb: &Sandbox, name: &str) -> Option<String> {
    let (ok, out) = stdout(sb, "apk", &["list", "--installed", "--", name]);
    assert!(ok, "apk list --installed {name}: {out}");
    let prefix = format!("{name}-");
    out.lines()
        .filter_map(|l| l.split_whitespace().next())
        .find_map(|pkg| pkg.strip_prefix(&prefix).map(str::to_string))
}

/// `/etc/apk/world` inside the sandbox.
pub fn world(sb: &Sandbox) -> String {
    std::fs::read_to_string(sb.root().join("etc/apk/world")).unwrap_or_default()
}

/// The installed database must parse for apk and name no half-installed package; apk must
/// not be left holding its lock.
pub fn apk_consistent(sb: &Sandbox) {
    let (ok, out) = stdout(sb, "apk", &["list", "--installed"]);
    assert!(ok, "apk list --installed fails: {out}");
    let (ok, out) = stdout(sb, "apk", &["--no-network", "--wait", "1", "version"]);
    assert!(ok, "apk cannot take its lock or read its database: {out}");
}

/// The fixture version strings of the other ecosystems in apk's spelling: `1.0-1` is
/// `1.0-r0` (the package release counts from r0).
pub fn apk_release(v: &str) -> String {
    match v.rsplit_once('-') {
        Some((base, rel)) => match rel.parse::<u32>() {
            Ok(n) if n > 0 => format!("{base}-r{}", n - 1),
            _ => v.to_string(),
        },
        None => v.to_string(),
    }
}

fn apk2_sandbox(tag: &str) -> Sandbox {
    sandbox(&APK_2, tag)
}

fn apk3_sandbox(tag: &str) -> Sandbox {
    sandbox(&APK_3, tag)
}

fn signed_repo(sb: &mut Sandbox) {
    with_apk_repo(sb, true);
}

/// apk-tools 2.14.10 in its Alpine-like root, with the signed fixture repository.
pub const APK2: Tool = Tool {
    backend: "apk",
    sandbox: apk2_sandbox,
    ver: apk_release,
    setup: signed_repo,
    version: apk_version,
    consistent: apk_consistent,
    remove_keeps_conffile: false,
    transaction_log: None,
    world: Some(world),
};

/// apk-tools 3.0.6 in its Alpine-like root, with the signed fixture repository.
pub const APK3: Tool = Tool {
    backend: "apk",
    sandbox: apk3_sandbox,
    ver: apk_release,
    setup: signed_repo,
    version: apk_version,
    consistent: apk_consistent,
    remove_keeps_conffile: false,
    transaction_log: None,
    world: Some(world),
};
