//! A set of IP addresses and CIDR blocks, looked up by binary search over merged ranges:
//! lists of millions of entries answer in O(log n), IPv4 and IPv6 alike.

use std::net::IpAddr;

use crate::frame::ip::{block_range, ip_key};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpSet {
    /// Sorted, non-overlapping inclusive ranges.
    ranges: Vec<(u128, u128)>,
}

/// A line of a list that is not an address, a block or a comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    pub line: usize,
    pub text: String,
}

impl IpSet {
    /// Parses list text: one address or CIDR a line, `#` comments, blank lines, and the Tor
    /// `exit-addresses` format (`ExitAddress 1.2.3.4 2025-03-01 10:00:00`; other Tor keywords
    /// are skipped).
    pub fn parse(text: &str) -> (IpSet, Vec<BadLine>) {
        let mut ranges = Vec::new();
        let mut bad = Vec::new();
        for (n, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let mut words = line.split_whitespace();
            let first = words.next().unwrap_or("");
            let entry = match first {
                "ExitAddress" => words.next().unwrap_or(""),
                "ExitNode" | "Published" | "LastStatus" => continue,
                // A `,`-separated second field (a date, a label) is allowed after the address.
                _ => first.split(',').next().unwrap_or(""),
            };
            match block_range(entry) {
                Some(range) => ranges.push(range),
                None => bad.push(BadLine {
                    line: n + 1,
                    text: raw.chars().take(200).collect(),
                }),
            }
        }
        (IpSet::from_ranges(ranges), bad)
    }

    fn from_ranges(mut ranges: Vec<(u128, u128)>) -> IpSet {
        ranges.sort_unstable();
        let mut merged: Vec<(u128, u128)> = Vec::with_capacity(ranges.len());
        for (start, end) in ranges {
            match merged.last_mut() {
                Some(last) if start <= last.1.saturating_add(1) => last.1 = last.1.max(end),
                _ => merged.push((start, end)),
            }
        }
        IpSet { ranges: merged }
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let k = ip_key(ip);
        let i = self.ranges.partition_point(|&(start, _)| start <= k);
        i > 0 && self.ranges[i - 1].1 >= k
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Both sets in one.
    pub fn union(&self, other: &IpSet) -> IpSet {
        IpSet::from_ranges(self.ranges.iter().chain(&other.ranges).copied().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn addresses_blocks_comments_and_tor_exit_lists() {
        let text = "# tor\n185.220.100.1\n10.0.0.0/8 # private\n2001:db8::/32\n\nExitNode ABC\nPublished 2025-03-01 10:00:00\nExitAddress 171.25.193.9 2025-03-01 10:10:10\n203.0.113.7,2025-01-01\nnot-an-ip\n";
        let (set, bad) = IpSet::parse(text);
        assert!(set.contains(ip("185.220.100.1")));
        assert!(!set.contains(ip("185.220.100.2")));
        assert!(set.contains(ip("10.200.3.4")));
        assert!(set.contains(ip("2001:db8:1::5")));
        assert!(set.contains(ip("171.25.193.9")));
        assert!(set.contains(ip("203.0.113.7")));
        assert!(
            set.contains(ip("::ffff:10.1.1.1")),
            "IPv4-mapped IPv6 is the IPv4 address"
        );
        assert_eq!(
            bad,
            [BadLine {
                line: 10,
                text: "not-an-ip".into()
            }]
        );
    }

    #[test]
    fn overlapping_and_adjacent_blocks_merge() {
        let (set, _) = IpSet::parse("10.0.0.0/24\n10.0.1.0/24\n10.0.0.128/25\n");
        assert_eq!(set.ranges.len(), 1);
        assert!(set.contains(ip("10.0.1.255")));
        assert!(!set.contains(ip("10.0.2.0")));
    }
}
