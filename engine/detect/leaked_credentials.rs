//! `leaked_credentials` → `leakedCredentials`: a user of the input (an address that never
//! signed in is not known to be a tenant user) listed in a leaked-account file. High when the
//! user has a validated sign-in after the leak date, medium otherwise. User-level.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{Built, Columns, Context, Detector, Finding, Identity, Level, Settings};
use crate::frame::col;
use crate::frame::time::format_time;
use crate::rules::Rules;

/// `[leaked_credentials]` in the rules file.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LeakedCredentialsConfig {
    pub enabled: bool,
    /// Level when the account was used (validated sign-in) after the leak.
    pub used_after_leak_level: Level,
    /// Level otherwise.
    pub level: Level,
}

/// The canonical columns it reads beyond the context's own.
pub const COLUMNS: Columns = Columns {
    every_row: &[],
    some_rows: &[col::user_principal_name],
};

/// The registry's entry: built from its section of the rules.
pub fn build(rules: &Rules, section: &'static str) -> Built {
    super::build(rules, section, LeakedCredentials::new)
}

impl Settings for LeakedCredentialsConfig {}

pub struct LeakedCredentials {
    config: LeakedCredentialsConfig,
}

impl LeakedCredentials {
    pub fn new(config: LeakedCredentialsConfig) -> Self {
        LeakedCredentials { config }
    }
}

impl Detector for LeakedCredentials {
    fn identity(&self) -> Identity {
        Identity {
            id: "leaked_credentials",
            risk_event_type: "leakedCredentials",
            report: "Users with leaked credentials",
            activity: "user",
            timing: "offline",
        }
    }

    fn settings(&self) -> Value {
        serde_json::to_value(&self.config).unwrap_or(Value::Null)
    }

    fn detect(&self, ctx: &Context) -> Vec<Finding> {
        if ctx.leaked.is_empty() {
            return Vec::new();
        }
        ctx.per_user(|_, start, end, findings| {
            let Some(name) = (start..end).find_map(|r| ctx.text(col::user_principal_name, r))
            else {
                return;
            };
            let Some((leak, matched_by)) = ctx.leaked.find(&name) else {
                return;
            };
            let leak_time = leak.unwrap_or(i64::MIN);
            let used_after =
                (start..end).find(|&r| ctx.outcome[r].validated() && ctx.time[r] >= leak_time);
            // The evidence is complete at the first use after the leak, or at the leak itself.
            let (level, detected_at) = match used_after {
                Some(r) => (self.config.used_after_leak_level, ctx.time[r]),
                None => (self.config.level, leak.unwrap_or(ctx.time[end - 1])),
            };
            if detected_at < ctx.score_since {
                return;
            }
            findings.push(Finding {
                detector: "leaked_credentials",
                row: end - 1,
                user_level: true,
                level,
                detected_at,
                evidence: json!({
                    "matchedBy": matched_by.as_str(),
                    "leakDate": leak.map(format_time),
                    "usedAfterLeak": used_after.map(|r| format_time(ctx.time[r])),
                }),
                related_requests: Vec::new(),
                related: Vec::new(),
            });
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::context::Enrichment;
    use crate::detect::testing::{frame, sign_in, DAY};
    use crate::enrich::ip_set::IpSet;
    use crate::enrich::leaked::LeakedAccounts;
    use crate::enrich::AnonymousSources;
    use crate::rules::Rules;

    #[test]
    fn listed_users_of_the_input_fire_high_when_used_after_the_leak() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("leaked.txt");
        // The test day is 2025-03-10; ada's leak predates it, bob's follows it.
        std::fs::write(
            &path,
            "ADA@contoso.com,2025-03-01\nbob@contoso.com,2025-04-01\noutsider@contoso.com\n",
        )
        .unwrap();
        let leaked = LeakedAccounts::read(&[path]).unwrap();
        let rules = Rules::builtin();
        let (none, empty) = (AnonymousSources::default(), IpSet::default());
        let enrichment = Enrichment {
            anonymous: &none,
            policy: crate::detect::anonymous_ip::policy(&rules).unwrap(),
            threat_intel: &empty,
            infected: &empty,
            leaked: &leaked,
            geoip: &Default::default(),
            prefer_geoip: false,
            max_radius_km: f64::INFINITY,
            outcomes: crate::rules::Rules::builtin().outcome_codes(),
        };
        let s = [
            sign_in("ada", 0, "84.208.10.7", 0),
            sign_in("bob", 1, "84.208.10.8", 0),
            sign_in("carol", 2, "84.208.10.9", 0),
        ];
        let ctx = Context::with_enrichment(&frame(&s), None, &rules.networks, &enrichment).unwrap();
        let found = LeakedCredentials::new(crate::detect::testing::defaults::<LeakedCredentialsConfig>("leaked_credentials")).detect(&ctx);
        assert_eq!(
            found.len(),
            2,
            "ada and bob; carol is not listed, the outsider never signed in"
        );
        assert!(found.iter().all(|f| f.user_level));
        let ada = found
            .iter()
            .find(|f| f.evidence["usedAfterLeak"].is_string())
            .unwrap();
        assert_eq!(ada.level, Level::High);
        assert_eq!(ada.detected_at, DAY);
        let bob = found
            .iter()
            .find(|f| f.evidence["usedAfterLeak"].is_null())
            .unwrap();
        assert_eq!(bob.level, Level::Medium);
    }
}
