//! `new_country` → `newCountry`: a validated sign-in from a country the user has never signed
//! in from, when the user has enough history and the country is rare in the tenant.
//!
//! A country is rare when few distinct users of the tenant have validated sign-ins from it
//! (at most the larger of a floor and a share of active users): a trip to a country where
//! colleagues work is not news. Org-common egress is no place and is left out.

use std::collections::BTreeMap;

use ahash::AHashSet;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{Built, Columns, Context, Detector, Finding, Identity, Level, Settings};
use crate::frame::time::format_time;
use crate::frame::col;
use crate::rules::{Problems, Rules, Span};

/// `[new_country]` in the rules file.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NewCountryConfig {
    pub enabled: bool,
    /// Days of user history required before a country can be new.
    pub min_history_days: u32,
    /// A country is rare when at most `max(rare_min_users, rare_share × active users)` users
    /// have signed in from it.
    pub rare_min_users: u32,
    pub rare_share: f64,
    pub include_non_interactive: bool,
    pub level: Level,
}

/// The canonical columns it reads beyond the context's own.
pub const COLUMNS: Columns = Columns {
    every_row: &[col::country],
    some_rows: &[],
};

/// The registry's entry: built from its section of the rules.
pub fn build(rules: &Rules, section: &'static str) -> Built {
    super::build(rules, section, NewCountry::new)
}

impl Settings for NewCountryConfig {
    fn check(&self, problems: &mut Problems<'_>) {
        problems
            .share("rare_share", self.rare_share)
            .at_most_ten_years("min_history_days", self.min_history_days, Span::Days);
    }
}

pub struct NewCountry {
    config: NewCountryConfig,
}

impl NewCountry {
    pub fn new(config: NewCountryConfig) -> Self {
        NewCountry { config }
    }

    /// Distinct users per country over the context's users, and how many users have a
    /// country at all.
    fn country_users(&self, ctx: &Context) -> (BTreeMap<String, u32>, u32) {
        let countries = ctx.codes_or_empty(col::country);
        let mut users_of: BTreeMap<String, u32> = BTreeMap::new();
        let mut active = 0u32;
        for &(start, end) in &ctx.users {
            let mut seen: AHashSet<&str> = AHashSet::new();
            for row in start..end {
                if let Some(country) = countries.get(row).filter(|_| self.usable(ctx, row)) {
                    if seen.insert(country) {
                        match users_of.get_mut(country) {
                            Some(n) => *n += 1,
                            None => {
                                users_of.insert(country.to_string(), 1);
                            }
                        }
                    }
                }
            }
            active += u32::from(!seen.is_empty());
        }
        (users_of, active)
    }

    fn usable(&self, ctx: &Context, row: usize) -> bool {
        ctx.locates_user(row, self.config.include_non_interactive)
    }
}

impl Detector for NewCountry {
    fn identity(&self) -> Identity {
        Identity {
            id: "new_country",
            risk_event_type: "newCountry",
            report: "Sign-ins from a new country",
            activity: "signin",
            timing: "offline",
        }
    }

    fn settings(&self) -> Value {
        serde_json::to_value(&self.config).unwrap_or(Value::Null)
    }

    fn has_tenant_table(&self) -> bool {
        true
    }

    fn tenant_table(&self, ctx: &Context) -> Option<Value> {
        let (users_of, active) = self.country_users(ctx);
        Some(json!({"usersOf": users_of, "active": active}))
    }

    fn detect(&self, ctx: &Context) -> Vec<Finding> {
        let countries = ctx.codes_or_empty(col::country);
        let (users_of, active) = ctx
            .tenant_table("new_country")
            .and_then(|table| {
                let users_of = serde_json::from_value(table.get("usersOf")?.clone()).ok()?;
                Some((users_of, table.get("active")?.as_u64()? as u32))
            })
            .unwrap_or_else(|| self.country_users(ctx));
        let rare_limit =
            (f64::from(active) * self.config.rare_share).max(f64::from(self.config.rare_min_users));
        let history = i64::from(self.config.min_history_days) * 86_400_000_000;
        ctx.per_user(|k, start, end, findings| {
            let first_seen = ctx.first_validated[k];
            let mut known: AHashSet<&str> = AHashSet::new();
            for row in start..end {
                let Some(country) = countries.get(row).filter(|_| self.usable(ctx, row)) else {
                    continue;
                };
                // The first country a user shows is their baseline, never news.
                let baseline = known.is_empty();
                if known.insert(country) && !baseline {
                    let tenant_users = users_of.get(country).copied().unwrap_or(0u32);
                    let learnt = ctx.time[row] - first_seen >= history;
                    if learnt
                        && f64::from(tenant_users) <= rare_limit
                        && ctx.time[row] >= ctx.score_since
                    {
                        findings.push(Finding {
                            detector: "new_country",
                            row,
                            user_level: false,
                            level: self.config.level,
                            detected_at: ctx.time[row],
                            evidence: json!({
                                "country": country,
                                "knownCountries": known.len() - 1,
                                "tenantUsersFromCountry": tenant_users,
                                "rareLimit": rare_limit,
                                "historyDays": (ctx.time[row] - first_seen) / 86_400_000_000,
                                "firstSeen": format_time(first_seen),
                            }),
                            related_requests: Vec::new(),
                            related: Vec::new(),
                        });
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::testing::{at, frame_with_countries, InCountry};
    use crate::rules::Rules;

    const OSLO: ((f64, f64), &str) = ((59.91, 10.75), "NO");
    const LONDON: ((f64, f64), &str) = ((51.51, -0.13), "GB");
    const MOSCOW: ((f64, f64), &str) = ((55.76, 37.62), "RU");

    fn detect(sign_ins: &[InCountry]) -> Vec<Finding> {
        let rules = Rules::builtin();
        let ctx = Context::new(&frame_with_countries(sign_ins), None, &rules.networks).unwrap();
        NewCountry::new(crate::detect::testing::defaults::<NewCountryConfig>("new_country")).detect(&ctx)
    }

    /// A sign-in on day `d` from the user's own /24 (so no network is org-common).
    fn day(user: &'static str, d: i64, place: ((f64, f64), &'static str)) -> InCountry {
        let octet = user.bytes().fold(0u32, |h, b| h * 31 + u32::from(b)) % 250;
        let ip: &'static str =
            Box::leak(format!("84.{octet}.{}.7", place.1.as_bytes()[0]).into_boxed_str());
        (at(user, d * 24 * 60, ip, place.0).0, place)
    }

    /// Ten colleagues in Oslo, ten in London, with three weeks of history.
    fn tenant() -> Vec<InCountry> {
        let oslo = ["o0", "o1", "o2", "o3", "o4", "o5", "o6", "o7", "o8", "o9"];
        let london = ["l0", "l1", "l2", "l3", "l4", "l5", "l6", "l7", "l8", "l9"];
        let mut s = Vec::new();
        for d in 0..21 {
            s.extend(oslo.iter().map(|u| day(u, d, OSLO)));
            s.extend(london.iter().map(|u| day(u, d, LONDON)));
        }
        s
    }

    #[test]
    fn a_rare_country_after_two_weeks_fires_once() {
        let mut s = tenant();
        s.push(day("o1", 21, MOSCOW));
        s.push(day("o1", 22, MOSCOW));
        let found = detect(&s);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].evidence["country"], "RU");
    }

    #[test]
    fn a_trip_to_a_country_where_colleagues_work_is_silent() {
        let mut s = tenant();
        s.push(day("o1", 21, LONDON));
        assert!(detect(&s).is_empty());
    }

    #[test]
    fn silent_before_two_weeks_of_history() {
        let mut s: Vec<InCountry> = tenant()
            .into_iter()
            .filter(|(x, _)| x.minute < 5 * 24 * 60)
            .collect();
        s.push(day("o1", 6, MOSCOW));
        assert!(detect(&s).is_empty());
    }
}
