//! `server.*`: listener, pool, deadlines and size limits.

use std::net::IpAddr;

use serde::Deserialize;

use super::fields::{int, ip};
use super::{ConnectionLimits, Report};

/// `server.*`
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// `server.bind`: address to listen on (IPv4 or IPv6), default `0.0.0.0`.
    #[serde(deserialize_with = "ip")]
    pub bind: IpAddr,
    /// `server.port`: 1-65535, default 12443.
    #[serde(deserialize_with = "int::<1, 65535, _, _>")]
    pub port: u16,
    /// `server.workers`: most connection threads at once, 1-4096, default 64.
    #[serde(deserialize_with = "int::<1, 4096, _, _>")]
    pub workers: usize,
    /// `server.max_connections`: most accepted connections (serving + queued), 1-65536 and
    /// at least `server.workers`, default 256.
    #[serde(deserialize_with = "int::<1, 65536, _, _>")]
    pub max_connections: usize,
    /// `server.max_handshakes_per_address`: most connections from one address still in their
    /// TLS handshake, 1-65536, default 32; a new one beyond it drops that address's oldest.
    #[serde(deserialize_with = "int::<1, 65536, _, _>")]
    pub max_handshakes_per_address: usize,
    /// `server.shutdown_grace_seconds`: how long in-flight requests may finish on SIGTERM,
    /// default 30, 0-3600.
    #[serde(deserialize_with = "int::<0, 3600, _, _>")]
    pub shutdown_grace_seconds: u64,
    /// `server.timeouts.*`
    pub timeouts: TimeoutsConfig,
    /// `server.limits.*`
    pub limits: LimitsConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            port: 12443,
            workers: 64,
            max_connections: 256,
            max_handshakes_per_address: 32,
            shutdown_grace_seconds: 30,
            timeouts: TimeoutsConfig::default(),
            limits: LimitsConfig::default(),
        }
    }
}

impl ServerConfig {
    /// Queued connections need a serving thread each eventually, so fewer slots than
    /// threads would leave threads that can never be used. Checked only when
    /// `max_connections` is given and both values read cleanly.
    pub(super) fn validate(&self, key: &str, report: &mut Report) {
        let max_key = format!("{key}.max_connections");
        let workers_key = format!("{key}.workers");
        if !report.given(&max_key) || report.failed(&max_key) || report.failed(&workers_key) {
            return;
        }
        if self.max_connections < self.workers {
            let message = format!(
                "must be at least server.workers ({}), got {}",
                self.workers, self.max_connections
            );
            report.push(&max_key, message);
        }
    }
}

/// `server.timeouts.*`, all in seconds, each 1-3600.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TimeoutsConfig {
    /// `tls_handshake_seconds`, default 10.
    #[serde(deserialize_with = "int::<1, 3600, _, _>")]
    pub tls_handshake_seconds: u64,
    /// `request_head_seconds`, default 10.
    #[serde(deserialize_with = "int::<1, 3600, _, _>")]
    pub request_head_seconds: u64,
    /// `request_body_seconds`, default 30.
    #[serde(deserialize_with = "int::<1, 3600, _, _>")]
    pub request_body_seconds: u64,
    /// `keep_alive_idle_seconds`, default 60.
    #[serde(deserialize_with = "int::<1, 3600, _, _>")]
    pub keep_alive_idle_seconds: u64,
    /// `response_write_seconds`, default 30.
    #[serde(deserialize_with = "int::<1, 3600, _, _>")]
    pub response_write_seconds: u64,
}

impl Default for TimeoutsConfig {
    fn default() -> Self {
        TimeoutsConfig {
            tls_handshake_seconds: 10,
            request_head_seconds: 10,
            request_body_seconds: 30,
            keep_alive_idle_seconds: 60,
            response_write_seconds: 30,
        }
    }
}

/// `server.limits.*`
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(from = "LimitsFile")]
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

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsFile::default().into()
    }
}

/// `server.limits.*` as written: the size limits and the connection bounds side by side in
/// one mapping, which [`LimitsConfig`] keeps apart.
#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct LimitsFile {
    /// `max_header_bytes`: request line + headers, 1024-1048576, default 16384.
    #[serde(deserialize_with = "int::<1024, 1_048_576, _, _>")]
    max_header_bytes: usize,
    /// `max_headers`: header count, 8-1024, default 64.
    #[serde(deserialize_with = "int::<8, 1024, _, _>")]
    max_headers: usize,
    /// `max_body_bytes`: 1024-104857600, default 1048576.
    #[serde(deserialize_with = "int::<1024, 104_857_600, _, _>")]
    max_body_bytes: usize,
    /// `max_requests_per_connection`: 1-1000000, default 1000; the last response carries
    /// `Connection: close`.
    #[serde(deserialize_with = "int::<1, 1_000_000, _, _>")]
    max_requests_per_connection: u64,
    /// `max_connection_age_seconds`: 1-86400, default 600; the first request after it is
    /// answered with `Connection: close`.
    #[serde(deserialize_with = "int::<1, 86_400, _, _>")]
    max_connection_age_seconds: u64,
    /// `max_websocket_age_seconds`: 1-604800, default 7200; then Close 1001.
    #[serde(deserialize_with = "int::<1, 604_800, _, _>")]
    max_websocket_age_seconds: u64,
}

impl Default for LimitsFile {
    fn default() -> Self {
        let c = ConnectionLimits::default();
        LimitsFile {
            max_header_bytes: 16384,
            max_headers: 64,
            max_body_bytes: 1_048_576,
            max_requests_per_connection: c.max_requests_per_connection,
            max_connection_age_seconds: c.max_connection_age_seconds,
            max_websocket_age_seconds: c.max_websocket_age_seconds,
        }
    }
}

impl From<LimitsFile> for LimitsConfig {
    fn from(f: LimitsFile) -> Self {
        LimitsConfig {
            max_header_bytes: f.max_header_bytes,
            max_headers: f.max_headers,
            max_body_bytes: f.max_body_bytes,
            connection: ConnectionLimits {
                max_requests_per_connection: f.max_requests_per_connection,
                max_connection_age_seconds: f.max_connection_age_seconds,
                max_websocket_age_seconds: f.max_websocket_age_seconds,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::tests::{one_error, parse};
    use crate::config::Config;
    use std::net::IpAddr;

    #[test]
    fn max_handshakes_per_address_is_bounded() {
        assert_eq!(Config::default().server.max_handshakes_per_address, 32);
        let c = parse("server:\n  max_handshakes_per_address: 4\n").unwrap();
        assert_eq!(c.server.max_handshakes_per_address, 4);
        assert_eq!(
            one_error("server:\n  max_handshakes_per_address: 0\n"),
            "server.max_handshakes_per_address: must be 1-65536, got 0"
        );
    }

    #[test]
    fn max_connections_must_cover_the_workers() {
        assert_eq!(
            one_error("server:\n  workers: 100\n  max_connections: 99\n"),
            "server.max_connections: must be at least server.workers (100), got 99"
        );
        assert_eq!(
            one_error("server:\n  max_connections: 10\n"),
            "server.max_connections: must be at least server.workers (64), got 10"
        );
        assert_eq!(
            one_error("server:\n  max_connections: 65537\n"),
            "server.max_connections: must be 1-65536, got 65537"
        );
        let c = parse("server:\n  workers: 4\n  max_connections: 4\n").unwrap();
        assert_eq!((c.server.workers, c.server.max_connections), (4, 4));
        // A bad worker count is reported alone, not compared against.
        assert_eq!(
            one_error("server:\n  workers: 0\n  max_connections: 10\n"),
            "server.workers: must be 1-4096, got 0"
        );
        // More workers than the default slots is fine while max_connections is not given.
        assert_eq!(
            parse("server:\n  workers: 300\n").unwrap().server.workers,
            300
        );
    }

    #[test]
    fn timeouts_and_limits_are_nested_sections() {
        let c = parse(
            "server:\n  bind: '::1'\n  timeouts: {request_head_seconds: 4}\n  limits: {max_headers: 9, max_requests_per_connection: 3}\n",
        )
        .unwrap();
        assert_eq!(c.server.bind, "::1".parse::<IpAddr>().unwrap());
        assert_eq!(c.server.timeouts.request_head_seconds, 4);
        assert_eq!(c.server.timeouts.request_body_seconds, 30);
        assert_eq!(c.server.limits.max_headers, 9);
        assert_eq!(c.server.limits.connection.max_requests_per_connection, 3);
        assert_eq!(
            one_error("server:\n  limits:\n    foo: 1\n"),
            "server.limits.foo: unknown key"
        );
        assert_eq!(
            one_error("server:\n  timeouts: 5\n"),
            "server.timeouts: expected a mapping, got an integer"
        );
    }
}
