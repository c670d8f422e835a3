//! `device_code_phishing` → `deviceCodePhishing`: the attacker starts a device-code flow, sends
//! the victim the code ("enter this code to join the meeting"), and the victim's sign-in hands
//! the attacker a token. The trace is a successful device-code sign-in
//! (`authenticationProtocol` `deviceCode` or `originalTransferMethod` `deviceCodeFlow`) for a
//! user with none through that client from that ASN in the previous days: medium, high when the token went to a network the
//! user never signed in from, or through the Authentication Broker to Exchange, SharePoint or
//! Graph (the broker route mints a primary refresh token). Developer tools that use device
//! code every day (the rules' allow-list: Azure CLI, VS Code, Azure PowerShell) are quiet
//! from the developer's own autonomous systems (home broadband, the office).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{Built, Columns, Context, Detector, Finding, Identity, Level, Outcome, Settings};
use crate::frame::col;
use crate::frame::time::format_time;
use crate::rules::{Problems, Rules, Span};

/// `[device_code_phishing]` in the rules file.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceCodePhishingConfig {
    pub enabled: bool,
    /// A device-code sign-in is the user's first when they had none through that client from
    /// that ASN in this many days.
    pub lookback_days: u32,
    /// Silent until the user has this many days of history: at the start of the data every
    /// habit is new.
    pub learning_days: u32,
    /// Client application ids that use device code in daily work: quiet from an autonomous
    /// system the user already signed in from, or one many colleagues come back to (home
    /// broadband, the office).
    pub allowed_app_ids: Vec<String>,
    /// An ASN this many users come back to, each on two days or more...
    pub regular_asn_users: u32,
    /// ...or this share of the users when that is fewer (never fewer than 3).
    pub regular_asn_share: f64,
    /// The Authentication Broker's application id.
    pub broker_app_id: String,
    /// Resources (application ids) a broker token for which is high: Exchange, SharePoint,
    /// Graph.
    pub broker_resources: Vec<String>,
    pub level: Level,
    /// Level for a new network or the broker route.
    pub high_level: Level,
}

/// The canonical columns it reads beyond the context's own.
pub const COLUMNS: Columns = Columns {
    every_row: &[col::authentication_protocol, col::original_transfer_method],
    some_rows: &[col::app_id, col::resource_id],
};

/// The registry's entry: built from its section of the rules.
pub fn build(rules: &Rules, section: &'static str) -> Built {
    super::build(rules, section, DeviceCodePhishing::new)
}

impl Settings for DeviceCodePhishingConfig {
    fn check(&self, problems: &mut Problems<'_>) {
        problems
            .positive("lookback_days", self.lookback_days)
            .at_most_ten_years("lookback_days", self.lookback_days, Span::Days)
            .at_most_ten_years("learning_days", self.learning_days, Span::Days)
            .positive("regular_asn_users", self.regular_asn_users)
            .share("regular_asn_share", self.regular_asn_share);
    }
}

pub struct DeviceCodePhishing {
    config: DeviceCodePhishingConfig,
}

impl DeviceCodePhishing {
    pub fn new(config: DeviceCodePhishingConfig) -> Self {
        DeviceCodePhishing { config }
    }
}

/// Matches an application id as logged (ids are case-insensitive GUIDs).
fn same_id(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

impl Detector for DeviceCodePhishing {
    fn identity(&self) -> Identity {
        Identity {
            id: "device_code_phishing",
            risk_event_type: "deviceCodePhishing",
            report: "First device-code sign-ins",
            activity: "signin",
            timing: "offline",
        }
    }

    fn settings(&self) -> Value {
        serde_json::to_value(&self.config).unwrap_or(Value::Null)
    }

    fn detect(&self, ctx: &Context) -> Vec<Finding> {
        // Device-code sign-ins are rare: find them by their protocol or transfer method,
        // then read their client, resource and protocol fields alone.
        let mut flows = ctx.positions_where(col::authentication_protocol, |v| v == "deviceCode");
        flows.extend(ctx.positions_where(col::original_transfer_method, |v| {
            v == "deviceCodeFlow"
        }));
        flows.sort_unstable();
        flows.dedup();
        flows.retain(|&p| ctx.outcome[p] == Outcome::Success);
        let field = |column| ctx.texts_at(column, &flows);
        let (app, resource, protocol, transfer) = (
            field(col::app_id),
            field(col::resource_id),
            field(col::authentication_protocol),
            field(col::original_transfer_method),
        );
        let lookback = i64::from(self.config.lookback_days) * 86_400_000_000;
        let learning = i64::from(self.config.learning_days) * 86_400_000_000;
        let c = &self.config;
        ctx.per_user_of(&flows, |user, start, _, share, findings| {
            let judged_from = ctx.first_validated[user].saturating_add(learning);
            // The user's device-code sign-ins so far: (client, ASN, time). A developer's daily
            // CLI at home hides neither a phishing through another client nor the CLI's
            // token going to another network.
            let mut seen: Vec<(&str, Option<u32>, i64)> = Vec::new();
            for &row in share {
                let k = flows.partition_point(|&p| p < row);
                let app_id = app[k].as_deref().unwrap_or("");
                let t = ctx.time[row];
                let key = (app_id, ctx.asn(row));
                let previous = seen
                    .iter()
                    .rev()
                    .find(|(client, asn, _)| (*client, *asn) == key)
                    .map(|&(_, _, when)| when);
                let first = previous.is_none_or(|before| t - before > lookback);
                seen.retain(|(client, asn, _)| (*client, *asn) != key);
                seen.push((key.0, key.1, t));
                if !first || t < ctx.score_since || t < judged_from {
                    continue;
                }
                let new_network = !super::familiar::known_before(ctx, start, row);
                let allowed = c.allowed_app_ids.iter().any(|a| same_id(a, app_id));
                let everyday_asn = || {
                    ctx.asn(row).is_some_and(|a| {
                        super::familiar::regular_asn(ctx, a, c.regular_asn_users, c.regular_asn_share)
                    })
                        || super::familiar::asn_known_before(ctx, start, row)
                };
                if allowed && everyday_asn() {
                    continue;
                }
                let broker = same_id(app_id, &c.broker_app_id)
                    && resource[k]
                        .as_deref()
                        .is_some_and(|r| c.broker_resources.iter().any(|b| same_id(b, r)));
                findings.push(Finding {
                    detector: "device_code_phishing",
                    row,
                    user_level: false,
                    level: if new_network || broker {
                        c.high_level
                    } else {
                        c.level
                    },
                    detected_at: t,
                    evidence: json!({
                        "authenticationProtocol": protocol[k],
                        "originalTransferMethod": transfer[k],
                        "appId": app[k],
                        "resourceId": resource[k],
                        "newNetwork": new_network,
                        "brokerToResource": broker,
                        "previousDeviceCode": previous.map(format_time),
                        "lookbackDays": c.lookback_days,
                    }),
                    related: vec![("clientIp", Value::from(ctx.ip(row)))],
                    related_requests: Vec::new(),
                });
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::testing::{defaults, frame_with, sign_in, SignIn};

    const CLI: &str = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";
    const BROKER: &str = "29d9ed98-a469-4536-ade2-f981bc1d605e";
    const OFFICE: &str = "d3590ed6-52b3-4102-aeff-aad2292ab01c";
    const GRAPH: &str = "00000003-0000-0000-c000-000000000000";

    /// A sign-in, whether it used device code, and its client and resource.
    type Flow = (SignIn, bool, &'static str, &'static str);

    fn detect(flows: &[Flow]) -> Vec<Finding> {
        let rows: Vec<SignIn> = flows.iter().map(|f| f.0.clone()).collect();
        let frame = frame_with(&rows, |k, row| {
            let (_, device, app, resource) = flows[k];
            // The two exports spell it apart: one marks the protocol, one the transfer.
            if device && k % 2 == 0 {
                row.authentication_protocol = Some("deviceCode".into());
            } else if device {
                row.original_transfer_method = Some("deviceCodeFlow".into());
            }
            row.app_id = Some(app.into());
            row.resource_id = Some(resource.into());
            // Ada's broadband, or one of two hosting providers.
            row.asn = Some(match row.ip_address.as_deref() {
                Some(HOME) => 2119,
                Some("198.51.100.7") => 64500,
                _ => 64501,
            });
        });
        let ctx = Context::new(&frame, None, &Rules::builtin().networks).unwrap();
        DeviceCodePhishing::new(defaults("device_code_phishing")).detect(&ctx)
    }

    fn at(minute: i64, ip: &'static str) -> SignIn {
        sign_in("ada", minute, ip, 0)
    }

    const HOME: &str = "84.208.10.7";

    #[test]
    fn a_first_device_code_sign_in_to_a_new_network_is_high() {
        let flows = [
            (at(0, HOME), false, OFFICE, GRAPH),
            (at(2 * 1440, "198.51.100.7"), true, OFFICE, GRAPH),
        ];
        let found = detect(&flows);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].level, Level::High);
        assert_eq!(found[0].evidence["newNetwork"], true);
    }

    #[test]
    fn the_broker_route_to_graph_is_high_even_from_a_known_network() {
        // The browser step and the polling step are both logged from the token's receiver;
        // here the attacker's relay shares the victim's network.
        let flows = [
            (at(0, HOME), false, OFFICE, GRAPH),
            (at(1440, HOME), true, BROKER, GRAPH),
        ];
        let found = detect(&flows);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].level, Level::High);
        assert_eq!(found[0].evidence["brokerToResource"], true);
        let plain = [
            (at(0, HOME), false, OFFICE, GRAPH),
            (at(1440, HOME), true, OFFICE, GRAPH),
        ];
        assert_eq!(detect(&plain)[0].level, Level::Medium);
    }

    #[test]
    fn a_developer_using_the_azure_cli_from_home_every_day_is_silent_a_phishing_is_not() {
        let mut flows = vec![(at(0, HOME), false, OFFICE, GRAPH)];
        for day in 1..30 {
            flows.push((at(day * 1440 + 540, HOME), true, CLI, GRAPH));
        }
        assert!(detect(&flows).is_empty());
        // The same client id to an attacker's network the day after one from home, and a
        // phishing through another client: each is the first of its kind.
        flows.push((at(30 * 1440, "198.51.100.7"), true, CLI, GRAPH));
        flows.push((at(30 * 1440 + 60, "203.0.113.50"), true, OFFICE, GRAPH));
        let found = detect(&flows);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0].row, flows.len() - 2);
        assert_eq!(found[1].row, flows.len() - 1);
    }

    #[test]
    fn nothing_fires_in_the_learning_period() {
        let flows = [(at(10, "198.51.100.7"), true, OFFICE, GRAPH)];
        assert!(detect(&flows).is_empty(), "a day of learning by default");
        let rows: Vec<SignIn> = flows.iter().map(|f| f.0.clone()).collect();
        let ctx = Context::new(
            &frame_with(&rows, |_, row| {
                row.authentication_protocol = Some("deviceCode".into());
            }),
            None,
            &Rules::builtin().networks,
        )
        .unwrap();
        let config = DeviceCodePhishingConfig {
            learning_days: 0,
            ..defaults("device_code_phishing")
        };
        assert_eq!(DeviceCodePhishing::new(config).detect(&ctx).len(), 1);
    }

    #[test]
    fn failed_and_other_sign_ins_are_silent() {
        let mut failed = at(1440, "198.51.100.7");
        failed.code = 50126;
        let flows = [
            (at(0, HOME), false, OFFICE, GRAPH),
            (failed, true, OFFICE, GRAPH),
            (at(1500, "198.51.100.7"), false, OFFICE, GRAPH),
        ];
        assert!(detect(&flows).is_empty());
    }
}
