//! `legacy_authentication` → `legacyAuthentication`: a successful sign-in through a protocol
//! that cannot do MFA (IMAP4, POP3, Authenticated SMTP, Exchange ActiveSync, MAPI, EWS, "Other
//! clients", ROPC or the `BAV2ROPC` user agent) from a network new to the user, when the user
//! had none in the previous days from that client and network. Password sprays go through
//! these protocols because a right password is all they ask. Printers and scan-to-email send
//! over SMTP from the office (a network colleagues come back to, new to no one) and are known
//! by their second day anywhere; the rules' exemptions silence them from the start.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{Built, Columns, Context, Detector, Finding, Identity, Level, Settings};
use crate::frame::col;
use crate::frame::time::format_time;
use crate::rules::{Problems, Rules, Span};

/// `[legacy_authentication]` in the rules file.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LegacyAuthenticationConfig {
    pub enabled: bool,
    /// A legacy sign-in is the user's first when they had none in this many days.
    pub lookback_days: u32,
    /// Silent until the user has this many days of history: a printer's mailbox is known by
    /// its second day.
    pub learning_days: u32,
    /// `clientAppUsed` values that are legacy protocols (compared case-insensitively).
    pub client_apps: Vec<String>,
    /// User-agent fragments of legacy flows (`BAV2ROPC`: ROPC through basic auth).
    pub user_agents: Vec<String>,
    /// `authenticationProtocol` values that are legacy (`ropc`).
    pub protocols: Vec<String>,
    /// A network (/24, /48) this many users come back to (a branch office) is new to no
    /// one.
    pub regular_network_users: u32,
    /// Sign-ins that never fire: printers, scanners, migration tools.
    pub exempt: Vec<Exempt>,
    pub level: Level,
}

/// One exemption: every key it has must match.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Exempt {
    /// User principal name (case-insensitive).
    pub user: Option<String>,
    /// `clientAppUsed` (case-insensitive).
    pub client_app: Option<String>,
    /// An address or CIDR block.
    pub network: Option<String>,
}

/// The canonical columns it reads beyond the context's own.
pub const COLUMNS: Columns = Columns {
    every_row: &[col::client_app, col::user_agent, col::authentication_protocol],
    some_rows: &[col::user_principal_name],
};

/// The registry's entry: built from its section of the rules.
pub fn build(rules: &Rules, section: &'static str) -> Built {
    super::build(rules, section, LegacyAuthentication::new)
}

impl Settings for LegacyAuthenticationConfig {
    fn check(&self, problems: &mut Problems<'_>) {
        problems
            .positive("lookback_days", self.lookback_days)
            .at_most_ten_years("lookback_days", self.lookback_days, Span::Days)
            .at_most_ten_years("learning_days", self.learning_days, Span::Days)
            .positive("regular_network_users", self.regular_network_users);
        for entry in &self.exempt {
            if let Some(network) = &entry.network {
                if crate::frame::ip::block_range(network.trim()).is_none() {
                    problems.push(format!(
                        "'exempt' holds an invalid network, value: {network:?}"
                    ));
                }
            }
        }
    }
}

/// Whether a value of a column makes a sign-in legacy.
type Test<'a> = Box<dyn Fn(&str) -> bool + Sync + 'a>;

pub struct LegacyAuthentication {
    config: LegacyAuthenticationConfig,
}

impl LegacyAuthentication {
    pub fn new(config: LegacyAuthenticationConfig) -> Self {
        LegacyAuthentication { config }
    }

    /// Every validated sign-in through a legacy protocol, in order, with the protocol as
    /// the log names it (its client app, else its authentication protocol, else its user
    /// agent). Each column's distinct values are judged once.
    fn legacy_sign_ins(&self, ctx: &Context) -> Vec<(usize, String)> {
        let folded = |list: &[String]| -> Vec<String> {
            list.iter().map(|v| v.to_lowercase()).collect()
        };
        let (apps, protocols, agents) = (
            folded(&self.config.client_apps),
            folded(&self.config.protocols),
            folded(&self.config.user_agents),
        );
        // (column, does a value of it make a sign-in legacy), in order of precedence.
        let tests: [(&str, Test); 3] = [
            (col::client_app, Box::new(|v| apps.contains(&v.to_lowercase()))),
            (
                col::authentication_protocol,
                Box::new(|v| protocols.contains(&v.to_lowercase())),
            ),
            (
                col::user_agent,
                Box::new(|v| {
                    let v = v.to_lowercase();
                    agents.iter().any(|a| v.contains(a.as_str()))
                }),
            ),
        ];
        let mut found: Vec<(usize, usize, String)> = Vec::new();
        for (precedence, (column, is_legacy)) in tests.iter().enumerate() {
            let mut positions = ctx.positions_where(column, is_legacy);
            positions.retain(|&p| ctx.outcome[p].validated());
            let names = ctx.texts_at(column, &positions);
            found.extend(
                positions
                    .into_iter()
                    .zip(names)
                    .map(|(p, name)| (p, precedence, name.unwrap_or_default())),
            );
        }
        found.sort_unstable();
        found.dedup_by_key(|(p, _, _)| *p);
        found.into_iter().map(|(p, _, name)| (p, name)).collect()
    }

    /// True when an exemption covers the sign-in.
    fn exempt(&self, ctx: &Context, row: usize, client: &str) -> bool {
        if self.config.exempt.is_empty() {
            return false;
        }
        let user = ctx.text(col::user_principal_name, row).unwrap_or_default();
        let address = ctx.ip(row).and_then(|a| a.parse().ok());
        self.config.exempt.iter().any(|entry| {
            entry.user.as_ref().is_none_or(|u| u.eq_ignore_ascii_case(&user))
                && entry
                    .client_app
                    .as_ref()
                    .is_none_or(|c| c.eq_ignore_ascii_case(client))
                && entry.network.as_ref().is_none_or(|block| {
                    let range = crate::frame::ip::block_range(block.trim());
                    match (range, address) {
                        (Some((from, to)), Some(a)) => {
                            (from..=to).contains(&crate::frame::ip::ip_key(a))
                        }
                        _ => false,
                    }
                })
        })
    }
}

impl Detector for LegacyAuthentication {
    fn identity(&self) -> Identity {
        Identity {
            id: "legacy_authentication",
            risk_event_type: "legacyAuthentication",
            report: "Sign-ins through legacy authentication protocols",
            activity: "signin",
            timing: "offline",
        }
    }

    fn settings(&self) -> Value {
        serde_json::to_value(&self.config).unwrap_or(Value::Null)
    }

    fn detect(&self, ctx: &Context) -> Vec<Finding> {
        let legacy = self.legacy_sign_ins(ctx);
        let positions: Vec<usize> = legacy.iter().map(|(p, _)| *p).collect();
        let lookback = i64::from(self.config.lookback_days) * 86_400_000_000;
        let learning = i64::from(self.config.learning_days) * 86_400_000_000;
        let regular_network = |n: u64| {
            super::familiar::regular_network(ctx, n, self.config.regular_network_users)
        };
        ctx.per_user_of(&positions, |user, start, _, share, findings| {
            let judged_from = ctx.first_validated[user].saturating_add(learning);
            // The user's validated legacy sign-ins so far: (time, protocol, network).
            let mut seen: Vec<(i64, &str, Option<u64>)> = Vec::new();
            for &row in share {
                let k = positions.partition_point(|&p| p < row);
                let protocol = legacy[k].1.as_str();
                let t = ctx.time[row];
                let network = ctx.network(row);
                let recent = seen
                    .iter()
                    .rev()
                    .any(|(when, p, n)| t - when <= lookback && *p == protocol && *n == network);
                let previous = seen.last().map(|(when, _, _)| *when);
                seen.push((t, protocol, network));
                if recent
                    || t < ctx.score_since
                    || t < judged_from
                    || ctx.outcome[row] != super::Outcome::Success
                    || super::familiar::known_before(ctx, start, row)
                    || network.is_some_and(regular_network)
                    || self.exempt(ctx, row, protocol)
                {
                    continue;
                }
                findings.push(Finding {
                    detector: "legacy_authentication",
                    row,
                    user_level: false,
                    level: self.config.level,
                    detected_at: t,
                    evidence: json!({
                        "legacyProtocol": protocol,
                        "sourceIp": ctx.ip(row),
                        "previousLegacySignIn": previous.map(format_time),
                        "lookbackDays": self.config.lookback_days,
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

    /// A sign-in with its client app and user agent.
    type Client = (SignIn, &'static str, &'static str);

    const BROWSER: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64)";

    fn detect_with(clients: &[Client], config: LegacyAuthenticationConfig) -> Vec<Finding> {
        let rows: Vec<SignIn> = clients.iter().map(|c| c.0.clone()).collect();
        let frame = frame_with(&rows, |k, row| {
            row.client_app = Some(clients[k].1.into());
            row.user_agent = Some(clients[k].2.into());
        });
        let ctx = Context::new(&frame, None, &Rules::builtin().networks).unwrap();
        LegacyAuthentication::new(config).detect(&ctx)
    }

    fn detect(clients: &[Client]) -> Vec<Finding> {
        detect_with(clients, defaults("legacy_authentication"))
    }

    const HOME: &str = "84.208.10.7";

    #[test]
    fn a_first_imap_success_fires_and_names_the_protocol() {
        let s = [
            (sign_in("ada", 0, HOME, 0), "Browser", BROWSER),
            (sign_in("ada", 1440, "198.51.100.7", 0), "imap4", "python-imaplib"),
        ];
        let found = detect(&s);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].evidence["legacyProtocol"], "imap4");
    }

    #[test]
    fn ropc_through_the_bav2ropc_user_agent_fires() {
        let s = [
            (sign_in("ada", 0, HOME, 0), "Browser", BROWSER),
            (
                sign_in("ada", 2 * 1440, "198.51.100.7", 0),
                "Mobile Apps and Desktop clients",
                "BAV2ROPC",
            ),
        ];
        assert_eq!(detect(&s).len(), 1);
    }

    #[test]
    fn a_printer_sending_mail_every_day_fires_once_and_not_when_exempt() {
        let printer: Vec<Client> = (0..20)
            .map(|day| {
                (
                    sign_in("scanner", day * 1440 + 480, "10.20.0.15", 0),
                    "Authenticated SMTP",
                    "",
                )
            })
            .collect();
        assert!(detect(&printer).is_empty(), "known by its second day");
        // From its second day on, a new printer in an old mailbox fires once.
        let mut late = vec![(sign_in("scanner", 0, HOME, 0), "Browser", BROWSER)];
        late.extend(printer.iter().skip(3).cloned());
        assert_eq!(detect(&late).len(), 1);
        let mut config: LegacyAuthenticationConfig = defaults("legacy_authentication");
        config.exempt.push(Exempt {
            user: Some("SCANNER@contoso.com".into()),
            client_app: Some("authenticated smtp".into()),
            network: Some("10.20.0.0/24".into()),
        });
        assert!(detect_with(&late, config.clone()).is_empty());
        // The exemption covers that network only.
        let elsewhere = [
            (sign_in("scanner", 0, HOME, 0), "Browser", BROWSER),
            (
                sign_in("scanner", 2 * 1440, "198.51.100.7", 0),
                "Authenticated SMTP",
                "",
            ),
        ];
        assert_eq!(detect_with(&elsewhere, config).len(), 1);
    }

    #[test]
    fn failures_and_modern_clients_are_silent() {
        let s = [
            (sign_in("ada", 0, HOME, 0), "Browser", BROWSER),
            (sign_in("ada", 5, "198.51.100.7", 50126), "IMAP4", ""),
            (sign_in("ada", 6, HOME, 0), "Mobile Apps and Desktop clients", "Outlook"),
        ];
        assert!(detect(&s).is_empty());
    }

    #[test]
    fn an_invalid_exempt_network_is_rejected() {
        let text = "[legacy_authentication]\nexempt = [{ network = \"10.0.0.0/40\" }]\n";
        let rules = Rules::parse(text, "x").unwrap();
        let err = crate::detect::registry(&rules).err().unwrap().to_string();
        assert!(err.contains("invalid network") && err.contains("10.0.0.0/40"), "{err}");
    }
}
