//! `?dry_run=true` against the REAL package managers inside a sandbox root: every dry run's
//! plan against the job that then ran, and nothing changed by the dry run itself. Needs root
//! (CI is root).

mod common;
#[path = "scenarios/dry_run.rs"]
mod scenarios;

use common::jobs::*;
use scenarios::*;

#[test]
fn apt_plans_match_jobs_and_change_nothing() {
    require_sandbox!();
    let _one = serial();
    plans_match_jobs(
        &APT,
        &["var/lib/dpkg", "var/lib/apt/extended_states", "var/log/apt"],
        |_| {},
    );
}

#[test]
fn pacman_plans_match_jobs_and_change_nothing() {
    require_sandbox!();
    let _one = serial();
    plans_match_jobs(
        &PACMAN,
        &["var/lib/pacman/local", "var/log/pacman.log"],
        |_| {},
    );
}

#[test]
fn dnf_plans_match_jobs_and_change_nothing() {
    require_sandbox!();
    let _one = serial();
    // dnf writes its own logs (dnf.librepo.log, hawkey.log, dnf.rpm.log) on every run, its
    // read-only queries included: only the databases are compared. The first dnf run that
    // resolves a transaction creates its (empty) history database, even with --assumeno;
    // a host that has run dnf once has it: so does this root, from one such run.
    plans_match_jobs(&DNF, &["var/lib/rpm", "var/lib/dnf"], |sb| {
        // Exits 1 ("Operation aborted."), as answering no does.
        let out = sb
            .command("dnf", &["--assumeno", "install", "lpa-tool"])
            .output();
        assert!(
            sb.root().join("var/lib/dnf/history.sqlite").exists(),
            "{out:?}"
        );
    });
}

#[test]
fn zypper_plans_match_jobs_and_change_nothing() {
    require_sandbox!();
    let _one = serial();
    // zypper writes its log (ZYPP_LOGFILE) and its history on every run: the databases and
    // zypp's state (locks, credentials, repositories) are compared.
    plans_match_jobs(
        &ZYPPER,
        &["var/lib/rpm", "etc/zypp", "var/lib/zypp"],
        |_| {},
    );
}

#[test]
fn apt_read_only_agent_answers_dry_runs() {
    require_sandbox!();
    let _one = serial();
    read_only_allows_dry_runs(&APT, &["var/lib/dpkg", "var/log/apt"]);
}
