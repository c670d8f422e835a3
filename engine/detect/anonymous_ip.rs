//! `anonymous_ip` → `anonymizedIPAddress`: a validated sign-in from a Tor exit, an anonymous
//! VPN or a public proxy (per the Anonymous-IP database or the anonymous lists passed), and
//! when the rules ask, from hosting providers or residential proxies. Tor is high, the rest
//! medium. Failed sign-ins from such addresses feed the IP detectors instead.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{Built, Columns, Context, Detector, Finding, Identity, Level, Settings};
use crate::enrich::AnonymousPolicy;
use crate::rules::{Rules, RulesError};

/// `[anonymous_ip]` in the rules file.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AnonymousIpConfig {
    pub enabled: bool,
    /// Level for anonymous VPNs, public proxies and listed addresses.
    pub level: Level,
    /// Level for Tor exit nodes.
    pub tor_level: Level,
    /// Count hosting providers as anonymous (off: much legitimate traffic comes from clouds).
    pub include_hosting: bool,
    /// Count residential proxies as anonymous.
    pub include_residential_proxy: bool,
}

/// Which networks count as anonymous for every detector: this section says so.
pub fn policy(rules: &Rules) -> Result<AnonymousPolicy, RulesError> {
    let config: AnonymousIpConfig = rules
        .section("anonymous_ip")
        .map_err(|problem| rules.invalid(problem))?;
    Ok(config.policy())
}

impl AnonymousIpConfig {
    pub fn policy(&self) -> AnonymousPolicy {
        AnonymousPolicy {
            include_hosting: self.include_hosting,
            include_residential_proxy: self.include_residential_proxy,
        }
    }
}

/// The canonical columns it reads beyond the context's own.
pub const COLUMNS: Columns = Columns {
    every_row: &[],
    some_rows: &[],
};

/// The registry's entry: built from its section of the rules.
pub fn build(rules: &Rules, section: &'static str) -> Built {
    super::build(rules, section, AnonymousIp::new)
}

impl Settings for AnonymousIpConfig {}

pub struct AnonymousIp {
    config: AnonymousIpConfig,
}

impl AnonymousIp {
    pub fn new(config: AnonymousIpConfig) -> Self {
        AnonymousIp { config }
    }
}

impl Detector for AnonymousIp {
    fn identity(&self) -> Identity {
        Identity {
            id: "anonymous_ip",
            risk_event_type: "anonymizedIPAddress",
            report: "Sign-ins from unknown sources",
            activity: "signin",
            timing: "realtime",
        }
    }

    fn settings(&self) -> Value {
        serde_json::to_value(&self.config).unwrap_or(Value::Null)
    }

    fn detect(&self, ctx: &Context) -> Vec<Finding> {
        let policy = self.config.policy();
        ctx.per_user(|_, start, end, findings| {
            for row in start..end {
                let flags = ctx.address_facts(row).anonymous_flags;
                if !flags.is_anonymous(policy)
                    || !ctx.outcome[row].validated()
                    || ctx.time[row] < ctx.score_since
                {
                    continue;
                }
                findings.push(Finding {
                    detector: "anonymous_ip",
                    row,
                    user_level: false,
                    level: if flags.tor {
                        self.config.tor_level
                    } else {
                        self.config.level
                    },
                    detected_at: ctx.time[row],
                    evidence: json!({
                        "ipAddress": ctx.ip(row),
                        "kinds": flags.kinds(),
                    }),
                    related_requests: Vec::new(),
                    related: vec![("clientIp", Value::from(ctx.ip(row)))],
                });
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::context::Enrichment;
    use crate::detect::testing::{frame, sign_in};
    use crate::enrich::AnonymousSources;
    use crate::rules::Rules;

    fn detect(
        config: AnonymousIpConfig,
        list: &str,
        sign_ins: &[crate::detect::testing::SignIn],
    ) -> Vec<Finding> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("anonymous.txt");
        std::fs::write(&path, list).unwrap();
        let sources = AnonymousSources::open(None, &[path]).unwrap();
        let rules = Rules::builtin();
        let empty = crate::enrich::ip_set::IpSet::default();
        let enrichment = Enrichment {
            anonymous: &sources,
            policy: config.policy(),
            threat_intel: &empty,
            infected: &empty,
            leaked: &Default::default(),
            geoip: &Default::default(),
            prefer_geoip: false,
            max_radius_km: f64::INFINITY,
            outcomes: crate::rules::Rules::builtin().outcome_codes(),
        };
        let ctx =
            Context::with_enrichment(&frame(sign_ins), None, &rules.networks, &enrichment).unwrap();
        AnonymousIp::new(config).detect(&ctx)
    }

    #[test]
    fn validated_sign_ins_from_listed_addresses_fire_failed_ones_do_not() {
        let config = crate::detect::testing::defaults::<AnonymousIpConfig>("anonymous_ip");
        let s = [
            sign_in("ada", 0, "185.220.100.7", 0),
            sign_in("ada", 1, "185.220.100.8", 50126),
            sign_in("bob", 2, "84.208.10.7", 0),
            sign_in("bob", 3, "185.220.100.9", 50074),
        ];
        let found = detect(config, "185.220.100.0/24\n", &s);
        assert_eq!(
            found.len(),
            2,
            "the success and the interrupt; not the failure or the clean address"
        );
        assert_eq!(found[0].level, Level::Medium);
    }
}
