//! A live connection's standing: re-checked against the whitelist and the client
//! verification (CA + CRL) after every reload, and bounded in requests and age.
//!
//! The whitelist and the TLS state each count the sets they have swapped in; a connection
//! remembers the sum it was last checked at and, before serving its next request (or in
//! the WebSocket loop, before its next slice), re-checks only when the sum moved. So a
//! revocation or a whitelist removal reaches connections opened before it, at the cost of
//! one comparison per request while nothing changes.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::CertificateDer;

use super::sources::{ConfigSource, PeerFilter};

/// How long and how much one connection may be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnBounds {
    /// Requests served on one keep-alive connection; the last carries `Connection: close`.
    pub max_requests: u64,
    /// Age after which a keep-alive connection answers its next request and closes.
    pub max_age: Duration,
    /// Age after which a WebSocket session is closed with 1001 (going away).
    pub max_websocket_age: Duration,
}

impl Default for ConnBounds {
    fn default() -> ConnBounds {
        ConnBounds {
            max_requests: 1000,
            max_age: Duration::from_secs(600),
            max_websocket_age: Duration::from_secs(7200),
        }
    }
}

/// Where live connections are re-checked: the current whitelist and client verifier.
pub struct Trust {
    filter: Arc<dyn PeerFilter>,
    config: Arc<dyn ConfigSource>,
}

/// Why a live connection lost its standing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The peer address is no longer in the whitelist.
    NotWhitelisted,
    /// The client certificate chain no longer verifies (revoked, expired, CA removed).
    Certificate(String),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::NotWhitelisted => f.write_str("address no longer in the whitelist"),
            Refusal::Certificate(e) => write!(f, "client certificate no longer accepted: {e}"),
        }
    }
}

impl Trust {
    /// Re-checks against `filter` and `config` as they are at each check.
    pub fn new(filter: Arc<dyn PeerFilter>, config: Arc<dyn ConfigSource>) -> Arc<Trust> {
        Arc::new(Trust { filter, config })
    }

    /// Moves whenever either the whitelist or the TLS material was swapped.
    pub fn generation(&self) -> u64 {
        self.filter
            .generation()
            .wrapping_add(self.config.generation())
    }

    /// Whether `ip` with client chain `chain` (empty: no certificate) may go on.
    fn check(&self, ip: IpAddr, chain: &[CertificateDer<'static>]) -> Result<(), Refusal> {
        if !self.filter.allows(ip) {
            return Err(Refusal::NotWhitelisted);
        }
        if chain.is_empty() {
            // A certificate-less connection only ever reaches the health path.
            return Ok(());
        }
        self.config
            .verify_client(chain)
            .map_err(Refusal::Certificate)
    }
}

/// One connection's standing: when it was last checked, its age and requests served.
pub struct Standing {
    trust: Option<Arc<Trust>>,
    /// The generation last checked at; `None` until the first check when the admission's
    /// generation is unknown.
    checked_at: Option<u64>,
    peer: SocketAddr,
    chain: Vec<CertificateDer<'static>>,
    born: Instant,
    served: u64,
    bounds: ConnBounds,
}

/// What the WebSocket loop must do about its standing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionVerdict {
    /// Go on.
    Keep,
    /// Close with 1008 (policy violation): the peer lost its standing.
    Revoked(Refusal),
    /// Close with 1001 (going away): the session reached its age limit.
    TooOld,
}

impl Standing {
    /// A connection from `peer` presenting `chain`, born now; `trust` None skips re-checks.
    pub fn new(
        trust: Option<Arc<Trust>>,
        peer: SocketAddr,
        chain: Vec<CertificateDer<'static>>,
        bounds: ConnBounds,
    ) -> Standing {
        Standing {
            trust,
            checked_at: None,
            peer,
            chain,
            born: Instant::now(),
            served: 0,
            bounds,
        }
    }

    /// Marks the connection as checked at `generation` (its admission: whitelist and
    /// handshake), so it is re-checked only after a later reload; `None` checks at once.
    pub fn checked_at(mut self, generation: Option<u64>) -> Standing {
        self.checked_at = generation;
        self
    }

    /// The peer address, for log lines.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Re-checks when a reload happened since the last check; logs a refusal.
    pub fn recheck(&mut self) -> Result<(), Refusal> {
        let Some(trust) = &self.trust else {
            return Ok(());
        };
        let now = trust.generation();
        if self.checked_at == Some(now) {
            return Ok(());
        }
        if let Err(why) = trust.check(self.peer.ip(), &self.chain) {
            log::warn!("{}: closing live connection: {why}", self.peer);
            return Err(why);
        }
        self.checked_at = Some(now);
        Ok(())
    }

    /// Counts a request about to be answered; true when it must be the connection's last
    /// (request limit reached or age passed).
    pub fn count_request(&mut self) -> bool {
        self.served = self.served.saturating_add(1);
        let last =
            self.served >= self.bounds.max_requests || self.born.elapsed() >= self.bounds.max_age;
        if last {
            log::debug!(
                "{}: connection limit reached after {} requests in {:?}; closing after this response",
                self.peer,
                self.served,
                self.born.elapsed()
            );
        }
        last
    }

    /// For the WebSocket loop, checked every slice: standing, then age.
    pub fn session_verdict(&mut self) -> SessionVerdict {
        if let Err(why) = self.recheck() {
            return SessionVerdict::Revoked(why);
        }
        if self.born.elapsed() >= self.bounds.max_websocket_age {
            return SessionVerdict::TooOld;
        }
        SessionVerdict::Keep
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    /// A whitelist that can be flipped and counts its checks.
    #[derive(Default)]
    struct Flip {
        deny: AtomicBool,
        generation: AtomicU64,
        checks: AtomicU64,
    }

    impl PeerFilter for Flip {
        fn allows(&self, _ip: IpAddr) -> bool {
            self.checks.fetch_add(1, Ordering::SeqCst);
            !self.deny.load(Ordering::SeqCst)
        }
        fn note_denied(&self, _ip: IpAddr) {}
        fn generation(&self) -> u64 {
            self.generation.load(Ordering::SeqCst)
        }
    }

    /// Refuses every chain once `revoked` is set.
    #[derive(Default)]
    struct Verifier {
        revoked: AtomicBool,
        generation: AtomicU64,
    }

    impl ConfigSource for Verifier {
        fn current(&self) -> Arc<rustls::ServerConfig> {
            unreachable!("not used by re-checks")
        }
        fn generation(&self) -> u64 {
            self.generation.load(Ordering::SeqCst)
        }
        fn verify_client(&self, _chain: &[CertificateDer<'static>]) -> Result<(), String> {
            if self.revoked.load(Ordering::SeqCst) {
                Err("revoked".into())
            } else {
                Ok(())
            }
        }
    }

    fn standing(filter: &Arc<Flip>, verifier: &Arc<Verifier>, bounds: ConnBounds) -> Standing {
        let filter: Arc<dyn PeerFilter> = filter.clone();
        let config: Arc<dyn ConfigSource> = verifier.clone();
        let chain = vec![CertificateDer::from(vec![1u8, 2, 3])];
        Standing::new(
            Some(Trust::new(filter, config)),
            "127.0.0.1:9".parse().unwrap(),
            chain,
            bounds,
        )
    }

    #[test]
    fn rechecks_only_when_a_reload_moved_the_generation() {
        let (f, v) = (Arc::new(Flip::default()), Arc::new(Verifier::default()));
        let mut s = standing(&f, &v, ConnBounds::default());
        assert_eq!(s.recheck(), Ok(()));
        assert_eq!(s.recheck(), Ok(()));
        assert_eq!(
            f.checks.load(Ordering::SeqCst),
            1,
            "checked once while unchanged"
        );
        // A change not yet published as a reload is not seen.
        f.deny.store(true, Ordering::SeqCst);
        assert_eq!(s.recheck(), Ok(()));
        f.generation.fetch_add(1, Ordering::SeqCst);
        assert_eq!(s.recheck(), Err(Refusal::NotWhitelisted));
    }

    #[test]
    fn admitted_at_the_current_generation_is_not_checked_again_until_a_reload() {
        let (f, v) = (Arc::new(Flip::default()), Arc::new(Verifier::default()));
        let mut s = standing(&f, &v, ConnBounds::default()).checked_at(Some(0));
        assert_eq!(s.recheck(), Ok(()));
        assert_eq!(
            f.checks.load(Ordering::SeqCst),
            0,
            "admission was the check"
        );
        f.generation.fetch_add(1, Ordering::SeqCst);
        assert_eq!(s.recheck(), Ok(()));
        assert_eq!(f.checks.load(Ordering::SeqCst), 1);
        // Admitted before a reload that the connection had not seen: checked at once.
        let mut late = standing(&f, &v, ConnBounds::default()).checked_at(Some(0));
        assert_eq!(late.recheck(), Ok(()));
        assert_eq!(f.checks.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_tls_reload_revoking_the_chain_ends_standing() {
        let (f, v) = (Arc::new(Flip::default()), Arc::new(Verifier::default()));
        let mut s = standing(&f, &v, ConnBounds::default());
        assert_eq!(s.session_verdict(), SessionVerdict::Keep);
        v.revoked.store(true, Ordering::SeqCst);
        v.generation.fetch_add(1, Ordering::SeqCst);
        assert_eq!(
            s.session_verdict(),
            SessionVerdict::Revoked(Refusal::Certificate("revoked".into()))
        );
    }

    #[test]
    fn the_nth_request_is_the_last() {
        let (f, v) = (Arc::new(Flip::default()), Arc::new(Verifier::default()));
        let bounds = ConnBounds {
            max_requests: 3,
            ..ConnBounds::default()
        };
        let mut s = standing(&f, &v, bounds);
        assert!(!s.count_request());
        assert!(!s.count_request());
        assert!(s.count_request());
    }

    #[test]
    fn age_ends_requests_and_sessions() {
        let (f, v) = (Arc::new(Flip::default()), Arc::new(Verifier::default()));
        let bounds = ConnBounds {
            max_requests: 1000,
            max_age: Duration::ZERO,
            max_websocket_age: Duration::ZERO,
        };
        let mut s = standing(&f, &v, bounds);
        assert!(s.count_request());
        assert_eq!(s.session_verdict(), SessionVerdict::TooOld);
    }

    #[test]
    fn without_trust_only_bounds_apply() {
        let mut s = Standing::new(
            None,
            "127.0.0.1:9".parse().unwrap(),
            Vec::new(),
            ConnBounds::default(),
        );
        assert_eq!(s.recheck(), Ok(()));
        assert!(!s.count_request());
    }
}
