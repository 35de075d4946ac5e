//! Who this host is, as reported to the manager: machine id, FQDN, the address it reaches the
//! manager from, and its distribution.
//!
//! Each fact has a pure function over its input (text, candidate lists) so it can be tested;
//! [`gather`] is the only part that touches the host.

use std::ffi::{CStr, CString};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::path::Path;

use serde_json::{Map, Value};

use super::machine_id::MachineIdError;
use crate::system::info::{self, OsRelease};

/// What the host tells the manager in `POST /api/v1/enroll`.
#[derive(Clone, Debug, PartialEq)]
pub struct Identity {
    /// 32 lowercase hex digits: the system's machine id, or the one generated in the
    /// enrollment state directory (see [`super::machine_id`]).
    pub machine_id: String,
    /// Fully qualified name (or the plain host name when no domain is known).
    pub fqdn: String,
    /// The address this host reaches the manager from.
    pub ip_address: IpAddr,
    /// `name`, `id`, `version_id`, `id_like`, `codename` (those present) and `kernel`.
    pub os_details: Map<String, Value>,
}

/// Why the identity could not be determined.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentityError(pub String);

impl std::fmt::Display for IdentityError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl std::error::Error for IdentityError {}

impl From<MachineIdError> for IdentityError {
    fn from(e: MachineIdError) -> IdentityError {
        IdentityError(e.0)
    }
}

/// Gathers the identity; `manager` is the address the manager is reached at, the overrides
/// come from `enrollment.report_ip` / `report_fqdn`, and `state_dir` keeps a generated
/// machine id when the system has none.
pub fn gather(
    manager: SocketAddr,
    report_ip: Option<IpAddr>,
    report_fqdn: Option<&str>,
    state_dir: &Path,
) -> Result<Identity, IdentityError> {
    let machine_id = super::machine_id::resolve(state_dir)?;
    log::info!("machine id {}", machine_id.describe());
    gather_with(machine_id.id, manager, report_ip, report_fqdn)
}

/// [`gather`] with the machine id already decided.
pub fn gather_with(
    machine_id: String,
    manager: SocketAddr,
    report_ip: Option<IpAddr>,
    report_fqdn: Option<&str>,
) -> Result<Identity, IdentityError> {
    let fqdn = match report_fqdn {
        Some(name) => name.to_string(),
        None => fqdn().ok_or_else(|| IdentityError("cannot determine the host name".into()))?,
    };
    let ip_address = match report_ip {
        Some(ip) => ip,
        None => ip_address(manager).ok_or_else(|| {
            IdentityError(
                "cannot determine this host's address (set enrollment.report_ip)".to_string(),
            )
        })?,
    };
    let release_paths: Vec<&Path> = info::OS_RELEASE_PATHS.iter().map(Path::new).collect();
    let release = info::read_os_release(&release_paths);
    let kernel = info::uname().map(|u| u.release);
    Ok(Identity {
        machine_id,
        fqdn,
        ip_address,
        os_details: os_details(release.as_ref(), kernel.as_deref()),
    })
}

/// This host's fully qualified name: the resolver's canonical name for the host name when it
/// has a domain, else the host name itself.
pub fn fqdn() -> Option<String> {
    let host = hostname()?;
    let canonical = canonical_name(&host);
    Some(choose_fqdn(&host, canonical.as_deref()))
}

/// Picks the reported name: a canonical name with a domain wins; a host name that already has
/// one is kept over a canonical name without; loopback names (`localhost...`) never win.
pub fn choose_fqdn(hostname: &str, canonical: Option<&str>) -> String {
    let host = hostname.trim().trim_end_matches('.');
    let usable = canonical
        .map(|c| c.trim().trim_end_matches('.'))
        .filter(|c| c.contains('.') && !is_loopback_name(c));
    match usable {
        Some(c) if !host.contains('.') || c.len() >= host.len() => c.to_string(),
        _ => host.to_string(),
    }
}

fn is_loopback_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower == "localhost" || lower.starts_with("localhost.") || lower.starts_with("ip6-")
}

/// The kernel's host name (`gethostname(2)`).
fn hostname() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: buf is valid for buf.len() bytes; gethostname writes at most that many.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let name = String::from_utf8_lossy(&buf[..end]).trim().to_string();
    (!name.is_empty()).then_some(name)
}

/// The resolver's canonical name for `host` (`getaddrinfo` with `AI_CANONNAME`), as
/// `hostname --fqdn` does: /etc/hosts first, then DNS, per nsswitch.conf.
pub fn canonical_name(host: &str) -> Option<String> {
    let c_host = CString::new(host).ok()?;
    // SAFETY: addrinfo is plain old data; all-zero is the documented "no hints" value.
    let mut hints: libc::addrinfo = unsafe { std::mem::zeroed() };
    hints.ai_flags = libc::AI_CANONNAME;
    hints.ai_family = libc::AF_UNSPEC;
    hints.ai_socktype = libc::SOCK_STREAM;
    let mut res: *mut libc::addrinfo = std::ptr::null_mut();
    // SAFETY: c_host is NUL-terminated, hints is valid, res receives a list we free below.
    let rc = unsafe { libc::getaddrinfo(c_host.as_ptr(), std::ptr::null(), &hints, &mut res) };
    if rc != 0 || res.is_null() {
        return None;
    }
    // SAFETY: res is the non-null list getaddrinfo returned; ai_canonname, when set, is a
    // NUL-terminated string owned by that list, copied before the list is freed.
    let name = unsafe {
        let canon = (*res).ai_canonname;
        let name = (!canon.is_null()).then(|| CStr::from_ptr(canon).to_string_lossy().into_owned());
        libc::freeaddrinfo(res);
        name
    };
    name.filter(|n| !n.is_empty())
}

/// The source address the kernel picks to reach `manager` (a UDP socket is connected, which
/// sends nothing), else the first global IPv4 address of an interface.
pub fn ip_address(manager: SocketAddr) -> Option<IpAddr> {
    route_source(manager).or_else(|| first_global_ipv4(&interface_ipv4s()).map(IpAddr::V4))
}

/// The local address of a UDP socket connected to `to`: routing decides, nothing is sent.
pub fn route_source(to: SocketAddr) -> Option<IpAddr> {
    let bind: SocketAddr = match to {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(bind).ok()?;
    socket.connect(to).ok()?;
    let ip = socket.local_addr().ok()?.ip().to_canonical();
    (!ip.is_unspecified()).then_some(ip)
}

/// The first address that is neither loopback, link-local, unspecified nor broadcast.
pub fn first_global_ipv4(candidates: &[Ipv4Addr]) -> Option<Ipv4Addr> {
    candidates.iter().copied().find(|ip| {
        !ip.is_loopback() && !ip.is_link_local() && !ip.is_unspecified() && !ip.is_broadcast()
    })
}

/// Every interface's IPv4 addresses, in `getifaddrs(3)` order.
fn interface_ipv4s() -> Vec<Ipv4Addr> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: head receives a list that is freed below.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: cur is a node of the list getifaddrs returned, not yet freed; ifa_addr,
        // when non-null and of family AF_INET, points to a sockaddr_in.
        unsafe {
            let addr = (*cur).ifa_addr;
            if !addr.is_null() && i32::from((*addr).sa_family) == libc::AF_INET {
                let sin = &*(addr as *const libc::sockaddr_in);
                out.push(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)));
            }
            cur = (*cur).ifa_next;
        }
    }
    // SAFETY: head came from getifaddrs and is freed exactly once.
    unsafe { libc::freeifaddrs(head) };
    out
}

/// The `os_details` object: os-release facts that are present, plus the kernel release.
pub fn os_details(release: Option<&OsRelease>, kernel: Option<&str>) -> Map<String, Value> {
    let mut map = Map::new();
    if let Some(release) = release {
        let os = release.os_info();
        map.insert("name".into(), Value::String(os.name));
        map.insert("id".into(), Value::String(os.id));
        let optional = [
            ("version_id", os.version_id),
            ("id_like", os.id_like),
            ("codename", os.codename),
        ];
        for (key, value) in optional {
            if let Some(v) = value {
                map.insert(key.into(), Value::String(v));
            }
        }
    }
    if let Some(k) = kernel.filter(|k| !k.is_empty()) {
        map.insert("kernel".into(), Value::String(k.to_string()));
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::system::info::parse_os_release;

    #[test]
    fn the_fqdn_prefers_a_canonical_name_with_a_domain() {
        assert_eq!(
            choose_fqdn("web1", Some("web1.example.com")),
            "web1.example.com"
        );
        assert_eq!(
            choose_fqdn("web1", Some("web1.example.com.")),
            "web1.example.com"
        );
        assert_eq!(choose_fqdn("web1", None), "web1");
        assert_eq!(choose_fqdn("web1", Some("web1")), "web1");
        assert_eq!(choose_fqdn("web1", Some("localhost.localdomain")), "web1");
        assert_eq!(
            choose_fqdn("web1.example.com", Some("web1")),
            "web1.example.com"
        );
        assert_eq!(
            choose_fqdn("web1.example.com", Some("web1.example.com")),
            "web1.example.com"
        );
    }

    #[test]
    fn the_real_fqdn_is_not_empty() {
        let name = fqdn().unwrap();
        assert!(!name.is_empty());
        assert!(!name.ends_with('.'));
    }

    #[test]
    fn the_fallback_address_skips_loopback_and_link_local() {
        let list = [
            Ipv4Addr::new(127, 0, 0, 1),
            Ipv4Addr::new(169, 254, 1, 1),
            Ipv4Addr::new(10, 1, 2, 3),
            Ipv4Addr::new(192, 168, 1, 5),
        ];
        assert_eq!(first_global_ipv4(&list), Some(Ipv4Addr::new(10, 1, 2, 3)));
        assert_eq!(first_global_ipv4(&list[..2]), None);
        assert_eq!(first_global_ipv4(&[]), None);
    }

    #[test]
    fn the_route_source_to_loopback_is_loopback() {
        let ip = route_source("127.0.0.1:9".parse().unwrap()).unwrap();
        assert!(ip.is_loopback(), "{ip}");
    }

    #[test]
    fn os_details_keep_present_fields_and_the_kernel() {
        let release = parse_os_release(
            "NAME=\"Debian GNU/Linux\"\nID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n",
        );
        let map = os_details(Some(&release), Some("6.1.0-18-amd64"));
        assert_eq!(map["name"], "Debian GNU/Linux");
        assert_eq!(map["id"], "debian");
        assert_eq!(map["version_id"], "12");
        assert_eq!(map["codename"], "bookworm");
        assert_eq!(map["kernel"], "6.1.0-18-amd64");
        assert!(!map.contains_key("id_like"));

        let ubuntu = parse_os_release("NAME=Ubuntu\nID=ubuntu\nID_LIKE=debian\n");
        assert_eq!(os_details(Some(&ubuntu), None)["id_like"], "debian");
        let bare = os_details(None, Some("6.8.0"));
        assert_eq!(bare.len(), 1);
        assert_eq!(bare["kernel"], "6.8.0");
    }

    #[test]
    fn overrides_replace_detection() {
        let mid = "abcdef".repeat(5) + "ab";
        let manager = "127.0.0.1:9".parse().unwrap();
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let id = gather_with(mid.clone(), manager, Some(ip), Some("h.example.org")).unwrap();
        assert_eq!(id.machine_id, mid);
        assert_eq!(id.ip_address, ip);
        assert_eq!(id.fqdn, "h.example.org");
        assert!(id.os_details.contains_key("kernel"));
        let detected = gather_with(mid, manager, None, None).unwrap();
        assert!(detected.ip_address.is_loopback());
        assert!(!detected.fqdn.is_empty());
    }
}
