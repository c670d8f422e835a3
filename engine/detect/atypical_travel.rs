//! `atypical_travel` → `unlikelyTravel`: two consecutive validated sign-ins of a user too far
//! apart for the time between them, the later one from a place the user has not been.
//!
//! Pairs are consecutive (a long window dilutes the speed), built after leaving out sign-ins
//! from org-common networks, which say nothing about where the user is. The later place must
//! be atypical (no earlier sign-in within the familiar radius), so a token replayed abroad
//! between two sign-ins at home (A→B→A) fires once, on B. A user is learnt first: no
//! detection before the earlier of the learning days or the learning sign-ins.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{Built, Columns, Context, Detector, Finding, Identity, Level, Settings};
use crate::frame::time::format_time;
use crate::geo::distance_km;
use crate::frame::col;
use crate::rules::{Problems, Rules, Span};

/// `[atypical_travel]` in the rules file.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AtypicalTravelConfig {
    pub enabled: bool,
    /// Minimum great-circle distance between the two sign-ins.
    pub min_distance_km: f64,
    /// Minimum implied speed.
    pub min_speed_kmh: f64,
    /// An earlier sign-in within this distance makes the later place familiar.
    pub familiar_radius_km: f64,
    /// Days of history before the user is scored (or `learning_sign_ins`, whichever first).
    pub learning_days: u32,
    pub learning_sign_ins: u32,
    /// Also pair non-interactive sign-ins.
    pub include_non_interactive: bool,
    pub level: Level,
}

/// The canonical columns it reads beyond the context's own.
pub const COLUMNS: Columns = Columns {
    every_row: &[col::city, col::country],
    some_rows: &[],
};

/// The registry's entry: built from its section of the rules.
pub fn build(rules: &Rules, section: &'static str) -> Built {
    super::build(rules, section, AtypicalTravel::new)
}

impl Settings for AtypicalTravelConfig {
    fn check(&self, problems: &mut Problems<'_>) {
        problems
            .positive("min_distance_km", self.min_distance_km)
            .positive("min_speed_kmh", self.min_speed_kmh)
            .positive("familiar_radius_km", self.familiar_radius_km)
            .at_most_ten_years("learning_days", self.learning_days, Span::Days);
    }
}

pub struct AtypicalTravel {
    config: AtypicalTravelConfig,
}

impl AtypicalTravel {
    pub fn new(config: AtypicalTravelConfig) -> Self {
        AtypicalTravel { config }
    }
}

impl Detector for AtypicalTravel {
    fn identity(&self) -> Identity {
        Identity {
            id: "atypical_travel",
            risk_event_type: "unlikelyTravel",
            report: "Irregular sign-in activity",
            activity: "signin",
            timing: "offline",
        }
    }

    fn settings(&self) -> Value {
        serde_json::to_value(&self.config).unwrap_or(Value::Null)
    }

    fn detect(&self, ctx: &Context) -> Vec<Finding> {
        let c = &self.config;
        let learning = i64::from(c.learning_days) * 86_400_000_000;
        ctx.per_user(|k, start, end, findings| {
            let first_seen = ctx.first_validated[k];
            // Distinct places the user has signed in from, in order of first visit.
            let mut places: Vec<(f64, f64)> = Vec::new();
            let mut previous: Option<usize> = None;
            // Earlier validated sign-ins, wherever from: a day at the office behind the
            // company's egress is history too, though it says nothing of where the user is.
            let mut sign_ins_seen = 0u32;
            for row in start..end {
                let seen_before = sign_ins_seen;
                if ctx.outcome[row].validated()
                    && (ctx.interactive[row] || c.include_non_interactive)
                {
                    sign_ins_seen += 1;
                }
                let usable = ctx.locates_user(row, c.include_non_interactive);
                let Some(here) = ctx.place(row).filter(|_| usable) else {
                    continue;
                };
                let familiar = places.iter().any(|&(lat, lon)| {
                    distance_km(lat, lon, here.0, here.1) < c.familiar_radius_km
                });
                let learnt =
                    ctx.time[row] - first_seen >= learning || seen_before >= c.learning_sign_ins;
                if let (Some(prev), false, true) = (previous, familiar, learnt) {
                    if let Some(finding) = self.pair(ctx, prev, row, here) {
                        findings.push(finding);
                    }
                }
                if !familiar {
                    places.push(here);
                }
                previous = Some(row);
            }
        })
    }
}

impl AtypicalTravel {
    /// A finding for the pair (`prev`, `row`) when it is too fast.
    fn pair(&self, ctx: &Context, prev: usize, row: usize, here: (f64, f64)) -> Option<Finding> {
        let there = ctx.place(prev)?;
        // GeoIP accuracy radii widen the tolerance: the two places may be this much closer.
        let km = (distance_km(there.0, there.1, here.0, here.1)
            - ctx.radius_km(prev)
            - ctx.radius_km(row))
        .max(0.0);
        let minutes = (ctx.time[row] - ctx.time[prev]) as f64 / 60_000_000.0;
        let kmh = if minutes > 0.0 {
            km / (minutes / 60.0)
        } else {
            f64::INFINITY
        };
        if km < self.config.min_distance_km
            || kmh < self.config.min_speed_kmh
            || ctx.time[row] < ctx.score_since
        {
            return None;
        }
        let place = |r: usize| {
            json!({
                "city": ctx.text(crate::frame::col::city, r),
                "countryOrRegion": ctx.text(crate::frame::col::country, r),
                "latitude": ctx.place(r).map(|p| p.0),
                "longitude": ctx.place(r).map(|p| p.1),
            })
        };
        let round = |v: f64| (v * 10.0).round() / 10.0;
        Some(Finding {
            detector: "atypical_travel",
            row,
            user_level: false,
            level: self.config.level,
            detected_at: ctx.time[row],
            evidence: json!({
                "previousTime": format_time(ctx.time[prev]),
                "previousLocation": place(prev),
                "location": place(row),
                "distanceKm": round(km),
                "accuracyRadiiKm": [ctx.radius_km(prev), ctx.radius_km(row)],
                "minutes": round(minutes),
                "speedKmh": if kmh.is_finite() { Value::from(round(kmh)) } else { Value::from("instant") },
            }),
            related_requests: vec![("previousRequestId", prev)],
            related: vec![
                (
                    "relatedEventTimeInUtc",
                    Value::from(format_time(ctx.time[prev])),
                ),
                ("relatedLocation", place(prev)),
            ],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::testing::{at, frame_with_places, SignIn};
    use crate::rules::Rules;

    const OSLO: (f64, f64) = (59.91, 10.75);
    const STOCKHOLM: (f64, f64) = (59.33, 18.07);
    const NEW_YORK: (f64, f64) = (40.71, -74.01);
    const MOSCOW: (f64, f64) = (55.76, 37.62);
    const COPENHAGEN: (f64, f64) = (55.68, 12.57);
    const MALMO: (f64, f64) = (55.60, 13.00);

    fn detect(sign_ins: &[(SignIn, (f64, f64))]) -> Vec<Finding> {
        let rules = Rules::builtin();
        let ctx = Context::new(&frame_with_places(sign_ins), None, &rules.networks).unwrap();
        AtypicalTravel::new(crate::detect::testing::defaults::<AtypicalTravelConfig>("atypical_travel")).detect(&ctx)
    }

    /// Eleven days of history at home, one sign-in a day.
    fn history(user: &'static str, place: (f64, f64)) -> Vec<(SignIn, (f64, f64))> {
        (0..11)
            .map(|d| at(user, -(11 - d) * 24 * 60, "84.208.10.7", place))
            .collect()
    }

    #[test]
    fn a_token_replayed_abroad_between_two_home_sign_ins_fires_once_on_the_replay() {
        let mut s = history("ada", OSLO);
        s.push(at("ada", 0, "84.208.10.7", OSLO));
        s.push(at("ada", 90, "91.200.4.9", MOSCOW));
        s.push(at("ada", 180, "84.208.10.7", OSLO));
        let found = detect(&s);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].evidence["location"]["latitude"], MOSCOW.0);
        assert!(found[0].evidence["speedKmh"].as_f64().unwrap() > 800.0);
    }

    #[test]
    fn a_real_flight_is_not_impossible() {
        let mut s = history("ada", OSLO);
        s.push(at("ada", 0, "84.208.10.7", OSLO));
        // Oslo to New York (~5,900 km) eleven hours later: ~540 km/h.
        s.push(at("ada", 11 * 60, "73.163.20.5", NEW_YORK));
        assert!(detect(&s).is_empty());
    }

    #[test]
    fn a_hop_across_a_neighbouring_border_is_not_travel() {
        let mut s = history("ada", COPENHAGEN);
        s.push(at("ada", 0, "84.208.10.7", COPENHAGEN));
        s.push(at("ada", 10, "90.1.2.3", MALMO));
        assert!(detect(&s).is_empty(), "Malmö is 30 km from Copenhagen");
        // From Malmö, Stockholm (~510 km) ten minutes later is impossible.
        s.push(at("ada", 20, "84.208.10.7", STOCKHOLM));
        assert_eq!(detect(&s).len(), 1);
    }

    #[test]
    fn an_org_common_egress_neither_fires_nor_anchors() {
        // Twelve colleagues share a VPN egress in New York on three days.
        let mut s = Vec::new();
        let users = [
            "u0", "u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8", "u9", "u10", "u11",
        ];
        for (k, user) in users.iter().enumerate() {
            s.extend(history(user, OSLO));
            for day in 0..3 {
                s.push(at(user, day * 24 * 60 + k as i64, "62.200.1.5", NEW_YORK));
            }
        }
        assert!(detect(&s).is_empty());
    }

    #[test]
    fn a_trusted_corporate_block_is_no_place_even_for_one_user() {
        let mut s = history("ada", OSLO);
        s.push(at("ada", 0, "84.208.10.7", OSLO));
        s.push(at("ada", 30, "62.200.1.5", NEW_YORK));
        assert_eq!(detect(&s).len(), 1, "an unknown egress is a place");
        let rules =
            Rules::parse("[networks]\ntrusted_cidrs = [\"62.200.1.0/24\"]\n", "test").unwrap();
        let ctx = Context::new(&frame_with_places(&s), None, &rules.networks).unwrap();
        assert!(AtypicalTravel::new(crate::detect::testing::defaults::<AtypicalTravelConfig>("atypical_travel"))
            .detect(&ctx)
            .is_empty());
    }

    #[test]
    fn a_new_user_is_learnt_before_scored() {
        let s = vec![
            at("ada", 0, "84.208.10.7", OSLO),
            at("ada", 60, "91.200.4.9", MOSCOW),
        ];
        assert!(detect(&s).is_empty());
    }

    #[test]
    fn failed_sign_ins_are_no_anchor() {
        let mut s = history("ada", OSLO);
        let (mut failed, place) = at("ada", 0, "91.200.4.9", MOSCOW);
        failed.code = 50126;
        s.push((failed, place));
        s.push(at("ada", 30, "84.208.10.7", OSLO));
        assert!(detect(&s).is_empty());
    }
}
