//! `password_spray` → `passwordSpray`: one source (an address, or an ASN for sprays spread
//! over many addresses) failing against many distinct users in a short window with few
//! attempts per user. A detection fires only for sign-ins validated from a spraying source
//! during the campaign or shortly after (no detection for an unsuccessful spray); every
//! campaign, successful or not, is listed in `summary.json`.
//!
//! Only failures and successes from a network the user had never signed in from count. A
//! big residential ASN, a carrier or an office egress carries thousands of employees, and at
//! enterprise size ten of them mistype their password within half an hour all day long, from
//! the homes and phones they always use; a sprayer's addresses are new to every account it
//! tries.

use std::collections::{BTreeSet, VecDeque};

use ahash::AHashMap;
use polars::prelude::IdxSize;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{Built, Columns, Context, Detector, Finding, Identity, Level, Settings, Outcome};
use crate::frame::time::format_time;
use crate::frame::col;
use crate::rules::{Problems, Rules, Span};

/// `[password_spray]` in the rules file.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordSprayConfig {
    pub enabled: bool,
    /// Distinct users failing from one source within the window.
    pub min_users: u32,
    pub window_minutes: u32,
    /// Median attempts per user at most this (a spray tries few passwords per account).
    pub max_median_attempts: u32,
    /// Validated sign-ins from the source up to this long after the campaign still count.
    pub success_grace_minutes: u32,
    /// Also look for sprays spread over the addresses of one ASN.
    pub by_asn: bool,
    /// Networks are judged new only this many days after the data's first sign-in: at the
    /// start of the data every network is new to everyone.
    pub learning_days: u32,
    pub level: Level,
}

/// The canonical columns it reads beyond the context's own.
pub const COLUMNS: Columns = Columns {
    every_row: &[],
    some_rows: &[col::client_app],
};

/// The registry's entry: built from its section of the rules.
pub fn build(rules: &Rules, section: &'static str) -> Built {
    super::build(rules, section, PasswordSpray::new)
}

impl Settings for PasswordSprayConfig {
    fn check(&self, problems: &mut Problems<'_>) {
        problems
            .positive("min_users", self.min_users)
            .positive("window_minutes", self.window_minutes)
            .at_most_ten_years("window_minutes", self.window_minutes, Span::Minutes)
            .at_most_ten_years("success_grace_minutes", self.success_grace_minutes, Span::Minutes)
            .at_most_ten_years("learning_days", self.learning_days, Span::Days);
    }
}

pub struct PasswordSpray {
    config: PasswordSprayConfig,
}

/// A detected campaign from one source.
#[derive(Debug, Clone, PartialEq)]
struct Campaign {
    source: String,
    start: i64,
    end: i64,
    users: BTreeSet<usize>,
    failures: u32,
}

impl PasswordSpray {
    pub fn new(config: PasswordSprayConfig) -> Self {
        PasswordSpray { config }
    }

    fn learning(&self) -> i64 {
        i64::from(self.config.learning_days) * 86_400_000_000
    }

    /// Campaigns in one source's credential failures (see [`failures`]), in time order.
    fn campaigns_in(&self, ctx: &Context, failures: &[Failure], source: &str) -> Vec<Campaign> {
        let window = i64::from(self.config.window_minutes) * 60_000_000;
        let mut campaigns: Vec<Campaign> = Vec::new();
        let mut recent: VecDeque<Failure> = VecDeque::new();
        let mut attempts: AHashMap<usize, u32> = AHashMap::new();
        for &failure in failures {
            let now = ctx.time[failure.row];
            while let Some(&old) = recent.front().filter(|f| now - ctx.time[f.row] > window) {
                let user = old.user;
                if let Some(n) = attempts.get_mut(&user) {
                    *n -= 1;
                    if *n == 0 {
                        attempts.remove(&user);
                    }
                }
                recent.pop_front();
            }
            recent.push_back(failure);
            *attempts.entry(failure.user).or_default() += 1;
            if attempts.len() < self.config.min_users as usize {
                continue;
            }
            let mut counts: Vec<u32> = attempts.values().copied().collect();
            counts.sort_unstable();
            if counts[counts.len() / 2] > self.config.max_median_attempts {
                continue;
            }
            let start = recent.front().map_or(now, |f| ctx.time[f.row]);
            match campaigns.last_mut().filter(|c| start <= c.end + window) {
                Some(c) => {
                    c.end = now;
                    c.users.extend(attempts.keys().copied());
                    c.failures += 1;
                }
                None => campaigns.push(Campaign {
                    source: source.to_string(),
                    start,
                    end: now,
                    users: attempts.keys().copied().collect(),
                    failures: recent.len() as u32,
                }),
            }
        }
        campaigns
    }

    /// Every campaign with its source, by address then by ASN.
    fn all_campaigns(&self, ctx: &Context, new_network: &[bool]) -> Vec<(Campaign, Source)> {
        let failures = failures(ctx, new_network);
        // Each address's failures, addresses in their order, each in time order (the sort
        // is stable). A campaign takes `min_users` users, so smaller groups are passed over.
        let mut by_address: Vec<(u32, Failure)> = failures
            .iter()
            .map(|&f| (ctx.address[f.row], f))
            .filter(|&(address, _)| address != super::order::NONE)
            .collect();
        by_address.par_sort_by_key(|&(address, _)| address);
        let groups: Vec<&[(u32, Failure)]> = by_address
            .chunk_by(|a, b| a.0 == b.0)
            .filter(|group| group.len() >= self.config.min_users as usize)
            .collect();
        let mut out: Vec<(Campaign, Source)> = groups
            .par_iter()
            .flat_map_iter(|group| {
                let address = group[0].0;
                let failures: Vec<Failure> = group.iter().map(|&(_, f)| f).collect();
                // Most addresses run no campaign: their source text is not made.
                let mut campaigns = self.campaigns_in(ctx, &failures, "");
                for campaign in &mut campaigns {
                    campaign.source = format!("ip {}", ctx.ip(failures[0].row).unwrap_or(""));
                }
                campaigns
                    .into_iter()
                    .map(move |c| (c, Source::Address(address as usize)))
            })
            .collect();
        if self.config.by_asn {
            let mut groups: AHashMap<u32, Vec<Failure>> = AHashMap::new();
            for &failure in &failures {
                if let Some(asn) = ctx.asn(failure.row) {
                    groups.entry(asn).or_default().push(failure);
                }
            }
            let mut groups: Vec<(u32, Vec<Failure>)> = groups.into_iter().collect();
            groups.sort_unstable_by_key(|(asn, _)| *asn);
            for (asn, failures) in groups {
                for campaign in self.campaigns_in(ctx, &failures, &format!("asn {asn}")) {
                    out.push((campaign, Source::Asn(asn)));
                }
            }
        }
        out
    }
}

/// Where a campaign came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Source {
    /// A group of [`Context::by_address`].
    Address(usize),
    Asn(u32),
}

/// A credential failure of a known user: a position, and the index of its user.
#[derive(Debug, Clone, Copy)]
struct Failure {
    row: usize,
    user: usize,
}

/// Every credential failure of a known user from a network new to that user, in time
/// order: all that campaigns are made of. Found by one scan in position order, a small share
/// of all sign-ins.
fn failures(ctx: &Context, new_network: &[bool]) -> Vec<Failure> {
    ctx.select_by_time(|row| {
        ctx.outcome[row] == Outcome::CredentialFailure && ctx.users_row(row) && new_network[row]
    })
    .into_par_iter()
    .map(|row| Failure {
        row,
        user: ctx.users.partition_point(|&(_, end)| end <= row),
    })
    .collect()
}

impl Detector for PasswordSpray {
    fn new_network_learning(&self) -> Option<i64> {
        Some(self.learning())
    }

    fn campaign_table(&self, ctx: &Context) -> Option<(Value, Vec<Value>)> {
        let new_network = super::familiar::new_networks(ctx, self.learning());
        let campaigns = self.all_campaigns(ctx, &new_network);
        let table = campaigns
            .iter()
            .map(|(c, source)| {
                let key = match source {
                    Source::Address(k) => json!({"address": ctx.address_text(*k as u32)}),
                    Source::Asn(asn) => json!({"asn": asn}),
                };
                json!({"from": key, "source": c.source, "start": c.start, "end": c.end,
                       "usersTried": c.users.len(), "failures": c.failures})
            })
            .collect();
        Some((Value::Array(table), campaign_summaries(&campaigns)))
    }

    fn identity(&self) -> Identity {
        Identity {
            id: "password_spray",
            risk_event_type: "passwordSpray",
            report: "Password spray",
            activity: "signin",
            timing: "offline",
        }
    }

    fn settings(&self) -> Value {
        serde_json::to_value(&self.config).unwrap_or(Value::Null)
    }

    fn detect(&self, ctx: &Context) -> Vec<Finding> {
        self.detect_with_campaigns(ctx).0
    }

    fn campaigns(&self, ctx: &Context) -> Vec<Value> {
        let new_network = super::familiar::new_networks(ctx, self.learning());
        campaign_summaries(&self.all_campaigns(ctx, &new_network))
    }

    fn detect_with_campaigns(&self, ctx: &Context) -> (Vec<Finding>, Vec<Value>) {
        let new_network = super::familiar::new_networks(ctx, self.learning());
        if let Some(table) = ctx.tenant_table("password_spray") {
            // A shard of a sharded run: the campaigns were found over every user's
            // failures; the shard finds its users' sign-ins that got in.
            let campaigns = campaigns_of_table(ctx, table);
            let findings = self.findings(ctx, &campaigns, &new_network);
            return (super::with_client_app(ctx, findings), Vec::new());
        }
        let campaigns = self.all_campaigns(ctx, &new_network);
        (
            super::with_client_app(ctx, self.findings(ctx, &campaigns, &new_network)),
            campaign_summaries(&campaigns),
        )
    }
}

/// The campaigns of a [`Detector::campaign_table`], in its order, with their sources as a
/// shard's context knows them (an address the shard never saw has no sign-in to find). Only
/// the number of users tried is kept, so the users are stand-ins.
fn campaigns_of_table(ctx: &Context, table: &Value) -> Vec<(Campaign, Source)> {
    let rows = table.as_array().map_or(&[][..], Vec::as_slice);
    let texts: Vec<&str> = rows
        .iter()
        .filter_map(|row| row["from"]["address"].as_str())
        .collect();
    let mut addresses: AHashMap<&str, usize> = AHashMap::new();
    for k in ctx.addresses_where(|text| texts.contains(&text)) {
        if let Some(text) = ctx.address_text(k) {
            addresses.insert(text, k as usize);
        }
    }
    rows.iter()
        .filter_map(|row| {
            let source = match (row["from"]["address"].as_str(), row["from"]["asn"].as_u64()) {
                (Some(text), _) => Source::Address(addresses.get(text).copied().unwrap_or(usize::MAX)),
                (None, Some(asn)) => Source::Asn(asn as u32),
                (None, None) => return None,
            };
            let tried = row["usersTried"].as_u64().unwrap_or(0) as usize;
            Some((
                Campaign {
                    source: row["source"].as_str().unwrap_or("").to_string(),
                    start: row["start"].as_i64()?,
                    end: row["end"].as_i64()?,
                    users: (0..tried).collect(),
                    failures: row["failures"].as_u64().unwrap_or(0) as u32,
                },
                source,
            ))
        })
        .collect()
}

/// The summary's view of each campaign.
fn campaign_summaries(campaigns: &[(Campaign, Source)]) -> Vec<Value> {
    campaigns
        .iter()
        .map(|(c, _)| {
            json!({
                "detector": "password_spray",
                "source": c.source,
                "usersTried": c.users.len(),
                "start": format_time(c.start),
                "end": format_time(c.end),
            })
        })
        .collect()
}

impl PasswordSpray {
    /// Validated sign-ins from a campaign's source while it ran (and a grace period after),
    /// from a network new to the user: a sprayed password that worked.
    fn findings(
        &self,
        ctx: &Context,
        campaigns: &[(Campaign, Source)],
        new_network: &[bool],
    ) -> Vec<Finding> {
        let grace = i64::from(self.config.success_grace_minutes) * 60_000_000;
        let mut fired: BTreeSet<usize> = BTreeSet::new();
        let mut findings = Vec::new();
        // The validated sign-ins of every ASN that ran a campaign, inside one of its
        // campaigns' windows, in time order. Windows are short: checking a row's time
        // against its ASN's windows keeps the millions of an ISP's other sign-ins out.
        let mut windows: AHashMap<u32, Vec<(i64, i64)>> = AHashMap::new();
        for (campaign, source) in campaigns {
            if let Source::Asn(asn) = source {
                windows
                    .entry(*asn)
                    .or_default()
                    .push((campaign.start, campaign.end + grace));
            }
        }
        for spans in windows.values_mut() {
            spans.sort_unstable();
        }
        // Most sign-ins come from ASNs that ran no campaign: a bit per ASN's low 16 bits
        // turns them away before the map is asked.
        let mut maybe = vec![0u64; 1 << 10];
        for &asn in windows.keys() {
            maybe[(asn as usize & 0xffff) >> 6] |= 1 << (asn & 63);
        }
        let in_window = |asn: u32, t: i64| {
            maybe[(asn as usize & 0xffff) >> 6] & (1 << (asn & 63)) != 0
                && windows.get(&asn).is_some_and(|spans| {
                    // Windows may overlap: any that starts by `t` may still be open.
                    spans[..spans.partition_point(|&(start, _)| start <= t)]
                        .iter()
                        .any(|&(_, end)| t <= end)
                })
        };
        let mut by_asn: AHashMap<u32, Vec<IdxSize>> = AHashMap::new();
        if !windows.is_empty() {
            let inside = ctx.select_by_time(|row| {
                ctx.outcome[row].validated()
                    && ctx.asn(row).is_some_and(|a| in_window(a, ctx.time[row]))
            });
            for row in inside {
                if let Some(asn) = ctx.asn(row) {
                    by_asn.entry(asn).or_default().push(row as IdxSize);
                }
            }
        }
        for (campaign, source) in campaigns {
            let rows: &[IdxSize] = match source {
                Source::Address(usize::MAX) => &[],
                Source::Address(group) => ctx.by_address().get(*group),
                Source::Asn(asn) => by_asn.get(asn).map_or(&[], Vec::as_slice),
            };
            // The rows are in time order: only the campaign's window is visited.
            let first = rows.partition_point(|&r| ctx.time[r as usize] < campaign.start);
            let last = rows.partition_point(|&r| ctx.time[r as usize] <= campaign.end + grace);
            for &row in &rows[first..last.max(first)] {
                let row = row as usize;
                let t = ctx.time[row];
                if ctx.outcome[row].validated()
                    && ctx.users_row(row)
                    && new_network[row]
                    && t >= ctx.score_since
                    && fired.insert(row)
                {
                    findings.push(Finding {
                        detector: "password_spray",
                        row,
                        user_level: false,
                        level: self.config.level,
                        detected_at: t,
                        evidence: json!({
                            "source": campaign.source,
                            "usersTried": campaign.users.len(),
                            "campaignStart": format_time(campaign.start),
                            "campaignEnd": format_time(campaign.end),
                        }),
                        related_requests: Vec::new(),
                        related: vec![(
                            "relatedEventTimeInUtc",
                            Value::from(format_time(campaign.start)),
                        )],
                    });
                }
            }
        }
        findings.sort_by_key(|f| f.row);
        findings
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::testing::{frame, sign_in, SignIn};
    use crate::rules::Rules;

    const USERS: [&str; 15] = [
        "u0", "u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8", "u9", "u10", "u11", "u12", "u13",
        "u14",
    ];

    /// The default settings, judging networks from the data's first minute: these scenarios
    /// start with it.
    fn config() -> PasswordSprayConfig {
        PasswordSprayConfig {
            learning_days: 0,
            ..crate::detect::testing::defaults::<PasswordSprayConfig>("password_spray")
        }
    }

    fn run(s: &[SignIn]) -> (Vec<Finding>, Vec<Value>) {
        let rules = Rules::builtin();
        let ctx = Context::new(&frame(s), None, &rules.networks).unwrap();
        let d = PasswordSpray::new(config());
        (d.detect(&ctx), d.campaigns(&ctx))
    }

    #[test]
    fn a_spray_with_one_success_fires_for_that_user_only() {
        let mut s: Vec<SignIn> = USERS
            .iter()
            .enumerate()
            .map(|(k, u)| sign_in(u, k as i64, "198.51.100.7", 50126))
            .collect();
        s.push(sign_in("victim", 16, "198.51.100.7", 0));
        s.push(sign_in("u3", 17, "84.208.10.7", 0));
        let (found, campaigns) = run(&s);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].evidence["usersTried"], 15);
        assert!(!campaigns.is_empty());
    }

    #[test]
    fn an_unsuccessful_spray_is_a_campaign_but_no_detection() {
        let s: Vec<SignIn> = USERS
            .iter()
            .enumerate()
            .map(|(k, u)| sign_in(u, k as i64, "198.51.100.7", 50126))
            .collect();
        let (found, campaigns) = run(&s);
        assert!(found.is_empty());
        assert!(!campaigns.is_empty());
    }

    #[test]
    fn exactly_min_users_make_a_campaign_one_fewer_do_not() {
        let min = crate::detect::testing::defaults::<PasswordSprayConfig>("password_spray").min_users as usize;
        let spray = |users: usize| -> Vec<SignIn> {
            USERS[..users]
                .iter()
                .enumerate()
                .map(|(k, u)| sign_in(u, k as i64, "198.51.100.7", 50126))
                .collect()
        };
        assert!(!run(&spray(min)).1.is_empty());
        assert!(run(&spray(min - 1)).1.is_empty());
    }

    #[test]
    fn failures_spread_over_hours_are_no_spray() {
        let mut s: Vec<SignIn> = USERS
            .iter()
            .enumerate()
            .map(|(k, u)| sign_in(u, k as i64 * 40, "198.51.100.7", 50126))
            .collect();
        s.push(sign_in("victim", 15 * 40, "198.51.100.7", 0));
        let (found, campaigns) = run(&s);
        assert!(found.is_empty());
        assert!(campaigns.is_empty());
    }

    /// The frame of `s` with every sign-in in one ASN.
    fn in_one_asn(s: &[SignIn]) -> polars::prelude::DataFrame {
        use polars::prelude::{IntoColumn, NewChunkedArray, UInt32Chunked};
        let mut frame = frame(s);
        let asns = UInt32Chunked::from_iter_options(
            crate::frame::col::asn.into(),
            s.iter().map(|_| Some(64500)),
        );
        frame
            .replace(crate::frame::col::asn, asns.into_column())
            .unwrap();
        frame
    }

    fn run_in_one_asn(s: &[SignIn]) -> (Vec<String>, Vec<Value>) {
        let rules = Rules::builtin();
        let frame = in_one_asn(s);
        let ctx = Context::new(&frame, None, &rules.networks).unwrap();
        let d = PasswordSpray::new(config());
        let (found, campaigns) = d.detect_with_campaigns(&ctx);
        let users = found
            .iter()
            .filter_map(|f| ctx.text(crate::frame::col::user_id, f.row))
            .collect();
        (users, campaigns)
    }

    const HOMES: [&str; 15] = [
        "10.1.1.5",
        "10.1.2.5",
        "10.1.3.5",
        "10.1.4.5",
        "10.1.5.5",
        "10.1.6.5",
        "10.1.7.5",
        "10.1.8.5",
        "10.1.9.5",
        "10.1.10.5",
        "10.1.11.5",
        "10.1.12.5",
        "10.1.13.5",
        "10.1.14.5",
        "10.1.15.5",
    ];

    /// Each user signs in from home a day before the tests' failures.
    fn at_home_yesterday() -> Vec<SignIn> {
        USERS
            .iter()
            .zip(HOMES)
            .enumerate()
            .map(|(k, (u, ip))| sign_in(u, k as i64, ip, 0))
            .collect()
    }

    #[test]
    fn a_crowd_of_typos_from_the_users_own_homes_on_one_isp_is_no_spray() {
        // Fifteen customers of one ISP, each at home since yesterday, mistype their password
        // within a quarter of an hour (a password-expiry morning) and then get it right.
        let mut s = at_home_yesterday();
        for (k, (u, ip)) in USERS.iter().zip(HOMES).enumerate() {
            s.push(sign_in(u, 1440 + k as i64, ip, 50126));
            s.push(sign_in(u, 1441 + k as i64, ip, 0));
        }
        let (users, campaigns) = run_in_one_asn(&s);
        assert!(users.is_empty(), "{users:?}");
        assert!(campaigns.is_empty(), "{campaigns:?}");
    }

    #[test]
    fn the_same_failures_from_addresses_new_to_each_user_are_a_spray() {
        // The control: one ASN, the same fifteen users and times, but every failure from an
        // address the user never used, and one success from such an address.
        let mut s = at_home_yesterday();
        for (k, u) in USERS.iter().enumerate() {
            s.push(sign_in(u, 1440 + k as i64, "203.0.113.9", 50126));
        }
        s.push(sign_in("u4", 1460, "203.0.113.9", 0));
        let (users, campaigns) = run_in_one_asn(&s);
        assert_eq!(users, ["u4"]);
        assert_eq!(campaigns.len(), 2, "by address and by ASN: {campaigns:?}");
    }

    #[test]
    fn a_spray_spread_over_an_asn_fires_inside_its_window_only() {
        const IPS: [&str; 15] = [
            "203.0.113.1",
            "203.0.113.2",
            "203.0.113.3",
            "203.0.113.4",
            "203.0.113.5",
            "203.0.113.6",
            "203.0.113.7",
            "203.0.113.8",
            "203.0.113.9",
            "203.0.113.10",
            "203.0.113.11",
            "203.0.113.12",
            "203.0.113.13",
            "203.0.113.14",
            "203.0.113.15",
        ];
        // One failure per address: only the ASN sees a spray.
        let mut s: Vec<SignIn> = USERS
            .iter()
            .zip(IPS)
            .enumerate()
            .map(|(k, (u, ip))| sign_in(u, k as i64, ip, 50126))
            .collect();
        s.push(sign_in("victim", 16, "203.0.113.99", 0));
        s.push(sign_in("later", 16 + 24 * 60, "203.0.113.98", 0));
        // A customer of the same ISP at the home she has used since yesterday.
        s.push(sign_in("neighbour", -1440, "198.18.7.7", 0));
        s.push(sign_in("neighbour", 17, "198.18.7.7", 0));
        let (users, campaigns) = run_in_one_asn(&s);
        assert_eq!(users, ["victim"]);
        assert_eq!(campaigns[0]["source"], "asn 64500");
    }

    #[test]
    fn networks_are_judged_only_after_the_learning_period_of_the_data() {
        // The same spray on the data's first morning (every network new to everyone) and
        // four days later.
        let spray = |day: i64| -> Vec<SignIn> {
            let mut s: Vec<SignIn> = USERS
                .iter()
                .enumerate()
                .map(|(k, u)| sign_in(u, day * 1440 + k as i64, "198.51.100.7", 50126))
                .collect();
            s.push(sign_in("victim", day * 1440 + 16, "198.51.100.7", 0));
            s.insert(0, sign_in("early", 0, "192.0.2.1", 0));
            s
        };
        let rules = Rules::builtin();
        assert_eq!(crate::detect::testing::defaults::<PasswordSprayConfig>("password_spray").learning_days, 3);
        let detect = |s: &[SignIn]| {
            let ctx = Context::new(&frame(s), None, &rules.networks).unwrap();
            PasswordSpray::new(crate::detect::testing::defaults::<PasswordSprayConfig>("password_spray")).detect_with_campaigns(&ctx)
        };
        let (found, campaigns) = detect(&spray(0));
        assert!(found.is_empty() && campaigns.is_empty());
        let (found, campaigns) = detect(&spray(4));
        assert_eq!((found.len(), campaigns.len()), (1, 1));
    }
}
