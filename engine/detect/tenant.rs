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

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Context, Detector, Finding, Identity, Level};

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
                let table = d.tenant_table(ctx).map(|t| (id.to_string(), t));
                if !d.tenant_wide() {
                    return (Vec::new(), Vec::new(), table);
                }
                let _span = crate::trace::span(format!("facts: {id}"));
                let (mut found, campaigns) = d.detect_with_campaigns(ctx);
                found.sort_by_key(|f| f.row);
                let shared = found.iter().map(|f| shared(ctx, &keys, f)).collect();
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

/// A finding named by its user's key and its place among the user's sign-ins.
fn shared(ctx: &Context, keys: &[String], f: &Finding) -> SharedFinding {
    let user = ctx.users.partition_point(|&(_, end)| end <= f.row);
    let start = ctx.users.get(user).map_or(0, |&(start, _)| start);
    SharedFinding {
        detector: f.detector.to_string(),
        user: keys.get(user).cloned().unwrap_or_default(),
        offset: (f.row - start) as u32,
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
            .map(|&(key, row)| (key.to_string(), (row - start) as u32))
            .collect(),
    }
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
