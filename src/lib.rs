//! linux-patch-api: a per-host patch agent serving a REST + WebSocket API over mutual TLS.
//!
//! Layers (arrows point down only): `cli`/`agent` → `api` → `http` / `system` → `config`,
//! `x509`, `timefmt`. The protocol layer (`http`) knows nothing of packages.

pub mod agent;
pub mod api;
pub mod audit;
pub mod check;
pub mod cli;
pub mod compat;
pub mod config;
pub mod enroll;
pub mod error_code;
pub mod feed_refresh;
pub mod feed_setup;
pub mod fsutil;
pub mod http;
pub mod jobs;
pub mod panic_guard;
pub mod pkg;
pub mod system;
pub mod timefmt;
pub mod watch;
pub mod x509;
