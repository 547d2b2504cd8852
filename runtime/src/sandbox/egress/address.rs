//! Which addresses a wildcard may never reach: the machine itself, private
//! networks, link-local addresses (cloud metadata lives there) and the
//! like. A host that resolves to one of them is refused unless a rule names
//! that host or address itself.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Whether a host, as a request names it, is an internal address or a
/// name that is loopback by definition (`localhost`, `*.localhost`).
pub(crate) fn internal_host(host: &str) -> bool {
    let host = vtpolicy_engine::normalize_host(host);
    host == "localhost" || host.ends_with(".localhost") || host.parse::<IpAddr>().is_ok_and(|ip| internal(ip).is_some())
}

/// Why the address is not a public one, if it is not.
pub(super) fn internal(address: IpAddr) -> Option<&'static str> {
    match address {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => internal_v4(v4),
            None => internal_v6(v6),
        },
    }
}

fn internal_v4(address: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = address.octets();
    if address.is_loopback() {
        Some("a loopback address")
    } else if address.is_link_local() {
        Some("a link-local address (where cloud metadata services answer)")
    } else if address.is_private() || (a == 100 && (64..128).contains(&b)) {
        Some("a private address")
    } else if address.is_unspecified() || a == 0 {
        Some("an unspecified address")
    } else if address.is_broadcast() || address.is_multicast() || a >= 240 {
        Some("a broadcast, multicast or reserved address")
    } else {
        None
    }
}

fn internal_v6(address: Ipv6Addr) -> Option<&'static str> {
    let first = address.segments()[0];
    if address.is_loopback() {
        Some("a loopback address")
    } else if address.is_unspecified() {
        Some("an unspecified address")
    } else if first & 0xffc0 == 0xfe80 {
        Some("a link-local address (where cloud metadata services answer)")
    } else if first & 0xfe00 == 0xfc00 {
        Some("a private address")
    } else if address.is_multicast() {
        Some("a broadcast, multicast or reserved address")
    } else if let Some(v4) = embedded_v4(address) {
        // NAT64 and 6to4 carry an IPv4 address a gateway would reach.
        internal_v4(v4)
    } else {
        None
    }
}

/// The IPv4 address of a NAT64 (`64:ff9b::/96`) or 6to4 (`2002::/16`)
/// address.
fn embedded_v4(address: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = address.segments();
    let from = |high: u16, low: u16| Ipv4Addr::from((u32::from(high) << 16) | u32::from(low));
    match s {
        [0x64, 0xff9b, 0, 0, 0, 0, high, low] => Some(from(high, low)),
        [0x2002, high, low, ..] => Some(from(high, low)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::internal;

    #[test]
    fn internal_addresses_are_named() {
        for text in [
            "127.0.0.1",
            "127.1.2.3",
            "10.0.0.1",
            "172.16.0.1",
            "192.168.1.1",
            "100.64.0.1",
            "169.254.169.254",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00:ec2::254",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
        ] {
            assert!(internal(text.parse().expect("an address")).is_some(), "{text}");
        }
        for text in ["93.184.215.14", "1.1.1.1", "2606:4700::1111", "100.128.0.1", "::ffff:8.8.8.8"] {
            assert_eq!(internal(text.parse().expect("an address")), None, "{text}");
        }
    }
}
