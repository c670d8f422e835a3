//! Detectors: the [`Detector`] trait, the registry, and running them all in parallel.
//!
//! Each detector lives in its own file with its config struct (a section of the rules file)
//! and its scenario tests. Detectors see only the sorted [`Context`]; they never read files.
//! They return [`Finding`]s (a row, a level, the evidence); `report` turns findings into
//! `riskDetection` records.

pub mod anonymous_ip;
pub mod atypical_travel;
pub mod context;
pub mod failures_then_success;
pub mod familiar;
pub mod leaked_credentials;
pub mod listed_ip;
pub mod malicious_ip;
pub mod multiple_geographies;
pub mod new_country;
pub mod order;
pub mod org_common;
pub mod password_spray;
pub mod unfamiliar_sign_in;

use rayon::prelude::*;
use serde_json::Value;

pub use context::{Context, Outcome};

use crate::frame::col;
use crate::rules::Rules;

/// The canonical columns the context and the detectors read for every row. `score` decodes
/// only these from Parquet inputs (the report fetches its own for the detections' rows, and
/// the load reads the user columns as codes); a test proves the projection changes nothing.
pub const COLUMNS: &[&str] = &[
    col::time,
    col::error_code,
    col::is_interactive,
    col::latitude,
    col::longitude,
    col::asn,
];

/// The text columns the context and the detectors read as codes ([`Context::codes`], and the
/// address, keyed in address order by [`crate::frame::address`]): a load may hand them over
/// as codes instead of frame columns. Each holds far fewer distinct values than rows.
pub const CODED_COLUMNS: &[&str] = &[
    col::ip_address,
    col::country,
    col::city,
    col::operating_system,
    col::browser,
];

/// A risk level, lowest first.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "camelCase")]
pub enum Level {
    Low,
    Medium,
    High,
}

impl Level {
    /// One step higher, capped at high.
    pub fn raised(self) -> Level {
        match self {
            Level::Low => Level::Medium,
            _ => Level::High,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Low => "low",
            Level::Medium => "medium",
            Level::High => "high",
        }
    }
}

/// One thing a detector found.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub detector: &'static str,
    /// The sign-in (a row of the sorted frame); for user-level findings, the user's latest row.
    pub row: usize,
    /// True for user-level findings (no request id).
    pub user_level: bool,
    pub level: Level,
    /// When the evidence was complete (microseconds, UTC): never the wall clock.
    pub detected_at: i64,
    /// The numbers that made it fire.
    pub evidence: Value,
    /// Microsoft-style additionalInfo pairs beyond the sign-in's own.
    pub related: Vec<(&'static str, Value)>,
    /// Evidence keys naming another sign-in's request id, with that sign-in's row: the report
    /// fills them in, as request ids are decoded only for the sign-ins it reports.
    pub related_requests: Vec<(&'static str, usize)>,
}

/// What a detector is, in Identity Protection's vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    /// Detector id, also the rules-file section name.
    pub id: &'static str,
    pub risk_event_type: &'static str,
    /// The anomalous-activity report it belongs to.
    pub report: &'static str,
    /// `signin` or `user`.
    pub activity: &'static str,
    /// `realtime`, `nearRealtime`, `offline`.
    pub timing: &'static str,
}

/// A detector: an identity, its effective settings, and a kernel over the context.
pub trait Detector: Send + Sync {
    fn identity(&self) -> Identity;
    /// The effective settings, as the rules file would write them.
    fn settings(&self) -> Value;
    fn detect(&self, ctx: &Context) -> Vec<Finding>;
    /// Campaigns the detector saw (tenant-level detectors), for the summary.
    fn campaigns(&self, _ctx: &Context) -> Vec<Value> {
        Vec::new()
    }
    /// Findings and campaigns at once; a detector whose campaigns are its findings' first
    /// step overrides this to find them once.
    fn detect_with_campaigns(&self, ctx: &Context) -> (Vec<Finding>, Vec<Value>) {
        (self.detect(ctx), self.campaigns(ctx))
    }
}

/// Every enabled detector, configured from the rules.
pub fn registry(rules: &Rules) -> Vec<Box<dyn Detector>> {
    let mut detectors: Vec<Box<dyn Detector>> = Vec::new();
    if rules.anonymous_ip.enabled {
        detectors.push(Box::new(anonymous_ip::AnonymousIp::new(
            rules.anonymous_ip.clone(),
        )));
    }
    if rules.atypical_travel.enabled {
        detectors.push(Box::new(atypical_travel::AtypicalTravel::new(
            rules.atypical_travel.clone(),
        )));
    }
    if rules.multiple_geographies.enabled {
        detectors.push(Box::new(multiple_geographies::MultipleGeographies::new(
            rules.multiple_geographies.clone(),
        )));
    }
    if rules.new_country.enabled {
        detectors.push(Box::new(new_country::NewCountry::new(
            rules.new_country.clone(),
        )));
    }
    if rules.unfamiliar_sign_in.enabled {
        detectors.push(Box::new(unfamiliar_sign_in::UnfamiliarSignIn::new(
            rules.unfamiliar_sign_in.clone(),
        )));
    }
    if rules.threat_intel_ip.enabled {
        detectors.push(Box::new(listed_ip::ListedIp::new(
            listed_ip::List::ThreatIntel,
            rules.threat_intel_ip.clone(),
        )));
    }
    if rules.infected_device_ip.enabled {
        detectors.push(Box::new(listed_ip::ListedIp::new(
            listed_ip::List::Infected,
            rules.infected_device_ip.clone(),
        )));
    }
    if rules.password_spray.enabled {
        detectors.push(Box::new(password_spray::PasswordSpray::new(
            rules.password_spray.clone(),
        )));
    }
    if rules.malicious_ip.enabled {
        detectors.push(Box::new(malicious_ip::MaliciousIp::new(
            rules.malicious_ip.clone(),
        )));
    }
    if rules.leaked_credentials.enabled {
        detectors.push(Box::new(leaked_credentials::LeakedCredentials::new(
            rules.leaked_credentials.clone(),
        )));
    }
    if rules.failures_then_success.enabled {
        detectors.push(Box::new(failures_then_success::FailuresThenSuccess::new(
            rules.failures_then_success.clone(),
        )));
    }
    detectors
}

/// What every detector found.
pub struct Detected {
    /// In a fixed order: detector, then row.
    pub findings: Vec<(Identity, Finding)>,
    /// Campaigns, in the registry's order.
    pub campaigns: Vec<Value>,
}

/// Runs the detectors in parallel.
pub fn run_all(detectors: &[Box<dyn Detector>], ctx: &Context) -> Detected {
    let each: Vec<(Identity, Vec<Finding>, Vec<Value>)> = detectors
        .par_iter()
        .map(|d| {
            let identity = d.identity();
            let _span = crate::trace::span(format!("detect: {}", identity.id));
            let (findings, campaigns) = d.detect_with_campaigns(ctx);
            (identity, findings, campaigns)
        })
        .collect();
    let mut findings = Vec::new();
    let mut campaigns = Vec::new();
    for (identity, found, seen) in each {
        findings.extend(found.into_iter().map(|f| (identity, f)));
        campaigns.extend(seen);
    }
    findings.sort_by(|(a, fa), (b, fb)| a.id.cmp(b.id).then(fa.row.cmp(&fb.row)));
    Detected {
        findings,
        campaigns,
    }
}

/// Building small canonical frames for detector scenario tests.
#[cfg(test)]
pub mod testing {
    use std::borrow::Cow;

    use polars::prelude::DataFrame;

    use crate::frame::{FrameBuilder, Row};
    use crate::rules::Rules;

    /// Start of the test day: 2025-03-10T00:00:00Z.
    pub const DAY: i64 = 1_741_564_800_000_000;
    pub const MINUTE: i64 = 60_000_000;

    /// One sign-in of a scenario.
    #[derive(Clone)]
    pub struct SignIn {
        pub user: &'static str,
        pub minute: i64,
        pub ip: &'static str,
        pub code: i32,
        pub interactive: bool,
    }

    pub fn sign_in(user: &'static str, minute: i64, ip: &'static str, code: i32) -> SignIn {
        SignIn {
            user,
            minute,
            ip,
            code,
            interactive: true,
        }
    }

    /// A sign-in with a place.
    pub fn at(
        user: &'static str,
        minute: i64,
        ip: &'static str,
        place: (f64, f64),
    ) -> (SignIn, (f64, f64)) {
        (sign_in(user, minute, ip, 0), place)
    }

    /// A canonical frame of sign-ins with places.
    pub fn frame_with_places(sign_ins: &[(SignIn, (f64, f64))]) -> DataFrame {
        let codes = Rules::builtin().outcome_codes();
        let mut builder = FrameBuilder::with_capacity(sign_ins.len());
        for (k, (s, (lat, lon))) in sign_ins.iter().enumerate() {
            let network = s.ip.parse().ok().map(crate::frame::ip::network_key);
            let mut row = Row {
                time: DAY + s.minute * MINUTE,
                request_id: Some(Cow::Owned(format!("req-{k:04}"))),
                user_id: Some(Cow::Borrowed(s.user)),
                ip_address: Some(Cow::Borrowed(s.ip)),
                ip_network: network,
                error_code: Some(s.code),
                is_interactive: Some(s.interactive),
                latitude: Some(*lat),
                longitude: Some(*lon),
                ..Row::default()
            };
            row.derive(&codes);
            builder.push(&row);
        }
        builder.finish()
    }

    /// A sign-in with its coordinates and country code.
    pub type InCountry = (SignIn, ((f64, f64), &'static str));

    /// A canonical frame of sign-ins with places and countries.
    pub fn frame_with_countries(sign_ins: &[InCountry]) -> DataFrame {
        let places: Vec<(SignIn, (f64, f64))> =
            sign_ins.iter().map(|(s, (p, _))| (s.clone(), *p)).collect();
        let frame = frame_with_places(&places);
        use polars::prelude::NewChunkedArray;
        let countries = polars::prelude::StringChunked::from_iter_options(
            crate::frame::col::country.into(),
            sign_ins.iter().map(|(_, (_, c))| Some(*c)),
        );
        let mut frame = frame;
        // The column exists with nulls; replace it with the countries.
        let _ = frame.replace(
            crate::frame::col::country,
            polars::prelude::IntoColumn::into_column(countries),
        );
        frame
    }

    /// A canonical frame of the scenario's sign-ins, outcomes classified by the built-in rules.
    pub fn frame(sign_ins: &[SignIn]) -> DataFrame {
        let codes = Rules::builtin().outcome_codes();
        let mut builder = FrameBuilder::with_capacity(sign_ins.len());
        for (k, s) in sign_ins.iter().enumerate() {
            let mut row = Row {
                time: DAY + s.minute * MINUTE,
                request_id: Some(Cow::Owned(format!("req-{k:04}"))),
                user_id: Some(Cow::Borrowed(s.user)),
                user_principal_name: Some(Cow::Owned(format!("{}@contoso.com", s.user))),
                ip_address: Some(Cow::Borrowed(s.ip)),
                ip_network: s.ip.parse().ok().map(crate::frame::ip::network_key),
                error_code: Some(s.code),
                is_interactive: Some(s.interactive),
                ..Row::default()
            };
            row.derive(&codes);
            builder.push(&row);
        }
        builder.finish()
    }
}
