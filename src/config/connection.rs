//! `server.limits.max_requests_per_connection`, `max_connection_age_seconds` and
//! `max_websocket_age_seconds`: how long and how much one connection may be used, so a
//! connection cannot outlive every re-check and a leaked session ends by itself.

use std::time::Duration;

use crate::http::trust::ConnBounds;

/// The bounds of one connection as configured (read in `server.limits`, see
/// [`super::LimitsConfig`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// `max_requests_per_connection`: default 1000, 1-1000000; the last response carries
    /// `Connection: close`.
    pub max_requests_per_connection: u64,
    /// `max_connection_age_seconds`: default 600, 1-86400; the first request after it is
    /// answered with `Connection: close`.
    pub max_connection_age_seconds: u64,
    /// `max_websocket_age_seconds`: default 7200 (longer than the default job timeout, so a
    /// job followed over one session is seen to its end), 1-604800; then Close 1001.
    pub max_websocket_age_seconds: u64,
}

impl Default for ConnectionLimits {
    fn default() -> ConnectionLimits {
        let d = ConnBounds::default();
        ConnectionLimits {
            max_requests_per_connection: d.max_requests,
            max_connection_age_seconds: d.max_age.as_secs(),
            max_websocket_age_seconds: d.max_websocket_age.as_secs(),
        }
    }
}

impl ConnectionLimits {
    /// The protocol layer's form.
    pub fn bounds(&self) -> ConnBounds {
        ConnBounds {
            max_requests: self.max_requests_per_connection,
            max_age: Duration::from_secs(self.max_connection_age_seconds),
            max_websocket_age: Duration::from_secs(self.max_websocket_age_seconds),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn parse(yaml: &str) -> Result<Config, Vec<String>> {
        Config::from_yaml_str(yaml, std::path::Path::new("/"))
            .map_err(|errors| errors.iter().map(|e| e.to_string()).collect())
    }

    #[test]
    fn defaults_bound_requests_and_age() {
        let c = parse("{}").unwrap();
        let l = &c.server.limits.connection;
        assert_eq!(l.max_requests_per_connection, 1000);
        assert_eq!(l.max_connection_age_seconds, 600);
        assert_eq!(l.max_websocket_age_seconds, 7200);
        assert_eq!(l.bounds().max_age, Duration::from_secs(600));
    }

    #[test]
    fn keys_are_read_and_ranges_enforced() {
        let c = parse(
            "server:\n  limits:\n    max_requests_per_connection: 5\n    max_connection_age_seconds: 2\n    max_websocket_age_seconds: 30\n",
        )
        .unwrap();
        let b = c.server.limits.connection.bounds();
        assert_eq!(b.max_requests, 5);
        assert_eq!(b.max_age, Duration::from_secs(2));
        assert_eq!(b.max_websocket_age, Duration::from_secs(30));
        for bad in [
            "max_requests_per_connection: 0",
            "max_connection_age_seconds: 0",
            "max_connection_age_seconds: 86401",
            "max_websocket_age_seconds: -1",
            "max_requests_per_connection: many",
        ] {
            let errors = parse(&format!("server:\n  limits:\n    {bad}\n")).unwrap_err();
            let key = bad.split(':').next().unwrap_or_default();
            assert!(errors.iter().any(|e| e.contains(key)), "{bad}: {errors:?}");
        }
    }
}
