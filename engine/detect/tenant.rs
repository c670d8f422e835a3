//! Tenant-wide facts: what a shard of users cannot see in its own users' sign-ins. A run
//! split into shards (`idrisk facts`, `score --facts --shard K/N`, `merge`, or `score
//! --memory-limit`) first builds these from the whole tenant, once; each shard's context then
//! takes them in place of its own partial view, so every detector finds in a shard exactly
//! what it finds in one run over everything:
//!
//! - the tenant's user count and first sign-in (shares of users, learning periods);
//! - the org-common networks and the users returning to each network and ASN;
//! - each per-user detector's table over every user ([`Detector::tenant_table`]: countries'
//!   users for `new_country`);
//! - the findings of detectors that read other users' sign-ins ([`Detector::tenant_wide`]:
//!   password spray and malicious addresses, which group an address's attempts on every
//!   account), each named by its user's key and its place among the user's sign-ins.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, OnceLock};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::context::Enrichment;
use super::gathered::Gathered;
use super::order::NONE;
use super::org_common::Tally;
use super::{Context, Detector, Finding, Identity, Level, Outcome};
use crate::frame::TextCodes;
use crate::rules::NetworksConfig;

/// The tenant-wide facts (see the module documentation).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TenantFacts {
    /// Distinct users.
    pub users: usize,
    /// The first sign-in's time (µs, UTC).
    pub first_time: i64,
    /// Org-common network keys, sorted.
    pub org_common: Vec<u64>,
    /// Users returning to each network (sorted by network).
    pub returning_networks: Vec<(u64, u32)>,
    /// Users returning to each ASN (sorted by ASN).
    pub returning_asns: Vec<(u32, u32)>,
    /// Per-user detectors' tables over every user, by detector id.
    pub tables: BTreeMap<String, Value>,
    /// Tenant-wide detectors' findings, in their run order.
    pub findings: Vec<SharedFinding>,
}

/// What one detector adds to the facts: its findings, its campaigns, its table.
type DetectorFacts = (Vec<SharedFinding>, Vec<Value>, Option<(String, Value)>);

/// A tenant-wide detector's finding, named so that the shard of its user can place it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SharedFinding {
    pub detector: String,
    /// The user's key: user id, else principal name.
    pub user: String,
    /// The sign-in's place among the user's sign-ins in the detectors' order.
    pub offset: u32,
    pub user_level: bool,
    pub level: Level,
    pub detected_at: i64,
    pub evidence: Value,
    pub related: Vec<(String, Value)>,
    /// Other sign-ins of the same user the evidence names, by their places.
    pub related_requests: Vec<(String, u32)>,
}

/// Why tenant facts do not fit the sign-ins of a shard.
#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    #[error(
        "the tenant facts name {user:?}'s sign-in {offset}, which this shard's inputs do not \
         hold: were the facts computed from other inputs or another --since/--until?"
    )]
    Unplaced { user: String, offset: u32 },
    #[error("the tenant facts name detector '{0}', which this release does not have")]
    UnknownDetector(String),
}

impl TenantFacts {
    /// The facts of a context holding the whole tenant, with the tenant-wide `detectors`'
    /// findings and campaigns (run here, once) and every detector's table.
    pub fn of(ctx: &Context, detectors: &[Box<dyn Detector>]) -> (TenantFacts, Vec<Value>) {
        let keys = ctx.user_keys();
        let run: Vec<DetectorFacts> = detectors
            .par_iter()
            .map(|d| {
                let id = d.identity().id;
                if let Some((table, campaigns)) = d.campaign_table(ctx) {
                    return (Vec::new(), campaigns, Some((id.to_string(), table)));
                }
                let table = d.tenant_table(ctx).map(|t| (id.to_string(), t));
                if !d.tenant_wide() {
                    return (Vec::new(), Vec::new(), table);
                }
                let _span = crate::trace::span(format!("facts: {id}"));
                let (mut found, campaigns) = d.detect_with_campaigns(ctx);
                found.sort_by_key(|f| f.row);
                let shared = found
                    .iter()
                    .map(|f| shared(f, |row| place_in(ctx, &keys, row)))
                    .collect();
                (shared, campaigns, table)
            })
            .collect();
        let mut facts = TenantFacts {
            users: ctx.users.len(),
            first_time: ctx.first_time(),
            org_common: ctx.common_networks.clone(),
            returning_networks: sorted(&ctx.returning.networks),
            returning_asns: sorted(&ctx.returning.asns),
            ..TenantFacts::default()
        };
        let mut campaigns = Vec::new();
        for (found, seen, table) in run {
            facts.findings.extend(found);
            campaigns.extend(seen);
            facts.tables.extend(table);
        }
        (facts, campaigns)
    }

    /// The users returning to each network and ASN, as the context keeps them.
    pub fn returning(&self) -> super::org_common::Returning {
        super::org_common::Returning {
            networks: self.returning_networks.iter().copied().collect(),
            asns: self.returning_asns.iter().copied().collect(),
        }
    }

    /// The findings of detector `id` for the users of `ctx` (a shard's context), as its own
    /// findings; findings of users the shard does not hold are left to their shards, as
    /// `owns` says.
    pub fn findings_in(
        &self,
        ctx: &Context,
        identity: Identity,
        owns: impl Fn(&str) -> bool,
    ) -> Result<Vec<Finding>, TenantError> {
        let mine: Vec<&SharedFinding> = self
            .findings
            .iter()
            .filter(|f| f.detector == identity.id && owns(&f.user))
            .collect();
        if mine.is_empty() {
            return Ok(Vec::new());
        }
        let users: ahash::AHashMap<String, usize> = ctx
            .user_keys()
            .into_iter()
            .enumerate()
            .map(|(k, key)| (key, k))
            .collect();
        let place = |user: &str, offset: u32| -> Result<usize, TenantError> {
            let unplaced = || TenantError::Unplaced {
                user: user.to_string(),
                offset,
            };
            let &k = users.get(user).ok_or_else(unplaced)?;
            let (start, end) = ctx.users[k];
            let row = start + offset as usize;
            (row < end).then_some(row).ok_or_else(unplaced)
        };
        mine.into_iter()
            .map(|f| {
                Ok(Finding {
                    detector: identity.id,
                    row: place(&f.user, f.offset)?,
                    user_level: f.user_level,
                    level: f.level,
                    detected_at: f.detected_at,
                    evidence: f.evidence.clone(),
                    related: f
                        .related
                        .iter()
                        .map(|(key, value)| (static_key(key), value.clone()))
                        .collect(),
                    related_requests: f
                        .related_requests
                        .iter()
                        .map(|(key, offset)| Ok((static_key(key), place(&f.user, *offset)?)))
                        .collect::<Result<_, TenantError>>()?,
                })
            })
            .collect()
    }
}

/// A finding named by its user's key and its place among the user's sign-ins: `place` of a
/// position.
fn shared(f: &Finding, place: impl Fn(usize) -> (String, u32)) -> SharedFinding {
    let (user, offset) = place(f.row);
    SharedFinding {
        detector: f.detector.to_string(),
        user,
        offset,
        user_level: f.user_level,
        level: f.level,
        detected_at: f.detected_at,
        evidence: f.evidence.clone(),
        related: f
            .related
            .iter()
            .map(|(key, value)| (key.to_string(), value.clone()))
            .collect(),
        related_requests: f
            .related_requests
            .iter()
            .map(|&(key, row)| (key.to_string(), place(row).1))
            .collect(),
    }
}

/// A position's user key and place among the user's sign-ins, in a context of whole users.
fn place_in(ctx: &Context, keys: &[String], row: usize) -> (String, u32) {
    let user = ctx.users.partition_point(|&(_, end)| end <= row);
    let start = ctx.users.get(user).map_or(0, |&(start, _)| start);
    (
        keys.get(user).cloned().unwrap_or_default(),
        (row - start) as u32,
    )
}

fn sorted<K: Copy + Ord, V: Copy>(map: &ahash::AHashMap<K, V>) -> Vec<(K, V)> {
    let mut pairs: Vec<(K, V)> = map.iter().map(|(&k, &v)| (k, v)).collect();
    pairs.sort_unstable_by_key(|&(k, _)| k);
    pairs
}

/// An additionalInfo key read back from facts, as the `'static` text findings carry: each
/// distinct key is kept once for the life of the process (a handful: `clientIp`, …).
fn static_key(key: &str) -> &'static str {
    static KEYS: OnceLock<Mutex<Vec<&'static str>>> = OnceLock::new();
    let keys = KEYS.get_or_init(|| Mutex::new(Vec::new()));
    let mut keys = match keys.lock() {
        Ok(keys) => keys,
        Err(poisoned) => poisoned.into_inner(),
    };
    if let Some(&known) = keys.iter().find(|&&k| k == key) {
        return known;
    }
    let leaked: &'static str = Box::leak(key.to_string().into_boxed_str());
    keys.push(leaked);
    leaked
}

/// The facts found shard by shard, when not even the columns they need fit in memory for
/// every sign-in at once. Two rounds over the shards with a light one between, then the
/// tenant-wide detectors:
///
/// 1. [`FirstShare`]: what adds up over disjoint users: users, first sign-in, the org-common
///    tally, each address's credential failures. Summed, they give the org-common networks
///    and the candidate addresses, whose sign-ins the address-grouping detectors may need.
///    Between the rounds, [`FirstShare::sign_ins_of`] counts the candidates' every sign-in
///    from times and addresses alone, and [`FirstShare::addresses_needed`] leaves out the
///    busy ones no window could make a finding of.
/// 2. [`SecondShare`]: with those, each shard's share of the per-user detectors' tables, and
///    the sign-ins the tenant-wide detectors read: every sign-in of the needed addresses,
///    and every failed or validated sign-in from a network new to its user, marked new as
///    the user's whole history says ([`Gathered`], column by column).
/// 3. [`TenantFacts::from_shares`]: the gathered sign-ins as one small context (the
///    tenant's facts in it, each row's newness as gathered), where the tenant-wide
///    detectors run as over the whole tenant.
#[derive(Debug, Clone, Default)]
pub struct FirstShare {
    pub users: usize,
    /// `i64::MAX` when the shard has no sign-in.
    pub first_time: i64,
    pub tally: Tally,
    /// Per address text, per quarter-window stretch of time: credential failures, failing
    /// users (those without a user counted as one, as the detectors count them), and every
    /// sign-in from it (counted only in the stretches where the shard saw a failure: an
    /// undercount, which bounds the failure ratio safely).
    pub failures: BTreeMap<String, BTreeMap<i64, StretchCounts>>,
    /// Addresses the GeoIP City database put at no place.
    pub out_of_range: BTreeSet<String>,
}

/// One address's sign-ins in one stretch of time (see [`FirstShare::failures`]).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StretchCounts {
    pub failures: u32,
    pub failing_users: u32,
    pub sign_ins: u32,
}

/// What a detector judging addresses by their failures in a window needs in one: see
/// [`Detector::address_window`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AddressWindow {
    /// µs.
    pub window: i64,
    pub min_failures: u32,
    pub min_users: u32,
    /// The share of a window's sign-ins that must be failures.
    pub min_failure_ratio: f64,
}

/// Stretches a window is cut into: a window overlaps at most `STRETCHES + 1` consecutive
/// stretches and wholly holds the `STRETCHES - 1` between its ends.
const STRETCHES: i64 = 4;

impl FirstShare {
    /// `window`: the shortest of the detectors' address windows, if any.
    pub fn of(ctx: &Context, config: &NetworksConfig, window: Option<AddressWindow>) -> FirstShare {
        // Failures, failing users and sign-ins per address and quarter-window stretch: sums
        // over the stretches a window overlaps bound what it holds (see `addresses_needed`).
        let mut counts: ahash::AHashMap<(u32, i64), StretchCounts> = ahash::AHashMap::new();
        if let Some(window) = window {
            let stretch = (window.window / STRETCHES).max(1);
            let mut seen: ahash::AHashSet<(u32, i64, usize)> = ahash::AHashSet::new();
            for (p, (&address, &outcome)) in ctx.address.iter().zip(&ctx.outcome).enumerate() {
                if outcome != Outcome::CredentialFailure || address == NONE {
                    continue;
                }
                let bucket = ctx.time[p].div_euclid(stretch);
                let user = ctx.users.partition_point(|&(_, end)| end <= p);
                let count = counts.entry((address, bucket)).or_default();
                count.failures += 1;
                if seen.insert((address, bucket, user)) {
                    count.failing_users += 1;
                }
            }
            for (p, &address) in ctx.address.iter().enumerate() {
                if let Some(count) = counts.get_mut(&(address, ctx.time[p].div_euclid(stretch))) {
                    count.sign_ins += 1;
                }
            }
        }
        let mut failures: BTreeMap<String, BTreeMap<i64, StretchCounts>> = BTreeMap::new();
        for ((k, bucket), n) in counts {
            if let Some(text) = ctx.address_text(k) {
                failures
                    .entry(text.to_string())
                    .or_default()
                    .insert(bucket, n);
            }
        }
        FirstShare {
            users: ctx.users.len(),
            first_time: ctx.time.par_iter().copied().min().unwrap_or(i64::MAX),
            tally: ctx.org_common_tally(config),
            failures,
            out_of_range: ctx.geoip_out_of_range_addresses().into_iter().collect(),
        }
    }

    /// Adds another shard's share (of other users).
    pub fn add(&mut self, other: FirstShare, config: &NetworksConfig) {
        self.users += other.users;
        self.first_time = self.first_time.min(other.first_time);
        self.tally.add(other.tally, config);
        for (address, stretches) in other.failures {
            let mine = self.failures.entry(address).or_default();
            for (bucket, more) in stretches {
                let count = mine.entry(bucket).or_default();
                count.failures += more.failures;
                count.failing_users += more.failing_users;
                count.sign_ins += more.sign_ins;
            }
        }
        self.out_of_range.extend(other.out_of_range);
    }

    /// The tenant facts the sum gives: users, first sign-in, org-common networks and the
    /// users returning to them (no tables or findings yet).
    pub fn facts(&self, config: &NetworksConfig) -> TenantFacts {
        let (org_common, returning) = self.tally.finish(self.users, config);
        TenantFacts {
            users: self.users,
            first_time: self.first_time,
            org_common,
            returning_networks: sorted(&returning.networks),
            returning_asns: sorted(&returning.asns),
            ..TenantFacts::default()
        }
    }

    /// Every sign-in per stretch of the `candidates` addresses among a shard's sign-ins (their
    /// `times` and `addresses`, row by row): summed over the shards, what
    /// [`FirstShare::addresses_needed`] may take instead of its undercount. Needs no context:
    /// this round reads only times and addresses.
    pub fn sign_ins_of(
        times: &[i64],
        addresses: &TextCodes,
        window: AddressWindow,
        candidates: &BTreeSet<String>,
    ) -> BTreeMap<String, BTreeMap<i64, u32>> {
        let stretch = (window.window / STRETCHES).max(1);
        let wanted: Vec<bool> = addresses
            .distinct
            .iter()
            .map(|text| candidates.contains(text))
            .collect();
        let mut counts: ahash::AHashMap<(u32, i64), u32> = ahash::AHashMap::new();
        for (&address, &time) in addresses.index.iter().zip(times) {
            if wanted.get(address as usize) == Some(&true) {
                *counts
                    .entry((address, time.div_euclid(stretch)))
                    .or_default() += 1;
            }
        }
        let mut out: BTreeMap<String, BTreeMap<i64, u32>> = BTreeMap::new();
        for ((k, bucket), n) in counts {
            if let Some(text) = addresses.distinct.get(k as usize) {
                out.entry(text.clone()).or_default().insert(bucket, n);
            }
        }
        out
    }

    /// The addresses whose every sign-in the tenant-wide detectors need: those where some
    /// window could hold the failures, failing users and failure share one needs. A window
    /// starting in stretch k overlaps stretches k..=k+4 and wholly holds k+1..=k+3, so it
    /// holds at most the failures and failing users of the five and at least the sign-ins
    /// of the three: a busy address whose failures never come near the share of its
    /// sign-ins (a carrier's or an office's egress) is not needed.
    ///
    /// `sign_ins`: every sign-in per stretch of some addresses, summed over the shards
    /// ([`FirstShare::sign_ins_of`]); the shares' own counts, which leave out stretches a
    /// shard saw no failure in, otherwise.
    pub fn addresses_needed(
        &self,
        window: Option<AddressWindow>,
        sign_ins: Option<&BTreeMap<String, BTreeMap<i64, u32>>>,
    ) -> BTreeSet<String> {
        let Some(window) = window else {
            return BTreeSet::new();
        };
        let at = |stretches: &BTreeMap<i64, StretchCounts>, j: i64| {
            stretches.get(&j).copied().unwrap_or_default()
        };
        let could = |address: &str, stretches: &BTreeMap<i64, StretchCounts>, k: i64| {
            let counted = sign_ins.and_then(|s| s.get(address));
            let (mut failures, mut users, mut held) = (0u64, 0u64, 0u64);
            for j in k..=k + STRETCHES {
                let c = at(stretches, j);
                failures += u64::from(c.failures);
                users += u64::from(c.failing_users);
                if j > k && j < k + STRETCHES {
                    held += match counted {
                        Some(counted) => u64::from(counted.get(&j).copied().unwrap_or(0)),
                        None => u64::from(c.sign_ins),
                    };
                }
            }
            failures >= u64::from(window.min_failures)
                && users >= u64::from(window.min_users)
                // A hair of slack: the detector divides where this multiplies.
                && failures as f64 >= window.min_failure_ratio * held as f64 * (1.0 - 1e-9)
        };
        self.failures
            .iter()
            .filter(|(address, stretches)| {
                stretches
                    .keys()
                    .any(|&b| (b - STRETCHES..=b).any(|k| could(address, stretches, k)))
            })
            .map(|(address, _)| address.clone())
            .collect()
    }
}

/// The address window of the tenant-wide detectors (the longest, with the smallest needs:
/// what may matter to any of them).
pub fn address_window(detectors: &[Box<dyn Detector>]) -> Option<AddressWindow> {
    detectors
        .iter()
        .filter(|d| d.tenant_wide())
        .filter_map(|d| d.address_window())
        .reduce(|a, b| AddressWindow {
            window: a.window.max(b.window),
            min_failures: a.min_failures.min(b.min_failures),
            min_users: a.min_users.min(b.min_users),
            min_failure_ratio: a.min_failure_ratio.min(b.min_failure_ratio),
        })
}

/// A shard's share of the second round (see [`FirstShare`]).
#[derive(Debug, Clone, Default)]
pub struct SecondShare {
    /// The per-user detectors' tables over the shard's users.
    pub tables: BTreeMap<String, Value>,
    pub gathered: Gathered,
}

impl SecondShare {
    /// `ctx`: a shard's context holding the tenant facts of the first round.
    pub fn of(
        ctx: &Context,
        detectors: &[Box<dyn Detector>],
        addresses: &BTreeSet<String>,
    ) -> SecondShare {
        let tables = detectors
            .iter()
            .filter(|d| d.has_tenant_table())
            .filter_map(|d| Some((d.identity().id.to_string(), d.tenant_table(ctx)?)))
            .collect();
        let learning = detectors
            .iter()
            .filter_map(|d| d.new_network_learning())
            .min();
        let new = learning.map(|learning| super::familiar::new_networks(ctx, learning));
        let wanted_address = ctx.addresses_where(|text| addresses.contains(text));
        let positions: Vec<usize> = (0..ctx.time.len())
            .filter(|&p| {
                // The newness of users' sign-ins: those without a user come after them.
                let fresh = new.as_ref().is_some_and(|new| {
                    new.get(p) == Some(&true)
                        && ctx.users_row(p)
                        && ctx.outcome[p] == Outcome::CredentialFailure
                });
                fresh || wanted_address.contains(&ctx.address[p])
            })
            .collect();
        crate::trace::note("gathered: addresses", wanted_address.len());
        crate::trace::note("gathered: sign-ins", positions.len());
        SecondShare {
            tables,
            gathered: Gathered::of(ctx, &positions, new.as_deref()),
        }
    }
}

/// Adds tables of numbers: numbers summed, objects merged key by key.
fn add_tables(into: &mut Value, other: Value) {
    match (into, other) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in b {
                match a.get_mut(&key) {
                    Some(mine) => add_tables(mine, value),
                    None => {
                        a.insert(key, value);
                    }
                }
            }
        }
        (mine @ Value::Number(_), Value::Number(theirs)) => {
            let sum = mine.as_u64().unwrap_or(0) + theirs.as_u64().unwrap_or(0);
            *mine = Value::from(sum);
        }
        (mine, other) => *mine = other,
    }
}

impl TenantFacts {
    /// The facts of a tenant from its shards' shares (see [`FirstShare`]): `first` summed
    /// over every shard, each shard's [`SecondShare`] (made with `first`'s facts). The
    /// gathered sign-ins become one context, ordered by (time, request id) as a run over
    /// dataset partitions orders them, where the tenant-wide detectors run.
    pub fn from_shares(
        first: &FirstShare,
        seconds: Vec<SecondShare>,
        detectors: &[Box<dyn Detector>],
        networks: &NetworksConfig,
        enrichment: &Enrichment<'_>,
        score_since: Option<i64>,
    ) -> Result<(TenantFacts, Vec<Value>), polars::prelude::PolarsError> {
        let mut facts = first.facts(networks);
        let mut gathered = Gathered::default();
        for share in seconds {
            for (id, table) in share.tables {
                match facts.tables.get_mut(&id) {
                    Some(mine) => add_tables(mine, table),
                    None => {
                        facts.tables.insert(id, table);
                    }
                }
            }
            gathered.append(share.gathered);
        }
        crate::trace::note("gathered sign-ins", gathered.len());
        crate::trace::rss("rss with the gathered sign-ins");
        // The gathered columns are let go once their frame is built: only each row's origin
        // and newness stay for the detectors.
        let (frame, origins) = gathered.into_frame(&enrichment.outcomes)?;
        crate::trace::rss("rss with their frame");
        let tenant = Arc::new(facts.clone());
        let mut ctx = Context::with_enrichment(&frame, score_since, networks, enrichment)?
            .with_tenant(tenant, &networks.trusted_asns);
        ctx.new_network = Some(
            ctx.order
                .iter()
                .map(|&row| origins.new_network[row as usize])
                .collect(),
        );
        crate::trace::rss("rss with their context");
        // Each position's origin: its user's key and its place among the user's sign-ins.
        let origin = |p: usize| origins.of(ctx.order[p] as usize);
        let mut campaigns = Vec::new();
        for d in detectors {
            if let Some((table, seen)) = d.campaign_table(&ctx) {
                facts.tables.insert(d.identity().id.to_string(), table);
                campaigns.extend(seen);
            }
        }
        for d in detectors.iter().filter(|d| d.tenant_wide()) {
            let (mut found, seen) = d.detect_with_campaigns(&ctx);
            found.sort_by_key(|f| f.row);
            campaigns.extend(seen);
            facts
                .findings
                .extend(found.iter().map(|f| shared(f, origin)));
        }
        Ok((facts, campaigns))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(failures: u32, failing_users: u32, sign_ins: u32) -> StretchCounts {
        StretchCounts {
            failures,
            failing_users,
            sign_ins,
        }
    }

    #[test]
    fn addresses_are_needed_only_where_some_window_could_hold_a_finding() {
        let window = AddressWindow {
            window: 24 * 3_600_000_000,
            min_failures: 20,
            min_users: 2,
            min_failure_ratio: 0.8,
        };
        let mut share = FirstShare::default();
        let mut add = |address: &str, stretches: &[(i64, StretchCounts)]| {
            share
                .failures
                .insert(address.into(), stretches.iter().copied().collect());
        };
        // A spray burst: 30 failures of 9 users in one stretch, few sign-ins around it.
        add("burst", &[(10, counts(30, 9, 31)), (11, counts(0, 0, 0))]);
        // A carrier's egress: as many failures a day, among thousands of sign-ins.
        let busy: Vec<(i64, StretchCounts)> = (0..12).map(|k| (k, counts(8, 5, 2_000))).collect();
        add("carrier", &busy);
        // Failures enough, but from one user.
        add("one-user", &[(3, counts(25, 1, 25))]);
        // Spread thin: five stretches apart, no window holds 20.
        add("thin", &[(0, counts(12, 3, 12)), (5, counts(12, 3, 12))]);
        // Just enough across a window's five stretches, the middle ones quiet.
        add("edges", &[(0, counts(10, 1, 10)), (4, counts(10, 1, 10))]);
        let needed = share.addresses_needed(Some(window), None);
        assert_eq!(needed.into_iter().collect::<Vec<_>>(), ["burst", "edges"]);
        assert!(share.addresses_needed(None, None).is_empty());
        // The sign-ins counted in every stretch: the burst had thousands around it.
        let mut counted: BTreeMap<String, BTreeMap<i64, u32>> = BTreeMap::new();
        counted.insert("burst".into(), (8..14).map(|k| (k, 500)).collect());
        counted.insert("edges".into(), [(0, 10), (4, 10)].into_iter().collect());
        let needed = share.addresses_needed(Some(window), Some(&counted));
        assert_eq!(needed.into_iter().collect::<Vec<_>>(), ["edges"]);
    }
}
