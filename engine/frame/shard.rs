//! Shards of users: which users one process of a sharded run scores. A user belongs to shard
//! `hash(key) mod N`, where the key is the user id, else the principal name (the key the
//! detectors order users by); sign-ins with neither (service principals' own) belong to the
//! first shard. The hash is FNV-1a over the key's bytes: fixed across releases, machines and
//! runs, so every process of a run, and every run, agrees on who is where.

use std::fmt;

/// Shard `index` (0-based) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// The whole tenant: one shard.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// Parses `K/N` (1-based K, as schedulers count array tasks: 1 ≤ K ≤ N).
    pub fn parse(text: &str) -> Result<Shard, String> {
        let bad = || format!("'{text}' is no shard: write K/N with 1 ≤ K ≤ N, e.g. 2/7");
        let (k, n) = text.split_once('/').ok_or_else(bad)?;
        let k: u32 = k.trim().parse().map_err(|_| bad())?;
        let n: u32 = n.trim().parse().map_err(|_| bad())?;
        if n == 0 || k == 0 || k > n {
            return Err(bad());
        }
        Ok(Shard {
            index: k - 1,
            count: n,
        })
    }

    /// True for the whole tenant.
    pub fn is_whole(self) -> bool {
        self.count == 1
    }

    /// True when the user keyed `key` (none: a sign-in without a user) is this shard's.
    pub fn owns(self, key: Option<&str>) -> bool {
        self.count == 1 || shard_of(key, self.count) == self.index
    }

    /// True for the user of a row with this user id and principal name.
    pub fn owns_row(self, user_id: Option<&str>, principal_name: Option<&str>) -> bool {
        self.owns(user_id.or(principal_name))
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index + 1, self.count)
    }
}

/// The shard (0-based) of `count` the user keyed `key` belongs to.
pub fn shard_of(key: Option<&str>, count: u32) -> u32 {
    match key {
        None => 0,
        Some(key) => (fnv1a(key.as_bytes()) % u64::from(count.max(1))) as u32,
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_one_based_and_refuse_nonsense() {
        assert_eq!(Shard::parse("1/1"), Ok(Shard::WHOLE));
        assert_eq!(Shard::parse("3/7").map(|s| (s.index, s.count)), Ok((2, 7)));
        assert_eq!(Shard::parse("3/7").map(|s| s.to_string()), Ok("3/7".into()));
        for bad in ["0/3", "4/3", "1/0", "3", "a/b", "-1/2", ""] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_user_is_in_exactly_one_shard_and_the_hash_is_fixed() {
        // Fixed values: a change of hash would move users between the shards of a run
        // started by an older release.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        for n in [1u32, 3, 7] {
            for user in ["alice", "bob", "5d1c…", "ünïcode"] {
                let owners = (0..n)
                    .filter(|&k| Shard { index: k, count: n }.owns(Some(user)))
                    .count();
                assert_eq!(owners, 1);
            }
            assert!(Shard { index: 0, count: n }.owns(None));
        }
    }
}
