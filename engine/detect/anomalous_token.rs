//! `anomalous_token` → `anomalousToken`: token replay. An adversary-in-the-middle kit relays
//! the victim's interactive sign-in and keeps the session cookie; the attacker then uses the
//! session from their own infrastructure. Two traces in the sign-in log:
//!
//! - **session replay**: a validated sign-in whose `sessionId` was minted by the user's
//!   interactive sign-in from another network, within a window;
//! - **interactive switch**: a validated non-interactive sign-in within minutes of the user's
//!   latest interactive one, from another address and another ASN (for exports without
//!   session ids).
//!
//! Either fires only when the two sign-ins share no network and no ASN, neither is org-common,
//! trusted or Microsoft's own network, the replay's ASN is one the user never signed in from
//! and not one many colleagues come back to (VPN toggling, mobile roaming and carrier NAT move
//! between networks the user or the tenant knows), the
//! replay came later than the sign-in (zero delay is the sign-in being proxied), and, when both
//! are located, far enough apart that a laptop carried to a café is no replay. One detection
//! per replaying ASN.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::order::NONE;
use super::{Built, Columns, Context, Detector, Finding, Identity, Level, Settings};
use crate::frame::col;
use crate::geo::distance_km;
use crate::rules::{Problems, Rules, Span};

/// `[anomalous_token]` in the rules file.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AnomalousTokenConfig {
    pub enabled: bool,
    /// A session's replay within this many hours of its interactive sign-in.
    pub window_hours: u32,
    /// A non-interactive sign-in this soon after the latest interactive one.
    pub switch_minutes: u32,
    /// Replays sooner than this are the sign-in being proxied, not replayed.
    pub min_delay_seconds: u32,
    /// Both sign-ins located: at least this far apart.
    pub min_distance_km: f64,
    /// Autonomous systems tokens pass through legitimately (Microsoft's own, AS 8075).
    pub excluded_asns: Vec<u32>,
    /// An ASN this many users of the tenant come back to (each on two days or more) is a
    /// carrier, an ISP or a VPN provider, not a replay source...
    pub regular_asn_users: u32,
    /// ...or this share of the tenant's users when that is fewer (never fewer than 3).
    pub regular_asn_share: f64,
    /// A network (/24, /48) this many users come back to (a carrier's NAT pool) is no replay
    /// source either.
    pub regular_network_users: u32,
    pub level: Level,
    /// Level when the replay comes from another country than the sign-in.
    pub other_country_level: Level,
}

/// The canonical columns it reads beyond the context's own.
pub const COLUMNS: Columns = Columns {
    every_row: &[col::country],
    some_rows: &[col::session_id],
};

/// The registry's entry: built from its section of the rules.
pub fn build(rules: &Rules, section: &'static str) -> Built {
    super::build(rules, section, AnomalousToken::new)
}

impl Settings for AnomalousTokenConfig {
    fn check(&self, problems: &mut Problems<'_>) {
        problems
            .positive("window_hours", self.window_hours)
            .at_most_ten_years("window_hours", self.window_hours, Span::Hours)
            .at_most_ten_years("switch_minutes", self.switch_minutes, Span::Minutes)
            .positive("min_distance_km", self.min_distance_km)
            .positive("regular_asn_users", self.regular_asn_users)
            .share("regular_asn_share", self.regular_asn_share)
            .positive("regular_network_users", self.regular_network_users);
    }
}

pub struct AnomalousToken {
    config: AnomalousTokenConfig,
}

impl AnomalousToken {
    pub fn new(config: AnomalousTokenConfig) -> Self {
        AnomalousToken { config }
    }
}

/// How a replay was seen.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Trace {
    SessionReplay,
    InteractiveSwitch,
}

impl Trace {
    fn as_str(self) -> &'static str {
        match self {
            Trace::SessionReplay => "sessionReplay",
            Trace::InteractiveSwitch => "interactiveSwitch",
        }
    }
}

impl Detector for AnomalousToken {
    fn identity(&self) -> Identity {
        Identity {
            id: "anomalous_token",
            risk_event_type: "anomalousToken",
            report: "Sessions replayed from another network",
            activity: "signin",
            timing: "offline",
        }
    }

    fn settings(&self) -> Value {
        serde_json::to_value(&self.config).unwrap_or(Value::Null)
    }

    fn detect(&self, ctx: &Context) -> Vec<Finding> {
        let window = i64::from(self.config.window_hours) * 3_600_000_000;
        let switch = i64::from(self.config.switch_minutes) * 60_000_000;
        let excluded = |asn: Option<u32>| asn.is_none_or(|a| self.config.excluded_asns.contains(&a));
        // First, without session ids: the validated sign-ins from an ASN new to their user
        // that came within the window after an interactive sign-in of the user from another
        // ASN and network. They are few; only they and those interactive sign-ins have their
        // session ids read.
        let candidates: Vec<(usize, Vec<usize>)> = ctx.per_user(|_, start, end, out| {
            let mut asns_seen: Vec<u32> = Vec::new();
            let mut interactive: Vec<usize> = Vec::new();
            for row in start..end {
                if !ctx.outcome[row].validated() {
                    continue;
                }
                let t = ctx.time[row];
                let asn = ctx.asn(row);
                let new_asn = asn.is_some_and(|a| !asns_seen.contains(&a));
                if new_asn && !excluded(asn) && !ctx.org_common[row] {
                    let origins: Vec<usize> = interactive
                        .iter()
                        .rev()
                        .take_while(|&&o| t - ctx.time[o] <= window)
                        .copied()
                        .filter(|&o| {
                            ctx.asn(o) != asn
                                && !excluded(ctx.asn(o))
                                && !ctx.org_common[o]
                                && ctx.network(o) != ctx.network(row)
                        })
                        .collect();
                    if !origins.is_empty() {
                        out.push((row, origins));
                    }
                }
                if ctx.interactive[row] {
                    interactive.push(row);
                }
                if let Some(a) = asn.filter(|_| new_asn) {
                    asns_seen.push(a);
                }
            }
        });
        crate::trace::note("anomalous token: candidates", candidates.len());
        if candidates.is_empty() {
            return Vec::new();
        }
        let far = |o: usize, row: usize| match (ctx.place(o), ctx.place(row)) {
            (Some(a), Some(b)) => distance_km(a.0, a.1, b.0, b.1) >= self.config.min_distance_km,
            _ => true,
        };
        let late = |o: usize, row: usize, longest: i64| {
            let delay = ctx.time[row] - ctx.time[o];
            delay >= i64::from(self.config.min_delay_seconds) * 1_000_000 && delay <= longest
        };
        // Candidates from a network or ASN colleagues come back to are none; of the others'
        // possible origins, those too soon or too near are none either.
        let candidates: Vec<(usize, Vec<usize>)> = candidates
            .into_iter()
            .filter(|(row, _)| {
                let c = &self.config;
                ctx.asn(*row).is_some_and(|a| {
                    !super::familiar::regular_asn(ctx, a, c.regular_asn_users, c.regular_asn_share)
                }) && ctx.network(*row).is_none_or(|n| {
                    !super::familiar::regular_network(ctx, n, c.regular_network_users)
                })
            })
            .filter_map(|(row, mut origins)| {
                origins.retain(|&o| late(o, row, window) && far(o, row));
                (!origins.is_empty()).then_some((row, origins))
            })
            .collect();
        // Session ids of the candidates and of their possible origins.
        let mut wanted: Vec<usize> = candidates
            .iter()
            .flat_map(|(row, origins)| std::iter::once(*row).chain(origins.iter().copied()))
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        crate::trace::note("anomalous token: sessions read", wanted.len());
        let span = crate::trace::span("anomalous token: sessions");
        let sessions = ctx.texts_at(col::session_id, &wanted);
        drop(span);
        let session = |p: usize| sessions[wanted.partition_point(|&w| w < p)].as_deref();
        let countries = ctx.codes_or_empty(col::country);
        let rows: Vec<usize> = candidates.iter().map(|(row, _)| *row).collect();
        ctx.per_user_of(&rows, |_, _, _, share, findings| {
            // One detection per replaying ASN.
            let mut fired: Vec<u32> = Vec::new();
            for &row in share {
                let (_, origins) = &candidates[rows.partition_point(|&r| r < row)];
                let t = ctx.time[row];
                // The session's interactive sign-in (the earliest of the user's with it),
                // else, for a token request, the latest interactive sign-in minutes before.
                let minted = session(row).and_then(|s| {
                    origins.iter().rev().find(|&&o| session(o) == Some(s)).copied()
                });
                // Origins are late and far enough already.
                let found = match minted {
                    Some(o) => Some((o, Trace::SessionReplay)),
                    None => origins
                        .first()
                        .copied()
                        .filter(|&o| !ctx.interactive[row] && late(o, row, switch))
                        .map(|o| (o, Trace::InteractiveSwitch)),
                };
                let Some((origin, trace)) = found else { continue };
                let asn = ctx.asn(row).unwrap_or(super::context::NO_ASN);
                if t < ctx.score_since || fired.contains(&asn) {
                    continue;
                }
                fired.push(asn);
                let other_country = countries.code[origin] != countries.code[row]
                    && countries.code[row] != NONE;
                findings.push(Finding {
                    detector: "anomalous_token",
                    row,
                    user_level: false,
                    level: if other_country {
                        self.config.other_country_level
                    } else {
                        self.config.level
                    },
                    detected_at: t,
                    evidence: json!({
                        "trace": trace.as_str(),
                        "delaySeconds": (t - ctx.time[origin]) / 1_000_000,
                        "originIp": ctx.ip(origin),
                        "originAsn": ctx.asn(origin),
                        "replayIp": ctx.ip(row),
                        "replayAsn": ctx.asn(row),
                        "originCountry": countries.get(origin),
                        "replayCountry": countries.get(row),
                    }),
                    related: vec![("clientIp", Value::from(ctx.ip(row)))],
                    related_requests: vec![("originRequestId", origin)],
                });
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::testing::{defaults, frame_with, sign_in, SignIn};

    /// A sign-in with its session, ASN, place and country.
    struct Seen {
        s: SignIn,
        session: Option<&'static str>,
        asn: u32,
        place: (f64, f64),
        country: &'static str,
    }

    const OSLO: (f64, f64) = (59.91, 10.75);
    const BERGEN: (f64, f64) = (60.39, 5.32);
    const AMSTERDAM: (f64, f64) = (52.37, 4.90);

    fn seen(
        minute: i64,
        ip: &'static str,
        interactive: bool,
        session: Option<&'static str>,
        asn: u32,
        place: (f64, f64),
        country: &'static str,
    ) -> Seen {
        let mut s = sign_in("ada", minute, ip, 0);
        s.interactive = interactive;
        Seen {
            s,
            session,
            asn,
            place,
            country,
        }
    }

    fn detect(rows: &[Seen]) -> Vec<Finding> {
        detect_with(rows, &Rules::builtin())
    }

    fn detect_with(rows: &[Seen], rules: &Rules) -> Vec<Finding> {
        let sign_ins: Vec<SignIn> = rows.iter().map(|r| r.s.clone()).collect();
        let frame = frame_with(&sign_ins, |k, row| {
            let r = &rows[k];
            row.session_id = r.session.map(Into::into);
            row.asn = Some(r.asn);
            row.latitude = Some(r.place.0);
            row.longitude = Some(r.place.1);
            row.country = Some(r.country.into());
        });
        let ctx = Context::new(&frame, None, &rules.networks).unwrap();
        AnomalousToken::new(defaults("anomalous_token")).detect(&ctx)
    }

    /// Ada's home sign-ins on the first days: her own network and ASN.
    fn history() -> Vec<Seen> {
        (0..5)
            .map(|day| seen(day * 1440, "84.208.10.7", true, Some("s0"), 2119, OSLO, "NO"))
            .collect()
    }

    #[test]
    fn a_session_replayed_from_a_hosting_provider_abroad_is_high() {
        let mut rows = history();
        rows.push(seen(7200, "84.208.10.7", true, Some("s1"), 2119, OSLO, "NO"));
        rows.push(seen(7225, "185.199.1.9", false, Some("s1"), 60068, AMSTERDAM, "NL"));
        rows.push(seen(7300, "185.199.1.9", false, Some("s1"), 60068, AMSTERDAM, "NL"));
        let found = detect(&rows);
        assert_eq!(found.len(), 1, "one per replaying ASN: {found:?}");
        assert_eq!(found[0].row, 6);
        assert_eq!(found[0].level, Level::High);
        assert_eq!(found[0].evidence["trace"], "sessionReplay");
        assert_eq!(found[0].evidence["delaySeconds"], 25 * 60);
        assert_eq!(found[0].related_requests, vec![("originRequestId", 5)]);
    }

    #[test]
    fn without_session_ids_the_interactive_switch_fires_within_minutes_only() {
        let mut rows = history();
        rows.push(seen(7200, "84.208.10.7", true, None, 2119, OSLO, "NO"));
        rows.push(seen(7205, "185.199.1.9", false, None, 60068, AMSTERDAM, "NL"));
        let found = detect(&rows);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].evidence["trace"], "interactiveSwitch");
        let mut late = history();
        late.push(seen(7200, "84.208.10.7", true, None, 2119, OSLO, "NO"));
        late.push(seen(7230, "185.199.1.9", false, None, 60068, AMSTERDAM, "NL"));
        assert!(detect(&late).is_empty(), "30 minutes later is no switch");
    }

    #[test]
    fn zero_delay_is_the_sign_in_being_proxied() {
        let mut rows = history();
        rows.push(seen(7200, "84.208.10.7", true, Some("s1"), 2119, OSLO, "NO"));
        rows.push(seen(7200, "185.199.1.9", false, Some("s1"), 60068, AMSTERDAM, "NL"));
        assert!(detect(&rows).is_empty());
    }

    #[test]
    fn vpn_toggling_roaming_and_carrier_nat_stay_quiet() {
        // Ada's VPN provider and her phone's carrier are networks she uses: a refresh of
        // her session through them is no replay.
        let mut rows = history();
        rows.push(seen(5000, "185.199.1.9", true, Some("v"), 60068, AMSTERDAM, "NL"));
        rows.push(seen(5500, "77.16.1.20", true, Some("m"), 29695, OSLO, "NO"));
        rows.push(seen(7200, "84.208.10.7", true, Some("s1"), 2119, OSLO, "NO"));
        rows.push(seen(7210, "185.199.1.9", false, Some("s1"), 60068, AMSTERDAM, "NL"));
        rows.push(seen(7220, "77.16.9.99", false, Some("s1"), 29695, BERGEN, "NO"));
        // Carrier NAT: several addresses, one ASN.
        rows.push(seen(7230, "84.208.99.1", false, Some("s1"), 2119, OSLO, "NO"));
        assert!(detect(&rows).is_empty(), "{:?}", detect(&rows));
    }

    #[test]
    fn a_phone_roaming_onto_the_carrier_colleagues_use_stays_quiet() {
        // Ada's phone signs in on Wi-Fi and refreshes over the carrier she never signed in
        // from; a dozen colleagues come back to that carrier every day.
        let mut rows = history();
        rows.push(seen(7200, "84.208.10.7", true, Some("s1"), 2119, OSLO, "NO"));
        rows.push(seen(7260, "77.16.9.99", false, Some("s1"), 29695, BERGEN, "NO"));
        assert_eq!(detect(&rows).len(), 1, "alone, a new ASN far away fires");
        for (k, colleague) in COLLEAGUES.iter().enumerate() {
            for day in 0..3 {
                let mut s = sign_in(colleague, day * 1440 + k as i64, "77.16.1.1", 0);
                s.interactive = true;
                rows.push(Seen {
                    s,
                    session: None,
                    asn: 29695,
                    place: BERGEN,
                    country: "NO",
                });
            }
        }
        assert!(detect(&rows).is_empty(), "{:?}", detect(&rows));
    }

    const COLLEAGUES: [&str; 10] = [
        "bob", "cy", "dee", "eve", "fay", "gus", "hal", "ivy", "jo", "kim",
    ];

    #[test]
    fn a_split_tunnel_through_the_corporate_egress_stays_quiet() {
        // Ada's session, minted at home, refreshes through the corporate VPN's egress in
        // Amsterdam: listed as trusted, it is no replay source.
        let mut rows = history();
        rows.push(seen(7200, "84.208.10.7", true, Some("s1"), 2119, OSLO, "NO"));
        rows.push(seen(7205, "62.200.1.20", false, Some("s1"), 64600, AMSTERDAM, "NL"));
        assert_eq!(detect(&rows).len(), 1, "untrusted, it would be");
        let rules =
            Rules::parse("[networks]\ntrusted_cidrs = [\"62.200.1.0/24\"]\n", "x").unwrap();
        assert!(detect_with(&rows, &rules).is_empty());
    }

    #[test]
    fn a_laptop_carried_to_a_cafe_and_microsofts_network_stay_quiet() {
        let mut rows = history();
        rows.push(seen(7200, "84.208.10.7", true, Some("s1"), 2119, OSLO, "NO"));
        // A café across town, on an ASN new to Ada.
        rows.push(seen(7260, "46.9.3.3", false, Some("s1"), 12345, (59.93, 10.70), "NO"));
        // A refresh through Microsoft's own network.
        rows.push(seen(7300, "20.190.1.1", false, Some("s1"), 8075, AMSTERDAM, "NL"));
        assert!(detect(&rows).is_empty());
    }
}
