//! The kernel of the list detectors ([`super::threat_intel_ip`],
//! [`super::infected_device_ip`]): validated sign-ins from addresses on a list the user passes.
//! One kernel, two identities.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{Context, Detector, Finding, Identity, Level, Settings};

/// `[threat_intel_ip]` and `[infected_device_ip]` in the rules file.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ListedIpConfig {
    pub enabled: bool,
    pub level: Level,
}

/// Which list a detector reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum List {
    ThreatIntel,
    Infected,
}

impl Settings for ListedIpConfig {}

pub struct ListedIp {
    identity: Identity,
    list: List,
    config: ListedIpConfig,
}

impl ListedIp {
    pub fn new(identity: Identity, list: List, config: ListedIpConfig) -> Self {
        ListedIp {
            identity,
            list,
            config,
        }
    }

    /// The position's address is on this detector's list.
    fn listed(&self, ctx: &Context, row: usize) -> bool {
        let facts = ctx.address_facts(row);
        match self.list {
            List::ThreatIntel => facts.threat_intel,
            List::Infected => facts.infected,
        }
    }
}

impl Detector for ListedIp {
    fn identity(&self) -> Identity {
        self.identity
    }

    fn settings(&self) -> Value {
        serde_json::to_value(&self.config).unwrap_or(Value::Null)
    }

    fn detect(&self, ctx: &Context) -> Vec<Finding> {
        let id = self.identity().id;
        ctx.per_user(|_, start, end, findings| {
            let hits = (start..end).filter(|&row| {
                self.listed(ctx, row)
                    && ctx.outcome[row].validated()
                    && ctx.time[row] >= ctx.score_since
            });
            for row in hits {
                findings.push(Finding {
                    detector: id,
                    row,
                    user_level: false,
                    level: self.config.level,
                    detected_at: ctx.time[row],
                    evidence: json!({"ipAddress": ctx.ip(row), "list": id}),
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
    use crate::detect::{infected_device_ip, threat_intel_ip};
    use crate::enrich::ip_set::IpSet;
    use crate::enrich::AnonymousSources;
    use crate::rules::Rules;

    #[test]
    fn validated_sign_ins_from_listed_addresses_fire_on_the_right_list() {
        let rules = Rules::builtin();
        let (threat, _) = IpSet::parse("198.51.100.0/24\n");
        let (infected, _) = IpSet::parse("203.0.113.9\n");
        let none = AnonymousSources::default();
        let enrichment = Enrichment {
            anonymous: &none,
            policy: super::super::anonymous_ip::policy(&rules).unwrap(),
            threat_intel: &threat,
            infected: &infected,
            leaked: &Default::default(),
            geoip: &Default::default(),
            prefer_geoip: false,
            max_radius_km: f64::INFINITY,
            outcomes: crate::rules::Rules::builtin().outcome_codes(),
        };
        let s = [
            sign_in("ada", 0, "198.51.100.20", 0),
            sign_in("ada", 1, "198.51.100.21", 50126),
            sign_in("bob", 2, "203.0.113.9", 0),
            sign_in("bob", 3, "84.208.10.7", 0),
        ];
        let ctx = Context::with_enrichment(&frame(&s), None, &rules.networks, &enrichment).unwrap();
        let config = |section| rules.section(section).unwrap();
        let threat_found = ListedIp::new(
            threat_intel_ip::IDENTITY,
            List::ThreatIntel,
            config("threat_intel_ip"),
        )
        .detect(&ctx);
        let infected_found = ListedIp::new(
            infected_device_ip::IDENTITY,
            List::Infected,
            config("infected_device_ip"),
        )
        .detect(&ctx);
        assert_eq!(threat_found.len(), 1, "the failed attempt does not fire");
        assert_eq!(threat_found[0].level, Level::High);
        assert_eq!(infected_found.len(), 1);
        assert_eq!(infected_found[0].evidence["ipAddress"], "203.0.113.9");
    }
}
