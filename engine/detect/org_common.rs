//! Org-common networks: the /24s (IPv6 /48s) a tenant's colleagues share as egress (an
//! office, a corporate VPN, a secure web gateway). Their sign-ins say nothing about where a
//! user is, so the location detectors neither fire on them nor anchor pairs to them.
//!
//! A network is org-common when enough distinct users (see
//! [`NetworksConfig::org_common_users_needed`]), each coming back on several days, sign in
//! successfully from it on at least `min_days` distinct days. Requiring several days keeps a
//! one-day campaign from one network from making itself common, and returning users keep an
//! attacker's server used once per victim from it; counting validated sign-ins only keeps
//! failed attempts out.

use rayon::prelude::*;

use std::collections::BTreeMap;

use ahash::{AHashMap, AHashSet};

use super::context::{network_at, NO_NETWORK};
use super::order::NONE;
use crate::rules::NetworksConfig;

const DAY: i64 = 86_400_000_000;

/// Networks of one user's day kept in a short list (a day with more asks the map).
const TODAY: usize = 16;

/// Marks each distinct address whose network is org-common. A row's network is its
/// address's: `address[row]` indexes `networks` ([`NONE`] for a row without an address,
/// [`NO_NETWORK`] for an address without a network), so the answer is one per address.
/// `users` are ranges of rows; rows after the last range (sign-ins without a user) count
/// towards a network's days, not its users.
pub fn org_common_networks(
    address: &[u32],
    networks: &[u64],
    validated: impl Fn(usize) -> bool + Sync,
    users: &[(usize, usize)],
    time: &[i64],
    config: &NetworksConfig,
) -> Vec<bool> {
    org_common_and_returning(address, networks, &[], validated, users, time, config).0
}

/// Users who come back (each on `min_user_days` days or more) to each network, and to each
/// autonomous system through one of its networks: counted in the org-common pass at no
/// extra cost, for detectors that ask whether colleagues come back somewhere
/// ([`super::familiar::regular`]).
#[derive(Debug, Default)]
pub struct Returning {
    pub networks: AHashMap<u64, u32>,
    pub asns: AHashMap<u32, u32>,
}

/// [`org_common_networks`], with the users returning to each network and ASN. `asn`: each
/// row's ASN ([`super::context::NO_ASN`] for none), or empty when not wanted.
pub fn org_common_and_returning(
    address: &[u32],
    networks: &[u64],
    asn: &[u32],
    validated: impl Fn(usize) -> bool + Sync,
    users: &[(usize, usize)],
    time: &[i64],
    config: &NetworksConfig,
) -> (Vec<bool>, Returning) {
    let day = |row: usize| time[row].div_euclid(DAY);
    let needed = config.org_common_users_needed(users.len());
    // First the networks enough users return to ([`returning_lists`]).
    let mut returning = Returning::default();
    let candidates: Option<AHashSet<u64>> = (needed > 0).then(|| {
        let (mut back, mut back_asns) =
            returning_lists(address, networks, asn, &validated, users, time, config);
        back.par_sort_unstable();
        back_asns.par_sort_unstable();
        for same in back_asns.chunk_by(|a, b| a == b) {
            returning.asns.insert(same[0], same.len() as u32);
        }
        let mut candidates = AHashSet::new();
        for same in back.chunk_by(|a, b| a == b) {
            returning.networks.insert(same[0], same.len() as u32);
            if same.len() as u32 >= needed {
                candidates.insert(same[0]);
            }
        }
        candidates
    });
    if candidates.as_ref().is_some_and(|c| c.is_empty()) {
        return (vec![false; networks.len()], returning);
    }
    // Then the days those networks see, over every row: at most `min_days` of them per
    // network, as a network with that many is as common as one with more.
    let candidate = per_address(networks, |net| {
        net != NO_NETWORK && candidates.as_ref().is_none_or(|c| c.contains(&net))
    });
    let kept_days = config.org_common_min_days.max(1) as usize;
    type Days = AHashMap<u64, Vec<i64>>;
    let add = |seen: &mut Days, net: u64, day: i64| {
        let days = seen.entry(net).or_default();
        if days.len() < kept_days && !days.contains(&day) {
            days.push(day);
        }
    };
    let seen: Days = (0..time.len())
        .into_par_iter()
        .fold(Days::default, |mut seen, row| {
            let k = address[row];
            if k != NONE && candidate[k as usize] && validated(row) {
                add(&mut seen, networks[k as usize], day(row));
            }
            seen
        })
        .reduce(Days::default, |mut a, b| {
            for (net, days) in b {
                for day in days {
                    add(&mut a, net, day);
                }
            }
            a
        });
    let common: AHashSet<u64> = seen
        .into_iter()
        .filter(|(_, days)| days.len() as u32 >= config.org_common_min_days)
        .map(|(net, _)| net)
        .collect();
    if common.is_empty() {
        return (vec![false; networks.len()], returning);
    }
    (
        per_address(networks, |net| common.contains(&net)),
        returning,
    )
}

/// Each user's networks (and their ASNs) the user comes back to on `org_common_min_user_days`
/// days or more, listed once per user, unsorted: counted per user on the user's own thread.
/// A user's sign-ins come in time order, so a network's days are counted as the days turn:
/// the networks already seen today are a short list, and the map is asked once per network
/// and day rather than once per sign-in.
fn returning_lists(
    address: &[u32],
    networks: &[u64],
    asn: &[u32],
    validated: &(impl Fn(usize) -> bool + Sync),
    users: &[(usize, usize)],
    time: &[i64],
    config: &NetworksConfig,
) -> (Vec<u64>, Vec<u32>) {
    let asn_of = |row: usize| asn.get(row).copied().unwrap_or(super::context::NO_ASN);
    let network = |row: usize| network_at(address, networks, row);
    let day = |row: usize| time[row].div_euclid(DAY);
    type Counts = AHashMap<u64, (u32, i64, u32)>;
    users
        .par_iter()
        .fold(
            || ((Vec::new(), Vec::new()), Counts::default(), Vec::new()),
            |((mut out, mut out_asns), mut counts, mut today), &(start, end)| {
                counts.clear();
                today.clear();
                let mut current = i64::MIN;
                for row in start..end {
                    let net = network(row);
                    if net == NO_NETWORK || !validated(row) {
                        continue;
                    }
                    let day = day(row);
                    if day != current {
                        current = day;
                        today.clear();
                    }
                    if today.contains(&net) {
                        continue;
                    }
                    if today.len() < TODAY {
                        today.push(net);
                    }
                    let (days, last, asn) = counts.entry(net).or_insert((0, i64::MIN, 0));
                    if *last != day {
                        *days += 1;
                        *last = day;
                    }
                    *asn = asn_of(row);
                }
                let mut user_asns: Vec<u32> = Vec::new();
                for (&net, &(days, _, asn)) in &counts {
                    if days >= config.org_common_min_user_days {
                        out.push(net);
                        if asn != super::context::NO_ASN && !user_asns.contains(&asn) {
                            user_asns.push(asn);
                        }
                    }
                }
                out_asns.extend(user_asns);
                ((out, out_asns), counts, today)
            },
        )
        .map(|(out, _, _)| out)
        .reduce(
            || (Vec::new(), Vec::new()),
            |(mut a, mut b), (c, d)| {
                a.extend(c);
                b.extend(d);
                (a, b)
            },
        )
}

/// One shard's share of the org-common pass, for a tenant scored in shards of users: per
/// network the shard's users coming back to it and the days it saw validated sign-ins (at
/// most `org_common_min_days` kept), per ASN the users coming back to it. Shares of disjoint
/// users add up ([`Tally::add`]), and the tenant's org-common networks follow from the sum
/// ([`Tally::finish`]) as [`org_common_and_returning`] finds them in one pass.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Tally {
    pub networks: BTreeMap<u64, u32>,
    pub asns: BTreeMap<u32, u32>,
    pub days: BTreeMap<u64, Vec<i64>>,
}

impl Tally {
    /// The share of the rows given (arguments as [`org_common_and_returning`]'s).
    pub fn of(
        address: &[u32],
        networks: &[u64],
        asn: &[u32],
        validated: impl Fn(usize) -> bool + Sync,
        users: &[(usize, usize)],
        time: &[i64],
        config: &NetworksConfig,
    ) -> Tally {
        let (back, back_asns) =
            returning_lists(address, networks, asn, &validated, users, time, config);
        let mut tally = Tally::default();
        for net in back {
            *tally.networks.entry(net).or_default() += 1;
        }
        for asn in back_asns {
            *tally.asns.entry(asn).or_default() += 1;
        }
        // Days per network: a map asked once per network and day, as a user's rows come in
        // time order (the day's networks so far kept in a short list).
        let kept = config.org_common_min_days.max(1) as usize;
        let mut days: AHashMap<u64, Vec<i64>> = AHashMap::new();
        let (mut today, mut current) = (Vec::<u64>::new(), i64::MIN);
        for (row, &t) in time.iter().enumerate() {
            let net = network_at(address, networks, row);
            if net == NO_NETWORK || !validated(row) {
                continue;
            }
            let day = t.div_euclid(DAY);
            if day != current {
                (current, today) = (day, Vec::new());
            }
            if today.contains(&net) {
                continue;
            }
            if today.len() < TODAY {
                today.push(net);
            }
            let seen = days.entry(net).or_default();
            if seen.len() < kept && !seen.contains(&day) {
                seen.push(day);
            }
        }
        tally.days = days.into_iter().collect();
        tally
    }

    /// Adds another shard's share (of other users).
    pub fn add(&mut self, other: Tally, config: &NetworksConfig) {
        for (net, n) in other.networks {
            *self.networks.entry(net).or_default() += n;
        }
        for (asn, n) in other.asns {
            *self.asns.entry(asn).or_default() += n;
        }
        let kept = config.org_common_min_days.max(1) as usize;
        for (net, days) in other.days {
            for day in days {
                add_day(&mut self.days, net, day, kept);
            }
        }
    }

    /// The tenant's org-common networks (sorted) and returning users, for `users` users.
    pub fn finish(&self, users: usize, config: &NetworksConfig) -> (Vec<u64>, Returning) {
        let needed = config.org_common_users_needed(users);
        let mut returning = Returning::default();
        if needed > 0 {
            returning.networks = self.networks.iter().map(|(&k, &v)| (k, v)).collect();
            returning.asns = self.asns.iter().map(|(&k, &v)| (k, v)).collect();
        }
        let common = self
            .days
            .iter()
            .filter(|(net, days)| {
                (needed == 0 || self.networks.get(net).is_some_and(|&n| n >= needed))
                    && days.len() as u32 >= config.org_common_min_days
            })
            .map(|(&net, _)| net)
            .collect();
        (common, returning)
    }
}

/// Notes a network's validated day, keeping at most `kept` days a network.
fn add_day(days: &mut BTreeMap<u64, Vec<i64>>, net: u64, day: i64, kept: usize) {
    let seen = days.entry(net).or_default();
    if seen.len() < kept && !seen.contains(&day) {
        seen.push(day);
    }
}

/// `f` of each address's network.
fn per_address(networks: &[u64], f: impl Fn(u64) -> bool + Sync) -> Vec<bool> {
    networks.par_iter().map(|&net| f(net)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Rules;
    /// Org-common networks by their definition, over every (network, user, day) triple.
    fn org_common_by_definition(
        networks: &[u64],
        validated: &[bool],
        users: &[(usize, usize)],
        time: &[i64],
        config: &NetworksConfig,
    ) -> Vec<bool> {
        use std::collections::{BTreeMap, BTreeSet};
        // Rows after the users' (no user) count as one more, never returning, user.
        let mut days_of: BTreeMap<u64, BTreeMap<usize, BTreeSet<i64>>> = BTreeMap::new();
        let tail = (users.last().map_or(0, |u| u.1), networks.len());
        for (user, &(start, end)) in users.iter().chain([&tail]).enumerate() {
            for row in start..end {
                if networks[row] != NO_NETWORK && validated[row] {
                    let day = time[row].div_euclid(DAY);
                    days_of
                        .entry(networks[row])
                        .or_default()
                        .entry(user)
                        .or_default()
                        .insert(day);
                }
            }
        }
        let needed = config.org_common_users_needed(users.len());
        let common: BTreeSet<u64> = days_of
            .iter()
            .filter(|(_, by_user)| {
                let returning = by_user
                    .iter()
                    .filter(|&(&user, d)| {
                        user < users.len() && d.len() as u32 >= config.org_common_min_user_days
                    })
                    .count() as u32;
                let days: BTreeSet<i64> = by_user.values().flatten().copied().collect();
                returning >= needed && days.len() as u32 >= config.org_common_min_days
            })
            .map(|(&net, _)| net)
            .collect();
        networks.iter().map(|n| common.contains(n)).collect()
    }

    #[test]
    fn org_common_networks_match_their_definition() {
        // Small pseudo-random tenants: 40 users, a few days, some failures, sign-ins without
        // a user at the end; 6 networks, or 40 so that users outgrow a short list.
        for network_count in [6, 40] {
            let (networks, validated, time, users) = tenant(network_count);
            check(&networks, &validated, &time, &users);
        }
    }

    /// (network, validated, time) per row and each user's rows.
    type Tenant = (Vec<u64>, Vec<bool>, Vec<i64>, Vec<(usize, usize)>);

    fn tenant(network_count: u64) -> Tenant {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        let mut users = Vec::new();
        let (mut networks, mut validated, mut time) = (Vec::new(), Vec::new(), Vec::new());
        for user in 0..41 {
            let start = networks.len();
            let mut t = next(DAY as u64) as i64;
            for _ in 0..next(60) + 20 {
                t += next(3 * 3_600_000_000) as i64 * 4;
                let network = next(network_count + network_count / 6);
                networks.push(if network < network_count {
                    network
                } else {
                    NO_NETWORK
                });
                validated.push(next(5) > 0);
                time.push(t);
            }
            if user < 40 {
                users.push((start, networks.len()));
            }
        }
        (networks, validated, time, users)
    }

    fn check(networks: &[u64], validated: &[bool], time: &[i64], users: &[(usize, usize)]) {
        // Two addresses in each network; a row without a network has no address, or one
        // that is no IP address.
        let top = networks
            .iter()
            .filter(|&&n| n != NO_NETWORK)
            .max()
            .map_or(0, |&n| n + 1);
        let mut distinct: Vec<u64> = (0..2 * top).map(|k| k / 2).collect();
        distinct.push(NO_NETWORK);
        let address: Vec<u32> = networks
            .iter()
            .enumerate()
            .map(|(row, &n)| match (n, row % 2) {
                (NO_NETWORK, 0) => NONE,
                (NO_NETWORK, _) => 2 * top as u32,
                (n, side) => (2 * n as usize + side) as u32,
            })
            .collect();
        let base = Rules::builtin().networks;
        for (min_users, min_user_days, min_days) in [
            (3, 2, 3),
            (3, 1, 0),
            (5, 3, 5),
            (3, 0, 1),
            (8, 2, 8),
            (0, 2, 3),
        ] {
            let config = NetworksConfig {
                org_common_min_users: min_users,
                org_common_min_share: 0.0,
                org_common_min_user_days: min_user_days,
                org_common_min_days: min_days,
                ..base.clone()
            };
            let common =
                org_common_networks(&address, &distinct, |r| validated[r], users, time, &config);
            let got: Vec<bool> = address
                .iter()
                .map(|&k| k != NONE && common[k as usize])
                .collect();
            let expected = org_common_by_definition(networks, validated, users, time, &config);
            assert_eq!(got, expected, "{min_users} {min_user_days} {min_days}");
            // The same tenant in two shards of users (the rows without a user in the first):
            // the shares add up to the one pass's networks and returning users.
            let tail = users.last().map_or(0, |u| u.1)..networks.len();
            let halves = [(&users[..20], Some(tail)), (&users[20..], None)];
            let mut sum = Tally::default();
            for (part, tail) in halves {
                let rows: Vec<usize> = part
                    .iter()
                    .flat_map(|&(a, b)| a..b)
                    .chain(tail.into_iter().flatten())
                    .collect();
                let mut ranges = Vec::new();
                let mut at = 0;
                for &(a, b) in part {
                    ranges.push((at, at + b - a));
                    at += b - a;
                }
                let pick = |v: &[u32]| rows.iter().map(|&r| v[r]).collect::<Vec<u32>>();
                let share = Tally::of(
                    &pick(&address),
                    &distinct,
                    &[],
                    |r| validated[rows[r]],
                    &ranges,
                    &rows.iter().map(|&r| time[r]).collect::<Vec<i64>>(),
                    &config,
                );
                sum.add(share, &config);
            }
            let (common_networks, returning) = sum.finish(users.len(), &config);
            let by_shards: Vec<bool> = address
                .iter()
                .map(|&k| k != NONE && common_networks.binary_search(&distinct[k as usize]).is_ok())
                .collect();
            assert_eq!(
                by_shards, expected,
                "shards: {min_users} {min_user_days} {min_days}"
            );
            let (_, whole) = org_common_and_returning(
                &address,
                &distinct,
                &[],
                |r| validated[r],
                users,
                time,
                &config,
            );
            assert_eq!(returning.networks, whole.networks);
            if min_days == 3 {
                assert!(got.iter().any(|&c| c) && got.iter().any(|&c| !c));
            }
        }
    }
}
