//! Addresses: IPv4 and IPv6 parsed and made canonical, and the /24 (/48) network key every
//! detector groups by. A leaf: it depends on nothing else in the crate.

use std::net::IpAddr;

/// A parsed IP address: its canonical text when that differs from the input, and its /24
/// (IPv4) or /48 (IPv6) network key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedIp {
    pub addr: IpAddr,
    /// `None` when the trimmed input already is the canonical text (the common case, which
    /// then costs no allocation).
    pub text: Option<String>,
    pub network: u64,
}

impl ParsedIp {
    /// The canonical text.
    pub fn canonical(&self) -> String {
        self.addr.to_string()
    }
}

/// Parses an IPv4 or IPv6 address; IPv4-mapped IPv6 (`::ffff:a.b.c.d`) becomes IPv4.
pub fn parse_ip(text: &str) -> Result<ParsedIp, &'static str> {
    let trimmed = text.trim();
    let parsed: IpAddr = trimmed.parse().map_err(|_| "invalid IP address")?;
    let addr = canonical_ip(parsed);
    // A dotted IPv4 address parsed by std has no leading zeros or other spellings, so its
    // text is canonical as given; IPv6 has many spellings and is rewritten when they differ.
    let text = match (parsed, addr) {
        (IpAddr::V4(_), _) => None,
        _ => Some(addr.to_string()).filter(|canonical| canonical != trimmed),
    };
    Ok(ParsedIp {
        addr,
        text,
        network: network_key(addr),
    })
}

/// IPv4-mapped IPv6 turned into IPv4; anything else unchanged.
pub fn canonical_ip(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    }
}

/// IPv4: `2^32 + (addr >> 8)`; IPv6: top 48 bits `<< 16`. The two ranges cannot collide
/// because an IPv6 key below `2^33` would need a /48 inside `::/31`, which is not routable.
pub fn network_key(addr: IpAddr) -> u64 {
    match addr {
        IpAddr::V4(v4) => (1u64 << 32) + u64::from(u32::from(v4) >> 8),
        IpAddr::V6(v6) => ((u128::from(v6) >> 80) as u64) << 16,
    }
}

/// Addresses as one 128-bit space: IPv4 sits at `::ffff:a.b.c.d`, where IPv4-mapped IPv6
/// addresses already are.
pub fn ip_key(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// An address or CIDR block (`10.0.0.0/8`, `2001:db8::/32`, `203.0.113.7`) as an inclusive
/// range of [`ip_key`]s; `None` for text that is neither.
pub fn block_range(entry: &str) -> Option<(u128, u128)> {
    let Some((address, prefix)) = entry.split_once('/') else {
        let key = ip_key(entry.parse().ok()?);
        return Some((key, key));
    };
    let ip: IpAddr = address.parse().ok()?;
    let prefix: u32 = prefix.parse().ok()?;
    let bits: u32 = match ip {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    };
    let host_bits = bits.checked_sub(prefix)?;
    let mask: u128 = if host_bits == 128 {
        u128::MAX
    } else {
        (1u128 << host_bits) - 1
    };
    let start = ip_key(ip) & !mask;
    Some((start, start | mask))
}
