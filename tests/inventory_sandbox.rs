//! The package inventory against the REAL package managers, inside a sandbox root: fixture
//! packages installed at known versions by the tool itself, then read through the agent's
//! API over mTLS. Needs root (CI is root); skipped with a printed reason otherwise.

mod common;
#[path = "scenarios/inventory.rs"]
mod scenarios;

use common::jobs::same_version;
use common::sandbox::Sandbox;
use common::*;
use scenarios::*;

/// Every installed package the tool lists, by name, for a whole-inventory comparison.
fn tool_count(sb: &Sandbox, program: &str, args: &[&str], keep: fn(&str) -> bool) -> usize {
    let out = sb.run(program, args);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| keep(l))
        .count()
}

#[test]
fn apt_inventory_in_sandbox() {
    require_sandbox!();
    let env = Env::new("sb-apt");
    let mut sb = Sandbox::new("apt");
    sb.with_deb_repos();
    sb.run(
        "apt-get",
        &[
            "install",
            "-y",
            "-q",
            "lpa-hello=1.0-1",
            "lpa-lib=1.0-1",
            "lpa-tool=1.0-1",
        ],
    );
    let agent = sb.start_agent(&env, "package_manager:\n  backend: apt\n");

    let everything = data(&agent, &env, "/api/v1/packages?limit=1000");
    let dpkg = tool_count(
        &sb,
        "dpkg-query",
        &["-W", "-f", "${db:Status-Abbrev} ${Package}\n"],
        |l| l.starts_with("ii "),
    );
    assert_eq!(
        everything["total"].as_u64().unwrap() as usize,
        dpkg,
        "every installed package, as dpkg-query lists them"
    );
    check_inventory(&agent, &env, &sb, same_version, &|| {
        sb.run("apt-get", &["remove", "-y", "-q", "lpa-tool"]);
    });
}

#[test]
fn pacman_inventory_in_sandbox() {
    require_sandbox!();
    let env = Env::new("sb-pacman");
    let mut sb = Sandbox::new("pacman");
    sb.with_pacman_fixtures_installed();
    let agent = sb.start_agent(&env, "package_manager:\n  backend: pacman\n");

    let everything = data(&agent, &env, "/api/v1/packages?limit=1000");
    let pacman = tool_count(&sb, "pacman", &["-Q"], |l| !l.trim().is_empty());
    assert_eq!(
        everything["total"].as_u64().unwrap() as usize,
        pacman,
        "every package pacman -Q lists"
    );
    check_inventory(&agent, &env, &sb, same_version, &|| {
        sb.run("pacman", &["--noconfirm", "-R", "lpa-tool"]);
    });
}

/// A sandbox with the rpm fixture repository configured for dnf and zypper.
fn rpm_sandbox(tag: &str) -> Sandbox {
    let mut sb = Sandbox::new(tag);
    sb.with_rpm_repo();
    sb
}

fn rpm_count(sb: &Sandbox) -> usize {
    tool_count(sb, "rpm", &["-qa", "--qf", "%{NAME}\n"], |l| {
        !l.is_empty() && l != "gpg-pubkey"
    })
}

#[test]
fn dnf_inventory_in_sandbox() {
    require_sandbox!();
    let env = Env::new("sb-dnf");
    let mut sb = rpm_sandbox("dnf");
    sb.run(
        "dnf",
        &[
            "-y",
            "-q",
            "install",
            "lpa-lib-1.0-1",
            "lpa-hello-1.0-1",
            "lpa-tool-1.0-1",
        ],
    );
    let agent = sb.start_agent(&env, "package_manager:\n  backend: dnf\n");
    let everything = data(&agent, &env, "/api/v1/packages?limit=1000");
    assert_eq!(
        everything["total"].as_u64().unwrap() as usize,
        rpm_count(&sb),
        "every package rpm -qa lists"
    );
    check_inventory(&agent, &env, &sb, same_version, &|| {
        sb.run("dnf", &["-y", "-q", "remove", "lpa-tool"]);
    });
}

#[test]
fn zypper_inventory_in_sandbox() {
    require_sandbox!();
    let env = Env::new("sb-zypper");
    let mut sb = rpm_sandbox("zypper");
    sb.run("zypper", &["--non-interactive", "refresh"]);
    sb.run(
        "zypper",
        &[
            "--non-interactive",
            "install",
            "lpa-lib=1.0-1",
            "lpa-hello=1.0-1",
            "lpa-tool=1.0-1",
        ],
    );
    let agent = sb.start_agent(&env, "package_manager:\n  backend: zypper\n");
    let everything = data(&agent, &env, "/api/v1/packages?limit=1000");
    assert_eq!(
        everything["total"].as_u64().unwrap() as usize,
        rpm_count(&sb),
        "every package rpm -qa lists"
    );
    check_inventory(&agent, &env, &sb, same_version, &|| {
        sb.run("zypper", &["--non-interactive", "remove", "lpa-tool"]);
    });
}

/// Sets the `Version:` of `package` in the sandbox's dpkg status to `version` in place (same
/// file, same inode), as an editor or another tool would, without dpkg knowing.
fn rewrite_dpkg_version(sb: &Sandbox, package: &str, version: &str) {
    let path = sb.root().join("var/lib/dpkg/status");
    let text = std::fs::read_to_string(&path).unwrap();
    let start = text
        .find(&format!("Package: {package}\n"))
        .unwrap_or_else(|| panic!("{package} not in the dpkg status"));
    let stanza_end = text[start..].find("\n\n").map_or(text.len(), |e| start + e);
    let line = text[start..stanza_end]
        .find("\nVersion: ")
        .map(|i| start + i + "\nVersion: ".len())
        .unwrap();
    let end = line + text[line..].find('\n').unwrap();
    let edited = format!("{}{version}{}", &text[..line], &text[end..]);
    std::fs::write(&path, edited).unwrap();
}

/// The rendered pages the agent keeps for repeated lists never outlive the database: the
/// same query, asked again after a job installed a package and after the status file was
/// edited behind the agent's back, shows each change.
#[test]
fn apt_list_follows_the_database_through_jobs_and_edits() {
    require_sandbox!();
    let env = Env::new("sb-apt-pages");
    let mut sb = Sandbox::new("apt-pages");
    sb.with_deb_repos();
    sb.run("apt-get", &["install", "-y", "-q", "lpa-lib=1.0-1"]);
    let agent = sb.start_agent(
        &env,
        "package_manager:\n  backend: apt\nrate_limits:\n  enabled: false\n",
    );
    const LIST: &str = "/api/v1/packages?limit=1000";
    let before = data(&agent, &env, LIST);
    // Asked twice, so that the second answer is the kept page.
    assert_eq!(data(&agent, &env, LIST)["packages"], before["packages"]);
    assert!(!versions(&before).contains_key("lpa-hello"));
    let total = before["total"].as_u64().unwrap();

    let id = common::jobs::submit(
        &agent,
        &env,
        "POST",
        "/api/v1/packages",
        Some(serde_json::json!({"packages": ["lpa-hello"]})),
    );
    common::jobs::completed(&agent, &env, &id);
    let (_, installed) =
        common::jobs::stdout(&sb, "dpkg-query", &["-W", "-f", "${Version}", "lpa-hello"]);
    let after = data(&agent, &env, LIST);
    assert_eq!(
        versions(&after).get("lpa-hello"),
        Some(&installed),
        "the package the job installed is listed ({} packages)",
        after["total"]
    );
    assert_eq!(after["total"].as_u64(), Some(total + 1));

    // The same length, the same file: only the modification time tells.
    let edited = if installed.ends_with('9') { "0" } else { "9" };
    let edited = format!("{}{edited}", &installed[..installed.len() - 1]);
    rewrite_dpkg_version(&sb, "lpa-hello", &edited);
    let behind = data(&agent, &env, LIST);
    assert_eq!(
        versions(&behind).get("lpa-hello"),
        Some(&edited),
        "an edit behind the agent's back shows at once"
    );
    assert_eq!(behind["total"], after["total"]);
}

/// Whether a file of dpkg's journal directory holds `text`.
fn journal_holds(updates: &std::path::Path, text: &str) -> bool {
    std::fs::read_dir(updates).is_ok_and(|d| {
        d.flatten()
            .any(|e| std::fs::read_to_string(e.path()).is_ok_and(|t| t.contains(text)))
    })
}

/// A dpkg run killed in the middle leaves its journal (`var/lib/dpkg/updates`) unfolded
/// into `status`. dpkg-query reads `status` with the journal applied on top; the agent must
/// too, or it lists a version dpkg no longer has (and refuses a "downgrade" from it).
#[test]
fn apt_list_reads_the_journal_a_killed_dpkg_left() {
    require_sandbox!();
    let env = Env::new("sb-apt-journal");
    let mut sb = Sandbox::new("apt-journal");
    sb.with_deb_repos();
    sb.run("apt-get", &["install", "-y", "-q", "lpa-hello=1.0-1"]);
    let agent = sb.start_agent(
        &env,
        "package_manager:\n  backend: apt\nrate_limits:\n  enabled: false\n",
    );
    const LIST: &str = "/api/v1/packages?limit=1000";
    // Read before the change, so that the answer after it must notice the journal.
    let first = versions(&data(&agent, &env, LIST));
    assert_eq!(first.get("lpa-hello").map(String::as_str), Some("1.0-1"));

    // lpa-slow's postinst sleeps 30 s: dpkg is killed there, lpa-hello already unpacked.
    let mut apt = sb
        .command(
            "apt-get",
            &["install", "-y", "-q", "lpa-hello=1.1-1", "lpa-slow"],
        )
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let updates = sb.root().join("var/lib/dpkg/updates");
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let dpkg = loop {
        let in_postinst = journal_holds(
            &updates,
            "Package: lpa-slow\nStatus: install ok half-configured",
        );
        match common::sandbox::descendant_named(apt.id(), "dpkg") {
            Some(pid) if in_postinst => break pid,
            _ => {}
        }
        assert!(
            std::time::Instant::now() < give_up,
            "dpkg never reached lpa-slow's postinst"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    // Killing bubblewrap ends its PID namespace: dpkg dies before it folds its journal.
    apt.kill().unwrap();
    apt.wait().unwrap();
    while std::path::Path::new(&format!("/proc/{dpkg}")).exists() {
        assert!(
            std::time::Instant::now() < give_up,
            "dpkg {dpkg} still runs"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // apt-get unpacked both in one dpkg run (folded into `status` at its end), then
    // configured them in another: lpa-hello's "installed" is in the journal alone.
    let status = std::fs::read_to_string(sb.root().join("var/lib/dpkg/status")).unwrap();
    assert!(
        status.contains("Package: lpa-hello\nStatus: install ok unpacked\n"),
        "status before the journal: {status}"
    );
    assert!(journal_holds(
        &updates,
        "Package: lpa-hello\nStatus: install ok installed\n"
    ));
    let (_, hello) = common::jobs::stdout(
        &sb,
        "dpkg-query",
        &["-W", "-f", "${db:Status-Abbrev}${Version}", "lpa-hello"],
    );
    let (_, slow) = common::jobs::stdout(
        &sb,
        "dpkg-query",
        &["-W", "-f", "${db:Status-Abbrev}${Version}", "lpa-slow"],
    );
    assert!(slow.starts_with("iF"), "lpa-slow half-configured: {slow:?}");
    assert_eq!(hello, "ii 1.1-1", "dpkg-query applies the journal");
    let listed = versions(&data(&agent, &env, LIST));
    assert_eq!(
        listed.get("lpa-hello").map(String::as_str),
        Some("1.1-1"),
        "the agent lists lpa-hello as dpkg-query reads it"
    );
    assert_eq!(
        listed.get("lpa-slow"),
        None,
        "half-configured is not installed"
    );
}
