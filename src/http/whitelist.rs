//! The IP whitelist: addresses and CIDR ranges from a YAML file, reloaded on change.
//!
//! Missing, empty or invalid file at start = deny all (logged). An invalid new file keeps
//! the last valid list.

use std::net::IpAddr;
use std::path::PathBuf;

/// One allowed address or range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpNet {
    /// Network address.
    pub addr: IpAddr,
    /// Prefix length (32/128 for a single address).
    pub prefix: u8,
}

/// The live whitelist.
pub struct Whitelist {
    _private: (),
}

impl Whitelist {
    /// Loads the file; never fails: problems are logged and mean deny-all.
    pub fn load(path: PathBuf) -> Whitelist {
        let _ = path;
        todo!()
    }

    /// Parses whitelist YAML into ranges, or says what is wrong.
    pub fn parse(text: &str) -> Result<Vec<IpNet>, String> {
        let _ = text;
        todo!()
    }

    /// Whether a peer may connect (IPv4-mapped IPv6 peers are matched as IPv4).
    pub fn allows(&self, ip: IpAddr) -> bool {
        let _ = ip;
        todo!()
    }

    /// Reloads when the file changed (content, inode or mtime); logs outcome.
    pub fn reload_if_changed(&self) {
        todo!()
    }

    /// Reloads now (SIGHUP); an invalid file keeps the old list.
    pub fn reload(&self) {
        todo!()
    }

    /// Records a denied peer; logs without letting a flood of denials flood the log.
    pub fn note_denied(&self, ip: IpAddr) {
        let _ = ip;
        todo!()
    }
}
