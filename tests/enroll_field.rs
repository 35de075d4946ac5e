//! Enrollment as shipped (issue 14): with the configuration exactly as packaged, an enrolled
//! agent serves the Patch Manager's shape (`compat.patch_manager: auto`) and a host that is
//! not enrolled keeps the specification's; explicit `true`/`false` win both ways. Hosts
//! without a machine id enroll with a generated one, the same at every enrollment.
//!
//! The real binary against the mock manager over HTTPS. The machine-id runs use bubblewrap
//! with their own `/etc`, so the host's machine-id is neither read nor touched.

mod common;

use std::path::Path;

use common::enroll_site::*;
use common::mock_manager::{MockManager, StatusAnswer};
use common::*;
use serde_json::Value;

/// `GET /api/v1/system/info` from the enrolled agent, as the manager's client certificate.
fn system_info(site: &Site, mock: &MockManager) -> Value {
    let r = request(
        site.addr(),
        agent_client(mock),
        "GET",
        "/api/v1/system/info",
        None,
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_envelope(&r)["data"].clone()
}

/// The manager's shape (INTEROP.md): `os` and `kernel` strings plus the flat fields.
fn assert_manager_shape(d: &Value) {
    for key in ["hostname", "os", "os_version", "kernel", "architecture"] {
        assert!(d[key].is_string(), "{key} is a string: {d}");
    }
    assert!(d["pending_reboot"].is_boolean(), "{d}");
}

/// The specification's shape: `os` and `kernel` objects, the flat fields still present.
fn assert_spec_shape(d: &Value) {
    assert!(d["os"].is_object(), "{d}");
    assert!(d["kernel"].is_object(), "{d}");
    assert!(
        d["os_version"].is_string() && d["pending_reboot"].is_boolean(),
        "{d}"
    );
}

/// The packaged config sets no `compat.patch_manager` (a commented example at most).
fn assert_packaged_config_leaves_compat_unset() {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("etc/config.yaml"))
            .unwrap();
    let set: Vec<&str> = text
        .lines()
        .filter(|l| l.trim_start().starts_with("patch_manager:"))
        .collect();
    assert!(set.is_empty(), "packaged config sets {set:?}");
}

/// Enrolls `site` with the mock (approved at once) and returns the serving run.
fn enroll_and_serve(site: &Site, mock: &MockManager) -> Run {
    let mut run = site.spawn(&site.enroll_args(mock, &[]));
    assert!(serves(site, mock, &mut run), "{}", run.output());
    assert_provisioned(site, mock, &run);
    run
}

/// Starts the agent (no `--enroll`) on the site's config and waits until it serves.
fn serve(site: &Site, mock: &MockManager) -> Run {
    let args = vec!["--config".to_string(), site.config.display().to_string()];
    let mut run = site.spawn(&args);
    assert!(serves(site, mock, &mut run), "{}", run.output());
    run
}

/// A second site, never enrolled, holding copies of `enrolled`'s TLS files and whitelist.
fn unenrolled_copy(tag: &str, enrolled: &Site) -> Site {
    let site = Site::new(tag);
    for (from, to) in enrolled.tls_files().iter().zip(site.tls_files()) {
        std::fs::copy(from, to).unwrap();
    }
    std::fs::copy(&enrolled.whitelist, &site.whitelist).unwrap();
    site
}

#[test]
fn packaged_config_serves_the_managers_shape_once_enrolled_and_the_spec_otherwise() {
    assert_packaged_config_leaves_compat_unset();
    let mock = MockManager::start();
    mock.script_status(&[StatusAnswer::Approved]);
    let site = Site::new("field-auto");
    site.write_packaged_config(None);
    let mut run = enroll_and_serve(&site, &mock);
    assert_manager_shape(&system_info(&site, &mock));
    let log = run.stderr();
    assert!(
        log.contains("serving the Patch Manager's shape: compat.patch_manager is auto and this host is enrolled"),
        "the decision is logged: {log}"
    );
    run.signal(libc::SIGTERM);
    assert_eq!(run.wait_code(END_LIMIT), 0, "{}", run.output());

    // A restart of the enrolled host keeps the manager's shape.
    let mut again = serve(&site, &mock);
    assert_manager_shape(&system_info(&site, &mock));
    again.signal(libc::SIGTERM);
    again.wait_code(END_LIMIT);

    // The same packaged config on a host that never enrolled: the specification's shape.
    let plain = unenrolled_copy("field-auto-plain", &site);
    plain.write_packaged_config(None);
    let run = serve(&plain, &mock);
    assert_spec_shape(&system_info(&plain, &mock));
    assert!(
        run.stderr()
            .contains("serving the specification's shape: compat.patch_manager is auto and this host is not enrolled"),
        "{}",
        run.output()
    );
}

#[test]
fn explicit_true_and_false_override_auto_both_ways() {
    let mock = MockManager::start();
    mock.script_status(&[StatusAnswer::Approved]);
    let site = Site::new("field-explicit");
    site.write_packaged_config(None);
    let mut run = enroll_and_serve(&site, &mock);
    run.signal(libc::SIGTERM);
    assert_eq!(run.wait_code(END_LIMIT), 0, "{}", run.output());

    // Enrolled, but false: the specification's shape.
    site.write_packaged_config(Some("false"));
    let mut off = serve(&site, &mock);
    assert_spec_shape(&system_info(&site, &mock));
    assert!(
        off.stderr().contains("compat.patch_manager is false"),
        "{}",
        off.output()
    );
    off.signal(libc::SIGTERM);
    off.wait_code(END_LIMIT);

    // Not enrolled, but true: the manager's shape.
    let plain = unenrolled_copy("field-explicit-plain", &site);
    plain.write_packaged_config(Some("true"));
    let on = serve(&plain, &mock);
    assert_manager_shape(&system_info(&plain, &mock));
    assert!(
        on.stderr().contains("compat.patch_manager is true"),
        "{}",
        on.output()
    );
}

// ---------------------------------------------------------------------------------------
// Machine id
// ---------------------------------------------------------------------------------------

fn is_machine_id(s: &str) -> bool {
    s.len() == 32
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The machine id of every registration the mock received, in order.
fn registered_ids(mock: &MockManager) -> Vec<String> {
    mock.registrations()
        .iter()
        .map(|r| {
            let body = r.body.clone().expect("registration body is JSON");
            body["machine_id"].as_str().unwrap_or_default().to_string()
        })
        .collect()
}

/// `--enroll-only` under bubblewrap with its own `/etc`; must succeed.
fn enroll_isolated(site: &Site, mock: &MockManager, machine_id: Option<&str>) {
    let args = site.enroll_args(mock, &["--enroll-only"]);
    let mut run = site.spawn_isolated(&args, machine_id);
    assert_eq!(run.wait_code(END_LIMIT), 0, "{}", run.output());
    assert_provisioned(site, mock, &run);
}

#[test]
fn without_a_system_machine_id_a_generated_one_is_kept_for_every_enrollment() {
    if let Some(why) = isolation_unavailable() {
        eprintln!("SKIPPED: {why}");
        return;
    }
    let mock = MockManager::start();
    mock.script_status(&[StatusAnswer::Approved]);
    mock.set_rate_window(std::time::Duration::ZERO);
    let site = Site::new("field-no-machine-id");
    enroll_isolated(&site, &mock, None);
    let ids = registered_ids(&mock);
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert!(is_machine_id(&ids[0]), "32 lowercase hex digits: {ids:?}");
    let saved = site.state("machine-id");
    assert_eq!(mode(&saved), 0o644, "generated machine-id mode");
    assert_eq!(
        std::fs::read_to_string(&saved).unwrap().trim(),
        ids[0],
        "the registered id is the saved one"
    );
    let host_id = std::fs::read_to_string("/etc/machine-id").unwrap_or_default();
    assert_ne!(host_id.trim(), ids[0], "not the host's own id");

    // Enroll again (the record removed, as an administrator re-enrolling would): same id.
    std::fs::remove_file(site.state("enrolled.json")).unwrap();
    enroll_isolated(&site, &mock, None);
    let ids = registered_ids(&mock);
    assert_eq!(ids.len(), 2, "registered again: {ids:?}");
    assert_eq!(ids[0], ids[1], "the same generated id both times");
}

#[test]
fn a_system_machine_id_wins_over_generating_one() {
    if let Some(why) = isolation_unavailable() {
        eprintln!("SKIPPED: {why}");
        return;
    }
    let mock = MockManager::start();
    mock.script_status(&[StatusAnswer::Approved]);
    let site = Site::new("field-system-machine-id");
    let system = "0123456789ABCDEF0123456789abcdef";
    enroll_isolated(&site, &mock, Some(system));
    assert_eq!(
        registered_ids(&mock),
        ["0123456789abcdef0123456789abcdef"],
        "the system's id, lowercased"
    );
    assert!(
        !site.state("machine-id").exists(),
        "nothing generated when the system has an id"
    );
}
