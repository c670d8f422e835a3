//! `multiple_geographies` → `signInsFromMultipleGeographies`: validated sign-ins of one user
//! from two or more countries, far apart, within a short sliding window.
//!
//! The distance condition keeps border commuters (Copenhagen–Malmö) silent; org-common
//! egress is left out as for travel. A burst gives one detection: after firing, the user is
//! quiet for one window length.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::order::Codes;
use super::{Built, Columns, Context, Detector, Finding, Identity, Level, Settings};
use crate::frame::time::format_time;
use crate::geo::distance_km;
use crate::frame::col;
use crate::rules::{Problems, Rules, Span};

/// `[multiple_geographies]` in the rules file.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MultipleGeographiesConfig {
    pub enabled: bool,
    /// Length of the sliding window.
    pub window_minutes: u32,
    /// Two sign-ins in different countries must be at least this far apart.
    pub min_distance_km: f64,
    /// Also count non-interactive sign-ins.
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
    super::build(rules, section, MultipleGeographies::new)
}

impl Settings for MultipleGeographiesConfig {
    fn check(&self, problems: &mut Problems<'_>) {
        problems
            .positive("window_minutes", self.window_minutes)
            .positive("min_distance_km", self.min_distance_km)
            .at_most_ten_years("window_minutes", self.window_minutes, Span::Minutes);
    }
}

pub struct MultipleGeographies {
    config: MultipleGeographiesConfig,
}

impl MultipleGeographies {
    pub fn new(config: MultipleGeographiesConfig) -> Self {
        MultipleGeographies { config }
    }
}

impl Detector for MultipleGeographies {
    fn identity(&self) -> Identity {
        Identity {
            id: "multiple_geographies",
            risk_event_type: "signInsFromMultipleGeographies",
            report: "Sign-ins from multiple geographies",
            activity: "signin",
            timing: "offline",
        }
    }

    fn settings(&self) -> Value {
        serde_json::to_value(&self.config).unwrap_or(Value::Null)
    }

    fn detect(&self, ctx: &Context) -> Vec<Finding> {
        let c = &self.config;
        let window = i64::from(c.window_minutes) * 60_000_000;
        let countries = ctx.codes_or_empty(col::country);
        ctx.per_user(|_, start, end, findings| {
            let mut recent: VecDeque<usize> = VecDeque::new();
            let mut quiet_until = i64::MIN;
            for row in start..end {
                let usable = ctx.locates_user(row, c.include_non_interactive);
                let (Some(here), Some(_)) = (ctx.place(row), countries.get(row)) else {
                    continue;
                };
                if !usable {
                    continue;
                }
                let now = ctx.time[row];
                while recent.front().is_some_and(|&r| now - ctx.time[r] > window) {
                    recent.pop_front();
                }
                let other = recent.iter().copied().find(|&r| {
                    countries.code[r] != countries.code[row]
                        && ctx.place(r).is_some_and(|p| {
                            distance_km(p.0, p.1, here.0, here.1) >= c.min_distance_km
                        })
                });
                if let Some(other) = other {
                    if now >= quiet_until && now >= ctx.score_since {
                        findings.push(self.finding(ctx, countries, other, row));
                    }
                    quiet_until = now + window;
                }
                recent.push_back(row);
            }
        })
    }
}

impl MultipleGeographies {
    fn finding(&self, ctx: &Context, countries: &Codes, other: usize, row: usize) -> Finding {
        let (a, b) = (
            ctx.place(other).unwrap_or_default(),
            ctx.place(row).unwrap_or_default(),
        );
        let km = (distance_km(a.0, a.1, b.0, b.1) * 10.0).round() / 10.0;
        Finding {
            detector: "multiple_geographies",
            row,
            user_level: false,
            level: self.config.level,
            detected_at: ctx.time[row],
            evidence: json!({
                "countries": [countries.get(other), countries.get(row)],
                "otherTime": format_time(ctx.time[other]),
                "distanceKm": km,
                "minutesApart": ((ctx.time[row] - ctx.time[other]) as f64 / 60_000_000.0 * 10.0).round() / 10.0,
                "windowMinutes": self.config.window_minutes,
            }),
            related_requests: vec![("otherRequestId", other)],
            related: vec![
                (
                    "relatedEventTimeInUtc",
                    Value::from(format_time(ctx.time[other])),
                ),
                (
                    "relatedLocation",
                    json!({"countryOrRegion": countries.get(other)}),
                ),
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::testing::{at, frame_with_countries, InCountry};
    use crate::rules::Rules;

    const MOSCOW: ((f64, f64), &str) = ((55.76, 37.62), "RU");
    const BEIJING: ((f64, f64), &str) = ((39.90, 116.41), "CN");
    const LIMA: ((f64, f64), &str) = ((-12.05, -77.04), "PE");
    const COPENHAGEN: ((f64, f64), &str) = ((55.68, 12.57), "DK");
    const MALMO: ((f64, f64), &str) = ((55.60, 13.00), "SE");

    fn detect(sign_ins: &[InCountry]) -> Vec<Finding> {
        let rules = Rules::builtin();
        let ctx = Context::new(&frame_with_countries(sign_ins), None, &rules.networks).unwrap();
        MultipleGeographies::new(crate::detect::testing::defaults::<MultipleGeographiesConfig>("multiple_geographies")).detect(&ctx)
    }

    fn sign(minute: i64, ip: &'static str, place: ((f64, f64), &'static str)) -> InCountry {
        (at("ada", minute, ip, place.0).0, place)
    }

    #[test]
    fn a_burst_across_three_countries_fires_once() {
        let s = [
            sign(0, "91.200.1.1", MOSCOW),
            sign(15, "91.201.1.1", BEIJING),
            sign(35, "91.202.1.1", LIMA),
        ];
        let found = detect(&s);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].row, 1);
        assert_eq!(found[0].evidence["countries"], json!(["RU", "CN"]));
    }

    #[test]
    fn border_commuters_are_silent() {
        let s = [
            sign(0, "84.1.1.1", COPENHAGEN),
            sign(20, "90.1.1.1", MALMO),
            sign(40, "84.1.1.1", COPENHAGEN),
        ];
        assert!(detect(&s).is_empty());
    }

    #[test]
    fn two_countries_further_apart_in_time_than_the_window_are_silent() {
        let s = [
            sign(0, "91.200.1.1", MOSCOW),
            sign(90, "91.201.1.1", BEIJING),
        ];
        assert!(detect(&s).is_empty());
    }
}
