//! `GET /metrics` and what needs a restart after patching, against the REAL apt, dnf,
//! zypper and pacman inside a sandbox root (the scenario is tests/scenarios/metrics.rs; apk
//! runs it in tests/apk_sandbox.rs). Needs root (CI is root).

mod common;
#[path = "scenarios/metrics.rs"]
mod metrics;
#[path = "scenarios/patches.rs"]
mod patches;

use common::jobs::*;
use metrics::{metrics_and_restart_needed, LIBC};

#[test]
fn apt_metrics_and_restart_needed() {
    require_sandbox!();
    let _one = serial();
    metrics_and_restart_needed(&APT, "debian-tracker.json", Some(LIBC));
}

#[test]
fn dnf_metrics_and_restart_needed() {
    require_sandbox!();
    let _one = serial();
    metrics_and_restart_needed(&DNF, "", Some(LIBC));
}

#[test]
fn zypper_metrics_and_restart_needed() {
    require_sandbox!();
    let _one = serial();
    metrics_and_restart_needed(&ZYPPER, "", Some(LIBC));
}

#[test]
fn pacman_metrics_and_restart_needed() {
    require_sandbox!();
    let _one = serial();
    metrics_and_restart_needed(&PACMAN, "arch-security.json", Some(LIBC));
}
