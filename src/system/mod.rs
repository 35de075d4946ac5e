//! Host facts: os-release, kernel, uptime, boot time.
