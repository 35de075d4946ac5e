//! The whitelist loader, and its round trip through the enrollment's whitelist writer:
//! whatever `plan_whitelist` writes parses again, keeps every old entry and admits the
//! new address.
#![no_main]
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use libfuzzer_sys::fuzz_target;
use linux_patch_api::enroll::provision::plan_whitelist;
use linux_patch_api::http::whitelist::Whitelist;

fuzz_target!(|data: &[u8]| {
    let (ip, doc) = match data.split_first() {
        Some((&b, rest)) if rest.len() >= 16 && b % 2 == 1 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(&rest[..16]);
            (IpAddr::V6(Ipv6Addr::from(a)), &rest[16..])
        }
        Some((_, rest)) if rest.len() >= 4 => (
            IpAddr::V4(Ipv4Addr::new(rest[0], rest[1], rest[2], rest[3])),
            &rest[4..],
        ),
        _ => return,
    };
    let text = String::from_utf8_lossy(doc);
    let before = Whitelist::parse(&text);
    let Ok(Some(written)) = plan_whitelist(Some(&text), ip) else {
        return;
    };
    // The agent matches an IPv4-mapped IPv6 peer as IPv4 (`Whitelist::allows`), and the
    // writer stores it that way.
    let ip = ip.to_canonical();
    let after = Whitelist::parse(&written)
        .unwrap_or_else(|e| panic!("written whitelist does not parse: {e}\n{written}"));
    assert!(
        after.iter().any(|n| n.contains(ip)),
        "written whitelist does not admit {ip}:\n{written}"
    );
    if let Ok(old) = before {
        for net in old {
            assert!(
                after.contains(&net),
                "entry {net:?} lost:\n{text}\n->\n{written}"
            );
        }
    }
});
