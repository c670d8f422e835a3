//! `unfamiliar_sign_in` → `unfamiliarFeatures`: a validated sign-in showing properties the
//! user has never shown, scored by how many.
//!
//! Six properties: country, city (beyond the familiar radius of every earlier place), ASN,
//! IP /24 (/48), OS family and browser family. Familiarity is learnt from the user's own
//! validated sign-ins, so an attacker's failed attempts never make the attacker familiar.
//! It fires only when at least one device property and at least one location or network
//! property are new (a trip with one's own laptop stays silent), with 3 new properties low,
//! 4–5 medium and all 6 high. Sign-ins from org-common egress count as familiar places.

use ahash::AHashSet;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::order::{Codes, MappedCodes, NONE};
use super::{Built, Columns, Context, Detector, Finding, Identity, Level, Settings};
use crate::frame::col;
use crate::geo::distance_km;
use crate::rules::{Problems, Rules, Span};

/// `[unfamiliar_sign_in]` in the rules file.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UnfamiliarSignInConfig {
    pub enabled: bool,
    /// Days of user history before sign-ins are scored.
    pub learning_days: u32,
    /// A city within this distance of a familiar place is familiar.
    pub familiar_radius_km: f64,
    /// Fewest unfamiliar properties that fire.
    pub min_unfamiliar: u32,
    pub include_non_interactive: bool,
}

/// The canonical columns it reads beyond the context's own.
pub const COLUMNS: Columns = Columns {
    every_row: &[col::country, col::operating_system, col::browser],
    some_rows: &[],
};

/// The registry's entry: built from its section of the rules.
pub fn build(rules: &Rules, section: &'static str) -> Built {
    super::build(rules, section, UnfamiliarSignIn::new)
}

impl Settings for UnfamiliarSignInConfig {
    fn check(&self, problems: &mut Problems<'_>) {
        problems
            .positive("familiar_radius_km", self.familiar_radius_km)
            .positive("min_unfamiliar", self.min_unfamiliar)
            .at_most_ten_years("learning_days", self.learning_days, Span::Days);
    }
}

pub struct UnfamiliarSignIn {
    config: UnfamiliarSignInConfig,
}

impl UnfamiliarSignIn {
    pub fn new(config: UnfamiliarSignInConfig) -> Self {
        UnfamiliarSignIn { config }
    }
}

/// A device or browser name without its version: `Windows 10` and `Windows10` → `windows`,
/// `Chrome 122.0.0` → `chrome`, `Mobile Safari 17.3` → `mobile safari`.
pub fn family(name: &str) -> Option<String> {
    let words: Vec<String> = name
        .split_whitespace()
        .map(|w| {
            w.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.')
                .to_lowercase()
        })
        .filter(|w| !w.is_empty())
        .collect();
    (!words.is_empty()).then(|| words.join(" "))
}

/// What a user has shown so far (text properties as codes).
#[derive(Default)]
struct Familiar {
    countries: AHashSet<u32>,
    places: Vec<(f64, f64)>,
    asns: AHashSet<u32>,
    networks: AHashSet<u64>,
    systems: AHashSet<u32>,
    browsers: AHashSet<u32>,
}

/// One sign-in's properties (text properties as codes).
struct Properties {
    country: Option<u32>,
    place: Option<(f64, f64)>,
    asn: Option<u32>,
    network: Option<u64>,
    system: Option<u32>,
    browser: Option<u32>,
}

/// The texts behind the codes, for evidence.
struct Names<'a> {
    countries: &'a Codes,
    systems: &'a MappedCodes<'a>,
    browsers: &'a MappedCodes<'a>,
}

fn code(c: u32) -> Option<u32> {
    (c != NONE).then_some(c)
}

impl Detector for UnfamiliarSignIn {
    fn identity(&self) -> Identity {
        Identity {
            id: "unfamiliar_sign_in",
            risk_event_type: "unfamiliarFeatures",
            report: "Sign-ins from unfamiliar locations",
            activity: "signin",
            timing: "realtime",
        }
    }

    fn settings(&self) -> Value {
        serde_json::to_value(&self.config).unwrap_or(Value::Null)
    }

    fn detect(&self, ctx: &Context) -> Vec<Finding> {
        // The few columns this detector reads, in the detectors' order, as codes; device
        // names reduced to their families once per distinct name.
        let countries = ctx.codes_or_empty(col::country);
        let (Some(systems), Some(browsers)) =
            (ctx.codes(col::operating_system), ctx.codes(col::browser))
        else {
            return Vec::new();
        };
        let systems = systems.mapped(family);
        let browsers = browsers.mapped(family);
        let learning = i64::from(self.config.learning_days) * 86_400_000_000;
        ctx.per_user(|k, start, end, findings| {
            let first_seen = ctx.first_validated[k];
            let mut known = Familiar::default();
            for row in start..end {
                if !ctx.outcome[row].validated()
                    || !(ctx.interactive[row] || self.config.include_non_interactive)
                {
                    continue;
                }
                let props = Properties {
                    country: code(countries.code[row]),
                    place: ctx.place(row),
                    asn: ctx.asn(row),
                    network: ctx.network(row),
                    system: code(systems.code(row)),
                    browser: code(browsers.code(row)),
                };
                let learnt = ctx.time[row] - first_seen >= learning;
                if learnt && ctx.time[row] >= ctx.score_since {
                    let names = Names {
                        countries,
                        systems: &systems,
                        browsers: &browsers,
                    };
                    if let Some(finding) = self.score(ctx, row, &props, &known, &names) {
                        findings.push(finding);
                    }
                }
                self.learn(&mut known, props);
            }
        })
    }
}

impl UnfamiliarSignIn {
    /// Within the familiar radius of a known place. Most sign-ins repeat a known place's
    /// coordinates exactly, which needs no trigonometry.
    fn near(&self, known: (f64, f64), p: (f64, f64)) -> bool {
        let radius = self.config.familiar_radius_km;
        (known == p && radius > 0.0) || distance_km(known.0, known.1, p.0, p.1) < radius
    }

    fn learn(&self, known: &mut Familiar, props: Properties) {
        known.countries.extend(props.country);
        if let Some(p) = props.place {
            let near = known.places.iter().any(|&q| self.near(q, p));
            if !near {
                known.places.push(p);
            }
        }
        known.asns.extend(props.asn);
        known.networks.extend(props.network);
        known.systems.extend(props.system);
        known.browsers.extend(props.browser);
    }

    fn score(
        &self,
        ctx: &Context,
        row: usize,
        p: &Properties,
        known: &Familiar,
        texts: &Names<'_>,
    ) -> Option<Finding> {
        // An org-common egress or an anonymous network is no place: its location and network
        // properties count as familiar.
        let egress = !ctx.is_place(row);
        let new_country = !egress
            && p.country
                .as_ref()
                .is_some_and(|c| !known.countries.contains(c));
        let new_city = !egress
            && p.place
                .is_some_and(|h| known.places.iter().all(|&q| !self.near(q, h)));
        let new_asn = !egress && p.asn.is_some_and(|a| !known.asns.contains(&a));
        let new_network = !egress && p.network.is_some_and(|n| !known.networks.contains(&n));
        let new_system = p
            .system
            .as_ref()
            .is_some_and(|s| !known.systems.contains(s));
        let new_browser = p
            .browser
            .as_ref()
            .is_some_and(|b| !known.browsers.contains(b));
        let location = [new_country, new_city, new_asn, new_network];
        let device = [new_system, new_browser];
        let count = location.iter().chain(&device).filter(|&&x| x).count() as u32;
        if !location.contains(&true)
            || !device.contains(&true)
            || count < self.config.min_unfamiliar
        {
            return None;
        }
        let level = match count {
            6 => Level::High,
            4 | 5 => Level::Medium,
            _ => Level::Low,
        };
        let names = [
            "country",
            "city",
            "asn",
            "ipNetwork",
            "operatingSystem",
            "browser",
        ];
        let unfamiliar: Vec<&str> = location
            .iter()
            .chain(&device)
            .zip(names)
            .filter(|(x, _)| **x)
            .map(|(_, n)| n)
            .collect();
        Some(Finding {
            detector: "unfamiliar_sign_in",
            row,
            user_level: false,
            level,
            detected_at: ctx.time[row],
            evidence: json!({
                "unfamiliar": unfamiliar,
                "count": count,
                "country": texts.countries.get(row),
                "asn": p.asn,
                "operatingSystemFamily": texts.systems.get(row),
                "browserFamily": texts.browsers.get(row),
                "familiarCountries": known.countries.len(),
                "familiarDevices": known.systems.len(),
            }),
            related_requests: Vec::new(),
            related: vec![("riskReasons", Value::from(unfamiliar.join(",")))],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_drop_versions() {
        assert_eq!(family("Windows 10").as_deref(), Some("windows"));
        assert_eq!(family("Windows10").as_deref(), Some("windows"));
        assert_eq!(family("Chrome 122.0.0").as_deref(), Some("chrome"));
        assert_eq!(
            family("Mobile Safari 17.3").as_deref(),
            Some("mobile safari")
        );
        assert_eq!(family("Ios 17.3.1").as_deref(), Some("ios"));
        assert_eq!(family("BAV2ROPC").as_deref(), Some("bav2ropc"));
        assert_eq!(family(""), None);
    }
}

#[cfg(test)]
mod scenarios {
    use std::borrow::Cow;

    use polars::prelude::DataFrame;

    use super::*;
    use crate::detect::testing::{DAY, MINUTE};
    use crate::frame::{FrameBuilder, Row};
    use crate::rules::Rules;

    /// (day, ip, place, country, asn, os, browser, code)
    type Sign = (
        i64,
        &'static str,
        (f64, f64),
        &'static str,
        u32,
        &'static str,
        &'static str,
        i32,
    );

    const OSLO: (f64, f64) = (59.91, 10.75);
    const TOKYO: (f64, f64) = (35.68, 139.69);
    const MOSCOW: (f64, f64) = (55.76, 37.62);

    fn frame(signs: &[Sign]) -> DataFrame {
        let codes = Rules::builtin().outcome_codes();
        let mut builder = FrameBuilder::with_capacity(signs.len());
        for (k, (day, ip, place, country, asn, os, browser, code)) in signs.iter().enumerate() {
            let mut row = Row {
                time: DAY + day * 24 * 60 * MINUTE + k as i64 * MINUTE,
                request_id: Some(Cow::Owned(format!("req-{k:04}"))),
                user_id: Some(Cow::Borrowed("ada")),
                ip_address: Some(Cow::Borrowed(ip)),
                ip_network: ip.parse().ok().map(crate::frame::ip::network_key),
                error_code: Some(*code),
                is_interactive: Some(true),
                latitude: Some(place.0),
                longitude: Some(place.1),
                country: Some(Cow::Borrowed(country)),
                asn: Some(*asn),
                operating_system: Some(Cow::Borrowed(os)),
                browser: Some(Cow::Borrowed(browser)),
                ..Row::default()
            };
            row.derive(&codes);
            builder.push(&row);
        }
        builder.finish()
    }

    fn detect(signs: &[Sign]) -> Vec<Finding> {
        let rules = Rules::builtin();
        let ctx = Context::new(&frame(signs), None, &rules.networks).unwrap();
        UnfamiliarSignIn::new(crate::detect::testing::defaults::<UnfamiliarSignInConfig>("unfamiliar_sign_in")).detect(&ctx)
    }

    /// A week at home on one laptop.
    fn week() -> Vec<Sign> {
        (0..7)
            .map(|d| {
                (
                    d,
                    "84.208.10.7",
                    OSLO,
                    "NO",
                    2119,
                    "Windows 10",
                    "Edge 122.0",
                    0,
                )
            })
            .collect()
    }

    #[test]
    fn an_attacker_with_a_new_device_network_and_country_fires_high() {
        let mut s = week();
        s.push((
            7,
            "91.200.4.9",
            MOSCOW,
            "RU",
            50_001,
            "Linux",
            "Python Requests 2.31",
            0,
        ));
        let found = detect(&s);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].level, Level::High);
        assert_eq!(found[0].evidence["count"], 6);
    }

    #[test]
    fn a_trip_with_ones_own_laptop_is_silent() {
        let mut s = week();
        s.push((
            7,
            "133.1.2.3",
            TOKYO,
            "JP",
            2516,
            "Windows10",
            "Edge 123.0",
            0,
        ));
        assert!(detect(&s).is_empty());
    }

    #[test]
    fn a_new_browser_at_home_is_silent() {
        let mut s = week();
        s.push((
            7,
            "84.208.10.7",
            OSLO,
            "NO",
            2119,
            "Windows 10",
            "Firefox 123.0",
            0,
        ));
        assert!(detect(&s).is_empty());
    }

    #[test]
    fn failed_attempts_do_not_make_the_attacker_familiar() {
        let mut s = week();
        s.push((
            7,
            "91.200.4.9",
            MOSCOW,
            "RU",
            50_001,
            "Linux",
            "Python Requests 2.31",
            50126,
        ));
        s.push((
            7,
            "91.200.4.9",
            MOSCOW,
            "RU",
            50_001,
            "Linux",
            "Python Requests 2.31",
            0,
        ));
        assert_eq!(detect(&s).len(), 1);
    }

    #[test]
    fn silent_during_the_learning_days() {
        let s = vec![
            (
                0,
                "84.208.10.7",
                OSLO,
                "NO",
                2119,
                "Windows 10",
                "Edge 122.0",
                0,
            ),
            (
                2,
                "91.200.4.9",
                MOSCOW,
                "RU",
                50_001,
                "Linux",
                "Python Requests 2.31",
                0,
            ),
        ];
        assert!(detect(&s).is_empty());
    }
}
