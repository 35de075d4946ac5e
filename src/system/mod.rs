//! Host facts: os-release, kernel, uptime, boot time, package manager, service status.
//!
//! Nothing here knows about HTTP; the `api` layer renders these facts.

pub mod info;
pub mod services;
