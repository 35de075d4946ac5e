//! The check before a job's `202` reads the rpm-md metadata of the repositories dnf and
//! zypper have enabled instead of starting them, against the REAL dnf and zypper in a
//! sandbox root (the scenario: tests/scenarios/offers.rs). Needs root (CI is root).

mod common;
#[path = "scenarios/offers.rs"]
mod offers;

use std::path::Path;
use std::process::Command;

use common::jobs::*;
use common::sandbox::{fixtures, run_ok, Sandbox};
use offers::*;

/// A second repository at /srv/lpa-rpm-old offering only lpa-lib and lpa-hello 1.0-1,
/// made by createrepo_c from the fixtures' own package files, written into the sandbox
/// root (no package of the host is touched); its repo file under `repos_d`.
fn old_repository(sb: &Sandbox, repos_d: &str) {
    let dir = sb.root().join("srv/lpa-rpm-old");
    std::fs::create_dir_all(&dir).unwrap();
    let repo = fixtures("rpm").join("repo");
    for rpm in ["lpa-lib-1.0-1.noarch.rpm", "lpa-hello-1.0-1.noarch.rpm"] {
        std::fs::copy(repo.join(rpm), dir.join(rpm)).unwrap();
    }
    run_ok(
        Command::new("createrepo_c")
            .args(["--quiet", "--no-database"])
            .arg(&dir),
    );
    sb.write(
        &format!("{repos_d}/lpa-old.repo"),
        "[lpa-old]\nname=LPA fixtures, 1.0 only\nbaseurl=file:///srv/lpa-rpm-old\nenabled=1\n\
         gpgcheck=0\nrepo_gpgcheck=0\nautorefresh=1\ntype=rpm-md\nmetadata_expire=0\n",
    );
}

/// The fixture repository's file under `repos_d`, enabled or not.
fn full_repository(sb: &Sandbox, repos_d: &str, enabled: bool) {
    let text = std::fs::read_to_string(fixtures("rpm").join("lpa.repo")).unwrap();
    let flag = if enabled { "enabled=1" } else { "enabled=0" };
    sb.write(
        &format!("{repos_d}/lpa.repo"),
        &text.replace("enabled=1", flag),
    );
}

fn has_cache_of(root: &Path, prefix: &str) -> bool {
    std::fs::read_dir(root.join("var/cache/dnf"))
        .unwrap()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().starts_with(prefix))
}

const DNF_CASE: OfferCase = OfferCase {
    tool: &DNF,
    listing: "--showduplicates list",
    hide_full: |sb| {
        // dnf fetches the full repository's metadata, then the repository is disabled:
        // its cache directory stays.
        sb.run("dnf", &["-q", "makecache"]);
        full_repository(sb, "/etc/yum.repos.d", false);
        old_repository(sb, "/etc/yum.repos.d");
        sb.run("dnf", &["-q", "makecache"]);
        assert!(has_cache_of(sb.root(), "lpa-9"), "dnf's cache of lpa stays");
        assert!(has_cache_of(sb.root(), "lpa-old-"));
    },
    show_full: |sb| {
        full_repository(sb, "/etc/yum.repos.d", true);
        sb.run("dnf", &["-q", "makecache"]);
    },
    hidden_answer: (400, "PKG_VERSION_CONFLICT"),
};

const ZYPPER_CASE: OfferCase = OfferCase {
    tool: &ZYPPER,
    listing: " search ",
    hide_full: |sb| {
        full_repository(sb, "/etc/zypp/repos.d", false);
        old_repository(sb, "/etc/zypp/repos.d");
        sb.run("zypper", &["--non-interactive", "refresh"]);
    },
    show_full: |sb| {
        full_repository(sb, "/etc/zypp/repos.d", true);
        sb.run("zypper", &["--non-interactive", "refresh"]);
    },
    hidden_answer: (400, "PKG_VERSION_CONFLICT"),
};

#[test]
fn dnf_checks_offers_in_its_metadata_cache() {
    require_sandbox!();
    let _one = serial();
    offers_from_metadata(&DNF_CASE);
}

#[test]
fn zypper_checks_offers_in_its_repositories_metadata() {
    require_sandbox!();
    let _one = serial();
    offers_from_metadata(&ZYPPER_CASE);
}
