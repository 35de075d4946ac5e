//! `server.*`: listener, pool, deadlines and size limits.

use std::net::IpAddr;

use super::{connection, ConnectionLimits, Section, Walker};

/// `server.*`
#[derive(Clone, Debug, PartialEq)]
pub struct ServerConfig {
    /// `server.bind`: address to listen on (IPv4 or IPv6), default `0.0.0.0`.
    pub bind: IpAddr,
    /// `server.port`: default 12443.
    pub port: u16,
    /// `server.workers`: most connection threads at once, default 64.
    pub workers: usize,
    /// `server.max_connections`: most accepted connections (serving + queued), default 256.
    pub max_connections: usize,
    /// `server.max_handshakes_per_address`: most connections from one address still in their
    /// TLS handshake, default 32; a new one beyond it drops that address's oldest.
    pub max_handshakes_per_address: usize,
    /// `server.shutdown_grace_seconds`: how long in-flight requests may finish on SIGTERM,
    /// default 30, 0-3600.
    pub shutdown_grace_seconds: u64,
    /// `server.timeouts.*`
    pub timeouts: TimeoutsConfig,
    /// `server.limits.*`
    pub limits: LimitsConfig,
}

/// `server.timeouts.*`, all in seconds, each at least 1.
#[derive(Clone, Debug, PartialEq)]
pub struct TimeoutsConfig {
    /// `tls_handshake_seconds`, default 10.
    pub tls_handshake_seconds: u64,
    /// `request_head_seconds`, default 10.
    pub request_head_seconds: u64,
    /// `request_body_seconds`, default 30.
    pub request_body_seconds: u64,
    /// `keep_alive_idle_seconds`, default 60.
    pub keep_alive_idle_seconds: u64,
    /// `response_write_seconds`, default 30.
    pub response_write_seconds: u64,
}

/// `server.limits.*`
#[derive(Clone, Debug, PartialEq)]
pub struct LimitsConfig {
    /// `max_header_bytes`: request line + headers, default 16384.
    pub max_header_bytes: usize,
    /// `max_headers`: header count, default 64.
    pub max_headers: usize,
    /// `max_body_bytes`: default 1048576.
    pub max_body_bytes: usize,
    /// Requests and age of one connection (`max_requests_per_connection`, ...).
    pub connection: ConnectionLimits,
}

/// Accepted range of every `server.timeouts.*` value, in seconds.
const TIMEOUT_RANGE: (u64, u64) = (1, 3600);

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            port: 12443,
            workers: 64,
            max_connections: 256,
            max_handshakes_per_address: 32,
            shutdown_grace_seconds: 30,
            timeouts: TimeoutsConfig {
                tls_handshake_seconds: 10,
                request_head_seconds: 10,
                request_body_seconds: 30,
                keep_alive_idle_seconds: 60,
                response_write_seconds: 30,
            },
            limits: LimitsConfig {
                max_header_bytes: 16384,
                max_headers: 64,
                max_body_bytes: 1_048_576,
                connection: ConnectionLimits::default(),
            },
        }
    }
}

impl Walker<'_> {
    /// `server.*`
    pub(super) fn server(&mut self, top: &Section) -> ServerConfig {
        let d = ServerConfig::default();
        let s = self.child(top, "server", SERVER_KEYS);
        let bind = self.ip(&s, "bind").unwrap_or(d.bind);
        let port = self.integer(&s, "port", (1, 65535));
        let workers = self.integer(&s, "workers", (1, 4096));
        let max_connections = self.integer(&s, "max_connections", (1, 65536));
        let workers_n = workers.unwrap_or(d.workers as u64);
        if let Some(max) = max_connections {
            if workers.is_some() || s.get("workers").is_none() {
                self.check_connections(&s, max, workers_n);
            }
        }
        ServerConfig {
            bind,
            port: port.and_then(|p| u16::try_from(p).ok()).unwrap_or(d.port),
            workers: usize::try_from(workers_n).unwrap_or(d.workers),
            max_connections: max_connections
                .and_then(|v| usize::try_from(v).ok())
                .unwrap_or(d.max_connections),
            max_handshakes_per_address: self.usize_or(
                &s,
                "max_handshakes_per_address",
                (1, 65536),
                d.max_handshakes_per_address,
            ),
            shutdown_grace_seconds: self.u64_or(
                &s,
                "shutdown_grace_seconds",
                (0, 3600),
                d.shutdown_grace_seconds,
            ),
            timeouts: self.timeouts(&s, d.timeouts),
            limits: self.limits(&s, d.limits),
        }
    }

    /// Queued connections need a serving thread each eventually, so fewer slots than
    /// threads would leave threads that can never be used.
    fn check_connections(&mut self, s: &Section, max: u64, workers: u64) {
        if max < workers {
            let message = format!("must be at least server.workers ({workers}), got {max}");
            self.error(&s.key("max_connections"), message);
        }
    }

    /// `server.timeouts.*`
    fn timeouts(&mut self, server: &Section, d: TimeoutsConfig) -> TimeoutsConfig {
        let s = self.child(server, "timeouts", TIMEOUT_KEYS);
        let r = TIMEOUT_RANGE;
        TimeoutsConfig {
            tls_handshake_seconds: self.u64_or(
                &s,
                "tls_handshake_seconds",
                r,
                d.tls_handshake_seconds,
            ),
            request_head_seconds: self.u64_or(
                &s,
                "request_head_seconds",
                r,
                d.request_head_seconds,
            ),
            request_body_seconds: self.u64_or(
                &s,
                "request_body_seconds",
                r,
                d.request_body_seconds,
            ),
            keep_alive_idle_seconds: self.u64_or(
                &s,
                "keep_alive_idle_seconds",
                r,
                d.keep_alive_idle_seconds,
            ),
            response_write_seconds: self.u64_or(
                &s,
                "response_write_seconds",
                r,
                d.response_write_seconds,
            ),
        }
    }

    /// `server.limits.*`
    fn limits(&mut self, server: &Section, d: LimitsConfig) -> LimitsConfig {
        let s = self.child(server, "limits", LIMIT_KEYS);
        LimitsConfig {
            max_header_bytes: self.usize_or(
                &s,
                "max_header_bytes",
                (1024, 1_048_576),
                d.max_header_bytes,
            ),
            max_headers: self.usize_or(&s, "max_headers", (8, 1024), d.max_headers),
            max_body_bytes: self.usize_or(
                &s,
                "max_body_bytes",
                (1024, 104_857_600),
                d.max_body_bytes,
            ),
            connection: self.connection_limits(&s, d.connection),
        }
    }
}

/// Keys allowed under `server`.
const SERVER_KEYS: &[&str] = &[
    "bind",
    "port",
    "workers",
    "max_connections",
    "max_handshakes_per_address",
    "shutdown_grace_seconds",
    "timeouts",
    "limits",
];

/// Keys allowed under `server.timeouts`.
const TIMEOUT_KEYS: &[&str] = &[
    "tls_handshake_seconds",
    "request_head_seconds",
    "request_body_seconds",
    "keep_alive_idle_seconds",
    "response_write_seconds",
];

/// Keys allowed under `server.limits`.
const LIMIT_KEYS: &[&str] = &[
    "max_header_bytes",
    "max_headers",
    "max_body_bytes",
    connection::KEYS[0],
    connection::KEYS[1],
    connection::KEYS[2],
];
