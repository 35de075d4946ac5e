//! An Ubuntu host end to end: a sandbox root that says it is Ubuntu 24.04 (noble), the
//! fixture's security update published in a pocket labelled as Ubuntu labels it
//! (`Origin: Ubuntu`, `Label: Ubuntu`, suite `noble-security`), and Ubuntu's OSV records
//! (tests/sandbox/feeds/ubuntu-osv/: USN-9999-1, UBUNTU-CVE-2026-0001 and a malformed
//! USN-9998-1) read by the real agent from a directory or from an all.zip archive.

use std::io::Write;
use std::path::Path;

use crate::common::jobs::*;
use crate::common::sandbox::{fixtures, Sandbox, SandboxAgent};
use crate::common::*;
use crate::scenarios::*;
use serde_json::{json, Value};

/// The fixture USN and the CVEs its `upstream` names (`UBUNTU-CVE-*`).
pub const USN: &str = "USN-9999-1";
const USN_CVES: [&str; 2] = ["CVE-2026-0001", "CVE-2026-0004"];
/// The plain update no (well-formed) notice covers.
const LIB_UPDATE: &str = "lpa-lib-1.1-1";
/// Where the records are placed inside the sandbox.
const FEED_DIR: &str = "/var/lib/linux-patch-api/feeds/ubuntu-osv";
const FEED_ZIP: &str = "/var/lib/linux-patch-api/feeds/ubuntu-all.zip";

/// How the records reach the agent.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Records {
    /// One JSON file per record in a directory.
    Directory,
    /// The records as entries of an OSV.dev-style all.zip.
    Archive,
}

fn feed_files() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sandbox/feeds/ubuntu-osv");
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().to_string();
            (name, std::fs::read(e.path()).unwrap())
        })
        .collect();
    files.sort();
    assert_eq!(files.len(), 3, "{files:?}");
    files
}

/// Places the records in the sandbox as `how` says; returns the path the config names.
fn install_records(sb: &Sandbox, how: Records) -> &'static str {
    let files = feed_files();
    match how {
        Records::Directory => {
            for (name, bytes) in files {
                sb.write(
                    &format!("{FEED_DIR}/{name}"),
                    std::str::from_utf8(&bytes).unwrap(),
                );
            }
            FEED_DIR
        }
        Records::Archive => {
            let path = sb.root().join(FEED_ZIP.trim_start_matches('/'));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            let mut w = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
            let opts = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated);
            // OSV.dev's archive is flat: one `<ID>.json` per record.
            for (name, bytes) in files {
                w.start_file(name, opts).unwrap();
                w.write_all(&bytes).unwrap();
            }
            w.finish().unwrap();
            FEED_ZIP
        }
    }
}

/// Makes the sandbox root Ubuntu 24.04 (only inside its overlay) with the fixture
/// repositories as an Ubuntu host's sources: the normal suite and `noble-security`.
fn ubuntu_root(sb: &mut Sandbox) {
    // os-release may be a symlink into the lower (base) root: replace the link, not its
    // target.
    let os_release = sb.root().join("etc/os-release");
    if os_release.symlink_metadata().is_ok() {
        std::fs::remove_file(&os_release).unwrap();
    }
    sb.write(
        "/etc/os-release",
        "PRETTY_NAME=\"Ubuntu 24.04.3 LTS\"\nNAME=\"Ubuntu\"\nVERSION_ID=\"24.04\"\n\
         VERSION=\"24.04.3 LTS (Noble Numbat)\"\nVERSION_CODENAME=noble\nID=ubuntu\n\
         ID_LIKE=debian\nUBUNTU_CODENAME=noble\n",
    );
    let fix = fixtures("deb");
    sb.bind(fix, "/srv/lpa-deb");
    let list = std::fs::read_to_string(fix.join("ubuntu.list")).unwrap();
    sb.write("/etc/apt/sources.list.d/lpa.list", &list);
    sb.run("apt-get", &["update", "-q"]);
}

/// Starts the agent on an Ubuntu root reading the records `how`, with the fixture's 1.0-1
/// packages installed.
fn ubuntu_agent(tag: &str, how: Records) -> (Env, Sandbox, SandboxAgent) {
    let env = Env::new(tag);
    let mut sb = Sandbox::new(tag);
    ubuntu_root(&mut sb);
    let file = install_records(&sb, how);
    // Downloads off: only the configured records are read (no official archive fetched).
    let config = format!(
        "advisories:\n  download: false\n  feeds:\n    - name: ubuntu-osv\n      file: {file}\n"
    );
    let agent = sb.start_agent(&env, &agent_config(&APT, &config));
    install_old(&APT, &agent, &env);
    (env, sb, agent)
}

/// The list: the USN patch (security, its priority from `cves_map`) and the plain update;
/// the feed's entry counts the two records for noble and the malformed one skipped.
fn expect_list(all: &Value) {
    assert_eq!(ids(all), [USN, LIB_UPDATE], "{all}");
    expect_patch(
        all,
        USN,
        "high",
        &USN_CVES,
        false,
        ("lpa-hello", "1.0-1", "2.0-1"),
    );
    let usn = patch(all, USN);
    assert_eq!(
        (&usn["security"], &usn["severity_source"], &usn["name"]),
        (
            &json!(true),
            &json!("ubuntu-osv"),
            &json!("lpa-hello vulnerabilities")
        ),
        "{usn}"
    );
    let description = usn["description"].as_str().unwrap();
    assert!(
        description.starts_with("It was discovered that lpa-hello did not correctly check"),
        "{usn}"
    );
    // The malformed record named lpa-lib: skipped, so lpa-lib is a plain update that no
    // notice covers, from the normal suite.
    let lib = patch(all, LIB_UPDATE);
    assert_eq!(
        (
            &lib["security"],
            &lib["severity"],
            &lib["cve_ids"],
            &lib["available_version"]
        ),
        (
            &json!(false),
            &json!("unknown"),
            &json!([]),
            &json!("1.1-1")
        ),
        "{lib}"
    );
    assert_eq!(all["security_updates"], 1, "{all}");
    let feeds = all["feeds"].as_array().unwrap();
    assert_eq!(feeds.len(), 1, "{all}");
    let feed = &feeds[0];
    assert_eq!(
        (
            &feed["name"],
            &feed["records"],
            &feed["skipped"],
            &feed["error"]
        ),
        (&json!("ubuntu-osv"), &json!(2), &json!(1), &json!(null)),
        "{all}"
    );
}

/// Directory form: the list, then applying the USN by id upgrades only its package.
pub fn usn_patches_from_a_directory() {
    let (env, sb, agent) = ubuntu_agent("patches-ubuntu", Records::Directory);
    let all = patches(&agent, &env, "");
    expect_list(&all);
    let r = call(&agent, &env, "GET", "/health", None);
    let health = assert_envelope(&r)["data"].clone();
    let feeds = &health["details"]["advisory_feeds"];
    assert_eq!(health["checks"]["advisory_feed"], "ok", "{health}");
    assert_eq!(
        (
            &feeds[0]["name"],
            &feeds[0]["path"],
            &feeds[0]["state"],
            &feeds[0]["error"]
        ),
        (
            &json!("ubuntu-osv"),
            &json!(FEED_DIR),
            &json!("ok"),
            &json!(null)
        ),
        "{health}"
    );
    assert_eq!(feeds.as_array().map(Vec::len), Some(1), "{health}");

    let (accepted, job) = apply(&agent, &env, json!({"patches": [USN]}));
    assert_eq!(
        (&accepted["patches_count"], &accepted["requires_reboot"]),
        (&json!(1), &json!(false)),
        "{accepted}"
    );
    assert_eq!(
        changes(&job),
        [change("lpa-hello", Some("1.0-1"), Some("2.0-1"))]
    );
    assert_eq!((APT.version)(&sb, "lpa-lib"), Some("1.0-1".into()));
    let left = patches(&agent, &env, "");
    assert_eq!(ids(&left), [LIB_UPDATE], "{left}");
    assert_eq!(left["security_updates"], 0, "{left}");
    let applied = patches(&agent, &env, "status=applied");
    assert_eq!(ids(&applied), [USN], "{applied}");
    assert_eq!(patch(&applied, USN)["job_id"], job["job_id"], "{applied}");

    // The malformed record repaired in place (same file, the directory itself untouched,
    // as `cp` over it or a mirror sync writing into subdirectories does): read anew.
    sb.write(&format!("{FEED_DIR}/USN-9998-1.json"), REPAIRED);
    let now = patches(&agent, &env, "");
    assert_eq!(ids(&now), ["USN-9998-1"], "{now}");
    expect_patch(
        &now,
        "USN-9998-1",
        "low",
        &["CVE-2026-0005"],
        false,
        ("lpa-lib", "1.0-1", "1.1-1"),
    );
    let feed = &now["feeds"][0];
    assert_eq!(
        (&feed["records"], &feed["skipped"]),
        (&json!(3), &json!(0)),
        "{now}"
    );
}

/// USN-9998-1 as it should have been published: lpa-lib fixed in 1.1-1, priority low.
const REPAIRED: &str = r#"{
  "id": "USN-9998-1",
  "summary": "lpa-lib vulnerability",
  "details": "lpa-lib read past its buffer. (CVE-2026-0005)",
  "upstream": ["UBUNTU-CVE-2026-0005"],
  "affected": [
    {
      "package": {"ecosystem": "Ubuntu:24.04:LTS", "name": "lpa-lib"},
      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.1-1"}]}],
      "ecosystem_specific": {"binaries": [{"binary_name": "lpa-lib", "binary_version": "1.1-1"}]},
      "database_specific": {"cves_map": {"ecosystem": "Ubuntu:24.04:LTS", "cves": [
        {"id": "CVE-2026-0005", "severity": [{"type": "Ubuntu", "score": "low"}]}]}}
    }
  ]
}
"#;

/// Archive form: the same records as entries of an all.zip give the same list.
pub fn usn_patches_from_an_archive() {
    let (env, _sb, agent) = ubuntu_agent("patches-ubuntu-zip", Records::Archive);
    expect_list(&patches(&agent, &env, ""));
}
