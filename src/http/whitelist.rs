//! The IP whitelist: addresses and CIDR ranges from a YAML file, reloaded on change.
//!
//! Missing, empty or invalid file at start = deny all (logged). An invalid new file keeps
//! the last valid list.
//!
//! # File format
//!
//! ```yaml
//! allowed:
//!   - 10.0.0.0/8        # IPv4 range
//!   - 192.168.1.20      # one IPv4 address (= /32)
//!   - ::1               # one IPv6 address (= /128)
//!   - fd00::/8          # IPv6 range
//! ```
//!
//! A bare top-level list of the same strings is accepted too. An empty file, `allowed:` with
//! no value, or `allowed: []` allows nobody (logged as a warning). Any other top-level key,
//! or an entry that is not a string address/CIDR, makes the whole file invalid; the message
//! names the entry and its index.
//!
//! Decisions:
//! - A range with host bits set (`10.0.0.1/8`) is accepted and normalised to its network
//!   (`10.0.0.0/8`), with a warning, as `ip route` and nftables do: rejecting it would, at
//!   start, lock every client out over a cosmetic slip.
//! - IPv4-mapped IPv6 peers (`::ffff:1.2.3.4`, as a dual-stack socket reports IPv4 peers)
//!   are matched as IPv4, and mapped entries (`::ffff:10.0.0.0/104`) are stored as IPv4, so
//!   both spellings meet. Otherwise IPv6 entries match IPv6 peers only (`::/0` is not "all").
//! - Zone ids (`fe80::1%eth0`) are refused: the peer address carries none to compare.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use serde_yaml_ng::Value;

use crate::watch::Watched;

/// One allowed address or range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpNet {
    /// Network address.
    pub addr: IpAddr,
    /// Prefix length (32/128 for a single address).
    pub prefix: u8,
}

impl IpNet {
    /// Whether `ip` (already canonical: mapped IPv6 turned into IPv4) lies in this range.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = v4_mask(self.prefix);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = v6_mask(self.prefix);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl std::fmt::Display for IpNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

fn v4_mask(prefix: u8) -> u32 {
    u32::MAX
        .checked_shl(32 - u32::from(prefix.min(32)))
        .unwrap_or(0)
}

fn v6_mask(prefix: u8) -> u128 {
    u128::MAX
        .checked_shl(128 - u32::from(prefix.min(128)))
        .unwrap_or(0)
}

/// How often a summary of suppressed denial log lines may be written.
const DENIAL_SUMMARY_INTERVAL: Duration = Duration::from_secs(10);
/// Most peers whose first denial is remembered (bounds memory under a scan).
const DENIAL_MEMORY: usize = 1024;
/// Most "first denial" lines per summary interval; more are counted instead.
const DENIAL_LINES_PER_INTERVAL: u32 = 10;
/// After this long without a denial, a peer's next denial is logged again as new.
const DENIAL_FORGET_AFTER: Duration = Duration::from_secs(3600);

/// The live whitelist.
pub struct Whitelist {
    path: PathBuf,
    list: RwLock<Arc<Vec<IpNet>>>,
    /// Counts lists swapped in, so live connections know to re-check.
    generation: AtomicU64,
    watched: Watched,
    denials: Mutex<DenialLog>,
}

impl Whitelist {
    /// Loads the file; never fails: problems are logged and mean deny-all.
    pub fn load(path: PathBuf) -> Whitelist {
        let watched = Watched::new(vec![path.clone()]);
        let list = match read_list(&path) {
            Ok(list) => {
                log_loaded(&path, &list);
                list
            }
            Err(e) => {
                log::error!("whitelist {e}; denying all connections");
                Vec::new()
            }
        };
        Whitelist {
            path,
            list: RwLock::new(Arc::new(list)),
            generation: AtomicU64::new(0),
            watched,
            denials: Mutex::new(DenialLog::new(Instant::now())),
        }
    }

    /// Parses whitelist YAML into ranges, or says what is wrong.
    pub fn parse(text: &str) -> Result<Vec<IpNet>, String> {
        let doc: Value =
            serde_yaml_ng::from_str(text).map_err(|e| format!("is not valid YAML: {e}"))?;
        let entries = entries_of(doc)?;
        entries
            .iter()
            .enumerate()
            .map(|(i, v)| parse_entry_value(i, v))
            .collect()
    }

    /// Whether a peer may connect (IPv4-mapped IPv6 peers are matched as IPv4).
    pub fn allows(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.snapshot().iter().any(|net| net.contains(ip))
    }

    /// Reloads when the file changed (content, inode or mtime); logs outcome.
    pub fn reload_if_changed(&self) {
        if self.watched.take_change() {
            self.reload_now();
        }
        self.flush_denials();
    }

    /// Reloads now (SIGHUP); an invalid file keeps the old list.
    pub fn reload(&self) {
        self.watched.mark();
        self.reload_now();
    }

    /// Records a denied peer; logs without letting a flood of denials flood the log.
    pub fn note_denied(&self, ip: IpAddr) {
        let now = Instant::now();
        let (first, summary) = self.denial_log().note(ip.to_canonical(), now);
        if first {
            log::warn!(
                "connection from {ip} denied: not in whitelist {}",
                self.path.display()
            );
        }
        if let Some(s) = summary {
            log::warn!("{s}");
        }
    }

    /// Writes the pending summary of suppressed denials if one is due (called periodically).
    pub fn flush_denials(&self) {
        if let Some(s) = self.denial_log().summary_if_due(Instant::now()) {
            log::warn!("{s}");
        }
    }

    /// Moves each time a list is swapped in (live connections re-check then).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// The ranges in force now.
    pub fn snapshot(&self) -> Arc<Vec<IpNet>> {
        let guard = self.list.read().unwrap_or_else(|e| e.into_inner());
        Arc::clone(&guard)
    }

    fn reload_now(&self) {
        match read_list(&self.path) {
            Ok(list) => {
                log_loaded(&self.path, &list);
                // Poison is harmless: the value is an Arc replaced whole.
                *self.list.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(list);
                // After the swap: a connection seeing the new count reads the new list.
                self.generation.fetch_add(1, Ordering::SeqCst);
            }
            Err(e) => log::error!(
                "whitelist {e}; keeping the previous list ({} entries)",
                self.snapshot().len()
            ),
        }
    }

    fn denial_log(&self) -> std::sync::MutexGuard<'_, DenialLog> {
        self.denials.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn log_loaded(path: &std::path::Path, list: &[IpNet]) {
    if list.is_empty() {
        log::warn!(
            "whitelist {} allows nobody: every connection will be denied",
            path.display()
        );
    } else {
        log::info!(
            "whitelist {} loaded: {} entries",
            path.display(),
            list.len()
        );
    }
}

/// Reads and parses the file; the error names the file.
fn read_list(path: &std::path::Path) -> Result<Vec<IpNet>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot be read: {e}", path.display()))?;
    Whitelist::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// The list of entries of a document: `allowed:` mapping, bare list or empty.
fn entries_of(doc: Value) -> Result<Vec<Value>, String> {
    match doc {
        Value::Null => Ok(Vec::new()),
        Value::Sequence(items) => Ok(items),
        Value::Mapping(map) => {
            let mut allowed = Vec::new();
            for (k, v) in map {
                match k.as_str() {
                    Some("allowed") => allowed = allowed_value(v)?,
                    _ => return Err(format!("unknown key {k:?} (expected `allowed`)")),
                }
            }
            Ok(allowed)
        }
        _ => Err("must be a mapping with key `allowed` or a list".to_string()),
    }
}

fn allowed_value(v: Value) -> Result<Vec<Value>, String> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Sequence(items) => Ok(items),
        _ => Err("`allowed` must be a list of addresses or CIDR ranges".to_string()),
    }
}

fn parse_entry_value(index: usize, value: &Value) -> Result<IpNet, String> {
    let text = value
        .as_str()
        .ok_or_else(|| format!("entry {index} ({value:?}) is not a string"))?;
    parse_entry(text).map_err(|e| format!("entry {index} ({text:?}): {e}"))
}

/// Parses `addr` or `addr/prefix`, normalising host bits and IPv4-mapped ranges.
fn parse_entry(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    let (addr_text, prefix_text) = match text.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (text, None),
    };
    if addr_text.contains('%') {
        return Err("zone ids are not supported".to_string());
    }
    let addr: IpAddr = addr_text
        .parse()
        .map_err(|_| "not an IPv4 or IPv6 address".to_string())?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix_text {
        None => max,
        Some(p) => parse_prefix(p, max)?,
    };
    let net = unmap(IpNet { addr, prefix });
    let normal = network_of(net);
    if normal != net {
        log::warn!("whitelist entry {text} has host bits set; using {normal}");
    }
    Ok(normal)
}

fn parse_prefix(text: &str, max: u8) -> Result<u8, String> {
    let ok = !text.is_empty() && text.len() <= 3 && text.bytes().all(|b| b.is_ascii_digit());
    let prefix = if ok { text.parse::<u8>().ok() } else { None };
    match prefix {
        Some(p) if p <= max => Ok(p),
        _ => Err(format!("prefix length must be 0..={max}")),
    }
}

/// Stores an IPv4-mapped IPv6 range (`::ffff:a.b.c.d/96+n`) as the IPv4 range `/n`.
fn unmap(net: IpNet) -> IpNet {
    match net.addr {
        IpAddr::V6(v6) if net.prefix >= 96 => match v6.to_ipv4_mapped() {
            Some(v4) => IpNet {
                addr: IpAddr::V4(v4),
                prefix: net.prefix - 96,
            },
            None => net,
        },
        _ => net,
    }
}

/// The range with host bits cleared.
fn network_of(net: IpNet) -> IpNet {
    let addr = match net.addr {
        IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) & v4_mask(net.prefix))),
        IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) & v6_mask(net.prefix))),
    };
    IpNet { addr, ..net }
}

/// Bookkeeping that keeps denial logging informative but bounded.
struct DenialLog {
    /// Peers denied recently, with when they were last denied.
    recent: HashMap<IpAddr, Instant>,
    /// Start of the current summary interval.
    interval_start: Instant,
    /// "First denial" lines written in this interval.
    lines: u32,
    /// Denials not logged individually since the last summary.
    suppressed: u64,
    /// Distinct peers among the suppressed denials (capped by `DENIAL_MEMORY`).
    suppressed_peers: HashMap<IpAddr, ()>,
}

impl DenialLog {
    fn new(now: Instant) -> DenialLog {
        DenialLog {
            recent: HashMap::new(),
            interval_start: now,
            lines: 0,
            suppressed: 0,
            suppressed_peers: HashMap::new(),
        }
    }

    /// Records a denial: whether to log it as a first denial, and a summary line if due.
    fn note(&mut self, ip: IpAddr, now: Instant) -> (bool, Option<String>) {
        let summary = self.summary_if_due(now);
        let known = self
            .recent
            .get(&ip)
            .is_some_and(|&t| now.saturating_duration_since(t) < DENIAL_FORGET_AFTER);
        self.remember(ip, now);
        if !known && self.lines < DENIAL_LINES_PER_INTERVAL {
            self.lines += 1;
            return (true, summary);
        }
        self.suppressed += 1;
        if self.suppressed_peers.len() < DENIAL_MEMORY {
            self.suppressed_peers.insert(ip, ());
        }
        (false, summary)
    }

    fn remember(&mut self, ip: IpAddr, now: Instant) {
        if self.recent.len() >= DENIAL_MEMORY && !self.recent.contains_key(&ip) {
            let oldest = self.recent.iter().min_by_key(|(_, &t)| t).map(|(k, _)| *k);
            if let Some(k) = oldest {
                self.recent.remove(&k);
            }
        }
        self.recent.insert(ip, now);
    }

    /// Closes the interval when it has run out, returning the summary of what was suppressed.
    fn summary_if_due(&mut self, now: Instant) -> Option<String> {
        let elapsed = now.saturating_duration_since(self.interval_start);
        if elapsed < DENIAL_SUMMARY_INTERVAL {
            return None;
        }
        let summary = (self.suppressed > 0).then(|| {
            format!(
                "{} further connection(s) denied by the whitelist from {}{} address(es) in the last {}s",
                self.suppressed,
                self.suppressed_peers.len(),
                if self.suppressed_peers.len() >= DENIAL_MEMORY { "+" } else { "" },
                elapsed.as_secs()
            )
        });
        self.interval_start = now;
        self.lines = 0;
        self.suppressed = 0;
        self.suppressed_peers.clear();
        summary
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        parse_entry(s).unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn temp_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(uuid::Uuid::new_v4().to_string());
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Replaces a file by writing a sibling and renaming it over, as atomic writers do.
    fn replace(path: &std::path::Path, text: &str) {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, path).unwrap();
    }

    #[test]
    fn parses_mapping_and_bare_list() {
        let list = Whitelist::parse("allowed:\n  - 10.0.0.0/8\n  - ::1\n  - fd00::/8\n").unwrap();
        assert_eq!(
            list,
            vec![net("10.0.0.0/8"), net("::1/128"), net("fd00::/8")]
        );
        let bare = Whitelist::parse("- 192.168.1.20\n- 2001:db8::/32").unwrap();
        assert_eq!(
            bare,
            vec![
                IpNet {
                    addr: ip("192.168.1.20"),
                    prefix: 32
                },
                IpNet {
                    addr: ip("2001:db8::"),
                    prefix: 32
                },
            ]
        );
    }

    #[test]
    fn empty_forms_mean_deny_all() {
        for text in ["", "allowed: []", "allowed:", "[]", "# only a comment\n"] {
            assert_eq!(Whitelist::parse(text), Ok(Vec::new()), "{text:?}");
        }
    }

    #[test]
    fn rejects_bad_entries_naming_index_and_entry() {
        let e = Whitelist::parse("allowed:\n  - 10.0.0.1\n  - 10.0.0.300\n").unwrap_err();
        assert!(e.contains("entry 1") && e.contains("10.0.0.300"), "{e}");
        let e = Whitelist::parse("allowed: [10.0.0.0/33]").unwrap_err();
        assert!(e.contains("entry 0") && e.contains("0..=32"), "{e}");
        let e = Whitelist::parse("allowed: ['::/129']").unwrap_err();
        assert!(e.contains("0..=128"), "{e}");
        for bad in [
            "10.0.0.0/",
            "10.0.0.0/+8",
            "10.0.0.0/8/8",
            "fe80::1%eth0",
            "host.example",
            "",
        ] {
            let text = format!("allowed: [{bad:?}]");
            assert!(Whitelist::parse(&text).is_err(), "{bad}");
        }
        let e = Whitelist::parse("allowed:\n  - 10.0.0.1\n  - 42\n").unwrap_err();
        assert!(e.contains("entry 1") && e.contains("not a string"), "{e}");
        assert!(Whitelist::parse("allow: [10.0.0.1]")
            .unwrap_err()
            .contains("unknown key"));
        assert!(Whitelist::parse("allowed: 10.0.0.1").is_err());
        assert!(Whitelist::parse("allowed: [").unwrap_err().contains("YAML"));
        assert!(Whitelist::parse("just text").is_err());
    }

    #[test]
    fn host_bits_are_normalised() {
        assert_eq!(
            net("10.0.0.1/8"),
            IpNet {
                addr: ip("10.0.0.0"),
                prefix: 8
            }
        );
        assert_eq!(
            net("fd00::1/8"),
            IpNet {
                addr: ip("fd00::"),
                prefix: 8
            }
        );
        assert_eq!(
            net(" 10.1.2.3 "),
            IpNet {
                addr: ip("10.1.2.3"),
                prefix: 32
            }
        );
    }

    #[test]
    fn mapped_entries_become_ipv4() {
        assert_eq!(net("::ffff:10.0.0.0/104"), net("10.0.0.0/8"));
        assert_eq!(net("::ffff:1.2.3.4"), net("1.2.3.4/32"));
    }

    #[test]
    fn cidr_edges() {
        let all4 = net("0.0.0.0/0");
        assert!(all4.contains(ip("255.255.255.255")) && all4.contains(ip("0.0.0.0")));
        assert!(!all4.contains(ip("::1")));
        let one = net("192.0.2.7/32");
        assert!(one.contains(ip("192.0.2.7")) && !one.contains(ip("192.0.2.6")));
        let all6 = net("::/0");
        assert!(all6.contains(ip("ffff::1")) && !all6.contains(ip("10.0.0.1")));
        let host6 = net("2001:db8::1/128");
        assert!(host6.contains(ip("2001:db8::1")) && !host6.contains(ip("2001:db8::2")));
        let r = net("10.0.0.0/8");
        assert!(r.contains(ip("10.255.255.255")) && !r.contains(ip("11.0.0.0")));
        let r = net("fd00::/8");
        assert!(r.contains(ip("fdff::1")) && !r.contains(ip("fe00::")));
    }

    #[test]
    fn mapped_peer_matches_ipv4_entry() {
        let dir = temp_dir();
        let path = dir.join("whitelist.yaml");
        std::fs::write(&path, "allowed: [1.2.3.0/24]").unwrap();
        let wl = Whitelist::load(path);
        assert!(wl.allows(ip("::ffff:1.2.3.4")));
        assert!(wl.allows(ip("1.2.3.4")));
        assert!(!wl.allows(ip("::ffff:1.2.4.4")));
        assert!(!wl.allows(ip("::1")));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn missing_or_invalid_file_at_load_denies_all() {
        let dir = temp_dir();
        let wl = Whitelist::load(dir.join("missing.yaml"));
        assert!(!wl.allows(ip("127.0.0.1")));
        let path = dir.join("bad.yaml");
        std::fs::write(&path, "allowed: [nonsense]").unwrap();
        let wl = Whitelist::load(path);
        assert!(wl.snapshot().is_empty());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn reload_by_rename_and_invalid_file_keeps_list() {
        let dir = temp_dir();
        let path = dir.join("whitelist.yaml");
        std::fs::write(&path, "allowed: [127.0.0.1]").unwrap();
        let wl = Whitelist::load(path.clone());
        assert!(wl.allows(ip("127.0.0.1")));
        wl.reload_if_changed();
        assert!(wl.allows(ip("127.0.0.1")));
        assert_eq!(wl.generation(), 0, "nothing swapped while unchanged");

        // Same length content, replaced by rename: picked up through the inode change.
        replace(&path, "allowed: [127.0.0.2]");
        wl.reload_if_changed();
        assert!(!wl.allows(ip("127.0.0.1")));
        assert!(wl.allows(ip("127.0.0.2")));
        assert_eq!(
            wl.generation(),
            1,
            "a swap tells live connections to re-check"
        );

        let before = wl.snapshot();
        replace(&path, "allowed: [127.0.0.999]");
        wl.reload_if_changed();
        assert!(
            Arc::ptr_eq(&before, &wl.snapshot()),
            "invalid file keeps the list"
        );
        assert_eq!(wl.generation(), 1, "a refused file swaps nothing");
        assert!(wl.allows(ip("127.0.0.2")));

        std::fs::remove_file(&path).unwrap();
        wl.reload_if_changed();
        assert!(wl.allows(ip("127.0.0.2")), "a removed file keeps the list");

        replace(&path, "allowed: []");
        wl.reload_if_changed();
        assert!(!wl.allows(ip("127.0.0.2")), "an empty list denies all");

        std::fs::write(&path, "- ::1\n").unwrap();
        wl.reload();
        assert!(wl.allows(ip("::1")));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn denial_logging_is_bounded() {
        let t0 = Instant::now();
        let mut log = DenialLog::new(t0);
        let a = ip("203.0.113.1");
        assert_eq!(log.note(a, t0), (true, None));
        for _ in 0..100 {
            assert_eq!(log.note(a, t0), (false, None));
        }
        // Many distinct peers: only a few get their own line.
        let firsts = (0..2000u32)
            .filter(|i| {
                let peer = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
                log.note(peer, t0 + Duration::from_secs(1)).0
            })
            .count();
        assert_eq!(firsts as u32, DENIAL_LINES_PER_INTERVAL - 1);
        assert!(log.recent.len() <= DENIAL_MEMORY);
        assert!(log.suppressed_peers.len() <= DENIAL_MEMORY);

        assert_eq!(log.summary_if_due(t0 + Duration::from_secs(5)), None);
        let last = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + 1999));
        let (first, summary) = log.note(last, t0 + Duration::from_secs(11));
        assert!(!first, "a recently denied peer is not logged again");
        let summary = summary.unwrap();
        assert!(summary.starts_with("2091 further"), "{summary}");
        // Nothing suppressed in the new interval yet but this one denial: no summary.
        assert_eq!(log.summary_if_due(t0 + Duration::from_secs(15)), None);
        assert!(log.summary_if_due(t0 + Duration::from_secs(22)).is_some());
        assert_eq!(log.summary_if_due(t0 + Duration::from_secs(40)), None);
        // Pushed out by the flood (oldest first), or forgotten after an hour: logged again.
        assert!(log.note(a, t0 + Duration::from_secs(41)).0);
        assert!(log.note(last, t0 + Duration::from_secs(4000)).0);
    }
}
