//! Host facts: os-release, kernel, uptime, boot time, package manager, service status, and
//! the processes that need a restart after an upgrade.
//!
//! Nothing here knows about HTTP; the `api` layer renders these facts.

pub mod info;
pub mod open_files;
pub mod restart_cache;
pub mod restart_needed;
pub mod services;
