//! Which sign-ins come from a network new to their user: the fact that separates an attacker
//! from an employee's own devices at home, on the phone or in the office when both fail
//! their password now and then. [`new_networks`] marks every position at once (the spray
//! detector needs it for every failure); [`known_before`] and [`asn_known_before`] answer
//! for one; [`regular_asn`] and [`regular_network`] tell the ones the tenant's users come
//! back to.

use super::Context;

/// For every position of a user: its /24 (IPv6 /48) is one the user had not signed in from
/// successfully before this moment (a position without a network counts as new), the data
/// holds `learning` of history before it, and the network is no egress colleagues share
/// (org-common or trusted: not new to anyone). The learning period runs from the first
/// sign-in of the data, not of the user: an account that never signs in successfully (a
/// dormant one, which sprays love) has no network of its own. Positions are in (user,
/// time) order, so one pass per user keeps the networks seen so far.
pub fn new_networks(ctx: &Context, learning: i64) -> Vec<bool> {
    if let Some(known) = &ctx.new_network {
        return known.clone();
    }
    let first = ctx.first_time();
    let judged_from = first.saturating_add(learning);
    ctx.per_user(|_, start, end, out| {
        let mut seen = NetworksSeen::default();
        let mut k = start;
        while k < end {
            // Sign-ins of one moment see the same history: a typo and its success in the
            // same second both count as familiar or both as new.
            let t = ctx.time[k];
            let same = (k..end).take_while(|&j| ctx.time[j] == t).count();
            for j in k..k + same {
                out.push(
                    t >= judged_from
                        && !ctx.org_common[j]
                        && ctx.network(j).is_none_or(|n| !seen.contains(n)),
                );
            }
            for j in k..k + same {
                if let (true, Some(n)) = (ctx.outcome[j].validated(), ctx.network(j)) {
                    seen.insert(n);
                }
            }
            k += same;
        }
    })
}

/// A user's networks so far: a short list for nearly everyone, a set for accounts that sign
/// in from hundreds of networks.
#[derive(Default)]
struct NetworksSeen {
    few: Vec<u64>,
    many: Option<ahash::AHashSet<u64>>,
}

impl NetworksSeen {
    const FEW: usize = 32;

    fn contains(&self, network: u64) -> bool {
        match &self.many {
            Some(set) => set.contains(&network),
            None => self.few.contains(&network),
        }
    }

    fn insert(&mut self, network: u64) {
        if self.contains(network) {
            return;
        }
        match &mut self.many {
            Some(set) => {
                set.insert(network);
            }
            None if self.few.len() < Self::FEW => self.few.push(network),
            None => {
                let mut set: ahash::AHashSet<u64> = self.few.drain(..).collect();
                set.insert(network);
                self.many = Some(set);
            }
        }
    }
}

/// The position's network is org-common egress, or one the user (whose positions start at
/// `start`) had signed in from successfully before it. A scan back over the user's earlier
/// positions: for the few sign-ins a detector is about to report, not for every row.
pub fn known_before(ctx: &Context, start: usize, row: usize) -> bool {
    if ctx.org_common[row] {
        return true;
    }
    let (Some(network), time) = (ctx.network(row), ctx.time[row]) else {
        return false;
    };
    (start..row).any(|j| {
        ctx.time[j] < time && ctx.outcome[j].validated() && ctx.network(j) == Some(network)
    })
}

/// The position's autonomous system is one the user (whose positions start at `start`) had
/// signed in from successfully before it, or its network is org-common egress.
pub fn asn_known_before(ctx: &Context, start: usize, row: usize) -> bool {
    if ctx.org_common[row] {
        return true;
    }
    let (Some(asn), time) = (ctx.asn(row), ctx.time[row]) else {
        return false;
    };
    (start..row)
        .any(|j| ctx.time[j] < time && ctx.outcome[j].validated() && ctx.asn(j) == Some(asn))
}

/// True when enough users of the tenant come back to the autonomous system, each signing in
/// successfully through it on several days (`[networks] org_common_min_user_days`): a mobile
/// carrier, a big ISP, the office, a VPN provider. A sign-in through one is a phone leaving
/// the Wi-Fi or an employee at home; an attacker's server serves each victim once. Enough is
/// `min_users`, or `share` of the tenant's users when that is fewer (never fewer than 3). The
/// counts come from the context's org-common pass (`Context::returning`).
pub fn regular_asn(ctx: &Context, asn: u32, min_users: u32, share: f64) -> bool {
    let by_share = (share * ctx.tenant_users() as f64).ceil() as u32;
    let needed = min_users.min(by_share.max(3));
    ctx.returning.asns.get(&asn).is_some_and(|&n| n >= needed)
}

/// True when at least `min_users` users come back to the network (/24, /48) as
/// [`regular_asn`] counts them: a carrier's NAT pool, a branch office.
pub fn regular_network(ctx: &Context, network: u64, min_users: u32) -> bool {
    ctx.returning
        .networks
        .get(&network)
        .is_some_and(|&n| n >= min_users)
}
