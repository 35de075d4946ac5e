//! Package changes as jobs against the REAL apt, dnf, zypper and pacman inside a sandbox
//! root: exact versions, updates, downgrades, remove and purge, rollback of each, cancel,
//! timeout, a crash mid-job, and 20 concurrent jobs. Needs root (CI is root).

mod common;
#[path = "scenarios/jobs.rs"]
mod scenarios;

use common::jobs::*;
use scenarios::*;

macro_rules! backend_tests {
    ($($name:ident: $tool:expr),* $(,)?) => {
        $(
            mod $name {
                use super::*;
                #[test]
                fn install_update_downgrade_remove_purge_rollback_cancel() {
                    require_sandbox!();
                    let _one = serial();
                    lifecycle(&$tool);
                }
                #[test]
                fn timeout_and_crash_recovery() {
                    require_sandbox!();
                    let _one = serial();
                    timeout_and_crash(&$tool);
                }
                #[test]
                fn websocket_streams_real_jobs_and_sigterm_waits_for_them() {
                    require_sandbox!();
                    let _one = serial();
                    websocket_and_graceful_stop(&$tool);
                }
                #[test]
                fn twenty_jobs_at_once_never_interleave() {
                    require_sandbox!();
                    let _one = serial();
                    twenty_at_once(&$tool);
                }
            }
        )*
    };
}

backend_tests!(apt: APT, dnf: DNF, zypper: ZYPPER, pacman: PACMAN);
