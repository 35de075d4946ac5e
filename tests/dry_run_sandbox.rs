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
    );
}

#[test]
fn pacman_plans_match_jobs_and_change_nothing() {
    require_sandbox!();
    let _one = serial();
    plans_match_jobs(&PACMAN, &["var/lib/pacman/local", "var/log/pacman.log"]);
}
