//! Package holds against the REAL apt, dnf, zypper and pacman inside a sandbox root: a hold
//! set by hand with the tool's own mechanism is listed and flagged `held`, a hold set
//! through the API is seen by the tool's own query, a release clears it, an explicit update
//! of a held package is refused, update-all leaves a held upgradable package at its version
//! and lists it in `skipped_held`, and read-only mode refuses hold changes. dnf runs with its
//! versionlock plugin (the sandbox base root unpacks it from Debian's dnf-plugins-core);
//! with the plugin taken away in one test's overlay, locks written by hand are still read and
//! honoured by the agent's patch runs, and a new hold is refused naming the plugin. Needs root
//! (CI is root).

mod common;
#[path = "scenarios/holds.rs"]
mod scenario;

use common::jobs::*;
use common::sandbox::Sandbox;
use common::*;
use scenario::*;
use serde_json::json;

const APT_NATIVE: Native = Native {
    tool: &APT,
    hold: |sb, name| {
        sb.run("apt-mark", &["hold", name]);
    },
    held: |sb| lines(&stdout(sb, "apt-mark", &["showhold"]).1),
};

const ZYPPER_NATIVE: Native = Native {
    tool: &ZYPPER,
    hold: |sb, name| {
        sb.run("zypper", &["--non-interactive", "addlock", name]);
    },
    held: |sb| {
        let (_, xml) = stdout(sb, "zypper", &["--non-interactive", "--xmlout", "locks"]);
        let mut names: Vec<String> = xml
            .split("<name>")
            .skip(1)
            .filter_map(|s| s.split_once("</name>"))
            .map(|(n, _)| n.to_string())
            .collect();
        names.sort();
        names
    },
};

const PACMAN_NATIVE: Native = Native {
    tool: &PACMAN,
    hold: |sb, name| {
        // As an operator edits it: an IgnorePkg line under [options].
        let path = sb.root().join("etc/pacman.conf");
        let conf = std::fs::read_to_string(&path).unwrap();
        let edited = conf.replacen(
            "[options]\n",
            &format!("[options]\nIgnorePkg = {name}\n"),
            1,
        );
        assert_ne!(conf, edited, "no [options] in {conf}");
        std::fs::write(&path, edited).unwrap();
    },
    held: |sb| lines(&stdout(sb, "pacman-conf", &["IgnorePkg"]).1),
};

/// The versionlock plugin's list, as the agent and the plugin read it.
const DNF_LOCKS: &str = "etc/dnf/plugins/versionlock.list";
/// The plugin's module inside the base root (Debian's python3 path).
const DNF_PLUGIN: &str = "/usr/lib/python3/dist-packages/dnf-plugins/versionlock.py";

const DNF_NATIVE: Native = Native {
    tool: &DNF,
    hold: |sb, name| {
        sb.run("dnf", &["--quiet", "versionlock", "add", name]);
    },
    held: |sb| {
        let (ok, out) = stdout(sb, "dnf", &["--quiet", "versionlock", "list"]);
        assert!(ok, "dnf versionlock list: {out}");
        // `NAME-EPOCH:VERSION-RELEASE.*`: the name ends at the dash before the epoch.
        let mut names: Vec<String> = lines(&out)
            .iter()
            .map(|l| {
                let (nevr, _) = l.split_once(':').unwrap_or_else(|| panic!("{l}"));
                let (name, _) = nevr.rsplit_once('-').unwrap_or_else(|| panic!("{l}"));
                name.to_string()
            })
            .collect();
        names.sort();
        names
    },
};

/// A lock line appended to the list by hand, as an operator without the plugin would.
fn write_dnf_lock(sb: &Sandbox, name: &str) {
    let path = sb.root().join(DNF_LOCKS);
    let mut text = std::fs::read_to_string(&path).unwrap_or_default();
    text.push_str(&format!(
        "\n# Added lock on Sat Dec  5 16:00:00 2026\n{name}-0:1.0-1.*\n"
    ));
    std::fs::write(&path, text).unwrap();
}

macro_rules! backend_tests {
    ($($name:ident: $native:expr),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                require_sandbox!();
                let _one = serial();
                scenario(&$native);
            }
        )*
    };
}

backend_tests!(
    apt: APT_NATIVE,
    dnf: DNF_NATIVE,
    zypper: ZYPPER_NATIVE,
    pacman: PACMAN_NATIVE
);

/// dnf without its versionlock plugin (taken away in this test's overlay only): locks
/// written by hand are listed and released, skipped by patch runs, and a new hold is refused
/// naming the plugin; with the plugin back but `enabled=0`, refused naming the setting.
#[test]
fn dnf_without_the_versionlock_plugin() {
    require_sandbox!();
    let _one = serial();
    let (env, sb, agent) = start(&DNF_NATIVE, "noplugin");
    let gone = sb.hide(&[DNF_PLUGIN]);
    assert!(!sb.root().join(&DNF_PLUGIN[1..]).exists());
    write_dnf_lock(&sb, "lpa-hello");
    assert_eq!(holds(&agent, &env), ["lpa-hello \"1.0-1\""]);
    assert_eq!(
        listed_held(&agent, &env),
        ["lpa-hello true", "lpa-lib false"]
    );

    let r = hold_call(&agent, &env, "PUT", "lpa-lib");
    let e = assert_error(&r, 500, "PKG_MANAGER_ERROR");
    let message = e["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("python3-dnf-plugin-versionlock"),
        "{message}"
    );
    assert_eq!(dnf_locked(&sb), ["lpa-hello"]);

    let r = call(
        &agent,
        &env,
        "PUT",
        "/api/v1/packages/lpa-hello",
        Some(json!({})),
    );
    assert_error(&r, 409, "PKG_HELD");
    // dnf alone ignores the list: the agent's own exclusion keeps lpa-hello.
    update_all_skips(&DNF_NATIVE, &agent, &env, &sb);

    let d = hold_ok(&agent, &env, "DELETE", "lpa-hello");
    assert_eq!(d["held"], false);
    assert!(dnf_locked(&sb).is_empty());
    let text = std::fs::read_to_string(sb.root().join(DNF_LOCKS)).unwrap();
    assert!(text.contains("# Added lock on"), "comments stay: {text}");
    assert_eq!(
        listed_held(&agent, &env),
        ["lpa-hello false", "lpa-lib false"]
    );

    // The plugin installed again, but switched off in its configuration.
    drop(gone);
    assert!(sb.root().join(&DNF_PLUGIN[1..]).is_file());
    let conf = "etc/dnf/plugins/versionlock.conf";
    let text = std::fs::read_to_string(sb.root().join(conf)).unwrap();
    let off = text.replace("enabled = 1", "enabled = 0");
    assert_ne!(text, off, "{text}");
    sb.write(conf, &off);
    let r = hold_call(&agent, &env, "PUT", "lpa-hello");
    let e = assert_error(&r, 500, "PKG_MANAGER_ERROR");
    let message = e["error"]["message"].as_str().unwrap();
    assert!(message.contains("set enabled=1"), "{message}");
    assert!(dnf_locked(&sb).is_empty());
}

/// A hold set through the API is kept by dnf run by hand: the plugin reads the agent's line.
#[test]
fn dnf_keeps_a_hold_set_through_the_api() {
    require_sandbox!();
    let _one = serial();
    let (env, sb, agent) = start(&DNF_NATIVE, "byhand");
    assert_eq!(hold_ok(&agent, &env, "PUT", "lpa-hello")["held"], true);
    sb.run("dnf", &["--quiet", "--assumeyes", "upgrade"]);
    assert_eq!(rpm_version(&sb, "lpa-hello").as_deref(), Some("1.0-1"));
    assert_eq!(rpm_version(&sb, "lpa-lib").as_deref(), Some("1.1-1"));
    // `stdout` runs dnf through `sb.command`: bwrap with the overlay as `/`, never the host.
    let (ok, out) = stdout(&sb, "dnf", &["--assumeyes", "install", "lpa-hello-2.0-1"]);
    assert!(!ok, "{out}");
    assert_eq!(rpm_version(&sb, "lpa-hello").as_deref(), Some("1.0-1"));
}

/// The names locked in the list, read from the file (no plugin to ask).
fn dnf_locked(sb: &Sandbox) -> Vec<String> {
    let text = std::fs::read_to_string(sb.root().join(DNF_LOCKS)).unwrap_or_default();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split_once("-0:").map_or(l, |(n, _)| n).to_string())
        .collect()
}

/// A hold change never runs beside a package transaction: while a job holds it past the
/// wait, the change is refused (retryable) and the tool's list is untouched; once the job
/// has stopped, the same change goes through.
#[test]
fn apt_hold_waits_for_a_running_job_and_gives_up() {
    require_sandbox!();
    let _one = serial();
    let env = Env::new("holds-busy-apt");
    let mut sb = (APT.sandbox)("holds-busy-apt");
    (APT.setup)(&mut sb);
    let agent = sb.start_agent(&env, &agent_config(&APT, ""));
    let job_id = slow_install_running(&agent, &env);
    let r = hold_call(&agent, &env, "PUT", "lpa-hello");
    let e = assert_error(&r, 409, "PKG_TRANSACTION_BUSY");
    assert_eq!(e["error"]["retryable"], true);
    assert!((APT_NATIVE.held)(&sb).is_empty());
    assert_eq!(job(&agent, &env, &job_id)["status"], "running");
    let r = call(
        &agent,
        &env,
        "DELETE",
        &format!("/api/v1/jobs/{job_id}"),
        None,
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let d = hold_ok(&agent, &env, "PUT", "lpa-hello");
    assert_eq!(d["held"], true);
    // Not installed, but offered: apt holds it anyway (a known name).
    assert!(d["version"].is_null(), "{d}");
    assert_eq!((APT_NATIVE.held)(&sb), ["lpa-hello"]);
}
