//! What the server and the live re-checks (`trust`) ask of the TLS state and the whitelist:
//! the two seams, below both so that `trust` need not import `server`.

use std::net::IpAddr;
use std::sync::Arc;

use super::tls::TlsState;
use super::whitelist::Whitelist;

/// Where each new connection gets its TLS configuration, and live ones are re-verified
/// after a reload.
pub trait ConfigSource: Send + Sync {
    /// The configuration for the next connection.
    fn current(&self) -> Arc<rustls::ServerConfig>;
    /// Moves on every reload that swapped the configuration (fixed sources never move).
    fn generation(&self) -> u64 {
        0
    }
    /// Verifies a live connection's client chain (leaf first) against the current CA and
    /// CRLs; the error says why it no longer passes.
    fn verify_client(
        &self,
        _chain: &[rustls::pki_types::CertificateDer<'static>],
    ) -> Result<(), String> {
        Ok(())
    }
}

impl ConfigSource for TlsState {
    fn current(&self) -> Arc<rustls::ServerConfig> {
        TlsState::current(self)
    }
    fn generation(&self) -> u64 {
        TlsState::generation(self)
    }
    fn verify_client(
        &self,
        chain: &[rustls::pki_types::CertificateDer<'static>],
    ) -> Result<(), String> {
        TlsState::verify_client(self, chain)
    }
}

/// Decides, before any TLS byte, whether a peer address may connect.
pub trait PeerFilter: Send + Sync {
    /// Whether `ip` (IPv4-mapped addresses already normalised to IPv4) may connect.
    fn allows(&self, ip: IpAddr) -> bool;
    /// Records a refused peer.
    fn note_denied(&self, ip: IpAddr);
    /// Moves on every reload that swapped the list (fixed filters never move).
    fn generation(&self) -> u64 {
        0
    }
}

impl PeerFilter for Whitelist {
    fn allows(&self, ip: IpAddr) -> bool {
        Whitelist::allows(self, ip)
    }
    fn note_denied(&self, ip: IpAddr) {
        Whitelist::note_denied(self, ip)
    }
    fn generation(&self) -> u64 {
        Whitelist::generation(self)
    }
}
