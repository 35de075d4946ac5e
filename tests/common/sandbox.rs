//! The sandbox: a copy-on-write view (overlayfs) of the cached Debian base root built by
//! `tests/sandbox/base-root.sh`, in which the package tools and the real agent binary run
//! under bubblewrap. Nothing here touches the host's own packages.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use super::{eventually, free_port, Env, TempDir};

/// Why sandbox tests cannot run here, or `None` when they can.
pub fn unavailable() -> Option<String> {
    if unsafe { libc::geteuid() } != 0 {
        return Some(
            "sandbox tests need root (overlayfs mounts); run them as root, as CI does".into(),
        );
    }
    for tool in ["bwrap", "mmdebstrap", "mount"] {
        if which(tool).is_none() {
            return Some(format!("{tool} is missing (installed by .ci/run)"));
        }
    }
    None
}

/// Skips the calling test with a printed reason when the sandbox cannot run.
#[macro_export]
macro_rules! require_sandbox {
    () => {
        if let Some(why) = common::sandbox::unavailable() {
            eprintln!("SKIPPED: {why}");
            return;
        }
    };
}

fn which(tool: &str) -> Option<PathBuf> {
    ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        .iter()
        .map(|d| Path::new(d).join(tool))
        .find(|p| p.exists())
}

fn repo_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs a command, panicking with its output when it fails.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The cached base root (built on first use; minutes the first time on a new machine).
pub fn base_root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let out = run_ok(&mut Command::new(
            repo_dir().join("tests/sandbox/base-root.sh"),
        ));
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
    })
}

/// Fixture repositories of one ecosystem, built once per test binary.
pub fn fixtures(kind: &str) -> &'static Path {
    static DIRS: OnceLock<std::sync::Mutex<std::collections::HashMap<String, &'static Path>>> =
        OnceLock::new();
    let map = DIRS.get_or_init(Default::default);
    let mut map = map.lock().unwrap();
    if let Some(p) = map.get(kind) {
        return p;
    }
    let dir = std::env::temp_dir().join(format!("lpa-fixtures-{kind}-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = repo_dir().join(format!("tests/sandbox/fixtures-{kind}.sh"));
    run_ok(Command::new(&script).arg(&dir));
    let leaked: &'static Path = Box::leak(dir.into_boxed_path());
    map.insert(kind.to_string(), leaked);
    leaked
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// One copy-on-write root, unmounted and removed on drop.
pub struct Sandbox {
    dir: TempDir,
    merged: PathBuf,
    binds: Vec<(PathBuf, String)>,
    run_dir: Option<PathBuf>,
    agent_bin: PathBuf,
}

impl Sandbox {
    /// A fresh overlay over the base root.
    pub fn new(tag: &str) -> Sandbox {
        Sandbox::on(base_root(), tag)
    }

    /// A fresh overlay over another cached root (the Alpine-like roots of `apk.rs`).
    pub fn on(base: &Path, tag: &str) -> Sandbox {
        let dir = TempDir::new(&format!("sandbox-{tag}"));
        let (upper, work, merged) = (
            dir.path().join("u"),
            dir.path().join("w"),
            dir.path().join("m"),
        );
        for d in [&upper, &work, &merged] {
            std::fs::create_dir_all(d).unwrap();
        }
        let opts = format!(
            "lowerdir={},upperdir={},workdir={}",
            base.display(),
            upper.display(),
            work.display()
        );
        run_ok(
            Command::new("mount")
                .args(["-t", "overlay", "overlay", "-o", &opts])
                .arg(&merged),
        );
        Sandbox {
            dir,
            merged,
            binds: Vec::new(),
            run_dir: None,
            agent_bin: PathBuf::from(env!("CARGO_BIN_EXE_linux-patch-api")),
        }
    }

    /// Gives every later command one shared, writable `/run` (instead of a fresh tmpfs
    /// each), so a test can put files there that the agent sees; returns it on the host.
    pub fn share_run(&mut self) -> PathBuf {
        let dir = self.dir.path().join("run");
        std::fs::create_dir_all(&dir).unwrap();
        self.run_dir = Some(dir.clone());
        dir
    }

    /// Runs `bin` as the agent instead of the test build (a root without glibc needs the
    /// static binary).
    pub fn set_agent_binary(&mut self, bin: &Path) {
        self.agent_bin = bin.to_path_buf();
    }

    /// The root as seen from the host.
    pub fn root(&self) -> &Path {
        &self.merged
    }

    /// Makes a host directory visible inside the sandbox at `inside` (read-only).
    pub fn bind(&mut self, host: &Path, inside: &str) {
        std::fs::create_dir_all(self.merged.join(inside.trim_start_matches('/'))).unwrap();
        self.binds.push((host.to_path_buf(), inside.to_string()));
    }

    /// Writes a file inside the sandbox.
    pub fn write(&self, inside: &str, content: &str) {
        let p = self.merged.join(inside.trim_start_matches('/'));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }

    /// Writes an executable file (0755) inside the sandbox: stand-ins for system tools.
    pub fn write_executable(&self, inside: &str, content: &str) {
        use std::os::unix::fs::PermissionsExt;
        self.write(inside, content);
        let path = self.merged.join(inside.trim_start_matches('/'));
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// Binds the deb fixture repositories and refreshes apt's lists from them.
    pub fn with_deb_repos(&mut self) {
        let fix = fixtures("deb");
        self.bind(fix, "/srv/lpa-deb");
        self.write(
            "/etc/apt/sources.list.d/lpa.list",
            &read(fix, "sources.list"),
        );
        self.run("apt-get", &["update", "-q"]);
    }

    /// Binds the rpm fixture repository and configures it for dnf and zypper.
    pub fn with_rpm_repo(&mut self) {
        let fix = fixtures("rpm");
        self.bind(fix, "/srv/lpa-rpm");
        let repo = read(fix, "lpa.repo");
        self.write("/etc/yum.repos.d/lpa.repo", &repo);
        self.write("/etc/zypp/repos.d/lpa.repo", &repo);
        self.write("/etc/dnf/dnf.conf", &read(fix, "dnf.conf"));
    }

    /// Binds the pacman fixture repository and configures pacman; returns the fixture
    /// directory (its `pkgs/` holds every version's package file).
    pub fn with_pacman_repo(&mut self) -> &'static Path {
        let fix = fixtures("pacman");
        self.bind(fix, "/srv/lpa-pacman");
        self.write("/etc/pacman.conf", &read(fix, "pacman.conf"));
        fix
    }

    /// The pacman fixture repository, with lpa-lib, lpa-hello and lpa-tool 1.0-1 installed
    /// from their package files by pacman itself.
    pub fn with_pacman_fixtures_installed(&mut self) {
        self.with_pacman_repo();
        let pkgs = ["lpa-lib", "lpa-hello", "lpa-tool"]
            .map(|p| format!("/srv/lpa-pacman/pkgs/{p}-1.0-1-any.pkg.tar.zst"));
        let mut args = vec!["--noconfirm", "-U"];
        args.extend(pkgs.iter().map(String::as_str));
        self.run("pacman", &args);
    }

    /// Moves the named programs (paths inside the sandbox) out of the way until the guard
    /// drops, so a test can prove that a request starts none of them.
    pub fn hide(&self, programs: &[&str]) -> Hidden {
        let mut moved = Vec::new();
        for p in programs {
            let path = self.merged.join(p.trim_start_matches('/'));
            if path.exists() {
                let away = path.with_extension("lpa-hidden");
                std::fs::rename(&path, &away).unwrap();
                moved.push((away, path));
            }
        }
        Hidden(moved)
    }

    /// A bubblewrap command running `program args` with the sandbox as `/`.
    pub fn command(&self, program: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new("bwrap");
        cmd.arg("--bind").arg(&self.merged).arg("/");
        cmd.args(["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]);
        match &self.run_dir {
            Some(dir) => cmd.arg("--bind").arg(dir).arg("/run"),
            None => cmd.args(["--tmpfs", "/run"]),
        };
        for (host, inside) in &self.binds {
            cmd.arg("--ro-bind").arg(host).arg(inside);
        }
        cmd.args([
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
            "--die-with-parent",
        ]);
        cmd.env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("HOME", "/root")
            .env("LC_ALL", "C")
            .env("DEBIAN_FRONTEND", "noninteractive");
        cmd.arg("--").arg(program).args(args);
        cmd
    }

    /// Runs a command inside the sandbox and requires success.
    pub fn run(&self, program: &str, args: &[&str]) -> Output {
        run_ok(&mut self.command(program, args))
    }

    /// Starts the real agent binary inside the sandbox, serving mTLS on a free loopback port
    /// (the network namespace is shared), with `extra` YAML appended to its config.
    pub fn start_agent(&mut self, env: &Env, extra: &str) -> SandboxAgent {
        let port = free_port();
        let etc = "/etc/linux_patch_api";
        let copy = |from: &Path, name: &str| {
            self.write(
                &format!("{etc}/{name}"),
                &std::fs::read_to_string(from).unwrap(),
            );
        };
        copy(&env.ca_path, "certs/ca.pem");
        copy(&env.server_cert, "certs/server.pem");
        copy(&env.server_key, "certs/server.key.pem");
        self.write(&format!("{etc}/whitelist.yaml"), "allowed: [127.0.0.1]\n");
        let config = format!(
            "server:\n  bind: 127.0.0.1\n  port: {port}\n  shutdown_grace_seconds: 2\n\
             logging:\n  level: debug\n  audit_log: /var/log/linux_patch_api/audit.log\n{extra}"
        );
        self.write(&format!("{etc}/config.yaml"), &config);
        self.binds.push((
            self.agent_bin.clone(),
            "/usr/local/sbin/linux-patch-api".into(),
        ));
        std::fs::create_dir_all(self.merged.join("usr/local/sbin")).unwrap();
        std::fs::write(self.merged.join("usr/local/sbin/linux-patch-api"), "").unwrap();
        let log = self.dir.path().join("agent.log");
        let child = self
            .command(
                "/usr/local/sbin/linux-patch-api",
                &["--config", "/etc/linux_patch_api/config.yaml"],
            )
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        self.binds.pop();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut agent = SandboxAgent { child, addr, log };
        let up = eventually(Duration::from_secs(15), || {
            std::net::TcpStream::connect(addr).is_ok()
        });
        if !up {
            let _ = agent.child.kill();
            panic!("agent did not start in the sandbox:\n{}", agent.log_text());
        }
        agent
    }
}

/// Programs moved away by [`Sandbox::hide`]; put back on drop.
pub struct Hidden(Vec<(PathBuf, PathBuf)>);

impl Drop for Hidden {
    fn drop(&mut self) {
        for (away, path) in &self.0 {
            let _ = std::fs::rename(away, path);
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.merged).status();
    }
}

/// The agent running inside a sandbox; killed on drop.
pub struct SandboxAgent {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    log: PathBuf,
}

impl SandboxAgent {
    /// SIGKILLs the agent process itself (not bubblewrap), as a crash would end it.
    pub fn kill_agent_process(&mut self) {
        self.signal_agent(libc::SIGKILL);
        let _ = self.child.wait();
    }

    /// Sends a signal to the agent process itself (not bubblewrap).
    pub fn signal_agent(&self, signal: i32) {
        let pid = descendant_named(self.child.id(), "linux-patch-api")
            .unwrap_or_else(|| panic!("no agent process under bwrap {}", self.child.id()));
        assert_eq!(unsafe { libc::kill(pid as i32, signal) }, 0);
    }

    /// The agent process's pid (not bubblewrap's), while it runs.
    pub fn agent_pid(&self) -> Option<u32> {
        descendant_named(self.child.id(), "linux-patch-api")
    }

    /// Whether the agent (and so its bubblewrap) has exited, and how.
    pub fn try_exit(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().unwrap()
    }

    /// What the agent logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for SandboxAgent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The first process below `ancestor` whose command name is `name`.
pub fn descendant_named(ancestor: u32, name: &str) -> Option<u32> {
    let parent_of = |pid: u32| -> Option<(u32, String)> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let open = stat.find('(')?;
        let close = stat.rfind(')')?;
        let comm = stat[open + 1..close].to_string();
        let ppid = stat[close + 2..].split_whitespace().nth(1)?.parse().ok()?;
        Some((ppid, comm))
    };
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Some((_, comm)) = parent_of(pid) else {
            continue;
        };
        if comm != name {
            continue;
        }
        let mut p = pid;
        while let Some((ppid, _)) = parent_of(p) {
            if ppid == ancestor {
                return Some(pid);
            }
            if ppid <= 1 {
                break;
            }
            p = ppid;
        }
    }
    None
}
